//! The message format other systems push, and its normalization into an
//! [`Inbound`]. Unknown fields are refused, so a misspelt field is an error the
//! integrator sees rather than data silently lost.

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use switchboard_core::connector::{Inbound, InboundAttachment, Sender, ThreadHint};
use switchboard_core::identity::Identity;
use switchboard_core::input;

/// `POST /webhooks/{channel_id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushedMessage {
    /// The pushing system's id for the message: resends with the same id are stored once.
    pub external_id: String,
    pub sender: PushedSender,
    /// The conversation the message belongs to; the sender's id when absent.
    #[serde(default)]
    pub conversation: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    /// The `external_id` of the message this one answers.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    #[serde(default)]
    pub attachments: Vec<PushedAttachment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushedSender {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A file: inline as base64 `data`, or a `url` the gateway fetches.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushedAttachment {
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// An attachment whose bytes are still to be decoded or fetched.
pub struct PendingAttachment {
    pub filename: String,
    pub content_type: String,
    pub source: AttachmentSource,
}

/// Where an attachment's bytes come from, once checked.
pub enum AttachmentSource {
    Inline(Bytes),
    Url(String),
}

/// A refusal of a pushed message, naming the field at fault.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

impl PushedMessage {
    /// The normalized message (attachments still to fetch) and each attachment's source.
    pub fn normalize(
        self,
        channel: &str,
        max_attachment_bytes: usize,
        max_attachments: usize,
    ) -> Result<(Inbound, Vec<PendingAttachment>), Invalid> {
        let required = |value: &str, field: &str| {
            if value.trim().is_empty() {
                Err(Invalid(format!("{field} must not be empty")))
            } else {
                Ok(())
            }
        };
        required(&self.external_id, "external_id")?;
        required(&self.sender.id, "sender.id")?;
        let identity = Identity::api(channel, &self.sender.id)
            .map_err(|e| Invalid(format!("sender.id: {e}")))?;
        let text = self.text.unwrap_or_default();
        if text.trim().is_empty() && self.attachments.is_empty() {
            return Err(Invalid(
                "a message needs text or at least one attachment".into(),
            ));
        }
        // Before anything is decoded or fetched.
        if self.attachments.len() > max_attachments {
            return Err(Invalid(format!(
                "attachments: a message may carry at most {max_attachments}; this one has {}",
                self.attachments.len()
            )));
        }
        let mut sources = Vec::with_capacity(self.attachments.len());
        for (i, a) in self.attachments.into_iter().enumerate() {
            let filename = a
                .filename
                .filter(|f| !f.trim().is_empty())
                .unwrap_or_else(|| format!("attachment-{}", i + 1));
            let content_type = match a.content_type {
                Some(given) => input::media_type(&format!("attachments[{i}].content_type"), &given)
                    .map_err(Invalid)?,
                None => "application/octet-stream".into(),
            };
            let source = match (a.data, a.url) {
                (Some(data), None) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(data.trim())
                        .map_err(|e| {
                            Invalid(format!("attachments[{i}].data is not valid base64: {e}"))
                        })?;
                    if bytes.len() > max_attachment_bytes {
                        return Err(Invalid(format!(
                            "attachments[{i}] is {} bytes; the limit is {max_attachment_bytes}",
                            bytes.len()
                        )));
                    }
                    AttachmentSource::Inline(bytes.into())
                }
                (None, Some(url)) => AttachmentSource::Url(url),
                _ => {
                    return Err(Invalid(format!(
                        "attachments[{i}] needs exactly one of data or url"
                    )));
                }
            };
            sources.push(PendingAttachment {
                filename,
                content_type,
                source,
            });
        }
        let conversation = self
            .conversation
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| self.sender.id.clone());
        let inbound = Inbound {
            external_id: self.external_id,
            sender: Sender {
                identity,
                display_name: self.sender.name.filter(|n| !n.trim().is_empty()),
                reachable: false,
            },
            conversation,
            thread: ThreadHint {
                reply_to: self.in_reply_to,
                references: Vec::new(),
            },
            subject: self.subject,
            text,
            html: None,
            attachments: Vec::new(),
            automatic: false,
            edit_of: None,
            group: None,
            participants: Vec::new(),
            reply_by: None,
        };
        Ok((inbound, sources))
    }
}

/// Attaches fetched or decoded files to the message.
pub fn attach(inbound: &mut Inbound, filename: String, content_type: String, bytes: Bytes) {
    inbound.attachments.push(InboundAttachment {
        filename,
        content_type,
        bytes,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<(Inbound, usize), String> {
        let pushed: PushedMessage = serde_json::from_str(json).map_err(|e| e.to_string())?;
        pushed
            .normalize("api", 1024, 3)
            .map(|(inbound, sources)| (inbound, sources.len()))
            .map_err(|e| e.0)
    }

    #[test]
    fn minimal_message_uses_the_sender_as_conversation() {
        let (inbound, files) =
            parse(r#"{"external_id":"m1","sender":{"id":"u1","name":"Ana"},"text":"Hi"}"#).unwrap();
        assert_eq!(inbound.conversation, "u1");
        assert_eq!(inbound.sender.identity, Identity::api("api", "u1").unwrap());
        assert_eq!(inbound.sender.display_name.as_deref(), Some("Ana"));
        assert_eq!(files, 0);
    }

    proptest::proptest! {
        /// Whatever arrives, parsing answers Ok or a reason; it never panics.
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(pushed) = serde_json::from_slice::<PushedMessage>(&body) {
                let _ = pushed.normalize("api", 64, 3);
            }
        }

        #[test]
        fn arbitrary_field_values_never_panic(
            id in ".{0,40}", sender in ".{0,40}", text in ".{0,200}", data in "[A-Za-z0-9+/=]{0,64}"
        ) {
            let body = serde_json::json!({
                "external_id": id, "sender": {"id": sender}, "text": text,
                "attachments": [{"data": data}],
            });
            let pushed: PushedMessage = serde_json::from_value(body).unwrap();
            let _ = pushed.normalize("api", 16, 3);
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                r#"{"external_id":"","sender":{"id":"u"},"text":"x"}"#,
                "external_id must not be empty",
            ),
            (
                r#"{"external_id":"m","sender":{"id":" "},"text":"x"}"#,
                "sender.id must not be empty",
            ),
            (
                r#"{"external_id":"m","sender":{"id":"u"}}"#,
                "needs text or at least one attachment",
            ),
            (
                r#"{"external_id":"m","sender":{"id":"u"},"text":"x","attachments":[{"data":"!!"}]}"#,
                "attachments[0].data is not valid base64",
            ),
            (
                r#"{"external_id":"m","sender":{"id":"u"},"text":"x","attachments":[{}]}"#,
                "exactly one of data or url",
            ),
            (
                r#"{"external_id":"m","sender":{"id":"u"},"txt":"x"}"#,
                "unknown field `txt`",
            ),
            (
                r#"{"sender":{"id":"u"},"text":"x"}"#,
                "missing field `external_id`",
            ),
            (
                r#"{"external_id":"m","sender":{"id":"u"},"text":"x","attachments":[{"data":"","content_type":"application/pdf\r\nX-Evil: 1"}]}"#,
                "attachments[0].content_type \"application/pdf\\r\\nX-Evil: 1\" is not a media type",
            ),
            (
                r#"{"external_id":"m","sender":{"id":"u"},"text":"x","attachments":[{"data":""},{"data":""},{"data":""},{"data":""}]}"#,
                "at most 3; this one has 4",
            ),
        ];
        for (json, expected) in cases {
            let error = parse(json).unwrap_err();
            assert!(error.contains(expected), "{json}: {error}");
        }
        let big = format!(
            r#"{{"external_id":"m","sender":{{"id":"u"}},"attachments":[{{"data":"{}"}}]}}"#,
            base64::engine::general_purpose::STANDARD.encode(vec![0u8; 2048])
        );
        assert!(parse(&big).unwrap_err().contains("the limit is 1024"));
    }
}
