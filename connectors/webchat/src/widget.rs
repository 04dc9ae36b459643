//! The widget's script, customers' uploads and the conversation's files, over HTTP.
//!
//! The script is embedded at build time and served with an entity tag. Uploads come
//! from the site's page (another origin), so they answer CORS for the channel's
//! allowed origins only; the session token rides in the Authorization header. Files
//! are fetched by signed links that name one file of one conversation.

use std::sync::{Arc, LazyLock};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::WebchatConnector;
use crate::inbound::{Upload, filename};
use crate::socket::refuse;

/// The widget, as served.
pub const SCRIPT: &str = include_str!("../widget/widget.js");

static SCRIPT_ETAG: LazyLock<String> =
    LazyLock::new(|| format!("\"{}\"", &hex::encode(Sha256::digest(SCRIPT))[..16]));

pub(crate) async fn script(headers: HeaderMap) -> Response {
    let etag = SCRIPT_ETAG.as_str();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            SCRIPT,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_static(etag));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    for_other_sites(headers);
    response
}

/// `GET demo`: a page that embeds the chat as a site would, to try the channel
/// before putting the tag on the real site. It works from an allowed origin only,
/// like any page: list the gateway's own origin in `allowed_origins` to use it.
pub(crate) async fn demo() -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        DEMO_PAGE,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; style-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    response
}

const DEMO_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Web chat demo</title></head>
<body><h1>Web chat demo</h1>
<p>This page embeds the chat the way your site will, with one tag:</p>
<pre>&lt;script src="https://YOUR-GATEWAY/webchat/CHANNEL/widget.js" async&gt;&lt;/script&gt;</pre>
<p>Open the chat at the bottom right and write; answer from the inbox.</p>
<script src="widget.js" async></script>
</body></html>
"#;

/// What the script and files are served with: their type as declared, never sniffed,
/// and loadable from the site's pages (another origin), as from a CDN.
fn for_other_sites(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
}

/// CORS headers for an allowed origin.
fn cors(response: &mut Response, origin: &str) {
    let headers = response.headers_mut();
    if let Ok(origin) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
}

pub(crate) async fn preflight(
    State(connector): State<Arc<WebchatConnector>>,
    headers: HeaderMap,
) -> Response {
    let origin = match connector.allowed_origin(&headers) {
        Ok(origin) => origin.to_owned(),
        Err(refused) => return *refused,
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    cors(&mut response, &origin);
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, x-filename"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

/// `POST uploads`: the body is the file; `Content-Type` its type, `X-Filename` its
/// name (percent-encoded), `Authorization: Bearer <session token>`. Answers 201 with
/// `{"upload": <token for the message frame>, "name", "type", "size"}`; 401 without
/// a valid session, 403 from another site, 413 too large, 415 a type the channel
/// does not take, 429 too many.
pub(crate) async fn upload(
    State(connector): State<Arc<WebchatConnector>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let origin = match connector.allowed_origin(&headers) {
        Ok(origin) => origin.to_owned(),
        Err(refused) => return *refused,
    };
    let mut response = accept_upload(&connector, &headers, body).await;
    cors(&mut response, &origin);
    response
}

async fn accept_upload(connector: &WebchatConnector, headers: &HeaderMap, body: Bytes) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let session = match token.map(|t| connector.signer.session(t, connector.now_seconds())) {
        Some(Ok(session)) => session,
        Some(Err(error)) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                error.code(),
                error.message().into(),
            );
        }
        None => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "send the session token as Authorization: Bearer <token>".into(),
            );
        }
    };
    if connector.uploads.check_key(&session.conversation).is_err() {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many files; wait a moment".into(),
        );
    }
    let max = connector.max_upload_bytes();
    if body.len() > max {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the file is {} bytes; the limit is {max}", body.len()),
        );
    }
    if body.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "empty", "the file is empty".into());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !connector.config.uploads.accepts(&content_type) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "type_not_allowed",
            format!(
                "files of type {content_type:?} are not taken here; these are: {}",
                connector.config.uploads.types.join(", ")
            ),
        );
    }
    let name = filename(headers.get("x-filename").and_then(|v| v.to_str().ok()));
    let size = body.len();
    let sha256 = match connector.context.store_file(body).await {
        Ok(sha256) => sha256,
        Err(error) => {
            tracing::error!(channel = %connector.context.channel(), %error, "cannot keep an uploaded file");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the file cannot be kept right now; retry".into(),
            );
        }
    };
    let upload = Upload {
        conversation: session.conversation,
        sha256,
        filename: name.clone(),
        content_type: content_type.clone(),
        size,
    };
    (
        StatusCode::CREATED,
        axum::Json(serde_json::json!({
            "upload": connector.upload_token(&upload),
            "name": name,
            "type": content_type,
            "size": size,
        })),
    )
        .into_response()
}

/// `GET files/{token}`: one file of the conversation the link was made for. Images
/// show inline; everything else downloads. Nothing served runs: `nosniff` and a
/// sandbox policy.
pub(crate) async fn file(
    State(connector): State<Arc<WebchatConnector>>,
    Path(token): Path<String>,
) -> Response {
    let grant = match connector.signer.file(&token, connector.now_seconds()) {
        Ok(grant) => grant,
        Err(error) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no such file ({})", error.code()),
            );
        }
    };
    let found = connector
        .context
        .conversation_attachment(&grant.conversation, grant.attachment)
        .await;
    let (attachment, bytes) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "not_found", "no such file".into()),
        Err(error) => {
            tracing::warn!(channel = %connector.context.channel(), %error, "cannot read a chat file");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the file cannot be read right now; retry".into(),
            );
        }
    };
    let inline =
        attachment.content_type.starts_with("image/") && attachment.content_type != "image/svg+xml";
    let content_type = if inline {
        attachment.content_type.as_str()
    } else {
        "application/octet-stream"
    };
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        percent_encode(&attachment.filename)
    );
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    for_other_sites(headers);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    response
}

fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
