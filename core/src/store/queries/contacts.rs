//! Contacts and their identities.

use crate::access::Scope;
use crate::identity::Identity;
use crate::model::{Contact, ContactIdentity, Timestamp, Unreachable};
use crate::store::{Connection, StoreError, Value, params};

/// Who sent a message, as ingest needs it.
pub struct Resolved {
    pub contact_id: i64,
    /// The identity's display name.
    pub name: Option<String>,
    /// The language the contact writes in: this message's, else the last detected.
    pub language: Option<String>,
}

/// The contact that owns `identity` (created on first sight) and the identity's
/// display name. A display name the provider now reports replaces the stored one
/// (people rename themselves); without one, the stored name is kept. `reachable`
/// (the customer wrote in a way that shows they can be answered on `channel`) clears
/// what made them unreachable there. `language`, detected in the message, becomes
/// the contact's.
pub fn resolve(
    conn: &mut dyn Connection,
    channel: &str,
    identity: &Identity,
    display_name: Option<&str>,
    reachable: bool,
    language: Option<&str>,
    now: i64,
) -> Result<Resolved, StoreError> {
    let kind = identity.kind.as_str();
    // Whether the channel holds the identity unreachable, and the contact's language,
    // come with the lookup, so that ingest writes nothing more for the usual sender.
    let existing = conn.query_one(
        "SELECT i.contact_id, i.display_name, u.reason IS NOT NULL, c.language
         FROM identities i
         JOIN contacts c ON c.id = i.contact_id
         LEFT JOIN unreachable u ON u.channel = $3 AND u.kind = i.kind AND u.address = i.address
         WHERE i.kind = $1 AND i.address = $2",
        params![kind, identity.address.as_str(), channel],
    )?;
    if let Some(row) = existing {
        let contact_id = row.i64(0)?;
        let stored_name = row.opt_string(1)?;
        let stored_language = row.opt_string(3)?;
        if reachable && row.bool(2)? {
            set_unreachable(conn, channel, identity, None, now)?;
        }
        let new_language = language.filter(|l| stored_language.as_deref() != Some(*l));
        let new_name = display_name.filter(|n| stored_name.as_deref() != Some(*n));
        if let Some(name) = new_name {
            conn.execute(
                "UPDATE identities SET display_name = $1 WHERE kind = $2 AND address = $3",
                params![name, kind, identity.address.as_str()],
            )?;
        }
        if new_name.is_some() || new_language.is_some() {
            conn.execute(
                "UPDATE contacts SET name = COALESCE($1, name), language = COALESCE($2, language), updated_at = $3
                 WHERE id = $4",
                params![new_name, new_language, now, contact_id],
            )?;
        }
        return Ok(Resolved {
            contact_id,
            name: new_name.map(str::to_owned).or(stored_name),
            language: language.map(str::to_owned).or(stored_language),
        });
    }
    let contact_id = conn
        .query_one(
            "INSERT INTO contacts (name, language, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
            params![display_name, language, now],
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
    Ok(Resolved {
        contact_id,
        name: display_name.map(str::to_owned),
        language: language.map(str::to_owned),
    })
}

/// A contact with its identities, if `scope` holds one of its tickets: an agent
/// cannot look up a customer they have no ticket of.
pub fn get(conn: &mut dyn Connection, id: i64, scope: &Scope) -> Result<Contact, StoreError> {
    let mut values = vec![Value::from(id)];
    let sql = match scope.condition(&mut values) {
        Some(in_scope) => format!(
            "SELECT c.id, c.name, c.created_at, c.erased_at FROM contacts c WHERE c.id = $1 AND EXISTS
             (SELECT 1 FROM tickets t WHERE t.contact_id = c.id AND {in_scope})"
        ),
        None => "SELECT c.id, c.name, c.created_at, c.erased_at FROM contacts c WHERE c.id = $1".into(),
    };
    let row = conn
        .query_one(&sql, &values)?
        .ok_or_else(|| StoreError::NotFound(format!("contact {id}")))?;
    let mut identities = conn
        .query(
            "SELECT kind, address, display_name FROM identities WHERE contact_id = $1 ORDER BY id",
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
                unreachable: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    for identity in &mut identities {
        identity.unreachable = conn
            .query(
                "SELECT channel, reason, since FROM unreachable WHERE kind = $1 AND address = $2
                 ORDER BY channel",
                params![
                    identity.identity.kind.as_str(),
                    identity.identity.address.as_str()
                ],
            )?
            .into_iter()
            .map(|r| {
                Ok(Unreachable {
                    channel: r.string(0)?,
                    reason: r.string(1)?,
                    since: Timestamp(r.i64(2)?),
                })
            })
            .collect::<Result<_, StoreError>>()?;
    }
    Ok(Contact {
        id: row.i64(0)?,
        name: row.opt_string(1)?,
        identities,
        created_at: Timestamp(row.i64(2)?),
        erased_at: row.opt_i64(3)?.map(Timestamp),
    })
}

/// Records that `channel` said this address cannot be reached there (blocked the
/// bot, opted out); `None` clears it (opted back in). Whether anything changed.
pub fn set_unreachable(
    conn: &mut dyn Connection,
    channel: &str,
    identity: &Identity,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let (kind, address) = (identity.kind.as_str(), identity.address.as_str());
    let changed = match reason {
        Some(reason) => conn.execute(
            "INSERT INTO unreachable (channel, kind, address, reason, since) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (channel, kind, address) DO UPDATE SET reason = excluded.reason",
            params![channel, kind, address, reason, now],
        )?,
        None => conn.execute(
            "DELETE FROM unreachable WHERE channel = $1 AND kind = $2 AND address = $3",
            params![channel, kind, address],
        )?,
    };
    Ok(changed > 0)
}
