//! Service-level targets: how soon a ticket gets its first answer, its next answer
//! after the customer writes again, and its resolution, counted in the business time
//! of a calendar. Each running target is a row of `ticket_slas` with the time it is
//! next due to be looked at (`next_check_at`): at risk first, then breached. The
//! [`scheduler`](super::scheduler) fires what is due; nothing waits in memory.
//!
//! A target may pause while the ticket waits on the customer (`pending`): the business
//! time spent so far is kept, and the due time is worked out again on resuming.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::model::{Priority, Timestamp};
use crate::store::{Connection, Row, StoreError, Value, params};

use super::Helpdesk;
use super::routing::Team;

crate::model::string_enum!(
    /// What a target measures.
    SlaTarget {
        /// From the ticket's first message to an agent's first reply.
        FirstResponse => "first_response",
        /// From a customer's message after an agent replied to the next reply.
        NextResponse => "next_response",
        /// From the ticket's first message to its resolution.
        Resolution => "resolution",
    }
);

crate::model::string_enum!(
    /// Where a target stands.
    SlaState {
        Running => "running",
        /// The ticket waits on the customer; the clock stands still.
        Paused => "paused",
        Met => "met",
        /// Its due time passed first; it stays breached when later met.
        Breached => "breached",
    }
);

/// One `[[helpdesk.sla]]` policy as the config writes it. The first policy whose
/// categories and priorities match a ticket applies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyConfig {
    pub name: String,
    /// Categories it covers; empty: any.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Priorities it covers; empty: any.
    #[serde(default)]
    pub priorities: Vec<Priority>,
    /// A `[calendars]` name: targets count only its open hours. Without one, every
    /// hour counts.
    pub calendar: Option<String>,
    pub first_response_minutes: Option<u64>,
    pub next_response_minutes: Option<u64>,
    pub resolution_minutes: Option<u64>,
    /// The share of a target's time after which it counts as at risk (default 80).
    pub at_risk_percent: Option<u8>,
    /// Stop the clock while the ticket is pending (waiting on the customer).
    #[serde(default)]
    pub pause_when_pending: bool,
    /// Raise the ticket to this priority when a target is at risk / breached.
    pub at_risk_priority: Option<Priority>,
    pub breach_priority: Option<Priority>,
    /// Hand a breached ticket to this team (a `[[helpdesk.teams]]` name).
    pub escalation_team: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct SlaPolicy {
    pub name: String,
    pub categories: Vec<String>,
    priorities: Vec<Priority>,
    pub calendar: Calendar,
    first_response_ms: Option<i64>,
    next_response_ms: Option<i64>,
    resolution_ms: Option<i64>,
    at_risk_percent: i64,
    pub pause_when_pending: bool,
    pub at_risk_priority: Option<Priority>,
    pub breach_priority: Option<Priority>,
    pub escalation_team: Option<String>,
}

impl SlaPolicy {
    pub(crate) fn from_config(
        config: &SlaPolicyConfig,
        calendars: &HashMap<String, Calendar>,
        teams: &[Team],
    ) -> Result<SlaPolicy, (String, String)> {
        if config.name.trim().is_empty() {
            return Err(("name".into(), "a policy needs a name".into()));
        }
        let calendar = match &config.calendar {
            Some(name) => calendars.get(name).cloned().ok_or_else(|| {
                (
                    "calendar".to_owned(),
                    format!("names {name:?}, which is not a [calendars.{name}] section"),
                )
            })?,
            None => Calendar::always(),
        };
        let minutes = |key: &str, value: Option<u64>| match value {
            Some(0) => Err((
                key.to_owned(),
                "a target must be at least 1 minute".to_owned(),
            )),
            Some(m) => Ok(Some(m as i64 * 60_000)),
            None => Ok(None),
        };
        let first_response_ms = minutes("first_response_minutes", config.first_response_minutes)?;
        let next_response_ms = minutes("next_response_minutes", config.next_response_minutes)?;
        let resolution_ms = minutes("resolution_minutes", config.resolution_minutes)?;
        if first_response_ms.is_none() && next_response_ms.is_none() && resolution_ms.is_none() {
            return Err((
                "first_response_minutes".into(),
                "a policy needs at least one target: first_response_minutes, next_response_minutes or resolution_minutes".into(),
            ));
        }
        let at_risk_percent = config.at_risk_percent.unwrap_or(80);
        if !(1..=99).contains(&at_risk_percent) {
            return Err((
                "at_risk_percent".into(),
                format!("{at_risk_percent} is not a share between 1 and 99"),
            ));
        }
        if let Some(team) = &config.escalation_team
            && !teams.iter().any(|t| &t.name == team)
        {
            return Err((
                "escalation_team".into(),
                format!("names {team:?}, which is not a team of [[helpdesk.teams]]"),
            ));
        }
        Ok(SlaPolicy {
            name: config.name.clone(),
            categories: config.categories.clone(),
            priorities: config.priorities.clone(),
            calendar,
            first_response_ms,
            next_response_ms,
            resolution_ms,
            at_risk_percent: i64::from(at_risk_percent),
            pause_when_pending: config.pause_when_pending,
            at_risk_priority: config.at_risk_priority,
            breach_priority: config.breach_priority,
            escalation_team: config.escalation_team.clone(),
        })
    }

    fn matches(&self, category: Option<&str>, priority: Priority) -> bool {
        (self.categories.is_empty()
            || category.is_some_and(|c| self.categories.iter().any(|x| x == c)))
            && (self.priorities.is_empty() || self.priorities.contains(&priority))
    }

    pub(crate) fn target_ms(&self, target: SlaTarget) -> Option<i64> {
        match target {
            SlaTarget::FirstResponse => self.first_response_ms,
            SlaTarget::NextResponse => self.next_response_ms,
            SlaTarget::Resolution => self.resolution_ms,
        }
    }
}

impl Helpdesk {
    /// The policy for a ticket of this category and priority: the first that matches.
    pub(crate) fn policy_for(
        &self,
        category: Option<&str>,
        priority: Priority,
    ) -> Option<&SlaPolicy> {
        self.policies.iter().find(|p| p.matches(category, priority))
    }

    fn policy(&self, name: &str) -> Option<&SlaPolicy> {
        self.policies.iter().find(|p| p.name == name)
    }
}

/// A target as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketSla {
    pub target: SlaTarget,
    pub policy: String,
    pub state: SlaState,
    /// When it falls due; absent while paused.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    /// When it counts as at risk.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at_risk_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub warned_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub breached_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub met_at: Option<Timestamp>,
    /// Business time the target allows, in minutes.
    pub target_minutes: i64,
}

const COLUMNS: &str = "ticket_id, target, policy, state, due_at, at_risk_at, warned_at, breached_at, met_at, target_ms";

fn from_row(row: &Row) -> Result<(i64, TicketSla), StoreError> {
    let at = |i| row.opt_i64(i).map(|v| v.map(Timestamp));
    Ok((
        row.i64(0)?,
        TicketSla {
            target: row.parse(1)?,
            policy: row.string(2)?,
            state: row.parse(3)?,
            due_at: at(4)?,
            at_risk_at: at(5)?,
            warned_at: at(6)?,
            breached_at: at(7)?,
            met_at: at(8)?,
            target_minutes: row.i64(9)? / 60_000,
        },
    ))
}

/// The targets of a ticket.
pub fn for_ticket(conn: &mut dyn Connection, ticket_id: i64) -> Result<Vec<TicketSla>, StoreError> {
    Ok(for_tickets(conn, &[ticket_id])?
        .remove(&ticket_id)
        .unwrap_or_default())
}

/// The targets of several tickets (a page of the list), by ticket id.
pub fn for_tickets(
    conn: &mut dyn Connection,
    ticket_ids: &[i64],
) -> Result<HashMap<i64, Vec<TicketSla>>, StoreError> {
    let mut by_ticket: HashMap<i64, Vec<TicketSla>> = HashMap::new();
    if ticket_ids.is_empty() {
        return Ok(by_ticket);
    }
    let placeholders: Vec<String> = (1..=ticket_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM ticket_slas WHERE ticket_id IN ({}) ORDER BY ticket_id, target",
        placeholders.join(", ")
    );
    let values: Vec<Value> = ticket_ids.iter().map(|&id| Value::from(id)).collect();
    for row in conn.query(&sql, &values)? {
        let (ticket_id, sla) = from_row(&row)?;
        by_ticket.entry(ticket_id).or_default().push(sla);
    }
    Ok(by_ticket)
}

/// When a target with `left_ms` of business time to go, from `now`, is due and at
/// risk.
fn schedule(
    policy: &SlaPolicy,
    target_ms: i64,
    spent_ms: i64,
    now: Timestamp,
) -> (Option<i64>, Option<i64>) {
    let left = (target_ms - spent_ms).max(0);
    let due = policy.calendar.add_business(now, left).map(|t| t.0);
    let risk_left = (target_ms * policy.at_risk_percent / 100 - spent_ms).max(0);
    let at_risk = policy.calendar.add_business(now, risk_left).map(|t| t.0);
    (due, at_risk)
}

/// Starts (or starts again) a target of the ticket under `policy`, from `now`.
pub(crate) fn start(
    conn: &mut dyn Connection,
    policy: &SlaPolicy,
    ticket_id: i64,
    target: SlaTarget,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Some(target_ms) = policy.target_ms(target) else {
        return Ok(());
    };
    let (due, at_risk) = schedule(policy, target_ms, 0, now);
    conn.execute(
        "INSERT INTO ticket_slas (ticket_id, target, policy, state, started_at, spent_ms, target_ms,
             due_at, at_risk_at, next_check_at)
         VALUES ($1, $2, $3, 'running', $4, 0, $5, $6, $7, $7)
         ON CONFLICT (ticket_id, target) DO UPDATE SET policy = excluded.policy, state = 'running',
             started_at = excluded.started_at, spent_ms = 0, target_ms = excluded.target_ms,
             due_at = excluded.due_at, at_risk_at = excluded.at_risk_at, warned_at = NULL,
             breached_at = NULL, met_at = NULL, next_check_at = excluded.next_check_at",
        params![ticket_id, target.as_str(), policy.name.as_str(), now.0, target_ms, due, at_risk],
    )?;
    Ok(())
}

/// Whether the target is running or paused (not yet met or breached).
pub(crate) fn is_open(
    conn: &mut dyn Connection,
    ticket_id: i64,
    target: SlaTarget,
) -> Result<bool, StoreError> {
    Ok(conn
        .query_one(
            "SELECT 1 FROM ticket_slas WHERE ticket_id = $1 AND target = $2 AND state IN ('running', 'paused')",
            params![ticket_id, target.as_str()],
        )?
        .is_some())
}

/// Records that targets were met now (a breached one stays breached, with the time
/// it was met after all).
pub(crate) fn met(
    conn: &mut dyn Connection,
    ticket_id: i64,
    targets: &[SlaTarget],
    now: Timestamp,
) -> Result<(), StoreError> {
    for target in targets {
        conn.execute(
            "UPDATE ticket_slas SET state = CASE state WHEN 'breached' THEN 'breached' ELSE 'met' END,
                 met_at = $1, next_check_at = NULL
             WHERE ticket_id = $2 AND target = $3 AND met_at IS NULL",
            params![now.0, ticket_id, target.as_str()],
        )?;
    }
    Ok(())
}

struct Open {
    target: String,
    policy: String,
    state: SlaState,
    started_at: i64,
    spent_ms: i64,
    target_ms: i64,
    warned: bool,
}

fn open_targets(conn: &mut dyn Connection, ticket_id: i64) -> Result<Vec<Open>, StoreError> {
    conn.query(
        "SELECT target, policy, state, started_at, spent_ms, target_ms, warned_at FROM ticket_slas
         WHERE ticket_id = $1 AND state IN ('running', 'paused')",
        params![ticket_id],
    )?
    .iter()
    .map(|row| {
        Ok(Open {
            target: row.string(0)?,
            policy: row.string(1)?,
            state: row.parse(2)?,
            started_at: row.i64(3)?,
            spent_ms: row.i64(4)?,
            target_ms: row.i64(5)?,
            warned: row.opt_i64(6)?.is_some(),
        })
    })
    .collect()
}

/// The ticket now waits on the customer: running targets of policies that pause
/// keep the business time spent and stop.
pub(crate) fn pause(
    conn: &mut dyn Connection,
    helpdesk: &Helpdesk,
    ticket_id: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    for open in open_targets(conn, ticket_id)? {
        let Some(policy) = helpdesk
            .policy(&open.policy)
            .filter(|p| p.pause_when_pending)
        else {
            continue;
        };
        if open.state != SlaState::Running {
            continue;
        }
        let spent = open.spent_ms
            + policy
                .calendar
                .business_between(Timestamp(open.started_at), now);
        conn.execute(
            "UPDATE ticket_slas SET state = 'paused', spent_ms = $1, due_at = NULL, at_risk_at = NULL,
                 next_check_at = NULL WHERE ticket_id = $2 AND target = $3",
            params![spent, ticket_id, open.target.as_str()],
        )?;
    }
    Ok(())
}

/// The customer answered: paused targets run again from now.
pub(crate) fn resume(
    conn: &mut dyn Connection,
    helpdesk: &Helpdesk,
    ticket_id: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    for open in open_targets(conn, ticket_id)? {
        if open.state != SlaState::Paused {
            continue;
        }
        let policy = helpdesk.policy(&open.policy);
        let calendar_policy;
        let policy = match policy {
            Some(p) => p,
            // The policy left the config since: keep counting around the clock.
            None => {
                calendar_policy = fallback_policy(&open.policy);
                &calendar_policy
            }
        };
        reschedule(conn, policy, ticket_id, &open, open.target_ms, now)?;
    }
    Ok(())
}

fn fallback_policy(name: &str) -> SlaPolicy {
    SlaPolicy {
        name: name.to_owned(),
        categories: Vec::new(),
        priorities: Vec::new(),
        calendar: Calendar::always(),
        first_response_ms: None,
        next_response_ms: None,
        resolution_ms: None,
        at_risk_percent: 80,
        pause_when_pending: false,
        at_risk_priority: None,
        breach_priority: None,
        escalation_team: None,
    }
}

fn reschedule(
    conn: &mut dyn Connection,
    policy: &SlaPolicy,
    ticket_id: i64,
    open: &Open,
    target_ms: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (due, at_risk) = schedule(policy, target_ms, open.spent_ms, now);
    let next_check = if open.warned { due } else { at_risk };
    conn.execute(
        "UPDATE ticket_slas SET state = 'running', policy = $1, started_at = $2, target_ms = $3,
             due_at = $4, at_risk_at = $5, next_check_at = $6
         WHERE ticket_id = $7 AND target = $8",
        params![
            policy.name.as_str(),
            now.0,
            target_ms,
            due,
            at_risk,
            next_check,
            ticket_id,
            open.target.as_str()
        ],
    )?;
    Ok(())
}

/// The ticket's category or priority changed: its open targets follow the policy
/// that matches now, keeping the business time already spent. Without a matching
/// policy they stop counting (and are dropped).
pub(crate) fn rebase(
    conn: &mut dyn Connection,
    helpdesk: &Helpdesk,
    ticket_id: i64,
    category: Option<&str>,
    priority: Priority,
    now: Timestamp,
) -> Result<(), StoreError> {
    let policy = helpdesk.policy_for(category, priority);
    for mut open in open_targets(conn, ticket_id)? {
        let target: SlaTarget = open.target.parse().map_err(StoreError::Database)?;
        let Some((policy, target_ms)) = policy.and_then(|p| Some((p, p.target_ms(target)?))) else {
            conn.execute(
                "DELETE FROM ticket_slas WHERE ticket_id = $1 AND target = $2",
                params![ticket_id, open.target.as_str()],
            )?;
            continue;
        };
        if policy.name == open.policy && target_ms == open.target_ms {
            continue;
        }
        if open.state == SlaState::Running {
            let old = helpdesk
                .policy(&open.policy)
                .map_or_else(Calendar::always, |p| p.calendar.clone());
            open.spent_ms += old.business_between(Timestamp(open.started_at), now);
            conn.execute(
                "UPDATE ticket_slas SET spent_ms = $1 WHERE ticket_id = $2 AND target = $3",
                params![open.spent_ms, ticket_id, open.target.as_str()],
            )?;
            reschedule(conn, policy, ticket_id, &open, target_ms, now)?;
        } else {
            conn.execute(
                "UPDATE ticket_slas SET policy = $1, target_ms = $2 WHERE ticket_id = $3 AND target = $4",
                params![policy.name.as_str(), target_ms, ticket_id, open.target.as_str()],
            )?;
        }
    }
    Ok(())
}

/// A target the scheduler found due.
pub(crate) struct Due {
    pub ticket_id: i64,
    pub target: SlaTarget,
    pub policy: String,
    pub due_at: i64,
    /// At risk (the warning), or past due (the breach).
    pub breach: bool,
}

/// Claims up to `limit` targets due at `now` and moves each on (at risk → its due
/// time; breached → nothing left to fire), in the caller's transaction. On
/// PostgreSQL, rows another node is firing are skipped.
pub(crate) fn claim_due(
    conn: &mut dyn Connection,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Due>, StoreError> {
    let lock = conn.dialect().skip_locked();
    let sql = format!(
        "SELECT ticket_id, target, policy, due_at, warned_at, at_risk_at FROM ticket_slas
         WHERE next_check_at IS NOT NULL AND next_check_at <= $1
         ORDER BY next_check_at LIMIT $2 {lock}"
    );
    let rows = conn.query(&sql, params![now.0, limit as i64])?;
    let mut due = Vec::with_capacity(rows.len());
    for row in rows {
        let ticket_id = row.i64(0)?;
        let target: SlaTarget = row.parse(1)?;
        let due_at = row.opt_i64(3)?.unwrap_or(now.0);
        let warned = row.opt_i64(4)?.is_some();
        let breach = warned || due_at <= now.0;
        if breach {
            conn.execute(
                "UPDATE ticket_slas SET state = 'breached', breached_at = $1, next_check_at = NULL,
                     warned_at = COALESCE(warned_at, $1)
                 WHERE ticket_id = $2 AND target = $3",
                params![now.0, ticket_id, target.as_str()],
            )?;
        } else {
            conn.execute(
                "UPDATE ticket_slas SET warned_at = $1, next_check_at = due_at WHERE ticket_id = $2 AND target = $3",
                params![now.0, ticket_id, target.as_str()],
            )?;
        }
        due.push(Due {
            ticket_id,
            target,
            policy: row.string(2)?,
            due_at,
            breach,
        });
    }
    Ok(due)
}
