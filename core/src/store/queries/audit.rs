//! The audit log: who did what, when and from where, append-only. Agents' replies,
//! notes and changes to tickets, sign-ins (and failed ones), tokens issued and
//! revoked, the helpdesk's own decisions that move a ticket (escalation,
//! reassignment), and changes of the helpdesk rules in the config. Nothing here
//! updates or deletes an entry.

use serde::Serialize;

use crate::access::Actor;
use crate::model::Timestamp;
use crate::store::{Connection, StoreError, Value, params};

/// One entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// An agent's name, or `helpdesk` / `config` for the gateway itself.
    pub actor: String,
    /// The client's address, for what came through the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// `ticket.update`, `sla.escalate`, `ticket.reassign`, `helpdesk.rules`, ...
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    /// What changed, as JSON (`{"priority": ["normal", "high"]}`).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Who an entry is about: the actor's name and address.
#[derive(Debug, Clone, Copy)]
pub struct By<'a> {
    pub name: &'a str,
    pub origin: Option<&'a str>,
}

impl<'a> By<'a> {
    /// The gateway itself (`helpdesk`, `config`) or a customer: no address.
    pub fn gateway(name: &'a str) -> Self {
        By { name, origin: None }
    }
}

impl<'a> From<&'a Actor> for By<'a> {
    fn from(actor: &'a Actor) -> Self {
        By {
            name: &actor.name,
            origin: actor.origin.as_deref(),
        }
    }
}

pub fn append(
    conn: &mut dyn Connection,
    at: Timestamp,
    by: By<'_>,
    action: &str,
    ticket_id: Option<i64>,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, origin, action, ticket_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![
            at.0,
            by.name,
            by.origin,
            action,
            ticket_id,
            detail.to_string()
        ],
    )?;
    Ok(())
}

/// Which entries to read; every one by default.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub ticket_id: Option<i64>,
    pub actor: Option<String>,
    /// An action (`ticket.update`), or a family of them ending in `.` (`session.`).
    pub action: Option<String>,
    /// Entries at or after this time.
    pub since: Option<Timestamp>,
    /// Entries older than this id (the cursor of the previous page).
    pub before: Option<i64>,
}

/// Entries newest first that pass the filter, at most `limit`.
pub fn list(
    conn: &mut dyn Connection,
    filter: &AuditFilter,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut values = vec![
        Value::from(filter.before.unwrap_or(i64::MAX)),
        Value::from(limit.clamp(1, 1000) as i64),
    ];
    let mut clauses = vec!["id < $1".to_owned()];
    let mut bind = |clause: &str, value: Value| {
        values.push(value);
        clauses.push(clause.replace('?', &format!("${}", values.len())));
    };
    if let Some(id) = filter.ticket_id {
        bind("ticket_id = ?", id.into());
    }
    if let Some(actor) = &filter.actor {
        bind("actor = ?", actor.into());
    }
    match filter.action.as_deref() {
        Some(family) if family.ends_with('.') => {
            let length = family.chars().count();
            bind(&format!("substr(action, 1, {length}) = ?"), family.into());
        }
        Some(action) => bind("action = ?", action.into()),
        None => {}
    }
    if let Some(since) = filter.since {
        bind("at >= ?", since.0.into());
    }
    let rows = conn.query(
        &format!(
            "SELECT id, at, actor, origin, action, ticket_id, detail FROM audit_log
             WHERE {} ORDER BY id DESC LIMIT $2",
            clauses.join(" AND ")
        ),
        &values,
    )?;
    rows.iter()
        .map(|row| {
            Ok(AuditEntry {
                id: row.i64(0)?,
                at: Timestamp(row.i64(1)?),
                actor: row.string(2)?,
                origin: row.opt_string(3)?,
                action: row.string(4)?,
                ticket_id: row.opt_i64(5)?,
                detail: serde_json::from_str(&row.string(6)?)
                    .map_err(|e| StoreError::Decode(format!("an audit entry's detail: {e}")))?,
            })
        })
        .collect()
}

/// The newest entry of an action (the rules last recorded).
pub fn latest(conn: &mut dyn Connection, action: &str) -> Result<Option<AuditEntry>, StoreError> {
    let filter = AuditFilter {
        action: Some(action.to_owned()),
        ..AuditFilter::default()
    };
    Ok(list(conn, &filter, 1)?.into_iter().next())
}
