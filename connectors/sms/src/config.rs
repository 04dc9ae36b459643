//! Settings of an SMS channel (`[channels.<id>]` with `kind = "sms"`): the provider,
//! the sending number, the gateway's public URL (webhook signatures are computed
//! over it), and the provider's own table (`[channels.<id>.twilio]`).

use serde::Deserialize;
use switchboard_core::Secret;
use switchboard_core::identity::Identity;

/// Twilio's REST API.
pub const DEFAULT_TWILIO_API_URL: &str = "https://api.twilio.com";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsChannelConfig {
    /// Which SMS provider carries the channel.
    pub provider: Provider,
    /// The gateway's public base URL as the provider calls it (behind a proxy, the
    /// proxy's). Webhook signatures are computed over it, never over the Host header.
    pub public_url: String,
    /// The number replies come from, in E.164. Optional when the provider picks one
    /// from a sender pool (Twilio's `messaging_service_sid`).
    #[serde(default)]
    pub from: Option<String>,
    /// The most segments one reply may take (what carriers bill); longer replies are
    /// refused with the count.
    #[serde(default = "default_max_segments")]
    pub max_segments: u32,
    /// Ask the provider for delivery statuses at `/webhooks/<id>/status`.
    #[serde(default = "yes")]
    pub status_callbacks: bool,
    /// How long one provider call or media download may take, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub twilio: Option<TwilioConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Twilio,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// `AC` and 32 hex digits, from the Twilio console.
    pub account_sid: String,
    /// Signs Twilio's webhooks and authenticates the gateway's calls.
    pub auth_token: Secret,
    /// Send through a Messaging Service (its sender pool) instead of `from`.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    #[serde(default = "default_twilio_api_url")]
    pub api_url: String,
}

fn default_max_segments() -> u32 {
    10
}

fn yes() -> bool {
    true
}

fn default_timeout() -> u64 {
    30
}

fn default_twilio_api_url() -> String {
    DEFAULT_TWILIO_API_URL.to_owned()
}

/// `prefix` and 32 lowercase or uppercase hex digits (Twilio's sids).
fn is_sid(value: &str, prefix: &str) -> bool {
    value
        .strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl SmsChannelConfig {
    /// Checks values that parse but make no sense; no IO.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        match url::Url::parse(&self.public_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => {}
            Ok(_) => problems.push((
                "public_url",
                "must be the http(s) base URL the provider calls, without a query".into(),
            )),
            Err(e) => problems.push((
                "public_url",
                format!("{:?} is not a URL: {e}", self.public_url),
            )),
        }
        if let Some(from) = &self.from
            && Identity::phone(from).is_err()
        {
            problems.push((
                "from",
                format!("{from:?} is not a phone number in international format (+15017122661)"),
            ));
        }
        if !(1..=100).contains(&self.max_segments) {
            problems.push(("max_segments", "must be between 1 and 100".into()));
        }
        if !(1..=300).contains(&self.timeout_seconds) {
            problems.push(("timeout_seconds", "must be between 1 and 300".into()));
        }
        match (self.provider, &self.twilio) {
            (Provider::Twilio, None) => problems.push((
                "twilio",
                "is required with provider = \"twilio\": account_sid and auth_token".into(),
            )),
            (Provider::Twilio, Some(twilio)) => {
                if !is_sid(&twilio.account_sid, "AC") {
                    problems.push((
                        "twilio.account_sid",
                        "must be AC followed by 32 hex digits (Twilio console, Account Info)"
                            .into(),
                    ));
                }
                match &twilio.messaging_service_sid {
                    Some(sid) if !is_sid(sid, "MG") => problems.push((
                        "twilio.messaging_service_sid",
                        "must be MG followed by 32 hex digits".into(),
                    )),
                    None if self.from.is_none() => problems.push((
                        "from",
                        "is required without twilio.messaging_service_sid: the number replies come from"
                            .into(),
                    )),
                    _ => {}
                }
                if url::Url::parse(&twilio.api_url).is_err() {
                    problems.push(("twilio.api_url", "must be a URL".into()));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "provider = \"twilio\"\npublic_url = \"https://support.example.com\"\n";
    const TWILIO: &str =
        "[twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"t\"\n";

    fn parse(text: &str) -> SmsChannelConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_and_checks() {
        let config = parse(&format!("{BASE}from = \"+15017122661\"\n{TWILIO}"));
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        assert_eq!(config.max_segments, 10);
        assert!(config.status_callbacks);

        // Neither a number nor a messaging service: nothing to send from.
        let config = parse(&format!("{BASE}{TWILIO}"));
        assert_eq!(config.validate()[0].0, "from");
        let config = parse(&format!(
            "{BASE}{TWILIO}messaging_service_sid = \"MG0123456789abcdef0123456789abcdef\"\n"
        ));
        assert!(config.validate().is_empty());

        let config = parse(
            "provider = \"twilio\"\npublic_url = \"support.example.com\"\nfrom = \"12\"\nmax_segments = 0\n[twilio]\naccount_sid = \"SK1\"\nauth_token = \"t\"\n",
        );
        let keys: Vec<_> = config.validate().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["public_url", "from", "max_segments", "twilio.account_sid",]
        );
        let config = parse(&format!("{BASE}from = \"+15017122661\"\n"));
        assert_eq!(config.validate()[0].0, "twilio");
        assert!(
            toml::from_str::<SmsChannelConfig>("provider = \"nexmo\"\npublic_url = \"x\"").is_err()
        );
    }
}
