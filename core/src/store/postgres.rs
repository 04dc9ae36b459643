//! The PostgreSQL backend: the shared store when several gateway nodes serve one
//! inbox. Statements are prepared once per connection; concurrent writers serialize
//! per conversation with transaction-scoped advisory locks.

use std::collections::HashMap;
use std::error::Error as _;

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};

use super::{Connection, Dialect, Row, StoreError, Value};

/// Prepared statements kept per connection.
const MAX_STATEMENTS: usize = 512;

pub(crate) struct PostgresConnection {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PostgresConnection {
    pub(crate) fn open(url: &str) -> Result<Self, StoreError> {
        let client = Client::connect(url, NoTls).map_err(|e| {
            StoreError::Unavailable(format!("cannot connect to PostgreSQL: {}", describe(&e)))
        })?;
        Ok(PostgresConnection {
            client,
            statements: HashMap::new(),
        })
    }

    fn prepare(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        if self.statements.len() >= MAX_STATEMENTS {
            // Starting over is cheap next to a cache that grows with every shape of
            // filter (an IN list of each length) for the life of the connection.
            self.statements.clear();
        }
        let statement = self.client.prepare(sql).map_err(pg_error)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// The server's message, which `postgres::Error`'s Display leaves out.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => match e.source() {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

fn pg_error(e: postgres::Error) -> StoreError {
    let retry = e
        .code()
        .is_some_and(|c| matches!(c.code(), "40001" | "40P01"));
    if retry {
        StoreError::Conflict(describe(&e))
    } else if e.is_closed() {
        StoreError::Unavailable(describe(&e))
    } else {
        StoreError::Database(describe(&e))
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(v) => v.as_str().to_sql(ty, out),
            Value::Blob(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(Vec::<u8>::from_sql(ty, raw)?),
            _ => Value::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn as_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn from_rows(rows: &[postgres::Row]) -> Result<Vec<Row>, StoreError> {
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.try_get::<_, Value>(i).map_err(pg_error))
                .collect::<Result<Vec<_>, _>>()
                .map(Row)
        })
        .collect()
}

impl Connection for PostgresConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let statement = self.prepare(sql)?;
        self.client
            .execute(&statement, &as_params(params))
            .map_err(pg_error)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let statement = self.prepare(sql)?;
        let rows = self
            .client
            .query(&statement, &as_params(params))
            .map_err(pg_error)?;
        from_rows(&rows)
    }

    /// An unnamed statement, which PostgreSQL plans for the values bound to it.
    fn query_planned(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let rows = self
            .client
            .query(sql, &as_params(params))
            .map_err(pg_error)?;
        from_rows(&rows)
    }

    fn execute_script(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).map_err(pg_error)
    }

    /// All keys in one round trip, taken in the order given (callers sort them, so
    /// that concurrent transactions never wait on each other in a cycle).
    fn lock_keys(&mut self, keys: &[i64]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = keys.iter().map(i64::to_string).collect();
        self.execute_script(&format!(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(ARRAY[{}]::bigint[]) AS k",
            list.join(",")
        ))
    }

    fn is_broken(&self) -> bool {
        self.client.is_closed()
    }
}
