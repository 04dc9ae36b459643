//! The web chat end to end: a Rust WebSocket client plays the widget against a whole
//! gateway, on both stores. Conversations and tickets, agents' replies and typing,
//! resuming after a cut without gaps or doubles, sessions and signed identities,
//! files both ways, and every refusal with its reason.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::chat::{Chat, ORIGIN, open_from, sign_user, ws_url};
use support::mail::header;
use support::{ADMIN_TOKEN, AGENT_TOKEN, Backend, TestApp};

const IDENTITY_SECRET: &str = "identity-secret-0123";

const CHANNELS: &str = r#"
[channels.chat]
kind = "webchat"
secret = "chat-secret-0123"
identity_secret = "identity-secret-0123"
allowed_origins = ["https://shop.example"]
max_message_chars = 500
pre_chat = { name = "optional", email = "optional", topic = "optional", topics = ["Deposits", "Trading"] }
uploads = { max_bytes = 1000, types = ["image/*", "application/pdf"] }

[channels.chat-2]
kind = "webchat"
secret = "chat-secret-0123"
allowed_origins = ["https://shop.example"]
limits = { messages_per_minute = 3 }
"#;

async fn gateway(backend: Backend) -> (TestApp, String) {
    let app = support::spawn_with(backend, CHANNELS).await;
    let url = ws_url(&app.url, "chat");
    (app, url)
}

fn hello() -> Value {
    json!({"type": "hello"})
}

/// The id of the message an agent's reply answer names.
fn reply_id(answer: &Value) -> i64 {
    answer["id"]
        .as_i64()
        .or_else(|| answer["message"]["id"].as_i64())
        .unwrap_or_else(|| panic!("no message id in {answer}"))
}

async fn a_conversation_becomes_a_ticket_and_replies_come_back(backend: Backend) {
    let (app, url) = gateway(backend).await;
    let (mut chat, welcome) = Chat::start(&url, hello()).await;
    assert_eq!(welcome["last_seq"], 0, "{welcome}");
    assert_eq!(welcome["started"], false);
    assert_eq!(welcome["title"], "Support");
    assert_eq!(
        welcome["pre_chat"]["topics"],
        json!(["Deposits", "Trading"])
    );
    assert!(welcome["token"].as_str().is_some_and(|t| t.len() > 20));

    chat.send(&json!({
        "type": "message", "id": "m1", "text": "My deposit has not arrived",
        "fields": {"name": "Siti Aminah", "email": "Siti@Example.com", "topic": "Deposits"},
    }))
    .await;
    let ack = chat.expect("ack").await;
    assert_eq!(ack["id"], "m1");
    assert_eq!(ack["seq"], 1);
    assert!(
        ack["token"].is_string(),
        "the form's answers come back in a new token"
    );
    let reference = ack["reference"].as_str().unwrap().to_owned();
    let mine = chat.expect("message").await;
    assert_eq!(mine["seq"], 1);
    assert_eq!(mine["from"], "customer");
    assert_eq!(mine["client_id"], "m1");

    let detail = app.ticket(&reference).await;
    assert_eq!(detail["ticket"]["channel"], "chat");
    assert_eq!(detail["ticket"]["subject"], "Deposits");
    assert_eq!(detail["contact"]["name"], "Siti Aminah");
    assert_eq!(detail["messages"][0]["text"], "My deposit has not arrived");

    // The agent types, then replies: the widget sees both, with the agent's name.
    let (status, _) = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/tickets/{reference}/presence"),
            AGENT_TOKEN,
            &json!({"state": "typing"}),
        )
        .await;
    assert_eq!(status, 204);
    let typing = chat.until("typing").await;
    assert_eq!(typing["on"], true);
    assert_eq!(typing["agent"]["name"], "Gus Agent");
    assert_eq!(typing["agent"]["initials"], "GA");

    let answer = app.reply(&reference, "Checking it now").await;
    let reply = chat.until("message").await;
    assert_eq!(reply["seq"], 2);
    assert_eq!(reply["from"], "agent");
    assert_eq!(reply["text"], "Checking it now");
    assert_eq!(reply["agent"]["name"], "Gus Agent");
    let message_id = reply_id(&answer);
    app.wait_for_delivery(&reference, message_id, "sent").await;

    // Receipts move the reply's delivery status, as any provider's would.
    chat.send(&json!({"type": "received", "seq": 2})).await;
    app.wait_for_delivery(&reference, message_id, "delivered")
        .await;
    chat.send(&json!({"type": "read", "seq": 2})).await;
    app.wait_for_delivery(&reference, message_id, "read").await;

    // The customer's typing shows in the ticket's presence.
    chat.send(&json!({"type": "typing", "on": true})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, presence) = app
            .get(
                &format!("/api/v1/tickets/{reference}/presence"),
                AGENT_TOKEN,
            )
            .await;
        if presence["customer_typing_until"].as_i64().unwrap_or(0) > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{presence}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A second tab of the same session sees the conversation and its new messages.
    let token = ack["token"].as_str().unwrap();
    let (mut tab, welcome) = Chat::start(&url, json!({"type": "hello", "token": token})).await;
    assert_eq!(welcome["started"], true);
    assert_eq!(welcome["name"], "Siti Aminah");
    assert_eq!(welcome["email"], "siti@example.com");
    let history = tab.expect("history").await;
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["My deposit has not arrived", "Checking it now"]);
    assert_eq!(history["more"], false);
    let (ack, _) = tab.say("m2", "It was 500 USDT").await;
    assert_eq!(ack["seq"], 3);
    assert_eq!(ack["reference"], reference.as_str());
    let echoed = chat.until("message").await;
    assert_eq!(echoed["seq"], 3);
    assert_eq!(echoed["client_id"], "m2");
    chat.close().await;
    tab.close().await;
    app.stop().await;
}

async fn a_widget_that_reconnects_gets_exactly_what_it_missed(backend: Backend) {
    let (app, url) = gateway(backend).await;
    let (mut chat, welcome) = Chat::start(&url, hello()).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    let (ack, _) = chat.say("m1", "hello?").await;
    let reference = ack["reference"].as_str().unwrap().to_owned();
    chat.close().await;

    // Away (phone locked): three replies and a second device's message go by.
    for text in ["one", "two", "three"] {
        let answer = app.reply(&reference, text).await;
        app.wait_for_delivery(&reference, reply_id(&answer), "sent")
            .await;
    }
    let (mut other, _) = Chat::start(&url, json!({"type": "hello", "token": token})).await;
    other.expect("history").await;
    other.say("m2", "still there?").await;
    other.close().await;

    let (mut back, welcome) = Chat::start(
        &url,
        json!({"type": "hello", "token": token, "last_seq": 1}),
    )
    .await;
    assert_eq!(welcome["last_seq"], 5);
    let mut seqs = Vec::new();
    for _ in 0..4 {
        let frame = back.expect("message").await;
        seqs.push((frame["seq"].as_i64().unwrap(), frame["text"].clone()));
    }
    assert_eq!(
        seqs,
        [
            (2, json!("one")),
            (3, json!("two")),
            (4, json!("three")),
            (5, json!("still there?"))
        ]
    );
    back.quiet_for(Duration::from_millis(300)).await;

    // A message sent again after the cut (its ack was lost) is stored once.
    back.send(&json!({"type": "message", "id": "m1", "text": "hello?"}))
        .await;
    let ack = back.expect("ack").await;
    assert_eq!(ack["seq"], 1, "the resend keeps its number");
    back.quiet_for(Duration::from_millis(300)).await;
    let detail = app.ticket(&reference).await;
    assert_eq!(detail["messages"].as_array().unwrap().len(), 5);

    // Resuming from the head gets nothing; from far behind, the newest page.
    back.close().await;
    let (mut fresh, _) = Chat::start(
        &url,
        json!({"type": "hello", "token": token, "last_seq": 5}),
    )
    .await;
    fresh.quiet_for(Duration::from_millis(300)).await;
    fresh.close().await;
    app.stop().await;
}

async fn sessions_and_identities_cannot_be_forged(backend: Backend) {
    let (app, url) = gateway(backend).await;
    // Another channel's token (same secret, even) is not this channel's session.
    let (mut other, welcome) = Chat::start(&ws_url(&app.url, "chat-2"), hello()).await;
    let foreign = welcome["token"].as_str().unwrap().to_owned();
    other.say("x1", "on chat-2").await;
    other.close().await;
    let mut chat = Chat::open(&url).await;
    chat.send(&json!({"type": "hello", "token": foreign})).await;
    let warning = chat.expect("error").await;
    assert_eq!(warning["code"], "invalid_token");
    let welcome = chat.expect("welcome").await;
    assert_eq!(welcome["started"], false, "a new, empty conversation");
    chat.close().await;

    // A token past its lifetime starts a new conversation, saying why.
    let (mut chat, welcome) = Chat::start(&url, hello()).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    chat.say("m1", "hi").await;
    chat.close().await;
    app.clock.advance(Duration::from_secs(31 * 86_400));
    let mut chat = Chat::open(&url).await;
    chat.send(&json!({"type": "hello", "token": token})).await;
    assert_eq!(chat.expect("error").await["code"], "session_expired");
    assert_eq!(chat.expect("welcome").await["started"], false);
    chat.close().await;

    // A signed user continues on another device as the same contact.
    let signature = sign_user(IDENTITY_SECRET, "user-42");
    let identity = json!({"user_id": "user-42", "signature": signature, "name": "Wei Ling"});
    let (mut laptop, _) = Chat::start(&url, json!({"type": "hello", "identity": identity})).await;
    let (ack, _) = laptop.say("l1", "from my laptop").await;
    laptop.close().await;
    let (mut phone, welcome) =
        Chat::start(&url, json!({"type": "hello", "identity": identity})).await;
    assert_eq!(welcome["identified"], true);
    assert_eq!(welcome["started"], true);
    assert_eq!(
        phone.expect("history").await["messages"][0]["text"],
        "from my laptop"
    );
    let (ack2, _) = phone.say("p1", "now from my phone").await;
    assert_eq!(ack2["reference"], ack["reference"]);
    let detail = app.ticket(ack["reference"].as_str().unwrap()).await;
    assert_eq!(detail["contact"]["name"], "Wei Ling");
    assert_eq!(detail["messages"].as_array().unwrap().len(), 2);
    phone.close().await;

    // An identity that does not verify is refused and the socket closed.
    for bad in [
        json!({"user_id": "user-43", "signature": signature}),
        json!({"user_id": "user-42", "signature": "00"}),
        json!({"user_id": "user-42", "signature": sign_user("wrong", "user-42")}),
    ] {
        let mut chat = Chat::open(&url).await;
        chat.send(&json!({"type": "hello", "identity": bad})).await;
        let refused = chat.expect("error").await;
        assert_eq!(refused["code"], "invalid_identity", "{refused}");
        assert!(chat.closes().await);
    }
    // And a channel without an identity secret takes none.
    let mut chat = Chat::open(&ws_url(&app.url, "chat-2")).await;
    chat.send(&json!({"type": "hello", "identity": identity}))
        .await;
    assert_eq!(chat.expect("error").await["code"], "invalid_identity");
    assert!(chat.closes().await);
    app.stop().await;
}

async fn bad_frames_and_strangers_get_clear_answers(backend: Backend) {
    let (app, url) = gateway(backend).await;
    // Pages of other sites, and clients without an Origin, cannot open the chat.
    assert_eq!(
        open_from(&url, Some("https://evil.example")).await.err(),
        Some(403)
    );
    assert_eq!(open_from(&url, None).await.err(), Some(403));
    assert_eq!(
        open_from(&ws_url(&app.url, "nope"), Some(ORIGIN))
            .await
            .err(),
        Some(404)
    );

    // The first frame must be hello.
    let mut chat = Chat::open(&url).await;
    chat.send(&json!({"type": "message", "id": "m1", "text": "hi"}))
        .await;
    assert_eq!(chat.expect("error").await["code"], "hello_first");
    assert!(chat.closes().await);

    let (mut chat, _) = Chat::start(&url, hello()).await;
    for (frame, code) in [
        ("not json", "invalid_frame"),
        (r#"{"type":"shout"}"#, "invalid_frame"),
        (
            r#"{"type":"message","id":"m 1","text":"x"}"#,
            "invalid_message",
        ),
        (
            r#"{"type":"message","id":"m1","text":"  "}"#,
            "invalid_message",
        ),
        (r#"{"type":"hello"}"#, "already_started"),
        (
            r#"{"type":"message","id":"m1","text":"x","fields":{"email":"not-an-address"}}"#,
            "invalid_field",
        ),
        (
            r#"{"type":"message","id":"m1","text":"x","fields":{"topic":"Lottery"}}"#,
            "invalid_field",
        ),
        (
            r#"{"type":"message","id":"m1","text":"x","attachments":["forged.token"]}"#,
            "invalid_attachment",
        ),
    ] {
        chat.send_text(frame).await;
        let error = chat.expect("error").await;
        assert_eq!(error["code"], code, "{frame}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let long = "x".repeat(501);
    chat.send(&json!({"type": "message", "id": "long", "text": long}))
        .await;
    let error = chat.expect("error").await;
    assert_eq!(error["code"], "too_long");
    assert_eq!(error["id"], "long");
    assert!(
        error["message"].as_str().unwrap().contains("500"),
        "{error}"
    );
    // None of it was stored, and the socket still works.
    assert_eq!(app.count("messages").await, 0);
    chat.send(&json!({"type": "ping"})).await;
    chat.expect("pong").await;
    chat.say("ok", "this one is fine").await;
    chat.close().await;

    // Over the conversation's rate, a message is refused with when to retry.
    let (mut fast, _) = Chat::start(&ws_url(&app.url, "chat-2"), hello()).await;
    for i in 0..3 {
        fast.say(&format!("f{i}"), "quick").await;
    }
    fast.send(&json!({"type": "message", "id": "f3", "text": "quick"}))
        .await;
    let limited = fast.expect("error").await;
    assert_eq!(limited["code"], "rate_limited");
    assert_eq!(limited["id"], "f3");
    assert!(limited["retry_after_ms"].as_u64().unwrap() > 0);
    fast.close().await;

    // The widget script is served, cacheable by its tag.
    let response = app
        .http
        .get(format!("{}/webchat/chat/widget.js", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].clone();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let again = app
        .http
        .get(format!("{}/webchat/chat/widget.js", app.url))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    app.stop().await;
}

async fn files_travel_both_ways_within_the_limits(backend: Backend) {
    let (app, url) = gateway(backend).await;
    let (mut chat, welcome) = Chat::start(&url, hello()).await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    let upload = |body: Vec<u8>, content_type: &str, token: Option<&str>, origin: &str| {
        let mut request = app
            .http
            .post(format!("{}/webchat/chat/uploads", app.url))
            .header("origin", origin)
            .header("content-type", content_type)
            .header("x-filename", "receipt%20%E2%84%961.png")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let cors = response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_owned());
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
                cors,
            )
        }
    };
    let png = b"\x89PNG\r\n\x1a\n fake image bytes".to_vec();
    let (status, body, cors) = upload(png.clone(), "image/png", Some(&token), ORIGIN).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(cors.as_deref(), Some(ORIGIN));
    assert_eq!(body["name"], "receipt №1.png");
    let upload_token = body["upload"].as_str().unwrap().to_owned();

    for (bytes, content_type, token, origin, expected, code) in [
        (png.clone(), "image/png", None, ORIGIN, 401, "invalid_token"),
        (
            png.clone(),
            "image/png",
            Some("junk"),
            ORIGIN,
            401,
            "invalid_token",
        ),
        (
            png.clone(),
            "image/png",
            Some(token.as_str()),
            "https://evil.example",
            403,
            "origin_not_allowed",
        ),
        (
            png.clone(),
            "text/html",
            Some(token.as_str()),
            ORIGIN,
            415,
            "type_not_allowed",
        ),
        (
            vec![0; 1001],
            "image/png",
            Some(token.as_str()),
            ORIGIN,
            413,
            "too_large",
        ),
        (
            Vec::new(),
            "image/png",
            Some(token.as_str()),
            ORIGIN,
            400,
            "empty",
        ),
    ] {
        let (status, body, _) = upload(bytes, content_type, token, origin).await;
        assert_eq!(status, expected, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    // The preflight a browser sends first names what it may do.
    let preflight = app
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/webchat/chat/uploads", app.url),
        )
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );

    chat.send(&json!({"type": "message", "id": "f1", "text": "", "attachments": [upload_token]}))
        .await;
    let ack = chat.expect("ack").await;
    let reference = ack["reference"].as_str().unwrap().to_owned();
    let message = chat.expect("message").await;
    assert_eq!(message["attachments"][0]["name"], "receipt №1.png");
    let detail = app.ticket(&reference).await;
    assert_eq!(detail["messages"][0]["attachments"][0]["size"], png.len());

    // Another conversation cannot use this upload.
    let (mut stranger, _) = Chat::start(&url, hello()).await;
    stranger
        .send(&json!({"type": "message", "id": "s1", "attachments": [body_of(&message)]}))
        .await;
    assert_eq!(stranger.expect("error").await["code"], "invalid_attachment");
    stranger.close().await;

    // An agent's file reaches the widget as a link that serves it.
    let pdf = b"%PDF-1.4 statement".to_vec();
    use base64::Engine;
    let (status, answer) = app
        .try_reply(
            &reference,
            &json!({"text": "Your statement", "attachments": [{
                "filename": "statement.pdf", "content_type": "application/pdf",
                "data": base64::engine::general_purpose::STANDARD.encode(&pdf),
            }]}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let reply = chat.until("message").await;
    let link = reply["attachments"][0]["url"].as_str().unwrap();
    let file = app
        .http
        .get(format!("{}/webchat/chat/{link}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["x-content-type-options"], "nosniff");
    assert!(
        file.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(file.bytes().await.unwrap().as_ref(), pdf.as_slice());
    let forged = app
        .http
        .get(format!(
            "{}/webchat/chat/files/{}x",
            app.url,
            &link["files/".len()..]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    chat.close().await;
    app.stop().await;
}

/// What a stranger might try to reuse: the upload token is not in the message frame,
/// so the closest thing it has is the file link, which is not an upload token.
fn body_of(message: &Value) -> String {
    message["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("files/")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn a_chat_left_while_nobody_is_online_continues_by_email() {
    let server = support::mail::MailServer::from_env();
    let mailbox = server.fresh_user("support");
    let customer = server.fresh_user("aminah");
    let address = format!("{customer}@customer.example");
    let config = format!(
        r#"
[channels.chat]
kind = "webchat"
secret = "chat-secret-0123"
allowed_origins = ["https://shop.example"]
continue_by_email = "email"
{email}"#,
        email = server.channel_config(&mailbox, "new")
    );
    let app = support::spawn_with(Backend::Sqlite, &config).await;
    let url = ws_url(&app.url, "chat");
    // Nobody has used the inbox: the chat is offline and says it continues by email.
    let (mut chat, welcome) = Chat::start(&url, hello()).await;
    assert_eq!(welcome["agents_online"], false);
    assert_eq!(welcome["continues_by_email"], true);
    chat.send(&json!({
        "type": "message", "id": "m1", "text": "Please call me back about my account",
        "fields": {"name": "Aminah", "email": address},
    }))
    .await;
    let ack = chat.expect("ack").await;
    assert_eq!(ack["by_email"], address.as_str());
    let reference = ack["reference"].as_str().unwrap().to_owned();
    chat.expect("message").await;

    // The agent's reply goes by email, in the same ticket, with the reference.
    let detail = app.ticket(&reference).await;
    assert_eq!(detail["reply"]["channel"], "email", "{detail}");
    assert_eq!(detail["reply"]["recipient"]["address"], address.as_str());
    let answer = app
        .reply(&reference, "We can talk at 3 pm; reply to this mail.")
        .await;
    app.wait_for_delivery(&reference, reply_id(&answer), "sent")
        .await;
    let mail = server.wait_for_delivered(&customer, 1).remove(0);
    let subject = header(&mail, "Subject").unwrap();
    assert!(subject.contains(&format!("[#{reference}]")), "{subject}");
    let ours = header(&mail, "Message-ID").unwrap();
    // The chat's socket hears nothing of it: that reply went by email.
    chat.quiet_for(Duration::from_millis(300)).await;

    // The customer answers from their mail client: it threads back into the ticket.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = format!(
        "From: Aminah <{address}>\r\nTo: {mailbox}@example.test\r\nSubject: Re: {subject}\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <answer.1@customer.example>\r\nIn-Reply-To: {ours}\r\nReferences: {ours}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n3 pm works.\r\n"
    );
    server.deliver(&mailbox, answer.as_bytes());
    let (ticket, message) = app
        .wait_for_stored("email", "answer.1@customer.example")
        .await;
    assert_eq!(ticket["reference"], reference.as_str());
    assert_eq!(message["text"], "3 pm works.");
    let detail = app.ticket(&reference).await;
    assert_eq!(detail["messages"].as_array().unwrap().len(), 3);
    chat.close().await;
    app.stop().await;
}

/// Outside the channel's hours the chat says it is closed and when it opens, even
/// with agents at work, and a message left then continues by email.
async fn outside_its_hours_the_chat_says_when_it_opens(backend: Backend) {
    let today = time::OffsetDateTime::now_utc().date();
    let tomorrow = today.next_day().unwrap();
    let reopens = time::PrimitiveDateTime::new(tomorrow.next_day().unwrap(), time::Time::MIDNIGHT)
        .assume_utc();
    let config = format!(
        r#"
[calendars.support]
always = true
holidays = ["{today}", "{tomorrow}"]

[channels.chat]
kind = "webchat"
secret = "chat-secret-0123"
allowed_origins = ["https://shop.example"]
hours = "support"
continue_by_email = "email"

[channels.email]
kind = "email"
address = "support@example.test"

[channels.email.imap]
host = "127.0.0.1"
port = 9
tls = "none"
username = "support"
password = "test"

[channels.email.smtp]
host = "127.0.0.1"
port = 9
tls = "none"
"#
    );
    let app = support::spawn_with(backend, &config).await;
    // An agent at work does not open a closed chat.
    let (status, _) = app.get("/api/v1/tickets", AGENT_TOKEN).await;
    assert_eq!(status, 200);
    let (mut chat, welcome) = Chat::start(&ws_url(&app.url, "chat"), hello()).await;
    assert_eq!(welcome["agents_online"], true, "{welcome}");
    assert_eq!(welcome["open"], false);
    assert_eq!(
        welcome["opens_at"].as_i64(),
        Some((reopens.unix_timestamp_nanos() / 1_000_000) as i64)
    );
    chat.send(&json!({
        "type": "message", "id": "m1", "text": "Are you there?",
        "fields": {"email": "late@customer.example"},
    }))
    .await;
    let ack = chat.expect("ack").await;
    assert_eq!(ack["by_email"], "late@customer.example");
    let detail = app.ticket(ack["reference"].as_str().unwrap()).await;
    assert_eq!(detail["reply"]["channel"], "email");
    chat.close().await;
    app.stop().await;
}

/// The per-address limit counts the customer's address: behind a trusted proxy the
/// one it forwards, and otherwise the connection's, whatever the client writes in
/// `X-Forwarded-For`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_connection_limit_counts_clients_not_the_proxy() {
    let limited = r#"
[channels.chat]
kind = "webchat"
secret = "chat-secret-0123"
allowed_origins = ["https://shop.example"]
limits = { connections_per_minute = 2 }
"#;
    let open = |url: String, forwarded: &'static str| async move {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", ORIGIN.parse().unwrap());
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok(_) => 101,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            Err(error) => panic!("{error}"),
        }
    };
    // Behind a proxy on loopback: each forwarded customer has their own limit.
    let app = support::spawn_full(Backend::Sqlite, "trusted_proxies = [\"127.0.0.1\"]", |_| {
        limited.to_owned()
    })
    .await;
    let url = ws_url(&app.url, "chat");
    for forwarded in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(open(url.clone(), forwarded).await, 101);
        assert_eq!(open(url.clone(), forwarded).await, 101);
    }
    assert_eq!(open(url.clone(), "198.51.100.1").await, 429);
    app.stop().await;

    // Without trusted proxies, a client cannot escape the limit by writing the header.
    let app = support::spawn_with(Backend::Sqlite, limited).await;
    let url = ws_url(&app.url, "chat");
    assert_eq!(open(url.clone(), "198.51.100.1").await, 101);
    assert_eq!(open(url.clone(), "198.51.100.2").await, 101);
    assert_eq!(open(url.clone(), "198.51.100.3").await, 429);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admins_see_the_channel_and_its_queue() {
    let (app, _) = gateway(Backend::Sqlite).await;
    let (status, channels) = app.get("/api/v1/channels", ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    let chat = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "chat")
        .cloned()
        .unwrap_or_else(|| panic!("{channels}"));
    assert_eq!(chat["kind"], "webchat");
    assert_eq!(chat["enabled"], true);
    app.stop().await;
}

both_backends!(
    a_conversation_becomes_a_ticket_and_replies_come_back,
    a_widget_that_reconnects_gets_exactly_what_it_missed,
    sessions_and_identities_cannot_be_forged,
    bad_frames_and_strangers_get_clear_answers,
    files_travel_both_ways_within_the_limits,
    outside_its_hours_the_chat_says_when_it_opens,
);
