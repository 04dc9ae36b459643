//! Received texts into normalized messages: the sender's number as an E.164 phone
//! identity (the same contact as that number on WhatsApp), MMS files downloaded,
//! and the carrier keywords: STOP and its synonyms opt the number out of this
//! channel, START opts it back in, HELP is noted.

use std::time::Duration;

use switchboard_core::connector::{Inbound, InboundAttachment, Sender, ThreadHint};
use switchboard_core::download::with_retries;
use switchboard_core::gateway::Concern;
use switchboard_core::identity::Identity;

use switchboard_core::text::append_line;

use crate::{ReceivedSms, SmsConnector};

/// What a one-word text asks of the sender's carrier relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
    Help,
}

/// The standard keywords (CTIA; what Twilio itself answers on long codes).
pub fn keyword(body: &str) -> Option<Keyword> {
    let word = body
        .trim()
        .trim_end_matches(['.', '!'])
        .to_ascii_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "REVOKE" | "OPTOUT" => {
            Some(Keyword::OptOut)
        }
        "START" | "YES" | "UNSTOP" => Some(Keyword::OptIn),
        "HELP" | "INFO" => Some(Keyword::Help),
        _ => None,
    }
}

/// Why a number is unreachable after it texted STOP.
pub const OPTED_OUT: &str =
    "opted out of SMS (texted STOP); they must text START to receive messages again";

/// How many times an MMS file is tried before the message keeps a note instead.
const MEDIA_ATTEMPTS: u32 = 3;

/// The normalized message and the keyword it carries. `None` when the sender is
/// not a phone number (an alphanumeric sender id or a short code cannot be answered).
pub fn normalize(sms: &ReceivedSms) -> Result<(Inbound, Option<Keyword>), String> {
    let identity = Identity::phone(&sms.from).map_err(|e| e.to_string())?;
    let keyword = keyword(&sms.body);
    let note = match keyword {
        Some(Keyword::OptOut) => Some(
            "[the customer opted out of SMS: replies by SMS are refused until they text START]",
        ),
        Some(Keyword::OptIn) => Some("[the customer opted back in to SMS]"),
        Some(Keyword::Help) => Some("[the customer texted HELP]"),
        None => None,
    };
    let text = match note {
        Some(note) => format!("{}\n{note}", sms.body.trim()),
        None => sms.body.clone(),
    };
    let conversation = identity.address.clone();
    Ok((
        Inbound {
            external_id: sms.id.clone(),
            sender: Sender {
                identity,
                display_name: None,
                // A text after STOP does not opt back in: only START does.
                reachable: keyword == Some(Keyword::OptIn),
            },
            conversation,
            thread: ThreadHint::default(),
            subject: None,
            text,
            html: None,
            attachments: Vec::new(),
            // Keywords are for the carrier, not the agents: never reopen a ticket.
            automatic: keyword.is_some(),
            edit_of: None,
            group: None,
            participants: Vec::new(),
            reply_by: None,
        },
        keyword,
    ))
}

/// Downloads the MMS files onto the message; what cannot be fetched is said in the
/// text instead.
pub(crate) async fn attach_media(
    connector: &SmsConnector,
    sms: &ReceivedSms,
    inbound: &mut Inbound,
) {
    let limit = connector.context.max_attachment_bytes();
    for (n, (url, content_type)) in sms.media.iter().enumerate() {
        let outcome = with_retries(MEDIA_ATTEMPTS, Duration::from_millis(200), || {
            connector.provider.download(url, limit)
        })
        .await;
        let filename = format!("mms-{}.{}", n + 1, extension(content_type));
        match outcome {
            Ok(bytes) => {
                connector.context.report_problem(Concern::Media, None);
                inbound.attachments.push(InboundAttachment {
                    filename,
                    content_type: content_type.clone(),
                    bytes,
                });
            }
            Err(error) => {
                let why = error.reason();
                tracing::warn!(channel = connector.context.channel().as_str(), url, %why, "MMS file not fetched");
                connector.context.report_problem(
                    Concern::Media,
                    Some(&format!(
                        "an MMS file could not be fetched from the provider: {why}"
                    )),
                );
                append_line(
                    &mut inbound.text,
                    &format!("[{filename} could not be fetched: {why}]"),
                );
            }
        }
    }
    if inbound.text.trim().is_empty() && inbound.attachments.is_empty() {
        inbound.text = "[an empty text message]".into();
    }
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "audio/amr" => "amr",
        "audio/mpeg" => "mp3",
        "text/vcard" | "text/x-vcard" => "vcf",
        "application/pdf" => "pdf",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_whole_texts_in_any_case() {
        for (body, expected) in [
            ("STOP", Some(Keyword::OptOut)),
            (" stop ", Some(Keyword::OptOut)),
            ("Unsubscribe.", Some(Keyword::OptOut)),
            ("stopall", Some(Keyword::OptOut)),
            ("cancel", Some(Keyword::OptOut)),
            ("END", Some(Keyword::OptOut)),
            ("quit", Some(Keyword::OptOut)),
            ("REVOKE", Some(Keyword::OptOut)),
            ("optout", Some(Keyword::OptOut)),
            ("Start", Some(Keyword::OptIn)),
            ("YES", Some(Keyword::OptIn)),
            ("unstop", Some(Keyword::OptIn)),
            ("help", Some(Keyword::Help)),
            ("Please stop the transfer", None),
            ("STOP IT", None),
            ("", None),
        ] {
            assert_eq!(keyword(body), expected, "{body:?}");
        }
    }

    #[test]
    fn a_text_becomes_a_message_from_the_phone_number() {
        let sms = ReceivedSms {
            id: "SM0123".into(),
            from: "+14155550100".into(),
            body: "My card was declined".into(),
            media: Vec::new(),
        };
        let (inbound, keyword) = normalize(&sms).unwrap();
        assert_eq!(keyword, None);
        assert_eq!(inbound.sender.identity.address, "+14155550100");
        assert_eq!(inbound.conversation, "+14155550100");
        assert_eq!(inbound.external_id, "SM0123");
        assert!(!inbound.sender.reachable && !inbound.automatic);

        let stop = ReceivedSms {
            body: "stop".into(),
            ..sms.clone()
        };
        let (inbound, keyword) = normalize(&stop).unwrap();
        assert_eq!(keyword, Some(Keyword::OptOut));
        assert!(inbound.automatic);
        assert!(inbound.text.starts_with("stop\n[the customer opted out"));
        let start = ReceivedSms {
            body: "START".into(),
            ..sms.clone()
        };
        assert!(normalize(&start).unwrap().0.sender.reachable);

        let short_code = ReceivedSms {
            from: "72345".into(),
            ..sms
        };
        assert!(normalize(&short_code).is_err());
    }
}
