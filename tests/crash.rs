//! Crashes: the real binary killed with SIGKILL in the middle of work, then started
//! again on the same store. Nothing it acknowledged may be lost, nothing stored twice,
//! and a reply whose send was cut off goes out after the restart; a Telegram poller
//! killed mid-batch resumes without losing or repeating an update.

#[allow(dead_code)] // each test binary uses a different part of the fakes
mod fakes;
mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fakes::telegram::FakeTelegram;
use serde_json::{Value, json};
use support::mail::MailServer;
use support::{ADMIN_TOKEN, Backend, FakeCallback, SECRET, message, sign};
use switchboard_core::store::{Store, StoreLocation, Synchronous};

struct Gateway {
    child: Child,
    url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a config for `backend`; returns its path and where its store lives.
async fn write_config(
    dir: &std::path::Path,
    backend: Backend,
    callback: &str,
    extra: &str,
) -> (std::path::PathBuf, StoreLocation) {
    let (storage, location) = match backend {
        Backend::Sqlite => (
            "backend = \"sqlite\"".to_owned(),
            StoreLocation::Sqlite {
                path: dir.join("data").join("switchboard.db"),
                synchronous: Synchronous::Full,
            },
        ),
        Backend::Postgres => {
            let url = switchboard_core::store::testing::fresh_postgres_url()
                .await
                .unwrap();
            let storage = format!("backend = \"postgres\"\npostgres_url = {url:?}");
            (
                storage,
                StoreLocation::Postgres {
                    url,
                    max_connections: 2,
                },
            )
        }
    };
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"

[storage]
data_dir = {data:?}
{storage}

[outbox]
lease_seconds = 2
send_timeout_seconds = 1
backoff_base_seconds = 0.05
poll_interval_ms = 20

[[agents]]
name = "Ada"
token = "{ADMIN_TOKEN}"
role = "admin"

[channels.api]
kind = "api"
secret = "{SECRET}"
callback_url = "{callback}"
{extra}
"#,
        port = free_port(),
        data = dir.join("data").display().to_string(),
    );
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, text).unwrap();
    (path, location)
}

impl Gateway {
    async fn start(config: &std::path::Path) -> Gateway {
        let text = std::fs::read_to_string(config).unwrap();
        let listen = text.lines().find(|l| l.starts_with("listen")).unwrap();
        let address = listen.split('"').nth(1).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // From here on, dropping the gateway (also on a failed assertion) kills it.
        let gateway = Gateway {
            child,
            url: format!("http://{address}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{}/readyz", gateway.url)).send().await
                && r.status() == 200
            {
                return gateway;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the gateway did not become ready");
    }

    fn kill(self) {
        drop(self);
    }
}

impl Drop for Gateway {
    /// SIGKILL: no graceful shutdown, no flush; also when a test fails halfway.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn push(http: &reqwest::Client, url: &str, body: &Value) -> Result<Value, String> {
    let text = body.to_string();
    let response = http
        .post(format!("{url}/webhooks/api"))
        .header("x-switchboard-signature", sign(text.as_bytes()))
        .body(text)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// A scratch directory and a callback receiver for one test.
async fn setup() -> (tempfile::TempDir, FakeCallback) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    (
        tempfile::tempdir().unwrap(),
        FakeCallback::start(SECRET).await,
    )
}

/// Message `n` of load worker `worker`: its id and body, the same when resent. Seven
/// customers, each in their own conversation.
fn load_message(worker: usize, n: usize) -> (String, Value) {
    let id = format!("k{worker}-{n}");
    let mut body = message(&id, &format!("customer{}", n % 7), "crash me");
    body["conversation"] = json!(format!("conv-{}", n % 7));
    (id, body)
}

async fn acknowledged_messages_survive_sigkill(backend: Backend) {
    let (dir, callback) = setup().await;
    let (config, location) = write_config(dir.path(), backend, callback.url(), "").await;
    let gateway = Gateway::start(&config).await;
    let http = reqwest::Client::new();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for worker in 0..16 {
        let (http, url, acknowledged) = (http.clone(), gateway.url.clone(), acknowledged.clone());
        workers.push(tokio::spawn(async move {
            for n in 0.. {
                let (id, body) = load_message(worker, n);
                match push(&http, &url, &body).await {
                    Ok(_) => acknowledged.lock().unwrap().push(id),
                    Err(_) => return n,
                }
            }
            unreachable!()
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    gateway.kill();
    let mut sent = 0;
    for worker in workers {
        sent = sent.max(worker.await.unwrap());
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 50,
        "only {} messages before the kill",
        acknowledged.len()
    );

    // Restart on the same store: every acknowledged message is there, once; resending
    // everything (as providers do after errors) stores nothing twice.
    let gateway = Gateway::start(&config).await;
    let acknowledged = Arc::new(acknowledged);
    let mut resenders = Vec::new();
    for worker in 0..16 {
        let (http, url, acknowledged) = (http.clone(), gateway.url.clone(), acknowledged.clone());
        resenders.push(tokio::spawn(async move {
            for n in 0..=sent {
                let (id, body) = load_message(worker, n);
                let answer = push(&http, &url, &body).await.unwrap();
                if acknowledged.contains(&id) {
                    assert_eq!(
                        answer["duplicate"], true,
                        "{id} was acknowledged before the crash but lost"
                    );
                }
            }
        }));
    }
    for resender in resenders {
        resender.await.unwrap();
    }
    gateway.kill();
    let store = Store::open(location).await.unwrap();
    let counts = store
        .read(|c| c.query("SELECT COUNT(*), COUNT(DISTINCT external_id), COUNT(DISTINCT ticket_id) FROM messages", &[]))
        .await
        .unwrap();
    let expected = 16 * (sent as i64 + 1);
    assert_eq!(
        counts[0].i64(0).unwrap(),
        expected,
        "every message stored exactly once"
    );
    assert_eq!(counts[0].i64(1).unwrap(), expected);
    assert_eq!(
        counts[0].i64(2).unwrap(),
        7,
        "one ticket per conversation, also across the crash"
    );
}

async fn a_send_cut_off_by_a_crash_goes_out_after_restart(backend: Backend) {
    let (dir, callback) = setup().await;
    let (config, _) = write_config(dir.path(), backend, callback.url(), "").await;
    let gateway = Gateway::start(&config).await;
    let http = reqwest::Client::new();
    let pushed = push(&http, &gateway.url, &message("s1", "ana", "Hi"))
        .await
        .unwrap();
    let reference = pushed["ticket_reference"].as_str().unwrap().to_owned();
    // The receiver holds the first callback until the gateway is dead.
    callback.hold_next();
    let queued: Value = http
        .post(format!(
            "{}/api/v1/tickets/{reference}/replies",
            gateway.url
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"text": "Answer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message_id = queued["message_id"].as_i64().unwrap();
    callback.wait_for_held().await;
    gateway.kill();
    callback.release_held();

    let gateway = Gateway::start(&config).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let detail: Value = http
            .get(format!("{}/api/v1/tickets/{reference}", gateway.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let message = detail["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == message_id)
            .unwrap()
            .clone();
        if message["delivery_status"] == "sent" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reply was not sent after the restart: {message}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = callback.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["message_id"], message_id);
    assert_eq!(
        delivered[0]["attempt"], 1,
        "the cut-off attempt was never recorded, so this counts as the first"
    );
    gateway.kill();
}

/// The store's message count, read beside the running gateway.
async fn stored_messages(store: &Store) -> i64 {
    store
        .read(|c| c.query("SELECT COUNT(*) FROM messages", &[]))
        .await
        .unwrap()[0]
        .i64(0)
        .unwrap()
}

async fn polled_telegram_updates_survive_sigkill(backend: Backend) {
    const UPDATES: i64 = 3000;
    let (dir, callback) = setup().await;
    let fake = FakeTelegram::start("123456:crash").await;
    let extra = format!(
        "[channels.telegram]\nkind = \"telegram\"\ntoken = \"123456:crash\"\nmode = \"polling\"\npoll_timeout_seconds = 1\napi_url = \"{}\"\n",
        fake.api_url()
    );
    let (config, location) = write_config(dir.path(), backend, callback.url(), &extra).await;
    for n in 1..=UPDATES {
        // Each update a new customer: a contact and a ticket each, so the work takes
        // long enough to be cut in the middle.
        let chat = 10_000 + n;
        fake.push_update(json!({"update_id": n, "message": {
            "message_id": 1, "date": 1_763_800_000, "text": format!("question {n}"),
            "chat": {"id": chat, "type": "private", "first_name": "C"},
            "from": {"id": chat, "is_bot": false, "first_name": "C"}}}));
    }
    let gateway = Gateway::start(&config).await;
    let store = Store::open(location).await.unwrap();
    while stored_messages(&store).await < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gateway.kill();
    let before = stored_messages(&store).await;
    assert!(
        before < UPDATES,
        "the kill came after everything was stored"
    );

    let gateway = Gateway::start(&config).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stored_messages(&store).await < UPDATES || fake.confirmed_offset() <= UPDATES {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {UPDATES} stored after the restart",
            stored_messages(&store).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.kill();
    let counts = store
        .read(|c| {
            c.query(
                "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM messages",
                &[],
            )
        })
        .await
        .unwrap();
    assert_eq!(
        counts[0].i64(0).unwrap(),
        UPDATES,
        "each update stored exactly once"
    );
    assert_eq!(counts[0].i64(1).unwrap(), UPDATES);
}

/// A support mailbox with `count` customer mails, and the channel reading it.
fn mailbox_with_mail(server: &MailServer, count: usize) -> (String, String) {
    let support = server.fresh_user("crash-support");
    for n in 0..count {
        let raw = format!(
            "From: Customer {n} <c{n}@customer.example>\r\nTo: support@example.test\r\nSubject: Question {n}\r\nMessage-ID: <q{n}@customer.example>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWhere is my deposit {n}?\r\n"
        );
        server.deliver(&support, raw.as_bytes());
    }
    let (imap_host, imap_port) = server.imap_addr().rsplit_once(':').unwrap();
    let (smtp_host, smtp_port) = server.smtp_addr().rsplit_once(':').unwrap();
    let channel = format!(
        "[channels.email]\nkind = \"email\"\naddress = \"{support}@example.test\"\n\n[channels.email.imap]\nhost = \"{imap_host}\"\nport = {imap_port}\ntls = \"none\"\nusername = \"{support}\"\npassword = \"test\"\ninitial_sync = \"all\"\n\n[channels.email.smtp]\nhost = \"{smtp_host}\"\nport = {smtp_port}\ntls = \"none\"\n"
    );
    (support, channel)
}

async fn count_distinct(store: &Store) -> (i64, i64) {
    let counts = store
        .read(|c| {
            c.query(
                "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM messages",
                &[],
            )
        })
        .await
        .unwrap();
    (counts[0].i64(0).unwrap(), counts[0].i64(1).unwrap())
}

async fn wait_for_messages(store: &Store, count: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stored_messages(store).await < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} stored",
            stored_messages(store).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn a_mailbox_import_killed_mid_batch_or_cut_mid_fetch_stores_each_mail_once() {
    const MAILS: i64 = 1500;
    let server = MailServer::from_env();
    let (support, channel) = mailbox_with_mail(&server, MAILS as usize);
    let (dir, callback) = setup().await;
    let (config, location) =
        write_config(dir.path(), Backend::Sqlite, callback.url(), &channel).await;
    let gateway = Gateway::start(&config).await;
    let store = Store::open(location).await.unwrap();
    while stored_messages(&store).await < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gateway.kill();
    let before = stored_messages(&store).await;
    assert!(before < MAILS, "the kill came after everything was stored");

    // Again, and this time the server drops the connection in the middle.
    let gateway = Gateway::start(&config).await;
    while stored_messages(&store).await < before + 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(server.kick(&support), "the gateway was connected");
    assert!(
        stored_messages(&store).await < MAILS,
        "the cut came after everything was stored"
    );
    wait_for_messages(&store, MAILS).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    gateway.kill();
    assert_eq!(
        count_distinct(&store).await,
        (MAILS, MAILS),
        "each mail stored exactly once"
    );
}

both_backends!(
    acknowledged_messages_survive_sigkill,
    a_send_cut_off_by_a_crash_goes_out_after_restart,
    polled_telegram_updates_survive_sigkill
);
