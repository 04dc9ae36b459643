//! The config file: TOML, with `${VAR}` / `${VAR:-default}` taken from the
//! environment (secrets stay out of the file), checked whole before anything starts.
//! Every problem is reported at once, each naming its key and, where it can be found,
//! its line.

use std::collections::BTreeMap;
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

/// The whole config, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub gateway: GatewayConfig,
    pub agents: Vec<AgentConfig>,
    pub channels: Vec<ChannelConfig>,
}

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            max_body_bytes: default_max_body(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> usize {
    40 * 1024 * 1024
}

/// `[storage]`
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub backend: Backend,
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
    /// `agent` (tickets) or `admin` (tickets and the gateway's operation).
    #[serde(default)]
    pub role: Role,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Agent,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
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

// The file's shape, before checking.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    tickets: RawTickets,
    #[serde(default)]
    ingest: RawIngest,
    #[serde(default)]
    outbox: RawOutbox,
    #[serde(default)]
    attachments: RawAttachments,
    #[serde(default)]
    agents: Vec<AgentConfig>,
    #[serde(default)]
    channels: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    /// `sqlite` (default) or `postgres`.
    #[serde(default = "default_backend")]
    backend: String,
    /// Where the SQLite database and attachment files live.
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    /// SQLite: `full` (default; a power cut loses nothing acknowledged) or `normal`.
    #[serde(default = "default_synchronous")]
    sqlite_synchronous: String,
    /// PostgreSQL: the connection URL.
    #[serde(default)]
    postgres_url: Option<Secret>,
    #[serde(default = "default_pg_connections")]
    postgres_max_connections: usize,
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            backend: default_backend(),
            data_dir: default_data_dir(),
            sqlite_synchronous: default_synchronous(),
            postgres_url: None,
            postgres_max_connections: default_pg_connections(),
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTickets {
    #[serde(default = "default_prefix")]
    reference_prefix: String,
    /// Hours after resolution during which a customer's message reopens the ticket.
    #[serde(default = "default_reopen_hours")]
    reopen_window_hours: f64,
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
struct RawIngest {
    batch: Option<usize>,
    writers: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    max_attempts: Option<u32>,
    backoff_base_seconds: Option<f64>,
    backoff_max_seconds: Option<f64>,
    concurrency: Option<usize>,
    lease_seconds: Option<f64>,
    send_timeout_seconds: Option<f64>,
    poll_interval_ms: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttachments {
    max_bytes: Option<usize>,
}

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
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            fail(vec![Problem {
                key: "(syntax)".into(),
                line: e.span().map(|span| line_of(&text, span.start)),
                message: e.message().to_owned(),
            }])
        })?;
        let mut problems = Vec::new();
        let config = check(raw, &text, &mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }
}

fn check(raw: RawConfig, text: &str, problems: &mut Vec<Problem>) -> Config {
    let mut problem = |key: String, message: String| {
        let line = find_key_line(text, &key);
        problems.push(Problem { key, line, message });
    };

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
    };

    let prefix = &raw.tickets.reference_prefix;
    if prefix.is_empty() || prefix.len() > 8 || !prefix.bytes().all(|b| b.is_ascii_uppercase()) {
        problem(
            "tickets.reference_prefix".into(),
            "must be 1-8 uppercase letters A-Z".into(),
        );
    }
    if !(raw.tickets.reopen_window_hours.is_finite() && raw.tickets.reopen_window_hours >= 0.0) {
        problem(
            "tickets.reopen_window_hours".into(),
            "must be a number of hours, 0 or more".into(),
        );
    }

    let is_postgres = matches!(storage.backend, Backend::Postgres { .. });
    let defaults = DispatchConfig::default();
    let seconds = |value: Option<f64>,
                   key: &str,
                   default: Duration,
                   problem: &mut dyn FnMut(String, String)| match value {
        None => default,
        Some(v) if v.is_finite() && v > 0.0 => Duration::from_secs_f64(v),
        Some(_) => {
            problem(
                format!("outbox.{key}"),
                "must be a positive number of seconds".into(),
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
    let gateway = GatewayConfig {
        reference_prefix: prefix.clone(),
        reopen_window: Duration::from_secs_f64(raw.tickets.reopen_window_hours.max(0.0) * 3600.0),
        max_attachment_bytes: raw.attachments.max_bytes.unwrap_or(25 * 1024 * 1024),
        ingest_batch: raw.ingest.batch.unwrap_or(256).clamp(1, 10_000),
        ingest_writers: raw
            .ingest
            .writers
            .unwrap_or(if is_postgres { 4 } else { 1 })
            .clamp(1, 64),
        dispatch,
    };

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
                    for (which, rate) in
                        [("channel", limits.channel), ("recipient", limits.recipient)]
                    {
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
                let rate_limits = rate_limits.unwrap_or_else(|| settings.default_rate_limits());
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
            Err(channels::ParseError::Invalid(message)) => {
                let field = field_in_message(&message).unwrap_or("kind");
                problem(key(field), message);
            }
        }
    }
    Config {
        server: raw.server,
        storage,
        gateway,
        agents: raw.agents,
        channels,
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` outside comments; `$${` is a literal `${`.
/// Values are escaped for TOML strings, so a secret with quotes cannot break the file.
fn substitute_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<Problem>> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    for (number, whole_line) in text.split_inclusive('\n').enumerate() {
        let (line, comment) = whole_line.split_at(comment_start(whole_line));
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            if rest[..start].ends_with('$') {
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                problems.push(Problem {
                    key: "(environment)".into(),
                    line: Some(number + 1),
                    message: "unclosed ${".into(),
                });
                rest = "";
                break;
            };
            let expression = &rest[start + 2..start + end];
            let (name, default) = match expression.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expression, None),
            };
            match env(name)
                .filter(|v| !v.is_empty())
                .or(default.map(str::to_owned))
            {
                Some(value) => out.push_str(&escape_toml(&value)),
                None => problems.push(Problem {
                    key: "(environment)".into(),
                    line: Some(number + 1),
                    message: format!("environment variable {name} is not set and has no default"),
                }),
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Where a line's comment starts (its length if none): the first `#` outside a
/// string.
fn comment_start(line: &str) -> usize {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some('"'), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return i,
            _ => {}
        }
        escaped = false;
    }
    line.len()
}

fn escape_toml(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            c if c.is_control() => escaped.push_str(&format!("\\u{:04X}", c as u32)),
            c => escaped.push(c),
        }
    }
    escaped
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where a dotted key is set: the last segment as `key =` inside the
/// section named by the others (`[channels.api]` then `secret = ...`).
fn find_key_line(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let key = key.split('[').next().unwrap_or(key);
    let mut in_section = section.is_empty();
    let mut section_line = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let name = trimmed.trim_matches(|c| c == '[' || c == ']').trim();
            in_section = name == section || section.is_empty();
            if in_section && section_line.is_none() {
                section_line = Some(i + 1);
            }
            continue;
        }
        if in_section {
            let assigned = trimmed
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"'));
            if assigned == Some(key) {
                return Some(i + 1);
            }
        }
    }
    section_line
}

/// The field a serde message names (`unknown field `x``, `missing field `y``).
fn field_in_message(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

#[cfg(test)]
mod tests;
