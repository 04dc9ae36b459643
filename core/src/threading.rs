//! Which ticket an inbound message belongs to, decided in one place for every channel:
//!
//! 1. a ticket reference in the subject or text (`[#SB-7K3M9Q]`), when the sender is
//!    the ticket's contact or a participant (or the message is automatic): a stranger
//!    who quotes a reference must not write into, nor receive the replies of,
//!    someone else's ticket;
//! 2. email References / In-Reply-To matched against stored message ids. The
//!    conversation's root (the first of References, the message that started the
//!    thread) wins over the message answered: a client that answers a message of a
//!    later ticket while its References start on the first ticket still belongs to
//!    that first conversation. As for references, a match counts only when the
//!    sender belongs to the ticket (a newsletter that everybody answers must not
//!    merge customers); automatic mail (a bounce, an auto-reply) comes from a machine
//!    and lands on the ticket it refers to whoever sent it;
//! 3. the provider's reply-to id, within the same conversation;
//! 4. the newest ticket of the same conversation.
//!
//! A ticket found by 1 to 3 is followed to the newest ticket that continues it, so a
//! conversation that went on after its ticket was closed keeps to that newer ticket
//! instead of splitting again. Then, for the ticket found: active tickets take the
//! message; a resolved ticket reopens within the reopen window; after it, or when
//! closed, a new ticket starts and links to the old one. Automatic messages land on
//! the ticket found but never reopen it, and when they concern no ticket they start
//! a `filtered` one, out of the agents' queue; a person writing on a filtered ticket
//! brings it into the queue as new.

use crate::connector::Inbound;
use crate::model::{Ticket, TicketStatus, Timestamp};
use crate::reference;
use crate::store::queries::tickets;
use crate::store::{Connection, StoreError};

/// Where a message goes.
pub(crate) enum Placement {
    /// Onto this ticket, which takes `status` (unchanged when `None`).
    Existing {
        ticket: Box<Ticket>,
        status: Option<TicketStatus>,
    },
    /// Onto a new ticket with this status (`new`, or `filtered` for automatic
    /// mail), linked to `previous` when the conversation had one.
    New {
        previous: Option<i64>,
        status: TicketStatus,
    },
}

pub(crate) struct ThreadingRules<'a> {
    pub reference_prefix: &'a str,
    pub reopen_window_ms: i64,
}

pub(crate) fn place(
    conn: &mut dyn Connection,
    channel: &str,
    item: &Inbound,
    contact_id: i64,
    rules: &ThreadingRules<'_>,
    quiet: bool,
    now: Timestamp,
) -> Result<Placement, StoreError> {
    let found = find_candidate(conn, channel, item, contact_id, rules.reference_prefix)?;
    // A message for the gateway itself (a command) is kept aside like automatic
    // mail: it never reopens a ticket or starts one in the agents' queue.
    let aside = item.automatic || quiet;
    Ok(match found {
        None => Placement::New {
            previous: None,
            status: if aside {
                TicketStatus::Filtered
            } else {
                TicketStatus::New
            },
        },
        Some(ticket) => decide(ticket, aside, rules.reopen_window_ms, now),
    })
}

fn find_candidate(
    conn: &mut dyn Connection,
    channel: &str,
    item: &Inbound,
    contact_id: i64,
    prefix: &str,
) -> Result<Option<Ticket>, StoreError> {
    let subject = item.subject.as_deref().unwrap_or("");
    for text in [subject, item.text.as_str()] {
        for reference in reference::find_all(prefix, text) {
            if let Some(ticket) = tickets::find_by_reference(conn, &reference)?
                && (item.automatic || tickets::belongs(conn, &ticket, contact_id)?)
            {
                return tickets::latest_continuation(conn, ticket).map(Some);
            }
        }
    }
    let references = &item.thread.references;
    // The root alone first, then the newest message of the thread the store knows.
    for ids in [&references[..references.len().min(1)], &references[..]] {
        if let Some(ticket) = tickets::find_by_message_ids(conn, ids)?
            && (item.automatic || tickets::belongs(conn, &ticket, contact_id)?)
        {
            return tickets::latest_continuation(conn, ticket).map(Some);
        }
    }
    if let Some(reply_to) = &item.thread.reply_to
        && let Some(ticket) =
            tickets::find_by_conversation_message(conn, channel, &item.conversation, reply_to)?
    {
        return tickets::latest_continuation(conn, ticket).map(Some);
    }
    tickets::latest_for_conversation(conn, channel, &item.conversation)
}

fn decide(ticket: Ticket, automatic: bool, reopen_window_ms: i64, now: Timestamp) -> Placement {
    let existing = |ticket, status| Placement::Existing {
        ticket: Box::new(ticket),
        status,
    };
    if automatic {
        return existing(ticket, None);
    }
    match ticket.status {
        TicketStatus::New | TicketStatus::Open => existing(ticket, None),
        // A person wrote: what was kept aside is work now.
        TicketStatus::Filtered => existing(ticket, Some(TicketStatus::New)),
        // The customer answered what the agent was waiting for.
        TicketStatus::Pending => existing(ticket, Some(TicketStatus::Open)),
        TicketStatus::Resolved
            if ticket
                .resolved_at
                .is_some_and(|at| now.millis_since(at) <= reopen_window_ms) =>
        {
            existing(ticket, Some(TicketStatus::Open))
        }
        TicketStatus::Resolved | TicketStatus::Closed => Placement::New {
            previous: Some(ticket.id),
            status: TicketStatus::New,
        },
    }
}
