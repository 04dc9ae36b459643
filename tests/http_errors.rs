//! Every error the HTTP server answers is the documented JSON
//! `{"error": {"code", "message"}}` with the right status: unknown routes, wrong
//! methods, malformed path ids, over-long targets; and the auth scheme is read
//! case-insensitively.

mod support;

use reqwest::Method;
use support::{ADMIN_TOKEN, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_error_is_the_documented_json() {
    let app = support::spawn(Backend::Sqlite).await;
    let long = format!("/api/v1/tickets?q={}", "x".repeat(10_000));
    let cases: [(Method, &str, u16, &str, &str); 6] = [
        (Method::GET, "/nowhere", 404, "not_found", "/nowhere"),
        (
            Method::GET,
            "/api/v1/nothing/here",
            404,
            "not_found",
            "/api/v1/nothing/here",
        ),
        (
            Method::DELETE,
            "/api/v1/tickets",
            405,
            "method_not_allowed",
            "DELETE",
        ),
        (
            Method::GET,
            "/api/v1/contacts/abc",
            400,
            "bad_request",
            "abc",
        ),
        (
            Method::POST,
            "/api/v1/messages/1x/retry",
            400,
            "bad_request",
            "1x",
        ),
        (Method::GET, &long, 414, "uri_too_long", "the limit is 8192"),
    ];
    for (method, path, status, code, names) in cases {
        let response = app
            .http
            .request(method.clone(), format!("{}{path}", app.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let label = format!("{method} {}", &path[..path.len().min(40)]);
        assert_eq!(response.status().as_u16(), status, "{label}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "application/json", "{label}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{label}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{label}: {message}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = support::spawn(Backend::Sqlite).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = app
            .http
            .get(format!("{}/api/v1/me", app.url))
            .header("authorization", format!("{scheme} {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
    for header in [
        format!("Basic {ADMIN_TOKEN}"),
        format!("Bearer{ADMIN_TOKEN}"),
    ] {
        let response = app
            .http
            .get(format!("{}/api/v1/me", app.url))
            .header("authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    app.stop().await;
}
