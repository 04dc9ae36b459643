//! The load itself: `concurrency` workers, each sending signed webhooks back to back
//! until the deadline, and the tally of what the gateway answered.

use std::collections::{BTreeMap, HashSet};
use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, StatusCode, Url};
use serde_json::json;
use sha2::Sha256;

/// The signature header of the api channel.
pub const SIGNATURE_HEADER: &str = "X-Switchboard-Signature";

/// How much of a failure answer is kept as a sample for the report.
const SAMPLE_CHARS: usize = 200;

/// What every worker shares.
pub struct Plan {
    client: Client,
    endpoint: Url,
    /// Keyed once; each request signs with a clone.
    mac: Hmac<Sha256>,
    run_id: String,
    customers: u64,
    /// The fraction of requests that resend an already acknowledged message.
    duplicates: f64,
    deadline: tokio::time::Instant,
    /// The number of the next new message.
    next: AtomicU64,
}

impl Plan {
    pub fn new(
        client: Client,
        endpoint: Url,
        secret: &str,
        run_id: String,
        customers: u64,
        duplicates: f64,
        deadline: tokio::time::Instant,
    ) -> Plan {
        Plan {
            client,
            endpoint,
            mac: keyed_mac(secret),
            run_id,
            customers,
            duplicates,
            deadline,
            next: AtomicU64::new(1),
        }
    }
}

/// HMAC-SHA256 accepts keys of any length, so this cannot fail.
pub fn keyed_mac(secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length")
}

/// The signature header value for `body`: `sha256=<lowercase hex>`.
pub fn sign(mac: &Hmac<Sha256>, body: &[u8]) -> String {
    let mut mac = mac.clone();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What the external ids of a run start with.
pub fn external_id_prefix(run_id: &str) -> String {
    format!("lg-{run_id}-")
}

/// The external id of message `n` of a run.
pub fn external_id(run_id: &str, n: u64) -> String {
    format!("{}{n}", external_id_prefix(run_id))
}

/// The webhook body of message `n`. A function of `n` alone, so that a resend is
/// byte for byte the original, as a provider's retry would be.
pub fn body(run_id: &str, n: u64, customers: u64) -> Vec<u8> {
    let k = n % customers;
    json!({
        "external_id": external_id(run_id, n),
        "sender": {"id": format!("customer-{k}"), "name": format!("Load Customer {k}")},
        "conversation": format!("conv-{k}"),
        "text": format!("message {n} of load run {run_id}"),
    })
    .to_string()
    .into_bytes()
}

/// What one worker, then the whole run, saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Round trips of every request that got an answer or an error, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Requests that got an answer or an error (not those cut off at the deadline).
    pub requests: u64,
    /// New messages answered `duplicate: false`.
    pub accepted: u64,
    /// Resends answered `duplicate: true`.
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

    fn fail(&mut self, kind: String, sample: String) {
        *self.failures.entry(kind.clone()).or_default() += 1;
        self.failure_samples
            .entry(kind)
            .or_insert_with(|| sample.chars().take(SAMPLE_CHARS).collect());
    }
}

/// What the gateway made of one request.
enum Answer {
    Stored { duplicate: bool },
    Failed { kind: String, sample: String },
}

/// Runs `concurrency` workers until the plan's deadline; returns their merged tally.
pub async fn run(plan: Arc<Plan>, concurrency: u32) -> anyhow::Result<Tally> {
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        workers.spawn(worker(plan.clone(), SmallRng::from_rng(&mut rand::rng())));
    }
    let mut tally = Tally::default();
    while let Some(result) = workers.join_next().await {
        tally.merge(result?);
    }
    Ok(tally)
}

async fn worker(plan: Arc<Plan>, mut rng: SmallRng) -> Tally {
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
        let started = Instant::now();
        let Ok(answer) = tokio::time::timeout_at(plan.deadline, send(&plan, n)).await else {
            tally.cut_off += 1;
            if !resend {
                tally.cut_off_new.insert(n);
            }
            break;
        };
        tally.latencies_us.push(micros(started.elapsed()));
        tally.requests += 1;
        match (answer, resend) {
            (Answer::Stored { duplicate: false }, false) => {
                tally.accepted += 1;
                tally.acked.push(n);
            }
            (Answer::Stored { duplicate: true }, false) => {
                tally.new_answered_duplicate += 1;
                tally.acked.push(n);
            }
            (Answer::Stored { duplicate: true }, true) => tally.duplicates_acked += 1,
            (Answer::Stored { duplicate: false }, true) => tally.resends_stored_as_new += 1,
            (Answer::Failed { kind, sample }, resend) => {
                if !resend {
                    tally.failed_new.insert(n);
                }
                tally.fail(kind, sample);
            }
        }
    }
    tally
}

fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

async fn send(plan: &Plan, n: u64) -> Answer {
    let body = body(&plan.run_id, n, plan.customers);
    let signature = sign(&plan.mac, &body);
    let response = plan
        .client
        .post(plan.endpoint.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    // Read the whole answer even on failure, so the connection goes back to the pool.
    let (status, bytes) = match response {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(bytes) => (status, bytes),
                Err(e) => return transport_failure(&e),
            }
        }
        Err(e) => return transport_failure(&e),
    };
    let text = || String::from_utf8_lossy(&bytes).into_owned();
    if status != StatusCode::OK {
        return Answer::Failed {
            kind: format!("HTTP {}", status.as_u16()),
            sample: text(),
        };
    }
    match parse_ack(&bytes) {
        Some(duplicate) => Answer::Stored { duplicate },
        None => Answer::Failed {
            kind: "HTTP 200 without an acknowledgement".into(),
            sample: text(),
        },
    }
}

/// The `duplicate` flag of an acknowledgement, if `bytes` is one: a JSON object with
/// a numeric `message_id` and a boolean `duplicate`.
fn parse_ack(bytes: &[u8]) -> Option<bool> {
    let ack: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    ack.get("message_id")?.as_i64()?;
    ack.get("duplicate")?.as_bool()
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

    #[test]
    fn signature_is_hmac_sha256_of_the_raw_body() {
        assert_eq!(
            sign(&keyed_mac("secret"), b"test"),
            "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
        );
    }

    #[test]
    fn body_follows_the_contract_and_is_stable_for_resends() {
        let bytes = body("ab12", 1234, 1000);
        assert_eq!(bytes, body("ab12", 1234, 1000));
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["external_id"], "lg-ab12-1234");
        assert_eq!(value["sender"]["id"], "customer-234");
        assert_eq!(value["sender"]["name"], "Load Customer 234");
        assert_eq!(value["conversation"], "conv-234");
        assert!(value["text"].as_str().unwrap().starts_with("message 1234 "));
    }

    #[test]
    fn acknowledgements_need_a_message_id_and_a_duplicate_flag() {
        let ack =
            br#"{"message_id":1,"ticket_id":1,"ticket_reference":"SB-7K3M9Q","duplicate":false}"#;
        assert_eq!(parse_ack(ack), Some(false));
        assert_eq!(
            parse_ack(br#"{"message_id":7,"duplicate":true}"#),
            Some(true)
        );
        assert_eq!(parse_ack(br#"{"duplicate":true}"#), None);
        assert_eq!(parse_ack(b"OK"), None);
    }
}
