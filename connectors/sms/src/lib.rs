//! The SMS channel (`kind = "sms"`): text messages in through the provider's signed
//! webhooks, replies out through its REST API, with segments counted, long replies
//! split, and opt-outs (STOP) honoured before anything is sent.
//!
//! What SMS is (numbers, segments, keywords) lives here once; what a provider does
//! (signatures, parameters, its API and error codes) lives behind [`SmsProvider`],
//! one module per provider. A second provider is a new module and one arm in
//! [`SmsConnector::new`].
//!
//! - [`config`]: the channel's settings.
//! - [`inbound`]: received texts into normalized messages; keywords; MMS media.
//! - [`webhook`]: `/webhooks/<id>` (received texts), `/webhooks/<id>/status`, and
//!   `/webhooks/<id>/media/...` (a reply's files, for the provider to fetch).
//! - [`outbound`]: segments, splitting, refusals, sending, signed media URLs.
//! - [`twilio`]: Twilio Programmable Messaging.

pub mod config;
pub mod inbound;
pub mod outbound;
pub mod twilio;
pub mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use switchboard_core::connector::{
    ChannelContext, Connector, DeliveryUpdate, Draft, Outbound, Receipt, SendError, ThreadContext,
    WebhookRequest, WebhookResponse,
};
use switchboard_core::download::FetchError;
use switchboard_core::model::Timestamp;
use switchboard_core::ratelimit::{Rate, RateLimits};

use config::Provider;
pub use config::SmsChannelConfig;

/// The config `kind` of this channel.
pub const KIND: &str = "sms";

/// A long code's pace: about one segment a second per sending number. Toll-free
/// numbers, short codes and messaging services allow more: raise `channel`.
pub const DEFAULT_RATE_LIMITS: RateLimits = RateLimits {
    channel: Some(Rate::new(1, 1.0, Some(10))),
    recipient: None,
    group: None,
};

/// A text as the provider delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSms {
    /// The provider's id: the dedupe key.
    pub id: String,
    pub from: String,
    pub body: String,
    /// MMS media: (URL, content type).
    pub media: Vec<(String, String)>,
}

/// What a provider's status report says about a sent message.
#[derive(Debug, Clone)]
pub struct StatusReport {
    /// `None` for the statuses before `sent` (queued, sending, ...).
    pub update: Option<DeliveryUpdate>,
    /// The carrier says the recipient opted out.
    pub opted_out: bool,
}

/// Why a provider did not take a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// Try again later.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will not work as it is.
    Permanent(String),
    /// The recipient opted out: permanent, and the number is marked so.
    OptedOut(String),
    /// The channel's credentials are wrong: permanent, and shown on the channel.
    Credentials(String),
}

/// One SMS provider: how it signs and shapes webhooks, and how it sends.
#[async_trait]
pub trait SmsProvider: Send + Sync {
    /// The request's parameters, when its signature matches `signed_url` (the URL
    /// the provider called, as configured there); otherwise why not.
    fn verify(
        &self,
        signed_url: &str,
        request: &WebhookRequest,
    ) -> Result<Vec<(String, String)>, String>;

    /// A received text from the webhook's parameters.
    fn received(&self, params: &[(String, String)]) -> Result<ReceivedSms, String>;

    /// A status report from the status webhook's parameters.
    fn status(&self, params: &[(String, String)]) -> Result<StatusReport, String>;

    /// The answer to a received text that tells the provider to send nothing back.
    fn received_answer(&self) -> WebhookResponse;

    /// Sends one message (up to 1,600 characters, and files the provider fetches
    /// from `media_urls`); the provider's id for it.
    async fn send(
        &self,
        to: &str,
        body: &str,
        media_urls: &[String],
        status_callback: Option<&str>,
    ) -> Result<String, SendFailure>;

    /// A secret every node of the gateway shares, to sign the URLs of the files it
    /// serves the provider.
    fn signing_key(&self) -> &[u8];

    /// Downloads an MMS file with the account's credentials, up to `limit` bytes.
    async fn download(&self, url: &str, limit: usize) -> Result<Bytes, FetchError>;
}

pub struct SmsConnector {
    pub(crate) config: SmsChannelConfig,
    pub(crate) context: ChannelContext,
    pub(crate) provider: Box<dyn SmsProvider>,
}

impl SmsConnector {
    pub fn new(config: SmsChannelConfig, context: ChannelContext) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_seconds))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let provider: Box<dyn SmsProvider> = match config.provider {
            Provider::Twilio => {
                let twilio = config
                    .twilio
                    .clone()
                    .ok_or("provider twilio needs a [twilio] table")?;
                Box::new(twilio::Twilio::new(twilio, config.from.clone(), http))
            }
        };
        Ok(SmsConnector {
            config,
            context,
            provider,
        })
    }

    /// `{public_url}/webhooks/{channel}{subpath}`: what the provider calls.
    pub(crate) fn public_webhook_url(&self, subpath: &str) -> String {
        format!(
            "{}/webhooks/{}{subpath}",
            self.config.public_url.trim_end_matches('/'),
            self.context.channel().as_str()
        )
    }
}

#[async_trait]
impl Connector for SmsConnector {
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
        outbound::remaining_segments(outbound).max(1)
    }

    fn refuse(&self, thread: &ThreadContext, draft: Draft<'_>, now: Timestamp) -> Option<String> {
        let _ = (thread, now);
        outbound::refusal(self, draft)
    }
}
