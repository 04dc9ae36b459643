//! Customer addresses, normalized so that one person is one contact across channels:
//! a phone number is E.164 whether it writes by SMS or WhatsApp, an email address is
//! lowercase.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::string_enum;

string_enum!(
    /// What kind of address an identity is.
    IdentityKind {
        /// An email address, lowercase.
        Email => "email",
        /// A phone number in E.164 (`+16505551234`), shared by SMS and WhatsApp.
        Phone => "phone",
        /// A Telegram user id.
        Telegram => "telegram",
        /// A WhatsApp business-scoped user id, for customers without a phone number.
        WhatsappUser => "whatsapp_user",
        /// A sender id of a generic API channel, scoped by channel: `<channel>:<id>`.
        Api => "api",
    }
);

/// One address of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    pub kind: IdentityKind,
    pub address: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InvalidIdentity {
    #[error("{0:?} is not an email address")]
    Email(String),
    #[error("{0:?} is not a phone number in international format")]
    Phone(String),
    #[error("an identity must not be empty")]
    Empty,
}

impl Identity {
    /// An email address; lowercased so that `Ana@Example.com` and `ana@example.com`
    /// are one contact.
    pub fn email(address: &str) -> Result<Self, InvalidIdentity> {
        let address = address.trim().to_lowercase();
        let (local, domain) = address
            .split_once('@')
            .ok_or_else(|| InvalidIdentity::Email(address.clone()))?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') || address.contains(' ') {
            return Err(InvalidIdentity::Email(address));
        }
        Ok(Identity {
            kind: IdentityKind::Email,
            address,
        })
    }

    /// A phone number in E.164. Accepts `+16505551234`, `16505551234` (as WhatsApp
    /// sends it: international, without the plus) and common separators.
    pub fn phone(number: &str) -> Result<Self, InvalidIdentity> {
        let trimmed = number.trim();
        let with_plus = if trimmed.starts_with('+') {
            trimmed.to_owned()
        } else {
            format!("+{trimmed}")
        };
        let parsed = phonenumber::parse(None, &with_plus)
            .map_err(|_| InvalidIdentity::Phone(number.to_owned()))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(InvalidIdentity::Phone(number.to_owned()));
        }
        Ok(Identity {
            kind: IdentityKind::Phone,
            address: parsed.format().mode(phonenumber::Mode::E164).to_string(),
        })
    }

    /// An opaque provider id (Telegram user id, WhatsApp user id), kept as given.
    pub fn opaque(kind: IdentityKind, id: &str) -> Result<Self, InvalidIdentity> {
        let id = id.trim();
        if id.is_empty() {
            return Err(InvalidIdentity::Empty);
        }
        Ok(Identity {
            kind,
            address: id.to_owned(),
        })
    }

    /// A sender of a generic API channel, scoped to that channel so that two systems
    /// pushing the same sender id stay apart.
    pub fn api(channel: &str, sender_id: &str) -> Result<Self, InvalidIdentity> {
        let sender_id = sender_id.trim();
        if sender_id.is_empty() {
            return Err(InvalidIdentity::Empty);
        }
        Ok(Identity {
            kind: IdentityKind::Api,
            address: format!("{channel}:{sender_id}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_from_sms_and_whatsapp_are_one_identity() {
        let sms = Identity::phone("+1 650-555-1234").unwrap();
        let whatsapp = Identity::phone("16505551234").unwrap();
        assert_eq!(sms, whatsapp);
        assert_eq!(sms.address, "+16505551234");
        assert_eq!(
            Identity::phone("+44 20 7946 0958").unwrap().address,
            "+442079460958"
        );
    }

    #[test]
    fn bad_phones_are_refused() {
        for bad in ["", "hello", "+1", "12", "+999999999999999999"] {
            assert!(Identity::phone(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            Identity::email(" Ana@Example.COM ").unwrap().address,
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "a b@example.com",
            "a@b@c",
        ] {
            assert!(Identity::email(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
