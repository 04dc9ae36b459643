//! Ingest: inbound messages into tickets, durably, once.
//!
//! Connectors submit batches; writer tasks gather whatever is waiting (up to
//! `ingest_batch` messages) and commit it in one transaction (group commit), so a
//! burst of webhooks costs one disk sync rather than one each. Each message is
//! deduplicated on (channel, external_id), its sender resolved to a contact, and
//! threaded (see `threading`). Events go out after the commit. A batch that fails is
//! retried job by job, so that one bad message does not fail its neighbours.

use std::sync::{Arc, Weak};
use std::time::Instant;

use thiserror::Error;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::blobs::BlobStore;
use crate::clock::Clock;
use crate::connector::Inbound;
use crate::events::{Event, Events, Recorded};
use crate::gateway::{Gateway, GatewayConfig, GatewayInner};
use crate::helpdesk::Helpdesk;
use crate::helpdesk::flow::{self, Arrival};
use crate::helpdesk::guard::{self, SensitiveKind};
use crate::helpdesk::language;
use crate::input;
use crate::model::{ChannelId, Direction, Ticket, TicketStatus, Timestamp};
use crate::store::queries::amendments::{self, AmendmentKind};
use crate::store::queries::{contacts, conversation_log, events as event_log, messages, tickets};
use crate::store::{Connection, Store, StoreError};
use crate::threading::{self, Placement, ThreadingRules};

/// What became of one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    pub message_id: i64,
    pub ticket_id: i64,
    pub ticket_reference: String,
    /// The message was already stored (a provider's resend); nothing changed.
    pub duplicate: bool,
    /// The message started a new ticket.
    pub created_ticket: bool,
    /// The message reopened a resolved ticket.
    pub reopened: bool,
    /// Its number in the conversation's log, for channels that keep one
    /// ([`ChannelContext::ingest_logged`](crate::connector::ChannelContext::ingest_logged)).
    pub seq: Option<i64>,
}

#[derive(Debug, Error)]
pub enum IngestError {
    /// The connector handed in something the core cannot store; the text says what.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot store attachment: {0}")]
    Blob(#[from] std::io::Error),
    #[error("the gateway is shutting down")]
    ShuttingDown,
}

/// A message whose attachments are already in the blob store.
struct Prepared {
    inbound: Inbound,
    attachments: Vec<StoredAttachment>,
    /// The kinds of secret the guard masked in it.
    sensitive: Vec<SensitiveKind>,
    language: Option<&'static str>,
}

struct StoredAttachment {
    filename: String,
    content_type: String,
    size: i64,
    sha256: String,
}

/// One submission: messages of one channel.
struct Batch {
    channel: ChannelId,
    /// Each message also gets its number in the conversation's log.
    logged: bool,
    items: Vec<Prepared>,
}

type JobItems = Arc<Batch>;

struct Job {
    items: JobItems,
    reply: oneshot::Sender<Result<Vec<IngestOutcome>, IngestError>>,
}

/// The handle connectors submit through; cheap to clone.
#[derive(Clone)]
pub(crate) struct Ingestor {
    jobs: mpsc::Sender<Job>,
    /// For what is worked out before a message reaches the writer: its language.
    helpdesk: Arc<Helpdesk>,
    max_attachment_bytes: usize,
    max_attachments: usize,
}

#[derive(Clone)]
struct Writer {
    /// The gateway the writer works for: the helpdesk's rules and the channels'
    /// refusals for the gateway's own messages. Weak, as the gateway owns the writers.
    gateway: Weak<GatewayInner>,
    store: Store,
    events: Events,
    clock: Arc<dyn Clock>,
    reference_prefix: Arc<str>,
    reopen_window_ms: i64,
    batch: usize,
}

impl Ingestor {
    pub(crate) fn start(
        gateway: Weak<GatewayInner>,
        store: Store,
        events: Events,
        clock: Arc<dyn Clock>,
        config: &GatewayConfig,
    ) -> Ingestor {
        let (jobs, queue) = mpsc::channel(config.ingest_batch.max(1) * 8);
        let queue = Arc::new(Mutex::new(queue));
        let writer = Writer {
            gateway,
            store,
            events,
            clock,
            reference_prefix: config.reference_prefix.as_str().into(),
            reopen_window_ms: config.reopen_window.as_millis() as i64,
            batch: config.ingest_batch.max(1),
        };
        for _ in 0..config.ingest_writers.max(1) {
            tokio::spawn(writer.clone().run(queue.clone()));
        }
        Ingestor {
            jobs,
            helpdesk: config.helpdesk.clone(),
            max_attachment_bytes: config.max_attachment_bytes,
            max_attachments: config.max_attachments,
        }
    }

    pub(crate) async fn submit(
        &self,
        blobs: &BlobStore,
        channel: ChannelId,
        logged: bool,
        items: Vec<Inbound>,
    ) -> Result<Vec<IngestOutcome>, IngestError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let mut prepared = Vec::with_capacity(items.len());
        for mut inbound in items {
            self.check(&mut inbound)?;
            let sensitive = mask_secrets(&mut inbound);
            // Detection is the costliest step of a message: done here, in the request's
            // task on any core, not in the writer, which takes one batch at a time.
            let language = if inbound.automatic || !self.helpdesk.detects_language {
                None
            } else {
                language::detect(&inbound.text, &self.helpdesk.languages)
            };
            let mut attachments = Vec::with_capacity(inbound.attachments.len());
            for attachment in std::mem::take(&mut inbound.attachments) {
                let size = attachment.bytes.len() as i64;
                let sha256 = blobs.put(attachment.bytes).await?;
                attachments.push(StoredAttachment {
                    filename: attachment.filename,
                    content_type: attachment.content_type,
                    size,
                    sha256,
                });
            }
            prepared.push(Prepared {
                inbound,
                attachments,
                sensitive,
                language,
            });
        }
        let channel_label = channel.as_str().to_owned();
        let (reply, answer) = oneshot::channel();
        let job = Job {
            items: Arc::new(Batch {
                channel,
                logged,
                items: prepared,
            }),
            reply,
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| IngestError::ShuttingDown)?;
        let outcomes = answer.await.map_err(|_| IngestError::ShuttingDown)??;
        metrics::histogram!("switchboard_ingest_seconds", "channel" => channel_label.clone())
            .record(started.elapsed().as_secs_f64());
        for outcome in &outcomes {
            let label = if outcome.duplicate {
                "duplicate"
            } else {
                "accepted"
            };
            metrics::counter!("switchboard_inbound_total", "channel" => channel_label.clone(), "outcome" => label)
                .increment(1);
        }
        Ok(outcomes)
    }
}

impl Ingestor {
    /// Refuses what cannot be stored as it came, naming the field, and cleans what
    /// can ([`crate::input`]); before anything is written.
    fn check(&self, inbound: &mut Inbound) -> Result<(), IngestError> {
        let invalid = IngestError::Invalid;
        if inbound.external_id.trim().is_empty() {
            return Err(invalid("external_id must not be empty".into()));
        }
        if inbound.conversation.trim().is_empty() {
            return Err(invalid("conversation must not be empty".into()));
        }
        input::check_key("external_id", &inbound.external_id).map_err(invalid)?;
        input::check_key("conversation", &inbound.conversation).map_err(invalid)?;
        input::check_key("sender", &inbound.sender.identity.address).map_err(invalid)?;
        for id in inbound
            .thread
            .reply_to
            .iter()
            .chain(&inbound.thread.references)
        {
            input::check_key("the id of the message replied to", id).map_err(invalid)?;
        }
        // Others the message was addressed to are extras: one whose address cannot be
        // stored is left out rather than the message refused.
        inbound
            .participants
            .retain(|p| input::check_key("participant", &p.identity.address).is_ok());
        for text in [
            Some(&mut inbound.text),
            inbound.subject.as_mut(),
            inbound.html.as_mut(),
        ]
        .into_iter()
        .flatten()
        .chain(inbound.sender.display_name.as_mut())
        .chain(
            inbound
                .participants
                .iter_mut()
                .filter_map(|p| p.display_name.as_mut()),
        ) {
            input::strip_nul(text);
        }
        let (count, max) = (inbound.attachments.len(), self.max_attachments);
        if count > max {
            return Err(invalid(format!(
                "a message may carry at most {max} attachments; this one has {count}"
            )));
        }
        let max_bytes = self.max_attachment_bytes;
        for (i, attachment) in inbound.attachments.iter_mut().enumerate() {
            if attachment.bytes.len() > max_bytes {
                return Err(invalid(format!(
                    "attachment {:?} is {} bytes; the limit is {max_bytes}",
                    attachment.filename,
                    attachment.bytes.len()
                )));
            }
            attachment.content_type = input::media_type(
                &format!("attachments[{i}].content_type"),
                &attachment.content_type,
            )
            .map_err(invalid)?;
            input::strip_nul(&mut attachment.filename);
        }
        if inbound.text.trim().is_empty() && inbound.attachments.is_empty() {
            return Err(invalid(
                "a message needs text or at least one attachment".into(),
            ));
        }
        Ok(())
    }
}

impl Writer {
    async fn run(self, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
        loop {
            let jobs = {
                let mut queue = queue.lock().await;
                let Some(first) = queue.recv().await else {
                    return;
                };
                let mut count = first.items.items.len();
                let mut jobs = vec![first];
                while count < self.batch {
                    match queue.try_recv() {
                        Ok(job) => {
                            count += job.items.items.len();
                            jobs.push(job);
                        }
                        Err(_) => break,
                    }
                }
                jobs
            };
            self.commit(jobs).await;
        }
    }

    /// Commits the jobs together; if that fails, each on its own.
    async fn commit(&self, jobs: Vec<Job>) {
        let batch: Vec<JobItems> = jobs.iter().map(|j| j.items.clone()).collect();
        match self.write(batch).await {
            Ok((outcomes, events)) => {
                self.publish(events);
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(error) if jobs.len() == 1 => {
                let job = jobs.into_iter().next().expect("one job");
                let _ = job.reply.send(Err(error.into()));
            }
            Err(_) => {
                for job in jobs {
                    let result = self.write(vec![job.items.clone()]).await;
                    let _ = job.reply.send(match result {
                        Ok((mut outcomes, events)) => {
                            self.publish(events);
                            Ok(outcomes.pop().unwrap_or_default())
                        }
                        Err(error) => Err(error.into()),
                    });
                }
            }
        }
    }

    /// Broadcasts committed events, and wakes the dispatcher when the helpdesk
    /// queued a message of its own.
    fn publish(&self, events: Vec<Recorded>) {
        let queued = events.iter().any(|r| {
            matches!(
                r.event,
                Event::MessageCreated {
                    direction: Direction::Outbound,
                    ..
                }
            )
        });
        if queued && let Some(inner) = self.gateway.upgrade() {
            Gateway { inner }.outbox_queued();
        }
        self.events.publish(events);
    }

    async fn write(
        &self,
        batch: Vec<JobItems>,
    ) -> Result<(Vec<Vec<IngestOutcome>>, Vec<Recorded>), StoreError> {
        let this = self.clone();
        let gateway = Gateway {
            inner: self
                .gateway
                .upgrade()
                .ok_or_else(|| StoreError::Database("the gateway is shutting down".into()))?,
        };
        self.store
            .write(move |conn| {
                conn.lock_keys(&lock_keys(&batch))?;
                let now = this.clock.now();
                let rules = ThreadingRules {
                    reference_prefix: &this.reference_prefix,
                    reopen_window_ms: this.reopen_window_ms,
                };
                let mut events = Vec::new();
                let mut outcomes = Vec::with_capacity(batch.len());
                for job in &batch {
                    let channel = job.channel.as_str();
                    let mut job_outcomes = Vec::with_capacity(job.items.len());
                    for item in &job.items {
                        let mut outcome =
                            ingest_one(conn, &gateway, channel, item, &rules, now, &mut events)?;
                        if job.logged {
                            // A new message cannot have a number yet: skip the lookup.
                            let number = if outcome.duplicate {
                                conversation_log::append
                            } else {
                                conversation_log::append_new
                            };
                            outcome.seq = Some(number(
                                conn,
                                channel,
                                &item.inbound.conversation,
                                outcome.message_id,
                                now.0,
                            )?);
                        }
                        job_outcomes.push(outcome);
                    }
                    outcomes.push(job_outcomes);
                }
                let recorded = event_log::append(conn, events, now)?;
                Ok((outcomes, recorded))
            })
            .await
    }
}

/// Advisory lock keys for a batch, sorted so that concurrent PostgreSQL writers take
/// them in the same order and never deadlock: one per conversation (threading) and
/// one per sender identity (contact creation).
fn lock_keys(batch: &[JobItems]) -> Vec<i64> {
    let mut keys: Vec<i64> = batch
        .iter()
        .flat_map(|job| {
            let channel = job.channel.as_str();
            job.items.iter().flat_map(move |item| {
                let identities = std::iter::once(&item.inbound.sender)
                    .chain(&item.inbound.participants)
                    .map(|sender| {
                        let identity = &sender.identity;
                        fnv1a(&[
                            b"identity",
                            identity.kind.as_str().as_bytes(),
                            identity.address.as_bytes(),
                        ])
                    });
                std::iter::once(fnv1a(&[
                    b"conversation",
                    channel.as_bytes(),
                    item.inbound.conversation.as_bytes(),
                ]))
                .chain(identities)
            })
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn fnv1a(parts: &[&[u8]]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash as i64
}

fn ingest_one(
    conn: &mut dyn Connection,
    gateway: &Gateway,
    channel: &str,
    item: &Prepared,
    rules: &ThreadingRules<'_>,
    now: Timestamp,
    events: &mut Vec<Event>,
) -> Result<IngestOutcome, StoreError> {
    let inbound = &item.inbound;
    let seen = match messages::find_external(conn, channel, &inbound.external_id)? {
        Some(found) => Some(found),
        // Only edits and album parts are recorded as amendments: a plain message
        // needs no second lookup on the hot path.
        None if inbound.edit_of.is_some() || inbound.group.is_some() => {
            amendments::find(conn, channel, &inbound.external_id)?
        }
        None => None,
    };
    if let Some((message_id, ticket_id)) = seen {
        let ticket = tickets::get(conn, ticket_id)?;
        return Ok(duplicate(message_id, &ticket));
    }
    if let Some(outcome) = amend(conn, channel, item, now, events)? {
        return Ok(outcome);
    }
    // An edit of a message never seen stands in for it, under its id.
    let external_id = inbound.edit_of.as_deref().unwrap_or(&inbound.external_id);
    if external_id != inbound.external_id
        && let Some((message_id, ticket_id)) = messages::find_external(conn, channel, external_id)?
    {
        let ticket = tickets::get(conn, ticket_id)?;
        return Ok(duplicate(message_id, &ticket));
    }
    let sender = contacts::resolve(
        conn,
        channel,
        &inbound.sender.identity,
        inbound.sender.display_name.as_deref(),
        inbound.sender.reachable,
        item.language,
        now.0,
    )?;
    let (contact_id, known_name) = (sender.contact_id, sender.name.clone());
    let command = flow::command(
        conn,
        gateway.helpdesk(),
        rules.reference_prefix,
        channel,
        inbound,
        contact_id,
        now,
    )?;
    // A command goes on the ticket it is about, or is kept aside like automatic
    // mail: it never opens or reopens a ticket for agents.
    let placement = match command.as_ref().and_then(|c| c.ticket()) {
        Some(ticket) => Placement::Existing {
            ticket: Box::new(ticket.clone()),
            status: None,
        },
        None => threading::place(
            conn,
            channel,
            inbound,
            contact_id,
            rules,
            command.is_some(),
            now,
        )?,
    };
    let (ticket, status, created_ticket) = match placement {
        Placement::Existing { ticket, status } => (*ticket, status, false),
        Placement::New { previous, status } => {
            let subject = inbound
                .subject
                .clone()
                .or_else(|| subject_from_text(&inbound.text));
            let quiet = flow::is_quiet(inbound, command.as_ref());
            let triage = flow::triage(gateway.helpdesk(), channel, inbound, item.language, quiet);
            let ticket = tickets::insert(
                conn,
                &tickets::NewTicket {
                    reference_prefix: rules.reference_prefix,
                    subject: subject.as_deref(),
                    channel,
                    conversation: &inbound.conversation,
                    contact_id,
                    previous_ticket_id: previous,
                    status,
                    priority: triage.priority,
                    category: triage.category.as_deref(),
                    triage_rule: triage.rule.as_deref(),
                    language: item.language.filter(|_| !quiet),
                    now: now.0,
                },
            )?;
            (ticket, None, true)
        }
    };
    let author = known_name
        .clone()
        .unwrap_or_else(|| inbound.sender.identity.address.clone());
    let Some(message_id) = messages::insert(
        conn,
        &messages::NewMessage {
            ticket_id: ticket.id,
            direction: Direction::Inbound,
            channel,
            external_id: Some(external_id),
            conversation: &inbound.conversation,
            contact_id: Some(contact_id),
            sender: Some(&inbound.sender.identity),
            author: &author,
            subject: inbound.subject.as_deref(),
            text: &inbound.text,
            html: inbound.html.as_deref(),
            automatic: inbound.automatic,
            delivery_status: None,
            group: inbound.group.as_deref(),
            now: now.0,
        },
    )?
    else {
        // Stored by a concurrent writer between our lookup and insert.
        let (message_id, _) = messages::find_external(conn, channel, external_id)?
            .ok_or_else(|| StoreError::Database("message vanished after a conflict".into()))?;
        return Ok(duplicate(message_id, &ticket));
    };
    insert_attachments(conn, message_id, &item.attachments)?;
    if let Some(route) = &inbound.reply_by {
        messages::insert_reply_route(conn, message_id, route)?;
    }
    if external_id != inbound.external_id {
        // So that a resend of the edit itself is a duplicate too.
        amendments::insert(
            conn,
            message_id,
            channel,
            &inbound.external_id,
            AmendmentKind::Edit,
            None,
            now.0,
        )?;
    }
    if contact_id != ticket.contact_id {
        tickets::add_participant(conn, ticket.id, contact_id)?;
    }
    for participant in &inbound.participants {
        let id = contacts::resolve(
            conn,
            channel,
            &participant.identity,
            participant.display_name.as_deref(),
            false,
            None,
            now.0,
        )?
        .contact_id;
        if id != ticket.contact_id && id != contact_id {
            tickets::add_participant(conn, ticket.id, id)?;
        }
    }
    tickets::touch(conn, ticket.id, status, now.0)?;
    flow::after_inbound(
        conn,
        gateway,
        &Arrival {
            channel,
            inbound,
            ticket: &ticket,
            created: created_ticket,
            status,
            sensitive: &item.sensitive,
            language: item.language,
            contact_language: sender.language.as_deref(),
            command: command.as_ref(),
        },
        now,
        events,
    )?;

    if created_ticket {
        events.push(Event::TicketCreated {
            ticket_id: ticket.id,
            reference: ticket.reference.clone(),
            channel: channel.to_owned(),
        });
    } else if let Some(status) = status {
        events.push(Event::TicketUpdated {
            ticket_id: ticket.id,
            reference: ticket.reference.clone(),
            status,
        });
    }
    events.push(Event::MessageCreated {
        ticket_id: ticket.id,
        message_id,
        direction: Direction::Inbound,
        channel: channel.to_owned(),
    });
    Ok(IngestOutcome {
        message_id,
        ticket_id: ticket.id,
        ticket_reference: ticket.reference,
        duplicate: false,
        created_ticket,
        reopened: status.is_some() && ticket.status == TicketStatus::Resolved,
        seq: None,
    })
}

/// Applies an edit or a later album part to the message it belongs to, when that
/// message is stored; `None` when the item is a message of its own.
fn amend(
    conn: &mut dyn Connection,
    channel: &str,
    item: &Prepared,
    now: Timestamp,
    events: &mut Vec<Event>,
) -> Result<Option<IngestOutcome>, StoreError> {
    let inbound = &item.inbound;
    let (kind, target) = if let Some(original) = &inbound.edit_of {
        let target = match messages::find_external(conn, channel, original)? {
            Some(found) => Some(found),
            None => amendments::find(conn, channel, original)?,
        };
        (AmendmentKind::Edit, target)
    } else if let Some(group) = &inbound.group {
        let target = messages::find_group(conn, channel, &inbound.conversation, group)?;
        (AmendmentKind::Part, target)
    } else {
        return Ok(None);
    };
    let Some((message_id, ticket_id)) = target else {
        return Ok(None);
    };
    let previous = match kind {
        AmendmentKind::Edit => Some(messages::apply_edit(
            conn,
            message_id,
            &inbound.text,
            inbound.html.as_deref(),
            now.0,
        )?),
        AmendmentKind::Part => {
            messages::append_text(conn, message_id, &inbound.text, now.0)?;
            insert_attachments(conn, message_id, &item.attachments)?;
            None
        }
    };
    amendments::insert(
        conn,
        message_id,
        channel,
        &inbound.external_id,
        kind,
        previous.as_deref(),
        now.0,
    )?;
    events.push(Event::MessageUpdated {
        ticket_id,
        message_id,
        delivery_status: None,
    });
    let ticket = tickets::get(conn, ticket_id)?;
    Ok(Some(IngestOutcome {
        message_id,
        ticket_id,
        ticket_reference: ticket.reference,
        duplicate: false,
        created_ticket: false,
        reopened: false,
        seq: None,
    }))
}

fn insert_attachments(
    conn: &mut dyn Connection,
    message_id: i64,
    attachments: &[StoredAttachment],
) -> Result<(), StoreError> {
    for a in attachments {
        messages::insert_attachment(
            conn,
            message_id,
            &a.filename,
            &a.content_type,
            a.size,
            &a.sha256,
        )?;
    }
    Ok(())
}

fn duplicate(message_id: i64, ticket: &Ticket) -> IngestOutcome {
    IngestOutcome {
        message_id,
        ticket_id: ticket.id,
        ticket_reference: ticket.reference.clone(),
        duplicate: true,
        created_ticket: false,
        reopened: false,
        seq: None,
    }
}

/// Masks secrets in everything of the message that is stored: text, subject, the
/// sender's name and the files' names. HTML keeps its markup between words, where a
/// seed phrase can hide from a scan of the text, so it is dropped when it or the
/// text held a secret (the text stands for it); a copy of the whole mail goes too,
/// and text files are masked like the text. The kinds found, each once.
fn mask_secrets(inbound: &mut Inbound) -> Vec<SensitiveKind> {
    let mut kinds = Vec::new();
    let mask = |text: &mut String, kinds: &mut Vec<SensitiveKind>| {
        if let Some((masked, found)) = guard::mask(text) {
            *text = masked;
            add_kinds(kinds, found);
        }
    };
    mask(&mut inbound.text, &mut kinds);
    if let Some(subject) = inbound.subject.as_mut() {
        mask(subject, &mut kinds);
    }
    if let Some(name) = inbound.sender.display_name.as_mut() {
        mask(name, &mut kinds);
    }
    if let Some(html) = &inbound.html {
        let found: Vec<SensitiveKind> = guard::scan(&strip_tags(html))
            .into_iter()
            .chain(guard::scan(html))
            .map(|f| f.kind)
            .collect();
        if !kinds.is_empty() || !found.is_empty() {
            add_kinds(&mut kinds, found);
            inbound.html = None;
        }
    }
    let mut dropped_original = false;
    inbound.attachments.retain_mut(|attachment| {
        mask(&mut attachment.filename, &mut kinds);
        let textual = attachment.content_type.starts_with("text/");
        let original = attachment.content_type == "message/rfc822";
        if !(textual || original) {
            return true;
        }
        let content = String::from_utf8_lossy(&attachment.bytes).into_owned();
        match guard::mask(&content) {
            Some((masked, found)) => {
                add_kinds(&mut kinds, found);
                if original {
                    dropped_original = true;
                    return false;
                }
                attachment.bytes = masked.into_bytes().into();
                true
            }
            None if original && !kinds.is_empty() => {
                dropped_original = true;
                false
            }
            None => true,
        }
    });
    if dropped_original {
        inbound
            .text
            .push_str("\n[the original email was not kept: it held a secret]");
    }
    kinds
}

/// Adds kinds not yet in `kinds`, keeping the order they were first found in.
fn add_kinds(kinds: &mut Vec<SensitiveKind>, found: impl IntoIterator<Item = SensitiveKind>) {
    for kind in found {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
}

/// The words of an HTML body, tags replaced by spaces.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// A subject for channels without one: the first line, shortened.
fn subject_from_text(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    const MAX: usize = 80;
    Some(if line.chars().count() > MAX {
        let cut: String = line.chars().take(MAX - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        line.to_owned()
    })
}
