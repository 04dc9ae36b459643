//! Raw mail into what the gateway keeps of it: the ids that thread it, the people,
//! the decoded subject and body, what the customer wrote in this message (without the
//! quoted history), sanitized html, the attachments, and whether a person wrote it,
//! a machine did (auto-replies, lists, bulk), or it reports on mail the gateway sent
//! (a bounce).
//!
//! Pure functions without IO: the poller calls [`parse`] on each fetched message and
//! maps the result into core types. Decoding (MIME, base64, quoted-printable,
//! RFC 2047/2231, charsets) is mail-parser's; GB2312, Shift_JIS and the other
//! multi-byte charsets need its `full_encoding` feature. Html goes through ammonia,
//! both for the sanitized copy and for the text derived from html-only mail.
//!
//! Here: the public types; [`parse`] and the header fields; the body (plain text,
//! format=flowed); attachments. The submodules:
//! - `html`: html to text, and the sanitized html;
//! - `report`: the kind of a mail: automatic signs and delivery reports (bounces);
//! - `quote`: [`strip_quoted`] and its markers;
//! - `tests`: the corpus and the tests.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use mail_parser::{
    Addr, ContentType, Header, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders,
    PartType,
};
use switchboard_core::input;

use html::{html_to_text, sanitize_html};
use report::{kind, suppresses_auto_replies};

mod html;
mod quote;
mod report;
#[cfg(test)]
mod tests;

pub use quote::strip_quoted;

/// An email address and the name shown with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The address, lowercased.
    pub email: String,
    /// The display name, decoded, control characters turned into spaces; `None`
    /// when absent or just the address again.
    pub name: Option<String>,
}

/// Who or what wrote a message, which decides what the gateway does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailKind {
    /// A person's message.
    Regular,
    /// An auto-reply or bulk mail (RFC 3834 signs): stored, never answered
    /// automatically, never reopens a ticket.
    Automatic {
        /// Which sign, e.g. `Auto-Submitted: auto-replied` or `Precedence: list`.
        reason: String,
    },
    /// A delivery status notification about a message the gateway sent.
    Bounce(Bounce),
    /// Mail that came through a mailing list or group (`List-Id`, `Precedence:
    /// list`). Automatic, unless the list is the support address's own group
    /// (Google Groups and Microsoft 365 groups put their List-Id on every
    /// customer's mail): the channel decides, with its `own_list_ids`.
    List {
        /// The List-Id (the part in <>), when the mail has one.
        id: Option<String>,
    },
}

/// What a delivery status notification (RFC 3464) says about one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of the original message, without <>, from the returned
    /// message/rfc822 or text/rfc822-headers part (or In-Reply-To/References as a
    /// fallback).
    pub original_message_id: Option<String>,
    /// The Final-Recipient address (else Original-Recipient), lowercased.
    pub recipient: Option<String>,
    /// failed | delayed | delivered | relayed | expanded.
    pub action: String,
    /// The enhanced status code (RFC 3463), e.g. `5.1.1`; taken from the
    /// Diagnostic-Code when the Status field is missing.
    pub status: Option<String>,
    /// The action is `failed` with a 5.x.x status: this address will not work later
    /// either. A `failed` with 4.x.x (the sending server gave up retrying) is not.
    pub permanent: bool,
    /// A readable reason: the Diagnostic-Code text, else the status meaning.
    pub diagnostic: String,
}

/// A file that came with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAttachment {
    /// Decoded (RFC 2047/2231), without any directory part; made up from the
    /// content type (or the subject of an attached message) when the mail names none.
    pub filename: String,
    /// `type/subtype`, lowercased, without parameters; `application/octet-stream`
    /// when the mail's is not a media type.
    pub content_type: String,
    /// The decoded content. Text parts come as UTF-8 whatever their charset was;
    /// an attached message comes as its raw RFC 5322 bytes (an .eml file).
    pub bytes: Bytes,
    /// The Content-ID, without <>.
    pub content_id: Option<String>,
    /// The html shows it in place (it references the Content-ID as `cid:`): an
    /// inline image rather than a file to list.
    pub inline: bool,
}

/// A parsed email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    /// The Message-ID, without <>.
    pub message_id: Option<String>,
    /// The ids in In-Reply-To, without <>.
    pub in_reply_to: Vec<String>,
    /// The ids in References, oldest first, without <>.
    pub references: Vec<String>,
    /// Outlook's Thread-Index, raw (base64), unfolded: Outlook sometimes sends no
    /// References or In-Reply-To. `None` unless it is all printable ASCII (the
    /// conversation key is cut from it, and the core refuses control characters).
    pub thread_index: Option<String>,
    /// The first From address. Always the parsed address: a display name is never
    /// read for one, however it decodes (`=?UTF-8?B?...?=` naming `<ceo@example.com>`
    /// stays a name).
    pub from: Option<Address>,
    /// The Sender field, else the Return-Path (the envelope sender the delivering
    /// server recorded): who wrote when From has no usable address.
    pub sender: Option<Address>,
    /// The first Reply-To address: where answers go (web forms send from a no-reply
    /// address with the customer here).
    pub reply_to: Option<Address>,
    /// Every To address.
    pub to: Vec<Address>,
    /// Every Cc address.
    pub cc: Vec<Address>,
    /// The subject, decoded (RFC 2047).
    pub subject: Option<String>,
    /// The Date field, in unix seconds.
    pub date: Option<i64>,
    /// What the customer wrote in this message: [`strip_quoted`] of `full_text`.
    pub text: String,
    /// The whole plain text (or the text derived from the html when there is no
    /// plain part), with `\n` line ends and no trailing spaces.
    pub full_text: String,
    /// The html part, sanitized with ammonia (`cid:` image sources kept).
    pub html: Option<String>,
    /// Real attachments, inline images (with `content_id`), attached messages.
    pub attachments: Vec<ParsedAttachment>,
    /// A person's message, an automatic one, or a bounce.
    pub kind: MailKind,
    /// Whether the gateway may send an automatic answer (an acknowledgement):
    /// never to automatic mail or bounces, nor to a sender who asked for none with
    /// `X-Auto-Response-Suppress` (see `suppresses_auto_replies`).
    pub may_auto_reply: bool,
}

/// Why some bytes could not be read as an email at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl ParseError {
    /// The reason, readable.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an email: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parses one raw message (RFC 5322, any line ends). Fails only when the bytes are
/// not an email at all; never panics.
pub fn parse(raw: &[u8]) -> Result<ParsedMail, ParseError> {
    // A last guard, so that one mail cannot stop the mailbox: the fuzz test calls
    // `parse_message` directly to show that nothing here panics.
    std::panic::catch_unwind(|| parse_message(raw))
        .unwrap_or_else(|_| Err(ParseError("the parser failed on this input".into())))
}

/// mail-parser, with a panic turned into an error. It means never to panic, but
/// some broken MIME trips its `debug_assert!`s (debug and test builds only; release
/// builds skip them and recover what they can).
fn mime(raw: &[u8], headers_only: bool) -> Result<Option<Message<'_>>, ParseError> {
    std::panic::catch_unwind(|| {
        let parser = MessageParser::default();
        if headers_only {
            parser.parse_headers(raw)
        } else {
            parser.parse(raw)
        }
    })
    .map_err(|_| ParseError("the MIME structure is too broken to read".into()))
}

fn parse_message(raw: &[u8]) -> Result<ParsedMail, ParseError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError("empty input".into()));
    }
    let message = mime(raw, false)?.ok_or_else(|| ParseError("no header fields".into()))?;
    if !message
        .headers()
        .iter()
        .any(|h| is_mail_field(h.name.as_str()))
    {
        return Err(ParseError(
            "none of the fields an email has (From, To, Subject, Date, Message-ID, ...)".into(),
        ));
    }
    let body = body(&message);
    let attachments = attachments(&message, &body.raw_html);
    let in_reply_to = ids(&message, "In-Reply-To");
    let references = ids(&message, "References");
    let kind = kind(&message, &in_reply_to, &references);
    let may_auto_reply = kind == MailKind::Regular && !suppresses_auto_replies(&message);
    Ok(ParsedMail {
        message_id: ids(&message, "Message-ID").into_iter().next(),
        in_reply_to,
        references,
        thread_index: raw_field(&message, "Thread-Index")
            .map(|v| v.split_whitespace().collect::<String>())
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic())),
        from: addresses(&message, "From").into_iter().next(),
        sender: addresses(&message, "Sender")
            .into_iter()
            .next()
            .or_else(|| return_path(&message)),
        reply_to: addresses(&message, "Reply-To").into_iter().next(),
        to: addresses(&message, "To"),
        cc: addresses(&message, "Cc"),
        subject: match field(&message, "Subject").map(|h| &h.value) {
            Some(HeaderValue::Text(subject)) => Some(subject.trim().to_owned()),
            _ => None,
        }
        .filter(|s| !s.is_empty()),
        date: match field(&message, "Date").map(|h| &h.value) {
            Some(HeaderValue::DateTime(date)) if date.is_valid() => Some(date.to_timestamp()),
            _ => None,
        },
        text: strip_quoted(&body.full_text),
        full_text: body.full_text,
        html: body.html,
        attachments,
        kind,
        may_auto_reply,
    })
}

/// Fields that only mail has: a body part or random text with a colon has none.
#[rustfmt::skip]
const MAIL_FIELDS: [&str; 12] = [
    "From", "Sender", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To",
    "References", "Received", "Return-Path", "MIME-Version",
];

fn is_mail_field(name: &str) -> bool {
    MAIL_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

// ---------------------------------------------------------------------------------
// Header fields. mail-parser's own getters take the last field of a name; a mail's
// first one is the one that counts (the topmost Return-Path is the final delivery's).

/// The first top-level field called `name`.
fn field<'m, 'x>(message: &'m Message<'x>, name: &str) -> Option<&'m Header<'x>> {
    message
        .headers()
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
}

/// The raw text of the first field called `name`, trimmed (still folded).
fn raw_field<'m>(message: &'m Message<'_>, name: &str) -> Option<Cow<'m, str>> {
    let header = field(message, name)?;
    let bytes = message
        .raw_message
        .get(header.offset_start as usize..header.offset_end as usize)?;
    Some(match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
        Cow::Owned(text) => Cow::Owned(text.trim().to_owned()),
    })
}

/// The message ids in the first field called `name`, without <>, in order, each
/// once. Broken clients write ids without brackets: then the words with an `@`.
/// An id holding a control character is left out: the core refuses to store one
/// (and with it the poller's batch), and no real mail threads by it.
fn ids(message: &Message<'_>, name: &str) -> Vec<String> {
    raw_field(message, name).map_or_else(Vec::new, |raw| message_ids(&raw))
}

fn message_ids(raw: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut push = |id: String| {
        if !id.is_empty() && !id.contains(char::is_control) && !ids.contains(&id) {
            ids.push(id);
        }
    };
    let mut rest = raw;
    let mut bracketed = false;
    while let Some((_, after)) = rest.split_once('<') {
        let Some((id, after)) = after.split_once('>') else {
            break;
        };
        bracketed = true;
        push(id.chars().filter(|c| !c.is_whitespace()).collect());
        rest = after;
    }
    if !bracketed {
        raw.split(|c: char| c.is_whitespace() || c == ',')
            .filter(|word| word.contains('@'))
            .for_each(|word| push(word.trim_matches(['<', '>', '"']).to_owned()));
    }
    ids
}

/// Every address in every field called `name` (groups flattened).
fn addresses(message: &Message<'_>, name: &str) -> Vec<Address> {
    message
        .headers()
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .filter_map(|h| h.value.as_address())
        .flat_map(|list| list.iter())
        .filter_map(address)
        .collect()
}

fn address(addr: &Addr<'_>) -> Option<Address> {
    let email = addr
        .address
        .as_deref()?
        .trim()
        .trim_matches(['<', '>'])
        .to_lowercase();
    // An address holding a control character is no usable address (the core
    // refuses it as a key); names lose theirs (PostgreSQL's text cannot hold NUL).
    if email.is_empty() || email.contains(char::is_control) {
        return None;
    }
    let name = addr
        .name
        .as_deref()
        .map(|n| n.replace(char::is_control, " "))
        .map(|n| squash_spaces(n.trim().trim_matches(['"', '\''])))
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&email));
    Some(Address { email, name })
}

/// The Return-Path's address; `None` for the null path `<>` of bounces.
fn return_path(message: &Message<'_>) -> Option<Address> {
    let raw = raw_field(message, "Return-Path")?;
    let inner = raw.split('<').nth(1).map_or(raw.as_ref(), |rest| {
        rest.split('>').next().unwrap_or_default()
    });
    let email = inner.trim().to_lowercase();
    (email.contains('@') && !email.contains(|c: char| c.is_whitespace() || c.is_control()))
        .then_some(Address { email, name: None })
}

/// `Example users <users.lists.example.org>` -> `users.lists.example.org`.
pub(super) fn list_id(raw: &str) -> Option<String> {
    let id = match raw.rsplit_once('<') {
        Some((_, rest)) => rest.split('>').next().unwrap_or_default(),
        None => raw,
    };
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// A content type's parameter, by case-insensitive name.
fn param<'c>(content_type: &'c ContentType<'_>, name: &str) -> Option<&'c str> {
    content_type
        .attributes()?
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_ref())
}

fn is_type(part: &MessagePart<'_>, ctype: &str, subtypes: &[&str]) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|sub| subtypes.iter().any(|s| s.eq_ignore_ascii_case(sub)))
    })
}

// ---------------------------------------------------------------------------------
// The body.

struct Body {
    full_text: String,
    /// The html parts as received, for finding the images they show.
    raw_html: String,
    html: Option<String>,
}

/// The text parts (mail-parser lists html parts there when a message has no plain
/// alternative) and the html parts.
fn body(message: &Message<'_>) -> Body {
    let part = |id: &u32| message.parts.get(*id as usize);
    let mut texts = Vec::new();
    for part in message.text_body.iter().filter_map(part) {
        match &part.body {
            PartType::Text(text) => texts.push(plain_text(part, text)),
            PartType::Html(html) => texts.push(html_to_text(html)),
            _ => {}
        }
    }
    let html_parts: Vec<&str> = message
        .html_body
        .iter()
        .filter_map(part)
        .filter_map(|p| match &p.body {
            PartType::Html(html) => Some(html.as_ref()),
            _ => None,
        })
        .collect();
    let mut full_text = texts.join("\n");
    if full_text.trim().is_empty() {
        // An empty plain alternative: the html is what was written.
        full_text = html_parts
            .iter()
            .map(|h| html_to_text(h))
            .collect::<Vec<_>>()
            .join("\n");
    }
    Body {
        full_text: tidy(&full_text, false),
        raw_html: html_parts.concat(),
        html: (!html_parts.is_empty()).then(|| {
            html_parts
                .iter()
                .map(|h| sanitize_html(h))
                .collect::<Vec<_>>()
                .join("\n")
        }),
    }
}

/// A text/plain part with `\n` line ends, format=flowed (RFC 3676) joined back into
/// paragraphs.
fn plain_text(part: &MessagePart<'_>, text: &str) -> String {
    let text = normalize_newlines(text);
    let content_type = part.content_type();
    let flowed = content_type
        .and_then(|ct| param(ct, "format"))
        .is_some_and(|f| f.eq_ignore_ascii_case("flowed"));
    if !flowed {
        return text;
    }
    let delsp = content_type
        .and_then(|ct| param(ct, "delsp"))
        .is_some_and(|d| d.eq_ignore_ascii_case("yes"));
    unflow(&text, delsp)
}

/// RFC 3676: a line ending in a space continues on the next line of the same quote
/// depth; a leading space after the quote marks is stuffing. `delsp=yes` means the
/// trailing space was added for the wrap and is dropped.
fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut paragraph: Option<(usize, String)> = None;
    let flush = |out: &mut String, paragraph: Option<(usize, String)>| {
        if let Some((depth, content)) = paragraph {
            if depth > 0 {
                out.push_str(&">".repeat(depth));
                out.push(' ');
            }
            out.push_str(&content);
            out.push('\n');
        }
    };
    for line in text.split('\n') {
        let depth = line.bytes().take_while(|&b| b == b'>').count();
        let content = &line[depth..];
        let content = content.strip_prefix(' ').unwrap_or(content);
        let flowed = content.ends_with(' ') && content != "-- ";
        let content = if flowed && delsp {
            &content[..content.len() - 1]
        } else {
            content
        };
        match &mut paragraph {
            Some((d, buffer)) if *d == depth => buffer.push_str(content),
            _ => {
                flush(&mut out, paragraph.take());
                paragraph = Some((depth, content.to_owned()));
            }
        }
        if !flowed {
            flush(&mut out, paragraph.take());
        }
    }
    flush(&mut out, paragraph);
    out
}

fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Trailing spaces off every line, no blank lines before or after; with
/// `squeeze`, no more than one blank line in a row.
fn tidy(text: &str, squeeze: bool) -> String {
    let text = normalize_newlines(text);
    let mut lines: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end();
        let previous_blank = lines.last().is_none_or(|l| l.is_empty());
        if line.is_empty() && previous_blank && (squeeze || lines.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

fn squash_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------
// Attachments.

fn attachments(message: &Message<'_>, raw_html: &str) -> Vec<ParsedAttachment> {
    let raw_html = raw_html.to_lowercase();
    message
        .attachments
        .iter()
        .filter_map(|id| message.parts.get(*id as usize))
        .filter(|part| !matches!(part.body, PartType::Multipart(_)))
        .enumerate()
        .map(|(n, part)| attachment(part, n + 1, &raw_html))
        .collect()
}

/// `number` counts from 1, for names of unnamed files; `raw_html` is lowercased.
fn attachment(part: &MessagePart<'_>, number: usize, raw_html: &str) -> ParsedAttachment {
    let content_type = part.content_type().map_or_else(
        || match part.body {
            PartType::Text(_) => "text/plain".to_owned(),
            _ => "application/octet-stream".to_owned(),
        },
        |ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
            None => ct.ctype().to_lowercase(),
        },
    );
    // The core refuses a file whose type is no media type, and with it the poller's
    // whole batch, again on every retry: a broken Content-Type keeps the file as
    // binary instead.
    let content_type = input::media_type_or_binary(&content_type);
    let (bytes, unnamed) = match &part.body {
        // The nested message's own bytes, whether or not it came encoded.
        PartType::Message(nested) => (
            Bytes::copy_from_slice(nested.raw_message()),
            nested
                .subject()
                .and_then(safe_filename)
                .map(|subject| format!("{subject}.eml")),
        ),
        _ => (Bytes::copy_from_slice(part.contents()), None),
    };
    let content_id = part
        .content_id()
        .map(|id| id.trim().trim_matches(['<', '>']).to_owned())
        .filter(|id| !id.is_empty());
    let inline = content_id
        .as_ref()
        .is_some_and(|id| raw_html.contains(&format!("cid:{}", id.to_lowercase())));
    let filename = attachment_name(part)
        .and_then(safe_filename)
        .or(unnamed)
        .unwrap_or_else(|| format!("attachment-{number}.{}", extension(&content_type)));
    ParsedAttachment {
        filename,
        content_type,
        bytes,
        content_id,
        inline,
    }
}

/// The Content-Disposition filename, else the Content-Type name.
fn attachment_name<'p>(part: &'p MessagePart<'_>) -> Option<&'p str> {
    part.content_disposition()
        .and_then(|cd| param(cd, "filename"))
        .or_else(|| part.content_type().and_then(|ct| param(ct, "name")))
}

/// A name safe to store a file under: no directories, no control characters, not
/// `.` or `..`, at most 200 characters.
fn safe_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim();
    (!clean.is_empty() && clean != "." && clean != "..").then(|| clean.to_owned())
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "text/plain" | "message/delivery-status" | "text/rfc822-headers" => "txt",
        "text/html" => "html",
        "text/calendar" => "ics",
        "message/rfc822" => "eml",
        _ => "bin",
    }
}
