//! The connector registry: every channel kind the gateway knows, in one place. A new
//! provider is a new crate under `connectors/` plus one arm in each match here.

use std::sync::Arc;

use switchboard_connector_api as api;
use switchboard_connector_email as email;
use switchboard_connector_sms as sms;
use switchboard_connector_telegram as telegram;
use switchboard_connector_webchat as webchat;
use switchboard_connector_whatsapp as whatsapp;
use switchboard_core::connector::{ChannelContext, Connector};
use switchboard_core::ratelimit::RateLimits;

/// The `kind`s a channel may have.
pub const KINDS: &[&str] = &[
    api::KIND,
    email::KIND,
    sms::KIND,
    telegram::KIND,
    webchat::KIND,
    whatsapp::KIND,
];

/// A channel's own settings, by kind.
#[derive(Debug, Clone)]
pub enum ChannelSettings {
    Api(api::ApiChannelConfig),
    Email(Box<email::EmailChannelConfig>),
    Sms(sms::SmsChannelConfig),
    Telegram(telegram::TelegramChannelConfig),
    Webchat(webchat::WebchatChannelConfig),
    WhatsApp(whatsapp::WhatsAppChannelConfig),
}

/// A running channel.
pub struct Built {
    pub connector: Arc<dyn Connector>,
    /// Routes of its own, mounted under `/webchat/{channel_id}`.
    pub routes: Option<axum::Router<crate::http::AppState>>,
}

pub enum ParseError {
    UnknownKind,
    /// `key` is the setting at fault, relative to the channel's table.
    Invalid {
        key: String,
        message: String,
    },
}

/// Reads the kind-specific keys of a `[channels.<id>]` table.
pub fn parse(kind: &str, table: toml::Table) -> Result<ChannelSettings, ParseError> {
    fn read<T: serde::de::DeserializeOwned>(table: toml::Table) -> Result<T, ParseError> {
        crate::config::deserialize_located(toml::Value::Table(table))
            .map_err(|(key, message)| ParseError::Invalid { key, message })
    }
    match kind {
        api::KIND => read(table).map(ChannelSettings::Api),
        email::KIND => read(table).map(|config| ChannelSettings::Email(Box::new(config))),
        sms::KIND => read(table).map(ChannelSettings::Sms),
        telegram::KIND => read(table).map(ChannelSettings::Telegram),
        webchat::KIND => read(table).map(ChannelSettings::Webchat),
        whatsapp::KIND => read(table).map(ChannelSettings::WhatsApp),
        _ => Err(ParseError::UnknownKind),
    }
}

impl ChannelSettings {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSettings::Api(_) => api::KIND,
            ChannelSettings::Email(_) => email::KIND,
            ChannelSettings::Sms(_) => sms::KIND,
            ChannelSettings::Telegram(_) => telegram::KIND,
            ChannelSettings::Webchat(_) => webchat::KIND,
            ChannelSettings::WhatsApp(_) => whatsapp::KIND,
        }
    }

    /// Problems with values that parsed, as (key, message); no IO.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        match self {
            ChannelSettings::Api(config) => config.validate(),
            ChannelSettings::Email(config) => config.validate(),
            ChannelSettings::Sms(config) => config.validate(),
            ChannelSettings::Telegram(config) => config.validate(),
            ChannelSettings::Webchat(config) => config.validate(),
            ChannelSettings::WhatsApp(config) => config.validate(),
        }
    }

    /// The email channel a web chat continues on when nobody is online.
    pub fn continues_by_email(&self) -> Option<&str> {
        match self {
            ChannelSettings::Webchat(config) => config.continue_by_email.as_deref(),
            _ => None,
        }
    }

    /// The calendar of the channel's business hours, by name.
    pub fn hours(&self) -> Option<&str> {
        match self {
            ChannelSettings::Webchat(config) => config.hours.as_deref(),
            _ => None,
        }
    }

    /// The provider's documented limits, used when the channel sets none.
    pub fn default_rate_limits(&self) -> RateLimits {
        match self {
            ChannelSettings::Api(_) => api::DEFAULT_RATE_LIMITS,
            ChannelSettings::Email(_) => email::DEFAULT_RATE_LIMITS,
            ChannelSettings::Sms(_) => sms::DEFAULT_RATE_LIMITS,
            ChannelSettings::Telegram(_) => telegram::DEFAULT_RATE_LIMITS,
            ChannelSettings::Webchat(_) => webchat::DEFAULT_RATE_LIMITS,
            ChannelSettings::WhatsApp(_) => whatsapp::DEFAULT_RATE_LIMITS,
        }
    }

    /// Builds the running connector, with the routes it serves itself (the web
    /// chat's socket and widget, under `/webchat/{channel_id}`).
    pub fn build(&self, context: ChannelContext) -> Result<Built, String> {
        let connector: Arc<dyn Connector> = match self {
            ChannelSettings::Api(config) => {
                Arc::new(api::ApiConnector::new(config.clone(), context)?)
            }
            ChannelSettings::Email(config) => {
                Arc::new(email::EmailConnector::new((**config).clone(), context)?)
            }
            ChannelSettings::Sms(config) => {
                Arc::new(sms::SmsConnector::new(config.clone(), context)?)
            }
            ChannelSettings::Telegram(config) => {
                Arc::new(telegram::TelegramConnector::new(config.clone(), context)?)
            }
            ChannelSettings::WhatsApp(config) => {
                Arc::new(whatsapp::WhatsAppConnector::new(config.clone(), context)?)
            }
            ChannelSettings::Webchat(config) => {
                let connector = Arc::new(webchat::WebchatConnector::new(config.clone(), context)?);
                return Ok(Built {
                    routes: Some(connector.routes()),
                    connector,
                });
            }
        };
        Ok(Built {
            connector,
            routes: None,
        })
    }
}
