//! Authentication as an extractor: a handler that takes an [`Agent`] only runs for a
//! known agent, signed in by bearer token or by the inbox's session cookie;
//! [`Agent::require_admin`] guards admin actions.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::api::error::ApiError;
use crate::api::guesses::Client;
use crate::api::session;
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

    /// A bearer token when the request has an Authorization header, otherwise the
    /// inbox's session cookie.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let agent = match parts.headers.get(AUTHORIZATION) {
            Some(header) => {
                let client = Client::of(parts);
                state.guesses.check(client)?;
                let agent = bearer_token(header.as_bytes()).and_then(|t| agent_by_token(state, t));
                if agent.is_none() {
                    state.guesses.failed(client);
                }
                agent.ok_or(ApiError::Unauthorized)
            }
            None => session::agent_from_cookie(parts, state)
                .await?
                .ok_or(ApiError::Unauthorized),
        }?;
        // An agent at work is what the web chat shows as "online".
        // And what routing assigns tickets by.
        state.gateway.agent_at_work(&agent.name).await;
        Ok(agent)
    }
}

/// The agent whose token this is. Every agent is compared, each in constant time, so
/// the time taken says nothing about which token came close.
pub fn agent_by_token(state: &AppState, token: &[u8]) -> Option<Agent> {
    let mut found = None;
    for agent in state.agents.iter() {
        if agent.token.matches(token) && found.is_none() {
            found = Some(Agent {
                name: agent.name.clone(),
                role: agent.role,
            });
        }
    }
    found
}

/// The token of `Bearer <token>`; the scheme is case-insensitive (RFC 9110 11.1), and
/// spaces around the token do not count.
fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = header.split_at_checked(6)?;
    let token = token.strip_prefix(b" ")?.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_scheme_is_case_insensitive() {
        for header in ["Bearer t0k", "bearer t0k", "BEARER t0k", "bEaReR   t0k  "] {
            assert_eq!(
                bearer_token(header.as_bytes()),
                Some(&b"t0k"[..]),
                "{header:?}"
            );
        }
        for header in ["Basic dTpw", "Bearert0k", "Bearer", "Bearer    ", "t0k", ""] {
            assert_eq!(bearer_token(header.as_bytes()), None, "{header:?}");
        }
    }
}
