//! Deleting what is not to be kept: the contents of tickets past their retention
//! (message bodies, formatted mail, subjects, earlier versions of edited messages,
//! attachments; the ticket's metadata stays), and everything personal of a contact
//! erased on request. The search index follows the messages table by its triggers
//! (SQLite) or its generated column (PostgreSQL), so blanked text is no longer found.
//! Attachment files are content-addressed and may be shared: the caller deletes the
//! ones [`unreferenced`] reports after the transaction commits.

use serde::{Deserialize, Serialize};

use crate::model::{TicketStatus, Timestamp};
use crate::store::{Connection, StoreError, Value, params};

const DAY_MS: i64 = 86_400_000;

/// What an erased contact's tickets and messages hold instead of a conversation
/// address, followed by the ticket's id.
const ERASED: &str = "erased:";

/// Whether a ticket's (or message's) conversation is an erased contact's: nothing
/// can be sent on it.
pub fn is_erased(conversation: &str) -> bool {
    conversation.starts_with(ERASED)
}

/// Why a reply to an erased contact is refused.
pub const ERASED_REFUSAL: &str = "the contact was erased on request: there is no one to send to";

/// How many tickets one transaction purges.
pub const PURGE_BATCH: usize = 200;

/// One `[[retention]]` rule: tickets of this channel and category (either may be
/// left out: any) lose their contents `days` after they were resolved or closed.
/// The first rule that matches a ticket decides.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    pub channel: Option<String>,
    pub category: Option<String>,
    pub days: u32,
}

impl RetentionRule {
    /// `channel=sms category=kyc`, `any ticket`: for reports.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [("channel", &self.channel), ("category", &self.category)]
            .into_iter()
            .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={v}")))
            .collect();
        if parts.is_empty() {
            "any ticket".into()
        } else {
            parts.join(" ")
        }
    }
}

/// What a deletion removed, or (in a dry run) would remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Removed {
    pub tickets: i64,
    pub messages: i64,
    pub attachments: i64,
    /// The attachments' size.
    pub bytes: i64,
}

impl std::ops::AddAssign for Removed {
    fn add_assign(&mut self, other: Removed) {
        self.tickets += other.tickets;
        self.messages += other.messages;
        self.attachments += other.attachments;
        self.bytes += other.bytes;
    }
}

fn bind(values: &mut Vec<Value>, value: Value) -> String {
    values.push(value);
    format!("${}", values.len())
}

fn bind_list(values: &mut Vec<Value>, ids: &[i64]) -> String {
    let list: Vec<String> = ids.iter().map(|id| bind(values, (*id).into())).collect();
    list.join(", ")
}

/// `$1, $2, ...` for `ids`, and their values.
fn in_list(ids: &[i64]) -> (String, Vec<Value>) {
    let mut values = Vec::with_capacity(ids.len());
    let list = bind_list(&mut values, ids);
    (list, values)
}

/// The condition on `tickets t` of rule `rule` matching (NULL-safe: a ticket without
/// a category matches no rule that names one).
fn matches(rule: &RetentionRule, values: &mut Vec<Value>) -> String {
    let mut parts = vec!["1 = 1".to_owned()];
    if let Some(channel) = &rule.channel {
        parts.push(format!("t.channel = {}", bind(values, channel.into())));
    }
    if let Some(category) = &rule.category {
        parts.push(format!(
            "COALESCE(t.category, '') = {}",
            bind(values, category.into())
        ));
    }
    format!("({})", parts.join(" AND "))
}

/// The tickets whose contents rule `index` says to delete at `now`: resolved or
/// closed more than its days ago, not purged yet, and matched by no earlier rule.
fn expired(
    rules: &[RetentionRule],
    index: usize,
    now: Timestamp,
    values: &mut Vec<Value>,
) -> String {
    let rule = &rules[index];
    let cutoff = now.0 - i64::from(rule.days) * DAY_MS;
    let resolved = bind(values, TicketStatus::Resolved.as_str().into());
    let closed = bind(values, TicketStatus::Closed.as_str().into());
    let cutoff = bind(values, cutoff.into());
    let mut clauses = vec![
        format!("t.status IN ({resolved}, {closed})"),
        "t.purged_at IS NULL".to_owned(),
        // Closing a ticket clears its resolution time; its last change says when.
        format!("COALESCE(t.resolved_at, t.updated_at) < {cutoff}"),
        matches(rule, values),
    ];
    for earlier in &rules[..index] {
        clauses.push(format!("NOT {}", matches(earlier, values)));
    }
    clauses.join(" AND ")
}

/// What rule `index` would delete now: the dry run.
pub fn count_expired(
    conn: &mut dyn Connection,
    rules: &[RetentionRule],
    index: usize,
    now: Timestamp,
) -> Result<Removed, StoreError> {
    let mut values = Vec::new();
    let expired = expired(rules, index, now, &mut values);
    let row = conn
        .query_one(
            &format!(
                "SELECT COUNT(DISTINCT t.id), COUNT(DISTINCT m.id), COUNT(a.id), CAST(COALESCE(SUM(a.size), 0) AS BIGINT)
                 FROM tickets t LEFT JOIN messages m ON m.ticket_id = t.id
                 LEFT JOIN attachments a ON a.message_id = m.id WHERE {expired}"
            ),
            &values,
        )?
        .ok_or_else(|| StoreError::Database("no row from an aggregate".into()))?;
    Ok(Removed {
        tickets: row.i64(0)?,
        messages: row.i64(1)?,
        attachments: row.i64(2)?,
        bytes: row.i64(3)?,
    })
}

/// Up to `limit` tickets rule `index` says to purge now.
pub fn expired_tickets(
    conn: &mut dyn Connection,
    rules: &[RetentionRule],
    index: usize,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    let mut values = Vec::new();
    let expired = expired(rules, index, now, &mut values);
    let limit = bind(&mut values, (limit as i64).into());
    conn.query(
        &format!("SELECT t.id FROM tickets t WHERE {expired} ORDER BY t.id LIMIT {limit}"),
        &values,
    )?
    .iter()
    .map(|row| row.i64(0))
    .collect()
}

/// Blanks the contents of `messages` (body, formatted mail, subject, earlier versions)
/// and deletes their attachments; what went, and the files they pointed at.
fn blank_messages(
    conn: &mut dyn Connection,
    messages: &[i64],
) -> Result<(Removed, Vec<String>), StoreError> {
    let mut removed = Removed::default();
    let mut files = Vec::new();
    for chunk in messages.chunks(500) {
        let (ids, values) = in_list(chunk);
        for row in conn.query(
            &format!("SELECT sha256, size FROM attachments WHERE message_id IN ({ids})"),
            &values,
        )? {
            files.push(row.string(0)?);
            removed.attachments += 1;
            removed.bytes += row.i64(1)?;
        }
        conn.execute(
            &format!("DELETE FROM attachments WHERE message_id IN ({ids})"),
            &values,
        )?;
        conn.execute(
            &format!(
                "UPDATE message_amendments SET previous_body = NULL WHERE message_id IN ({ids})"
            ),
            &values,
        )?;
        removed.messages += conn.execute(
            &format!(
                "UPDATE messages SET body = '', html = NULL, subject = NULL WHERE id IN ({ids})"
            ),
            &values,
        )? as i64;
    }
    files.sort();
    files.dedup();
    Ok((removed, files))
}

fn ids(conn: &mut dyn Connection, sql: &str, values: &[Value]) -> Result<Vec<i64>, StoreError> {
    conn.query(sql, values)?
        .iter()
        .map(|row| row.i64(0))
        .collect()
}

/// Deletes the contents of these tickets' messages and their files, and marks the
/// tickets purged; what went, and the files to delete once no attachment points at
/// them.
pub fn purge_tickets(
    conn: &mut dyn Connection,
    tickets: &[i64],
    now: Timestamp,
) -> Result<(Removed, Vec<String>), StoreError> {
    let (list, mut values) = in_list(tickets);
    let messages = ids(
        conn,
        &format!("SELECT id FROM messages WHERE ticket_id IN ({list}) ORDER BY id"),
        &values,
    )?;
    let (mut removed, files) = blank_messages(conn, &messages)?;
    let at = bind(&mut values, now.0.into());
    removed.tickets = conn.execute(
        &format!("UPDATE tickets SET purged_at = {at} WHERE id IN ({list})"),
        &values,
    )? as i64;
    Ok((removed, files))
}

/// Of these files, the ones no attachment points at any more.
pub fn unreferenced(
    conn: &mut dyn Connection,
    files: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut gone = Vec::new();
    for sha256 in files {
        let used = conn
            .query_one(
                "SELECT 1 FROM attachments WHERE sha256 = $1 LIMIT 1",
                params![sha256.as_str()],
            )?
            .is_some();
        if !used {
            gone.push(sha256.clone());
        }
    }
    Ok(gone)
}

/// Erases a contact: every ticket of theirs loses its contents, subject and
/// conversation address; their messages on others' tickets lose theirs and their
/// name; their identities, names, unreachable marks, web chat history, and replies
/// still queued to them go. The contact and its tickets stay as numbers, so reports
/// and the audit log still add up. What went, and the files to delete.
pub fn erase_contact(
    conn: &mut dyn Connection,
    contact_id: i64,
    now: Timestamp,
) -> Result<(Removed, Vec<String>), StoreError> {
    let exists = conn
        .query_one(
            "SELECT erased_at FROM contacts WHERE id = $1",
            params![contact_id],
        )?
        .ok_or_else(|| StoreError::NotFound(format!("contact {contact_id}")))?;
    if exists.opt_i64(0)?.is_some() {
        return Err(StoreError::Invalid(format!(
            "contact {contact_id} was already erased"
        )));
    }
    let tickets = ids(
        conn,
        "SELECT id FROM tickets WHERE contact_id = $1 ORDER BY id",
        params![contact_id],
    )?;
    let mut values = vec![Value::from(contact_id)];
    let own = if tickets.is_empty() {
        "0 = 1".to_owned()
    } else {
        format!("ticket_id IN ({})", bind_list(&mut values, &tickets))
    };
    let messages = ids(
        conn,
        &format!("SELECT id FROM messages WHERE contact_id = $1 OR {own} ORDER BY id"),
        &values,
    )?;
    let (mut removed, files) = blank_messages(conn, &messages)?;
    for chunk in messages.chunks(500) {
        let (list, values) = in_list(chunk);
        let mut with_contact = values.clone();
        let contact = bind(&mut with_contact, contact_id.into());
        // Where each message went or came from, and who wrote it when it was them.
        conn.execute(
            &format!(
                "UPDATE messages SET sender_kind = NULL, sender_address = NULL, failure_reason = NULL,
                     conversation = '{ERASED}' || CAST(ticket_id AS TEXT),
                     author = CASE WHEN contact_id = {contact} THEN 'erased' ELSE author END
                 WHERE id IN ({list})"
            ),
            &with_contact,
        )?;
        for table in ["reply_routes", "conversation_log"] {
            conn.execute(
                &format!("DELETE FROM {table} WHERE message_id IN ({list})"),
                &values,
            )?;
        }
        // Replies still waiting for their turn are not sent to someone erased.
        conn.execute(
            &format!(
                "UPDATE messages SET delivery_status = 'failed', failure_reason = 'the contact was erased'
                 WHERE id IN (SELECT message_id FROM outbox WHERE state = 'pending' AND message_id IN ({list}))"
            ),
            &values,
        )?;
        conn.execute(
            &format!(
                "UPDATE outbox SET state = 'failed', last_error = 'the contact was erased'
                 WHERE state = 'pending' AND message_id IN ({list})"
            ),
            &values,
        )?;
    }
    for chunk in tickets.chunks(500) {
        let (list, mut values) = in_list(chunk);
        // The web chat's sequence of the conversation, before its address goes.
        conn.execute(
            &format!(
                "DELETE FROM conversation_heads WHERE (channel, conversation) IN
                 (SELECT channel, conversation FROM tickets WHERE id IN ({list}))"
            ),
            &values,
        )?;
        let at = bind(&mut values, now.0.into());
        removed.tickets += conn.execute(
            &format!(
                "UPDATE tickets SET subject = NULL, conversation = '{ERASED}' || CAST(id AS TEXT),
                     language = NULL, csat_token = NULL, purged_at = {at}
                 WHERE id IN ({list})"
            ),
            &values,
        )? as i64;
    }
    conn.execute(
        "DELETE FROM unreachable WHERE (kind, address) IN
         (SELECT kind, address FROM identities WHERE contact_id = $1)",
        params![contact_id],
    )?;
    conn.execute(
        "DELETE FROM identities WHERE contact_id = $1",
        params![contact_id],
    )?;
    conn.execute(
        "DELETE FROM participants WHERE contact_id = $1",
        params![contact_id],
    )?;
    conn.execute(
        "UPDATE contacts SET name = NULL, language = NULL, erased_at = $2, updated_at = $2 WHERE id = $1",
        params![contact_id, now.0],
    )?;
    Ok((removed, files))
}
