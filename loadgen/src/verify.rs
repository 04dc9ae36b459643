//! `--verify-store`: after the run, reads the gateway's store and checks that every
//! acknowledged message is there exactly once.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use anyhow::{Context, bail};
use switchboard_core::store::{Store, StoreLocation, Synchronous, Value};

use crate::drive::{Tally, external_id, external_id_prefix};

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
    /// Stored with this run's prefix but never sent by it.
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
    run_id: &str,
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
    let params = [
        Value::from(channel),
        Value::from(format!("{}%", external_id_prefix(run_id))),
    ];
    let rows = store
        .read(move |conn| {
            conn.query(
                "SELECT external_id, COUNT(*) FROM messages \
                 WHERE channel = $1 AND direction = 'inbound' AND external_id LIKE $2 \
                 GROUP BY external_id",
                &params,
            )
        })
        .await
        .context("cannot read the run's messages")?;
    let mut stored = HashMap::with_capacity(rows.len());
    for row in rows {
        stored.insert(row.string(0)?, row.i64(1)?);
    }
    Ok(compare(run_id, tally, &stored))
}

/// The comparison itself, apart from the store.
fn compare(run_id: &str, tally: &Tally, stored: &HashMap<String, i64>) -> Verification {
    let acked: HashSet<u64> = tally.acked.iter().copied().collect();
    let prefix = external_id_prefix(run_id);
    let mut verification = Verification {
        acknowledged: acked.len(),
        found: 0,
        missing: 0,
        missing_examples: Vec::new(),
        stored_more_than_once: stored.values().filter(|&&count| count > 1).count(),
        unacknowledged_cut_off: 0,
        unacknowledged_after_failure: 0,
        unacknowledged_unknown: 0,
    };
    let mut stored_numbers = HashSet::with_capacity(stored.len());
    for external_id in stored.keys() {
        let n = external_id
            .strip_prefix(&prefix)
            .and_then(|n| n.parse::<u64>().ok());
        match n {
            Some(n) if acked.contains(&n) => {}
            Some(n) if tally.cut_off_new.contains(&n) => verification.unacknowledged_cut_off += 1,
            Some(n) if tally.failed_new.contains(&n) => {
                verification.unacknowledged_after_failure += 1
            }
            _ => verification.unacknowledged_unknown += 1,
        }
        stored_numbers.extend(n);
    }
    let mut missing: Vec<u64> = acked.difference(&stored_numbers).copied().collect();
    missing.sort_unstable();
    verification.found = acked.len() - missing.len();
    verification.missing = missing.len();
    verification.missing_examples = missing
        .iter()
        .take(EXAMPLES)
        .map(|&n| external_id(run_id, n))
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

    #[test]
    fn compares_acknowledged_with_stored() {
        let tally = Tally {
            acked: vec![1, 2, 3],
            cut_off_new: HashSet::from([4]),
            failed_new: HashSet::from([5]),
            ..Tally::default()
        };
        let stored = HashMap::from([
            ("lg-r1-1".to_owned(), 1),
            ("lg-r1-3".to_owned(), 2),
            ("lg-r1-4".to_owned(), 1),
            ("lg-r1-5".to_owned(), 1),
            ("lg-r1-x".to_owned(), 1),
        ]);
        let v = compare("r1", &tally, &stored);
        assert_eq!((v.acknowledged, v.found, v.missing), (3, 2, 1));
        assert_eq!(v.missing_examples, ["lg-r1-2"]);
        assert_eq!(v.stored_more_than_once, 1);
        assert_eq!(v.unacknowledged_cut_off, 1);
        assert_eq!(v.unacknowledged_after_failure, 1);
        assert_eq!(v.unacknowledged_unknown, 1);
        assert!(!v.ok());
    }
}
