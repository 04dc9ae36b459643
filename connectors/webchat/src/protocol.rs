//! The frames of the chat's WebSocket: JSON text messages with a `type`. What each
//! one means and when it is sent is in the book's web chat chapter; the shapes are
//! here.

use serde::{Deserialize, Serialize};

use crate::config::PreChat;

/// What the widget sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// The first frame of every connection.
    Hello {
        /// The session token from an earlier `welcome`; absent for a new visitor.
        #[serde(default)]
        token: Option<String>,
        /// The last sequence number the widget has: it gets everything after it.
        /// Absent: it gets the newest page of history instead.
        #[serde(default)]
        last_seq: Option<i64>,
        /// A user the site signed.
        #[serde(default)]
        identity: Option<SignedIdentity>,
    },
    /// A customer message. `id` is the widget's own id for it: sending it again
    /// (after a reconnect, without an `ack`) stores it once.
    Message {
        id: String,
        #[serde(default)]
        text: String,
        /// Upload tokens from `POST uploads`.
        #[serde(default)]
        attachments: Vec<String>,
        /// The pre-chat form, with the first message.
        #[serde(default)]
        fields: Option<Fields>,
    },
    Typing {
        on: bool,
    },
    /// The widget has the agents' messages up to `seq`.
    Received {
        seq: i64,
    },
    /// The customer has seen the agents' messages up to `seq`.
    Read {
        seq: i64,
    },
    /// Older messages: the page before `before`.
    History {
        before: i64,
        #[serde(default)]
        limit: Option<usize>,
    },
    Ping,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedIdentity {
    pub user_id: String,
    /// `hex(HMAC-SHA256(identity_secret, user_id))`, computed by the site's server.
    pub signature: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
}

/// What the gateway sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// The answer to `hello`: the session to keep, and how the chat is set up.
    Welcome {
        token: String,
        /// The conversation's latest sequence number.
        last_seq: i64,
        /// Whether the customer wrote before (the pre-chat form is skipped).
        started: bool,
        #[serde(flatten)]
        availability: Availability,
        title: &'a str,
        language: &'a str,
        pre_chat: &'a PreChat,
        /// What the customer gave already (from the session or the site's identity).
        name: Option<&'a str>,
        email: Option<&'a str>,
        identified: bool,
        uploads: UploadRules<'a>,
        max_message_chars: usize,
        /// Whether a message left while nobody is online is answered by email (when
        /// the customer gives an address).
        continues_by_email: bool,
    },
    /// One message of the conversation, customer's or agent's, with its number.
    Message(MessageView),
    /// A customer message is stored: it will not be lost.
    Ack {
        id: String,
        seq: i64,
        reference: String,
        /// A new session token to keep, when the message carried the pre-chat form.
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Nobody was online: the replies to this message go to this email address.
        #[serde(skip_serializing_if = "Option::is_none")]
        by_email: Option<String>,
    },
    /// A page of older messages (or, after a long absence, the newest page:
    /// `reset` says to drop what is shown).
    History {
        messages: Vec<MessageView>,
        more: bool,
        reset: bool,
    },
    Typing {
        on: bool,
        agent: Option<AgentView>,
    },
    /// Whether agents are at work, or the chat is within its hours, when that changes.
    Status {
        #[serde(flatten)]
        availability: Availability,
    },
    Error {
        code: &'static str,
        message: String,
        /// The message frame this is about.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// For `rate_limited`: when to try again.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    Pong,
}

/// Whether someone can answer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Availability {
    /// An agent used the inbox or the API in the last two minutes.
    pub agents_online: bool,
    /// Within the channel's business hours (always, without `hours`).
    pub open: bool,
    /// When closed: when the hours begin again, in milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<i64>,
}

impl Availability {
    /// Someone may answer now: an agent is at work, within the hours.
    pub fn answering(&self) -> bool {
        self.agents_online && self.open
    }
}

#[derive(Debug, Serialize)]
pub struct UploadRules<'a> {
    pub max_bytes: usize,
    pub types: &'a [String],
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub seq: i64,
    /// `customer` or `agent`.
    pub from: &'static str,
    /// The widget's id, for the customer's own messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentView>,
    pub text: String,
    pub attachments: Vec<FileView>,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// Who an agent is, as the customer sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentView {
    pub name: String,
    /// Up to two letters for the avatar.
    pub initials: String,
}

impl AgentView {
    pub fn new(name: &str) -> Self {
        let initials = name
            .split_whitespace()
            .filter_map(|word| word.chars().next())
            .take(2)
            .flat_map(char::to_uppercase)
            .collect();
        AgentView {
            name: name.to_owned(),
            initials,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    pub name: String,
    #[serde(rename = "type")]
    pub content_type: String,
    pub size: i64,
    /// Relative to the channel's base URL.
    pub url: String,
}

impl ServerFrame<'_> {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            id: None,
            retry_after_ms: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("frames serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_take_the_first_letters_of_two_words() {
        assert_eq!(AgentView::new("ana lima silva").initials, "AL");
        assert_eq!(AgentView::new("李").initials, "李");
        assert_eq!(AgentView::new("").initials, "");
    }

    #[test]
    fn unknown_frames_and_fields_are_refused() {
        for bad in [
            r#"{"type":"shout"}"#,
            r#"{"type":"typing","on":true,"extra":1}"#,
            r#"{"type":"message"}"#,
            r#"[]"#,
        ] {
            assert!(serde_json::from_str::<ClientFrame>(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            serde_json::from_str::<ClientFrame>(r#"{"type":"message","id":"1","text":"hi"}"#),
            Ok(ClientFrame::Message { .. })
        ));
    }
}
