//! Settings of a Telegram channel (`[channels.<id>]` with `kind = "telegram"`).

use serde::Deserialize;
use switchboard_core::Secret;

/// The Bot API's address; another one serves a self-hosted Bot API server.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramChannelConfig {
    /// The bot's token from @BotFather (`123456789:AA...`).
    pub token: Secret,
    /// The bot's username (`support_bot`, with or without the `@`), for telling
    /// whether a group message mentions it. Optional: getMe gives it too, and this
    /// saves relying on that call (it is checked against getMe when both answer).
    #[serde(default, deserialize_with = "username")]
    pub bot_username: Option<String>,
    /// How updates arrive: Telegram POSTs them to the gateway (`webhook`), or the
    /// gateway asks for them (`polling`, for gateways Telegram cannot reach).
    #[serde(default)]
    pub mode: Mode,
    /// The secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token` with every
    /// webhook (1-256 of `A-Z a-z 0-9 _ -`). Required in webhook mode.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// Whether the gateway calls setWebhook itself at start, with
    /// `{public_url}/webhooks/{channel_id}`, the secret and the update types it handles.
    #[serde(default)]
    pub register_webhook: bool,
    /// The gateway's public base URL (https), as Telegram reaches it.
    #[serde(default)]
    pub public_url: Option<String>,
    /// The Bot API server.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Whether a reply quotes the customer's latest message.
    #[serde(default = "yes")]
    pub reply_to_customer: bool,
    /// Which group messages become tickets: only those that address the bot (a
    /// mention, a reply to the bot, a command), or all of them.
    #[serde(default)]
    pub group_messages: GroupMessages,
    /// How long one getUpdates call waits for news, in seconds (polling mode).
    #[serde(default = "default_poll_timeout")]
    pub poll_timeout_seconds: u64,
    /// How long a Bot API call or a file download may take, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Webhook,
    Polling,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupMessages {
    #[default]
    Addressed,
    All,
}

/// `@Support_Bot` and `Support_Bot` are the same bot.
fn username<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name: Option<String> = Option::deserialize(d)?;
    Ok(name.map(|n| n.trim().trim_start_matches('@').to_owned()))
}

fn default_api_url() -> String {
    DEFAULT_API_URL.to_owned()
}

fn yes() -> bool {
    true
}

fn default_poll_timeout() -> u64 {
    30
}

fn default_timeout() -> u64 {
    30
}

impl TelegramChannelConfig {
    /// The bot's user id: the part of the token before the colon.
    pub fn bot_id(&self) -> Option<u64> {
        let (id, rest) = self.token.expose().split_once(':')?;
        (!rest.is_empty()).then_some(())?;
        id.parse().ok()
    }

    /// Checks values that parse but make no sense; no IO.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.bot_id().is_none() {
            problems.push((
                "token",
                "is not a bot token: @BotFather gives one like 123456789:AAE...".into(),
            ));
        }
        match (&self.webhook_secret, self.mode) {
            (None, Mode::Webhook) => problems.push((
                "webhook_secret",
                "is required in webhook mode: without it anyone could post updates".into(),
            )),
            (Some(secret), _) if !valid_secret_token(secret.expose()) => problems.push((
                "webhook_secret",
                "must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)".into(),
            )),
            _ => {}
        }
        if let Some(name) = &self.bot_username {
            // Telegram's rule: 5-32 of a-z, 0-9 and _, ending in "bot".
            let valid = (5..=32).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && name.to_ascii_lowercase().ends_with("bot");
            if !valid {
                problems.push((
                    "bot_username",
                    format!("{name:?} is not a bot username: 5-32 letters, digits and _, ending in \"bot\""),
                ));
            }
        }
        if self.register_webhook && self.mode == Mode::Polling {
            problems.push((
                "register_webhook",
                "a polling channel must not register a webhook (getUpdates fails while one is set)"
                    .into(),
            ));
        }
        match &self.public_url {
            Some(url) => match url::Url::parse(url) {
                Ok(u) if u.scheme() == "https" => {}
                Ok(_) => problems.push((
                    "public_url",
                    "must be https: Telegram only delivers webhooks over TLS".into(),
                )),
                Err(e) => problems.push(("public_url", format!("{url:?} is not a URL: {e}"))),
            },
            None if self.register_webhook => problems.push((
                "public_url",
                "is required to register the webhook: the https base URL Telegram reaches".into(),
            )),
            None => {}
        }
        match url::Url::parse(&self.api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(_) => problems.push(("api_url", "must be an http or https URL".into())),
            Err(e) => problems.push(("api_url", format!("{:?} is not a URL: {e}", self.api_url))),
        }
        if !(1..=50).contains(&self.poll_timeout_seconds) {
            problems.push(("poll_timeout_seconds", "must be between 1 and 50".into()));
        }
        if !(1..=300).contains(&self.timeout_seconds) {
            problems.push(("timeout_seconds", "must be between 1 and 300".into()));
        }
        problems
    }
}

/// Telegram's rule for setWebhook's secret_token.
fn valid_secret_token(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> TelegramChannelConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_webhook_channel_needs_a_valid_secret() {
        let config = parse("token = \"123:abc\"");
        assert_eq!(config.validate()[0].0, "webhook_secret");
        let config = parse("token = \"123:abc\"\nwebhook_secret = \"has space\"");
        assert_eq!(config.validate()[0].0, "webhook_secret");
        let config = parse("token = \"123:abc\"\nwebhook_secret = \"ok_Secret-1\"");
        assert!(config.validate().is_empty(), "{:?}", config.validate());
    }

    #[test]
    fn polling_needs_no_secret_but_cannot_register_a_webhook() {
        let config = parse("token = \"123:abc\"\nmode = \"polling\"");
        assert!(config.validate().is_empty());
        let config = parse(
            "token = \"123:abc\"\nmode = \"polling\"\nregister_webhook = true\npublic_url = \"https://x.example\"",
        );
        assert_eq!(config.validate()[0].0, "register_webhook");
    }

    #[test]
    fn registering_needs_an_https_public_url_and_tokens_are_checked() {
        let base = "token = \"123:abc\"\nwebhook_secret = \"s\"\nregister_webhook = true";
        assert_eq!(parse(base).validate()[0].0, "public_url");
        let http = format!("{base}\npublic_url = \"http://x.example\"");
        assert_eq!(parse(&http).validate()[0].0, "public_url");
        let bad_token = "token = \"abc\"\nwebhook_secret = \"s\"";
        assert_eq!(parse(bad_token).validate()[0].0, "token");
        let huge_id = "token = \"99999999999999999999999:abc\"\nwebhook_secret = \"s\"";
        assert_eq!(parse(huge_id).validate()[0].0, "token");
    }

    #[test]
    fn the_bot_is_known_by_its_token_and_an_optional_username() {
        let config = parse(
            "token = \"7000000001:AAE\"\nmode = \"polling\"\nbot_username = \"@Support_Bot\"",
        );
        assert_eq!(config.bot_id(), Some(7_000_000_001));
        assert_eq!(config.bot_username.as_deref(), Some("Support_Bot"));
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        for bad in ["ab", "support", "has space_bot", "émoji_bot"] {
            let config = parse(&format!(
                "token = \"1:a\"\nmode = \"polling\"\nbot_username = {bad:?}"
            ));
            assert_eq!(config.validate()[0].0, "bot_username", "{bad}");
        }
    }
}
