//! The agent API end to end: authentication and roles, errors in one format, ticket
//! list and updates, contacts, the live feed, the OpenAPI document, and operations
//! endpoints.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, AGENT_TOKEN, Backend, event_ids, message, read_feed_until, spawn};

async fn tokens_and_roles_are_enforced(backend: Backend) {
    let app = spawn(backend).await;
    let plain = app
        .http
        .get(format!("{}/api/v1/tickets", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 401);
    assert_eq!(plain.headers()["www-authenticate"], "Bearer");
    let body: Value = plain.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    for token in [
        "wrong",
        "admin-token-012345678",
        "admin-token-01234567890",
        "",
    ] {
        assert_eq!(
            app.get("/api/v1/tickets", token).await.0,
            401,
            "token {token:?}"
        );
    }
    let basic = app
        .http
        .get(format!("{}/api/v1/tickets", app.url))
        .header("authorization", format!("Basic {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);

    assert_eq!(app.get("/api/v1/tickets", AGENT_TOKEN).await.0, 200);
    let (status, body) = app.get("/api/v1/channels", AGENT_TOKEN).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("admin"));
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/v1/messages/1/retry",
            AGENT_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app.get("/api/v1/channels", ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([{"id": "api", "kind": "api", "enabled": true, "outbox_depth": 0, "problems": []}])
    );
    let (_, me) = app.get("/api/v1/me", AGENT_TOKEN).await;
    assert_eq!(me["name"], "Gus Agent");
    assert_eq!(
        (me["role"].as_str(), me["teams"].as_array().map(Vec::len)),
        (Some("agent"), Some(0))
    );
    app.stop().await;
}

async fn bad_requests_name_the_problem(backend: Backend) {
    let app = spawn(backend).await;
    let (_, pushed) = app.push(&message("b1", "ana", "Hi")).await;
    let reference = pushed["ticket_reference"].as_str().unwrap();
    let replies = format!("{}/api/v1/tickets/{reference}/replies", app.url);
    let raw = |body: &'static str| {
        app.http
            .post(&replies)
            .bearer_auth(AGENT_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let response = raw("{\"text\": ").await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("EOF"),
        "{body}"
    );
    let body: Value = raw("{\"txt\": \"hi\"}")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `txt`"),
        "{body}"
    );

    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/tickets/{reference}/replies"),
            AGENT_TOKEN,
            &json!({"text": "  "}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (422, Some("text must not be empty"))
    );
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/v1/tickets/SB-ZZZZZZ/replies",
            AGENT_TOKEN,
            &json!({"text": "hi"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tickets/{reference}"),
            AGENT_TOKEN,
            &json!({"status": "done"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown variant `done`"),
        "{body}"
    );
    let (status, body) = app
        .get("/api/v1/tickets?status=sleeping", AGENT_TOKEN)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app.get("/api/v1/tickets?cursor=abc", AGENT_TOKEN).await;
    assert_eq!(status, 400);
    let (status, _) = app.get("/api/v1/contacts/999", AGENT_TOKEN).await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/api/v1/attachments/999", AGENT_TOKEN).await;
    assert_eq!(status, 404);
    // A failed request changed nothing.
    assert_eq!(app.count("messages").await, 1);
    app.stop().await;
}

async fn tickets_list_filters_and_pages(backend: Backend) {
    let app = spawn(backend).await;
    for n in 0..5 {
        app.push(&message(
            &format!("l{n}"),
            &format!("customer{n}"),
            &format!("Question {n} about staking"),
        ))
        .await;
    }
    let (_, first) = app.get("/api/v1/tickets?limit=2", AGENT_TOKEN).await;
    assert_eq!(first["tickets"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get(
            &format!("/api/v1/tickets?limit=2&cursor={cursor}"),
            AGENT_TOKEN,
        )
        .await;
    let (_, third) = app
        .get(
            &format!(
                "/api/v1/tickets?limit=2&cursor={}",
                second["next_cursor"].as_str().unwrap()
            ),
            AGENT_TOKEN,
        )
        .await;
    assert_eq!(third["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(third["next_cursor"], Value::Null);
    let mut seen: Vec<i64> = [&first, &second, &third]
        .iter()
        .flat_map(|page| {
            page["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap())
        })
        .collect();
    seen.dedup();
    assert_eq!(seen.len(), 5);

    let target = first["tickets"][0]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, updated) = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tickets/{target}"),
            ADMIN_TOKEN,
            &json!({"assignee": "gus", "priority": "high", "category": "staking"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["assignee"].as_str(), updated["priority"].as_str()),
        (Some("gus"), Some("high"))
    );
    let (_, mine) = app.get("/api/v1/tickets?assignee=gus", AGENT_TOKEN).await;
    assert_eq!(mine["tickets"].as_array().unwrap().len(), 1);
    let (_, found) = app.get("/api/v1/tickets?q=QUESTION%203", AGENT_TOKEN).await;
    assert_eq!(found["tickets"].as_array().unwrap().len(), 1);
    let (_, none) = app
        .get("/api/v1/tickets?channel=telegram", AGENT_TOKEN)
        .await;
    assert_eq!(none["tickets"], json!([]));

    let (_, high) = app
        .get(
            "/api/v1/tickets?priority=high&category=staking",
            AGENT_TOKEN,
        )
        .await;
    assert_eq!(high["tickets"].as_array().unwrap().len(), 1);
    let (_, low) = app.get("/api/v1/tickets?priority=low", AGENT_TOKEN).await;
    assert_eq!(low["tickets"], json!([]));

    // The counts beside each filter: each facet with the other filters applied, and
    // taken again as soon as a ticket changed.
    let facet = |counts: &Value, name: &str| -> Vec<(Value, i64)> {
        counts[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["value"].clone(), c["tickets"].as_i64().unwrap()))
            .collect()
    };
    let (status, counts) = app.get("/api/v1/tickets/counts", AGENT_TOKEN).await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(counts["total"], 5);
    assert_eq!(facet(&counts, "status"), [(json!("new"), 5)]);
    assert_eq!(
        facet(&counts, "priority"),
        [(json!("high"), 1), (json!("normal"), 4)]
    );
    assert_eq!(
        facet(&counts, "category"),
        [(Value::Null, 4), (json!("staking"), 1)]
    );
    assert_eq!(
        facet(&counts, "assignee"),
        [(Value::Null, 4), (json!("gus"), 1)]
    );
    let (_, gus) = app
        .get(
            "/api/v1/tickets/counts?assignee=gus&status=open",
            AGENT_TOKEN,
        )
        .await;
    assert_eq!(gus["total"], 0);
    assert_eq!(facet(&gus, "status"), [(json!("new"), 1)]);
    assert_eq!(facet(&gus, "assignee"), []);
    app.push(&message("l-new", "customer-new", "One more"))
        .await;
    let started = std::time::Instant::now();
    loop {
        let (_, counts) = app.get("/api/v1/tickets/counts", AGENT_TOKEN).await;
        if counts["total"] == 6 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a new ticket is counted: {counts}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = app
        .get("/api/v1/tickets/counts?status=sleeping", AGENT_TOKEN)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app.get("/api/v1/tickets/counts", "not-a-token").await;
    assert_eq!(status, 401);

    // null clears, absent keeps.
    let (_, cleared) = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tickets/{target}"),
            AGENT_TOKEN,
            &json!({"assignee": null}),
        )
        .await;
    assert_eq!(
        (cleared["assignee"].clone(), cleared["category"].as_str()),
        (Value::Null, Some("staking"))
    );
    app.stop().await;
}

async fn notes_stay_internal(backend: Backend) {
    let app = spawn(backend).await;
    let (_, pushed) = app.push(&message("n1", "ana", "Hi")).await;
    let reference = pushed["ticket_reference"].as_str().unwrap();
    let (status, note) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/tickets/{reference}/notes"),
            AGENT_TOKEN,
            &json!({"text": "VIP customer"}),
        )
        .await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(
        (note["direction"].as_str(), note["author"].as_str()),
        (Some("note"), Some("Gus Agent"))
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        app.callback.received().is_empty(),
        "notes never reach the customer"
    );
    assert_eq!(app.count("outbox").await, 0);
    app.stop().await;
}

async fn contacts_show_identities_and_tickets(backend: Backend) {
    let app = spawn(backend).await;
    let (_, pushed) = app.push(&message("k1", "ana", "Hi")).await;
    let contact_id = app
        .ticket(pushed["ticket_reference"].as_str().unwrap())
        .await["ticket"]["contact_id"]
        .clone();
    let (status, contact) = app
        .get(&format!("/api/v1/contacts/{contact_id}"), AGENT_TOKEN)
        .await;
    assert_eq!(status, 200);
    assert_eq!(contact["contact"]["identities"][0]["kind"], "api");
    assert_eq!(contact["contact"]["identities"][0]["address"], "api:ana");
    assert_eq!(
        contact["tickets"][0]["reference"],
        pushed["ticket_reference"]
    );
    app.stop().await;
}

async fn admins_retry_failed_messages(backend: Backend) {
    let app = spawn(backend).await;
    let (_, pushed) = app.push(&message("x1", "ana", "Hi")).await;
    let reference = pushed["ticket_reference"].as_str().unwrap();
    app.callback.script(&[(410, None)]);
    let id = app.reply(reference, "Try me").await["message_id"]
        .as_i64()
        .unwrap();
    app.wait_for_delivery(reference, id, "failed").await;
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/messages/{id}/retry"),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    app.wait_for_delivery(reference, id, "sent").await;
    assert_eq!(app.callback.delivered().len(), 1);
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/messages/{id}/retry"),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(status, 422, "a sent message is not sent again: {body}");
    app.stop().await;
}

async fn live_feed_streams_events(backend: Backend) {
    let app = spawn(backend).await;
    let mut feed = app
        .http
        .get(format!("{}/api/v1/events", app.url))
        .bearer_auth(AGENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    let (_, pushed) = app.push(&message("e1", "ana", "Hi")).await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !text.contains("event: message.created") {
        let chunk = tokio::time::timeout_at(deadline, feed.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: ticket.created"), "{text}");
    let reference = pushed["ticket_reference"].as_str().unwrap();
    assert!(
        text.contains(&format!("\"reference\":\"{reference}\"")),
        "{text}"
    );

    // Presence: who views and types, of the moment, without an event id.
    let presence = format!("/api/v1/tickets/{reference}/presence");
    let (status, _) = app
        .send_json(
            Method::POST,
            &presence,
            ADMIN_TOKEN,
            &json!({"state": "typing"}),
        )
        .await;
    assert_eq!(status, 204);
    let text = read_feed_until(&mut feed, "event: presence").await;
    let line = text
        .lines()
        .skip_while(|l| *l != "event: presence")
        .nth(1)
        .unwrap();
    let update: Value = serde_json::from_str(line.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(update["reference"], reference);
    assert_eq!(update["agents"][0]["name"], "Ada Admin");
    let now = switchboard_core::Clock::now(&app.clock).0;
    assert!(update["agents"][0]["typing_until"].as_i64().unwrap() > now);
    let block = text
        .split("\n\n")
        .find(|b| b.contains("event: presence"))
        .unwrap();
    assert!(!block.contains("id:"), "presence is not replayed: {block}");
    let (_, current) = app.get(&presence, AGENT_TOKEN).await;
    assert_eq!(current["agents"][0]["name"], "Ada Admin");
    app.clock.advance(Duration::from_secs(31));
    let (_, current) = app.get(&presence, AGENT_TOKEN).await;
    assert_eq!(current["agents"], json!([]), "reports lapse");
    let (status, body) = app
        .send_json(
            Method::POST,
            &presence,
            ADMIN_TOKEN,
            &json!({"state": "dancing"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app
        .send_json(
            Method::POST,
            "/api/v1/tickets/SB-NOSUCH/presence",
            ADMIN_TOKEN,
            &json!({"state": "viewing"}),
        )
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn live_feed_resumes_after_the_last_event_id(backend: Backend) {
    let app = spawn(backend).await;
    let open = |last: Option<String>| {
        let mut request = app
            .http
            .get(format!("{}/api/v1/events", app.url))
            .bearer_auth(AGENT_TOKEN);
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        request.send()
    };
    let mut feed = open(None).await.unwrap();
    app.push(&message("f1", "ana", "First")).await;
    let seen = read_feed_until(&mut feed, "event: message.created").await;
    let last = *event_ids(&seen).last().unwrap();
    drop(feed);
    // While no one listens: a new ticket, a message, a reply queued and sent.
    let (_, second) = app.push(&message("f2", "bob", "Second")).await;
    let reference = second["ticket_reference"].as_str().unwrap().to_owned();
    app.push(&message("f3", "ana", "Third")).await;
    let reply = app.reply(&reference, "On it").await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let mut resumed = open(Some(last.to_string())).await.unwrap();
    let missed = read_feed_until(&mut resumed, "\"delivery_status\":\"sent\"").await;
    let ids = event_ids(&missed);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, each once: {ids:?}"
    );
    assert!(ids[0] > last, "{ids:?} after {last}");
    for expected in [
        "\"reference\":\"{reference}\"",
        "event: ticket.created",
        "event: ticket.updated",
    ] {
        let expected = expected.replace("{reference}", &reference);
        assert!(
            missed.contains(&expected),
            "{expected} missing from {missed}"
        );
    }
    assert_eq!(
        missed.matches("event: message.created").count(),
        3,
        "{missed}"
    );
    // Then live again.
    app.push(&message("f4", "carla", "Fourth")).await;
    let more = read_feed_until(&mut resumed, "\"message_id\"").await;
    drop(resumed);
    assert!(!more.is_empty());

    // An id this gateway never gave: reload.
    let mut stale = open(Some("999999999".into())).await.unwrap();
    let text = read_feed_until(&mut stale, "event: reload").await;
    assert!(text.contains("not one this gateway sent"), "{text}");
    let bad = open(Some("soon".into())).await.unwrap();
    assert_eq!(bad.status(), 400);

    // A client cut off before its first event still knows where it was: a fresh
    // stream starts with `ready` and the newest id, and `?after=` resumes from it
    // (for a new EventSource, which cannot set the header).
    let mut fresh = open(None).await.unwrap();
    let ready = read_feed_until(&mut fresh, "event: ready").await;
    assert!(ready.contains("retry:"), "{ready}");
    let newest = *event_ids(&ready).last().unwrap();
    drop(fresh);
    app.push(&message("f5", "dora", "While away")).await;
    let mut by_query = app
        .http
        .get(format!("{}/api/v1/events?after={newest}", app.url))
        .bearer_auth(AGENT_TOKEN)
        .send()
        .await
        .unwrap();
    let missed = read_feed_until(&mut by_query, "event: message.created").await;
    assert!(
        !missed.contains("event: ready"),
        "a resumed stream: {missed}"
    );
    assert_eq!(event_ids(&missed)[0], newest + 1, "{missed}");
    let bad = app
        .http
        .get(format!("{}/api/v1/events?after=later", app.url))
        .bearer_auth(AGENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    app.stop().await;
}

async fn operations_endpoints_answer(backend: Backend) {
    let app = spawn(backend).await;
    let get = |path: &'static str| app.http.get(format!("{}{path}", app.url)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    app.push(&message("z1", "ana", "Hi")).await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for name in [
        "switchboard_inbound_total",
        "switchboard_outbox_depth",
        "switchboard_ingest_seconds_bucket",
        "switchboard_webhook_requests_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    let openapi: Value = get("/api/v1/openapi.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/tickets",
        "/api/v1/tickets/{ticket}/replies",
        "/api/v1/events",
        "/api/v1/contacts/{id}",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(openapi["components"]["schemas"].get("Ticket").is_some());
    let docs = get("/docs/").await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "the docs page is served offline"
    );
    app.stop().await;
}

/// The session cookie of a sign-in answer, and the whole Set-Cookie line.
fn session_cookie(response: &reqwest::Response) -> (String, String) {
    let line = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let pair = line.split(';').next().unwrap().to_owned();
    (pair, line)
}

async fn sign_in(app: &support::TestApp, token: &str) -> (String, String) {
    let response = app
        .http
        .post(format!("{}/api/v1/session", app.url))
        .header("origin", &app.url)
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (cookie, _) = session_cookie(&response);
    let body: Value = response.json().await.unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}

async fn browser_sessions_sign_in_need_csrf_and_expire(backend: Backend) {
    let app = spawn(backend).await;
    let (_, pushed) = app.push(&message("s1", "ana", "Hi")).await;
    let ticket = pushed["ticket_reference"].as_str().unwrap().to_owned();
    let session_url = format!("{}/api/v1/session", app.url);

    // Wrong token, and a sign-in posted by another site's page.
    let wrong = app
        .http
        .post(&session_url)
        .json(&json!({"token": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let forged = app
        .http
        .post(&session_url)
        .header("origin", "https://evil.example")
        .json(&json!({"token": AGENT_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.headers().get("set-cookie").is_none());

    let signed = app
        .http
        .post(&session_url)
        .header("origin", &app.url)
        .json(&json!({"token": AGENT_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 201);
    let (cookie, line) = session_cookie(&signed);
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Path=/"),
        "{line}"
    );
    assert!(!line.contains("Secure"), "plain HTTP on loopback: {line}");
    assert!(!line.contains(AGENT_TOKEN), "the cookie is not the token");
    let body: Value = signed.json().await.unwrap();
    assert_eq!(body["name"], "Gus Agent");
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    assert!(csrf.len() >= 40, "{csrf}");

    let with_cookie = |method: Method, path: &str| {
        app.http
            .request(method, format!("{}{path}", app.url))
            .header("cookie", &cookie)
    };
    let list = with_cookie(Method::GET, "/api/v1/tickets")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let again: Value = with_cookie(Method::GET, "/api/v1/session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["csrf_token"],
        csrf.as_str(),
        "a reloaded page gets the token back"
    );
    // Admin-only stays admin-only through a session.
    let channels = with_cookie(Method::GET, "/api/v1/channels")
        .send()
        .await
        .unwrap();
    assert_eq!(channels.status(), 403);

    // Changes need the CSRF token.
    let path = format!("/api/v1/tickets/{ticket}");
    for header in [None, Some("wrong"), Some("")] {
        let mut request = with_cookie(Method::PATCH, &path).json(&json!({"priority": "high"}));
        if let Some(value) = header {
            request = request.header("x-csrf-token", value);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), 403, "{header:?}");
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["error"]["code"], "csrf");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("x-csrf-token")
        );
    }
    assert_eq!(
        app.ticket(&ticket).await["ticket"]["priority"],
        "normal",
        "nothing changed"
    );
    let patched = with_cookie(Method::PATCH, &path)
        .header("x-csrf-token", &csrf)
        .json(&json!({"priority": "high"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    // A bearer header, when there is one, decides alone.
    let bearer_wins = with_cookie(Method::GET, "/api/v1/tickets")
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer_wins.status(), 401);

    // Behind a TLS proxy the cookie is Secure.
    let tls = app
        .http
        .post(&session_url)
        .header("x-forwarded-proto", "https")
        .json(&json!({"token": ADMIN_TOKEN}))
        .send()
        .await
        .unwrap();
    assert!(session_cookie(&tls).1.contains("; Secure"));

    // Idle: eight hours without use end it; use keeps it alive up to 24 hours.
    let (idle_cookie, _) = sign_in(&app, AGENT_TOKEN).await;
    let status_with = |cookie: String| {
        let request = app
            .http
            .get(format!("{}/api/v1/tickets", app.url))
            .header("cookie", cookie);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for _ in 0..23 {
        app.clock.advance(Duration::from_secs(3600));
        assert_eq!(status_with(cookie.clone()).await, 200, "kept alive by use");
    }
    assert_eq!(
        status_with(idle_cookie.clone()).await,
        401,
        "idle for 23 hours"
    );
    app.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        status_with(cookie.clone()).await,
        401,
        "24 hours after sign-in"
    );

    // Sign-out needs the token, ends the session on the server and clears the cookie.
    let (cookie, csrf) = sign_in(&app, AGENT_TOKEN).await;
    let delete = |csrf: &str| {
        app.http
            .delete(&session_url)
            .header("cookie", &cookie)
            .header("x-csrf-token", csrf)
            .send()
    };
    assert_eq!(delete("wrong").await.unwrap().status(), 403);
    assert_eq!(status_with(cookie.clone()).await, 200);
    let out = delete(&csrf).await.unwrap();
    assert_eq!(out.status(), 204);
    assert!(session_cookie(&out).1.contains("Max-Age=0"));
    assert_eq!(
        status_with(cookie.clone()).await,
        401,
        "the copied cookie no longer works"
    );
    assert_eq!(
        delete(&csrf).await.unwrap().status(),
        204,
        "signing out twice is fine"
    );
    app.stop().await;
}

async fn inbox_page_is_served_with_a_strict_policy(backend: Backend) {
    let app = spawn(backend).await;
    let page = app.http.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<script type="module" src="/inbox/app.js">"#),
        "{html}"
    );

    let script = app
        .http
        .get(format!("{}/inbox/app.js", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = script.headers()["etag"].clone();
    let again = app
        .http
        .get(format!("{}/inbox/app.js", app.url))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304, "an unchanged file is not sent twice");

    let missing = app
        .http
        .get(format!("{}/inbox/../Cargo.toml", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing = app
        .http
        .get(format!("{}/inbox/secrets.js", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("secrets.js"),
        "{body}"
    );
    app.stop().await;
}

/// The collision guard: a reply that names the newest message its agent had read goes
/// out only if nobody wrote since; otherwise 409 with what is new, and nothing queued.
async fn a_reply_after_the_conversation_moved_on_is_held(backend: Backend) {
    let app = spawn(backend).await;
    let (_, pushed) = app
        .push(&message("c1", "ana", "Where is my deposit?"))
        .await;
    let reference = pushed["ticket_reference"].as_str().unwrap().to_owned();
    let newest = |detail: &Value| {
        detail["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .max()
            .unwrap()
    };
    let replies = format!("/api/v1/tickets/{reference}/replies");
    let seen = newest(&app.ticket(&reference).await);

    // A note of a colleague is no reason to hold a reply.
    let (status, _) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/tickets/{reference}/notes"),
            ADMIN_TOKEN,
            &json!({"text": "I am looking into it"}),
        )
        .await;
    assert_eq!(status, 201);
    // While Gus reads, the customer writes again and Ada answers.
    app.push(&message("c2", "ana", "Hello??")).await;
    let (status, _) = app
        .send_json(
            Method::POST,
            &replies,
            ADMIN_TOKEN,
            &json!({"text": "It was credited at 10:02."}),
        )
        .await;
    assert_eq!(status, 202);
    let (status, body) = app
        .send_json(
            Method::POST,
            &replies,
            AGENT_TOKEN,
            &json!({"text": "Let me check.", "seen_message_id": seen}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "changed");
    let why = body["error"]["message"].as_str().unwrap();
    assert!(
        why.contains("the customer wrote once and Ada Admin replied once"),
        "{why}"
    );
    let changes: Vec<(&str, &str)> = body["error"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("inbound", "Hello??"),
            ("outbound", "It was credited at 10:02.")
        ]
    );
    let detail = app.ticket(&reference).await;
    assert!(
        !detail["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "Let me check."),
        "nothing was queued"
    );

    // Having read them, the agent sends.
    let (status, body) = app
        .send_json(
            Method::POST,
            &replies,
            AGENT_TOKEN,
            &json!({"text": "Glad it arrived.", "seen_message_id": newest(&detail)}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = app
        .send_json(
            Method::POST,
            &replies,
            AGENT_TOKEN,
            &json!({"text": "x", "seen_message_id": "latest"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

both_backends!(
    inbox_page_is_served_with_a_strict_policy,
    a_reply_after_the_conversation_moved_on_is_held,
    tokens_and_roles_are_enforced,
    browser_sessions_sign_in_need_csrf_and_expire,
    bad_requests_name_the_problem,
    tickets_list_filters_and_pages,
    notes_stay_internal,
    contacts_show_identities_and_tickets,
    admins_retry_failed_messages,
    live_feed_streams_events,
    live_feed_resumes_after_the_last_event_id,
    operations_endpoints_answer,
);
