//! The audit log: who changed what, append-only. Agents' changes to tickets, the
//! helpdesk's own decisions that move a ticket (escalation, reassignment), and
//! changes of the helpdesk rules in the config.

use serde::Serialize;

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
    /// `ticket.update`, `sla.escalate`, `ticket.reassign`, `helpdesk.rules`, ...
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    /// What changed, as JSON (`{"priority": ["normal", "high"]}`).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

pub fn append(
    conn: &mut dyn Connection,
    at: Timestamp,
    actor: &str,
    action: &str,
    ticket_id: Option<i64>,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, ticket_id, detail) VALUES ($1, $2, $3, $4, $5)",
        params![at.0, actor, action, ticket_id, detail.to_string()],
    )?;
    Ok(())
}

/// Entries newest first, of one ticket or all, before the entry `before` (a cursor).
pub fn list(
    conn: &mut dyn Connection,
    ticket_id: Option<i64>,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut values = vec![
        Value::from(before.unwrap_or(i64::MAX)),
        Value::from(limit.clamp(1, 500) as i64),
    ];
    let filter = match ticket_id {
        Some(id) => {
            values.push(id.into());
            "ticket_id = $3 AND"
        }
        None => "",
    };
    let rows = conn.query(
        &format!(
            "SELECT id, at, actor, action, ticket_id, detail FROM audit_log
             WHERE {filter} id < $1 ORDER BY id DESC LIMIT $2"
        ),
        &values,
    )?;
    rows.iter()
        .map(|row| {
            Ok(AuditEntry {
                id: row.i64(0)?,
                at: Timestamp(row.i64(1)?),
                actor: row.string(2)?,
                action: row.string(3)?,
                ticket_id: row.opt_i64(4)?,
                detail: serde_json::from_str(&row.string(5)?)
                    .map_err(|e| StoreError::Decode(format!("an audit entry's detail: {e}")))?,
            })
        })
        .collect()
}

/// The newest entry of an action (the rules last recorded).
pub fn latest(conn: &mut dyn Connection, action: &str) -> Result<Option<AuditEntry>, StoreError> {
    let row = conn.query_one(
        "SELECT id FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT 1",
        params![action],
    )?;
    match row {
        Some(row) => {
            let id = row.i64(0)?;
            Ok(list(conn, None, Some(id + 1), 1)?.into_iter().next())
        }
        None => Ok(None),
    }
}
