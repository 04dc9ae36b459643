//! Switchboard's core: everything between the connectors and the agents.
//!
//! # Layout
//!
//! - [`model`]: tickets, messages, contacts, identities, attachments, and their states.
//! - [`identity`]: parsing and normalizing customer addresses (E.164 phones, lowercase email).
//! - [`connector`]: the [`Connector`] trait every channel implements, and the normalized
//!   [`Inbound`] / [`Outbound`] shapes that cross it.
//! - [`ingest`]: dedupe, contact resolution and threading of inbound messages, group-committed.
//! - [`input`]: checks shared by every way in: NUL characters, media types.
//! - [`access`]: which tickets an agent may see ([`access::Scope`]), and who acts.
//! - [`agent`]: what agents do to tickets: reply, note, change status, assign.
//! - [`dispatcher`]: drains the outbox through the connectors, with rate limits and retries.
//! - [`ratelimit`]: per-channel and per-recipient limits (governor).
//! - [`secret`]: secrets that never print; [`signature`]: HMAC webhook signatures.
//! - [`backoff`]: waiting after failures, with jitter.
//! - [`blobs`]: content-addressed attachment files; [`download`]: reading providers'
//!   files with a size cap.
//! - [`events`]: the live feed of ticket and message events.
//! - [`store`]: the SQL store, with its SQLite and PostgreSQL backends.
//! - [`shutdown`]: the signal that stops servers, pollers and the dispatcher.
//! - [`clock`]: the time source, replaceable in tests.
//! - [`text`]: splitting long replies at natural boundaries for channels' limits.
//! - [`parts`]: sending a reply as several provider messages, resumable after a failure.
//! - [`gateway`]: the handle that ties the pieces together for the binary and connectors.
//! - [`helpdesk`]: triage, languages, the secrets guard, templates, the knowledge base.
//! - [`privacy`]: the retention policy, and a contact's export and erasure.

pub mod access;
pub mod agent;
pub mod backoff;
pub mod blobs;
pub mod bus;
pub mod calendar;
pub mod clock;
pub mod cluster;
pub mod connector;
pub mod dispatcher;
pub mod download;
pub mod events;
pub mod gateway;
pub mod helpdesk;
pub mod identity;
pub mod ingest;
pub mod input;
pub mod model;
pub mod parts;
pub mod presence;
pub mod privacy;
pub mod ratelimit;
pub mod reference;
pub mod secret;
pub mod shutdown;
pub mod signature;
pub mod store;
pub mod text;
mod threading;

pub use clock::{Clock, ManualClock, SystemClock};
pub use connector::{
    ChannelContext, Connector, DeliveryUpdate, Inbound, InboundAttachment, Outbound,
    OutboundAttachment, Receipt, SendError, Sender, ThreadContext, ThreadHint, WebhookRequest,
    WebhookResponse,
};
pub use gateway::{Gateway, GatewayConfig};
pub use identity::{Identity, IdentityKind};
pub use model::{
    Attachment, ChannelId, Contact, DeliveryStatus, Direction, Message, Priority, Ticket,
    TicketStatus, Timestamp,
};
pub use secret::Secret;
pub use store::{Store, StoreError};
