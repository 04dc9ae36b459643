//! A small blocking connection pool. Store work runs on tokio's blocking threads, so a
//! plain mutex and condvar are enough; connections that broke are dropped, not reused.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::{Connection, StoreError};

type Connect = Box<dyn Fn() -> Result<Box<dyn Connection>, StoreError> + Send + Sync>;

pub(crate) struct Pool {
    state: Mutex<PoolState>,
    returned: Condvar,
    max: usize,
    connect: Connect,
}

struct PoolState {
    idle: Vec<Box<dyn Connection>>,
    open: usize,
}

/// How long a caller waits for a free connection before the store reports itself
/// unavailable.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

impl Pool {
    pub(crate) fn new(max: usize, connect: Connect) -> Self {
        Pool {
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
            max: max.max(1),
            connect,
        }
    }

    pub(crate) fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Pooled {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match (self.connect)() {
                    Ok(conn) => Ok(Pooled {
                        pool: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.state.lock().unwrap_or_else(|e| e.into_inner()).open -= 1;
                        Err(e)
                    }
                };
            }
            let (next, timeout) = self
                .returned
                .wait_timeout(state, CHECKOUT_TIMEOUT)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            if timeout.timed_out() && state.idle.is_empty() {
                return Err(StoreError::Unavailable(
                    "timed out waiting for a free database connection".into(),
                ));
            }
        }
    }
}

impl Drop for Pool {
    /// Closes the idle connections on a plain thread: the PostgreSQL client blocks on
    /// its own runtime when dropped, which tokio forbids on an async worker.
    fn drop(&mut self) {
        let idle =
            std::mem::take(&mut self.state.get_mut().unwrap_or_else(|e| e.into_inner()).idle);
        if !idle.is_empty() {
            std::thread::spawn(move || drop(idle));
        }
    }
}

/// A checked-out connection; goes back to the pool on drop unless it broke.
pub(crate) struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Box<dyn Connection>>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = dyn Connection;
    fn deref(&self) -> &Self::Target {
        self.conn.as_deref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn
            .as_deref_mut()
            .expect("connection present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let mut state = self.pool.state.lock().unwrap_or_else(|e| e.into_inner());
        if conn.is_broken() {
            state.open -= 1;
        } else {
            state.idle.push(conn);
        }
        drop(state);
        self.pool.returned.notify_one();
    }
}
