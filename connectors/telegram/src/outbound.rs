//! Replies out: sendMessage into the customer's chat, quoting their latest message;
//! long texts split at natural boundaries; files by sendPhoto / sendDocument.
//!
//! A reply of several parts records after each part how far it got (the outbox
//! entry's progress), so a retry after a failure in the middle sends only the rest.

use std::time::Duration;

use switchboard_core::connector::{Outbound, OutboundAttachment, Receipt, SendError};
use switchboard_core::text;
use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::payloads::{SendDocumentSetters, SendMessageSetters, SendPhotoSetters};
use teloxide::prelude::*;
use teloxide::types::{
    InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId, ReplyParameters,
};

use crate::TelegramConnector;
use crate::inbound::telegram_identity;

/// Telegram's longest text, in UTF-16 code units.
pub const TEXT_LIMIT: usize = 4096;
/// Telegram's longest media caption, in UTF-16 code units.
pub const CAPTION_LIMIT: usize = 1024;
/// The largest photo sendPhoto takes; bigger images go as documents.
const PHOTO_LIMIT: usize = 10 * 1024 * 1024;
/// The largest file a bot may send.
const DOCUMENT_LIMIT: usize = 50 * 1024 * 1024;

/// One Telegram message of a reply.
#[derive(Debug, Clone)]
pub(crate) enum Part<'a> {
    Text(String),
    File {
        attachment: &'a OutboundAttachment,
        caption: Option<String>,
    },
}

/// How a reply goes out: its text as one caption when it fits on the first file,
/// otherwise as texts first (split at 4096), then the files.
pub(crate) fn plan(outbound: &Outbound) -> Vec<Part<'_>> {
    let text = outbound.text.trim();
    let fits_caption = text.encode_utf16().count() <= CAPTION_LIMIT;
    let mut parts = Vec::new();
    if outbound.attachments.is_empty() || !fits_caption {
        parts.extend(
            text::split(text, TEXT_LIMIT, text::utf16_units)
                .into_iter()
                .map(Part::Text),
        );
    }
    for (i, attachment) in outbound.attachments.iter().enumerate() {
        let caption = (i == 0 && fits_caption && !text.is_empty()).then(|| text.to_owned());
        parts.push(Part::File {
            attachment,
            caption,
        });
    }
    parts
}

pub(crate) async fn send(
    connector: &TelegramConnector,
    outbound: &Outbound,
) -> Result<Receipt, SendError> {
    let chat: i64 = outbound.thread.conversation.parse().map_err(|_| {
        SendError::permanent(format!(
            "conversation {:?} is not a Telegram chat id",
            outbound.thread.conversation
        ))
    })?;
    let parts = plan(outbound);
    let quote = connector
        .config
        .reply_to_customer
        .then(|| quoted_message(outbound, chat))
        .flatten();
    let parts = &parts;
    switchboard_core::parts::send(
        &connector.context,
        outbound,
        parts.len(),
        |index| async move {
            let part = &parts[index];
            let reply = if index == 0 { quote } else { None };
            // Buttons go under the last part, where the question is.
            let buttons = (index + 1 == parts.len())
                .then(|| keyboard(&outbound.choices))
                .flatten();
            let sent = match send_part(connector, chat, part, reply, buttons.clone()).await {
                Err(RequestError::Api(ApiError::MessageToReplyNotFound)) if reply.is_some() => {
                    // The customer deleted the message: answer without the quote.
                    send_part(connector, chat, part, None, buttons).await
                }
                other => other,
            };
            match sent {
                Ok(message) => Ok(format!("{chat}:{}", message.id.0)),
                Err(error) => Err(failure(connector, outbound, error).await),
            }
        },
    )
    .await
}

/// The customer's message a reply quotes: the latest one in this chat.
fn quoted_message(outbound: &Outbound, chat: i64) -> Option<i32> {
    let (reply_chat, id) = outbound.thread.reply_to.as_deref()?.split_once(':')?;
    if reply_chat.parse::<i64>().ok()? != chat {
        return None;
    }
    // Edits ("chat:id:edit:date") quote the message they changed.
    id.split(':').next()?.parse().ok()
}

/// An inline keyboard of the message's choices, in one row; a press comes back as a
/// callback query with the choice's id.
fn keyboard(choices: &[switchboard_core::helpdesk::flow::Choice]) -> Option<InlineKeyboardMarkup> {
    if choices.is_empty() {
        return None;
    }
    let row = choices
        .iter()
        .map(|c| InlineKeyboardButton::callback(c.label.clone(), c.id.clone()))
        .collect::<Vec<_>>();
    Some(InlineKeyboardMarkup::new(vec![row]))
}

async fn send_part(
    connector: &TelegramConnector,
    chat: i64,
    part: &Part<'_>,
    reply: Option<i32>,
    buttons: Option<InlineKeyboardMarkup>,
) -> Result<Message, RequestError> {
    let bot = &connector.bot;
    let chat = ChatId(chat);
    let quote = reply.map(|id| ReplyParameters::new(MessageId(id)));
    match part {
        Part::Text(text) => {
            let mut request = bot.send_message(chat, text.clone());
            if let Some(quote) = quote {
                request = request.reply_parameters(quote);
            }
            if let Some(buttons) = buttons {
                request = request.reply_markup(buttons);
            }
            request.await
        }
        Part::File {
            attachment,
            caption,
        } => {
            let file =
                InputFile::memory(attachment.bytes.clone()).file_name(attachment.filename.clone());
            if is_photo(attachment) {
                let mut request = bot.send_photo(chat, file);
                if let Some(caption) = caption {
                    request = request.caption(caption.clone());
                }
                if let Some(quote) = quote {
                    request = request.reply_parameters(quote);
                }
                request.await
            } else {
                let mut request = bot.send_document(chat, file);
                if let Some(caption) = caption {
                    request = request.caption(caption.clone());
                }
                if let Some(quote) = quote {
                    request = request.reply_parameters(quote);
                }
                request.await
            }
        }
    }
}

fn is_photo(attachment: &OutboundAttachment) -> bool {
    matches!(
        attachment.content_type.as_str(),
        "image/jpeg" | "image/png" | "image/webp"
    ) && attachment.bytes.len() <= PHOTO_LIMIT
}

/// Refuses, before any part goes out, what Telegram would refuse.
pub(crate) fn check(outbound: &Outbound) -> Result<(), SendError> {
    if let Some(big) = outbound
        .attachments
        .iter()
        .find(|a| a.bytes.len() > DOCUMENT_LIMIT)
    {
        return Err(SendError::permanent(format!(
            "attachment {} is {:.1} MB; Telegram bots can send files of at most 50 MB",
            big.filename,
            big.bytes.len() as f64 / 1_048_576.0
        )));
    }
    Ok(())
}

/// What a failed Bot API call means for the reply, and what it says about the
/// customer (a blocked bot marks their Telegram identity unreachable).
async fn failure(
    connector: &TelegramConnector,
    outbound: &Outbound,
    error: RequestError,
) -> SendError {
    let error = classify(error);
    if let SendError::Permanent { reason } = &error
        && (reason == BLOCKED || reason == DEACTIVATED)
    {
        let identity = outbound.thread.recipient.clone().or_else(|| {
            // In a private chat the chat id is the user id.
            let chat: u64 = outbound.thread.conversation.parse().ok()?;
            Some(telegram_identity(chat))
        });
        if let Some(identity) = identity
            && let Err(e) = connector
                .context
                .set_unreachable(identity, Some(reason.clone()))
                .await
        {
            tracing::warn!(error = %e, "cannot mark the customer unreachable");
        }
    }
    error
}

pub(crate) const BLOCKED: &str = "customer blocked the bot";
const DEACTIVATED: &str = "the customer's Telegram account was deleted";

/// Maps a Bot API failure to retry-or-not with a reason an agent can act on.
pub(crate) fn classify(error: RequestError) -> SendError {
    match error {
        RequestError::RetryAfter(wait) => SendError::Retryable {
            reason: format!("Telegram rate limit: retry after {} s", wait.seconds()),
            retry_after: Some(wait.duration()),
        },
        RequestError::MigrateToChatId(new) => SendError::permanent(format!(
            "the group became a supergroup (chat {}); the customer's next message there starts a new conversation",
            new.0
        )),
        RequestError::Api(api) => match api {
            ApiError::BotBlocked => SendError::permanent(BLOCKED),
            ApiError::UserDeactivated => SendError::permanent(DEACTIVATED),
            ApiError::ChatNotFound => {
                SendError::permanent("chat not found: the bot cannot write to this chat")
            }
            ApiError::CantInitiateConversation => {
                SendError::permanent("the customer has not started a chat with the bot")
            }
            ApiError::BotKicked | ApiError::BotKickedFromSupergroup => {
                SendError::permanent("the bot was removed from the group")
            }
            ApiError::InvalidToken => SendError::permanent(
                "Telegram rejected the bot token (Unauthorized): check the channel's token",
            ),
            ApiError::Unknown(description) => unknown(description),
            other => SendError::permanent(format!("Telegram refused the message: {other}")),
        },
        RequestError::Network(e) => SendError::retryable(format!("cannot reach Telegram: {e}")),
        RequestError::InvalidJson { .. } => {
            SendError::retryable("Telegram answered with something that is not Bot API JSON")
        }
        RequestError::Io(e) => SendError::retryable(format!("I/O error: {e}")),
    }
}

/// A description teloxide has no name for. Telegram's client errors start with the
/// status text ("Bad Request: ...", "Forbidden: ..."); anything else (server errors,
/// a proxy in the way) is worth trying again.
fn unknown(description: String) -> SendError {
    const CLIENT_ERRORS: &[&str] = &[
        "Bad Request",
        "Forbidden",
        "Unauthorized",
        "Not Found",
        "Conflict",
    ];
    if CLIENT_ERRORS.iter().any(|p| description.starts_with(p)) {
        SendError::permanent(format!("Telegram refused the message: {description}"))
    } else if description.starts_with("Too Many Requests") {
        SendError::Retryable {
            reason: format!("Telegram rate limit: {description}"),
            retry_after: Some(Duration::from_secs(5)),
        }
    } else {
        SendError::retryable(format!("Telegram failed: {description}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use switchboard_core::connector::ThreadContext;

    fn outbound(text: &str, files: &[(&str, &str)]) -> Outbound {
        Outbound {
            message_id: 1,
            text: text.into(),
            attachments: files
                .iter()
                .map(|(name, kind)| OutboundAttachment {
                    filename: (*name).into(),
                    content_type: (*kind).into(),
                    bytes: Bytes::from_static(b"x"),
                })
                .collect(),
            thread: ThreadContext {
                ticket_id: 1,
                ticket_reference: "SB-TEST01".into(),
                channel: "telegram".into(),
                conversation: "42".into(),
                recipient: None,
                recipient_unreachable: None,
                reply_to: Some("42:7".into()),
                references: Vec::new(),
                subject: None,
                last_inbound_at: None,
            },
            attempt: 1,
            progress: None,
            choices: Vec::new(),
        }
    }

    #[test]
    fn a_short_text_with_files_is_the_first_files_caption() {
        let out = outbound(
            "Here is your statement",
            &[("a.pdf", "application/pdf"), ("b.png", "image/png")],
        );
        let parts = plan(&out);
        assert_eq!(parts.len(), 2);
        assert!(
            matches!(&parts[0], Part::File { caption: Some(c), .. } if c == "Here is your statement")
        );
        assert!(matches!(&parts[1], Part::File { caption: None, .. }));
    }

    #[test]
    fn a_long_text_goes_first_split_then_the_files() {
        let long = "word ".repeat(1000);
        let out = outbound(&long, &[("a.pdf", "application/pdf")]);
        let parts = plan(&out);
        assert_eq!(parts.len(), 3, "two texts and a file");
        assert!(matches!(&parts[0], Part::Text(t) if t.encode_utf16().count() <= TEXT_LIMIT));
        assert!(matches!(&parts[2], Part::File { caption: None, .. }));
    }

    #[test]
    fn replies_quote_the_latest_message_of_the_same_chat() {
        let mut out = outbound("hi", &[]);
        assert_eq!(quoted_message(&out, 42), Some(7));
        out.thread.reply_to = Some("42:9:edit:1700000000".into());
        assert_eq!(quoted_message(&out, 42), Some(9));
        out.thread.reply_to = Some("43:9".into());
        assert_eq!(quoted_message(&out, 42), None);
        out.thread.reply_to = Some("callback:123".into());
        assert_eq!(quoted_message(&out, 42), None);
    }

    #[test]
    fn errors_map_to_what_the_dispatcher_should_do() {
        use teloxide::types::Seconds;
        assert_eq!(
            classify(RequestError::RetryAfter(Seconds::from_seconds(5))),
            SendError::Retryable {
                reason: "Telegram rate limit: retry after 5 s".into(),
                retry_after: Some(Duration::from_secs(5)),
            }
        );
        assert_eq!(
            classify(RequestError::Api(ApiError::BotBlocked)),
            SendError::permanent(BLOCKED)
        );
        assert!(matches!(
            classify(RequestError::Api(ApiError::ChatNotFound)),
            SendError::Permanent { reason } if reason.starts_with("chat not found")
        ));
        assert!(matches!(
            classify(RequestError::Api(ApiError::Unknown(
                "Internal Server Error".into()
            ))),
            SendError::Retryable { .. }
        ));
        assert!(matches!(
            classify(RequestError::Api(ApiError::Unknown(
                "Bad Request: can't parse entities".into()
            ))),
            SendError::Permanent { .. }
        ));
    }
}
