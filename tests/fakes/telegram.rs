//! A fake Telegram Bot API server for one bot, built from the provider contract and
//! as strict as the real server where the gateway can tell: `/bot<token>/<method>`
//! (GET or POST, method names in any case) with parameters from the query string,
//! JSON, form or multipart bodies; the `{"ok":..}` envelope with Telegram's own error
//! texts; replies checked against the messages each chat knows; getUpdates with
//! offset, limit, allowed_updates, long polling and the 409 conflicts; webhooks;
//! getFile and `/file/bot<token>/<path>` downloads; scripted failures (`fail_next`).
//!
//! Like the real server, a JSON body that does not parse is ignored (the call then
//! fails on its missing parameters), and object-valued parameters may arrive as JSON
//! objects or as JSON text. A message, callback query or file_id is known once an
//! update carried it (`push_update`, or `know_update` for updates a test posts to the
//! gateway's webhook: the fake never calls webhooks) or the bot sent it. Any chat id
//! is accepted. Methods outside `METHODS` answer 404, as unknown methods do.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::{Watched, decode, parse_form};

pub const BOT_ID: i64 = 7_000_000_001;
pub const BOT_USERNAME: &str = "switchboard_test_bot";
pub const BOT_FIRST_NAME: &str = "Switchboard Test Bot";

/// The methods the fake implements (lowercase); any other name answers 404.
pub const METHODS: &str = "getme getupdates sendmessage sendphoto senddocument getfile \
    setwebhook deletewebhook getwebhookinfo answercallbackquery";

const MB: usize = 1024 * 1024;
const MAX_TEXT: usize = 4096;
const MAX_CAPTION: usize = 1024;
const MAX_PHOTO: usize = 10 * MB;
const MAX_DOCUMENT: usize = 50 * MB;
const MAX_DOWNLOAD: u64 = 20 * MB as u64;
/// Bodies above this are refused before parsing (413), like the real front end.
const MAX_REQUEST: usize = 64 * MB;
/// The real server caps the long-poll timeout at 50 s.
const MAX_POLL_SECONDS: i64 = 50;
const FIRST_UPDATE_ID: i64 = 100_000_001;
/// Update types delivered when allowed_updates is unset or empty: all but these.
const NOT_BY_DEFAULT: &str = "chat_member message_reaction message_reaction_count";
const UPDATE_TYPES: &str = "message edited_message channel_post edited_channel_post \
    business_connection business_message edited_business_message deleted_business_messages \
    message_reaction message_reaction_count inline_query chosen_inline_result callback_query \
    shipping_query pre_checkout_query purchased_paid_media poll poll_answer my_chat_member \
    chat_member chat_join_request chat_boost removed_chat_boost";
/// Update fields that hold a message.
const MESSAGE_KEYS: &str = "message edited_message channel_post edited_channel_post \
    business_message edited_business_message";
const TERMINATED: &str = "Conflict: terminated by other getUpdates request; \
    make sure that only one bot instance is running";
const WEBHOOK_ACTIVE: &str = "Conflict: can't use getUpdates method while webhook is active; \
    use deleteWebhook to delete the webhook first";
const BAD_FILE: &str = "Bad Request: wrong file identifier/HTTP URL specified";

/// A scripted answer for the next call of a method.
#[derive(Clone, Debug)]
pub enum Failure {
    /// 429 "Too Many Requests: retry after N" with parameters.retry_after.
    TooManyRequests {
        retry_after: u32,
    },
    /// 403 "Forbidden: bot was blocked by the user".
    BlockedByUser,
    /// 400 "Bad Request: message to be replied not found".
    ReplyNotFound,
    /// 400 "Bad Request: chat not found".
    ChatNotFound,
    /// 400 "Bad Request: group chat was upgraded to a supergroup chat" with
    /// parameters.migrate_to_chat_id.
    MigratedToSupergroup {
        new_chat_id: i64,
    },
    /// 500 "Internal Server Error" (teloxide then sleeps 10 s before returning).
    ServerError,
    Custom {
        status: u16,
        description: String,
    },
}

/// A message the bot sent.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Lowercase: "sendmessage", "sendphoto", "senddocument".
    pub method: String,
    pub chat_id: i64,
    /// The text, or the caption for media.
    pub text: Option<String>,
    /// The requested reply target (reply_parameters.message_id or reply_to_message_id).
    pub reply_to_message_id: Option<i64>,
    /// The uploaded file, for multipart uploads.
    pub file: Option<SentFile>,
    /// The file_id or URL given instead of an upload.
    pub file_ref: Option<String>,
    /// The id the fake assigned (unique per chat, increasing).
    pub message_id: i64,
}

/// An uploaded file as it arrived; `content_type` is None when the part had none.
#[derive(Clone)]
pub struct SentFile {
    pub name: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for SentFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentFile")
            .field("name", &self.name)
            .field("content_type", &self.content_type)
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .finish()
    }
}

#[derive(Clone)]
pub struct FakeTelegram {
    url: String,
    shared: Arc<Shared>,
}

struct Shared {
    token: String,
    /// Its bumps also wake long polls.
    state: Watched<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Queued updates, oldest first, each with its update_id.
    updates: VecDeque<Value>,
    last_update_id: i64,
    confirmed_offset: i64,
    allowed_updates: Option<Vec<String>>,
    /// Incremented by each getUpdates; a waiting poll that sees it change lost (409).
    poll_generation: u64,
    /// getUpdates calls currently waiting for updates.
    long_polls: usize,
    /// The offset of every getUpdates call, in order.
    offsets: Vec<i64>,
    /// Waiting getUpdates calls ended by a newer one (409): two pollers on one bot.
    terminated: usize,
    webhook: Option<Value>,
    chats: HashMap<i64, ChatState>,
    files: HashMap<String, StoredFile>,
    /// file_ids seen in updates: valid to send by reference.
    seen_file_ids: HashSet<String>,
    next_file: u64,
    failures: HashMap<String, VecDeque<Failure>>,
    /// getMe leaves out the fields the Bot API marks optional, as older Bot API
    /// servers do.
    minimal_get_me: bool,
    calls: HashMap<String, usize>,
    sent: Vec<Sent>,
    callbacks: HashSet<String>,
    answered_callbacks: Vec<String>,
}

#[derive(Default)]
struct ChatState {
    /// The chat object from a pushed update, reused in the bot's messages.
    chat: Option<Value>,
    /// Known message ids, with the message when the fake has it.
    messages: BTreeMap<i64, Option<Value>>,
}

struct StoredFile {
    path: Option<String>,
    size: u64,
    bytes: Vec<u8>,
}

impl FakeTelegram {
    /// Starts on 127.0.0.1:0 serving the bot whose token is `token`. As at Telegram,
    /// a token starts with its bot's id: here [`BOT_ID`].
    pub async fn start(token: &str) -> FakeTelegram {
        assert!(
            token.starts_with(&format!("{BOT_ID}:")),
            "the fake serves bot {BOT_ID}: its tokens look like {BOT_ID}:secret"
        );
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            state: Watched::new(
                "Telegram",
                Inner {
                    last_update_id: FIRST_UPDATE_ID - 1,
                    ..Inner::default()
                },
                |inner| format!("calls {:?}, sent {:#?}", inner.calls, inner.sent),
            ),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(shared.clone())
            .layer(DefaultBodyLimit::disable());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeTelegram { url, shared }
    }

    /// A `[channels.telegram]` that long-polls this fake for its bot.
    pub fn polling_channel(&self) -> String {
        format!(
            "[channels.telegram]\nkind = \"telegram\"\ntoken = \"{}\"\nmode = \"polling\"\npoll_timeout_seconds = 1\napi_url = \"{}\"\n",
            self.shared.token, self.url
        )
    }

    /// The base URL for teloxide's set_api_url or the channel's api_url.
    pub fn api_url(&self) -> String {
        self.url.clone()
    }

    /// Queues an update for getUpdates. It keeps its update_id if it has one, else
    /// gets the next; its messages, callback query and file ids become known.
    pub fn push_update(&self, mut update: Value) {
        assert!(update.is_object(), "an update is a JSON object: {update}");
        let mut inner = self.shared.state.lock();
        let id = match update["update_id"].as_i64() {
            Some(id) => id,
            None => (inner.last_update_id + 1).max(inner.confirmed_offset),
        };
        update["update_id"] = id.into();
        inner.last_update_id = inner.last_update_id.max(id);
        inner.learn(&update);
        inner.updates.push_back(update);
        drop(inner);
        self.shared.state.bump();
    }

    /// Makes an update's messages, callback query and file ids known without queueing
    /// it (for updates the test delivers to the gateway's webhook).
    pub fn know_update(&self, update: &Value) {
        self.shared.state.lock().learn(update);
    }

    /// Makes a message id known in a chat without an update.
    pub fn know_message(&self, chat_id: i64, message_id: i64) {
        let mut inner = self.shared.state.lock();
        let chat = inner.chats.entry(chat_id).or_default();
        chat.messages.entry(message_id).or_insert(None);
    }

    /// A file for getFile and the download URL.
    pub fn add_file(&self, file_id: &str, file_path: &str, bytes: Vec<u8>) {
        let file = StoredFile {
            path: Some(file_path.to_owned()),
            size: bytes.len() as u64,
            bytes,
        };
        self.shared
            .state
            .lock()
            .files
            .insert(file_id.to_owned(), file);
    }

    /// A file whose getFile answers "Bad Request: file is too big" (size over 20 MB).
    pub fn add_file_too_big(&self, file_id: &str, size: u64) {
        assert!(size > MAX_DOWNLOAD, "bots can download up to 20 MB: {size}");
        let file = StoredFile {
            path: None,
            size,
            bytes: Vec::new(),
        };
        self.shared
            .state
            .lock()
            .files
            .insert(file_id.to_owned(), file);
    }

    /// getMe answers with only the fields every Bot API server gives (id, is_bot,
    /// first_name, username), as older and self-hosted servers do.
    pub fn answer_get_me_minimally(&self) {
        self.shared.state.lock().minimal_get_me = true;
    }

    /// The next call of `method` (case-insensitive) is answered with `failure`; queue
    /// several by calling again.
    pub fn fail_next(&self, method: &str, failure: Failure) {
        let mut inner = self.shared.state.lock();
        let queue = inner.failures.entry(method.to_ascii_lowercase());
        queue.or_default().push_back(failure);
    }

    /// Messages the bot sent (sendMessage, sendPhoto, sendDocument), in arrival order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.state.lock().sent.clone()
    }

    /// Waits (up to 10 s, then panics showing what arrived) until at least `count`
    /// messages were sent.
    pub async fn wait_for_sent(&self, count: usize) -> Vec<Sent> {
        self.wait_until(|inner| inner.sent.len() >= count).await;
        self.sent()
    }

    /// Waits (up to 10 s) until `method` got at least `count` requests.
    pub async fn wait_for_calls(&self, method: &str, count: usize) {
        let method = method.to_ascii_lowercase();
        self.wait_until(|inner| inner.calls.get(&method).copied().unwrap_or(0) >= count)
            .await;
    }

    /// Waits (up to 10 s) until a getUpdates is waiting for updates (long polling).
    pub async fn wait_for_long_poll(&self) {
        self.wait_until(|inner| inner.long_polls > 0).await;
    }

    /// How many requests a method got (case-insensitive), failed ones included;
    /// requests with a wrong token are not counted.
    pub fn calls(&self, method: &str) -> usize {
        let inner = self.shared.state.lock();
        inner
            .calls
            .get(&method.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// The parameters of the active setWebhook, if any.
    pub fn webhook(&self) -> Option<Value> {
        self.shared.state.lock().webhook.clone()
    }

    /// Sets or clears a webhook as if another deployment had (getUpdates then answers 409).
    pub fn set_webhook(&self, url: Option<&str>) {
        self.shared.state.lock().webhook = url.map(|url| json!({ "url": url }));
        self.shared.state.bump();
    }

    /// The highest offset getUpdates has been called with (updates below it are
    /// confirmed and dropped).
    pub fn confirmed_offset(&self) -> i64 {
        self.shared.state.lock().confirmed_offset
    }

    /// The offset of every getUpdates call so far, in order.
    pub fn offsets(&self) -> Vec<i64> {
        self.shared.state.lock().offsets.clone()
    }

    /// How many waiting getUpdates calls a newer one ended with 409, as happens when
    /// two pollers share a bot.
    pub fn terminated(&self) -> usize {
        self.shared.state.lock().terminated
    }

    /// callback_query_ids answered with answerCallbackQuery.
    pub fn answered_callbacks(&self) -> Vec<String> {
        self.shared.state.lock().answered_callbacks.clone()
    }

    /// `Watched::wait_until` on this fake's state.
    async fn wait_until(&self, done: impl Fn(&Inner) -> bool) {
        self.shared.state.wait_until(done).await;
    }
}

/// A refused call: the error envelope with its HTTP status.
struct Refusal {
    status: u16,
    description: String,
    parameters: Option<Value>,
}

impl Refusal {
    fn new(status: u16, description: impl Into<String>) -> Refusal {
        let description = description.into();
        Refusal {
            status,
            description,
            parameters: None,
        }
    }

    fn bad(description: &str) -> Refusal {
        Refusal::new(400, format!("Bad Request: {description}"))
    }
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Refusal {
        match failure {
            Failure::TooManyRequests { retry_after } => Refusal {
                parameters: Some(json!({ "retry_after": retry_after })),
                ..Refusal::new(429, format!("Too Many Requests: retry after {retry_after}"))
            },
            Failure::BlockedByUser => Refusal::new(403, "Forbidden: bot was blocked by the user"),
            Failure::ReplyNotFound => Refusal::bad("message to be replied not found"),
            Failure::ChatNotFound => Refusal::bad("chat not found"),
            Failure::MigratedToSupergroup { new_chat_id } => Refusal {
                parameters: Some(json!({ "migrate_to_chat_id": new_chat_id })),
                ..Refusal::bad("group chat was upgraded to a supergroup chat")
            },
            Failure::ServerError => Refusal::new(500, "Internal Server Error"),
            Failure::Custom {
                status,
                description,
            } => Refusal::new(status, description),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut body = json!({
            "ok": false,
            "error_code": self.status,
            "description": self.description,
        });
        if let Some(parameters) = self.parameters {
            body["parameters"] = parameters;
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(body)).into_response()
    }
}

/// A successful call; some methods also carry a description.
struct Answer {
    result: Value,
    description: Option<&'static str>,
}

impl From<Value> for Answer {
    fn from(result: Value) -> Answer {
        Answer {
            result,
            description: None,
        }
    }
}

type Outcome = Result<Answer, Refusal>;

fn respond(outcome: Outcome) -> Response {
    match outcome {
        Ok(answer) => {
            let mut body = json!({ "ok": true, "result": answer.result });
            if let Some(description) = answer.description {
                body["description"] = description.into();
            }
            Json(body).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::POST) {
        return Refusal::new(501, "Not Implemented").into_response();
    }
    let path = request.uri().path().to_owned();
    let segments: Vec<String> = path.split('/').skip(1).map(|s| decode(s, false)).collect();
    match segments.as_slice() {
        [bot, method] if bot.starts_with("bot") => call(&shared, &bot[3..], method, request).await,
        [file, bot, path @ ..] if file == "file" && bot.starts_with("bot") && !path.is_empty() => {
            download(&shared, &bot[3..], &path.join("/"))
        }
        _ => Refusal::new(404, "Not Found").into_response(),
    }
}

async fn call(shared: &Shared, token: &str, method: &str, request: Request) -> Response {
    if token != shared.token {
        return Refusal::new(401, "Unauthorized").into_response();
    }
    let method = method.to_ascii_lowercase();
    let failure = {
        let mut inner = shared.state.lock();
        *inner.calls.entry(method.clone()).or_default() += 1;
        inner
            .failures
            .get_mut(&method)
            .and_then(VecDeque::pop_front)
    };
    shared.state.bump();
    if let Some(failure) = failure {
        return Refusal::from(failure).into_response();
    }
    if !METHODS.split_whitespace().any(|m| m == method) {
        return Refusal::new(404, "Not Found").into_response();
    }
    let params = match Params::read(request).await {
        Ok(params) => params,
        Err(refusal) => return refusal.into_response(),
    };
    let outcome = if method == "getupdates" {
        get_updates(shared, &params).await
    } else {
        shared.state.lock().dispatch(&method, &params)
    };
    shared.state.bump();
    respond(outcome)
}

fn download(shared: &Shared, token: &str, path: &str) -> Response {
    if token != shared.token {
        return Refusal::new(401, "Unauthorized").into_response();
    }
    let inner = shared.state.lock();
    let file = inner
        .files
        .values()
        .find(|f| f.path.as_deref() == Some(path));
    match file {
        Some(file) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            file.bytes.clone(),
        )
            .into_response(),
        None => Refusal::new(404, "Not Found").into_response(),
    }
}

/// An update with the first message of a private chat: chat `chat`, written by the
/// user of the same id.
pub fn private_message(update_id: i64, chat: i64, text: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": 1, "date": 1_763_800_000, "text": text,
        "chat": {"id": chat, "type": "private", "first_name": "C"},
        "from": {"id": chat, "is_bot": false, "first_name": "C"}}})
}

/// getUpdates: confirms below `offset`, then answers at once when something is
/// queued, else waits up to `timeout` seconds; a newer getUpdates or a webhook ends
/// the wait with 409.
async fn get_updates(shared: &Shared, params: &Params) -> Outcome {
    let offset = params.int("offset").unwrap_or(0);
    let limit = params.int("limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = params
        .int("timeout")
        .unwrap_or(0)
        .clamp(0, MAX_POLL_SECONDS) as u64;
    let allowed = params.allowed_updates()?;
    let generation = {
        let mut inner = shared.state.lock();
        if inner.webhook.is_some() {
            return Err(Refusal::new(409, WEBHOOK_ACTIVE));
        }
        if allowed.is_some() {
            inner.allowed_updates = allowed;
        }
        inner.confirm(offset);
        inner.offsets.push(offset);
        inner.poll_generation += 1;
        inner.poll_generation
    };
    shared.state.bump();
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut changes = shared.state.subscribe();
    let mut polling = None;
    loop {
        changes.borrow_and_update();
        {
            let inner = shared.state.lock();
            if inner.poll_generation != generation {
                drop(inner);
                shared.state.lock().terminated += 1;
                return Err(Refusal::new(409, TERMINATED));
            }
            if inner.webhook.is_some() {
                return Err(Refusal::new(409, WEBHOOK_ACTIVE));
            }
            let batch = inner.deliverable(limit);
            if !batch.is_empty() || Instant::now() >= deadline {
                return Ok(Value::Array(batch).into());
            }
        }
        polling.get_or_insert_with(|| LongPoll::new(shared));
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    }
}

/// Counts a waiting getUpdates while it waits, even when its client goes away.
struct LongPoll<'s>(&'s Shared);

impl<'s> LongPoll<'s> {
    fn new(shared: &'s Shared) -> LongPoll<'s> {
        shared.state.lock().long_polls += 1;
        shared.state.bump();
        LongPoll(shared)
    }
}

impl Drop for LongPoll<'_> {
    fn drop(&mut self) {
        self.0.state.lock().long_polls -= 1;
        self.0.state.bump();
    }
}

impl Inner {
    fn dispatch(&mut self, method: &str, params: &Params) -> Outcome {
        match method {
            "getme" if self.minimal_get_me => Ok(json!({
                "id": BOT_ID,
                "is_bot": true,
                "first_name": BOT_FIRST_NAME,
                "username": BOT_USERNAME,
            })
            .into()),
            "getme" => Ok(json!({
                "id": BOT_ID,
                "is_bot": true,
                "first_name": BOT_FIRST_NAME,
                "username": BOT_USERNAME,
                "can_join_groups": true,
                "can_read_all_group_messages": false,
                "supports_inline_queries": false,
                "can_connect_to_business": false,
                "has_main_web_app": false,
            })
            .into()),
            "sendmessage" => self.send_message(params),
            "sendphoto" => self.send_media(params, "photo"),
            "senddocument" => self.send_media(params, "document"),
            "getfile" => self.get_file(params),
            "setwebhook" => self.set_webhook(params),
            "deletewebhook" => Ok(self.delete_webhook(params)),
            "getwebhookinfo" => Ok(self.webhook_info().into()),
            "answercallbackquery" => {
                let id = params.get("callback_query_id").unwrap_or_default();
                if !self.callbacks.contains(id) {
                    return Err(Refusal::bad(
                        "query is too old and response timeout expired or query id is invalid",
                    ));
                }
                self.answered_callbacks.push(id.to_owned());
                Ok(Value::Bool(true).into())
            }
            _ => Err(Refusal::new(404, "Not Found")),
        }
    }

    fn send_message(&mut self, params: &Params) -> Outcome {
        let chat_id = params.chat_id()?;
        let text = params.get("text").unwrap_or_default();
        if text.trim().is_empty() {
            return Err(Refusal::bad("message text is empty"));
        }
        if text.encode_utf16().count() > MAX_TEXT {
            return Err(Refusal::bad("message is too long"));
        }
        params.parse_mode()?;
        let reply = self.reply_to(params, chat_id)?;
        let mut content = Map::new();
        content.insert("text".into(), text.into());
        let sent = Sent {
            method: "sendmessage".into(),
            chat_id,
            text: Some(text.to_owned()),
            reply_to_message_id: reply,
            file: None,
            file_ref: None,
            message_id: 0,
        };
        Ok(self.deliver(sent, content).into())
    }

    fn send_media(&mut self, params: &Params, field: &str) -> Outcome {
        let chat_id = params.chat_id()?;
        let photo = field == "photo";
        let media = self.media(params, field)?;
        let caption = params.get("caption").unwrap_or_default();
        if caption.encode_utf16().count() > MAX_CAPTION {
            return Err(Refusal::bad("message caption is too long"));
        }
        params.parse_mode()?;
        if let Media::Upload(upload) = &media {
            if upload.bytes.is_empty() {
                return Err(Refusal::bad("file must be non-empty"));
            }
            if photo && upload.bytes.len() > MAX_PHOTO {
                return Err(Refusal::bad("file is too big"));
            }
            if !photo && upload.bytes.len() > MAX_DOCUMENT {
                return Err(Refusal::new(413, "Request Entity Too Large"));
            }
        }
        let reply = self.reply_to(params, chat_id)?;
        let mut content = self.media_content(&media, photo);
        if !caption.is_empty() {
            content.insert("caption".into(), caption.into());
        }
        let (file, file_ref) = match media {
            Media::Upload(upload) => (Some(upload.sent()), None),
            Media::Reference(reference) | Media::Url(reference) => (None, Some(reference)),
        };
        let sent = Sent {
            method: format!("send{field}"),
            chat_id,
            text: Some(caption.to_owned()).filter(|c| !c.is_empty()),
            reply_to_message_id: reply,
            file,
            file_ref,
            message_id: 0,
        };
        Ok(self.deliver(sent, content).into())
    }

    /// The `photo` sizes or the `document` of a sent file; uploads are stored so that
    /// getFile and downloads work on them.
    fn media_content(&mut self, media: &Media, photo: bool) -> Map<String, Value> {
        let (file_id, size, name) = match media {
            Media::Upload(upload) => {
                self.next_file += 1;
                let n = self.next_file;
                let (id, path) = if photo {
                    (format!("photo-{n}"), format!("photos/file_{n}.jpg"))
                } else {
                    let extension = upload.name.rsplit_once('.').map(|(_, e)| e);
                    let path = format!("documents/file_{n}.{}", extension.unwrap_or("bin"));
                    (format!("document-{n}"), path)
                };
                let stored = StoredFile {
                    path: Some(path),
                    size: upload.bytes.len() as u64,
                    bytes: upload.bytes.clone(),
                };
                self.files.insert(id.clone(), stored);
                (id, Some(upload.bytes.len() as u64), upload.name.clone())
            }
            Media::Reference(id) => {
                let file = self.files.get(id);
                let path = file.and_then(|f| f.path.as_deref()).unwrap_or_default();
                let name = path.rsplit('/').next().unwrap_or_default().to_owned();
                (id.clone(), file.map(|f| f.size), name)
            }
            Media::Url(url) => {
                self.next_file += 1;
                let name = url.rsplit('/').next().unwrap_or_default().to_owned();
                (format!("url-{}", self.next_file), None, name)
            }
        };
        let mut meta = json!({ "file_id": file_id, "file_unique_id": unique_id(&file_id) });
        if let Some(size) = size {
            meta["file_size"] = size.into();
        }
        let mut content = Map::new();
        if photo {
            let mut small = meta.clone();
            small["file_id"] = format!("{file_id}-thumb").into();
            small["file_unique_id"] = unique_id(&format!("{file_id}-thumb")).into();
            small["width"] = 90.into();
            small["height"] = 68.into();
            meta["width"] = 1280.into();
            meta["height"] = 960.into();
            content.insert("photo".into(), json!([small, meta]));
        } else {
            let content_type = match media {
                Media::Upload(u) => u.content_type.clone(),
                _ => None,
            };
            let mime = content_type
                .filter(|t| t != "application/octet-stream")
                .unwrap_or_else(|| mime_for(&name).to_owned());
            if !name.is_empty() {
                meta["file_name"] = name.into();
            }
            meta["mime_type"] = mime.into();
            content.insert("document".into(), meta);
        }
        content
    }

    /// The file of a sendPhoto/sendDocument: a part named like the field, an
    /// `attach://<part>` reference, a known file_id, or an http(s) URL.
    fn media<'p>(&self, params: &'p Params, field: &str) -> Result<Media<'p>, Refusal> {
        if let Some(upload) = params.file(field) {
            return Ok(Media::Upload(upload));
        }
        let value = params.get(field).unwrap_or_default();
        if value.is_empty() {
            return Err(Refusal::bad(&format!("there is no {field} in the request")));
        }
        if let Some(part) = value.strip_prefix("attach://") {
            return params
                .file(part)
                .map(Media::Upload)
                .ok_or_else(|| Refusal::new(400, BAD_FILE));
        }
        let lower = value.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            return Ok(Media::Url(value.to_owned()));
        }
        if self.files.contains_key(value) || self.seen_file_ids.contains(value) {
            return Ok(Media::Reference(value.to_owned()));
        }
        Err(Refusal::new(400, BAD_FILE))
    }

    /// The message a send replies to, checked against the chat's known messages.
    fn reply_to(&self, params: &Params, chat_id: i64) -> Result<Option<i64>, Refusal> {
        let (chat, message_id, allow) = match params.get("reply_parameters") {
            Some(raw) if !raw.is_empty() => {
                let unparsable = || Refusal::bad("can't parse reply parameters JSON object");
                let value: Value = serde_json::from_str(raw).map_err(|_| unparsable())?;
                let message_id = value["message_id"].as_i64().ok_or_else(unparsable)?;
                let chat = match &value["chat_id"] {
                    Value::Null => chat_id,
                    Value::Number(n) => n.as_i64().unwrap_or_default(),
                    Value::String(s) => s.parse().unwrap_or_default(),
                    _ => return Err(unparsable()),
                };
                let allow = value["allow_sending_without_reply"].as_bool() == Some(true);
                (chat, message_id, allow)
            }
            _ => match params.get("reply_to_message_id") {
                Some(raw) if !raw.is_empty() && raw != "0" => {
                    let id = raw.trim().parse().unwrap_or_default();
                    (chat_id, id, params.flag("allow_sending_without_reply"))
                }
                _ => return Ok(None),
            },
        };
        let known = self
            .chats
            .get(&chat)
            .is_some_and(|c| c.messages.contains_key(&message_id));
        if !known && !allow {
            return Err(Refusal::bad("message to be replied not found"));
        }
        Ok(Some(message_id))
    }

    /// Posts the bot's message with the next id of its chat, records it as sent, and
    /// returns the Message.
    fn deliver(&mut self, mut sent: Sent, content: Map<String, Value>) -> Value {
        let chat_id = sent.chat_id;
        let chat_state = self.chats.entry(chat_id).or_default();
        let chat = chat_state
            .chat
            .clone()
            .unwrap_or_else(|| chat_json(chat_id));
        let message_id = chat_state
            .messages
            .keys()
            .next_back()
            .map_or(1, |id| id + 1);
        let date = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut message = json!({
            "message_id": message_id,
            "from": {
                "id": BOT_ID,
                "is_bot": true,
                "first_name": BOT_FIRST_NAME,
                "username": BOT_USERNAME,
            },
            "chat": chat,
            "date": date,
        });
        message.as_object_mut().unwrap().extend(content);
        chat_state
            .messages
            .insert(message_id, Some(message.clone()));
        let reply = sent.reply_to_message_id;
        let original = reply.and_then(|id| chat_state.messages.get(&id).cloned().flatten());
        if let Some(mut original) = original {
            // Telegram nests replies one level deep.
            if let Some(fields) = original.as_object_mut() {
                fields.remove("reply_to_message");
            }
            message["reply_to_message"] = original;
        }
        sent.message_id = message_id;
        self.sent.push(sent);
        message
    }

    fn get_file(&self, params: &Params) -> Outcome {
        let file_id = params.get("file_id").unwrap_or_default();
        let file = self.files.get(file_id);
        let file = file.ok_or_else(|| Refusal::bad("invalid file_id"))?;
        let path = match &file.path {
            Some(path) if file.size <= MAX_DOWNLOAD => path,
            _ => return Err(Refusal::bad("file is too big")),
        };
        Ok(json!({
            "file_id": file_id,
            "file_unique_id": unique_id(file_id),
            "file_size": file.size,
            "file_path": path,
        })
        .into())
    }

    fn set_webhook(&mut self, params: &Params) -> Outcome {
        let url = params.get("url").unwrap_or_default();
        if url.is_empty() {
            // An empty url removes the webhook, as deleteWebhook does.
            return Ok(self.delete_webhook(params));
        }
        check_webhook_url(url)?;
        let secret = params.get("secret_token").unwrap_or_default();
        if secret.len() > 256 {
            return Err(Refusal::bad("secret token is too long"));
        }
        if !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Refusal::bad("secret token contains unallowed characters"));
        }
        let allowed = params.allowed_updates()?;
        let max_connections = params.int("max_connections").unwrap_or(40).clamp(1, 100);
        let drop_pending = params.flag("drop_pending_updates");
        if allowed.is_some() {
            self.allowed_updates = allowed.clone();
        }
        if drop_pending {
            self.updates.clear();
        }
        let mut record = json!({
            "url": url,
            "max_connections": max_connections,
            "drop_pending_updates": drop_pending,
        });
        if !secret.is_empty() {
            record["secret_token"] = secret.into();
        }
        if let Some(allowed) = allowed {
            record["allowed_updates"] = allowed.into();
        }
        let same = self.webhook.as_ref().is_some_and(|w| w["url"] == url);
        self.webhook = Some(record);
        Ok(Answer {
            result: true.into(),
            description: Some(if same {
                "Webhook is already set"
            } else {
                "Webhook was set"
            }),
        })
    }

    fn delete_webhook(&mut self, params: &Params) -> Answer {
        if params.flag("drop_pending_updates") {
            self.updates.clear();
        }
        let had = self.webhook.take().is_some();
        Answer {
            result: true.into(),
            description: Some(if had {
                "Webhook was deleted"
            } else {
                "Webhook is already deleted"
            }),
        }
    }

    fn webhook_info(&self) -> Value {
        let mut info = json!({
            "url": "",
            "has_custom_certificate": false,
            "pending_update_count": self.updates.len(),
        });
        if let Some(webhook) = &self.webhook {
            info["url"] = webhook["url"].clone();
            info["max_connections"] = webhook.get("max_connections").cloned().unwrap_or(40.into());
            if let Some(allowed) = &self.allowed_updates {
                info["allowed_updates"] = allowed.clone().into();
            }
        }
        info
    }

    /// Drops the updates confirmed by `offset`; a negative offset keeps the last -offset.
    fn confirm(&mut self, offset: i64) {
        if offset > 0 {
            self.updates
                .retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= offset));
            self.confirmed_offset = self.confirmed_offset.max(offset);
        } else if offset < 0 {
            let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
            while self.updates.len() > keep {
                self.updates.pop_front();
            }
        }
    }

    fn deliverable(&self, limit: usize) -> Vec<Value> {
        let allowed = self.allowed_updates.as_deref().filter(|a| !a.is_empty());
        let wanted = |update: &&Value| {
            let kind = update
                .as_object()
                .and_then(|o| o.keys().find(|k| *k != "update_id"))
                .map_or("", String::as_str);
            match allowed {
                Some(allowed) => allowed.iter().any(|a| a == kind),
                None => !NOT_BY_DEFAULT.split_whitespace().any(|k| k == kind),
            }
        };
        self.updates
            .iter()
            .filter(wanted)
            .take(limit)
            .cloned()
            .collect()
    }

    /// Remembers what an update makes known: messages, chats, callback ids, file ids.
    fn learn(&mut self, update: &Value) {
        for key in MESSAGE_KEYS.split_whitespace() {
            self.learn_message(&update[key]);
        }
        if let Some(id) = update["callback_query"]["id"].as_str() {
            self.callbacks.insert(id.to_owned());
        }
        self.learn_message(&update["callback_query"]["message"]);
        collect_file_ids(update, &mut self.seen_file_ids);
    }

    fn learn_message(&mut self, message: &Value) {
        let chat_id = message["chat"]["id"].as_i64();
        let (Some(chat_id), Some(message_id)) = (chat_id, message["message_id"].as_i64()) else {
            return;
        };
        let chat = self.chats.entry(chat_id).or_default();
        chat.chat.get_or_insert_with(|| message["chat"].clone());
        chat.messages.insert(message_id, Some(message.clone()));
        if let Some(original) = message.get("reply_to_message") {
            self.learn_message(original);
        }
    }
}

enum Media<'p> {
    Upload(&'p Upload),
    Reference(String),
    Url(String),
}

/// One call's parameters, as the real server sees them: every value is text
/// (JSON values other than strings keep their JSON text), plus uploaded files.
struct Params {
    args: Vec<(String, String)>,
    files: Vec<Upload>,
}

struct Upload {
    field: String,
    name: String,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

impl Upload {
    fn sent(&self) -> SentFile {
        SentFile {
            name: self.name.clone(),
            content_type: self.content_type.clone(),
            bytes: self.bytes.clone(),
        }
    }
}

impl Params {
    async fn read(request: Request) -> Result<Params, Refusal> {
        let (parts, body) = request.into_parts();
        let mut args = parts.uri.query().map(parse_form).unwrap_or_default();
        let mut files = Vec::new();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = axum::body::to_bytes(body, MAX_REQUEST)
            .await
            .map_err(|_| Refusal::new(413, "Request Entity Too Large"))?;
        if content_type.contains("multipart/form-data") {
            let request = Request::from_parts(parts, Body::from(bytes));
            let mut multipart = Multipart::from_request(request, &())
                .await
                .map_err(|_| Refusal::bad("boundary not found"))?;
            let unparsable = |_| Refusal::bad("can't parse multipart/form-data");
            while let Some(field) = multipart.next_field().await.map_err(unparsable)? {
                let name = field.name().unwrap_or_default().to_owned();
                if name.is_empty() {
                    return Err(Refusal::bad("field name in multipart/form-data not found"));
                }
                let file_name = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(str::to_owned);
                let data = field.bytes().await.map_err(unparsable)?;
                match file_name {
                    Some(file_name) => files.push(Upload {
                        field: name,
                        name: file_name,
                        content_type,
                        bytes: data.to_vec(),
                    }),
                    None => args.push((name, String::from_utf8_lossy(&data).into_owned())),
                }
            }
        } else if content_type.contains("application/x-www-form-urlencoded") {
            args.extend(parse_form(&String::from_utf8_lossy(&bytes)));
        } else if content_type.contains("application/json") {
            // The real server ignores a body that is not a JSON object.
            if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&bytes) {
                args.extend(fields.into_iter().map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                }));
            }
        }
        Ok(Params { args, files })
    }

    fn get(&self, name: &str) -> Option<&str> {
        let arg = self.args.iter().find(|(k, _)| k == name);
        arg.map(|(_, v)| v.as_str())
    }

    fn file(&self, field: &str) -> Option<&Upload> {
        self.files.iter().find(|f| f.field == field)
    }

    fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.trim().parse().ok())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.get(name).map(str::trim), Some("true" | "1"))
    }

    fn chat_id(&self) -> Result<i64, Refusal> {
        let raw = self.get("chat_id").unwrap_or_default().trim();
        if raw.is_empty() {
            return Err(Refusal::bad("chat_id is empty"));
        }
        // Usernames and ids of chats that cannot exist are unknown to the fake.
        match raw.parse::<i64>() {
            Ok(id) if id != 0 => Ok(id),
            _ => Err(Refusal::bad("chat not found")),
        }
    }

    fn parse_mode(&self) -> Result<(), Refusal> {
        let mode = self
            .get("parse_mode")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match mode.as_str() {
            "" | "markdown" | "markdownv2" | "html" => Ok(()),
            _ => Err(Refusal::bad("unsupported parse_mode")),
        }
    }

    /// allowed_updates, keeping the known update types (the real server ignores others).
    fn allowed_updates(&self) -> Result<Option<Vec<String>>, Refusal> {
        let Some(raw) = self.get("allowed_updates").filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
            return Err(Refusal::bad("can't parse allowed updates JSON object"));
        };
        let known = items.iter().filter_map(Value::as_str);
        let known = known
            .filter(|t| UPDATE_TYPES.contains(t))
            .map(str::to_owned);
        Ok(Some(known.collect()))
    }
}

fn check_webhook_url(url: &str) -> Result<(), Refusal> {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("https://") else {
        return Err(Refusal::bad(
            "bad webhook: HTTPS url must be provided for webhook",
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse::<u16>().ok()),
        _ => (host_port, Some(443)),
    };
    if host.is_empty() {
        return Err(Refusal::bad(
            "bad webhook: Failed to resolve host: Name or service not known",
        ));
    }
    if !matches!(port, Some(80 | 88 | 443 | 8443)) {
        return Err(Refusal::bad(
            "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ));
    }
    Ok(())
}

fn chat_json(chat_id: i64) -> Value {
    if chat_id > 0 {
        json!({ "id": chat_id, "type": "private", "first_name": "Customer" })
    } else if chat_id.to_string().starts_with("-100") {
        json!({ "id": chat_id, "type": "supergroup", "title": "Support group" })
    } else {
        json!({ "id": chat_id, "type": "group", "title": "Support group" })
    }
}

fn unique_id(file_id: &str) -> String {
    // FNV-1a: stable across runs, different for different ids.
    let hash = file_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("AQAD{hash:016x}")
}

fn mime_for(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("zip") => "application/zip",
        Some("mp4") => "video/mp4",
        Some("ogg") => "audio/ogg",
        _ => "application/octet-stream",
    }
}

fn collect_file_ids(value: &Value, into: &mut HashSet<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(Value::String(id)) = fields.get("file_id") {
                into.insert(id.clone());
            }
            fields.values().for_each(|v| collect_file_ids(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_file_ids(v, into)),
        _ => {}
    }
}
