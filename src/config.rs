//! The config file: TOML, with `${VAR}` / `${VAR:-default}` taken from the
//! environment (secrets stay out of the file), checked whole before anything starts.
//! Every problem is reported at once, each naming its key and, where it can be found,
//! its line.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use switchboard_core::dispatcher::DispatchConfig;
use switchboard_core::gateway::GatewayConfig;
use switchboard_core::ratelimit::RateLimits;
use switchboard_core::{ChannelId, Secret};

use crate::channels::{self, ChannelSettings};

mod raw;
mod text;

use raw::RawConfig;
use text::{field_in_message, find_key_line, line_of, substitute_env};

/// The whole config, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub gateway: GatewayConfig,
    pub agents: Vec<AgentConfig>,
    pub channels: Vec<ChannelConfig>,
    /// Keys (`agents[0].token`) still set to a development value shipped in the
    /// sample configs.
    pub development_secrets: Vec<String>,
    /// The `[helpdesk]` section as written (its webhook secret left out), recorded in
    /// the audit log whenever it changes.
    pub helpdesk_rules: serde_json::Value,
}

/// The secret values the shipped configs fall back to when their variable is unset:
/// public, so fit only for a gateway no other machine can reach.
pub const DEVELOPMENT_SECRETS: &[&str] = &["dev-admin-token", "dev-secret", "dev-chat-secret"];

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The largest webhook or API request body, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// An inbox session ends after this long without use.
    #[serde(default = "default_session_idle_minutes")]
    pub session_idle_minutes: u32,
    /// And at the latest this long after sign-in.
    #[serde(default = "default_session_hours")]
    pub session_hours: u32,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the
    /// client; without them every client is the connection's peer.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Wrong agent tokens (bearer or sign-in) one client address may present per
    /// minute before it is answered 429 for a while.
    #[serde(default = "default_wrong_tokens_per_minute")]
    pub wrong_tokens_per_minute: u32,
    /// Agent API requests one token may make per second (bursts of twice as many),
    /// before it is answered 429.
    #[serde(default = "default_token_requests_per_second")]
    pub token_requests_per_second: u32,
    /// Agent API requests one client address may make per second (bursts of twice as
    /// many), whatever tokens it holds.
    #[serde(default = "default_address_requests_per_second")]
    pub address_requests_per_second: u32,
    /// How long a client may take to send a request's line and headers (and to
    /// start the next request on a kept-alive connection).
    #[serde(default = "default_header_timeout_seconds")]
    pub header_timeout_seconds: u32,
    /// How long a client may pause while sending a request's body.
    #[serde(default = "default_body_timeout_seconds")]
    pub body_timeout_seconds: u32,
    /// The largest request line and headers, in bytes (at least 8192); larger ones
    /// are answered 431.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Other sites' origins (`https://crm.example.com`) whose pages may call the
    /// agent API with a bearer token. None by default: the API answers no CORS
    /// preflight and other sites' scripts cannot read it.
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            max_body_bytes: default_max_body(),
            session_idle_minutes: default_session_idle_minutes(),
            session_hours: default_session_hours(),
            trusted_proxies: Vec::new(),
            wrong_tokens_per_minute: default_wrong_tokens_per_minute(),
            token_requests_per_second: default_token_requests_per_second(),
            address_requests_per_second: default_address_requests_per_second(),
            header_timeout_seconds: default_header_timeout_seconds(),
            body_timeout_seconds: default_body_timeout_seconds(),
            max_header_bytes: default_max_header_bytes(),
            cors_origins: Vec::new(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> usize {
    40 * 1024 * 1024
}

/// A shift's pause for lunch does not sign anyone out.
fn default_session_idle_minutes() -> u32 {
    8 * 60
}

/// A person mistyping a token tries a few times a minute; a guesser, thousands.
fn default_wrong_tokens_per_minute() -> u32 {
    20
}

/// A person clicks a few times a second; an integration replying to a queue, more.
fn default_token_requests_per_second() -> u32 {
    100
}

/// An office behind one address: a few dozen agents at once.
fn default_address_requests_per_second() -> u32 {
    500
}

/// Phones on a bad line send a request's headers in well under a second.
fn default_header_timeout_seconds() -> u32 {
    10
}

/// An upload on a slow line pauses, but not for this long.
fn default_body_timeout_seconds() -> u32 {
    30
}

/// A session cookie and a token take a few hundred bytes; browsers stay under 8 KiB.
fn default_max_header_bytes() -> usize {
    32 * 1024
}

/// One working day and the night after: agents sign in again each morning.
fn default_session_hours() -> u32 {
    24
}

/// `[cluster]`, checked.
fn cluster(
    raw: &raw::RawCluster,
    problem: &mut dyn FnMut(String, String),
) -> switchboard_core::cluster::ClusterConfig {
    let mut cluster = switchboard_core::cluster::ClusterConfig::default();
    if let Some(node) = &raw.node {
        let fine = !node.is_empty()
            && node.len() <= 56
            && node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if fine {
            cluster.node = node.clone();
        } else {
            problem(
                "cluster.node".into(),
                "must be 1 to 56 letters, digits, dots, dashes or underscores".into(),
            );
        }
    }
    match raw.lease_seconds {
        None => {}
        Some(v) if (1.0..=300.0).contains(&v) => cluster.lease = Duration::from_secs_f64(v),
        Some(_) => problem(
            "cluster.lease_seconds".into(),
            "must be a number of seconds from 1 to 300".into(),
        ),
    }
    cluster
}

/// How often the retention policy runs (on one node at a time).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// `[storage]`
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub backend: Backend,
    /// Attachments' bytes in the store instead of files under `data_dir`.
    pub attachments_in_store: bool,
}

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite {
        synchronous: switchboard_core::store::Synchronous,
    },
    Postgres {
        url: Secret,
        max_connections: usize,
    },
}

/// One agent who may use the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Shown as the author of the agent's replies and notes.
    pub name: String,
    /// The bearer token; put it in the environment: `token = "${MARIA_TOKEN}"`.
    pub token: Secret,
    /// What the agent may do and see: `agent` (the default), `supervisor`, `admin` or
    /// `auditor` (see [`Role`]).
    #[serde(default)]
    pub role: Role,
    /// The `[[helpdesk.teams]]` that list this agent among their `agents` or
    /// `supervisors`: the tickets an agent or supervisor sees.
    #[serde(skip)]
    pub teams: Vec<String>,
}

/// What an agent may do, and which tickets they see.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works the tickets of their teams and those assigned to them: replies, notes,
    /// status, priority, category; takes a ticket or hands it back.
    #[default]
    Agent,
    /// Sees the tickets of their teams (and those assigned to them); also assigns
    /// them to anyone and reads the satisfaction report.
    Supervisor,
    /// Everything: every ticket, the channels, retries, tokens, the audit log.
    Admin,
    /// Reads every ticket and the audit log, and changes nothing.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
}

/// One `[channels.<id>]`.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub id: ChannelId,
    pub enabled: bool,
    pub rate_limits: RateLimits,
    pub settings: ChannelSettings,
}

impl ChannelConfig {
    pub fn kind(&self) -> &'static str {
        self.settings.kind()
    }
}

/// Every problem found in a config file.
#[derive(Debug)]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<Problem>,
}

#[derive(Debug)]
pub struct Problem {
    /// The key, dotted (`channels.support.callback_url`).
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        writeln!(
            f,
            "{}: {count} problem{}",
            self.file,
            if count == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            match p.line {
                Some(line) => writeln!(f, "  line {line}: {}: {}", p.key, p.message)?,
                None => writeln!(f, "  {}: {}", p.key, p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The longest duration any setting takes: ten years, in seconds.
const MAX_SECONDS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;

/// Keys every channel has, beside its kind's own.
const COMMON_CHANNEL_KEYS: &[&str] = &["kind", "enabled", "rate_limit"];

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            problems: vec![Problem {
                key: "(file)".into(),
                line: None,
                message: format!("cannot read: {e}"),
            }],
        })?;
        Config::parse(&text, &file, |name| std::env::var(name).ok())
    }

    /// Checks config text; `env` looks up `${VAR}`s.
    pub fn parse(
        text: &str,
        file: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError {
            file: file.to_owned(),
            problems,
        };
        let text = substitute_env(text, &env).map_err(fail)?;
        let document = toml::Deserializer::parse(&text).map_err(|e| {
            fail(vec![Problem {
                key: "(syntax)".into(),
                line: e.span().map(|span| line_of(&text, span.start)),
                message: e.message().to_owned(),
            }])
        })?;
        let raw: RawConfig = deserialize_located(document).map_err(|(key, message)| {
            let line = find_key_line(&text, &key);
            fail(vec![Problem { key, line, message }])
        })?;
        let mut problems = Vec::new();
        let folder = Path::new(file)
            .parent()
            .filter(|p| !p.as_os_str().is_empty());
        let mut config = check(raw, &text, folder.unwrap_or(Path::new(".")), &mut problems);
        if let Ok(document) = text.parse::<toml::Table>() {
            if let Some(mut rules) = document.get("helpdesk").cloned() {
                if let Some(notify) = rules.get_mut("notify").and_then(|n| n.as_table_mut()) {
                    notify.remove("secret");
                }
                config.helpdesk_rules = serde_json::to_value(rules).unwrap_or_default();
            }
            keys_holding(
                &document,
                DEVELOPMENT_SECRETS,
                "",
                &mut config.development_secrets,
            );
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }
}

impl Config {
    /// A warning when development secrets are in use on an address other machines
    /// can reach: anyone who has read the sample config could sign in or forge
    /// webhooks. It names the keys, never their values.
    pub fn development_secrets_warning(&self) -> Option<String> {
        if self.development_secrets.is_empty() || self.server.listen.ip().is_loopback() {
            return None;
        }
        Some(format!(
            "{} still hold{} the development value{} shipped in the sample config, and the gateway listens on {}, which other machines can reach: anyone who has read the sample can use {}. Set {} from the environment before exposing the gateway.",
            self.development_secrets.join(", "),
            if self.development_secrets.len() == 1 {
                "s"
            } else {
                ""
            },
            if self.development_secrets.len() == 1 {
                ""
            } else {
                "s"
            },
            self.server.listen,
            if self.development_secrets.len() == 1 {
                "it"
            } else {
                "them"
            },
            if self.development_secrets.len() == 1 {
                "it"
            } else {
                "each"
            },
        ))
    }
}

/// Collects the dotted keys under `table` whose string value is one of `values`.
fn keys_holding(table: &toml::Table, values: &[&str], prefix: &str, found: &mut Vec<String>) {
    fn visit(value: &toml::Value, values: &[&str], key: String, found: &mut Vec<String>) {
        match value {
            toml::Value::String(text) if values.contains(&text.as_str()) => found.push(key),
            toml::Value::Table(table) => keys_holding(table, values, &key, found),
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    visit(item, values, format!("{key}[{i}]"), found);
                }
            }
            _ => {}
        }
    }
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        visit(value, values, key, found);
    }
}

/// Deserializes `T`, or names the key at fault (dotted, `agents[0].token`) and what
/// is wrong with it. serde's own messages name only the innermost field, and only
/// when it is missing or unknown.
pub(crate) fn deserialize_located<'de, T, D>(input: D) -> Result<T, (String, String)>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de, Error = toml::de::Error>,
{
    serde_path_to_error::deserialize(input).map_err(|e| {
        let message = e.inner().message().to_owned();
        let path = e.path().to_string();
        // A missing field is reported on its parent: add its name.
        let field = field_in_message(&message).filter(|_| message.starts_with("missing field"));
        let key = match (path.as_str(), field) {
            (".", Some(field)) => field.to_owned(),
            (".", None) => String::new(),
            (path, Some(field)) => format!("{path}.{field}"),
            (path, None) => path.to_owned(),
        };
        (key, message)
    })
}

fn check(mut raw: RawConfig, text: &str, folder: &Path, problems: &mut Vec<Problem>) -> Config {
    let mut problem = |key: String, message: String| {
        let line = find_key_line(text, &key);
        problems.push(Problem { key, line, message });
    };

    if raw.server.session_idle_minutes == 0 {
        problem(
            "server.session_idle_minutes".into(),
            "must be at least 1".into(),
        );
    }
    if raw.server.session_hours == 0 {
        problem("server.session_hours".into(), "must be at least 1".into());
    }
    for (key, value) in [
        (
            "wrong_tokens_per_minute",
            raw.server.wrong_tokens_per_minute,
        ),
        (
            "token_requests_per_second",
            raw.server.token_requests_per_second,
        ),
        (
            "address_requests_per_second",
            raw.server.address_requests_per_second,
        ),
        ("header_timeout_seconds", raw.server.header_timeout_seconds),
        ("body_timeout_seconds", raw.server.body_timeout_seconds),
    ] {
        if value == 0 {
            problem(format!("server.{key}"), "must be at least 1".into());
        }
    }
    if raw.server.max_header_bytes < 8192 {
        problem(
            "server.max_header_bytes".into(),
            format!(
                "is {}; it must be at least 8192",
                raw.server.max_header_bytes
            ),
        );
    }
    for (i, origin) in raw.server.cors_origins.iter().enumerate() {
        if let Err(message) = crate::http::cors_origin(origin) {
            problem(format!("server.cors_origins[{i}]"), message);
        }
    }
    for proxy in &raw.server.trusted_proxies {
        if let Err(message) = crate::http::Cidr::parse(proxy) {
            problem("server.trusted_proxies".into(), message);
        }
    }

    let storage = StorageConfig {
        data_dir: raw.storage.data_dir.clone(),
        backend: match raw.storage.backend.as_str() {
            "sqlite" => Backend::Sqlite {
                synchronous: match raw.storage.sqlite_synchronous.as_str() {
                    "full" => switchboard_core::store::Synchronous::Full,
                    "normal" => switchboard_core::store::Synchronous::Normal,
                    other => {
                        problem(
                            "storage.sqlite_synchronous".into(),
                            format!("{other:?} is not full or normal"),
                        );
                        switchboard_core::store::Synchronous::Full
                    }
                },
            },
            "postgres" => match raw.storage.postgres_url.clone() {
                Some(url) => Backend::Postgres {
                    url,
                    max_connections: raw.storage.postgres_max_connections.max(1),
                },
                None => {
                    problem(
                        "storage.postgres_url".into(),
                        "is required when backend = \"postgres\"".into(),
                    );
                    Backend::Sqlite {
                        synchronous: switchboard_core::store::Synchronous::Full,
                    }
                }
            },
            other => {
                problem(
                    "storage.backend".into(),
                    format!("{other:?} is not sqlite or postgres"),
                );
                Backend::Sqlite {
                    synchronous: switchboard_core::store::Synchronous::Full,
                }
            }
        },
        attachments_in_store: match raw.storage.attachments.as_str() {
            "disk" => false,
            "store" => true,
            other => {
                problem(
                    "storage.attachments".into(),
                    format!("{other:?} is not disk or store"),
                );
                false
            }
        },
    };

    let prefix = &raw.tickets.reference_prefix;
    if prefix.is_empty() || prefix.len() > 8 || !prefix.bytes().all(|b| b.is_ascii_uppercase()) {
        problem(
            "tickets.reference_prefix".into(),
            "must be 1-8 uppercase letters A-Z".into(),
        );
    }
    if !(0.0..=MAX_SECONDS / 3600.0).contains(&raw.tickets.reopen_window_hours) {
        problem(
            "tickets.reopen_window_hours".into(),
            format!(
                "must be a number of hours from 0 to {}",
                MAX_SECONDS / 3600.0
            ),
        );
    }

    let is_postgres = matches!(storage.backend, Backend::Postgres { .. });
    let defaults = DispatchConfig::default();
    let seconds = |value: Option<f64>,
                   key: &str,
                   default: Duration,
                   problem: &mut dyn FnMut(String, String)| match value {
        None => default,
        Some(v) if v > 0.0 && v <= MAX_SECONDS => Duration::from_secs_f64(v),
        Some(_) => {
            problem(
                format!("outbox.{key}"),
                format!("must be a positive number of seconds, at most {MAX_SECONDS}"),
            );
            default
        }
    };
    let o = &raw.outbox;
    let dispatch = DispatchConfig {
        max_attempts: o.max_attempts.unwrap_or(defaults.max_attempts).max(1),
        backoff_base: seconds(
            o.backoff_base_seconds,
            "backoff_base_seconds",
            defaults.backoff_base,
            &mut problem,
        ),
        backoff_max: seconds(
            o.backoff_max_seconds,
            "backoff_max_seconds",
            defaults.backoff_max,
            &mut problem,
        ),
        concurrency: o.concurrency.unwrap_or(defaults.concurrency).max(1),
        lease: seconds(
            o.lease_seconds,
            "lease_seconds",
            defaults.lease,
            &mut problem,
        ),
        send_timeout: seconds(
            o.send_timeout_seconds,
            "send_timeout_seconds",
            defaults.send_timeout,
            &mut problem,
        ),
        poll_interval: o
            .poll_interval_ms
            .map(Duration::from_millis)
            .unwrap_or(defaults.poll_interval),
    };
    if dispatch.lease <= dispatch.send_timeout {
        problem(
            "outbox.lease_seconds".into(),
            "must be longer than send_timeout_seconds, or a slow send would be claimed twice"
                .into(),
        );
    }
    if raw.attachments.max_per_message == Some(0) {
        problem(
            "attachments.max_per_message".into(),
            "must be at least 1 (a message with a file would always be refused)".into(),
        );
    }
    let mut calendars = std::collections::HashMap::new();
    for (name, calendar) in &raw.calendars {
        match switchboard_core::calendar::Calendar::from_config(calendar) {
            Ok(calendar) => {
                calendars.insert(name.clone(), calendar);
            }
            Err((key, message)) => problem(format!("calendars.{name}.{key}"), message),
        }
    }
    let helpdesk =
        match raw.helpdesk.as_ref().map(|config| {
            switchboard_core::helpdesk::Helpdesk::from_config(config, &calendars, folder)
        }) {
            None => switchboard_core::helpdesk::Helpdesk::default(),
            Some(Ok(helpdesk)) => helpdesk,
            Some(Err((key, message))) => {
                problem(format!("helpdesk.{key}"), message);
                switchboard_core::helpdesk::Helpdesk::default()
            }
        };
    // Each agent's teams: the teams that list them as an agent or a supervisor.
    let teams = raw.helpdesk.iter().flat_map(|h| h.teams.iter());
    for (i, team) in teams.enumerate() {
        for (list, names) in [("agents", &team.agents), ("supervisors", &team.supervisors)] {
            for (j, name) in names.iter().enumerate() {
                let key = format!("helpdesk.teams[{i}].{list}[{j}]");
                match raw.agents.iter_mut().find(|a| &a.name == name) {
                    None => problem(
                        key,
                        format!("{name:?} is not the name of an [[agents]] entry"),
                    ),
                    Some(agent) if agent.role == Role::Auditor => problem(
                        key,
                        format!(
                            "{name:?} is an auditor, who changes nothing, so cannot be in a team"
                        ),
                    ),
                    Some(agent) if list == "supervisors" && agent.role == Role::Agent => problem(
                        key,
                        format!(
                            "{name:?} has role = \"agent\"; a team's supervisors need role = \"supervisor\" or \"admin\""
                        ),
                    ),
                    Some(agent) if !agent.teams.contains(&team.name) => {
                        agent.teams.push(team.name.clone())
                    }
                    Some(_) => {}
                }
            }
        }
    }
    let gateway = GatewayConfig {
        reference_prefix: prefix.clone(),
        reopen_window: Duration::from_secs_f64(
            raw.tickets
                .reopen_window_hours
                .clamp(0.0, MAX_SECONDS / 3600.0)
                * 3600.0,
        ),
        max_attachment_bytes: raw.attachments.max_bytes.unwrap_or(25 * 1024 * 1024),
        max_attachments: raw
            .attachments
            .max_per_message
            .unwrap_or(switchboard_core::gateway::DEFAULT_MAX_ATTACHMENTS),
        ingest_batch: raw.ingest.batch.unwrap_or(256).clamp(1, 10_000),
        ingest_writers: raw
            .ingest
            .writers
            .unwrap_or(if is_postgres { 4 } else { 1 })
            .clamp(1, 64),
        dispatch,
        calendars,
        helpdesk: std::sync::Arc::new(helpdesk),
        retention: switchboard_core::privacy::Retention {
            rules: raw.retention.clone(),
            every: RETENTION_EVERY,
        },
        cluster: cluster(&raw.cluster, &mut problem),
    };
    for (i, rule) in raw.retention.iter().enumerate() {
        let key = |field: &str| format!("retention[{i}].{field}");
        if rule.days == 0 {
            problem(key("days"), "must be at least 1".into());
        }
        if let Some(channel) = &rule.channel
            && !raw.channels.contains_key(channel)
        {
            problem(
                key("channel"),
                format!("names {channel:?}, which is not a configured channel"),
            );
        }
        if let Some(catch_all) = raw.retention[..i]
            .iter()
            .position(|r| r.channel.is_none() && r.category.is_none())
        {
            problem(
                format!("retention[{i}]"),
                format!("can never apply: retention[{catch_all}] before it matches every ticket"),
            );
        }
    }

    if raw.agents.is_empty() {
        problem(
            "agents".into(),
            "at least one [[agents]] entry is needed to use the API".into(),
        );
    }
    for (i, agent) in raw.agents.iter().enumerate() {
        if agent.name.trim().is_empty() {
            problem(format!("agents[{i}].name"), "must not be empty".into());
        }
        if agent.token.expose().trim() != agent.token.expose() {
            problem(
                format!("agents[{i}].token"),
                "has spaces or line breaks at its start or end, which an Authorization header cannot carry: this agent could never sign in".into(),
            );
        }
        if raw.agents[..i]
            .iter()
            .any(|other| other.token == agent.token)
        {
            problem(
                format!("agents[{i}].token"),
                "is the same as another agent's token".into(),
            );
        }
    }

    let mut channels = Vec::new();
    for (id, table) in raw.channels {
        let key = |k: &str| format!("channels.{id}.{k}");
        let channel_id = match ChannelId::parse(&id) {
            Ok(channel_id) => channel_id,
            Err(e) => {
                problem(format!("channels.{id}"), e);
                continue;
            }
        };
        let Some(kind) = table
            .get("kind")
            .and_then(|k| k.as_str())
            .map(str::to_owned)
        else {
            problem(
                key("kind"),
                format!("is required: one of {}", channels::KINDS.join(", ")),
            );
            continue;
        };
        let enabled = match table.get("enabled") {
            None => true,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => {
                problem(key("enabled"), "must be true or false".into());
                true
            }
        };
        let rate_limits = match table.get("rate_limit") {
            None => None,
            Some(value) => match RateLimits::deserialize(value.clone()) {
                Ok(limits) => {
                    for (which, rate) in [
                        ("channel", limits.channel),
                        ("recipient", limits.recipient),
                        ("group", limits.group),
                    ] {
                        if let Some(Err(e)) = rate.map(|r| r.validate()) {
                            problem(key(&format!("rate_limit.{which}")), e);
                        }
                    }
                    Some(limits)
                }
                Err(e) => {
                    problem(key("rate_limit"), e.message().to_owned());
                    None
                }
            },
        };
        let own: toml::Table = table
            .into_iter()
            .filter(|(k, _)| !COMMON_CHANNEL_KEYS.contains(&k.as_str()))
            .collect();
        match channels::parse(&kind, own) {
            Ok(settings) => {
                for (field, message) in settings.validate() {
                    problem(key(field), message);
                }
                // What the table leaves out keeps the kind's default.
                let defaults = settings.default_rate_limits();
                let rate_limits = rate_limits.map_or(defaults, |given| RateLimits {
                    channel: given.channel.or(defaults.channel),
                    recipient: given.recipient.or(defaults.recipient),
                    group: given.group.or(defaults.group),
                });
                channels.push(ChannelConfig {
                    id: channel_id,
                    enabled,
                    rate_limits,
                    settings,
                });
            }
            Err(channels::ParseError::UnknownKind) => {
                problem(
                    key("kind"),
                    format!("{kind:?} is not one of {}", channels::KINDS.join(", ")),
                );
            }
            Err(channels::ParseError::Invalid {
                key: field,
                message,
            }) => {
                let at = if field.is_empty() {
                    format!("channels.{id}")
                } else {
                    key(&field)
                };
                problem(at, message);
            }
        }
    }
    // Business hours name a calendar of [calendars].
    for channel in &channels {
        if let Some(hours) = channel.settings.hours()
            && !raw.calendars.contains_key(hours)
        {
            problem(
                format!("channels.{}.hours", channel.id),
                format!("names {hours:?}, which is not a [calendars.{hours}] section"),
            );
        }
    }
    // A chat continued by email needs that email channel, running when the chat does.
    for channel in &channels {
        let Some(target) = channel.settings.continues_by_email() else {
            continue;
        };
        let found = channels.iter().find(|c| c.id.as_str() == target);
        let wrong = match found {
            None => Some(format!(
                "names {target:?}, which is not a configured channel"
            )),
            Some(c) if c.kind() != "email" => Some(format!(
                "names {target:?}, a channel of kind {}; it must be an email channel",
                c.kind()
            )),
            Some(c) if channel.enabled && !c.enabled => {
                Some(format!("names {target:?}, which is not enabled"))
            }
            Some(_) => None,
        };
        if let Some(message) = wrong {
            problem(
                format!("channels.{}.continue_by_email", channel.id),
                message,
            );
        }
    }
    Config {
        server: raw.server,
        storage,
        gateway,
        agents: raw.agents,
        channels,
        development_secrets: Vec::new(),
        helpdesk_rules: serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests;
