//! Replies out: split into messages of at most 1,600 characters on word
//! boundaries, each counted in segments (what carriers bill), refused above the
//! channel's `max_segments`, and sent through the provider with a status callback.
//! Files go as MMS: the provider fetches them from the gateway at signed URLs that
//! expire (`/webhooks/<id>/media/<sha256>?type=...&expires=...&signature=...`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use switchboard_core::connector::{Draft, Outbound, OutboundAttachment, Receipt, SendError};
use switchboard_core::gateway::Concern;
use switchboard_core::model::Timestamp;
use switchboard_core::parts;
use switchboard_core::text;

use crate::inbound::OPTED_OUT;
use crate::{SendFailure, SmsConnector};

/// The longest message providers take; longer replies become several messages.
pub const MAX_MESSAGE_CHARS: usize = 1600;

/// GSM 03.38's basic character set: one septet each.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
    ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table: two septets each (an escape, then the character).
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{000C}";

/// How a text is encoded on the air and how many segments it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    /// GSM-7 (160 per segment, 153 when concatenated) or UCS-2 (70, 67).
    pub ucs2: bool,
    pub count: u32,
}

/// Segments of one message. A character is never split between two segments: an
/// extension character's escape stays with it, and so do both halves of a UTF-16
/// surrogate pair, as the carriers' encoders do.
pub fn segments(body: &str) -> Segments {
    let gsm = body
        .chars()
        .all(|c| GSM7_BASIC.contains(c) || GSM7_EXTENDED.contains(c));
    let width = |c: char| -> usize {
        if gsm {
            if GSM7_EXTENDED.contains(c) { 2 } else { 1 }
        } else {
            c.len_utf16()
        }
    };
    let (single, part) = if gsm { (160, 153) } else { (70, 67) };
    let total: usize = body.chars().map(width).sum();
    if total <= single {
        return Segments {
            ucs2: !gsm,
            count: 1,
        };
    }
    let (mut count, mut used) = (1, 0);
    for c in body.chars() {
        let w = width(c);
        if used + w > part {
            count += 1;
            used = 0;
        }
        used += w;
    }
    Segments { ucs2: !gsm, count }
}

/// The messages a reply becomes (one, possibly empty, when it is only files).
fn messages(text: &str) -> Vec<String> {
    let messages = text::split(text.trim(), MAX_MESSAGE_CHARS, |_| 1);
    if messages.is_empty() {
        vec![String::new()]
    } else {
        messages
    }
}

/// The most files one MMS carries.
const MMS_MAX_FILES: usize = 10;
/// The most bytes of files one MMS carries.
const MMS_MAX_BYTES: usize = 5 * 1024 * 1024;
/// How long a media URL works: the provider fetches at once and retries for a while.
const MEDIA_URL_LIFETIME_MS: i64 = 24 * 3600 * 1000;
/// The file types carriers take in MMS (Twilio's accepted content types).
const MMS_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/bmp",
    "image/webp",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/amr",
    "video/mp4",
    "video/3gpp",
    "text/vcard",
    "text/plain",
    "application/pdf",
];

/// The MMS type a content type is, as a static string for the answer that serves it.
pub(crate) fn mms_type(content_type: &str) -> Option<&'static str> {
    MMS_TYPES
        .iter()
        .copied()
        .find(|t| t.eq_ignore_ascii_case(content_type))
}

fn media_signature(key: &[u8], sha256: &str, content_type: &str, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{sha256}\n{content_type}\n{expires}").as_bytes());
    mac
}

/// The signed URL the provider fetches a reply's file from.
fn media_url(connector: &SmsConnector, file: &OutboundAttachment, now: Timestamp) -> String {
    let sha256 = hex::encode(Sha256::digest(&file.bytes));
    let content_type = file.content_type.to_ascii_lowercase();
    let expires = now.0 + MEDIA_URL_LIFETIME_MS;
    let signature = media_signature(
        connector.provider.signing_key(),
        &sha256,
        &content_type,
        expires,
    );
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("type", &content_type)
        .append_pair("expires", &expires.to_string())
        .append_pair("signature", &hex::encode(signature.finalize().into_bytes()))
        .finish();
    format!(
        "{}?{query}",
        connector.public_webhook_url(&format!("/media/{sha256}"))
    )
}

/// The file a media URL names (its SHA-256 and type), when its signature holds and
/// it has not expired.
pub(crate) fn check_media_url(
    connector: &SmsConnector,
    sha256: &str,
    query: &str,
    now: Timestamp,
) -> Result<(String, &'static str), String> {
    let (mut content_type, mut expires, mut signature) = (None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "type" => content_type = Some(value.into_owned()),
            "expires" => expires = value.parse::<i64>().ok(),
            "signature" => signature = hex::decode(value.as_bytes()).ok(),
            _ => {}
        }
    }
    let (Some(content_type), Some(expires), Some(signature)) = (content_type, expires, signature)
    else {
        return Err("the media URL lacks its type, expiry or signature".into());
    };
    media_signature(
        connector.provider.signing_key(),
        sha256,
        &content_type,
        expires,
    )
    .verify_slice(&signature)
    .map_err(|_| "the media URL's signature does not match".to_owned())?;
    if expires < now.0 {
        return Err("the media URL has expired".into());
    }
    let served = mms_type(&content_type).ok_or("not a type MMS carries")?;
    Ok((sha256.to_owned(), served))
}

/// Refuses files MMS cannot carry, before any part goes out.
fn check_files(files: &[OutboundAttachment]) -> Result<(), SendError> {
    if let Some(file) = files.iter().find(|f| mms_type(&f.content_type).is_none()) {
        return Err(SendError::permanent(format!(
            "{} is {}, which MMS does not carry (images, audio, video, vCard, PDF or plain text)",
            file.filename, file.content_type
        )));
    }
    let total: usize = files.iter().map(|f| f.bytes.len()).sum();
    if total > MMS_MAX_BYTES {
        return Err(SendError::permanent(format!(
            "the files take {:.1} MB; one MMS carries at most 5 MB",
            total as f64 / 1_048_576.0
        )));
    }
    Ok(())
}

/// Segments of a whole reply.
fn total_segments(text: &str) -> u32 {
    messages(text).iter().map(|m| segments(m).count).sum()
}

/// Segments still to send (rate-limit tokens): the parts an earlier attempt sent
/// are not counted again.
pub(crate) fn remaining_segments(outbound: &Outbound) -> u32 {
    let done = parts::Progress::of(outbound).done;
    messages(&outbound.text)
        .iter()
        .skip(done)
        .map(|m| segments(m).count)
        .sum()
}

/// Why a reply cannot go out by SMS, before it is queued.
pub(crate) fn refusal(connector: &SmsConnector, draft: Draft<'_>) -> Option<String> {
    if draft.attachments > MMS_MAX_FILES {
        return Some(format!(
            "one MMS carries at most {MMS_MAX_FILES} files; this reply has {}",
            draft.attachments
        ));
    }
    let count = total_segments(draft.text);
    let max = connector.config.max_segments;
    (count > max).then(|| {
        let ucs2 = messages(draft.text).iter().any(|m| segments(m).ucs2);
        format!(
            "the reply would take {count} SMS segments; this channel allows at most {max} (max_segments): shorten it{}",
            if ucs2 {
                " (it has characters outside GSM-7, such as emoji, so each segment holds only 67)"
            } else {
                ""
            }
        )
    })
}

pub(crate) async fn send(
    connector: &SmsConnector,
    outbound: &Outbound,
) -> Result<Receipt, SendError> {
    // The dispatcher has checked `refusal` already.
    check_files(&outbound.attachments)?;
    let to = outbound
        .thread
        .recipient
        .as_ref()
        .map_or(outbound.thread.conversation.as_str(), |identity| {
            identity.address.as_str()
        });
    let callback = connector
        .config
        .status_callbacks
        .then(|| connector.public_webhook_url("/status"));
    let messages = messages(&outbound.text);
    let now = connector.context.now();
    let media: Vec<String> = outbound
        .attachments
        .iter()
        .map(|file| media_url(connector, file, now))
        .collect();
    let (messages, media, callback) = (&messages, &media, callback.as_deref());
    let mut receipt = parts::send(
        &connector.context,
        outbound,
        messages.len(),
        |index| async move {
            // The files go with the first message.
            let media = if index == 0 { &media[..] } else { &[] };
            connector
                .provider
                .send(to, &messages[index], media, callback)
                .await
                .map_err(|failure| failed(connector, to, failure))
        },
    )
    .await?;
    receipt.segments = Some(total_segments(&outbound.text));
    Ok(receipt)
}

/// What a provider's refusal means for the reply, and for the channel.
fn failed(connector: &SmsConnector, to: &str, failure: SendFailure) -> SendError {
    match failure {
        SendFailure::Retry {
            reason,
            retry_after,
        } => SendError::Retryable {
            reason,
            retry_after,
        },
        SendFailure::Permanent(reason) => SendError::permanent(reason),
        SendFailure::OptedOut(reason) => {
            mark_opted_out(connector, to);
            SendError::permanent(reason)
        }
        SendFailure::Credentials(reason) => {
            connector
                .context
                .report_problem(Concern::Sending, Some(&reason));
            SendError::permanent(reason)
        }
    }
}

/// Records, in the background, that the number opted out: the carrier said so.
pub(crate) fn mark_opted_out(connector: &SmsConnector, number: &str) {
    let Ok(identity) = switchboard_core::identity::Identity::phone(number) else {
        return;
    };
    let context = connector.context.clone();
    tokio::spawn(async move {
        if let Err(error) = context
            .set_unreachable(identity, Some(OPTED_OUT.to_owned()))
            .await
        {
            tracing::warn!(%error, "cannot record an SMS opt-out");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_gsm7_and_ucs2() {
        let gsm = |count| Segments { ucs2: false, count };
        let ucs2 = |count| Segments { ucs2: true, count };
        for (name, body, expected) in [
            ("empty", String::new(), gsm(1)),
            ("160 GSM-7", "a".repeat(160), gsm(1)),
            ("161 GSM-7", "a".repeat(161), gsm(2)),
            ("306 GSM-7", "a".repeat(306), gsm(2)),
            ("307 GSM-7", "a".repeat(307), gsm(3)),
            ("€ counts twice", format!("{}€", "a".repeat(158)), gsm(1)),
            ("€ over the edge", format!("{}€", "a".repeat(159)), gsm(2)),
            ("[ and ] count twice", "[]".repeat(40), gsm(1)),
            ("[ and ] over 160", "[]".repeat(41), gsm(2)),
            (
                "an escape pair is not split",
                format!("{}€{}", "a".repeat(152), "a".repeat(152)),
                gsm(3),
            ),
            (
                "á and ã are not GSM-7",
                "Olá, João! ¿Qué tal? Ñandú".into(),
                ucs2(1),
            ),
            ("Ü and é are GSM-7", "Über café".into(), gsm(1)),
            ("70 UCS-2", "é€ж".repeat(23) + "ж", ucs2(1)),
            ("71 UCS-2", "ж".repeat(71), ucs2(2)),
            ("134 UCS-2", "ж".repeat(134), ucs2(2)),
            ("135 UCS-2", "ж".repeat(135), ucs2(3)),
            (
                "one emoji makes it UCS-2",
                format!("{}😀", "a".repeat(60)),
                ucs2(1),
            ),
            (
                "an emoji is two units",
                format!("{}😀", "a".repeat(69)),
                ucs2(2),
            ),
            ("Chinese", "您好，我的提款还没有到账。".repeat(6), ucs2(2)),
            ("a backtick is not GSM-7", "`".into(), ucs2(1)),
        ] {
            assert_eq!(segments(&body), expected, "{name}");
        }
    }

    #[test]
    fn long_replies_become_messages_of_1600_characters() {
        let long = "word ".repeat(700);
        let parts = messages(&long);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_MESSAGE_CHARS));
        assert_eq!(parts.join(" "), long.trim());
        assert_eq!(total_segments(&long), 11 + 11 + 2);
    }
}
