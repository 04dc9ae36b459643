//! The generic API channel (`kind = "api"`): other systems push customer messages in
//! as signed JSON, and agents' replies go back out as signed JSON POSTs to the
//! channel's callback URL, through the outbox like every channel.
//!
//! - [`config`]: the channel's settings.
//! - [`inbound`]: the pushed message format and its normalization.
//! - [`webhook`]: `POST /webhooks/{channel_id}`: signature, parsing, ingest.
//! - [`outbound`]: the callback that carries replies.

pub mod config;
pub mod inbound;
pub mod outbound;
pub mod webhook;

use async_trait::async_trait;
use switchboard_core::connector::{
    ChannelContext, Connector, Outbound, Receipt, SendError, WebhookRequest, WebhookResponse,
};
use switchboard_core::ratelimit::{Rate, RateLimits};

pub use config::ApiChannelConfig;

/// The config `kind` of this channel.
pub const KIND: &str = "api";

/// Without a config of its own the channel sends at most 50 callbacks a second.
pub const DEFAULT_RATE_LIMITS: RateLimits = RateLimits {
    channel: Some(Rate::new(50, 1.0, Some(50))),
    recipient: None,
    group: None,
};

pub struct ApiConnector {
    pub(crate) config: ApiChannelConfig,
    pub(crate) context: ChannelContext,
    pub(crate) http: reqwest::Client,
}

impl ApiConnector {
    pub fn new(config: ApiChannelConfig, context: ChannelContext) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(config.timeout_seconds))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(ApiConnector {
            config,
            context,
            http,
        })
    }
}

#[async_trait]
impl Connector for ApiConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn webhook(&self, request: WebhookRequest) -> WebhookResponse {
        webhook::handle(self, request).await
    }

    async fn send(&self, outbound: &Outbound) -> Result<Receipt, SendError> {
        outbound::send(self, outbound).await
    }
}
