//! Admin actions: the gateway's channels and their outboxes, and retrying a failed
//! message.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use switchboard_core::Message;
use switchboard_core::gateway::ChannelProblem;
use switchboard_core::store::queries::outbox;
use utoipa::ToSchema;

use crate::api::auth::Agent;
use crate::api::error::{ApiError, ApiPath};
use crate::config::Role;
use crate::http::{AppState, ChannelInfo};

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelStatus {
    #[serde(flatten)]
    channel: ChannelInfo,
    /// Replies queued or being sent.
    outbox_depth: i64,
    /// The oldest of `problems`: absent when the channel works.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<ChannelProblem>,
    /// What the channel's connector reports as wrong now (an expired token, a second
    /// poller on the same bot, files that could not be fetched), one per concern.
    problems: Vec<ChannelProblem>,
}

/// The configured channels (admin).
#[utoipa::path(get, path = "/api/v1/channels", tag = "admin",
    responses((status = 200, body = Vec<ChannelStatus>), (status = 403)), security(("bearer" = [])))]
pub async fn channels(
    agent: Agent,
    State(state): State<AppState>,
) -> Result<Json<Vec<ChannelStatus>>, ApiError> {
    agent.require_admin("listing channels")?;
    let depths = state.gateway.store().read(outbox::depth).await?;
    let list = state
        .channels
        .iter()
        .map(|c| {
            let problems = state.gateway.channel_problems(&c.id);
            ChannelStatus {
                outbox_depth: depths
                    .iter()
                    .find(|(id, _)| *id == c.id)
                    .map_or(0, |(_, n)| *n),
                problem: problems.first().cloned(),
                problems,
                channel: c.clone(),
            }
        })
        .collect();
    Ok(Json(list))
}

/// Sends a failed reply again (admin), e.g. after fixing the channel's config.
#[utoipa::path(post, path = "/api/v1/messages/{id}/retry", tag = "admin", params(("id" = i64, Path)),
    responses((status = 202, body = Message), (status = 403), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn retry(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<(axum::http::StatusCode, Json<Message>), ApiError> {
    agent.require_admin("retrying a message")?;
    let message = state.gateway.retry_message(id, &agent.actor()).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(message)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    name: String,
    role: Role,
    /// The teams whose tickets the agent sees.
    teams: Vec<String>,
    /// The id of the token this request came with (to rotate or revoke it).
    token_id: i64,
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "admin", responses((status = 200, body = Me), (status = 401)),
    security(("bearer" = [])))]
pub async fn me(agent: Agent) -> Json<Me> {
    Json(Me {
        name: agent.name,
        role: agent.role,
        teams: agent.teams,
        token_id: agent.token_id,
    })
}
