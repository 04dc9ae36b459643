//! Numbered conversation logs, for channels where the gateway itself is the
//! provider (the web chat): every message the customer sees, theirs and the agents',
//! under a sequence number that counts up by one per conversation in commit order.

use crate::model::{Attachment, DeliveryStatus, Message};
use crate::store::queries::messages::{self, DeliveryChange};
use crate::store::{Connection, StoreError, params};

/// One message of a conversation, with its number there.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: i64,
    pub message: Message,
}

/// Part of a conversation, as a client is shown it.
#[derive(Debug, Clone)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// The conversation's latest number.
    pub head: i64,
    /// The ticket of the conversation's newest message: (id, reference).
    pub ticket: Option<(i64, String)>,
}

/// Which part of a conversation to read.
#[derive(Debug, Clone, Copy)]
pub enum Range {
    /// What came after `seq`, oldest first: what a reconnecting client missed.
    After(i64),
    /// The newest entries before `seq` (`i64::MAX`: the newest of all), oldest first:
    /// a page of history.
    Before(i64),
}

/// Gives `message_id` the conversation's next number, or returns the one it has: a
/// send retried after a crash keeps its place and is not logged twice.
pub fn append(
    conn: &mut dyn Connection,
    channel: &str,
    conversation: &str,
    message_id: i64,
    now: i64,
) -> Result<i64, StoreError> {
    match seq_of(conn, message_id)? {
        Some(seq) => Ok(seq),
        None => append_new(conn, channel, conversation, message_id, now),
    }
}

/// Gives a message that is not logged yet the conversation's next number.
pub fn append_new(
    conn: &mut dyn Connection,
    channel: &str,
    conversation: &str,
    message_id: i64,
    now: i64,
) -> Result<i64, StoreError> {
    let seq = conn
        .query_one(
            "INSERT INTO conversation_heads (channel, conversation, last_seq) VALUES ($1, $2, 1)
             ON CONFLICT (channel, conversation)
             DO UPDATE SET last_seq = conversation_heads.last_seq + 1
             RETURNING last_seq",
            params![channel, conversation],
        )?
        .ok_or_else(|| StoreError::Database("conversation head returned no number".into()))?
        .i64(0)?;
    conn.execute(
        "INSERT INTO conversation_log (channel, conversation, seq, message_id, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        params![channel, conversation, seq, message_id, now],
    )?;
    Ok(seq)
}

/// The number a message has in its conversation's log, if it is logged.
pub fn seq_of(conn: &mut dyn Connection, message_id: i64) -> Result<Option<i64>, StoreError> {
    conn.query_one(
        "SELECT seq FROM conversation_log WHERE message_id = $1",
        params![message_id],
    )?
    .map(|row| row.i64(0))
    .transpose()
}

/// [`read`], with the conversation's head and current ticket.
pub fn page(
    conn: &mut dyn Connection,
    channel: &str,
    conversation: &str,
    range: Range,
    limit: usize,
) -> Result<Page, StoreError> {
    let entries = read(conn, channel, conversation, range, limit)?;
    let head = head(conn, channel, conversation)?;
    let ticket = conn
        .query_one(
            "SELECT t.id, t.reference FROM conversation_log l
             JOIN messages m ON m.id = l.message_id JOIN tickets t ON t.id = m.ticket_id
             WHERE l.channel = $1 AND l.conversation = $2 AND l.seq = $3",
            params![channel, conversation, head],
        )?
        .map(|row| Ok::<_, StoreError>((row.i64(0)?, row.string(1)?)))
        .transpose()?;
    Ok(Page {
        entries,
        head,
        ticket,
    })
}

/// The conversation's latest number; 0 before its first message.
pub fn head(
    conn: &mut dyn Connection,
    channel: &str,
    conversation: &str,
) -> Result<i64, StoreError> {
    Ok(conn
        .query_one(
            "SELECT last_seq FROM conversation_heads WHERE channel = $1 AND conversation = $2",
            params![channel, conversation],
        )?
        .map(|row| row.i64(0))
        .transpose()?
        .unwrap_or(0))
}

/// At most `limit` entries of the conversation, oldest first, with their attachments.
pub fn read(
    conn: &mut dyn Connection,
    channel: &str,
    conversation: &str,
    range: Range,
    limit: usize,
) -> Result<Vec<Entry>, StoreError> {
    let columns: Vec<String> = messages::COLUMNS
        .split(',')
        .map(|column| format!("m.{}", column.trim()))
        .collect();
    let (condition, order, bound) = match range {
        Range::After(seq) => ("l.seq > $3", "ASC", seq),
        Range::Before(seq) => ("l.seq < $3", "DESC", seq),
    };
    let sql = format!(
        "SELECT {columns}, l.seq FROM conversation_log l JOIN messages m ON m.id = l.message_id
         WHERE l.channel = $1 AND l.conversation = $2 AND {condition}
         ORDER BY l.seq {order} LIMIT $4",
        columns = columns.join(", ")
    );
    let seq_column = columns.len();
    let mut entries = conn
        .query(
            &sql,
            params![
                channel,
                conversation,
                bound,
                limit.min(i64::MAX as usize) as i64
            ],
        )?
        .iter()
        .map(|row| {
            Ok(Entry {
                seq: row.i64(seq_column)?,
                message: messages::from_row(row)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    entries.sort_by_key(|entry| entry.seq);
    let ids: Vec<i64> = entries.iter().map(|entry| entry.message.id).collect();
    for attachment in messages::attachments_of(conn, &ids)? {
        if let Some(entry) = entries
            .iter_mut()
            .find(|entry| entry.message.id == attachment.message_id)
        {
            entry.message.attachments.push(attachment);
        }
    }
    Ok(entries)
}

/// An attachment of a message in the conversation's log; `None` for any other, so
/// that a client can fetch only its own conversation's files.
pub fn attachment(
    conn: &mut dyn Connection,
    channel: &str,
    conversation: &str,
    attachment_id: i64,
) -> Result<Option<Attachment>, StoreError> {
    conn.query_one(
        "SELECT a.id, a.message_id, a.filename, a.content_type, a.size, a.sha256
         FROM attachments a JOIN conversation_log l ON l.message_id = a.message_id
         WHERE a.id = $1 AND l.channel = $2 AND l.conversation = $3",
        params![attachment_id, channel, conversation],
    )?
    .as_ref()
    .map(messages::attachment_from_row)
    .transpose()
}

/// Marks the agents' messages up to `seq` as `status` (delivered, read) where that
/// moves them forward; returns what changed.
pub fn mark_outbound(
    conn: &mut dyn Connection,
    channel: &str,
    conversation: &str,
    seq: i64,
    status: DeliveryStatus,
    now: i64,
) -> Result<Vec<DeliveryChange>, StoreError> {
    // Forward only: apply_delivery leaves what is already there or further.
    let sql = "SELECT m.id FROM conversation_log l JOIN messages m ON m.id = l.message_id
         WHERE l.channel = $1 AND l.conversation = $2 AND l.seq <= $3
           AND m.direction = 'outbound' AND m.delivery_status IN ('queued', 'sent', 'delivered')";
    let ids = conn
        .query(sql, params![channel, conversation, seq])?
        .iter()
        .map(|row| row.i64(0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut changes = Vec::new();
    for id in ids {
        changes.extend(messages::apply_delivery(conn, id, status, None, now)?);
    }
    Ok(changes)
}
