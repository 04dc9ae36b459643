//! Helpdesk rules, the same on every channel, from the config's `[helpdesk]`:
//!
//! - [`guard`]: secrets customers should never send (seed phrases, private keys, API
//!   keys, card numbers, passwords), masked before anything is stored;
//! - [`language`]: which language a message is in;
//! - [`templates`]: the gateway's own messages to customers, per language, and
//!   agents' canned replies;
//! - [`knowledge`]: FAQ articles from Markdown files, suggested for a ticket;
//! - [`triage`]: category and priority of a new ticket, by rules;
//! - [`commands`]: what a customer may ask the gateway itself (a ticket's status, a
//!   satisfaction rating).

pub mod commands;
pub mod guard;
pub mod knowledge;
pub mod language;
pub mod templates;
pub mod triage;
