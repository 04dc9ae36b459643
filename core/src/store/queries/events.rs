//! The event log behind the live feed: appended in the transaction of each change,
//! read by clients that resume, pruned after [`KEEP_MS`].

use crate::access::Scope;
use crate::events::{Event, Recorded};
use crate::model::Timestamp;
use crate::store::{Connection, StoreError, Value, params};

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

/// Events after `id` about tickets in `scope`, oldest first, at most `limit`; and the
/// id the log has been read up to, from which the next read goes on. Events about
/// other tickets are passed over, so a reader with a narrow scope does not read them
/// again and again.
pub fn after(
    conn: &mut dyn Connection,
    id: i64,
    scope: &Scope,
    limit: usize,
) -> Result<(Vec<Recorded>, i64), StoreError> {
    // Every id up to the newest is committed (appends hold a lock until their
    // commit), so what the next statement does not return up to it will never come.
    let (_, newest) = bounds(conn)?;
    let mut values = vec![
        Value::from(id),
        Value::from(newest),
        Value::from(limit as i64),
    ];
    let sql = match scope.condition(&mut values) {
        Some(in_scope) => format!(
            "SELECT e.id, e.body FROM events e JOIN tickets t ON t.id = e.ticket_id
             WHERE e.id > $1 AND e.id <= $2 AND {in_scope} ORDER BY e.id LIMIT $3"
        ),
        None => "SELECT e.id, e.body FROM events e WHERE e.id > $1 AND e.id <= $2
                 ORDER BY e.id LIMIT $3"
            .into(),
    };
    let recorded = conn
        .query(&sql, &values)?
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
        .collect::<Result<Vec<_>, StoreError>>()?;
    let read_up_to = match recorded.last() {
        Some(last) if recorded.len() == limit => last.id,
        _ => newest.max(id),
    };
    Ok((recorded, read_up_to))
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
