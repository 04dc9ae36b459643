//! Who is on a ticket right now: agents viewing it and typing a reply, so that two
//! people do not answer one customer at once.
//!
//! The inbox reports every few seconds while a ticket is open (and at once when its
//! agent starts or stops typing); each report is fanned out to the live feed as an
//! `event: presence` without an id, because presence is of the moment: it is not in
//! the event log and a resumed feed does not replay it. Entries lapse by themselves
//! when the reports stop (a closed tab, a dead laptop). Kept in this node's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchboard_core::store::queries::tickets;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::api::auth::Agent;
use crate::api::error::{ApiError, ApiJson, ApiPath};
use crate::http::AppState;

/// How long a report of viewing counts; the inbox reports every 10 seconds.
const VIEWING_FOR: Duration = Duration::from_secs(30);
/// How long a report of typing counts; the inbox reports while keys are pressed.
const TYPING_FOR: Duration = Duration::from_secs(8);

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    /// Ticket id → agent name → what they last reported, in milliseconds since the epoch.
    tickets: Mutex<HashMap<i64, HashMap<String, Seen>>>,
    updates: broadcast::Sender<PresenceUpdate>,
}

#[derive(Clone, Copy)]
struct Seen {
    viewing_until: i64,
    typing_until: i64,
}

/// Everyone on one ticket, sent whenever it changes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PresenceUpdate {
    pub ticket_id: i64,
    pub reference: String,
    pub agents: Vec<OnTicket>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OnTicket {
    pub name: String,
    /// Until when (milliseconds since the epoch) the agent counts as viewing, unless
    /// they report again.
    pub viewing_until: i64,
    /// Until when they count as typing; in the past when they are not.
    pub typing_until: i64,
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            inner: Arc::new(Inner {
                tickets: Mutex::default(),
                updates: broadcast::channel(256).0,
            }),
        }
    }
}

impl Presence {
    pub fn subscribe(&self) -> broadcast::Receiver<PresenceUpdate> {
        self.inner.updates.subscribe()
    }

    fn report(&self, ticket_id: i64, reference: String, agent: &str, state: Activity, now: i64) {
        let millis = |d: Duration| d.as_millis() as i64;
        let agents = {
            let mut all = self.inner.tickets.lock().unwrap_or_else(|e| e.into_inner());
            // Lapsed entries go whenever anyone reports, so the map stays small.
            all.retain(|_, on| {
                on.retain(|_, seen| seen.viewing_until > now);
                !on.is_empty()
            });
            let on = all.entry(ticket_id).or_default();
            match state {
                Activity::Left => {
                    on.remove(agent);
                }
                Activity::Viewing | Activity::Typing => {
                    let seen = on.entry(agent.to_owned()).or_insert(Seen {
                        viewing_until: 0,
                        typing_until: 0,
                    });
                    seen.viewing_until = now + millis(VIEWING_FOR);
                    seen.typing_until = match state {
                        Activity::Typing => now + millis(TYPING_FOR),
                        _ => 0,
                    };
                }
            }
            agents_on(on, now)
        };
        // Nobody listening is fine: presence is only for whoever is looking.
        let _ = self.inner.updates.send(PresenceUpdate {
            ticket_id,
            reference,
            agents,
        });
    }
}

/// The agents still on a ticket, by name.
fn agents_on(on: &HashMap<String, Seen>, now: i64) -> Vec<OnTicket> {
    let mut agents: Vec<OnTicket> = on
        .iter()
        .filter(|(_, seen)| seen.viewing_until > now)
        .map(|(name, seen)| OnTicket {
            name: name.clone(),
            viewing_until: seen.viewing_until,
            typing_until: seen.typing_until,
        })
        .collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    agents
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Activity {
    Viewing,
    Typing,
    Left,
}

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
    let ticket = state
        .gateway
        .store()
        .read(move |c| tickets::find_by_id_or_reference(c, &key))
        .await?;
    state.presence.report(
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
    _agent: Agent,
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<PresenceUpdate>, ApiError> {
    let ticket = state
        .gateway
        .store()
        .read(move |c| tickets::find_by_id_or_reference(c, &key))
        .await?;
    let now = state.gateway.now().0;
    let agents = {
        let all = state
            .presence
            .inner
            .tickets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        all.get(&ticket.id)
            .map(|on| agents_on(on, now))
            .unwrap_or_default()
    };
    Ok(Json(PresenceUpdate {
        ticket_id: ticket.id,
        reference: ticket.reference,
        agents,
    }))
}
