//! Webhook signatures of the form `sha256=<hex HMAC-SHA256(secret, raw body)>`, used by
//! the API channel (`X-Switchboard-Signature`) and Meta (`X-Hub-Signature-256`).
//! Always over the exact bytes received, always compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// Why a signature was refused, in words for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is not of the form sha256=<hex>")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// `sha256=<lowercase hex>` for `body`.
pub fn sign_sha256(secret: &Secret, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a `sha256=<hex>` header value against `body`.
pub fn verify_sha256(
    secret: &Secret,
    body: &[u8],
    header: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_part = header
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_part.trim_ascii()).map_err(|_| SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector from Meta's webhook documentation.
    const VECTOR: &str = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914";

    #[test]
    fn known_vector() {
        let secret = Secret::new("secret");
        assert_eq!(sign_sha256(&secret, b"test"), VECTOR);
        assert_eq!(
            verify_sha256(&secret, b"test", Some(VECTOR.as_bytes())),
            Ok(())
        );
    }

    #[test]
    fn refusals_say_why() {
        let secret = Secret::new("secret");
        assert_eq!(
            verify_sha256(&secret, b"test", None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_sha256(&secret, b"test", Some(b"md5=00")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_sha256(&secret, b"test", Some(b"sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_sha256(&secret, b"tesT", Some(VECTOR.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_sha256(&Secret::new("other"), b"test", Some(VECTOR.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }
}
