//! The mail servers of the end-to-end tests (`scripts/with-mail`), checked over the
//! wire with raw IMAP and SMTP conversations: logins for any fresh user, delivery into
//! the Maildir that Dovecot serves, IDLE, SMTP delivery and the rejections asked for by
//! the recipient's name, TLS (implicit and STARTTLS) with the throwaway CA, and the
//! helper's `kick` and `change_uidvalidity`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use support::mail::{MailServer, PASSWORD, TLS_NAME};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How long one line from a server may take.
const LINE_WAIT: Duration = Duration::from_secs(5);

/// A line-oriented conversation over any stream.
struct Conversation<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conversation<S> {
    fn new(stream: S) -> Self {
        Conversation {
            io: BufReader::new(stream),
        }
    }

    /// The next line without its CRLF, or None at EOF. Panics after `wait`.
    async fn line_within(&mut self, wait: Duration) -> Option<String> {
        let mut line = String::new();
        let read = tokio::time::timeout(wait, self.io.read_line(&mut line))
            .await
            .unwrap_or_else(|_| panic!("no line from the server within {wait:?}"));
        match read {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
            // A server that closes the connection under us can surface as a reset.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("reading from the server: {e}"),
        }
    }

    async fn line(&mut self) -> String {
        self.line_within(LINE_WAIT)
            .await
            .expect("the server closed the connection")
    }

    async fn send(&mut self, text: &str) {
        let stream = self.io.get_mut();
        stream
            .write_all(format!("{text}\r\n").as_bytes())
            .await
            .unwrap();
        stream.flush().await.unwrap();
    }

    /// Sends `TAG COMMAND` and returns every line up to and including the tagged one.
    async fn imap(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(&format!("{tag} {command}")).await;
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Like `imap`, and asserts that the tagged answer is OK.
    async fn imap_ok(&mut self, tag: &str, command: &str) -> Vec<String> {
        let lines = self.imap(tag, command).await;
        assert!(
            lines.last().unwrap().starts_with(&format!("{tag} OK")),
            "{command}: {lines:#?}"
        );
        lines
    }

    /// Reads the IMAP greeting and logs in.
    async fn imap_login(&mut self, user: &str) {
        let greeting = self.line().await;
        assert!(greeting.starts_with("* OK"), "greeting: {greeting}");
        self.imap_ok("l1", &format!("LOGIN {user} {PASSWORD}"))
            .await;
    }

    /// One SMTP reply, all of its lines joined with newlines (`250-a`, `250 b`).
    async fn smtp_reply(&mut self) -> String {
        let mut reply = Vec::new();
        loop {
            let line = self.line().await;
            let last = line.as_bytes().get(3) != Some(&b'-');
            reply.push(line);
            if last {
                return reply.join("\n");
            }
        }
    }

    async fn smtp(&mut self, command: &str) -> String {
        self.send(command).await;
        self.smtp_reply().await
    }

    /// The stream, for a STARTTLS upgrade; nothing may be left unread.
    fn into_stream(self) -> S {
        assert!(
            self.io.buffer().is_empty(),
            "the server sent more before the TLS handshake"
        );
        self.io.into_inner()
    }
}

async fn connect(addr: &str) -> Conversation<TcpStream> {
    Conversation::new(TcpStream::connect(addr).await.unwrap())
}

async fn tls(
    mail: &MailServer,
    name: &str,
    stream: TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    TlsConnector::from(mail.tls_config())
        .connect(ServerName::try_from(name.to_string()).unwrap(), stream)
        .await
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Customer <customer@example.test>\r\n\
         To: support@example.test\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{subject}@example.test>\r\n\
         \r\n\
         {body}\r\n"
    )
    .into_bytes()
}

/// The UIDVALIDITY in a SELECT answer.
fn uidvalidity(select: &[String]) -> u32 {
    select
        .iter()
        .find_map(|line| {
            let rest = line.split_once("[UIDVALIDITY ")?.1;
            rest.split(']').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no UIDVALIDITY in {select:#?}"))
}

#[tokio::test]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn imap_logs_in_any_fresh_user_and_serves_what_was_delivered() {
    let mail = MailServer::from_env();
    let user = mail.fresh_user("login");
    let other = mail.fresh_user("login");
    assert_ne!(user, other);

    let mut imap = connect(mail.imap_addr()).await;
    let greeting = imap.line().await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    let answer = imap.imap("l0", &format!("LOGIN {user} wrong")).await;
    assert!(answer.last().unwrap().starts_with("l0 NO"), "{answer:#?}");
    imap.imap_ok("l1", &format!("LOGIN {user} {PASSWORD}"))
        .await;
    let select = imap.imap_ok("s1", "SELECT INBOX").await;
    assert!(select.contains(&"* 0 EXISTS".to_string()), "{select:#?}");
    imap.imap_ok("o1", "LOGOUT").await;

    let raw = message("first", "Hello from the test.");
    mail.deliver(&user, &raw);
    let mut imap = connect(mail.imap_addr()).await;
    imap.imap_login(&user).await;
    let select = imap.imap_ok("s2", "SELECT INBOX").await;
    assert!(select.contains(&"* 1 EXISTS".to_string()), "{select:#?}");
    let fetch = imap.imap_ok("f1", "UID FETCH 1:* (BODY.PEEK[])").await;
    assert!(
        fetch[0].starts_with("* 1 FETCH (UID 1 BODY[] {"),
        "{fetch:#?}"
    );
    assert!(fetch.contains(&"Subject: first".to_string()), "{fetch:#?}");
    assert!(fetch.contains(&"Hello from the test.".to_string()));

    // The other fresh user's mailbox is its own, and empty.
    let mut imap = connect(mail.imap_addr()).await;
    imap.imap_login(&other).await;
    let select = imap.imap_ok("s3", "SELECT INBOX").await;
    assert!(select.contains(&"* 0 EXISTS".to_string()), "{select:#?}");
}

#[tokio::test]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn idle_reports_a_new_delivery_within_3_seconds() {
    let mail = MailServer::from_env();
    let user = mail.fresh_user("idle");
    let mut imap = connect(mail.imap_addr()).await;
    imap.imap_login(&user).await;
    imap.imap_ok("s1", "SELECT INBOX").await;
    imap.send("i1 IDLE").await;
    let continuation = imap.line().await;
    assert!(continuation.starts_with('+'), "{continuation}");

    let delivered_at = Instant::now();
    mail.deliver(&user, &message("idle", "Wake up."));
    loop {
        let left = Duration::from_secs(3).saturating_sub(delivered_at.elapsed());
        let line = imap
            .line_within(left)
            .await
            .expect("the server closed the connection");
        if line == "* 1 EXISTS" {
            break;
        }
    }
    eprintln!("IDLE reported the delivery in {:?}", delivered_at.elapsed());
    imap.send("DONE").await;
    loop {
        let line = imap.line().await;
        if line.starts_with("i1 ") {
            assert!(line.starts_with("i1 OK"), "{line}");
            break;
        }
    }
}

/// Sends one message over a raw SMTP conversation; returns the reply to each RCPT.
async fn smtp_send<S: AsyncRead + AsyncWrite + Unpin>(
    smtp: &mut Conversation<S>,
    recipients: &[String],
    raw: &[u8],
) -> Vec<String> {
    let reply = smtp.smtp("MAIL FROM:<gateway@example.test>").await;
    assert!(reply.starts_with("250"), "MAIL: {reply}");
    let mut replies = Vec::new();
    for recipient in recipients {
        replies.push(smtp.smtp(&format!("RCPT TO:<{recipient}>")).await);
    }
    if replies.iter().any(|r| r.starts_with("250")) {
        let reply = smtp.smtp("DATA").await;
        assert!(reply.starts_with("354"), "DATA: {reply}");
        let text = String::from_utf8(raw.to_vec()).unwrap();
        for line in text.split_terminator("\r\n") {
            // Dot-stuffing (RFC 5321 4.5.2).
            let line = if line.starts_with('.') {
                format!(".{line}")
            } else {
                line.to_string()
            };
            smtp.send(&line).await;
        }
        let reply = smtp.smtp(".").await;
        assert!(reply.starts_with("250"), "end of DATA: {reply}");
    } else {
        let reply = smtp.smtp("RSET").await;
        assert!(reply.starts_with("250"), "RSET: {reply}");
    }
    replies
}

async fn smtp_hello(mail: &MailServer) -> Conversation<TcpStream> {
    let mut smtp = connect(mail.smtp_addr()).await;
    let greeting = smtp.smtp_reply().await;
    assert!(greeting.starts_with("220"), "{greeting}");
    let ehlo = smtp.smtp("EHLO client.example.test").await;
    assert!(ehlo.starts_with("250"), "{ehlo}");
    smtp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn smtp_delivers_into_the_recipients_imap_inbox() {
    let mail = MailServer::from_env();
    let user = mail.fresh_user("smtp");
    let raw = message(
        "smtp",
        "Line one.\r\n.A line that starts with a dot.\r\nEnd.",
    );
    let mut smtp = smtp_hello(&mail).await;
    let replies = smtp_send(&mut smtp, &[format!("{user}@example.test")], &raw).await;
    assert!(replies[0].starts_with("250"), "{replies:?}");
    assert!(smtp.smtp("QUIT").await.starts_with("221"));

    let delivered = mail.wait_for_delivered(&user, 1);
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&delivered[0]),
        String::from_utf8_lossy(&raw),
        "the SMTP server stores the message as sent, dot-unstuffed"
    );

    // Dovecot serves it.
    let mut imap = connect(mail.imap_addr()).await;
    imap.imap_login(&user).await;
    let select = imap.imap_ok("s1", "SELECT INBOX").await;
    assert!(select.contains(&"* 1 EXISTS".to_string()), "{select:#?}");
    let fetch = imap.imap_ok("f1", "FETCH 1 (BODY.PEEK[])").await;
    assert!(
        fetch.contains(&".A line that starts with a dot.".to_string()),
        "{fetch:#?}"
    );
}

#[tokio::test]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn smtp_refuses_reject_permanent_with_550_and_reject_temporary_with_451() {
    let mail = MailServer::from_env();
    let permanent = mail.fresh_user("reject-permanent");
    let temporary = mail.fresh_user("reject-temporary");
    let user = mail.fresh_user("accepted");
    let mut smtp = smtp_hello(&mail).await;
    let replies = smtp_send(
        &mut smtp,
        &[
            format!("{permanent}@example.test"),
            format!("{temporary}@example.test"),
            format!("{user}@example.test"),
        ],
        &message("mixed", "Only one recipient gets this."),
    )
    .await;
    assert!(replies[0].starts_with("550 5.1.1 "), "{replies:?}");
    assert!(
        replies[0].contains("permanent"),
        "a readable reason: {replies:?}"
    );
    assert!(replies[1].starts_with("451 4."), "{replies:?}");
    assert!(replies[2].starts_with("250"), "{replies:?}");

    // A message to a refused recipient alone is refused as a whole.
    let replies = smtp_send(
        &mut smtp,
        &[format!("{permanent}@example.test")],
        &message("refused", "Never delivered."),
    )
    .await;
    assert!(replies[0].starts_with("550"), "{replies:?}");

    assert_eq!(mail.wait_for_delivered(&user, 1).len(), 1);
    assert!(mail.delivered(&permanent).is_empty());
    assert!(mail.delivered(&temporary).is_empty());
}

#[tokio::test]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn tls_implicit_and_starttls_work_with_the_ca() {
    let mail = MailServer::from_env();
    let user = mail.fresh_user("tls");

    // Implicit TLS, by name and by IP address.
    for name in [TLS_NAME, "127.0.0.1"] {
        let stream = TcpStream::connect(mail.imaps_addr()).await.unwrap();
        let stream = tls(&mail, name, stream)
            .await
            .unwrap_or_else(|e| panic!("TLS handshake as {name}: {e}"));
        let mut imap = Conversation::new(stream);
        imap.imap_login(&user).await;
        imap.imap_ok("s1", "SELECT INBOX").await;
    }

    // Without the CA, the certificate is refused.
    let stream = TcpStream::connect(mail.imaps_addr()).await.unwrap();
    let untrusting = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let refused = TlsConnector::from(Arc::new(untrusting))
        .connect(ServerName::try_from(TLS_NAME).unwrap(), stream)
        .await;
    assert!(refused.is_err(), "a handshake without the CA succeeded");

    // STARTTLS on the plaintext IMAP port.
    let mut imap = connect(mail.imap_addr()).await;
    let greeting = imap.line().await;
    assert!(greeting.contains("STARTTLS"), "{greeting}");
    imap.imap_ok("t1", "STARTTLS").await;
    let stream = tls(&mail, TLS_NAME, imap.into_stream()).await.unwrap();
    let mut imap = Conversation::new(stream);
    imap.imap_ok("l1", &format!("LOGIN {user} {PASSWORD}"))
        .await;
    imap.imap_ok("s1", "SELECT INBOX").await;

    // STARTTLS on SMTP, then a delivery over it.
    let mut smtp = smtp_hello(&mail).await;
    let reply = smtp.smtp("STARTTLS").await;
    assert!(reply.starts_with("220"), "{reply}");
    let stream = tls(&mail, TLS_NAME, smtp.into_stream()).await.unwrap();
    let mut smtp = Conversation::new(stream);
    let ehlo = smtp.smtp("EHLO client.example.test").await;
    assert!(ehlo.starts_with("250"), "{ehlo}");
    let replies = smtp_send(
        &mut smtp,
        &[format!("{user}@example.test")],
        &message("over-tls", "Sent over STARTTLS."),
    )
    .await;
    assert!(replies[0].starts_with("250"), "{replies:?}");
    mail.wait_for_delivered(&user, 1);
}

#[tokio::test]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn kick_closes_a_logged_in_connection() {
    let mail = MailServer::from_env();
    let user = mail.fresh_user("kick");
    assert!(!mail.kick(&user), "kicked a user with no connection");

    let mut imap = connect(mail.imap_addr()).await;
    imap.imap_login(&user).await;
    imap.imap_ok("s1", "SELECT INBOX").await;
    assert!(mail.kick(&user), "no connection of {user} to kick");
    let mut seen = Vec::new();
    while let Some(line) = imap.line_within(Duration::from_secs(3)).await {
        seen.push(line);
    }
    assert!(
        seen.iter().all(|line| line.starts_with("* BYE")),
        "{seen:#?}"
    );
}

#[tokio::test]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn change_uidvalidity_changes_what_select_reports() {
    let mail = MailServer::from_env();
    let user = mail.fresh_user("uidvalidity");
    mail.deliver(&user, &message("kept", "Still here after the change."));

    let mut imap = connect(mail.imap_addr()).await;
    imap.imap_login(&user).await;
    let before = uidvalidity(&imap.imap_ok("s1", "SELECT INBOX").await);

    let changed = mail.change_uidvalidity(&user);
    assert_ne!(changed, before);
    // The connection that had the INBOX selected is told to log in again.
    imap.send("n1 NOOP").await;
    let mut seen = Vec::new();
    while let Some(line) = imap.line_within(Duration::from_secs(3)).await {
        seen.push(line);
    }
    assert!(
        seen.iter().any(|line| line.starts_with("* BYE")),
        "{seen:#?}"
    );

    let mut imap = connect(mail.imap_addr()).await;
    imap.imap_login(&user).await;
    let select = imap.imap_ok("s2", "SELECT INBOX").await;
    assert_eq!(uidvalidity(&select), changed, "{select:#?}");
    assert!(select.contains(&"* 1 EXISTS".to_string()), "{select:#?}");
}

#[tokio::test]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn delivered_lists_new_and_cur_oldest_first() {
    let mail = MailServer::from_env();
    let user = mail.fresh_user("order");
    assert!(mail.delivered(&user).is_empty());
    let messages: Vec<Vec<u8>> = (1..=12)
        .map(|i| message(&format!("m{i}"), "In order."))
        .collect();
    for raw in &messages[..6] {
        mail.deliver(&user, raw);
    }
    // A SELECT moves these to cur/ (and renames them).
    let mut imap = connect(mail.imap_addr()).await;
    imap.imap_login(&user).await;
    let select = imap.imap_ok("s1", "SELECT INBOX").await;
    assert!(select.contains(&"* 6 EXISTS".to_string()), "{select:#?}");
    imap.imap_ok("c1", "CLOSE").await;
    let cur = std::fs::read_dir(mail.maildir(&user).join("cur"))
        .unwrap()
        .count();
    assert_eq!(cur, 6, "Dovecot moved the messages to cur/");
    for raw in &messages[6..] {
        mail.deliver(&user, raw);
    }
    assert_eq!(mail.delivered(&user), messages);
}
