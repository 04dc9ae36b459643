//! Small per-channel values that pollers persist: Telegram update offsets, IMAP
//! UIDVALIDITY and last UID.

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
