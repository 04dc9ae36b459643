//! The helpdesk's time-driven work: SLA warnings and breaches, the tickets of agents
//! gone away, and notifications to the configured webhook. Everything it acts on is
//! in the store with a due time, so a restart loses nothing and, on PostgreSQL, each
//! due item is claimed by one node (`FOR UPDATE SKIP LOCKED`) and acted on in the
//! transaction that records it: it fires once, whichever node runs it.

use std::time::Duration;

use crate::backoff;
use crate::events::Event;
use crate::gateway::Gateway;
use crate::model::Timestamp;
use crate::shutdown::Shutdown;
use crate::store::queries::{audit, events as event_log, tickets};
use crate::store::{Connection, StoreError, params};

use super::{flow, routing, sla};

/// How often the scheduler looks, at most: SLA times are in minutes, so a second
/// late is nothing, and an idle gateway costs one small query a second.
const TICK: Duration = Duration::from_secs(1);
/// Agents' absence is checked this often.
const AWAY_EVERY: Duration = Duration::from_secs(15);
/// Items handled per transaction.
const BATCH: usize = 100;
/// How long a notification's delivery may take before another node tries it.
const NOTIFY_LEASE_MS: i64 = 30_000;

/// What one pass did, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub at_risk: usize,
    pub breached: usize,
    pub reassigned: usize,
    pub notified: usize,
}

/// Runs the scheduler until shutdown.
pub async fn run(gateway: Gateway, shutdown: Shutdown) {
    let mut last_away = std::time::Instant::now() - AWAY_EVERY;
    loop {
        let away = last_away.elapsed() >= AWAY_EVERY;
        if away {
            last_away = std::time::Instant::now();
        }
        match pass(&gateway, away).await {
            Ok(done) if done != Pass::default() => tracing::debug!(?done, "helpdesk scheduler"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "helpdesk scheduler pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// One pass: fires what is due now (by the gateway's clock), and, when `away`,
/// hands on the tickets of agents gone away.
pub async fn pass(gateway: &Gateway, away: bool) -> Result<Pass, StoreError> {
    let mut done = Pass::default();
    loop {
        let (at_risk, breached) = fire_due(gateway).await?;
        done.at_risk += at_risk;
        done.breached += breached;
        if at_risk + breached < BATCH {
            break;
        }
    }
    if away && !gateway.helpdesk().teams.is_empty() {
        done.reassigned = reassign_away(gateway).await?;
    }
    if gateway.helpdesk().notify.is_some() {
        done.notified = deliver_notifications(gateway).await?;
    }
    Ok(done)
}

async fn fire_due(gateway: &Gateway) -> Result<(usize, usize), StoreError> {
    let now = gateway.now();
    let this = gateway.clone();
    let (counts, recorded) = gateway
        .store()
        .write(move |conn| {
            let helpdesk = this.helpdesk();
            let mut events = Vec::new();
            let (mut at_risk, mut breached) = (0, 0);
            for due in sla::claim_due(conn, now, BATCH)? {
                let ticket = tickets::get(conn, due.ticket_id)?;
                let policy = helpdesk.policies.iter().find(|p| p.name == due.policy);
                let (ticket_id, reference) = (ticket.id, ticket.reference.clone());
                let (target, policy_name, due_at) = (due.target, due.policy.clone(), due.due_at);
                let (raise, event) = if due.breach {
                    breached += 1;
                    let event = Event::SlaBreached {
                        ticket_id,
                        reference,
                        target,
                        policy: policy_name,
                        due_at,
                    };
                    (policy.and_then(|p| p.breach_priority), event)
                } else {
                    at_risk += 1;
                    let event = Event::SlaAtRisk {
                        ticket_id,
                        reference,
                        target,
                        policy: policy_name,
                        due_at,
                    };
                    (policy.and_then(|p| p.at_risk_priority), event)
                };
                let mut changed = serde_json::Map::new();
                if let Some(priority) = raise
                    && flow::raise_priority(conn, &ticket, priority)?
                {
                    changed.insert(
                        "priority".into(),
                        serde_json::json!([ticket.priority.as_str(), priority.as_str()]),
                    );
                }
                if due.breach
                    && let Some(team) = policy
                        .and_then(|p| p.escalation_team.as_deref())
                        .and_then(|name| helpdesk.team(name))
                    && ticket.team.as_deref() != Some(team.name.as_str())
                {
                    let agent = routing::pick_agent(conn, helpdesk, team, None, now)?;
                    routing::assign(
                        conn,
                        &ticket,
                        Some(&team.name),
                        agent.as_deref(),
                        now,
                        &mut events,
                    )?;
                    changed.insert("team".into(), serde_json::json!(team.name));
                    changed.insert(
                        "assignee".into(),
                        serde_json::json!([ticket.assignee, agent]),
                    );
                }
                if !changed.is_empty() {
                    changed.insert("target".into(), serde_json::json!(due.target.as_str()));
                    let action = if due.breach {
                        "sla.breach"
                    } else {
                        "sla.at_risk"
                    };
                    audit::append(
                        conn,
                        now,
                        audit::By::gateway("helpdesk"),
                        action,
                        Some(ticket.id),
                        &serde_json::Value::Object(changed),
                    )?;
                    events.push(Event::TicketUpdated {
                        ticket_id: ticket.id,
                        reference: ticket.reference.clone(),
                        status: ticket.status,
                    });
                }
                if helpdesk.notify.is_some() {
                    let body = serde_json::to_string(&event)
                        .map_err(|e| StoreError::Database(format!("notification: {e}")))?;
                    conn.execute(
                        "INSERT INTO notifications (kind, body, state, due_at, created_at)
                         VALUES ($1, $2, 'pending', $3, $3)",
                        params![event.name(), body, now.0],
                    )?;
                }
                events.push(event);
            }
            let recorded = event_log::append(conn, events, now)?;
            Ok(((at_risk, breached), recorded))
        })
        .await?;
    gateway.events().publish(recorded);
    Ok(counts)
}

async fn reassign_away(gateway: &Gateway) -> Result<usize, StoreError> {
    let now = gateway.now();
    let this = gateway.clone();
    let (moved, recorded) = gateway
        .store()
        .write(move |conn| {
            let mut events = Vec::new();
            let moved = routing::reassign_away(conn, this.helpdesk(), now, BATCH, &mut events)?;
            for (ticket_id, to, away) in &moved {
                audit::append(
                    conn,
                    now,
                    audit::By::gateway("helpdesk"),
                    "ticket.reassign",
                    Some(*ticket_id),
                    &serde_json::json!({ "assignee": [away, to], "reason": "agent away" }),
                )?;
            }
            Ok((moved.len(), event_log::append(conn, events, now)?))
        })
        .await?;
    gateway.events().publish(recorded);
    Ok(moved)
}

/// Delivers pending notifications, oldest first, each at least once: claimed under a
/// lease, POSTed, then marked sent; a failure waits with backoff and tries again.
async fn deliver_notifications(gateway: &Gateway) -> Result<usize, StoreError> {
    let Some(notify) = gateway.helpdesk().notify.clone() else {
        return Ok(0);
    };
    let now = gateway.now();
    let claimed = gateway
        .store()
        .write(move |conn| claim_notifications(conn, now))
        .await?;
    let client = notification_client();
    let mut delivered = 0;
    for (id, kind, body, attempts) in claimed {
        let signature = crate::signature::sign_sha256(&notify.secret, body.as_bytes());
        let result = client
            .post(&notify.url)
            .header("content-type", "application/json")
            .header("x-switchboard-event", kind.as_str())
            .header("x-switchboard-delivery", id.to_string())
            .header("x-switchboard-signature", format!("sha256={signature}"))
            .body(body)
            .send()
            .await;
        let outcome = match result {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("the webhook answered {}", response.status())),
            Err(error) => Err(format!("the webhook cannot be reached: {error}")),
        };
        let now = gateway.now();
        let ok = outcome.is_ok();
        gateway
            .store()
            .write(move |conn| {
                match &outcome {
                    Ok(()) => conn.execute(
                        "UPDATE notifications SET state = 'sent', attempts = attempts + 1, last_error = NULL
                         WHERE id = $1",
                        params![id],
                    )?,
                    Err(error) => {
                        let wait = backoff::delay(
                            Duration::from_secs(5),
                            Duration::from_secs(600),
                            attempts as u32 + 1,
                        );
                        conn.execute(
                            "UPDATE notifications SET state = 'pending', attempts = attempts + 1,
                                 last_error = $1, due_at = $2 WHERE id = $3",
                            params![error.as_str(), now.0 + wait.as_millis() as i64, id],
                        )?
                    }
                };
                Ok(())
            })
            .await?;
        if ok {
            delivered += 1;
        } else {
            // Keep order: later notifications wait for this one.
            break;
        }
    }
    Ok(delivered)
}

type Claimed = (i64, String, String, i64);

fn claim_notifications(
    conn: &mut dyn Connection,
    now: Timestamp,
) -> Result<Vec<Claimed>, StoreError> {
    let lock = conn.dialect().skip_locked();
    // A notification still 'sending' after its lease was left by a node that died.
    let rows = conn.query(
        &format!(
            "SELECT id, kind, body, attempts FROM notifications
             WHERE state IN ('pending', 'sending') AND due_at <= $1 ORDER BY id LIMIT 20 {lock}"
        ),
        params![now.0],
    )?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.i64(0)?;
        conn.execute(
            "UPDATE notifications SET state = 'sending', due_at = $1 WHERE id = $2",
            params![now.0 + NOTIFY_LEASE_MS, id],
        )?;
        claimed.push((id, row.string(1)?, row.string(2)?, row.i64(3)?));
    }
    Ok(claimed)
}

fn notification_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default()
        })
        .clone()
}
