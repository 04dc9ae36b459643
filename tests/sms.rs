//! The SMS channel end to end, against the fake Twilio (`tests/fakes/twilio.rs`):
//! signed texts in (signatures over the configured public URL), replies out with
//! segments counted, statuses in any order, opt-outs, MMS, and one contact across
//! SMS and WhatsApp.

#![allow(dead_code)] // each test binary uses a different part of the fakes

mod fakes;
mod support;

use std::time::Duration;

use fakes::twilio::{self, Failure, FakeTwilio};
use fakes::whatsapp::{self as wa, FakeWhatsApp};
use serde_json::{Value, json};
use support::{Backend, TestApp};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-auth-token";
const OUR_NUMBER: &str = "+15017122661";
const CUSTOMER: &str = "+14155550123";

fn channel(public_url: &str, fake: &FakeTwilio, extra: &str) -> String {
    format!(
        r#"
[channels.sms]
kind = "sms"
provider = "twilio"
public_url = "{public_url}"
from = "{OUR_NUMBER}"
timeout_seconds = 5
{extra}

[channels.sms.twilio]
account_sid = "{ACCOUNT}"
auth_token = "{AUTH_TOKEN}"
api_url = "{}"
"#,
        fake.api_url()
    )
}

/// A gateway whose public URL is its own address, so that the fake's status
/// callbacks reach it.
async fn gateway(backend: Backend, fake: &FakeTwilio, extra: &str) -> TestApp {
    support::spawn_at(backend, |url| channel(url, fake, extra)).await
}

/// A customer's text, signed over the public URL the way Twilio signs it.
async fn text(app: &TestApp, public_url: &str, from: &str, body: &str) -> (u16, String, String) {
    let params = twilio::inbound_sms(ACCOUNT, from, OUR_NUMBER, body, &[]);
    post(app, public_url, &params).await
}

/// Posts form parameters signed over `public_url`; the status, content type and body.
async fn post(
    app: &TestApp,
    public_url: &str,
    params: &[(String, String)],
) -> (u16, String, String) {
    let response = twilio::post_form(
        &format!("{}/webhooks/sms", app.url),
        &format!("{public_url}/webhooks/sms"),
        AUTH_TOKEN,
        params,
    )
    .await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

fn sid_of(params: &[(String, String)]) -> String {
    params
        .iter()
        .find(|(n, _)| n == "MessageSid")
        .unwrap()
        .1
        .clone()
}

/// The reference of the ticket holding the message with this provider id, and the message.
async fn stored(app: &TestApp, channel: &str, external_id: &str) -> (String, Value) {
    let (ticket, message) = app.wait_for_stored(channel, external_id).await;
    (ticket["reference"].as_str().unwrap().to_owned(), message)
}

/// The customer texts; the ticket's reference.
async fn customer_texts(app: &TestApp, body: &str) -> String {
    let params = twilio::inbound_sms(ACCOUNT, CUSTOMER, OUR_NUMBER, body, &[]);
    let (status, _, _) = post(app, &app.url, &params).await;
    assert_eq!(status, 200);
    stored(app, "sms", &sid_of(&params)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_text_becomes_a_ticket_and_the_reply_goes_back_with_its_segments() {
    let fake = FakeTwilio::start(ACCOUNT, AUTH_TOKEN).await;
    fake.auto_status(true);
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let params = twilio::inbound_sms(
        ACCOUNT,
        CUSTOMER,
        OUR_NUMBER,
        "My card was declined at the ATM",
        &[],
    );
    let (status, content_type, body) = post(&app, &app.url, &params).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    assert!(body.ends_with("<Response></Response>"), "{body}");
    let (reference, message) = stored(&app, "sms", &sid_of(&params)).await;
    assert_eq!(message["text"], "My card was declined at the ATM");
    let contact = &app.ticket(&reference).await["contact"];
    assert_eq!(contact["identities"][0]["kind"], "phone");
    assert_eq!(contact["identities"][0]["address"], CUSTOMER);

    // 171 GSM-7 units (the euro sign takes two): two segments of 153.
    let answer = format!(
        "{} €",
        "We unblocked your card, please try again. ".repeat(4)
    );
    let reply = app.reply(&reference, &answer).await;
    let reply_id = reply["message_id"].as_i64().unwrap();
    let delivered = app
        .wait_for_delivery(&reference, reply_id, "delivered")
        .await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, CUSTOMER);
    assert_eq!(sent[0].from.as_deref(), Some(OUR_NUMBER));
    assert_eq!(sent[0].body.as_deref(), Some(answer.trim()));
    assert_eq!(
        sent[0].status_callback.as_deref(),
        Some(format!("{}/webhooks/sms/status", app.url).as_str())
    );
    assert_eq!(delivered["external_id"].as_str(), sent[0].sid.as_deref());
    // The gateway's count agrees with Twilio's.
    assert_eq!(delivered["segments"], sent[0].num_segments);
    assert_eq!(delivered["segments"], 2);
    app.stop().await;
}

async fn signatures_are_checked_over_the_public_url(backend: Backend) {
    let fake = FakeTwilio::start(ACCOUNT, AUTH_TOKEN).await;
    // Behind a proxy: Twilio calls the public URL, the gateway sees another one.
    let public = "https://support.example.com";
    let app = support::spawn_with(backend, &channel(public, &fake, "")).await;
    let (status, _, _) = text(&app, public, CUSTOMER, "hello").await;
    assert_eq!(status, 200);
    // Signed over the address the request arrived at (the Host): not trusted.
    let (status, _, body) = text(&app, &app.url, CUSTOMER, "forged").await;
    assert_eq!(status, 403);
    assert!(body.contains("does not match"), "{body}");
    // Signed with another token, or not at all.
    let params = twilio::inbound_sms(ACCOUNT, CUSTOMER, OUR_NUMBER, "forged", &[]);
    let response = twilio::post_form(
        &format!("{}/webhooks/sms", app.url),
        &format!("{public}/webhooks/sms"),
        "another-token",
        &params,
    )
    .await;
    assert_eq!(response.status(), 403);
    let response = app
        .http
        .post(format!("{}/webhooks/sms", app.url))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("X-Twilio-Signature is missing")
    );
    // A parameter added after signing breaks it: every parameter counts.
    let mut tampered = params.clone();
    let signed = twilio::signature(AUTH_TOKEN, &format!("{public}/webhooks/sms"), &params);
    tampered.push(("Body".into(), "extra".into()));
    let response = app
        .http
        .post(format!("{}/webhooks/sms", app.url))
        .header("x-twilio-signature", signed)
        .form(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.count("messages").await, 1, "only the signed text");

    // Twilio retries: the same MessageSid is stored once.
    let params = twilio::inbound_sms(ACCOUNT, CUSTOMER, OUR_NUMBER, "twice", &[]);
    for _ in 0..2 {
        assert_eq!(post(&app, public, &params).await.0, 200);
    }
    assert_eq!(app.count("messages").await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statuses_out_of_order_end_at_delivered_and_failures_read_well() {
    let fake = FakeTwilio::start(ACCOUNT, AUTH_TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference = customer_texts(&app, "hi").await;
    let reply = app.reply(&reference, "Hello").await;
    let reply_id = reply["message_id"].as_i64().unwrap();
    let sent = app.wait_for_delivery(&reference, reply_id, "sent").await;
    let sid = sent["external_id"].as_str().unwrap().to_owned();
    for status in ["delivered", "sent", "sending", "queued"] {
        assert_eq!(fake.emit_status(&sid, status, None).await, 204, "{status}");
    }
    let message = app
        .wait_for_delivery(&reference, reply_id, "delivered")
        .await;
    assert!(message["failure_reason"].is_null());

    let reply = app.reply(&reference, "Hello again").await;
    let reply_id = reply["message_id"].as_i64().unwrap();
    let sent = app.wait_for_delivery(&reference, reply_id, "sent").await;
    let sid = sent["external_id"].as_str().unwrap().to_owned();
    assert_eq!(
        fake.emit_status(&sid, "undelivered", Some(30006)).await,
        204
    );
    let failed = app.wait_for_delivery(&reference, reply_id, "failed").await;
    assert_eq!(
        failed["failure_reason"],
        "the number is a landline or cannot receive SMS (Twilio error 30006)"
    );
    app.stop().await;
}

/// Malaysian mobiles of the 011 and 015 ranges, which a bundled numbering-plan table
/// once refused: the customer's text was answered 400 (and lost, since Twilio does
/// not retry a 400) and their WhatsApp replies were refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn numbers_a_numbering_plan_table_lacks_are_one_reachable_contact() {
    let twilio_fake = FakeTwilio::start(ACCOUNT, AUTH_TOKEN).await;
    let wa_fake = FakeWhatsApp::start("EAAGtoken", "meta-secret", wa::PHONE_NUMBER_ID).await;
    let whatsapp = format!(
        "[channels.whatsapp]\nkind = \"whatsapp\"\nphone_number_id = \"{}\"\naccess_token = \"EAAGtoken\"\napp_secret = \"meta-secret\"\nverify_token = \"v\"\napi_url = \"{}\"\n",
        wa::PHONE_NUMBER_ID,
        wa_fake.api_url()
    );
    let app = gateway(Backend::Sqlite, &twilio_fake, &whatsapp).await;
    for (n, number) in ["+601123456789", "+60154600123"].into_iter().enumerate() {
        let params = twilio::inbound_sms(ACCOUNT, number, OUR_NUMBER, "Deposit not credited", &[]);
        let (status, _, body) = post(&app, &app.url, &params).await;
        assert_eq!(status, 200, "{number}: {body}");
        let (sms_reference, _) = stored(&app, "sms", &sid_of(&params)).await;
        let sms_ticket = app.ticket(&sms_reference).await;
        assert_eq!(sms_ticket["contact"]["identities"][0]["kind"], "phone");
        assert_eq!(sms_ticket["contact"]["identities"][0]["address"], number);

        let wamid = format!("wamid.my-{n}");
        let body = wa::text_message(&number[1..], "Aisyah", &wamid, 1_749_416_383, "Also here");
        let response = wa::post_webhook(
            &format!("{}/webhooks/whatsapp", app.url),
            "meta-secret",
            &body,
        )
        .await;
        assert_eq!(response.status(), 200, "{number}");
        let (wa_reference, _) = stored(&app, "whatsapp", &wamid).await;
        let wa_ticket = app.ticket(&wa_reference).await;
        assert_eq!(
            wa_ticket["contact"]["id"], sms_ticket["contact"]["id"],
            "{number}"
        );

        // Both channels answer the number.
        let sms_reply = app.reply(&sms_reference, "Checking now.").await;
        app.wait_for_delivery(
            &sms_reference,
            sms_reply["message_id"].as_i64().unwrap(),
            "sent",
        )
        .await;
        let wa_reply = app.reply(&wa_reference, "Checking now.").await;
        app.wait_for_delivery(
            &wa_reference,
            wa_reply["message_id"].as_i64().unwrap(),
            "sent",
        )
        .await;
        assert_eq!(twilio_fake.sent()[n].to, number);
        assert_eq!(wa_fake.wait_for_sent(n + 1).await[n].to, &number[1..]);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_refuses_replies_until_start_and_leaves_whatsapp_alone() {
    let twilio_fake = FakeTwilio::start(ACCOUNT, AUTH_TOKEN).await;
    let wa_fake = FakeWhatsApp::start("EAAGtoken", "meta-secret", wa::PHONE_NUMBER_ID).await;
    let whatsapp = format!(
        "[channels.whatsapp]\nkind = \"whatsapp\"\nphone_number_id = \"{}\"\naccess_token = \"EAAGtoken\"\napp_secret = \"meta-secret\"\nverify_token = \"v\"\napi_url = \"{}\"\n",
        wa::PHONE_NUMBER_ID,
        wa_fake.api_url()
    );
    let app = gateway(Backend::Sqlite, &twilio_fake, &whatsapp).await;
    let reference = customer_texts(&app, "Where is my transfer?").await;

    // The same number on WhatsApp is the same contact.
    let digits = CUSTOMER.trim_start_matches('+');
    let body = wa::text_message(
        digits,
        "Ana Lima",
        "wamid.same-person",
        1_749_416_383,
        "Also here",
    );
    let response = wa::post_webhook(
        &format!("{}/webhooks/whatsapp", app.url),
        "meta-secret",
        &body,
    )
    .await;
    assert_eq!(response.status(), 200);
    let (wa_reference, _) = stored(&app, "whatsapp", "wamid.same-person").await;
    let sms_contact = app.ticket(&reference).await["contact"]["id"].clone();
    let wa_contact = app.ticket(&wa_reference).await["contact"]["id"].clone();
    assert_eq!(sms_contact, wa_contact);

    // STOP: recorded on the ticket, and SMS replies are refused at once.
    let params = twilio::inbound_sms(ACCOUNT, CUSTOMER, OUR_NUMBER, "STOP", &[]);
    assert_eq!(post(&app, &app.url, &params).await.0, 200);
    let (stop_ticket, stop) = stored(&app, "sms", &sid_of(&params)).await;
    assert_eq!(stop_ticket, reference);
    assert!(
        stop["text"].as_str().unwrap().contains("opted out of SMS"),
        "{stop}"
    );
    let reason = app
        .refused_reply(&reference, &json!({"text": "Are you there?"}))
        .await;
    assert!(reason.contains("opted out of SMS"), "{reason}");
    assert_eq!(
        app.ticket(&reference).await["reply"]["refused"],
        reason.as_str()
    );
    assert!(twilio_fake.sent().is_empty(), "nothing sent");
    let contact = &app.ticket(&reference).await["contact"];
    assert_eq!(contact["identities"][0]["unreachable"][0]["channel"], "sms");

    // WhatsApp still reaches the same number.
    let reply = app.reply(&wa_reference, "Here on WhatsApp then").await;
    app.wait_for_delivery(&wa_reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;

    // Any other text does not opt back in; START does.
    customer_texts(&app, "hello?").await;
    app.refused_reply(&reference, &json!({"text": "Hi"})).await;
    customer_texts(&app, "start").await;
    let reply = app.reply(&reference, "Welcome back").await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;

    // The carrier's own word (21610) marks the number too.
    twilio_fake.opt_out(CUSTOMER);
    let reply = app.reply(&reference, "One more thing").await;
    let failed = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "failed")
        .await;
    assert!(failed["failure_reason"].as_str().unwrap().contains("21610"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.try_reply(&reference, &json!({"text": "Hi"})).await.0 != 422 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "21610 did not mark the number"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_then_success_sends_once_and_errors_read_well() {
    let fake = FakeTwilio::start(ACCOUNT, AUTH_TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference = customer_texts(&app, "hi").await;
    fake.fail_next(Failure::TooManyRequests);
    fake.fail_next(Failure::ServerError);
    let reply = app.reply(&reference, "One moment").await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent.iter().filter(|s| s.sid.is_some()).count(),
        1,
        "accepted once"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sent().len(), 3, "and never again");

    fake.fail_next(Failure::invalid_to());
    let reply = app.reply(&reference, "Hello").await;
    let failed = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "failed")
        .await;
    assert_eq!(
        failed["failure_reason"],
        "the number is not a valid phone number (Twilio error 21211)"
    );

    fake.fail_next(Failure::authenticate());
    let reply = app.reply(&reference, "Hello").await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "failed")
        .await;
    let problem = app.wait_for_channel_problem("sms").await;
    assert!(problem.contains("20003"), "{problem}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_replies_are_split_and_capped() {
    let fake = FakeTwilio::start(ACCOUNT, AUTH_TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "max_segments = 12").await;
    let reference = customer_texts(&app, "Tell me everything").await;

    // 2,000 characters: two messages of at most 1,600, 14 segments: over the cap.
    let long = "Your statement is ready. ".repeat(80);
    let reason = app.refused_reply(&reference, &json!({"text": long})).await;
    assert!(
        reason.starts_with("the reply would take 14 SMS segments; this channel allows at most 12"),
        "{reason}"
    );
    let shorter = "Your statement is ready. ".repeat(70);
    let reply = app.reply(&reference, &shorter).await;
    let sent_message = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|s| s.body.as_ref().unwrap().chars().count() <= 1600)
    );
    let joined: Vec<&str> = sent.iter().map(|s| s.body.as_deref().unwrap()).collect();
    assert_eq!(joined.join(" "), shorter.trim());
    let total: u32 = sent.iter().map(|s| s.num_segments).sum();
    assert_eq!(sent_message["segments"], total);

    app.stop().await;
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_go_out_as_mms_from_signed_urls_that_expire() {
    let fake = FakeTwilio::start(ACCOUNT, AUTH_TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference = customer_texts(&app, "Send me the receipt").await;
    let png = b"\x89PNG the receipt".to_vec();
    let (status, answer) = app.try_reply(&reference, &json!({"text": "Here it is", "attachments": [{"filename": "receipt.png", "content_type": "image/png", "data": base64(&png)}]}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    app.wait_for_delivery(&reference, answer["message_id"].as_i64().unwrap(), "sent")
        .await;
    let sent = fake.sent();
    assert_eq!(sent[0].body.as_deref(), Some("Here it is"));
    assert_eq!(sent[0].media_urls.len(), 1);
    let url = &sent[0].media_urls[0];
    assert!(
        url.starts_with(&format!("{}/webhooks/sms/media/", app.url)),
        "{url}"
    );

    // Twilio fetches it, without credentials: the URL's signature is the key.
    let response = app.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.unwrap(), png);
    let forged = url.replace("type=image%2Fpng", "type=image%2Fgif");
    assert_eq!(app.http.get(&forged).send().await.unwrap().status(), 403);
    app.clock.advance(Duration::from_secs(25 * 3600));
    assert_eq!(
        app.http.get(url).send().await.unwrap().status(),
        403,
        "expired"
    );

    // What MMS cannot carry: refused at once, or failed with the reason.
    let eleven: Vec<Value> = (0..11)
        .map(|n| json!({"filename": format!("{n}.png"), "content_type": "image/png", "data": base64(&png)}))
        .collect();
    let reason = app
        .refused_reply(&reference, &json!({"text": "all", "attachments": eleven}))
        .await;
    assert!(reason.contains("at most 10 files"), "{reason}");
    let (status, answer) = app.try_reply(&reference, &json!({"text": "", "attachments": [{"filename": "contract.docx", "content_type": "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "data": base64(b"PK")}]}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let failed = app
        .wait_for_delivery(&reference, answer["message_id"].as_i64().unwrap(), "failed")
        .await;
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .contains("which MMS does not carry"),
        "{failed}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mms_files_are_downloaded_with_the_account_credentials() {
    let fake = FakeTwilio::start(ACCOUNT, AUTH_TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let photo = b"\x89PNG a photo of the declined payment".to_vec();
    let url = fake.add_media(&photo, "image/png");
    let params = twilio::inbound_sms(
        ACCOUNT,
        CUSTOMER,
        OUR_NUMBER,
        "see the screenshot",
        &[(url, "image/png".to_owned())],
    );
    assert_eq!(post(&app, &app.url, &params).await.0, 200);
    let (_, message) = stored(&app, "sms", &sid_of(&params)).await;
    assert_eq!(message["text"], "see the screenshot");
    assert_eq!(message["attachments"][0]["filename"], "mms-1.png");
    assert_eq!(message["attachments"][0]["size"], photo.len());
    assert_eq!(fake.media_downloads(), 1);

    // A file that is gone: the text says so, the message is kept.
    let gone = format!(
        "{}/2010-04-01/Accounts/{ACCOUNT}/Messages/MM00000000000000000000000000000000/Media/ME00000000000000000000000000000000",
        fake.api_url()
    );
    let params = twilio::inbound_sms(
        ACCOUNT,
        CUSTOMER,
        OUR_NUMBER,
        "",
        &[(gone, "image/jpeg".to_owned())],
    );
    assert_eq!(post(&app, &app.url, &params).await.0, 200);
    let (_, message) = stored(&app, "sms", &sid_of(&params)).await;
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .starts_with("[mms-1.jpg could not be fetched: the download answered 404"),
        "{message}"
    );
    app.stop().await;
}

/// The channel's `timeout_seconds` holds for MMS downloads too (a 60 s timeout was
/// once hard-coded): a file server that never answers costs the webhook seconds,
/// and the message is kept with a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mms_downloads_give_up_after_the_channels_timeout() {
    let fake = FakeTwilio::start(ACCOUNT, AUTH_TOKEN).await;
    let app = support::spawn_at(Backend::Sqlite, |url| {
        channel(url, &fake, "").replace("timeout_seconds = 5", "timeout_seconds = 1")
    })
    .await;
    // Accepts connections and reads the request, but never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/media/ME1", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let params = twilio::inbound_sms(
        ACCOUNT,
        CUSTOMER,
        OUR_NUMBER,
        "the photo",
        &[(url, "image/jpeg".to_owned())],
    );
    let started = std::time::Instant::now();
    assert_eq!(post(&app, &app.url, &params).await.0, 200);
    let took = started.elapsed();
    // Three tries of one second each, and the pauses between them.
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let (_, message) = stored(&app, "sms", &sid_of(&params)).await;
    let text = message["text"].as_str().unwrap();
    assert!(
        text.starts_with("the photo\n[mms-1.jpg could not be fetched"),
        "{text}"
    );
    let problem = app.wait_for_problem_everywhere("sms", "media").await;
    assert!(problem.contains("MMS file"), "{problem}");
    app.stop().await;
}

both_backends!(signatures_are_checked_over_the_public_url);
