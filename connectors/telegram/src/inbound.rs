//! Updates into normalized messages: what a Telegram update says, and the files it
//! carries, fetched through getFile.
//!
//! Ids: a message is `"{chat_id}:{message_id}"` (message ids are per chat); an edit
//! is `"{chat_id}:{message_id}:edit:{edit_date}"`, recorded against the original; a
//! button press is `"callback:{id}"`. The conversation is the chat, the sender the
//! Telegram user.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde_json::Value;
use switchboard_core::connector::{Inbound, InboundAttachment, Sender, ThreadHint};
use switchboard_core::download::{Transient, with_retries};
use switchboard_core::input;
use switchboard_core::text::append_line;
use switchboard_core::{Identity, IdentityKind};
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::{
    CallbackQuery, FileId, FileMeta, InlineKeyboardButtonKind, MaybeInaccessibleMessage,
    MessageKind, UpdateKind, User,
};

use crate::config::GroupMessages;

/// The most a bot may download through the Bot API.
pub const BOT_DOWNLOAD_LIMIT: u64 = 20 * 1024 * 1024;

/// The update types the gateway handles (for getUpdates and setWebhook).
pub const HANDLED_UPDATES: &[&str] = &["message", "edited_message", "callback_query"];

/// What an update asks of the gateway.
pub enum Parsed {
    Message(Box<Draft>),
    /// Acknowledged and counted, not stored; the label says why.
    Ignored(&'static str),
}

/// A message before its file is fetched.
pub struct Draft {
    pub inbound: Inbound,
    pub media: Option<Media>,
    /// A button press to acknowledge (answerCallbackQuery) once it is committed.
    pub callback_query_id: Option<String>,
}

/// A file a message carries, to be fetched with getFile.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    /// What the customer sent, for placeholders: "photo", "voice message", ...
    pub kind: &'static str,
    pub file_id: String,
    /// As Telegram announced it; 0 when it did not.
    pub size: u64,
    pub filename: String,
    pub content_type: String,
}

impl Media {
    /// A file as Telegram describes it: its own name, else `<stem>_<unique id><ext>`;
    /// its MIME type, else the usual one for the kind.
    fn of(
        (kind, stem, extension): (&'static str, &str, &str),
        file: &FileMeta,
        name: Option<&str>,
        mime: Option<String>,
        default_type: &str,
    ) -> Media {
        Media {
            kind,
            file_id: file.id.0.clone(),
            size: u64::from(file.size),
            filename: name.map_or_else(
                || format!("{stem}_{}{extension}", file.unique_id.0),
                str::to_owned,
            ),
            content_type: mime.map_or_else(
                || default_type.to_owned(),
                |m| input::media_type_or_binary(&m),
            ),
        }
    }
}

/// The bot itself, for telling whether a group message addresses it.
#[derive(Debug, Clone)]
pub struct BotIdentity {
    pub id: u64,
    /// Unknown while getMe fails and the config names none.
    pub username: Option<String>,
}

/// What getMe says of the bot, read by hand: only `id` and `username` matter here,
/// and typed parsers have refused answers that lacked fields the Bot API marks
/// optional (`has_main_web_app`).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Me {
    pub id: u64,
    pub username: String,
}

/// Calls getMe; the error says why it did not answer, without the token.
pub(crate) async fn get_me(bot: &Bot) -> Result<Me, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        ok: bool,
        result: Option<Me>,
        description: Option<String>,
    }
    let url = format!(
        "{}/bot{}/getMe",
        bot.api_url().as_str().trim_end_matches('/'),
        bot.token()
    );
    let response = bot
        .client()
        .post(url)
        .send()
        .await
        .map_err(|e| format!("cannot reach the Bot API: {}", e.without_url()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("the answer was cut off: {}", e.without_url()))?;
    let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
        format!("the Bot API answered {status} with what is not getMe's answer: {e}")
    })?;
    match (answer.ok, answer.result) {
        (true, Some(me)) => Ok(me),
        _ => Err(format!(
            "the Bot API answered {status}: {}",
            answer.description.as_deref().unwrap_or("no description")
        )),
    }
}

/// Whether parsing `update` needs to know the bot (a group message, when only the
/// ones addressing the bot are taken).
pub fn needs_bot_identity(update: &Update, groups: GroupMessages) -> bool {
    groups == GroupMessages::Addressed
        && matches!(&update.kind,
            UpdateKind::Message(m) | UpdateKind::EditedMessage(m) if !m.chat.is_private())
}

/// Turns one update into a message, or says why it is ignored. `raw` is the update
/// as received, for the messages teloxide's types cannot read.
pub fn parse(
    update: &Update,
    raw: &Value,
    bot: Option<&BotIdentity>,
    groups: GroupMessages,
) -> Parsed {
    let ignored_in_group = |message: &Message| {
        !message.chat.is_private()
            && groups == GroupMessages::Addressed
            && !bot.is_some_and(|bot| addresses(message, bot))
    };
    match &update.kind {
        UpdateKind::Message(message) | UpdateKind::EditedMessage(message)
            if ignored_in_group(message) =>
        {
            Parsed::Ignored("group_not_addressed")
        }
        UpdateKind::Message(message) => from_message(message, None),
        UpdateKind::EditedMessage(message) => {
            let original = message_id(message);
            from_message(message, Some(original))
        }
        UpdateKind::CallbackQuery(query) => from_callback(query),
        UpdateKind::Error(_) => from_raw(raw),
        UpdateKind::ChannelPost(_) | UpdateKind::EditedChannelPost(_) => {
            Parsed::Ignored("channel_post")
        }
        _ => Parsed::Ignored("unhandled_update_type"),
    }
}

fn message_id(message: &Message) -> String {
    format!("{}:{}", message.chat.id.0, message.id.0)
}

fn from_message(message: &Message, edit_of: Option<String>) -> Parsed {
    let Some(user) = &message.from else {
        // Anonymous group admins and channels writing in groups: no customer to
        // answer.
        return Parsed::Ignored("no_sender");
    };
    if user.is_bot {
        return Parsed::Ignored("bot_sender");
    }
    if !matches!(message.kind, MessageKind::Common(_)) {
        return Parsed::Ignored("service_message");
    }
    let (text, media) = content(message);
    if text.trim().is_empty() && media.is_none() {
        // Only spaces, or a photo with no sizes: nothing to keep, and answering
        // Telegram with an error would make it send the update again and again.
        return Parsed::Ignored("empty_message");
    }
    let external_id = match (&edit_of, message.edit_date()) {
        (Some(original), Some(at)) => format!("{original}:edit:{}", at.timestamp()),
        (Some(original), None) => format!("{original}:edit"),
        (None, _) => message_id(message),
    };
    let reply_to = message
        .reply_to_message()
        .map(|replied| format!("{}:{}", replied.chat.id.0, replied.id.0));
    Parsed::Message(Box::new(Draft {
        inbound: Inbound {
            external_id,
            sender: sender(user, message.chat.is_private()),
            conversation: message.chat.id.0.to_string(),
            thread: ThreadHint {
                reply_to,
                references: Vec::new(),
            },
            subject: None,
            text,
            html: None,
            attachments: Vec::new(),
            automatic: false,
            edit_of,
            group: message.media_group_id().map(|g| g.0.clone()),
            participants: Vec::new(),
            reply_by: None,
        },
        media,
        callback_query_id: None,
    }))
}

/// `private`: the message came in the user's private chat with the bot, which a user
/// who blocked the bot cannot write in.
fn sender(user: &User, private: bool) -> Sender {
    let mut name = user.first_name.trim().to_owned();
    if let Some(last) = user.last_name.as_deref().filter(|l| !l.trim().is_empty()) {
        name = format!("{name} {}", last.trim());
    }
    let display_name = match (&user.username, name.is_empty()) {
        (Some(username), true) => format!("@{username}"),
        (Some(username), false) => format!("{name} (@{username})"),
        (None, _) => name,
    };
    Sender {
        identity: telegram_identity(user.id.0),
        display_name: Some(display_name).filter(|n| !n.is_empty()),
        reachable: private,
    }
}

pub(crate) fn telegram_identity(user_id: u64) -> Identity {
    Identity::opaque(IdentityKind::Telegram, &user_id.to_string())
        .expect("a numeric id is a valid identity")
}

/// The message's text and its file, if it has one the gateway fetches.
fn content(message: &Message) -> (String, Option<Media>) {
    let mut text = message
        .text()
        .or_else(|| message.caption())
        .unwrap_or_default()
        .to_owned();
    let mime = |m: Option<&_>| m.map(ToString::to_string);
    let media = if let Some(sizes) = message.photo() {
        // Sizes come smallest first; the last is the original.
        sizes.last().map(|photo| {
            let kind = ("photo", "photo", ".jpg");
            Media::of(kind, &photo.file, None, None, "image/jpeg")
        })
    } else if let Some(d) = message.document() {
        let (kind, name) = (("document", "document", ""), d.file_name.as_deref());
        let media = Media::of(
            kind,
            &d.file,
            name,
            mime(d.mime_type.as_ref()),
            "application/octet-stream",
        );
        Some(media)
    } else if let Some(v) = message.voice() {
        let kind = ("voice message", "voice", ".ogg");
        Some(Media::of(
            kind,
            &v.file,
            None,
            mime(v.mime_type.as_ref()),
            "audio/ogg",
        ))
    } else if let Some(v) = message.video() {
        let (kind, name) = (("video", "video", ".mp4"), v.file_name.as_deref());
        Some(Media::of(
            kind,
            &v.file,
            name,
            mime(v.mime_type.as_ref()),
            "video/mp4",
        ))
    } else if let Some(a) = message.audio() {
        let (kind, name) = (("audio file", "audio", ".mp3"), a.file_name.as_deref());
        Some(Media::of(
            kind,
            &a.file,
            name,
            mime(a.mime_type.as_ref()),
            "audio/mpeg",
        ))
    } else if let Some(a) = message.animation() {
        let (kind, name) = (("animation", "animation", ".mp4"), a.file_name.as_deref());
        Some(Media::of(
            kind,
            &a.file,
            name,
            mime(a.mime_type.as_ref()),
            "video/mp4",
        ))
    } else if let Some(note) = message.video_note() {
        let kind = ("video message", "video_note", ".mp4");
        Some(Media::of(kind, &note.file, None, None, "video/mp4"))
    } else {
        if let Some(sticker) = message.sticker() {
            append_line(&mut text, sticker.emoji.as_deref().unwrap_or("[sticker]"));
        } else if let Some(venue) = message.venue() {
            append_line(
                &mut text,
                &format!(
                    "📍 {}, {}\n{}",
                    venue.title,
                    venue.address,
                    map_link(venue.location.latitude, venue.location.longitude)
                ),
            );
        } else if let Some(location) = message.location() {
            append_line(
                &mut text,
                &format!(
                    "📍 Location: {:.6}, {:.6}\n{}",
                    location.latitude,
                    location.longitude,
                    map_link(location.latitude, location.longitude)
                ),
            );
        } else if let Some(contact) = message.contact() {
            let name = [
                Some(contact.first_name.as_str()),
                contact.last_name.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            append_line(
                &mut text,
                &format!("👤 Contact: {name}, {}", contact.phone_number),
            );
        } else if let Some(poll) = message.poll() {
            append_line(&mut text, &format!("📊 Poll: {}", poll.question));
        } else if let Some(dice) = message.dice() {
            append_line(&mut text, &format!("🎲 {:?}: {}", dice.emoji, dice.value));
        } else if text.is_empty() {
            append_line(
                &mut text,
                "[a kind of Telegram message the gateway does not show; ask the customer to send it as text or a file]",
            );
        }
        None
    };
    (text, media)
}

fn map_link(latitude: f64, longitude: f64) -> String {
    format!(
        "https://www.openstreetmap.org/?mlat={latitude:.6}&mlon={longitude:.6}#map=17/{latitude:.6}/{longitude:.6}"
    )
}

/// Whether a group message is meant for the bot: it mentions the bot, replies to one
/// of the bot's messages, or is a command not aimed at another bot.
fn addresses(message: &Message, bot: &BotIdentity) -> bool {
    if message
        .reply_to_message()
        .and_then(|replied| replied.from.as_ref())
        .is_some_and(|from| from.id.0 == bot.id)
    {
        return true;
    }
    let text = message.text().or_else(|| message.caption()).unwrap_or("");
    let lower = text.to_lowercase();
    let mentioned = match &bot.username {
        Some(name) => lower.contains(&format!("@{}", name.to_lowercase())),
        // Every bot's username ends in "bot" (Telegram's rule): without ours, any
        // such mention counts, so that nothing meant for this bot is lost.
        None => lower
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '@'))
            .any(|word| word.len() > 4 && word.starts_with('@') && word.ends_with("bot")),
    };
    if mentioned {
        return true;
    }
    // "/help" goes to every bot of the group; "/help@other_bot" does not.
    let first_word = lower.split_whitespace().next().unwrap_or("");
    first_word.starts_with('/') && !first_word.contains('@')
}

fn from_callback(query: &CallbackQuery) -> Parsed {
    if query.from.is_bot {
        return Parsed::Ignored("bot_sender");
    }
    let data = query.data.clone().unwrap_or_default();
    let Some(message) = &query.message else {
        // Presses on inline-mode messages have no chat to answer in.
        return Parsed::Ignored("inline_callback");
    };
    let label = match message {
        MaybeInaccessibleMessage::Regular(m) => m.reply_markup().and_then(|markup| {
            markup.inline_keyboard.iter().flatten().find_map(|button| {
                matches!(&button.kind, InlineKeyboardButtonKind::CallbackData(d) if *d == data)
                    .then(|| button.text.clone())
            })
        }),
        MaybeInaccessibleMessage::Inaccessible(_) => None,
    };
    let text = match (label, data.is_empty()) {
        (Some(label), _) => format!("[button] {label}"),
        (None, false) => format!("[button] {data}"),
        (None, true) => "[button pressed]".to_owned(),
    };
    let chat = message.chat().id.0;
    Parsed::Message(Box::new(Draft {
        inbound: Inbound {
            external_id: format!("callback:{}", query.id.0),
            sender: sender(&query.from, message.chat().is_private()),
            conversation: chat.to_string(),
            thread: ThreadHint {
                // The bot's message with the buttons: the reply that asked.
                reply_to: Some(format!("{chat}:{}", message.id().0)),
                references: Vec::new(),
            },
            subject: None,
            text,
            html: None,
            attachments: Vec::new(),
            automatic: false,
            edit_of: None,
            group: None,
            participants: Vec::new(),
            reply_by: None,
        },
        media: None,
        callback_query_id: Some(query.id.0.clone()),
    }))
}

/// A message teloxide's types could not read (a field Telegram changed): the ids,
/// the sender and the text are enough to keep it, with a note for the agent.
fn from_raw(raw: &Value) -> Parsed {
    let (message, edited) = match (raw.get("message"), raw.get("edited_message")) {
        (Some(m), _) => (m, false),
        (None, Some(m)) => (m, true),
        // Neither: an update type this teloxide does not know.
        _ => return Parsed::Ignored("unhandled_update_type"),
    };
    let field = |path: &[&str]| path.iter().try_fold(message, |v, key| v.get(key));
    let (Some(chat), Some(id), Some(user)) = (
        field(&["chat", "id"]).and_then(Value::as_i64),
        field(&["message_id"]).and_then(Value::as_i64),
        field(&["from", "id"]).and_then(Value::as_u64),
    ) else {
        return Parsed::Ignored("unreadable");
    };
    if field(&["from", "is_bot"]).and_then(Value::as_bool) == Some(true) {
        return Parsed::Ignored("bot_sender");
    }
    let chat_type = field(&["chat", "type"]).and_then(Value::as_str);
    if chat_type != Some("private") {
        // Whether it addresses the bot cannot be told safely.
        return Parsed::Ignored("unreadable");
    }
    let text = field(&["text"])
        .or_else(|| field(&["caption"]))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let note = "[this Telegram message had content the gateway could not read]";
    let text = if text.is_empty() {
        note.to_owned()
    } else {
        format!("{text}\n{note}")
    };
    let first_name = field(&["from", "first_name"]).and_then(Value::as_str);
    let username = field(&["from", "username"]).and_then(Value::as_str);
    let original = format!("{chat}:{id}");
    let edit_date = field(&["edit_date"]).and_then(Value::as_i64).unwrap_or(0);
    Parsed::Message(Box::new(Draft {
        inbound: Inbound {
            external_id: if edited {
                format!("{original}:edit:{edit_date}")
            } else {
                original.clone()
            },
            sender: Sender {
                identity: telegram_identity(user),
                display_name: first_name.or(username).map(str::to_owned),
                reachable: true,
            },
            conversation: chat.to_string(),
            thread: ThreadHint::default(),
            subject: None,
            text,
            html: None,
            attachments: Vec::new(),
            automatic: false,
            edit_of: edited.then_some(original),
            group: None,
            participants: Vec::new(),
            reply_by: None,
        },
        media: None,
        callback_query_id: None,
    }))
}

/// Why a file could not be fetched.
#[derive(Debug)]
pub enum FetchError {
    /// Over what the bot or the gateway may take; the size when known.
    TooBig(u64),
    Failed(String),
}

/// Downloads a file through getFile and the file URL, up to `limit` bytes, trying
/// again after network failures.
pub(crate) async fn fetch(bot: &Bot, media: &Media, limit: u64) -> Result<Bytes, FetchError> {
    if media.size > limit {
        return Err(FetchError::TooBig(media.size));
    }
    with_retries(3, Duration::from_millis(300), || {
        fetch_once(bot, media, limit)
    })
    .await
}

impl Transient for FetchError {
    fn transient(&self) -> bool {
        matches!(self, FetchError::Failed(_))
    }
}

async fn fetch_once(bot: &Bot, media: &Media, limit: u64) -> Result<Bytes, FetchError> {
    let file = bot
        .get_file(FileId(media.file_id.clone()))
        .await
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("file is too big") {
                FetchError::TooBig(media.size)
            } else {
                FetchError::Failed(format!("getFile: {text}"))
            }
        })?;
    if u64::from(file.meta.size) > limit {
        return Err(FetchError::TooBig(u64::from(file.meta.size)));
    }
    let mut stream = bot.download_file_stream(&file.path);
    let mut bytes = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| FetchError::Failed(format!("download: {e}")))?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > limit {
            return Err(FetchError::TooBig(bytes.len() as u64));
        }
    }
    Ok(bytes.freeze())
}

/// Puts a fetched file on the message, or a note that says what the customer sent
/// and why it is not there.
pub fn attach(inbound: &mut Inbound, media: Media, fetched: Result<Bytes, FetchError>) {
    let note = match fetched {
        Ok(bytes) => {
            inbound.attachments.push(InboundAttachment {
                filename: media.filename,
                content_type: media.content_type,
                bytes,
            });
            return;
        }
        Err(FetchError::TooBig(size)) => format!(
            "[{} {}{}: larger than the gateway can fetch from Telegram (bots may download at most 20 MB); ask the customer to send it another way]",
            media.kind,
            media.filename,
            if size > 0 {
                format!(", {:.1} MB", size as f64 / 1_048_576.0)
            } else {
                String::new()
            }
        ),
        Err(FetchError::Failed(reason)) => format!(
            "[{} {} could not be downloaded from Telegram: {reason}]",
            media.kind, media.filename
        ),
    };
    append_line(&mut inbound.text, &note);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOT: u64 = 7_000_000_001;

    fn bot() -> BotIdentity {
        BotIdentity {
            id: BOT,
            username: Some("Support_Bot".into()),
        }
    }

    fn group_update(kind: &str, fields: Value) -> (Update, Value) {
        let mut message = json!({
            "message_id": 9, "date": 1_763_800_000,
            "chat": {"id": -100_200, "type": "supergroup", "title": "Traders"},
            "from": {"id": 42, "is_bot": false, "first_name": "Ana"},
        });
        message
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let raw = json!({"update_id": 1, kind: message});
        (serde_json::from_str(&raw.to_string()).unwrap(), raw)
    }

    fn stored(kind: &str, fields: Value) -> bool {
        let (update, raw) = group_update(kind, fields);
        assert!(needs_bot_identity(&update, GroupMessages::Addressed));
        matches!(
            parse(&update, &raw, Some(&bot()), GroupMessages::Addressed),
            Parsed::Message(_)
        )
    }

    #[test]
    fn group_messages_count_only_when_they_address_the_bot() {
        assert!(stored("message", json!({"text": "hey @support_bot, help"})));
        assert!(stored("message", json!({"text": "/start"})));
        assert!(!stored("message", json!({"text": "/start@other_bot"})));
        assert!(!stored("message", json!({"text": "who has news?"})));
        assert!(stored(
            "message",
            json!({"text": "thanks", "reply_to_message": {
                "message_id": 3, "date": 1_763_800_000,
                "chat": {"id": -100_200, "type": "supergroup", "title": "Traders"},
                "from": {"id": BOT, "is_bot": true, "first_name": "Support"}, "text": "Done"}})
        ));
        // An edit of a group message that was never for the bot stays ignored.
        assert!(!stored(
            "edited_message",
            json!({"text": "who has news??", "edit_date": 1_763_800_100})
        ));
    }

    #[test]
    fn without_the_username_any_bot_mention_counts_and_nothing_is_refused() {
        let unknown = BotIdentity {
            id: BOT,
            username: None,
        };
        let taken = |text: &str| {
            let (update, raw) = group_update("message", json!({"text": text}));
            matches!(
                parse(&update, &raw, Some(&unknown), GroupMessages::Addressed),
                Parsed::Message(_)
            )
        };
        assert!(taken("hey @Support_Bot, help"));
        assert!(taken("@whichever_bot?"));
        assert!(taken("/start"));
        assert!(!taken("who has news?"));
        assert!(!taken("mail me at ana@robot.example or @ana"));
    }

    #[test]
    fn a_message_with_nothing_in_it_is_ignored_not_refused() {
        for fields in [json!({"text": "   "}), json!({"photo": []})] {
            let (update, raw) = group_update("message", fields.clone());
            assert!(
                matches!(
                    parse(&update, &raw, None, GroupMessages::All),
                    Parsed::Ignored("empty_message")
                ),
                "{fields}"
            );
        }
    }

    #[test]
    fn all_group_messages_when_configured() {
        let (update, raw) = group_update("message", json!({"text": "who has news?"}));
        assert!(!needs_bot_identity(&update, GroupMessages::All));
        assert!(matches!(
            parse(&update, &raw, None, GroupMessages::All),
            Parsed::Message(_)
        ));
    }

    #[test]
    fn a_message_teloxide_cannot_read_is_kept_with_a_note() {
        // A field whose type changed (here `date`): teloxide's types refuse the message.
        let raw = json!({"update_id": 5, "message": {
            "message_id": 3, "date": "2026-11-22T10:00:00Z", "text": "my order 123",
            "chat": {"id": 42, "type": "private", "first_name": "Ana"},
            "from": {"id": 42, "is_bot": false, "first_name": "Ana"}}});
        let update: Update = serde_json::from_str(&raw.to_string()).unwrap();
        assert!(matches!(update.kind, UpdateKind::Error(_)));
        let Parsed::Message(draft) = parse(&update, &raw, None, GroupMessages::Addressed) else {
            panic!("dropped");
        };
        assert_eq!(draft.inbound.external_id, "42:3");
        assert!(draft.inbound.text.starts_with("my order 123\n["));
    }

    #[test]
    fn a_file_over_the_limit_becomes_a_note_not_a_failure() {
        let (update, raw) = group_update("message", json!({"text": "/start"}));
        let Parsed::Message(mut draft) =
            parse(&update, &raw, Some(&bot()), GroupMessages::Addressed)
        else {
            panic!("dropped");
        };
        let media = Media {
            kind: "document",
            file_id: "x".into(),
            size: 30 << 20,
            filename: "scan.pdf".into(),
            content_type: "application/pdf".into(),
        };
        attach(&mut draft.inbound, media, Err(FetchError::TooBig(30 << 20)));
        assert!(draft.inbound.attachments.is_empty());
        assert!(
            draft
                .inbound
                .text
                .contains("[document scan.pdf, 30.0 MB: larger than"),
            "{}",
            draft.inbound.text
        );
    }
}
