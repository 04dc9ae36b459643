//! Crashes: the real binary killed with SIGKILL in the middle of work, then started
//! again on the same store. Nothing it acknowledged may be lost (api webhooks, WhatsApp
//! notifications of one or several messages, SMS texts), nothing stored twice, and a reply whose
//! send was cut off goes out after the restart; a Telegram poller killed mid-batch
//! resumes without losing or repeating an update. Three nodes on one PostgreSQL, one
//! of them killed under load: the same, with the poller taken over by another node.

#[allow(dead_code)] // each test binary uses a different part of the fakes
mod fakes;
mod support;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fakes::telegram::{FakeTelegram, private_message};
use fakes::twilio;
use fakes::whatsapp::{PHONE_NUMBER_ID, envelope, meta_json, signature};
use serde_json::{Value, json};
use support::chat::{Chat, ws_url};
use support::mail::MailServer;
use support::process::GatewayProcess;
use support::{ADMIN_TOKEN, Backend, FakeCallback, SECRET, cluster_of, free_port, message, sign};
use switchboard_core::store::{Store, StoreLocation, Synchronous};

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
            let storage =
                format!("backend = \"postgres\"\npostgres_url = {url:?}\nattachments = \"store\"");
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

# A killed node's pollers are taken over a second later.
[cluster]
lease_seconds = 1

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

/// The binary on `config`, at the address the config listens on.
async fn start(config: &std::path::Path) -> GatewayProcess {
    let text = std::fs::read_to_string(config).unwrap();
    let listen = text.lines().find(|l| l.starts_with("listen")).unwrap();
    let address = listen.split('"').nth(1).unwrap();
    start_node(&(config.to_owned(), address.to_owned())).await
}

/// Sends a webhook; the answer's body when the gateway acknowledged it with 200.
async fn deliver(request: reqwest::RequestBuilder) -> Result<Vec<u8>, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    Ok(body.to_vec())
}

/// A signed api-channel webhook carrying `body`.
fn api_webhook(http: &reqwest::Client, url: &str, body: &Value) -> reqwest::RequestBuilder {
    let text = body.to_string();
    http.post(format!("{url}/webhooks/api"))
        .header("x-switchboard-signature", sign(text.as_bytes()))
        .body(text)
}

async fn push(http: &reqwest::Client, url: &str, body: &Value) -> Result<Value, String> {
    let answer = deliver(api_webhook(http, url, body)).await?;
    serde_json::from_slice(&answer).map_err(|e| e.to_string())
}

/// A scratch directory and a callback receiver for one test.
async fn setup() -> (tempfile::TempDir, FakeCallback) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    (
        tempfile::tempdir().unwrap(),
        FakeCallback::start(SECRET).await,
    )
}

/// Message `n` of load worker `worker`, the same when resent. Seven customers, each in
/// their own conversation.
fn load_message(worker: usize, n: usize) -> Value {
    let mut body = message(
        &format!("k{worker}-{n}"),
        &format!("customer{}", n % 7),
        "crash me",
    );
    body["conversation"] = json!(format!("conv-{}", n % 7));
    body
}

/// Request `n` of load worker `worker` to the gateway at a URL: the same bytes when
/// resent, as a provider's retry.
trait LoadRequest: Fn(&str, usize, usize) -> reqwest::RequestBuilder + Clone + Send + 'static {}

impl<F: Fn(&str, usize, usize) -> reqwest::RequestBuilder + Clone + Send + 'static> LoadRequest
    for F
{
}

const LOAD_WORKERS: usize = 16;

/// How many requests the gateway has acknowledged when it is killed, at least.
const ACKNOWLEDGED_BEFORE_KILL: usize = 200;

/// `LOAD_WORKERS` workers send their requests 0, 1, 2, ... back to back until the
/// gateway is SIGKILLed under them. Returns the (worker, n) acknowledged and the highest
/// `n` a worker had sent when its request failed.
async fn flood_until_killed(
    gateway: GatewayProcess,
    request: impl LoadRequest,
) -> (HashSet<(usize, usize)>, usize) {
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let mut workers = Vec::new();
    for worker in 0..LOAD_WORKERS {
        let (request, url, acknowledged) =
            (request.clone(), gateway.url.clone(), acknowledged.clone());
        workers.push(tokio::spawn(async move {
            for n in 0.. {
                match deliver(request(&url, worker, n)).await {
                    Ok(_) => acknowledged.lock().unwrap().insert((worker, n)),
                    Err(_) => return n,
                };
            }
            unreachable!()
        }));
    }
    // Kill once a fair number are acknowledged, not after a fixed time: a cold
    // debug-build gateway on a loaded machine may answer only a few in the first second,
    // and a kill before it has answered many would test little.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < ACKNOWLEDGED_BEFORE_KILL {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} requests acknowledged in 60 s",
            acknowledged.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gateway.kill();
    let mut sent = 0;
    for worker in workers {
        sent = sent.max(worker.await.unwrap());
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    (acknowledged, sent)
}

/// Sends again, worker by worker in parallel, the requests 0..=`sent` of each load
/// worker that `again` picks; every one must be acknowledged. Returns the answers.
async fn resend(
    url: &str,
    request: impl LoadRequest,
    sent: usize,
    again: impl Fn(usize, usize) -> bool + Clone + Send + Sync + 'static,
) -> HashMap<(usize, usize), Vec<u8>> {
    let mut resenders = Vec::new();
    for worker in 0..LOAD_WORKERS {
        let (request, url, again) = (request.clone(), url.to_owned(), again.clone());
        resenders.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for n in (0..=sent).filter(|&n| again(worker, n)) {
                let answer = deliver(request(&url, worker, n)).await;
                let answer = answer.unwrap_or_else(|e| panic!("{worker}/{n} resent: {e}"));
                answers.push(((worker, n), answer));
            }
            answers
        }));
    }
    let mut answers = HashMap::new();
    for resender in resenders {
        answers.extend(resender.await.unwrap());
    }
    answers
}

async fn acknowledged_messages_survive_sigkill(backend: Backend) {
    let (dir, callback) = setup().await;
    let (config, location) = write_config(dir.path(), backend, callback.url(), "").await;
    let http = reqwest::Client::new();
    let request = move |url: &str, worker, n| api_webhook(&http, url, &load_message(worker, n));
    let gateway = start(&config).await;
    let (acknowledged, sent) = flood_until_killed(gateway, request.clone()).await;

    // Restart on the same store: every acknowledged message is there, once; resending
    // everything (as providers do after errors) stores nothing twice.
    let gateway = start(&config).await;
    let answers = resend(&gateway.url, request, sent, |_, _| true).await;
    for key in &acknowledged {
        let answer: Value = serde_json::from_slice(&answers[key]).unwrap();
        assert_eq!(
            answer["duplicate"], true,
            "{key:?} was acknowledged before the crash but lost"
        );
    }
    gateway.kill();
    let store = Store::open(location).await.unwrap();
    let expected = (LOAD_WORKERS * (sent + 1)) as i64;
    assert_eq!(
        count_distinct(&store).await,
        (expected, expected),
        "every message stored exactly once"
    );
    assert_eq!(
        distinct_tickets(&store).await,
        7,
        "one ticket per conversation, also across the crash"
    );
}

const WHATSAPP_APP_SECRET: &str = "crash-app-secret";
/// Customers of the WhatsApp load.
const WHATSAPP_CUSTOMERS: usize = 7;

/// The wamids of notification `n` of load worker `worker`: one to three messages, so
/// that some notifications are batches.
fn wamids(worker: usize, n: usize) -> Vec<String> {
    (0..1 + n % 3)
        .map(|i| format!("wamid.crash-{worker}-{n}-{i}"))
        .collect()
}

/// Notification `n` of load worker `worker`: its messages come from consecutive
/// customers, each with their contact, as Meta batches them.
fn whatsapp_notification(worker: usize, n: usize) -> Value {
    let wa_id = |i: usize| format!("1650555{:04}", (n + i) % WHATSAPP_CUSTOMERS);
    let wamids = wamids(worker, n);
    let messages: Vec<Value> = wamids
        .iter()
        .enumerate()
        .map(|(i, wamid)| {
            json!({"from": wa_id(i), "id": wamid, "timestamp": "1763800000", "type": "text",
                "text": {"body": format!("crash me {worker}/{n}/{i}")}})
        })
        .collect();
    let contacts: Vec<Value> = (0..wamids.len())
        .map(|i| json!({"profile": {"name": format!("Customer {}", wa_id(i))}, "wa_id": wa_id(i)}))
        .collect();
    envelope(
        PHONE_NUMBER_ID,
        json!({"contacts": contacts, "messages": messages}),
    )
}

/// A notification as Meta posts it: serialized once, those bytes signed.
fn whatsapp_webhook(http: &reqwest::Client, url: &str, body: &Value) -> reqwest::RequestBuilder {
    let bytes = meta_json(body);
    http.post(format!("{url}/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            signature(WHATSAPP_APP_SECRET, &bytes),
        )
        .body(bytes)
}

/// Stored copies of each message on a channel, by provider id.
async fn copies(store: &Store, channel: &'static str) -> HashMap<String, i64> {
    let rows = store
        .read(move |c| {
            c.query(
                &format!(
                    "SELECT external_id, COUNT(*) FROM messages WHERE channel = '{channel}' \
                     GROUP BY external_id"
                ),
                &[],
            )
        })
        .await
        .unwrap();
    rows.iter()
        .map(|row| (row.string(0).unwrap(), row.i64(1).unwrap()))
        .collect()
}

async fn acknowledged_whatsapp_notifications_survive_sigkill(backend: Backend) {
    let (dir, callback) = setup().await;
    // Inbound text only: nothing calls the Graph API.
    let extra = format!(
        r#"[channels.whatsapp]
kind = "whatsapp"
phone_number_id = "{PHONE_NUMBER_ID}"
access_token = "crash-token"
app_secret = "{WHATSAPP_APP_SECRET}"
verify_token = "crash-verify"
api_url = "http://127.0.0.1:9"
"#
    );
    let (config, location) = write_config(dir.path(), backend, callback.url(), &extra).await;
    let http = reqwest::Client::new();
    let request =
        move |url: &str, worker, n| whatsapp_webhook(&http, url, &whatsapp_notification(worker, n));
    let gateway = start(&config).await;
    let (acknowledged, sent) = flood_until_killed(gateway, request.clone()).await;

    // Restart on the same store: every acknowledged message is there, once, before
    // anything is resent (the answers carry no duplicate flag to tell).
    let gateway = start(&config).await;
    let store = Store::open(location).await.unwrap();
    let stored = copies(&store, "whatsapp").await;
    for &(worker, n) in &acknowledged {
        for wamid in wamids(worker, n) {
            assert_eq!(
                stored.get(&wamid),
                Some(&1),
                "{wamid} was acknowledged before the crash"
            );
        }
    }
    // Meta retries what was not acknowledged: some of it was committed before the
    // kill, and none of it may be stored twice.
    let acknowledged = Arc::new(acknowledged);
    resend(&gateway.url, request, sent, move |worker, n| {
        !acknowledged.contains(&(worker, n))
    })
    .await;
    gateway.kill();
    let expected = (0..LOAD_WORKERS)
        .flat_map(|worker| (0..=sent).flat_map(move |n| wamids(worker, n)))
        .collect::<HashSet<_>>();
    let stored = copies(&store, "whatsapp").await;
    assert_eq!(
        stored.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "every message of every notification stored"
    );
    assert!(
        stored.values().all(|&count| count == 1),
        "a message stored twice"
    );
    // Every customer who wrote (a slow start may leave the last ones out) has one.
    let customers = store
        .read(|c| c.query("SELECT COUNT(DISTINCT conversation) FROM messages", &[]))
        .await
        .unwrap()[0]
        .i64(0)
        .unwrap();
    assert!(customers > 1 && customers <= WHATSAPP_CUSTOMERS as i64);
    assert_eq!(
        distinct_tickets(&store).await,
        customers,
        "one ticket per customer, also across the crash"
    );
}

const TWILIO_ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "crash-auth-token";
/// What Twilio calls: a proxy's address, not the gateway's own.
const SMS_PUBLIC_URL: &str = "https://sms.example.com";

/// The MessageSid of text `n` of load worker `worker`.
fn sms_sid(worker: usize, n: usize) -> String {
    format!("SM{:032x}", (worker << 32) | n)
}

/// Text `n` of load worker `worker`, as Twilio posts it (the same when retried),
/// signed over the public URL.
fn sms_webhook(
    http: &reqwest::Client,
    url: &str,
    worker: usize,
    n: usize,
) -> reqwest::RequestBuilder {
    let from = format!("+1650555{:04}", n % 7);
    let mut params = twilio::inbound_sms(TWILIO_ACCOUNT, &from, "+15017122661", "crash me", &[]);
    let sid = sms_sid(worker, n);
    for (name, value) in &mut params {
        if matches!(name.as_str(), "MessageSid" | "SmsSid" | "SmsMessageSid") {
            value.clone_from(&sid);
        }
    }
    let signature = twilio::signature(
        TWILIO_TOKEN,
        &format!("{SMS_PUBLIC_URL}/webhooks/sms"),
        &params,
    );
    http.post(format!("{url}/webhooks/sms"))
        .header("x-twilio-signature", signature)
        .form(&params)
}

async fn acknowledged_texts_survive_sigkill(backend: Backend) {
    let (dir, callback) = setup().await;
    // Inbound only: nothing calls Twilio.
    let extra = format!(
        r#"[channels.sms]
kind = "sms"
provider = "twilio"
public_url = "{SMS_PUBLIC_URL}"
from = "+15017122661"

[channels.sms.twilio]
account_sid = "{TWILIO_ACCOUNT}"
auth_token = "{TWILIO_TOKEN}"
api_url = "http://127.0.0.1:9"
"#
    );
    let (config, location) = write_config(dir.path(), backend, callback.url(), &extra).await;
    let http = reqwest::Client::new();
    let request = move |url: &str, worker, n| sms_webhook(&http, url, worker, n);
    let gateway = start(&config).await;
    let (acknowledged, sent) = flood_until_killed(gateway, request.clone()).await;

    // Every acknowledged text is stored once before anything is resent; then Twilio
    // retries everything, and nothing is stored twice.
    let gateway = start(&config).await;
    let store = Store::open(location).await.unwrap();
    let stored = copies(&store, "sms").await;
    for &(worker, n) in &acknowledged {
        assert_eq!(
            stored.get(&sms_sid(worker, n)),
            Some(&1),
            "{worker}/{n} was acknowledged before the crash"
        );
    }
    resend(&gateway.url, request, sent, |_, _| true).await;
    gateway.kill();
    let stored = copies(&store, "sms").await;
    assert_eq!(stored.len(), LOAD_WORKERS * (sent + 1), "every text stored");
    assert!(
        stored.values().all(|&count| count == 1),
        "a text stored twice"
    );
    assert_eq!(distinct_tickets(&store).await, 7, "one ticket per customer");
}

async fn a_send_cut_off_by_a_crash_goes_out_after_restart(backend: Backend) {
    let (dir, callback) = setup().await;
    let (config, _) = write_config(dir.path(), backend, callback.url(), "").await;
    let gateway = start(&config).await;
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

    let gateway = start(&config).await;
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
    let fake = FakeTelegram::start("7000000001:crash").await;
    let extra = fake.polling_channel();
    let (config, location) = write_config(dir.path(), backend, callback.url(), &extra).await;
    for n in 1..=UPDATES {
        // Each update a new customer: a contact and a ticket each, so the work takes
        // long enough to be cut in the middle.
        fake.push_update(private_message(n, 10_000 + n, &format!("question {n}")));
    }
    let gateway = start(&config).await;
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

    let gateway = start(&config).await;
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
    let channel = server.channel_config(&support, "all");
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

/// Tickets in the store: one per conversation.
async fn distinct_tickets(store: &Store) -> i64 {
    store
        .read(|c| c.query("SELECT COUNT(DISTINCT ticket_id) FROM messages", &[]))
        .await
        .unwrap()[0]
        .i64(0)
        .unwrap()
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
    let gateway = start(&config).await;
    let store = Store::open(location).await.unwrap();
    while stored_messages(&store).await < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gateway.kill();
    let before = stored_messages(&store).await;
    assert!(before < MAILS, "the kill came after everything was stored");

    // Again, and this time the server drops the connection in the middle.
    let gateway = start(&config).await;
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

const CHAT_CHANNEL: &str = r#"
[channels.chat]
kind = "webchat"
secret = "crash-chat-secret"
allowed_origins = ["https://shop.example"]
limits = { messages_per_minute = 100000, connections_per_minute = 100000 }
"#;

/// Chats of the web chat load.
const CHATS: usize = 8;

/// Customer message `n` of chat `chat`, the same when the widget sends it again.
fn chat_message(n: usize) -> Value {
    json!({"type": "message", "id": format!("m{n}"), "text": format!("crash me {n}")})
}

/// Web chat customers write back to back (each message after the last one's `ack`),
/// and an agent answers each conversation once, until SIGKILL in mid-conversation.
/// After the restart every widget reconnects with its session and sends again what
/// it has no `ack` for, as the widget does: every acknowledged message keeps its
/// number, none is stored twice, every conversation's log counts up by one with no
/// gap, the replies queued before the crash are in it once, and a widget that
/// resumes from nothing gets each entry exactly once.
async fn chat_messages_survive_sigkill(backend: Backend) {
    let (dir, callback) = setup().await;
    let (config, location) = write_config(dir.path(), backend, callback.url(), CHAT_CHANNEL).await;
    let gateway = start(&config).await;
    let url = ws_url(&gateway.url, "chat");
    let acked: Arc<Mutex<HashMap<(usize, usize), i64>>> = Arc::default();
    let mut sessions = Vec::new();
    let mut workers = Vec::new();
    for chat in 0..CHATS {
        let (mut socket, welcome) = Chat::start(&url, json!({"type": "hello"})).await;
        sessions.push(welcome["token"].as_str().unwrap().to_owned());
        let (acked, api) = (acked.clone(), gateway.url.clone());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for n in 0.. {
                socket.send(&chat_message(n)).await;
                let ack = loop {
                    match socket.next_within(Duration::from_secs(5)).await {
                        Ok(Some(frame)) if frame["type"] == "ack" => break frame,
                        Ok(Some(_)) => continue,
                        _ => return n,
                    }
                };
                acked
                    .lock()
                    .unwrap()
                    .insert((chat, n), ack["seq"].as_i64().unwrap());
                if n == 2 {
                    let reference = ack["reference"].as_str().unwrap();
                    let _ = http
                        .post(format!("{api}/api/v1/tickets/{reference}/replies"))
                        .bearer_auth(ADMIN_TOKEN)
                        .json(&json!({"text": format!("reply to chat {chat}")}))
                        .send()
                        .await;
                }
            }
            unreachable!()
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < CHATS * 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "too little was acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    gateway.kill();
    let mut sent = 0;
    for worker in workers {
        sent = sent.max(worker.await.unwrap());
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());

    let gateway = start(&config).await;
    let url = ws_url(&gateway.url, "chat");
    for (chat, token) in sessions.iter().enumerate() {
        let (mut socket, _) = Chat::start(&url, json!({"type": "hello", "token": token})).await;
        for n in 0..=sent {
            socket.send(&chat_message(n)).await;
            let ack = socket.until("ack").await;
            assert_eq!(ack["id"], format!("m{n}"));
            if let Some(seq) = acked.get(&(chat, n)) {
                assert_eq!(
                    ack["seq"], *seq,
                    "chat {chat} message {n} changed its number"
                );
            }
        }
        socket.close().await;
    }
    let store = Store::open(location.clone()).await.unwrap();
    let inbound = (CHATS * (sent + 1)) as i64;
    let customer_messages = store
        .read(|c| {
            c.query(
                "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM messages WHERE direction = 'inbound'",
                &[],
            )
        })
        .await
        .unwrap();
    assert_eq!(
        (
            customer_messages[0].i64(0).unwrap(),
            customer_messages[0].i64(1).unwrap()
        ),
        (inbound, inbound),
        "every customer message stored once"
    );
    // The replies queued before the crash go out after it, each into its log once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pending = store
            .read(|c| c.query("SELECT COUNT(*) FROM outbox WHERE state <> 'sent'", &[]))
            .await
            .unwrap()[0]
            .i64(0)
            .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pending} replies still queued"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = store
        .read(|c| {
            c.query(
                "SELECT l.conversation, COUNT(*), MIN(l.seq), MAX(l.seq),
                        SUM(CASE WHEN m.direction = 'outbound' THEN 1 ELSE 0 END),
                        (SELECT COUNT(*) FROM messages m2 WHERE m2.channel = 'chat'
                           AND m2.conversation = l.conversation AND m2.direction <> 'note')
                 FROM conversation_log l JOIN messages m ON m.id = l.message_id
                 GROUP BY l.conversation",
                &[],
            )
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), CHATS);
    for row in &logs {
        let (entries, first, last) = (
            row.i64(1).unwrap(),
            row.i64(2).unwrap(),
            row.i64(3).unwrap(),
        );
        assert_eq!(
            (first, last),
            (1, entries),
            "numbers count up by one without gaps"
        );
        assert_eq!(
            entries,
            row.i64(5).unwrap(),
            "every message of the conversation is logged"
        );
        assert!(row.i64(4).unwrap() <= 1, "a reply logged twice");
    }
    // A widget that resumes from nothing gets every entry once, in order.
    let (mut socket, welcome) = Chat::start(
        &url,
        json!({"type": "hello", "token": sessions[0], "last_seq": 0}),
    )
    .await;
    let head = welcome["last_seq"].as_i64().unwrap();
    for seq in 1..=head {
        assert_eq!(socket.expect("message").await["seq"], seq);
    }
    socket.quiet_for(Duration::from_millis(200)).await;
    gateway.kill();
}

/// Copies of `config` for `count` nodes: each its own port and data directory, all
/// on the config's store.
fn node_configs(config: &std::path::Path, count: usize) -> Vec<(std::path::PathBuf, String)> {
    let text = std::fs::read_to_string(config).unwrap();
    let dir = config.parent().unwrap();
    (0..count)
        .map(|i| {
            let address = format!("127.0.0.1:{}", free_port());
            let data = dir.join(format!("node{i}"));
            let text: String = text
                .lines()
                .map(|line| {
                    if line.starts_with("listen") {
                        format!("listen = {address:?}")
                    } else if line.starts_with("data_dir") {
                        format!("data_dir = {:?}", data.display().to_string())
                    } else {
                        line.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            let path = dir.join(format!("node{i}.toml"));
            std::fs::write(&path, text).unwrap();
            (path, address)
        })
        .collect()
}

async fn start_node(config: &(std::path::PathBuf, String)) -> GatewayProcess {
    let mut command = GatewayProcess::command(&config.0);
    command.env("RUST_LOG", "warn").stdout(Stdio::null());
    GatewayProcess::start(command, &config.1).await
}

/// The node that runs the Telegram poller, as a node's `/readyz` says.
async fn poller_of(http: &reqwest::Client, url: &str) -> Option<String> {
    cluster_of(http, url).await["pollers"]["poller:telegram"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
async fn three_nodes_one_killed_under_load() {
    const NODES: usize = 3;
    const UPDATES: i64 = 1500;
    const RACES: usize = 30;
    let (dir, callback) = setup().await;
    let fake = FakeTelegram::start("7000000001:nodes").await;
    let extra = fake.polling_channel();
    let (config, location) =
        write_config(dir.path(), Backend::Postgres, callback.url(), &extra).await;
    let configs = node_configs(&config, NODES);
    for n in 1..=UPDATES {
        fake.push_update(private_message(n, 20_000 + n, &format!("question {n}")));
    }
    let mut nodes = Vec::new();
    for config in &configs {
        nodes.push(Some(start_node(config).await));
    }
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| n.as_ref().unwrap().url.clone())
        .collect();
    let http = reqwest::Client::new();

    // Two messages of one new conversation at two nodes at once: one ticket each time.
    let races = (0..RACES).map(|k| {
        let (http, a, b) = (
            http.clone(),
            urls[k % NODES].clone(),
            urls[(k + 1) % NODES].clone(),
        );
        async move {
            let first = racer(k, "a");
            let second = racer(k, "b");
            let (x, y) = tokio::join!(push(&http, &a, &first), push(&http, &b, &second));
            x.unwrap();
            y.unwrap();
        }
    });
    futures::future::join_all(races).await;

    // Load on every node; agents reply through every node.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let references = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for worker in 0..LOAD_WORKERS {
        let (http, url, stop, acknowledged, references) = (
            http.clone(),
            urls[worker % NODES].clone(),
            stop.clone(),
            acknowledged.clone(),
            references.clone(),
        );
        workers.push(tokio::spawn(async move {
            for n in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return n;
                }
                match push(&http, &url, &load_message(worker, n)).await {
                    Ok(answer) => {
                        acknowledged.lock().unwrap().insert((worker, n));
                        if n < 7 {
                            let reference = answer["ticket_reference"].as_str().unwrap().to_owned();
                            references.lock().unwrap().push(reference);
                        }
                    }
                    Err(_) => return n,
                }
            }
            unreachable!()
        }));
    }
    let accepted = Arc::new(Mutex::new(Vec::<i64>::new()));
    let replier = {
        let (http, urls, stop, references, accepted) = (
            http.clone(),
            urls.clone(),
            stop.clone(),
            references.clone(),
            accepted.clone(),
        );
        tokio::spawn(async move {
            for i in 0usize.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                let reference = {
                    let references = references.lock().unwrap();
                    if references.is_empty() {
                        continue;
                    }
                    references[i % references.len()].clone()
                };
                let answer = http
                    .post(format!(
                        "{}/api/v1/tickets/{reference}/replies",
                        urls[i % NODES]
                    ))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"text": format!("answer {i}")}))
                    .send()
                    .await;
                if let Ok(answer) = answer
                    && answer.status() == 202
                    && let Ok(body) = answer.json::<Value>().await
                {
                    accepted
                        .lock()
                        .unwrap()
                        .push(body["message_id"].as_i64().unwrap());
                }
            }
        })
    };
    let store = Store::open(location).await.unwrap();
    while acknowledged.lock().unwrap().len() < 300 || accepted.lock().unwrap().len() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // SIGKILL the node that runs the poller, in the middle of all of it.
    let holder = poller_of(&http, &urls[0])
        .await
        .expect("a node polls the bot");
    let mut dead = None;
    for (i, url) in urls.iter().enumerate() {
        if cluster_of(&http, url).await["node"] == holder.as_str() {
            dead = Some(i);
        }
    }
    let dead = dead.expect("the poller runs on one of the nodes");
    let killed = std::time::Instant::now();
    nodes[dead].take().unwrap().kill();
    let alive = &urls[(dead + 1) % NODES];
    let taken_by = loop {
        match poller_of(&http, alive).await {
            Some(node) if node != holder => break node,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    println!(
        "the dead node's poller was taken over after {:?}",
        killed.elapsed()
    );
    assert_ne!(taken_by, holder);
    tokio::time::sleep(Duration::from_millis(500)).await;
    nodes[dead] = Some(start_node(&configs[dead]).await);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = 0;
    for worker in workers {
        sent = sent.max(worker.await.unwrap());
    }
    replier.await.unwrap();

    // Providers send again what was not acknowledged, to any node: each acknowledged
    // message was stored once, and nothing is stored twice.
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    let resent = (0..LOAD_WORKERS).map(|worker| {
        let (http, url) = (http.clone(), urls[(worker + 1) % NODES].clone());
        async move {
            let mut answers = Vec::new();
            for n in 0..=sent {
                answers.push((
                    (worker, n),
                    push(&http, &url, &load_message(worker, n)).await.unwrap(),
                ));
            }
            answers
        }
    });
    for ((worker, n), answer) in futures::future::join_all(resent)
        .await
        .into_iter()
        .flatten()
    {
        if acknowledged.contains(&(worker, n)) {
            assert_eq!(
                answer["duplicate"], true,
                "{worker}/{n} was acknowledged but lost"
            );
        }
    }
    let api: HashMap<String, i64> = store
        .read(|c| {
            c.query(
                "SELECT external_id, COUNT(*) FROM messages
                 WHERE channel = 'api' AND direction = 'inbound' GROUP BY external_id",
                &[],
            )
        })
        .await
        .unwrap()
        .iter()
        .map(|row| (row.string(0).unwrap(), row.i64(1).unwrap()))
        .collect();
    assert_eq!(api.len(), LOAD_WORKERS * (sent + 1) + 2 * RACES);
    assert!(api.values().all(|&c| c == 1), "an api message stored twice");
    for k in 0..RACES {
        let conversation = format!("race-{k}");
        let tickets = store
            .read(move |c| {
                c.query_one(
                    "SELECT COUNT(DISTINCT ticket_id) FROM messages WHERE conversation = $1",
                    &[conversation.as_str().into()],
                )
            })
            .await
            .unwrap()
            .unwrap()
            .i64(0)
            .unwrap();
        assert_eq!(tickets, 1, "race {k} split into {tickets} tickets");
    }

    // Every Telegram update stored once, confirmed, by whichever node polled.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while copies(&store, "telegram").await.len() < UPDATES as usize
        || fake.confirmed_offset() <= UPDATES
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the updates were not all stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(copies(&store, "telegram").await.values().all(|&c| c == 1));
    let offsets = fake.offsets();
    assert!(
        offsets.windows(2).all(|w| w[0] <= w[1]),
        "the offset went back"
    );

    // Every reply accepted went out; one cut off by the kill may go out again (with
    // the same idempotency key), no other twice.
    let accepted = std::mem::take(&mut *accepted.lock().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        let mut delivered: HashMap<i64, usize> = HashMap::new();
        for d in callback.delivered() {
            *delivered
                .entry(d["message_id"].as_i64().unwrap())
                .or_default() += 1;
        }
        if accepted.iter().all(|id| delivered.contains_key(id)) {
            break delivered;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replies not delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let twice = delivered.values().filter(|&&c| c > 1).count();
    println!(
        "{} acknowledged inbound, {} replies accepted, {twice} delivered twice after the kill",
        acknowledged.len(),
        accepted.len()
    );
    assert!(twice <= 5, "{twice} replies delivered twice");
    for node in nodes.into_iter().flatten() {
        node.kill();
    }
}

/// Message `side` of race `k`: a new customer in a new conversation.
fn racer(k: usize, side: &str) -> Value {
    let mut body = message(
        &format!("race-{k}-{side}"),
        &format!("racer{k}"),
        "first words",
    );
    body["conversation"] = json!(format!("race-{k}"));
    body
}

both_backends!(
    chat_messages_survive_sigkill,
    acknowledged_messages_survive_sigkill,
    acknowledged_whatsapp_notifications_survive_sigkill,
    acknowledged_texts_survive_sigkill,
    a_send_cut_off_by_a_crash_goes_out_after_restart,
    polled_telegram_updates_survive_sigkill
);
