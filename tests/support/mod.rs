//! The shared harness of the end-to-end tests: a whole gateway on port 0 over a fresh
//! store (SQLite in a temporary directory, or a new PostgreSQL database), a fake
//! callback receiver for the API channel, and typed helpers.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod callback;
pub mod chat;
pub mod mail;
pub mod process;

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use switchboard::{App, Config};
use switchboard_core::ManualClock;
use switchboard_core::shutdown::ShutdownTrigger;

pub use callback::FakeCallback;

pub const SECRET: &str = "test-secret";
pub const ADMIN_TOKEN: &str = "admin-token-0123456789";
pub const AGENT_TOKEN: &str = "agent-token-0123456789";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub callback: FakeCallback,
    pub gateway: switchboard_core::Gateway,
    shutdown: Option<ShutdownTrigger>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The config it runs with, for a restart over the same store.
    config_text: String,
    dir: tempfile::TempDir,
}

/// Extra config appended to the test's base config.
pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, "").await
}

pub async fn spawn_with(backend: Backend, extra: &str) -> TestApp {
    spawn_at(backend, |_| extra.to_owned()).await
}

/// Like [`spawn_with`], for config that names the gateway's own URL (a public URL
/// that providers call back): `extra` gets it.
pub async fn spawn_at(backend: Backend, extra: impl FnOnce(&str) -> String) -> TestApp {
    spawn_full(backend, "", extra).await
}

/// Like [`spawn_at`], with more keys in `[server]`.
pub async fn spawn_full(
    backend: Backend,
    server: &str,
    extra: impl FnOnce(&str) -> String,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let extra = extra(&url);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let callback = FakeCallback::start(SECRET).await;
    let storage = match backend {
        Backend::Sqlite => format!(
            "backend = \"sqlite\"\ndata_dir = {:?}\nsqlite_synchronous = \"normal\"",
            dir.path().display().to_string()
        ),
        // Files in the database: what several nodes on one PostgreSQL need.
        Backend::Postgres => format!(
            "backend = \"postgres\"\ndata_dir = {:?}\npostgres_url = {:?}\nattachments = \"store\"",
            dir.path().display().to_string(),
            switchboard_core::store::testing::fresh_postgres_url()
                .await
                .unwrap()
        ),
    };
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
{server}

[storage]
{storage}

[tickets]
reopen_window_hours = 24

# Short leases: on PostgreSQL a node sends once the nodes counted each other, about
# a third of a lease after it starts.
[cluster]
lease_seconds = 1

[outbox]
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2
max_attempts = 5
poll_interval_ms = 20
send_timeout_seconds = 5
lease_seconds = 30

[[agents]]
name = "Ada Admin"
token = "{ADMIN_TOKEN}"
role = "admin"

[[agents]]
name = "Gus Agent"
token = "{AGENT_TOKEN}"

[channels.api]
kind = "api"
secret = "{SECRET}"
callback_url = "{callback}"
timeout_seconds = 5
{extra}
"#,
        callback = callback.url()
    );
    start(text, dir, callback, listener).await
}

async fn start(
    config_text: String,
    dir: tempfile::TempDir,
    callback: FakeCallback,
    listener: tokio::net::TcpListener,
) -> TestApp {
    start_on(config_text, dir, callback, listener, ManualClock::new()).await
}

async fn start_on(
    config_text: String,
    dir: tempfile::TempDir,
    callback: FakeCallback,
    listener: tokio::net::TcpListener,
    clock: ManualClock,
) -> TestApp {
    let config =
        Config::parse(&config_text, "test.toml", |_| None).unwrap_or_else(|e| panic!("{e}"));
    let app = App::build(config, Arc::new(clock.clone())).await.unwrap();
    let gateway = app.gateway.clone();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (trigger, shutdown) = switchboard_core::shutdown::channel();
    let server = tokio::spawn(app.run(listener, shutdown));
    TestApp {
        url,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        clock,
        callback,
        gateway,
        shutdown: Some(trigger),
        server: Some(server),
        config_text,
        dir,
    }
}

/// Reads a live feed (Server-Sent Events) until `until` appears in it (or fails after
/// 5 s); what it read.
pub async fn read_feed_until(feed: &mut reqwest::Response, until: &str) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !text.contains(until) {
        let chunk = tokio::time::timeout_at(deadline, feed.chunk())
            .await
            .unwrap_or_else(|_| panic!("{until:?} in time; got {text}"))
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

/// The `id:` lines of an event stream, in order.
pub fn event_ids(text: &str) -> Vec<i64> {
    text.lines()
        .filter_map(|line| line.strip_prefix("id:"))
        .map(|id| id.trim().parse().unwrap())
        .collect()
}

/// What a gateway's `/readyz` says of the cluster: this node, the nodes alive, and
/// the node running each poller.
pub async fn cluster_of(http: &reqwest::Client, url: &str) -> Value {
    let body: Value = http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["cluster"].clone()
}

/// A port nothing listens on now (for a gateway process, or a provider that is down).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A pushed message in the API channel's format.
pub fn message(external_id: &str, sender: &str, text: &str) -> Value {
    serde_json::json!({
        "external_id": external_id,
        "sender": {"id": sender, "name": format!("Customer {sender}")},
        "text": text,
    })
}

impl TestApp {
    /// Pushes a signed message; returns the status and the JSON answer.
    pub async fn push(&self, message: &Value) -> (u16, Value) {
        let body = message.to_string();
        self.push_raw(body.as_bytes(), Some(&sign(body.as_bytes())))
            .await
    }

    pub async fn push_raw(&self, body: &[u8], signature: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/webhooks/api", self.url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-switchboard-signature", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn ticket(&self, key: &str) -> Value {
        let (status, body) = self
            .get(&format!("/api/v1/tickets/{key}"), ADMIN_TOKEN)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A text reply an agent sends, which must be queued; the answer.
    pub async fn reply(&self, ticket: &str, text: &str) -> Value {
        let (status, body) = self
            .try_reply(ticket, &serde_json::json!({"text": text}))
            .await;
        assert_eq!(status, 202, "{body}");
        body
    }

    /// A reply the channel must refuse at once (`422 reply_refused`, nothing
    /// queued): the reason it gives.
    pub async fn refused_reply(&self, ticket: &str, body: &Value) -> String {
        let outbox = self.count("outbox").await;
        let (status, answer) = self.try_reply(ticket, body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["code"], "reply_refused", "{answer}");
        assert_eq!(
            self.count("outbox").await,
            outbox,
            "a refused reply was queued"
        );
        answer["error"]["message"].as_str().unwrap().to_owned()
    }

    /// A reply as an agent sends it (`{"text", "attachments"}`): the status and answer.
    pub async fn try_reply(&self, ticket: &str, body: &Value) -> (u16, Value) {
        self.send_json(
            reqwest::Method::POST,
            &format!("/api/v1/tickets/{ticket}/replies"),
            AGENT_TOKEN,
            body,
        )
        .await
    }

    /// Waits (up to 10 s) until the channel reports a problem on
    /// `GET /api/v1/channels`, and returns its message.
    pub async fn wait_for_channel_problem(&self, channel: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(problem) = self.channel_problem(channel).await {
                return problem;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "channel {channel} reported no problem"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to 10 s) until the channel reports a problem about `concern`, and
    /// checks that it shows wherever an operator looks: the channel list, `/readyz`
    /// (`degraded`, still 200) and the `switchboard_channel_problem` gauge. Returns
    /// its message.
    pub async fn wait_for_problem_everywhere(&self, channel: &str, concern: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let message = loop {
            let (_, channels) = self.get("/api/v1/channels", ADMIN_TOKEN).await;
            let found = channels
                .as_array()
                .and_then(|list| list.iter().find(|c| c["id"] == channel))
                .and_then(|c| c["problems"].as_array())
                .and_then(|problems| problems.iter().find(|p| p["concern"] == concern))
                .and_then(|p| p["message"].as_str().map(str::to_owned));
            if let Some(message) = found {
                break message;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "channel {channel} reported no {concern} problem: {channels}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let (status, ready) = self.get("/readyz", "").await;
        assert_eq!(status, 200, "{ready}");
        assert_eq!(ready["status"], "degraded", "{ready}");
        let listed = ready["channel_problems"][channel]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(listed.iter().any(|p| p["concern"] == concern), "{ready}");
        let metrics = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let gauge =
            format!("switchboard_channel_problem{{channel=\"{channel}\",concern=\"{concern}\"}} 1");
        assert!(metrics.contains(&gauge), "{gauge} missing from /metrics");
        message
    }

    /// The problem the channel reports now, if any.
    pub async fn channel_problem(&self, channel: &str) -> Option<String> {
        let (status, channels) = self.get("/api/v1/channels", ADMIN_TOKEN).await;
        assert_eq!(status, 200, "{channels}");
        let found = channels.as_array()?.iter().find(|c| c["id"] == channel)?;
        found["problem"]["message"].as_str().map(str::to_owned)
    }

    /// Counts rows in a table of the store.
    pub async fn count(&self, table: &'static str) -> i64 {
        self.gateway
            .store()
            .read(move |c| c.query(&format!("SELECT COUNT(*) FROM {table}"), &[]))
            .await
            .unwrap()[0]
            .i64(0)
            .unwrap()
    }

    /// The ticket and the message stored with this provider id on `channel`, if any.
    pub async fn stored(&self, channel: &str, external_id: &str) -> Option<(Value, Value)> {
        let (channel, id) = (channel.to_owned(), external_id.to_owned());
        let (message_id, ticket_id) = self
            .gateway
            .store()
            .read(move |c| {
                switchboard_core::store::queries::messages::find_external(c, &channel, &id)
            })
            .await
            .unwrap()?;
        let detail = self.ticket(&ticket_id.to_string()).await;
        Some((detail["ticket"].clone(), message_in(&detail, message_id)))
    }

    /// [`stored`](Self::stored), once it is (or fails after 10 s).
    pub async fn wait_for_stored(&self, channel: &str, external_id: &str) -> (Value, Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(found) = self.stored(channel, external_id).await {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{external_id} was not stored on {channel}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the message's delivery status is `status` (or fails after 10 s).
    pub async fn wait_for_delivery(&self, ticket: &str, message_id: i64, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let message = message_in(&self.ticket(ticket).await, message_id);
            if message["delivery_status"] == status {
                return message;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "message {message_id} still {} (reason {}), expected {status}",
                message["delivery_status"],
                message["failure_reason"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Another node on the same store, config and clock (its own data directory and
    /// address): several gateways behind one load balancer.
    pub async fn another_node(&self) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let callback = FakeCallback::start(SECRET).await;
        let dir = tempfile::tempdir().unwrap();
        let text = self
            .config_text
            .replace(self.callback.url(), callback.url())
            .replace(
                &format!("{:?}", self.dir.path().display().to_string()),
                &format!("{:?}", dir.path().display().to_string()),
            );
        start_on(text, dir, callback, listener, self.clock.clone()).await
    }

    /// What this node's `/readyz` says of the cluster ([`cluster_of`]).
    pub async fn cluster(&self) -> Value {
        cluster_of(&self.http, &self.url).await
    }

    /// Stops the gateway as a crash would: its tasks end where they are, nothing is
    /// given up or flushed (its leases run out by themselves).
    pub fn crash(mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        // Kept, not dropped: a trigger dropped reads as a shutdown.
        std::mem::forget(self.shutdown.take());
    }

    /// Stops the gateway the way SIGTERM does, and waits for it.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        if let Some(trigger) = self.shutdown.take() {
            trigger.fire();
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// Stops the gateway, runs `while_down`, and starts a new one over the same store
    /// and config.
    pub async fn restart(mut self, while_down: impl FnOnce()) -> TestApp {
        self.halt().await;
        while_down();
        let text = std::mem::take(&mut self.config_text);
        // The same address: a config may name it (a public URL providers call).
        let address = self.url.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind(&address).await.unwrap();
        let TestApp { dir, callback, .. } = self;
        start(text, dir, callback, listener).await
    }
}

/// The message with this id in a ticket detail (`{"ticket", "contact", "messages"}`).
pub fn message_in(detail: &Value, message_id: i64) -> Value {
    detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == message_id)
        .cloned()
        .unwrap_or_else(|| panic!("message {message_id} is not in {detail}"))
}

/// Runs each listed test against SQLite and PostgreSQL. The PostgreSQL half is
/// ignored, with the reason, outside scripts/with-postgres.
#[macro_export]
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[cfg_attr(not(postgres_tests), ignore = "needs PostgreSQL: run under scripts/with-postgres")]
                async fn $case() {
                    super::$case(super::support::Backend::Postgres).await;
                }
            )*
        }
    };
}
