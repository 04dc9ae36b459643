//! The real mail servers of the end-to-end tests, started by `scripts/with-mail` (which
//! `scripts/test` uses): Dovecot for IMAP (plaintext with STARTTLS, and implicit TLS)
//! and an SMTP server that delivers into the Maildirs that Dovecot serves, so that
//! what the gateway sends can be read back, and what a test delivers is what the
//! gateway's IMAP client sees.
//!
//! - Any user name logs in to IMAP with [`PASSWORD`], and has its own mailbox: take a
//!   new one per test with [`MailServer::fresh_user`]. Dovecot lower-cases user names,
//!   and the SMTP server and this helper do the same with local parts.
//! - The SMTP server takes mail for any address and files it under the local part (the
//!   domain does not matter). A local part that starts with `reject-permanent` is refused
//!   at RCPT with 550, one that starts with `reject-temporary` with 451. It offers
//!   STARTTLS and AUTH (any user, [`PASSWORD`]), and requires neither.
//! - Both servers' certificate, for `localhost` and `127.0.0.1`, comes from a CA made at
//!   start: trust [`MailServer::ca_path`] (or use [`MailServer::tls_config`]).
//!
//! Tests that need the servers carry
//! `#[cfg_attr(not(mail_tests), ignore = "needs the mail servers: scripts/with-mail starts them")]`
//! (`build.rs` sets `mail_tests` when `SWITCHBOARD_TEST_MAIL=1`).

use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The password of every IMAP (and SMTP AUTH) user.
pub const PASSWORD: &str = "test";
/// The name the servers' certificate is for (`127.0.0.1` works too).
pub const TLS_NAME: &str = "localhost";

/// How long [`MailServer::wait_for_delivered`] waits.
const DELIVERY_WAIT: Duration = Duration::from_secs(10);

static SERIAL: AtomicU64 = AtomicU64::new(0);

/// The mail servers that `scripts/with-mail` started, as its environment variables
/// describe them.
#[derive(Clone, Debug)]
pub struct MailServer {
    imap_addr: String,
    imaps_addr: String,
    ca_path: PathBuf,
    smtp_addr: String,
    mail_root: PathBuf,
    doveadm: Vec<String>,
}

impl MailServer {
    /// Reads `SWITCHBOARD_TEST_IMAP_ADDR`, `SWITCHBOARD_TEST_IMAPS_ADDR`,
    /// `SWITCHBOARD_TEST_MAIL_CA`, `SWITCHBOARD_TEST_SMTP_ADDR`,
    /// `SWITCHBOARD_TEST_MAIL_ROOT` and `SWITCHBOARD_TEST_DOVEADM`; panics, saying how to
    /// get them, when one is missing.
    pub fn from_env() -> MailServer {
        fn var(name: &str) -> String {
            match std::env::var(name) {
                Ok(value) if !value.is_empty() => value,
                _ => panic!(
                    "{name} is not set: this test needs the mail servers; run it under \
                     scripts/with-mail (scripts/test does), e.g. \
                     `scripts/with-mail cargo test --test mail_servers`"
                ),
            }
        }
        MailServer {
            imap_addr: var("SWITCHBOARD_TEST_IMAP_ADDR"),
            imaps_addr: var("SWITCHBOARD_TEST_IMAPS_ADDR"),
            ca_path: var("SWITCHBOARD_TEST_MAIL_CA").into(),
            smtp_addr: var("SWITCHBOARD_TEST_SMTP_ADDR"),
            mail_root: var("SWITCHBOARD_TEST_MAIL_ROOT").into(),
            doveadm: var("SWITCHBOARD_TEST_DOVEADM")
                .split_whitespace()
                .map(String::from)
                .collect(),
        }
    }

    /// IMAP, plaintext with STARTTLS offered (not required): `127.0.0.1:PORT`.
    pub fn imap_addr(&self) -> &str {
        &self.imap_addr
    }

    /// IMAP over implicit TLS: `127.0.0.1:PORT`.
    pub fn imaps_addr(&self) -> &str {
        &self.imaps_addr
    }

    /// The PEM file of the CA that signed both servers' certificate.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// SMTP: `127.0.0.1:PORT`.
    pub fn smtp_addr(&self) -> &str {
        &self.smtp_addr
    }

    /// The directory of all the users' mail: `ROOT/USER/Maildir` is USER's INBOX.
    pub fn mail_root(&self) -> &Path {
        &self.mail_root
    }

    /// A rustls client config (ring provider) that trusts only the servers' CA.
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.ca_path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.ca_path.display()))
        {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// A user name that no other call (in any test process of this run) returns:
    /// `PREFIX-PID-N-TIME`, lower-case. Its INBOX is created empty right away, so that
    /// later deliveries and IMAP logins find it. The prefix takes `a-z 0-9 . _ -`; start
    /// it with `reject-permanent` or `reject-temporary` for an address that the SMTP
    /// server refuses.
    /// The config of an email channel `[channels.email]` that reads `user`'s mailbox
    /// (its address `user@example.test`) and sends through the test SMTP server.
    pub fn channel_config(&self, user: &str, initial_sync: &str) -> String {
        let (imap_host, imap_port) = self.imap_addr().rsplit_once(':').unwrap();
        let (smtp_host, smtp_port) = self.smtp_addr().rsplit_once(':').unwrap();
        format!(
            r#"
[channels.email]
kind = "email"
address = "{user}@example.test"
display_name = "Example Support"

[channels.email.imap]
host = "{imap_host}"
port = {imap_port}
tls = "none"
username = "{user}"
password = "test"
initial_sync = "{initial_sync}"

[channels.email.smtp]
host = "{smtp_host}"
port = {smtp_port}
tls = "none"
timeout_seconds = 10
"#
        )
    }

    pub fn fresh_user(&self, prefix: &str) -> String {
        let prefix = prefix.to_ascii_lowercase();
        assert!(
            !prefix.is_empty()
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "fresh_user: use a prefix of a-z 0-9 . _ - (got {prefix:?})"
        );
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros();
        let user = format!(
            "{prefix}-{}-{}-{:x}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed),
            micros % (1 << 32)
        );
        self.inbox(&user);
        user
    }

    /// Puts a message into the user's INBOX the way an MTA delivering to a Maildir does:
    /// written into `tmp/`, owned by the mail user, then renamed into `new/`. Dovecot
    /// sees it at the next command or, in IDLE, within about a second.
    pub fn deliver(&self, user: &str, raw: &[u8]) {
        let (inbox, owner) = self.inbox(user);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let name = format!(
            "{}.M{}P{}Q{:010}.switchboard-test",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = inbox.join("tmp").join(&name);
        std::fs::write(&tmp, raw).unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
        std::os::unix::fs::chown(&tmp, Some(owner.0), Some(owner.1)).unwrap();
        std::fs::rename(&tmp, inbox.join("new").join(&name)).unwrap();
    }

    /// Every message in the user's INBOX (`new/` and `cur/`), oldest delivery first: what
    /// the SMTP server received for the user (byte for byte, as the client sent it after
    /// dot-unstuffing), and what [`MailServer::deliver`] put there. Empty for a user who
    /// never had mail.
    pub fn delivered(&self, user: &str) -> Vec<Vec<u8>> {
        let inbox = self.maildir(user);
        // Dovecot moves files from new/ to cur/ (renaming them) while we read: start
        // again when a file vanished between listing and reading.
        'again: for _ in 0..50 {
            let mut files = Vec::new();
            for sub in ["new", "cur"] {
                let entries = match std::fs::read_dir(inbox.join(sub)) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => panic!("listing {}: {e}", inbox.join(sub).display()),
                };
                for entry in entries {
                    let entry = entry.unwrap();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !name.starts_with('.') {
                        files.push((delivery_order(&name), entry.path()));
                    }
                }
            }
            files.sort();
            let mut messages = Vec::with_capacity(files.len());
            for (_, path) in files {
                match std::fs::read(&path) {
                    Ok(raw) => messages.push(raw),
                    Err(e) if e.kind() == ErrorKind::NotFound => continue 'again,
                    Err(e) => panic!("reading {}: {e}", path.display()),
                }
            }
            return messages;
        }
        panic!("{}: files kept moving while being read", inbox.display());
    }

    /// Waits (up to 10 s) until the user's INBOX holds at least `count` messages, and
    /// returns them all as [`MailServer::delivered`] does; otherwise panics, showing what
    /// did arrive and the end of the SMTP server's log.
    ///
    /// It blocks the thread. On a multi-thread tokio runtime it lets the runtime move
    /// this worker's other tasks elsewhere (`block_in_place`), so the code under test
    /// keeps running; on a `current_thread` runtime nothing else runs meanwhile: use
    /// `#[tokio::test(flavor = "multi_thread")]` when the sender runs on the test's
    /// runtime.
    pub fn wait_for_delivered(&self, user: &str, count: usize) -> Vec<Vec<u8>> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.poll_delivered(user, count))
            }
            _ => self.poll_delivered(user, count),
        }
    }

    fn poll_delivered(&self, user: &str, count: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + DELIVERY_WAIT;
        loop {
            let messages = self.delivered(user);
            if messages.len() >= count {
                return messages;
            }
            if Instant::now() >= deadline {
                let mut shown = String::new();
                for (i, raw) in messages.iter().enumerate() {
                    let text = String::from_utf8_lossy(raw);
                    let cut: String = text.chars().take(2000).collect();
                    shown.push_str(&format!("--- message {} ---\n{cut}\n", i + 1));
                }
                panic!(
                    "{user}: expected {count} message(s) within {DELIVERY_WAIT:?}, {} arrived\n\
                     {shown}--- end of the SMTP server's log ---\n{}",
                    messages.len(),
                    self.smtp_log_tail(30)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Drops every IMAP connection of the user (`doveadm kick`): the server sends
    /// `* BYE Server shutting down.` and closes them. Returns whether there was one.
    pub fn kick(&self, user: &str) -> bool {
        let output = self.doveadm(&["kick", &user.to_ascii_lowercase()]);
        match output.status.code() {
            Some(0) => true,
            Some(68) => false, // EX_NOUSER: "no users kicked"
            _ => panic!("doveadm kick {user} failed: {}", describe(&output)),
        }
    }

    /// Gives the user's INBOX a new UIDVALIDITY (`doveadm mailbox update
    /// --uid-validity`) and returns it. The messages stay; a client must drop the UIDs it
    /// kept. A connection that has the INBOX selected is closed by the server (`* BYE
    /// IMAP session state is inconsistent, please relogin.`); the next SELECT reports the
    /// new value.
    pub fn change_uidvalidity(&self, user: &str) -> u32 {
        let user = user.to_ascii_lowercase();
        self.inbox(&user);
        let old = self.uidvalidity(&user);
        let new = if old == u32::MAX { 1 } else { old + 1 };
        let output = self.doveadm(&[
            "mailbox",
            "update",
            "-u",
            &user,
            "--uid-validity",
            &new.to_string(),
            "INBOX",
        ]);
        assert!(
            output.status.success(),
            "doveadm mailbox update {user} failed: {}",
            describe(&output)
        );
        let now = self.uidvalidity(&user);
        assert_eq!(now, new, "the UIDVALIDITY of {user}'s INBOX did not change");
        now
    }

    /// The user's INBOX Maildir (it may not exist yet).
    pub fn maildir(&self, user: &str) -> PathBuf {
        let user = user.to_ascii_lowercase();
        assert!(
            !user.is_empty() && !user.starts_with('.') && !user.contains('/'),
            "not a usable user name: {user:?}"
        );
        self.mail_root.join(user).join("Maildir")
    }

    /// The UIDVALIDITY of the user's INBOX, as Dovecot has it.
    fn uidvalidity(&self, user: &str) -> u32 {
        let output = self.doveadm(&["mailbox", "status", "-u", user, "uidvalidity", "INBOX"]);
        let text = String::from_utf8_lossy(&output.stdout);
        text.split_once("uidvalidity=")
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "doveadm mailbox status {user}: no uidvalidity in {}",
                    describe(&output)
                )
            })
    }

    /// Creates the user's INBOX Maildir (`tmp`, `new`, `cur`) if missing, owned like the
    /// mail root (Dovecot's mail user); returns its path and that owner.
    fn inbox(&self, user: &str) -> (PathBuf, (u32, u32)) {
        let root = std::fs::metadata(&self.mail_root)
            .unwrap_or_else(|e| panic!("{}: {e}", self.mail_root.display()));
        let owner = (root.uid(), root.gid());
        let inbox = self.maildir(user);
        let home = inbox.parent().unwrap().to_path_buf();
        for dir in [
            home,
            inbox.clone(),
            inbox.join("tmp"),
            inbox.join("new"),
            inbox.join("cur"),
        ] {
            match std::fs::create_dir(&dir) {
                Ok(()) => std::os::unix::fs::chown(&dir, Some(owner.0), Some(owner.1)).unwrap(),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => panic!("creating {}: {e}", dir.display()),
            }
        }
        (inbox, owner)
    }

    fn doveadm(&self, args: &[&str]) -> std::process::Output {
        let (program, base) = self
            .doveadm
            .split_first()
            .expect("SWITCHBOARD_TEST_DOVEADM");
        Command::new(program)
            .args(base)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"))
    }

    /// The last lines of the SMTP server's log, which `scripts/with-mail` keeps beside
    /// the mail root; empty if there is none.
    fn smtp_log_tail(&self, lines: usize) -> String {
        let Some(log) = self.mail_root.parent().map(|dir| dir.join("smtp.log")) else {
            return String::new();
        };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Orders Maildir file names by delivery time: `SECS.MMICROS...` (what this helper, the
/// SMTP server and Dovecot write), then by the name without its `:2,FLAGS` part, which
/// Dovecot adds when it moves a message to `cur/`.
fn delivery_order(name: &str) -> (u64, u64, String) {
    let base = name.split(':').next().unwrap_or(name);
    let mut parts = base.splitn(2, '.');
    let secs = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let micros = parts
        .next()
        .and_then(|rest| rest.strip_prefix('M'))
        .map(|rest| {
            rest.bytes()
                .take_while(u8::is_ascii_digit)
                .collect::<Vec<_>>()
        })
        .and_then(|digits| String::from_utf8(digits).ok()?.parse().ok())
        .unwrap_or(0);
    (secs, micros, base.to_string())
}

fn describe(output: &std::process::Output) -> String {
    format!(
        "{}; stdout: {}; stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

/// A header's value in a raw email (first occurrence, unfolded).
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}
