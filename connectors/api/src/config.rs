//! Settings of an API channel (`[channels.<id>]` with `kind = "api"`).

use serde::Deserialize;
use switchboard_core::Secret;
use switchboard_core::secret::redact_urls;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiChannelConfig {
    /// The shared secret that signs both directions: `X-Switchboard-Signature:
    /// sha256=<hex HMAC-SHA256(secret, raw body)>`.
    pub secret: Secret,
    /// Where replies are POSTed. Without it the channel only receives, and replies to
    /// its tickets fail with a reason saying so.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Whether pushed attachments may be given by `url` (fetched by the gateway) as
    /// well as inline `data`. Off by default: whoever holds the secret could otherwise
    /// make the gateway fetch arbitrary URLs.
    #[serde(default)]
    pub fetch_attachment_urls: bool,
    /// Whether attachment URLs may point at loopback, private or link-local addresses
    /// (for integrations inside the same network). Off by default.
    #[serde(default)]
    pub fetch_private_addresses: bool,
    /// How long a callback or an attachment download may take, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

/// The callback URL without its query: integrations put keys there.
impl std::fmt::Debug for ApiChannelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiChannelConfig")
            .field("secret", &self.secret)
            .field(
                "callback_url",
                &self.callback_url.as_deref().map(redact_urls),
            )
            .field("fetch_attachment_urls", &self.fetch_attachment_urls)
            .field("fetch_private_addresses", &self.fetch_private_addresses)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

fn default_timeout() -> u64 {
    15
}

impl ApiChannelConfig {
    /// Checks values that parse but make no sense; no IO.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Some(url) = &self.callback_url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                Ok(u) => problems.push((
                    "callback_url",
                    format!("scheme {:?} is not http or https", u.scheme()),
                )),
                Err(e) => problems.push(("callback_url", format!("{url:?} is not a URL: {e}"))),
            }
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > 300 {
            problems.push(("timeout_seconds", "must be between 1 and 300".into()));
        }
        problems
    }
}
