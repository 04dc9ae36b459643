//! What one node tells the others at once, over PostgreSQL's LISTEN/NOTIFY: that it
//! committed events (the agents' live feed), logged a web chat message, saw an
//! agent on a ticket or a customer typing, or revoked a token.
//!
//! A notice is a wake-up, never the record: what it points at is in the store, and a
//! node that missed notices (its listening connection broke) reads the store again,
//! told by a [`Topic::Resync`]. On SQLite there is one node and the bus is silent.
//!
//! Each notice is `"<node> <topic> <body>"`; a node ignores its own. Announcing is
//! asynchronous: notices queue on this node and one task sends them, many per
//! statement, so a busy node adds few round trips.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};

use crate::store::{Store, Value};

/// The PostgreSQL channel the nodes listen on.
const CHANNEL: &str = "switchboard";
/// NOTIFY payloads must stay under 8000 bytes.
const MAX_PAYLOAD: usize = 7900;
/// Notices sent by one statement, at most.
const PER_STATEMENT: usize = 32;
/// How often the listening thread looks whether it should stop.
const LISTEN_TICK: Duration = Duration::from_millis(250);
/// How long the listener waits before connecting again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

crate::model::string_enum!(
    /// What a notice is about.
    Topic {
        /// Events were committed, up to the id in the body.
        Events => "events",
        /// A web chat message was logged: `<channel> <seq> <conversation>`.
        Chat => "chat",
        /// An agent's or customer's presence report, as JSON.
        Presence => "presence",
        /// A token was revoked or the agents changed: forget the tokens read lately.
        Tokens => "tokens",
        /// This node may have missed notices (it connected to listen again): read
        /// the store again. Never sent, only raised on the node itself.
        Resync => "resync",
    }
);

/// A notice from another node.
#[derive(Debug, Clone)]
pub struct Notice {
    pub topic: Topic,
    pub body: String,
}

/// This node's end of the bus. Cheap to clone.
#[derive(Clone, Default)]
pub struct Bus {
    shared: Option<Arc<Shared>>,
}

struct Shared {
    node: String,
    outgoing: Arc<Outgoing>,
    received: broadcast::Sender<Notice>,
    stop: Arc<AtomicBool>,
}

/// Notices waiting to be sent, and the newest event id to announce.
#[derive(Default)]
struct Outgoing {
    queue: Mutex<Vec<String>>,
    events_up_to: AtomicI64,
    wake: Notify,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.outgoing.wake.notify_one();
    }
}

impl Bus {
    /// The bus of a node on `store`: silent on SQLite; on PostgreSQL it listens on a
    /// connection of its own (a thread) and sends through the store's pool (a task on
    /// the current runtime).
    pub fn start(store: &Store, node: &str) -> Bus {
        let Some(url) = store.postgres_url() else {
            return Bus::default();
        };
        let shared = Arc::new(Shared {
            node: node.to_owned(),
            outgoing: Arc::default(),
            received: broadcast::channel(4096).0,
            stop: Arc::default(),
        });
        let (received, stop, node) = (
            shared.received.clone(),
            shared.stop.clone(),
            node.to_owned(),
        );
        std::thread::Builder::new()
            .name("bus-listen".into())
            .spawn(move || listen(&url, &node, &received, &stop))
            .expect("a thread starts");
        tokio::spawn(send(
            Arc::downgrade(&shared),
            shared.outgoing.clone(),
            store.clone(),
        ));
        Bus {
            shared: Some(shared),
        }
    }

    /// Whether other nodes may be listening (the store is shared).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Tells the other nodes, soon.
    pub fn announce(&self, topic: Topic, body: &str) {
        let Some(shared) = &self.shared else { return };
        let payload = format!("{} {topic} {body}", shared.node);
        if payload.len() > MAX_PAYLOAD {
            // The others find it in the store at their next resync or catch-up.
            tracing::warn!(%topic, bytes = payload.len(), "a notice too long for the bus was not sent");
            return;
        }
        shared
            .outgoing
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(payload);
        shared.outgoing.wake.notify_one();
    }

    /// Tells the other nodes that events up to `id` are committed; announcements
    /// that have not gone out yet fold into one.
    pub fn announce_events(&self, id: i64) {
        let Some(shared) = &self.shared else { return };
        shared
            .outgoing
            .events_up_to
            .fetch_max(id, Ordering::Relaxed);
        shared.outgoing.wake.notify_one();
    }

    /// The notices from other nodes from now on. A receiver that lags has missed
    /// some: treat it as a [`Topic::Resync`].
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        match &self.shared {
            Some(shared) => shared.received.subscribe(),
            None => broadcast::channel(1).1,
        }
    }
}

/// Sends what is queued until the bus is dropped.
async fn send(shared: Weak<Shared>, outgoing: Arc<Outgoing>, store: Store) {
    let mut events_sent = 0;
    loop {
        let woken = outgoing.wake.notified();
        let Some(node) = shared.upgrade().map(|s| s.node.clone()) else {
            return;
        };
        let mut payloads =
            std::mem::take(&mut *outgoing.queue.lock().unwrap_or_else(|e| e.into_inner()));
        let events = outgoing.events_up_to.load(Ordering::Relaxed);
        if events > events_sent {
            payloads.push(format!("{node} {} {events}", Topic::Events));
        }
        if payloads.is_empty() {
            woken.await;
            continue;
        }
        for chunk in payloads.chunks(PER_STATEMENT) {
            let values: Vec<Value> = chunk.iter().map(|p| Value::from(p.as_str())).collect();
            let sql = notify_sql(chunk.len());
            let sent = store
                .write(move |c| c.query(&sql, &values).map(|_| ()))
                .await;
            if let Err(error) = sent {
                // The others catch up from the store: their feeds at the next event,
                // their chat sockets at the next heartbeat.
                tracing::warn!(%error, "cannot send notices to the other nodes");
            }
        }
        events_sent = events_sent.max(events);
    }
}

/// `SELECT pg_notify('switchboard', p) FROM (VALUES ($1), ($2), ...) AS n(p)`.
fn notify_sql(count: usize) -> String {
    let values: Vec<String> = (1..=count).map(|i| format!("(${i})")).collect();
    format!(
        "SELECT pg_notify('{CHANNEL}', p) FROM (VALUES {}) AS n(p)",
        values.join(", ")
    )
}

/// Listens until `stop`, connecting again after failures; each (re)connection raises
/// a resync, as notices may have passed while it was not listening.
fn listen(url: &str, node: &str, received: &broadcast::Sender<Notice>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let mut client = match postgres::Client::connect(url, postgres::NoTls)
            .and_then(|mut c| c.batch_execute(&format!("LISTEN {CHANNEL}")).map(|()| c))
        {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for the other nodes' notices; trying again");
                std::thread::sleep(RECONNECT_AFTER);
                continue;
            }
        };
        let _ = received.send(Notice {
            topic: Topic::Resync,
            body: String::new(),
        });
        'connected: while !stop.load(Ordering::Relaxed) {
            let mut notifications = client.notifications();
            let mut waiting = notifications.timeout_iter(LISTEN_TICK);
            // Notices until a quiet tick, then a look at `stop`.
            loop {
                match waiting.next() {
                    Ok(Some(notification)) => {
                        if let Some(notice) = parse(notification.payload(), node) {
                            let _ = received.send(notice);
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "the connection listening for the other nodes broke");
                        break 'connected;
                    }
                }
            }
            drop(waiting);
            drop(notifications);
            if client.is_closed() {
                break;
            }
        }
    }
}

/// A notice from another node; `None` for this node's own, or one not understood.
fn parse(payload: &str, own: &str) -> Option<Notice> {
    let (node, rest) = payload.split_once(' ')?;
    let (topic, body) = rest.split_once(' ').unwrap_or((rest, ""));
    if node == own {
        return None;
    }
    Some(Notice {
        topic: topic.parse().ok()?,
        body: body.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_of_other_nodes_are_read_and_own_ones_skipped() {
        let notice = parse("node-b chat web 7 v:abc def", "node-a").unwrap();
        assert_eq!(notice.topic, Topic::Chat);
        assert_eq!(notice.body, "web 7 v:abc def");
        assert!(parse("node-a chat web 7 v:abc", "node-a").is_none());
        assert!(parse("node-b nonsense x", "node-a").is_none());
        assert_eq!(
            parse("node-b tokens", "node-a").unwrap().topic,
            Topic::Tokens
        );
    }

    #[test]
    fn one_statement_notifies_many() {
        assert_eq!(
            notify_sql(2),
            "SELECT pg_notify('switchboard', p) FROM (VALUES ($1), ($2)) AS n(p)"
        );
    }
}
