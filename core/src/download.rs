//! Reading a file a provider serves, with a size cap: refused as soon as it is known
//! to be larger (its Content-Length, or the bytes read so far), so that a large file
//! never sits in memory whole.

use bytes::{Bytes, BytesMut};

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
