//! The [`Connector`] trait and the normalized shapes that cross it.
//!
//! A connector speaks one provider's protocol and nothing else: inbound it turns a
//! webhook request or a polled item into [`Inbound`]s and hands them to its
//! [`ChannelContext`]; outbound it turns an [`Outbound`] into the provider's call. It
//! never touches tickets or the store.

use std::time::Duration;

use crate::shutdown::Shutdown;
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;

pub use crate::gateway::ChannelContext;
use crate::identity::Identity;
use crate::model::{DeliveryStatus, Timestamp};

/// A customer message, normalized.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The provider's id for the message: the dedupe key within the channel.
    pub external_id: String,
    pub sender: Sender,
    /// The provider's conversation key (chat id, phone, email address, ...).
    pub conversation: String,
    pub thread: ThreadHint,
    pub subject: Option<String>,
    pub text: String,
    /// Sanitized HTML, when the provider sent some.
    pub html: Option<String>,
    pub attachments: Vec<InboundAttachment>,
    /// Auto-replies, bounces and the like: stored, but they never reopen a ticket.
    pub automatic: bool,
    /// This is a new version of the message with that external id (a Telegram
    /// edit): it replaces the stored text and keeps the old one, instead of
    /// becoming a message of its own. When that message is unknown, this one is
    /// stored under the original's id, so that the original arriving late is a
    /// duplicate.
    pub edit_of: Option<String>,
    /// The provider's grouping key (a Telegram album's media_group_id): messages of
    /// one conversation with the same group are one message, later ones adding
    /// their text and attachments to the first.
    pub group: Option<String>,
    /// Other people the message was addressed to (email Cc): recorded as the ticket's
    /// participants, so that their answers thread into it too.
    pub participants: Vec<Sender>,
    /// Where replies to this message go instead of back the way it came.
    pub reply_by: Option<ReplyRoute>,
}

/// Another channel and address for the replies to a message: a web chat message left
/// while nobody was online continues by email. Replies follow it until the customer
/// writes again without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRoute {
    /// The channel replies go out on (an email channel).
    pub channel: String,
    /// The customer's address there.
    pub identity: Identity,
}

/// Who sent an inbound message.
#[derive(Debug, Clone)]
pub struct Sender {
    pub identity: Identity,
    pub display_name: Option<String>,
    /// The message shows that replies can reach this identity again (a Telegram user
    /// who unblocked the bot): an earlier mark of unreachable is cleared.
    pub reachable: bool,
}

/// What the provider says about the thread a message belongs to.
#[derive(Debug, Clone, Default)]
pub struct ThreadHint {
    /// The provider's id of the message this one replies to, within the same channel
    /// (Telegram reply_to_message, WhatsApp context.id, an API in_reply_to).
    pub reply_to: Option<String>,
    /// Globally unique ids of earlier messages of the thread (email References and
    /// In-Reply-To), the conversation's root first: the root's ticket wins. Matched
    /// only when the sender belongs to the ticket found, or the message is automatic.
    pub references: Vec<String>,
}

/// A file that came with an inbound message.
#[derive(Debug, Clone)]
pub struct InboundAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Bytes,
}

/// An agent's reply on its way out, with everything the connector needs to send it
/// into the customer's conversation.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The gateway's message id: a stable idempotency key across retries.
    pub message_id: i64,
    pub text: String,
    pub attachments: Vec<OutboundAttachment>,
    pub thread: ThreadContext,
    /// Which attempt this is, starting at 1.
    pub attempt: u32,
    /// What the connector saved with [`ChannelContext::save_progress`] during an
    /// earlier attempt that sent some parts of the message and then failed.
    pub progress: Option<String>,
    /// Answers to offer as buttons, on channels that have them (a survey's 1 to 5);
    /// the text asks for them in words too, for channels that do not.
    pub choices: Vec<crate::helpdesk::flow::Choice>,
}

/// A file going out with a reply.
#[derive(Debug, Clone)]
pub struct OutboundAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Bytes,
}

/// Where in the customer's conversation a reply goes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThreadContext {
    pub ticket_id: i64,
    pub ticket_reference: String,
    pub channel: String,
    /// The conversation key the customer wrote from.
    pub conversation: String,
    /// The identity the customer last wrote from on this channel.
    pub recipient: Option<Identity>,
    /// Why that identity cannot be reached, when a provider said so (blocked the
    /// bot, opted out of SMS): replies to it are refused, not sent.
    pub recipient_unreachable: Option<String>,
    /// The provider id of the customer's latest message on this channel: the message
    /// a reply quotes (Telegram reply, WhatsApp context.message_id, email In-Reply-To).
    pub reply_to: Option<String>,
    /// Provider ids of the ticket's messages on this channel, oldest first (email
    /// References).
    pub references: Vec<String>,
    /// The ticket's subject, for channels that have one.
    pub subject: Option<String>,
    /// When the customer last wrote on this channel (WhatsApp's 24-hour window).
    pub last_inbound_at: Option<Timestamp>,
}

/// What a provider said when it accepted a message.
#[derive(Debug, Clone, Default)]
pub struct Receipt {
    /// The provider's id for the sent message, used to match later status updates.
    pub external_id: Option<String>,
    /// SMS: the segments the reply took, shown on the message.
    pub segments: Option<u32>,
}

/// A reply as an agent asks for it, before it is queued: what a connector may refuse.
#[derive(Debug, Clone, Copy)]
pub struct Draft<'a> {
    pub text: &'a str,
    /// How many files go with it.
    pub attachments: usize,
}

/// Why a send did not succeed, typed by what the dispatcher should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later (network failure, 5xx, throttling); `retry_after` when the
    /// provider said how long to wait.
    #[error("{reason}")]
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will never succeed as it is; `reason` is shown to agents on the message.
    #[error("{reason}")]
    Permanent { reason: String },
}

impl SendError {
    pub fn retryable(reason: impl Into<String>) -> Self {
        SendError::Retryable {
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        SendError::Permanent {
            reason: reason.into(),
        }
    }
}

/// A provider's news about an outbound message (status callback, webhook status).
#[derive(Debug, Clone)]
pub struct DeliveryUpdate {
    /// The provider id returned in the [`Receipt`].
    pub external_id: String,
    pub status: DeliveryStatus,
    /// For `failed`: why, in words an agent can act on.
    pub reason: Option<String>,
}

/// The address of the client behind a request, as the server determined it: the
/// connection's peer, or behind the operator's trusted proxies the address they
/// name (`X-Forwarded-For`). Set on every request, for connectors that limit per
/// address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

/// A webhook request, as received, for the channel's connector.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub method: Method,
    /// The path below `/webhooks/{channel_id}`: empty, or starting with `/`.
    pub subpath: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The exact bytes received: signatures are computed over these.
    pub body: Bytes,
}

/// A connector's answer to a webhook request.
#[derive(Debug, Clone)]
pub struct WebhookResponse {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl WebhookResponse {
    pub fn json(status: StatusCode, value: &serde_json::Value) -> Self {
        WebhookResponse {
            status,
            content_type: "application/json",
            body: Bytes::from(value.to_string()),
        }
    }

    /// The gateway's error shape: `{"error":{"code":..,"message":..}}`.
    pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self::json(
            status,
            &serde_json::json!({"error": {"code": code, "message": message.into()}}),
        )
    }

    pub fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        WebhookResponse {
            status,
            content_type,
            body: body.into(),
        }
    }
}

/// One channel's protocol. Implementations live in `connectors/<name>/`.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// The config `kind` this connector implements (`api`, `telegram`, ...).
    fn kind(&self) -> &'static str;

    /// Handles a request to `/webhooks/{channel_id}[/...]`. A connector answers 2xx
    /// only after what it received is committed through its [`ChannelContext`].
    async fn webhook(&self, request: WebhookRequest) -> WebhookResponse {
        let _ = request;
        WebhookResponse::error(
            StatusCode::NOT_FOUND,
            "no_webhook",
            format!("channels of kind {} take no webhooks", self.kind()),
        )
    }

    /// Runs the channel's poller, if it has one, until `shutdown` fires.
    async fn run(&self, shutdown: Shutdown) -> anyhow::Result<()> {
        shutdown.wait().await;
        Ok(())
    }

    /// Whether [`Connector::run`] polls the provider (a mailbox, a bot's updates),
    /// which one node at a time may do: then it runs only on the node holding the
    /// channel's poller lease. Otherwise it runs on every node.
    fn polls(&self) -> bool {
        false
    }

    /// Sends one reply into the customer's conversation.
    async fn send(&self, outbound: &Outbound) -> Result<Receipt, SendError>;

    /// How many rate-limit tokens this message costs (SMS segments, split parts).
    fn send_cost(&self, outbound: &Outbound) -> u32 {
        let _ = outbound;
        1
    }

    /// Whether the reply goes to a group conversation, which the channel's `group`
    /// rate limit applies to instead of the per-recipient one (Telegram group chats).
    fn is_group(&self, outbound: &Outbound) -> bool {
        let _ = outbound;
        false
    }

    /// Why a reply into this thread cannot go out now, known without asking the
    /// provider (WhatsApp's closed 24-hour window with no template to fall back
    /// on, a reply with files that only free-form messages can carry, an SMS over
    /// the channel's segment limit). The reply
    /// is then refused when the agent sends it, and failed with this reason if it
    /// was already queued.
    fn refuse(&self, thread: &ThreadContext, draft: Draft<'_>, now: Timestamp) -> Option<String> {
        let _ = (thread, draft, now);
        None
    }
}

/// Why a reply cannot go out through `connector` now: the recipient is unreachable,
/// or the connector (when this node runs it) refuses it ([`Connector::refuse`]).
pub fn refusal(
    connector: Option<&dyn Connector>,
    thread: &ThreadContext,
    draft: Draft<'_>,
    now: Timestamp,
) -> Option<String> {
    if let Some(reason) = &thread.recipient_unreachable {
        return Some(format!(
            "the customer cannot be reached on this channel: {reason}"
        ));
    }
    connector?.refuse(thread, draft, now)
}

/// How long a `Retry-After` header asks to wait (seconds, or an HTTP date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::format_description::well_known::Rfc2822;
    let at = time::OffsetDateTime::parse(value, &format).ok()?;
    let wait = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}
