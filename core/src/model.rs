//! The common ticket format every channel is normalized into.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::Identity;

/// Milliseconds since the Unix epoch. Serialized as RFC 3339 for people and APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(since_epoch.as_millis() as i64)
    }

    pub fn from_unix_seconds(seconds: i64) -> Self {
        Timestamp(seconds.saturating_mul(1000))
    }

    pub fn plus(self, by: std::time::Duration) -> Self {
        Timestamp(self.0.saturating_add(by.as_millis() as i64))
    }

    pub fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0 - earlier.0
    }

    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// The admin's name for one configured channel (`support-email`, `telegram-main`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ChannelId(String);

impl ChannelId {
    /// Channel ids appear in URLs and logs: lowercase letters, digits, `-` and `_`.
    pub fn parse(id: &str) -> Result<Self, String> {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(ChannelId(id.to_owned()))
        } else {
            Err(format!(
                "channel id {id:?} must be 1-64 characters of a-z, 0-9, '-' and '_'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a string-backed enum with `as_str`, `FromStr` and serde in snake_case, so
/// the database, the API and the config all spell the values the same way.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} {other:?}; expected one of: {}",
                        stringify!($name),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// Where a ticket stands. `resolved` tickets reopen when the customer writes within
    /// the reopen window; `closed` tickets never reopen. `filtered` tickets hold
    /// automatic mail that concerns no ticket (a bounce of mail the gateway never
    /// sent, an auto-reply out of the blue): kept, but out of the agents' queue until
    /// a person writes on them or an agent moves them.
    TicketStatus {
        New => "new",
        Open => "open",
        Pending => "pending",
        Resolved => "resolved",
        Closed => "closed",
        Filtered => "filtered",
    }
);

impl TicketStatus {
    /// Whether new customer messages still land on this ticket without reopening it.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TicketStatus::New | TicketStatus::Open | TicketStatus::Pending
        )
    }
}

string_enum!(
    /// How urgent a ticket is.
    Priority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

string_enum!(
    /// Who wrote a message: the customer (inbound), an agent to the customer
    /// (outbound), or an agent for other agents only (note).
    Direction {
        Inbound => "inbound",
        Outbound => "outbound",
        Note => "note",
    }
);

string_enum!(
    /// Where an outbound message is on its way to the customer.
    DeliveryStatus {
        Queued => "queued",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
    }
);

impl DeliveryStatus {
    /// Statuses only move forward: a late `delivered` never overwrites `read`.
    /// `failed` ranks with `delivered`: neither overwrites the other, and `read`
    /// (proof of delivery) wins over both.
    pub fn rank(self) -> i64 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered | DeliveryStatus::Failed => 2,
            DeliveryStatus::Read => 3,
        }
    }
}

/// A support case: every message from and to one customer about one matter.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: i64,
    /// Unique, human-typeable (`SB-7K3M9Q`); goes into email subjects.
    pub reference: String,
    pub status: TicketStatus,
    pub priority: Priority,
    pub category: Option<String>,
    pub assignee: Option<String>,
    pub subject: Option<String>,
    /// The channel the ticket started on.
    pub channel: String,
    /// The provider's conversation key on that channel (chat id, phone, address).
    pub conversation: String,
    pub contact_id: i64,
    /// The earlier ticket of the same conversation, when this one was opened after
    /// the earlier one was closed or its reopen window had passed.
    pub previous_ticket_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub last_message_at: Timestamp,
    /// The triage rule that set category and priority; absent when none matched
    /// (the defaults applied) or the ticket predates the rules.
    pub triage_rule: Option<String>,
    /// The team the ticket is routed to.
    pub team: Option<String>,
    /// The customer's language when the ticket started (ISO 639-1).
    pub language: Option<String>,
    /// Kinds of secret the customer sent and the gateway removed from the stored
    /// messages (`seed_phrase`, `private_key`, ...).
    pub sensitive: Vec<crate::helpdesk::guard::SensitiveKind>,
    /// When the customer was sent the acknowledgement with the reference.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    /// When an agent first answered.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_response_at: Option<Timestamp>,
    /// The customer's satisfaction rating, 1 to 5, once given.
    pub csat_rating: Option<i64>,
    /// When the retention policy or an erasure deleted its messages' contents and
    /// files (the ticket's metadata stays).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub purged_at: Option<Timestamp>,
    /// The ticket's SLA targets, when a policy applies.
    pub sla: Vec<crate::helpdesk::sla::TicketSla>,
}

/// One message on a ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub id: i64,
    pub ticket_id: i64,
    pub direction: Direction,
    pub channel: String,
    /// The provider's id for this message (Message-ID, wamid, MessageSid, ...).
    pub external_id: Option<String>,
    pub conversation: String,
    pub contact_id: Option<i64>,
    /// The customer's display name, or the agent's name.
    pub author: String,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    /// Automatic messages (auto-replies, bounces) never reopen tickets.
    pub automatic: bool,
    /// Outbound only.
    pub delivery_status: Option<DeliveryStatus>,
    /// Why delivery failed, in words an agent can act on.
    pub failure_reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the customer last edited the message, if ever.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<Timestamp>,
    /// SMS replies: how many segments the carrier billed it as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<i64>,
    /// The texts the customer's edits replaced, oldest first.
    pub edits: Vec<MessageEdit>,
    pub attachments: Vec<Attachment>,
}

/// A text a customer's edit replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageEdit {
    pub previous_text: String,
    #[schema(value_type = String, format = DateTime)]
    pub edited_at: Timestamp,
}

/// A file that came with or goes out with a message. The bytes live in the blob
/// store under their SHA-256.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: i64,
    pub message_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// A customer, known by one or more identities.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    pub name: Option<String>,
    pub identities: Vec<ContactIdentity>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the contact was erased on request: no name, no identities, no contents.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub erased_at: Option<Timestamp>,
}

/// An identity as stored on a contact, with what the gateway learned about it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactIdentity {
    #[serde(flatten)]
    pub identity: Identity,
    pub display_name: Option<String>,
    /// The channels that said this address cannot be reached there (blocked the
    /// bot, opted out of SMS); replies to it on them are refused.
    pub unreachable: Vec<Unreachable>,
}

/// Why a channel cannot reach an address.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Unreachable {
    pub channel: String,
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}
