//! Settings of an email channel (`[channels.<id>]` with `kind = "email"`): the
//! support address, the IMAP mailbox it reads, and the SMTP server it sends through.

use serde::Deserialize;
use switchboard_core::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannelConfig {
    /// The support address customers write to and replies come from.
    pub address: String,
    /// The name in replies' From (`Example Support <support@example.com>`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Where customers' answers should go, when not to `address`.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The right-hand side of the Message-IDs the gateway generates; the domain of
    /// `address` by default. Mail whose Message-ID is the gateway's own is dropped.
    #[serde(default)]
    pub message_id_domain: Option<String>,
    /// List-Ids of the groups that deliver customers' mail to this address (a
    /// Google Group, a Microsoft 365 group, a Mailman list): their mail is the
    /// customers', not list traffic. The address with `@` turned into `.` (Google
    /// Groups' List-Id for it) always counts.
    #[serde(default)]
    pub own_list_ids: Vec<String>,
    pub imap: ImapConfig,
    pub smtp: SmtpConfig,
}

/// How a connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    #[default]
    Implicit,
    /// Plaintext, upgraded with STARTTLS before logging in (IMAP 143, SMTP 587).
    Starttls,
    /// No TLS at all: passwords in the clear. Only for a server on the same machine.
    None,
}

/// What to import from a mailbox the first time the channel reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialSync {
    /// Only mail that arrives from now on.
    #[default]
    New,
    /// The mail not yet marked read, then everything new.
    Unseen,
    /// Everything in the mailbox.
    All,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    /// 993 with implicit TLS, 143 otherwise.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: Tls,
    pub username: String,
    pub password: Secret,
    #[serde(default = "inbox")]
    pub mailbox: String,
    #[serde(default)]
    pub initial_sync: InitialSync,
    /// Mark imported mail `\Seen` (after it is committed).
    #[serde(default)]
    pub mark_seen: bool,
    /// Move imported mail to this folder (after it is committed).
    #[serde(default)]
    pub move_to: Option<String>,
    /// How often to look for new mail when the server has no IDLE, in seconds.
    #[serde(default = "sixty")]
    pub poll_interval_seconds: u64,
    /// A PEM file of extra CA certificates to trust (a private mail server).
    #[serde(default)]
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// 465 with implicit TLS, 587 with STARTTLS, 25 without TLS.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: Tls,
    /// Without a username the gateway does not authenticate (a local relay).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// Connections kept open to the server; messages go out over them in parallel.
    #[serde(default = "four")]
    pub pool_size: u32,
    /// How long one SMTP conversation may take, in seconds.
    #[serde(default = "sixty")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub ca_file: Option<String>,
}

fn inbox() -> String {
    "INBOX".into()
}

fn sixty() -> u64 {
    60
}

fn four() -> u32 {
    4
}

impl ImapConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            Tls::Implicit => 993,
            Tls::Starttls | Tls::None => 143,
        })
    }
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            Tls::Implicit => 465,
            Tls::Starttls => 587,
            Tls::None => 25,
        })
    }
}

impl EmailChannelConfig {
    /// Whether a List-Id is one of the support address's own groups.
    pub fn is_own_list(&self, list_id: &str) -> bool {
        list_id.eq_ignore_ascii_case(&self.address.replace('@', "."))
            || self
                .own_list_ids
                .iter()
                .any(|own| own.eq_ignore_ascii_case(list_id))
    }

    /// The domain of the gateway's Message-IDs.
    pub fn message_id_domain(&self) -> &str {
        self.message_id_domain
            .as_deref()
            .or_else(|| self.address.rsplit_once('@').map(|(_, domain)| domain))
            .unwrap_or("localhost")
    }

    /// Checks values that parse but make no sense; no IO.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let address_ok = |a: &str| {
            a.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') || domain == "localhost"
            }) && !a.contains(char::is_whitespace)
        };
        if !address_ok(&self.address) {
            problems.push((
                "address",
                format!("{:?} is not an email address", self.address),
            ));
        }
        if let Some(reply_to) = &self.reply_to
            && !address_ok(reply_to)
        {
            problems.push(("reply_to", format!("{reply_to:?} is not an email address")));
        }
        if self.imap.host.trim().is_empty() {
            problems.push(("imap.host", "must not be empty".into()));
        }
        if self.smtp.host.trim().is_empty() {
            problems.push(("smtp.host", "must not be empty".into()));
        }
        if !(1..=3600).contains(&self.imap.poll_interval_seconds) {
            problems.push((
                "imap.poll_interval_seconds",
                "must be between 1 and 3600".into(),
            ));
        }
        if self
            .imap
            .move_to
            .as_deref()
            .is_some_and(|m| m.trim().is_empty())
        {
            problems.push(("imap.move_to", "must name a folder".into()));
        }
        if self.smtp.username.is_some() != self.smtp.password.is_some() {
            problems.push((
                "smtp.password",
                "smtp.username and smtp.password go together".into(),
            ));
        }
        if !(1..=64).contains(&self.smtp.pool_size) {
            problems.push(("smtp.pool_size", "must be between 1 and 64".into()));
        }
        if !(1..=600).contains(&self.smtp.timeout_seconds) {
            problems.push(("smtp.timeout_seconds", "must be between 1 and 600".into()));
        }
        problems
    }
}
