//! The live feed: what happened to tickets and messages, for agents' screens.
//! Events are published after the change is committed, never before.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::model::{DeliveryStatus, Direction, TicketStatus};

#[derive(Debug, Clone, Serialize, PartialEq)]
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
        #[serde(skip_serializing_if = "Option::is_none")]
        delivery_status: Option<DeliveryStatus>,
    },
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::TicketCreated { .. } => "ticket.created",
            Event::TicketUpdated { .. } => "ticket.updated",
            Event::MessageCreated { .. } => "message.created",
            Event::MessageUpdated { .. } => "message.updated",
        }
    }
}

/// The broadcast of events on this node. A slow listener that falls more than the
/// buffer behind is told it lagged and should reload.
#[derive(Debug, Clone)]
pub struct Events(broadcast::Sender<Event>);

impl Default for Events {
    fn default() -> Self {
        Events(broadcast::channel(4096).0)
    }
}

impl Events {
    pub fn publish(&self, event: Event) {
        // No listener is fine: the feed is a convenience, the store is the record.
        let _ = self.0.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }
}
