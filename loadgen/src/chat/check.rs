//! After the run: every acknowledged customer message is stored once (read from the
//! store, like the webhook check), its `message` frame came back to its socket once,
//! and every reply the API accepted reached its own chat's socket exactly once. Also
//! the reply latencies, from the matched arrivals.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, bail};
use switchboard_core::store::{Store, StoreLocation, Value};

use super::agent::AgentTally;
use super::customer::{ChatTally, parse_message_id};
use super::report::{Active, Idle};
use crate::verify::StoreSpec;

/// Examples of missing messages kept for the report.
const EXAMPLES: usize = 10;

/// What the store holds of the run's customer messages.
#[derive(Debug)]
pub struct Stored {
    pub acknowledged: usize,
    pub found: usize,
    pub missing: usize,
    pub missing_examples: Vec<String>,
    pub stored_more_than_once: usize,
    /// Stored, never acknowledged: sent when the run stopped, or refused after all.
    pub unacknowledged: usize,
}

impl Stored {
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.stored_more_than_once == 0
    }
}

/// Reads the run's inbound messages on `channel`: their external ids are
/// `{conversation}/lg-{run}-{chat}-{k}`.
pub async fn stored(
    spec: &StoreSpec,
    channel: &str,
    run_id: &str,
    chats: &[ChatTally],
) -> anyhow::Result<Stored> {
    if let StoreLocation::Sqlite { path, .. } = &spec.location
        && !path.exists()
    {
        bail!("no SQLite database at {}", path.display());
    }
    let store = Store::open(spec.location.clone())
        .await
        .with_context(|| format!("cannot open the store {}", spec.shown))?;
    // The run id is hex: no LIKE wildcard in the pattern but the leading one. A
    // bench store is small; the scan is quick.
    let params = vec![
        Value::from(channel),
        Value::from(format!("%/lg-{run_id}-%")),
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
    let mut copies = HashMap::with_capacity(rows.len());
    for row in rows {
        let external_id = row.string(0)?;
        let client_id = external_id.rsplit('/').next().unwrap_or_default();
        if let Some(key) = parse_message_id(run_id, client_id) {
            *copies.entry(key).or_insert(0) += row.i64(1)?;
        }
    }
    let acked: HashSet<(u32, u64)> = chats
        .iter()
        .enumerate()
        .flat_map(|(chat, t)| t.acked.iter().map(move |&k| (chat as u32, k)))
        .collect();
    let mut missing: Vec<(u32, u64)> = acked
        .iter()
        .filter(|key| !copies.contains_key(key))
        .copied()
        .collect();
    missing.sort_unstable();
    Ok(Stored {
        acknowledged: acked.len(),
        found: acked.len() - missing.len(),
        missing: missing.len(),
        missing_examples: missing
            .iter()
            .take(EXAMPLES)
            .map(|(chat, k)| format!("lg-{run_id}-{chat}-{k}"))
            .collect(),
        stored_more_than_once: copies.values().filter(|&&n| n > 1).count(),
        unacknowledged: copies.keys().filter(|key| !acked.contains(key)).count(),
    })
}

/// What reached the sockets, against what was acknowledged and accepted.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Acknowledged customer messages whose `message` frame never came back.
    pub echoes_missing: u64,
    /// ... or came more than once.
    pub echoes_doubled: u64,
    pub replies_accepted: u64,
    /// Accepted replies that reached their chat's socket once.
    pub replies_once: u64,
    pub replies_missing: u64,
    pub replies_doubled: u64,
    /// Replies that reached another chat's socket.
    pub replies_elsewhere: u64,
    /// Replies that arrived but were never answered 202 (a failed request that was
    /// queued all the same).
    pub replies_unaccepted: u64,
    /// `message` frames out of sequence (a gap, a repeat or a step back).
    pub out_of_order: u64,
    /// From just before the request to the frame, in microseconds.
    pub from_post_us: Vec<u32>,
    /// From the 202 to the frame (zero when the frame came first).
    pub from_answer_us: Vec<u32>,
    /// Frames that arrived before their 202.
    pub before_answer: u64,
}

impl Delivered {
    pub fn ok(&self) -> bool {
        self.echoes_missing
            + self.echoes_doubled
            + self.replies_missing
            + self.replies_doubled
            + self.replies_elsewhere
            + self.out_of_order
            == 0
    }
}

pub fn delivered(chats: &[ChatTally], agents: &AgentTally) -> Delivered {
    let mut d = Delivered::default();
    for tally in chats {
        d.out_of_order += tally.out_of_order;
        for k in &tally.acked {
            match tally.echoes.get(k).copied().unwrap_or(0) {
                0 => d.echoes_missing += 1,
                1 => {}
                _ => d.echoes_doubled += 1,
            }
        }
    }
    // Where each reply arrived, and when it first did.
    let mut arrivals: HashMap<u64, Vec<(u32, std::time::Instant)>> = HashMap::new();
    for (chat, tally) in chats.iter().enumerate() {
        for &(n, at) in &tally.replies {
            arrivals.entry(n).or_default().push((chat as u32, at));
        }
    }
    d.replies_accepted = agents.accepted.len() as u64;
    for reply in &agents.accepted {
        let Some(seen) = arrivals.remove(&reply.n) else {
            d.replies_missing += 1;
            continue;
        };
        let own: Vec<_> = seen.iter().filter(|(c, _)| *c == reply.chat).collect();
        if seen.len() > own.len() {
            d.replies_elsewhere += 1;
        }
        match own.as_slice() {
            [] => d.replies_missing += 1,
            [(_, at), rest @ ..] => {
                if rest.is_empty() {
                    d.replies_once += 1;
                } else {
                    d.replies_doubled += 1;
                }
                d.from_post_us
                    .push(super::micros(at.saturating_duration_since(reply.posted)));
                d.from_answer_us
                    .push(super::micros(at.saturating_duration_since(reply.answered)));
                if *at < reply.answered {
                    d.before_answer += 1;
                }
            }
        }
    }
    d.replies_unaccepted = arrivals.len() as u64;
    d
}

/// What makes the run fail, in words; empty when it passed.
pub fn problems(
    idle: &Idle,
    active: &Active,
    delivered: &Delivered,
    stored: Option<&Stored>,
) -> Vec<String> {
    let d = delivered;
    let mut counts = vec![
        (
            idle.opening.requested - idle.opening.opened,
            "idle sockets did not open",
        ),
        (idle.dropped, "idle sockets closed before the end"),
        (
            active.opening.requested - active.opening.opened,
            "chats did not open",
        ),
        (active.lost.total(), "chats' sockets closed before the end"),
        (active.errors.total(), "error frames"),
        (active.reply_failures.total(), "replies not accepted"),
        (
            d.echoes_missing,
            "acknowledged messages never came back as a message frame",
        ),
        (d.echoes_doubled, "messages came back more than once"),
        (
            d.replies_missing,
            "accepted replies had not reached their socket at the end (see --drain)",
        ),
        (
            d.replies_doubled,
            "replies reached their socket more than once",
        ),
        (d.replies_elsewhere, "replies reached another chat's socket"),
        (d.out_of_order, "message frames out of sequence"),
    ];
    if let Some(s) = stored {
        counts.push((s.missing as u64, "acknowledged messages are not stored"));
        counts.push((
            s.stored_more_than_once as u64,
            "messages are stored more than once",
        ));
    }
    let mut problems: Vec<String> = counts
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, what)| format!("{count} {what}"))
        .collect();
    if active.acked == 0 {
        problems.push("no message was acknowledged".into());
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::chat::agent::Accepted;

    #[test]
    fn replies_count_once_per_own_socket() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let accepted = |n, chat| Accepted {
            n,
            chat,
            posted: ms(0),
            answered: ms(5),
        };
        let agents = AgentTally {
            accepted: vec![
                accepted(1, 0),
                accepted(2, 0),
                accepted(3, 1),
                accepted(4, 1),
            ],
            ..AgentTally::default()
        };
        let chats = vec![
            ChatTally {
                acked: vec![1, 2],
                echoes: HashMap::from([(1, 1), (2, 2)]),
                // 1 once, 2 twice, 4 (chat 1's) here by mistake, 9 never accepted.
                replies: vec![
                    (1, ms(3)),
                    (2, ms(10)),
                    (2, ms(11)),
                    (4, ms(12)),
                    (9, ms(1)),
                ],
                ..ChatTally::default()
            },
            ChatTally {
                acked: vec![1],
                // 3 never arrives.
                ..ChatTally::default()
            },
        ];
        let d = delivered(&chats, &agents);
        assert_eq!((d.echoes_missing, d.echoes_doubled), (1, 1));
        assert_eq!(d.replies_accepted, 4);
        assert_eq!(d.replies_once, 1);
        assert_eq!(d.replies_doubled, 1);
        assert_eq!(d.replies_missing, 2);
        assert_eq!(d.replies_elsewhere, 1);
        assert_eq!(d.replies_unaccepted, 1);
        assert_eq!(d.from_post_us, [3_000, 10_000]);
        assert_eq!(d.from_answer_us, [0, 5_000]);
        assert_eq!(d.before_answer, 1);
        assert!(!d.ok());
    }
}
