//! `GET /webchat/{channel_id}/ws`: the customer's WebSocket.
//!
//! The upgrade is refused (403) for a page whose Origin is not allowed and (429) for
//! an address opening connections too fast. Then the widget says `hello` within
//! [`HELLO_WITHIN`]; the gateway answers `welcome` with the session token to keep,
//! then what the widget missed since its last number (or the newest page of
//! history), then whatever happens, live. A customer message is answered `ack` once
//! committed; until then the widget keeps it and sends it again after a reconnect,
//! which stores it once. A frame that cannot be read gets an `error` frame; a socket
//! that keeps sending such frames, or goes silent, is closed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard_core::connector::ClientIp;
use switchboard_core::ingest::IngestError;
use switchboard_core::model::DeliveryStatus;
use switchboard_core::store::StoreError;
use switchboard_core::store::queries::conversation_log::{Page, Range};
use tokio::time::Instant;

use crate::WebchatConnector;
use crate::config::Field;
use crate::hub::{Membership, Push};
use crate::inbound::Refused;
use crate::protocol::{ClientFrame, Fields, MessageView, ServerFrame, SignedIdentity, UploadRules};
use crate::session::{self, Session, TokenError};

/// How long a new socket may take to say `hello`.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// How often the gateway pings an idle socket (phones and proxies drop silent ones).
const PING_EVERY: Duration = Duration::from_secs(25);
/// A socket that sent nothing (not even a pong) for this long is gone.
const SILENT_FOR: Duration = Duration::from_secs(75);
/// How many bad frames in a row end a connection.
const BAD_FRAMES: u32 = 20;
/// The most missed messages sent one by one on resume; past it, the newest page.
const RESUME_MAX: usize = 500;
/// A page of history.
const PAGE: usize = 50;
/// The largest frame read: a message at its limit, in UTF-8 and JSON escapes.
fn frame_limit(max_chars: usize) -> usize {
    max_chars * 4 + 16 * 1024
}

/// The client's address ([`ClientIp`], set by the server for every request), when known.
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ClientIp>().map(|ip| ip.0)))
    }
}

/// An answer in the gateway's error shape.
pub(crate) fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

impl WebchatConnector {
    /// The page's origin, if it may use this chat; otherwise the 403 answer.
    pub(crate) fn allowed_origin<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<&'h str, Box<Response>> {
        let forbidden =
            |why: String| Box::new(refuse(StatusCode::FORBIDDEN, "origin_not_allowed", why));
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                forbidden("the request has no Origin header; the chat opens only from the channel's sites".into())
            })?;
        if self.config.allowed_origins.iter().any(|o| o == origin) {
            Ok(origin)
        } else {
            Err(forbidden(format!(
                "{origin} is not among this chat's allowed_origins"
            )))
        }
    }

    fn rate_limited(&self, wait: Duration) -> Response {
        let seconds = wait.as_secs().max(1);
        let mut response = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many connections from this address; retry in {seconds} s"),
        );
        if let Ok(value) = seconds.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

pub(crate) async fn upgrade(
    State(connector): State<Arc<WebchatConnector>>,
    Peer(peer): Peer,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Err(refused) = connector.allowed_origin(&headers) {
        return *refused;
    }
    if let Some(ip) = peer
        && let Err(not_until) = connector.connections.check_key(&ip)
    {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        return connector.rate_limited(wait);
    }
    let limit = frame_limit(connector.config.max_message_chars);
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        // Small buffers: most sockets sit idle for hours with nothing to read.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            Connection::serve(connector, socket).await;
        })
}

/// One widget's connection.
struct Connection {
    connector: Arc<WebchatConnector>,
    socket: WebSocket,
    session: Session,
    /// The highest number this widget has.
    sent: i64,
    /// The highest numbers already reported delivered and read.
    received: i64,
    read: i64,
    identified: bool,
    bad_frames: u32,
    last_heard: Instant,
    /// When the customer's typing was last reported, to report it at most every
    /// few seconds.
    typing_reported: Option<(bool, Instant)>,
}

/// Why a connection ends.
enum End {
    Closed,
    Policy(&'static str),
    Restart,
}

impl Connection {
    async fn serve(connector: Arc<WebchatConnector>, mut socket: WebSocket) {
        let hello = match tokio::time::timeout(HELLO_WITHIN, next_text(&mut socket)).await {
            Ok(Some(text)) => text,
            Ok(None) => return,
            Err(_) => {
                let _ = close(&mut socket, 1008, "say hello first").await;
                return;
            }
        };
        let (token, last_seq, identity) = match serde_json::from_str::<ClientFrame>(&hello) {
            Ok(ClientFrame::Hello {
                token,
                last_seq,
                identity,
            }) => (token, last_seq, identity),
            Ok(_) => {
                let _ = send_frame(
                    &mut socket,
                    &ServerFrame::error("hello_first", "the first frame must be hello"),
                )
                .await;
                let _ = close(&mut socket, 1008, "the first frame must be hello").await;
                return;
            }
            Err(error) => {
                let _ = send_frame(
                    &mut socket,
                    &ServerFrame::error("invalid_frame", format!("cannot read the frame: {error}")),
                )
                .await;
                let _ = close(&mut socket, 1008, "the first frame must be hello").await;
                return;
            }
        };
        let (session, identified, warning) = match connector
            .open_session(token.as_deref(), identity)
        {
            Ok(opened) => opened,
            Err(refused) => {
                let _ = send_frame(&mut socket, &ServerFrame::error(refused.0, refused.1)).await;
                let _ = close(&mut socket, 1008, refused.0).await;
                return;
            }
        };
        let membership = connector.hub.join(&session.conversation);
        let mut connection = Connection {
            connector,
            socket,
            session,
            sent: 0,
            received: 0,
            read: 0,
            identified,
            bad_frames: 0,
            last_heard: Instant::now(),
            typing_reported: None,
        };
        if let Some(warning) = warning {
            let _ = connection
                .send(&ServerFrame::error(warning.code(), warning.message()))
                .await;
        }
        // The handlers' futures (store reads and writes) are boxed where they are
        // awaited: the task of a socket, which may sit idle for hours, then holds
        // only what waiting takes (about 1 KB, against 4.5 KB unboxed).
        let end = match Box::pin(connection.welcome(last_seq)).await {
            Ok(()) => match connection.run(membership).await {
                Ok(()) => End::Closed,
                Err(end) => end,
            },
            Err(end) => end,
        };
        let (code, reason) = match end {
            End::Closed => return,
            End::Policy(reason) => (1008, reason),
            End::Restart => (1012, "the gateway is restarting; reconnect"),
        };
        let _ = close(&mut connection.socket, code, reason).await;
    }

    async fn send(&mut self, frame: &ServerFrame<'_>) -> Result<(), End> {
        send_frame(&mut self.socket, frame).await
    }

    async fn send_raw(&mut self, frame: &str) -> Result<(), End> {
        self.socket
            .send(Message::Text(Utf8Bytes::from(frame)))
            .await
            .map_err(|_| End::Closed)
    }

    /// `welcome`, then what the widget lacks.
    async fn welcome(&mut self, last_seq: Option<i64>) -> Result<(), End> {
        let range = match last_seq {
            Some(seq) => Range::After(seq.max(0)),
            None => Range::Before(i64::MAX),
        };
        let limit = if last_seq.is_some() {
            RESUME_MAX + 1
        } else {
            PAGE
        };
        let page = self.page(range, limit).await?;
        if let Some(ticket) = page.ticket.clone() {
            self.connector
                .hub
                .set_ticket(&self.session.conversation, ticket);
        }
        let connector = self.connector.clone();
        let config = &connector.config;
        let token = connector.signer.session_token(&self.session);
        let welcome = ServerFrame::Welcome {
            token,
            last_seq: page.head,
            started: page.head > 0,
            availability: connector.availability(),
            title: &config.title,
            language: &config.language,
            pre_chat: &config.pre_chat,
            name: self.session.name.as_deref(),
            email: self.session.email.as_deref(),
            identified: self.identified,
            uploads: UploadRules {
                max_bytes: connector.max_upload_bytes(),
                types: &config.uploads.types,
            },
            max_message_chars: config.max_message_chars,
            continues_by_email: config.continue_by_email.is_some(),
        }
        .to_json();
        self.send_raw(&welcome).await?;
        let resumable = last_seq.is_some() && page.entries.len() <= RESUME_MAX;
        if resumable {
            self.sent = last_seq.unwrap_or(0).max(0);
            self.send_entries(page).await
        } else {
            let page = if last_seq.is_some() {
                self.page(Range::Before(i64::MAX), PAGE).await?
            } else {
                page
            };
            let more = page.entries.first().is_some_and(|e| e.seq > 1);
            let messages = self.views(&page);
            self.sent = page.entries.last().map_or(0, |e| e.seq);
            if page.head == 0 {
                // A new conversation: nothing to show.
                return Ok(());
            }
            self.send(&ServerFrame::History {
                messages,
                more,
                reset: last_seq.is_some(),
            })
            .await
        }
    }

    async fn page(&mut self, range: Range, limit: usize) -> Result<Page, End> {
        match self
            .connector
            .context
            .conversation(&self.session.conversation, range, limit)
            .await
        {
            Ok(page) => Ok(page),
            Err(error) => {
                tracing::warn!(channel = %self.connector.context.channel(), %error, "cannot read a chat's log");
                let _ = self
                    .send(&ServerFrame::error(
                        "unavailable",
                        "the chat cannot load right now; reconnecting",
                    ))
                    .await;
                Err(End::Restart)
            }
        }
    }

    fn views(&self, page: &Page) -> Vec<MessageView> {
        page.entries
            .iter()
            .map(|entry| self.connector.view(&self.session.conversation, entry))
            .collect()
    }

    /// Sends the page's entries the widget does not have yet, in order.
    async fn send_entries(&mut self, page: Page) -> Result<(), End> {
        for view in self.views(&page) {
            if view.seq <= self.sent {
                continue;
            }
            self.sent = view.seq;
            self.send(&ServerFrame::Message(view)).await?;
        }
        Ok(())
    }

    /// Whatever the widget missed since `sent`, from the log.
    async fn catch_up(&mut self) -> Result<(), End> {
        let page = self.page(Range::After(self.sent), RESUME_MAX).await?;
        self.send_entries(page).await
    }

    async fn run(&mut self, membership: Membership) -> Result<(), End> {
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            if membership.take_behind() {
                Box::pin(self.catch_up()).await?;
            }
            tokio::select! {
                frame = self.socket.recv() => {
                    let Some(Ok(frame)) = frame else { return Err(End::Closed) };
                    self.last_heard = Instant::now();
                    match frame {
                        Message::Text(text) => Box::pin(self.on_frame(text.as_str(), membership.id())).await?,
                        Message::Binary(_) => Box::pin(self.bad_frame("invalid_frame", "frames are JSON text".into())).await?,
                        Message::Close(_) => return Err(End::Closed),
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                }
                push = membership.next() => match push {
                    Push::Message { seq, frame } => {
                        if seq == self.sent + 1 {
                            self.sent = seq;
                            self.send_raw(&frame).await?;
                        } else if seq > self.sent {
                            Box::pin(self.catch_up()).await?;
                        }
                    }
                    Push::Logged { seq } if seq > self.sent => Box::pin(self.catch_up()).await?,
                    Push::Logged { .. } => {}
                    Push::Frame(frame) => self.send_raw(&frame).await?,
                    Push::Close => return Err(End::Restart),
                },
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > SILENT_FOR {
                        return Err(End::Closed);
                    }
                    self.socket.send(Message::Ping(Default::default())).await.map_err(|_| End::Closed)?;
                    // Other nodes announce what they log here; a notice lost (their
                    // node died after the commit, the bus reconnected) is found now.
                    if self.connector.context.store_is_shared() {
                        self.catch_up().await?;
                    }
                }
            }
        }
    }

    async fn bad_frame(&mut self, code: &'static str, message: String) -> Result<(), End> {
        self.bad_frames += 1;
        self.send(&ServerFrame::error(code, message)).await?;
        if self.bad_frames >= BAD_FRAMES {
            return Err(End::Policy("too many frames that cannot be read"));
        }
        Ok(())
    }

    async fn on_frame(&mut self, text: &str, socket_id: u64) -> Result<(), End> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(error) => {
                return self
                    .bad_frame("invalid_frame", format!("cannot read the frame: {error}"))
                    .await;
            }
        };
        self.bad_frames = 0;
        match frame {
            ClientFrame::Hello { .. } => {
                self.send(&ServerFrame::error(
                    "already_started",
                    "hello comes once per connection",
                ))
                .await
            }
            ClientFrame::Message {
                id,
                text,
                attachments,
                fields,
            } => {
                self.on_message(socket_id, id, text, attachments, fields)
                    .await
            }
            ClientFrame::Typing { on } => {
                self.on_typing(on);
                Ok(())
            }
            ClientFrame::Received { seq } => self.seen(seq, DeliveryStatus::Delivered).await,
            ClientFrame::Read { seq } => self.seen(seq, DeliveryStatus::Read).await,
            ClientFrame::History { before, limit } => {
                let limit = limit.unwrap_or(PAGE).clamp(1, 100);
                let page = self.page(Range::Before(before), limit).await?;
                let more = page.entries.first().is_some_and(|e| e.seq > 1);
                let messages = self.views(&page);
                self.send(&ServerFrame::History {
                    messages,
                    more,
                    reset: false,
                })
                .await
            }
            ClientFrame::Ping => self.send(&ServerFrame::Pong).await,
        }
    }

    async fn on_message(
        &mut self,
        socket_id: u64,
        id: String,
        text: String,
        attachments: Vec<String>,
        fields: Option<Fields>,
    ) -> Result<(), End> {
        let refused = |id: &str, Refused(code, message)| ServerFrame::Error {
            code,
            message,
            id: Some(id.to_owned()),
            retry_after_ms: None,
        };
        let connector = self.connector.clone();
        if let Err(not_until) = connector.messages.check_key(&self.session.conversation) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return self
                .send(&ServerFrame::Error {
                    code: "rate_limited",
                    message: "too many messages; wait a moment".into(),
                    id: Some(id),
                    retry_after_ms: Some(wait.as_millis() as u64),
                })
                .await;
        }
        let gave_fields = fields.is_some();
        let topic = match self.apply_fields(fields) {
            Ok(topic) => topic,
            Err(why) => return self.send(&refused(&id, why)).await,
        };
        let route = connector.email_route(&self.session);
        let by_email = route.as_ref().map(|r| r.identity.address.clone());
        let inbound = match connector
            .inbound(&self.session, &id, text, &attachments, topic, route)
            .await
        {
            Ok(inbound) => inbound,
            Err(why) => return self.send(&refused(&id, why)).await,
        };
        let outcome = match connector.context.ingest_logged(vec![inbound]).await {
            Ok(mut outcomes) => outcomes.remove(0),
            Err(IngestError::Invalid(why)) => {
                return self
                    .send(&refused(&id, Refused("invalid_message", why)))
                    .await;
            }
            Err(error) => {
                let retryable = matches!(
                    error,
                    IngestError::Store(StoreError::Unavailable(_)) | IngestError::ShuttingDown
                );
                if !retryable {
                    tracing::error!(channel = %connector.context.channel(), %error, "cannot store a chat message");
                }
                return self
                    .send(&ServerFrame::Error {
                        code: "unavailable",
                        message: "the message could not be stored yet; it will be sent again"
                            .into(),
                        id: Some(id),
                        retry_after_ms: Some(2_000),
                    })
                    .await;
            }
        };
        let seq = outcome.seq.unwrap_or_default();
        let ticket = (outcome.ticket_id, outcome.ticket_reference.clone());
        connector.hub.set_ticket(&self.session.conversation, ticket);
        // The session now holds what the form said: the widget keeps the new token.
        let token = gave_fields.then(|| connector.signer.session_token(&self.session));
        self.send(&ServerFrame::Ack {
            id,
            seq,
            reference: outcome.ticket_reference,
            token,
            by_email,
        })
        .await?;
        // This socket and the conversation's others (another tab) get the message
        // itself in order; this one reads it from the log if others came between.
        let page = self.page(Range::After(seq - 1), 1).await?;
        if let Some(entry) = page.entries.first() {
            connector.publish(&self.session.conversation, entry, Some(socket_id));
        }
        if seq == self.sent + 1 {
            self.send_entries(page).await
        } else {
            self.catch_up().await
        }
    }

    /// Takes the pre-chat form, checking what the channel requires on the
    /// conversation's first message; returns the topic.
    fn apply_fields(&mut self, fields: Option<Fields>) -> Result<Option<String>, Refused> {
        let fields = fields.unwrap_or_default();
        let pre_chat = &self.connector.config.pre_chat;
        let first = self.sent == 0;
        let clean = |value: Option<String>, max: usize| {
            value
                .map(|v| {
                    v.trim()
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(max)
                        .collect::<String>()
                })
                .filter(|v| !v.is_empty())
        };
        let name = clean(fields.name, 100);
        let email = clean(fields.email, 254);
        let topic = clean(fields.topic, 100);
        if let Some(email) = &email {
            switchboard_core::identity::Identity::email(email)
                .map_err(|e| Refused("invalid_field", format!("email: {e}")))?;
        }
        if let Some(topic) = &topic
            && !pre_chat.topics.iter().any(|t| t == topic)
        {
            return Err(Refused(
                "invalid_field",
                format!("topic: choose one of {}", pre_chat.topics.join(", ")),
            ));
        }
        if first {
            for (field, rule, given) in [
                (
                    "name",
                    pre_chat.name,
                    name.is_some() || self.session.name.is_some(),
                ),
                (
                    "email",
                    pre_chat.email,
                    email.is_some() || self.session.email.is_some(),
                ),
                ("topic", pre_chat.topic, topic.is_some()),
            ] {
                if rule == Field::Required && !given {
                    return Err(Refused("missing_field", format!("{field} is required")));
                }
            }
        }
        if name.is_some() {
            self.session.name = name;
        }
        if email.is_some() {
            self.session.email = email.map(|e| e.to_lowercase());
        }
        Ok(topic.filter(|_| first))
    }

    fn on_typing(&mut self, on: bool) {
        let Some((ticket_id, reference)) = self.connector.hub.ticket_of(&self.session.conversation)
        else {
            return;
        };
        let again = self
            .typing_reported
            .is_some_and(|(was, at)| was == on && at.elapsed() < Duration::from_secs(3));
        if again {
            return;
        }
        self.typing_reported = Some((on, Instant::now()));
        let presence = self.connector.context.presence();
        presence.report_customer(ticket_id, reference, on, self.connector.context.now().0);
    }

    /// The widget has (or showed) the agents' messages up to `seq`.
    async fn seen(&mut self, seq: i64, status: DeliveryStatus) -> Result<(), End> {
        let seq = seq.min(self.sent);
        let done = match status {
            DeliveryStatus::Read => &mut self.read,
            _ => &mut self.received,
        };
        if seq <= *done {
            return Ok(());
        }
        *done = seq;
        if let Err(error) = self
            .connector
            .context
            .conversation_seen(&self.session.conversation, seq, status)
            .await
        {
            tracing::warn!(channel = %self.connector.context.channel(), %error, "cannot record that chat messages were seen");
        }
        Ok(())
    }
}

impl WebchatConnector {
    /// The session of a new connection: a signed identity (the site's signed-in
    /// user) wins, then a valid token; otherwise a new visitor, with a warning when
    /// the token it brought was refused. An identity that does not verify ends the
    /// connection: it is never trusted, and never quietly ignored.
    fn open_session(
        &self,
        token: Option<&str>,
        identity: Option<SignedIdentity>,
    ) -> Result<(Session, bool, Option<TokenError>), Refused> {
        let now = self.now_seconds();
        let expires = now + self.session_lifetime();
        let from_token = token.map(|t| self.signer.session(t, now));
        if let Some(identity) = identity {
            let secret = self.config.identity_secret.as_ref().ok_or_else(|| {
                Refused(
                    "invalid_identity",
                    "this chat does not take signed identities (no identity_secret)".into(),
                )
            })?;
            let conversation = session::signed_user(secret, &identity.user_id, &identity.signature)
                .filter(|_| !identity.user_id.is_empty() && identity.user_id.len() <= 200)
                .ok_or_else(|| {
                    Refused(
                        "invalid_identity",
                        "the identity's signature does not match its user_id".into(),
                    )
                })?;
            let earlier = from_token
                .and_then(Result::ok)
                .filter(|s| s.conversation == conversation);
            let email = identity
                .email
                .filter(|e| switchboard_core::identity::Identity::email(e).is_ok())
                .map(|e| e.to_lowercase());
            return Ok((
                Session {
                    conversation,
                    expires,
                    name: identity
                        .name
                        .or(earlier.as_ref().and_then(|s| s.name.clone())),
                    email: email.or(earlier.and_then(|s| s.email)),
                },
                true,
                None,
            ));
        }
        match from_token {
            Some(Ok(session)) => {
                let identified = session.conversation.starts_with("u:");
                Ok((Session { expires, ..session }, identified, None))
            }
            other => Ok((
                Session {
                    conversation: session::new_visitor(),
                    expires,
                    name: None,
                    email: None,
                },
                false,
                other.and_then(Result::err),
            )),
        }
    }
}

async fn next_text(socket: &mut WebSocket) -> Option<String> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(text)) => return Some(text.as_str().to_owned()),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Binary(_)) => return Some(String::new()),
            Ok(Message::Close(_)) | Err(_) => return None,
        }
    }
}

async fn send_frame(socket: &mut WebSocket, frame: &ServerFrame<'_>) -> Result<(), End> {
    socket
        .send(Message::Text(Utf8Bytes::from(frame.to_json())))
        .await
        .map_err(|_| End::Closed)
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), End> {
    socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await
        .map_err(|_| End::Closed)
}
