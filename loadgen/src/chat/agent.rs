//! The agents' side: for each active chat, once its ticket exists, a reply every
//! `every` through the agent API (`POST /api/v1/tickets/{ref}/replies`), with at most
//! `in_flight` requests at once over all chats. Each accepted reply is remembered
//! with when its request went and when the 202 came, to match with its arrival at
//! the chat's socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{Client, Url};
use tokio::sync::{Semaphore, watch};

use super::customer::reply_text;
use super::socket::Failures;

/// What every agent task shares.
pub struct Desk {
    pub client: Client,
    /// The gateway's base URL.
    pub base: Url,
    pub token: String,
    pub run_id: String,
    /// From one reply to the next, per chat; zero: back to back.
    pub every: Duration,
    /// Requests in flight at once, over all chats.
    pub in_flight: Semaphore,
    /// The number of the next reply.
    pub next: AtomicU64,
    /// Replies answered 202 so far.
    pub accepted: AtomicU64,
}

/// A reply the API accepted.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    pub n: u64,
    pub chat: u32,
    /// Just before the request went.
    pub posted: Instant,
    /// When the 202 came.
    pub answered: Instant,
}

#[derive(Debug, Default)]
pub struct AgentTally {
    pub accepted: Vec<Accepted>,
    /// Request round trips of accepted replies, in microseconds.
    pub round_trip_us: Vec<u32>,
    /// Replies not accepted, by answer; these may still be queued (a timeout).
    pub failures: Failures,
    pub failed: Vec<u64>,
}

impl AgentTally {
    pub fn merge(&mut self, other: AgentTally) {
        self.accepted.extend(other.accepted);
        self.round_trip_us.extend(other.round_trip_us);
        self.failures.merge(other.failures);
        self.failed.extend(other.failed);
    }
}

/// The replies to one chat: from its first `ack` (its ticket's reference) until
/// `deadline`.
pub async fn agent(
    desk: Arc<Desk>,
    chat: u32,
    mut reference: watch::Receiver<Option<String>>,
    deadline: Instant,
) -> AgentTally {
    let mut tally = AgentTally::default();
    let reference = tokio::select! {
        given = reference.wait_for(Option::is_some) => given.ok().and_then(|r| r.clone()),
        () = tokio::time::sleep_until(deadline.into()) => None,
    };
    let Some(reference) = reference else {
        return tally;
    };
    let mut url = desk.base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty()
            .extend(["api", "v1", "tickets", &reference, "replies"]);
    }
    let offset = if desk.every.is_zero() {
        Duration::ZERO
    } else {
        rand::rng().random_range(Duration::ZERO..desk.every)
    };
    let mut next = Instant::now() + offset;
    while next < deadline {
        tokio::time::sleep_until(next.into()).await;
        next = (next + desk.every).max(Instant::now());
        let Ok(_permit) = desk.in_flight.acquire().await else {
            break;
        };
        let n = desk.next.fetch_add(1, Ordering::Relaxed);
        let posted = Instant::now();
        let response = desk
            .client
            .post(url.clone())
            .bearer_auth(&desk.token)
            .json(&serde_json::json!({"text": reply_text(&desk.run_id, n)}))
            .send()
            .await;
        match response {
            Ok(response) if response.status() == reqwest::StatusCode::ACCEPTED => {
                let answered = Instant::now();
                let _ = response.bytes().await;
                desk.accepted.fetch_add(1, Ordering::Relaxed);
                tally.round_trip_us.push(super::micros(answered - posted));
                tally.accepted.push(Accepted {
                    n,
                    chat,
                    posted,
                    answered,
                });
            }
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                tally
                    .failures
                    .add(format!("HTTP {}", status.as_u16()), body);
                tally.failed.push(n);
            }
            Err(e) => {
                tally.failures.add("transport", e.to_string());
                tally.failed.push(n);
            }
        }
    }
    tally
}
