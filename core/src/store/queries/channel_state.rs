//! Small per-channel values that pollers persist: Telegram update offsets, IMAP
//! UIDVALIDITY and last UID, and values generated once per channel.

use crate::store::{Connection, StoreError, params};

pub fn get(
    conn: &mut dyn Connection,
    channel: &str,
    key: &str,
) -> Result<Option<String>, StoreError> {
    conn.query_one(
        "SELECT value FROM channel_state WHERE channel = $1 AND key = $2",
        params![channel, key],
    )?
    .map(|row| row.string(0))
    .transpose()
}

pub fn set(
    conn: &mut dyn Connection,
    channel: &str,
    key: &str,
    value: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO channel_state (channel, key, value, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (channel, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![channel, key, value, now],
    )?;
    Ok(())
}

/// Like [`set`], unless the lease `lease` exists and is not held by `holder` now: a
/// poller that lost its lease to another node cannot move that node's cursor.
/// Whether it was written.
pub fn set_holding(
    conn: &mut dyn Connection,
    channel: &str,
    key: &str,
    value: &str,
    now: i64,
    lease: &str,
    holder: &str,
) -> Result<bool, StoreError> {
    let written = conn.execute(
        "INSERT INTO channel_state (channel, key, value, updated_at)
         SELECT $1, $2, $3, $4
         WHERE NOT EXISTS (SELECT 1 FROM leases
                           WHERE name = $5 AND (holder <> $6 OR expires_at <= $4))
         ON CONFLICT (channel, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![channel, key, value, now, lease, holder],
    )?;
    Ok(written == 1)
}

/// The value under `key`, storing `value` there first if there is none: two nodes
/// doing this at once both get the one stored.
pub fn get_or_set(
    conn: &mut dyn Connection,
    channel: &str,
    key: &str,
    value: &str,
    now: i64,
) -> Result<String, StoreError> {
    conn.execute(
        "INSERT INTO channel_state (channel, key, value, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (channel, key) DO NOTHING",
        params![channel, key, value, now],
    )?;
    get(conn, channel, key)?
        .ok_or_else(|| StoreError::Database(format!("channel state {key} vanished")))
}
