//! What agents do to tickets: reply to the customer (through the outbox), write
//! internal notes, change status, priority, category and assignee.

use thiserror::Error;

use crate::access::{Actor, Scope};
use crate::connector::{Draft, OutboundAttachment};
use crate::events::Event;
use crate::gateway::Gateway;
use crate::helpdesk::flow;
use crate::identity::Identity;
use crate::input;
use crate::model::{DeliveryStatus, Direction, Message, Ticket, TicketStatus, Timestamp};
use crate::store::queries::{audit, events as event_log, messages, outbox, privacy, tickets};
use crate::store::{StoreError, params};

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("{0} not found")]
    NotFound(String),
    /// The request cannot be carried out as asked; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The channel cannot deliver this reply now (the customer is unreachable,
    /// WhatsApp's 24-hour window is closed); nothing was queued.
    #[error("{0}")]
    Refused(String),
    /// The conversation moved on since the message the agent last saw (the customer
    /// wrote again, a colleague replied); nothing was queued. The new messages come
    /// with it, oldest first.
    #[error("{message}")]
    Changed {
        message: String,
        changes: Vec<Message>,
    },
    #[error(transparent)]
    Store(StoreError),
    #[error("cannot store attachment: {0}")]
    Blob(#[from] std::io::Error),
}

impl From<StoreError> for AgentError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => AgentError::NotFound(what),
            StoreError::Invalid(why) => AgentError::Invalid(why),
            other => AgentError::Store(other),
        }
    }
}

/// The longest reply or note, in characters; connectors split long replies into
/// their channel's message size.
pub const MAX_TEXT_CHARS: usize = 100_000;

struct StoredFile {
    filename: String,
    content_type: String,
    size: i64,
    sha256: String,
}

impl Gateway {
    /// Queues a reply to the customer on the channel they last wrote from. The message
    /// and its outbox entry are committed together; the dispatcher sends it.
    pub async fn reply(
        &self,
        ticket_key: &str,
        author: &Actor,
        text: String,
        attachments: Vec<OutboundAttachment>,
    ) -> Result<Message, AgentError> {
        self.reply_after(ticket_key, author, text, attachments, None)
            .await
    }

    /// Like [`Gateway::reply`], but only if nobody wrote on the ticket (customer or
    /// agent; notes aside) after message `seen`, the newest one the agent had read:
    /// otherwise [`AgentError::Changed`] with what is new, and nothing is queued. The
    /// check and the queueing are one transaction, so no reply slips in between.
    pub async fn reply_after(
        &self,
        ticket_key: &str,
        author: &Actor,
        text: String,
        attachments: Vec<OutboundAttachment>,
        seen: Option<i64>,
    ) -> Result<Message, AgentError> {
        self.add_message(
            ticket_key,
            author,
            text,
            attachments,
            Direction::Outbound,
            seen,
        )
        .await
    }

    /// Adds an internal note, seen by agents only.
    pub async fn note(
        &self,
        ticket_key: &str,
        author: &Actor,
        text: String,
    ) -> Result<Message, AgentError> {
        self.add_message(ticket_key, author, text, Vec::new(), Direction::Note, None)
            .await
    }

    async fn add_message(
        &self,
        ticket_key: &str,
        author: &Actor,
        mut text: String,
        attachments: Vec<OutboundAttachment>,
        direction: Direction,
        seen: Option<i64>,
    ) -> Result<Message, AgentError> {
        input::strip_nul(&mut text);
        let max_count = self.config().max_attachments;
        if attachments.len() > max_count {
            return Err(AgentError::Invalid(format!(
                "a message may carry at most {max_count} attachments; this one has {}",
                attachments.len()
            )));
        }
        if text.trim().is_empty() && attachments.is_empty() {
            return Err(AgentError::Invalid("text must not be empty".into()));
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(AgentError::Invalid(format!(
                "text is longer than {MAX_TEXT_CHARS} characters"
            )));
        }
        let max = self.config().max_attachment_bytes;
        let mut files = Vec::with_capacity(attachments.len());
        for (i, mut attachment) in attachments.into_iter().enumerate() {
            attachment.content_type = input::media_type(
                &format!("attachments[{i}].content_type"),
                &attachment.content_type,
            )
            .map_err(AgentError::Invalid)?;
            input::strip_nul(&mut attachment.filename);
            if attachment.bytes.len() > max {
                return Err(AgentError::Invalid(format!(
                    "attachment {:?} is {} bytes; the limit is {max}",
                    attachment.filename,
                    attachment.bytes.len()
                )));
            }
            let size = attachment.bytes.len() as i64;
            files.push(StoredFile {
                sha256: self.blobs().put(attachment.bytes).await?,
                filename: attachment.filename,
                content_type: attachment.content_type,
                size,
            });
        }
        let (key, author) = (ticket_key.to_owned(), author.clone());
        let now = self.now().0;
        let gateway = self.clone();
        let (message, recorded) = self
            .store()
            .write(move |conn| {
                let ticket = tickets::find_by_id_or_reference(conn, &key, &author.scope)?;
                if let Some(seen) = seen {
                    let changes: Vec<Message> = messages::for_ticket(conn, ticket.id)?
                        .into_iter()
                        .filter(|m| m.id > seen && m.direction != Direction::Note)
                        .collect();
                    if !changes.is_empty() {
                        return Ok(Err(Stop::Changed(changes)));
                    }
                }
                let (channel, conversation) = if direction == Direction::Outbound {
                    if privacy::is_erased(&ticket.conversation) {
                        return Ok(Err(Stop::Refused(privacy::ERASED_REFUSAL.into())));
                    }
                    let target = reply_target(conn, &ticket)?;
                    if !gateway.inner.channels.contains(&target.0) {
                        return Err(StoreError::Invalid(format!(
                            "channel {} is not enabled on this gateway, so the reply cannot be sent",
                            target.0
                        )));
                    }
                    let thread = outbox::thread_for(conn, ticket.clone(), &target.0, &target.1, i64::MAX)?;
                    if let Some(reason) = gateway.refusal(
                        &thread,
                        Draft {
                            text: &text,
                            attachments: files.len(),
                        },
                    ) {
                        return Ok(Err(Stop::Refused(reason)));
                    }
                    target
                } else {
                    (ticket.channel.clone(), ticket.conversation.clone())
                };
                let message_id = messages::insert(
                    conn,
                    &messages::NewMessage {
                        ticket_id: ticket.id,
                        direction,
                        channel: &channel,
                        external_id: None,
                        conversation: &conversation,
                        contact_id: None,
                        sender: None,
                        author: &author.name,
                        subject: None,
                        text: &text,
                        html: None,
                        automatic: false,
                        delivery_status: (direction == Direction::Outbound).then_some(DeliveryStatus::Queued),
                        group: None,
                        now,
                    },
                )?
                .ok_or_else(|| StoreError::Database("message insert returned no id".into()))?;
                for f in &files {
                    messages::insert_attachment(conn, message_id, &f.filename, &f.content_type, f.size, &f.sha256)?;
                }
                // Answering a new (or filtered) ticket means someone is on it.
                let new_status = (direction == Direction::Outbound
                    && matches!(ticket.status, TicketStatus::New | TicketStatus::Filtered))
                .then_some(TicketStatus::Open);
                if direction == Direction::Outbound {
                    outbox::enqueue(conn, message_id, &channel, &conversation, now)?;
                    tickets::touch(conn, ticket.id, new_status, now)?;
                    flow::after_agent_reply(conn, ticket.id, Timestamp(now))?;
                }
                let mut events = Vec::new();
                if let Some(status) = new_status {
                    events.push(Event::TicketUpdated {
                        ticket_id: ticket.id,
                        reference: ticket.reference.clone(),
                        status,
                    });
                }
                events.push(Event::MessageCreated {
                    ticket_id: ticket.id,
                    message_id,
                    direction,
                    channel: channel.clone(),
                });
                let action = if direction == Direction::Outbound { "message.reply" } else { "message.note" };
                let detail = serde_json::json!({ "message_id": message_id, "channel": channel, "attachments": files.len() });
                audit::append(conn, Timestamp(now), (&author).into(), action, Some(ticket.id), &detail)?;
                let recorded = event_log::append(conn, events, Timestamp(now))?;
                Ok(Ok((messages::get(conn, message_id)?, recorded)))
            })
            .await?
            .map_err(|stop| match stop {
                Stop::Refused(reason) => AgentError::Refused(reason),
                Stop::Changed(changes) => AgentError::Changed {
                    message: changed(&changes),
                    changes,
                },
            })?;
        self.events().publish(recorded);
        if direction == Direction::Outbound {
            self.inner.outbox_ready.notify_one();
        }
        Ok(message)
    }

    /// Where a reply to the ticket would go now, and why it would be refused (window
    /// closed, opted out, unreachable, channel off), so that an agent knows before
    /// writing it.
    pub async fn reply_preview(
        &self,
        ticket_key: &str,
        scope: &Scope,
    ) -> Result<ReplyPreview, AgentError> {
        let (key, scope) = (ticket_key.to_owned(), scope.clone());
        let gateway = self.clone();
        let preview = self
            .store()
            .read(move |conn| {
                let ticket = tickets::find_by_id_or_reference(conn, &key, &scope)?;
                let (channel, conversation) = reply_target(conn, &ticket)?;
                let thread = outbox::thread_for(conn, ticket, &channel, &conversation, i64::MAX)?;
                let refused = if privacy::is_erased(&thread.conversation) {
                    Some(privacy::ERASED_REFUSAL.to_owned())
                } else if gateway.inner.channels.contains(&channel) {
                    gateway.refusal(&thread, Draft { text: "", attachments: 0 })
                } else {
                    Some(format!(
                        "channel {channel} is not enabled on this gateway, so the reply cannot be sent"
                    ))
                };
                Ok(ReplyPreview {
                    channel,
                    recipient: thread.recipient,
                    refused,
                })
            })
            .await?;
        Ok(preview)
    }

    /// Changes a ticket's status, priority, assignee or category, as `actor` (for the
    /// audit log, and whose scope the ticket must be in).
    pub async fn update_ticket(
        &self,
        ticket_key: &str,
        actor: &Actor,
        patch: tickets::TicketPatch,
    ) -> Result<Ticket, AgentError> {
        for (field, value) in [("category", &patch.category), ("assignee", &patch.assignee)] {
            if let Some(Some(value)) = value {
                input::check_key(field, value).map_err(AgentError::Invalid)?;
            }
        }
        let (key, actor) = (ticket_key.to_owned(), actor.clone());
        let now = self.now().0;
        let gateway = self.clone();
        let ticket = self
            .store()
            .write(move |conn| {
                let before = tickets::find_by_id_or_reference(conn, &key, &actor.scope)?;
                let ticket = tickets::update(conn, before.id, &patch, now)?;
                let mut events = vec![Event::TicketUpdated {
                    ticket_id: ticket.id,
                    reference: ticket.reference.clone(),
                    status: ticket.status,
                }];
                flow::after_update(
                    conn,
                    &gateway,
                    &actor,
                    &before,
                    &ticket,
                    Timestamp(now),
                    &mut events,
                )?;
                // What the helpdesk did may have changed the row (a survey sent).
                let mut ticket = tickets::get(conn, ticket.id)?;
                ticket.sla = crate::helpdesk::sla::for_ticket(conn, ticket.id)?;
                Ok((ticket, event_log::append(conn, events, Timestamp(now))?))
            })
            .await?;
        let (ticket, recorded) = ticket;
        let queued = recorded
            .iter()
            .any(|r| matches!(r.event, Event::MessageCreated { .. }));
        self.events().publish(recorded);
        if queued {
            self.inner.outbox_ready.notify_one();
        }
        Ok(ticket)
    }

    /// Queues a failed outbound message again (an admin's explicit retry).
    pub async fn retry_message(
        &self,
        message_id: i64,
        actor: &Actor,
    ) -> Result<Message, AgentError> {
        let now = self.now().0;
        let actor = actor.clone();
        let message = self
            .store()
            .write(move |conn| {
                if !outbox::requeue_failed(conn, message_id, now)? {
                    let message = messages::get(conn, message_id)?;
                    return Err(StoreError::Invalid(format!(
                        "message {message_id} is not a failed outbound message (it is {})",
                        message
                            .delivery_status
                            .map_or(message.direction.as_str(), DeliveryStatus::as_str)
                    )));
                }
                let message = messages::get(conn, message_id)?;
                let detail = serde_json::json!({ "message_id": message_id });
                audit::append(
                    conn,
                    Timestamp(now),
                    (&actor).into(),
                    "message.retry",
                    Some(message.ticket_id),
                    &detail,
                )?;
                let event = Event::MessageUpdated {
                    ticket_id: message.ticket_id,
                    message_id,
                    delivery_status: Some(DeliveryStatus::Queued),
                };
                Ok((
                    message,
                    event_log::append(conn, vec![event], Timestamp(now))?,
                ))
            })
            .await?;
        let (message, recorded) = message;
        self.events().publish(recorded);
        self.inner.outbox_ready.notify_one();
        Ok(message)
    }
}

/// Why a reply was not queued, decided inside its transaction.
enum Stop {
    Refused(String),
    Changed(Vec<Message>),
}

/// What moved on, in words: "the customer wrote 2 messages and Ada replied once".
fn changed(changes: &[Message]) -> String {
    let times = |n: usize| match n {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    };
    let inbound = changes
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .count();
    let mut parts = Vec::new();
    if inbound > 0 {
        parts.push(format!("the customer wrote {}", times(inbound)));
    }
    let mut authors: Vec<(&str, usize)> = Vec::new();
    for m in changes
        .iter()
        .filter(|m| m.direction == Direction::Outbound)
    {
        match authors.iter_mut().find(|(name, _)| *name == m.author) {
            Some((_, count)) => *count += 1,
            None => authors.push((&m.author, 1)),
        }
    }
    for (name, count) in authors {
        parts.push(format!("{name} replied {}", times(count)));
    }
    format!(
        "the conversation moved on since you read it: {}; nothing was sent. Read the new messages, then send again",
        parts.join(" and ")
    )
}

/// Where a reply would go: see [`Gateway::reply_preview`].
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReplyPreview {
    /// The channel the customer last wrote from.
    pub channel: String,
    /// The customer's address there.
    pub recipient: Option<Identity>,
    /// Why a reply would be refused now; absent when it can be sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// The channel and conversation the customer last wrote from on this ticket (or the
/// route that message asked for): replies follow the customer, wherever the ticket
/// started.
pub(crate) fn reply_target(
    conn: &mut dyn crate::store::Connection,
    ticket: &Ticket,
) -> Result<(String, String), StoreError> {
    // A reply route on the latest message (a chat left for email) sends replies
    // there; the conversation key of an email conversation is the address.
    let latest = conn.query_one(
        "SELECT COALESCE(r.channel, m.channel), COALESCE(r.address, m.conversation)
         FROM messages m LEFT JOIN reply_routes r ON r.message_id = m.id
         WHERE m.ticket_id = $1 AND m.direction = 'inbound' ORDER BY m.id DESC LIMIT 1",
        params![ticket.id],
    )?;
    match latest {
        Some(row) => Ok((row.string(0)?, row.string(1)?)),
        None => Ok((ticket.channel.clone(), ticket.conversation.clone())),
    }
}
