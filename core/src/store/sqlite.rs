//! The SQLite backend: the embedded default. One writer connection (SQLite takes one
//! writer at a time; group commit makes that one fast) and a few readers, which WAL
//! lets run beside the writer.

use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::{Connection, Dialect, Row, StoreError, Value};

pub(crate) struct SqliteConnection(rusqlite::Connection);

/// How hard SQLite syncs a commit to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync on every commit: a power cut loses nothing acknowledged.
    Full,
    /// fsync at checkpoints: a process crash loses nothing, a power cut may lose the
    /// last commits.
    Normal,
}

impl SqliteConnection {
    pub(crate) fn open(path: &Path, synchronous: Synchronous) -> Result<Self, StoreError> {
        let conn = rusqlite::Connection::open(path).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot open SQLite database {}: {e}",
                path.display()
            ))
        })?;
        let sync = match synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {sync};
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 10000;"
        ))
        .map_err(db_error)?;
        // rusqlite clears a cached statement's bindings when it goes back to the cache,
        // and without the query planner stability guarantee SQLite then re-plans the
        // statement on its next use: every store query took about 15 µs instead of 1.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(db_error)?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(SqliteConnection(conn))
    }
}

/// Queries are written once with PostgreSQL's `$1` placeholders; SQLite reads `?1` as
/// the same numbered parameter.
fn to_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

fn from_sqlite(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Int(v),
        ValueRef::Real(v) => Value::Int(v as i64),
        ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => Value::Blob(v.to_vec()),
    }
}

impl Connection for SqliteConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut statement = self.0.prepare_cached(&to_sqlite(sql)).map_err(db_error)?;
        let changed = statement
            .execute(rusqlite::params_from_iter(params))
            .map_err(db_error)?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.0.prepare_cached(&to_sqlite(sql)).map_err(db_error)?;
        let columns = statement.column_count();
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .map_err(db_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(from_sqlite(row.get_ref(i).map_err(db_error)?));
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute_script(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql).map_err(db_error)
    }

    fn is_broken(&self) -> bool {
        false
    }
}
