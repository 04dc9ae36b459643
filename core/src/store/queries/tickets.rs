//! Tickets: creation with a unique reference, lookups used by threading, agent
//! updates, and the filtered, paginated list.

use crate::access::Scope;
use crate::model::{Priority, Ticket, TicketStatus, Timestamp};
use crate::reference;
use crate::store::{Connection, Row, StoreError, Value, params};

pub(super) const COLUMNS: &str = "t.id, t.reference, t.status, t.priority, t.category, t.assignee, t.subject, \
     t.channel, t.conversation, t.contact_id, t.previous_ticket_id, t.created_at, t.updated_at, \
     t.resolved_at, t.last_message_at, t.triage_rule, t.team, t.language, t.sensitive, \
     t.acknowledged_at, t.first_response_at, t.csat_rating, t.purged_at";

pub(super) fn from_row(row: &Row) -> Result<Ticket, StoreError> {
    Ok(Ticket {
        id: row.i64(0)?,
        reference: row.string(1)?,
        status: row.parse(2)?,
        priority: row.parse(3)?,
        category: row.opt_string(4)?,
        assignee: row.opt_string(5)?,
        subject: row.opt_string(6)?,
        channel: row.string(7)?,
        conversation: row.string(8)?,
        contact_id: row.i64(9)?,
        previous_ticket_id: row.opt_i64(10)?,
        created_at: Timestamp(row.i64(11)?),
        updated_at: Timestamp(row.i64(12)?),
        resolved_at: row.opt_i64(13)?.map(Timestamp),
        last_message_at: Timestamp(row.i64(14)?),
        triage_rule: row.opt_string(15)?,
        team: row.opt_string(16)?,
        language: row.opt_string(17)?,
        sensitive: match row.opt_string(18)? {
            Some(kinds) => kinds
                .split(',')
                .map(|k| k.parse().map_err(StoreError::Decode))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        },
        acknowledged_at: row.opt_i64(19)?.map(Timestamp),
        first_response_at: row.opt_i64(20)?.map(Timestamp),
        csat_rating: row.opt_i64(21)?,
        purged_at: row.opt_i64(22)?.map(Timestamp),
        sla: Vec::new(),
    })
}

fn one(
    conn: &mut dyn Connection,
    filter: &str,
    params: &[Value],
) -> Result<Option<Ticket>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tickets t WHERE {filter}");
    conn.query_one(&sql, params)?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// What a new ticket starts with.
pub struct NewTicket<'a> {
    pub reference_prefix: &'a str,
    pub subject: Option<&'a str>,
    pub channel: &'a str,
    pub conversation: &'a str,
    pub contact_id: i64,
    pub previous_ticket_id: Option<i64>,
    /// `new`, or `filtered` for automatic mail that concerns no ticket.
    pub status: TicketStatus,
    /// What triage gave it (`normal` and nothing else without a rule).
    pub priority: Priority,
    pub category: Option<&'a str>,
    pub triage_rule: Option<&'a str>,
    /// The language of its first message.
    pub language: Option<&'a str>,
    pub now: i64,
}

/// Inserts a ticket under a fresh random reference, drawing again on the (rare)
/// collision.
pub fn insert(conn: &mut dyn Connection, new: &NewTicket<'_>) -> Result<Ticket, StoreError> {
    for _ in 0..16 {
        let reference = reference::generate(new.reference_prefix);
        let inserted = conn.query_one(
            "INSERT INTO tickets (reference, status, priority, subject, channel, conversation,
                 contact_id, previous_ticket_id, category, triage_rule, language,
                 created_at, updated_at, last_message_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12)
             ON CONFLICT (reference) DO NOTHING
             RETURNING id",
            params![
                reference.as_str(),
                new.status.as_str(),
                new.priority.as_str(),
                new.subject,
                new.channel,
                new.conversation,
                new.contact_id,
                new.previous_ticket_id,
                new.category,
                new.triage_rule,
                new.language,
                new.now
            ],
        )?;
        if let Some(row) = inserted {
            return get(conn, row.i64(0)?);
        }
    }
    Err(StoreError::Database(
        "could not find a free ticket reference in 16 draws".into(),
    ))
}

pub fn get(conn: &mut dyn Connection, id: i64) -> Result<Ticket, StoreError> {
    one(conn, "t.id = $1", params![id])?.ok_or_else(|| StoreError::NotFound(format!("ticket {id}")))
}

pub fn find_by_reference(
    conn: &mut dyn Connection,
    reference: &str,
) -> Result<Option<Ticket>, StoreError> {
    // No reference holds one, and PostgreSQL refuses NUL in text outright.
    if reference.chars().any(char::is_control) {
        return Ok(None);
    }
    one(
        conn,
        "t.reference = $1",
        params![reference.to_ascii_uppercase()],
    )
}

/// A ticket by numeric id or by reference, as agents type them, if it is in `scope`:
/// a ticket outside it is not found, exactly like one that does not exist.
pub fn find_by_id_or_reference(
    conn: &mut dyn Connection,
    key: &str,
    scope: &Scope,
) -> Result<Ticket, StoreError> {
    let not_found = || StoreError::NotFound(format!("ticket {key}"));
    let (by_key, mut values) = match key.parse::<i64>() {
        Ok(id) => ("t.id = $1", vec![Value::from(id)]),
        // No reference holds one, and PostgreSQL refuses NUL in text outright.
        Err(_) if key.chars().any(char::is_control) => return Err(not_found()),
        Err(_) => ("t.reference = $1", vec![key.to_ascii_uppercase().into()]),
    };
    let filter = match scope.condition(&mut values) {
        Some(in_scope) => format!("{by_key} AND {in_scope}"),
        None => by_key.to_owned(),
    };
    one(conn, &filter, &values)?.ok_or_else(not_found)
}

/// The newest ticket of a conversation, whatever its status.
pub fn latest_for_conversation(
    conn: &mut dyn Connection,
    channel: &str,
    conversation: &str,
) -> Result<Option<Ticket>, StoreError> {
    one(
        conn,
        "t.channel = $1 AND t.conversation = $2 ORDER BY t.id DESC LIMIT 1",
        params![channel, conversation],
    )
}

/// The ticket of the newest stored message whose provider id is one of `ids`, on
/// any channel (email Message-IDs are globally unique).
pub fn find_by_message_ids(
    conn: &mut dyn Connection,
    ids: &[String],
) -> Result<Option<Ticket>, StoreError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let filter = format!(
        "t.id = (SELECT m.ticket_id FROM messages m WHERE m.external_id IN ({}) ORDER BY m.id DESC LIMIT 1)",
        placeholders.join(", ")
    );
    let values: Vec<Value> = ids.iter().map(Value::from).collect();
    one(conn, &filter, &values)
}

/// The newest ticket that continues `ticket`: the end of the chain of tickets that
/// were started, each linking to the one before, when the conversation went on after
/// the previous one was closed. `ticket` itself when nothing continues it.
pub fn latest_continuation(
    conn: &mut dyn Connection,
    ticket: Ticket,
) -> Result<Ticket, StoreError> {
    let mut latest = ticket;
    // A chain is as long as a conversation's closed tickets; the bound only guards
    // against a cycle that an operator's manual edit could make.
    for _ in 0..64 {
        match one(
            conn,
            "t.id = (SELECT MAX(id) FROM tickets WHERE previous_ticket_id = $1)",
            params![latest.id],
        )? {
            Some(next) => latest = next,
            None => break,
        }
    }
    Ok(latest)
}

/// The ticket of the message `external_id` in the same channel and conversation.
pub fn find_by_conversation_message(
    conn: &mut dyn Connection,
    channel: &str,
    conversation: &str,
    external_id: &str,
) -> Result<Option<Ticket>, StoreError> {
    one(
        conn,
        "t.id = (SELECT m.ticket_id FROM messages m
                 WHERE m.channel = $1 AND m.external_id = $2 AND m.conversation = $3)",
        params![channel, external_id, conversation],
    )
}

/// Whether the contact is the ticket's customer or has written on it before.
pub fn belongs(
    conn: &mut dyn Connection,
    ticket: &Ticket,
    contact_id: i64,
) -> Result<bool, StoreError> {
    if ticket.contact_id == contact_id {
        return Ok(true);
    }
    Ok(conn
        .query_one(
            "SELECT 1 FROM participants WHERE ticket_id = $1 AND contact_id = $2",
            params![ticket.id, contact_id],
        )?
        .is_some())
}

pub fn add_participant(
    conn: &mut dyn Connection,
    ticket_id: i64,
    contact_id: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO participants (ticket_id, contact_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        params![ticket_id, contact_id],
    )?;
    Ok(())
}

/// Records activity on a ticket and, when given, its new status.
pub fn touch(
    conn: &mut dyn Connection,
    id: i64,
    status: Option<TicketStatus>,
    now: i64,
) -> Result<(), StoreError> {
    match status {
        Some(status) => {
            let resolved_at = (status == TicketStatus::Resolved).then_some(now);
            conn.execute(
                "UPDATE tickets SET status = $1, resolved_at = $2, updated_at = $3, last_message_at = $3
                 WHERE id = $4",
                params![status.as_str(), resolved_at, now, id],
            )?
        }
        None => conn.execute(
            "UPDATE tickets SET updated_at = $1, last_message_at = $1 WHERE id = $2",
            params![now, id],
        )?,
    };
    Ok(())
}

/// An agent's change to a ticket; `None` leaves a field as it is, `Some(None)` clears
/// it.
#[derive(Debug, Default, Clone)]
pub struct TicketPatch {
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    pub assignee: Option<Option<String>>,
    pub category: Option<Option<String>>,
}

pub fn update(
    conn: &mut dyn Connection,
    id: i64,
    patch: &TicketPatch,
    now: i64,
) -> Result<Ticket, StoreError> {
    let current = get(conn, id)?;
    let status = patch.status.unwrap_or(current.status);
    let resolved_at = match (patch.status, current.status) {
        (Some(TicketStatus::Resolved), old) if old != TicketStatus::Resolved => Some(now),
        (Some(new), _) if new != TicketStatus::Resolved => None,
        _ => current.resolved_at.map(|t| t.0),
    };
    let priority = patch.priority.unwrap_or(current.priority);
    let assignee = patch.assignee.clone().unwrap_or(current.assignee);
    let category = patch.category.clone().unwrap_or(current.category);
    conn.execute(
        "UPDATE tickets SET status = $1, resolved_at = $2, priority = $3, assignee = $4,
             category = $5, updated_at = $6 WHERE id = $7",
        params![
            status.as_str(),
            resolved_at,
            priority.as_str(),
            assignee,
            category,
            now,
            id
        ],
    )?;
    get(conn, id)
}

/// Filters for the ticket list; all optional, combined with AND.
#[derive(Debug, Default, Clone)]
pub struct TicketFilter {
    /// Without a status, every ticket but the `filtered` ones.
    pub status: Option<TicketStatus>,
    pub channel: Option<String>,
    pub assignee: Option<String>,
    pub priority: Option<Priority>,
    pub category: Option<String>,
    pub contact_id: Option<i64>,
    /// The tickets the reader may see; every one by default (the gateway's own reads).
    pub scope: Scope,
    /// A ticket reference, or words searched in the subjects and bodies of the
    /// ticket's messages (full-text: whole words, the last one also as a prefix).
    pub text: Option<String>,
    /// Only tickets after this one in the list (the cursor of the previous page).
    pub after: Option<TicketCursor>,
    pub limit: usize,
}

/// A position in the ticket list: for a list, by last activity (newest first, then
/// id); for a search, by the newest matching message of the last ticket shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketCursor {
    Activity { last_message_at: i64, id: i64 },
    Match { message_id: i64 },
}

impl TicketCursor {
    fn of(ticket: &Ticket) -> Self {
        TicketCursor::Activity {
            last_message_at: ticket.last_message_at.0,
            id: ticket.id,
        }
    }

    /// An opaque string for APIs: `<millis>-<id>`, or `m<message id>` in a search.
    pub fn encode(&self) -> String {
        match self {
            TicketCursor::Activity {
                last_message_at,
                id,
            } => format!("{last_message_at}-{id}"),
            TicketCursor::Match { message_id } => format!("m{message_id}"),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        if let Some(message_id) = text.strip_prefix('m') {
            return Some(TicketCursor::Match {
                message_id: message_id.parse().ok()?,
            });
        }
        let (at, id) = text.split_once('-')?;
        Some(TicketCursor::Activity {
            last_message_at: at.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// Tickets matching the filter and the cursor of the next page. Without `text`, most
/// recently active first: a ticket that gets a new message while someone pages moves
/// to the top. With `text`, a ticket whose reference it is comes first, then the
/// tickets with matching messages, the most recent match first (see [`super::search`]).
pub fn list(
    conn: &mut dyn Connection,
    filter: &TicketFilter,
) -> Result<(Vec<Ticket>, Option<TicketCursor>), StoreError> {
    let limit = filter.limit.clamp(1, 500);
    if let Some(text) = filter.text.as_deref().filter(|t| !t.trim().is_empty()) {
        return super::search::tickets(conn, filter, text, limit);
    }
    let mut values: Vec<Value> = Vec::new();
    let mut clauses = filter_clauses(filter, &mut values);
    match filter.after {
        Some(TicketCursor::Activity {
            last_message_at,
            id,
        }) => {
            let at = bind("?", last_message_at.into(), &mut values);
            let id = bind("?", id.into(), &mut values);
            // A row value, which both stores read as one range of the index.
            clauses.push(format!("(t.last_message_at, t.id) < ({at}, {id})"));
        }
        Some(TicketCursor::Match { .. }) => {
            return Err(StoreError::Invalid(
                "this cursor belongs to a search; page a list with the list's cursor".into(),
            ));
        }
        None => {}
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM tickets t WHERE {} ORDER BY t.last_message_at DESC, t.id DESC LIMIT {}",
        clauses.join(" AND "),
        limit + 1
    );
    let mut tickets = conn
        .query(&sql, &values)?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if tickets.len() > limit {
        tickets.truncate(limit);
        tickets.last().map(TicketCursor::of)
    } else {
        None
    };
    Ok((tickets, next))
}

/// Adds a value to the statement's parameters; `?` in the clause becomes its `$n`.
pub(super) fn bind(clause: &str, value: Value, values: &mut Vec<Value>) -> String {
    values.push(value);
    clause.replace('?', &format!("${}", values.len()))
}

/// The filter's conditions on `tickets t`, besides text and cursor.
pub(super) fn filter_clauses(filter: &TicketFilter, values: &mut Vec<Value>) -> Vec<String> {
    let mut clauses = vec![match filter.status {
        Some(status) => bind("t.status = ?", status.as_str().into(), values),
        None => bind(
            "t.status <> ?",
            TicketStatus::Filtered.as_str().into(),
            values,
        ),
    }];
    if let Some(channel) = &filter.channel {
        clauses.push(bind("t.channel = ?", channel.into(), values));
    }
    if let Some(assignee) = &filter.assignee {
        clauses.push(bind("t.assignee = ?", assignee.into(), values));
    }
    if let Some(priority) = filter.priority {
        clauses.push(bind("t.priority = ?", priority.as_str().into(), values));
    }
    if let Some(category) = &filter.category {
        clauses.push(bind("t.category = ?", category.into(), values));
    }
    if let Some(contact_id) = filter.contact_id {
        clauses.push(bind("t.contact_id = ?", contact_id.into(), values));
    }
    clauses.extend(filter.scope.condition(values));
    clauses
}

/// How many tickets share one status, channel, priority, category, assignee and team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketGroup {
    pub status: TicketStatus,
    pub channel: String,
    pub priority: Priority,
    pub category: Option<String>,
    pub assignee: Option<String>,
    /// Not a filter of its own: it decides whose counts the group is in.
    pub team: Option<String>,
    pub tickets: i64,
}

/// Every ticket counted by status, channel, priority, category, assignee and team:
/// the inbox's counts beside each filter come from these groups, so one pass over an
/// index that holds the six columns serves every combination of filters and every
/// agent's [`Scope`].
pub fn groups(conn: &mut dyn Connection) -> Result<Vec<TicketGroup>, StoreError> {
    conn.query(
        "SELECT status, channel, priority, category, assignee, team, COUNT(*) FROM tickets
         GROUP BY status, channel, priority, category, assignee, team",
        &[],
    )?
    .iter()
    .map(|row| {
        Ok(TicketGroup {
            status: row.parse(0)?,
            channel: row.string(1)?,
            priority: row.parse(2)?,
            category: row.opt_string(3)?,
            assignee: row.opt_string(4)?,
            team: row.opt_string(5)?,
            tickets: row.i64(6)?,
        })
    })
    .collect()
}
