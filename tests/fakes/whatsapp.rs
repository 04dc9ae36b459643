//! A fake WhatsApp Cloud API (Meta's Graph API) for one business phone number, built
//! from the provider contract and as strict as the real service where the gateway
//! can tell:
//!
//! - `/{version}/...` with a `vN.N` version; `Authorization: Bearer <token>` on every
//!   call (401 with code 190 otherwise); Graph error envelopes with `(#code) title`,
//!   `type`, `error_data.details` and `fbtrace_id`, with Meta's HTTP statuses.
//! - `POST /{version}/{phone-number-id}/messages`: a JSON body validated field by
//!   field (code 100 naming the field): messaging_product, recipient_type, `to`,
//!   `type`, text length, media with exactly one of an uploaded `id` or a `link`,
//!   captions, location, contacts, interactive, reaction, context; templates must be
//!   approved for that name and language (132001) with the right number of body
//!   parameters (132000); free-form messages to a customer whose 24-hour window is
//!   closed fail with 131047, synchronously or, in `late_window_failures` mode, as a
//!   later `failed` status webhook. Every authenticated send is recorded (`sent`).
//! - `POST /{version}/{phone-number-id}/media` (multipart upload, Meta's media types
//!   and size limits), `GET /{version}/{media-id}` (metadata with the sha256 of the
//!   bytes and a download URL valid 5 minutes) and the download URL itself, which
//!   also wants the bearer token and answers like a CDN (HTML errors, no JSON).
//! - Status webhooks (`emit_status`, `auto_status`, late failures) in the real shape,
//!   serialized as Meta does (`\/` and `\uXXXX` escapes) and signed over those exact
//!   bytes with `X-Hub-Signature-256` (and the legacy SHA-1 `X-Hub-Signature`). Queued
//!   statuses are posted one at a time, in order, and retried while the answer is not
//!   200, as Meta retries.
//!
//! A customer's window is open unless `close_window` was called after the last
//! `customer_wrote` for them. The fake never calls the webhook unless a test asks
//! (`emit_status`, `auto_status`, `late_window_failures`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::Watched;

/// The WhatsApp Business Account id in webhook envelopes.
pub const WABA_ID: &str = "102290129340398";
pub const DISPLAY_PHONE_NUMBER: &str = "15550783881";
/// The phone number id `text_message` puts in its envelope: start the fake with it
/// (or build envelopes with `envelope`/`inbound`) so that they agree.
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const RE_ENGAGEMENT_DETAILS: &str = "Message failed to send because more than 24 hours \
    have passed since the customer last replied to this number.";

const MB: usize = 1024 * 1024;
const MAX_TEXT: usize = 4096;
const MAX_CAPTION: usize = 1024;
const MAX_REQUEST: usize = 128 * MB;
/// Media download URLs expire after 5 minutes.
const URL_LIFETIME: u64 = 300;
/// Meta retries for days; the fake gives a webhook this many tries, 0.1 s apart and doubling.
const WEBHOOK_ATTEMPTS: u32 = 5;
const MESSAGE_TYPES: [&str; 11] = [
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "template",
    "reaction",
];
const MEDIA_TYPES: [&str; 5] = ["image", "video", "audio", "document", "sticker"];
/// Media types Meta accepts for upload, with their size limits.
const UPLOAD_TYPES: [(&str, usize); 16] = [
    ("audio/aac", 16 * MB),
    ("audio/amr", 16 * MB),
    ("audio/mpeg", 16 * MB),
    ("audio/mp4", 16 * MB),
    ("audio/ogg", 16 * MB),
    ("text/plain", 100 * MB),
    ("application/pdf", 100 * MB),
    ("application/msword", 100 * MB),
    ("application/vnd.ms-excel", 100 * MB),
    ("application/vnd.ms-powerpoint", 100 * MB),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        100 * MB,
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        100 * MB,
    ),
    ("image/jpeg", 5 * MB),
    ("image/png", 5 * MB),
    ("image/webp", 500 * 1024),
    ("video/mp4", 16 * MB),
];
const ERROR_CODES_URL: &str =
    "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/";

/// A scripted answer for the next send. Meta's HTTP statuses come from its error-code
/// reference (throttling is 400 there, not 429); the gateway should key on the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    Code {
        code: i64,
        http_status: u16,
        title: &'static str,
    },
}

impl Failure {
    pub const APP_RATE_LIMIT: Failure = Failure::code(4, 400, "Application request limit reached");
    pub const WABA_RATE_LIMIT: Failure = Failure::code(80007, 400, "Rate limit issues");
    /// Throughput (messages per second of the business number).
    pub const RATE_LIMIT_HIT: Failure = Failure::code(130429, 400, "Rate limit hit");
    pub const SPAM_RATE_LIMIT: Failure = Failure::code(131048, 400, "Spam rate limit hit");
    pub const PAIR_RATE_LIMIT: Failure = Failure::code(
        131056,
        400,
        "(Business Account, Consumer Account) pair rate limit hit",
    );
    pub const SOMETHING_WENT_WRONG: Failure = Failure::code(131000, 500, "Something went wrong");
    pub const SERVICE_UNAVAILABLE: Failure =
        Failure::code(2, 503, "Service temporarily unavailable");
    pub const INVALID_PARAMETER: Failure = Failure::code(100, 400, "Invalid parameter");
    pub const UNDELIVERABLE: Failure = Failure::code(131026, 400, "Message Undeliverable");
    pub const RE_ENGAGEMENT: Failure = Failure::code(131047, 400, "Re-engagement message");
    /// An OAuthException like Graph's, with error_subcode 463 and no error_data.
    pub const TOKEN_EXPIRED: Failure = Failure::code(190, 401, "Access token has expired");

    pub const fn code(code: i64, http_status: u16, title: &'static str) -> Failure {
        Failure::Code {
            code,
            http_status,
            title,
        }
    }

    pub fn error_code(&self) -> i64 {
        let Failure::Code { code, .. } = self;
        *code
    }

    pub fn http_status(&self) -> u16 {
        let Failure::Code { http_status, .. } = self;
        *http_status
    }
}

/// One POST .../messages that passed the token check, accepted or refused.
#[derive(Clone, Debug)]
pub struct Sent {
    pub to: String,
    /// The `type` ("text" when absent).
    pub kind: String,
    /// text.body, the media caption or interactive body.text.
    pub text: Option<String>,
    pub preview_url: Option<bool>,
    pub context_message_id: Option<String>,
    /// (name, language code, body parameter texts).
    pub template: Option<(String, String, Vec<String>)>,
    pub media_id: Option<String>,
    pub media_link: Option<String>,
    pub filename: Option<String>,
    /// The whole request body (Null when it was not JSON).
    pub body: Value,
    /// The id the fake answered with; None when refused.
    pub wamid: Option<String>,
    pub error_code: Option<i64>,
    pub http_status: u16,
    /// Accepted, then failed by a later status webhook with this code.
    pub late_error_code: Option<i64>,
}

/// Media the gateway uploaded.
#[derive(Clone)]
pub struct Upload {
    pub media_id: String,
    pub mime_type: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("media_id", &self.media_id)
            .field("mime_type", &self.mime_type)
            .field("filename", &self.filename)
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .finish()
    }
}

/// A status webhook the fake posted.
#[derive(Clone, Debug)]
pub struct StatusPost {
    pub wamid: String,
    pub status: String,
    pub body: Value,
    /// The HTTP status of each try (0: no connection); empty when no webhook was set.
    pub attempts: Vec<u16>,
}

#[derive(Clone)]
pub struct FakeWhatsApp {
    url: String,
    shared: Arc<Shared>,
}

struct Shared {
    token: String,
    app_secret: String,
    phone_number_id: String,
    url: String,
    http: reqwest::Client,
    /// Status webhooks to post, in order, by one task.
    queue: mpsc::UnboundedSender<Value>,
    state: Watched<Inner>,
}

struct Inner {
    sent: Vec<Sent>,
    failures: VecDeque<Failure>,
    /// (name, language code) -> number of body parameters.
    templates: HashMap<(String, String), usize>,
    /// wa_ids whose 24-hour window is closed.
    closed: HashSet<String>,
    media: HashMap<String, StoredMedia>,
    uploads: Vec<Upload>,
    /// media id -> metadata requests still to fail.
    media_failures: HashMap<String, u32>,
    downloads: usize,
    webhook: Option<String>,
    auto_status: bool,
    late_failures: bool,
    status_posts: Vec<StatusPost>,
    max_text: usize,
    file_size_as_number: bool,
}

struct StoredMedia {
    bytes: Vec<u8>,
    mime_type: String,
    sha256: String,
    filename: Option<String>,
    corrupt: bool,
}

impl FakeWhatsApp {
    /// Starts on 127.0.0.1:0 serving one business phone number.
    pub async fn start(token: &str, app_secret: &str, phone_number_id: &str) -> FakeWhatsApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (queue, jobs) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            app_secret: app_secret.to_owned(),
            phone_number_id: phone_number_id.to_owned(),
            url: url.clone(),
            http: http_client(),
            queue,
            state: Watched::new(
                "WhatsApp",
                Inner {
                    sent: Vec::new(),
                    failures: VecDeque::new(),
                    templates: HashMap::new(),
                    closed: HashSet::new(),
                    media: HashMap::new(),
                    uploads: Vec::new(),
                    media_failures: HashMap::new(),
                    downloads: 0,
                    webhook: None,
                    auto_status: false,
                    late_failures: false,
                    status_posts: Vec::new(),
                    max_text: MAX_TEXT,
                    file_size_as_number: false,
                },
                |inner| {
                    let (sent, posts) = (&inner.sent, &inner.status_posts);
                    format!("sent {sent:#?}, status posts {posts:#?}")
                },
            ),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(shared.clone())
            .layer(DefaultBodyLimit::disable());
        tokio::spawn(async move { axum::serve(listener, app).await });
        tokio::spawn(deliver_statuses(shared.clone(), jobs));
        FakeWhatsApp { url, shared }
    }

    /// "http://127.0.0.1:PORT": the Graph base URL, without version or trailing slash.
    pub fn api_url(&self) -> String {
        self.url.clone()
    }

    pub fn phone_number_id(&self) -> String {
        self.shared.phone_number_id.clone()
    }

    /// Every authenticated POST .../messages, accepted or refused, in arrival order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.state.lock().sent.clone()
    }

    /// Waits (up to 10 s, then panics showing what arrived) until at least `count`
    /// sends were recorded.
    pub async fn wait_for_sent(&self, count: usize) -> Vec<Sent> {
        self.wait_until(|inner| inner.sent.len() >= count).await;
        self.sent()
    }

    /// The next send is answered with `failure`; call again to queue more.
    pub fn fail_next(&self, failure: Failure) {
        self.shared.state.lock().failures.push_back(failure);
    }

    /// Approves a template in a language, with this many body parameters ({{1}}..).
    pub fn approve_template(&self, name: &str, language: &str, body_parameters: usize) {
        let key = (name.to_owned(), language.to_owned());
        self.shared
            .state
            .lock()
            .templates
            .insert(key, body_parameters);
    }

    /// The customer's last message is more than 24 hours old.
    pub fn close_window(&self, wa_id: &str) {
        self.shared.state.lock().closed.insert(digits(wa_id));
    }

    /// The customer just wrote: their window is open again.
    pub fn customer_wrote(&self, wa_id: &str) {
        self.shared.state.lock().closed.remove(&digits(wa_id));
    }

    /// Stores media (as if a customer had sent it) and returns its id.
    pub fn add_media(&self, bytes: &[u8], mime_type: &str) -> String {
        let id = media_id();
        self.shared
            .state
            .lock()
            .media
            .insert(id.clone(), StoredMedia::new(bytes, mime_type, None));
        id
    }

    /// Downloads of this media serve other bytes than its metadata's sha256 describes.
    pub fn corrupt_media(&self, media_id: &str) {
        let mut inner = self.shared.state.lock();
        let media = inner.media.get_mut(media_id);
        media.expect("corrupt_media: unknown media id").corrupt = true;
    }

    /// The next `times` metadata requests for this media answer 503 with code 2.
    pub fn fail_media(&self, media_id: &str, times: u32) {
        let mut inner = self.shared.state.lock();
        inner.media_failures.insert(media_id.to_owned(), times);
    }

    /// How many media downloads (bytes) were served.
    pub fn media_downloads(&self) -> usize {
        self.shared.state.lock().downloads
    }

    pub fn uploads(&self) -> Vec<Upload> {
        self.shared.state.lock().uploads.clone()
    }

    /// Where the fake posts status webhooks (the gateway's /webhooks/{channel_id}).
    pub fn set_webhook(&self, url: &str) {
        self.shared.state.lock().webhook = Some(url.to_owned());
    }

    /// Posts one signed status webhook for `wamid` and returns the HTTP status.
    /// `error` is (code, title), for "failed"; a failed status without one carries
    /// 131000. The recipient and pricing come from the recorded send of `wamid` (an
    /// unknown wamid gets recipient 16505551234 and service pricing).
    pub async fn emit_status(&self, wamid: &str, status: &str, error: Option<(i64, &str)>) -> u16 {
        let (url, body) = {
            let inner = self.shared.state.lock();
            let url = inner
                .webhook
                .clone()
                .expect("emit_status: call set_webhook first");
            let body = inner.status_for(&self.shared.phone_number_id, wamid, status, error);
            (url, body)
        };
        let answer = self.shared.post(&url, &body).await;
        let status_code = answer.unwrap_or_else(|e| panic!("emit_status: POST {url}: {e}"));
        self.shared.record_post(body, vec![status_code]);
        status_code
    }

    /// After each accepted send, post "sent" then "delivered" (queued, in order).
    pub fn auto_status(&self, on: bool) {
        self.shared.state.lock().auto_status = on;
    }

    /// Closed window: accept free-form messages (200 + wamid), then post a "failed"
    /// status with 131047, as the real API sometimes does, instead of refusing.
    pub fn late_window_failures(&self, on: bool) {
        self.shared.state.lock().late_failures = on;
    }

    /// The text limit (4096 by default; some Meta pages say 1024).
    pub fn set_max_text_chars(&self, chars: usize) {
        self.shared.state.lock().max_text = chars;
    }

    /// Media metadata with `file_size` as a JSON number instead of a string (Meta's
    /// pages show a string; clients should accept both).
    pub fn file_size_as_number(&self, on: bool) {
        self.shared.state.lock().file_size_as_number = on;
    }

    /// The status webhooks the fake posted (or tried to), in order.
    pub fn status_posts(&self) -> Vec<StatusPost> {
        self.shared.state.lock().status_posts.clone()
    }

    /// Waits (up to 10 s) until at least `count` status webhooks were posted.
    pub async fn wait_for_status_posts(&self, count: usize) -> Vec<StatusPost> {
        self.wait_until(|inner| inner.status_posts.len() >= count)
            .await;
        self.status_posts()
    }

    /// An inbound message carrying stored media (type from its mime type: image,
    /// sticker for webp, video, audio, else document), in an envelope for this fake's
    /// phone number id.
    pub fn media_message(
        &self,
        from_wa_id: &str,
        name: &str,
        wamid: &str,
        timestamp: i64,
        media_id: &str,
        caption: Option<&str>,
    ) -> Value {
        let inner = self.shared.state.lock();
        let media = inner
            .media
            .get(media_id)
            .expect("media_message: unknown media id");
        let kind = kind_for_mime(&media.mime_type);
        let mut object = json!({
            "id": media_id,
            "mime_type": media.mime_type,
            "sha256": media.sha256,
        });
        if let Some(caption) = caption {
            object["caption"] = caption.into();
        }
        if kind == "document" {
            let filename = media.filename.clone().unwrap_or_else(|| "file".to_owned());
            object["filename"] = filename.into();
        }
        if kind == "audio" {
            object["voice"] = media.mime_type.starts_with("audio/ogg").into();
        }
        let message = json!({
            "from": from_wa_id,
            "id": wamid,
            "timestamp": timestamp.to_string(),
            "type": kind,
            kind: object,
        });
        inbound(&self.shared.phone_number_id, from_wa_id, name, message)
    }

    /// `Watched::wait_until` on this fake's state.
    async fn wait_until(&self, done: impl Fn(&Inner) -> bool) {
        self.shared.state.wait_until(done).await;
    }
}

impl Shared {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = value.and_then(|v| v.strip_prefix("Bearer "));
        token.is_some_and(|t| t.trim() == self.token)
    }

    async fn post(&self, url: &str, body: &Value) -> Result<u16, reqwest::Error> {
        let response = signed(&self.http, url, &self.app_secret, body)
            .send()
            .await?;
        Ok(response.status().as_u16())
    }

    fn record_post(&self, body: Value, attempts: Vec<u16>) {
        let status = &body["entry"][0]["changes"][0]["value"]["statuses"][0];
        let post = StatusPost {
            wamid: status["id"].as_str().unwrap_or_default().to_owned(),
            status: status["status"].as_str().unwrap_or_default().to_owned(),
            body,
            attempts,
        };
        self.state.lock().status_posts.push(post);
        self.state.bump();
    }

    /// A signature for download URLs, so that only URLs the fake handed out work.
    fn url_hash(&self, media_id: &str, expires: u64) -> String {
        let digest = Sha256::digest(format!("{}|{media_id}|{expires}", self.token));
        format!("AT{}", &URL_SAFE_NO_PAD.encode(digest)[..26])
    }
}

/// Posts queued status webhooks one at a time, retrying while the answer is not 200.
async fn deliver_statuses(shared: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Value>) {
    while let Some(body) = jobs.recv().await {
        let url = shared.state.lock().webhook.clone();
        let mut attempts = Vec::new();
        if let Some(url) = url {
            for attempt in 0..WEBHOOK_ATTEMPTS {
                let status = shared.post(&url, &body).await.unwrap_or(0);
                attempts.push(status);
                if status == 200 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
        shared.record_post(body, attempts);
    }
}

// Graph errors.

/// A refused call: a Graph error envelope with its HTTP status.
struct Refusal {
    status: u16,
    code: i64,
    message: String,
    kind: &'static str,
    details: Option<String>,
    subcode: Option<i64>,
}

impl Refusal {
    /// Code 100 with a details text naming the field.
    fn invalid(details: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            code: 100,
            message: "(#100) Invalid parameter".into(),
            kind: "OAuthException",
            details: Some(details.into()),
            subcode: None,
        }
    }

    fn required(field: &str) -> Refusal {
        Refusal::invalid(format!("The parameter {field} is required."))
    }

    fn bad_token() -> Refusal {
        Refusal {
            status: 401,
            code: 190,
            message: "Invalid OAuth access token - Cannot parse access token".into(),
            kind: "OAuthException",
            details: None,
            subcode: None,
        }
    }

    /// What Graph answers for an id it does not know.
    fn no_object(id: &str, method: &str) -> Refusal {
        Refusal {
            status: 400,
            code: 100,
            message: format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation. Please \
                 read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
            kind: "GraphMethodException",
            details: None,
            subcode: Some(33),
        }
    }

    fn unknown_path(status: u16, path: &str) -> Refusal {
        Refusal {
            status,
            code: 2500,
            message: format!("Unknown path components: {path}"),
            kind: "OAuthException",
            details: None,
            subcode: None,
        }
    }

    fn coded(code: i64, status: u16, title: &str, details: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: format!("(#{code}) {title}"),
            kind: "OAuthException",
            details: Some(details.into()),
            subcode: None,
        }
    }
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Refusal {
        let Failure::Code {
            code,
            http_status,
            title,
        } = failure;
        if code == 190 {
            return Refusal {
                status: http_status,
                message: "Error validating access token: Session has expired".into(),
                subcode: Some(463),
                ..Refusal::bad_token()
            };
        }
        let details = details_for(code).unwrap_or(title);
        let mut refusal = Refusal::coded(code, http_status, title, details);
        if code == 130429 {
            // As in Meta's sample response.
            refusal.subcode = Some(2_494_055);
        }
        refusal
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            error["error_data"] = json!({ "messaging_product": "whatsapp", "details": details });
        }
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = subcode.into();
        }
        error["fbtrace_id"] = fbtrace_id().into();
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(json!({ "error": error }))).into_response();
        if self.status == 401 {
            let value = format!(
                "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
                self.message
            );
            if let Ok(value) = value.parse() {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// error_data.details texts Meta gives for the codes the fake scripts.
fn details_for(code: i64) -> Option<&'static str> {
    Some(match code {
        2 => "Temporary due to downtime or due to being overloaded.",
        4 => "The app has reached its API call rate limit.",
        80007 => "The WhatsApp Business Account has reached its rate limit.",
        130429 => {
            "Message failed to send because there were too many messages sent from this phone \
             number in a short period of time"
        }
        131000 => "Message failed to send due to an unknown error.",
        131026 => "Message Undeliverable.",
        131047 => RE_ENGAGEMENT_DETAILS,
        131048 => {
            "Message failed to send because there are restrictions on how many messages can be \
             sent from this phone number. This may be because too many previous messages were \
             blocked or flagged as spam."
        }
        131056 => {
            "Message failed to send because there were too many messages sent from this phone \
             number to the same phone number in a short period of time."
        }
        _ => return None,
    })
}

// Routing.

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/whatsapp_business/attachments/" {
        return download(&shared, &request);
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let Some((version, rest)) = segments.split_first() else {
        return Refusal::unknown_path(404, &path).into_response();
    };
    if !valid_version(version) {
        return Refusal::unknown_path(400, &format!("/{version}")).into_response();
    }
    let method = request.method().clone();
    let route = match (&method, rest) {
        (&Method::POST, [id, "messages"]) if !id.is_empty() => Route::Send(id.to_string()),
        (&Method::POST, [id, "media"]) if !id.is_empty() => Route::Upload(id.to_string()),
        (&Method::GET, [id]) if !id.is_empty() => Route::Media(id.to_string()),
        _ => return Refusal::unknown_path(404, &path).into_response(),
    };
    if !shared.authorized(request.headers()) {
        return Refusal::bad_token().into_response();
    }
    let response = match route {
        Route::Send(id) => send(&shared, &id, request).await,
        Route::Upload(id) => upload(&shared, &id, request).await,
        Route::Media(id) => media_metadata(&shared, &id, &request),
    };
    shared.state.bump();
    response
}

enum Route {
    Send(String),
    Upload(String),
    Media(String),
}

/// `v<digits>.<digits>`, like v23.0.
fn valid_version(segment: &str) -> bool {
    let Some(number) = segment.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = number.split_once('.') else {
        return false;
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(major) && all_digits(minor)
}

// Sending.

async fn send(shared: &Shared, phone_number_id: &str, request: Request) -> Response {
    let json_body = content_type(request.headers()).starts_with("application/json");
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), MAX_REQUEST).await else {
        return Refusal::invalid("Request body too large").into_response();
    };
    // Like Graph, a body that is not a JSON object carries no parameters.
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(value @ Value::Object(_)) if json_body => value,
        _ => Value::Null,
    };
    let mut sent = Sent::from_body(&body);
    let mut inner = shared.state.lock();
    let outcome = inner.accept(shared, phone_number_id, &body);
    match outcome {
        Ok(accepted) => {
            sent.wamid = Some(accepted.wamid);
            sent.http_status = 200;
            sent.late_error_code = accepted.late.then_some(131047);
            inner.sent.push(sent);
            for status in accepted.webhooks {
                // The receiver lives as long as the fake's runtime.
                let _ = shared.queue.send(status);
            }
            axum::Json(accepted.response).into_response()
        }
        Err(refusal) => {
            sent.error_code = Some(refusal.code);
            sent.http_status = refusal.status;
            inner.sent.push(sent);
            refusal.into_response()
        }
    }
}

struct Accepted {
    wamid: String,
    response: Value,
    /// Status webhooks to queue.
    webhooks: Vec<Value>,
    late: bool,
}

impl Sent {
    /// What the body asked for, read leniently (the body may be invalid).
    fn from_body(body: &Value) -> Sent {
        let string = |v: &Value| v.as_str().map(str::to_owned);
        let kind = body["type"].as_str().unwrap_or("text").to_owned();
        let object = &body[kind.as_str()];
        let text = match kind.as_str() {
            "text" => string(&object["body"]),
            "interactive" => string(&object["body"]["text"]),
            _ => string(&object["caption"]),
        };
        let template = (kind == "template").then(|| {
            let name = string(&object["name"]).unwrap_or_default();
            let language = string(&object["language"]["code"]).unwrap_or_default();
            (name, language, body_parameters(object))
        });
        let media = MEDIA_TYPES.contains(&kind.as_str());
        Sent {
            to: string(&body["to"]).unwrap_or_default(),
            text,
            preview_url: object["preview_url"].as_bool().filter(|_| kind == "text"),
            context_message_id: string(&body["context"]["message_id"]),
            template,
            media_id: string(&object["id"]).filter(|_| media),
            media_link: string(&object["link"]).filter(|_| media),
            filename: string(&object["filename"]).filter(|_| media),
            kind,
            body: body.clone(),
            wamid: None,
            error_code: None,
            http_status: 0,
            late_error_code: None,
        }
    }
}

/// The texts of a template's body parameters (fallback_value for currency/date_time).
fn body_parameters(template: &Value) -> Vec<String> {
    let components = template["components"].as_array().into_iter().flatten();
    let bodies = components.filter(|c| {
        c["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("body"))
    });
    let parameters = bodies.flat_map(|c| c["parameters"].as_array().into_iter().flatten());
    let text = |p: &Value| match p["type"].as_str() {
        Some("currency") => p["currency"]["fallback_value"].as_str().map(str::to_owned),
        Some("date_time") => p["date_time"]["fallback_value"].as_str().map(str::to_owned),
        _ => p["text"].as_str().map(str::to_owned),
    };
    parameters.map(|p| text(p).unwrap_or_default()).collect()
}

impl Inner {
    fn accept(
        &mut self,
        shared: &Shared,
        phone_number_id: &str,
        body: &Value,
    ) -> Result<Accepted, Refusal> {
        if let Some(failure) = self.failures.pop_front() {
            return Err(failure.into());
        }
        if phone_number_id != shared.phone_number_id {
            return Err(Refusal::no_object(phone_number_id, "post"));
        }
        let message = self.validate(body)?;
        let template = message.kind == "template";
        if template {
            self.check_template(body)?;
        }
        let closed = !template && self.closed.contains(&message.wa_id);
        if closed && !self.late_failures {
            return Err(Failure::RE_ENGAGEMENT.into());
        }
        let wamid = wamid(&message.wa_id);
        let mut sent_message = json!({ "id": wamid });
        if template {
            sent_message["message_status"] = "accepted".into();
        }
        let response = json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": message.to, "wa_id": message.wa_id }],
            "messages": [sent_message],
        });
        let id = &shared.phone_number_id;
        let webhooks = if closed {
            let error = Some((131047, "Re-engagement message"));
            vec![status_envelope(
                id,
                &wamid,
                &message.wa_id,
                template,
                "failed",
                error,
            )]
        } else if self.auto_status {
            ["sent", "delivered"]
                .map(|s| status_envelope(id, &wamid, &message.wa_id, template, s, None))
                .into()
        } else {
            Vec::new()
        };
        Ok(Accepted {
            wamid,
            response,
            webhooks,
            late: closed,
        })
    }

    fn validate(&self, body: &Value) -> Result<Valid, Refusal> {
        let product = match &body["messaging_product"] {
            Value::Null => return Err(Refusal::required("messaging_product")),
            value => value.as_str().unwrap_or_default(),
        };
        if product != "whatsapp" {
            return Err(Refusal::invalid(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got \"{product}\"."
            )));
        }
        match &body["recipient_type"] {
            Value::Null => {}
            value if value == "individual" => {}
            other => {
                return Err(Refusal::invalid(format!(
                    "Param recipient_type must be one of {{INDIVIDUAL}} - got {other}."
                )));
            }
        }
        let to = match &body["to"] {
            Value::Null => return Err(Refusal::required("to")),
            Value::String(to) if to.is_empty() => return Err(Refusal::required("to")),
            Value::String(to) => to.clone(),
            _ => return Err(Refusal::invalid("Param to must be a string.")),
        };
        let number = to.strip_prefix('+').unwrap_or(&to);
        if number.is_empty() || number.len() > 15 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::invalid(format!(
                "Param to must be a phone number (digits, optional leading +) - got \"{to}\"."
            )));
        }
        let kind = match &body["type"] {
            Value::Null => "text",
            Value::String(kind) if MESSAGE_TYPES.contains(&kind.as_str()) => kind.as_str(),
            other => {
                let types = MESSAGE_TYPES.map(str::to_ascii_uppercase).join(", ");
                return Err(Refusal::invalid(format!(
                    "Param type must be one of {{{types}}} - got {other}."
                )));
            }
        };
        let object = &body[kind];
        let shaped = if kind == "contacts" {
            object.is_array()
        } else {
            object.is_object()
        };
        if !shaped {
            return Err(Refusal::required(kind));
        }
        match kind {
            "text" => self.validate_text(object)?,
            "location" => validate_location(object)?,
            "contacts" => validate_contacts(object)?,
            "interactive" => validate_interactive(object)?,
            "reaction" => validate_reaction(object)?,
            "template" => validate_template(object)?,
            _ => self.validate_media(kind, object)?,
        }
        match &body["context"] {
            Value::Null => {}
            Value::Object(context) => match context.get("message_id") {
                Some(Value::String(id)) if !id.is_empty() => {}
                _ => return Err(Refusal::required("context['message_id']")),
            },
            _ => return Err(Refusal::invalid("Param context must be an object.")),
        }
        Ok(Valid {
            wa_id: number.to_owned(),
            to,
            kind: kind.to_owned(),
        })
    }

    fn validate_text(&self, text: &Value) -> Result<(), Refusal> {
        let body = match &text["body"] {
            Value::String(body) if !body.is_empty() => body,
            Value::Null | Value::String(_) => return Err(Refusal::required("text['body']")),
            _ => return Err(Refusal::invalid("Param text['body'] must be a string.")),
        };
        if body.chars().count() > self.max_text {
            return Err(Refusal::invalid(format!(
                "Param text['body'] must be at most {} characters long.",
                self.max_text
            )));
        }
        if !matches!(text["preview_url"], Value::Null | Value::Bool(_)) {
            return Err(Refusal::invalid(
                "Param text['preview_url'] must be a boolean.",
            ));
        }
        Ok(())
    }

    fn validate_media(&self, kind: &str, media: &Value) -> Result<(), Refusal> {
        let (id, link) = (&media["id"], &media["link"]);
        if id.is_null() == link.is_null() {
            return Err(Refusal::invalid(format!(
                "Param {kind} must contain exactly one of the keys: id, link."
            )));
        }
        if !id.is_null() {
            let known = id.as_str().is_some_and(|id| self.media.contains_key(id));
            if !known {
                return Err(Refusal::invalid(format!(
                    "Param {kind}['id'] is not a valid media id - got {id}."
                )));
            }
        }
        if !link.is_null() {
            let url = link.as_str().unwrap_or_default().to_ascii_lowercase();
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(str::is_empty) {
                return Err(Refusal::invalid(format!(
                    "Param {kind}['link'] must be a valid URL - got {link}."
                )));
            }
        }
        match &media["caption"] {
            Value::Null => {}
            // Audio and stickers have no caption on WhatsApp.
            _ if kind == "audio" || kind == "sticker" => {
                return Err(Refusal::invalid(format!(
                    "Param {kind}['caption'] is not supported for {kind} messages."
                )));
            }
            Value::String(caption) if caption.chars().count() <= MAX_CAPTION => {}
            Value::String(_) => {
                return Err(Refusal::invalid(format!(
                    "Param {kind}['caption'] must be at most {MAX_CAPTION} characters long."
                )));
            }
            _ => {
                return Err(Refusal::invalid(format!(
                    "Param {kind}['caption'] must be a string."
                )));
            }
        }
        if !matches!(media["filename"], Value::Null | Value::String(_)) {
            return Err(Refusal::invalid(format!(
                "Param {kind}['filename'] must be a string."
            )));
        }
        Ok(())
    }

    fn check_template(&self, body: &Value) -> Result<(), Refusal> {
        let template = &body["template"];
        let name = template["name"].as_str().unwrap_or_default();
        let language = template["language"]["code"].as_str().unwrap_or_default();
        let key = (name.to_owned(), language.to_owned());
        let Some(&expected) = self.templates.get(&key) else {
            return Err(Refusal::coded(
                132001,
                404,
                "Template name does not exist in the translation",
                format!("template name ({name}) does not exist in {language}"),
            ));
        };
        let given = body_parameters(template).len();
        if given != expected {
            return Err(Refusal::coded(
                132000,
                400,
                "Number of parameters does not match the expected number of params",
                format!(
                    "body: number of localizable_params ({given}) does not match the expected \
                     number of params ({expected})"
                ),
            ));
        }
        Ok(())
    }

    /// A status webhook for a message the fake may have recorded.
    fn status_for(
        &self,
        phone_number_id: &str,
        wamid: &str,
        status: &str,
        error: Option<(i64, &str)>,
    ) -> Value {
        let sent = self.sent.iter().find(|s| s.wamid.as_deref() == Some(wamid));
        let recipient = sent.map_or("16505551234".to_owned(), |s| digits(&s.to));
        let template = sent.is_some_and(|s| s.kind == "template");
        let error = match (status, error) {
            ("failed", None) => Some((131000, "Something went wrong")),
            (_, error) => error,
        };
        status_envelope(phone_number_id, wamid, &recipient, template, status, error)
    }
}

/// A send that passed validation.
struct Valid {
    to: String,
    wa_id: String,
    kind: String,
}

fn validate_location(location: &Value) -> Result<(), Refusal> {
    for (field, limit) in [("latitude", 90.0), ("longitude", 180.0)] {
        let value = match &location[field] {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            Value::Null => return Err(Refusal::required(&format!("location['{field}']"))),
            _ => None,
        };
        if !value.is_some_and(|v| v.abs() <= limit) {
            return Err(Refusal::invalid(format!(
                "Param location['{field}'] must be a number between -{limit} and {limit}."
            )));
        }
    }
    Ok(())
}

fn validate_contacts(contacts: &Value) -> Result<(), Refusal> {
    let contacts = contacts.as_array().map(Vec::as_slice).unwrap_or_default();
    if contacts.is_empty() {
        return Err(Refusal::required("contacts"));
    }
    for (i, contact) in contacts.iter().enumerate() {
        let name = contact["name"]["formatted_name"]
            .as_str()
            .unwrap_or_default();
        if name.is_empty() {
            return Err(Refusal::required(&format!(
                "contacts[{i}]['name']['formatted_name']"
            )));
        }
    }
    Ok(())
}

fn validate_interactive(interactive: &Value) -> Result<(), Refusal> {
    const TYPES: [&str; 9] = [
        "button",
        "list",
        "cta_url",
        "product",
        "product_list",
        "flow",
        "location_request_message",
        "address_message",
        "call_permission_request",
    ];
    let kind = interactive["type"].as_str().unwrap_or_default();
    if !TYPES.contains(&kind) {
        return Err(Refusal::invalid(format!(
            "Param interactive['type'] must be one of {{{}}} - got {}.",
            TYPES.join(", "),
            interactive["type"]
        )));
    }
    let action = &interactive["action"];
    if !action.is_object() {
        return Err(Refusal::required("interactive['action']"));
    }
    let body_text = interactive["body"]["text"].as_str().unwrap_or_default();
    let chars = |s: &str| s.chars().count();
    if matches!(kind, "button" | "list" | "cta_url") && body_text.is_empty() {
        return Err(Refusal::required("interactive['body']['text']"));
    }
    if chars(body_text) > 1024 {
        return Err(Refusal::invalid(
            "Param interactive['body']['text'] must be at most 1024 characters long.",
        ));
    }
    let too_long = |field: String, max: usize| {
        Refusal::invalid(format!(
            "Param {field} must be between 1 and {max} characters long."
        ))
    };
    match kind {
        "button" => {
            let buttons = action["buttons"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if buttons.is_empty() || buttons.len() > 3 {
                return Err(Refusal::invalid(
                    "Param interactive['action']['buttons'] must have between 1 and 3 elements.",
                ));
            }
            let mut ids = HashSet::new();
            for (i, button) in buttons.iter().enumerate() {
                let field = format!("interactive['action']['buttons'][{i}]");
                if button["type"] != "reply" {
                    return Err(Refusal::invalid(format!(
                        "Param {field}['type'] must be reply."
                    )));
                }
                let id = button["reply"]["id"].as_str().unwrap_or_default();
                let title = button["reply"]["title"].as_str().unwrap_or_default();
                if id.is_empty() || chars(id) > 256 {
                    return Err(too_long(format!("{field}['reply']['id']"), 256));
                }
                if title.is_empty() || chars(title) > 20 {
                    return Err(too_long(format!("{field}['reply']['title']"), 20));
                }
                if !ids.insert(id) {
                    return Err(Refusal::invalid("Buttons must have unique ids."));
                }
            }
        }
        "list" => {
            let button = action["button"].as_str().unwrap_or_default();
            if button.is_empty() || chars(button) > 20 {
                return Err(too_long("interactive['action']['button']".into(), 20));
            }
            let sections = action["sections"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if sections.is_empty() || sections.len() > 10 {
                return Err(Refusal::invalid(
                    "Param interactive['action']['sections'] must have between 1 and 10 elements.",
                ));
            }
            let mut rows = 0;
            for (s, section) in sections.iter().enumerate() {
                for (r, row) in section["rows"].as_array().into_iter().flatten().enumerate() {
                    rows += 1;
                    let field = format!("interactive['action']['sections'][{s}]['rows'][{r}]");
                    let id = row["id"].as_str().unwrap_or_default();
                    let title = row["title"].as_str().unwrap_or_default();
                    let description = row["description"].as_str().unwrap_or_default();
                    if id.is_empty() || chars(id) > 200 {
                        return Err(too_long(format!("{field}['id']"), 200));
                    }
                    if title.is_empty() || chars(title) > 24 {
                        return Err(too_long(format!("{field}['title']"), 24));
                    }
                    if chars(description) > 72 {
                        return Err(too_long(format!("{field}['description']"), 72));
                    }
                }
            }
            if rows == 0 || rows > 10 {
                return Err(Refusal::invalid(
                    "A list message must have between 1 and 10 rows in total.",
                ));
            }
        }
        "cta_url" => {
            let parameters = &action["parameters"];
            if parameters["display_text"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
            {
                return Err(Refusal::required(
                    "interactive['action']['parameters']['display_text']",
                ));
            }
            if parameters["url"].as_str().unwrap_or_default().is_empty() {
                return Err(Refusal::required(
                    "interactive['action']['parameters']['url']",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn validate_reaction(reaction: &Value) -> Result<(), Refusal> {
    match &reaction["message_id"] {
        Value::String(id) if !id.is_empty() => {}
        _ => return Err(Refusal::required("reaction['message_id']")),
    }
    // An empty emoji removes the reaction.
    match &reaction["emoji"] {
        Value::String(emoji) if emoji.chars().count() <= 10 => Ok(()),
        Value::Null => Err(Refusal::required("reaction['emoji']")),
        _ => Err(Refusal::invalid(
            "Param reaction['emoji'] must be a single emoji.",
        )),
    }
}

fn validate_template(template: &Value) -> Result<(), Refusal> {
    if template["name"].as_str().unwrap_or_default().is_empty() {
        return Err(Refusal::required("template['name']"));
    }
    if template["language"]["code"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        return Err(Refusal::required("template['language']['code']"));
    }
    let components = match &template["components"] {
        Value::Null => return Ok(()),
        Value::Array(components) => components,
        _ => {
            return Err(Refusal::invalid(
                "Param template['components'] must be an array.",
            ));
        }
    };
    for (i, component) in components.iter().enumerate() {
        let kind = component["type"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !matches!(kind.as_str(), "header" | "body" | "button" | "footer") {
            return Err(Refusal::invalid(format!(
                "Param template['components'][{i}]['type'] must be one of {{HEADER, BODY, BUTTON}}."
            )));
        }
        let parameters = match &component["parameters"] {
            Value::Null => continue,
            Value::Array(parameters) => parameters,
            _ => {
                return Err(Refusal::invalid(format!(
                    "Param template['components'][{i}]['parameters'] must be an array."
                )));
            }
        };
        for (j, parameter) in parameters.iter().enumerate() {
            let field = format!("template['components'][{i}]['parameters'][{j}]");
            let kind = parameter["type"].as_str().unwrap_or_default();
            let ok = match kind {
                "text" => parameter["text"].as_str().is_some_and(|t| !t.is_empty()),
                "currency" | "date_time" => parameter[kind]["fallback_value"].is_string(),
                "image" | "video" | "document" | "location" | "payload" | "action" => true,
                _ => {
                    return Err(Refusal::invalid(format!(
                        "Param {field}['type'] must be one of {{TEXT, CURRENCY, DATE_TIME, IMAGE, \
                         DOCUMENT, VIDEO, LOCATION, PAYLOAD, ACTION}}."
                    )));
                }
            };
            if !ok {
                return Err(Refusal::required(&format!("{field}['{kind}']")));
            }
        }
    }
    Ok(())
}

// Media.

async fn upload(shared: &Shared, phone_number_id: &str, request: Request) -> Response {
    if phone_number_id != shared.phone_number_id {
        return Refusal::no_object(phone_number_id, "post").into_response();
    }
    let fields = match read_multipart(request).await {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    match shared.state.lock().store_upload(fields) {
        Ok(id) => axum::Json(json!({ "id": id })).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

#[derive(Default)]
struct UploadFields {
    messaging_product: Option<String>,
    kind: Option<String>,
    /// (filename, part content type, bytes)
    file: Option<(String, Option<String>, Vec<u8>)>,
}

async fn read_multipart(request: Request) -> Result<UploadFields, Refusal> {
    let mut fields = UploadFields::default();
    if !content_type(request.headers()).starts_with("multipart/form-data") {
        // Without a multipart body Graph sees no parameters at all.
        return Err(Refusal::required("messaging_product"));
    }
    let unparsable = || Refusal::invalid("The multipart/form-data body could not be parsed.");
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| unparsable())?;
    while let Some(field) = multipart.next_field().await.map_err(|_| unparsable())? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let part_type = field.content_type().map(str::to_owned);
        let data = field.bytes().await.map_err(|_| unparsable())?;
        let text = || String::from_utf8_lossy(&data).into_owned();
        match name.as_str() {
            "messaging_product" => fields.messaging_product = Some(text()),
            "type" => fields.kind = Some(text()),
            "file" => {
                let filename = filename.ok_or_else(|| {
                    Refusal::invalid("Param file must be a file upload (with a filename).")
                })?;
                fields.file = Some((filename, part_type, data.to_vec()));
            }
            _ => {}
        }
    }
    Ok(fields)
}

impl Inner {
    fn store_upload(&mut self, fields: UploadFields) -> Result<String, Refusal> {
        match fields.messaging_product.as_deref() {
            None => return Err(Refusal::required("messaging_product")),
            Some("whatsapp") => {}
            Some(other) => {
                return Err(Refusal::invalid(format!(
                    "Param messaging_product must be one of {{WHATSAPP}} - got \"{other}\"."
                )));
            }
        }
        let Some((filename, part_type, bytes)) = fields.file else {
            return Err(Refusal::required("file"));
        };
        let Some(mime) = fields.kind else {
            return Err(Refusal::required("type"));
        };
        let supported = UPLOAD_TYPES.iter().find(|(t, _)| *t == mime);
        let Some(&(_, limit)) = supported else {
            let types = UPLOAD_TYPES.map(|(t, _)| t).join(", ");
            return Err(Refusal::invalid(format!(
                "Param file must be a file with one of the following types: {types}. Received \
                 file of type '{mime}'."
            )));
        };
        if part_type.as_deref() != Some(mime.as_str()) {
            return Err(Refusal::invalid(format!(
                "Param file has content type {part_type:?}, which does not match type '{mime}'."
            )));
        }
        if bytes.is_empty() {
            return Err(Refusal::invalid("Param file must not be empty."));
        }
        if bytes.len() > limit {
            return Err(Refusal::invalid(format!(
                "Param file must be at most {limit} bytes for type '{mime}'."
            )));
        }
        let id = media_id();
        let stored = StoredMedia::new(&bytes, &mime, Some(filename.clone()));
        self.media.insert(id.clone(), stored);
        self.uploads.push(Upload {
            media_id: id.clone(),
            mime_type: mime,
            filename,
            bytes,
        });
        Ok(id)
    }
}

impl StoredMedia {
    fn new(bytes: &[u8], mime_type: &str, filename: Option<String>) -> StoredMedia {
        StoredMedia {
            bytes: bytes.to_vec(),
            mime_type: mime_type.to_owned(),
            // Meta writes the digest in base64.
            sha256: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                Sha256::digest(bytes),
            ),
            filename,
            corrupt: false,
        }
    }
}

fn media_metadata(shared: &Shared, media_id: &str, request: &Request) -> Response {
    let query = parse_query(request.uri().query().unwrap_or_default());
    let mut inner = shared.state.lock();
    if !inner.media.contains_key(media_id) {
        return Refusal::no_object(media_id, "get").into_response();
    }
    if let Some(phone) = query.get("phone_number_id")
        && *phone != shared.phone_number_id
    {
        return Refusal::invalid(format!(
            "Param phone_number_id ({phone}) is not the phone number that owns media {media_id}."
        ))
        .into_response();
    }
    if let Some(left) = inner.media_failures.get_mut(media_id)
        && *left > 0
    {
        *left -= 1;
        return Refusal::from(Failure::SERVICE_UNAVAILABLE).into_response();
    }
    let media = &inner.media[media_id];
    let expires = now() + URL_LIFETIME;
    let hash = shared.url_hash(media_id, expires);
    let url = format!(
        "{}/whatsapp_business/attachments/?mid={media_id}&ext={expires}&hash={hash}",
        shared.url
    );
    let size = media.bytes.len();
    let file_size = if inner.file_size_as_number {
        json!(size)
    } else {
        json!(size.to_string())
    };
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "url": url,
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "file_size": file_size,
        "id": media_id,
    }))
    .into_response()
}

/// The CDN download: bearer token, a URL the fake handed out, not expired. Errors
/// are HTML pages, as from a CDN.
fn download(shared: &Shared, request: &Request) -> Response {
    let html = |status: StatusCode, text: &str| {
        let page = format!("<!DOCTYPE html><html><body><h1>{text}</h1></body></html>");
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response()
    };
    if request.method() != Method::GET {
        return html(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    if !shared.authorized(request.headers()) {
        return html(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let query = parse_query(request.uri().query().unwrap_or_default());
    let field = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let (media_id, hash) = (field("mid"), field("hash"));
    let expires = field("ext").parse::<u64>().unwrap_or(0);
    if hash != shared.url_hash(media_id, expires) || expires < now() {
        return html(StatusCode::NOT_FOUND, "Not Found");
    }
    let mut inner = shared.state.lock();
    let Some(media) = inner.media.get(media_id) else {
        return html(StatusCode::NOT_FOUND, "Not Found");
    };
    let mut bytes = media.bytes.clone();
    if media.corrupt {
        // Same length, other content: only the sha256 tells.
        match bytes.first_mut() {
            Some(first) => *first ^= 0xff,
            None => bytes.push(0),
        }
    }
    let mime = media.mime_type.clone();
    inner.downloads += 1;
    drop(inner);
    shared.state.bump();
    ([(header::CONTENT_TYPE, mime)], bytes).into_response()
}

// Webhooks.

/// A statuses[] webhook envelope in the real shape.
fn status_envelope(
    phone_number_id: &str,
    wamid: &str,
    recipient: &str,
    template: bool,
    status: &str,
    error: Option<(i64, &str)>,
) -> Value {
    let timestamp = now();
    let mut entry = json!({
        "id": wamid,
        "status": status,
        "timestamp": timestamp.to_string(),
        "recipient_id": recipient,
    });
    if matches!(status, "sent" | "delivered") {
        // Per-message pricing (since July 2025): service replies are free.
        let category = if template { "utility" } else { "service" };
        let conversation_id = hex::encode(&Sha256::digest(format!("{recipient}|{category}"))[..16]);
        let mut conversation = json!({ "id": conversation_id, "origin": { "type": category } });
        if status == "sent" {
            conversation["expiration_timestamp"] = (timestamp + 24 * 3600).to_string().into();
        }
        entry["conversation"] = conversation;
        entry["pricing"] = json!({
            "billable": template,
            "pricing_model": "PMP",
            "category": category,
            "type": if template { "regular" } else { "free_customer_service" },
        });
    }
    if let Some((code, title)) = error {
        let details = details_for(code).unwrap_or(title);
        entry["errors"] = json!([{
            "code": code,
            "title": title,
            "message": title,
            "error_data": { "details": details },
            "href": ERROR_CODES_URL,
        }]);
    }
    envelope(phone_number_id, json!({ "statuses": [entry] }))
}

/// `sha256=<lowercase hex HMAC-SHA256(app_secret, body)>`, the X-Hub-Signature-256 value.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The legacy X-Hub-Signature (HMAC-SHA1) Meta also sends.
fn sha1_signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

/// JSON as Meta's webhooks serialize it: `/` as `\/` and everything outside ASCII as
/// `\uXXXX` escapes, so a receiver that re-serializes before checking the signature
/// fails. Outside strings JSON has neither, so the whole text can be mapped.
pub fn meta_json(value: &Value) -> Vec<u8> {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.into_bytes()
}

/// A webhook envelope: `value_fields` (an object) joins messaging_product and metadata.
pub fn envelope(phone_number_id: &str, value_fields: Value) -> Value {
    let Value::Object(fields) = value_fields else {
        panic!("envelope: value_fields must be a JSON object, got {value_fields}");
    };
    let mut value = Map::new();
    value.insert("messaging_product".into(), "whatsapp".into());
    value.insert(
        "metadata".into(),
        json!({
            "display_phone_number": DISPLAY_PHONE_NUMBER,
            "phone_number_id": phone_number_id,
        }),
    );
    value.extend(fields);
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{ "value": value, "field": "messages" }],
        }],
    })
}

/// An envelope with one inbound `message` from a customer, with their contact.
pub fn inbound(phone_number_id: &str, from_wa_id: &str, name: &str, message: Value) -> Value {
    envelope(
        phone_number_id,
        json!({
            "contacts": [{ "profile": { "name": name }, "wa_id": from_wa_id }],
            "messages": [message],
        }),
    )
}

/// A customer's text message, addressed to `PHONE_NUMBER_ID`.
pub fn text_message(
    from_wa_id: &str,
    name: &str,
    wamid: &str,
    timestamp: i64,
    body: &str,
) -> Value {
    let message = json!({
        "from": from_wa_id,
        "id": wamid,
        "timestamp": timestamp.to_string(),
        "type": "text",
        "text": { "body": body },
    });
    inbound(PHONE_NUMBER_ID, from_wa_id, name, message)
}

/// POSTs `body` as Meta does: serialized once (`meta_json`), those exact bytes
/// signed, with X-Hub-Signature-256 and Content-Type application/json.
pub async fn post_webhook(url: &str, app_secret: &str, body: &Value) -> reqwest::Response {
    signed(&http_client(), url, app_secret, body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("post_webhook: POST {url}: {e}"))
}

fn signed(
    http: &reqwest::Client,
    url: &str,
    app_secret: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    let bytes = meta_json(body);
    http.post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "facebookexternalua")
        .header("X-Hub-Signature", sha1_signature(app_secret, &bytes))
        .header("X-Hub-Signature-256", signature(app_secret, &bytes))
        .body(bytes)
}

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

// Ids and helpers.

/// Differs between runs, so ids from two fakes never collide.
static SALT: LazyLock<u64> = LazyLock::new(|| {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    nanos as u64
});
static COUNTER: AtomicU64 = AtomicU64::new(1);

fn unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Shaped like Meta's: base64 of the recipient and an 18-hex-digit message id.
fn wamid(wa_id: &str) -> String {
    let digest = Sha256::digest(format!("{}|{}", *SALT, unique()));
    let id = hex::encode_upper(&digest[..9]);
    let mut raw = vec![0x1c, 0x18, wa_id.len() as u8];
    raw.extend_from_slice(wa_id.as_bytes());
    raw.extend_from_slice(&[0x15, 0x02, 0x00, 0x11, 0x18, 0x12]);
    raw.extend_from_slice(id.as_bytes());
    raw.push(0x00);
    format!("wamid.{}", STANDARD.encode(raw))
}

/// Numeric, 16 digits, like Meta's media ids.
fn media_id() -> String {
    (1_000_000_000_000_000 + (*SALT % 1_000_000) * 1_000_000_000 + unique()).to_string()
}

fn fbtrace_id() -> String {
    let digest = Sha256::digest(format!("trace|{}|{}", *SALT, unique()));
    format!("A{}", URL_SAFE_NO_PAD.encode(&digest[..16]))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn digits(wa_id: &str) -> String {
    wa_id.trim().trim_start_matches('+').to_owned()
}

fn content_type(headers: &HeaderMap) -> String {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    value.unwrap_or_default().trim().to_ascii_lowercase()
}

fn kind_for_mime(mime: &str) -> &'static str {
    match mime.split('/').next().unwrap_or_default() {
        _ if mime == "image/webp" => "sticker",
        "image" => "image",
        "video" => "video",
        "audio" => "audio",
        _ => "document",
    }
}

/// Query parameters; the fake's own URLs only need `%`-free values.
fn parse_query(query: &str) -> HashMap<String, String> {
    let pairs = query.split('&').filter(|p| !p.is_empty());
    let pair = |p: &str| {
        let (key, value) = p.split_once('=').unwrap_or((p, ""));
        (key.to_owned(), value.to_owned())
    };
    pairs.map(pair).collect()
}
