//! `POST /webhooks/{channel_id}`: verify the signature over the raw body, parse,
//! fetch URL attachments, commit, and only then answer 200 with the ticket.
//!
//! Answers: 200 stored (or already stored: `duplicate: true`); 400 malformed or
//! invalid, naming the problem; 401 bad or missing signature, nothing stored; 405 not
//! a POST; 422 an attachment URL the gateway cannot use; 502 an attachment URL that
//! failed for now (retry); 503 store unavailable (retry); 500 anything else (logged).

use std::net::IpAddr;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;
use switchboard_core::connector::{WebhookRequest, WebhookResponse};
use switchboard_core::download::{BodyError, capped_body};
use switchboard_core::ingest::IngestError;
use switchboard_core::signature;
use switchboard_core::store::StoreError;

use crate::ApiConnector;
use crate::inbound::{self, AttachmentSource, PushedMessage};

/// The header that carries the signature, both directions.
pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";

pub(crate) async fn handle(connector: &ApiConnector, request: WebhookRequest) -> WebhookResponse {
    if !request.subpath.is_empty() {
        return WebhookResponse::error(
            StatusCode::NOT_FOUND,
            "not_found",
            "API channels take webhooks at their root path",
        );
    }
    if request.method != Method::POST {
        return WebhookResponse::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use POST",
        );
    }
    let header = request.headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes());
    if let Err(error) = signature::verify_sha256(&connector.config.secret, &request.body, header) {
        return WebhookResponse::error(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            format!("X-Switchboard-Signature: {error}"),
        );
    }
    if request.body.trim_ascii_start().first() != Some(&b'{') {
        return WebhookResponse::error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body must be a JSON object",
        );
    }
    let pushed: PushedMessage = match serde_json::from_slice(&request.body) {
        Ok(pushed) => pushed,
        Err(error) => {
            return WebhookResponse::error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("invalid message: {error}"),
            );
        }
    };
    let max = connector.context.max_attachment_bytes();
    let (mut message, sources) = match pushed.normalize(
        connector.context.channel().as_str(),
        max,
        connector.context.max_attachments(),
    ) {
        Ok(normalized) => normalized,
        Err(inbound::Invalid(why)) => {
            return WebhookResponse::error(StatusCode::BAD_REQUEST, "invalid_message", why);
        }
    };
    for (i, pending) in sources.into_iter().enumerate() {
        let bytes = match pending.source {
            AttachmentSource::Inline(bytes) => bytes,
            AttachmentSource::Url(url) => match fetch(connector, &url, max).await {
                Ok(bytes) => bytes,
                Err((status, why)) => {
                    return WebhookResponse::error(
                        status,
                        "attachment_unavailable",
                        format!("attachments[{i}]: {why}"),
                    );
                }
            },
        };
        inbound::attach(&mut message, pending.filename, pending.content_type, bytes);
    }
    match connector.context.ingest(vec![message]).await {
        Ok(mut outcomes) => {
            let outcome = outcomes.remove(0);
            WebhookResponse::json(
                StatusCode::OK,
                &json!({
                    "message_id": outcome.message_id,
                    "ticket_id": outcome.ticket_id,
                    "ticket_reference": outcome.ticket_reference,
                    "duplicate": outcome.duplicate,
                }),
            )
        }
        Err(IngestError::Invalid(why)) => {
            WebhookResponse::error(StatusCode::BAD_REQUEST, "invalid_message", why)
        }
        Err(IngestError::Store(StoreError::Unavailable(_)) | IngestError::ShuttingDown) => {
            WebhookResponse::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the gateway cannot store messages right now; retry",
            )
        }
        Err(error) => {
            tracing::error!(channel = %connector.context.channel(), %error, "cannot ingest a pushed message");
            WebhookResponse::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; retry later",
            )
        }
    }
}

/// Downloads an attachment URL, refusing more than `max` bytes without reading them
/// all. The status says whether the sender should fix (422) or retry (502). Unless the
/// channel allows it, URLs that resolve to loopback, private or link-local addresses
/// are refused, the checked address is the one connected to (no second DNS answer),
/// and redirects are not followed.
async fn fetch(
    connector: &ApiConnector,
    url: &str,
    max: usize,
) -> Result<Bytes, (StatusCode, String)> {
    let unusable = |why: String| (StatusCode::UNPROCESSABLE_ENTITY, why);
    if !connector.config.fetch_attachment_urls {
        return Err(unusable(
            "this channel does not fetch attachment URLs (fetch_attachment_urls = false); send the file as data".into(),
        ));
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|e| unusable(format!("{url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(unusable(format!(
            "only http and https URLs are fetched, not {:?}",
            parsed.scheme()
        )));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| unusable(format!("{url} has no host")))?
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let lookup_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let address = tokio::net::lookup_host((lookup_host.as_str(), port))
        .await
        .map_err(|e| {
            (
                StatusCode::BAD_GATEWAY,
                format!("cannot resolve {host}: {e}"),
            )
        })?
        .next()
        .ok_or_else(|| (StatusCode::BAD_GATEWAY, format!("{host} has no address")))?;
    if !connector.config.fetch_private_addresses && !is_public(address.ip()) {
        return Err(unusable(format!(
            "{url} resolves to {}, a private or local address, which this channel does not fetch",
            address.ip()
        )));
    }
    let client = reqwest::Client::builder()
        .resolve(&lookup_host, address)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(
            connector.config.timeout_seconds,
        ))
        .build()
        .map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot build an HTTP client: {e}"),
            )
        })?;
    let response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, format!("cannot fetch {url}: {e}")))?;
    let status = response.status();
    if status.is_server_error() {
        return Err((StatusCode::BAD_GATEWAY, format!("{url} answered {status}")));
    }
    if !status.is_success() {
        return Err(unusable(format!(
            "{url} answered {status} (redirects are not followed)"
        )));
    }
    capped_body(response, max)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge(_) => {
                unusable(format!("{url} is larger than the limit of {max} bytes"))
            }
            BodyError::Cut(why) => (StatusCode::BAD_GATEWAY, format!("cannot read {url}: {why}")),
        })
}

/// Whether an address is on the public internet: not loopback, private, link-local,
/// shared (carrier NAT), documentation, multicast or unspecified.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_count_as_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
