//! Browser sign-in for the inbox: an agent trades its token for a session cookie.
//!
//! The cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind TLS) holds a random id;
//! the store keeps only its SHA-256. A session ends at sign-out, after
//! `session_idle_minutes` without use, `session_hours` after sign-in, or when the
//! token it was signed in with is revoked or leaves the config. Requests authenticated by the cookie that
//! change anything must also carry the session's CSRF token in `X-CSRF-Token`, which
//! only a page of this origin can read (from the sign-in answer or
//! `GET /api/v1/session`).

use axum::Json;
use axum::extract::State;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use switchboard_core::Timestamp;
use switchboard_core::store::queries::audit as audit_log;
use switchboard_core::store::queries::sessions::{self, Session};
use switchboard_core::store::queries::tokens;
use utoipa::ToSchema;

use crate::api::audit;
use crate::api::auth::Agent;
use crate::api::error::{ApiError, ApiJson};
use crate::api::guesses::Client;
use crate::api::tokens::random_token;
use crate::config::Role;
use crate::http::{AppState, ChannelInfo};

/// The cookie's name.
pub const COOKIE_NAME: &str = "switchboard_session";

/// The header that carries the CSRF token on cookie-authenticated changes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A session's use is written back at most this often, not on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// How long sessions last, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle_ms: i64,
    pub lifetime_ms: i64,
}

impl SessionPolicy {
    fn expiry(&self, created_at: i64, now: i64) -> i64 {
        (now + self.idle_ms).min(created_at + self.lifetime_ms)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// One of the agent's tokens.
    token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    name: String,
    role: Role,
    /// Send as `X-CSRF-Token` with every POST, PATCH or DELETE.
    csrf_token: String,
    /// Milliseconds since the epoch; moves forward with use, up to the lifetime.
    expires_at: i64,
    /// The enabled channels, for the inbox's filters.
    channels: Vec<ChannelInfo>,
    /// The categories the helpdesk rules name, for the ticket's category picker.
    categories: Vec<String>,
}

/// Signs in with an agent token; answers with a session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = SignIn,
    responses((status = 201, body = SessionInfo, description = "Signed in; the cookie is set"),
        (status = 401, description = "The token is not an agent's"), (status = 403, description = "Sent from another origin"),
        (status = 429, description = "Too many wrong tokens from this address; see Retry-After")))]
pub async fn sign_in(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    // SameSite keeps the cookie from other sites' requests; this keeps other sites
    // from signing a browser in to an account of theirs (login CSRF).
    if !same_origin(&headers) {
        return Err(ApiError::Status(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "sign-in is only accepted from the gateway's own pages".into(),
        ));
    }
    state.guesses.check(client)?;
    let token = request.token.as_bytes();
    let Some(agent) = state.agents.agent(&state, token, client).await? else {
        state.guesses.failed(client);
        audit::failed_token(&state, client, "session.sign_in_failed").await?;
        return Err(ApiError::Status(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "that token is not an agent's".into(),
        ));
    };
    let id = random_token();
    let now = state.gateway.now().0;
    let session = Session {
        agent: agent.name.clone(),
        token_hash: tokens::hash(token),
        csrf: random_token(),
        created_at: now,
        seen_at: now,
        expires_at: state.sessions.expiry(now, now),
    };
    let id_hash = tokens::hash(id.as_bytes());
    let (stored, by, token_id) = (session.clone(), agent.actor(), agent.token_id);
    state
        .gateway
        .store()
        .write(move |c| {
            sessions::create(c, &id_hash, &stored)?;
            let detail = serde_json::json!({ "token_id": token_id });
            audit_log::append(
                c,
                Timestamp(now),
                (&by).into(),
                "session.sign_in",
                None,
                &detail,
            )
        })
        .await?;
    tracing::info!(agent = %agent.name, "agent signed in");
    let cookie = format!(
        "{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        state.sessions.lifetime_ms / 1000,
        if behind_tls(&headers) { "; Secure" } else { "" }
    );
    Ok(with_cookie(
        (StatusCode::CREATED, Json(info(&state, &agent, &session))).into_response(),
        &cookie,
    ))
}

/// The session the cookie belongs to, with its CSRF token (for a page that reloads).
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = SessionInfo), (status = 401)))]
pub async fn current(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> Result<Json<SessionInfo>, ApiError> {
    let (agent, session) = from_cookie(&headers, &state, client)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(Json(info(&state, &agent, &session)))
}

/// Signs out: the session ends on the server and the cookie is cleared. An expired
/// session only has its cookie cleared; a live one needs its CSRF token, so that
/// another site cannot sign the agent out.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "Signed out (or was not signed in)"), (status = 403)))]
pub async fn sign_out(
    State(state): State<AppState>,
    client: Client,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some((agent, session)) = from_cookie(&headers, &state, client).await? {
        check_csrf(&method, &headers, &session)?;
        let id_hash = cookie_value(&headers)
            .map(|id| tokens::hash(id.as_bytes()))
            .unwrap_or_default();
        let (now, by) = (state.gateway.now(), agent.actor());
        state
            .gateway
            .store()
            .write(move |c| {
                sessions::delete(c, &id_hash)?;
                audit_log::append(
                    c,
                    now,
                    (&by).into(),
                    "session.sign_out",
                    None,
                    &serde_json::json!({}),
                )
            })
            .await?;
        tracing::info!(agent = %agent.name, "agent signed out");
    }
    let clear = format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(with_cookie(StatusCode::NO_CONTENT.into_response(), &clear))
}

/// The agent signed in by the request's cookie, if it has one that is still valid.
/// A state-changing request must carry the session's CSRF token, or it is refused.
pub async fn agent_from_cookie(
    parts: &Parts,
    state: &AppState,
    client: Client,
) -> Result<Option<Agent>, ApiError> {
    let Some((agent, session)) = from_cookie(&parts.headers, state, client).await? else {
        return Ok(None);
    };
    check_csrf(&parts.method, &parts.headers, &session)?;
    Ok(Some(agent))
}

fn check_csrf(method: &Method, headers: &HeaderMap, session: &Session) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let sent = headers
        .get(CSRF_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if bool::from(sent.ct_eq(session.csrf.as_bytes())) {
        return Ok(());
    }
    Err(ApiError::Status(
        StatusCode::FORBIDDEN,
        "csrf",
        format!(
            "a {method} signed in by cookie needs the session's {CSRF_HEADER} header (from GET /api/v1/session)"
        ),
    ))
}

async fn from_cookie(
    headers: &HeaderMap,
    state: &AppState,
    client: Client,
) -> Result<Option<(Agent, Session)>, ApiError> {
    let Some(id) = cookie_value(headers) else {
        return Ok(None);
    };
    let id_hash = tokens::hash(id.as_bytes());
    let now = state.gateway.now().0;
    let lookup = id_hash.clone();
    let Some(mut session) = state
        .gateway
        .store()
        .read(move |c| sessions::find(c, &lookup, now))
        .await?
    else {
        return Ok(None);
    };
    // The token it was signed in with must still be good, and still the agent's.
    let Some(agent) = state
        .agents
        .agent_by_hash(state, session.token_hash.clone(), client)
        .await?
        .filter(|a| a.name == session.agent)
    else {
        return Ok(None);
    };
    if now - session.seen_at >= TOUCH_EVERY_MS {
        let expires_at = state.sessions.expiry(session.created_at, now);
        state
            .gateway
            .store()
            .write(move |c| sessions::touch(c, &id_hash, now, expires_at))
            .await?;
        session.seen_at = now;
        session.expires_at = expires_at;
    }
    Ok(Some((agent, session)))
}

fn info(state: &AppState, agent: &Agent, session: &Session) -> SessionInfo {
    SessionInfo {
        channels: state
            .channels
            .iter()
            .filter(|c| c.enabled)
            .cloned()
            .collect(),
        categories: state.gateway.helpdesk().categories(),
        name: agent.name.clone(),
        role: agent.role,
        csrf_token: session.csrf.clone(),
        expires_at: session.expires_at,
    }
}

/// The session cookie's value, among the request's cookies.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Browsers send `Origin` with every POST; without one (curl, scripts) there is no
/// browser to trick, so it passes.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get("host"))
        .and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((origin_host, host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

/// A TLS-terminating proxy in front says so in `X-Forwarded-Proto`; the cookie is
/// then never sent over plain HTTP.
fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; switchboard_session=abc; b=2"),
        );
        assert_eq!(cookie_value(&headers), Some("abc"));
        headers.insert(COOKIE, HeaderValue::from_static("switchboard_session="));
        assert_eq!(cookie_value(&headers), None);
        headers.insert(COOKIE, HeaderValue::from_static("xswitchboard_session=abc"));
        assert_eq!(cookie_value(&headers), None);
    }

    #[test]
    fn expiry_is_the_nearer_of_idle_and_lifetime() {
        let policy = SessionPolicy {
            idle_ms: 10,
            lifetime_ms: 100,
        };
        assert_eq!(policy.expiry(0, 0), 10);
        assert_eq!(policy.expiry(0, 50), 60);
        assert_eq!(policy.expiry(0, 95), 100);
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        let headers = |origin: Option<&'static str>, host: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_static(host));
            if let Some(origin) = origin {
                h.insert("origin", HeaderValue::from_static(origin));
            }
            h
        };
        assert!(same_origin(&headers(
            Some("http://127.0.0.1:8080"),
            "127.0.0.1:8080"
        )));
        assert!(same_origin(&headers(None, "127.0.0.1:8080")));
        assert!(!same_origin(&headers(
            Some("https://evil.example"),
            "127.0.0.1:8080"
        )));
        assert!(!same_origin(&headers(Some("null"), "127.0.0.1:8080")));
    }
}
