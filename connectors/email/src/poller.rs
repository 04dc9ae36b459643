//! IMAP in: log in, select the mailbox, import what is new, then IDLE (or poll when
//! the server has no IDLE) and import again; reconnect with backoff after any failure.
//!
//! The cursor is (UIDVALIDITY, last UID), kept in the store and advanced only after
//! the messages up to that UID are committed: after an outage of any length every new
//! message is fetched, and a crash at any point fetches again what was not committed
//! (Message-ID dedupe makes that harmless). A changed UIDVALIDITY voids the UIDs: the
//! mailbox is scanned again, and dedupe skips what is already stored.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use switchboard_core::backoff::Backoff;
use switchboard_core::gateway::Concern;
use switchboard_core::shutdown::Shutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::EmailConnector;
use crate::config::{ImapConfig, InitialSync, Tls};

/// The channel-state key of the cursor, `"{uidvalidity}:{last uid}"`.
pub const CURSOR_KEY: &str = "imap_cursor";
/// How many messages are fetched and committed together.
const CHUNK: usize = 25;
/// IDLE is re-issued well before the 29 minutes after which servers may drop it.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);

/// A connection, plain or TLS, as async-imap wants it.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}
type Stream = Box<dyn Io>;

pub(crate) async fn run(connector: &EmailConnector, shutdown: Shutdown) -> anyhow::Result<()> {
    let channel = connector.context.channel().as_str();
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
    loop {
        let started = std::time::Instant::now();
        match session(connector, &shutdown).await {
            Ok(()) => return Ok(()),
            Err(error) => {
                // A connection that worked for a while starts the backoff over.
                if started.elapsed() > Duration::from_secs(60) {
                    backoff.reset();
                }
                let problem = format!("IMAP {}: {error:#}", connector.config.imap.host);
                let pause = backoff.take();
                tracing::warn!(channel, %problem, retry_in = ?pause, "email import interrupted; reconnecting");
                connector
                    .context
                    .report_problem(Concern::Connection, Some(&problem));
                tokio::select! {
                    _ = shutdown.wait() => return Ok(()),
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// One connection's life: returns `Ok` only at shutdown.
async fn session(connector: &EmailConnector, shutdown: &Shutdown) -> anyhow::Result<()> {
    let config = &connector.config.imap;
    let mut session = connect(config).await?;
    let idle = session
        .capabilities()
        .await
        .context("CAPABILITY")?
        .has_str("IDLE");
    let mailbox = session
        .select(&config.mailbox)
        .await
        .with_context(|| format!("SELECT {}", config.mailbox))?;
    let validity = mailbox
        .uid_validity
        .ok_or_else(|| anyhow!("the server gave no UIDVALIDITY for {}", config.mailbox))?;
    let mut last = start_cursor(connector, &mut session, validity, mailbox.uid_next).await?;
    connector.context.report_problem(Concern::Connection, None);
    tracing::info!(channel = connector.context.channel().as_str(), mailbox = %config.mailbox, validity, last, idle, "reading the mailbox");
    loop {
        last = import_new(connector, &mut session, validity, last).await?;
        if shutdown.is_fired() {
            let _ = session.logout().await;
            return Ok(());
        }
        if idle {
            let mut handle = session.idle();
            handle.init().await.context("IDLE")?;
            let stopped = {
                let (wait, _interrupt) = handle.wait_with_timeout(IDLE_RENEW);
                tokio::select! {
                    result = wait => { result.context("IDLE")?; false }
                    _ = shutdown.wait() => true,
                }
            };
            session = handle.done().await.context("DONE")?;
            if stopped {
                let _ = session.logout().await;
                return Ok(());
            }
        } else {
            let interval = Duration::from_secs(config.poll_interval_seconds);
            tokio::select! {
                _ = shutdown.wait() => {
                    let _ = session.logout().await;
                    return Ok(());
                }
                _ = tokio::time::sleep(interval) => {}
            }
            session.noop().await.context("NOOP")?;
        }
    }
}

/// Connects and logs in, with TLS as configured.
async fn connect(config: &ImapConfig) -> anyhow::Result<Session<Stream>> {
    let address = (config.host.as_str(), config.port());
    let tcp = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(address))
        .await
        .map_err(|_| anyhow!("connecting timed out"))?
        .with_context(|| format!("cannot connect to {}:{}", config.host, config.port()))?;
    tcp.set_nodelay(true)?;
    let stream: Stream = match config.tls {
        Tls::None => Box::new(tcp),
        Tls::Implicit => Box::new(tls(config, tcp).await?),
        Tls::Starttls => {
            let mut client = Client::new(tcp);
            greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .context("STARTTLS")?;
            Box::new(tls(config, client.into_inner()).await?)
        }
    };
    let mut client = Client::new(stream);
    if config.tls != Tls::Starttls {
        greeting(&mut client).await?;
    }
    client
        .login(&config.username, config.password.expose())
        .await
        .map_err(|(error, _)| anyhow!("LOGIN as {} refused: {error}", config.username))
}

async fn greeting<T: Io>(client: &mut Client<T>) -> anyhow::Result<()> {
    client
        .read_response()
        .await
        .context("reading the greeting")?
        .ok_or_else(|| anyhow!("the server closed the connection before its greeting"))?;
    Ok(())
}

async fn tls(
    config: &ImapConfig,
    tcp: TcpStream,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &config.ca_file {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        for cert in
            CertificateDer::pem_file_iter(path).with_context(|| format!("imap.ca_file {path}"))?
        {
            roots
                .add(cert.with_context(|| format!("imap.ca_file {path}"))?)
                .with_context(|| format!("imap.ca_file {path}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(config.host.clone())
        .with_context(|| format!("{:?} is not a TLS server name", config.host))?;
    tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .context("TLS handshake")
}

/// Where to continue: the stored cursor, a rescan after a UIDVALIDITY change, or the
/// configured initial sync the first time.
async fn start_cursor(
    connector: &EmailConnector,
    session: &mut Session<Stream>,
    validity: u32,
    uid_next: Option<u32>,
) -> anyhow::Result<u32> {
    let channel = connector.context.channel().as_str();
    let stored = connector.context.load_state(CURSOR_KEY).await?;
    if let Some((stored_validity, last)) = stored.as_deref().and_then(parse_cursor) {
        if stored_validity == validity {
            return Ok(last);
        }
        tracing::warn!(
            channel,
            stored_validity,
            validity,
            "the mailbox's UIDVALIDITY changed: scanning it again (Message-ID dedupe skips what is stored)"
        );
        return Ok(0);
    }
    let top = match uid_next {
        Some(next) => next.saturating_sub(1),
        None => highest_uid(session).await?,
    };
    let last = match connector.config.imap.initial_sync {
        InitialSync::All => 0,
        InitialSync::New => top,
        InitialSync::Unseen => {
            let unseen: BTreeSet<u32> = session
                .uid_search("UNSEEN")
                .await
                .context("SEARCH UNSEEN")?
                .into_iter()
                .filter(|uid| *uid <= top)
                .collect();
            import_uids(connector, session, validity, unseen.into_iter().collect()).await?;
            top
        }
    };
    save_cursor(connector, validity, last).await?;
    Ok(last)
}

async fn highest_uid(session: &mut Session<Stream>) -> anyhow::Result<u32> {
    let all = session.uid_search("ALL").await.context("SEARCH ALL")?;
    Ok(all.into_iter().max().unwrap_or(0))
}

fn parse_cursor(value: &str) -> Option<(u32, u32)> {
    let (validity, last) = value.split_once(':')?;
    Some((validity.parse().ok()?, last.parse().ok()?))
}

async fn save_cursor(connector: &EmailConnector, validity: u32, last: u32) -> anyhow::Result<()> {
    connector
        .context
        .save_state(CURSOR_KEY, &format!("{validity}:{last}"))
        .await?;
    Ok(())
}

/// Imports every message above `last`; returns the new cursor.
async fn import_new(
    connector: &EmailConnector,
    session: &mut Session<Stream>,
    validity: u32,
    last: u32,
) -> anyhow::Result<u32> {
    let uids: BTreeSet<u32> = session
        .uid_search(format!("UID {}:*", last + 1))
        .await
        .context("UID SEARCH")?
        .into_iter()
        // `n:*` always matches the highest UID, even when it is below n.
        .filter(|uid| *uid > last)
        .collect();
    let uids: Vec<u32> = uids.into_iter().collect();
    let Some(&top) = uids.last() else {
        return Ok(last);
    };
    import_uids(connector, session, validity, uids).await?;
    Ok(top)
}

/// Fetches, commits and (after the commit) flags or moves the messages, chunk by
/// chunk, advancing the cursor after each chunk.
async fn import_uids(
    connector: &EmailConnector,
    session: &mut Session<Stream>,
    validity: u32,
    uids: Vec<u32>,
) -> anyhow::Result<()> {
    for chunk in uids.chunks(CHUNK) {
        let set = uid_set(chunk);
        let mut fetched: Vec<(u32, Vec<u8>)> = session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await
            .context("UID FETCH")?
            .try_filter_map(
                |fetch| async move { Ok(fetch.uid.zip(fetch.body().map(<[u8]>::to_vec))) },
            )
            .try_collect()
            .await
            .context("UID FETCH")?;
        fetched.sort_by_key(|(uid, _)| *uid);
        connector.import(&fetched).await?;
        let config = &connector.config.imap;
        if config.mark_seen {
            let _: Vec<_> = session
                .uid_store(&set, "+FLAGS (\\Seen)")
                .await
                .context("UID STORE \\Seen")?
                .try_collect()
                .await?;
        }
        if let Some(folder) = &config.move_to {
            session
                .uid_mv(&set, folder)
                .await
                .with_context(|| format!("UID MOVE to {folder}"))?;
        }
        let Some(&top) = chunk.last() else { continue };
        save_cursor(connector, validity, top).await?;
    }
    Ok(())
}

/// `1,2,5` as an IMAP sequence set.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
