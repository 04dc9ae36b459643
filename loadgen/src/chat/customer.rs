//! The customers' side: idle sockets that said hello and then only listen, and
//! active chats that write at a pace, wait for each `ack`, and note every frame that
//! comes back (their own messages' echoes and the agents' replies, by number).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::report::Opening;
use super::socket::{self, Failures, OpenError, Socket, Target};
use crate::report::Latency;

/// What every customer task shares.
pub struct Crowd {
    pub target: Target,
    /// Handshakes in flight at once while sockets open: more only queue in the
    /// kernel's accept backlog.
    pub opening: Semaphore,
    /// Set once, when every socket should close.
    pub stop: watch::Receiver<bool>,
    /// Each socket's outcome of opening: the time to its `welcome`, or why not.
    pub opened: mpsc::UnboundedSender<Result<Duration, OpenError>>,
    /// Idle sockets the gateway closed (or that failed) before `stop`.
    pub dropped: AtomicU64,
    /// Frames the idle sockets got after their welcome (status changes), and pings.
    pub idle_frames: AtomicU64,
    pub idle_pings: AtomicU64,
    pub live: Live,
}

/// Counters the run watches while it drains.
#[derive(Default)]
pub struct Live {
    /// Customer messages sent and not answered yet.
    pub pending: AtomicU64,
    /// Agents' replies that reached their socket.
    pub replies_received: AtomicU64,
}

impl Crowd {
    async fn start(&self, n: u64) -> Option<(Socket, Value)> {
        let permit = self.opening.acquire().await.ok()?;
        let started = Instant::now();
        let result = self.target.start(n).await;
        drop(permit);
        match result {
            Ok(started_socket) => {
                let _ = self.opened.send(Ok(started.elapsed()));
                Some(started_socket)
            }
            Err(e) => {
                let _ = self.opened.send(Err(e));
                None
            }
        }
    }

    fn stopped(stop: &watch::Receiver<bool>) -> bool {
        *stop.borrow()
    }
}

/// Sockets' outcomes of opening, as they come.
pub struct Openings {
    pub outcomes: mpsc::UnboundedReceiver<Result<Duration, OpenError>>,
    pub opening: Opening,
    pub welcome_us: Vec<u32>,
}

impl Openings {
    /// Waits for `count` more sockets' outcomes.
    pub async fn wait(&mut self, count: u32) {
        self.opening.requested += u64::from(count);
        for _ in 0..count {
            match self.outcomes.recv().await {
                Some(Ok(took)) => {
                    self.opening.opened += 1;
                    self.welcome_us.push(super::micros(took));
                }
                Some(Err(OpenError(kind, error))) => self.opening.failures.add(kind, error),
                None => break,
            }
        }
    }

    /// What opened since the last `take`, which took `elapsed`.
    pub fn take(&mut self, elapsed: Duration) -> Opening {
        let mut opening = std::mem::take(&mut self.opening);
        opening.elapsed = elapsed;
        opening.welcome = Latency::from_micros(&mut self.welcome_us);
        self.welcome_us.clear();
        opening
    }
}

/// An idle customer: opens socket `n`, says hello, then listens (answering pings)
/// until the run stops.
pub async fn idle(crowd: Arc<Crowd>, n: u64) {
    let Some((mut socket, _)) = crowd.start(n).await else {
        return;
    };
    let mut stop = crowd.stop.clone();
    loop {
        if Crowd::stopped(&stop) {
            let _ = socket.close(None).await;
            return;
        }
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Ping(_))) => {
                    crowd.idle_pings.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(Message::Text(_))) => {
                    crowd.idle_frames.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    crowd.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some(Ok(_)) => {}
            },
            _ = stop.changed() => {}
        }
    }
}

/// How an active chat writes, and when.
pub struct Pace {
    /// Ids of this run's messages start `lg-{run}-`.
    pub run_id: String,
    /// From one message to the next, per chat; zero: the next as soon as the last
    /// is acknowledged.
    pub every: Duration,
    /// Gets the end of the sending window when the active phase starts.
    pub start: watch::Receiver<Option<Instant>>,
}

/// What one active chat saw.
#[derive(Debug, Default)]
pub struct ChatTally {
    pub opened: bool,
    /// Customer messages sent.
    pub sent: u64,
    /// The numbers of this chat's messages that were acknowledged.
    pub acked: Vec<u64>,
    /// From sending a message to its `ack`, in microseconds.
    pub ack_us: Vec<u32>,
    /// Sent but not answered when the run stopped: stored or not.
    pub unanswered: Vec<u64>,
    /// `error` frames, by code.
    pub errors: Failures,
    /// How often the `message` frame of each of this chat's own messages came.
    pub echoes: HashMap<u64, u32>,
    /// Agents' replies as they arrived: the reply's number and when.
    pub replies: Vec<(u64, Instant)>,
    /// `message` frames that are neither this chat's messages nor this run's
    /// replies.
    pub foreign: u64,
    /// `message` frames whose number was not the one after the last.
    pub out_of_order: u64,
    /// Frames each way after the start of the active phase.
    pub frames_out: u64,
    pub frames_in: u64,
    /// The socket closed or failed before the run stopped.
    pub lost: Option<String>,
}

/// The text of agent reply `n` of a run.
pub fn reply_text(run_id: &str, n: u64) -> String {
    format!("lg-{run_id} reply {n}")
}

/// The number back from the text of a reply of this run.
pub fn parse_reply(run_id: &str, text: &str) -> Option<u64> {
    text.strip_prefix("lg-")?
        .strip_prefix(run_id)?
        .strip_prefix(" reply ")?
        .parse()
        .ok()
}

/// A customer message's id: run, chat and the chat's message number.
fn message_id(run_id: &str, chat: u32, k: u64) -> String {
    format!("lg-{run_id}-{chat}-{k}")
}

/// The numbers back from a message id of this run: `(chat, k)`.
pub fn parse_message_id(run_id: &str, id: &str) -> Option<(u32, u64)> {
    let rest = id
        .strip_prefix("lg-")?
        .strip_prefix(run_id)?
        .strip_prefix('-')?;
    let (chat, k) = rest.split_once('-')?;
    Some((chat.parse().ok()?, k.parse().ok()?))
}

/// An active chat: opens its socket, and from the start of the active phase writes
/// a message every `pace.every` until the window ends, then keeps listening until
/// the run stops. Its ticket's reference goes to `reference` with the first `ack`.
pub async fn chat(
    crowd: Arc<Crowd>,
    pace: Arc<Pace>,
    chat: u32,
    n: u64,
    reference: watch::Sender<Option<String>>,
) -> ChatTally {
    let mut tally = ChatTally::default();
    let Some((mut socket, welcome)) = crowd.start(n).await else {
        return tally;
    };
    tally.opened = true;
    let mut last_seq = welcome["last_seq"].as_i64().unwrap_or(0);
    let mut start = pace.start.clone();
    let mut stop = crowd.stop.clone();
    let deadline = tokio::select! {
        deadline = start.wait_for(Option::is_some) => deadline.ok().and_then(|d| *d),
        _ = stop.wait_for(|s| *s) => None,
    };
    let Some(deadline) = deadline else {
        return tally;
    };
    let offset = if pace.every.is_zero() {
        Duration::ZERO
    } else {
        rand::rng().random_range(Duration::ZERO..pace.every)
    };
    let mut next_send = tokio::time::Instant::now() + offset;
    // The message waiting for its ack: its number and when it went.
    let mut waiting: Option<(u64, Instant)> = None;
    let done = |waiting: &mut Option<(u64, Instant)>| {
        if waiting.take().is_some() {
            crowd.live.pending.fetch_sub(1, Ordering::Relaxed);
        }
    };
    loop {
        if Crowd::stopped(&stop) {
            break;
        }
        let may_send = waiting.is_none() && next_send.into_std() < deadline;
        tokio::select! {
            frame = socket::next(&mut socket) => {
                let frame = match frame {
                    Ok(Some(frame)) => frame,
                    Ok(None) => { tally.lost = Some("closed by the gateway".into()); break }
                    Err(e) => { tally.lost = Some(e); break }
                };
                tally.frames_in += 1;
                let now = Instant::now();
                match frame["type"].as_str().unwrap_or_default() {
                    "ack" => {
                        let id = frame["id"].as_str().unwrap_or_default();
                        if let Some((k, sent)) = waiting
                            && id == message_id(&pace.run_id, chat, k)
                        {
                            tally.ack_us.push(super::micros(now - sent));
                            tally.acked.push(k);
                            done(&mut waiting);
                            if reference.borrow().is_none() {
                                let given = frame["reference"].as_str().map(str::to_owned);
                                reference.send_replace(given);
                            }
                            if pace.every.is_zero() {
                                next_send = tokio::time::Instant::now();
                            }
                        }
                    }
                    "message" => {
                        let seq = frame["seq"].as_i64().unwrap_or(-1);
                        if seq != last_seq + 1 {
                            tally.out_of_order += 1;
                        }
                        last_seq = last_seq.max(seq);
                        let own = frame["client_id"]
                            .as_str()
                            .and_then(|id| parse_message_id(&pace.run_id, id))
                            .filter(|&(c, _)| c == chat);
                        let reply = frame["text"]
                            .as_str()
                            .and_then(|text| parse_reply(&pace.run_id, text));
                        match (frame["from"].as_str(), own, reply) {
                            (Some("customer"), Some((_, k)), _) => *tally.echoes.entry(k).or_default() += 1,
                            (Some("agent"), _, Some(r)) => {
                                tally.replies.push((r, now));
                                crowd.live.replies_received.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => tally.foreign += 1,
                        }
                    }
                    "error" => {
                        let code = frame["code"].as_str().unwrap_or("error").to_owned();
                        tally.errors.add(code, frame["message"].as_str().unwrap_or_default());
                        let about_waiting = waiting.is_some_and(|(k, _)| {
                            frame["id"].as_str() == Some(&message_id(&pace.run_id, chat, k))
                        });
                        if about_waiting {
                            done(&mut waiting);
                        }
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(next_send), if may_send => {
                tally.sent += 1;
                let k = tally.sent;
                let frame = json!({
                    "type": "message",
                    "id": message_id(&pace.run_id, chat, k),
                    "text": format!("bench message {k} of chat {chat}"),
                });
                crowd.live.pending.fetch_add(1, Ordering::Relaxed);
                waiting = Some((k, Instant::now()));
                if let Err(e) = socket::send(&mut socket, &frame).await {
                    tally.lost = Some(e);
                    break;
                }
                tally.frames_out += 1;
                next_send = (next_send + pace.every).max(tokio::time::Instant::now());
            }
            _ = stop.changed() => {}
        }
    }
    if let Some((k, _)) = waiting {
        tally.unanswered.push(k);
        done(&mut waiting);
    }
    let _ = socket.close(None).await;
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_round_trip() {
        let id = message_id("00ff", 12, 3);
        assert_eq!(id, "lg-00ff-12-3");
        assert_eq!(parse_message_id("00ff", &id), Some((12, 3)));
        assert_eq!(parse_message_id("00fe", &id), None);
        assert_eq!(parse_message_id("00ff", "lg-00ff-x-3"), None);
        assert_eq!(parse_reply("00ff", &reply_text("00ff", 7)), Some(7));
        assert_eq!(parse_reply("00fe", &reply_text("00ff", 7)), None);
    }
}
