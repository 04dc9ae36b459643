//! The WhatsApp channel (`kind = "whatsapp"`): one business number of the WhatsApp
//! Cloud API. Signed webhooks in, the Graph API out, and the 24-hour customer service
//! window enforced before anything is sent: outside it a reply becomes the
//! configured template, or is refused with the reason.
//!
//! - [`config`]: the channel's settings.
//! - [`inbound`]: notifications into normalized messages and delivery updates; media
//!   fetched with the two-step download.
//! - [`webhook`]: the verification handshake and signed notifications.
//! - [`outbound`]: replies, files, templates, and the Graph API's error codes.

pub mod config;
pub mod inbound;
pub mod outbound;
pub mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::connector::{
    ChannelContext, Connector, Draft, Outbound, Receipt, SendError, ThreadContext, WebhookRequest,
    WebhookResponse,
};
use switchboard_core::ingest::IngestError;
use switchboard_core::model::Timestamp;
use switchboard_core::ratelimit::{Rate, RateLimits};

pub use config::WhatsAppChannelConfig;

/// The config `kind` of this channel.
pub const KIND: &str = "whatsapp";

/// WhatsApp's documented throughput: 80 messages a second per business number, and
/// about one message every 6 s to one user, with short bursts.
pub const DEFAULT_RATE_LIMITS: RateLimits = RateLimits {
    channel: Some(Rate::new(80, 1.0, Some(80))),
    recipient: Some(Rate::new(1, 6.0, Some(5))),
    group: None,
};

pub struct WhatsAppConnector {
    pub(crate) config: WhatsAppChannelConfig,
    pub(crate) context: ChannelContext,
    pub(crate) http: reqwest::Client,
}

impl WhatsAppConnector {
    pub fn new(config: WhatsAppChannelConfig, context: ChannelContext) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_seconds))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(WhatsAppConnector {
            config,
            context,
            http,
        })
    }

    /// `{api_url}/{version}/{path}`.
    pub(crate) fn graph_url(&self, path: &str) -> String {
        format!(
            "{}/{}/{path}",
            self.config.api_url.trim_end_matches('/'),
            self.config.api_version
        )
    }

    /// Fetches the media of a notification's messages, then commits the messages and
    /// the delivery updates. `Ok` only when all of it is recorded.
    async fn receive(&self, mut notification: inbound::Notification) -> Result<(), IngestError> {
        let channel = self.context.channel().as_str().to_owned();
        for reason in &notification.ignored {
            metrics::counter!("switchboard_whatsapp_ignored_total", "channel" => channel.clone(), "reason" => *reason)
                .increment(1);
        }
        for message in &mut notification.messages {
            inbound::attach_media(self, message).await;
        }
        if !notification.messages.is_empty() {
            let items = notification
                .messages
                .into_iter()
                .map(|m| m.inbound)
                .collect();
            self.context.ingest(items).await?;
        }
        for update in notification.statuses {
            self.context.delivery(update).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for WhatsAppConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn webhook(&self, request: WebhookRequest) -> WebhookResponse {
        webhook::handle(self, request).await
    }

    async fn send(&self, outbound: &Outbound) -> Result<Receipt, SendError> {
        outbound::send(self, outbound).await
    }

    fn send_cost(&self, outbound: &Outbound) -> u32 {
        outbound::cost(self, outbound).max(1) as u32
    }

    fn refuse(&self, thread: &ThreadContext, draft: Draft<'_>, now: Timestamp) -> Option<String> {
        if outbound::window_open(thread.last_inbound_at, now) {
            return None;
        }
        if self.config.window_template.is_none() {
            return Some(outbound::WINDOW_CLOSED.to_owned());
        }
        (draft.attachments > 0).then(|| outbound::WINDOW_CLOSED_FILES.to_owned())
    }
}
