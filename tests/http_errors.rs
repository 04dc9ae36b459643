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

/// Every answer carries the security headers, whatever route answered it: pages
/// their own strict policy, data a policy that runs nothing; the web chat's script
/// and files alone may be loaded by other sites; and no route but the chat's uploads
/// answers CORS, so other sites' scripts cannot read the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answer_carries_the_security_headers() {
    let app = support::spawn_with(
        Backend::Sqlite,
        "[channels.chat]\nkind = \"webchat\"\nsecret = \"chat-secret\"\nallowed_origins = [\"https://shop.example\"]\n",
    )
    .await;
    let get = |path: &str, token: Option<&str>| {
        let mut request = app.http.get(format!("{}{path}", app.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let cases: [(&str, Option<&str>, u16, &str, &str); 9] = [
        ("/healthz", None, 200, "sandbox", "same-origin"),
        ("/metrics", None, 200, "sandbox", "same-origin"),
        ("/api/v1/tickets", None, 401, "sandbox", "same-origin"),
        (
            "/api/v1/tickets",
            Some(ADMIN_TOKEN),
            200,
            "sandbox",
            "same-origin",
        ),
        ("/nowhere", None, 404, "sandbox", "same-origin"),
        ("/", None, 200, "script-src 'self'", "same-origin"),
        ("/docs/", None, 200, "script-src 'self'", "same-origin"),
        (
            "/webchat/chat/widget.js",
            None,
            200,
            "sandbox",
            "cross-origin",
        ),
        (
            "/webchat/chat/demo",
            None,
            200,
            "script-src 'self'",
            "same-origin",
        ),
    ];
    for (path, token, status, policy, resource_policy) in cases {
        let response = get(path, token).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let headers = response.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .unwrap_or_else(|| panic!("{path}: no {name}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        let csp = header("content-security-policy");
        assert!(csp.contains(policy), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        if let Some(framing) = headers.get("x-frame-options") {
            assert_eq!(framing, "DENY", "{path}");
        }
        assert_eq!(
            header("cross-origin-resource-policy"),
            resource_policy,
            "{path}"
        );
    }
    let preflight = app
        .http
        .request(Method::OPTIONS, format!("{}/api/v1/tickets", app.url))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        preflight.headers()
    );
    app.stop().await;
}

/// Guessing tokens: an address that presents wrong agent tokens past the limit (20 a
/// minute) is answered 429 with Retry-After, the right token included; agents at
/// work, who present the right one, never meet the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_address_guessing_tokens_is_held_off() {
    let app = support::spawn(Backend::Sqlite).await;
    let status = |token: &'static str| {
        let request = app
            .http
            .get(format!("{}/api/v1/tickets", app.url))
            .bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    for _ in 0..60 {
        assert_eq!(status(ADMIN_TOKEN).await.status(), 200);
    }
    for n in 0..21 {
        assert_eq!(status("guess-0123456789").await.status(), 401, "guess {n}");
    }
    let held = status(ADMIN_TOKEN).await;
    assert_eq!(held.status(), 429);
    let wait: u64 = held.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: serde_json::Value = held.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Signing in from there is held off too.
    let sign_in = app
        .http
        .post(format!("{}/api/v1/session", app.url))
        .header("origin", &app.url)
        .json(&serde_json::json!({"token": ADMIN_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), 429);
    app.stop().await;
}
