//! No secret leaks: the real binary, every channel configured with secrets that are
//! easy to spot, debug logging on, a token issued through the API, concurrent load
//! on every channel and the agent API, and traffic that makes every part of it speak
//! (good and bad signatures on every webhook, wrong and right agent tokens, a web
//! chat with a forged identity, sends that fail at providers that are down, pollers
//! that cannot log in). Then nothing it logged, answered or exposed as metrics, and no
//! `Debug` of its config, may contain any of the secrets.

mod support;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use support::chat::{Chat, ws_url};
use support::free_port;
use support::process::GatewayProcess;
use switchboard_core::{Secret, signature};

/// Every secret of the config: distinctive strings that appear nowhere else.
const SECRETS: &[&str] = &[
    "SEKRIT-agent-token-4b1d",
    "SEKRIT-api-secret-77aa",
    "SEKRIT-callback-key-9f0e",
    "123456:SEKRIT-telegram-token-c3d2",
    "SEKRIT-telegram-webhook-e5f6",
    "SEKRIT-whatsapp-access-0a1b",
    "SEKRIT-whatsapp-app-2c3d",
    "SEKRIT-whatsapp-verify-4e5f",
    "SEKRIT-twilio-auth-6a7b",
    "SEKRIT-imap-password-8c9d",
    "SEKRIT-smtp-password-0e1f",
    "SEKRIT-chat-secret-2a3b",
    "SEKRIT-chat-identity-4c5d",
];

fn config(port: u16, data: &std::path::Path, down: &str) -> String {
    let [
        agent,
        api,
        callback,
        telegram,
        telegram_hook,
        wa_access,
        wa_app,
        wa_verify,
        twilio,
        imap,
        smtp,
        chat,
        identity,
    ] = SECRETS
    else {
        unreachable!()
    };
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"

[storage]
data_dir = {data:?}

[outbox]
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2
max_attempts = 2
poll_interval_ms = 20

[[agents]]
name = "Ada"
token = "{agent}"
role = "admin"

[channels.api]
kind = "api"
secret = "{api}"
callback_url = "{down}/replies?key={callback}"
timeout_seconds = 2

[channels.telegram]
kind = "telegram"
token = "{telegram}"
webhook_secret = "{telegram_hook}"
api_url = "{down}"
timeout_seconds = 2

[channels.whatsapp]
kind = "whatsapp"
phone_number_id = "106540352242922"
access_token = "{wa_access}"
app_secret = "{wa_app}"
verify_token = "{wa_verify}"
api_url = "{down}"
timeout_seconds = 2

[channels.sms]
kind = "sms"
provider = "twilio"
public_url = "http://127.0.0.1:{port}"
from = "+15005550006"
timeout_seconds = 2

[channels.sms.twilio]
account_sid = "AC00000000000000000000000000000000"
auth_token = "{twilio}"
api_url = "{down}"

[channels.email]
kind = "email"
address = "support@example.test"

[channels.email.imap]
host = "127.0.0.1"
port = 9
tls = "none"
username = "support"
password = "{imap}"

[channels.email.smtp]
host = "127.0.0.1"
port = 9
tls = "none"
username = "support"
password = "{smtp}"

[channels.chat]
kind = "webchat"
secret = "{chat}"
identity_secret = "{identity}"
allowed_origins = ["https://shop.example"]
"#,
        data = data.display().to_string()
    )
}

/// Concurrent load: LOAD_WORKERS workers, LOAD_ROUNDS rounds each.
const LOAD_WORKERS: usize = 16;
const LOAD_ROUNDS: usize = 40;

/// One worker's rounds: a signed message (every third one signed wrongly), webhooks
/// of every provider with wrong signatures, agent requests with a wrong token and
/// with the issued one. The messages the API channel accepted, and every answer.
async fn load_worker(
    http: &reqwest::Client,
    url: &str,
    worker: usize,
    issued: &str,
) -> (usize, String) {
    let mut accepted = 0;
    let mut seen = String::new();
    for round in 0..LOAD_ROUNDS {
        let body = json!({
            "external_id": format!("load-{worker}-{round}"),
            "sender": {"id": format!("load-{worker}")},
            "text": format!("load {round}"),
        })
        .to_string();
        let signed = signature::sign_sha256(&Secret::new(SECRETS[1]), body.as_bytes());
        let signature = if round % 3 == 0 {
            "sha256=00"
        } else {
            signed.as_str()
        };
        let requests = [
            http.post(format!("{url}/webhooks/api"))
                .header("x-switchboard-signature", signature)
                .body(body),
            http.post(format!("{url}/webhooks/telegram"))
                .header("x-telegram-bot-api-secret-token", "wrong")
                .body("{\"update_id\": 1}"),
            http.post(format!("{url}/webhooks/whatsapp"))
                .header("x-hub-signature-256", "sha256=00")
                .body("{}"),
            http.post(format!("{url}/webhooks/sms"))
                .header("x-twilio-signature", "AAAA")
                .body("From=%2B15005550006&Body=hi"),
            http.get(format!("{url}/api/v1/tickets"))
                .bearer_auth(format!("wrong-{worker}")),
            http.get(format!("{url}/api/v1/tickets?limit=5"))
                .bearer_auth(issued),
        ];
        for (i, request) in requests.into_iter().enumerate() {
            let Ok(response) = request.send().await else {
                continue;
            };
            let status = response.status().as_u16();
            if i == 0 && status == 200 {
                accepted += 1;
            }
            seen.push_str(&format!(
                "load {worker}/{round}/{i}: {status} {}\n",
                response.text().await.unwrap_or_default()
            ));
        }
    }
    (accepted, seen)
}

/// Reads a pipe to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{what} shows the secret {secret}:\n{}",
            text.lines()
                .filter(|l| l.contains(secret))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_shows_in_logs_answers_metrics_or_debug_output() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    // Providers that are down: every call out fails, and the failures are logged.
    let down = format!("http://127.0.0.1:{}", free_port());
    let port = free_port();
    let path = dir.path().join("switchboard.toml");
    std::fs::write(&path, config(port, &dir.path().join("data"), &down)).unwrap();
    let mut command = GatewayProcess::command(&path);
    command
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut gateway = GatewayProcess::spawn(command, &format!("127.0.0.1:{port}"));
    // Read as it comes: under load the logs outgrow a pipe's buffer.
    let readers = [
        drain(gateway.child.stdout.take().unwrap()),
        drain(gateway.child.stderr.take().unwrap()),
    ];
    gateway.ready().await;
    let url = gateway.url.clone();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // Every answer the gateway gives, as "what: status body" lines.
    let mut answers = String::new();
    let mut record = async |what: &str, request: reqwest::RequestBuilder| {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        answers.push_str(&format!("{what}: {status} {body}\n"));
        body
    };

    // Webhooks, signed wrongly and rightly.
    let body = json!({"external_id": "m1", "sender": {"id": "u1"}, "text": "hello"}).to_string();
    let good = signature::sign_sha256(&Secret::new(SECRETS[1]), body.as_bytes());
    for (name, signature) in [("api bad", "sha256=00"), ("api good", good.as_str())] {
        let request = http
            .post(format!("{url}/webhooks/api"))
            .header("x-switchboard-signature", signature)
            .body(body.clone());
        record(name, request).await;
    }
    for (path, header) in [
        (
            "/webhooks/telegram",
            ("x-telegram-bot-api-secret-token", "wrong"),
        ),
        ("/webhooks/whatsapp", ("x-hub-signature-256", "sha256=00")),
        ("/webhooks/sms", ("x-twilio-signature", "AAAA")),
    ] {
        let request = http
            .post(format!("{url}{path}"))
            .header(header.0, header.1)
            .body("{}");
        record(path, request).await;
    }
    let verify = "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1";
    record(verify, http.get(format!("{url}{verify}"))).await;

    // The agent API with wrong and right tokens, and a reply that fails at the
    // callback (whose URL carries a key).
    let tickets = format!("{url}/api/v1/tickets");
    record("wrong token", http.get(&tickets).bearer_auth("wrong-token")).await;
    let list = record("tickets", http.get(&tickets).bearer_auth(SECRETS[0])).await;
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let reference = list["tickets"][0]["reference"]
        .as_str()
        .unwrap_or_else(|| panic!("{list}"))
        .to_owned();
    let reply = http
        .post(format!("{tickets}/{reference}/replies"))
        .bearer_auth(SECRETS[0])
        .json(&json!({"text": "we are on it"}));
    record("reply", reply).await;
    // The reply fails (the callback is down) and its reason is shown to agents.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ticket = http
        .get(format!("{tickets}/{reference}"))
        .bearer_auth(SECRETS[0]);
    let detail = record("ticket", ticket).await;
    assert!(detail.contains("failure_reason"), "{detail}");
    for path in ["/api/v1/channels", "/readyz", "/api/v1/openapi.json"] {
        record(
            path,
            http.get(format!("{url}{path}")).bearer_auth(SECRETS[0]),
        )
        .await;
    }

    // The web chat: a session, a message, a forged identity.
    let chat_url = ws_url(&url, "chat");
    let (mut chat, welcome) = Chat::start(&chat_url, json!({"type": "hello"})).await;
    answers.push_str(&format!("welcome: {welcome}\n"));
    let (ack, message) = chat.say("c1", "hello from the chat").await;
    answers.push_str(&format!("ack: {ack} {message}\n"));
    chat.close().await;
    let mut forged = Chat::open(&chat_url).await;
    forged
        .send(&json!({"type": "hello", "identity": {"user_id": "u1", "signature": "00"}}))
        .await;
    let refused = forged.next().await;
    answers.push_str(&format!("forged identity: {refused:?}\n"));

    // A token issued through the API is a secret too: shown once, in its answer.
    let issued = http
        .post(format!("{url}/api/v1/agents/Ada/tokens"))
        .bearer_auth(SECRETS[0])
        .json(&json!({"label": "load"}))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 201);
    let issued: serde_json::Value = issued.json().await.unwrap();
    let issued = issued["token"].as_str().unwrap().to_owned();

    // Load: every kind of request at once, many times over, right and wrong.
    let mut load = tokio::task::JoinSet::new();
    for worker in 0..LOAD_WORKERS {
        let (http, url, issued) = (http.clone(), url.clone(), issued.clone());
        load.spawn(async move { load_worker(&http, &url, worker, &issued).await });
    }
    let mut stored = 0;
    while let Some(worker) = load.join_next().await {
        let (accepted, seen) = worker.unwrap();
        stored += accepted;
        answers.push_str(&seen);
    }
    assert!(
        stored >= LOAD_WORKERS * LOAD_ROUNDS / 2,
        "the load reached the store: {stored} accepted"
    );

    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("switchboard_"), "{metrics}");

    // Let the pollers fail a few times (IMAP and getMe against closed ports).
    tokio::time::sleep(Duration::from_secs(1)).await;
    gateway.stop();
    let logs: String = readers.map(|r| r.join().unwrap()).concat();
    assert!(
        logs.contains("DEBUG"),
        "debug logging ran: {}",
        &logs[..logs.len().min(500)]
    );
    assert!(logs.len() > 2_000, "the gateway logged little: {logs}");
    // The paths that handle secrets did speak: the Bot API call (its URL holds the
    // bot token), the callback (its query holds a key), the mailbox login.
    for spoken in ["getMe", "/replies?", "IMAP"] {
        assert!(logs.contains(spoken), "nothing logged about {spoken}");
    }

    assert_no_secret("the logs", &logs);
    assert_no_secret("the answers", &answers);
    assert_no_secret("/metrics", &metrics);
    for (what, text) in [
        ("the logs", &logs),
        ("the answers", &answers),
        ("/metrics", &metrics),
    ] {
        assert!(!text.contains(&issued), "{what} show the issued token");
    }

    // And the config's Debug output, as a panic or a log line would print it.
    let parsed =
        switchboard::Config::parse(&config(port, dir.path(), &down), "switchboard.toml", |_| {
            None
        })
        .unwrap();
    assert_no_secret(
        "the config's Debug output",
        &format!("{parsed:?} {parsed:#?}"),
    );
}
