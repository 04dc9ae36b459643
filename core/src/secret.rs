//! Secrets from the config (tokens, signing keys): never printed, compared in
//! constant time; and URLs in messages with their secrets taken out.

use std::fmt;

use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;

/// A secret string. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for signing or sending to the provider. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with `candidate` in time independent of where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

/// `text` with every http(s) URL in it cut to what is safe to show: the query (where
/// API keys often ride, `?api_key=...`) becomes `?…` and user:password@ goes, while
/// the scheme, host and path stay so that people can still tell which URL failed.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&rest[..start]);
        let url_len = rest[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .unwrap_or(rest.len() - start);
        out.push_str(&redact_url(&rest[start..start + url_len]));
        rest = &rest[start + url_len..];
    }
    out.push_str(rest);
    out
}

fn redact_url(url: &str) -> String {
    let (scheme, after) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = after.find('/').map_or((after, ""), |at| after.split_at(at));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (path, hidden) = match path.find(['?', '#']) {
        Some(at) => (&path[..at], true),
        None => (path, false),
    };
    let hidden_query = if hidden || authority.contains('?') {
        "?…"
    } else {
        ""
    };
    let host = host.split(['?', '#']).next().unwrap_or("");
    format!("{scheme}://{host}{path}{hidden_query}")
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        if value.trim().is_empty() {
            return Err(serde::de::Error::custom(
                "a secret must not be empty or only spaces",
            ));
        }
        Ok(Secret(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_queries_and_credentials() {
        assert_eq!(
            redact_urls(
                "callback request to https://crm.example/hook?api_key=s3cret&x=1 failed (timeout)"
            ),
            "callback request to https://crm.example/hook?… failed (timeout)"
        );
        assert_eq!(
            redact_urls("error sending request for url (http://user:pw@10.0.0.1:8080/a/b?token=t)"),
            "error sending request for url (http://10.0.0.1:8080/a/b?…)"
        );
        assert_eq!(redact_urls("https://a.example?k=v"), "https://a.example?…");
        assert_eq!(
            redact_urls("https://a.example/x#frag"),
            "https://a.example/x?…"
        );
        let plain = "no url here; callback answered 500 Internal Server Error";
        assert_eq!(redact_urls(plain), plain);
        assert_eq!(
            redact_urls("https://a.example/p, then http://b.example/q?secret=1"),
            "https://a.example/p, then http://b.example/q?…"
        );
    }

    #[test]
    fn never_printed() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        assert!(secret.matches(b"hunter2"));
        assert!(!secret.matches(b"hunter3"));
        assert!(!secret.matches(b"hunter"));
    }
}
