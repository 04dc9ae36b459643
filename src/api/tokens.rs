//! Agents and their tokens. A request's token is looked up by its SHA-256 in the
//! store ([`tokens`]), so a token issued, rotated or revoked through the API holds on
//! every node at once, without a restart. The config's tokens are recorded there at
//! start (and at a reload); one counts only while the config still gives it to that
//! agent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use switchboard_core::bus::{Bus, Notice, Topic};
use switchboard_core::shutdown::Shutdown;
use switchboard_core::store::queries::audit::{self, By};
use switchboard_core::store::queries::tokens::{self, TokenInfo, TokenSource};
use switchboard_core::store::{Store, StoreError};
use switchboard_core::{Timestamp, input};
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

use crate::api::auth::Agent;
use crate::api::error::{ApiError, ApiJson, ApiPath};
use crate::api::guesses::Client;
use crate::config::{AgentConfig, Role};
use crate::http::AppState;

/// A token's last use is written at most this often, not on every request.
const TOUCH_EVERY_MS: i64 = 5 * 60_000;

/// The agents of the config and what a node knows of their tokens without asking the
/// store. A config reload replaces them (see [`Agents::replace`]).
pub struct Agents {
    current: RwLock<Arc<Directory>>,
    /// When each token's use was last written.
    touched: Mutex<HashMap<i64, i64>>,
    /// Good tokens lately read from the store, by hash, with when.
    recent: Mutex<HashMap<String, (Instant, TokenInfo)>>,
}

/// How long a token read from the store is taken as it was.
const REMEMBER_FOR: Duration = Duration::from_secs(1);

/// The config's agents, and each one's config token by its hash.
pub struct Directory {
    pub agents: Vec<AgentConfig>,
    config_tokens: HashMap<String, String>,
}

impl Directory {
    fn new(agents: &[AgentConfig]) -> Directory {
        Directory {
            config_tokens: agents
                .iter()
                .map(|a| (tokens::hash(a.token.expose().as_bytes()), a.name.clone()))
                .collect(),
            agents: agents.to_vec(),
        }
    }

    pub fn find(&self, name: &str) -> Option<&AgentConfig> {
        self.agents.iter().find(|a| a.name == name)
    }
}

impl Agents {
    pub fn new(agents: &[AgentConfig]) -> Agents {
        Agents {
            current: RwLock::new(Arc::new(Directory::new(agents))),
            touched: Mutex::default(),
            recent: Mutex::default(),
        }
    }

    /// The agents now.
    pub fn current(&self) -> Arc<Directory> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes the agents of a reloaded config: from the next request on, their roles,
    /// teams and config tokens are these; an agent no longer listed is refused.
    pub fn replace(&self, agents: &[AgentConfig]) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Directory::new(agents));
        self.forget();
    }

    /// Records the config's tokens in the store; the agents whose config token was
    /// revoked through the API (they need a new one in the config, or an issued one).
    pub async fn record_config(
        &self,
        store: &Store,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let config: Vec<(String, String)> =
            self.current().config_tokens.clone().into_iter().collect();
        store
            .write(move |c| {
                let mut revoked = Vec::new();
                for (hash, agent) in &config {
                    if tokens::record_config(c, agent, hash, now)?
                        .revoked_at
                        .is_some()
                    {
                        revoked.push(agent.clone());
                    }
                }
                revoked.sort();
                Ok(revoked)
            })
            .await
    }

    /// The agent whose token this is.
    pub async fn agent(
        &self,
        state: &AppState,
        token: &[u8],
        client: Client,
    ) -> Result<Option<Agent>, ApiError> {
        self.agent_by_hash(state, tokens::hash(token), client).await
    }

    /// The agent whose token hashes to `hash`: a token in the store, not revoked, of
    /// an agent in the config (and, for a config token, still that agent's there).
    pub async fn agent_by_hash(
        &self,
        state: &AppState,
        hash: String,
        client: Client,
    ) -> Result<Option<Agent>, ApiError> {
        let directory = self.current();
        let in_config = directory.config_tokens.get(&hash).cloned();
        let Some(token) = self
            .lookup(state, hash)
            .await?
            .filter(|t| t.revoked_at.is_none())
            .filter(|t| t.source == TokenSource::Issued || in_config.as_ref() == Some(&t.agent))
        else {
            return Ok(None);
        };
        let Some(config) = directory.find(&token.agent) else {
            return Ok(None);
        };
        self.touch(state, token.id).await?;
        Ok(Some(Agent {
            name: config.name.clone(),
            role: config.role,
            teams: config.teams.clone(),
            token_id: token.id,
            origin: client.0.map(|ip| ip.to_string()),
        }))
    }

    /// The stored token with this hash. A good token found in the last
    /// [`REMEMBER_FOR`] is not read again: a desk's every request would otherwise
    /// wait for the store. A revocation through this node forgets them all at once;
    /// one through another node holds here within that time.
    async fn lookup(&self, state: &AppState, hash: String) -> Result<Option<TokenInfo>, ApiError> {
        {
            let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, token)) = recent.get(&hash)
                && at.elapsed() < REMEMBER_FOR
            {
                return Ok(Some(token.clone()));
            }
        }
        let key = hash.clone();
        let found = state
            .gateway
            .store()
            .read(move |c| tokens::find(c, &key))
            .await?;
        if let Some(token) = found.as_ref().filter(|t| t.revoked_at.is_none()) {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.retain(|_, (at, _)| at.elapsed() < REMEMBER_FOR);
            recent.insert(hash, (Instant::now(), token.clone()));
        }
        Ok(found)
    }

    /// Forgets the tokens looked up lately, here and on every other node: one was
    /// revoked or replaced.
    fn forget_everywhere(&self, state: &AppState) {
        self.forget();
        state.gateway.bus().announce(Topic::Tokens, "");
    }

    /// Forgets the tokens this node looked up lately whenever another node revoked
    /// one (or this node may have missed that), until `shutdown`.
    pub async fn follow_other_nodes(&self, bus: &Bus, shutdown: Shutdown) {
        let mut notices = bus.subscribe();
        loop {
            tokio::select! {
                () = shutdown.wait() => return,
                notice = notices.recv() => match notice {
                    Ok(Notice { topic: Topic::Tokens | Topic::Resync, .. })
                    | Err(RecvError::Lagged(_)) => self.forget(),
                    Ok(_) => {}
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    /// Forgets the tokens looked up lately, after one was revoked or the agents
    /// changed.
    fn forget(&self) {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    async fn touch(&self, state: &AppState, id: i64) -> Result<(), ApiError> {
        let now = state.gateway.now();
        {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            if touched
                .get(&id)
                .is_some_and(|at| now.0 - at < TOUCH_EVERY_MS)
            {
                return Ok(());
            }
            touched.insert(id, now.0);
        }
        state
            .gateway
            .store()
            .write(move |c| tokens::touch(c, id, now))
            .await?;
        Ok(())
    }
}

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentInfo {
    name: String,
    role: Role,
    teams: Vec<String>,
    /// Every token of the agent, revoked ones too, oldest first.
    tokens: Vec<TokenInfo>,
}

/// The agents in the config, with their tokens (admins and auditors).
#[utoipa::path(get, path = "/api/v1/agents", tag = "admin",
    responses((status = 200, body = [AgentInfo]), (status = 403)), security(("bearer" = [])))]
pub async fn agents(
    agent: Agent,
    State(state): State<AppState>,
) -> Result<Json<Vec<AgentInfo>>, ApiError> {
    agent.require_oversight("listing agents and tokens")?;
    let mut all = state.gateway.store().read(tokens::list).await?;
    Ok(Json(
        state
            .agents
            .current()
            .agents
            .iter()
            .map(|a| AgentInfo {
                name: a.name.clone(),
                role: a.role,
                teams: a.teams.clone(),
                tokens: all.extract_if(.., |t| t.agent == a.name).collect(),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for (`laptop`, `crm integration`).
    label: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    /// The token itself: shown this once, stored only as a hash.
    token: String,
    #[serde(flatten)]
    info: TokenInfo,
}

/// Issues a new token for an agent (admin). The old ones keep working until revoked.
#[utoipa::path(post, path = "/api/v1/agents/{name}/tokens", tag = "admin", request_body = NewToken,
    params(("name" = String, Path)),
    responses((status = 201, body = IssuedToken), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn issue(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    agent.require_admin("issuing tokens")?;
    if state.agents.current().find(&name).is_none() {
        return Err(ApiError::NotFound(format!("agent {name:?} not found")));
    }
    let label = request.label.trim().to_owned();
    if label.is_empty() || label.chars().count() > 100 {
        return Err(ApiError::Unprocessable(
            "label must be 1-100 characters".into(),
        ));
    }
    input::check_key("label", &label).map_err(ApiError::Unprocessable)?;
    let issued = new_token(&state, &agent, name, label, None).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Replaces a token by a new one with the same label; the old one is revoked at once
/// and its browser sessions end. An admin may rotate any token, an agent their own.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/rotate", tag = "admin", params(("id" = i64, Path)),
    responses((status = 201, body = IssuedToken), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn rotate(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let old = own_or_admin(&state, &agent, id, "rotating another agent's token").await?;
    if old.revoked_at.is_some() {
        return Err(ApiError::Unprocessable(format!(
            "token {id} is revoked; issue a new one"
        )));
    }
    let issued = new_token(&state, &agent, old.agent, old.label, Some(id)).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Revokes a token: it is refused from now on, on every node, and its browser
/// sessions end. An admin may revoke any token, an agent their own.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = TokenInfo), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn revoke(
    agent: Agent,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TokenInfo>, ApiError> {
    let token = own_or_admin(&state, &agent, id, "revoking another agent's token").await?;
    let (now, by) = (state.gateway.now(), agent.actor());
    let info = state
        .gateway
        .store()
        .write(move |c| {
            if tokens::revoke(c, id, &by.name, now)? {
                let detail = serde_json::json!({ "token_id": id, "agent": token.agent });
                audit::append(c, now, (&by).into(), "token.revoke", None, &detail)?;
            }
            tokens::get(c, id)
        })
        .await?;
    state.agents.forget_everywhere(&state);
    Ok(Json(info))
}

/// The token `id`, if the agent may rotate or revoke it.
async fn own_or_admin(
    state: &AppState,
    agent: &Agent,
    id: i64,
    what: &'static str,
) -> Result<TokenInfo, ApiError> {
    let token = state
        .gateway
        .store()
        .read(move |c| tokens::get(c, id))
        .await?;
    if token.agent != agent.name {
        agent.require_admin(what)?;
    }
    Ok(token)
}

/// Stores a new token of `owner`, revoking `replacing` in the same transaction.
async fn new_token(
    state: &AppState,
    agent: &Agent,
    owner: String,
    label: String,
    replacing: Option<i64>,
) -> Result<IssuedToken, ApiError> {
    let token = format!("sbt_{}", random_token());
    let hash = tokens::hash(token.as_bytes());
    let (now, by) = (state.gateway.now(), agent.actor());
    let info = state
        .gateway
        .store()
        .write(move |c| {
            let info = tokens::issue(c, &owner, &hash, &label, &by.name, now)?;
            let (action, detail) = match replacing {
                Some(old) => {
                    tokens::revoke(c, old, &by.name, now)?;
                    (
                        "token.rotate",
                        serde_json::json!({ "token_id": info.id, "replaces": old, "agent": owner }),
                    )
                }
                None => (
                    "token.issue",
                    serde_json::json!({ "token_id": info.id, "agent": owner, "label": label }),
                ),
            };
            audit::append(c, now, By::from(&by), action, None, &detail)?;
            Ok(info)
        })
        .await?;
    state.agents.forget_everywhere(state);
    Ok(IssuedToken { token, info })
}
