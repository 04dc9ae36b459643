//! The agents' inbox in the browser: a page at `/` and its assets under `/inbox/`,
//! embedded in the binary at build time. Plain ES modules, no build step, nothing
//! from elsewhere; the page talks to the agent API with a session cookie.
//!
//! Every answer carries a strict Content-Security-Policy: scripts and styles only from
//! this origin, no inline code, no framing of the page, and mail's formatted body only
//! in a sandboxed frame that can run nothing and load nothing from outside.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::api::error::ApiError;
use crate::http::AppState;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// The page's files, each served as `/inbox/<name>` (the page itself also at `/`).
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../web/inbox/index.html"),
    },
    Asset {
        name: "inbox.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../web/inbox/inbox.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/inbox/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/inbox/api.js"),
    },
    Asset {
        name: "dom.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/inbox/dom.js"),
    },
    Asset {
        name: "helpdesk.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/inbox/helpdesk.js"),
    },
    Asset {
        name: "feed.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/inbox/feed.js"),
    },
];

/// The policy of every inbox answer. Images may come from this origin (attachments),
/// `data:` (the blank icon) and `blob:`; frames only from this origin: formatted mail,
/// which the page frames sandboxed, under its own policy (`/api/v1/messages/{id}/html`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self'; connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Entity tags from the content, so a browser revalidates cheaply and never keeps an
/// old page after an upgrade.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| format!("\"{}\"", &hex::encode(Sha256::digest(asset.body))[..16]))
        .collect()
});

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/inbox/{file}", get(asset))
}

async fn page(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|asset| asset.name == file) {
        Some(index) => serve(index, &headers),
        None => ApiError::NotFound(format!("the inbox has no file {file:?}")).into_response(),
    }
}

fn serve(index: usize, request: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(headers);
    response
}

/// The headers that keep the page from being framed, sniffed or leaking its address.
pub fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}
