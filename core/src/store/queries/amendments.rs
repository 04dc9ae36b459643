//! Changes to stored inbound messages that arrive as provider messages of their own:
//! a customer's edit, a later part of an album. Each is recorded under its own
//! provider id, so that a resend of it is recognised as a duplicate.

use crate::store::{Connection, StoreError, params};

/// What kind of change an amendment was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmendmentKind {
    Edit,
    Part,
}

impl AmendmentKind {
    fn as_str(self) -> &'static str {
        match self {
            AmendmentKind::Edit => "edit",
            AmendmentKind::Part => "part",
        }
    }
}

/// The (message id, ticket id) an already recorded amendment changed.
pub fn find(
    conn: &mut dyn Connection,
    channel: &str,
    external_id: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    conn.query_one(
        "SELECT a.message_id, m.ticket_id FROM message_amendments a
         JOIN messages m ON m.id = a.message_id
         WHERE a.channel = $1 AND a.external_id = $2",
        params![channel, external_id],
    )?
    .map(|r| Ok((r.i64(0)?, r.i64(1)?)))
    .transpose()
}

/// Records an amendment; `false` when its (channel, external_id) is already recorded.
pub fn insert(
    conn: &mut dyn Connection,
    message_id: i64,
    channel: &str,
    external_id: &str,
    kind: AmendmentKind,
    previous_body: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let row = conn.query_one(
        "INSERT INTO message_amendments
             (message_id, channel, external_id, kind, previous_body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (channel, external_id) DO NOTHING
         RETURNING id",
        params![
            message_id,
            channel,
            external_id,
            kind.as_str(),
            previous_body,
            now
        ],
    )?;
    Ok(row.is_some())
}
