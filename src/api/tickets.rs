//! Tickets: list, show, reply, note, update.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize};
use switchboard_core::agent::ReplyPreview;
use switchboard_core::connector::OutboundAttachment;
use switchboard_core::helpdesk::sla;
use switchboard_core::store::queries::{contacts, messages, tickets};
use switchboard_core::{Contact, Message, Priority, Ticket, TicketStatus};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::Agent;
use crate::api::error::{ApiError, ApiJson, ApiPath};
use crate::http::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only tickets in this status; without it, every ticket but the `filtered` ones.
    status: Option<TicketStatus>,
    /// Only tickets that started on this channel.
    channel: Option<String>,
    /// Only tickets assigned to this agent.
    assignee: Option<String>,
    /// Only tickets of this priority.
    priority: Option<Priority>,
    /// Only tickets of this category.
    category: Option<String>,
    /// A ticket reference, or words searched in the subjects and messages (full-text:
    /// every word, the last also as a prefix; newest match first).
    q: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1-200 (default 50).
    limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    tickets: Vec<Ticket>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// Tickets, most recently active first, filtered.
#[utoipa::path(get, path = "/api/v1/tickets", params(ListQuery), tag = "tickets",
    responses((status = 200, body = TicketPage), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub async fn list(
    agent: Agent,
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TicketPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let after = match &query.cursor {
        None => None,
        Some(cursor) => Some(tickets::TicketCursor::parse(cursor).ok_or_else(|| {
            ApiError::BadRequest(format!("cursor {cursor:?} is not one this API gave out"))
        })?),
    };
    let filter = tickets::TicketFilter {
        status: query.status,
        channel: query.channel,
        assignee: query.assignee,
        priority: query.priority,
        category: query.category,
        contact_id: None,
        scope: agent.scope(),
        text: query.q,
        after,
        limit: query.limit.unwrap_or(50).clamp(1, 200),
    };
    let (tickets, next) = state
        .gateway
        .store()
        .read(move |c| {
            let (mut tickets, next) = tickets::list(c, &filter)?;
            let ids: Vec<i64> = tickets.iter().map(|t| t.id).collect();
            let mut slas = sla::for_tickets(c, &ids)?;
            for ticket in &mut tickets {
                ticket.sla = slas.remove(&ticket.id).unwrap_or_default();
            }
            Ok((tickets, next))
        })
        .await?;
    Ok(Json(TicketPage {
        tickets,
        next_cursor: next.map(|cursor| cursor.encode()),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    ticket: Ticket,
    contact: Contact,
    /// Oldest first: inbound, outbound (with delivery status) and notes.
    messages: Vec<Message>,
    /// Where a reply would go now, and why it would be refused.
    reply: ReplyPreview,
}

/// One ticket with its contact and messages, by id or reference.
#[utoipa::path(get, path = "/api/v1/tickets/{ticket}", tag = "tickets",
    params(("ticket" = String, Path, description = "Numeric id or reference (SB-7K3M9Q)")),
    responses((status = 200, body = TicketDetail), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<TicketDetail>, ApiError> {
    let scope = agent.scope();
    let detail = state
        .gateway
        .store()
        .read(move |c| {
            let mut ticket = tickets::find_by_id_or_reference(c, &key, &scope)?;
            ticket.sla = sla::for_ticket(c, ticket.id)?;
            let contact = contacts::get(c, ticket.contact_id, &scope)?;
            let messages = messages::for_ticket(c, ticket.id)?;
            Ok((ticket, contact, messages))
        })
        .await?;
    let (ticket, contact, messages) = detail;
    let reply = state
        .gateway
        .reply_preview(&ticket.id.to_string(), &agent.scope())
        .await?;
    Ok(Json(TicketDetail {
        ticket,
        contact,
        messages,
        reply,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    text: String,
    #[serde(default)]
    attachments: Vec<AttachmentUpload>,
    /// The newest message the agent had read. When given, the reply is sent only if
    /// nobody wrote on the ticket since (notes aside); otherwise `409 changed` with
    /// the new messages in `changes`.
    #[serde(default)]
    seen_message_id: Option<i64>,
}

/// A file sent with a reply, inline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentUpload {
    filename: String,
    #[serde(default = "octet_stream")]
    content_type: String,
    /// The bytes, base64.
    data: String,
}

fn octet_stream() -> String {
    "application/octet-stream".into()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    message_id: i64,
    /// `queued`: the reply is committed to the outbox and will be sent.
    status: &'static str,
    message: Message,
}

/// Replies to the customer on the channel they last wrote from.
#[utoipa::path(post, path = "/api/v1/tickets/{ticket}/replies", tag = "tickets", request_body = ReplyRequest,
    params(("ticket" = String, Path, description = "Numeric id or reference")),
    responses((status = 202, body = Queued), (status = 400), (status = 404), (status = 409, description = "The ticket moved on since seen_message_id; the new messages are in error.changes"), (status = 422)), security(("bearer" = [])))]
pub async fn reply(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiJson(request): ApiJson<ReplyRequest>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    agent.require_changes("replying")?;
    let mut attachments = Vec::with_capacity(request.attachments.len());
    for (i, a) in request.attachments.into_iter().enumerate() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a.data.trim())
            .map_err(|e| {
                ApiError::BadRequest(format!("attachments[{i}].data is not valid base64: {e}"))
            })?;
        attachments.push(OutboundAttachment {
            filename: a.filename,
            content_type: a.content_type,
            bytes: bytes.into(),
        });
    }
    let message = state
        .gateway
        .reply_after(
            &key,
            &agent.actor(),
            request.text,
            attachments,
            request.seen_message_id,
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Queued {
            message_id: message.id,
            status: "queued",
            message,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    text: String,
}

/// Adds an internal note, which customers never see.
#[utoipa::path(post, path = "/api/v1/tickets/{ticket}/notes", tag = "tickets", request_body = NoteRequest,
    params(("ticket" = String, Path, description = "Numeric id or reference")),
    responses((status = 201, body = Message), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn note(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiJson(request): ApiJson<NoteRequest>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    agent.require_changes("writing notes")?;
    let message = state
        .gateway
        .note(&key, &agent.actor(), request.text)
        .await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// Fields to change; absent fields stay; `null` clears assignee or category.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketUpdate {
    #[serde(default)]
    status: Option<TicketStatus>,
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    assignee: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    category: Option<Option<String>>,
}

/// Tells a field set to `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(deserializer)?))
}

/// Changes status, priority, assignee or category.
#[utoipa::path(patch, path = "/api/v1/tickets/{ticket}", tag = "tickets", request_body = TicketUpdate,
    params(("ticket" = String, Path, description = "Numeric id or reference")),
    responses((status = 200, body = Ticket), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn update(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiJson(request): ApiJson<TicketUpdate>,
) -> Result<Json<Ticket>, ApiError> {
    agent.require_changes("changing tickets")?;
    let clean = |value: Option<Option<String>>| value.map(|v| v.filter(|s| !s.trim().is_empty()));
    let patch = tickets::TicketPatch {
        status: request.status,
        priority: request.priority,
        assignee: clean(request.assignee),
        category: clean(request.category),
    };
    // An agent takes a ticket or hands it back; giving it to someone else is a
    // supervisor's call.
    if let Some(Some(assignee)) = &patch.assignee
        && *assignee != agent.name
    {
        agent.require_manager("assigning a ticket to someone else")?;
    }
    Ok(Json(
        state
            .gateway
            .update_ticket(&key, &agent.actor(), patch)
            .await?,
    ))
}
