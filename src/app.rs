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
        let blobs = BlobStore::new(config.storage.data_dir.join("attachments"));
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
        let tokens = crate::api::tokens::Tokens::new(&config.agents);
        let revoked = tokens
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
            agents: config.agents.clone().into(),
            webhooks: Arc::new(webhooks),
            channel_routes: Arc::new(channel_routes),
            channels: Arc::new(channels),
            ready: Arc::new(AtomicBool::new(false)),
            max_body_bytes: config.server.max_body_bytes,
            guesses: Arc::new(crate::api::guesses::Guesses::new(
                config.server.wrong_tokens_per_minute,
            )),
            tokens: Arc::new(tokens),
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
        for (id, connector) in connectors {
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                if let Err(error) = connector.run(shutdown).await {
                    tracing::error!(channel = %id, error = %format!("{error:#}"), "channel stopped with an error");
                }
            });
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
