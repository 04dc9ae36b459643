//! Contacts with their identities and tickets; attachments and mail bodies by id.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_core::store::queries::{contacts, messages, tickets};
use switchboard_core::{Contact, Ticket};
use utoipa::ToSchema;

use crate::api::auth::Agent;
use crate::api::error::{ApiError, ApiPath};
use crate::http::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactDetail {
    contact: Contact,
    /// The contact's tickets the agent may see, most recently active first (up to 200).
    tickets: Vec<Ticket>,
}

/// A contact, its identities on every channel, and its tickets.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = ContactDetail), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ContactDetail>, ApiError> {
    let scope = agent.scope();
    let detail = state
        .gateway
        .store()
        .read(move |c| {
            let contact = contacts::get(c, id, &scope)?;
            let filter = tickets::TicketFilter {
                contact_id: Some(id),
                scope,
                limit: 200,
                ..Default::default()
            };
            let (tickets, _) = tickets::list(c, &filter)?;
            Ok(ContactDetail { contact, tickets })
        })
        .await?;
    Ok(Json(detail))
}

/// An attachment's bytes, with its type and file name.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 404)),
    security(("bearer" = [])))]
pub async fn attachment(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let scope = agent.scope();
    let attachment = state
        .gateway
        .store()
        .read(move |c| messages::get_attachment(c, id, &scope))
        .await?;
    let bytes = state
        .gateway
        .blobs()
        .get(&attachment.sha256)
        .await
        .map_err(|e| {
            ApiError::Internal(format!(
                "attachment {id} ({}) is missing: {e}",
                attachment.sha256
            ))
        })?;
    // Files stored before media types were checked may carry one no header can.
    let content_type = HeaderValue::from_str(&attachment.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(&attachment.filename),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            // A customer's SVG or HTML opened in a tab of the gateway's origin must
            // not run: the file is shown, if at all, in a sandbox that loads nothing.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `attachment` with the file's name for every client (RFC 6266): an ASCII
/// `filename` for old ones, and the exact name, percent-encoded UTF-8, in
/// `filename*` for the others, so `Übersicht.pdf` downloads as itself.
fn content_disposition(filename: &str) -> HeaderValue {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut value = format!("attachment; filename=\"{fallback}\"");
    if fallback != filename {
        value.push_str("; filename*=UTF-8''");
        for byte in filename.bytes() {
            // RFC 5987's attr-char: what may stand unencoded.
            if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
                value.push(byte as char);
            } else {
                value.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn file_names_survive_the_download() {
        assert_eq!(
            content_disposition("receipt 1.pdf"),
            "attachment; filename=\"receipt 1.pdf\""
        );
        assert_eq!(
            content_disposition("Übersicht März.pdf"),
            "attachment; filename=\"_bersicht M_rz.pdf\"; filename*=UTF-8''%C3%9Cbersicht%20M%C3%A4rz.pdf"
        );
        assert_eq!(
            content_disposition("收据.png"),
            "attachment; filename=\"__.png\"; filename*=UTF-8''%E6%94%B6%E6%8D%AE.png"
        );
        // Quotes and line breaks cannot end the header or the parameter.
        let evil = content_disposition("a\"b\r\nSet-Cookie: x.pdf");
        assert!(!evil.to_str().unwrap().contains(['\r', '\n']), "{evil:?}");
        assert!(
            evil.to_str()
                .unwrap()
                .starts_with("attachment; filename=\"a_b__Set-Cookie: x.pdf\"")
        );
    }
}

/// The policy of a formatted mail body: inline styles and this gateway's images, and
/// nothing else: no script, no form, no request to anywhere (no tracking pixel).
pub const MAIL_BODY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'; sandbox";

/// A message's formatted mail body, sanitized when it arrived, as a page of its own
/// for the inbox's sandboxed frame.
#[utoipa::path(get, path = "/api/v1/messages/{id}/html", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, description = "The sanitized html", content_type = "text/html"), (status = 404)),
    security(("bearer" = [])))]
pub async fn mail_body(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let scope = agent.scope();
    let html = state
        .gateway
        .store()
        .read(move |c| messages::html_body(c, id, &scope))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("message {id} has no formatted body")))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(MAIL_BODY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        format!("<!doctype html><meta charset=\"utf-8\">{html}"),
    )
        .into_response())
}
