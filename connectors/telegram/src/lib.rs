//! The Telegram channel (`kind = "telegram"`): a bot's updates in, by webhook or long
//! polling, and agents' replies out through the Bot API, quoting the customer's
//! message, with teloxide for the Bot API's types and calls.
//!
//! - [`config`]: the channel's settings.
//! - [`inbound`]: updates into normalized messages; files fetched through getFile.
//! - [`webhook`]: `POST /webhooks/{channel_id}` with the secret token; setWebhook.
//! - [`poller`]: getUpdates long polling with the offset kept in the store.
//! - [`outbound`]: sendMessage / sendPhoto / sendDocument, split and mapped errors.

pub mod config;
pub mod inbound;
pub mod outbound;
pub mod poller;
pub mod webhook;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use switchboard_core::connector::{
    ChannelContext, Connector, Outbound, Receipt, SendError, WebhookRequest, WebhookResponse,
};
use switchboard_core::gateway::Concern;
use switchboard_core::ingest::IngestError;
use switchboard_core::ratelimit::{Rate, RateLimits};
use switchboard_core::shutdown::Shutdown;
use teloxide::prelude::*;
use teloxide::types::CallbackQueryId;
use tokio::sync::OnceCell;

use config::Mode;
pub use config::TelegramChannelConfig;
use inbound::{BotIdentity, Parsed};

/// The config `kind` of this channel.
pub const KIND: &str = "telegram";

/// Telegram's published limits (core.telegram.org/bots/faq): about 30 messages a
/// second per bot, about one a second per chat with short bursts, 20 a minute per
/// group.
pub const DEFAULT_RATE_LIMITS: RateLimits = RateLimits {
    channel: Some(Rate::new(30, 1.0, Some(30))),
    recipient: Some(Rate::new(1, 1.0, Some(3))),
    group: Some(Rate::new(20, 60.0, Some(3))),
};

pub struct TelegramConnector {
    pub(crate) config: TelegramChannelConfig,
    pub(crate) context: ChannelContext,
    /// For sends, files and setWebhook.
    pub(crate) bot: Bot,
    /// For getUpdates, whose long poll outlasts other calls' timeout.
    pub(crate) poll_bot: Bot,
    /// The bot's user id: the token's first part, so it is known without asking.
    bot_id: u64,
    /// The username getMe gave, once it answered.
    learned_username: OnceCell<String>,
    /// When getMe last failed: it is asked again only after [`GET_ME_RETRY`].
    get_me_failed_at: Mutex<Option<Instant>>,
}

/// How long after a failed getMe the gateway asks again.
const GET_ME_RETRY: Duration = Duration::from_secs(30);

/// Why received updates were not committed.
#[derive(Debug)]
pub(crate) enum ReceiveError {
    /// The updates cannot be stored as they are; the text says why.
    Invalid(String),
    /// Not now (the store): try again later.
    Unavailable(String),
}

impl TelegramConnector {
    pub fn new(config: TelegramChannelConfig, context: ChannelContext) -> Result<Self, String> {
        let api_url = url::Url::parse(&config.api_url)
            .map_err(|e| format!("api_url {:?}: {e}", config.api_url))?;
        let bot = |timeout: Duration| -> Result<Bot, String> {
            let client = teloxide::net::default_reqwest_settings()
                .timeout(timeout)
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
            Ok(Bot::with_client(config.token.expose(), client).set_api_url(api_url.clone()))
        };
        let timeout = Duration::from_secs(config.timeout_seconds);
        let poll_timeout = Duration::from_secs(config.poll_timeout_seconds) + timeout;
        let bot_id = config
            .bot_id()
            .ok_or_else(|| "token: is not a bot token (123456789:AAE...)".to_owned())?;
        Ok(TelegramConnector {
            bot: bot(timeout)?,
            poll_bot: bot(poll_timeout)?,
            config,
            context,
            bot_id,
            learned_username: OnceCell::new(),
            get_me_failed_at: Mutex::new(None),
        })
    }

    /// The bot itself, for telling whether a group message addresses it: the id from
    /// the token, the username from the config or else from getMe. Never fails: when
    /// neither knows the username the channel reports it and keeps taking messages.
    pub(crate) async fn bot_identity(&self) -> BotIdentity {
        let username = match &self.config.bot_username {
            Some(name) => Some(name.clone()),
            None => self.username_from_get_me().await,
        };
        BotIdentity {
            id: self.bot_id,
            username,
        }
    }

    /// The username getMe gives, asked until it answers (at most every
    /// [`GET_ME_RETRY`]).
    async fn username_from_get_me(&self) -> Option<String> {
        if let Some(name) = self.learned_username.get() {
            return Some(name.clone());
        }
        let failed_at = *self
            .get_me_failed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if failed_at.is_some_and(|at| at.elapsed() < GET_ME_RETRY) {
            return None;
        }
        match self.check_identity().await {
            Ok(name) => Some(
                self.learned_username
                    .get_or_init(|| async { name })
                    .await
                    .clone(),
            ),
            Err(()) => None,
        }
    }

    /// Asks getMe who the bot is: a failure (a revoked token, an unreachable Bot API)
    /// and a configured `bot_username` that is not the bot's are reported as the
    /// channel's `identity` problem.
    async fn check_identity(&self) -> Result<String, ()> {
        let channel = self.context.channel().as_str();
        let problem = match inbound::get_me(&self.bot).await {
            Ok(me) if me.id != self.bot_id => Some(format!(
                "getMe answered for bot {} while the token is bot {}'s",
                me.id, self.bot_id
            )),
            Ok(me) => match &self.config.bot_username {
                Some(name) if !name.eq_ignore_ascii_case(&me.username) => Some(format!(
                    "bot_username is {name:?} but the token is @{}'s: mentions of @{} are not recognized",
                    me.username, me.username
                )),
                _ => {
                    tracing::info!(channel, bot = %format!("@{}", me.username), id = me.id, "telegram bot connected");
                    self.context.report_problem(Concern::Identity, None);
                    return Ok(me.username);
                }
            },
            Err(why) => {
                *self
                    .get_me_failed_at
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                Some(match self.config.bot_username {
                    Some(_) => format!("getMe failed ({why}): the bot token may be wrong"),
                    None => format!(
                        "getMe failed ({why}): until it works, any mention of a bot counts as addressing this one in groups; set bot_username in the channel's config to avoid that"
                    ),
                })
            }
        };
        self.context
            .report_problem(Concern::Identity, problem.as_deref());
        Err(())
    }

    /// Normalizes updates, fetches their files and commits them; `Ok` only once
    /// everything is stored. Button presses are acknowledged to Telegram after that.
    pub(crate) async fn receive(&self, updates: Vec<(Update, Value)>) -> Result<(), ReceiveError> {
        let groups = self.config.group_messages;
        let channel = self.context.channel().as_str().to_owned();
        let mut drafts = Vec::with_capacity(updates.len());
        for (update, raw) in &updates {
            let bot = if inbound::needs_bot_identity(update, groups) {
                Some(self.bot_identity().await)
            } else {
                None
            };
            match inbound::parse(update, raw, bot.as_ref(), groups) {
                Parsed::Message(draft) => drafts.push(*draft),
                Parsed::Ignored(reason) => {
                    metrics::counter!("switchboard_telegram_ignored_updates_total",
                        "channel" => channel.clone(), "reason" => reason)
                    .increment(1);
                    tracing::debug!(
                        channel,
                        update = update.id.0,
                        reason,
                        "telegram update ignored"
                    );
                }
            }
        }
        if drafts.is_empty() {
            return Ok(());
        }
        let limit = inbound::BOT_DOWNLOAD_LIMIT.min(self.context.max_attachment_bytes() as u64);
        for draft in &mut drafts {
            if let Some(media) = draft.media.take() {
                let fetched = inbound::fetch(&self.bot, &media, limit).await;
                // A file over the bots' limit is the customer's; a failed download is ours.
                match &fetched {
                    Err(inbound::FetchError::Failed(why)) => self.context.report_problem(
                        Concern::Media,
                        Some(&format!(
                            "a customer's {} could not be downloaded from Telegram: {why}",
                            media.kind
                        )),
                    ),
                    Err(inbound::FetchError::TooBig(_)) => {}
                    Ok(_) => self.context.report_problem(Concern::Media, None),
                }
                inbound::attach(&mut draft.inbound, media, fetched);
            }
        }
        let callbacks: Vec<String> = drafts
            .iter()
            .filter_map(|d| d.callback_query_id.clone())
            .collect();
        let items = drafts.into_iter().map(|d| d.inbound).collect();
        self.context.ingest(items).await.map_err(|e| match e {
            IngestError::Invalid(reason) => ReceiveError::Invalid(reason),
            other => ReceiveError::Unavailable(other.to_string()),
        })?;
        if !callbacks.is_empty() {
            // Stops the spinner on the customer's button; not worth holding the answer.
            let bot = self.bot.clone();
            tokio::spawn(async move {
                for id in callbacks {
                    if let Err(error) = bot.answer_callback_query(CallbackQueryId(id)).await {
                        tracing::warn!(%error, "answerCallbackQuery failed");
                    }
                }
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for TelegramConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn webhook(&self, request: WebhookRequest) -> WebhookResponse {
        webhook::handle(self, request).await
    }

    async fn run(&self, shutdown: Shutdown) -> anyhow::Result<()> {
        if let Ok(name) = self.check_identity().await {
            let _ = self.learned_username.set(name);
        }
        match self.config.mode {
            Mode::Polling => poller::run(self, shutdown).await,
            Mode::Webhook => {
                if self.config.register_webhook {
                    webhook::register(self, &shutdown).await;
                }
                shutdown.wait().await;
                Ok(())
            }
        }
    }

    /// Long polling takes the bot's updates from one node; webhooks come to any.
    fn polls(&self) -> bool {
        self.config.mode == Mode::Polling
    }

    async fn send(&self, outbound: &Outbound) -> Result<Receipt, SendError> {
        outbound::check(outbound)?;
        outbound::send(self, outbound).await
    }

    fn send_cost(&self, outbound: &Outbound) -> u32 {
        outbound::plan(outbound)
            .len()
            .saturating_sub(switchboard_core::parts::Progress::of(outbound).done)
            .max(1) as u32
    }

    fn is_group(&self, outbound: &Outbound) -> bool {
        // Group and supergroup chat ids are negative.
        outbound.thread.conversation.starts_with('-')
    }
}
