//! Authentication as an extractor: a handler that takes an [`Agent`] only runs for a
//! known agent, signed in by bearer token or by the inbox's session cookie. The
//! agent's role says what they may do (`require_*`), and their [`Scope`] which
//! tickets the store shows them: every query of an agent's request takes it.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use switchboard_core::access::{Actor, Scope};

use crate::api::error::ApiError;
use crate::api::guesses::Client;
use crate::api::{audit, session};
use crate::config::Role;
use crate::http::AppState;

/// The agent making the request.
#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
    pub role: Role,
    /// The teams whose tickets an agent or supervisor sees.
    pub teams: Vec<String>,
    /// The token the request was authenticated by, itself or through a session.
    pub token_id: i64,
    /// The client's address, for the audit log.
    pub origin: Option<String>,
}

impl Agent {
    /// The tickets this agent may see: all for admins and auditors; their teams' and
    /// their own for agents and supervisors.
    pub fn scope(&self) -> Scope {
        match self.role {
            Role::Admin | Role::Auditor => Scope::All,
            Role::Agent | Role::Supervisor => Scope::Teams {
                agent: self.name.clone(),
                teams: self.teams.clone(),
            },
        }
    }

    /// The agent as the author of what they change.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.name.clone(),
            origin: self.origin.clone(),
            scope: self.scope(),
        }
    }

    pub fn require_admin(&self, what: &'static str) -> Result<(), ApiError> {
        self.require(&[Role::Admin], what)
    }

    /// Anyone but an auditor, who changes nothing.
    pub fn require_changes(&self, what: &'static str) -> Result<(), ApiError> {
        self.require(&[Role::Agent, Role::Supervisor, Role::Admin], what)
    }

    /// Admins and auditors: the audit log, the list of agents and tokens.
    pub fn require_oversight(&self, what: &'static str) -> Result<(), ApiError> {
        self.require(&[Role::Admin, Role::Auditor], what)
    }

    /// Those who manage others' work: supervisors, admins, and auditors (to read).
    pub fn require_manager(&self, what: &'static str) -> Result<(), ApiError> {
        self.require(&[Role::Supervisor, Role::Admin, Role::Auditor], what)
    }

    fn require(&self, roles: &[Role], what: &'static str) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let needs = match names.split_last() {
            Some((last, [])) => format!("the {last} role"),
            Some((last, rest)) => format!("the {} or {last} role", rest.join(", ")),
            None => "a role".into(),
        };
        Err(ApiError::Forbidden {
            what,
            needs,
            role: self.role,
        })
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
        let client = Client::of(parts);
        let agent = match parts.headers.get(AUTHORIZATION) {
            Some(header) => {
                state.guesses.check(client)?;
                let agent = match bearer_token(header.as_bytes()) {
                    Some(token) => state.agents.agent(state, token, client).await?,
                    None => None,
                };
                if agent.is_none() {
                    state.guesses.failed(client);
                    audit::failed_token(state, client, "token.refused").await?;
                }
                agent.ok_or(ApiError::Unauthorized)
            }
            None => session::agent_from_cookie(parts, state, client)
                .await?
                .ok_or(ApiError::Unauthorized),
        }?;
        state.limits.check_token(agent.token_id)?;
        // An agent at work is what the web chat shows as "online".
        // And what routing assigns tickets by.
        state.gateway.agent_at_work(&agent.name).await;
        Ok(agent)
    }
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
