//! What the helpdesk does as a message is stored, in the transaction that stores
//! it: so that a message acknowledged to the provider has had its triage, its
//! acknowledgement and its warning decided exactly once, and a rollback undoes them
//! all. The gateway's own messages are queued in the outbox like agents' replies:
//! rate limits, retries, and channels' refusals (WhatsApp's closed window, an
//! opted-out number) apply to them too; a notice a channel would refuse is not sent.

use crate::access::Actor;
use crate::connector::{Draft, Inbound};
use crate::events::Event;
use crate::gateway::Gateway;
use crate::model::{DeliveryStatus, Direction, Priority, Ticket, TicketStatus, Timestamp};
use crate::store::queries::{audit, messages, outbox, tickets};
use crate::store::{Connection, StoreError, params};

use super::guard::SensitiveKind;
use super::sla::{self, SlaTarget};
use super::templates::{self, Notice, Values};
use super::triage::Classification;
use super::{Helpdesk, commands, routing, takes};

/// What a customer asked the gateway itself, recognized before the message is
/// placed: such messages never reopen or open a ticket for agents.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// `status SB-XXXXXX`; `owned` when the ticket is the sender's, who gets its
    /// status; anyone else a neutral answer.
    Status {
        ticket: Option<Box<Ticket>>,
        owned: bool,
    },
    /// A satisfaction rating answering the survey on this ticket.
    Rating { ticket: Box<Ticket>, rating: u8 },
}

impl Command {
    /// The ticket the message goes on, when the command decides it.
    pub(crate) fn ticket(&self) -> Option<&Ticket> {
        match self {
            Command::Status {
                ticket: Some(ticket),
                owned: true,
            } => Some(ticket),
            Command::Rating { ticket, .. } => Some(ticket),
            Command::Status { .. } => None,
        }
    }
}

/// The command in a customer's message, if it is one.
pub(crate) fn command(
    conn: &mut dyn Connection,
    helpdesk: &Helpdesk,
    reference_prefix: &str,
    channel: &str,
    inbound: &Inbound,
    contact_id: i64,
    now: Timestamp,
) -> Result<Option<Command>, StoreError> {
    if inbound.automatic || inbound.edit_of.is_some() {
        return Ok(None);
    }
    // A press of a survey's button comes in as its label ("[button] 5" from
    // Telegram's keyboard, "[list] 5" from a WhatsApp list).
    let answer = ["[button] ", "[list] "]
        .iter()
        .find_map(|prefix| inbound.text.strip_prefix(prefix))
        .unwrap_or(&inbound.text);
    if let Some(csat) = &helpdesk.csat
        && let Some(rating) = commands::csat_rating(answer)
    {
        // The survey went into this conversation: its latest message's ticket.
        let ticket = conn.query_one(
            "SELECT t.id FROM tickets t
             WHERE t.id = (SELECT m.ticket_id FROM messages m WHERE m.channel = $1 AND m.conversation = $2
                           ORDER BY m.id DESC LIMIT 1)
               AND t.csat_requested_at >= $3 AND t.csat_rating IS NULL",
            params![
                channel,
                inbound.conversation.as_str(),
                now.0 - csat.answer_within.as_millis() as i64
            ],
        )?;
        if let Some(row) = ticket {
            let ticket = tickets::get(conn, row.i64(0)?)?;
            return Ok(Some(Command::Rating {
                ticket: Box::new(ticket),
                rating,
            }));
        }
    }
    if helpdesk.status_requests
        && let Some(reference) = commands::status_request(reference_prefix, &inbound.text)
    {
        let ticket = tickets::find_by_reference(conn, &reference)?;
        let owned = match &ticket {
            Some(ticket) => tickets::belongs(conn, ticket, contact_id)?,
            None => false,
        };
        return Ok(Some(Command::Status {
            ticket: ticket.filter(|_| owned).map(Box::new),
            owned,
        }));
    }
    Ok(None)
}

/// One inbound message just stored.
pub(crate) struct Arrival<'a> {
    pub channel: &'a str,
    pub inbound: &'a Inbound,
    /// The ticket it went on, as it was before the message.
    pub ticket: &'a Ticket,
    pub created: bool,
    /// The status the message gave the ticket, when it changed it.
    pub status: Option<TicketStatus>,
    pub sensitive: &'a [SensitiveKind],
    /// The language it is written in, detected before the store was touched.
    pub language: Option<&'static str>,
    /// The contact's language: this message's, else the one detected last.
    pub contact_language: Option<&'a str>,
    pub command: Option<&'a Command>,
}

/// Automatic mail and commands: the gateway neither triages nor answers them as a
/// customer's request.
pub(crate) fn is_quiet(inbound: &Inbound, command: Option<&Command>) -> bool {
    inbound.automatic || command.is_some()
}

/// What triage gives a new ticket: nothing for a quiet message ([`is_quiet`]), which
/// never opens a ticket for agents.
pub(crate) fn triage(
    helpdesk: &Helpdesk,
    channel: &str,
    inbound: &Inbound,
    language: Option<&str>,
    quiet: bool,
) -> Classification {
    if quiet {
        return Classification {
            rule: None,
            category: None,
            priority: Priority::Normal,
        };
    }
    helpdesk
        .triage
        .classify(channel, language, inbound.subject.as_deref(), &inbound.text)
}

/// What the helpdesk keeps on a ticket besides the model's fields.
#[derive(Default)]
struct State {
    sensitive: Option<String>,
    sensitive_warned: bool,
    acknowledged_at: Option<i64>,
    first_response_at: Option<i64>,
}

fn state(conn: &mut dyn Connection, ticket_id: i64) -> Result<State, StoreError> {
    let row = conn
        .query_one(
            "SELECT sensitive, sensitive_warned_at, acknowledged_at, first_response_at
             FROM tickets WHERE id = $1",
            params![ticket_id],
        )?
        .ok_or_else(|| StoreError::NotFound(format!("ticket {ticket_id}")))?;
    Ok(State {
        sensitive: row.opt_string(0)?,
        sensitive_warned: row.opt_i64(1)?.is_some(),
        acknowledged_at: row.opt_i64(2)?,
        first_response_at: row.opt_i64(3)?,
    })
}

/// The helpdesk's part of storing an inbound message.
pub(crate) fn after_inbound(
    conn: &mut dyn Connection,
    gateway: &Gateway,
    arrival: &Arrival<'_>,
    now: Timestamp,
    events: &mut Vec<Event>,
) -> Result<(), StoreError> {
    let helpdesk = gateway.helpdesk();
    let inbound = arrival.inbound;
    let ticket = arrival.ticket;
    let detected = arrival.language;
    // Read only when a rule needs them: most messages need neither.
    let needs_state = helpdesk.acknowledgement.is_some()
        || !helpdesk.policies.is_empty()
        || !arrival.sensitive.is_empty();
    let state = if needs_state {
        state(conn, ticket.id)?
    } else {
        State::default()
    };
    let chain = helpdesk.language_chain(arrival.contact_language);
    let quiet = is_quiet(inbound, arrival.command);
    let reopened =
        arrival.status == Some(TicketStatus::Open) && ticket.status == TicketStatus::Resolved;
    let mut current = ticket.clone();

    if arrival.created && !quiet {
        // Triage came with the ticket's insert ([`triage`]).
        if let Some(team) = helpdesk.team_for(ticket.category.as_deref(), detected, arrival.channel)
        {
            let agent = routing::pick_agent(conn, helpdesk, team, None, now)?;
            routing::assign(
                conn,
                &current,
                Some(&team.name),
                agent.as_deref(),
                now,
                events,
            )?;
            current.assignee = agent;
        }
        if let Some(policy) = helpdesk.policy_for(ticket.category.as_deref(), ticket.priority) {
            sla::start(conn, policy, ticket.id, SlaTarget::FirstResponse, now)?;
            sla::start(conn, policy, ticket.id, SlaTarget::Resolution, now)?;
        }
    } else if !quiet && !helpdesk.policies.is_empty() {
        if ticket.status == TicketStatus::Pending {
            sla::resume(conn, helpdesk, ticket.id, now)?;
        }
        // The customer wrote again after an answer: the next answer has a target.
        if state.first_response_at.is_some()
            && !sla::is_open(conn, ticket.id, SlaTarget::NextResponse)?
            && let Some(policy) = helpdesk.policy_for(ticket.category.as_deref(), ticket.priority)
        {
            sla::start(conn, policy, ticket.id, SlaTarget::NextResponse, now)?;
        }
    }

    if let Some(ack) = &helpdesk.acknowledgement
        && (arrival.created || reopened)
        && !quiet
        && takes(&ack.channels, arrival.channel)
        && state
            .acknowledged_at
            .is_none_or(|at| now.0 - at >= ack.window.as_millis() as i64)
    {
        let language = helpdesk.texts.language_for(Notice::Acknowledgement, &chain);
        let response_time = helpdesk
            .policy_for(current.category.as_deref(), current.priority)
            .and_then(|p| p.target_ms(SlaTarget::FirstResponse))
            .map(|ms| templates::duration(ms, language));
        let mut text = helpdesk.texts.render(
            Notice::Acknowledgement,
            &chain,
            &Values {
                reference: Some(ticket.reference.clone()),
                response_time,
                ..Values::default()
            },
        );
        if ack.suggest_articles {
            let articles = helpdesk.knowledge.suggest(&inbound.text, detected, 3);
            if !articles.is_empty() {
                let list: Vec<String> = articles
                    .iter()
                    .map(|a| match &a.url {
                        Some(url) => format!("- {}: {url}", a.title),
                        None => format!("- {}", a.title),
                    })
                    .collect();
                text.push_str("\n\n");
                text.push_str(&helpdesk.texts.render(
                    Notice::Suggestions,
                    &chain,
                    &Values {
                        articles: Some(list.join("\n")),
                        ..Values::default()
                    },
                ));
            }
        }
        if queue_notice(conn, gateway, &current, &text, &[], now, events)?.is_some() {
            conn.execute(
                "UPDATE tickets SET acknowledged_at = $1 WHERE id = $2",
                params![now.0, ticket.id],
            )?;
        }
    }

    if !arrival.sensitive.is_empty() {
        let mut kinds: Vec<String> = state
            .sensitive
            .as_deref()
            .map(|s| s.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        for kind in arrival.sensitive {
            if !kinds.iter().any(|k| k == kind.as_str()) {
                kinds.push(kind.as_str().to_owned());
            }
        }
        conn.execute(
            "UPDATE tickets SET sensitive = $1 WHERE id = $2",
            params![kinds.join(","), ticket.id],
        )?;
        events.push(Event::TicketUpdated {
            ticket_id: ticket.id,
            reference: ticket.reference.clone(),
            status: arrival.status.unwrap_or(ticket.status),
        });
        if helpdesk.warn_on_secrets && !state.sensitive_warned {
            let text = helpdesk
                .texts
                .render(Notice::SensitiveWarning, &chain, &Values::default());
            if queue_notice(conn, gateway, &current, &text, &[], now, events)?.is_some() {
                conn.execute(
                    "UPDATE tickets SET sensitive_warned_at = $1 WHERE id = $2",
                    params![now.0, ticket.id],
                )?;
            }
        }
    }

    match arrival.command {
        Some(Command::Status {
            ticket: asked,
            owned,
        }) => {
            let text = match asked.as_deref().filter(|_| *owned) {
                Some(asked) => {
                    let language = helpdesk.texts.language_for(Notice::Status, &chain);
                    helpdesk.texts.render(
                        Notice::Status,
                        &chain,
                        &Values {
                            reference: Some(asked.reference.clone()),
                            status: Some(templates::status_name(asked.status, language).to_owned()),
                            agent_name: asked.assignee.clone(),
                            ..Values::default()
                        },
                    )
                }
                None => helpdesk
                    .texts
                    .render(Notice::StatusUnknown, &chain, &Values::default()),
            };
            queue_notice(conn, gateway, &current, &text, &[], now, events)?;
        }
        Some(Command::Rating {
            ticket: rated,
            rating,
        }) => {
            conn.execute(
                "UPDATE tickets SET csat_rating = $1, csat_at = $2 WHERE id = $3 AND csat_rating IS NULL",
                params![i64::from(*rating), now.0, rated.id],
            )?;
            audit::append(
                conn,
                now,
                // Not the customer's name: the log outlives an erasure of the contact.
                audit::By::gateway("customer"),
                "ticket.csat",
                Some(rated.id),
                &serde_json::json!({ "rating": rating, "channel": arrival.channel }),
            )?;
            events.push(Event::TicketUpdated {
                ticket_id: rated.id,
                reference: rated.reference.clone(),
                status: rated.status,
            });
            let text = helpdesk.texts.render(
                Notice::CsatThanks,
                &chain,
                &Values {
                    reference: Some(rated.reference.clone()),
                    ..Values::default()
                },
            );
            queue_notice(conn, gateway, rated, &text, &[], now, events)?;
        }
        None => {}
    }
    Ok(())
}

fn contact_language(
    conn: &mut dyn Connection,
    contact_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_one(
            "SELECT language FROM contacts WHERE id = $1",
            params![contact_id],
        )?
        .map(|row| row.opt_string(0))
        .transpose()?
        .flatten())
}

/// A button a message offers, on channels that have them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    /// What comes back when the customer picks it (`csat:5`).
    pub id: String,
    pub label: String,
}

/// Queues one of the gateway's own messages to the ticket's customer, where replies
/// to the ticket go now; `None` (and nothing queued) when that channel is off here or
/// would refuse it.
pub(crate) fn queue_notice(
    conn: &mut dyn Connection,
    gateway: &Gateway,
    ticket: &Ticket,
    text: &str,
    choices: &[Choice],
    now: Timestamp,
    events: &mut Vec<Event>,
) -> Result<Option<i64>, StoreError> {
    let (channel, conversation) = crate::agent::reply_target(conn, ticket)?;
    if !gateway.serves(&channel) {
        return Ok(None);
    }
    let thread = outbox::thread_for(conn, ticket.clone(), &channel, &conversation, i64::MAX)?;
    if let Some(reason) = gateway.refusal(
        &thread,
        Draft {
            text,
            attachments: 0,
        },
    ) {
        tracing::info!(ticket = %ticket.reference, %channel, %reason, "helpdesk notice not sent");
        return Ok(None);
    }
    let message_id = messages::insert(
        conn,
        &messages::NewMessage {
            ticket_id: ticket.id,
            direction: Direction::Outbound,
            channel: &channel,
            external_id: None,
            conversation: &conversation,
            contact_id: None,
            sender: None,
            author: &gateway.helpdesk().sender_name,
            subject: None,
            text,
            html: None,
            automatic: true,
            delivery_status: Some(DeliveryStatus::Queued),
            group: None,
            now: now.0,
        },
    )?
    .ok_or_else(|| StoreError::Database("message insert returned no id".into()))?;
    if !choices.is_empty() {
        let json = serde_json::to_string(choices)
            .map_err(|e| StoreError::Database(format!("choices: {e}")))?;
        conn.execute(
            "UPDATE messages SET choices = $1 WHERE id = $2",
            params![json, message_id],
        )?;
    }
    outbox::enqueue(conn, message_id, &channel, &conversation, now.0)?;
    events.push(Event::MessageCreated {
        ticket_id: ticket.id,
        message_id,
        direction: Direction::Outbound,
        channel,
    });
    Ok(Some(message_id))
}

/// An agent answered the customer: response targets are met.
pub(crate) fn after_agent_reply(
    conn: &mut dyn Connection,
    ticket_id: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tickets SET first_response_at = COALESCE(first_response_at, $1) WHERE id = $2",
        params![now.0, ticket_id],
    )?;
    sla::met(
        conn,
        ticket_id,
        &[SlaTarget::FirstResponse, SlaTarget::NextResponse],
        now,
    )
}

/// An agent changed a ticket: the audit entry, and what the change means for its
/// targets and its survey.
pub(crate) fn after_update(
    conn: &mut dyn Connection,
    gateway: &Gateway,
    actor: &Actor,
    before: &Ticket,
    after: &Ticket,
    now: Timestamp,
    events: &mut Vec<Event>,
) -> Result<(), StoreError> {
    let helpdesk = gateway.helpdesk();
    let mut changed = serde_json::Map::new();
    let mut note = |field: &str, old: Option<&str>, new: Option<&str>| {
        if old != new {
            changed.insert(field.to_owned(), serde_json::json!([old, new]));
        }
    };
    note(
        "status",
        Some(before.status.as_str()),
        Some(after.status.as_str()),
    );
    note(
        "priority",
        Some(before.priority.as_str()),
        Some(after.priority.as_str()),
    );
    note(
        "category",
        before.category.as_deref(),
        after.category.as_deref(),
    );
    note(
        "assignee",
        before.assignee.as_deref(),
        after.assignee.as_deref(),
    );
    if changed.is_empty() {
        return Ok(());
    }
    audit::append(
        conn,
        now,
        actor.into(),
        "ticket.update",
        Some(after.id),
        &serde_json::Value::Object(changed),
    )?;
    if before.category != after.category || before.priority != after.priority {
        sla::rebase(
            conn,
            helpdesk,
            after.id,
            after.category.as_deref(),
            after.priority,
            now,
        )?;
    }
    if before.status != after.status {
        match after.status {
            TicketStatus::Pending => sla::pause(conn, helpdesk, after.id, now)?,
            TicketStatus::Resolved | TicketStatus::Closed => {
                sla::met(
                    conn,
                    after.id,
                    &[
                        SlaTarget::FirstResponse,
                        SlaTarget::NextResponse,
                        SlaTarget::Resolution,
                    ],
                    now,
                )?;
            }
            _ if before.status == TicketStatus::Pending => {
                sla::resume(conn, helpdesk, after.id, now)?
            }
            _ => {}
        }
        if after.status == TicketStatus::Resolved {
            survey(conn, gateway, after, now, events)?;
        }
    }
    Ok(())
}

/// Asks the customer of a resolved ticket for a rating, once per ticket: buttons on
/// channels that have them, a number elsewhere, a link by email when the gateway's
/// public address is known.
fn survey(
    conn: &mut dyn Connection,
    gateway: &Gateway,
    ticket: &Ticket,
    now: Timestamp,
    events: &mut Vec<Event>,
) -> Result<(), StoreError> {
    let helpdesk = gateway.helpdesk();
    let Some(csat) = &helpdesk.csat else {
        return Ok(());
    };
    let asked = conn.query_one(
        "SELECT csat_requested_at FROM tickets WHERE id = $1",
        params![ticket.id],
    )?;
    if asked
        .map(|row| row.opt_i64(0))
        .transpose()?
        .flatten()
        .is_some()
    {
        return Ok(());
    }
    let (channel, _) = crate::agent::reply_target(conn, ticket)?;
    if !takes(&csat.channels, &channel) {
        return Ok(());
    }
    let language = contact_language(conn, ticket.contact_id)?;
    let chain = helpdesk.language_chain(language.as_deref());
    let by_email = gateway.channel_kind(&channel) == Some("email");
    let token = crate::reference::token();
    let (text, choices) = match (&csat.public_url, by_email) {
        (Some(url), true) => (
            helpdesk.texts.render(
                Notice::CsatLink,
                &chain,
                &Values {
                    reference: Some(ticket.reference.clone()),
                    csat_link: Some(format!("{url}/csat/{token}")),
                    ..Values::default()
                },
            ),
            Vec::new(),
        ),
        _ => (
            helpdesk.texts.render(
                Notice::CsatQuestion,
                &chain,
                &Values {
                    reference: Some(ticket.reference.clone()),
                    ..Values::default()
                },
            ),
            (1..=5)
                .map(|n| Choice {
                    id: format!("csat:{n}"),
                    label: n.to_string(),
                })
                .collect(),
        ),
    };
    if queue_notice(conn, gateway, ticket, &text, &choices, now, events)?.is_some() {
        conn.execute(
            "UPDATE tickets SET csat_requested_at = $1, csat_token = $2 WHERE id = $3",
            params![now.0, token.as_str(), ticket.id],
        )?;
    }
    Ok(())
}

/// Raises a ticket's priority to at least `to` (never lowers it).
pub(crate) fn raise_priority(
    conn: &mut dyn Connection,
    ticket: &Ticket,
    to: Priority,
) -> Result<bool, StoreError> {
    let rank = |p: Priority| Priority::ALL.iter().position(|x| *x == p).unwrap_or(0);
    if rank(to) <= rank(ticket.priority) {
        return Ok(false);
    }
    conn.execute(
        "UPDATE tickets SET priority = $1 WHERE id = $2",
        params![to.as_str(), ticket.id],
    )?;
    Ok(true)
}
