//! Schema migrations, one numbered script per backend and version, applied in order
//! inside a transaction and recorded in `schema_migrations`.

use super::{Connection, Dialect, StoreError, params};

/// (version, SQLite script, PostgreSQL script). Append; never edit a released one.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    include_str!("schema/sqlite/0001_init.sql"),
    include_str!("schema/postgres/0001_init.sql"),
)];

/// An arbitrary constant: the advisory lock that keeps two PostgreSQL nodes starting
/// at once from migrating twice.
const MIGRATION_LOCK: i64 = 0x5357_4254_4348;

pub(crate) fn run(conn: &mut dyn Connection) -> Result<(), StoreError> {
    conn.execute_script(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )",
    )?;
    for (version, sqlite, postgres) in MIGRATIONS {
        conn.execute_script("BEGIN")?;
        let result = apply(conn, *version, sqlite, postgres);
        match result {
            Ok(()) => conn.execute_script("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_script("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(())
}

fn apply(
    conn: &mut dyn Connection,
    version: i64,
    sqlite: &str,
    postgres: &str,
) -> Result<(), StoreError> {
    conn.lock_keys(&[MIGRATION_LOCK])?;
    let applied = conn
        .query_one(
            "SELECT version FROM schema_migrations WHERE version = $1",
            params![version],
        )?
        .is_some();
    if applied {
        return Ok(());
    }
    let script = match conn.dialect() {
        Dialect::Sqlite => sqlite,
        Dialect::Postgres => postgres,
    };
    conn.execute_script(script)
        .map_err(|e| StoreError::Database(format!("migration {version} failed: {e}")))?;
    conn.execute(
        "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
        params![version, crate::model::Timestamp::now().0],
    )?;
    Ok(())
}
