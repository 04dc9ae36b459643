//! Fresh stores for tests: a SQLite file in a temporary directory, or a new database
//! on the PostgreSQL server named by `SWITCHBOARD_TEST_POSTGRES_URL`.

use std::path::Path;

use rand::Rng;

use super::{Store, StoreError, StoreLocation, Synchronous};

/// The environment variable that names a throwaway PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "SWITCHBOARD_TEST_POSTGRES_URL";

/// A SQLite store in `dir`.
pub async fn sqlite(dir: &Path) -> Result<Store, StoreError> {
    Store::open(StoreLocation::Sqlite {
        path: dir.join("switchboard.db"),
        synchronous: Synchronous::Normal,
    })
    .await
}

/// The URL of a new, empty database on the test server.
pub async fn fresh_postgres_url() -> Result<String, StoreError> {
    let admin = std::env::var(POSTGRES_URL_VAR)
        .map_err(|_| StoreError::Unavailable(format!("{POSTGRES_URL_VAR} is not set")))?;
    let name = format!("switchboard_test_{:016x}", rand::rng().random::<u64>());
    let create = format!("CREATE DATABASE {name}");
    let admin_url = admin.clone();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&admin_url, postgres::NoTls)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        client
            .batch_execute(&create)
            .map_err(|e| StoreError::Database(e.to_string()))
    })
    .await
    .map_err(|e| StoreError::Database(e.to_string()))??;
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base.to_owned())
        .unwrap_or(admin);
    Ok(format!("{base}/{name}"))
}

/// A store on a new, empty database on the test server.
pub async fn postgres() -> Result<Store, StoreError> {
    Store::open(StoreLocation::Postgres {
        url: fresh_postgres_url().await?,
        max_connections: 8,
    })
    .await
}
