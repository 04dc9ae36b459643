//! Wiring: from a checked [`Config`] to a running gateway, and a clean stop.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use switchboard_core::blobs::BlobStore;
use switchboard_core::connector::Connector;
use switchboard_core::dispatcher::Dispatcher;
use switchboard_core::shutdown::Shutdown;
use switchboard_core::store::{Store, StoreLocation};
use switchboard_core::{Clock, Gateway};
use tokio::net::TcpListener;

use crate::api::session::SessionPolicy;
use crate::config::{Backend, Config};
use crate::http::{self, AppState, ChannelInfo};

/// A gateway built from a config, ready to run.
pub struct App {
    pub gateway: Gateway,
    state: AppState,
    dispatcher: Dispatcher,
    connectors: Vec<(String, Arc<dyn Connector>)>,
    connection_limits: crate::serve::ConnectionLimits,
}

/// Opens the store a config names.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let location = match &config.storage.backend {
        Backend::Sqlite { synchronous } => StoreLocation::Sqlite {
            path: config.storage.data_dir.join("switchboard.db"),
            synchronous: *synchronous,
        },
        Backend::Postgres {
            url,
            max_connections,
        } => StoreLocation::Postgres {
            url: url.expose().to_owned(),
            max_connections: *max_connections,
        },
    };
    Store::open(location).await.context("cannot open the store")
}

impl App {
    /// Opens the store (migrating it), builds the core and every enabled channel.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        // Metrics recorded before the recorder exists are lost: install it first.
        crate::telemetry::metrics();
        let store = open_store(&config).await?;
        let blobs = if config.storage.attachments_in_store {
            BlobStore::in_store(store.clone())
        } else {
            BlobStore::new(config.storage.data_dir.join("attachments"))
        };
        let enabled: Vec<_> = config
            .channels
            .iter()
            .filter(|c| c.enabled)
            .map(|c| c.id.clone())
            .collect();
        let gateway = Gateway::new(store, blobs, clock, config.gateway.clone(), enabled);
        gateway
            .record_helpdesk_rules(config.helpdesk_rules.clone())
            .await
            .context("cannot record the helpdesk rules in the audit log")?;
        let agents = crate::api::tokens::Agents::new(&config.agents);
        let revoked = agents
            .record_config(gateway.store(), gateway.now())
            .await
            .context("cannot record the agents' tokens")?;
        for agent in revoked {
            tracing::warn!(%agent, "this agent's token in the config was revoked through the API and is refused: give them a new one");
        }
        let mut dispatcher = Dispatcher::new(gateway.clone());
        let mut connectors = Vec::new();
        let mut webhooks = HashMap::new();
        let mut channel_routes = Vec::new();
        for channel in &config.channels {
            if !channel.enabled {
                tracing::info!(channel = %channel.id, kind = channel.kind(), "channel disabled in the config");
                continue;
            }
            let built = channel
                .settings
                .build(gateway.channel_context(channel.id.clone()))
                .map_err(|e| anyhow::anyhow!("channel {}: {e}", channel.id))?;
            let connector = built.connector;
            if let Some(routes) = built.routes {
                channel_routes.push((channel.id.as_str().to_owned(), routes));
            }
            dispatcher.add_channel(&channel.id, connector.clone(), &channel.rate_limits);
            gateway.add_connector(&channel.id, connector.clone());
            webhooks.insert(channel.id.as_str().to_owned(), connector.clone());
            connectors.push((channel.id.as_str().to_owned(), connector));
        }
        let channels = config
            .channels
            .iter()
            .map(|c| ChannelInfo {
                id: c.id.as_str().to_owned(),
                kind: c.kind(),
                enabled: c.enabled,
            })
            .collect();
        // Replaced by the real signal in `run`.
        let (_, stopped) = switchboard_core::shutdown::channel();
        let state = AppState {
            gateway: gateway.clone(),
            agents: Arc::new(agents),
            webhooks: Arc::new(webhooks),
            channel_routes: Arc::new(channel_routes),
            channels: Arc::new(channels),
            ready: Arc::new(AtomicBool::new(false)),
            max_body_bytes: config.server.max_body_bytes,
            guesses: Arc::new(crate::api::guesses::Guesses::new(
                config.server.wrong_tokens_per_minute,
            )),
            limits: Arc::new(crate::api::limits::Limits::new(
                config.server.token_requests_per_second,
                config.server.address_requests_per_second,
            )),
            trusted_proxies: config
                .server
                .trusted_proxies
                .iter()
                .filter_map(|p| crate::http::Cidr::parse(p).ok())
                .collect(),
            sessions: SessionPolicy {
                idle_ms: i64::from(config.server.session_idle_minutes) * 60_000,
                lifetime_ms: i64::from(config.server.session_hours) * 3_600_000,
            },
            counts: Default::default(),
            body_timeout: Duration::from_secs(config.server.body_timeout_seconds.into()),
            cors_origins: config
                .server
                .cors_origins
                .iter()
                .filter_map(|o| crate::http::cors_origin(o).ok())
                .collect(),
            shutdown: stopped,
        };
        Ok(App {
            gateway,
            state,
            dispatcher,
            connectors,
            connection_limits: crate::serve::ConnectionLimits {
                header_timeout: Duration::from_secs(config.server.header_timeout_seconds.into()),
                max_header_bytes: config.server.max_header_bytes,
            },
        })
    }

    /// What applies a reloaded config while the app runs.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            state: self.state.clone(),
        }
    }

    /// Serves on `listener` until `shutdown` fires: stops accepting, lets requests in
    /// flight finish (their messages are committed before they are answered), stops
    /// pollers and lets the dispatcher record the sends in flight.
    pub async fn run(self, listener: TcpListener, shutdown: Shutdown) -> anyhow::Result<()> {
        let App {
            mut state,
            dispatcher,
            connectors,
            connection_limits,
            ..
        } = self;
        state.shutdown = shutdown.clone();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(dispatcher.run(shutdown.clone()));
        tasks.spawn(switchboard_core::helpdesk::scheduler::run(
            state.gateway.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(switchboard_core::privacy::run(
            state.gateway.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(switchboard_core::cluster::keep_alive(
            state.gateway.clone(),
            shutdown.clone(),
        ));
        if state.gateway.bus().is_shared() {
            let (agents, bus, shutdown) = (
                state.agents.clone(),
                state.gateway.bus().clone(),
                shutdown.clone(),
            );
            tasks.spawn(async move { agents.follow_other_nodes(&bus, shutdown).await });
        }
        for (id, connector) in connectors {
            let polls = connector.polls();
            let lease = switchboard_core::cluster::poller_lease(&id);
            let run = move |shutdown: Shutdown| {
                let (id, connector) = (id.clone(), connector.clone());
                async move {
                    if let Err(error) = connector.run(shutdown).await {
                        tracing::error!(channel = %id, error = %format!("{error:#}"), "channel stopped with an error");
                    }
                }
            };
            if polls {
                tasks.spawn(switchboard_core::cluster::run_exclusively(
                    state.gateway.clone(),
                    lease,
                    shutdown.clone(),
                    run,
                ));
            } else {
                tasks.spawn(run(shutdown.clone()));
            }
        }
        state.ready.store(true, Ordering::SeqCst);
        match listener.local_addr() {
            Ok(address) => tracing::info!(%address, "switchboard listening"),
            Err(error) => tracing::warn!(%error, "switchboard listening on an unknown address"),
        }
        let router = http::router(state.clone());
        crate::serve::serve(listener, router, connection_limits, shutdown.clone()).await;
        state.ready.store(false, Ordering::SeqCst);
        tracing::info!("HTTP server stopped; finishing background work");
        while tasks.join_next().await.is_some() {}
        tracing::info!("switchboard stopped");
        Ok(())
    }
}

/// Applies a reloaded config (on SIGHUP) to a running gateway: the `[[agents]]` (who
/// may sign in, their roles and config tokens) and their teams take effect from the
/// next request. Everything else in the file (channels, storage, helpdesk rules,
/// limits) is read at start only: changing it needs a restart.
#[derive(Clone)]
pub struct Reloader {
    state: AppState,
}

/// What a reload changed, by agent name (never a token).
#[derive(Debug, Default, serde::Serialize)]
pub struct Reloaded {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub role_changed: Vec<String>,
    pub teams_changed: Vec<String>,
    pub token_changed: Vec<String>,
}

impl Reloader {
    pub async fn reload(&self, config: &Config) -> anyhow::Result<Reloaded> {
        let before = self.state.agents.current();
        let mut changes = Reloaded::default();
        for agent in &config.agents {
            match before.find(&agent.name) {
                None => changes.added.push(agent.name.clone()),
                Some(old) => {
                    let name = || agent.name.clone();
                    if old.role != agent.role {
                        changes.role_changed.push(name());
                    }
                    if old.teams != agent.teams {
                        changes.teams_changed.push(name());
                    }
                    if old.token != agent.token {
                        changes.token_changed.push(name());
                    }
                }
            }
        }
        changes.removed = before
            .agents
            .iter()
            .filter(|a| !config.agents.iter().any(|b| b.name == a.name))
            .map(|a| a.name.clone())
            .collect();
        self.state.agents.replace(&config.agents);
        let gateway = &self.state.gateway;
        let revoked = self
            .state
            .agents
            .record_config(gateway.store(), gateway.now())
            .await
            .context("cannot record the agents' tokens")?;
        for agent in revoked {
            tracing::warn!(%agent, "this agent's token in the config was revoked through the API and is refused: give them a new one");
        }
        let (now, detail) = (gateway.now(), serde_json::to_value(&changes)?);
        gateway
            .store()
            .write(move |c| {
                switchboard_core::store::queries::audit::append(
                    c,
                    now,
                    switchboard_core::store::queries::audit::By::gateway("config"),
                    "config.reload",
                    None,
                    &detail,
                )
            })
            .await
            .context("cannot record the reload in the audit log")?;
        Ok(changes)
    }
}
