//! What is kept and for how long: the retention policy, run on a schedule by one node
//! at a time, with a dry run that counts what it would delete; the erasure of a
//! contact on request, after an export of everything held about them. Each run and
//! each erasure is recorded in the audit log, which keeps that it happened and how
//! much went, and nothing of what went.

use std::time::Duration;

use base64::Engine;
use serde::Serialize;

use crate::access::{Actor, Scope};
use crate::agent::AgentError;
use crate::gateway::Gateway;
use crate::model::{Contact, Message, Ticket, Timestamp};
use crate::shutdown::Shutdown;
use crate::store::queries::privacy::{self, PURGE_BATCH, Removed, RetentionRule};
use crate::store::queries::{audit, channel_state, contacts, messages, tickets};
use crate::store::{StoreError, params};

/// The retention policy, from `[[retention]]`.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// The first rule that matches a ticket decides; a ticket no rule matches is kept.
    pub rules: Vec<RetentionRule>,
    /// How often the policy runs (on one node at a time).
    pub every: Duration,
}

/// What one rule deletes (or, in a dry run, would delete now).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleOutcome {
    pub rule: RetentionRule,
    #[serde(flatten)]
    pub removed: Removed,
}

/// The row that says when the policy runs next, claimed by the node that runs it.
const NEXT_RUN: (&str, &str) = ("gateway", "retention.next_run_at");

impl Gateway {
    /// What the policy would delete if it ran now, per rule: the dry run.
    pub async fn retention_preview(&self) -> Result<Vec<RuleOutcome>, StoreError> {
        let rules = self.config().retention.rules.clone();
        let now = self.now();
        self.store()
            .read(move |conn| {
                (0..rules.len())
                    .map(|i| {
                        Ok(RuleOutcome {
                            rule: rules[i].clone(),
                            removed: privacy::count_expired(conn, &rules, i, now)?,
                        })
                    })
                    .collect()
            })
            .await
    }

    /// Deletes the contents of every ticket past its retention, a batch per
    /// transaction; what each rule deleted. Recorded in the audit log when anything
    /// went.
    pub async fn purge_expired(&self) -> Result<Vec<RuleOutcome>, StoreError> {
        let rules = self.config().retention.rules.clone();
        let mut outcomes = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let mut total = Removed::default();
            loop {
                let (rules, now) = (rules.clone(), self.now());
                let (removed, files) = self
                    .store()
                    .write(move |conn| {
                        let batch =
                            privacy::expired_tickets(conn, &rules, index, now, PURGE_BATCH)?;
                        if batch.is_empty() {
                            return Ok((Removed::default(), Vec::new()));
                        }
                        privacy::purge_tickets(conn, &batch, now)
                    })
                    .await?;
                self.delete_unreferenced(files).await?;
                if removed.tickets == 0 {
                    break;
                }
                total += removed;
            }
            outcomes.push(RuleOutcome {
                rule: rule.clone(),
                removed: total,
            });
        }
        if outcomes.iter().any(|o| o.removed.tickets > 0) {
            let now = self.now();
            let detail = serde_json::json!({ "rules": outcomes });
            self.store()
                .write(move |conn| {
                    audit::append(
                        conn,
                        now,
                        audit::By::gateway("retention"),
                        "retention.purge",
                        None,
                        &detail,
                    )
                })
                .await?;
        }
        Ok(outcomes)
    }

    /// Everything the gateway holds about a contact, files included, for them to
    /// take away before an erasure. Recorded in the audit log.
    pub async fn export_contact(
        &self,
        contact_id: i64,
        actor: &Actor,
    ) -> Result<ContactExport, AgentError> {
        let (now, by) = (self.now(), actor.clone());
        let (contact, mut held) = self
            .store()
            .write(move |conn| {
                let contact = contacts::get(conn, contact_id, &Scope::All)?;
                let ids: Vec<i64> = conn
                    .query(
                        "SELECT DISTINCT ticket_id FROM messages WHERE contact_id = $1
                         UNION SELECT id FROM tickets WHERE contact_id = $1 ORDER BY 1",
                        params![contact_id],
                    )?
                    .iter()
                    .map(|row| row.i64(0))
                    .collect::<Result<_, _>>()?;
                let mut held: Vec<(Ticket, Vec<Message>)> = Vec::with_capacity(ids.len());
                for id in ids {
                    let ticket = tickets::get(conn, id)?;
                    let own = ticket.contact_id == contact_id;
                    let messages = messages::for_ticket(conn, id)?
                        .into_iter()
                        // On someone else's ticket, only what this contact wrote.
                        .filter(|m| own || m.contact_id == Some(contact_id))
                        .collect();
                    held.push((ticket, messages));
                }
                let detail = serde_json::json!({ "contact_id": contact_id, "tickets": held.len() });
                audit::append(conn, now, (&by).into(), "contact.export", None, &detail)?;
                Ok((contact, held))
            })
            .await?;
        let mut exported = Vec::with_capacity(held.len());
        for (ticket, messages) in held.drain(..) {
            let mut files = Vec::new();
            for message in &messages {
                for attachment in &message.attachments {
                    let bytes = self.blobs().get(&attachment.sha256).await?;
                    files.push(ExportedFile {
                        attachment_id: attachment.id,
                        message_id: message.id,
                        filename: attachment.filename.clone(),
                        content_type: attachment.content_type.clone(),
                        data: base64::engine::general_purpose::STANDARD.encode(&bytes),
                    });
                }
            }
            exported.push(ExportedTicket {
                ticket,
                messages,
                files,
            });
        }
        Ok(ContactExport {
            exported_at: now,
            contact,
            tickets: exported,
        })
    }

    /// Erases a contact (see [`privacy::erase_contact`]) and the files only they
    /// pointed at. The audit log records who did it, why, and how much went.
    pub async fn erase_contact(
        &self,
        contact_id: i64,
        actor: &Actor,
        reason: &str,
    ) -> Result<Removed, AgentError> {
        let (now, by, reason) = (self.now(), actor.clone(), reason.to_owned());
        let (removed, files) = self
            .store()
            .write(move |conn| {
                let (removed, files) = privacy::erase_contact(conn, contact_id, now)?;
                let detail = serde_json::json!({
                    "contact_id": contact_id,
                    "reason": reason,
                    "removed": removed,
                });
                audit::append(conn, now, (&by).into(), "contact.erase", None, &detail)?;
                Ok((removed, files))
            })
            .await?;
        self.delete_unreferenced(files).await?;
        Ok(removed)
    }

    /// Deletes the files no attachment points at any more.
    async fn delete_unreferenced(&self, files: Vec<String>) -> Result<(), StoreError> {
        if files.is_empty() {
            return Ok(());
        }
        let gone = self
            .store()
            .read(move |conn| privacy::unreferenced(conn, &files))
            .await?;
        for sha256 in gone {
            if let Err(error) = self.blobs().delete(&sha256).await {
                tracing::warn!(%sha256, %error, "cannot delete an attachment's file");
            }
        }
        Ok(())
    }

    /// Whether the policy is due, claimed for this node if so: the row holding the
    /// next run's time moves on in the same statement, so one node runs each time.
    pub async fn claim_retention_run(&self, every: Duration) -> Result<bool, StoreError> {
        let now = self.now().0;
        let next = now + every.as_millis() as i64;
        self.store()
            .write(move |conn| {
                if channel_state::get(conn, NEXT_RUN.0, NEXT_RUN.1)?.is_none() {
                    channel_state::set(conn, NEXT_RUN.0, NEXT_RUN.1, "0", now)?;
                }
                let claimed = conn.execute(
                    "UPDATE channel_state SET value = $1, updated_at = $2
                     WHERE channel = $3 AND key = $4 AND CAST(value AS BIGINT) <= $2",
                    params![next.to_string(), now, NEXT_RUN.0, NEXT_RUN.1],
                )?;
                Ok(claimed == 1)
            })
            .await
    }
}

/// A contact's data as exported.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactExport {
    #[schema(value_type = String, format = DateTime)]
    pub exported_at: Timestamp,
    pub contact: Contact,
    /// Their tickets, and others' tickets they wrote on (with only their messages).
    pub tickets: Vec<ExportedTicket>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedTicket {
    pub ticket: Ticket,
    pub messages: Vec<Message>,
    pub files: Vec<ExportedFile>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedFile {
    pub attachment_id: i64,
    pub message_id: i64,
    pub filename: String,
    pub content_type: String,
    /// The bytes, base64.
    pub data: String,
}

/// How often the schedule looks whether the policy is due.
const TICK: Duration = Duration::from_secs(60);

/// Runs the retention policy every `retention.every`, on whichever node claims the
/// run first, until shutdown.
pub async fn run(gateway: Gateway, shutdown: Shutdown) {
    let retention = gateway.config().retention.clone();
    if retention.rules.is_empty() {
        return;
    }
    loop {
        match gateway.claim_retention_run(retention.every).await {
            Ok(true) => match gateway.purge_expired().await {
                Ok(outcomes) => {
                    let tickets: i64 = outcomes.iter().map(|o| o.removed.tickets).sum();
                    tracing::info!(tickets, "retention policy ran");
                }
                Err(error) => {
                    tracing::warn!(%error, "the retention policy stopped; it runs again next time")
                }
            },
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "cannot tell whether the retention policy is due"),
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}
