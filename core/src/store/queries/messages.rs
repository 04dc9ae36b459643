//! Messages, their attachments, and delivery status.

use crate::access::Scope;
use crate::identity::Identity;
use crate::model::{Attachment, DeliveryStatus, Direction, Message, MessageEdit, Timestamp};
use crate::store::{Connection, Row, StoreError, Value, params};

pub(crate) const COLUMNS: &str = "id, ticket_id, direction, channel, external_id, conversation, contact_id, \
     author, subject, body, html, automatic, delivery_status, failure_reason, created_at, edited_at, segments";

pub(crate) fn from_row(row: &Row) -> Result<Message, StoreError> {
    Ok(Message {
        id: row.i64(0)?,
        ticket_id: row.i64(1)?,
        direction: row.parse(2)?,
        channel: row.string(3)?,
        external_id: row.opt_string(4)?,
        conversation: row.string(5)?,
        contact_id: row.opt_i64(6)?,
        author: row.string(7)?,
        subject: row.opt_string(8)?,
        text: row.string(9)?,
        html: row.opt_string(10)?,
        automatic: row.bool(11)?,
        delivery_status: row.opt_parse(12)?,
        failure_reason: row.opt_string(13)?,
        created_at: Timestamp(row.i64(14)?),
        edited_at: row.opt_i64(15)?.map(Timestamp),
        segments: row.opt_i64(16)?,
        edits: Vec::new(),
        attachments: Vec::new(),
    })
}

/// What a new message is made of.
pub struct NewMessage<'a> {
    pub ticket_id: i64,
    pub direction: Direction,
    pub channel: &'a str,
    pub external_id: Option<&'a str>,
    pub conversation: &'a str,
    pub contact_id: Option<i64>,
    /// Inbound: the identity the customer wrote from, which replies go back to.
    pub sender: Option<&'a Identity>,
    pub author: &'a str,
    pub subject: Option<&'a str>,
    pub text: &'a str,
    pub html: Option<&'a str>,
    pub automatic: bool,
    pub delivery_status: Option<DeliveryStatus>,
    /// The provider's grouping key (album), for later parts to find this message.
    pub group: Option<&'a str>,
    pub now: i64,
}

/// Inserts a message; `None` when (channel, external_id) is already stored.
pub fn insert(conn: &mut dyn Connection, new: &NewMessage<'_>) -> Result<Option<i64>, StoreError> {
    let row = conn.query_one(
        "INSERT INTO messages (ticket_id, direction, channel, external_id, conversation, contact_id,
             sender_kind, sender_address, author, subject, body, html, automatic, delivery_status,
             group_key, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)
         ON CONFLICT (channel, external_id) DO NOTHING
         RETURNING id",
        params![
            new.ticket_id,
            new.direction.as_str(),
            new.channel,
            new.external_id,
            new.conversation,
            new.contact_id,
            new.sender.map(|s| s.kind.as_str()),
            new.sender.map(|s| s.address.as_str()),
            new.author,
            new.subject,
            new.text,
            new.html,
            new.automatic,
            new.delivery_status.map(DeliveryStatus::as_str),
            new.group,
            new.now
        ],
    )?;
    row.map(|r| r.i64(0)).transpose()
}

/// The buttons an outbound message offers (see [`crate::helpdesk::flow::Choice`]).
pub fn choices(
    conn: &mut dyn Connection,
    message_id: i64,
) -> Result<Vec<crate::helpdesk::flow::Choice>, StoreError> {
    let row = conn.query_one(
        "SELECT choices FROM messages WHERE id = $1",
        params![message_id],
    )?;
    match row.map(|r| r.opt_string(0)).transpose()?.flatten() {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| StoreError::Decode(format!("message {message_id}'s choices: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// Records where replies to an inbound message go instead of back the way it came.
pub fn insert_reply_route(
    conn: &mut dyn Connection,
    message_id: i64,
    route: &crate::connector::ReplyRoute,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO reply_routes (message_id, channel, kind, address) VALUES ($1, $2, $3, $4)",
        params![
            message_id,
            route.channel.as_str(),
            route.identity.kind.as_str(),
            route.identity.address.as_str()
        ],
    )?;
    Ok(())
}

/// The (message id, ticket id) of the message that started a group (an album) in a
/// conversation.
pub fn find_group(
    conn: &mut dyn Connection,
    channel: &str,
    conversation: &str,
    group: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    conn.query_one(
        "SELECT id, ticket_id FROM messages
         WHERE channel = $1 AND conversation = $2 AND group_key = $3
         ORDER BY id LIMIT 1",
        params![channel, conversation, group],
    )?
    .map(|r| Ok((r.i64(0)?, r.i64(1)?)))
    .transpose()
}

/// Replaces a message's text with the customer's edit; returns the text replaced.
pub fn apply_edit(
    conn: &mut dyn Connection,
    id: i64,
    text: &str,
    html: Option<&str>,
    now: i64,
) -> Result<String, StoreError> {
    let previous = conn
        .query_one("SELECT body FROM messages WHERE id = $1", params![id])?
        .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?
        .string(0)?;
    conn.execute(
        "UPDATE messages SET body = $1, html = $2, edited_at = $3, updated_at = $3 WHERE id = $4",
        params![text, html, now, id],
    )?;
    Ok(previous)
}

/// Adds a later part's text (a caption) to a grouped message.
pub fn append_text(
    conn: &mut dyn Connection,
    id: i64,
    text: &str,
    now: i64,
) -> Result<(), StoreError> {
    if text.trim().is_empty() {
        return Ok(());
    }
    conn.execute(
        "UPDATE messages SET body = CASE WHEN body = '' THEN $1 ELSE body || $2 || $1 END,
             updated_at = $3
         WHERE id = $4",
        params![text, "\n\n", now, id],
    )?;
    Ok(())
}

/// The (message id, ticket id) of an already stored message.
pub fn find_external(
    conn: &mut dyn Connection,
    channel: &str,
    external_id: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    conn.query_one(
        "SELECT id, ticket_id FROM messages WHERE channel = $1 AND external_id = $2",
        params![channel, external_id],
    )?
    .map(|r| Ok((r.i64(0)?, r.i64(1)?)))
    .transpose()
}

pub fn get(conn: &mut dyn Connection, id: i64) -> Result<Message, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM messages WHERE id = $1");
    let mut message = conn
        .query_one(&sql, params![id])?
        .as_ref()
        .map(from_row)
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
    message.attachments = attachments_of(conn, &[id])?;
    if message.edited_at.is_some() {
        message.edits = edits_where(conn, "message_id = $1", id)?
            .into_iter()
            .map(|(_, edit)| edit)
            .collect();
    }
    Ok(message)
}

/// A message's formatted mail body (`None`: it has none), if its ticket is in `scope`.
pub fn html_body(
    conn: &mut dyn Connection,
    id: i64,
    scope: &Scope,
) -> Result<Option<String>, StoreError> {
    let mut values = vec![Value::from(id)];
    let in_scope = scope.clause(&mut values);
    conn.query_one(
        &format!(
            "SELECT m.html FROM messages m JOIN tickets t ON t.id = m.ticket_id
             WHERE m.id = $1 AND {in_scope}"
        ),
        &values,
    )?
    .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?
    .opt_string(0)
}

/// A ticket's messages, oldest first, with their attachments.
pub fn for_ticket(conn: &mut dyn Connection, ticket_id: i64) -> Result<Vec<Message>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM messages WHERE ticket_id = $1 ORDER BY id");
    let mut messages = conn
        .query(&sql, params![ticket_id])?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let attachments = conn
        .query(
            "SELECT a.id, a.message_id, a.filename, a.content_type, a.size, a.sha256
             FROM attachments a JOIN messages m ON m.id = a.message_id
             WHERE m.ticket_id = $1 ORDER BY a.id",
            params![ticket_id],
        )?
        .iter()
        .map(attachment_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    for attachment in attachments {
        if let Some(m) = messages.iter_mut().find(|m| m.id == attachment.message_id) {
            m.attachments.push(attachment);
        }
    }
    if messages.iter().any(|m| m.edited_at.is_some()) {
        let condition = "message_id IN (SELECT id FROM messages WHERE ticket_id = $1)";
        for (message_id, edit) in edits_where(conn, condition, ticket_id)? {
            if let Some(m) = messages.iter_mut().find(|m| m.id == message_id) {
                m.edits.push(edit);
            }
        }
    }
    Ok(messages)
}

/// Recorded edits (message id, edit) matching `condition` on `$1`, oldest first.
fn edits_where(
    conn: &mut dyn Connection,
    condition: &str,
    value: i64,
) -> Result<Vec<(i64, MessageEdit)>, StoreError> {
    let sql = format!(
        "SELECT message_id, previous_body, created_at FROM message_amendments
         WHERE kind = 'edit' AND previous_body IS NOT NULL AND {condition} ORDER BY id"
    );
    conn.query(&sql, params![value])?
        .iter()
        .map(|row| {
            Ok((
                row.i64(0)?,
                MessageEdit {
                    previous_text: row.string(1)?,
                    edited_at: Timestamp(row.i64(2)?),
                },
            ))
        })
        .collect()
}

pub(crate) fn attachment_from_row(row: &Row) -> Result<Attachment, StoreError> {
    Ok(Attachment {
        id: row.i64(0)?,
        message_id: row.i64(1)?,
        filename: row.string(2)?,
        content_type: row.string(3)?,
        size: row.i64(4)?,
        sha256: row.string(5)?,
    })
}

pub(crate) fn attachments_of(
    conn: &mut dyn Connection,
    message_ids: &[i64],
) -> Result<Vec<Attachment>, StoreError> {
    let mut out = Vec::new();
    for id in message_ids {
        for row in conn.query(
            "SELECT id, message_id, filename, content_type, size, sha256 FROM attachments
             WHERE message_id = $1 ORDER BY id",
            params![*id],
        )? {
            out.push(attachment_from_row(&row)?);
        }
    }
    Ok(out)
}

pub fn insert_attachment(
    conn: &mut dyn Connection,
    message_id: i64,
    filename: &str,
    content_type: &str,
    size: i64,
    sha256: &str,
) -> Result<i64, StoreError> {
    conn.query_one(
        "INSERT INTO attachments (message_id, filename, content_type, size, sha256)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        params![message_id, filename, content_type, size, sha256],
    )?
    .ok_or_else(|| StoreError::Database("attachment insert returned no id".into()))?
    .i64(0)
}

/// An attachment, if its message's ticket is in `scope`.
pub fn get_attachment(
    conn: &mut dyn Connection,
    id: i64,
    scope: &Scope,
) -> Result<Attachment, StoreError> {
    let mut values = vec![Value::from(id)];
    let in_scope = scope.clause(&mut values);
    conn.query_one(
        &format!(
            "SELECT a.id, a.message_id, a.filename, a.content_type, a.size, a.sha256
             FROM attachments a JOIN messages m ON m.id = a.message_id
             JOIN tickets t ON t.id = m.ticket_id WHERE a.id = $1 AND {in_scope}"
        ),
        &values,
    )?
    .as_ref()
    .map(attachment_from_row)
    .transpose()?
    .ok_or_else(|| StoreError::NotFound(format!("attachment {id}")))
}

/// A delivery status that was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryChange {
    pub message_id: i64,
    pub ticket_id: i64,
    pub status: DeliveryStatus,
}

impl DeliveryChange {
    /// The feed's event for this change.
    pub fn event(&self) -> crate::events::Event {
        crate::events::Event::MessageUpdated {
            ticket_id: self.ticket_id,
            message_id: self.message_id,
            delivery_status: Some(self.status),
        }
    }
}

/// Moves an outbound message's delivery status forward; a status that would move it
/// backwards (a late `delivered` after `read`) is ignored. Returns what changed.
pub fn apply_delivery(
    conn: &mut dyn Connection,
    message_id: i64,
    status: DeliveryStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<Option<DeliveryChange>, StoreError> {
    let row = conn.query_one(
        "SELECT id, delivery_status, ticket_id FROM messages WHERE id = $1 AND direction = 'outbound'",
        params![message_id],
    )?;
    let Some(row) = row else { return Ok(None) };
    let id = row.i64(0)?;
    let current: Option<DeliveryStatus> = row.opt_parse(1)?;
    if current.is_some_and(|c| c.rank() >= status.rank()) {
        return Ok(None);
    }
    let reason = if status == DeliveryStatus::Failed {
        reason
    } else {
        None
    };
    conn.execute(
        "UPDATE messages SET delivery_status = $1, failure_reason = $2, updated_at = $3 WHERE id = $4",
        params![status.as_str(), reason, now, id],
    )?;
    Ok(Some(DeliveryChange {
        message_id: id,
        ticket_id: row.i64(2)?,
        status,
    }))
}

/// How long a status update about an unknown provider id is kept for the send it
/// may be about: providers retry their callbacks for days, not longer.
const EARLY_DELIVERY_KEEP_MS: i64 = 7 * 24 * 3600 * 1000;

/// A provider's status update about one of the channel's sent messages, by the
/// provider's id. When no message has that id yet (the callback overtook the
/// send's answer), the update is held and applied once the id is recorded
/// ([`apply_early_deliveries`]).
pub fn apply_external_delivery(
    conn: &mut dyn Connection,
    channel: &str,
    external_id: &str,
    status: DeliveryStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<Option<DeliveryChange>, StoreError> {
    let found = conn.query_one(
        "SELECT id FROM messages WHERE channel = $1 AND external_id = $2 AND direction = 'outbound'",
        params![channel, external_id],
    )?;
    if let Some(row) = found {
        return apply_delivery(conn, row.i64(0)?, status, reason, now);
    }
    conn.execute(
        "DELETE FROM early_deliveries WHERE received_at < $1",
        params![now - EARLY_DELIVERY_KEEP_MS],
    )?;
    conn.execute(
        "INSERT INTO early_deliveries (channel, external_id, status, reason, received_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel, external_id, status) DO NOTHING",
        params![channel, external_id, status.as_str(), reason, now],
    )?;
    Ok(None)
}

/// Applies the held updates for a message whose provider id was just recorded,
/// most advanced last; the last change made, if any.
pub fn apply_early_deliveries(
    conn: &mut dyn Connection,
    message_id: i64,
    channel: &str,
    external_id: &str,
    now: i64,
) -> Result<Option<DeliveryChange>, StoreError> {
    let mut held = conn
        .query(
            "SELECT status, reason FROM early_deliveries WHERE channel = $1 AND external_id = $2",
            params![channel, external_id],
        )?
        .into_iter()
        .map(|r| Ok((r.parse::<DeliveryStatus>(0)?, r.opt_string(1)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    if held.is_empty() {
        return Ok(None);
    }
    held.sort_by_key(|(status, _)| status.rank());
    let mut last = None;
    for (status, reason) in held {
        if let Some(change) = apply_delivery(conn, message_id, status, reason.as_deref(), now)? {
            last = Some(change);
        }
    }
    conn.execute(
        "DELETE FROM early_deliveries WHERE channel = $1 AND external_id = $2",
        params![channel, external_id],
    )?;
    Ok(last)
}

/// Records the provider's id of a sent message, so that status updates find it.
/// `false` when another message of the channel already has that id.
/// Records how many SMS segments a sent reply took.
pub fn set_segments(conn: &mut dyn Connection, id: i64, segments: u32) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE messages SET segments = $1 WHERE id = $2",
        params![i64::from(segments), id],
    )?;
    Ok(())
}

pub fn set_external_id(
    conn: &mut dyn Connection,
    id: i64,
    channel: &str,
    external_id: &str,
) -> Result<bool, StoreError> {
    if find_external(conn, channel, external_id)?.is_some() {
        return Ok(false);
    }
    conn.execute(
        "UPDATE messages SET external_id = $1 WHERE id = $2",
        params![external_id, id],
    )?;
    Ok(true)
}
