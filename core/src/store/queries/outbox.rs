//! The outbox: one row per outbound message, claimed by one dispatcher at a time
//! under a lease, then marked sent, rescheduled or failed.

use crate::connector::{Receipt, ThreadContext};
use crate::identity::Identity;
use crate::model::{DeliveryStatus, Message, Timestamp};
use crate::store::queries::{messages, tickets};
use crate::store::{Connection, StoreError, params};

/// A claimed outbox entry.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub id: i64,
    pub message_id: i64,
    pub channel: String,
    /// Attempts made before this claim.
    pub attempts: u32,
    /// The claim's token: only its holder may record the outcome.
    pub claim: String,
    /// What the connector recorded of an earlier, partly done attempt.
    pub progress: Option<String>,
}

pub fn enqueue(
    conn: &mut dyn Connection,
    message_id: i64,
    channel: &str,
    conversation: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO outbox (message_id, channel, conversation, state, attempts, due_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4)",
        params![message_id, channel, conversation, now],
    )?;
    Ok(())
}

/// Claims up to `limit` entries that are due, or whose previous claim's lease ran out
/// (its dispatcher died), for `lease_ms`. Safe with any number of dispatchers: SQLite
/// runs one writer at a time, PostgreSQL skips rows another claim has locked. An entry
/// waits while an earlier one of its conversation is unsent (pending, retrying or in
/// flight), so that a customer receives replies in the order agents wrote them.
pub fn claim_due(
    conn: &mut dyn Connection,
    claim: &str,
    now: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let lock = conn.dialect().skip_locked();
    let sql = format!(
        "UPDATE outbox SET state = 'sending', claimed_by = $1, due_at = $2, updated_at = $3
         WHERE id IN (SELECT o.id FROM outbox o
                      WHERE o.state IN ('pending', 'sending') AND o.due_at <= $3
                        AND NOT EXISTS (SELECT 1 FROM outbox e
                                        WHERE e.channel = o.channel AND e.conversation = o.conversation
                                          AND e.id < o.id AND e.state IN ('pending', 'sending'))
                      ORDER BY o.due_at LIMIT $4 {lock})
         RETURNING id, message_id, channel, attempts, progress"
    );
    conn.query(&sql, params![claim, now + lease_ms, now, limit as i64])?
        .into_iter()
        .map(|row| {
            Ok(OutboxEntry {
                id: row.i64(0)?,
                message_id: row.i64(1)?,
                channel: row.string(2)?,
                attempts: u32::try_from(row.i64(3)?).unwrap_or(u32::MAX),
                claim: claim.to_owned(),
                progress: row.opt_string(4)?,
            })
        })
        .collect()
}

/// Records how far a multi-part send got (see [`OutboxEntry::progress`]).
pub fn save_progress(
    conn: &mut dyn Connection,
    message_id: i64,
    progress: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE outbox SET progress = $1, updated_at = $2 WHERE message_id = $3",
        params![progress, now, message_id],
    )?;
    Ok(())
}

/// What recording a send's outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The claim had run out and another dispatcher holds the entry: nothing recorded.
    ClaimLost,
    /// Recorded; `change` is the message's new delivery status, unless a provider's
    /// status update had already moved it further.
    Done {
        change: Option<messages::DeliveryChange>,
    },
}

/// Marks the entry sent and its message `sent`.
pub fn mark_sent(
    conn: &mut dyn Connection,
    entry: &OutboxEntry,
    receipt: &Receipt,
    now: i64,
) -> Result<Marked, StoreError> {
    let changed = conn.execute(
        "UPDATE outbox SET state = 'sent', attempts = attempts + 1, claimed_by = NULL, last_error = NULL,
             updated_at = $1 WHERE id = $2 AND claimed_by = $3 AND state = 'sending'",
        params![now, entry.id, entry.claim.as_str()],
    )?;
    if changed == 0 {
        return Ok(Marked::ClaimLost);
    }
    if let Some(segments) = receipt.segments {
        messages::set_segments(conn, entry.message_id, segments)?;
    }
    let recorded = match receipt.external_id.as_deref() {
        Some(external_id) => {
            messages::set_external_id(conn, entry.message_id, &entry.channel, external_id)?
                .then_some(external_id)
                .or_else(|| {
                    // A provider that reuses ids must not keep the message from being
                    // marked sent (it would be sent again after every lease); status
                    // updates for it are lost.
                    tracing::warn!(
                        message = entry.message_id,
                        channel = %entry.channel,
                        external_id,
                        "the provider's id for a sent message is already taken on this channel; not recorded"
                    );
                    None
                })
        }
        None => None,
    };
    let mut change =
        messages::apply_delivery(conn, entry.message_id, DeliveryStatus::Sent, None, now)?;
    if let Some(external_id) = recorded
        && let Some(later) = messages::apply_early_deliveries(
            conn,
            entry.message_id,
            &entry.channel,
            external_id,
            now,
        )?
    {
        change = Some(later);
    }
    Ok(Marked::Done { change })
}

/// Puts the entry back to be tried at `due_at`. `count_attempt` is false when the
/// entry only waited for a rate limit.
pub fn reschedule(
    conn: &mut dyn Connection,
    entry: &OutboxEntry,
    due_at: i64,
    count_attempt: bool,
    error: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE outbox SET state = 'pending', attempts = attempts + $1, due_at = $2, claimed_by = NULL,
             last_error = COALESCE($3, last_error), updated_at = $4
         WHERE id = $5 AND claimed_by = $6 AND state = 'sending'",
        params![
            i64::from(count_attempt),
            due_at,
            error,
            now,
            entry.id,
            entry.claim.as_str()
        ],
    )?;
    Ok(changed > 0)
}

/// Gives up on the entry and shows `reason` on its message.
pub fn mark_failed(
    conn: &mut dyn Connection,
    entry: &OutboxEntry,
    reason: &str,
    now: i64,
) -> Result<Marked, StoreError> {
    let changed = conn.execute(
        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, claimed_by = NULL, last_error = $1,
             updated_at = $2 WHERE id = $3 AND claimed_by = $4 AND state = 'sending'",
        params![reason, now, entry.id, entry.claim.as_str()],
    )?;
    if changed == 0 {
        return Ok(Marked::ClaimLost);
    }
    let change = messages::apply_delivery(
        conn,
        entry.message_id,
        DeliveryStatus::Failed,
        Some(reason),
        now,
    )?;
    Ok(Marked::Done { change })
}

/// Queues a failed message again (an admin's explicit retry): the one case where a
/// delivery status goes back, to `queued`.
pub fn requeue_failed(
    conn: &mut dyn Connection,
    message_id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE outbox SET state = 'pending', attempts = 0, due_at = $1, last_error = NULL, updated_at = $1
         WHERE message_id = $2 AND state = 'failed'",
        params![now, message_id],
    )?;
    if changed > 0 {
        conn.execute(
            "UPDATE messages SET delivery_status = 'queued', failure_reason = NULL, updated_at = $1 WHERE id = $2",
            params![now, message_id],
        )?;
    }
    Ok(changed > 0)
}

/// Entries not yet sent or failed, per channel.
pub fn depth(conn: &mut dyn Connection) -> Result<Vec<(String, i64)>, StoreError> {
    conn.query(
        "SELECT channel, COUNT(*) FROM outbox WHERE state IN ('pending', 'sending') GROUP BY channel ORDER BY channel",
        &[],
    )?
    .into_iter()
    .map(|r| Ok((r.string(0)?, r.i64(1)?)))
    .collect()
}

/// Where a reply goes: the conversation it was queued for, the customer's latest
/// message there, and the thread's provider ids.
pub fn thread_context(
    conn: &mut dyn Connection,
    message: &Message,
) -> Result<ThreadContext, StoreError> {
    let ticket = tickets::get(conn, message.ticket_id)?;
    thread_for(
        conn,
        ticket,
        &message.channel,
        &message.conversation,
        message.id,
    )
}

/// The same, for a reply not yet stored (`before` bounds the ticket's provider ids:
/// `i64::MAX` takes them all).
pub fn thread_for(
    conn: &mut dyn Connection,
    ticket: crate::model::Ticket,
    channel: &str,
    conversation: &str,
    before: i64,
) -> Result<ThreadContext, StoreError> {
    let latest_inbound = conn.query_one(
        "SELECT m.external_id, m.sender_kind, m.sender_address, u.reason
         FROM messages m
         LEFT JOIN unreachable u
           ON u.channel = m.channel AND u.kind = m.sender_kind AND u.address = m.sender_address
         WHERE m.ticket_id = $1 AND m.channel = $2 AND m.direction = 'inbound'
         ORDER BY m.id DESC LIMIT 1",
        params![ticket.id, channel],
    )?;
    let (reply_to, recipient, recipient_unreachable) = match latest_inbound {
        Some(row) => {
            let recipient = match (row.opt_parse(1)?, row.opt_string(2)?) {
                (Some(kind), Some(address)) => Some(Identity { kind, address }),
                _ => None,
            };
            (row.opt_string(0)?, recipient, row.opt_string(3)?)
        }
        // Nothing came in on this channel yet: the customer asked for replies here
        // (a chat continued by email), to the address they gave.
        None => {
            let routed = conn.query_one(
                "SELECT r.kind, r.address FROM reply_routes r JOIN messages m ON m.id = r.message_id
                 WHERE m.ticket_id = $1 AND r.channel = $2 ORDER BY m.id DESC LIMIT 1",
                params![ticket.id, channel],
            )?;
            let recipient = match routed {
                Some(row) => Some(Identity {
                    kind: row.parse(0)?,
                    address: row.string(1)?,
                }),
                None => None,
            };
            (None, recipient, None)
        }
    };
    let references = conn
        .query(
            "SELECT external_id FROM messages
             WHERE ticket_id = $1 AND channel = $2 AND external_id IS NOT NULL AND id < $3
             ORDER BY id",
            params![ticket.id, channel, before],
        )?
        .into_iter()
        .map(|r| r.string(0))
        .collect::<Result<Vec<_>, _>>()?;
    let last_inbound_at = conn
        .query_one(
            "SELECT MAX(created_at) FROM messages
             WHERE channel = $1 AND conversation = $2 AND direction = 'inbound'",
            params![channel, conversation],
        )?
        .map(|r| r.opt_i64(0))
        .transpose()?
        .flatten()
        .map(Timestamp);
    Ok(ThreadContext {
        ticket_id: ticket.id,
        ticket_reference: ticket.reference,
        channel: channel.to_owned(),
        conversation: conversation.to_owned(),
        recipient,
        recipient_unreachable,
        reply_to,
        references,
        subject: ticket.subject,
        last_inbound_at,
    })
}
