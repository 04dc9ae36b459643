//! The store's SQL, one file per table group. Every function takes a
//! [`Connection`](super::Connection) so that callers choose the transaction.

pub mod amendments;
pub mod audit;
pub mod channel_state;
pub mod contacts;
pub mod conversation_log;
pub mod events;
pub mod leases;
pub mod messages;
pub mod outbox;
pub mod privacy;
mod search;
pub mod sessions;
pub mod tickets;
pub mod tokens;
