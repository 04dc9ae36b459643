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
        /// A web chat visitor or signed-in user, scoped by channel:
        /// `<channel>:v:<random>` or `<channel>:u:<user id>`.
        Webchat => "webchat",
    }
);

/// One address of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    pub kind: IdentityKind,
    pub address: String,
}

/// The digits of the shortest and longest E.164 numbers, country code included.
const MIN_E164_DIGITS: usize = 7;
const MAX_E164_DIGITS: usize = 15;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InvalidIdentity {
    #[error("{0:?} is not an email address")]
    Email(String),
    #[error(
        "{0:?} is not a phone number in international format (a country code and 7 to 15 digits in all, such as +60112345678)"
    )]
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
    /// sends `wa_id`: international, without the plus), `0016505551234`, and common
    /// separators (spaces, `-`, `.`, `/`, parentheses).
    ///
    /// The check is syntactic on purpose: the numbers come from providers (Twilio's
    /// `From`, WhatsApp's `wa_id`) that have just used them, so they work, while any
    /// bundled numbering-plan table lags the real ranges (Malaysia's 011 and 015
    /// mobiles were once refused by one) and would turn a real customer away.
    pub fn phone(number: &str) -> Result<Self, InvalidIdentity> {
        let refuse = || InvalidIdentity::Phone(number.to_owned());
        let compact: String = number
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '/' | '(' | ')' | '\u{a0}'))
            .collect();
        let digits = compact
            .strip_prefix('+')
            .or_else(|| compact.strip_prefix("00"))
            .unwrap_or(&compact);
        // E.164: a country code that never starts with 0, and at most 15 digits; the
        // shortest numbers in use have 7 (a 3-digit country code and 4 digits).
        let well_formed = (MIN_E164_DIGITS..=MAX_E164_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !well_formed {
            return Err(refuse());
        }
        Ok(Identity {
            kind: IdentityKind::Phone,
            address: format!("+{digits}"),
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

    /// A web chat conversation's customer, by the conversation key.
    pub fn webchat(channel: &str, conversation: &str) -> Self {
        Identity {
            kind: IdentityKind::Webchat,
            address: format!("{channel}:{conversation}"),
        }
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
    fn numbers_outside_a_bundled_numbering_plan_are_kept() {
        // Malaysian mobiles in the 011 and 015 ranges, as Twilio (`From`) and
        // WhatsApp (`wa_id`) send them: one identity either way.
        for (sms, whatsapp, e164) in [
            ("+601123456789", "601123456789", "+601123456789"),
            ("+60 15-4600 1234", "60154600 1234", "+601546001234"),
            ("0060 11 2345 678", "60112345678", "+60112345678"),
            ("+999 1234567", "9991234567", "+9991234567"),
        ] {
            let sms = Identity::phone(sms).unwrap();
            assert_eq!(sms, Identity::phone(whatsapp).unwrap());
            assert_eq!(sms.address, e164);
        }
    }

    #[test]
    fn bad_phones_are_refused() {
        for bad in [
            "",
            "hello",
            "+1",
            "12",
            "+123456",
            "+999999999999999999",
            "+0123456789",
            "+1650555123x",
            "+1 650 555 1234\u{0}",
            "++16505551234",
        ] {
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
