//! Webhook notifications into normalized messages and delivery updates.
//!
//! One notification may hold several entries, changes, messages and statuses; each
//! becomes one item. Customers are known by `wa_id` as an E.164 phone identity (the
//! same person on SMS is the same contact), or by their business-scoped `user_id`
//! when WhatsApp gives no number. Media arrive as ids: [`MediaRef`]s, fetched by
//! the webhook before the messages are committed.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_core::connector::{DeliveryUpdate, Inbound, InboundAttachment, Sender, ThreadHint};
use switchboard_core::download::{BodyError, FetchError, capped_body, with_retries};
use switchboard_core::gateway::Concern;
use switchboard_core::identity::{Identity, IdentityKind};
use switchboard_core::input;
use switchboard_core::model::DeliveryStatus;
use switchboard_core::text::append_line;

use crate::WhatsAppConnector;
use crate::outbound::error_reason;

/// What one notification carries for this channel.
#[derive(Debug, Default)]
pub struct Notification {
    pub messages: Vec<CustomerMessage>,
    pub statuses: Vec<DeliveryUpdate>,
    /// Parts left alone, by reason (for the `ignored` metric).
    pub ignored: Vec<&'static str>,
}

/// A customer's message, with its media still at WhatsApp.
#[derive(Debug)]
pub struct CustomerMessage {
    pub inbound: Inbound,
    pub media: Option<MediaRef>,
}

/// A file to download with the two-step media download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    pub id: String,
    /// image, video, audio, voice, document or sticker: said in placeholders.
    pub kind: &'static str,
    pub mime_type: String,
    /// The file's SHA-256 as the webhook gave it: base64, as Meta sends it (hex is
    /// read too). Checked by [`digest_matches`].
    pub sha256: Option<String>,
    pub filename: String,
}

#[derive(Deserialize)]
struct Envelope {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize, Default)]
struct ChangeValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    id: String,
    status: String,
    #[serde(default)]
    errors: Vec<ApiErrorObject>,
}

/// An error as webhooks carry it (in statuses and unsupported messages).
#[derive(Deserialize, Debug, Default)]
pub(crate) struct ApiErrorObject {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
}

#[derive(Deserialize, Debug, Default)]
pub(crate) struct ErrorData {
    #[serde(default)]
    pub details: Option<String>,
}

/// Why a body is not a notification.
#[derive(Debug, PartialEq, Eq)]
pub struct NotANotification(pub String);

/// Reads a notification; messages and statuses for other phone numbers are left
/// alone (one Meta app posts every number's events to one callback URL).
pub fn parse(body: &[u8], phone_number_id: &str) -> Result<Notification, NotANotification> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| NotANotification(format!("not a WhatsApp webhook notification: {e}")))?;
    if envelope.object != "whatsapp_business_account" {
        return Err(NotANotification(format!(
            "object is {:?}, not \"whatsapp_business_account\"",
            envelope.object
        )));
    }
    let mut notification = Notification::default();
    for change in envelope.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            notification.ignored.push("other_field");
            continue;
        }
        let value: ChangeValue = match serde_json::from_value(change.value) {
            Ok(value) => value,
            Err(error) => {
                return Err(NotANotification(format!(
                    "a messages change is malformed: {error}"
                )));
            }
        };
        if value
            .metadata
            .as_ref()
            .is_some_and(|m| m.phone_number_id != phone_number_id)
        {
            notification.ignored.push("other_phone_number");
            continue;
        }
        for raw in &value.messages {
            match customer_message(raw, &value.contacts) {
                Some(message) => notification.messages.push(message),
                None => notification.ignored.push("no_sender"),
            }
        }
        for status in value.statuses {
            match delivery(status) {
                Some(update) => notification.statuses.push(update),
                None => notification.ignored.push("other_status"),
            }
        }
    }
    Ok(notification)
}

fn delivery(status: Status) -> Option<DeliveryUpdate> {
    let kind = match status.status.as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        // "deleted", "warning", and whatever comes next.
        _ => return None,
    };
    let reason = (kind == DeliveryStatus::Failed).then(|| match status.errors.first() {
        Some(error) => error_reason(
            error.code,
            error.title.as_deref().or(error.message.as_deref()),
            error.error_data.as_ref().and_then(|d| d.details.as_deref()),
        ),
        None => "WhatsApp reported the message failed, without a reason".into(),
    });
    Some(DeliveryUpdate {
        external_id: status.id,
        status: kind,
        reason,
    })
}

/// The sender: `wa_id` as a phone number, else the business-scoped user id.
fn sender(raw: &Value, contacts: &[Contact]) -> Option<(Identity, Option<String>, String)> {
    let from = raw["from"].as_str().filter(|f| !f.is_empty());
    let from_user = raw["from_user_id"].as_str().filter(|f| !f.is_empty());
    let contact = contacts
        .iter()
        .find(|c| from.is_some() && c.wa_id.as_deref() == from)
        .or_else(|| {
            contacts
                .iter()
                .find(|c| from_user.is_some() && c.user_id.as_deref() == from_user)
        })
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]));
    let name = contact
        .and_then(|c| c.profile.as_ref())
        .and_then(|p| p.name.clone())
        .filter(|n| !n.trim().is_empty());
    let phone = from.or_else(|| contact.and_then(|c| c.wa_id.as_deref()));
    if let Some(identity) = phone.and_then(|p| Identity::phone(p).ok()) {
        let conversation = phone.unwrap_or_default().trim_start_matches('+').to_owned();
        return Some((identity, name, conversation));
    }
    let user = from_user.or_else(|| contact.and_then(|c| c.user_id.as_deref()))?;
    let identity = Identity::opaque(IdentityKind::WhatsappUser, user).ok()?;
    Some((identity, name, format!("user:{user}")))
}

fn customer_message(raw: &Value, contacts: &[Contact]) -> Option<CustomerMessage> {
    let (identity, display_name, conversation) = sender(raw, contacts)?;
    let id = raw["id"].as_str().filter(|id| !id.is_empty())?.to_owned();
    let kind = raw["type"].as_str().unwrap_or("unknown");
    let body = &raw[kind];
    let mut reply_to = raw["context"]["id"].as_str().map(str::to_owned);
    let mut automatic = false;
    let mut media = None;
    let text = match kind {
        "text" => str_of(body, "body"),
        "image" | "video" | "audio" | "document" | "sticker" => {
            let kind = match kind {
                "image" => "image",
                "video" => "video",
                "audio" => "audio",
                "document" => "document",
                _ => "sticker",
            };
            let file = media_ref(kind, body);
            let caption = str_of(body, "caption");
            media = file;
            caption
        }
        "location" => location(body),
        "contacts" => shared_contacts(body),
        "interactive" => interactive(body),
        "button" => format!("[button] {}", str_of(body, "text")),
        "reaction" => {
            // On the ticket of the message it reacts to; never reopens a ticket.
            reply_to = body["message_id"].as_str().map(str::to_owned);
            automatic = true;
            match body["emoji"].as_str().filter(|e| !e.is_empty()) {
                Some(emoji) => format!("[reaction] {emoji}"),
                None => "[reaction removed]".into(),
            }
        }
        "order" => format!(
            "[order] {} item(s) from catalog {}",
            body["product_items"].as_array().map_or(0, Vec::len),
            str_of(body, "catalog_id")
        ),
        "system" => format!("[system] {}", str_of(body, "body")),
        other => unsupported(other, raw),
    };
    let text = if text.trim().is_empty() && media.is_none() {
        unsupported(kind, raw)
    } else {
        text
    };
    Some(CustomerMessage {
        inbound: Inbound {
            external_id: id,
            sender: Sender {
                identity,
                display_name,
                reachable: true,
            },
            conversation,
            thread: ThreadHint {
                reply_to,
                references: Vec::new(),
            },
            subject: None,
            text,
            html: None,
            attachments: Vec::new(),
            automatic,
            edit_of: None,
            group: None,
            participants: Vec::new(),
            reply_by: None,
        },
        media,
    })
}

fn str_of(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

fn media_ref(kind: &'static str, body: &Value) -> Option<MediaRef> {
    let id = body["id"].as_str().filter(|id| !id.is_empty())?.to_owned();
    let mime_type = body["mime_type"]
        .as_str()
        .and_then(|m| m.split(';').next())
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .map_or_else(
            || "application/octet-stream".into(),
            |m| input::media_type_or_binary(&m),
        );
    let kind = if kind == "audio" && body["voice"].as_bool() == Some(true) {
        "voice"
    } else {
        kind
    };
    let filename = body["filename"]
        .as_str()
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| format!("{kind}-{id}.{}", extension(&mime_type)));
    Some(MediaRef {
        id,
        kind,
        mime_type,
        sha256: body["sha256"]
            .as_str()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        filename,
    })
}

/// A file name extension for the types WhatsApp sends.
fn extension(mime_type: &str) -> &'static str {
    match mime_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" => "m4a",
        "audio/aac" => "aac",
        "audio/amr" => "amr",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        _ => "bin",
    }
}

fn location(body: &Value) -> String {
    let (lat, lon) = (body["latitude"].as_f64(), body["longitude"].as_f64());
    let place: Vec<&str> = ["name", "address"]
        .iter()
        .filter_map(|k| body[*k].as_str().filter(|s| !s.is_empty()))
        .collect();
    let mut text = String::from("[location]");
    if !place.is_empty() {
        text.push(' ');
        text.push_str(&place.join(", "));
    }
    if let (Some(lat), Some(lon)) = (lat, lon) {
        text.push_str(&format!(
            "\n{lat}, {lon}\nhttps://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
        ));
    }
    text
}

fn shared_contacts(body: &Value) -> String {
    let cards: Vec<String> = body
        .as_array()
        .into_iter()
        .flatten()
        .map(|card| {
            let name = card["name"]["formatted_name"]
                .as_str()
                .unwrap_or("(no name)");
            let mut details: Vec<String> = Vec::new();
            for phone in card["phones"].as_array().into_iter().flatten() {
                if let Some(number) = phone["phone"].as_str().or(phone["wa_id"].as_str()) {
                    details.push(number.to_owned());
                }
            }
            for email in card["emails"].as_array().into_iter().flatten() {
                if let Some(address) = email["email"].as_str() {
                    details.push(address.to_owned());
                }
            }
            if details.is_empty() {
                name.to_owned()
            } else {
                format!("{name}: {}", details.join(", "))
            }
        })
        .collect();
    format!("[contact] {}", cards.join("\n[contact] "))
}

fn interactive(body: &Value) -> String {
    match body["type"].as_str() {
        Some("button_reply") => format!("[button] {}", str_of(&body["button_reply"], "title")),
        Some("list_reply") => {
            let reply = &body["list_reply"];
            match reply["description"].as_str().filter(|d| !d.is_empty()) {
                Some(description) => {
                    format!("[list] {}: {description}", str_of(reply, "title"))
                }
                None => format!("[list] {}", str_of(reply, "title")),
            }
        }
        Some("nfm_reply") => format!("[form] {}", str_of(&body["nfm_reply"], "body")),
        other => format!("[interactive {}]", other.unwrap_or("reply")),
    }
}

/// A readable stand-in for what WhatsApp does not pass on, so that nothing the
/// customer sent disappears.
fn unsupported(kind: &str, raw: &Value) -> String {
    let why = raw["errors"][0]["title"]
        .as_str()
        .or(raw["errors"][0]["message"].as_str())
        .or(raw["errors"][0]["error_data"]["details"].as_str());
    match why {
        Some(why) => format!(
            "[the customer sent a {kind} message that WhatsApp does not pass on ({why}); ask them to send it another way]"
        ),
        None => format!(
            "[the customer sent a {kind} message that WhatsApp does not pass on; ask them to send it another way]"
        ),
    }
}

/// How many times a media download is tried before the message keeps a note instead.
const MEDIA_ATTEMPTS: u32 = 3;

/// Downloads a message's media (metadata, then the bytes, both with the bearer
/// token) and checks it against the sha256 given. After [`MEDIA_ATTEMPTS`] failures,
/// or when the file is too large, the text says what was sent instead.
pub(crate) async fn attach_media(connector: &WhatsAppConnector, message: &mut CustomerMessage) {
    let Some(media) = message.media.take() else {
        return;
    };
    let outcome = with_retries(MEDIA_ATTEMPTS, Duration::from_millis(200), || {
        download(connector, &media)
    })
    .await;
    let inbound = &mut message.inbound;
    match outcome {
        Ok(bytes) => {
            connector.context.report_problem(Concern::Media, None);
            inbound.attachments.push(InboundAttachment {
                filename: media.filename,
                content_type: media.mime_type,
                bytes,
            });
        }
        Err(error) => {
            let why = error.reason();
            connector.context.report_problem(
                Concern::Media,
                Some(&format!(
                    "a customer's {} could not be fetched from WhatsApp: {why}",
                    media.kind
                )),
            );
            tracing::warn!(channel = connector.context.channel().as_str(), media = media.id, %why, "WhatsApp media not fetched");
            metrics::counter!("switchboard_whatsapp_media_failures_total", "channel" => connector.context.channel().as_str().to_owned()).increment(1);
            let note = format!(
                "[{} {} could not be fetched from WhatsApp: {why}]",
                media.kind, media.filename
            );
            append_line(&mut inbound.text, &note);
        }
    }
}

#[derive(Deserialize)]
struct MediaInfo {
    url: String,
    #[serde(default)]
    sha256: Option<String>,
}

async fn download(connector: &WhatsAppConnector, media: &MediaRef) -> Result<Bytes, FetchError> {
    let token = connector.config.access_token.expose();
    let info = connector
        .http
        .get(connector.graph_url(&media.id))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| FetchError::Retry(format!("cannot reach the Graph API: {e}")))?;
    let status = info.status();
    if !status.is_success() {
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            FetchError::Retry(format!("the media lookup answered {status}"))
        } else {
            FetchError::Permanent(format!("the media lookup answered {status}"))
        });
    }
    let info: MediaInfo = info
        .json()
        .await
        .map_err(|e| FetchError::Retry(format!("the media lookup answer is not JSON: {e}")))?;
    let limit = connector.context.max_attachment_bytes();
    let response = connector
        .http
        .get(&info.url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| FetchError::Retry(format!("cannot download the file: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(
            if status.is_client_error() && status.as_u16() != 429 && status.as_u16() != 404 {
                FetchError::Permanent(format!("the download answered {status}"))
            } else {
                // The URL lives five minutes: a new lookup gives a fresh one.
                FetchError::Retry(format!("the download answered {status}"))
            },
        );
    }
    let bytes = capped_body(response, limit)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge(_) => FetchError::Permanent(format!(
                "it is larger than the gateway takes ({} MB)",
                limit / (1024 * 1024)
            )),
            BodyError::Cut(why) => FetchError::Retry(why),
        })?;
    let expected = media.sha256.as_deref().or(info.sha256.as_deref());
    if let Some(expected) = expected {
        let got = Sha256::digest(&bytes);
        match digest_matches(expected, &got) {
            Some(true) => {}
            Some(false) => {
                return Err(FetchError::Retry(format!(
                    "the downloaded bytes have another sha256 ({}) than WhatsApp gave ({expected})",
                    base64::engine::general_purpose::STANDARD.encode(got)
                )));
            }
            // A digest we cannot read says nothing about the file: keep the file
            // rather than lose the customer's photo over it.
            None => tracing::warn!(
                channel = connector.context.channel().as_str(),
                media = media.id,
                sha256 = expected,
                "WhatsApp gave a sha256 that is neither base64 nor hex; the file is kept unchecked"
            ),
        }
    }
    Ok(bytes)
}

/// Whether `given`, a SHA-256 digest as WhatsApp writes it (base64, standard or
/// URL-safe, padded or not; or hex), is `actual`. `None` when `given` is no
/// 32-byte digest in either encoding.
pub fn digest_matches(given: &str, actual: &[u8]) -> Option<bool> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    // 64 hex digits are also valid base64 (of 48 bytes), so hex is tried first.
    let decoded = if given.len() == 64 && given.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(given).ok()
    } else {
        let unpadded = given.trim_end_matches('=');
        STANDARD_NO_PAD
            .decode(unpadded)
            .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
            .ok()
    }?;
    (decoded.len() == 32).then(|| decoded == actual)
}

#[cfg(test)]
mod tests;
