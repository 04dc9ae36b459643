//! Settings of a WhatsApp channel (`[channels.<id>]` with `kind = "whatsapp"`): one
//! business phone number of the WhatsApp Cloud API.

use serde::Deserialize;
use switchboard_core::Secret;

/// The Graph API's address.
pub const DEFAULT_API_URL: &str = "https://graph.facebook.com";
/// The Graph API version the gateway speaks.
pub const DEFAULT_API_VERSION: &str = "v23.0";
/// WhatsApp's longest text message.
pub const DEFAULT_MAX_TEXT_CHARS: usize = 4096;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppChannelConfig {
    /// The business number's id in the WhatsApp Manager (not the number itself).
    pub phone_number_id: String,
    /// A system user's permanent access token with `whatsapp_business_messaging`.
    pub access_token: Secret,
    /// The Meta app's secret: every webhook is signed with it.
    pub app_secret: Secret,
    /// The token typed into the app's webhook settings, echoed in the verification.
    pub verify_token: Secret,
    /// What to send when the customer last wrote more than 24 hours ago, when only
    /// an approved template may go out. Without it such replies are refused.
    #[serde(default)]
    pub window_template: Option<TemplateConfig>,
    /// Whether a reply quotes the customer's latest message (`context.message_id`).
    #[serde(default = "yes")]
    pub reply_to_customer: bool,
    /// Whether WhatsApp shows a preview of the first link in a reply.
    #[serde(default)]
    pub preview_url: bool,
    /// Longer replies are split into several messages.
    #[serde(default = "default_max_text")]
    pub max_text_chars: usize,
    #[serde(default = "default_api_url")]
    pub api_url: String,
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// How long one Graph API call or media download may take, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

/// An approved message template sent in place of free text outside the window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// The template's name, as approved in the WhatsApp Manager.
    pub name: String,
    /// Its language code (`en_US`, `pt_BR`).
    pub language: String,
    /// Whether the template's body has one parameter (`{{1}}`) that takes the
    /// agent's text; without one the template is sent as approved.
    #[serde(default = "yes")]
    pub text_parameter: bool,
}

fn yes() -> bool {
    true
}

fn default_max_text() -> usize {
    DEFAULT_MAX_TEXT_CHARS
}

fn default_api_url() -> String {
    DEFAULT_API_URL.to_owned()
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_owned()
}

fn default_timeout() -> u64 {
    30
}

impl WhatsAppChannelConfig {
    /// Checks values that parse but make no sense; no IO.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.phone_number_id.is_empty()
            || !self.phone_number_id.bytes().all(|b| b.is_ascii_digit())
        {
            problems.push((
                "phone_number_id",
                "must be the number's id from the WhatsApp Manager (digits), not the phone number"
                    .into(),
            ));
        }
        for (key, secret) in [
            ("access_token", &self.access_token),
            ("app_secret", &self.app_secret),
            ("verify_token", &self.verify_token),
        ] {
            if secret.expose().trim().is_empty() {
                problems.push((key, "must not be empty".into()));
            }
        }
        if let Some(template) = &self.window_template {
            if template.name.trim().is_empty() {
                problems.push(("window_template.name", "must not be empty".into()));
            }
            if template.language.trim().is_empty() {
                problems.push((
                    "window_template.language",
                    "must be the template's language code, like en_US".into(),
                ));
            }
        }
        if !(1..=4096).contains(&self.max_text_chars) {
            problems.push(("max_text_chars", "must be between 1 and 4096".into()));
        }
        match url::Url::parse(&self.api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(_) => problems.push(("api_url", "must be an http or https URL".into())),
            Err(e) => problems.push(("api_url", format!("{:?} is not a URL: {e}", self.api_url))),
        }
        let version_ok = self
            .api_version
            .strip_prefix('v')
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(major, minor)| {
                [major, minor]
                    .iter()
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
        if !version_ok {
            problems.push((
                "api_version",
                "must be a Graph API version like v23.0".into(),
            ));
        }
        if !(1..=300).contains(&self.timeout_seconds) {
            problems.push(("timeout_seconds", "must be between 1 and 300".into()));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> WhatsAppChannelConfig {
        toml::from_str(&format!(
            "phone_number_id = \"106540352242922\"\naccess_token = \"EAAG\"\napp_secret = \"s\"\nverify_token = \"v\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn defaults_and_checks() {
        let config = parse("");
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        assert_eq!(config.max_text_chars, 4096);
        assert_eq!(config.api_version, "v23.0");
        assert!(config.reply_to_customer && !config.preview_url);
        assert!(config.window_template.is_none());

        let config = parse(
            "api_version = \"23\"\nmax_text_chars = 0\n[window_template]\nname = \"\"\nlanguage = \"en_US\"",
        );
        let keys: Vec<_> = config.validate().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["window_template.name", "max_text_chars", "api_version"]
        );
        let mut config = parse("");
        config.phone_number_id = "+1 555 0100".into();
        assert_eq!(config.validate()[0].0, "phone_number_id");
    }
}
