//! SMTP out: each reply a complete email in the customer's thread: a Message-ID on the
//! channel's domain (stored, so that answers to it thread), In-Reply-To and
//! References from the ticket's thread, `Re: <subject> [#REF]`, text and html, files.
//! Sent through lettre's pool, so several replies go out in parallel.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use switchboard_core::IdentityKind;
use switchboard_core::connector::{Outbound, Receipt, SendError};

use crate::EmailConnector;
use crate::config::{EmailChannelConfig, SmtpConfig, Tls};

pub(crate) type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The most References kept: the first (the thread's root) and the latest ones.
const MAX_REFERENCES: usize = 20;

/// Builds the pooled SMTP transport; no connection is made until the first send.
pub(crate) fn transport(config: &SmtpConfig) -> Result<Transport, String> {
    let parameters = || -> Result<TlsParameters, String> {
        let mut builder = TlsParameters::builder(config.host.clone());
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("smtp.ca_file {path}: {e}"))?;
            let certificate =
                Certificate::from_pem(&pem).map_err(|e| format!("smtp.ca_file {path}: {e}"))?;
            builder = builder.add_root_certificate(certificate);
        }
        builder
            .build_rustls()
            .map_err(|e| format!("smtp TLS settings: {e}"))
    };
    let tls = match config.tls {
        Tls::Implicit => SmtpTls::Wrapper(parameters()?),
        Tls::Starttls => SmtpTls::Required(parameters()?),
        Tls::None => SmtpTls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
        .port(config.port())
        .tls(tls)
        .timeout(Some(Duration::from_secs(config.timeout_seconds)))
        .pool_config(PoolConfig::new().max_size(config.pool_size));
    if let (Some(username), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            password.expose().to_owned(),
        ));
    }
    Ok(builder.build())
}

pub(crate) async fn send(
    connector: &EmailConnector,
    outbound: &Outbound,
) -> Result<Receipt, SendError> {
    let salt = connector
        .salt()
        .await
        .map_err(|e| SendError::retryable(format!("cannot read the channel's state: {e}")))?;
    let message_id = message_id(&connector.config, outbound.message_id, salt);
    let email = compose(&connector.config, outbound, &message_id)?;
    match connector.smtp.send(email).await {
        Ok(_) => Ok(Receipt {
            external_id: Some(message_id),
            segments: None,
        }),
        Err(error) if error.is_permanent() => Err(SendError::permanent(format!(
            "the mail server refused the message: {error}"
        ))),
        Err(error) => Err(SendError::retryable(format!(
            "cannot hand the message to the mail server: {error}"
        ))),
    }
}

/// `sb.<message id>.<salt>@<domain>`: the same for every attempt of one reply (a mail
/// client shows a resent copy once), unique across installations by the channel's salt.
pub(crate) fn message_id(config: &EmailChannelConfig, id: i64, salt: &str) -> String {
    format!("sb.{id}.{salt}@{}", config.message_id_domain())
}

/// Whether a Message-ID is one the gateway generated for this channel.
pub(crate) fn is_own(config: &EmailChannelConfig, message_id: &str) -> bool {
    message_id.starts_with("sb.")
        && message_id
            .rsplit_once('@')
            .is_some_and(|(_, domain)| domain.eq_ignore_ascii_case(config.message_id_domain()))
}

/// `Re: <subject> [#REF]`, without stacking prefixes or references.
pub(crate) fn subject(subject: Option<&str>, reference: &str) -> String {
    let tag = format!("[#{reference}]");
    let mut rest = subject.unwrap_or("").replace(&tag, "");
    loop {
        let trimmed = rest.trim_start();
        let lower = trimmed.to_lowercase();
        let prefix = ["re:", "aw:", "sv:", "fw:", "fwd:", "wg:", "tr:", "rv:"]
            .into_iter()
            .find(|p| lower.starts_with(p));
        match prefix {
            Some(p) => rest = trimmed[p.len()..].to_owned(),
            None => {
                rest = trimmed.trim_end().to_owned();
                break;
            }
        }
    }
    if rest.is_empty() {
        format!("Re: Your request {tag}")
    } else {
        format!("Re: {rest} {tag}")
    }
}

fn compose(
    config: &EmailChannelConfig,
    outbound: &Outbound,
    message_id: &str,
) -> Result<Message, SendError> {
    let thread = &outbound.thread;
    let recipient = thread
        .recipient
        .as_ref()
        .filter(|r| r.kind == IdentityKind::Email)
        .map(|r| r.address.clone())
        .or_else(|| {
            // The conversation is `<address>#<thread>`.
            thread.conversation.split('#').next().map(str::to_owned)
        })
        .ok_or_else(|| SendError::permanent("the ticket has no customer email address"))?;
    let mailbox = |address: &str, name: Option<&str>| -> Result<Mailbox, SendError> {
        let parsed = address
            .parse()
            .map_err(|e| SendError::permanent(format!("{address:?} is not an address: {e}")))?;
        Ok(Mailbox::new(name.map(str::to_owned), parsed))
    };
    let mut builder = Message::builder()
        .message_id(Some(format!("<{message_id}>")))
        .from(mailbox(&config.address, config.display_name.as_deref())?)
        .to(mailbox(&recipient, None)?)
        .subject(subject(thread.subject.as_deref(), &thread.ticket_reference));
    if let Some(reply_to) = &config.reply_to {
        builder = builder.reply_to(mailbox(reply_to, config.display_name.as_deref())?);
    }
    if let Some(parent) = &thread.reply_to {
        builder = builder.in_reply_to(format!("<{parent}>"));
    }
    let references = references(&thread.references, thread.reply_to.as_deref());
    if !references.is_empty() {
        builder = builder.references(references);
    }
    let body = MultiPart::alternative_plain_html(outbound.text.clone(), html(&outbound.text));
    let email = if outbound.attachments.is_empty() {
        builder.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for file in &outbound.attachments {
            let content_type = ContentType::parse(&file.content_type)
                .unwrap_or(ContentType::parse("application/octet-stream").expect("valid"));
            let part: SinglePart =
                Attachment::new(file.filename.clone()).body(file.bytes.to_vec(), content_type);
            mixed = mixed.singlepart(part);
        }
        builder.multipart(mixed)
    };
    email.map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))
}

/// RFC 5322 References: the thread's ids, oldest first, ending with the parent; long
/// threads keep the root and the latest ones.
fn references(thread: &[String], parent: Option<&str>) -> String {
    let mut ids: Vec<&str> = thread.iter().map(String::as_str).collect();
    if let Some(parent) = parent {
        ids.retain(|id| *id != parent);
        ids.push(parent);
    }
    if ids.len() > MAX_REFERENCES {
        let tail = ids.split_off(ids.len() - (MAX_REFERENCES - 1));
        ids.truncate(1);
        ids.extend(tail);
    }
    ids.iter()
        .map(|id| format!("<{id}>"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The reply as simple HTML: paragraphs and line breaks, everything escaped.
fn html(text: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", escape(p.trim()).replace('\n', "<br>\n")))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html><body>\n{}\n</body></html>\n",
        paragraphs.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_carry_one_prefix_and_one_reference() {
        assert_eq!(
            subject(Some("Withdrawal stuck"), "SB-7K3M9Q"),
            "Re: Withdrawal stuck [#SB-7K3M9Q]"
        );
        assert_eq!(
            subject(
                Some("RE: AW: Re: Withdrawal stuck [#SB-7K3M9Q]"),
                "SB-7K3M9Q"
            ),
            "Re: Withdrawal stuck [#SB-7K3M9Q]"
        );
        assert_eq!(subject(None, "SB-7K3M9Q"), "Re: Your request [#SB-7K3M9Q]");
    }

    #[test]
    fn references_end_with_the_parent_and_keep_the_root() {
        let thread: Vec<String> = (0..30).map(|n| format!("m{n}@x")).collect();
        let refs = references(&thread, Some("m29@x"));
        let ids: Vec<&str> = refs.split(' ').collect();
        assert_eq!(ids.len(), MAX_REFERENCES);
        assert_eq!(ids[0], "<m0@x>");
        assert_eq!(ids[ids.len() - 1], "<m29@x>");
        assert_eq!(references(&[], Some("p@x")), "<p@x>");
    }

    #[test]
    fn html_escapes_and_keeps_paragraphs() {
        assert_eq!(
            html("Hi <b>\n\nline1\nline2"),
            "<!DOCTYPE html>\n<html><body>\n<p>Hi &lt;b&gt;</p>\n<p>line1<br>\nline2</p>\n</body></html>\n"
        );
    }
}
