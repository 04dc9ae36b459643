//! A fake of Twilio's Programmable Messaging REST API for one account, built from the
//! provider contract and as strict as the real service where the gateway can tell.
//!
//! Sending (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`) needs HTTP Basic
//! `AccountSid:AuthToken` for the account in the path (else 401, code 20003), reads
//! parameters only from a form-encoded body (a JSON body counts as none, so it fails
//! with 21604) and validates like the real API: `To` in E.164, a `From` (E.164, short code or
//! alphanumeric sender ID) or a `MessagingServiceSid` (`MG` + 32 hex), a `Body` of at
//! most 1600 characters or up to 10 http(s) `MediaUrl`s, an absolute http(s)
//! `StatusCallback`, recipients who have not opted out. Answers carry Twilio's
//! envelopes: 201 with the Message resource, or `{code, message, more_info, status}`.
//! Scripted failures (`fail_next`) come after authentication and before validation.
//!
//! Inbound media (`add_media`) needs the same Basic auth, then redirects (307) to an
//! unauthenticated CDN path, as Twilio does, so clients must follow redirects. Status
//! callbacks (`emit_status`, `auto_status`) and inbound webhooks (`post_form`) are
//! signed like Twilio's (`signature`), over the URL exactly as configured plus every
//! parameter, in a deliberately unsorted order and with parameters a receiver may not
//! know. Anything else answers 404 with code 20404.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use super::{Watched, parse_form};

pub const API_VERSION: &str = "2010-04-01";
/// The sender Twilio picks from a Messaging Service's pool; status callbacks of
/// messages sent through a service without a `From` carry it.
pub const SERVICE_SENDER: &str = "+15005550006";

/// Twilio refuses longer bodies with 21617; counted in characters.
const MAX_BODY_CHARS: usize = 1600;
const MAX_MEDIA: usize = 10;
const MAX_CALLBACK_URL: usize = 4000;
/// Twilio gives a webhook 15 s to answer.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(15);
/// The unauthenticated path media downloads are redirected to (Twilio's CDN).
const CDN_PATH: &str = "media-cdn";
/// GSM 03.38 basic character set: one septet each.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
    ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: an escape septet plus one, so two each.
const GSM7_EXTENSION: &str = "\x0c^{}\\[~]|€";

/// A scripted answer for the next send.
#[derive(Clone, Debug)]
pub enum Failure {
    /// HTTP 429, code 20429 "Too Many Requests" (safe to retry).
    TooManyRequests,
    /// HTTP 500, code 20500 "Internal Server Error".
    ServerError,
    /// HTTP 503, code 20503 "Service Unavailable".
    ServiceUnavailable,
    Code {
        code: u32,
        http_status: u16,
        message: String,
    },
}

impl Failure {
    /// 400, 21211 "Invalid 'To' Phone Number".
    pub fn invalid_to() -> Failure {
        Failure::code(21211, 400, "Invalid 'To' Phone Number")
    }

    /// 400, 21610 "Attempt to send to unsubscribed recipient" (permanent).
    pub fn unsubscribed() -> Failure {
        Failure::code(21610, 400, "Attempt to send to unsubscribed recipient")
    }

    /// 401, 20003 "Authenticate" (e.g. the auth token was rotated).
    pub fn authenticate() -> Failure {
        Failure::code(20003, 401, "Authenticate")
    }

    fn code(code: u32, http_status: u16, message: &str) -> Failure {
        let message = message.to_owned();
        Failure::Code {
            code,
            http_status,
            message,
        }
    }
}

/// A send that passed authentication, accepted or refused.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Empty when the request had no `To`.
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: Option<String>,
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
    /// The Message SID; None when refused.
    pub sid: Option<String>,
    /// The error code of a refusal.
    pub error_code: Option<u32>,
    /// SMS segments the body takes (`segments`), whatever the answer said.
    pub num_segments: u32,
    /// The form as it arrived, in order.
    pub params: Vec<(String, String)>,
}

/// A status callback the fake posted.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusPost {
    pub sid: String,
    pub status: String,
    pub error_code: Option<u32>,
    pub url: String,
    /// The receiver's HTTP status; 0 when the request failed (no connection, timeout).
    pub http_status: u16,
}

#[derive(Clone)]
pub struct FakeTwilio {
    url: String,
    shared: Arc<Shared>,
}

struct Shared {
    account_sid: String,
    auth_token: String,
    url: String,
    http: reqwest::Client,
    state: Watched<Inner>,
}

#[derive(Default)]
struct Inner {
    sent: Vec<Sent>,
    failures: VecDeque<Failure>,
    opted_out: HashSet<String>,
    /// Accepted messages by SID, for status callbacks.
    messages: HashMap<String, Outbound>,
    /// Media by media SID.
    media: HashMap<String, Media>,
    downloads: usize,
    auto_status: bool,
    status_posts: Vec<StatusPost>,
}

#[derive(Clone)]
struct Outbound {
    to: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    status_callback: Option<String>,
}

struct Media {
    message_sid: String,
    content_type: String,
    bytes: Vec<u8>,
    /// The unguessable CDN name the authenticated URL redirects to.
    cdn_token: String,
    date_created: String,
}

impl FakeTwilio {
    /// Starts on 127.0.0.1:0 serving the account `account_sid` (`AC` + 32 hex, as
    /// Twilio's are) with `auth_token`.
    pub async fn start(account_sid: &str, auth_token: &str) -> FakeTwilio {
        assert!(
            is_sid(account_sid, "AC"),
            "an Account SID is AC + 32 hex digits: {account_sid}"
        );
        assert!(!auth_token.is_empty(), "an auth token is needed");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            url: url.clone(),
            http: http_client(),
            state: Watched::new("Twilio", Inner::default(), |inner| {
                let (sent, posts) = (&inner.sent, &inner.status_posts);
                format!("sent {sent:#?}, status callbacks {posts:#?}")
            }),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeTwilio { url, shared }
    }

    /// `http://127.0.0.1:PORT`, standing for `https://api.twilio.com`.
    pub fn api_url(&self) -> String {
        self.url.clone()
    }

    pub fn account_sid(&self) -> String {
        self.shared.account_sid.clone()
    }

    /// Every send that passed authentication, in arrival order, accepted or refused.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.state.lock().sent.clone()
    }

    /// Waits (up to 10 s, then panics showing what arrived) for `count` sends.
    pub async fn wait_for_sent(&self, count: usize) -> Vec<Sent> {
        self.wait_until(|inner| inner.sent.len() >= count).await;
        self.sent()
    }

    /// The next send is answered with `failure`; queue several by calling again.
    pub fn fail_next(&self, failure: Failure) {
        self.shared.state.lock().failures.push_back(failure);
    }

    /// Sending to `number` now fails with 21610, as after the recipient texted STOP.
    pub fn opt_out(&self, number: &str) {
        self.shared.state.lock().opted_out.insert(number.to_owned());
    }

    /// Undoes `opt_out`, as after the recipient texted START.
    pub fn opt_in(&self, number: &str) {
        self.shared.state.lock().opted_out.remove(number);
    }

    /// Stores media as if it came with an inbound MMS and returns its URL (what
    /// `MediaUrl{N}` carries): `/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}`.
    pub fn add_media(&self, bytes: &[u8], content_type: &str) -> String {
        let message_sid = new_sid("MM");
        let media_sid = new_sid("ME");
        let media = Media {
            message_sid: message_sid.clone(),
            content_type: content_type.to_owned(),
            bytes: bytes.to_vec(),
            cdn_token: new_sid(""),
            date_created: rfc2822_now(),
        };
        self.shared
            .state
            .lock()
            .media
            .insert(media_sid.clone(), media);
        format!(
            "{}/{API_VERSION}/Accounts/{}/Messages/{message_sid}/Media/{media_sid}",
            self.url, self.shared.account_sid
        )
    }

    /// How many times media bytes were served (requests that reached the CDN).
    pub fn media_downloads(&self) -> usize {
        self.shared.state.lock().downloads
    }

    /// Posts a signed status callback for an accepted message to the StatusCallback
    /// it was sent with and returns the receiver's HTTP status (0 when the request
    /// failed). Panics when the message is unknown or had no StatusCallback.
    pub async fn emit_status(&self, sid: &str, status: &str, error_code: Option<u32>) -> u16 {
        let message = self.shared.state.lock().messages.get(sid).cloned();
        let message = message.unwrap_or_else(|| panic!("the fake Twilio sent no message {sid}"));
        emit(&self.shared, sid, &message, status, error_code).await
    }

    /// When on, each accepted send with a StatusCallback is followed (in a spawned
    /// task) by the callbacks "sent" then "delivered", the second after the first
    /// was answered.
    pub fn auto_status(&self, on: bool) {
        self.shared.state.lock().auto_status = on;
    }

    /// The status callbacks posted so far, in order, with the receiver's answers.
    pub fn status_posts(&self) -> Vec<StatusPost> {
        self.shared.state.lock().status_posts.clone()
    }

    /// Waits (up to 10 s, then panics) until `count` status callbacks were answered.
    pub async fn wait_for_status_posts(&self, count: usize) -> Vec<StatusPost> {
        self.wait_until(|inner| inner.status_posts.len() >= count)
            .await;
        self.status_posts()
    }

    /// `Watched::wait_until` on this fake's state.
    async fn wait_until(&self, done: impl Fn(&Inner) -> bool) {
        self.shared.state.wait_until(done).await;
    }
}

impl Shared {
    /// Basic `AccountSid:AuthToken` for the account the path names.
    fn authenticated(&self, headers: &HeaderMap, path_account: &str) -> bool {
        let credentials = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, encoded)| BASE64.decode(encoded.trim()).ok())
            .and_then(|decoded| String::from_utf8(decoded).ok());
        let Some(credentials) = credentials else {
            return false;
        };
        let expected = format!("{}:{}", self.account_sid, self.auth_token);
        credentials == expected && path_account == self.account_sid
    }
}

/// Twilio's webhook signature: the URL exactly as given, then every parameter sorted
/// by name (then value, for repeated names) as name immediately followed by value;
/// HMAC-SHA1 keyed with the auth token, Base64.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// The parameters of an inbound SMS (MMS when `media` is not empty) webhook, in the
/// unsorted order Twilio posts them, with a fresh MessageSid. Location fields Twilio
/// does not know are present and empty, as in real webhooks.
pub fn inbound_sms(
    account_sid: &str,
    from: &str,
    to: &str,
    body: &str,
    media: &[(String, String)],
) -> Vec<(String, String)> {
    let sid = new_sid(if media.is_empty() { "SM" } else { "MM" });
    let segments = if media.is_empty() { segments(body) } else { 1 };
    let (from_city, from_state, from_zip, from_country) = location(from);
    let (to_city, to_state, to_zip, to_country) = location(to);
    let mut params = Vec::new();
    for (n, (url, content_type)) in media.iter().enumerate() {
        params.push((format!("MediaContentType{n}"), content_type.clone()));
        params.push((format!("MediaUrl{n}"), url.clone()));
    }
    let fixed = [
        ("ToCountry", to_country.to_owned()),
        ("ToState", to_state.to_owned()),
        ("SmsMessageSid", sid.clone()),
        ("NumMedia", media.len().to_string()),
        ("ToCity", to_city.to_owned()),
        ("FromZip", from_zip.to_owned()),
        ("SmsSid", sid.clone()),
        ("FromState", from_state.to_owned()),
        ("SmsStatus", "received".to_owned()),
        ("FromCity", from_city.to_owned()),
        ("Body", body.to_owned()),
        ("FromCountry", from_country.to_owned()),
        ("To", to.to_owned()),
        ("ToZip", to_zip.to_owned()),
        ("NumSegments", segments.to_string()),
        ("MessageSid", sid),
        ("AccountSid", account_sid.to_owned()),
        ("From", from.to_owned()),
        ("ApiVersion", API_VERSION.to_owned()),
    ];
    params.extend(fixed.map(|(name, value)| (name.to_owned(), value)));
    params
}

/// Posts `params` form-encoded to `post_to` as Twilio does, with `X-Twilio-Signature`
/// computed over `signed_url` (the public URL configured at Twilio, which differs
/// from `post_to` behind a proxy).
pub async fn post_form(
    post_to: &str,
    signed_url: &str,
    auth_token: &str,
    params: &[(String, String)],
) -> reqwest::Response {
    post_signed(&http_client(), post_to, signed_url, auth_token, params)
        .await
        .unwrap_or_else(|e| panic!("posting to {post_to}: {e}"))
}

/// How many SMS segments a body takes. GSM-7 when every character is in the GSM 03.38
/// basic set (1 septet) or its extension table (2): 160 septets fit one segment, else
/// 153 per part. Any other character makes the whole body UCS-2: 70 UTF-16 code units
/// in one, else 67 per part. A character never straddles two parts (an escape pair
/// or a surrogate pair moves whole to the next part), so a part may hold fewer.
pub fn segments(body: &str) -> u32 {
    let septets: Option<Vec<u32>> = body.chars().map(gsm7_septets).collect();
    let (units, single, part) = match septets {
        Some(septets) => (septets, 160, 153),
        None => {
            let units = body.chars().map(|c| c.len_utf16() as u32).collect();
            (units, 70, 67)
        }
    };
    if units.iter().sum::<u32>() <= single {
        return 1;
    }
    let (mut parts, mut used) = (1, 0);
    for unit in units {
        if used + unit > part {
            parts += 1;
            used = 0;
        }
        used += unit;
    }
    parts
}

fn gsm7_septets(c: char) -> Option<u32> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// A refused request: Twilio's error envelope with its HTTP status.
struct Refusal {
    status: u16,
    code: u32,
    message: String,
}

impl Refusal {
    fn new(status: u16, code: u32, message: impl Into<String>) -> Refusal {
        let message = message.into();
        Refusal {
            status,
            code,
            message,
        }
    }

    fn bad(code: u32, message: impl Into<String>) -> Refusal {
        Refusal::new(400, code, message)
    }

    fn authenticate() -> Refusal {
        Refusal::new(401, 20003, "Authenticate")
    }

    fn not_found(path: &str) -> Refusal {
        let message = format!("The requested resource {path} was not found");
        Refusal::new(404, 20404, message)
    }

    fn method_not_allowed() -> Refusal {
        Refusal::new(405, 20004, "Method not allowed")
    }
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Refusal {
        match failure {
            Failure::TooManyRequests => Refusal::new(429, 20429, "Too Many Requests"),
            Failure::ServerError => Refusal::new(500, 20500, "Internal Server Error"),
            Failure::ServiceUnavailable => Refusal::new(503, 20503, "Service Unavailable"),
            Failure::Code {
                code,
                http_status,
                message,
            } => Refusal::new(http_status, code, message),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status,
        });
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = HeaderValue::from_static("Basic realm=\"Twilio API\"");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let response = match segments.as_slice() {
        [CDN_PATH, token] if request.method() == Method::GET => cdn(&shared, token),
        [API_VERSION, "Accounts", account, rest @ ..] => {
            // Twilio authenticates before it looks the resource up.
            if !shared.authenticated(request.headers(), account) {
                return Refusal::authenticate().into_response();
            }
            let method = request.method().clone();
            match rest {
                ["Messages.json"] if method == Method::POST => send(&shared, request).await,
                ["Messages", message, "Media", media] if method == Method::GET => {
                    media_resource(&shared, &path, message, media)
                }
                ["Messages.json"] | ["Messages", _, "Media", _] => {
                    Refusal::method_not_allowed().into_response()
                }
                _ => Refusal::not_found(&path).into_response(),
            }
        }
        _ => Refusal::not_found(&path).into_response(),
    };
    shared.state.bump();
    response
}

/// An accepted message, before it gets its SID.
struct Valid {
    to: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    body: String,
    media_urls: Vec<String>,
    status_callback: Option<String>,
}

async fn send(shared: &Arc<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    // Twilio reads parameters only from a form body: JSON arrives as no parameters.
    let params = if is_form {
        parse_form(&String::from_utf8_lossy(&bytes))
    } else {
        Vec::new()
    };
    let get = |name: &str| first(&params, name).map(str::to_owned);
    let mut sent = Sent {
        to: get("To").unwrap_or_default(),
        from: get("From"),
        messaging_service_sid: get("MessagingServiceSid"),
        body: get("Body"),
        media_urls: all(&params, "MediaUrl"),
        status_callback: get("StatusCallback"),
        sid: None,
        error_code: None,
        num_segments: segments(first(&params, "Body").unwrap_or_default()),
        params: params.clone(),
    };
    let mut inner = shared.state.lock();
    let outcome = match inner.failures.pop_front() {
        Some(failure) => Err(Refusal::from(failure)),
        None => validate(&params).and_then(|valid| {
            if inner.opted_out.contains(&valid.to) {
                Err(Refusal::bad(
                    21610,
                    "Attempt to send to unsubscribed recipient",
                ))
            } else {
                Ok(valid)
            }
        }),
    };
    let valid = match outcome {
        Ok(valid) => valid,
        Err(refusal) => {
            sent.error_code = Some(refusal.code);
            inner.sent.push(sent);
            return refusal.into_response();
        }
    };
    let sid = new_sid(if valid.media_urls.is_empty() {
        "SM"
    } else {
        "MM"
    });
    sent.sid = Some(sid.clone());
    inner.sent.push(sent);
    let outbound = Outbound {
        to: valid.to.clone(),
        from: valid.from.clone(),
        messaging_service_sid: valid.messaging_service_sid.clone(),
        status_callback: valid.status_callback.clone(),
    };
    inner.messages.insert(sid.clone(), outbound.clone());
    let auto = inner.auto_status && outbound.status_callback.is_some();
    drop(inner);
    if auto {
        let (shared, sid) = (shared.clone(), sid.clone());
        tokio::spawn(async move {
            emit(&shared, &sid, &outbound, "sent", None).await;
            emit(&shared, &sid, &outbound, "delivered", None).await;
        });
    }
    let resource = message_json(&shared.account_sid, &sid, &valid);
    (StatusCode::CREATED, Json(resource)).into_response()
}

fn validate(params: &[(String, String)]) -> Result<Valid, Refusal> {
    let get = |name: &str| first(params, name).filter(|v| !v.is_empty());
    let Some(to) = get("To") else {
        return Err(Refusal::bad(21604, "A 'To' phone number is required."));
    };
    if !is_e164(to) {
        return Err(Refusal::bad(
            21211,
            format!("Invalid 'To' Phone Number: {to}"),
        ));
    }
    let from = get("From");
    let service = get("MessagingServiceSid");
    if from.is_none() && service.is_none() {
        return Err(Refusal::bad(21603, "A 'From' phone number is required."));
    }
    if let Some(from) = from.filter(|f| !is_sender(f)) {
        let message = format!(
            "The 'From' number {from} is not a valid phone number, shortcode, or alphanumeric sender ID."
        );
        return Err(Refusal::bad(21212, message));
    }
    if let Some(service) = service.filter(|s| !is_sid(s, "MG")) {
        let message = format!("The Messaging Service Sid {service} is invalid.");
        return Err(Refusal::bad(21705, message));
    }
    let body = get("Body").unwrap_or_default();
    let media_urls = all(params, "MediaUrl");
    if body.is_empty() && media_urls.is_empty() {
        return Err(match service {
            // Through a Messaging Service the same mistake has its own code.
            Some(_) => Refusal::bad(
                21619,
                "A text message body or media urls must be specified.",
            ),
            None => Refusal::bad(21602, "Message body is required."),
        });
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(Refusal::bad(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        ));
    }
    let invalid: Vec<&str> = media_urls
        .iter()
        .map(String::as_str)
        .filter(|u| !is_http_url(u))
        .collect();
    if !invalid.is_empty() {
        let message = format!(
            "Media urls: {} are invalid. Please use only valid http and https urls",
            invalid.join(",")
        );
        return Err(Refusal::bad(21620, message));
    }
    if media_urls.len() > MAX_MEDIA {
        return Err(Refusal::bad(21623, "Too many media urls. Limit is 10"));
    }
    let status_callback = get("StatusCallback");
    if status_callback.is_some_and(|u| u.len() > MAX_CALLBACK_URL || !is_http_url(u)) {
        return Err(Refusal::bad(21609, "Invalid StatusCallback"));
    }
    Ok(Valid {
        to: to.to_owned(),
        from: from.map(str::to_owned),
        messaging_service_sid: service.map(str::to_owned),
        body: body.to_owned(),
        media_urls,
        status_callback: status_callback.map(str::to_owned),
    })
}

/// The Message resource as the create call answers it.
fn message_json(account_sid: &str, sid: &str, valid: &Valid) -> Value {
    let now = rfc2822_now();
    let uri = format!("/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}");
    let (status, num_segments) = match (&valid.messaging_service_sid, valid.media_urls.len()) {
        // Through a service the sender (hence the encoding) is not chosen yet: Twilio
        // answers "accepted" with 0 segments.
        (Some(_), _) => ("accepted", 0),
        (None, 0) => ("queued", segments(&valid.body)),
        (None, _) => ("queued", 1),
    };
    json!({
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": valid.body,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": valid.from,
        "messaging_service_sid": valid.messaging_service_sid,
        "num_media": valid.media_urls.len().to_string(),
        "num_segments": num_segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": { "media": format!("{uri}/Media.json") },
        "to": valid.to,
        "uri": format!("{uri}.json"),
    })
}

/// `.../Messages/{MM}/Media/{ME}` redirects to the CDN; with `.json` it answers the
/// Media resource.
fn media_resource(shared: &Shared, path: &str, message_sid: &str, media_sid: &str) -> Response {
    let (media_sid, as_json) = match media_sid.strip_suffix(".json") {
        Some(sid) => (sid, true),
        None => (media_sid, false),
    };
    let inner = shared.state.lock();
    let media = inner.media.get(media_sid);
    let Some(media) = media.filter(|m| m.message_sid == message_sid) else {
        return Refusal::not_found(path).into_response();
    };
    if as_json {
        let account = &shared.account_sid;
        let uri = format!(
            "/{API_VERSION}/Accounts/{account}/Messages/{message_sid}/Media/{media_sid}.json"
        );
        let resource = json!({
            "account_sid": account,
            "content_type": media.content_type,
            "date_created": media.date_created,
            "date_updated": media.date_created,
            "parent_sid": message_sid,
            "sid": media_sid,
            "uri": uri,
        });
        return Json(resource).into_response();
    }
    let location = format!("{}/{CDN_PATH}/{}", shared.url, media.cdn_token);
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

fn cdn(shared: &Shared, token: &str) -> Response {
    let mut inner = shared.state.lock();
    let found = inner.media.values().find(|m| m.cdn_token == token);
    let Some(media) = found else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    let response = (
        [(header::CONTENT_TYPE, media.content_type.clone())],
        media.bytes.clone(),
    )
        .into_response();
    inner.downloads += 1;
    response
}

/// Posts one signed status callback and records it.
async fn emit(
    shared: &Shared,
    sid: &str,
    message: &Outbound,
    status: &str,
    error_code: Option<u32>,
) -> u16 {
    let Some(url) = message.status_callback.clone() else {
        panic!("message {sid} was sent without a StatusCallback");
    };
    let from = message.from.as_deref().unwrap_or(SERVICE_SENDER);
    // Unsorted, like Twilio's: the receiver must sort to check the signature.
    let mut params = vec![
        ("SmsSid", sid.to_owned()),
        ("SmsStatus", status.to_owned()),
        ("MessageStatus", status.to_owned()),
        ("To", message.to.clone()),
    ];
    if let Some(service) = &message.messaging_service_sid {
        params.push(("MessagingServiceSid", service.clone()));
    }
    params.extend([
        ("MessageSid", sid.to_owned()),
        ("AccountSid", shared.account_sid.clone()),
        ("From", from.to_owned()),
        ("ApiVersion", API_VERSION.to_owned()),
    ]);
    if let Some(code) = error_code {
        params.push(("ErrorCode", code.to_string()));
    }
    if matches!(status, "delivered" | "undelivered") {
        // Carriers' delivery receipts add this (YYMMDDhhmm); receivers meet parameters
        // they do not know and must still sign over them.
        params.push(("RawDlrDoneDate", dlr_date()));
    }
    let params: Vec<(String, String)> =
        params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let answer = post_signed(&shared.http, &url, &url, &shared.auth_token, &params).await;
    let http_status = answer.map_or(0, |r| r.status().as_u16());
    shared.state.lock().status_posts.push(StatusPost {
        sid: sid.to_owned(),
        status: status.to_owned(),
        error_code,
        url,
        http_status,
    });
    shared.state.bump();
    http_status
}

async fn post_signed(
    http: &reqwest::Client,
    post_to: &str,
    signed_url: &str,
    auth_token: &str,
    params: &[(String, String)],
) -> reqwest::Result<reqwest::Response> {
    http.post(post_to)
        .header(
            "X-Twilio-Signature",
            signature(auth_token, signed_url, params),
        )
        .header("I-Twilio-Idempotency-Token", new_sid(""))
        .header(header::USER_AGENT, "TwilioProxy/1.1")
        .header(header::ACCEPT, "*/*")
        .form(params)
        .send()
        .await
}

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(CALLBACK_TIMEOUT)
        .build()
        .unwrap()
}

fn first<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    let found = params.iter().find(|(k, _)| k == name);
    found.map(|(_, v)| v.as_str())
}

fn all(params: &[(String, String)], name: &str) -> Vec<String> {
    let values = params.iter().filter(|(k, _)| k == name);
    values.map(|(_, v)| v.clone()).collect()
}

/// `+` then 8 to 15 digits, the first not 0 (country codes never start with 0).
fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A phone number in E.164, a short code (5 or 6 digits) or an alphanumeric sender
/// ID (up to 11 letters, digits and spaces, at least one letter).
fn is_sender(from: &str) -> bool {
    let short_code = (5..=6).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&from.len())
        && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && from.bytes().any(|b| b.is_ascii_alphabetic());
    is_e164(from) || short_code || alphanumeric
}

/// A Twilio SID: the two-letter prefix, then 32 hex digits.
fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// An absolute http(s) URL with a host name, as Twilio requires of MediaUrl and
/// StatusCallback: no spaces, no underscores in the host, a numeric port if any.
fn is_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let Some(rest) = rest else {
        return false;
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host_ok, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, after)) => {
                let ok = host.contains(':')
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                    && (after.is_empty() || after.starts_with(':'));
                (ok, after.strip_prefix(':'))
            }
            None => return false,
        },
        None => {
            let (host, port) = match host_port.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            };
            let label_ok = |label: &str| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            (host.split('.').all(label_ok), port)
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    host_ok && port_ok
}

/// City, state, zip and country Twilio reports for a number: known for a few US
/// area codes, the country alone for some others, all empty otherwise.
fn location(number: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    const PLACES: [(&str, &str, &str, &str, &str); 10] = [
        ("+1415", "SAN FRANCISCO", "CA", "94103", "US"),
        ("+1212", "NEW YORK", "NY", "10001", "US"),
        ("+1512", "AUSTIN", "TX", "78701", "US"),
        ("+1", "", "", "", "US"),
        ("+44", "", "", "", "GB"),
        ("+33", "", "", "", "FR"),
        ("+49", "", "", "", "DE"),
        ("+34", "", "", "", "ES"),
        ("+61", "", "", "", "AU"),
        ("+91", "", "", "", "IN"),
    ];
    let place = PLACES.iter().find(|p| number.starts_with(p.0));
    place.map_or(("", "", "", ""), |p| (p.1, p.2, p.3, p.4))
}

/// A fresh SID: the prefix and 32 lowercase hex digits, unique within the process
/// (a bijective mix of a counter) and unlikely to repeat across processes (seeded by
/// the clock and process id).
fn new_sid(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        mix(nanos ^ u64::from(std::process::id()).rotate_left(32))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}{:016x}{:016x}",
        mix(n ^ seed),
        mix(n.wrapping_add(!seed))
    )
}

/// SplitMix64's finalizer: a bijection on u64.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Now in RFC 2822 as Twilio writes dates: `Thu, 24 Aug 2023 05:01:45 +0000`.
fn rfc2822_now() -> String {
    let format = time::format_description::well_known::Rfc2822;
    let now = time::OffsetDateTime::now_utc();
    now.format(&format).expect("RFC 2822 formats any date")
}

/// Now as a delivery receipt's done date: YYMMDDhhmm.
fn dlr_date() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        now.year() % 100,
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute()
    )
}
