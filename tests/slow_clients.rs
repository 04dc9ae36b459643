//! What the server does with clients that misbehave on the wire: a client that
//! trickles its headers is cut off after `header_timeout_seconds`, one that stalls in
//! its body after `body_timeout_seconds`, oversized headers get 431; and CORS is
//! closed unless the config names an origin.

mod support;

use std::time::{Duration, Instant};

use support::{ADMIN_TOKEN, Backend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMITS: &str =
    "header_timeout_seconds = 1\nbody_timeout_seconds = 1\nmax_header_bytes = 8192";

async fn connect(app: &support::TestApp) -> TcpStream {
    TcpStream::connect(app.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Everything the server sends until it closes, or `None` if it keeps the socket
/// open past `patience`.
async fn until_closed(stream: &mut TcpStream, patience: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(patience, stream.read_to_end(&mut answer)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_and_oversized_requests_are_cut_off() {
    let app = support::spawn_full(Backend::Sqlite, LIMITS, |_| String::new()).await;

    // Headers a byte at a time, never finished: closed after the header timeout.
    let mut slow = connect(&app).await;
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = async {
        for _ in 0..40 {
            if slow.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), trickle)
        .await
        .ok();
    let answer = until_closed(&mut slow, Duration::from_secs(3)).await;
    let took = started.elapsed();
    assert!(answer.is_some(), "the slow client was never cut off");
    assert!(took < Duration::from_secs(5), "cut off after {took:?}");

    // An idle kept-alive connection goes the same way.
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut idle, Duration::from_secs(4))
        .await
        .expect("closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A body that stalls: answered, not waited on forever.
    let mut stalled = connect(&app).await;
    stalled
        .write_all(
            b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"token\":",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stalled, Duration::from_secs(4)).await;
    assert!(answer.is_some(), "a stalled body holds the connection");

    // Headers past the limit: 431, and the next client is served.
    let huge = reqwest::Client::new()
        .get(format!("{}/healthz", app.url))
        .header("x-padding", "p".repeat(10_000))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 431);
    assert_eq!(app.get("/api/v1/tickets", ADMIN_TOKEN).await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cors_is_closed_unless_an_origin_is_named() {
    let preflight = |app: &support::TestApp, origin: &str| {
        app.http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/tickets", app.url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let closed = support::spawn(Backend::Sqlite).await;
    let answer = preflight(&closed, "https://crm.example").await.unwrap();
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let listed = closed
        .http
        .get(format!("{}/api/v1/tickets", closed.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("origin", "https://crm.example")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert!(
        listed
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    closed.stop().await;

    let open = support::spawn_full(
        Backend::Sqlite,
        "cors_origins = [\"https://crm.example\"]",
        |_| String::new(),
    )
    .await;
    let answer = preflight(&open, "https://crm.example").await.unwrap();
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://crm.example"
    );
    assert!(
        answer.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert!(
        answer
            .headers()
            .get("access-control-allow-credentials")
            .is_none(),
        "no cookies"
    );
    let other = preflight(&open, "https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    open.stop().await;

    let wrong = switchboard::Config::parse(
        "[[agents]]\nname = \"a\"\ntoken = \"t-0123456789\"\n[server]\ncors_origins = [\"https://crm.example/app\"]\n",
        "test.toml",
        |_| None,
    );
    let message = wrong
        .map(|_| ())
        .expect_err("a path is not an origin")
        .to_string();
    assert!(message.contains("server.cors_origins[0]"), "{message}");
}
