//! `--verify-store`: after the run, reads the gateway's store and checks that every
//! acknowledged message is there exactly once.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use anyhow::{Context, bail};
use switchboard_core::store::{Store, StoreLocation, Synchronous, Value};

use crate::drive::Tally;
use crate::shape::{Claim, Selection, Shape};

/// Examples of missing external ids kept for the report.
const EXAMPLES: usize = 10;

/// A parsed `--verify-store` value.
#[derive(Debug, Clone)]
pub struct StoreSpec {
    /// The value as given, with any password hidden: for the report.
    pub shown: String,
    pub location: StoreLocation,
}

/// Parses `sqlite:PATH` or a `postgres://` (or `postgresql://`) URL.
pub fn parse_store(value: &str) -> Result<StoreSpec, String> {
    let location = if let Some(path) = value.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err("sqlite: needs a path, as in sqlite:./data/switchboard.db".into());
        }
        StoreLocation::Sqlite {
            path: PathBuf::from(path),
            // Only reads happen here; the gateway decides how its writes are synced.
            synchronous: Synchronous::Normal,
        }
    } else if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        StoreLocation::Postgres {
            url: value.to_owned(),
            max_connections: 1,
        }
    } else {
        return Err("expected sqlite:PATH or a postgres:// URL".into());
    };
    Ok(StoreSpec {
        shown: crate::redact_url_password(value),
        location,
    })
}

/// What the store holds of a run, against what the gateway acknowledged.
#[derive(Debug)]
pub struct Verification {
    pub acknowledged: usize,
    /// Acknowledged and stored.
    pub found: usize,
    /// Acknowledged but not stored: lost messages.
    pub missing: usize,
    pub missing_examples: Vec<String>,
    /// External ids stored more than once (the unique constraint should forbid it).
    pub stored_more_than_once: usize,
    /// Stored but never acknowledged, by what happened to their request.
    pub unacknowledged_cut_off: usize,
    pub unacknowledged_after_failure: usize,
    /// Stored under one of this run's ids (its prefix, its Telegram chats) but never
    /// sent by it.
    pub unacknowledged_unknown: usize,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.stored_more_than_once == 0
    }

    pub fn stored_unacknowledged(&self) -> usize {
        self.unacknowledged_cut_off
            + self.unacknowledged_after_failure
            + self.unacknowledged_unknown
    }
}

/// Reads the run's messages on `channel` from the store and compares.
pub async fn verify(
    spec: &StoreSpec,
    channel: &str,
    shape: &dyn Shape,
    tally: &Tally,
) -> anyhow::Result<Verification> {
    if let StoreLocation::Sqlite { path, .. } = &spec.location {
        // Opening a missing file would create an empty store and report every
        // message missing; say what is wrong instead.
        if !path.exists() {
            bail!("no SQLite database at {}", path.display());
        }
    }
    let store = Store::open(spec.location.clone())
        .await
        .with_context(|| format!("cannot open the store {}", spec.shown))?;
    let (condition, params) = match shape.selection() {
        // The prefix is the run id's hex: no LIKE wildcard in it.
        Selection::Prefix(prefix) => (
            "external_id LIKE $2",
            vec![Value::from(channel), Value::from(format!("{prefix}%"))],
        ),
        // A range of (channel, external_id), the unique index: SQLite and PostgreSQL
        // both read just that stretch of it, however many messages the store holds.
        Selection::Range { from, to } => (
            "external_id >= $2 AND external_id < $3",
            vec![Value::from(channel), Value::from(from), Value::from(to)],
        ),
    };
    let sql = format!(
        "SELECT external_id, COUNT(*) FROM messages \
         WHERE channel = $1 AND direction = 'inbound' AND {condition} \
         GROUP BY external_id"
    );
    let rows = store
        .read(move |conn| conn.query(&sql, &params))
        .await
        .context("cannot read the run's messages")?;
    let mut stored = HashMap::with_capacity(rows.len());
    for row in rows {
        stored.insert(row.string(0)?, row.i64(1)?);
    }
    Ok(compare(shape, tally, &stored))
}

/// The comparison itself, apart from the store. `stored` counts copies by external id.
fn compare(shape: &dyn Shape, tally: &Tally, stored: &HashMap<String, i64>) -> Verification {
    let acked: HashSet<u64> = tally.acked.iter().copied().collect();
    let mut verification = Verification {
        acknowledged: acked.len(),
        found: 0,
        missing: 0,
        missing_examples: Vec::new(),
        stored_more_than_once: 0,
        unacknowledged_cut_off: 0,
        unacknowledged_after_failure: 0,
        unacknowledged_unknown: 0,
    };
    let mut stored_numbers = HashSet::with_capacity(stored.len());
    for (external_id, &count) in stored {
        let claim = shape.claim(external_id);
        match claim {
            Claim::Foreign => continue,
            Claim::Message(n) if acked.contains(&n) => {}
            Claim::Message(n) if tally.cut_off_new.contains(&n) => {
                verification.unacknowledged_cut_off += 1
            }
            Claim::Message(n) if tally.failed_new.contains(&n) => {
                verification.unacknowledged_after_failure += 1
            }
            Claim::Message(_) | Claim::Unknown => verification.unacknowledged_unknown += 1,
        }
        if let Claim::Message(n) = claim {
            stored_numbers.insert(n);
        }
        if count > 1 {
            verification.stored_more_than_once += 1;
        }
    }
    let mut missing: Vec<u64> = acked.difference(&stored_numbers).copied().collect();
    missing.sort_unstable();
    verification.found = acked.len() - missing.len();
    verification.missing = missing.len();
    verification.missing_examples = missing
        .iter()
        .take(EXAMPLES)
        .map(|&n| shape.external_id(n))
        .collect();
    verification
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_paths_and_postgres_urls() {
        let spec = parse_store("sqlite:./data/switchboard.db").unwrap();
        assert!(matches!(
            spec.location,
            StoreLocation::Sqlite { ref path, .. } if path == &PathBuf::from("./data/switchboard.db")
        ));
        let spec = parse_store("postgres://sb:hunter2@127.0.0.1:5432/switchboard").unwrap();
        assert!(matches!(
            spec.location,
            StoreLocation::Postgres { ref url, .. } if url.contains("hunter2")
        ));
        assert_eq!(spec.shown, "postgres://sb:***@127.0.0.1:5432/switchboard");
        assert!(parse_store("postgresql://127.0.0.1/sb").is_ok());
        assert!(parse_store("sqlite:").is_err());
        assert!(parse_store("./data/switchboard.db").is_err());
        assert!(parse_store("mysql://127.0.0.1/sb").is_err());
    }

    use crate::shape::{self, Kind, Run};
    use switchboard_core::store::testing;

    fn shape(kind: Kind, run_id: &str, customers: u64) -> Box<dyn Shape> {
        shape::build(
            kind,
            Run {
                secret: "bench-secret",
                id: run_id,
                customers,
                started_unix: 1_700_000_000,
                phone_number_id: None,
            },
        )
        .unwrap()
    }

    /// Messages 1-3 acknowledged, 4 cut off at the deadline, 5 failed.
    fn tally() -> Tally {
        Tally {
            acked: vec![1, 2, 3],
            cut_off_new: HashSet::from([4]),
            failed_new: HashSet::from([5]),
            ..Tally::default()
        }
    }

    #[test]
    fn compares_acknowledged_with_stored() {
        let stored = HashMap::from([
            ("lg-r1-1".to_owned(), 1),
            ("lg-r1-3".to_owned(), 2),
            ("lg-r1-4".to_owned(), 1),
            ("lg-r1-5".to_owned(), 1),
            ("lg-r1-x".to_owned(), 1),
        ]);
        let v = compare(&*shape(Kind::Api, "r1", 1000), &tally(), &stored);
        assert_eq!((v.acknowledged, v.found, v.missing), (3, 2, 1));
        assert_eq!(v.missing_examples, ["lg-r1-2"]);
        assert_eq!(v.stored_more_than_once, 1);
        assert_eq!(v.unacknowledged_cut_off, 1);
        assert_eq!(v.unacknowledged_after_failure, 1);
        assert_eq!(v.unacknowledged_unknown, 1);
        assert!(!v.ok());
    }

    #[test]
    fn compares_telegram_ids_and_leaves_out_other_chats() {
        let shape = shape(Kind::Telegram, "r1", 3);
        let id = |n| shape.external_id(n);
        // Message 3 went to the run's first chat.
        let first: u64 = id(3).split_once(':').unwrap().0.parse().unwrap();
        let stored = HashMap::from([
            (id(1), 1),
            (id(3), 2),
            (id(4), 1),
            (id(5), 1),
            (id(99), 1),
            (format!("{first}:x"), 1),
            (format!("{}:2", first - 1), 3),
            (format!("{}:2", first + 3), 1),
        ]);
        let v = compare(&*shape, &tally(), &stored);
        assert_eq!((v.acknowledged, v.found, v.missing), (3, 2, 1));
        assert_eq!(v.missing_examples, [id(2)]);
        assert_eq!(v.stored_more_than_once, 1);
        assert_eq!(v.unacknowledged_cut_off, 1);
        assert_eq!(v.unacknowledged_after_failure, 1);
        assert_eq!(v.unacknowledged_unknown, 2);
    }

    /// Stores inbound messages under these (channel, external id) pairs, and each
    /// external id once more as an outbound message on the same channel.
    async fn store_messages(store: &Store, rows: Vec<(&'static str, String)>) {
        store
            .write(move |conn| {
                let id = |conn: &mut dyn switchboard_core::store::Connection, sql, params| {
                    conn.query_one(sql, params)?.expect("RETURNING id").i64(0)
                };
                let contact = id(
                    conn,
                    "INSERT INTO contacts (created_at, updated_at) VALUES (0, 0) RETURNING id",
                    &[],
                )?;
                let ticket = id(
                    conn,
                    "INSERT INTO tickets (reference, status, priority, channel, conversation, \
                     contact_id, created_at, updated_at, last_message_at) \
                     VALUES ('SB-TEST', 'open', 'normal', 'test', 'test', $1, 0, 0, 0) RETURNING id",
                    &[Value::from(contact)],
                )?;
                for (channel, external_id) in &rows {
                    for (direction, external_id) in [
                        ("inbound", external_id.clone()),
                        ("outbound", format!("out-{external_id}")),
                    ] {
                        conn.execute(
                            "INSERT INTO messages (ticket_id, direction, channel, external_id, \
                             conversation, author, body, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, 'test', 'test', 'test', 0, 0)",
                            &[
                                Value::from(ticket),
                                Value::from(direction),
                                Value::from(*channel),
                                Value::from(external_id),
                            ],
                        )?;
                    }
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Runs the store check of both kinds on a store holding other runs' messages too.
    async fn check_store(spec: StoreSpec) {
        let store = Store::open(spec.location.clone()).await.unwrap();
        let telegram = shape(Kind::Telegram, "r1", 3);
        let other = shape(Kind::Telegram, "r2", 3);
        let api = shape(Kind::Api, "r1", 3);
        let mut rows = Vec::new();
        for n in [1, 3, 4, 5] {
            rows.push(("telegram", telegram.external_id(n)));
            rows.push(("api", api.external_id(n)));
        }
        for n in 1..=5 {
            rows.push(("telegram", other.external_id(n)));
            // The run's own ids on another channel are not the run's messages.
            rows.push(("telegram-2", telegram.external_id(n)));
        }
        rows.push(("api", "lg-r2-2".into()));
        rows.push(("api", "lg-r1-x".into()));
        store_messages(&store, rows).await;

        for (channel, shape, unknown) in [("telegram", &telegram, 0), ("api", &api, 1)] {
            let v = verify(&spec, channel, &**shape, &tally()).await.unwrap();
            assert_eq!((v.acknowledged, v.found, v.missing), (3, 2, 1), "{channel}");
            assert_eq!(v.missing_examples, [shape.external_id(2)], "{channel}");
            assert_eq!(v.stored_more_than_once, 0, "{channel}");
            assert_eq!(v.unacknowledged_cut_off, 1, "{channel}");
            assert_eq!(v.unacknowledged_after_failure, 1, "{channel}");
            assert_eq!(v.unacknowledged_unknown, unknown, "{channel}");
        }
    }

    #[tokio::test]
    async fn selects_exactly_the_runs_messages_on_sqlite() {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-loadgen-test-{:016x}",
            rand::random::<u64>()
        ));
        let spec = parse_store(&format!("sqlite:{}", dir.join("switchboard.db").display()));
        check_store(spec.unwrap()).await;
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs under `scripts/with-postgres`; passes without a server.
    #[tokio::test]
    async fn selects_exactly_the_runs_messages_on_postgres() {
        if std::env::var_os(testing::POSTGRES_URL_VAR).is_none() {
            eprintln!("{} is not set: skipped", testing::POSTGRES_URL_VAR);
            return;
        }
        let url = testing::fresh_postgres_url().await.unwrap();
        check_store(parse_store(&url).unwrap()).await;
    }
}
