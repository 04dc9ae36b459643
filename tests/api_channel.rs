//! End to end through the generic API channel: signed webhooks in, tickets,
//! threading, agent replies out to the callback, retries and failures, on SQLite and
//! PostgreSQL alike.

mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::json;
use support::{ADMIN_TOKEN, Backend, message, spawn, spawn_with};

async fn pushed_messages_become_a_ticket_and_thread(backend: Backend) {
    let app = spawn(backend).await;
    let (status, first) = app
        .push(&message("m1", "ana", "My withdrawal is stuck"))
        .await;
    assert_eq!(status, 200, "{first}");
    let reference = first["ticket_reference"].as_str().unwrap().to_owned();
    assert!(
        reference.starts_with("SB-") && reference.len() == 9,
        "{reference}"
    );
    assert_eq!(first["duplicate"], false);

    let (_, second) = app
        .push(&message("m2", "ana", "It has been two days"))
        .await;
    assert_eq!(second["ticket_id"], first["ticket_id"]);
    let (_, other) = app.push(&message("m3", "bob", "Hello")).await;
    assert_ne!(other["ticket_id"], first["ticket_id"]);

    let detail = app.ticket(&reference).await;
    assert_eq!(detail["ticket"]["status"], "new");
    assert_eq!(detail["ticket"]["subject"], "My withdrawal is stuck");
    assert_eq!(detail["contact"]["name"], "Customer ana");
    let texts: Vec<_> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts,
        [
            json!("My withdrawal is stuck"),
            json!("It has been two days")
        ]
    );
    app.stop().await;
}

async fn resolved_ticket_reopens_within_the_window_then_links(backend: Backend) {
    let app = spawn(backend).await;
    let (_, first) = app.push(&message("r1", "ana", "Help")).await;
    let id = first["ticket_id"].to_string();
    let resolve = json!({"status": "resolved"});
    let (status, ticket) = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/tickets/{id}"),
            ADMIN_TOKEN,
            &resolve,
        )
        .await;
    assert_eq!((status, ticket["status"].as_str()), (200, Some("resolved")));

    app.clock.advance(Duration::from_secs(23 * 3600));
    let (_, again) = app.push(&message("r2", "ana", "Still broken")).await;
    assert_eq!(
        again["ticket_id"], first["ticket_id"],
        "reopened within the 24 h window"
    );
    assert_eq!(app.ticket(&id).await["ticket"]["status"], "open");

    app.send_json(
        reqwest::Method::PATCH,
        &format!("/api/v1/tickets/{id}"),
        ADMIN_TOKEN,
        &resolve,
    )
    .await;
    app.clock.advance(Duration::from_secs(25 * 3600));
    let (_, later) = app.push(&message("r3", "ana", "A new question")).await;
    assert_ne!(
        later["ticket_id"], first["ticket_id"],
        "after the window a new ticket starts"
    );
    let new = app.ticket(&later["ticket_id"].to_string()).await;
    assert_eq!(new["ticket"]["previous_ticket_id"], first["ticket_id"]);
    assert_eq!(
        app.ticket(&id).await["ticket"]["status"],
        "resolved",
        "the old one stays resolved"
    );
    app.stop().await;
}

async fn agent_reply_reaches_the_callback_once_with_its_thread(backend: Backend) {
    let app = spawn(backend).await;
    let mut first = message("c1", "ana", "Where is my deposit?");
    first["conversation"] = json!("chat-77");
    app.push(&first).await;
    let mut second = message("c2", "ana", "Reference TX-1");
    second["conversation"] = json!("chat-77");
    let (_, pushed) = app.push(&second).await;
    let reference = pushed["ticket_reference"].as_str().unwrap();

    let queued = app.reply(reference, "It arrived, sorry for the wait").await;
    assert_eq!(queued["status"], "queued");
    let id = queued["message_id"].as_i64().unwrap();
    let sent = app.wait_for_delivery(reference, id, "sent").await;
    assert_eq!(sent["external_id"], "cb-1", "the receiver's id is recorded");
    assert_eq!(sent["author"], "Gus Agent");

    // Give a would-be second send time to happen.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = app.callback.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let callback = &received[0];
    assert_eq!(callback["message_id"], id);
    assert_eq!(callback["message_id_header"], id.to_string());
    assert_eq!(callback["ticket"]["reference"], reference);
    assert_eq!(callback["conversation"], "chat-77");
    assert_eq!(callback["recipient"], "ana");
    assert_eq!(
        callback["in_reply_to"], "c2",
        "replies quote the customer's latest message"
    );
    assert_eq!(callback["text"], "It arrived, sorry for the wait");
    assert_eq!(callback["attempt"], 1);
    assert_eq!(app.callback.bad_signatures(), 0);
    assert_eq!(app.ticket(reference).await["ticket"]["status"], "open");
    app.stop().await;
}

async fn replies_arrive_in_the_order_they_were_written(backend: Backend) {
    let app = spawn(backend).await;
    let (_, pushed) = app.push(&message("w1", "ana", "Hi")).await;
    let reference = pushed["ticket_reference"].as_str().unwrap();
    // The first send fails once: the others must wait for it, not overtake it.
    app.callback.script(&[(503, None)]);
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(
            app.reply(reference, &format!("part {n}")).await["message_id"]
                .as_i64()
                .unwrap(),
        );
    }
    app.wait_for_delivery(reference, *ids.last().unwrap(), "sent")
        .await;
    let texts: Vec<_> = app
        .callback
        .delivered()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["part 1", "part 2", "part 3", "part 4", "part 5"]);
    app.stop().await;
}

async fn callback_outage_ends_in_exactly_one_delivery(backend: Backend) {
    let app = spawn(backend).await;
    let (_, pushed) = app.push(&message("o1", "ana", "Hi")).await;
    let reference = pushed["ticket_reference"].as_str().unwrap();
    app.callback
        .script(&[(500, None), (503, None), (502, None)]);
    let id = app.reply(reference, "Hello back").await["message_id"]
        .as_i64()
        .unwrap();
    app.wait_for_delivery(reference, id, "sent").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts: Vec<_> = app
        .callback
        .received()
        .iter()
        .map(|r| (r["answered"].clone(), r["attempt"].clone()))
        .collect();
    assert_eq!(
        attempts,
        [
            (json!(500), json!(1)),
            (json!(503), json!(2)),
            (json!(502), json!(3)),
            (json!(200), json!(4))
        ]
    );
    assert_eq!(app.callback.delivered().len(), 1);
    app.stop().await;
}

async fn retry_after_is_honoured(backend: Backend) {
    let app = spawn(backend).await;
    let (_, pushed) = app.push(&message("t1", "ana", "Hi")).await;
    let reference = pushed["ticket_reference"].as_str().unwrap();
    app.callback.script(&[(429, Some(1))]);
    let started = Instant::now();
    let id = app.reply(reference, "Throttled reply").await["message_id"]
        .as_i64()
        .unwrap();
    app.wait_for_delivery(reference, id, "sent").await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(app.callback.delivered().len(), 1);
    app.stop().await;
}

async fn permanent_failure_shows_its_reason(backend: Backend) {
    let app = spawn(backend).await;
    let (_, pushed) = app.push(&message("p1", "ana", "Hi")).await;
    let reference = pushed["ticket_reference"].as_str().unwrap();
    app.callback.script(&[(400, None)]);
    let id = app.reply(reference, "This will be refused").await["message_id"]
        .as_i64()
        .unwrap();
    let failed = app.wait_for_delivery(reference, id, "failed").await;
    let reason = failed["failure_reason"].as_str().unwrap();
    assert!(
        reason.contains("callback answered 400") && reason.contains("scripted failure 400"),
        "{reason}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.callback.received().len(),
        1,
        "a permanent failure is not retried"
    );

    // Retryable failures give up after max_attempts (5 here) with a reason.
    app.callback.script(&[(500, None); 5]);
    let id = app.reply(reference, "Never arrives").await["message_id"]
        .as_i64()
        .unwrap();
    let failed = app.wait_for_delivery(reference, id, "failed").await;
    let reason = failed["failure_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("gave up after 5 attempts: callback answered 500"),
        "{reason}"
    );
    app.stop().await;
}

async fn duplicates_store_one_message(backend: Backend) {
    let app = spawn(backend).await;
    let original = message("d1", "ana", "Once");
    let (_, first) = app.push(&original).await;
    let mut handles = Vec::new();
    for _ in 0..10 {
        let (http, url, body) = (app.http.clone(), app.url.clone(), original.to_string());
        handles.push(tokio::spawn(async move {
            let response = http
                .post(format!("{url}/webhooks/api"))
                .header("x-switchboard-signature", support::sign(body.as_bytes()))
                .body(body)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }));
    }
    for handle in handles {
        let (status, answer) = handle.await.unwrap();
        assert_eq!(status, 200, "a resend is acknowledged");
        assert_eq!(answer["duplicate"], true);
        assert_eq!(answer["message_id"], first["message_id"]);
    }
    assert_eq!(app.count("messages").await, 1);
    app.stop().await;
}

async fn bad_signatures_are_refused_and_store_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let body = message("s1", "eve", "Injected").to_string();
    let cases = [
        (None, "the signature header is missing"),
        (Some("sha256=00".to_owned()), "does not match"),
        (Some("sha1=abc".to_owned()), "not of the form"),
        (Some(support::sign(b"another body")), "does not match"),
    ];
    for (signature, expected) in cases {
        let (status, answer) = app.push_raw(body.as_bytes(), signature.as_deref()).await;
        assert_eq!(status, 401, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_signature");
        let text = answer["error"]["message"].as_str().unwrap();
        assert!(text.contains(expected), "{text}");
    }
    assert_eq!(app.count("messages").await, 0);
    assert_eq!(app.count("tickets").await, 0);
    assert_eq!(app.count("contacts").await, 0);
    app.stop().await;
}

async fn malformed_input_gets_400_with_the_reason(backend: Backend) {
    let app = spawn(backend).await;
    let cases: [(&[u8], &str); 5] = [
        (b"{\"external_id\": ", "EOF while parsing"),
        (b"[]", "must be a JSON object"),
        (
            br#"{"external_id":"x","sender":{"id":"u"},"text":"hi","colour":"red"}"#,
            "unknown field `colour`",
        ),
        (
            br#"{"external_id":"x","sender":{"id":"u"}}"#,
            "needs text or at least one attachment",
        ),
        (
            br#"{"external_id":"x","sender":{"id":"u"},"text":"a","attachments":[{"data":"%%%"}]}"#,
            "not valid base64",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = app.push_raw(body, Some(&support::sign(body))).await;
        assert_eq!(status, 400, "{answer}");
        let text = answer["error"]["message"].as_str().unwrap();
        assert!(text.contains(expected), "{text}");
    }
    assert_eq!(app.count("messages").await, 0);
    // Unknown channels are 404, other methods 405.
    let response = app
        .http
        .post(format!("{}/webhooks/nope", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = app
        .http
        .get(format!("{}/webhooks/api", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    app.stop().await;
}

async fn attachments_travel_both_ways(backend: Backend) {
    let app = spawn(backend).await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut pushed = message("f1", "ana", "Here is the receipt");
    pushed["attachments"] = json!([{"filename": "receipt.txt", "content_type": "text/plain", "data": b64.encode("paid 100 EUR")}]);
    let (status, answer) = app.push(&pushed).await;
    assert_eq!(status, 200, "{answer}");
    let reference = answer["ticket_reference"].as_str().unwrap();
    let detail = app.ticket(reference).await;
    let attachment = &detail["messages"][0]["attachments"][0];
    assert_eq!(attachment["filename"], "receipt.txt");
    assert_eq!(attachment["size"], 12);
    let response = app
        .http
        .get(format!(
            "{}/api/v1/attachments/{}",
            app.url, attachment["id"]
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.text().await.unwrap(), "paid 100 EUR");

    let (status, queued) = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/tickets/{reference}/replies"),
            ADMIN_TOKEN,
            &json!({"text": "Form attached", "attachments": [{"filename": "form.pdf", "content_type": "application/pdf", "data": b64.encode("%PDF-1.4")}]}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    app.wait_for_delivery(reference, queued["message_id"].as_i64().unwrap(), "sent")
        .await;
    let callback = &app.callback.received()[0];
    assert_eq!(callback["attachments"][0]["filename"], "form.pdf");
    assert_eq!(callback["attachments"][0]["data"], b64.encode("%PDF-1.4"));
    app.stop().await;
}

async fn attachment_urls_are_fetched_only_when_allowed(backend: Backend) {
    let file_url =
        |app: &support::TestApp| app.callback.url().replace("/replies", "/files/receipt.txt");
    let with_url = |url: String| {
        let mut pushed = message("u1", "ana", "See the file");
        pushed["attachments"] =
            json!([{"filename": "receipt.txt", "content_type": "text/plain", "url": url}]);
        pushed
    };
    // Off by default.
    let app = spawn(backend).await;
    let (status, answer) = app.push(&with_url(file_url(&app))).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not fetch attachment URLs"),
        "{answer}"
    );
    app.stop().await;

    // On, but the URL is on a local address.
    let app = spawn_with(backend, "fetch_attachment_urls = true").await;
    let (status, answer) = app.push(&with_url(file_url(&app))).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a private or local address"),
        "{answer}"
    );
    assert_eq!(app.count("messages").await, 0);
    app.stop().await;

    // On, local addresses allowed (an integration inside the same network).
    let app = spawn_with(
        backend,
        "fetch_attachment_urls = true\nfetch_private_addresses = true",
    )
    .await;
    let (status, answer) = app.push(&with_url(file_url(&app))).await;
    assert_eq!(status, 200, "{answer}");
    let detail = app
        .ticket(answer["ticket_reference"].as_str().unwrap())
        .await;
    let attachment = &detail["messages"][0]["attachments"][0];
    assert_eq!(attachment["size"], "file from a URL".len());
    let missing = with_url(file_url(&app).replace("receipt.txt", "missing.txt"));
    let mut missing = missing;
    missing["external_id"] = json!("u2");
    let (status, answer) = app.push(&missing).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("404"),
        "{answer}"
    );
    app.stop().await;
}

async fn a_returning_customer_keeps_their_name(backend: Backend) {
    let app = spawn(backend).await;
    app.push(&message("a1", "ana", "Hello")).await;
    let (_, answer) = app
        .push(&json!({"external_id": "a2", "sender": {"id": "ana"}, "text": "Me again"}))
        .await;
    let detail = app
        .ticket(answer["ticket_reference"].as_str().unwrap())
        .await;
    assert_eq!(detail["messages"][1]["author"], "Customer ana");
    app.stop().await;
}

/// Pushes `body` to `channel`, signed with that channel's `secret`; the answer.
async fn push_to(
    app: &support::TestApp,
    channel: &str,
    secret: &str,
    body: &str,
) -> serde_json::Value {
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    hmac::Mac::update(&mut mac, body.as_bytes());
    let signature = format!(
        "sha256={}",
        hex::encode(hmac::Mac::finalize(mac).into_bytes())
    );
    let response = app
        .http
        .post(format!("{}/webhooks/{channel}", app.url))
        .header("x-switchboard-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn replies_without_a_callback_fail_with_the_reason(backend: Backend) {
    let app = spawn_with(
        backend,
        "\n[channels.receive-only]\nkind = \"api\"\nsecret = \"other\"\n",
    )
    .await;
    let body = json!({"external_id": "n1", "sender": {"id": "ana"}, "text": "Hi"}).to_string();
    let answer = push_to(&app, "receive-only", "other", &body).await;
    let reference = answer["ticket_reference"].as_str().unwrap();
    let id = app.reply(reference, "Hello").await["message_id"]
        .as_i64()
        .unwrap();
    let failed = app.wait_for_delivery(reference, id, "failed").await;
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .contains("has no callback_url"),
        "{failed}"
    );
    app.stop().await;
}

/// A callback URL's query often carries an API key: failure reasons (on the
/// message, in the outbox and in logs) name the URL without it.
async fn failure_reasons_never_show_the_callback_urls_query(backend: Backend) {
    // Every connection to the port is closed at once, so every attempt fails. The
    // port stays held for the whole test: a port merely freed was once taken by
    // another test's gateway, which answered 404.
    let closing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closing.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for connection in closing.incoming() {
            drop(connection);
        }
    });
    let app = spawn_with(
        backend,
        &format!(
            "\n[channels.keyed]\nkind = \"api\"\nsecret = \"other\"\ncallback_url = \"http://user:pw@127.0.0.1:{port}/hook?api_key=top-secret-key\"\n"
        ),
    )
    .await;
    let body = json!({"external_id": "k1", "sender": {"id": "ana"}, "text": "Hi"}).to_string();
    let answer = push_to(&app, "keyed", "other", &body).await;
    let reference = answer["ticket_reference"].as_str().unwrap();
    let id = app.reply(reference, "Hello").await["message_id"]
        .as_i64()
        .unwrap();
    let failed = app.wait_for_delivery(reference, id, "failed").await;
    let reason = failed["failure_reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("http://127.0.0.1:{port}/hook?…")),
        "{reason}"
    );
    assert!(
        !reason.contains("top-secret-key") && !reason.contains("pw@"),
        "{reason}"
    );
    let outbox = app
        .gateway
        .store()
        .read(|c| c.query("SELECT last_error FROM outbox", &[]))
        .await
        .unwrap()[0]
        .string(0)
        .unwrap();
    assert!(outbox.contains("/hook?…"), "{outbox}");
    assert!(!outbox.contains("top-secret-key"), "{outbox}");
    app.stop().await;
}

/// What PostgreSQL cannot store (NUL) or a download cannot answer (a media type with
/// a line break) gets the same clear answer on both stores: a 4xx naming the field,
/// never a 500 that a provider would retry for ever.
async fn hostile_characters_get_the_same_answer_on_both_stores(backend: Backend) {
    let app = spawn(backend).await;
    let b64 = base64::engine::general_purpose::STANDARD;
    // NUL in customer text is dropped; the message is kept.
    let mut pushed = message("nul-text", "ana", "my seed\u{0} words");
    pushed["subject"] = json!("Help\u{0}");
    pushed["sender"]["name"] = json!("Ana\u{0} Lima");
    let (status, answer) = app.push(&pushed).await;
    assert_eq!(status, 200, "{answer}");
    let reference = answer["ticket_reference"].as_str().unwrap().to_owned();
    let ticket = app.ticket(&reference).await;
    assert_eq!(ticket["messages"][0]["text"], "my seed words");
    assert_eq!(ticket["ticket"]["subject"], "Help");
    assert_eq!(ticket["contact"]["name"], "Ana Lima");
    // NUL in an id is refused: stripping it could make two ids one.
    for (field, body) in [
        ("external_id", message("nul\u{0}id", "ana", "hi")),
        ("sender", message("nul-sender", "an\u{0}a", "hi")),
    ] {
        let (status, answer) = app.push(&body).await;
        assert_eq!(status, 400, "{field}: {answer}");
        let text = answer["error"]["message"].as_str().unwrap();
        assert!(text.contains("U+0000"), "{field}: {text}");
    }
    // A PATCHed category with NUL is refused, a note's text cleaned; never a 500.
    let (status, answer) = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/tickets/{reference}"),
            ADMIN_TOKEN,
            &json!({"category": "deposits\u{0}"}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("category"),
        "{answer}"
    );
    let (status, answer) = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/tickets/{reference}/notes"),
            ADMIN_TOKEN,
            &json!({"text": "checked\u{0}"}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["text"], "checked");
    let (status, _) = app.get("/api/v1/tickets/SB-%00", ADMIN_TOKEN).await;
    assert_eq!(status, 404);

    // A media type that would break the download's header is refused with the field.
    let mut pushed = message("crlf", "ana", "the file");
    pushed["attachments"] = json!([{"filename": "a.pdf", "content_type": "application/pdf\r\nX-Injected: 1", "data": b64.encode("%PDF")}]);
    let (status, answer) = app.push(&pushed).await;
    assert_eq!(status, 400, "{answer}");
    let text = answer["error"]["message"].as_str().unwrap();
    assert!(text.contains("attachments[0].content_type"), "{text}");
    // Too many attachments: refused before any is read.
    let mut pushed = message("many", "ana", "all of them");
    pushed["attachments"] = json!(vec![json!({"data": b64.encode("x")}); 51]);
    let (status, answer) = app.push(&pushed).await;
    assert_eq!(status, 400, "{answer}");
    let text = answer["error"]["message"].as_str().unwrap();
    assert!(text.contains("at most 50"), "{text}");
    let (status, answer) = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/tickets/{reference}/replies"),
            ADMIN_TOKEN,
            &json!({"text": "files", "attachments": vec![json!({"filename": "x.txt", "content_type": "text/plain", "data": b64.encode("x")}); 51]}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 50"),
        "{answer}"
    );

    // A file name outside ASCII downloads as itself (RFC 6266 filename*).
    let mut pushed = message("utf8-name", "ana", "statement");
    pushed["attachments"] = json!([{"filename": "Übersicht März.pdf", "content_type": "application/pdf", "data": b64.encode("%PDF")}]);
    let (status, answer) = app.push(&pushed).await;
    assert_eq!(status, 200, "{answer}");
    let (_, stored) = app.wait_for_stored("api", "utf8-name").await;
    let response = app
        .http
        .get(format!(
            "{}/api/v1/attachments/{}",
            app.url, stored["attachments"][0]["id"]
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"_bersicht M_rz.pdf\"; filename*=UTF-8''%C3%9Cbersicht%20M%C3%A4rz.pdf"
    );
    app.stop().await;
}

both_backends!(
    pushed_messages_become_a_ticket_and_thread,
    resolved_ticket_reopens_within_the_window_then_links,
    agent_reply_reaches_the_callback_once_with_its_thread,
    replies_arrive_in_the_order_they_were_written,
    callback_outage_ends_in_exactly_one_delivery,
    retry_after_is_honoured,
    permanent_failure_shows_its_reason,
    duplicates_store_one_message,
    bad_signatures_are_refused_and_store_nothing,
    malformed_input_gets_400_with_the_reason,
    attachments_travel_both_ways,
    attachment_urls_are_fetched_only_when_allowed,
    a_returning_customer_keeps_their_name,
    replies_without_a_callback_fail_with_the_reason,
    hostile_characters_get_the_same_answer_on_both_stores,
    failure_reasons_never_show_the_callback_urls_query,
);
