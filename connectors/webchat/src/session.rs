//! Signed tokens: the session a widget keeps across reloads, the links to a
//! conversation's files, and the identity a site vouches for.
//!
//! A token is `<base64url(claims JSON)>.<base64url(HMAC-SHA256)>`. The MAC covers a
//! purpose tag and the channel id as well as the claims, so a token of one channel
//! (or a file link) is worthless on another even if two channels shared a secret; and
//! the claims carry an expiry that is checked on every use.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use switchboard_core::Secret;

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The conversation key: `v:<random>` for an anonymous visitor, `u:<user id>`
    /// for a user the site signed.
    #[serde(rename = "c")]
    pub conversation: String,
    /// Expiry, in seconds since the epoch.
    #[serde(rename = "x")]
    pub expires: i64,
    /// What the customer gave in the pre-chat form.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A link to one file of one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileGrant {
    #[serde(rename = "c")]
    pub conversation: String,
    #[serde(rename = "a")]
    pub attachment: i64,
    #[serde(rename = "x")]
    pub expires: i64,
}

/// Why a token was refused, in words for the widget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of this channel, or altered.
    Invalid,
    Expired,
}

impl TokenError {
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Invalid => "invalid_token",
            TokenError::Expired => "session_expired",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            TokenError::Invalid => "the session token is not valid for this chat",
            TokenError::Expired => "the session has expired; a new conversation starts",
        }
    }
}

/// Signs and checks this channel's tokens.
#[derive(Clone)]
pub struct Signer {
    secret: Secret,
    channel: String,
}

const SESSION: &str = "session";
const FILE: &str = "file";

impl Signer {
    pub fn new(secret: Secret, channel: &str) -> Self {
        Signer {
            secret,
            channel: channel.to_owned(),
        }
    }

    fn mac(&self, purpose: &str, claims: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
            .expect("HMAC takes any key length");
        for part in [purpose.as_bytes(), self.channel.as_bytes(), claims] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    fn sign<T: Serialize>(&self, purpose: &str, claims: &T) -> String {
        self.sign_bytes(
            purpose,
            &serde_json::to_vec(claims).expect("claims serialize"),
        )
    }

    fn verify<T: for<'de> Deserialize<'de>>(
        &self,
        purpose: &str,
        token: &str,
    ) -> Result<T, TokenError> {
        let claims = self
            .verify_bytes(purpose, token)
            .ok_or(TokenError::Invalid)?;
        serde_json::from_slice(&claims).map_err(|_| TokenError::Invalid)
    }

    /// Signs raw claims for another purpose (upload tokens).
    pub fn sign_bytes(&self, purpose: &str, claims: &[u8]) -> String {
        let tag = self.mac(purpose, claims).finalize().into_bytes();
        format!("{}.{}", B64.encode(claims), B64.encode(tag))
    }

    /// The claims of a token signed by [`sign_bytes`](Self::sign_bytes).
    pub fn verify_bytes(&self, purpose: &str, token: &str) -> Option<Vec<u8>> {
        let (claims, tag) = token.split_once('.')?;
        let claims = B64.decode(claims).ok()?;
        let tag = B64.decode(tag).ok()?;
        self.mac(purpose, &claims).verify_slice(&tag).ok()?;
        Some(claims)
    }

    pub fn session_token(&self, session: &Session) -> String {
        self.sign(SESSION, session)
    }

    /// The session a token stands for, if it is this channel's and not expired at
    /// `now` (seconds).
    pub fn session(&self, token: &str, now: i64) -> Result<Session, TokenError> {
        let session: Session = self.verify(SESSION, token)?;
        if session.expires <= now {
            return Err(TokenError::Expired);
        }
        Ok(session)
    }

    pub fn file_token(&self, grant: &FileGrant) -> String {
        self.sign(FILE, grant)
    }

    pub fn file(&self, token: &str, now: i64) -> Result<FileGrant, TokenError> {
        let grant: FileGrant = self.verify(FILE, token)?;
        if grant.expires <= now {
            return Err(TokenError::Expired);
        }
        Ok(grant)
    }
}

/// A new anonymous visitor's conversation key: 128 random bits.
pub fn new_visitor() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("v:{}", B64.encode(bytes))
}

/// The conversation key of a user the site signed: `hex(HMAC-SHA256(identity_secret,
/// user_id))` must match, in constant time. `None` when it does not.
pub fn signed_user(identity_secret: &Secret, user_id: &str, signature: &str) -> Option<String> {
    let expected = hex::decode(signature.trim()).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(identity_secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(user_id.as_bytes());
    mac.verify_slice(&expected).ok()?;
    Some(format!("u:{user_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            conversation: "v:abc".into(),
            expires: 1_000,
            name: Some("Ana".into()),
            email: None,
        }
    }

    #[test]
    fn a_token_round_trips_until_it_expires() {
        let signer = Signer::new(Secret::new("k"), "chat");
        let token = signer.session_token(&session());
        assert_eq!(signer.session(&token, 999), Ok(session()));
        assert_eq!(signer.session(&token, 1_000), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_is_bound_to_its_channel_and_purpose() {
        let chat = Signer::new(Secret::new("k"), "chat");
        let other = Signer::new(Secret::new("k"), "chat-2");
        let token = chat.session_token(&session());
        assert_eq!(other.session(&token, 0), Err(TokenError::Invalid));
        let link = chat.file_token(&FileGrant {
            conversation: "v:abc".into(),
            attachment: 1,
            expires: 1_000,
        });
        assert_eq!(chat.session(&link, 0), Err(TokenError::Invalid));
    }

    #[test]
    fn altered_claims_are_refused() {
        let signer = Signer::new(Secret::new("k"), "chat");
        let token = signer.session_token(&session());
        let (_, tag) = token.split_once('.').unwrap();
        let forged = Session {
            conversation: "u:admin".into(),
            ..session()
        };
        let forged = format!("{}.{tag}", B64.encode(serde_json::to_vec(&forged).unwrap()));
        assert_eq!(signer.session(&forged, 0), Err(TokenError::Invalid));
        for junk in ["", ".", "a.b", "no-dot", "%%%.%%%"] {
            assert_eq!(signer.session(junk, 0), Err(TokenError::Invalid), "{junk}");
        }
    }

    #[test]
    fn identities_need_the_sites_signature() {
        let secret = Secret::new("identity-secret");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"identity-secret").unwrap();
        mac.update(b"user-42");
        let good = hex::encode(mac.finalize().into_bytes());
        assert_eq!(
            signed_user(&secret, "user-42", &good).as_deref(),
            Some("u:user-42")
        );
        assert_eq!(signed_user(&secret, "user-43", &good), None);
        assert_eq!(signed_user(&secret, "user-42", "00"), None);
        assert_eq!(signed_user(&secret, "user-42", "zz"), None);
    }
}
