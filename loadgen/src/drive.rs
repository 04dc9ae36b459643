//! The load itself: `concurrency` workers, each sending webhooks back to back until
//! the deadline, and the tally of what the gateway answered. What a request holds and
//! what its answer means is the run's [`Shape`]'s business.

use std::collections::{BTreeMap, HashSet};
use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, Url};

use crate::shape::{Answer, Shape};

/// How much of a failure answer is kept as a sample for the report.
const SAMPLE_CHARS: usize = 200;

/// What every worker shares.
pub struct Plan {
    client: Client,
    /// Where to post: several nodes' webhooks, taken by the workers in turn.
    endpoints: Vec<Url>,
    /// What the requests look like, and what their answers mean.
    shape: Arc<dyn Shape>,
    /// The fraction of requests that resend an already acknowledged message.
    duplicates: f64,
    deadline: tokio::time::Instant,
    /// The number of the next new message.
    next: AtomicU64,
}

impl Plan {
    pub fn new(
        client: Client,
        endpoints: Vec<Url>,
        shape: Arc<dyn Shape>,
        duplicates: f64,
        deadline: tokio::time::Instant,
    ) -> Plan {
        Plan {
            client,
            endpoints,
            shape,
            duplicates,
            deadline,
            next: AtomicU64::new(1),
        }
    }
}

/// What one worker, then the whole run, saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Round trips of every request that got an answer or an error, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Requests that got an answer or an error (not those cut off at the deadline).
    pub requests: u64,
    /// New messages acknowledged: answered `duplicate: false`, or with any
    /// acknowledgement where answers carry no duplicate flag (Telegram).
    pub accepted: u64,
    /// Resends acknowledged: answered `duplicate: true`, or with any acknowledgement
    /// where answers carry no duplicate flag.
    pub duplicates_acked: u64,
    /// Resends answered `duplicate: false`: dedupe let one through.
    pub resends_stored_as_new: u64,
    /// Never-sent messages answered `duplicate: true`: the gateway mistook a new
    /// message for a resend, and may have dropped it.
    pub new_answered_duplicate: u64,
    /// Requests cut off at the deadline, new or resends.
    pub cut_off: u64,
    /// Failures by kind (`HTTP 503`, `transport (connect)`, ...).
    pub failures: BTreeMap<String, u64>,
    /// The first answer or error of each failure kind.
    pub failure_samples: BTreeMap<String, String>,
    /// Message numbers whose first send was acknowledged.
    pub acked: Vec<u64>,
    /// New messages cut off at the deadline: they may or may not be stored.
    pub cut_off_new: HashSet<u64>,
    /// New messages whose send failed: stored only if the gateway failed after commit.
    pub failed_new: HashSet<u64>,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.requests += other.requests;
        self.accepted += other.accepted;
        self.duplicates_acked += other.duplicates_acked;
        self.resends_stored_as_new += other.resends_stored_as_new;
        self.new_answered_duplicate += other.new_answered_duplicate;
        self.cut_off += other.cut_off;
        for (kind, count) in other.failures {
            *self.failures.entry(kind).or_default() += count;
        }
        for (kind, sample) in other.failure_samples {
            self.failure_samples.entry(kind).or_insert(sample);
        }
        self.acked.extend(other.acked);
        self.cut_off_new.extend(other.cut_off_new);
        self.failed_new.extend(other.failed_new);
    }

    /// Counts the answer to message `n`, sent new or as a resend.
    fn record(&mut self, n: u64, resend: bool, answer: Answer) {
        self.requests += 1;
        match answer {
            Answer::Stored { duplicate } => match (resend, duplicate) {
                (false, None | Some(false)) => {
                    self.accepted += 1;
                    self.acked.push(n);
                }
                (false, Some(true)) => {
                    self.new_answered_duplicate += 1;
                    self.acked.push(n);
                }
                (true, None | Some(true)) => self.duplicates_acked += 1,
                (true, Some(false)) => self.resends_stored_as_new += 1,
            },
            Answer::Failed { kind, sample } => {
                if !resend {
                    self.failed_new.insert(n);
                }
                self.fail(kind, sample);
            }
        }
    }

    fn fail(&mut self, kind: String, sample: String) {
        *self.failures.entry(kind.clone()).or_default() += 1;
        self.failure_samples
            .entry(kind)
            .or_insert_with(|| sample.chars().take(SAMPLE_CHARS).collect());
    }
}

/// Runs `concurrency` workers until the plan's deadline; returns their merged tally.
pub async fn run(plan: Arc<Plan>, concurrency: u32) -> anyhow::Result<Tally> {
    let mut workers = tokio::task::JoinSet::new();
    for i in 0..concurrency as usize {
        let endpoint = plan.endpoints[i % plan.endpoints.len()].clone();
        workers.spawn(worker(
            plan.clone(),
            endpoint,
            SmallRng::from_rng(&mut rand::rng()),
        ));
    }
    let mut tally = Tally::default();
    while let Some(result) = workers.join_next().await {
        tally.merge(result?);
    }
    Ok(tally)
}

async fn worker(plan: Arc<Plan>, endpoint: Url, mut rng: SmallRng) -> Tally {
    let mut tally = Tally::default();
    // Resends pick from this worker's own acknowledged messages: no locking, and
    // across 64 workers the picks are still spread over the whole run.
    while tokio::time::Instant::now() < plan.deadline {
        let resend = !tally.acked.is_empty() && rng.random_bool(plan.duplicates);
        let n = if resend {
            tally.acked[rng.random_range(0..tally.acked.len())]
        } else {
            plan.next.fetch_add(1, Ordering::Relaxed)
        };
        // Only a kind with 32-bit ids has a last number (Telegram: 2^30, hours of load).
        if n > plan.shape.last_message() {
            break;
        }
        let started = Instant::now();
        let Ok(answer) = tokio::time::timeout_at(plan.deadline, send(&plan, &endpoint, n)).await
        else {
            tally.cut_off += 1;
            if !resend {
                tally.cut_off_new.insert(n);
            }
            break;
        };
        tally.latencies_us.push(micros(started.elapsed()));
        tally.record(n, resend, answer);
    }
    tally
}

fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

async fn send(plan: &Plan, endpoint: &Url, n: u64) -> Answer {
    let request = plan.shape.request(n);
    let response = plan
        .client
        .post(endpoint.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(request.auth_header, request.auth_value)
        .body(request.body)
        .send()
        .await;
    // Read the whole answer even on failure, so the connection goes back to the pool.
    match response {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(bytes) => plan.shape.answer(status, &bytes),
                Err(e) => transport_failure(&e),
            }
        }
        Err(e) => transport_failure(&e),
    }
}

fn transport_failure(error: &reqwest::Error) -> Answer {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    };
    // reqwest's own message is terse; the cause (reset, refused, ...) is in the chain.
    let mut sample = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        sample.push_str(": ");
        sample.push_str(&cause.to_string());
        source = cause.source();
    }
    Answer::Failed {
        kind: format!("transport ({kind})"),
        sample,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(duplicate: Option<bool>) -> Answer {
        Answer::Stored { duplicate }
    }

    #[test]
    fn answers_with_a_duplicate_flag_are_checked_against_what_was_sent() {
        let mut tally = Tally::default();
        tally.record(1, false, stored(Some(false)));
        tally.record(1, true, stored(Some(true)));
        tally.record(1, true, stored(Some(false)));
        tally.record(2, false, stored(Some(true)));
        assert_eq!(tally.requests, 4);
        assert_eq!(
            (
                tally.accepted,
                tally.duplicates_acked,
                tally.resends_stored_as_new,
                tally.new_answered_duplicate
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(tally.acked, [1, 2]);
    }

    #[test]
    fn answers_without_a_flag_acknowledge_new_messages_and_resends_alike() {
        let mut tally = Tally::default();
        tally.record(1, false, stored(None));
        tally.record(2, false, stored(None));
        tally.record(1, true, stored(None));
        assert_eq!(
            (
                tally.accepted,
                tally.duplicates_acked,
                tally.resends_stored_as_new,
                tally.new_answered_duplicate
            ),
            (2, 1, 0, 0)
        );
        assert_eq!(tally.acked, [1, 2]);
    }

    #[test]
    fn failures_count_by_kind_and_remember_failed_new_messages() {
        let mut tally = Tally::default();
        let failed = |kind: &str| Answer::Failed {
            kind: kind.into(),
            sample: "x".repeat(500),
        };
        tally.record(3, false, failed("HTTP 401 (wrong secret)"));
        tally.record(1, true, failed("HTTP 401 (wrong secret)"));
        tally.record(4, false, failed("HTTP 503"));
        assert_eq!(tally.requests, 3);
        assert_eq!(tally.failures["HTTP 401 (wrong secret)"], 2);
        assert_eq!(tally.failures["HTTP 503"], 1);
        assert_eq!(tally.failure_samples["HTTP 503"].len(), SAMPLE_CHARS);
        assert_eq!(tally.failed_new, HashSet::from([3, 4]));
        assert!(tally.acked.is_empty());
    }
}
