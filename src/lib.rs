//! Switchboard, the gateway binary's library: config, wiring, HTTP.
//!
//! # Layout
//!
//! - [`config`]: the config file, checked whole, secrets from the environment.
//! - [`channels`]: the connector registry: every channel kind in one place.
//! - [`app`]: builds the store, the core, the connectors and the dispatcher from a
//!   config, and runs them until shutdown.
//! - [`http`]: the HTTP routes: webhooks, health, metrics, and the [`api`];
//!   [`serve`]: the server loop, with its limits on slow and oversized requests.
//! - [`api`]: the agent API under `/api/v1`, with its OpenAPI description.
//! - [`inbox`]: the agents' inbox page at `/`, embedded.
//! - [`cli`]: the operator's commands besides `serve`.

pub mod api;
pub mod app;
pub mod channels;
pub mod cli;
pub mod config;
pub mod http;
pub mod inbox;
pub mod serve;
pub mod telemetry;

pub use app::App;
pub use config::Config;
