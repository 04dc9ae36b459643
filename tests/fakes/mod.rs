//! Local fakes of the providers, built from the provider contracts.

pub mod telegram;
pub mod twilio;
pub mod whatsapp;
