//! Fetching the files providers serve: tries with backoff ([`with_retries`]), and a
//! size cap ([`capped_body`]) that refuses a file as soon as it is known to be
//! larger (its Content-Length, or the bytes read so far), so that a large file never
//! sits in memory whole.

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::backoff::Backoff;

/// Why one try at fetching a file failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Might work on another try (network, 5xx, a checksum that did not match).
    Retry(String),
    /// Will not work (gone, refused, too large).
    Permanent(String),
}

impl FetchError {
    pub fn reason(&self) -> &str {
        match self {
            FetchError::Retry(why) | FetchError::Permanent(why) => why,
        }
    }
}

/// Whether a failed try is worth another.
pub trait Transient {
    fn transient(&self) -> bool;
}

impl Transient for FetchError {
    fn transient(&self) -> bool {
        matches!(self, FetchError::Retry(_))
    }
}

/// Runs `fetch` up to `attempts` times, waiting (from `base`, growing) after each
/// transient failure; the first success, or the last failure.
pub async fn with_retries<T, E, F, Fut>(attempts: u32, base: Duration, mut fetch: F) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(base, base * 10);
    let mut attempt = 1;
    loop {
        match fetch().await {
            Err(error) if error.transient() && attempt < attempts => {
                attempt += 1;
                tokio::time::sleep(backoff.take()).await;
            }
            result => return result,
        }
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("it is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the download was cut off: {0}")]
    Cut(String),
}

/// The response's body, at most `limit` bytes of it.
pub async fn capped_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Cut(e.to_string()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn retries_transient_failures_only() {
        let tries = Cell::new(0);
        let result: Result<(), FetchError> = with_retries(3, Duration::from_millis(1), || {
            tries.set(tries.get() + 1);
            async { Err(FetchError::Retry("flaky".into())) }
        })
        .await;
        assert_eq!(
            (result, tries.get()),
            (Err(FetchError::Retry("flaky".into())), 3)
        );
        tries.set(0);
        let result: Result<(), FetchError> = with_retries(3, Duration::from_millis(1), || {
            tries.set(tries.get() + 1);
            async { Err(FetchError::Permanent("gone".into())) }
        })
        .await;
        assert_eq!((result.unwrap_err().reason(), tries.get()), ("gone", 1));
        let result = with_retries(3, Duration::from_millis(1), || async {
            Ok::<_, FetchError>(7)
        })
        .await;
        assert_eq!(result, Ok(7));
    }
}
