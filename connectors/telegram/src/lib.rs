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

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use switchboard_core::connector::{
    ChannelContext, Connector, Outbound, Receipt, SendError, WebhookRequest, WebhookResponse,
};
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
    bot_identity: OnceCell<BotIdentity>,
}

/// Why received updates were not committed.
#[derive(Debug)]
pub(crate) enum ReceiveError {
    /// The updates cannot be stored as they are; the text says why.
    Invalid(String),
    /// Not now (the store, or the Bot API for getMe): try again later.
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
        Ok(TelegramConnector {
            bot: bot(timeout)?,
            poll_bot: bot(poll_timeout)?,
            config,
            context,
            bot_identity: OnceCell::new(),
        })
    }

    /// The bot's own id and username (getMe, asked once).
    pub(crate) async fn bot_identity(&self) -> Result<&BotIdentity, teloxide::RequestError> {
        self.bot_identity
            .get_or_try_init(|| async {
                let me = self.bot.get_me().await?;
                Ok(BotIdentity {
                    id: me.user.id.0,
                    username: me.user.username.clone().unwrap_or_default(),
                })
            })
            .await
    }

    /// Normalizes updates, fetches their files and commits them; `Ok` only once
    /// everything is stored. Button presses are acknowledged to Telegram after that.
    pub(crate) async fn receive(&self, updates: Vec<(Update, Value)>) -> Result<(), ReceiveError> {
        let groups = self.config.group_messages;
        let channel = self.context.channel().as_str().to_owned();
        let mut drafts = Vec::with_capacity(updates.len());
        for (update, raw) in &updates {
            let bot = if inbound::needs_bot_identity(update, groups) {
                Some(self.bot_identity().await.map_err(|e| {
                    ReceiveError::Unavailable(format!(
                        "cannot tell whether a group message addresses the bot (getMe failed: {e})"
                    ))
                })?)
            } else {
                None
            };
            match inbound::parse(update, raw, bot, groups) {
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
        let channel = self.context.channel().as_str();
        match self.bot_identity().await {
            Ok(me) => {
                tracing::info!(channel, bot = %format!("@{}", me.username), id = me.id, "telegram bot connected")
            }
            Err(error) => {
                tracing::warn!(channel, %error, "telegram getMe failed; the bot's identity is checked again when needed")
            }
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
