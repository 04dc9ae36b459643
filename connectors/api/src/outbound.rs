//! Replies out: a signed JSON POST to the channel's callback URL.
//!
//! The body carries the gateway's message id (also in `X-Switchboard-Message-Id`),
//! stable across retries, so the receiver can drop a repeat after a lost answer.
//! 2xx is success (an optional `{"external_id": ..}` in the answer is recorded);
//! 408, 429 and 5xx are retried (honouring Retry-After); other 4xx are permanent.

use base64::Engine;
use http::StatusCode;
use serde_json::json;
use switchboard_core::connector::{Outbound, Receipt, SendError, retry_after};
use switchboard_core::secret::redact_urls;
use switchboard_core::signature;

use crate::ApiConnector;
use crate::webhook::SIGNATURE_HEADER;

/// Answers quoted in failure reasons are cut to this many characters.
const QUOTED_ANSWER_CHARS: usize = 200;

pub(crate) async fn send(
    connector: &ApiConnector,
    outbound: &Outbound,
) -> Result<Receipt, SendError> {
    let Some(url) = &connector.config.callback_url else {
        return Err(SendError::permanent(format!(
            "channel {} has no callback_url, so replies cannot be delivered",
            connector.context.channel()
        )));
    };
    let body = callback_body(outbound, connector.context.channel().as_str()).to_string();
    let signature = signature::sign_sha256(&connector.config.secret, body.as_bytes());
    let response = connector
        .http
        .post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header("x-switchboard-message-id", outbound.message_id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| {
            SendError::retryable(format!(
                "the callback request to {} failed: {}",
                redact_urls(url),
                e.without_url()
            ))
        })?;
    let status = response.status();
    let wait = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        let external_id = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("external_id")
                    .and_then(|id| id.as_str())
                    .map(str::to_owned)
            });
        return Ok(Receipt {
            external_id,
            segments: None,
        });
    }
    let quoted: String = text.chars().take(QUOTED_ANSWER_CHARS).collect();
    let reason = format!("callback answered {status}: {}", quoted.trim());
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Err(SendError::Retryable {
            reason,
            retry_after: wait,
        })
    } else {
        Err(SendError::permanent(reason))
    }
}

/// The JSON a callback receives.
fn callback_body(outbound: &Outbound, channel: &str) -> serde_json::Value {
    let thread = &outbound.thread;
    // The recipient as the pushing system named it, without the channel scope.
    let recipient = thread.recipient.as_ref().map(|identity| {
        identity
            .address
            .strip_prefix(&format!("{channel}:"))
            .unwrap_or(&identity.address)
            .to_owned()
    });
    let attachments: Vec<_> = outbound
        .attachments
        .iter()
        .map(|a| {
            json!({
                "filename": a.filename,
                "content_type": a.content_type,
                "data": base64::engine::general_purpose::STANDARD.encode(&a.bytes),
            })
        })
        .collect();
    json!({
        "message_id": outbound.message_id,
        "ticket": {"id": thread.ticket_id, "reference": thread.ticket_reference},
        "conversation": thread.conversation,
        "recipient": recipient,
        "in_reply_to": thread.reply_to,
        "text": outbound.text,
        "attachments": attachments,
        "attempt": outbound.attempt,
    })
}
