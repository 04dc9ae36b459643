//! The store: every ticket, message, contact and outbox entry, in SQLite (the embedded
//! default) or PostgreSQL (shared by several nodes).
//!
//! SQL is written once, with `$1` placeholders and the value types of [`Value`], and
//! runs on both backends; a backend is a [`Connection`] implementation plus its pool
//! layout. Store work is synchronous and runs on tokio's blocking threads, so that
//! SQLite's fast in-process calls stay fast and one ingest batch is one transaction
//! without an await between its statements.

mod group;
mod migrate;
mod pool;
mod postgres;
pub mod queries;
mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod value;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use group::GroupCommit;
use pool::Pool;
pub use sqlite::Synchronous;
pub(crate) use value::params;
pub use value::{Row, Value};

/// What went wrong in the store.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The database cannot be reached or opened.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Two transactions collided (deadlock, serialization); the work can be retried.
    #[error("store conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("unexpected data in the store: {0}")]
    Decode(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The request contradicts what is stored (e.g. replying on a closed ticket's
    /// deleted channel); the text is for the caller.
    #[error("{0}")]
    Invalid(String),
}

/// The SQL dialect of a backend, for the few places where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    /// What a claiming `SELECT` ends with so that concurrent claimers take
    /// different rows: PostgreSQL skips rows another transaction locked; SQLite runs
    /// one writer at a time and needs nothing.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }
}

/// One database connection of a backend.
pub trait Connection: Send {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Runs a query planned for these very values, not with the generic plan that a
    /// statement prepared once may fall back to: for the few queries whose best plan
    /// depends on the values (full-text search on PostgreSQL). SQLite plans for the
    /// values anyway.
    fn query_planned(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        self.query(sql, params)
    }
    /// Runs several statements without parameters (migrations, BEGIN/COMMIT).
    fn execute_script(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Serializes this transaction against others holding any of `keys`, until commit.
    /// SQLite has one writer at a time already.
    fn lock_keys(&mut self, keys: &[i64]) -> Result<(), StoreError> {
        let _ = keys;
        Ok(())
    }
    /// Whether the connection died and must not go back to the pool.
    fn is_broken(&self) -> bool;
}

impl dyn Connection + '_ {
    pub fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// Where the store lives, from the config.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite {
        path: PathBuf,
        synchronous: Synchronous,
    },
    /// A PostgreSQL URL (`postgres://user:pass@host:port/db`).
    Postgres { url: String, max_connections: usize },
}

/// The store handle: cheap to clone, safe to share.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Backends>,
}

struct Backends {
    dialect: Dialect,
    /// SQLite: the single writer connection. PostgreSQL: the one pool.
    writer: Arc<Pool>,
    /// SQLite: the thread that group-commits the writes on `writer`.
    group: Option<GroupCommit>,
    /// SQLite: read-only work beside the writer. PostgreSQL: `None`, reads use `writer`.
    readers: Option<Pool>,
    /// PostgreSQL: where it is, for connections of their own (listening for notices).
    postgres_url: Option<String>,
}

/// How often a transaction that collided with another is tried again.
const CONFLICT_RETRIES: usize = 5;

impl Store {
    /// Opens the store and brings its schema up to date.
    pub async fn open(location: StoreLocation) -> Result<Store, StoreError> {
        tokio::task::spawn_blocking(move || Store::open_blocking(location))
            .await
            .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }

    fn open_blocking(location: StoreLocation) -> Result<Store, StoreError> {
        let backends = match location {
            StoreLocation::Sqlite { path, synchronous } => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                let connect = |path: PathBuf| -> Box<dyn Fn() -> _ + Send + Sync> {
                    Box::new(move || {
                        sqlite::SqliteConnection::open(&path, synchronous)
                            .map(|c| Box::new(c) as Box<dyn Connection>)
                    })
                };
                let writer = Arc::new(Pool::new(1, connect(path.clone())));
                Backends {
                    dialect: Dialect::Sqlite,
                    group: Some(GroupCommit::start(writer.clone())?),
                    writer,
                    readers: Some(Pool::new(4, connect(path))),
                    postgres_url: None,
                }
            }
            StoreLocation::Postgres {
                url,
                max_connections,
            } => Backends {
                dialect: Dialect::Postgres,
                postgres_url: Some(url.clone()),
                writer: Arc::new(Pool::new(
                    max_connections,
                    Box::new(move || {
                        postgres::PostgresConnection::open(&url)
                            .map(|c| Box::new(c) as Box<dyn Connection>)
                    }),
                )),
                group: None,
                readers: None,
            },
        };
        let store = Store {
            inner: Arc::new(backends),
        };
        let mut conn = store.inner.writer.get()?;
        migrate::run(&mut *conn)?;
        drop(conn);
        Ok(store)
    }

    /// Opens a SQLite store at `path` with the durable defaults.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        Store::open(StoreLocation::Sqlite {
            path: path.to_owned(),
            synchronous: Synchronous::Full,
        })
        .await
    }

    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// The PostgreSQL URL, on PostgreSQL (it holds the password: never log it).
    pub(crate) fn postgres_url(&self) -> Option<String> {
        self.inner.postgres_url.clone()
    }

    /// Runs read-only work on a connection.
    pub async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let pool = inner.readers.as_ref().unwrap_or(&inner.writer);
            let mut conn = pool.get()?;
            work(&mut *conn)
        })
        .await
    }

    /// Runs `work` in one transaction: all of it commits, or none of it. Collisions
    /// with other transactions (PostgreSQL deadlocks) are retried from the start. On
    /// SQLite, writes that arrive together commit together (group commit), each still
    /// all or nothing.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Connection) -> Result<T, StoreError> + Send + 'static,
    {
        if let Some(group) = &self.inner.group {
            return group.write(work).await;
        }
        let inner = self.inner.clone();
        run_blocking(move || inner.write_blocking(work)).await
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query("SELECT 1", &[]).map(|_| ()))
            .await
    }
}

impl Backends {
    /// PostgreSQL's write: SQLite's go through the group commit.
    fn write_blocking<T>(
        &self,
        mut work: impl FnMut(&mut dyn Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.writer.get()?;
        transact(&mut *conn, "BEGIN", &mut work)
    }
}

/// Runs `work` in a transaction opened with `begin`, again from the start when it
/// collided with another (a PostgreSQL deadlock or serialization failure).
fn transact<T>(
    conn: &mut dyn Connection,
    begin: &str,
    work: &mut impl FnMut(&mut dyn Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        conn.execute_script(begin)?;
        let result = work(&mut *conn).and_then(|value| {
            conn.execute_script("COMMIT")?;
            Ok(value)
        });
        match result {
            Ok(value) => return Ok(value),
            Err(error) => {
                let _ = conn.execute_script("ROLLBACK");
                if !matches!(error, StoreError::Conflict(_)) || attempt >= CONFLICT_RETRIES {
                    return Err(error);
                }
            }
        }
    }
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Database(format!("store task failed: {e}")))?
}
