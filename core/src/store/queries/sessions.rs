//! Agents' browser sessions: created at sign-in, looked up by the hash of the cookie,
//! kept alive by use, ended by sign-out, expiry or a rotated token.

use crate::store::{Connection, StoreError, params};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub agent: String,
    pub token_hash: String,
    pub csrf: String,
    pub created_at: i64,
    pub seen_at: i64,
    pub expires_at: i64,
}

pub fn create(
    conn: &mut dyn Connection,
    id_hash: &str,
    session: &Session,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO agent_sessions (id_hash, agent, token_hash, csrf, created_at, seen_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![
            id_hash,
            session.agent.as_str(),
            session.token_hash.as_str(),
            session.csrf.as_str(),
            session.created_at,
            session.seen_at,
            session.expires_at
        ],
    )?;
    // Sign-ins are rare: a good moment to forget the sessions that ended.
    conn.execute(
        "DELETE FROM agent_sessions WHERE expires_at <= $1",
        params![session.created_at],
    )?;
    Ok(())
}

/// The session whose cookie hashes to `id_hash`, unless it expired by `now`.
pub fn find(
    conn: &mut dyn Connection,
    id_hash: &str,
    now: i64,
) -> Result<Option<Session>, StoreError> {
    conn.query_one(
        "SELECT agent, token_hash, csrf, created_at, seen_at, expires_at FROM agent_sessions
         WHERE id_hash = $1 AND expires_at > $2",
        params![id_hash, now],
    )?
    .map(|row| {
        Ok(Session {
            agent: row.string(0)?,
            token_hash: row.string(1)?,
            csrf: row.string(2)?,
            created_at: row.i64(3)?,
            seen_at: row.i64(4)?,
            expires_at: row.i64(5)?,
        })
    })
    .transpose()
}

/// Records use at `now`, moving the expiry to `expires_at`.
pub fn touch(
    conn: &mut dyn Connection,
    id_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE agent_sessions SET seen_at = $2, expires_at = $3 WHERE id_hash = $1",
        params![id_hash, now, expires_at],
    )?;
    Ok(())
}

/// Ends a session; whether there was one.
pub fn delete(conn: &mut dyn Connection, id_hash: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM agent_sessions WHERE id_hash = $1",
        params![id_hash],
    )? > 0)
}
