//! Full-text search of tickets: the store's own index (SQLite FTS5, PostgreSQL
//! `tsvector` under GIN), read newest match first until a page is full.
//!
//! The cost should follow the page, not how common the words are. SQLite's FTS5 reads
//! its index in rowid order, so one query shape serves every word. A GIN index has no
//! order, and PostgreSQL's planner guesses a prefix's frequency (every search's last
//! word is one) with a constant: left alone it walks all messages backwards for a word
//! that is in one of them. So on PostgreSQL [`Matches`] samples the newest messages
//! first and reads the index only for words that turn out rare.

use std::collections::{HashMap, HashSet};

use super::tickets::{COLUMNS, TicketCursor, TicketFilter, bind, filter_clauses, from_row};
use crate::model::Ticket;
use crate::store::{Connection, Dialect, StoreError, Value, params};

/// Tickets with messages matching `text`: a ticket whose reference it is first (on the
/// first page), then by their newest matching message. Each ticket is listed once; the
/// next page's cursor is the last ticket's match, and a ticket already listed above it
/// is skipped.
pub(super) fn tickets(
    conn: &mut dyn Connection,
    filter: &TicketFilter,
    text: &str,
    limit: usize,
) -> Result<(Vec<Ticket>, Option<TicketCursor>), StoreError> {
    let shown_before = match filter.after {
        None => None,
        Some(TicketCursor::Match { message_id }) => Some(message_id),
        Some(TicketCursor::Activity { .. }) => {
            return Err(StoreError::Invalid(
                "this cursor belongs to a list; page a search with the search's cursor".into(),
            ));
        }
    };
    let mut found: Vec<(Ticket, i64)> = Vec::new();
    let mut seen = HashSet::new();
    if shown_before.is_none() {
        let reference = text.trim().to_uppercase();
        for ticket in filtered(conn, filter, |values| {
            bind("t.reference = ?", reference.into(), values)
        })? {
            seen.insert(ticket.id);
            found.push((ticket, i64::MAX));
        }
    }
    let Some(query) = search_query(text, conn.dialect()) else {
        return Ok((found.into_iter().map(|(t, _)| t).collect(), None));
    };
    let mut matches = Matches::new(&query, shown_before.unwrap_or(i64::MAX));
    while found.len() <= limit {
        let Some(hits) = matches.next(conn)? else {
            break;
        };
        let mut candidates: Vec<(i64, i64)> = Vec::new();
        for (message_id, ticket_id) in hits {
            if !seen.insert(ticket_id) {
                continue;
            }
            if let Some(cursor) = shown_before
                && matches_since(conn, ticket_id, cursor, &query)?
            {
                continue;
            }
            candidates.push((ticket_id, message_id));
        }
        for chunk in candidates.chunks(TICKETS_PER_READ) {
            if found.len() > limit {
                break;
            }
            passing_filter(conn, filter, chunk, &mut found)?;
        }
    }
    let next = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|(_, message_id)| TicketCursor::Match {
            message_id: *message_id,
        })
    } else {
        None
    };
    Ok((found.into_iter().map(|(t, _)| t).collect(), next))
}

/// How many candidate tickets one read of the tickets table checks against the filter.
const TICKETS_PER_READ: usize = 256;

/// Appends, in order, the candidates (ticket, matching message) that pass the filter.
fn passing_filter(
    conn: &mut dyn Connection,
    filter: &TicketFilter,
    candidates: &[(i64, i64)],
    found: &mut Vec<(Ticket, i64)>,
) -> Result<(), StoreError> {
    let mut passing: HashMap<i64, Ticket> = filtered(conn, filter, |values| {
        let ids: Vec<String> = candidates
            .iter()
            .map(|(id, _)| bind("?", (*id).into(), values))
            .collect();
        format!("t.id IN ({})", ids.join(", "))
    })?
    .into_iter()
    .map(|t| (t.id, t))
    .collect();
    for (ticket_id, message_id) in candidates {
        if let Some(ticket) = passing.remove(ticket_id) {
            found.push((ticket, *message_id));
        }
    }
    Ok(())
}

/// The tickets that pass the filter and one more condition, which `condition` writes
/// and binds its values for.
fn filtered(
    conn: &mut dyn Connection,
    filter: &TicketFilter,
    condition: impl FnOnce(&mut Vec<Value>) -> String,
) -> Result<Vec<Ticket>, StoreError> {
    let mut values = Vec::new();
    let mut clauses = filter_clauses(filter, &mut values);
    clauses.push(condition(&mut values));
    let sql = format!(
        "SELECT {COLUMNS} FROM tickets t WHERE {}",
        clauses.join(" AND ")
    );
    conn.query(&sql, &values)?.iter().map(from_row).collect()
}

/// Matching messages the index yields in one read on SQLite, and on PostgreSQL while
/// it walks the newest messages.
const BATCH: usize = 256;
/// How many of the newest messages PostgreSQL checks before it judges a word's rarity.
const SAMPLE: i64 = 16_384;
/// Below this many expected matches, PostgreSQL reads them all from the index.
const FEW: usize = 4_096;

/// The matching messages of a query, as (message id, ticket id), newest first, a batch
/// at a time.
struct Matches<'q> {
    query: &'q str,
    /// Every match not read yet has a smaller message id.
    before: i64,
    /// PostgreSQL only: the word is rare, so the index is read instead of the messages.
    rare: bool,
    done: bool,
}

impl<'q> Matches<'q> {
    fn new(query: &'q str, before: i64) -> Self {
        Matches {
            query,
            before,
            rare: false,
            done: false,
        }
    }

    /// The next batch, or `None` when there are no more matches.
    fn next(&mut self, conn: &mut dyn Connection) -> Result<Option<Vec<(i64, i64)>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let (sql, batch) = match (conn.dialect(), self.rare) {
            (Dialect::Sqlite, _) => (
                format!(
                    "SELECT s.rowid, m.ticket_id FROM messages_search s JOIN messages m ON m.id = s.rowid
                     WHERE messages_search MATCH $1 AND s.rowid < $2 ORDER BY s.rowid DESC LIMIT {BATCH}"
                ),
                BATCH,
            ),
            // The newest SAMPLE messages below the mark, filtered as they come: the
            // subquery's LIMIT keeps the planner from turning to the index.
            (Dialect::Postgres, false) => (
                format!(
                    "SELECT id, ticket_id FROM (
                         SELECT id, ticket_id, search FROM messages WHERE id < $2
                         ORDER BY id DESC LIMIT {SAMPLE}) newest
                     WHERE search @@ CAST($1 AS TEXT)::tsquery ORDER BY id DESC LIMIT {BATCH}"
                ),
                BATCH,
            ),
            // Every older match from the index (the CTE is planned on its own, without
            // the order), then sorted: cheap because there are few.
            (Dialect::Postgres, true) => (
                format!(
                    "WITH found AS MATERIALIZED (
                         SELECT id, ticket_id FROM messages
                         WHERE search @@ CAST($1 AS TEXT)::tsquery AND id < $2)
                     SELECT id, ticket_id FROM found ORDER BY id DESC LIMIT {FEW}"
                ),
                FEW,
            ),
        };
        // Planned for this query's words: a generic plan of the index read would
        // walk the message ids as well.
        let hits = conn
            .query_planned(&sql, params![self.query, self.before])?
            .iter()
            .map(|row| Ok((row.i64(0)?, row.i64(1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sampling = conn.dialect() == Dialect::Postgres && !self.rare;
        if hits.len() == batch {
            self.before = hits[batch - 1].0;
        } else if sampling {
            // The sample is used up: go on below it, judging by what it held.
            let floor = conn.query_one(
                &format!(
                    "SELECT id FROM messages WHERE id < $1 ORDER BY id DESC OFFSET {} LIMIT 1",
                    SAMPLE - 1
                ),
                params![self.before],
            )?;
            match floor {
                None => self.done = true,
                Some(row) => {
                    self.before = row.i64(0)?;
                    // Message ids stand for how many messages lie below.
                    let expected = hits.len() as f64 * self.before as f64 / SAMPLE as f64;
                    self.rare = expected < FEW as f64;
                }
            }
        } else {
            self.done = true;
        }
        Ok(Some(hits))
    }
}

/// Whether the ticket has a message matching `query` at or after message `from`: it
/// was listed on an earlier page of the search.
fn matches_since(
    conn: &mut dyn Connection,
    ticket_id: i64,
    from: i64,
    query: &str,
) -> Result<bool, StoreError> {
    let later = conn.query(
        "SELECT id FROM messages WHERE ticket_id = $1 AND id >= $2",
        params![ticket_id, from],
    )?;
    let check = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT 1 FROM messages_search WHERE messages_search MATCH $1 AND rowid = $2"
        }
        Dialect::Postgres => {
            "SELECT 1 FROM messages WHERE search @@ CAST($1 AS TEXT)::tsquery AND id = $2"
        }
    };
    for row in later {
        if conn
            .query_one(check, params![query, row.i64(0)?])?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The most words of a search that count; the rest are ignored.
const MAX_SEARCH_WORDS: usize = 16;

/// A search box's text as the store's full-text query: every word must be in a
/// message (subject or body) of the ticket, the last also as the start of a word, so
/// results come while typing. Words are runs of letters and digits, lowercased, as
/// both indexes keep them, so nothing the user types is query syntax (on PostgreSQL
/// the query is a `tsquery` literal: no parser splits its words again). `None`
/// without a word.
fn search_query(text: &str, dialect: Dialect) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_SEARCH_WORDS)
        .map(str::to_lowercase)
        .collect();
    let (last, rest) = words.split_last()?;
    let query = match dialect {
        Dialect::Sqlite => rest
            .iter()
            .map(|w| format!("\"{w}\""))
            .chain([format!("\"{last}\"*")])
            .collect::<Vec<_>>()
            .join(" "),
        Dialect::Postgres => rest
            .iter()
            .map(|w| format!("'{w}'"))
            .chain([format!("'{last}':*")])
            .collect::<Vec<_>>()
            .join(" & "),
    };
    Some(query)
}
