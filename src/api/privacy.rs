//! Data protection through the API: the retention policy's dry run, and a
//! contact's export and erasure (admins). Each export and erasure is in the audit log.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_core::privacy::{ContactExport, RuleOutcome};
use switchboard_core::store::queries::privacy::Removed;
use utoipa::ToSchema;

use crate::api::auth::Agent;
use crate::api::error::{ApiError, ApiJson, ApiPath};
use crate::http::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionPreview {
    /// Per `[[retention]]` rule, in order: what it would delete if it ran now.
    rules: Vec<RuleOutcome>,
}

/// What the retention policy would delete now, per rule: a dry run that deletes
/// nothing (admins and auditors).
#[utoipa::path(get, path = "/api/v1/retention", tag = "admin",
    responses((status = 200, body = RetentionPreview), (status = 403)), security(("bearer" = [])))]
pub async fn preview(
    agent: Agent,
    State(state): State<AppState>,
) -> Result<Json<RetentionPreview>, ApiError> {
    agent.require_oversight("previewing the retention policy")?;
    let rules = state.gateway.retention_preview().await?;
    Ok(Json(RetentionPreview { rules }))
}

/// Everything held about a contact, files included (base64), as one JSON document to
/// hand over before an erasure (admin).
#[utoipa::path(get, path = "/api/v1/contacts/{id}/export", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ContactExport), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn export(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    agent.require_admin("exporting a contact's data")?;
    let export = state.gateway.export_contact(id, &agent.actor()).await?;
    let mut response = Json(export).into_response();
    let disposition = format!("attachment; filename=\"contact-{id}.json\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// Why (a request's number): kept in the audit log.
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Erased {
    contact_id: i64,
    removed: Removed,
}

/// Erases a contact on request (admin): their identities and name, the contents,
/// subjects and files of their tickets, what they wrote on others' tickets, their
/// web chat history and search entries; replies still queued to them are not sent.
/// The tickets stay as numbers for reports; the audit log keeps that it happened.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/erase", tag = "admin", params(("id" = i64, Path)),
    request_body = ErasureRequest,
    responses((status = 200, body = Erased), (status = 403), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn erase(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(request): ApiJson<ErasureRequest>,
) -> Result<Json<Erased>, ApiError> {
    agent.require_admin("erasing a contact")?;
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::Unprocessable(
            "reason must be 1-500 characters (the request it answers)".into(),
        ));
    }
    let removed = state
        .gateway
        .erase_contact(id, &agent.actor(), reason)
        .await?;
    Ok(Json(Erased {
        contact_id: id,
        removed,
    }))
}
