//! Leases: a name held by one node until a time. Taking one that another node holds
//! works only once it ran out; renewing is taking it again as its holder.

use crate::store::{Connection, StoreError, params};

/// Takes or renews `name` for `holder` until `now + ttl_ms`; whether it now holds it.
pub fn take(
    conn: &mut dyn Connection,
    name: &str,
    holder: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET
             holder = excluded.holder,
             expires_at = excluded.expires_at,
             acquired_at = CASE WHEN leases.holder = excluded.holder
                 THEN leases.acquired_at ELSE excluded.acquired_at END
         WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at",
        params![name, holder, now + ttl_ms, now],
    )?;
    Ok(changed == 1)
}

/// Gives `name` up, if `holder` has it: another node may take it at once.
pub fn release(conn: &mut dyn Connection, name: &str, holder: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM leases WHERE name = $1 AND holder = $2",
        params![name, holder],
    )?;
    Ok(())
}

/// Who holds `name` now, and since when.
pub fn holder(
    conn: &mut dyn Connection,
    name: &str,
    now: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    conn.query_one(
        "SELECT holder, acquired_at FROM leases WHERE name = $1 AND expires_at > $2",
        params![name, now],
    )?
    .map(|row| Ok((row.string(0)?, row.i64(1)?)))
    .transpose()
}

/// The leases held now whose names start with `prefix`, by name: (name, holder).
pub fn held(
    conn: &mut dyn Connection,
    prefix: &str,
    now: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    conn.query(
        "SELECT name, holder FROM leases WHERE substr(name, 1, $1) = $2 AND expires_at > $3
         ORDER BY name",
        params![prefix.len() as i64, prefix, now],
    )?
    .into_iter()
    .map(|row| Ok((row.string(0)?, row.string(1)?)))
    .collect()
}
