//! The web chat (`kind = "webchat"`): a widget the site embeds with one script tag,
//! and the WebSocket it talks over. Here the gateway is the provider: a customer's
//! message is acknowledged once committed, every message of a conversation has a
//! number in the conversation's log, and a widget that reconnects asks for what came
//! after the last number it has.
//!
//! Routes, under `/webchat/{channel_id}`:
//! - `GET widget.js`: the widget ([`widget`]).
//! - `GET ws`: the WebSocket ([`socket`], frames in [`protocol`]).
//! - `POST uploads`: a customer's file, before the message that carries it.
//! - `GET files/{token}`: a file of the conversation, by a signed link.
//! - `GET demo`: a page that embeds the chat, to try it.
//!
//! - [`config`]: the channel's settings.
//! - [`session`]: session tokens, file links, signed identities.
//! - [`inbound`]: a customer's message frame into the core's shape.
//! - [`outbound`]: an agent's reply into the conversation's log and onto its sockets.
//! - [`hub`]: the live sockets of this node.

pub mod config;
pub mod hub;
pub mod inbound;
pub mod outbound;
pub mod protocol;
pub mod session;
pub mod socket;
pub mod widget;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use switchboard_core::bus::{Notice, Topic};
use switchboard_core::connector::{ChannelContext, Connector, Outbound, Receipt, SendError};
use switchboard_core::ratelimit::{Rate, RateLimits};
use switchboard_core::shutdown::Shutdown;
use tokio::sync::broadcast;

pub use config::WebchatChannelConfig;

use crate::hub::{Hub, Push};
use crate::protocol::ServerFrame;
use crate::session::Signer;

/// The config `kind` of this channel.
pub const KIND: &str = "webchat";

/// Replies go to the gateway's own sockets: the limit only keeps one runaway
/// integration from flooding a customer's screen.
pub const DEFAULT_RATE_LIMITS: RateLimits = RateLimits {
    channel: None,
    recipient: Some(Rate::new(10, 1.0, Some(20))),
    group: None,
};

pub struct WebchatConnector {
    pub(crate) config: WebchatChannelConfig,
    pub(crate) context: ChannelContext,
    pub(crate) signer: Signer,
    pub(crate) hub: Arc<Hub>,
    pub(crate) connections: DefaultKeyedRateLimiter<IpAddr>,
    pub(crate) messages: DefaultKeyedRateLimiter<String>,
    pub(crate) uploads: DefaultKeyedRateLimiter<String>,
}

fn per_minute(count: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN))
}

impl WebchatConnector {
    pub fn new(config: WebchatChannelConfig, context: ChannelContext) -> Result<Self, String> {
        let signer = Signer::new(config.secret.clone(), context.channel().as_str());
        let limits = config.limits;
        Ok(WebchatConnector {
            signer,
            hub: Arc::new(Hub::new(context.channel().as_str())),
            connections: RateLimiter::keyed(per_minute(limits.connections_per_minute)),
            messages: RateLimiter::keyed(per_minute(limits.messages_per_minute)),
            uploads: RateLimiter::keyed(per_minute(limits.uploads_per_minute)),
            config,
            context,
        })
    }

    /// The channel's routes, to mount under `/webchat/{channel_id}`.
    pub fn routes<S: Clone + Send + Sync + 'static>(self: &Arc<Self>) -> Router<S> {
        use axum::routing::{get, post};
        Router::new()
            .route("/widget.js", get(widget::script))
            .route("/demo", get(widget::demo))
            .route("/ws", get(socket::upgrade))
            .route(
                "/uploads",
                post(widget::upload)
                    .options(widget::preflight)
                    // The channel's own limit, answered in its words, not the server's.
                    .layer(axum::extract::DefaultBodyLimit::max(
                        self.max_upload_bytes() + 1,
                    )),
            )
            .route("/files/{token}", get(widget::file))
            .with_state(self.clone())
    }

    /// The largest file a customer may send: the channel's limit within the gateway's.
    pub(crate) fn max_upload_bytes(&self) -> usize {
        self.config
            .uploads
            .max_bytes
            .min(self.context.max_attachment_bytes())
    }

    pub(crate) fn now_seconds(&self) -> i64 {
        self.context.now().0 / 1000
    }

    pub(crate) fn session_lifetime(&self) -> i64 {
        i64::from(self.config.session_days) * 86_400
    }
}

/// The next web chat notice from another node (`<channel> <seq> <conversation>`);
/// never, on a store no other node shares.
async fn logged_elsewhere(notices: &mut Option<broadcast::Receiver<Notice>>) -> String {
    loop {
        let Some(receiver) = notices else {
            return std::future::pending().await;
        };
        match receiver.recv().await {
            Ok(notice) if notice.topic == Topic::Chat => return notice.body,
            // Lost notices are found by the sockets' own look at the log.
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => *notices = None,
        }
    }
}

/// How often the gateway looks whether agents are still at work.
const STATUS_EVERY: Duration = Duration::from_secs(10);

impl WebchatConnector {
    /// Tells the other nodes that message `seq` is logged in `conversation`.
    pub(crate) fn announce_logged(&self, conversation: &str, seq: i64) {
        let channel = self.context.channel().as_str();
        self.context
            .bus()
            .announce(Topic::Chat, &format!("{channel} {seq} {conversation}"));
    }

    /// Tells this node's sockets in a conversation that another node logged a
    /// message there (a notice of [`WebchatConnector::announce_logged`]).
    fn remind(&self, logged: &str) {
        let mut parts = logged.splitn(3, ' ');
        let (Some(channel), Some(Ok(seq)), Some(conversation)) = (
            parts.next(),
            parts.next().map(str::parse::<i64>),
            parts.next(),
        ) else {
            return;
        };
        if channel == self.context.channel().as_str() {
            self.hub.push(conversation, &Push::Logged { seq }, None);
        }
    }

    /// Whether someone can answer now: agents at work, within the channel's hours.
    pub(crate) fn availability(&self) -> protocol::Availability {
        let now = self.context.now();
        let hours = self
            .config
            .hours
            .as_deref()
            .and_then(|name| self.context.calendar(name));
        let open = hours.is_none_or(|calendar| calendar.is_open(now));
        protocol::Availability {
            agents_online: self.context.presence().agents_online(now.0),
            open,
            opens_at: hours
                .filter(|_| !open)
                .and_then(|calendar| calendar.next_open(now))
                .map(|at| at.0),
        }
    }

    /// Tells every widget when agents came to work or left, or the hours began or
    /// ended.
    fn announce_status(&self, last: &mut protocol::Availability) {
        let now = self.availability();
        if now != *last {
            *last = now;
            let frame = ServerFrame::Status { availability: now }.to_json();
            self.hub.push_all(&Push::Frame(frame.into()));
        }
    }
}

#[async_trait]
impl Connector for WebchatConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// Tells the widgets what agents do: typing on their ticket, and whether any
    /// agent is at work; closes every socket at shutdown.
    async fn run(&self, shutdown: Shutdown) -> anyhow::Result<()> {
        let presence = self.context.presence();
        let mut updates = presence.subscribe();
        let mut online = self.availability();
        let mut tick = tokio::time::interval(STATUS_EVERY);
        let mut typing: std::collections::HashSet<i64> = Default::default();
        let mut notices = self
            .context
            .store_is_shared()
            .then(|| self.context.bus().subscribe());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                _ = tick.tick() => self.announce_status(&mut online),
                logged = logged_elsewhere(&mut notices) => self.remind(&logged),
                update = updates.recv() => {
                    let update = match update {
                        Ok(update) => update,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    };
                    // An agent on a ticket is at work: say so at once, not at the tick.
                    self.announce_status(&mut online);
                    let Some(conversation) = self.hub.conversation_of(update.ticket_id) else {
                        continue;
                    };
                    let now = self.context.now().0;
                    let agent = update.agents.iter().find(|a| a.typing_until > now);
                    let on = agent.is_some();
                    // Every report while typing goes out (the widget forgets a typing
                    // agent after a few seconds); the end of typing once.
                    let was = if on {
                        !typing.insert(update.ticket_id)
                    } else {
                        typing.remove(&update.ticket_id)
                    };
                    if !on && !was {
                        continue;
                    }
                    let frame = ServerFrame::Typing {
                        on,
                        agent: agent.map(|a| protocol::AgentView::new(&a.name)),
                    };
                    self.hub.push(&conversation, &Push::Frame(frame.to_json().into()), None);
                }
            }
        }
        self.hub.push_all(&Push::Close);
        Ok(())
    }

    async fn send(&self, outbound: &Outbound) -> Result<Receipt, SendError> {
        outbound::send(self, outbound).await
    }
}
