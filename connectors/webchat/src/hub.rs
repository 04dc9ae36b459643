//! The live sockets of this node, by conversation: where a stored message, an
//! agent's typing or a change of who is online is pushed.
//!
//! A push is a wake-up with the frame attached, not the record: a socket that sees a
//! number it did not expect (it missed one, or another tab's message overtook) reads
//! the conversation's log from its last number, so nothing depends on the push
//! arriving. A socket too slow to take its pushes is marked behind and catches up
//! from the log the same way.
//!
//! Each socket's pushes wait in its [`Inbox`]: a queue that allocates with its first
//! push, and a wake-up. Most sockets sit idle with nothing queued for hours; a tokio
//! channel per socket would hold about 1.6 KB each from the start (its first block
//! of slots and its cache-padded halves), against about 100 bytes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// What a socket is told.
#[derive(Debug, Clone)]
pub enum Push {
    /// A message with its number in the conversation, as a `message` frame.
    Message { seq: i64, frame: Arc<str> },
    /// Another node logged message `seq` in the conversation: read the log.
    Logged { seq: i64 },
    /// Any other frame (typing, status), of the moment.
    Frame(Arc<str>),
    /// The gateway is stopping: close so the widget reconnects elsewhere or later.
    Close,
}

/// How many pushes wait for a socket before it counts as behind.
const QUEUE: usize = 32;

#[derive(Default)]
pub struct Hub {
    /// The channel, for the metrics.
    channel: String,
    inner: Mutex<Rooms>,
}

#[derive(Default)]
struct Rooms {
    next_id: u64,
    by_conversation: HashMap<String, Room>,
    /// Ticket id → conversation, for conversations with a live socket.
    by_ticket: HashMap<i64, String>,
}

#[derive(Default)]
struct Room {
    sockets: Vec<Member>,
    ticket: Option<(i64, String)>,
}

struct Member {
    id: u64,
    inbox: Arc<Inbox>,
}

/// The pushes waiting for one socket, shared by the hub and the socket's task.
#[derive(Default)]
struct Inbox {
    queue: Mutex<VecDeque<Push>>,
    /// Wakes the socket's task; a wake-up with no task waiting is kept for its next
    /// wait, so none is lost between looking at the queue and waiting.
    ready: Notify,
    /// Set when a push could not be queued: read the log.
    behind: AtomicBool,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Push>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a push unless [`QUEUE`] are waiting already.
    fn offer(&self, push: &Push) -> Result<(), ()> {
        let mut queue = self.lock();
        if queue.len() >= QUEUE {
            return Err(());
        }
        queue.push_back(push.clone());
        drop(queue);
        self.ready.notify_one();
        Ok(())
    }
}

/// One socket's place in the hub; leaving is dropping it.
pub struct Membership {
    hub: Arc<Hub>,
    conversation: String,
    id: u64,
    inbox: Arc<Inbox>,
}

impl Hub {
    pub fn new(channel: &str) -> Hub {
        Hub {
            channel: channel.to_owned(),
            inner: Mutex::default(),
        }
    }

    pub fn join(self: &Arc<Self>, conversation: &str) -> Membership {
        let inbox = Arc::new(Inbox::default());
        let mut rooms = self.lock();
        rooms.next_id += 1;
        let id = rooms.next_id;
        rooms
            .by_conversation
            .entry(conversation.to_owned())
            .or_default()
            .sockets
            .push(Member {
                id,
                inbox: inbox.clone(),
            });
        metrics::gauge!("switchboard_webchat_sockets", "channel" => self.channel.clone())
            .increment(1.0);
        Membership {
            hub: self.clone(),
            conversation: conversation.to_owned(),
            id,
            inbox,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rooms> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records which ticket a live conversation is on now.
    pub fn set_ticket(&self, conversation: &str, ticket: (i64, String)) {
        let mut rooms = self.lock();
        let Some(room) = rooms.by_conversation.get_mut(conversation) else {
            return;
        };
        let id = ticket.0;
        if let Some((old, _)) = room.ticket.replace(ticket) {
            rooms.by_ticket.remove(&old);
        }
        rooms.by_ticket.insert(id, conversation.to_owned());
    }

    /// The live conversation on a ticket.
    pub fn conversation_of(&self, ticket_id: i64) -> Option<String> {
        self.lock().by_ticket.get(&ticket_id).cloned()
    }

    /// The ticket a live conversation is on.
    pub fn ticket_of(&self, conversation: &str) -> Option<(i64, String)> {
        self.lock()
            .by_conversation
            .get(conversation)
            .and_then(|room| room.ticket.clone())
    }

    /// Pushes to every socket of the conversation (but `except`).
    pub fn push(&self, conversation: &str, push: &Push, except: Option<u64>) {
        let rooms = self.lock();
        let Some(room) = rooms.by_conversation.get(conversation) else {
            return;
        };
        for member in room.sockets.iter().filter(|m| Some(m.id) != except) {
            if member.inbox.offer(push).is_err() {
                member.inbox.behind.store(true, Ordering::Release);
            }
        }
    }

    /// Pushes to every socket of this node.
    pub fn push_all(&self, push: &Push) {
        let rooms = self.lock();
        for member in rooms.by_conversation.values().flat_map(|r| &r.sockets) {
            if member.inbox.offer(push).is_err() && !matches!(push, Push::Close) {
                member.inbox.behind.store(true, Ordering::Release);
            }
        }
    }

    #[cfg(test)]
    fn is_live(&self, conversation: &str) -> bool {
        self.lock().by_conversation.contains_key(conversation)
    }

    fn leave(&self, conversation: &str, id: u64) {
        let mut rooms = self.lock();
        let Some(room) = rooms.by_conversation.get_mut(conversation) else {
            return;
        };
        room.sockets.retain(|m| m.id != id);
        if room.sockets.is_empty() {
            let ticket = room.ticket.take();
            rooms.by_conversation.remove(conversation);
            if let Some((ticket, _)) = ticket {
                rooms.by_ticket.remove(&ticket);
            }
        }
        metrics::gauge!("switchboard_webchat_sockets", "channel" => self.channel.clone())
            .decrement(1.0);
    }
}

impl Membership {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next push, when one comes. Cancel-safe: a push is taken off the queue
    /// only when it is returned.
    pub async fn next(&self) -> Push {
        loop {
            if let Some(push) = self.try_next() {
                return push;
            }
            self.inbox.ready.notified().await;
        }
    }

    /// The next push if one is waiting.
    pub fn try_next(&self) -> Option<Push> {
        self.inbox.lock().pop_front()
    }

    /// Whether a push could not be queued since the last call: read the log.
    pub fn take_behind(&self) -> bool {
        self.inbox.behind.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave(&self.conversation, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: i64) -> Push {
        Push::Message {
            seq,
            frame: "{}".into(),
        }
    }

    #[test]
    fn pushes_reach_the_conversations_sockets_only() {
        let hub = Arc::new(Hub::default());
        let a = hub.join("v:a");
        let a2 = hub.join("v:a");
        let b = hub.join("v:b");
        hub.push("v:a", &message(1), Some(a2.id()));
        assert!(matches!(a.try_next(), Some(Push::Message { seq: 1, .. })));
        assert!(a2.try_next().is_none());
        assert!(b.try_next().is_none());
    }

    #[test]
    fn a_full_queue_marks_the_socket_behind() {
        let hub = Arc::new(Hub::default());
        let a = hub.join("v:a");
        for seq in 0..QUEUE as i64 {
            hub.push("v:a", &message(seq), None);
        }
        assert!(!a.take_behind());
        hub.push("v:a", &message(QUEUE as i64), None);
        assert!(a.take_behind());
        assert!(!a.take_behind(), "reported once");
        // What was queued is still there, in order.
        assert!(matches!(a.try_next(), Some(Push::Message { seq: 0, .. })));
    }

    #[tokio::test]
    async fn a_waiting_socket_wakes_for_a_push() {
        let hub = Arc::new(Hub::default());
        let a = hub.join("v:a");
        let pusher = hub.clone();
        let waiting = tokio::spawn(async move { a.next().await });
        tokio::task::yield_now().await;
        pusher.push("v:a", &message(7), None);
        let push = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert!(matches!(push, Push::Message { seq: 7, .. }));
    }

    #[test]
    fn the_last_socket_leaving_forgets_the_ticket() {
        let hub = Arc::new(Hub::default());
        let a = hub.join("v:a");
        let a2 = hub.join("v:a");
        hub.set_ticket("v:a", (7, "SB-1".into()));
        drop(a);
        assert_eq!(hub.conversation_of(7).as_deref(), Some("v:a"));
        drop(a2);
        assert_eq!(hub.conversation_of(7), None);
        assert!(!hub.is_live("v:a"));
    }
}
