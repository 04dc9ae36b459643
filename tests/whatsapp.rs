//! The WhatsApp channel end to end, against the fake Graph API
//! (`tests/fakes/whatsapp.rs`): signed webhooks in, replies out quoting the
//! customer, media fetched and checked, statuses in any order, the 24-hour window,
//! and the Graph API's error codes.

#![allow(dead_code)] // each test binary uses a different part of the fakes

mod fakes;
mod support;

use std::time::Duration;

use fakes::whatsapp::{self, Failure, FakeWhatsApp};
use serde_json::{Value, json};
use support::{Backend, TestApp};

const TOKEN: &str = "EAAGtest-access-token";
const APP_SECRET: &str = "meta-app-secret";
const VERIFY_TOKEN: &str = "verify-me-please";
const PHONE_ID: &str = "106540352242922";
const CUSTOMER: &str = "16505551234";
const DAY: Duration = Duration::from_secs(24 * 3600);

async fn gateway(backend: Backend, fake: &FakeWhatsApp, extra: &str) -> TestApp {
    let app = support::spawn_with(
        backend,
        &format!(
            r#"
[channels.whatsapp]
kind = "whatsapp"
phone_number_id = "{PHONE_ID}"
access_token = "{TOKEN}"
app_secret = "{APP_SECRET}"
verify_token = "{VERIFY_TOKEN}"
api_url = "{}"
timeout_seconds = 5
{extra}
"#,
            fake.api_url()
        ),
    )
    .await;
    fake.set_webhook(&format!("{}/webhooks/whatsapp", app.url));
    app
}

fn webhook_url(app: &TestApp) -> String {
    format!("{}/webhooks/whatsapp", app.url)
}

/// Posts a notification signed with the app secret; the status.
async fn deliver(app: &TestApp, body: &Value) -> u16 {
    whatsapp::post_webhook(&webhook_url(app), APP_SECRET, body)
        .await
        .status()
        .as_u16()
}

/// The customer writes `text` as message `wamid`; the ticket's reference.
async fn customer_writes(app: &TestApp, fake: &FakeWhatsApp, wamid: &str, text: &str) -> String {
    fake.customer_wrote(CUSTOMER);
    let body = whatsapp::text_message(CUSTOMER, "Sheena Nelson", wamid, 1_749_416_383, text);
    assert_eq!(deliver(app, &body).await, 200);
    stored(app, wamid).await.0
}

/// The reference of the ticket holding the message with this wamid, and the message.
async fn stored(app: &TestApp, wamid: &str) -> (String, Value) {
    let (ticket, message) = app.wait_for_stored("whatsapp", wamid).await;
    (ticket["reference"].as_str().unwrap().to_owned(), message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_verification_handshake_echoes_the_challenge_only_for_the_right_token() {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let get = |query: String| {
        let http = app.http.clone();
        let url = format!("{}?{query}", webhook_url(&app));
        async move {
            let response = http.get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, body) = get(format!(
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"
    ))
    .await;
    assert_eq!((status, body.as_str()), (200, "1158201444"));
    for query in [
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong".to_owned(),
        "hub.mode=subscribe&hub.challenge=1158201444".to_owned(),
        format!("hub.mode=unsubscribe&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}"),
        format!("hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}"),
    ] {
        assert_eq!(get(query.clone()).await.0, 403, "{query}");
    }
    app.stop().await;
}

async fn unsigned_and_forged_notifications_store_nothing(backend: Backend) {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    let app = gateway(backend, &fake, "").await;
    let body = whatsapp::text_message(CUSTOMER, "Sheena", "wamid.s1", 1_749_416_383, "hello");
    let bytes = body.to_string();
    let post = |signature: Option<String>, bytes: String| {
        let mut request = app
            .http
            .post(webhook_url(&app))
            .header("content-type", "application/json")
            .body(bytes);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, answer) = post(None, bytes.clone()).await;
    assert_eq!(status, 401);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{answer}"
    );
    let forged = whatsapp::signature("not-the-app-secret", bytes.as_bytes());
    assert_eq!(post(Some(forged), bytes.clone()).await.0, 401);
    // Signed, then changed in transit (re-serialized): the exact bytes count.
    let signed = whatsapp::signature(APP_SECRET, bytes.as_bytes());
    let pretty = serde_json::to_string_pretty(&body).unwrap();
    assert_eq!(post(Some(signed.clone()), pretty).await.0, 401);
    assert_eq!(app.count("messages").await, 0, "nothing stored");

    // Signed but not a notification: 400, naming it.
    let junk = r#"{"object":"page","entry":[]}"#.to_owned();
    let (status, answer) = post(Some(whatsapp::signature(APP_SECRET, junk.as_bytes())), junk).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("whatsapp_business_account")
    );

    // The real one, twice (Meta retries): stored once.
    assert_eq!(post(Some(signed.clone()), bytes.clone()).await.0, 200);
    assert_eq!(post(Some(signed), bytes).await.0, 200);
    assert_eq!(app.count("messages").await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_becomes_a_ticket_and_the_reply_quotes_it() {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    fake.auto_status(true);
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference =
        customer_writes(&app, &fake, "wamid.in1", "Does it come in another color?").await;
    let (_, message) = stored(&app, "wamid.in1").await;
    assert_eq!(message["text"], "Does it come in another color?");
    let detail = app.ticket(&reference).await;
    assert_eq!(detail["contact"]["name"], "Sheena Nelson");
    assert_eq!(detail["contact"]["identities"][0]["kind"], "phone");
    assert_eq!(
        detail["contact"]["identities"][0]["address"],
        "+16505551234"
    );

    let reply = app
        .reply(
            &reference,
            "Yes: blue and green. https://example.com/colors",
        )
        .await;
    let reply_id = reply["message_id"].as_i64().unwrap();
    // The fake posts sent, then delivered, as WhatsApp does.
    let delivered = app
        .wait_for_delivery(&reference, reply_id, "delivered")
        .await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, CUSTOMER);
    assert_eq!(sent[0].kind, "text");
    assert_eq!(
        sent[0].text.as_deref(),
        Some("Yes: blue and green. https://example.com/colors")
    );
    assert_eq!(sent[0].context_message_id.as_deref(), Some("wamid.in1"));
    assert_eq!(sent[0].preview_url, Some(false));
    assert_eq!(delivered["external_id"].as_str(), sent[0].wamid.as_deref());

    // The customer quotes our reply: same ticket.
    let wamid = sent[0].wamid.clone().unwrap();
    let mut answer = whatsapp::text_message(
        CUSTOMER,
        "Sheena Nelson",
        "wamid.in2",
        1_749_416_500,
        "the green one",
    );
    answer["entry"][0]["changes"][0]["value"]["messages"][0]["context"] =
        json!({"from": "15550783881", "id": wamid});
    assert_eq!(deliver(&app, &answer).await, 200);
    assert_eq!(stored(&app, "wamid.in2").await.0, reference);

    // A reaction to our reply lands on its ticket without reopening anything.
    let reaction = whatsapp::envelope(
        PHONE_ID,
        json!({
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": CUSTOMER}],
            "messages": [{"from": CUSTOMER, "id": "wamid.in3", "timestamp": "1749416600", "type": "reaction",
                          "reaction": {"message_id": wamid, "emoji": "\u{2764}\u{FE0F}"}}],
        }),
    );
    assert_eq!(deliver(&app, &reaction).await, 200);
    let (ticket, message) = stored(&app, "wamid.in3").await;
    assert_eq!(ticket, reference);
    assert_eq!(message["text"], "[reaction] \u{2764}\u{FE0F}");
    assert_eq!(message["automatic"], true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_replies_are_split_and_files_go_with_a_caption() {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    let app = gateway(Backend::Sqlite, &fake, "max_text_chars = 100").await;
    let reference = customer_writes(&app, &fake, "wamid.l1", "Send me the statement").await;
    let long = "This sentence is part of a rather long answer. ".repeat(5);
    let reply = app.reply(&reference, &long).await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let sent = fake.sent();
    assert!(sent.len() >= 3, "{sent:?}");
    assert!(
        sent.iter()
            .all(|s| s.text.as_ref().unwrap().chars().count() <= 100)
    );
    let joined: Vec<&str> = sent.iter().map(|s| s.text.as_deref().unwrap()).collect();
    assert_eq!(joined.join(" "), long.trim());
    assert_eq!(sent[0].context_message_id.as_deref(), Some("wamid.l1"));
    assert!(
        sent[1..].iter().all(|s| s.context_message_id.is_none()),
        "only the first quotes"
    );

    // A file with the text as its caption: uploaded, then sent by id.
    let pdf = b"%PDF-1.4 statement".to_vec();
    let (status, answer) = app
        .try_reply(
            &reference,
            &json!({"text": "Your statement", "attachments": [{
            "filename": "statement.pdf", "content_type": "application/pdf",
            "data": base64_encode(&pdf)}]}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    app.wait_for_delivery(&reference, answer["message_id"].as_i64().unwrap(), "sent")
        .await;
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].bytes, pdf);
    assert_eq!(uploads[0].mime_type, "application/pdf");
    let last = fake.sent().pop().unwrap();
    assert_eq!(last.kind, "document");
    assert_eq!(last.media_id.as_deref(), Some(uploads[0].media_id.as_str()));
    assert_eq!(last.filename.as_deref(), Some("statement.pdf"));
    assert_eq!(last.text.as_deref(), Some("Your statement"));
    app.stop().await;
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn media_is_downloaded_checked_and_retried() {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let photo = b"\xff\xd8\xff\xe0 a photo of the receipt".to_vec();
    let media_id = fake.add_media(&photo, "image/jpeg");
    // Meta gives the digest in base64; the gateway stores files under their hex one.
    let sha = base64_encode(&<sha2::Sha256 as sha2::Digest>::digest(&photo));
    let image = |wamid: &str, id: &str| {
        whatsapp::envelope(
            PHONE_ID,
            json!({
                "contacts": [{"profile": {"name": "Sheena"}, "wa_id": CUSTOMER}],
                "messages": [{"from": CUSTOMER, "id": wamid, "timestamp": "1749416383", "type": "image",
                              "image": {"caption": "the receipt", "mime_type": "image/jpeg", "sha256": sha, "id": id}}],
            }),
        )
    };
    // Two lookups fail, the third works: one message with the photo.
    fake.fail_media(&media_id, 2);
    assert_eq!(deliver(&app, &image("wamid.m1", &media_id)).await, 200);
    let (_, message) = stored(&app, "wamid.m1").await;
    assert_eq!(message["text"], "the receipt");
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["content_type"], "image/jpeg");
    assert_eq!(attachment["sha256"], hex_sha256(&photo));
    assert_eq!(attachment["size"], photo.len());

    // Bytes that do not match the sha256: never stored as the customer's file.
    let other = fake.add_media(b"other bytes", "image/jpeg");
    fake.corrupt_media(&other);
    assert_eq!(deliver(&app, &image("wamid.m2", &other)).await, 200);
    let (_, message) = stored(&app, "wamid.m2").await;
    assert!(message["attachments"].as_array().unwrap().is_empty());
    let text = message["text"].as_str().unwrap();
    assert!(text.starts_with("the receipt\n[image "), "{text}");
    assert!(text.contains("another sha256"), "{text}");
    // Shown to operators until a file comes through again.
    let problem = app.wait_for_problem_everywhere("whatsapp", "media").await;
    assert!(problem.contains("another sha256"), "{problem}");
    assert_eq!(deliver(&app, &image("wamid.m3", &media_id)).await, 200);
    stored(&app, "wamid.m3").await;
    assert!(app.channel_problem("whatsapp").await.is_none());
    app.stop().await;
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outside_the_window_a_reply_is_refused_with_the_reason() {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference = customer_writes(&app, &fake, "wamid.w1", "Is my card shipped?").await;
    app.clock.advance(DAY + Duration::from_secs(60));
    fake.close_window(CUSTOMER);
    // The ticket says so before anyone writes the reply, in the same words.
    let preview = &app.ticket(&reference).await["reply"];
    assert_eq!(preview["channel"], "whatsapp");
    assert_eq!(preview["recipient"]["address"], format!("+{CUSTOMER}"));
    let reason = app
        .refused_reply(&reference, &json!({"text": "Yes, yesterday."}))
        .await;
    assert!(
        reason.starts_with("outside WhatsApp's 24-hour window"),
        "{reason}"
    );
    assert_eq!(preview["refused"], reason.as_str());
    assert!(fake.sent().is_empty(), "nothing sent");

    // The customer writes again: the window is open, the reply goes out.
    customer_writes(&app, &fake, "wamid.w2", "Hello?").await;
    assert!(
        app.ticket(&reference).await["reply"]
            .get("refused")
            .is_none()
    );
    let reply = app.reply(&reference, "Yes, yesterday.").await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outside_the_window_the_configured_template_goes_out() {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    fake.approve_template("support_followup", "en_US", 1);
    let app = gateway(
        Backend::Sqlite,
        &fake,
        "[channels.whatsapp.window_template]\nname = \"support_followup\"\nlanguage = \"en_US\"",
    )
    .await;
    let reference = customer_writes(&app, &fake, "wamid.t1", "Is my card shipped?").await;
    app.clock.advance(DAY * 2);
    fake.close_window(CUSTOMER);
    let reply = app.reply(&reference, "Yes,\nit shipped yesterday.").await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, "template");
    assert_eq!(
        sent[0].template,
        Some((
            "support_followup".to_owned(),
            "en_US".to_owned(),
            vec!["Yes, it shipped yesterday.".to_owned()]
        ))
    );
    // Files cannot go in a template: refused, with the reason.
    let reason = app
        .refused_reply(
            &reference,
            &json!({"text": "here", "attachments": [{"filename": "a.txt", "data": base64_encode(b"a")}]}),
        )
        .await;
    assert!(reason.contains("without files"), "{reason}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whatsapps_own_window_verdict_fails_the_reply_with_the_same_reason() {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    // The gateway saw the customer recently, WhatsApp disagrees (131047): at once,
    let reference = customer_writes(&app, &fake, "wamid.x1", "hi").await;
    fake.close_window(CUSTOMER);
    let reply = app.reply(&reference, "Hello!").await;
    let failed = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "failed")
        .await;
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .starts_with("outside WhatsApp's 24-hour window"),
        "{failed}"
    );
    assert_eq!(fake.sent().len(), 1, "a permanent error is not retried");
    // or later, as a failed status.
    fake.late_window_failures(true);
    let reply = app.reply(&reference, "Hello again!").await;
    let failed = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "failed")
        .await;
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .starts_with("outside WhatsApp's 24-hour window")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_then_success_delivers_once_and_errors_read_well() {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference = customer_writes(&app, &fake, "wamid.r1", "hi").await;

    fake.fail_next(Failure::RATE_LIMIT_HIT);
    fake.fail_next(Failure::SOMETHING_WENT_WRONG);
    let reply = app.reply(&reference, "One moment").await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 3, "two refusals, then the one that went out");
    assert_eq!(sent.iter().filter(|s| s.wamid.is_some()).count(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sent().len(), 3, "and never again");

    for (failure, says) in [
        (Failure::UNDELIVERABLE, "cannot deliver to this number"),
        (Failure::INVALID_PARAMETER, "invalid"),
    ] {
        let code = failure.error_code();
        fake.fail_next(failure);
        let reply = app.reply(&reference, "Hello").await;
        let failed = app
            .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "failed")
            .await;
        let reason = failed["failure_reason"].as_str().unwrap();
        assert!(
            reason.contains(says) && reason.contains(&code.to_string()),
            "{reason}"
        );
    }

    // An expired token fails the reply and shows on the channel until a send works.
    fake.fail_next(Failure::TOKEN_EXPIRED);
    let reply = app.reply(&reference, "Hello").await;
    let failed = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "failed")
        .await;
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .contains("access_token")
    );
    let problem = app.wait_for_channel_problem("whatsapp").await;
    assert!(problem.contains("access token"), "{problem}");
    let reply = app.reply(&reference, "Hello").await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    assert!(app.channel_problem("whatsapp").await.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statuses_out_of_order_never_move_backwards() {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference = customer_writes(&app, &fake, "wamid.o1", "hi").await;
    let reply = app.reply(&reference, "Hello").await;
    let reply_id = reply["message_id"].as_i64().unwrap();
    let sent = app.wait_for_delivery(&reference, reply_id, "sent").await;
    let wamid = sent["external_id"].as_str().unwrap().to_owned();
    assert_eq!(fake.emit_status(&wamid, "read", None).await, 200);
    assert_eq!(fake.emit_status(&wamid, "delivered", None).await, 200);
    assert_eq!(fake.emit_status(&wamid, "sent", None).await, 200);
    assert_eq!(
        fake.emit_status(&wamid, "failed", Some((131026, "Message undeliverable")))
            .await,
        200
    );
    let message = app.wait_for_delivery(&reference, reply_id, "read").await;
    assert!(message["failure_reason"].is_null());
    app.stop().await;
}

both_backends!(unsigned_and_forged_notifications_store_nothing);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_satisfaction_survey_is_a_list_and_the_pick_rates_the_ticket() {
    let fake = FakeWhatsApp::start(TOKEN, APP_SECRET, PHONE_ID).await;
    let app = gateway(Backend::Sqlite, &fake, "[helpdesk.csat]").await;
    let reference = customer_writes(&app, &fake, "wamid.q1", "My withdrawal is stuck").await;
    app.reply(&reference, "It went out now, sorry for the wait.")
        .await;
    let (status, body) = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/tickets/{reference}"),
            support::AGENT_TOKEN,
            &json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Five choices are more than WhatsApp's three reply buttons: a list.
    let survey = fake.wait_for_sent(2).await.pop().unwrap();
    assert_eq!(survey.kind, "interactive", "{}", survey.body);
    let interactive = &survey.body["interactive"];
    assert_eq!(interactive["type"], "list");
    assert!(survey.text.as_deref().unwrap().contains(&reference));
    let rows = interactive["action"]["sections"][0]["rows"]
        .as_array()
        .unwrap();
    let picked: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["title"].as_str().unwrap()))
        .collect();
    assert_eq!(
        picked,
        [
            ("csat:1", "1"),
            ("csat:2", "2"),
            ("csat:3", "3"),
            ("csat:4", "4"),
            ("csat:5", "5")
        ]
    );

    // The customer picks 4, as WhatsApp reports a list pick.
    let pick = whatsapp::inbound(
        PHONE_ID,
        CUSTOMER,
        "Sheena Nelson",
        json!({"from": CUSTOMER, "id": "wamid.pick", "timestamp": "1749416900", "type": "interactive",
               "context": {"from": "15550783881", "id": survey.wamid.clone().unwrap()},
               "interactive": {"type": "list_reply", "list_reply": {"id": "csat:4", "title": "4"}}}),
    );
    assert_eq!(deliver(&app, &pick).await, 200);
    let (ticket, _) = stored(&app, "wamid.pick").await;
    assert_eq!(ticket, reference, "the rating is part of the rated ticket");
    let detail = app.ticket(&reference).await;
    assert_eq!(detail["ticket"]["csat_rating"], 4);
    assert_eq!(
        detail["ticket"]["status"], "resolved",
        "a rating does not reopen"
    );
    assert_eq!(app.count("tickets").await, 1);
    app.stop().await;
}
