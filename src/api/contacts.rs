//! Contacts with their identities and tickets; attachments by id.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_core::store::queries::{contacts, messages, tickets};
use switchboard_core::{Contact, Ticket};
use utoipa::ToSchema;

use crate::api::auth::Agent;
use crate::api::error::ApiError;
use crate::http::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactDetail {
    contact: Contact,
    /// The contact's tickets, most recently active first (up to 200).
    tickets: Vec<Ticket>,
}

/// A contact, its identities on every channel, and its tickets.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = ContactDetail), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    _agent: Agent,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ContactDetail>, ApiError> {
    let detail = state
        .gateway
        .store()
        .read(move |c| {
            let contact = contacts::get(c, id)?;
            let filter = tickets::TicketFilter {
                contact_id: Some(id),
                limit: 200,
                ..Default::default()
            };
            let (tickets, _) = tickets::list(c, &filter)?;
            Ok(ContactDetail { contact, tickets })
        })
        .await?;
    Ok(Json(detail))
}

/// An attachment's bytes, with its type and file name.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 404)),
    security(("bearer" = [])))]
pub async fn attachment(
    _agent: Agent,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let attachment = state
        .gateway
        .store()
        .read(move |c| messages::get_attachment(c, id))
        .await?;
    let bytes = state
        .gateway
        .blobs()
        .get(&attachment.sha256)
        .await
        .map_err(|e| {
            ApiError::Internal(format!(
                "attachment {id} ({}) is missing: {e}",
                attachment.sha256
            ))
        })?;
    let filename: String = attachment
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, attachment.content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}
