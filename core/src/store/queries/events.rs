//! The event log behind the live feed: appended in the transaction of each change,
//! read by clients that resume, pruned after [`KEEP_MS`].

use crate::events::{Event, Recorded};
use crate::model::Timestamp;
use crate::store::{Connection, StoreError, params};

/// How long events stay resumable. A client away longer is told to reload.
pub const KEEP_MS: i64 = 24 * 3600 * 1000;

/// Pruning runs on every this many appended events, not on each.
const PRUNE_EVERY: i64 = 1024;

/// The advisory lock that makes PostgreSQL writers append in commit order: held from
/// the append to the commit, so no id becomes visible before a smaller one.
const APPEND_LOCK: i64 = 0x5342_4556_4e54;

/// Records `events` in the caller's transaction; the ids they got, in order.
pub fn append(
    conn: &mut dyn Connection,
    events: Vec<Event>,
    now: Timestamp,
) -> Result<Vec<Recorded>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    conn.lock_keys(&[APPEND_LOCK])?;
    let mut recorded = Vec::with_capacity(events.len());
    for event in events {
        let body = serde_json::to_string(&event)
            .map_err(|e| StoreError::Decode(format!("an event that cannot be written: {e}")))?;
        let row = conn
            .query_one(
                "INSERT INTO events (created_at, ticket_id, body) VALUES ($1, $2, $3) RETURNING id",
                params![now.0, event.ticket_id(), body],
            )?
            .ok_or_else(|| StoreError::Database("event insert returned no id".into()))?;
        recorded.push(Recorded {
            id: row.i64(0)?,
            event,
        });
    }
    if recorded.iter().any(|r| r.id % PRUNE_EVERY == 0) {
        prune(conn, now.0 - KEEP_MS)?;
    }
    Ok(recorded)
}

/// Events after `id`, oldest first, at most `limit`.
pub fn after(
    conn: &mut dyn Connection,
    id: i64,
    limit: usize,
) -> Result<Vec<Recorded>, StoreError> {
    conn.query(
        "SELECT id, body FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        params![id, limit as i64],
    )?
    .into_iter()
    .map(|row| {
        let body = row.string(1)?;
        Ok(Recorded {
            id: row.i64(0)?,
            event: serde_json::from_str(&body).map_err(|e| {
                StoreError::Decode(format!("event {}: {e}", row.i64(0).unwrap_or(0)))
            })?,
        })
    })
    .collect()
}

/// The oldest and newest ids kept; `(0, 0)` before the first event.
pub fn bounds(conn: &mut dyn Connection) -> Result<(i64, i64), StoreError> {
    let row = conn
        .query_one("SELECT MIN(id), MAX(id) FROM events", &[])?
        .ok_or_else(|| StoreError::Database("no row from an aggregate".into()))?;
    Ok((row.opt_i64(0)?.unwrap_or(0), row.opt_i64(1)?.unwrap_or(0)))
}

/// Deletes events older than `before`, except the newest.
pub fn prune(conn: &mut dyn Connection, before: i64) -> Result<u64, StoreError> {
    conn.execute(
        "DELETE FROM events WHERE created_at < $1 AND id < (SELECT MAX(id) FROM events)",
        params![before],
    )
}
