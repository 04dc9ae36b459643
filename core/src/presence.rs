//! Who is on a ticket right now: agents viewing it and typing a reply, so that two
//! people do not answer one customer at once, and customers on live channels (the web
//! chat) see that someone is typing; and whether any agent is at work at all, which
//! the web chat shows as online or offline.
//!
//! Reports come from the agent inbox every few seconds while a ticket is open (and at
//! once when its agent starts or stops typing); every authenticated agent request
//! counts as being at work. Entries lapse by themselves when the reports stop (a
//! closed tab, a dead laptop). Kept in memory, never replayed: presence is of the
//! moment. On a shared store each report also goes to the other nodes over the bus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::bus::{Bus, Topic};

/// How long a report of viewing counts; the inbox reports every 10 seconds.
const VIEWING_FOR: Duration = Duration::from_secs(30);
/// How long a report of typing counts; the inbox reports while keys are pressed.
const TYPING_FOR: Duration = Duration::from_secs(8);
/// How long after an agent's last request the agents count as online. The inbox
/// reports every 10 seconds while a ticket is open and keeps its live feed open.
pub const ONLINE_FOR: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
    /// Where reports go to the other nodes, which apply them as their own.
    bus: Bus,
}

/// How often a node tells the others that agents are at work here, at most.
const SEEN_EVERY_MS: i64 = 10_000;

/// A report as it crosses to other nodes, with the reporting node's time.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Remote {
    Agent {
        ticket_id: i64,
        reference: String,
        agent: String,
        activity: Activity,
        now: i64,
    },
    Customer {
        ticket_id: i64,
        reference: String,
        typing: bool,
        now: i64,
    },
    Seen {
        now: i64,
    },
}

struct Inner {
    /// Ticket id → agent name → what they last reported, in milliseconds since the epoch.
    tickets: Mutex<HashMap<i64, HashMap<String, Seen>>>,
    updates: broadcast::Sender<PresenceUpdate>,
    /// When any agent last did anything, in milliseconds since the epoch.
    last_seen: AtomicI64,
    /// Ticket id → until when its customer counts as typing.
    customers: Mutex<HashMap<i64, i64>>,
    /// Agent name → when this node last wrote their presence to the store.
    recorded: Mutex<HashMap<String, i64>>,
    /// When this node last told the others that an agent is at work.
    seen_announced: AtomicI64,
}

#[derive(Clone, Copy)]
struct Seen {
    viewing_until: i64,
    typing_until: i64,
}

/// Everyone on one ticket, sent whenever it changes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PresenceUpdate {
    pub ticket_id: i64,
    pub reference: String,
    pub agents: Vec<OnTicket>,
    /// Until when (milliseconds since the epoch) the customer counts as typing, on a
    /// channel that tells (the web chat); 0 when they are not.
    pub customer_typing_until: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OnTicket {
    pub name: String,
    /// Until when (milliseconds since the epoch) the agent counts as viewing, unless
    /// they report again.
    pub viewing_until: i64,
    /// Until when they count as typing; in the past when they are not.
    pub typing_until: i64,
}

impl Default for Presence {
    fn default() -> Self {
        Presence::new(Bus::default())
    }
}

impl Presence {
    pub fn new(bus: Bus) -> Self {
        Presence {
            inner: Arc::new(Inner {
                tickets: Mutex::default(),
                updates: broadcast::channel(256).0,
                last_seen: AtomicI64::new(i64::MIN),
                customers: Mutex::default(),
                recorded: Mutex::default(),
                seen_announced: AtomicI64::new(i64::MIN),
            }),
            bus,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<PresenceUpdate> {
        self.inner.updates.subscribe()
    }

    /// Records that an agent is at work (any authenticated request).
    pub fn agent_seen(&self, now: i64) {
        self.inner.last_seen.fetch_max(now, Ordering::Relaxed);
        self.announce_seen(now);
    }

    /// Tells the other nodes that an agent is at work, at most every
    /// [`SEEN_EVERY_MS`].
    fn announce_seen(&self, now: i64) {
        if self.bus.is_shared() {
            let last = self.inner.seen_announced.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= SEEN_EVERY_MS
                && self
                    .inner
                    .seen_announced
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.announce(&Remote::Seen { now });
            }
        }
    }

    fn announce(&self, report: &Remote) {
        if let Ok(body) = serde_json::to_string(report) {
            self.bus.announce(Topic::Presence, &body);
        }
    }

    /// Applies the other nodes' reports here from now on, until the bus stops.
    pub(crate) fn follow_other_nodes(&self) {
        let mut notices = self.bus.subscribe();
        // Not a clone: that would hold the bus, which then would never stop.
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let body = match notices.recv().await {
                    Ok(notice) if notice.topic == Topic::Presence => notice.body,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(inner) = inner.upgrade() else { return };
                let here = Presence {
                    inner,
                    bus: Bus::default(),
                };
                here.apply(&body);
            }
        });
    }

    /// Applies another node's report, as if it were made here.
    fn apply(&self, body: &str) {
        match serde_json::from_str::<Remote>(body) {
            Ok(Remote::Agent {
                ticket_id,
                reference,
                agent,
                activity,
                now,
            }) => self.record(ticket_id, reference, &agent, activity, now),
            Ok(Remote::Customer {
                ticket_id,
                reference,
                typing,
                now,
            }) => self.record_customer(ticket_id, reference, typing, now),
            Ok(Remote::Seen { now }) => {
                self.inner.last_seen.fetch_max(now, Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(%error, "a presence notice that cannot be read"),
        }
    }

    /// Whether an agent's presence is due to be written to the store again (the last
    /// write from this node is `every` old), noting that it now is.
    pub fn due_to_record(&self, name: &str, now: i64, every: i64) -> bool {
        let mut recorded = self
            .inner
            .recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match recorded.get(name) {
            Some(&at) if now - at < every => false,
            _ => {
                recorded.insert(name.to_owned(), now);
                true
            }
        }
    }

    /// Whether an agent was at work within the last [`ONLINE_FOR`].
    pub fn agents_online(&self, now: i64) -> bool {
        let last = self.inner.last_seen.load(Ordering::Relaxed);
        last > now.saturating_sub(ONLINE_FOR.as_millis() as i64)
    }

    /// The agents on a ticket now, by name.
    pub fn on_ticket(&self, ticket_id: i64, now: i64) -> Vec<OnTicket> {
        let all = self.inner.tickets.lock().unwrap_or_else(|e| e.into_inner());
        all.get(&ticket_id)
            .map(|on| agents_on(on, now))
            .unwrap_or_default()
    }

    /// Records what an agent reports about a ticket and tells every subscriber, on
    /// every node.
    pub fn report(
        &self,
        ticket_id: i64,
        reference: String,
        agent: &str,
        state: Activity,
        now: i64,
    ) {
        // `record` counts the agent as at work, here as on the other nodes.
        self.announce_seen(now);
        if self.bus.is_shared() {
            self.announce(&Remote::Agent {
                ticket_id,
                reference: reference.clone(),
                agent: agent.to_owned(),
                activity: state,
                now,
            });
        }
        self.record(ticket_id, reference, agent, state, now);
    }

    fn record(&self, ticket_id: i64, reference: String, agent: &str, state: Activity, now: i64) {
        self.inner.last_seen.fetch_max(now, Ordering::Relaxed);
        let millis = |d: Duration| d.as_millis() as i64;
        let agents = {
            let mut all = self.inner.tickets.lock().unwrap_or_else(|e| e.into_inner());
            // Lapsed entries go whenever anyone reports, so the map stays small.
            all.retain(|_, on| {
                on.retain(|_, seen| seen.viewing_until > now);
                !on.is_empty()
            });
            let on = all.entry(ticket_id).or_default();
            match state {
                Activity::Left => {
                    on.remove(agent);
                }
                Activity::Viewing | Activity::Typing => {
                    let seen = on.entry(agent.to_owned()).or_insert(Seen {
                        viewing_until: 0,
                        typing_until: 0,
                    });
                    seen.viewing_until = now + millis(VIEWING_FOR);
                    seen.typing_until = match state {
                        Activity::Typing => now + millis(TYPING_FOR),
                        _ => 0,
                    };
                }
            }
            agents_on(on, now)
        };
        // Nobody listening is fine: presence is only for whoever is looking.
        let _ = self.inner.updates.send(PresenceUpdate {
            ticket_id,
            reference,
            agents,
            customer_typing_until: self.customer_typing_until(ticket_id, now),
        });
    }

    /// Records that the customer on a ticket started or stopped typing (a channel
    /// that tells, such as the web chat) and tells every subscriber, on every node.
    pub fn report_customer(&self, ticket_id: i64, reference: String, typing: bool, now: i64) {
        if self.bus.is_shared() {
            self.announce(&Remote::Customer {
                ticket_id,
                reference: reference.clone(),
                typing,
                now,
            });
        }
        self.record_customer(ticket_id, reference, typing, now);
    }

    fn record_customer(&self, ticket_id: i64, reference: String, typing: bool, now: i64) {
        {
            let mut customers = self
                .inner
                .customers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            customers.retain(|_, until| *until > now);
            if typing {
                customers.insert(ticket_id, now + TYPING_FOR.as_millis() as i64);
            } else {
                customers.remove(&ticket_id);
            }
        }
        let _ = self.inner.updates.send(PresenceUpdate {
            ticket_id,
            reference,
            agents: self.on_ticket(ticket_id, now),
            customer_typing_until: self.customer_typing_until(ticket_id, now),
        });
    }

    /// Until when the ticket's customer counts as typing; 0 when they are not.
    pub fn customer_typing_until(&self, ticket_id: i64, now: i64) -> i64 {
        let customers = self
            .inner
            .customers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        customers
            .get(&ticket_id)
            .copied()
            .filter(|until| *until > now)
            .unwrap_or(0)
    }
}

/// The agents still on a ticket, by name.
fn agents_on(on: &HashMap<String, Seen>, now: i64) -> Vec<OnTicket> {
    let mut agents: Vec<OnTicket> = on
        .iter()
        .filter(|(_, seen)| seen.viewing_until > now)
        .map(|(name, seen)| OnTicket {
            name: name.clone(),
            viewing_until: seen.viewing_until,
            typing_until: seen.typing_until,
        })
        .collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    agents
}

/// What an agent reports about a ticket.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Activity {
    Viewing,
    Typing,
    Left,
}
