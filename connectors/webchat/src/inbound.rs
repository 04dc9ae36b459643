//! A customer's `message` frame into the core's [`Inbound`]: checked, with the
//! session's name and email and the files it refers to.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchboard_core::connector::{Inbound, InboundAttachment, ReplyRoute, Sender, ThreadHint};
use switchboard_core::identity::Identity;

use crate::WebchatConnector;
use crate::session::Session;

/// A file a customer uploaded, as the upload's token describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    #[serde(rename = "c")]
    pub conversation: String,
    #[serde(rename = "h")]
    pub sha256: String,
    #[serde(rename = "n")]
    pub filename: String,
    #[serde(rename = "t")]
    pub content_type: String,
    #[serde(rename = "s")]
    pub size: usize,
}

/// Why a message frame was refused: an `error` frame's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub &'static str, pub String);

/// The longest client message id.
const MAX_CLIENT_ID: usize = 64;

/// The store key of a customer message: the conversation and the widget's id, so
/// that a resend after a reconnect is a duplicate.
pub fn external_id(conversation: &str, client_id: &str) -> String {
    format!("{conversation}/{client_id}")
}

/// The widget's id back from a stored customer message's key.
pub fn client_id<'a>(conversation: &str, external_id: &'a str) -> Option<&'a str> {
    external_id
        .strip_prefix(conversation)
        .and_then(|rest| rest.strip_prefix('/'))
}

pub fn check_client_id(id: &str) -> Result<(), Refused> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CLIENT_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Refused(
            "invalid_message",
            format!("id must be 1 to {MAX_CLIENT_ID} letters, digits, '-' or '_'"),
        ))
    }
}

impl WebchatConnector {
    /// Where replies to a message go when it is written now: by email, when the
    /// channel continues chats by email, nobody can answer (no agent online, or
    /// outside the hours), and the customer gave an address.
    pub(crate) fn email_route(&self, session: &Session) -> Option<ReplyRoute> {
        let channel = self.config.continue_by_email.clone()?;
        if self.availability().answering() {
            return None;
        }
        let identity = Identity::email(session.email.as_deref()?).ok()?;
        Some(ReplyRoute { channel, identity })
    }

    /// The upload token for a stored file.
    pub(crate) fn upload_token(&self, upload: &Upload) -> String {
        let claims = serde_json::to_vec(upload).expect("uploads serialize");
        self.signer.sign_bytes("upload", &claims)
    }

    fn upload(&self, token: &str, conversation: &str) -> Result<Upload, Refused> {
        let refused = || {
            Refused(
                "invalid_attachment",
                "an attachment is not an upload of this conversation".into(),
            )
        };
        let claims = self
            .signer
            .verify_bytes("upload", token)
            .ok_or_else(refused)?;
        let upload: Upload = serde_json::from_slice(&claims).map_err(|_| refused())?;
        if upload.conversation != conversation {
            return Err(refused());
        }
        Ok(upload)
    }

    /// The message as the core takes it. `topic` becomes the subject of the ticket
    /// it starts; `reply_by` sends the replies elsewhere (by email).
    pub(crate) async fn inbound(
        &self,
        session: &Session,
        client_id: &str,
        text: String,
        uploads: &[String],
        topic: Option<String>,
        reply_by: Option<ReplyRoute>,
    ) -> Result<Inbound, Refused> {
        check_client_id(client_id)?;
        let chars = text.chars().count();
        let max = self.config.max_message_chars;
        if chars > max {
            return Err(Refused(
                "too_long",
                format!("the message is {chars} characters; the limit is {max}"),
            ));
        }
        if text.trim().is_empty() && uploads.is_empty() {
            return Err(Refused(
                "invalid_message",
                "a message needs text or a file".into(),
            ));
        }
        let most = self.context.max_attachments();
        if uploads.len() > most {
            return Err(Refused(
                "invalid_message",
                format!("a message may carry at most {most} files"),
            ));
        }
        let mut attachments = Vec::with_capacity(uploads.len());
        for token in uploads {
            let upload = self.upload(token, &session.conversation)?;
            let bytes: Bytes = self.context.attachment(&upload.sha256).await.map_err(|_| {
                Refused(
                    "invalid_attachment",
                    format!(
                        "the file {:?} is no longer here; upload it again",
                        upload.filename
                    ),
                )
            })?;
            attachments.push(InboundAttachment {
                filename: upload.filename,
                content_type: upload.content_type,
                bytes,
            });
        }
        let channel = self.context.channel().as_str();
        // The address the customer gave is the ticket's too: their answers by email
        // (the reference in the subject) land in it.
        let participants = session
            .email
            .as_deref()
            .and_then(|email| Identity::email(email).ok())
            .map(|identity| Sender {
                identity,
                display_name: session.name.clone(),
                reachable: false,
            })
            .into_iter()
            .collect();
        Ok(Inbound {
            external_id: external_id(&session.conversation, client_id),
            sender: Sender {
                identity: Identity::webchat(channel, &session.conversation),
                display_name: Some(display_name(session)),
                reachable: true,
            },
            conversation: session.conversation.clone(),
            thread: ThreadHint::default(),
            subject: topic,
            text,
            html: None,
            attachments,
            automatic: false,
            edit_of: None,
            group: None,
            participants,
            reply_by,
        })
    }
}

/// The name agents see: what the customer gave, or for an anonymous visitor a short
/// tag of their session ("Visitor 5XBXAR"), which tells two visitors apart.
pub fn display_name(session: &Session) -> String {
    if let Some(name) = &session.name {
        return name.clone();
    }
    let tag: String = session
        .conversation
        .trim_start_matches("v:")
        .trim_start_matches("u:")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(6)
        .collect::<String>()
        .to_uppercase();
    format!("Visitor {tag}")
}

/// A filename as the customer's browser sent it (percent-encoded UTF-8), cut to
/// what is safe to store and show.
pub fn filename(raw: Option<&str>) -> String {
    let decoded = raw
        .map(percent_decode)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
        .take(200)
        .collect::<String>();
    let trimmed = decoded.trim().trim_start_matches('.');
    if trimmed.is_empty() {
        "file".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = raw.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_round_trip_through_the_store_key() {
        let key = external_id("v:abc", "m-1");
        assert_eq!(client_id("v:abc", &key), Some("m-1"));
        assert_eq!(client_id("v:abd", &key), None);
    }

    #[test]
    fn client_ids_are_short_plain_words() {
        assert!(check_client_id("a1_-Z").is_ok());
        for bad in ["", "has space", "ü", &"x".repeat(65), "a/b"] {
            assert!(check_client_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn anonymous_visitors_get_a_short_tag() {
        let session = |name: Option<&str>| Session {
            conversation: "v:YSjv-qxe0yi5".into(),
            expires: 0,
            name: name.map(str::to_owned),
            email: None,
        };
        assert_eq!(display_name(&session(None)), "Visitor YSJVQX");
        assert_eq!(display_name(&session(Some("Ana"))), "Ana");
    }

    #[test]
    fn filenames_lose_paths_and_controls() {
        assert_eq!(filename(Some("r%C3%A9sum%C3%A9.pdf")), "résumé.pdf");
        assert_eq!(filename(Some("..%2F..%2Fetc%2Fpasswd")), "etcpasswd");
        assert_eq!(filename(Some("a%0Ab.png")), "ab.png");
        assert_eq!(filename(None), "file");
        assert_eq!(filename(Some("%zz")), "%zz");
    }
}
