//! The live feed: what happened to tickets and messages, for agents' screens.
//!
//! Every event is recorded in the event log (`store::queries::events`) in the
//! transaction of the change it reports, and broadcast on this node once that
//! committed. The log's ids order the feed: a client that was away resumes after the
//! last id it saw and gets exactly what it missed, from the log.

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::access::Scope;
use crate::bus::{Bus, Notice, Topic};
use crate::store::Store;
use crate::store::queries::events as event_log;

use crate::helpdesk::sla::SlaTarget;
use crate::model::{DeliveryStatus, Direction, TicketStatus};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "ticket.created")]
    TicketCreated {
        ticket_id: i64,
        reference: String,
        channel: String,
    },
    #[serde(rename = "ticket.updated")]
    TicketUpdated {
        ticket_id: i64,
        reference: String,
        status: TicketStatus,
    },
    #[serde(rename = "message.created")]
    MessageCreated {
        ticket_id: i64,
        message_id: i64,
        direction: Direction,
        channel: String,
    },
    /// A message's delivery status moved on, or the customer edited it or added to
    /// it (then `delivery_status` is absent): reload it.
    #[serde(rename = "message.updated")]
    MessageUpdated {
        ticket_id: i64,
        message_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivery_status: Option<DeliveryStatus>,
    },
    /// An SLA target of the ticket has used up its at-risk share of time.
    #[serde(rename = "sla.at_risk")]
    SlaAtRisk {
        ticket_id: i64,
        reference: String,
        target: SlaTarget,
        policy: String,
        /// When it falls due (milliseconds since the epoch).
        due_at: i64,
    },
    /// An SLA target of the ticket passed its due time unmet.
    #[serde(rename = "sla.breached")]
    SlaBreached {
        ticket_id: i64,
        reference: String,
        target: SlaTarget,
        policy: String,
        due_at: i64,
    },
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::TicketCreated { .. } => "ticket.created",
            Event::TicketUpdated { .. } => "ticket.updated",
            Event::MessageCreated { .. } => "message.created",
            Event::MessageUpdated { .. } => "message.updated",
            Event::SlaAtRisk { .. } => "sla.at_risk",
            Event::SlaBreached { .. } => "sla.breached",
        }
    }

    pub fn ticket_id(&self) -> i64 {
        match self {
            Event::TicketCreated { ticket_id, .. }
            | Event::TicketUpdated { ticket_id, .. }
            | Event::MessageCreated { ticket_id, .. }
            | Event::MessageUpdated { ticket_id, .. }
            | Event::SlaAtRisk { ticket_id, .. }
            | Event::SlaBreached { ticket_id, .. } => *ticket_id,
        }
    }
}

/// An event as the log holds it: `id` is its place in the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub id: i64,
    pub event: Event,
}

/// The broadcast of recorded events on this node, a wake-up for live feeds: a feed
/// that falls behind or sees a gap reads the log, so nothing depends on the
/// broadcast's buffer or order. On a shared store, what this node publishes is also
/// announced to the other nodes, and theirs is relayed here ([`relay`]).
#[derive(Clone)]
pub struct Events {
    here: broadcast::Sender<Recorded>,
    bus: Bus,
}

impl Default for Events {
    fn default() -> Self {
        Events::new(Bus::default())
    }
}

impl Events {
    pub fn new(bus: Bus) -> Self {
        Events {
            here: broadcast::channel(4096).0,
            bus,
        }
    }

    /// Broadcasts events already committed to the log.
    pub fn publish(&self, recorded: Vec<Recorded>) {
        if let Some(last) = recorded.iter().map(|r| r.id).max() {
            self.bus.announce_events(last);
        }
        for event in recorded {
            // No listener is fine: the log is the record.
            let _ = self.here.send(event);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Recorded> {
        self.here.subscribe()
    }
}

/// How many logged events one read of the relay takes.
const RELAY_BATCH: usize = 500;

/// Publishes on this node the events other nodes committed, read from the log when
/// they announce them (or, after a resync, whatever this node may have missed), until
/// the bus stops. Events of this node come again this way: feeds skip ids they sent.
pub(crate) async fn relay(events: Events, store: Store) {
    let mut notices = events.bus.subscribe();
    let here = events.here.clone();
    // The bus itself stays with the gateway: when it goes, the notices end.
    drop(events);
    let mut cursor = loop {
        match store.read(event_log::bounds).await {
            Ok((_, newest)) => break newest,
            Err(error) => {
                tracing::warn!(%error, "cannot read the event log to relay other nodes' events");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        let target = match notices.recv().await {
            Ok(Notice {
                topic: Topic::Events,
                body,
            }) => match body.parse::<i64>() {
                Ok(id) if id > cursor => id,
                _ => continue,
            },
            Ok(Notice {
                topic: Topic::Resync,
                ..
            })
            | Err(RecvError::Lagged(_)) => i64::MAX,
            Ok(_) => continue,
            Err(RecvError::Closed) => return,
        };
        loop {
            let from = cursor;
            let read = store
                .read(move |c| event_log::after(c, from, &Scope::All, RELAY_BATCH))
                .await;
            match read {
                Ok((batch, read_up_to)) => {
                    let full = batch.len() == RELAY_BATCH;
                    for event in batch {
                        let _ = here.send(event);
                    }
                    cursor = read_up_to;
                    if !full || cursor >= target {
                        break;
                    }
                }
                Err(error) => {
                    // The next notice reads on from the same place.
                    tracing::warn!(%error, "cannot read the event log to relay other nodes' events");
                    break;
                }
            }
        }
    }
}
