//! The audit log through the API: read by admins and auditors, page by page or
//! exported whole as JSON lines; and the entries the API itself writes (sign-ins,
//! failed tokens) that belong to no ticket change.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchboard_core::Timestamp;
use switchboard_core::access::Scope;
use switchboard_core::store::queries::audit::{self, AuditEntry, AuditFilter, By};
use switchboard_core::store::queries::tickets;
use utoipa::IntoParams;

use crate::api::auth::Agent;
use crate::api::error::ApiError;
use crate::api::guesses::Client;
use crate::http::AppState;

/// How many entries one read of the export takes.
const EXPORT_BATCH: usize = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this ticket (id or reference).
    ticket: Option<String>,
    /// Only entries by this actor (an agent's name, `helpdesk`, `config`, `customer`).
    actor: Option<String>,
    /// Only this action (`ticket.update`), or a family ending in `.` (`session.`).
    action: Option<String>,
    /// Only entries at or after this time (milliseconds since the epoch).
    since: Option<i64>,
    /// Entries older than this id (the `id` of the last entry of the previous page).
    before: Option<i64>,
    /// Page size, 1-1000 (default 100); the export ignores it.
    limit: Option<usize>,
}

impl AuditQuery {
    async fn filter(self, state: &AppState) -> Result<(AuditFilter, usize), ApiError> {
        let ticket_id = match self.ticket {
            Some(key) => Some(
                state
                    .gateway
                    .store()
                    .read(move |c| tickets::find_by_id_or_reference(c, &key, &Scope::All))
                    .await?
                    .id,
            ),
            None => None,
        };
        let filter = AuditFilter {
            ticket_id,
            actor: self.actor,
            action: self.action,
            since: self.since.map(Timestamp),
            before: self.before,
        };
        Ok((filter, self.limit.unwrap_or(100)))
    }
}

type AuditParams = Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>;

/// The audit log, newest first: replies, notes and changes to tickets, sign-ins and
/// failed ones, tokens issued and revoked, exports, the helpdesk's escalations and
/// reassignments, changes of the helpdesk rules. Admins and auditors.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery), tag = "admin",
    responses((status = 200, body = [AuditEntry]), (status = 403)), security(("bearer" = [])))]
pub async fn list(
    agent: Agent,
    State(state): State<AppState>,
    query: AuditParams,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    agent.require_oversight("reading the audit log")?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (filter, limit) = query.filter(&state).await?;
    let entries = state
        .gateway
        .store()
        .read(move |c| audit::list(c, &filter, limit))
        .await?;
    Ok(Json(entries))
}

/// Every entry that passes the filters, newest first, one JSON object per line
/// (`application/x-ndjson`), streamed. The export itself is recorded in the log.
#[utoipa::path(get, path = "/api/v1/audit/export", params(AuditQuery), tag = "admin",
    responses((status = 200, description = "JSON lines", content_type = "application/x-ndjson"), (status = 403)),
    security(("bearer" = [])))]
pub async fn export(
    agent: Agent,
    State(state): State<AppState>,
    query: AuditParams,
) -> Result<Response, ApiError> {
    agent.require_oversight("exporting the audit log")?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (mut filter, _) = query.filter(&state).await?;
    let detail = serde_json::json!({
        "what": "audit_log",
        "ticket_id": filter.ticket_id,
        "actor": filter.actor,
        "action": filter.action,
        "since": filter.since.map(|t| t.0),
    });
    record(
        &state,
        By::from(&agent.actor()),
        "audit.export",
        None,
        detail,
    )
    .await?;
    let store = state.gateway.store().clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    tokio::spawn(async move {
        loop {
            let page = filter.clone();
            let batch = match store
                .read(move |c| audit::list(c, &page, EXPORT_BATCH))
                .await
            {
                Ok(batch) => batch,
                Err(e) => {
                    // The client sees a cut-off body, never a silently short one.
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let mut lines = String::new();
            for entry in &batch {
                lines.push_str(&serde_json::to_string(entry).unwrap_or_default());
                lines.push('\n');
            }
            if !lines.is_empty() && tx.send(Ok(lines)).await.is_err() {
                return;
            }
            match batch.last() {
                Some(last) if batch.len() == EXPORT_BATCH => filter.before = Some(last.id),
                _ => return,
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit.ndjson\""),
    );
    Ok(response)
}

/// Appends an entry that no other change carries.
pub async fn record(
    state: &AppState,
    by: By<'_>,
    action: &'static str,
    ticket_id: Option<i64>,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let (name, origin) = (by.name.to_owned(), by.origin.map(str::to_owned));
    let now = state.gateway.now();
    state
        .gateway
        .store()
        .write(move |c| {
            let by = By {
                name: &name,
                origin: origin.as_deref(),
            };
            audit::append(c, now, by, action, ticket_id, &detail)
        })
        .await?;
    Ok(())
}

/// A token that is no agent's was presented: `token.refused` (a bearer token) or
/// `session.sign_in_failed`. An address's failures are capped by the brute-force
/// limit, and so are these entries.
pub async fn failed_token(
    state: &AppState,
    client: Client,
    action: &'static str,
) -> Result<(), ApiError> {
    let origin = client.0.map(|ip| ip.to_string());
    let by = By {
        name: "unknown",
        origin: origin.as_deref(),
    };
    record(state, by, action, None, serde_json::json!({})).await
}
