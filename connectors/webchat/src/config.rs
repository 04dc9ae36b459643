//! Settings of a web chat channel (`[channels.<id>]` with `kind = "webchat"`).

use serde::Deserialize;
use switchboard_core::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebchatChannelConfig {
    /// Signs the session tokens the widget keeps, and the links to files.
    pub secret: Secret,
    /// Signs the identities a site passes for its signed-in users:
    /// `hex(HMAC-SHA256(identity_secret, user_id))`. Without it, no identity is
    /// accepted and every visitor is anonymous.
    #[serde(default)]
    pub identity_secret: Option<Secret>,
    /// The sites allowed to open the chat, as origins (`https://www.example.com`).
    /// Connections and uploads from any other page are refused with 403.
    pub allowed_origins: Vec<String>,
    /// The heading of the chat window.
    #[serde(default = "default_title")]
    pub title: String,
    /// The widget's language when neither the page nor the browser names one it has.
    #[serde(default = "default_language")]
    pub language: String,
    /// What the widget asks before the first message.
    #[serde(default)]
    pub pre_chat: PreChat,
    /// How long a session lasts after the visitor's last visit, in days.
    #[serde(default = "default_session_days")]
    pub session_days: u32,
    /// The longest message a customer may send, in characters.
    #[serde(default = "default_max_message_chars")]
    pub max_message_chars: usize,
    /// The business hours, a calendar of `[calendars]`: outside them the chat says it
    /// is closed and when it opens, as when no agent is online.
    #[serde(default)]
    pub hours: Option<String>,
    /// An email channel: a customer who writes while no agent is online and leaves
    /// an email address gets the replies there, in the same ticket, and their email
    /// answers thread back into it. Without it, replies wait in the chat.
    #[serde(default)]
    pub continue_by_email: Option<String>,
    #[serde(default)]
    pub uploads: Uploads,
    #[serde(default)]
    pub limits: Limits,
}

/// Whether a pre-chat field is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    #[default]
    Off,
    Optional,
    Required,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PreChat {
    #[serde(default)]
    pub name: Field,
    #[serde(default)]
    pub email: Field,
    #[serde(default)]
    pub topic: Field,
    /// The topics to choose from, when `topic` is asked.
    #[serde(default)]
    pub topics: Vec<String>,
}

/// Files customers may send.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uploads {
    /// The largest file, in bytes (and never more than the gateway's attachment limit).
    #[serde(default = "default_upload_bytes")]
    pub max_bytes: usize,
    /// The media types accepted. `image/*` accepts every image type.
    #[serde(default = "default_upload_types")]
    pub types: Vec<String>,
}

impl Default for Uploads {
    fn default() -> Self {
        Uploads {
            max_bytes: default_upload_bytes(),
            types: default_upload_types(),
        }
    }
}

impl Uploads {
    /// Whether a file of this media type may be sent.
    pub fn accepts(&self, content_type: &str) -> bool {
        let content_type = content_type.to_ascii_lowercase();
        self.types.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            match allowed.strip_suffix("/*") {
                Some(family) => content_type
                    .split_once('/')
                    .is_some_and(|(f, _)| f == family),
                None => allowed == content_type,
            }
        })
    }
}

/// Abuse limits (governor): over them a connection gets 429 and a message an
/// `error` frame with `rate_limited`, and nothing is stored.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// New connections per minute from one IP address.
    #[serde(default = "default_connections_per_minute")]
    pub connections_per_minute: u32,
    /// Messages per minute in one conversation.
    #[serde(default = "default_messages_per_minute")]
    pub messages_per_minute: u32,
    /// Uploads per minute in one conversation.
    #[serde(default = "default_uploads_per_minute")]
    pub uploads_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections_per_minute: default_connections_per_minute(),
            messages_per_minute: default_messages_per_minute(),
            uploads_per_minute: default_uploads_per_minute(),
        }
    }
}

fn default_title() -> String {
    "Support".into()
}
fn default_language() -> String {
    "en".into()
}
fn default_session_days() -> u32 {
    30
}
fn default_max_message_chars() -> usize {
    4000
}
fn default_upload_bytes() -> usize {
    10 * 1024 * 1024
}
fn default_upload_types() -> Vec<String> {
    ["image/*", "application/pdf", "text/plain"]
        .map(String::from)
        .to_vec()
}
fn default_connections_per_minute() -> u32 {
    60
}
fn default_messages_per_minute() -> u32 {
    30
}
fn default_uploads_per_minute() -> u32 {
    10
}

/// The languages the widget has strings for.
pub const LANGUAGES: &[&str] = &["en", "ms", "zh"];

impl WebchatChannelConfig {
    /// Checks values that parse but make no sense; no IO.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.allowed_origins.is_empty() {
            problems.push((
                "allowed_origins",
                "name at least one site that may open the chat, such as \"https://www.example.com\"".into(),
            ));
        }
        for origin in &self.allowed_origins {
            let scheme_ok = origin.starts_with("https://") || origin.starts_with("http://");
            let host = origin.split_once("://").map_or("", |(_, rest)| rest);
            if !scheme_ok || host.is_empty() || host.contains('/') {
                problems.push((
                    "allowed_origins",
                    format!("{origin:?} is not an origin: a scheme and a host, with an optional port and no path (\"https://www.example.com\")"),
                ));
            }
        }
        if !LANGUAGES.contains(&self.language.as_str()) {
            problems.push((
                "language",
                format!(
                    "the widget speaks {}; not {:?}",
                    LANGUAGES.join(", "),
                    self.language
                ),
            ));
        }
        if self.session_days == 0 || self.session_days > 400 {
            problems.push(("session_days", "must be between 1 and 400".into()));
        }
        if self.max_message_chars == 0 || self.max_message_chars > 100_000 {
            problems.push(("max_message_chars", "must be between 1 and 100000".into()));
        }
        if self.pre_chat.topic != Field::Off && self.pre_chat.topics.is_empty() {
            problems.push((
                "pre_chat.topics",
                "list the topics to choose from, or set pre_chat.topic = \"off\"".into(),
            ));
        }
        if self.uploads.max_bytes == 0 {
            problems.push(("uploads.max_bytes", "must be at least 1".into()));
        }
        for (key, value) in [
            (
                "limits.connections_per_minute",
                self.limits.connections_per_minute,
            ),
            (
                "limits.messages_per_minute",
                self.limits.messages_per_minute,
            ),
            ("limits.uploads_per_minute", self.limits.uploads_per_minute),
        ] {
            if value == 0 {
                problems.push((key, "must be at least 1".into()));
            }
        }
        problems
    }
}
