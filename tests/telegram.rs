//! The Telegram channel end to end: real-shaped updates into tickets (a table of
//! payloads, one per kind of message), the webhook's secret and input checks,
//! replies out through a strict fake Bot API (threading, splitting, files, errors),
//! and polling with the offset kept across restarts.

#[allow(dead_code)] // each test binary uses a different part of the fakes
mod fakes;
mod support;

use std::time::{Duration, Instant};

use fakes::telegram::{BOT_ID, BOT_USERNAME, Failure, FakeTelegram};
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Backend, TestApp};

const TOKEN: &str = "7000000001:test-token";
const WEBHOOK_SECRET: &str = "tg-secret_1";

async fn gateway(backend: Backend, fake: &FakeTelegram, extra: &str) -> TestApp {
    support::spawn_with(
        backend,
        &format!(
            r#"
[channels.telegram]
kind = "telegram"
token = "{TOKEN}"
webhook_secret = "{WEBHOOK_SECRET}"
api_url = "{}"
timeout_seconds = 5
{extra}
"#,
            fake.api_url()
        ),
    )
    .await
}

async fn post(app: &TestApp, body: &[u8], secret: Option<&str>) -> (u16, String) {
    let mut request = app
        .http
        .post(format!("{}/webhooks/telegram", app.url))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(secret) = secret {
        request = request.header("x-telegram-bot-api-secret-token", secret);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Delivers an update as Telegram does and expects it acknowledged.
async fn deliver(app: &TestApp, update: &Value) {
    let (status, body) = post(app, update.to_string().as_bytes(), Some(WEBHOOK_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "", "Telegram would run a method named in the answer");
}

fn user(id: i64, first: &str, username: &str) -> Value {
    json!({"id": id, "is_bot": false, "first_name": first, "last_name": "Lima",
           "username": username, "language_code": "pt-br"})
}

fn private_chat(id: i64) -> Value {
    json!({"id": id, "type": "private", "first_name": "Ana", "last_name": "Lima", "username": "ana_lima"})
}

/// An update carrying a message from user `chat` in their private chat; `fields`
/// adds the content (text, photo, ...).
fn update(update_id: i64, chat: i64, message_id: i64, fields: Value) -> Value {
    let mut message = json!({
        "message_id": message_id,
        "date": 1_763_800_000,
        "chat": private_chat(chat),
        "from": user(chat, "Ana", "ana_lima"),
    });
    message
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    json!({"update_id": update_id, "message": message})
}

/// The stored message with this Telegram id, with its ticket (via the agent API).
fn attachment_names(message: &Value) -> Vec<(String, String)> {
    message["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["filename"].as_str().unwrap().to_owned(),
                a["content_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn photo_sizes(unique: &str) -> Value {
    json!([
        {"file_id": format!("{unique}-s"), "file_unique_id": format!("{unique}s"), "width": 90, "height": 67, "file_size": 1200},
        {"file_id": format!("{unique}-m"), "file_unique_id": format!("{unique}m"), "width": 320, "height": 240, "file_size": 15000},
        {"file_id": format!("{unique}-l"), "file_unique_id": unique, "width": 1280, "height": 960, "file_size": 120000}
    ])
}

/// One real-shaped update and what it must become.
struct Case {
    name: &'static str,
    updates: Vec<Value>,
    /// (file_id, file_path, bytes) the fake serves.
    files: Vec<(&'static str, &'static str, &'static [u8])>,
    /// The Telegram id of the stored message; `None`: nothing may be stored.
    stored_as: Option<&'static str>,
    text: &'static str,
    attachments: Vec<(&'static str, &'static str)>,
    author: &'static str,
}

fn cases() -> Vec<Case> {
    let group = -1_001_234_567_890_i64;
    let group_chat = json!({"id": group, "type": "supergroup", "title": "Exchange VIP"});
    let in_group = |update_id: i64, message_id: i64, text: &str| {
        json!({"update_id": update_id, "message": {
            "message_id": message_id, "date": 1_763_800_100, "chat": group_chat,
            "from": user(501, "Bruno", "bruno_trader"), "text": text}})
    };
    vec![
        Case {
            name: "text",
            updates: vec![update(
                1,
                101,
                11,
                json!({"text": "My withdrawal of 0.5 BTC is pending since yesterday"}),
            )],
            files: vec![],
            stored_as: Some("101:11"),
            text: "My withdrawal of 0.5 BTC is pending since yesterday",
            attachments: vec![],
            author: "Ana Lima (@ana_lima)",
        },
        Case {
            name: "photo with caption: the largest size is fetched",
            updates: vec![update(
                2,
                102,
                12,
                json!({"photo": photo_sizes("AQADphoto"), "caption": "Screenshot of the error"}),
            )],
            files: vec![(
                "AQADphoto-l",
                "photos/file_7.jpg",
                b"\xff\xd8\xff large jpeg",
            )],
            stored_as: Some("102:12"),
            text: "Screenshot of the error",
            attachments: vec![("photo_AQADphoto.jpg", "image/jpeg")],
            author: "Ana Lima (@ana_lima)",
        },
        Case {
            name: "document without mime_type",
            updates: vec![update(
                3,
                103,
                13,
                json!({"document": {
                "file_id": "BQACdoc", "file_unique_id": "AgADdoc", "file_name": "statement.pdf", "file_size": 2048}}),
            )],
            files: vec![("BQACdoc", "documents/file_3.pdf", b"%PDF-1.7 statement")],
            stored_as: Some("103:13"),
            text: "",
            attachments: vec![("statement.pdf", "application/octet-stream")],
            author: "Ana Lima (@ana_lima)",
        },
        Case {
            name: "voice",
            updates: vec![update(
                4,
                104,
                14,
                json!({"voice": {
                "file_id": "AwACvoice", "file_unique_id": "AgADvoice", "duration": 4, "mime_type": "audio/ogg", "file_size": 9000}}),
            )],
            files: vec![("AwACvoice", "voice/file_4.oga", b"OggS voice")],
            stored_as: Some("104:14"),
            text: "",
            attachments: vec![("voice_AgADvoice.ogg", "audio/ogg")],
            author: "Ana Lima (@ana_lima)",
        },
        Case {
            name: "sticker: its emoji as text",
            updates: vec![update(
                5,
                105,
                15,
                json!({"sticker": {
                "file_id": "CAACsticker", "file_unique_id": "AgADsticker", "type": "regular", "width": 512, "height": 512,
                "is_animated": false, "is_video": false, "emoji": "👍", "set_name": "HotCherry", "file_size": 20000}}),
            )],
            files: vec![],
            stored_as: Some("105:15"),
            text: "👍",
            attachments: vec![],
            author: "Ana Lima (@ana_lima)",
        },
        Case {
            name: "location",
            updates: vec![update(
                6,
                106,
                16,
                json!({"location": {"latitude": 52.520008, "longitude": 13.404954}}),
            )],
            files: vec![],
            stored_as: Some("106:16"),
            text: "📍 Location: 52.520008, 13.404954\nhttps://www.openstreetmap.org/?mlat=52.520008&mlon=13.404954#map=17/52.520008/13.404954",
            attachments: vec![],
            author: "Ana Lima (@ana_lima)",
        },
        Case {
            name: "contact",
            updates: vec![update(
                7,
                107,
                17,
                json!({"contact": {
                "phone_number": "+5511987654321", "first_name": "Bruno", "last_name": "Souza", "user_id": 501}}),
            )],
            files: vec![],
            stored_as: Some("107:17"),
            text: "👤 Contact: Bruno Souza, +5511987654321",
            attachments: vec![],
            author: "Ana Lima (@ana_lima)",
        },
        Case {
            name: "edited message: recorded against the original",
            updates: vec![update(8, 108, 18, json!({"text": "I sent 5 ETH"})), {
                let mut edit = update(
                    9,
                    108,
                    18,
                    json!({"text": "I sent 0.5 ETH", "edit_date": 1_763_800_060}),
                );
                let message = edit["message"].take();
                json!({"update_id": 9, "edited_message": message})
            }],
            files: vec![],
            stored_as: Some("108:18"),
            text: "I sent 0.5 ETH",
            attachments: vec![],
            author: "Ana Lima (@ana_lima)",
        },
        Case {
            name: "group message that does not address the bot: ignored",
            updates: vec![in_group(10, 20, "anyone knows when the market opens?")],
            files: vec![],
            stored_as: None,
            text: "",
            attachments: vec![],
            author: "",
        },
        Case {
            name: "group message mentioning the bot",
            updates: vec![in_group(
                11,
                21,
                &format!("@{BOT_USERNAME} my deposit is missing"),
            )],
            files: vec![],
            stored_as: Some("-1001234567890:21"),
            text: "@switchboard_test_bot my deposit is missing",
            attachments: vec![],
            author: "Bruno Lima (@bruno_trader)",
        },
        Case {
            name: "album of two photos: one message",
            updates: vec![
                update(
                    12,
                    110,
                    30,
                    json!({"media_group_id": "13722115030467191", "photo": photo_sizes("AQADfront"), "caption": "Both sides of my ID"}),
                ),
                update(
                    13,
                    110,
                    31,
                    json!({"media_group_id": "13722115030467191", "photo": photo_sizes("AQADback")}),
                ),
            ],
            files: vec![
                ("AQADfront-l", "photos/file_30.jpg", b"\xff\xd8 front"),
                ("AQADback-l", "photos/file_31.jpg", b"\xff\xd8 back"),
            ],
            stored_as: Some("110:30"),
            text: "Both sides of my ID",
            attachments: vec![
                ("photo_AQADfront.jpg", "image/jpeg"),
                ("photo_AQADback.jpg", "image/jpeg"),
            ],
            author: "Ana Lima (@ana_lima)",
        },
        Case {
            name: "callback query: the button's label as text",
            updates: vec![json!({"update_id": 14, "callback_query": {
                "id": "4382bfdwdsb323b2d9", "from": user(111, "Ana", "ana_lima"), "chat_instance": "-8161",
                "data": "resolved:yes",
                "message": {"message_id": 40, "date": 1_763_800_000, "chat": private_chat(111),
                    "from": {"id": BOT_ID, "is_bot": true, "first_name": "Switchboard Test Bot", "username": BOT_USERNAME},
                    "text": "Is your issue resolved?",
                    "reply_markup": {"inline_keyboard": [[
                        {"text": "Yes, resolved", "callback_data": "resolved:yes"},
                        {"text": "No", "callback_data": "resolved:no"}]]}}}})],
            files: vec![],
            stored_as: Some("callback:4382bfdwdsb323b2d9"),
            text: "[button] Yes, resolved",
            attachments: vec![],
            author: "Ana Lima (@ana_lima)",
        },
        Case {
            name: "an update type the gateway does not handle",
            updates: vec![json!({"update_id": 15, "my_chat_member": {
                "chat": private_chat(112), "from": user(112, "Ana", "ana_lima"), "date": 1_763_800_000,
                "old_chat_member": {"user": {"id": BOT_ID, "is_bot": true, "first_name": "Bot"}, "status": "member"},
                "new_chat_member": {"user": {"id": BOT_ID, "is_bot": true, "first_name": "Bot"}, "status": "kicked", "until_date": 0}}})],
            files: vec![],
            stored_as: None,
            text: "",
            attachments: vec![],
            author: "",
        },
        Case {
            name: "a file over the 20 MB bot limit becomes a readable note",
            updates: vec![update(
                16,
                113,
                19,
                json!({"caption": "full video of the bug", "video": {
                "file_id": "BAACbig", "file_unique_id": "AgADbig", "width": 1920, "height": 1080, "duration": 300,
                "file_name": "bug.mp4", "mime_type": "video/mp4", "file_size": 73_400_320}}),
            )],
            files: vec![],
            stored_as: Some("113:19"),
            text: "full video of the bug\n[video bug.mp4, 70.0 MB: larger than the gateway can fetch from Telegram (bots may download at most 20 MB); ask the customer to send it another way]",
            attachments: vec![],
            author: "Ana Lima (@ana_lima)",
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_shaped_updates_become_the_right_tickets_and_messages() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let mut expected_messages = 0;
    for case in cases() {
        for (id, path, bytes) in &case.files {
            fake.add_file(id, path, bytes.to_vec());
        }
        for update in &case.updates {
            fake.know_update(update);
            deliver(&app, update).await;
        }
        let Some(external_id) = case.stored_as else {
            assert_eq!(
                app.count("messages").await,
                expected_messages,
                "{}: stored something",
                case.name
            );
            continue;
        };
        expected_messages += 1;
        assert_eq!(
            app.count("messages").await,
            expected_messages,
            "{}: one message",
            case.name
        );
        let (ticket, message) = app
            .stored("telegram", external_id)
            .await
            .unwrap_or_else(|| panic!("{}: not stored as {external_id}", case.name));
        assert_eq!(message["text"], case.text, "{}", case.name);
        assert_eq!(message["author"], case.author, "{}", case.name);
        assert_eq!(message["direction"], "inbound");
        let names = attachment_names(&message);
        let expected: Vec<(String, String)> = case
            .attachments
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        assert_eq!(names, expected, "{}", case.name);
        let conversation = external_id.rsplit_once(':').unwrap().0;
        if !external_id.starts_with("callback:") {
            assert_eq!(ticket["conversation"], conversation, "{}", case.name);
        }
        assert_eq!(ticket["channel"], "telegram");
    }

    // The downloaded bytes are the file's.
    let (_, photo) = app.stored("telegram", "102:12").await.unwrap();
    let id = photo["attachments"][0]["id"].as_i64().unwrap();
    let response = app
        .http
        .get(format!("{}/api/v1/attachments/{id}", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        &response.bytes().await.unwrap()[..],
        b"\xff\xd8\xff large jpeg"
    );

    // The edit kept what it replaced.
    let (_, edited) = app.stored("telegram", "108:18").await.unwrap();
    assert_eq!(edited["edits"][0]["previous_text"], "I sent 5 ETH");
    assert!(edited["edited_at"].is_string());

    // The button press was acknowledged to Telegram once committed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.answered_callbacks().is_empty() {
        assert!(Instant::now() < deadline, "answerCallbackQuery never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.answered_callbacks(), ["4382bfdwdsb323b2d9"]);

    // A Telegram user is one contact identity: the numeric id, names as display data.
    let (ticket, _) = app.stored("telegram", "101:11").await.unwrap();
    let contact = &app.ticket(ticket["reference"].as_str().unwrap()).await["contact"];
    assert_eq!(contact["name"], "Ana Lima (@ana_lima)");
    assert_eq!(contact["identities"][0]["kind"], "telegram");
    assert_eq!(contact["identities"][0]["address"], "101");

    // Ignored updates are counted, not errors.
    let metrics = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchboard_telegram_ignored_updates_total{channel=\"telegram\",reason=\"unhandled_update_type\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

async fn resent_updates_are_stored_once_and_bad_requests_store_nothing(backend: Backend) {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(backend, &fake, "").await;
    let body = update(1, 201, 5, json!({"text": "Is my account verified?"})).to_string();
    for secret in [None, Some("wrong-secret")] {
        let (status, answer) = post(&app, body.as_bytes(), secret).await;
        assert_eq!(status, 401, "{answer}");
        assert!(
            answer.contains("X-Telegram-Bot-Api-Secret-Token"),
            "{answer}"
        );
    }
    assert_eq!(app.count("messages").await, 0);
    let (status, answer) = post(
        &app,
        b"{\"update_id\": 1, \"message\": ",
        Some(WEBHOOK_SECRET),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("not JSON"), "{answer}");
    let (status, answer) = post(&app, b"{\"message\": {}}", Some(WEBHOOK_SECRET)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("update_id"), "{answer}");
    assert_eq!(app.count("messages").await, 0);
    assert_eq!(app.count("tickets").await, 0);

    // Telegram resends on any non-2xx, and sometimes after a 2xx too.
    for _ in 0..3 {
        let (status, _) = post(&app, body.as_bytes(), Some(WEBHOOK_SECRET)).await;
        assert_eq!(status, 200);
    }
    assert_eq!(app.count("messages").await, 1);
    assert_eq!(app.count("tickets").await, 1);
    app.stop().await;
}

/// A customer writes, an agent answers through the API; returns the ticket reference.
async fn customer_writes(app: &TestApp, fake: &FakeTelegram, chat: i64, message_id: i64) -> String {
    deliver(
        app,
        &update(
            message_id,
            chat,
            message_id,
            json!({"text": "Where is my deposit?"}),
        ),
    )
    .await;
    fake.know_message(chat, message_id);
    let (ticket, _) = app
        .stored("telegram", &format!("{chat}:{message_id}"))
        .await
        .unwrap();
    ticket["reference"].as_str().unwrap().to_owned()
}

async fn replies_go_to_the_chat_quoting_the_customers_message(backend: Backend) {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(backend, &fake, "").await;
    let reference = customer_writes(&app, &fake, 301, 77).await;
    let reply = app.reply(&reference, "It was credited a minute ago.").await;
    let sent = fake.wait_for_sent(1).await;
    assert_eq!(sent[0].method, "sendmessage");
    assert_eq!(sent[0].chat_id, 301);
    assert_eq!(sent[0].reply_to_message_id, Some(77));
    assert_eq!(
        sent[0].text.as_deref(),
        Some("It was credited a minute ago.")
    );
    let message = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    assert_eq!(
        message["external_id"],
        format!("301:{}", sent[0].message_id)
    );

    // The customer answers the bot's message: same ticket.
    let answer = update(
        78,
        301,
        78,
        json!({"text": "Thanks!", "reply_to_message": {
        "message_id": sent[0].message_id, "date": 1_763_800_000, "chat": private_chat(301),
        "from": {"id": BOT_ID, "is_bot": true, "first_name": "Switchboard Test Bot", "username": BOT_USERNAME},
        "text": "It was credited a minute ago."}}),
    );
    deliver(&app, &answer).await;
    let (ticket, _) = app.stored("telegram", "301:78").await.unwrap();
    assert_eq!(ticket["reference"], reference);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_reply_arrives_as_several_messages_in_order() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference = customer_writes(&app, &fake, 302, 5).await;
    let paragraph = |n: usize| {
        format!(
            "Step {n}. {}",
            "Check the network and the memo field. ".repeat(40)
        )
    };
    let text = (1..=6).map(paragraph).collect::<Vec<_>>().join("\n\n");
    assert!(text.len() > 8192);
    let reply = app.reply(&reference, &text).await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let sent = fake.sent();
    assert!(sent.len() >= 3, "{} parts", sent.len());
    let texts: Vec<&str> = sent.iter().map(|s| s.text.as_deref().unwrap()).collect();
    for part in &texts {
        assert!(part.encode_utf16().count() <= 4096);
        assert!(
            part.starts_with("Step "),
            "parts start at paragraphs: {part:.40}"
        );
    }
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        squash(&texts.join(" ")),
        squash(&text),
        "in order, nothing lost or repeated"
    );
    assert_eq!(sent[0].reply_to_message_id, Some(5));
    assert!(sent[1..].iter().all(|s| s.reply_to_message_id.is_none()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_between_parts_resumes_after_the_parts_sent() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference = customer_writes(&app, &fake, 303, 5).await;
    let text = format!("{}\n\n{}", "a".repeat(4000), "b".repeat(4000));
    let reply = app.reply(&reference, &text).await;
    // Let the first part through, then refuse the second once.
    fake.wait_for_sent(1).await;
    fake.fail_next("sendMessage", Failure::TooManyRequests { retry_after: 1 });
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let texts: Vec<String> = fake.sent().into_iter().map(|s| s.text.unwrap()).collect();
    assert_eq!(texts, ["a".repeat(4000), "b".repeat(4000)]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flood_control_then_success_delivers_once_after_the_delay() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference = customer_writes(&app, &fake, 304, 5).await;
    fake.fail_next("sendMessage", Failure::TooManyRequests { retry_after: 1 });
    let started = Instant::now();
    let reply = app.reply(&reference, "One moment please").await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry_after honoured"
    );
    assert_eq!(fake.sent().len(), 1, "delivered exactly once");
    assert_eq!(fake.calls("sendMessage"), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sent().len(), 1, "and not again later");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_errors_end_with_readable_reasons() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;

    // Blocked: permanent, and the customer's Telegram identity is unreachable.
    let reference = customer_writes(&app, &fake, 305, 5).await;
    fake.fail_next("sendMessage", Failure::BlockedByUser);
    let reply = app.reply(&reference, "Hello?").await;
    let message = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "failed")
        .await;
    assert_eq!(message["failure_reason"], "customer blocked the bot");
    let contact = &app.ticket(&reference).await["contact"];
    assert_eq!(
        contact["identities"][0]["unreachable"][0]["reason"],
        "customer blocked the bot"
    );
    assert_eq!(fake.calls("sendMessage"), 1, "never retried");
    // Further replies are refused at once, with the reason, and nothing is queued.
    assert_eq!(
        app.refused_reply(&reference, &json!({"text": "Are you there?"}))
            .await,
        "the customer cannot be reached on this channel: customer blocked the bot"
    );
    // The customer unblocks the bot and writes again: reachable again.
    deliver(
        &app,
        &update(6, 305, 6, json!({"text": "unblocked you, sorry"})),
    )
    .await;
    let contact = &app.ticket(&reference).await["contact"];
    assert!(
        contact["identities"][0]["unreachable"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{contact}"
    );

    // The quoted message was deleted: sent again without the quote.
    let reference = customer_writes(&app, &fake, 306, 5).await;
    fake.fail_next("sendMessage", Failure::ReplyNotFound);
    let reply = app.reply(&reference, "Sent anyway").await;
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let sent = fake.sent();
    assert_eq!(sent.last().unwrap().reply_to_message_id, None);
    assert_eq!(sent.last().unwrap().chat_id, 306);

    // Chat not found: permanent.
    let reference = customer_writes(&app, &fake, 307, 5).await;
    fake.fail_next("sendMessage", Failure::ChatNotFound);
    let reply = app.reply(&reference, "Hello?").await;
    let message = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "failed")
        .await;
    assert!(
        message["failure_reason"]
            .as_str()
            .unwrap()
            .starts_with("chat not found"),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_go_out_as_photos_and_documents_with_the_caption() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let reference = customer_writes(&app, &fake, 308, 5).await;
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (status, reply) = app
        .try_reply(
            &reference,
            &json!({"text": "Your statement and the receipt", "attachments": [
                {"filename": "statement.pdf", "content_type": "application/pdf", "data": b64(b"%PDF-1.7 s")},
                {"filename": "receipt.png", "content_type": "image/png", "data": b64(b"\x89PNG receipt")}]}),
        )
        .await;
    assert_eq!(status, 202, "{reply}");
    app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].method, "senddocument");
    assert_eq!(
        sent[0].text.as_deref(),
        Some("Your statement and the receipt")
    );
    assert_eq!(sent[0].reply_to_message_id, Some(5));
    let file = sent[0].file.as_ref().unwrap();
    assert_eq!(
        (file.name.as_str(), &file.bytes[..]),
        ("statement.pdf", &b"%PDF-1.7 s"[..])
    );
    assert_eq!(sent[1].method, "sendphoto");
    assert_eq!(sent[1].text, None);
    assert_eq!(sent[1].file.as_ref().unwrap().name, "receipt.png");
    app.stop().await;
}

async fn polling_resumes_at_the_stored_offset_without_loss_or_repeat(backend: Backend) {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(
        backend,
        &fake,
        "mode = \"polling\"\npoll_timeout_seconds = 1",
    )
    .await;
    for n in 1..=3 {
        fake.push_update(update(
            100 + n,
            400 + n,
            n,
            json!({"text": format!("question {n}")}),
        ));
    }
    wait_for_count(&app, 3).await;
    // The offset is saved right after the commit that the count shows.
    let context = app
        .gateway
        .channel_context(switchboard_core::ChannelId::parse("telegram").unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let offset = context.load_state("update_offset").await.unwrap();
        if offset.as_deref() == Some("104") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the next offset is not stored: {offset:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // While the gateway is down, new updates arrive; and one that reuses an update id
    // below the stored offset, as if Telegram had missed the confirmation: a poller
    // that did not resume at the stored offset would fetch and store it.
    let app = app
        .restart(|| {
            fake.push_update(update(
                102,
                499,
                1,
                json!({"text": "below the offset: never fetched"}),
            ));
            for n in 4..=6 {
                fake.push_update(update(
                    100 + n,
                    400 + n,
                    n,
                    json!({"text": format!("question {n}")}),
                ));
            }
        })
        .await;
    wait_for_count(&app, 6).await;
    fake.wait_for_long_poll().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.count("messages").await,
        6,
        "nothing lost, nothing repeated"
    );
    assert!(app.stored("telegram", "499:1").await.is_none());
    assert_eq!(fake.confirmed_offset(), 107);
    app.stop().await;
}

fn group_message(update_id: i64, text: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_763_800_100,
        "chat": {"id": -1_001_234_567_890_i64, "type": "supergroup", "title": "Exchange VIP"},
        "from": user(501, "Bruno", "bruno_trader"), "text": text}})
}

/// getMe answering without the fields the Bot API marks optional, or not at all (a
/// revoked token, a Bot API that is down), never stops group messages: each is
/// acknowledged at once and kept when it addresses the bot, and the failure shows
/// as the channel's problem wherever an operator looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_messages_are_acknowledged_whatever_getme_answers() {
    let mention = format!("@{BOT_USERNAME} where is my deposit?");
    let fake = FakeTelegram::start(TOKEN).await;
    fake.answer_get_me_minimally();
    let app = gateway(Backend::Sqlite, &fake, "").await;
    deliver(&app, &group_message(1, &mention)).await;
    app.wait_for_stored("telegram", "-1001234567890:1").await;
    assert_eq!(app.channel_problem("telegram").await, None);
    app.stop().await;

    let fake = FakeTelegram::start(TOKEN).await;
    for _ in 0..10 {
        fake.fail_next(
            "getMe",
            Failure::Custom {
                status: 401,
                description: "Unauthorized".into(),
            },
        );
    }
    let app = gateway(Backend::Sqlite, &fake, "").await;
    let problem = app
        .wait_for_problem_everywhere("telegram", "identity")
        .await;
    assert!(
        problem.contains("getMe failed") && problem.contains("Unauthorized"),
        "{problem}"
    );
    assert!(problem.contains("bot_username"), "says the fix: {problem}");
    deliver(&app, &group_message(2, &mention)).await;
    deliver(&app, &group_message(3, "anyone trading today?")).await;
    deliver(&app, &group_message(4, "/help")).await;
    app.wait_for_stored("telegram", "-1001234567890:2").await;
    app.wait_for_stored("telegram", "-1001234567890:4").await;
    assert!(app.stored("telegram", "-1001234567890:3").await.is_none());
    app.stop().await;

    // With the username in the config, a mention of another bot stays ignored
    // while getMe fails; a name that is not the bot's is reported.
    let fake = FakeTelegram::start(TOKEN).await;
    for _ in 0..10 {
        fake.fail_next("getMe", Failure::ServerError);
    }
    let app = gateway(
        Backend::Sqlite,
        &fake,
        &format!("bot_username = \"@{BOT_USERNAME}\""),
    )
    .await;
    deliver(&app, &group_message(5, "@other_helper_bot hi")).await;
    deliver(&app, &group_message(6, &mention)).await;
    app.wait_for_stored("telegram", "-1001234567890:6").await;
    assert!(app.stored("telegram", "-1001234567890:5").await.is_none());
    app.stop().await;

    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(
        Backend::Sqlite,
        &fake,
        "bot_username = \"someone_else_bot\"",
    )
    .await;
    let problem = app
        .wait_for_problem_everywhere("telegram", "identity")
        .await;
    assert!(problem.contains(BOT_USERNAME), "{problem}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_polling_conflict_is_reported_with_its_fix_and_waited_out() {
    let fake = FakeTelegram::start(TOKEN).await;
    // Someone set a webhook for the same bot.
    fake.set_webhook(Some("https://elsewhere.example/hook"));
    let app = gateway(
        Backend::Sqlite,
        &fake,
        "mode = \"polling\"\npoll_timeout_seconds = 1",
    )
    .await;
    fake.wait_for_calls("getUpdates", 1).await;
    let problem = app.wait_for_channel_problem("telegram").await;
    assert!(
        problem.contains("webhook is set") && problem.contains("deleteWebhook"),
        "{problem}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        fake.calls("getUpdates") <= 2,
        "no tight retry loop: {}",
        fake.calls("getUpdates")
    );

    // The webhook is removed: polling picks up, and the problem clears.
    fake.set_webhook(None);
    fake.push_update(update(
        1,
        450,
        1,
        json!({"text": "hello after the conflict"}),
    ));
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.count("messages").await < 1 {
        assert!(Instant::now() < deadline, "polling did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.channel_problem("telegram").await, None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_registers_its_webhook_when_asked() {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = gateway(
        Backend::Sqlite,
        &fake,
        "register_webhook = true\npublic_url = \"https://support.example.com/\"",
    )
    .await;
    fake.wait_for_calls("setWebhook", 1).await;
    let webhook = fake.webhook().unwrap();
    assert_eq!(
        webhook["url"],
        "https://support.example.com/webhooks/telegram"
    );
    assert_eq!(webhook["secret_token"], WEBHOOK_SECRET);
    assert_eq!(
        webhook["allowed_updates"],
        json!(["message", "edited_message", "callback_query"])
    );
    app.stop().await;
}

async fn wait_for_count(app: &TestApp, messages: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let count = app.count("messages").await;
        if count == messages {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{count} messages stored, expected {messages}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

both_backends!(
    resent_updates_are_stored_once_and_bad_requests_store_nothing,
    replies_go_to_the_chat_quoting_the_customers_message,
    polling_resumes_at_the_stored_offset_without_loss_or_repeat,
);
