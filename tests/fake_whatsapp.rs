//! The fake WhatsApp Cloud API answers like the real Graph API: these tests drive it
//! with raw HTTP, the way a connector would, and check its envelopes, its refusals,
//! its media endpoints and the status webhooks it signs and posts.

#![allow(dead_code)] // each test binary uses a different part of the fakes

mod fakes;

use fakes::whatsapp;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use whatsapp::{
    DISPLAY_PHONE_NUMBER, Failure, FakeWhatsApp, PHONE_NUMBER_ID, RE_ENGAGEMENT_DETAILS, WABA_ID,
};

const TOKEN: &str = "EAAJBtest-token";
const SECRET: &str = "app-secret-123";
const CUSTOMER: &str = "16505551234";

async fn start() -> (FakeWhatsApp, reqwest::Client) {
    let fake = FakeWhatsApp::start(TOKEN, SECRET, PHONE_NUMBER_ID).await;
    (fake, http())
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn graph(fake: &FakeWhatsApp, path: &str) -> String {
    format!("{}/v23.0/{path}", fake.api_url())
}

fn messages_url(fake: &FakeWhatsApp) -> String {
    graph(fake, &format!("{PHONE_NUMBER_ID}/messages"))
}

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

async fn send(http: &reqwest::Client, fake: &FakeWhatsApp, body: &Value) -> (u16, Value) {
    call(http.post(messages_url(fake)).bearer_auth(TOKEN).json(body)).await
}

fn text(to: &str, body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": { "preview_url": false, "body": body },
    })
}

fn template(name: &str, language: &str, parameters: &[&str]) -> Value {
    let parameters: Vec<Value> = parameters
        .iter()
        .map(|p| json!({ "type": "text", "text": p }))
        .collect();
    json!({
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": {
            "name": name,
            "language": { "code": language },
            "components": [{ "type": "body", "parameters": parameters }],
        },
    })
}

fn wamid_of(body: &Value) -> String {
    body["messages"][0]["id"].as_str().unwrap().to_owned()
}

/// Checks the Graph error envelope and returns its `error` object.
fn graph_error(answer: &(u16, Value), status: u16, code: i64) -> Value {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    let trace = error["fbtrace_id"].as_str().unwrap();
    assert!(trace.starts_with('A') && trace.len() > 10, "{body}");
    error.clone()
}

/// Code 100 whose details name `field`.
fn invalid(answer: &(u16, Value), field: &str) {
    let error = graph_error(answer, 400, 100);
    assert_eq!(error["message"], "(#100) Invalid parameter");
    assert_eq!(error["type"], "OAuthException");
    assert_eq!(error["error_data"]["messaging_product"], "whatsapp");
    let details = error["error_data"]["details"].as_str().unwrap();
    assert!(details.contains(field), "{field:?} not in {details:?}");
}

/// A SHA-256 digest as Meta writes it: base64.
fn sha256_base64(bytes: &[u8]) -> String {
    base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        Sha256::digest(bytes),
    )
}

/// A webhook receiver that checks every signature like the gateway must, records
/// the exact bytes, and answers from a script (200 once it is empty).
#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<Mutex<Received>>,
}

#[derive(Default)]
struct Received {
    raw: Vec<Vec<u8>>,
    bad_signatures: usize,
    script: VecDeque<u16>,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/webhooks/{channel}", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/wa-1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, state }
    }

    fn bodies(&self) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        let parse = |raw: &Vec<u8>| serde_json::from_slice(raw).unwrap();
        state.raw.iter().map(parse).collect()
    }

    /// (wamid, status) of every statuses[] webhook received, in order.
    fn statuses(&self) -> Vec<(String, String)> {
        let status = |body: &Value| {
            let status = &body["entry"][0]["changes"][0]["value"]["statuses"][0];
            let field = |name: &str| status[name].as_str().unwrap().to_owned();
            (field("id"), field("status"))
        };
        self.bodies().iter().map(status).collect()
    }

    fn bad_signatures(&self) -> usize {
        self.state.lock().unwrap().bad_signatures
    }
}

async fn receive(
    State(state): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let expected = whatsapp::signature(SECRET, &body);
    let mut state = state.lock().unwrap();
    if header("x-hub-signature-256") != Some(expected.as_str())
        || header("content-type") != Some("application/json")
    {
        state.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    state.raw.push(body.to_vec());
    let status = state.script.pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

fn status_of(body: &Value) -> &Value {
    &body["entry"][0]["changes"][0]["value"]["statuses"][0]
}

// Signatures and webhook bodies.

#[test]
fn the_signature_matches_the_contract_test_vector() {
    assert_eq!(
        whatsapp::signature("secret", b"test"),
        "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
    );
    assert_ne!(
        whatsapp::signature("other", b"test"),
        whatsapp::signature("secret", b"test")
    );
}

#[tokio::test]
async fn webhooks_are_serialized_like_meta_and_signed_over_those_bytes() {
    let receiver = Receiver::start().await;
    let message = "Olá 👋 see https://example.com/a";
    let body = whatsapp::text_message(CUSTOMER, "Zoë", "wamid.IN1", 1_749_416_383, message);

    let raw = String::from_utf8(whatsapp::meta_json(&body)).unwrap();
    assert!(raw.is_ascii(), "{raw}");
    assert!(
        raw.contains(r"Ol\u00e1 \ud83d\udc4b see https:\/\/example.com\/a"),
        "{raw}"
    );
    assert!(raw.contains(r"Zo\u00eb"), "{raw}");
    assert_eq!(serde_json::from_str::<Value>(&raw).unwrap(), body);

    let response = whatsapp::post_webhook(&receiver.url, SECRET, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(receiver.state.lock().unwrap().raw, [raw.as_bytes()]);
    // The receiver does check: another secret is refused.
    let response = whatsapp::post_webhook(&receiver.url, "wrong", &body).await;
    assert_eq!(response.status(), 401);
    assert_eq!(receiver.bad_signatures(), 1);
}

#[test]
fn inbound_builders_have_the_real_shape() {
    let body = whatsapp::text_message(CUSTOMER, "Sheena Nelson", "wamid.IN1", 1_749_416_383, "Hi");
    let expected = json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": DISPLAY_PHONE_NUMBER,
                        "phone_number_id": PHONE_NUMBER_ID,
                    },
                    "contacts": [{ "profile": { "name": "Sheena Nelson" }, "wa_id": CUSTOMER }],
                    "messages": [{
                        "from": CUSTOMER,
                        "id": "wamid.IN1",
                        "timestamp": "1749416383",
                        "type": "text",
                        "text": { "body": "Hi" },
                    }],
                },
            }],
        }],
    });
    assert_eq!(body, expected);
    let statuses = whatsapp::envelope("42", json!({ "statuses": [] }));
    let value = &statuses["entry"][0]["changes"][0]["value"];
    assert_eq!(value["metadata"]["phone_number_id"], "42");
    assert_eq!(value["statuses"], json!([]));
}

#[tokio::test]
async fn media_messages_describe_the_stored_media() {
    let (fake, _) = start().await;
    let id = fake.add_media(b"%PDF-1.7 invoice", "application/pdf");
    let body = fake.media_message(
        CUSTOMER,
        "Ana",
        "wamid.IN2",
        1_749_416_400,
        &id,
        Some("Invoice"),
    );
    let message = &body["entry"][0]["changes"][0]["value"]["messages"][0];
    assert_eq!(message["type"], "document");
    assert_eq!(message["timestamp"], "1749416400");
    assert_eq!(message["document"]["id"], id.as_str());
    assert_eq!(message["document"]["mime_type"], "application/pdf");
    assert_eq!(
        message["document"]["sha256"],
        sha256_base64(b"%PDF-1.7 invoice")
    );
    assert_eq!(message["document"]["caption"], "Invoice");
    let image = fake.add_media(b"\xff\xd8jpeg", "image/jpeg");
    let body = fake.media_message(CUSTOMER, "Ana", "wamid.IN3", 1_749_416_401, &image, None);
    let message = &body["entry"][0]["changes"][0]["value"]["messages"][0];
    assert_eq!(message["type"], "image");
    assert!(message["image"].get("caption").is_none());
}

// Auth, paths and versions.

#[tokio::test]
async fn every_call_needs_the_bearer_token() {
    let (fake, http) = start().await;
    let body = text(CUSTOMER, "hello");
    let no_token = http
        .post(messages_url(&fake))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let challenge = no_token.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let error = graph_error(&(401, no_token.json().await.unwrap()), 401, 190);
    assert_eq!(error["type"], "OAuthException");

    let wrong = http
        .post(messages_url(&fake))
        .bearer_auth("EAAJBother")
        .json(&body);
    graph_error(&call(wrong).await, 401, 190);
    let as_query = http
        .post(format!("{}?access_token={TOKEN}", messages_url(&fake)))
        .json(&body);
    graph_error(&call(as_query).await, 401, 190);
    let media = fake.add_media(b"bytes", "image/png");
    graph_error(&call(http.get(graph(&fake, &media))).await, 401, 190);
    let upload = http.post(graph(&fake, &format!("{PHONE_NUMBER_ID}/media")));
    graph_error(&call(upload).await, 401, 190);
    // Calls that never got past the token are not sends.
    assert!(fake.sent().is_empty());
    assert_eq!(send(&http, &fake, &body).await.0, 200);
}

#[tokio::test]
async fn paths_versions_and_phone_numbers_are_checked() {
    let (fake, http) = start().await;
    let body = text(CUSTOMER, "hello");
    let api = fake.api_url();
    for version in ["v23", "23.0", "latest", "v23.x"] {
        let url = format!("{api}/{version}/{PHONE_NUMBER_ID}/messages");
        let error = graph_error(
            &call(http.post(url).bearer_auth(TOKEN).json(&body)).await,
            400,
            2500,
        );
        assert_eq!(
            error["message"],
            format!("Unknown path components: /{version}")
        );
    }
    let other = http
        .post(graph(&fake, "999999999/messages"))
        .bearer_auth(TOKEN)
        .json(&body);
    let error = graph_error(&call(other).await, 400, 100);
    assert_eq!(error["type"], "GraphMethodException");
    assert_eq!(error["error_subcode"], 33);
    assert!(error["message"].as_str().unwrap().contains("'999999999'"));
    let get = http.get(messages_url(&fake)).bearer_auth(TOKEN);
    graph_error(&call(get).await, 404, 2500);
    let deeper = http
        .post(graph(&fake, &format!("{PHONE_NUMBER_ID}/messages/extra")))
        .bearer_auth(TOKEN)
        .json(&body);
    graph_error(&call(deeper).await, 404, 2500);
    let sent = fake.sent();
    assert_eq!(
        sent.len(),
        1,
        "only the unknown phone number got as far as a send"
    );
    assert_eq!(
        (sent[0].error_code, sent[0].wamid.clone()),
        (Some(100), None)
    );
}

// Sending.

#[tokio::test]
async fn an_accepted_send_answers_the_success_envelope_and_is_recorded() {
    let (fake, http) = start().await;
    let mut body = text(
        "+16505551234",
        "Your order shipped: https://example.com/o/1",
    );
    body["text"]["preview_url"] = true.into();
    body["context"] = json!({ "message_id": "wamid.NEVER-SEEN" });
    let (status, answer) = send(&http, &fake, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["messaging_product"], "whatsapp");
    assert_eq!(
        answer["contacts"],
        json!([{ "input": "+16505551234", "wa_id": "16505551234" }])
    );
    let wamid = wamid_of(&answer);
    assert!(wamid.starts_with("wamid."), "{wamid}");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&wamid["wamid.".len()..])
        .unwrap();
    assert!(raw.windows(11).any(|w| w == CUSTOMER.as_bytes()), "{raw:?}");
    assert!(answer["messages"][0].get("message_status").is_none());

    let (_, second) = send(&http, &fake, &text(CUSTOMER, "Second")).await;
    assert_ne!(wamid_of(&second), wamid);

    let sent = fake.sent();
    assert_eq!(sent.len(), 2);
    let first = &sent[0];
    assert_eq!(first.to, "+16505551234");
    assert_eq!(first.kind, "text");
    assert_eq!(
        first.text.as_deref(),
        Some("Your order shipped: https://example.com/o/1")
    );
    assert_eq!(first.preview_url, Some(true));
    assert_eq!(
        first.context_message_id.as_deref(),
        Some("wamid.NEVER-SEEN")
    );
    assert_eq!(first.wamid.as_deref(), Some(wamid.as_str()));
    assert_eq!((first.error_code, first.http_status), (None, 200));
    assert_eq!(first.body, body);
    assert_eq!(sent[1].preview_url, Some(false));
    assert_eq!(sent[1].context_message_id, None);
}

#[tokio::test]
async fn invalid_sends_get_code_100_naming_the_field() {
    let (fake, http) = start().await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = text(CUSTOMER, "hello");
        change(&mut body);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("messaging_product"))),
            "messaging_product",
        ),
        (
            with(&|b| b["messaging_product"] = "sms".into()),
            "messaging_product",
        ),
        (
            with(&|b| b["recipient_type"] = "group".into()),
            "recipient_type",
        ),
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("to"))),
            "to",
        ),
        (with(&|b| b["to"] = "+1 650 555".into()), "to"),
        (with(&|b| b["to"] = 16505551234_i64.into()), "to"),
        (with(&|b| b["type"] = "fax".into()), "type"),
        (with(&|b| b["text"] = json!({})), "text['body']"),
        (with(&|b| b["text"]["body"] = "".into()), "text['body']"),
        (
            with(&|b| b["text"]["body"] = "x".repeat(4097).into()),
            "4096",
        ),
        (
            with(&|b| b["text"]["preview_url"] = "yes".into()),
            "preview_url",
        ),
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("text"))),
            "text",
        ),
        (
            with(&|b| b["context"] = json!({ "id": "wamid.X" })),
            "context['message_id']",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "image",
                    "image": { "id": "1234", "link": "https://example.com/a.jpg" } }),
            "exactly one of",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "image",
                    "image": {} }),
            "exactly one of",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "image",
                    "image": { "id": "1234" } }),
            "image['id']",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "document",
                    "document": { "link": "ftp://example.com/a.pdf" } }),
            "document['link']",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "image",
                    "image": { "link": "https://example.com/a.jpg",
                               "caption": "c".repeat(1025) } }),
            "image['caption']",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "audio",
                    "audio": { "link": "https://example.com/a.ogg", "caption": "hi" } }),
            "audio['caption']",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "location",
                    "location": { "longitude": 2.35 } }),
            "location['latitude']",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "contacts",
                    "contacts": [{ "phones": [] }] }),
            "formatted_name",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "interactive",
                    "interactive": { "type": "button", "body": { "text": "Pick" }, "action": {
                        "buttons": (1..=4).map(|i| json!({ "type": "reply",
                            "reply": { "id": format!("b{i}"), "title": format!("B{i}") } }))
                            .collect::<Vec<_>>() } } }),
            "buttons",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "reaction",
                    "reaction": { "emoji": "👍" } }),
            "reaction['message_id']",
        ),
        (
            json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "template",
                    "template": { "name": "order_update" } }),
            "template['language']['code']",
        ),
    ];
    for (body, field) in &cases {
        invalid(&send(&http, &fake, body).await, field);
    }
    // A JSON body sent as a form carries no parameters for Graph.
    let form = http
        .post(messages_url(&fake))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(text(CUSTOMER, "hello").to_string());
    invalid(&call(form).await, "messaging_product");

    let sent = fake.sent();
    assert_eq!(sent.len(), cases.len() + 1);
    assert!(
        sent.iter()
            .all(|s| s.error_code == Some(100) && s.wamid.is_none())
    );
    assert!(sent.iter().all(|s| s.http_status == 400));
    assert_eq!(sent.last().unwrap().body, Value::Null);

    // The limits themselves are fine, in characters rather than bytes.
    let longest = text(CUSTOMER, &"é".repeat(4096));
    assert_eq!(send(&http, &fake, &longest).await.0, 200);
    fake.set_max_text_chars(1024);
    invalid(
        &send(&http, &fake, &text(CUSTOMER, &"x".repeat(1025))).await,
        "1024",
    );
    let valid: Vec<Value> = vec![
        json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "image",
                "image": { "link": "https://example.com/a.jpg", "caption": "c".repeat(1024) } }),
        json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "location",
                "location": { "latitude": 48.85, "longitude": 2.35, "name": "Shop" } }),
        json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "reaction",
                "reaction": { "message_id": "wamid.X", "emoji": "👍" } }),
        json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "interactive",
                "interactive": { "type": "button", "body": { "text": "Pick" }, "action": {
                    "buttons": [{ "type": "reply",
                                  "reply": { "id": "yes", "title": "Yes" } }] } } }),
    ];
    for body in &valid {
        let (status, answer) = send(&http, &fake, body).await;
        assert_eq!(status, 200, "{body} -> {answer}");
    }
}

#[tokio::test]
async fn scripted_failures_answer_meta_envelopes() {
    let (fake, http) = start().await;
    let cases = [
        (
            Failure::RATE_LIMIT_HIT,
            400,
            130429,
            "(#130429) Rate limit hit",
        ),
        (
            Failure::PAIR_RATE_LIMIT,
            400,
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        ),
        (
            Failure::WABA_RATE_LIMIT,
            400,
            80007,
            "(#80007) Rate limit issues",
        ),
        (
            Failure::APP_RATE_LIMIT,
            400,
            4,
            "(#4) Application request limit reached",
        ),
        (
            Failure::SPAM_RATE_LIMIT,
            400,
            131048,
            "(#131048) Spam rate limit hit",
        ),
        (
            Failure::SOMETHING_WENT_WRONG,
            500,
            131000,
            "(#131000) Something went wrong",
        ),
        (
            Failure::SERVICE_UNAVAILABLE,
            503,
            2,
            "(#2) Service temporarily unavailable",
        ),
        (
            Failure::INVALID_PARAMETER,
            400,
            100,
            "(#100) Invalid parameter",
        ),
        (
            Failure::UNDELIVERABLE,
            400,
            131026,
            "(#131026) Message Undeliverable",
        ),
        (
            Failure::RE_ENGAGEMENT,
            400,
            131047,
            "(#131047) Re-engagement message",
        ),
        (
            Failure::code(131049, 400, "Meta chose not to deliver"),
            400,
            131049,
            "(#131049) Meta chose not to deliver",
        ),
    ];
    for (failure, status, code, message) in &cases {
        assert_eq!(
            (failure.error_code(), failure.http_status()),
            (*code, *status)
        );
        fake.fail_next(failure.clone());
        let error = graph_error(
            &send(&http, &fake, &text(CUSTOMER, "hi")).await,
            *status,
            *code,
        );
        assert_eq!(error["message"], *message);
        assert_eq!(error["type"], "OAuthException");
        assert_eq!(error["error_data"]["messaging_product"], "whatsapp");
        assert!(!error["error_data"]["details"].as_str().unwrap().is_empty());
        let subcode = if *code == 130429 {
            json!(2_494_055)
        } else {
            Value::Null
        };
        assert_eq!(error["error_subcode"], subcode);
    }
    let reengagement = &fake.sent()[9];
    assert_eq!(reengagement.error_code, Some(131047));

    fake.fail_next(Failure::TOKEN_EXPIRED);
    let error = graph_error(&send(&http, &fake, &text(CUSTOMER, "hi")).await, 401, 190);
    assert_eq!(error["type"], "OAuthException");
    assert_eq!(error["error_subcode"], 463);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Session has expired")
    );

    // Queued failures apply to the next sends in order, before any validation.
    fake.fail_next(Failure::PAIR_RATE_LIMIT);
    fake.fail_next(Failure::SOMETHING_WENT_WRONG);
    let invalid_body = json!({ "messaging_product": "whatsapp" });
    graph_error(&send(&http, &fake, &invalid_body).await, 400, 131056);
    graph_error(
        &send(&http, &fake, &text(CUSTOMER, "hi")).await,
        500,
        131000,
    );
    let (status, _) = send(&http, &fake, &text(CUSTOMER, "hi")).await;
    assert_eq!(status, 200);
    let codes: Vec<Option<i64>> = fake.sent().iter().map(|s| s.error_code).collect();
    let mut expected: Vec<Option<i64>> = cases.iter().map(|c| Some(c.2)).collect();
    expected.extend([Some(190), Some(131056), Some(131000), None]);
    assert_eq!(codes, expected);
}

#[tokio::test]
async fn a_closed_window_refuses_free_form_messages_but_not_templates() {
    let (fake, http) = start().await;
    fake.approve_template("order_update", "en_US", 1);
    fake.close_window("+16505551234");

    let error = graph_error(
        &send(&http, &fake, &text(CUSTOMER, "hi")).await,
        400,
        131047,
    );
    assert_eq!(error["message"], "(#131047) Re-engagement message");
    assert_eq!(error["error_data"]["details"], RE_ENGAGEMENT_DETAILS);
    let image = json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "image",
                        "image": { "link": "https://example.com/a.jpg" } });
    graph_error(&send(&http, &fake, &image).await, 400, 131047);
    // Validation comes first: a bad body is a 100 even with the window closed.
    invalid(
        &send(&http, &fake, &text(CUSTOMER, "")).await,
        "text['body']",
    );

    let (status, answer) = send(&http, &fake, &template("order_update", "en_US", &["A-1"])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["messages"][0]["message_status"], "accepted");
    // Other customers are not affected.
    assert_eq!(send(&http, &fake, &text("447700900123", "hi")).await.0, 200);

    fake.customer_wrote(CUSTOMER);
    assert_eq!(send(&http, &fake, &text(CUSTOMER, "hi again")).await.0, 200);
    fake.close_window(CUSTOMER);
    graph_error(
        &send(&http, &fake, &text(CUSTOMER, "hi")).await,
        400,
        131047,
    );
}

#[tokio::test]
async fn templates_must_be_approved_with_the_right_parameter_count() {
    let (fake, http) = start().await;
    fake.approve_template("order_update", "en_US", 2);
    fake.approve_template("hello_world", "en_US", 0);

    for body in [
        template("order_updates", "en_US", &["A-1", "Friday"]),
        template("order_update", "en", &["A-1", "Friday"]),
    ] {
        let error = graph_error(&send(&http, &fake, &body).await, 404, 132001);
        assert_eq!(
            error["message"],
            "(#132001) Template name does not exist in the translation"
        );
    }
    for parameters in [&["A-1"][..], &["A-1", "Friday", "extra"][..], &[][..]] {
        let body = template("order_update", "en_US", parameters);
        let error = graph_error(&send(&http, &fake, &body).await, 400, 132000);
        assert_eq!(
            error["message"],
            "(#132000) Number of parameters does not match the expected number of params"
        );
    }
    // Header parameters do not count towards the body's.
    let mut body = template("order_update", "en_US", &["A-1", "Friday"]);
    body["template"]["components"]
        .as_array_mut()
        .unwrap()
        .insert(
            0,
            json!({ "type": "header", "parameters": [
            { "type": "image", "image": { "link": "https://example.com/h.png" } }] }),
        );
    let (status, answer) = send(&http, &fake, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["messages"][0]["message_status"], "accepted");
    let mut hello = template("hello_world", "en_US", &[]);
    hello["template"]
        .as_object_mut()
        .unwrap()
        .remove("components");
    assert_eq!(send(&http, &fake, &hello).await.0, 200);

    let sent = fake.sent();
    let accepted = &sent[sent.len() - 2];
    assert_eq!(accepted.kind, "template");
    assert_eq!(
        accepted.template,
        Some((
            "order_update".into(),
            "en_US".into(),
            vec!["A-1".into(), "Friday".into()]
        ))
    );
    assert_eq!(accepted.text, None);
    assert_eq!(sent[0].error_code, Some(132001));
    assert_eq!(sent[2].error_code, Some(132000));
}

// Media.

fn upload_form(mime: &str, part_mime: &str, name: &str, bytes: &[u8]) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name(name.to_owned())
        .mime_str(part_mime)
        .unwrap();
    reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", mime.to_owned())
        .part("file", part)
}

#[tokio::test]
async fn uploaded_media_can_be_sent_by_id() {
    let (fake, http) = start().await;
    let url = graph(&fake, &format!("{PHONE_NUMBER_ID}/media"));
    let pdf = b"%PDF-1.7 the invoice".to_vec();
    let form = upload_form("application/pdf", "application/pdf", "invoice.pdf", &pdf);
    let (status, answer) = call(http.post(&url).bearer_auth(TOKEN).multipart(form)).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    assert!(
        id.len() >= 15 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        (
            uploads[0].media_id.as_str(),
            uploads[0].mime_type.as_str(),
            uploads[0].filename.as_str()
        ),
        (id.as_str(), "application/pdf", "invoice.pdf")
    );
    assert_eq!(uploads[0].bytes, pdf);

    let document = json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "document",
        "document": { "id": id, "caption": "Your invoice", "filename": "invoice-7.pdf" } });
    let (status, answer) = send(&http, &fake, &document).await;
    assert_eq!(status, 200, "{answer}");
    let sent = &fake.sent()[0];
    assert_eq!(sent.kind, "document");
    assert_eq!(sent.media_id.as_deref(), Some(id.as_str()));
    assert_eq!(sent.media_link, None);
    assert_eq!(sent.filename.as_deref(), Some("invoice-7.pdf"));
    assert_eq!(sent.text.as_deref(), Some("Your invoice"));
    let linked = json!({ "messaging_product": "whatsapp", "to": CUSTOMER, "type": "image",
        "image": { "link": "https://example.com/p.jpg" } });
    assert_eq!(send(&http, &fake, &linked).await.0, 200);
    assert_eq!(
        fake.sent()[1].media_link.as_deref(),
        Some("https://example.com/p.jpg")
    );

    // The uploaded bytes are downloadable like any media.
    let (status, meta) = call(http.get(graph(&fake, &id)).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["sha256"], sha256_base64(&pdf));

    // Upload refusals.
    let no_product = reqwest::multipart::Form::new()
        .text("type", "application/pdf")
        .part(
            "file",
            reqwest::multipart::Part::bytes(pdf.clone())
                .file_name("a.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let refused = call(http.post(&url).bearer_auth(TOKEN).multipart(no_product)).await;
    invalid(&refused, "messaging_product");
    let exe = upload_form(
        "application/x-msdownload",
        "application/x-msdownload",
        "a.exe",
        b"MZ",
    );
    invalid(
        &call(http.post(&url).bearer_auth(TOKEN).multipart(exe)).await,
        "type",
    );
    let mismatch = upload_form("image/png", "application/pdf", "a.png", &pdf);
    invalid(
        &call(http.post(&url).bearer_auth(TOKEN).multipart(mismatch)).await,
        "image/png",
    );
    let empty = upload_form("image/png", "image/png", "a.png", b"");
    invalid(
        &call(http.post(&url).bearer_auth(TOKEN).multipart(empty)).await,
        "empty",
    );
    let too_big = upload_form(
        "image/png",
        "image/png",
        "a.png",
        &vec![0; 5 * 1024 * 1024 + 1],
    );
    invalid(
        &call(http.post(&url).bearer_auth(TOKEN).multipart(too_big)).await,
        "at most",
    );
    let no_file = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "image/png");
    invalid(
        &call(http.post(&url).bearer_auth(TOKEN).multipart(no_file)).await,
        "file",
    );
    let not_multipart = http.post(&url).bearer_auth(TOKEN).json(&json!({}));
    invalid(&call(not_multipart).await, "messaging_product");
    let other_number = graph(&fake, "999/media");
    let form = upload_form("image/png", "image/png", "a.png", b"png");
    let error = graph_error(
        &call(http.post(other_number).bearer_auth(TOKEN).multipart(form)).await,
        400,
        100,
    );
    assert_eq!(error["error_subcode"], 33);
    assert_eq!(fake.uploads().len(), 1);
}

#[tokio::test]
async fn media_metadata_and_downloads_are_checked() {
    let (fake, http) = start().await;
    let bytes = b"\xff\xd8\xff\xe0 a photo".to_vec();
    let id = fake.add_media(&bytes, "image/jpeg");

    let (status, meta) = call(http.get(graph(&fake, &id)).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["messaging_product"], "whatsapp");
    assert_eq!(meta["id"], id.as_str());
    assert_eq!(meta["mime_type"], "image/jpeg");
    assert_eq!(meta["sha256"], sha256_base64(&bytes));
    assert_eq!(meta["file_size"], bytes.len().to_string());
    let url = meta["url"].as_str().unwrap().to_owned();
    let prefix = format!(
        "{}/whatsapp_business/attachments/?mid={id}&ext=",
        fake.api_url()
    );
    assert!(url.starts_with(&prefix) && url.contains("&hash="), "{url}");

    // The download wants the same bearer token; the CDN answers HTML, not JSON.
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let content_type = anonymous.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert_eq!(fake.media_downloads(), 0);
    let download = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "image/jpeg");
    let downloaded = download.bytes().await.unwrap();
    assert_eq!(sha256_base64(&downloaded), meta["sha256"].as_str().unwrap());
    assert_eq!(fake.media_downloads(), 1);
    // Only URLs the fake handed out work.
    let forged = url.replace("&hash=", "&hash=x");
    assert_eq!(
        http.get(forged)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(fake.media_downloads(), 1);

    fake.corrupt_media(&id);
    let corrupted = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    let corrupted = corrupted.bytes().await.unwrap();
    assert_eq!(corrupted.len(), bytes.len());
    assert_ne!(sha256_base64(&corrupted), meta["sha256"].as_str().unwrap());
    assert_eq!(fake.media_downloads(), 2);

    fake.fail_media(&id, 2);
    for _ in 0..2 {
        let error = graph_error(
            &call(http.get(graph(&fake, &id)).bearer_auth(TOKEN)).await,
            503,
            2,
        );
        assert_eq!(error["message"], "(#2) Service temporarily unavailable");
    }
    fake.file_size_as_number(true);
    let (status, meta) = call(http.get(graph(&fake, &id)).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["file_size"], bytes.len());

    let with_number = format!("{}?phone_number_id={PHONE_NUMBER_ID}", graph(&fake, &id));
    assert_eq!(call(http.get(with_number).bearer_auth(TOKEN)).await.0, 200);
    let other_number = format!("{}?phone_number_id=999", graph(&fake, &id));
    invalid(
        &call(http.get(other_number).bearer_auth(TOKEN)).await,
        "phone_number_id",
    );
    let unknown = call(
        http.get(graph(&fake, "1234567890123456"))
            .bearer_auth(TOKEN),
    )
    .await;
    let error = graph_error(&unknown, 400, 100);
    assert_eq!(error["type"], "GraphMethodException");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported get request.")
    );
}

// Status webhooks.

#[tokio::test]
async fn emit_status_posts_one_signed_status_webhook() {
    let (fake, http) = start().await;
    let receiver = Receiver::start().await;
    fake.set_webhook(&receiver.url);
    let (_, answer) = send(&http, &fake, &text("+16505551234", "hi")).await;
    let wamid = wamid_of(&answer);

    assert_eq!(fake.emit_status(&wamid, "delivered", None).await, 200);
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    assert_eq!(body["object"], "whatsapp_business_account");
    assert_eq!(body["entry"][0]["id"], WABA_ID);
    assert_eq!(body["entry"][0]["changes"][0]["field"], "messages");
    let value = &body["entry"][0]["changes"][0]["value"];
    assert_eq!(value["messaging_product"], "whatsapp");
    assert_eq!(value["metadata"]["phone_number_id"], PHONE_NUMBER_ID);
    let status = status_of(body);
    assert_eq!(status["id"], wamid.as_str());
    assert_eq!(status["status"], "delivered");
    assert_eq!(status["recipient_id"], CUSTOMER);
    let timestamp: u64 = status["timestamp"].as_str().unwrap().parse().unwrap();
    assert!(timestamp > 1_700_000_000);
    assert_eq!(status["pricing"]["category"], "service");
    assert_eq!(status["pricing"]["billable"], false);
    assert!(status["conversation"]["id"].is_string());
    assert!(status.get("errors").is_none());

    assert_eq!(fake.emit_status(&wamid, "read", None).await, 200);
    let read = &receiver.bodies()[1];
    assert!(status_of(read).get("pricing").is_none());

    let error = Some((131026, "Message Undeliverable"));
    assert_eq!(fake.emit_status(&wamid, "failed", error).await, 200);
    let failed = status_of(&receiver.bodies()[2]).clone();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["errors"][0]["code"], 131026);
    assert_eq!(failed["errors"][0]["title"], "Message Undeliverable");
    assert_eq!(failed["errors"][0]["message"], "Message Undeliverable");
    assert!(failed["errors"][0]["error_data"]["details"].is_string());

    // emit_status reports the receiver's answer and does not retry.
    receiver.state.lock().unwrap().script.push_back(500);
    assert_eq!(fake.emit_status(&wamid, "read", None).await, 500);
    assert_eq!(receiver.bodies().len(), 4);
    assert_eq!(receiver.bad_signatures(), 0);
    let posts = fake.status_posts();
    let attempts: Vec<Vec<u16>> = posts.iter().map(|p| p.attempts.clone()).collect();
    assert_eq!(attempts, [vec![200], vec![200], vec![200], vec![500]]);
    assert_eq!(posts[2].status, "failed");
    assert_eq!(posts[2].wamid, wamid);
}

#[tokio::test]
async fn auto_status_posts_sent_then_delivered_in_order() {
    let (fake, http) = start().await;
    let receiver = Receiver::start().await;
    fake.set_webhook(&receiver.url);
    fake.auto_status(true);
    fake.approve_template("order_update", "en_US", 1);

    let first = wamid_of(&send(&http, &fake, &text(CUSTOMER, "one")).await.1);
    fake.fail_next(Failure::RATE_LIMIT_HIT);
    graph_error(
        &send(&http, &fake, &text(CUSTOMER, "refused")).await,
        400,
        130429,
    );
    let second = wamid_of(
        &send(&http, &fake, &template("order_update", "en_US", &["A-1"]))
            .await
            .1,
    );
    fake.wait_for_status_posts(4).await;

    let expected = [
        (first.clone(), "sent".to_owned()),
        (first, "delivered".to_owned()),
        (second.clone(), "sent".to_owned()),
        (second, "delivered".to_owned()),
    ];
    assert_eq!(receiver.statuses(), expected);
    assert_eq!(receiver.bad_signatures(), 0);
    let bodies = receiver.bodies();
    let sent = status_of(&bodies[0]);
    assert!(sent["conversation"]["expiration_timestamp"].is_string());
    assert!(
        status_of(&bodies[1])["conversation"]
            .get("expiration_timestamp")
            .is_none()
    );
    let template_sent = status_of(&bodies[2]);
    assert_eq!(template_sent["pricing"]["category"], "utility");
    assert_eq!(template_sent["pricing"]["billable"], true);
    assert!(fake.status_posts().iter().all(|p| p.attempts == [200]));

    fake.auto_status(false);
    send(&http, &fake, &text(CUSTOMER, "quiet")).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(receiver.bodies().len(), 4);
}

#[tokio::test]
async fn late_window_failures_accept_then_post_a_failed_status() {
    let (fake, http) = start().await;
    let receiver = Receiver::start().await;
    fake.set_webhook(&receiver.url);
    fake.auto_status(true);
    fake.late_window_failures(true);
    fake.approve_template("order_update", "en_US", 1);
    fake.close_window(CUSTOMER);

    let (status, answer) = send(&http, &fake, &text(CUSTOMER, "too late")).await;
    assert_eq!(status, 200, "{answer}");
    let late = wamid_of(&answer);
    let template = wamid_of(
        &send(&http, &fake, &template("order_update", "en_US", &["A-1"]))
            .await
            .1,
    );
    fake.wait_for_status_posts(3).await;

    let expected = [
        (late.clone(), "failed".to_owned()),
        (template.clone(), "sent".to_owned()),
        (template, "delivered".to_owned()),
    ];
    assert_eq!(receiver.statuses(), expected);
    let failed = status_of(&receiver.bodies()[0]).clone();
    assert_eq!(failed["recipient_id"], CUSTOMER);
    assert_eq!(failed["errors"][0]["code"], 131047);
    assert_eq!(failed["errors"][0]["title"], "Re-engagement message");
    assert_eq!(
        failed["errors"][0]["error_data"]["details"],
        RE_ENGAGEMENT_DETAILS
    );
    assert!(failed.get("pricing").is_none());
    let sent = fake.sent();
    assert_eq!(sent[0].wamid.as_deref(), Some(late.as_str()));
    assert_eq!(
        (sent[0].error_code, sent[0].late_error_code),
        (None, Some(131047))
    );
    assert_eq!(sent[1].late_error_code, None);

    // Without the mode, the same send is refused synchronously again.
    fake.late_window_failures(false);
    graph_error(
        &send(&http, &fake, &text(CUSTOMER, "too late")).await,
        400,
        131047,
    );
}

#[tokio::test]
async fn status_webhooks_are_retried_until_answered_200() {
    let (fake, http) = start().await;
    let receiver = Receiver::start().await;
    receiver.state.lock().unwrap().script.extend([500, 503]);
    fake.set_webhook(&receiver.url);
    fake.auto_status(true);
    let wamid = wamid_of(&send(&http, &fake, &text(CUSTOMER, "hi")).await.1);
    let posts = fake.wait_for_status_posts(2).await;
    assert_eq!(posts[0].attempts, [500, 503, 200]);
    assert_eq!(posts[1].attempts, [200]);
    let statuses = receiver.statuses();
    let sent = (wamid.clone(), "sent".to_owned());
    let delivered = (wamid, "delivered".to_owned());
    assert_eq!(statuses, [sent.clone(), sent.clone(), sent, delivered]);
    // Each try carries the same bytes.
    let raw = receiver.state.lock().unwrap().raw.clone();
    assert!(raw[0] == raw[1] && raw[1] == raw[2]);
}
