//! The fake Telegram server answers like the real Bot API: through teloxide for the
//! calls teloxide makes, and through raw HTTP for the parameter encodings teloxide
//! does not use (query string, form, multipart with a file_id) and the envelopes.

#![allow(dead_code)] // each test binary uses a different part of the fakes

mod fakes;

use std::time::{Duration, Instant};

use fakes::telegram::{BOT_ID, BOT_USERNAME, Failure, FakeTelegram, Sent};
use serde_json::{Value, json};
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, FileId, InputFile, MessageId, ReplyParameters, UpdateKind};
use teloxide::{ApiError, DownloadError, RequestError};

const TOKEN: &str = "7000000001:TEST-token_abc";
const CHAT: i64 = 42;
const MB: usize = 1024 * 1024;
const WEBHOOK_ACTIVE: &str = "Conflict: can't use getUpdates method while webhook is active; \
    use deleteWebhook to delete the webhook first";

async fn start() -> (FakeTelegram, Bot) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeTelegram::start(TOKEN).await;
    let bot = Bot::new(TOKEN).set_api_url(fake.api_url().parse().unwrap());
    (fake, bot)
}

/// A customer's text message, as Telegram delivers it.
fn text_update(message_id: i64, text: &str) -> Value {
    json!({"message": {
        "message_id": message_id,
        "date": 1_700_000_000,
        "chat": {"id": CHAT, "type": "private", "first_name": "Ana"},
        "from": {"id": CHAT, "is_bot": false, "first_name": "Ana"},
        "text": text,
    }})
}

/// Sends "Reply" to `chat` with these reply parameters.
async fn reply(bot: &Bot, chat: i64, to: ReplyParameters) -> Result<Message, RequestError> {
    let request = bot.send_message(ChatId(chat), "Reply");
    request.reply_parameters(to).await
}

fn to(message_id: i32) -> ReplyParameters {
    ReplyParameters::new(MessageId(message_id))
}

fn file(bytes: Vec<u8>, name: &'static str) -> InputFile {
    InputFile::memory(bytes).file_name(name)
}

fn api_error(result: Result<impl std::fmt::Debug, RequestError>) -> ApiError {
    match result {
        Err(RequestError::Api(error)) => error,
        other => panic!("expected a Telegram API error, got {other:?}"),
    }
}

/// A description teloxide does not know, as teloxide reports it.
fn unknown(description: &str) -> ApiError {
    ApiError::Unknown(description.to_owned())
}

/// What the bot sent, one line each: method, chat, text, reply target, file.
fn sent(fake: &FakeTelegram) -> Vec<String> {
    let line = |s: &Sent| {
        let text = s.text.as_ref().map(|t| format!(" {t:?}"));
        let reply = s.reply_to_message_id.map(|id| format!(" ->{id}"));
        let file = s
            .file
            .as_ref()
            .map(|f| format!(" [{} {}]", f.name, f.bytes.len()));
        let reference = s.file_ref.as_ref().map(|r| format!(" <{r}>"));
        let parts = [text, reply, file, reference].map(Option::unwrap_or_default);
        format!("{} {}{}", s.method, s.chat_id, parts.concat())
    };
    fake.sent().iter().map(line).collect()
}

#[tokio::test]
async fn replies_must_target_a_message_the_chat_knows() {
    let (fake, bot) = start().await;
    fake.push_update(text_update(10, "My order is late"));
    let first = reply(&bot, CHAT, to(10)).await.unwrap();
    let replied = first.reply_to_message().map(|m| m.id);
    assert_eq!(replied, Some(MessageId(10)));
    assert_eq!(first.from.map(|u| u.id.0), Some(BOT_ID as u64));
    assert!(first.chat.is_private() && first.id.0 == 11);

    let lost = reply(&bot, CHAT, to(999)).await;
    assert_eq!(api_error(lost), ApiError::MessageToReplyNotFound);
    let anyway = to(999).allow_sending_without_reply();
    let loose = reply(&bot, CHAT, anyway).await.unwrap();
    assert!(loose.reply_to_message().is_none());
    // The bot's own messages and messages made known are valid targets too.
    reply(&bot, CHAT, to(11)).await.unwrap();
    fake.know_message(-100_123, 5);
    let group = reply(&bot, -100_123, to(5)).await.unwrap();
    assert!(group.chat.is_supergroup() && group.id.0 == 6);

    let expected = [
        r#"sendmessage 42 "Reply" ->10"#,
        r#"sendmessage 42 "Reply" ->999"#,
        r#"sendmessage 42 "Reply" ->11"#,
        r#"sendmessage -100123 "Reply" ->5"#,
    ];
    assert_eq!(sent(&fake), expected);
    let ids: Vec<i64> = fake.sent().iter().map(|s| s.message_id).collect();
    assert_eq!(ids, [11, 12, 13, 6]);
}

#[tokio::test]
async fn photos_and_documents_upload_with_captions() {
    let (fake, bot) = start().await;
    let png = file(vec![7; 2048], "screenshot.png");
    let photo = bot.send_photo(ChatId(CHAT), png).caption("The error");
    let photo = photo.await.unwrap();
    assert_eq!(photo.caption(), Some("The error"));
    let largest = photo.photo().and_then(|sizes| sizes.last()).unwrap();
    assert_eq!(largest.file.size, 2048);

    let pdf = file(b"%PDF-1.4".to_vec(), "invoice.pdf");
    let doc = bot.send_document(ChatId(CHAT), pdf).caption("Invoice");
    let doc = doc.await.unwrap();
    let document = doc.document().unwrap();
    assert_eq!(document.file_name.as_deref(), Some("invoice.pdf"));
    let mime = document.mime_type.as_ref().map(|m| m.to_string());
    assert_eq!(mime.as_deref(), Some("application/pdf"));

    let expected = [
        r#"sendphoto 42 "The error" [screenshot.png 2048]"#,
        r#"senddocument 42 "Invoice" [invoice.pdf 8]"#,
    ];
    assert_eq!(sent(&fake), expected);
    assert_eq!(fake.sent()[1].file.as_ref().unwrap().bytes, b"%PDF-1.4");

    // What the bot uploaded can be fetched back.
    let stored = bot.get_file(document.file.id.clone()).await.unwrap();
    let mut bytes = Vec::new();
    bot.download_file(&stored.path, &mut bytes).await.unwrap();
    assert_eq!(bytes, b"%PDF-1.4");

    let small = file(vec![1; 10], "a.png");
    let long = bot
        .send_photo(ChatId(CHAT), small)
        .caption("x".repeat(1025));
    let caption_too_long = "Bad Request: message caption is too long";
    assert_eq!(api_error(long.await), unknown(caption_too_long));
    let big = file(vec![1; 10 * MB + 1], "big.png");
    let big = bot.send_photo(ChatId(CHAT), big).await;
    assert_eq!(api_error(big), unknown("Bad Request: file is too big"));
    let big = file(vec![1; 50 * MB + 1], "big.zip");
    let big = bot.send_document(ChatId(CHAT), big).await;
    assert_eq!(api_error(big), ApiError::RequestEntityTooLarge);
    assert_eq!(fake.sent().len(), 2);
}

#[tokio::test]
async fn files_download_by_their_percent_encoded_path() {
    let (fake, bot) = start().await;
    fake.add_file("doc-1", "documents/file_7.pdf", b"contents".to_vec());
    let stored = bot.get_file(FileId("doc-1".into())).await.unwrap();
    assert_eq!(stored.path, "documents/file_7.pdf");
    assert_eq!(stored.size, 8);
    // teloxide sends the path as one segment: documents%2Ffile_7.pdf.
    let mut bytes = Vec::new();
    bot.download_file(&stored.path, &mut bytes).await.unwrap();
    assert_eq!(bytes, b"contents");

    let mut sink = Vec::new();
    let missing = bot.download_file("documents/none.pdf", &mut sink).await;
    assert!(matches!(missing, Err(DownloadError::Network(_))));
    let nope = bot.get_file(FileId("nope".into())).await;
    assert_eq!(api_error(nope), unknown("Bad Request: invalid file_id"));
    fake.add_file_too_big("huge", 21 * MB as u64);
    let huge = bot.get_file(FileId("huge".into())).await;
    assert_eq!(api_error(huge), unknown("Bad Request: file is too big"));
}

#[tokio::test]
async fn get_updates_confirms_below_the_offset_and_honours_limit() {
    let (fake, bot) = start().await;
    for id in 100..103 {
        fake.push_update(text_update(id, "hello"));
    }
    let first = bot.get_updates().limit(2).await.unwrap();
    let ids: Vec<u32> = first.iter().map(|u| u.id.0).collect();
    assert_eq!(ids, [ids[0], ids[0] + 1]);
    // Unconfirmed updates come again.
    assert_eq!(bot.get_updates().await.unwrap().len(), 3);

    let offset = ids[1] + 1;
    let next = bot.get_updates().offset(offset as i32).await.unwrap();
    let next: Vec<u32> = next.iter().map(|u| u.id.0).collect();
    assert_eq!(next, [offset]);
    assert_eq!(fake.confirmed_offset(), i64::from(offset));
    let rest = bot.get_updates().await.unwrap();
    let kinds: Vec<_> = rest.iter().map(|u| &u.kind).collect();
    assert!(matches!(kinds[..], [UpdateKind::Message(m)] if m.id.0 == 102));

    // allowed_updates filters, and later calls remember it.
    fake.push_update(json!({"callback_query": {
        "id": "cb-1", "chat_instance": "ci-1", "data": "yes",
        "from": {"id": CHAT, "is_bot": false, "first_name": "Ana"},
    }}));
    let only = |kind| bot.get_updates().allowed_updates([kind]).send();
    assert_eq!(only(AllowedUpdate::Message).await.unwrap().len(), 1);
    assert_eq!(bot.get_updates().await.unwrap().len(), 1);
    let callbacks = only(AllowedUpdate::CallbackQuery).await.unwrap();
    let kinds: Vec<_> = callbacks.iter().map(|u| &u.kind).collect();
    assert!(matches!(kinds[..], [UpdateKind::CallbackQuery(_)]));

    let answer = |id: &str| bot.answer_callback_query(id.to_owned().into()).send();
    answer("cb-1").await.unwrap();
    assert_eq!(fake.answered_callbacks(), ["cb-1"]);
    assert_eq!(api_error(answer("cb-2").await), ApiError::InvalidQueryId);
}

#[tokio::test]
async fn long_polls_wait_for_a_push_and_a_second_poller_ends_them() {
    let (fake, bot) = start().await;
    let started = Instant::now();
    assert!(bot.get_updates().timeout(1).await.unwrap().is_empty());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(950), "{waited:?}");

    let poll = tokio::spawn({
        let bot = bot.clone();
        async move { bot.get_updates().timeout(10).await }
    });
    fake.wait_for_long_poll().await;
    let pushed = Instant::now();
    fake.push_update(text_update(7, "are you there?"));
    let updates = poll.await.unwrap().unwrap();
    assert_eq!(updates.len(), 1);
    let waited = pushed.elapsed();
    assert!(waited < Duration::from_secs(2), "{waited:?}");

    // A second getUpdates terminates the waiting one.
    let first = tokio::spawn({
        let bot = bot.clone();
        let offset = updates[0].id.0 as i32 + 1;
        async move { bot.get_updates().offset(offset).timeout(10).await }
    });
    fake.wait_for_long_poll().await;
    assert!(bot.get_updates().await.unwrap().is_empty());
    let first = first.await.unwrap();
    assert_eq!(api_error(first), ApiError::TerminatedByOtherGetUpdates);
}

#[tokio::test]
async fn a_webhook_blocks_polling_until_deleted() {
    let (fake, bot) = start().await;
    let url = "https://gateway.example/webhooks/telegram";
    let types = [AllowedUpdate::Message, AllowedUpdate::CallbackQuery];
    let set = bot.set_webhook(url.parse().unwrap());
    let set = set.secret_token("s3cret_token-1").allowed_updates(types);
    set.await.unwrap();
    let webhook = fake.webhook().unwrap();
    assert_eq!(webhook["url"], url);
    assert_eq!(webhook["secret_token"], "s3cret_token-1");
    let types = json!(["message", "callback_query"]);
    assert_eq!(webhook["allowed_updates"], types);
    let info = bot.get_webhook_info().await.unwrap();
    assert_eq!(info.url.map(String::from).as_deref(), Some(url));

    let conflict = unknown(WEBHOOK_ACTIVE);
    assert_eq!(api_error(bot.get_updates().await), conflict);
    bot.delete_webhook().await.unwrap();
    assert!(fake.webhook().is_none());
    assert!(bot.get_webhook_info().await.unwrap().url.is_none());
    bot.get_updates().await.unwrap();

    // Another deployment takes over, then leaves.
    fake.set_webhook(Some("https://elsewhere.example/hook"));
    assert_eq!(api_error(bot.get_updates().await), conflict);
    fake.set_webhook(None);
    bot.get_updates().await.unwrap();

    let plain = "http://gateway.example/hook".parse().unwrap();
    let plain = bot.set_webhook(plain).await;
    assert_eq!(api_error(plain), ApiError::WebhookRequireHttps);
    let port = "https://gateway.example:8080/hook".parse().unwrap();
    let port = bot.set_webhook(port).await;
    assert_eq!(api_error(port), ApiError::BadWebhookPort);
    let set = bot.set_webhook(url.parse().unwrap());
    let secret = set.secret_token("has space").await;
    let bad = "Bad Request: secret token contains unallowed characters";
    assert_eq!(api_error(secret), unknown(bad));
    assert!(fake.webhook().is_none());
}

#[tokio::test]
async fn get_me_and_scripted_failures_answer_one_call_each() {
    let (fake, bot) = start().await;
    let me = bot.get_me().await.unwrap();
    assert_eq!((me.id.0, me.username()), (BOT_ID as u64, BOT_USERNAME));
    let too_many = Failure::TooManyRequests { retry_after: 5 };
    fake.fail_next("sendMessage", too_many);
    fake.fail_next("SENDMESSAGE", Failure::BlockedByUser);
    fake.fail_next("sendmessage", Failure::ChatNotFound);
    let send = || bot.send_message(ChatId(CHAT), "hello").send();
    match send().await {
        Err(RequestError::RetryAfter(after)) => assert_eq!(after.seconds(), 5),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    assert_eq!(api_error(send().await), ApiError::BotBlocked);
    assert_eq!(api_error(send().await), ApiError::ChatNotFound);
    send().await.unwrap();
    assert_eq!(fake.calls("SendMessage"), 4);
    assert_eq!(sent(&fake), [r#"sendmessage 42 "hello""#]);
}

// Raw HTTP: what teloxide never sends.

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn raw(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Checks the whole error envelope.
async fn refused(request: reqwest::RequestBuilder, status: u16, description: &str) {
    let envelope = json!({"ok": false, "error_code": status, "description": description});
    assert_eq!(raw(request).await, (status, envelope));
}

#[tokio::test]
async fn wrong_tokens_and_unknown_methods_get_telegram_envelopes() {
    let (fake, _) = start().await;
    let (http, base) = (http(), fake.api_url());
    let wrong = http.get(format!("{base}/bot7000000001:WRONG/getMe"));
    refused(wrong, 401, "Unauthorized").await;
    let unknown = http.post(format!("{base}/bot{TOKEN}/sendTelepathy"));
    refused(unknown, 404, "Not Found").await;
    refused(http.get(format!("{base}/elsewhere")), 404, "Not Found").await;
    for name in ["getme", "GETME", "getMe"] {
        let url = format!("{base}/bot{TOKEN}/{name}");
        let (status, body) = raw(http.get(url)).await;
        assert_eq!(status, 200);
        assert_eq!(body["result"]["username"], BOT_USERNAME);
    }
    assert_eq!(fake.calls("getme"), 3);

    let get_me = || http.get(format!("{base}/bot{TOKEN}/getMe"));
    fake.fail_next("getMe", Failure::ServerError);
    let description = "Bad Gateway".to_owned();
    let custom = Failure::Custom {
        status: 502,
        description,
    };
    fake.fail_next("getMe", custom);
    refused(get_me(), 500, "Internal Server Error").await;
    refused(get_me(), 502, "Bad Gateway").await;
    let too_many = Failure::TooManyRequests { retry_after: 3 };
    fake.fail_next("sendMessage", too_many);
    let url = format!("{base}/bot{TOKEN}/sendMessage");
    let (status, body) = raw(http.post(url)).await;
    assert_eq!(status, 429);
    assert_eq!(body["parameters"], json!({"retry_after": 3}));
    assert_eq!(body["description"], "Too Many Requests: retry after 3");
}

#[tokio::test]
async fn query_form_and_multipart_parameters_work() {
    let (fake, _) = start().await;
    let http = http();
    let url = format!("{}/bot{TOKEN}/sendMessage", fake.api_url());
    fake.push_update(text_update(10, "hi"));

    let query = [("chat_id", "42"), ("text", "via query & more")];
    let (status, body) = raw(http.get(&url).query(&query)).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["text"], "via query & more");

    let reply_parameters = ("reply_parameters", r#"{"message_id":10}"#);
    let form = [("chat_id", "42"), ("text", "form"), reply_parameters];
    let (status, body) = raw(http.post(&url).form(&form)).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["reply_to_message"]["message_id"], 10);

    let legacy = ("reply_to_message_id", "999");
    let form = [("chat_id", "42"), ("text", "legacy"), legacy];
    let not_found = "Bad Request: message to be replied not found";
    refused(http.post(&url).form(&form), 400, not_found).await;
    let allow = ("allow_sending_without_reply", "true");
    let form = [form[0], form[1], form[2], allow];
    assert_eq!(raw(http.post(&url).form(&form)).await.0, 200);

    fake.add_file("photo-7", "photos/file_7.jpg", vec![1, 2, 3]);
    let photo_url = format!("{}/bot{TOKEN}/sendPhoto", fake.api_url());
    let by_id = |id: &'static str| {
        let form = reqwest::multipart::Form::new().text("chat_id", "42");
        let form = form.text("photo", id).text("caption", "Known");
        http.post(&photo_url).multipart(form)
    };
    let (status, body) = raw(by_id("photo-7")).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["caption"], "Known");
    let wrong = "Bad Request: wrong file identifier/HTTP URL specified";
    refused(by_id("photo-8"), 400, wrong).await;

    let expected = [
        r#"sendmessage 42 "via query & more""#,
        r#"sendmessage 42 "form" ->10"#,
        r#"sendmessage 42 "legacy" ->999"#,
        r#"sendphoto 42 "Known" <photo-7>"#,
    ];
    assert_eq!(sent(&fake), expected);
}

#[tokio::test]
async fn invalid_parameters_get_telegram_descriptions() {
    let (fake, _) = start().await;
    let http = http();
    let url = format!("{}/bot{TOKEN}/sendMessage", fake.api_url());
    let post = |body: String| {
        let json = http.post(&url).header("content-type", "application/json");
        json.body(body)
    };
    // Like the real server, a JSON body that does not parse is ignored.
    let broken = post(r#"{"chat_id": 42, "text": "#.into());
    refused(broken, 400, "Bad Request: chat_id is empty").await;
    let no_text = post(json!({"chat_id": CHAT}).to_string());
    refused(no_text, 400, "Bad Request: message text is empty").await;
    // 2049 emoji are 4098 UTF-16 code units.
    let emoji = "😀".repeat(2049);
    let cases = [
        (json!({"text": " \n"}), "message text is empty"),
        (json!({"chat_id": "@nobody"}), "chat not found"),
        (json!({"text": emoji}), "message is too long"),
        (json!({"parse_mode": "Klingon"}), "unsupported parse_mode"),
        (
            json!({"reply_parameters": "{oops"}),
            "can't parse reply parameters JSON object",
        ),
    ];
    for (fields, description) in cases {
        let mut body = json!({"chat_id": CHAT, "text": "hi"});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().cloned().unwrap());
        let description = format!("Bad Request: {description}");
        refused(post(body.to_string()), 400, &description).await;
    }
    let longest = json!({"chat_id": CHAT, "text": "😀".repeat(2048)});
    assert_eq!(raw(post(longest.to_string())).await.0, 200);
    assert_eq!(fake.sent().len(), 1);
}
