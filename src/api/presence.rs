//! Agents report what they do on a ticket (viewing, typing, left); the tracker
//! ([`switchboard_core::presence`]) fans each report out to the live feed as an
//! `event: presence` without an id, because presence is of the moment: it is not in
//! the event log and a resumed feed does not replay it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use switchboard_core::presence::{Activity, PresenceUpdate};
use switchboard_core::store::queries::tickets;
use utoipa::ToSchema;

use crate::api::auth::Agent;
use crate::api::error::{ApiError, ApiJson, ApiPath};
use crate::http::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceReport {
    /// `viewing` (the ticket is open), `typing` (a reply is being written) or `left`.
    state: Activity,
}

/// Reports that the agent is viewing, typing on, or has left a ticket; the live feed
/// tells everyone as `event: presence`.
#[utoipa::path(post, path = "/api/v1/tickets/{ticket}/presence", tag = "tickets", request_body = PresenceReport,
    params(("ticket" = String, Path, description = "Reference or id")),
    responses((status = 204), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn report(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiJson(request): ApiJson<PresenceReport>,
) -> Result<StatusCode, ApiError> {
    agent.require_changes("working on tickets")?;
    let scope = agent.scope();
    let ticket = state
        .gateway
        .store()
        .read(move |c| tickets::find_by_id_or_reference(c, &key, &scope))
        .await?;
    state.gateway.presence().report(
        ticket.id,
        ticket.reference,
        &agent.name,
        request.state,
        state.gateway.now().0,
    );
    Ok(StatusCode::NO_CONTENT)
}

/// Who is on the ticket now, for a page that just opened it.
#[utoipa::path(get, path = "/api/v1/tickets/{ticket}/presence", tag = "tickets",
    params(("ticket" = String, Path, description = "Reference or id")),
    responses((status = 200, body = PresenceUpdate), (status = 404)), security(("bearer" = [])))]
pub async fn current(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<PresenceUpdate>, ApiError> {
    let scope = agent.scope();
    let ticket = state
        .gateway
        .store()
        .read(move |c| tickets::find_by_id_or_reference(c, &key, &scope))
        .await?;
    let (presence, now) = (state.gateway.presence(), state.gateway.now().0);
    Ok(Json(PresenceUpdate {
        ticket_id: ticket.id,
        reference: ticket.reference,
        agents: presence.on_ticket(ticket.id, now),
        customer_typing_until: presence.customer_typing_until(ticket.id, now),
    }))
}
