//! Group commit for SQLite's single writer: writes that arrive while one commits wait
//! together, then share one transaction and so one fsync. Each runs in a savepoint of
//! its own, so one that fails is undone alone and the others still commit: to its
//! caller, every write stays its own all-or-nothing transaction.
//!
//! Without it each write paid a full fsync on the one connection: an agent's reply, the
//! dispatcher's claim and its mark were three commits a reply, and the writer spent
//! its time waiting for the disk.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::pool::Pool;
use super::{Connection, StoreError, transact};

/// The most writes one transaction takes: enough to absorb a burst, few enough that a
/// write waits for no more than one batch.
const MAX_GROUP: usize = 256;

/// Hands writes to the writer thread.
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl GroupCommit {
    /// Starts the writer thread on the pool's one connection. The thread ends when the
    /// last handle is dropped.
    pub(crate) fn start(writer: Arc<Pool>) -> Result<GroupCommit, StoreError> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(&writer, &queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the store writer: {e}")))?;
        Ok(GroupCommit { jobs })
    }

    /// Runs `work` in the next group; its result arrives once the group committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Write {
            work,
            result: None,
            reply,
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the store writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Database("the store writer dropped a write".into()))?
    }
}

/// One write waiting in the queue, its type erased.
trait Job: Send {
    /// Runs the work inside the group's transaction and keeps its result.
    fn run(&mut self, conn: &mut dyn Connection);
    /// Whether the kept result is an error, whose changes must be undone.
    fn failed(&self) -> bool;
    /// Drops the kept result: the group did not commit.
    fn forget(&mut self);
    /// Whether the work must run again in a transaction of its own: it collided with
    /// another transaction, or its group did not commit.
    fn wants_retry(&self) -> bool;
    /// Runs the work alone, as an ungrouped write would.
    fn run_alone(&mut self, conn: &mut dyn Connection);
    /// Hands the kept result, or `error` when there is none, to the caller.
    fn finish(self: Box<Self>, error: Option<&StoreError>);
}

struct Write<T, F> {
    work: F,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Write<T, F>
where
    T: Send + 'static,
    F: FnMut(&mut dyn Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &mut dyn Connection) {
        self.result = Some(caught(|| (self.work)(conn)));
    }

    fn failed(&self) -> bool {
        matches!(self.result, Some(Err(_)))
    }

    fn forget(&mut self) {
        self.result = None;
    }

    fn wants_retry(&self) -> bool {
        matches!(self.result, Some(Err(StoreError::Conflict(_))) | None)
    }

    fn run_alone(&mut self, conn: &mut dyn Connection) {
        let result = caught(|| transact(&mut *conn, "BEGIN IMMEDIATE", &mut self.work));
        if result.is_err() {
            // A panic skipped transact's own rollback: leave no transaction open for
            // the next group.
            let _ = conn.execute_script("ROLLBACK");
        }
        self.result = Some(result);
    }

    fn finish(self: Box<Self>, error: Option<&StoreError>) {
        let result = match (self.result, error) {
            (Some(result), _) => result,
            (None, Some(error)) => Err(error.clone()),
            (None, None) => Err(StoreError::Database("the write was not run".into())),
        };
        let _ = self.reply.send(result);
    }
}

/// A panic in a write fails that write only, not the writer thread.
fn caught<T>(work: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|_| Err(StoreError::Database("the store write panicked".into())))
}

fn run(writer: &Pool, queue: &mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match writer.get() {
            Ok(mut conn) => {
                commit(&mut *conn, &mut group);
                drop(conn);
                group.into_iter().for_each(|job| job.finish(None));
            }
            // Each caller sees why the store cannot be written.
            Err(error) => group.into_iter().for_each(|job| job.finish(Some(&error))),
        }
    }
}

/// Runs the group in one transaction, each write in a savepoint; when the transaction
/// itself fails, runs each write alone.
fn commit(conn: &mut dyn Connection, group: &mut [Box<dyn Job>]) {
    let grouped = (|| {
        conn.execute_script("BEGIN IMMEDIATE")?;
        for job in group.iter_mut() {
            conn.execute_script("SAVEPOINT write")?;
            job.run(conn);
            if job.failed() {
                conn.execute_script("ROLLBACK TO write")?;
            }
            conn.execute_script("RELEASE write")?;
        }
        conn.execute_script("COMMIT")
    })();
    if grouped.is_err() {
        let _ = conn.execute_script("ROLLBACK");
        for job in group.iter_mut() {
            job.forget();
        }
    }
    for job in group.iter_mut().filter(|job| job.wants_retry()) {
        job.run_alone(conn);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{StoreError, params, testing};

    /// What one grouped write does after inserting its row.
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Then {
        Commit,
        Fail,
        Panic,
    }

    /// Writes queued behind a slow one share the next group; each still commits or
    /// vanishes on its own: a failed or panicking write leaves no row, the others keep
    /// theirs, and the writer goes on afterwards.
    #[tokio::test]
    async fn a_failing_write_in_a_group_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = testing::sqlite(dir.path()).await.unwrap();
        store
            .write(|conn| conn.execute_script("CREATE TABLE scratch (n INTEGER PRIMARY KEY)"))
            .await
            .unwrap();

        // Holds the writer so that the writes below queue up and go as one group.
        let slow = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write(|conn| {
                        std::thread::sleep(Duration::from_millis(300));
                        conn.execute("INSERT INTO scratch (n) VALUES (1000)", &[])
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let plan: Vec<(i64, Then)> = (0..30)
            .map(|n| {
                let then = match n % 10 {
                    3 => Then::Fail,
                    7 => Then::Panic,
                    _ => Then::Commit,
                };
                (n, then)
            })
            .collect();
        let writes: Vec<_> = plan
            .iter()
            .map(|&(n, then)| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(move |conn| {
                            conn.execute("INSERT INTO scratch (n) VALUES ($1)", params![n])?;
                            match then {
                                Then::Commit => Ok(n),
                                Then::Fail => {
                                    Err(StoreError::Invalid(format!("write {n} refused")))
                                }
                                Then::Panic => panic!("write {n} panicked"),
                            }
                        })
                        .await
                })
            })
            .collect();
        slow.await.unwrap().unwrap();
        let mut results = Vec::new();
        for write in writes {
            results.push(write.await.unwrap());
        }

        for (&(n, then), result) in plan.iter().zip(results) {
            match (then, result) {
                (Then::Commit, Ok(value)) => assert_eq!(value, n),
                (Then::Fail, Err(StoreError::Invalid(text))) => {
                    assert_eq!(text, format!("write {n} refused"))
                }
                (Then::Panic, Err(StoreError::Database(text))) => {
                    assert!(text.contains("panicked"), "{text}")
                }
                (then, result) => panic!("write {n} ({then:?}) returned {result:?}"),
            }
        }
        let stored = store
            .read(|conn| {
                conn.query("SELECT n FROM scratch ORDER BY n", &[])?
                    .iter()
                    .map(|row| row.i64(0))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .unwrap();
        let mut expected: Vec<i64> = plan
            .iter()
            .filter(|(_, then)| *then == Then::Commit)
            .map(|&(n, _)| n)
            .collect();
        expected.push(1000);
        assert_eq!(stored, expected);

        // The writer thread survived the panic.
        store
            .write(|conn| conn.execute("INSERT INTO scratch (n) VALUES (2000)", &[]))
            .await
            .unwrap();
    }
}
