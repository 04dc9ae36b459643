//! Contacts and their identities.

use crate::identity::Identity;
use crate::model::{Contact, ContactIdentity, Timestamp};
use crate::store::{Connection, StoreError, params};

/// The contact that owns `identity` (created on first sight) and the identity's
/// display name. A display name the provider now reports replaces the stored one
/// (people rename themselves); without one, the stored name is kept.
pub fn resolve(
    conn: &mut dyn Connection,
    identity: &Identity,
    display_name: Option<&str>,
    reachable: bool,
    now: i64,
) -> Result<(i64, Option<String>), StoreError> {
    let kind = identity.kind.as_str();
    let existing = conn.query_one(
        "SELECT contact_id, display_name, unreachable_reason FROM identities
         WHERE kind = $1 AND address = $2",
        params![kind, identity.address.as_str()],
    )?;
    if let Some(row) = existing {
        let contact_id = row.i64(0)?;
        let stored_name = row.opt_string(1)?;
        if reachable && row.opt_string(2)?.is_some() {
            set_unreachable(conn, identity, None)?;
        }
        let Some(name) = display_name.filter(|n| stored_name.as_deref() != Some(*n)) else {
            return Ok((contact_id, stored_name));
        };
        conn.execute(
            "UPDATE identities SET display_name = $1 WHERE kind = $2 AND address = $3",
            params![name, kind, identity.address.as_str()],
        )?;
        conn.execute(
            "UPDATE contacts SET name = $1, updated_at = $2 WHERE id = $3",
            params![name, now, contact_id],
        )?;
        return Ok((contact_id, Some(name.to_owned())));
    }
    let contact_id = conn
        .query_one(
            "INSERT INTO contacts (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id",
            params![display_name, now],
        )?
        .ok_or_else(|| StoreError::Database("contact insert returned no id".into()))?
        .i64(0)?;
    conn.execute(
        "INSERT INTO identities (contact_id, kind, address, display_name, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        params![
            contact_id,
            kind,
            identity.address.as_str(),
            display_name,
            now
        ],
    )?;
    Ok((contact_id, display_name.map(str::to_owned)))
}

pub fn get(conn: &mut dyn Connection, id: i64) -> Result<Contact, StoreError> {
    let row = conn
        .query_one(
            "SELECT id, name, created_at FROM contacts WHERE id = $1",
            params![id],
        )?
        .ok_or_else(|| StoreError::NotFound(format!("contact {id}")))?;
    let identities = conn
        .query(
            "SELECT kind, address, display_name, unreachable_reason FROM identities
             WHERE contact_id = $1 ORDER BY id",
            params![id],
        )?
        .into_iter()
        .map(|r| {
            Ok(ContactIdentity {
                identity: Identity {
                    kind: r.parse(0)?,
                    address: r.string(1)?,
                },
                display_name: r.opt_string(2)?,
                unreachable_reason: r.opt_string(3)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Contact {
        id: row.i64(0)?,
        name: row.opt_string(1)?,
        identities,
        created_at: Timestamp(row.i64(2)?),
    })
}

/// Records that the channel said this address cannot be reached (blocked the bot,
/// opted out); `None` clears it (opted back in).
pub fn set_unreachable(
    conn: &mut dyn Connection,
    identity: &Identity,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE identities SET unreachable_reason = $1 WHERE kind = $2 AND address = $3",
        params![reason, identity.kind.as_str(), identity.address.as_str()],
    )?;
    Ok(changed > 0)
}
