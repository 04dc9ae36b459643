//! A fake receiver for the API channel's reply callbacks: checks every request's
//! signature like a careful integrator would, records what arrived, and answers from
//! a script (e.g. 500, 500, then 200) so tests can play provider outages.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

#[derive(Clone)]
pub struct FakeCallback {
    url: String,
    state: Arc<Shared>,
}

struct Shared {
    secret: String,
    inner: Mutex<Inner>,
    /// Signalled when a held request arrives, and to let it go.
    held: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[derive(Default)]
struct Inner {
    /// Every request that arrived, with whatever status it was answered.
    received: Vec<Value>,
    /// Answers for the next requests; 200 once empty.
    script: VecDeque<(u16, Option<u64>)>,
    bad_signatures: usize,
    /// The next request is held unanswered until `release_held`.
    hold_next: bool,
}

impl FakeCallback {
    pub async fn start(secret: &str) -> FakeCallback {
        let state = Arc::new(Shared {
            secret: secret.to_owned(),
            inner: Mutex::default(),
            held: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
        });
        let app = Router::new()
            .route(
                "/files/receipt.txt",
                axum::routing::get(|| async { "file from a URL" }),
            )
            .route("/replies", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/replies", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeCallback { url, state }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next requests get these statuses (with an optional Retry-After in seconds).
    pub fn script(&self, answers: &[(u16, Option<u64>)]) {
        self.state
            .inner
            .lock()
            .unwrap()
            .script
            .extend(answers.iter().copied());
    }

    /// The next request will hang, like a provider that never answers.
    pub fn hold_next(&self) {
        self.state.inner.lock().unwrap().hold_next = true;
    }

    /// Waits until the held request arrived.
    pub async fn wait_for_held(&self) {
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.state.held.notified(),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the held request did not arrive; received {:?}",
                self.received()
            )
        });
    }

    pub fn release_held(&self) {
        self.state.release.notify_one();
    }

    pub fn received(&self) -> Vec<Value> {
        self.state.inner.lock().unwrap().received.clone()
    }

    pub fn bad_signatures(&self) -> usize {
        self.state.inner.lock().unwrap().bad_signatures
    }

    /// Requests answered 2xx: deliveries that counted.
    pub fn delivered(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| {
                r["answered"]
                    .as_u64()
                    .is_some_and(|s| (200..300).contains(&s))
            })
            .collect()
    }
}

async fn receive(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, String) {
    let mut mac = Hmac::<Sha256>::new_from_slice(state.secret.as_bytes()).unwrap();
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let signed = headers
        .get("x-switchboard-signature")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    let held = {
        let mut inner = state.inner.lock().unwrap();
        if !signed {
            inner.bad_signatures += 1;
            return (
                StatusCode::UNAUTHORIZED,
                HeaderMap::new(),
                "bad signature".into(),
            );
        }
        let hold = std::mem::take(&mut inner.hold_next);
        if hold {
            let mut request: Value = serde_json::from_slice(&body).unwrap();
            request["answered"] = "held".into();
            inner.received.push(request);
        }
        hold
    };
    if held {
        state.held.notify_one();
        state.release.notified().await;
        return (StatusCode::OK, HeaderMap::new(), "{}".into());
    }
    let mut inner = state.inner.lock().unwrap();
    let (status, retry_after) = inner.script.pop_front().unwrap_or((200, None));
    let mut request: Value = serde_json::from_slice(&body).unwrap();
    request["answered"] = status.into();
    request["received_at_ms"] = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64)
        .into();
    request["message_id_header"] = headers
        .get("x-switchboard-message-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .into();
    inner.received.push(request);
    let mut response_headers = HeaderMap::new();
    if let Some(seconds) = retry_after {
        response_headers.insert("retry-after", seconds.to_string().parse().unwrap());
    }
    let body = if status == 200 {
        format!("{{\"external_id\":\"cb-{}\"}}", inner.received.len())
    } else {
        format!("scripted failure {status}")
    };
    (
        StatusCode::from_u16(status).unwrap(),
        response_headers,
        body,
    )
}
