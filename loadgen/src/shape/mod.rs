//! What the load looks like for each `--kind`: how request `n` of a run is built, which
//! answer acknowledges it, the external id the gateway stores it under, and how the
//! store check finds the run's messages again. Everything that differs between kinds
//! is behind [`Shape`]; the workers in `drive` and the check in `verify` only ask it.
//!
//! Every request is a function of the run and the message number `n` alone, so that a
//! resend is byte for byte the original, as a provider's redelivery would be.

mod api;
mod telegram;
mod whatsapp;

use reqwest::StatusCode;
use reqwest::header::HeaderValue;

pub use api::Api;
pub use telegram::Telegram;
pub use whatsapp::WhatsApp;

/// The kinds of channel the load generator can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The generic api channel: JSON bodies signed with HMAC-SHA256.
    Api,
    /// A Telegram bot's webhook: Bot API updates with the secret-token header.
    Telegram,
    /// A WhatsApp Cloud API number's webhook: notifications signed with the app secret.
    #[value(name = "whatsapp")]
    WhatsApp,
}

/// What a run is: the same for every kind.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The channel's webhook secret.
    pub secret: &'a str,
    /// The run's random id; everything a run sends is derived from it.
    pub id: &'a str,
    /// Distinct customers the messages cycle over.
    pub customers: u64,
    /// The run's start, in unix seconds: the `date` of messages that carry one.
    pub started_unix: i64,
    /// The WhatsApp channel's `phone_number_id`, which every notification names.
    pub phone_number_id: Option<&'a str>,
}

/// Builds the shape of `kind` for `run`; an error explains what the run cannot do.
pub fn build(kind: Kind, run: Run<'_>) -> Result<Box<dyn Shape>, String> {
    Ok(match kind {
        Kind::Api => Box::new(Api::new(run)),
        Kind::Telegram => Box::new(Telegram::new(run)?),
        Kind::WhatsApp => Box::new(WhatsApp::new(run)?),
    })
}

/// One kind of load. Message numbers `n` start at 1.
pub trait Shape: Send + Sync {
    /// The request that carries message `n`.
    fn request(&self, n: u64) -> Request;
    /// What the gateway's answer means. Transport errors are the caller's.
    fn answer(&self, status: StatusCode, body: &[u8]) -> Answer;
    /// The external id the gateway stores message `n` under on its channel.
    fn external_id(&self, n: u64) -> String;
    /// Whose message an external id found by [`Shape::selection`] is.
    fn claim(&self, external_id: &str) -> Claim;
    /// How the store check finds this run's messages among the channel's.
    fn selection(&self) -> Selection;
    /// The highest message number this kind can carry.
    fn last_message(&self) -> u64 {
        u64::MAX
    }
    /// Whether acknowledgements say if the message was a duplicate.
    fn flags_duplicates(&self) -> bool;
    /// The ids a run uses, for the report, when they are not plain from the run id.
    fn ids(&self) -> Option<String> {
        None
    }
}

/// One webhook request; its content type is always JSON.
pub struct Request {
    pub body: Vec<u8>,
    /// The one header that authenticates it: a signature or a shared secret.
    pub auth_header: &'static str,
    pub auth_value: HeaderValue,
}

/// What the gateway made of one request.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// Acknowledged. `duplicate` is the gateway's word on whether it had the message
    /// already, when the kind's answers carry one.
    Stored {
        duplicate: Option<bool>,
    },
    Failed {
        kind: String,
        sample: String,
    },
}

impl Answer {
    /// A failure named after the status, with the body as its sample.
    fn http_failure(status: StatusCode, body: &[u8]) -> Answer {
        Answer::Failed {
            kind: format!("HTTP {}", status.as_u16()),
            sample: String::from_utf8_lossy(body).into_owned(),
        }
    }
}

/// How the store check selects a run's messages on the channel.
#[derive(Debug, PartialEq)]
pub enum Selection {
    /// External ids starting with this; no SQL `LIKE` wildcard in it.
    Prefix(String),
    /// External ids from `from` (included) to `to` (excluded), in the store's text
    /// order: a superset of the run's, which [`Shape::claim`] sorts out.
    Range { from: String, to: String },
}

/// Whose message a stored external id is.
#[derive(Debug, PartialEq)]
pub enum Claim {
    /// Message `n` of this run.
    Message(u64),
    /// In this run's id space, but not an id the run ever numbered.
    Unknown,
    /// Someone else's (another run, a real customer): not counted at all.
    Foreign,
}
