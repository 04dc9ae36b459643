//! Agents' API tokens, kept as SHA-256 hashes: the config's (recorded at start so
//! they can be revoked) and those issued through the API. A revoked token stays, so
//! it is never accepted again; revoking one also ends the browser sessions signed in
//! with it. Every node reads the same table, so a revocation holds everywhere at once.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::Timestamp;
use crate::store::{Connection, Row, StoreError, params};

/// The SHA-256 of a token, hex: what the store keeps and looks tokens up by. A token
/// has 256 random bits (or is an operator's secret from the config), so a plain hash
/// is enough: nothing short of the token itself hashes to it.
pub fn hash(token: &[u8]) -> String {
    hex::encode(Sha256::digest(token))
}

crate::model::string_enum!(
    /// Where a token came from.
    TokenSource {
        /// The agent's `token` in the config.
        Config => "config",
        /// Issued through the API (`POST /api/v1/agents/{name}/tokens`).
        Issued => "issued",
    }
);

/// A token as the API shows it: never the token, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub agent: String,
    pub source: TokenSource,
    pub label: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub created_by: String,
    /// Recorded at most every few minutes.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    pub revoked_by: Option<String>,
}

const COLUMNS: &str =
    "id, agent, source, label, created_at, created_by, last_used_at, revoked_at, revoked_by";

fn from_row(row: &Row) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: row.i64(0)?,
        agent: row.string(1)?,
        source: row.parse(2)?,
        label: row.string(3)?,
        created_at: Timestamp(row.i64(4)?),
        created_by: row.string(5)?,
        last_used_at: row.opt_i64(6)?.map(Timestamp),
        revoked_at: row.opt_i64(7)?.map(Timestamp),
        revoked_by: row.opt_string(8)?,
    })
}

/// Records the config's token of `agent` (by its hash), once. A token moved to
/// another agent in the config follows it; a revoked one stays revoked.
pub fn record_config(
    conn: &mut dyn Connection,
    agent: &str,
    hash: &str,
    now: Timestamp,
) -> Result<TokenInfo, StoreError> {
    conn.execute(
        "INSERT INTO agent_tokens (agent, hash, source, label, created_at, created_by)
         VALUES ($1, $2, 'config', 'config', $3, 'config')
         ON CONFLICT (hash) DO UPDATE SET agent = excluded.agent
         WHERE agent_tokens.source = 'config'",
        params![agent, hash, now.0],
    )?;
    find(conn, hash)?.ok_or_else(|| StoreError::Database("a recorded token is missing".into()))
}

/// The token with this hash, revoked or not.
pub fn find(conn: &mut dyn Connection, hash: &str) -> Result<Option<TokenInfo>, StoreError> {
    conn.query_one(
        &format!("SELECT {COLUMNS} FROM agent_tokens WHERE hash = $1"),
        params![hash],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub fn get(conn: &mut dyn Connection, id: i64) -> Result<TokenInfo, StoreError> {
    conn.query_one(
        &format!("SELECT {COLUMNS} FROM agent_tokens WHERE id = $1"),
        params![id],
    )?
    .as_ref()
    .map(from_row)
    .transpose()?
    .ok_or_else(|| StoreError::NotFound(format!("token {id}")))
}

/// Every token, of every agent, oldest first.
pub fn list(conn: &mut dyn Connection) -> Result<Vec<TokenInfo>, StoreError> {
    conn.query(
        &format!("SELECT {COLUMNS} FROM agent_tokens ORDER BY agent, id"),
        &[],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Stores a new token of `agent` by its hash.
pub fn issue(
    conn: &mut dyn Connection,
    agent: &str,
    hash: &str,
    label: &str,
    by: &str,
    now: Timestamp,
) -> Result<TokenInfo, StoreError> {
    conn.execute(
        "INSERT INTO agent_tokens (agent, hash, source, label, created_at, created_by)
         VALUES ($1, $2, 'issued', $3, $4, $5)",
        params![agent, hash, label, now.0, by],
    )?;
    find(conn, hash)?.ok_or_else(|| StoreError::Database("an issued token is missing".into()))
}

/// Revokes a token and ends the sessions signed in with it; `false` if it already
/// was revoked.
pub fn revoke(
    conn: &mut dyn Connection,
    id: i64,
    by: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(row) = conn.query_one(
        "UPDATE agent_tokens SET revoked_at = $2, revoked_by = $3
         WHERE id = $1 AND revoked_at IS NULL RETURNING hash",
        params![id, now.0, by],
    )?
    else {
        return Ok(false);
    };
    conn.execute(
        "DELETE FROM agent_sessions WHERE token_hash = $1",
        params![row.string(0)?],
    )?;
    Ok(true)
}

/// Records that the token was used at `now`.
pub fn touch(conn: &mut dyn Connection, id: i64, now: Timestamp) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE agent_tokens SET last_used_at = $2 WHERE id = $1",
        params![id, now.0],
    )?;
    Ok(())
}
