//! Bearer-token authentication as an extractor: a handler that takes an [`Agent`]
//! only runs for a known agent; [`Agent::require_admin`] guards admin actions.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::api::error::ApiError;
use crate::config::Role;
use crate::http::AppState;

/// The agent making the request.
#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
    pub role: Role,
}

impl Agent {
    pub fn require_admin(&self, what: &'static str) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Agent => Err(ApiError::Forbidden(what)),
        }
    }
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized)?;
        let token = header
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .ok_or(ApiError::Unauthorized)?
            .trim_ascii();
        // Compare against every agent, each in constant time, so the time taken says
        // nothing about which token came close.
        let mut found = None;
        for agent in state.agents.iter() {
            if agent.token.matches(token) && found.is_none() {
                found = Some(Agent {
                    name: agent.name.clone(),
                    role: agent.role,
                });
            }
        }
        found.ok_or(ApiError::Unauthorized)
    }
}
