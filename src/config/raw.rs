//! The config file's shape as written, before checking: every section with its
//! defaults. `check` in the parent module turns it into a [`Config`](super::Config).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use switchboard_core::Secret;

use super::{AgentConfig, ServerConfig};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) server: ServerConfig,
    #[serde(default)]
    pub(super) storage: RawStorage,
    #[serde(default)]
    pub(super) tickets: RawTickets,
    #[serde(default)]
    pub(super) ingest: RawIngest,
    #[serde(default)]
    pub(super) outbox: RawOutbox,
    #[serde(default)]
    pub(super) attachments: RawAttachments,
    #[serde(default)]
    pub(super) agents: Vec<AgentConfig>,
    #[serde(default)]
    pub(super) calendars: BTreeMap<String, switchboard_core::calendar::CalendarConfig>,
    /// Absent: no helpdesk rules (an empty `[helpdesk]` turns on language detection).
    pub(super) helpdesk: Option<switchboard_core::helpdesk::HelpdeskConfig>,
    #[serde(default)]
    pub(super) channels: BTreeMap<String, toml::Table>,
    /// How long tickets' contents are kept: the first rule that matches decides.
    #[serde(default)]
    pub(super) retention: Vec<switchboard_core::store::queries::privacy::RetentionRule>,
    #[serde(default)]
    pub(super) cluster: RawCluster,
}

/// `[cluster]`: several nodes on one PostgreSQL store.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    /// This node's name in logs and leases; made up at start when absent.
    pub(super) node: Option<String>,
    /// How long a poller's lease holds without renewal (default 10).
    pub(super) lease_seconds: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    /// `sqlite` (default) or `postgres`.
    #[serde(default = "default_backend")]
    pub(super) backend: String,
    /// Where the SQLite database and attachment files live.
    #[serde(default = "default_data_dir")]
    pub(super) data_dir: PathBuf,
    /// SQLite: `full` (default; a power cut loses nothing acknowledged) or `normal`.
    #[serde(default = "default_synchronous")]
    pub(super) sqlite_synchronous: String,
    /// PostgreSQL: the connection URL.
    #[serde(default)]
    pub(super) postgres_url: Option<Secret>,
    #[serde(default = "default_pg_connections")]
    pub(super) postgres_max_connections: usize,
    /// Where attachments' bytes live: `disk` (default, under `data_dir`) or `store`
    /// (in the database, for nodes that share no disk).
    #[serde(default = "default_attachments")]
    pub(super) attachments: String,
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            backend: default_backend(),
            data_dir: default_data_dir(),
            sqlite_synchronous: default_synchronous(),
            postgres_url: None,
            postgres_max_connections: default_pg_connections(),
            attachments: default_attachments(),
        }
    }
}

fn default_backend() -> String {
    "sqlite".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}
fn default_synchronous() -> String {
    "full".into()
}
fn default_pg_connections() -> usize {
    16
}
fn default_attachments() -> String {
    "disk".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTickets {
    #[serde(default = "default_prefix")]
    pub(super) reference_prefix: String,
    /// Hours after resolution during which a customer's message reopens the ticket.
    #[serde(default = "default_reopen_hours")]
    pub(super) reopen_window_hours: f64,
}

impl Default for RawTickets {
    fn default() -> Self {
        RawTickets {
            reference_prefix: default_prefix(),
            reopen_window_hours: default_reopen_hours(),
        }
    }
}

fn default_prefix() -> String {
    "SB".into()
}
fn default_reopen_hours() -> f64 {
    168.0
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIngest {
    pub(super) batch: Option<usize>,
    pub(super) writers: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbox {
    pub(super) max_attempts: Option<u32>,
    pub(super) backoff_base_seconds: Option<f64>,
    pub(super) backoff_max_seconds: Option<f64>,
    pub(super) concurrency: Option<usize>,
    pub(super) lease_seconds: Option<f64>,
    pub(super) send_timeout_seconds: Option<f64>,
    pub(super) poll_interval_ms: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAttachments {
    pub(super) max_bytes: Option<usize>,
    pub(super) max_per_message: Option<usize>,
}
