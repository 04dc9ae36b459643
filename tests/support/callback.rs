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
}

#[derive(Default)]
struct Inner {
    /// Every request that arrived, with whatever status it was answered.
    received: Vec<Value>,
    /// Answers for the next requests; 200 once empty.
    script: VecDeque<(u16, Option<u64>)>,
    bad_signatures: usize,
}

impl FakeCallback {
    pub async fn start(secret: &str) -> FakeCallback {
        let state = Arc::new(Shared {
            secret: secret.to_owned(),
            inner: Mutex::default(),
        });
        let app = Router::new()
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
    let mut inner = state.inner.lock().unwrap();
    if !signed {
        inner.bad_signatures += 1;
        return (
            StatusCode::UNAUTHORIZED,
            HeaderMap::new(),
            "bad signature".into(),
        );
    }
    let (status, retry_after) = inner.script.pop_front().unwrap_or((200, None));
    let mut request: Value = serde_json::from_slice(&body).unwrap();
    request["answered"] = status.into();
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
