//! The HTTP server: provider webhooks under `/webhooks/{channel_id}`, the agent API
//! under `/api/v1`, and `/healthz`, `/readyz`, `/metrics` for operators.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;
use switchboard_core::Gateway;
use switchboard_core::connector::{Connector, WebhookRequest};
use switchboard_core::shutdown::Shutdown;
use switchboard_core::store::queries::outbox;

use crate::api;
use crate::api::error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Gateway,
    /// The config's agents and their tokens; a config reload replaces them.
    pub agents: Arc<crate::api::tokens::Agents>,
    /// Enabled channels' connectors by channel id.
    pub webhooks: Arc<HashMap<String, Arc<dyn Connector>>>,
    /// Routes channels serve themselves (the web chat), by channel id: mounted under
    /// `/webchat/{channel_id}`.
    pub channel_routes: Arc<Vec<(String, Router<AppState>)>>,
    /// Every configured channel, enabled or not.
    pub channels: Arc<Vec<ChannelInfo>>,
    /// Set once connectors and the dispatcher started; cleared at shutdown.
    pub ready: Arc<AtomicBool>,
    pub max_body_bytes: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[Cidr]>,
    /// Wrong agent tokens per client address, against brute force.
    pub guesses: Arc<crate::api::guesses::Guesses>,
    /// Requests per token and per client address on the agent API.
    pub limits: Arc<crate::api::limits::Limits>,
    /// How long inbox sessions last.
    pub sessions: crate::api::session::SessionPolicy,
    /// The counts beside the inbox's filters (this node's latest).
    pub counts: crate::api::counts::TicketCounts,
    /// Ends long-lived responses (the live feed) so a graceful stop does not wait on
    /// them forever.
    pub shutdown: Shutdown,
    /// How long a client may pause while sending a body.
    pub body_timeout: std::time::Duration,
    /// Other sites' origins allowed to call the agent API (CORS); none by default.
    pub cors_origins: Arc<[axum::http::HeaderValue]>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ChannelInfo {
    pub id: String,
    pub kind: &'static str,
    pub enabled: bool,
}

pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    let mut router = Router::new();
    for (channel, routes) in state.channel_routes.iter() {
        router = router.nest(&format!("/webchat/{channel}"), routes.clone());
    }
    router
        .route("/webhooks/{channel}", any(webhook))
        .route("/webhooks/{channel}/{*rest}", any(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(api::router().layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api::limits::by_address,
        )))
        .merge(crate::inbox::router())
        .fallback(crate::api::error::no_route)
        .method_not_allowed_fallback(crate::api::error::wrong_method)
        .layer(axum::middleware::from_fn(limit_uri))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api_cors,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client_ip,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.body_timeout,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// CORS for the agent API: closed (no header, no preflight answered) unless the
/// config names origins; then those, with bearer tokens and never cookies, so that
/// another site's page cannot act with an agent's session. (A middleware of its own
/// rather than a CORS layer over everything: the web chat answers its own origins.)
async fn api_cors(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .filter(|_| request.uri().path().starts_with("/api/"))
        .filter(|origin| state.cors_origins.contains(origin))
        .cloned();
    let Some(origin) = allowed else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        let value = axum::http::HeaderValue::from_static;
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            value("GET, POST, PATCH, DELETE"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            value("authorization, content-type, last-event-id"),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, value("600"));
        response
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        axum::http::HeaderValue::from_static("retry-after"),
    );
    headers.append(header::VARY, axum::http::HeaderValue::from_static("origin"));
    response
}

/// An origin as CORS compares it: `https://host[:port]`, nothing after.
pub fn cors_origin(text: &str) -> Result<axum::http::HeaderValue, String> {
    let wrong =
        |why: &str| format!("{text:?} is not an origin like https://crm.example.com: {why}");
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| wrong("it needs http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '*', ' ']) {
        return Err(wrong("an origin has no path, query, wildcard or space"));
    }
    axum::http::HeaderValue::from_str(text).map_err(|_| wrong("it is not a header value"))
}

/// The longest request target answered normally: no route or webhook needs more, and
/// a longer one gets 414 in the API's error format. (Targets too long for the HTTP
/// parser's buffer, far beyond this, get its bare 414.)
const MAX_URI_BYTES: usize = 8 * 1024;

async fn limit_uri(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if length > MAX_URI_BYTES {
        return ApiError::Status(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is {length} bytes; the limit is {MAX_URI_BYTES}"),
        )
        .into_response();
    }
    next.run(request).await
}

/// The policy of a page that sets none of its own (the API's Swagger UI): its own
/// scripts, styles and images only, fetches to this origin, no framing; and the one
/// style element Swagger UI writes into the page, by its hash (the browser tests fail
/// if a new version writes another).
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The policy of everything that is not a page (JSON, text, files): it runs nothing
/// and loads nothing, even if a browser were made to open it.
const DATA_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// What every answer carries unless its handler chose otherwise: no type sniffing,
/// no framing, no referrer, a Content-Security-Policy, and no loading from other
/// sites' pages (the web chat's script and files opt in). No CORS header is sent
/// anywhere but the web chat's uploads, for its allowed origins: other sites'
/// scripts cannot read the API.
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let is_page = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    // A handler's own policy decides framing (formatted mail is framed by the inbox);
    // otherwise nothing may frame the answer, also for browsers without CSP 2.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = if is_page { PAGE_POLICY } else { DATA_POLICY };
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            axum::http::HeaderValue::from_static(policy),
        );
        headers
            .entry(header::X_FRAME_OPTIONS)
            .or_insert(axum::http::HeaderValue::from_static("DENY"));
    }
    let defaults = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in defaults {
        headers
            .entry(name)
            .or_insert(axum::http::HeaderValue::from_static(value));
    }
    response
}

/// An address range: `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let wrong = || format!("{text:?} is not an address or a range like 10.0.0.0/8");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: std::net::IpAddr = address.parse().map_err(|_| wrong())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(wrong)?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        let bits = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
            std::net::IpAddr::V6(v6) => (u128::from(v6), 128),
        };
        let ((network, width), (candidate, candidate_width)) = (bits(self.network), bits(ip));
        if width != candidate_width {
            return false;
        }
        let mask = if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix))
        };
        network & mask == candidate & mask
    }
}

/// The client's address: the peer, or when the peer is a trusted proxy, the first
/// address from the right of `X-Forwarded-For` that is not one of them (addresses
/// further left were written by the client and prove nothing).
pub fn client_address(
    peer: std::net::IpAddr,
    forwarded_for: Option<&str>,
    trusted: &[Cidr],
) -> std::net::IpAddr {
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or("").rsplit(',') {
        let Ok(ip) = hop.trim().parse::<std::net::IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

async fn client_ip(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(peer) = peer {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let client = client_address(peer, forwarded, &state.trusted_proxies);
        request
            .extensions_mut()
            .insert(switchboard_core::connector::ClientIp(client));
    }
    next.run(request).await
}

/// Hands a webhook to its channel's connector, as received.
async fn webhook(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let channel = params.get("channel").cloned().unwrap_or_default();
    let Some(connector) = state.webhooks.get(&channel) else {
        return ApiError::NotFound(format!(
            "channel {channel:?} is not configured or not enabled"
        ))
        .into_response();
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return ApiError::Status(rejection.status(), "invalid_body", rejection.body_text())
                .into_response();
        }
    };
    let subpath = params
        .get("rest")
        .map(|rest| format!("/{rest}"))
        .unwrap_or_default();
    let started = Instant::now();
    let answer = connector
        .webhook(WebhookRequest {
            method,
            subpath,
            query: uri.query().map(str::to_owned),
            headers,
            body,
        })
        .await;
    metrics::counter!("switchboard_webhook_requests_total", "channel" => channel.clone(), "status" => answer.status.as_u16().to_string())
        .increment(1);
    metrics::histogram!("switchboard_webhook_seconds", "channel" => channel)
        .record(started.elapsed().as_secs_f64());
    (
        answer.status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// The store answers and the channels are started: send traffic here. Channels whose
/// connectors report problems make the answer `degraded`, still 200: the node serves
/// every other channel, and taking it out of a load balancer fixes nothing that a
/// wrong token or a provider outage broke. The body also says which node this is,
/// which nodes are alive and where each poller runs.
async fn readyz(State(state): State<AppState>) -> Response {
    let started = state.ready.load(Ordering::SeqCst);
    let store = state.gateway.store().ping().await;
    let ready = started && store.is_ok();
    let problems: serde_json::Map<String, serde_json::Value> = state
        .channels
        .iter()
        .filter_map(|channel| {
            let problems = state.gateway.channel_problems(&channel.id);
            (!problems.is_empty()).then(|| (channel.id.clone(), json!(problems)))
        })
        .collect();
    let status = match (ready, problems.is_empty()) {
        (false, _) => "not_ready",
        (true, true) => "ready",
        (true, false) => "degraded",
    };
    // Which node this is, the nodes alive and who runs each poller.
    let cluster = match state.gateway.membership().await {
        Ok(membership) => json!(membership),
        Err(_) => json!({ "node": state.gateway.node() }),
    };
    let body = json!({
        "status": status,
        "store": store.as_ref().map_or_else(|e| e.to_string(), |_| "ok".to_owned()),
        "cluster": cluster,
        "channels": if started { "started" } else { "starting or stopping" },
        "channel_problems": problems,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Prometheus text format. The outbox depth is read from the store at each scrape,
/// so it is right whichever node queued the messages.
async fn metrics(State(state): State<AppState>) -> Response {
    let handle = crate::telemetry::metrics();
    match state.gateway.store().read(outbox::depth).await {
        Ok(depths) => {
            for channel in state.channels.iter() {
                let depth = depths
                    .iter()
                    .find(|(c, _)| *c == channel.id)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("switchboard_outbox_depth", "channel" => channel.id.clone())
                    .set(depth as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read the outbox depth for /metrics"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted = [
            Cidr::parse("10.0.0.0/8").unwrap(),
            Cidr::parse("::1").unwrap(),
        ];
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        // A client that writes the header itself changes nothing.
        assert_eq!(
            client_address(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // Behind the proxy: the right-most address that is not a proxy.
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                Some("6.6.6.6, 198.51.100.7, 10.0.0.9"),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(ip("::1"), Some("garbage"), &trusted),
            ip("::1")
        );
        assert_eq!(
            client_address(ip("::ffff:10.1.1.1"), Some("198.51.100.8"), &trusted),
            ip("198.51.100.8")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), None, &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ranges_parse_and_match() {
        assert!(
            Cidr::parse("192.168.0.0/16")
                .unwrap()
                .contains("192.168.4.5".parse().unwrap())
        );
        assert!(
            !Cidr::parse("192.168.0.0/16")
                .unwrap()
                .contains("192.169.0.1".parse().unwrap())
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            Cidr::parse("fd00::/8")
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
