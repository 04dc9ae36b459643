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
//! Layout: the public types; [`parse`] and the header fields; the body (plain text,
//! format=flowed, html to text, sanitizing); attachments; the kind (automatic
//! signs, delivery reports); [`strip_quoted`] and its markers; tests.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::LazyLock;

use bytes::Bytes;
use mail_parser::{
    Addr, ContentType, Header, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders,
    PartType,
};

/// An email address and the name shown with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The address, lowercased.
    pub email: String,
    /// The display name, decoded; `None` when absent or just the address again.
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
    /// `type/subtype`, lowercased, without parameters.
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
    /// Outlook's Thread-Index, raw (base64): Outlook sometimes sends no
    /// References or In-Reply-To.
    pub thread_index: Option<String>,
    /// The first From address.
    pub from: Option<Address>,
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
    /// The List-Id (the part in <>), when the mail came through a mailing list.
    /// A support address that is itself a group or list (Google Groups) puts its
    /// own List-Id on every customer's mail: compare before trusting `kind`.
    pub list_id: Option<String>,
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
            .filter(|v| !v.is_empty()),
        from: addresses(&message, "From").into_iter().next(),
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
        list_id: raw_field(&message, "List-Id").and_then(|v| list_id(&v)),
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
fn ids(message: &Message<'_>, name: &str) -> Vec<String> {
    raw_field(message, name).map_or_else(Vec::new, |raw| message_ids(&raw))
}

fn message_ids(raw: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut push = |id: String| {
        if !id.is_empty() && !ids.contains(&id) {
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
    if email.is_empty() {
        return None;
    }
    let name = addr
        .name
        .as_deref()
        .map(|n| squash_spaces(n.trim().trim_matches(['"', '\''])))
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&email));
    Some(Address { email, name })
}

/// `Example users <users.lists.example.org>` -> `users.lists.example.org`.
fn list_id(raw: &str) -> Option<String> {
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

/// The elements that shape the text of an html body; every other element is
/// dropped for its content.
#[rustfmt::skip]
const TEXT_TAGS: [&str; 38] = [
    "address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "details",
    "div", "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr",
];

/// Reduces html to the [`TEXT_TAGS`] without attributes: html5ever does the
/// parsing (broken markup, entities), and what comes out is simple enough to walk.
static TEXT_SHAPER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(HashSet::from(TEXT_TAGS))
        .clean_content_tags(HashSet::from(["script", "style", "title", "noscript"]))
        .tag_attributes(HashMap::new())
        .generic_attributes(HashSet::new())
        .link_rel(None);
    builder
});

/// The text an html body shows: block elements on their own lines, `<br>` as line
/// breaks, blockquotes as `> ` lines (so that [`strip_quoted`] treats them as the
/// quotes they are), `<hr>` as the underscore line Outlook's own conversion writes,
/// entities decoded, no tags, nothing of scripts and styles.
pub(crate) fn html_to_text(html: &str) -> String {
    let shaped = TEXT_SHAPER.clean(html).to_string();
    let mut writer = TextWriter::new();
    let mut rest = shaped.as_str();
    while let Some((text, after)) = rest.split_once('<') {
        writer.text(&unescape(text));
        let (tag, after) = after.split_once('>').unwrap_or((after, ""));
        writer.tag(tag);
        rest = after;
    }
    writer.text(&unescape(rest));
    tidy(&writer.out, true)
}

/// The escapes html5ever's serializer writes.
fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&nbsp;", "\u{a0}")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

/// Writes the text of shaped html, line by line.
struct TextWriter {
    out: String,
    quote_depth: usize,
    pre_depth: usize,
    /// Nothing written on the current line yet (not even its quote marks).
    line_empty: bool,
    /// Whitespace seen since the last character: one space before the next.
    space_pending: bool,
}

impl TextWriter {
    fn new() -> Self {
        TextWriter {
            out: String::new(),
            quote_depth: 0,
            pre_depth: 0,
            line_empty: true,
            space_pending: false,
        }
    }

    fn text(&mut self, text: &str) {
        for c in text.chars() {
            if self.pre_depth > 0 {
                if c == '\n' {
                    self.line_break();
                } else {
                    self.put(c);
                }
            } else if c == '\u{a0}' {
                // A non-breaking space is content: `<p>&nbsp;</p>` is an empty line.
                self.flush_space();
                self.put(' ');
            } else if c.is_whitespace() {
                self.space_pending = !self.line_empty;
            } else {
                self.flush_space();
                self.put(c);
            }
        }
    }

    fn tag(&mut self, tag: &str) {
        let (closing, name) = match tag.strip_prefix('/') {
            Some(name) => (true, name),
            None => (false, tag),
        };
        match name {
            "br" => self.line_break(),
            "hr" => {
                self.block();
                "________________________________"
                    .chars()
                    .for_each(|c| self.put(c));
                self.line_break();
            }
            "blockquote" => {
                self.block();
                self.quote_depth = if closing {
                    self.quote_depth.saturating_sub(1)
                } else {
                    self.quote_depth + 1
                };
            }
            "pre" => {
                self.block();
                self.pre_depth = if closing {
                    self.pre_depth.saturating_sub(1)
                } else {
                    self.pre_depth + 1
                };
            }
            "li" => {
                self.block();
                if !closing {
                    self.put('-');
                    self.space_pending = true;
                }
            }
            "td" | "th" => {
                if closing {
                    self.space_pending = !self.line_empty;
                }
            }
            _ => self.block(),
        }
    }

    fn flush_space(&mut self) {
        if std::mem::take(&mut self.space_pending) && !self.line_empty {
            self.out.push(' ');
        }
    }

    /// Writes a character, after the line's quote marks when it is the first.
    fn put(&mut self, c: char) {
        if self.line_empty {
            self.out.push_str(&"> ".repeat(self.quote_depth));
            self.line_empty = false;
        }
        self.out.push(c);
    }

    /// Ends the line; an empty line in a quote still gets its `>`.
    fn line_break(&mut self) {
        if self.line_empty && self.quote_depth > 0 {
            self.out.push_str(&">".repeat(self.quote_depth));
        }
        self.out.push('\n');
        self.line_empty = true;
        self.space_pending = false;
    }

    /// Starts a new line unless on one already.
    fn block(&mut self) {
        if !self.line_empty {
            self.line_break();
        }
    }
}

/// CSS properties kept in `style` attributes: the ones that shape text and tables
/// and cannot load anything (no `url()`: background, list-style, content, cursor,
/// filter, mask) nor cover the page (position, display).
#[rustfmt::skip]
const STYLE_PROPERTIES: [&str; 38] = [
    "background-color", "border", "border-bottom", "border-collapse", "border-color",
    "border-left", "border-radius", "border-right", "border-spacing", "border-style",
    "border-top", "border-width", "color", "direction", "font", "font-family", "font-size",
    "font-style", "font-weight", "height", "letter-spacing", "line-height", "margin",
    "margin-bottom", "margin-left", "margin-right", "margin-top", "max-width", "padding",
    "padding-bottom", "padding-left", "padding-right", "padding-top", "text-align",
    "text-decoration", "vertical-align", "white-space", "width",
];

/// ammonia's defaults (no scripts, event handlers, forms, frames, objects, `<base>`
/// or `<link>`; links get `rel="noopener noreferrer"`), plus: `cid:` image sources
/// so inline images can be shown; no other image sources, because a remote image
/// is a tracking pixel fetched by the agent's browser; no relative URLs (they would
/// resolve against the gateway's own site); `style` only with [`STYLE_PROPERTIES`];
/// Gmail's quote classes, so that a viewer can fold the quoted history.
static HTML_SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .add_clean_content_tags(["title", "noscript"])
        .allowed_classes(HashMap::from([
            (
                "div",
                HashSet::from(["gmail_quote", "gmail_attr", "gmail_signature"]),
            ),
            ("blockquote", HashSet::from(["gmail_quote"])),
        ]))
        .add_url_schemes(["cid"])
        .url_relative(ammonia::UrlRelative::Deny)
        .add_generic_attributes(["style", "dir"])
        .filter_style_properties(HashSet::from(STYLE_PROPERTIES))
        .attribute_filter(|element, attribute, value| {
            let cid = value
                .trim_start()
                .get(..4)
                .is_some_and(|s| s.eq_ignore_ascii_case("cid:"));
            match (element, attribute) {
                ("img", "src") => cid.then(|| value.into()),
                _ if cid => None,
                _ => Some(value.into()),
            }
        });
    builder
});

fn sanitize_html(html: &str) -> String {
    HTML_SANITIZER.clean(html).to_string().trim().to_owned()
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

// ---------------------------------------------------------------------------------
// The kind: bounce, automatic or a person's.

fn kind(message: &Message<'_>, in_reply_to: &[String], references: &[String]) -> MailKind {
    let root = message.root_part();
    if is_type(root, "multipart", &["report"]) {
        if let Some(bounce) = delivery_report(message, in_reply_to, references) {
            return MailKind::Bounce(bounce);
        }
        // Read receipts (disposition-notification), abuse and TLS reports.
        let report_type = root
            .content_type()
            .and_then(|ct| param(ct, "report-type"))
            .unwrap_or("unknown");
        return MailKind::Automatic {
            reason: format!("multipart/report; report-type={report_type}"),
        };
    }
    match automatic_sign(message) {
        Some(reason) => MailKind::Automatic { reason },
        None => MailKind::Regular,
    }
}

/// The first RFC 3834 sign (or a common non-standard one) that a machine sent this,
/// most telling first.
///
/// Not signs: `X-Auto-Response-Suppress` (see `suppresses_auto_replies`) and
/// no-reply senders (web contact forms send from one, with the customer in
/// Reply-To).
fn automatic_sign(message: &Message<'_>) -> Option<String> {
    if let Some(value) = raw_field(message, "Auto-Submitted") {
        let keyword = value.split(';').next().unwrap_or_default().trim();
        if !keyword.is_empty() && !keyword.eq_ignore_ascii_case("no") {
            return Some(format!("Auto-Submitted: {}", keyword.to_lowercase()));
        }
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if raw_field(message, name).is_some_and(|value| {
            !["no", "false", "0"]
                .iter()
                .any(|no| value.eq_ignore_ascii_case(no))
        }) {
            return Some(name.to_owned());
        }
    }
    if raw_field(message, "Return-Path").is_some_and(|path| path.replace(' ', "") == "<>") {
        return Some("Return-Path: <>".into());
    }
    if let Some(from) = addresses(message, "From").first() {
        let local = from.email.split('@').next().unwrap_or_default();
        if local == "mailer-daemon"
            || local == "postmaster"
            || local.starts_with("owner-")
            || local.ends_with("-request")
        {
            return Some(format!("From: {}", from.email));
        }
    }
    if let Some(value) = raw_field(message, "Precedence") {
        let value = value.to_lowercase();
        if ["bulk", "junk", "list", "auto_reply"].contains(&value.as_str()) {
            return Some(format!("Precedence: {value}"));
        }
    }
    if field(message, "List-Id").is_some() {
        return Some("List-Id".into());
    }
    None
}

/// `X-Auto-Response-Suppress: All | AutoReply | OOF` (Microsoft, [MS-OXCMAIL]).
///
/// On a received message this is the sender's request not to be answered
/// automatically, not a sign that a machine wrote it: Exchange puts it on its own
/// auto-replies (which also say `Auto-Submitted`), but senders put it on ordinary
/// mail too (transactional mail, other helpdesks, some Outlook setups). Taking it
/// for automatic would keep a person's reply from reopening the ticket, so it only
/// stops the gateway's acknowledgements (`ParsedMail::may_auto_reply`), which is
/// what the sender asked; the kind comes from the other signs.
fn suppresses_auto_replies(message: &Message<'_>) -> bool {
    raw_field(message, "X-Auto-Response-Suppress").is_some_and(|value| {
        value
            .split([',', ' ', '\t', '\r', '\n'])
            .any(|token| ["all", "autoreply", "oof"].contains(&token.to_lowercase().as_str()))
    })
}

/// The bounce in a `multipart/report` with a `message/delivery-status` part (RFC
/// 3464, RFC 6533 for the `global` one); `None` when there is no such part.
fn delivery_report(
    message: &Message<'_>,
    in_reply_to: &[String],
    references: &[String],
) -> Option<Bounce> {
    let status_part = message
        .parts
        .iter()
        .find(|p| is_type(p, "message", &["delivery-status", "global-delivery-status"]))?;
    let report = String::from_utf8_lossy(status_part.contents());
    let blocks = status_blocks(&report);
    // The first block is about the message; the others are one per recipient. The
    // gateway sends one recipient per message: take the worst news.
    let recipients: Vec<&HashMap<String, String>> = blocks
        .iter()
        .skip(1)
        .filter(|b| b.contains_key("action") || b.contains_key("final-recipient"))
        .collect();
    let action_is = |b: &&&HashMap<String, String>, action: &str| {
        b.get("action")
            .is_some_and(|a| a.eq_ignore_ascii_case(action))
    };
    let block = recipients
        .iter()
        .find(|b| action_is(b, "failed"))
        .or_else(|| recipients.iter().find(|b| action_is(b, "delayed")))
        .or_else(|| recipients.first())
        .copied();
    let get = |name: &str| block.and_then(|b| b.get(name)).map(String::as_str);

    let diagnostic_code = get("diagnostic-code").map(strip_type_label);
    let status = get("status")
        .and_then(|s| s.split_whitespace().next())
        .filter(|s| is_status_code(s))
        .map(str::to_owned)
        .or_else(|| {
            diagnostic_code
                .as_deref()
                .and_then(|d| d.split_whitespace().find(|w| is_status_code(w)))
                .map(str::to_owned)
        });
    let action = get("action")
        .map(|a| a.trim().to_lowercase())
        .unwrap_or_else(|| {
            match status.as_deref().and_then(|s| s.chars().next()) {
                Some('2') => "delivered",
                Some('4') => "delayed",
                _ => "failed",
            }
            .to_owned()
        });
    let permanent = action == "failed" && status.as_deref().is_some_and(|s| s.starts_with('5'));
    let diagnostic = diagnostic_code
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| status_meaning(status.as_deref(), &action));
    let recipient = get("final-recipient")
        .or_else(|| get("original-recipient"))
        .map(|r| strip_type_label(r).trim_matches(['<', '>']).to_lowercase())
        .filter(|r| !r.is_empty());
    Some(Bounce {
        original_message_id: returned_message_id(message)
            .or_else(|| in_reply_to.first().cloned())
            .or_else(|| references.last().cloned()),
        recipient,
        action,
        status,
        permanent,
        diagnostic,
    })
}

/// The blocks of a delivery-status body (header-like fields, blank-line separated),
/// with lowercased names and unfolded values.
fn status_blocks(report: &str) -> Vec<HashMap<String, String>> {
    let mut blocks: Vec<HashMap<String, String>> = vec![HashMap::new()];
    let mut last: Option<String> = None;
    for line in normalize_newlines(report).split('\n') {
        if line.trim().is_empty() {
            if blocks.last().is_some_and(|b| !b.is_empty()) {
                blocks.push(HashMap::new());
            }
            last = None;
        } else if line.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|n| blocks.last_mut()?.get_mut(n)) {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':')
            && let Some(block) = blocks.last_mut()
        {
            let name = name.trim().to_lowercase();
            block
                .entry(name.clone())
                .or_insert_with(|| value.trim().to_owned());
            last = Some(name);
        }
    }
    blocks.retain(|b| !b.is_empty());
    blocks
}

/// `smtp; 550 5.1.1 ...` -> `550 5.1.1 ...`; `rfc822; a@b` -> `a@b`.
fn strip_type_label(value: &str) -> String {
    let value = match value.split_once(';') {
        Some((label, rest)) if !label.trim().contains(' ') => rest,
        _ => value,
    };
    squash_spaces(value)
}

/// `class.subject.detail`, class 2, 4 or 5 (RFC 3463).
fn is_status_code(code: &str) -> bool {
    let parts: Vec<&str> = code.split('.').collect();
    parts.len() == 3
        && ["2", "4", "5"].contains(&parts[0])
        && parts[1..]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// What an enhanced status code means (RFC 3463, RFC 7372), for reports without a
/// Diagnostic-Code.
fn status_meaning(status: Option<&str>, action: &str) -> String {
    let Some(status) = status else {
        return match action {
            "delayed" => "Delivery is delayed; the sending server keeps trying".into(),
            "failed" => "The message could not be delivered".into(),
            other => format!("Delivery status: {other}"),
        };
    };
    let detail = status.split_once('.').map_or("", |(_, rest)| rest);
    let meaning = match detail {
        "1.1" => "Bad destination mailbox address: the mailbox does not exist",
        "1.2" => "Bad destination system address: the domain does not exist or takes no mail",
        "1.3" => "Bad destination mailbox address syntax",
        "1.6" => "The destination mailbox has moved, no forwarding address",
        "1.10" => "The recipient's domain accepts no mail (null MX)",
        "2.1" => "The mailbox is disabled and not accepting messages",
        "2.2" => "The mailbox is full",
        "2.3" => "The message is larger than the mailbox accepts",
        "3.4" => "The message is too big for the receiving system",
        "4.1" => "No answer from the receiving host",
        "4.2" => "The connection to the receiving host broke",
        "4.4" => "Unable to route to the recipient's domain",
        "4.7" => "Delivery time expired",
        "5.3" => "Too many recipients",
        "7.1" => "Delivery not authorized, message refused",
        "7.20" | "7.21" | "7.22" => "Refused: no valid DKIM signature",
        "7.23" => "Refused: SPF validation failed",
        "7.26" => "Refused: the sender's authentication checks failed",
        _ => match detail.split('.').next() {
            Some("1") => "Addressing problem",
            Some("2") => "Mailbox problem",
            Some("3") => "Problem with the receiving mail system",
            Some("4") => "Network or routing problem",
            Some("5") => "Mail delivery protocol problem",
            Some("6") => "Problem with the message content",
            Some("7") => "Refused by security or policy",
            _ => match status.chars().next() {
                Some('2') => "Delivered",
                Some('4') => "Temporary delivery failure",
                _ => "Permanent delivery failure",
            },
        },
    };
    meaning.to_owned()
}

/// The Message-ID of the message a report returns: a `message/rfc822` (or RFC 6532
/// `message/global`) part, or the headers alone (`text/rfc822-headers`; some
/// servers say `message/rfc822-headers`).
fn returned_message_id(message: &Message<'_>) -> Option<String> {
    message.parts.iter().find_map(|part| match &part.body {
        PartType::Message(returned) => ids(returned, "Message-ID").into_iter().next(),
        _ if is_type(part, "text", &["rfc822-headers"])
            || is_type(part, "message", &["rfc822-headers", "rfc822", "global"]) =>
        {
            let mut headers = part.contents().to_vec();
            headers.extend_from_slice(b"\r\n\r\n");
            let returned = mime(&headers, true).ok().flatten()?;
            ids(&returned, "Message-ID").into_iter().next()
        }
        _ => None,
    })
}

// ---------------------------------------------------------------------------------
// The quoted history.

/// The visible part of a reply: everything before the first quoted-history marker.
///
/// Markers: an attribution line (`On <date>, <name> wrote:`, also wrapped over up to
/// three lines as Gmail does, and its de, fr, es, pt, it, nl, ru, zh and ja forms),
/// Outlook's `-----Original Message-----`, and a header block (`From:` with `Sent:`
/// or `Date:` below it, in several languages) with the underscore line Outlook
/// writes above it. A header block under a forward line (`---------- Forwarded
/// message ---------`) is the forwarded mail, kept. After the cut, the signature
/// (from a `-- ` line) and a trailing block of `>` lines go too.
///
/// A reply written below the quote (an attribution at the very top) keeps what
/// follows the quote. When stripping would leave nothing, the whole text is kept.
pub fn strip_quoted(text: &str) -> String {
    let text = normalize_newlines(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut start = 0;
    let mut end = lines.len();
    if let Some(marker) = first_marker(&lines) {
        if lines[..marker.start].iter().any(|l| !is_blank(l)) {
            end = marker.start;
        } else if marker.attribution {
            start = after_leading_quote(&lines, marker.end);
        }
        // Otherwise the message is all history (a forward without a word): keep it.
    }
    if let Some(signature) = (start..end).find(|&i| matches!(lines[i], "-- " | "--")) {
        end = signature;
    }
    while end > start && (is_blank(lines[end - 1]) || is_quoted(lines[end - 1])) {
        end -= 1;
    }
    let kept = tidy(&lines[start..end].join("\n"), false);
    if kept.is_empty() {
        tidy(&text, false)
    } else {
        kept
    }
}

/// Where quoted history starts (`start`) and, for an attribution, the line after it.
struct Marker {
    start: usize,
    end: usize,
    attribution: bool,
}

fn first_marker(lines: &[&str]) -> Option<Marker> {
    (0..lines.len()).find_map(|i| {
        if is_quoted(lines[i]) || is_blank(lines[i]) {
            return None;
        }
        if let Some(start) = attribution_ending_at(lines, i) {
            return Some(Marker {
                start,
                end: i + 1,
                attribution: true,
            });
        }
        if is_original_message_line(lines[i]) {
            return Some(Marker {
                start: i,
                end: i + 1,
                attribution: false,
            });
        }
        if is_header_block(lines, i) {
            let above = (0..i).rev().find(|&j| !is_blank(lines[j]));
            if above.is_some_and(|j| is_forward_line(lines[j])) {
                return None;
            }
            let start = above
                .filter(|&j| is_rule(lines[j]) || is_original_message_line(lines[j]))
                .unwrap_or(i);
            return Some(Marker {
                start,
                end: i + 1,
                attribution: false,
            });
        }
        None
    })
}

/// A reply below the quote: skips the quote that opens the text, unless more quotes
/// follow (then the reply is interleaved and the quotes are its context).
fn after_leading_quote(lines: &[&str], from: usize) -> usize {
    let first = (from..lines.len()).find(|&i| !is_blank(lines[i]));
    let Some(first) = first.filter(|&i| is_quoted(lines[i])) else {
        return from;
    };
    let after = (first..lines.len())
        .find(|&i| !is_quoted(lines[i]) && !is_blank(lines[i]))
        .unwrap_or(lines.len());
    if lines[after..].iter().any(|l| is_quoted(l)) {
        from
    } else {
        after
    }
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// Where an attribution that ends on line `end` starts: that line, or up to two
/// lines above when it was wrapped (the shortest that reads as one wins).
fn attribution_ending_at(lines: &[&str], end: usize) -> Option<usize> {
    for start in (end.saturating_sub(2)..=end).rev() {
        if is_blank(lines[start]) || is_quoted(lines[start]) {
            return None;
        }
        let candidate = squash_spaces(&lines[start..=end].join(" "));
        if candidate.chars().count() > 400 {
            return None;
        }
        if brackets_balanced(&candidate) && is_attribution(&candidate, start < end) {
            return Some(start);
        }
    }
    None
}

/// No `>` before the first `<`: a line that starts inside a wrapped `<address>` is
/// the second half of an attribution, not a whole one.
fn brackets_balanced(text: &str) -> bool {
    match (text.find('<'), text.find('>')) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(open), Some(close)) => open < close,
    }
}

/// Attributions that open with a word and end with one (after spaces are squashed,
/// so `a écrit\u{a0}:` is `a écrit :`).
const ATTRIBUTION_ENDS: [(&str, &str); 7] = [
    ("on ", "wrote:"),
    ("le ", "a écrit :"),
    ("le ", "a écrit:"),
    ("el ", "escribió:"),
    ("em ", "escreveu:"),
    ("il ", "ha scritto:"),
    ("il ", "ha scritto :"),
];

/// de `Am ... schrieb ...:`, nl `Op ... schreef ...:`.
const ATTRIBUTION_VERBS: [(&str, &str); 2] = [("am ", " schrieb "), ("op ", " schreef ")];

/// Attributions known by their end alone: ru, zh, ja.
#[rustfmt::skip]
const ATTRIBUTION_SUFFIXES: [&str; 13] = [
    "написал(а):", "написал:", "написала:", "пишет:",
    "写道：", "写道:", "寫道：", "寫道:",
    "のメッセージ:", "のメッセージ：", "のメール:", "のメール：", "さんは書きました:",
];

/// Whether a line (or wrapped lines, `joined`) says who wrote the quote below. It
/// has a date (a digit), or at least an address; wrapped ones have an address.
fn is_attribution(candidate: &str, joined: bool) -> bool {
    let lower = candidate.to_lowercase();
    let has_digit = lower.chars().any(|c| c.is_ascii_digit());
    let has_address = lower.contains('@');
    if joined && !has_address {
        return false;
    }
    // `Jane Doe <jane@example.net> wrote:`, no date.
    if lower.ends_with("> wrote:") && has_address {
        return true;
    }
    // Without the `On`, as Japanese clients write it: `2026/03/02 16:05, Jane wrote:`.
    if lower.ends_with(" wrote:") && has_time(&lower) && has_year(&lower) {
        return true;
    }
    if !has_digit {
        return false;
    }
    ATTRIBUTION_ENDS
        .iter()
        .any(|(start, end)| lower.starts_with(start) && lower.ends_with(end))
        || ATTRIBUTION_VERBS.iter().any(|(start, verb)| {
            lower.starts_with(start) && lower.contains(verb) && lower.ends_with(':')
        })
        || ATTRIBUTION_SUFFIXES.iter().any(|end| lower.ends_with(end))
        // Gmail in ru, ja and others: `<date> <time>, Name <address>:`.
        || (lower.ends_with(">:") && has_address && has_time(&lower))
}

/// Four digits in a row, as in `2026`.
fn has_year(text: &str) -> bool {
    text.as_bytes()
        .windows(4)
        .any(|w| w.iter().all(u8::is_ascii_digit))
}

/// `16:05`, `4:05`.
fn has_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    (1..bytes.len().saturating_sub(2)).any(|i| {
        bytes[i] == b':'
            && bytes[i - 1].is_ascii_digit()
            && bytes[i + 1].is_ascii_digit()
            && bytes[i + 2].is_ascii_digit()
    })
}

/// `-----Original Message-----` in the languages Outlook writes it in.
#[rustfmt::skip]
const ORIGINAL_MESSAGE: [&str; 9] = [
    "original message", "ursprüngliche nachricht", "message d'origine", "mensaje original",
    "messaggio originale", "mensagem original", "oorspronkelijk bericht",
    "исходное сообщение", "原始邮件",
];

fn is_original_message_line(line: &str) -> bool {
    let trimmed = line.trim();
    if !trimmed.starts_with("---") || !trimmed.ends_with("---") {
        return false;
    }
    let words = trimmed.trim_matches('-').trim().to_lowercase();
    ORIGINAL_MESSAGE.contains(&words.as_str())
}

/// The underscore line Outlook writes above the header block.
fn is_rule(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.len() >= 20 && trimmed.bytes().all(|b| b == b'_')
}

/// What forward lines say: `---------- Forwarded message ---------`, `Begin
/// forwarded message:`, and translations.
#[rustfmt::skip]
const FORWARDED: [&str; 8] = [
    "forwarded message", "begin forwarded message", "message transféré",
    "weitergeleitete nachricht", "mensaje reenviado", "messaggio inoltrato",
    "mensagem encaminhada", "doorgestuurd bericht",
];

fn is_forward_line(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    FORWARDED.iter().any(|words| lower.contains(words))
}

/// `From:` labels of the header block mail clients write above a quoted message.
#[rustfmt::skip]
const FROM_LABELS: [&str; 13] = [
    "from", "de", "von", "van", "da", "od", "от", "från", "fra", "发件人", "寄件者", "差出人",
    "보낸 사람",
];

/// The `Sent:` (or `Date:`) labels that follow the `From:` line.
#[rustfmt::skip]
const SENT_LABELS: [&str; 20] = [
    "sent", "date", "envoyé", "gesendet", "datum", "enviado", "enviada", "fecha", "inviato",
    "data", "verzonden", "отправлено", "дата", "skickat", "sendt", "发送时间", "日期", "送信日時",
    "寄件日期", "보낸 날짜",
];

/// A `From:` line with a `Sent:` line among the next four: one field alone may be
/// the customer's own words.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    label(lines[i]).is_some_and(|l| FROM_LABELS.contains(&l.as_str()))
        && lines[i + 1..]
            .iter()
            .take(4)
            .any(|line| label(line).is_some_and(|l| SENT_LABELS.contains(&l.as_str())))
}

/// The lowercased label of a `Label: value` line (also `*Label:*` and `Label :`).
fn label(line: &str) -> Option<String> {
    let line = line.trim_start().trim_start_matches('*');
    let (label, _) = line.split_once([':', '：'])?;
    let label = label.trim().trim_end_matches('*').trim();
    (!label.is_empty() && label.chars().count() <= 20).then(|| label.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn corpus_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/email")
    }

    fn read(file: &str) -> Vec<u8> {
        std::fs::read(corpus_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    fn parsed(file: &str) -> ParsedMail {
        parse(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    /// What `text` must be.
    enum Text {
        Is(&'static str),
        StartsWith(&'static str),
    }

    /// What `kind` must be; for automatic mail, how `reason` starts.
    enum Kind {
        Regular,
        Automatic(&'static str),
        Bounce {
            original: &'static str,
            action: &'static str,
            permanent: bool,
        },
    }

    /// One corpus file and what parsing it must give.
    struct Case {
        file: &'static str,
        subject: &'static str,
        from: &'static str,
        message_id: &'static str,
        in_reply_to: &'static [&'static str],
        references: &'static [&'static str],
        text: Text,
        html: bool,
        /// filename, content type, content id, inline.
        attachments: &'static [(&'static str, &'static str, Option<&'static str>, bool)],
        kind: Kind,
    }

    const ACK: &str = "sb.01JNX2D4A0.7k3m9q@support.example.com";
    const SHIPPED: &str = "sb.01JNX4K7Q2.7k3m9q@support.example.com";
    const JANE_GMAIL: &str = "CAJx8kQ2mV+fZc1R0o5nW3hTqYp9dG7sLbE4u6AaXkH2jN8rPqw@mail.gmail.com";

    const CASES: &[Case] = &[
        Case {
            file: "gmail-reply.eml",
            subject: "Re: Your order 4417 [#SB-7K3M9Q]",
            from: "jane.doe@example.net",
            message_id: JANE_GMAIL,
            in_reply_to: &[SHIPPED],
            references: &[ACK, SHIPPED],
            text: Text::Is(
                "Hi,\n\nThe parcel still hasn’t arrived. The tracking page says “in transit” since Friday.\n\nCould you check with the carrier?\n\nThanks,\nJane",
            ),
            html: true,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "thunderbird-reply.eml",
            subject: "Re: Invoice for February [#SB-4TQ8ZW]",
            from: "marek@example.org",
            message_id: "5f1c2a9e-3b7d-4e0a-9c61-2d8e4b7a1f03@example.org",
            in_reply_to: &["sb.01JNW9C3D4.4tq8zw@support.example.com"],
            references: &[
                "sb.01JNV0A1B2.4tq8zw@support.example.com",
                "sb.01JNW9C3D4.4tq8zw@support.example.com",
            ],
            text: Text::Is(
                "Hello,\n\nthanks for the quick answer. I checked again and the VAT number on the invoice is still the old one (CZ12345678). Our new one is CZ87654321 since January.\n\nCan you issue a corrected invoice?\n\nBest regards\nMarek",
            ),
            html: false,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "outlook-reply.eml",
            subject: "RE: Your order 4417 [#SB-7K3M9Q]",
            from: "jane.doe@example.net",
            message_id: "AM9PR03MB71210F3C2A9E4B1D8C7E5F12A4B09@AM9PR03MB7121.eurprd03.prod.outlook.com",
            in_reply_to: &[],
            references: &[],
            text: Text::Is(
                "Hello,\n\nThe parcel came today, but the blue mug is missing. I had already paid it déjà twice.\n\nKind regards,\nJane",
            ),
            html: true,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "reply-in-reply-to-only.eml",
            subject: "Re: Password reset [#SB-2HD6RX]",
            from: "tomas.ortega@example.com",
            message_id: "20260303075838.4711.tomas@smtp.example.com",
            in_reply_to: &["sb.01JNY1R5T8.2hd6rx@support.example.com"],
            references: &[],
            text: Text::Is(
                "I tried the link again and it says it has expired.\nCan you send a new one?\n\nTomas",
            ),
            html: false,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "new-message-subject-token.eml",
            subject: "Still waiting for my refund [#SB-7K3M9Q]",
            from: "jane.doe@example.net",
            message_id: "b1e0c7f2-9d44-4a1e-8c3b-6f2a0d9e5c11@example.net",
            in_reply_to: &[],
            references: &[],
            text: Text::Is(
                "Hello again,\n\nI wrote last week about order 4417 and have not heard back.\nPlease reply to this address.",
            ),
            html: false,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "html-only-script.eml",
            subject: "Contact form: broken charger",
            from: "noreply@shop.example.com",
            message_id: "form-5521-1772630055@shop.example.com",
            in_reply_to: &[],
            references: &[],
            text: Text::Is(
                "Name: Lena Fischer\nOrder: 5521\nThe charger arrived broken & the box was open.\nClick here or view order",
            ),
            html: true,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "base64-body.eml",
            subject: "Zwrot towaru – zamówienie 7781",
            from: "a.nowak@example.pl",
            message_id: "e3b4c1d2-77aa-4c1f-b0de-3f5a6b7c8d90@example.pl",
            in_reply_to: &[],
            references: &[],
            text: Text::Is(
                "Dzień dobry,\n\nchciałabym zwrócić zamówienie 7781. Jak mam to zrobić?\n\nPozdrawiam\nAgnieszka",
            ),
            html: false,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "quoted-printable-body.eml",
            subject: "Re\u{a0}: Problème de connexion [#SB-9PL3XA]",
            from: "elodie.martin@example.fr",
            message_id: "0a9b8c7d6e5f4a3b@smtp.example.fr",
            in_reply_to: &["sb.01JNZ7M2K1.9pl3xa@support.example.com"],
            references: &["sb.01JNZ7M2K1.9pl3xa@support.example.com"],
            text: Text::Is(
                "Bonjour,\n\nJe n'arrive toujours pas à me connecter depuis la mise à jour. Le message d'erreur dit «\u{a0}code=403\u{a0}» et la page reste blanche.\n\nMerci d'avance,\nÉlodie",
            ),
            html: false,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "iso-8859-1.eml",
            subject: "Reklamation: Gerät beschädigt [#SB-6MW8RT]",
            from: "juergen.weiss@example.de",
            message_id: "8d2f1e0a-1c3b-4e5d-9f70-a1b2c3d4e5f6@example.de",
            in_reply_to: &["sb.01JNX9F0G3.6mw8rt@support.example.com"],
            references: &["sb.01JNX9F0G3.6mw8rt@support.example.com"],
            text: Text::Is(
                "Guten Tag,\n\ndas Gerät kam beschädigt an, die Verpackung war völlig zerdrückt.\nBitte um Ersatz oder Erstattung.\n\nMit freundlichen Grüßen\nJürgen Weiß",
            ),
            html: false,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "gb2312.eml",
            subject: "关于订单 8842 的问题",
            from: "wang.wei@example.cn",
            message_id: "202603051003053318221@example.cn",
            in_reply_to: &["sb.01JNX3H8J9.3vb7kc@support.example.com"],
            references: &["sb.01JNX3H8J9.3vb7kc@support.example.com"],
            text: Text::Is(
                "您好，\n\n我的订单 8842 还没有发货，请问什么时候可以发出？\n\n谢谢！\n王伟",
            ),
            html: false,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "shift-jis.eml",
            subject: "返品について [#SB-8JD2NF]",
            from: "hanako.sato@example.jp",
            message_id: "20260305102028.A1B2.HANAKO@example.jp",
            in_reply_to: &["sb.01JNX5B6C7.8jd2nf@support.example.com"],
            references: &[],
            text: Text::Is(
                "お世話になっております。\n\n注文番号 9031 の商品を返品したいです。\n手続きを教えてください。\n\nよろしくお願いいたします。\n佐藤 花子",
            ),
            html: false,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "utf8-emoji-subject.eml",
            subject: "Thanks! 🎉 It works now 👍",
            from: "sam.kim@example.com",
            message_id: "7E2C1B0A-9F8E-4D7C-B6A5-948372615A0B@example.com",
            in_reply_to: &["sb.01JNZZ1A2B.5fw9hv@support.example.com"],
            references: &[
                "sb.01JNZY0Z9X.5fw9hv@support.example.com",
                "sb.01JNZZ1A2B.5fw9hv@support.example.com",
            ],
            text: Text::Is("It works now, thank you so much! 🙏\n\nSam"),
            html: true,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "pdf-rfc2231-filename.eml",
            subject: "Rechnung mit falschem Betrag",
            from: "buchhaltung@example.de",
            message_id: "c0ffee00-1234-4abc-8def-000000000001@example.de",
            in_reply_to: &[],
            references: &[],
            text: Text::StartsWith("Guten Tag,\n\nanbei die Rechnung."),
            html: false,
            attachments: &[("Rechnung März 2026.pdf", "application/pdf", None, false)],
            kind: Kind::Regular,
        },
        Case {
            file: "inline-image-cid.eml",
            subject: "Payment error screenshot",
            from: "sam.kim@example.com",
            message_id: "CAB9x0Lw7Yt3pQ2rS1uV4wX5yZ6aB7cD8eF9gH0iJ1kL2mN3oP4q@mail.gmail.com",
            in_reply_to: &[],
            references: &[],
            text: Text::Is(
                "The app shows this error when I try to pay:\n\n[image: screenshot.png]\n\nAny idea?\n\nSam",
            ),
            html: true,
            attachments: &[("screenshot.png", "image/png", Some("ii_m7x1k2p30"), true)],
            kind: Kind::Regular,
        },
        Case {
            file: "attached-eml.eml",
            subject: "Fwd: Order confirmation 5521",
            from: "lena.fischer@example.de",
            message_id: "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7@example.de",
            in_reply_to: &[],
            references: &[],
            text: Text::Is("Forwarding the confirmation I received: the amount is wrong.\n\nLena"),
            html: false,
            attachments: &[("Order confirmation 5521.eml", "message/rfc822", None, false)],
            kind: Kind::Regular,
        },
        Case {
            file: "out-of-office.eml",
            subject: "Automatic reply: Delivery address change [#SB-5NQ2WD]",
            from: "priya.raman@example.com",
            message_id: "DB9PR02MB67148E1F2C3A4B5D6E7F8091A2B3C@DB9PR02MB6714.eurprd02.prod.outlook.com",
            in_reply_to: &["sb.01JNX6C2V4.5nq2wd@support.example.com"],
            references: &["sb.01JNX6C2V4.5nq2wd@support.example.com"],
            text: Text::StartsWith("I am out of the office until 9 March"),
            html: false,
            attachments: &[],
            kind: Kind::Automatic("Auto-Submitted: auto-replied"),
        },
        Case {
            file: "mailing-list.eml",
            subject: "[example-users] Webhook retries after 5xx",
            from: "carlos@example.org",
            message_id: "a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c0d@example.org",
            in_reply_to: &[],
            references: &[],
            text: Text::StartsWith("Does anyone know how many times webhooks are retried"),
            html: false,
            attachments: &[],
            kind: Kind::Automatic("Precedence: list"),
        },
        Case {
            file: "bounce-dsn-failed.eml",
            subject: "Undelivered Mail Returned to Sender",
            from: "mailer-daemon@mx1.support.example.com",
            message_id: "20260302160531.8C1A3E0B2F@mx1.support.example.com",
            in_reply_to: &[],
            references: &[],
            text: Text::StartsWith("This is the mail system at host mx1.support.example.com."),
            html: false,
            attachments: &[
                ("attachment-1.txt", "message/delivery-status", None, false),
                ("attachment-2.txt", "text/rfc822-headers", None, false),
            ],
            kind: Kind::Bounce {
                original: SHIPPED,
                action: "failed",
                permanent: true,
            },
        },
        Case {
            file: "bounce-dsn-delayed.eml",
            subject: "Delivery Status Notification (Delay)",
            from: "mailer-daemon@googlemail.com",
            message_id: "69a5c3b2.050a0220.3c1d2e.0001.GMR@mx.google.com",
            in_reply_to: &["sb.01JNY1R5T8.2hd6rx@support.example.com"],
            references: &["sb.01JNY1R5T8.2hd6rx@support.example.com"],
            text: Text::StartsWith("** Delivery incomplete **"),
            html: true,
            attachments: &[
                ("attachment-1.txt", "message/delivery-status", None, false),
                (
                    "Re: Password reset [#SB-2HD6RX].eml",
                    "message/rfc822",
                    None,
                    false,
                ),
            ],
            kind: Kind::Bounce {
                original: "sb.01JNY9W3E5.2hd6rx@support.example.com",
                action: "delayed",
                permanent: false,
            },
        },
        Case {
            file: "references-reused-other-sender.eml",
            subject: "Re: Your order 4417 [#SB-7K3M9Q]",
            from: "mark.lee@example.net",
            message_id: "f00dfeed-2b3c-4d5e-8f90-a1b2c3d4e5f6@example.net",
            in_reply_to: &[JANE_GMAIL],
            references: &[ACK, SHIPPED, JANE_GMAIL],
            text: Text::Is(
                "I'm Jane's colleague — the parcel was delivered to our office this\nmorning, so this can be closed.\n\nMark",
            ),
            html: false,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "x-auto-response-suppress-person.eml",
            subject: "Re: Contrato anual [#SB-3QK7TB]",
            from: "r.silva@example.com.br",
            message_id: "CP5PR80MB1234A1B2C3D4E5F6A7B8C9D0E1F2A@CP5PR80MB1234.lamprd80.prod.outlook.com",
            in_reply_to: &["sb.01JP3B7N2M.3qk7tb@support.example.com"],
            references: &["sb.01JP3B7N2M.3qk7tb@support.example.com"],
            text: Text::Is(
                "Olá,\n\npodem enviar o contrato atualizado até sexta-feira?\n\nObrigado,\nRafael",
            ),
            html: false,
            attachments: &[],
            kind: Kind::Regular,
        },
        Case {
            file: "autoresponder-x-autorespond.eml",
            subject: "Thank you for your email",
            from: "info@example.biz",
            message_id: "autorespond.1772553960.12345@host.example.biz",
            in_reply_to: &[],
            references: &[],
            text: Text::Is("Thank you for contacting us. We will answer within two business days."),
            html: false,
            attachments: &[],
            kind: Kind::Automatic("X-Autorespond"),
        },
    ];

    fn check(case: &Case) -> Result<(), String> {
        let mail = parse(&read(case.file)).map_err(|e| e.to_string())?;
        let mut problems = Vec::new();
        let mut expect = |what: &str, ok: bool, got: String| {
            if !ok {
                problems.push(format!("{what}: got {got}"));
            }
        };
        expect(
            "subject",
            mail.subject.as_deref() == Some(case.subject),
            format!("{:?}", mail.subject),
        );
        expect(
            "from",
            mail.from.as_ref().map(|a| a.email.as_str()) == Some(case.from),
            format!("{:?}", mail.from),
        );
        expect(
            "message_id",
            mail.message_id.as_deref() == Some(case.message_id),
            format!("{:?}", mail.message_id),
        );
        expect(
            "in_reply_to",
            mail.in_reply_to == case.in_reply_to,
            format!("{:?}", mail.in_reply_to),
        );
        expect(
            "references",
            mail.references == case.references,
            format!("{:?}", mail.references),
        );
        let text_ok = match case.text {
            Text::Is(text) => mail.text == text,
            Text::StartsWith(prefix) => mail.text.starts_with(prefix),
        };
        expect("text", text_ok, format!("{:?}", mail.text));
        expect(
            "html",
            mail.html.is_some() == case.html,
            format!("{:?}", mail.html.is_some()),
        );
        let attachments: Vec<_> = mail
            .attachments
            .iter()
            .map(|a| {
                (
                    a.filename.as_str(),
                    a.content_type.as_str(),
                    a.content_id.as_deref(),
                    a.inline,
                )
            })
            .collect();
        expect(
            "attachments",
            attachments == case.attachments,
            format!("{attachments:?}"),
        );
        let kind_ok = match (&case.kind, &mail.kind) {
            (Kind::Regular, MailKind::Regular) => true,
            (Kind::Automatic(reason), MailKind::Automatic { reason: got }) => {
                got.starts_with(reason)
            }
            (
                Kind::Bounce {
                    original,
                    action,
                    permanent,
                },
                MailKind::Bounce(bounce),
            ) => {
                bounce.original_message_id.as_deref() == Some(*original)
                    && bounce.action == *action
                    && bounce.permanent == *permanent
            }
            _ => false,
        };
        expect("kind", kind_ok, format!("{:?}", mail.kind));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n  "))
        }
    }

    fn corpus_files() -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
            .expect("the corpus folder")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".eml"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn corpus_mail_parses_as_expected() {
        let failures: Vec<String> = CASES
            .iter()
            .filter_map(|case| check(case).err().map(|e| format!("{}:\n  {e}", case.file)))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_corpus_file_has_a_case_and_a_readme_line() {
        let readme = std::fs::read_to_string(corpus_dir().join("README.md")).unwrap();
        for file in corpus_files() {
            assert!(
                CASES.iter().any(|case| case.file == file),
                "{file} has no case"
            );
            assert!(
                readme.contains(&format!("`{file}`")),
                "{file} not in README"
            );
        }
    }

    #[test]
    fn corpus_files_have_crlf_line_ends() {
        for file in corpus_files() {
            let raw = read(&file);
            let bare = raw
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'))
                .count();
            assert_eq!(bare, 0, "{file} has bare LF line ends");
        }
    }

    #[test]
    fn html_is_sanitized_but_keeps_inline_images() {
        let html = parsed("html-only-script.eml").html.unwrap();
        for banned in [
            "<script",
            "document.cookie",
            "onclick",
            "onload",
            "onmouseover",
            "javascript:",
            "tracker.example.net",
            "<iframe",
            "<form",
            "<input",
            "<style",
        ] {
            assert!(!html.contains(banned), "{banned} left in {html}");
        }
        assert!(html.contains("<b>charger</b>"), "{html}");
        assert!(
            html.contains(r#"href="https://shop.example.com/orders/5521""#),
            "{html}"
        );

        let html = parsed("inline-image-cid.eml").html.unwrap();
        assert!(html.contains(r#"src="cid:ii_m7x1k2p30""#), "{html}");
    }

    #[test]
    fn sanitizing_drops_remote_images_relative_urls_and_risky_styles() {
        let html = sanitize_html(
            r#"<p style="color:red;background:url(https://t.example/x.gif);position:fixed">Hi</p><img src="https://t.example/p.gif" alt="logo"><a href="/account">me</a><a href="cid:x">y</a><svg><image href="https://t.example/s"/></svg>"#,
        );
        assert!(html.contains(r#"<p style="color:red">Hi</p>"#), "{html}");
        assert!(!html.contains("t.example"), "{html}");
        assert!(!html.contains("/account"), "{html}");
        assert!(!html.contains("cid:x"), "{html}");
        assert!(html.contains(r#"alt="logo""#), "{html}");
    }

    #[test]
    fn html_becomes_readable_text() {
        let cases = [
            ("<p>One</p><p>Two &amp; three</p>", "One\nTwo & three"),
            ("<div>a<br>b</div><div><br></div><div>c</div>", "a\nb\n\nc"),
            (
                "<ul><li>first</li><li> second </li></ul>",
                "- first\n- second",
            ),
            (
                "Hi<blockquote>quoted<br><br>more<blockquote>deeper</blockquote></blockquote>after",
                "Hi\n> quoted\n>\n> more\n> > deeper\nafter",
            ),
            ("<pre>  keep\n    indents</pre>", "  keep\n    indents"),
            (
                "<table><tr><td>Item</td><td>Qty</td></tr><tr><td>Mug</td><td>2</td></tr></table>",
                "Item Qty\nMug 2",
            ),
            (
                "<head><title>T</title><style>p{}</style></head><script>x()</script>Text &lt;tag&gt; &eacute;&#233;",
                "Text <tag> éé",
            ),
            ("x<hr>y", "x\n________________________________\ny"),
            ("<p>a&nbsp;&nbsp;b</p><p>&nbsp;</p><p>c</p>", "a  b\n\nc"),
        ];
        for (html, text) in cases {
            assert_eq!(html_to_text(html), text, "{html}");
        }
    }

    #[test]
    fn outlook_desktop_html_keeps_only_the_reply() {
        let html = concat!(
            "<html><head><!--[if gte mso 9]><xml><o:shapedefaults v:ext=\"edit\"/></xml>",
            "<![endif]--><style>p.MsoNormal{margin:0cm}</style></head><body>",
            "<div class=WordSection1><p class=MsoNormal>Hi team,<o:p></o:p></p>",
            "<p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal>Any update?<o:p></o:p></p>",
            "<p class=MsoNormal><o:p>&nbsp;</o:p></p>",
            "<div style='border:none;border-top:solid #E1E1E1 1.0pt'><p class=MsoNormal>",
            "<b>From:</b> Support &lt;s@x.com&gt;<br><b>Sent:</b> 02 March 2026 16:05<br>",
            "<b>To:</b> Priya<br><b>Subject:</b> Address</p></div>",
            "<p class=MsoNormal>Hello Priya,</p></div></body></html>",
        );
        assert_eq!(strip_quoted(&html_to_text(html)), "Hi team,\n\nAny update?");
    }

    #[test]
    fn format_flowed_is_joined() {
        assert_eq!(
            unflow("one \ntwo\n> quoted \n> more\n-- \nsig", false),
            "one two\n> quoted more\n-- \nsig\n"
        );
        assert_eq!(unflow("a-\nb", true), "a-\nb\n");
        assert_eq!(unflow("joined- \nword", true), "joined-word\n");
        assert_eq!(unflow(" >stuffed", false), ">stuffed\n");
    }

    #[test]
    fn strip_quoted_finds_history_markers() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "en, one line",
                "Thanks!\n\nOn Mon, 2 Mar 2026 at 16:05, Support <s@x.com> wrote:\n> old",
                "Thanks!",
            ),
            (
                "en, Gmail wrap inside the address",
                "Thanks!\n\nOn Mon, Mar 2, 2026 at 4:05\u{202f}PM Support <\ns@x.com> wrote:\n\n> old",
                "Thanks!",
            ),
            (
                "en, Gmail wrap before wrote",
                "Thanks!\nOn Mon, 2 Mar 2026 at 16:05, Switchboard Support <support@support.example.com>\nwrote:\n> old",
                "Thanks!",
            ),
            (
                "en, no date",
                "Thanks!\nJane Doe <jane@example.net> wrote:\n> old",
                "Thanks!",
            ),
            (
                "de",
                "Danke.\n\nAm 02.03.2026 um 16:05 schrieb Support <s@x.de>:\n> alt",
                "Danke.",
            ),
            (
                "de, Gmail wrap",
                "Danke.\n\nAm Mo., 2. März 2026 um 16:05 Uhr schrieb Support <\ns@x.de>:\n> alt",
                "Danke.",
            ),
            (
                "fr, nbsp before the colon",
                "Merci.\n\nLe lun. 2 mars 2026 à 16:05, Support <s@x.fr> a écrit\u{a0}:\n> ancien",
                "Merci.",
            ),
            (
                "es",
                "Gracias.\n\nEl lun, 2 mar 2026 a las 16:05, Support (<s@x.es>) escribió:\n> viejo",
                "Gracias.",
            ),
            (
                "pt",
                "Obrigado.\n\nEm seg., 2 de mar. de 2026 às 16:05, Support <s@x.br> escreveu:\n> antigo",
                "Obrigado.",
            ),
            (
                "it",
                "Grazie.\n\nIl giorno lun 2 mar 2026 alle ore 16:05 Support <s@x.it> ha scritto:\n> vecchio",
                "Grazie.",
            ),
            (
                "nl",
                "Bedankt.\n\nOp ma 2 mrt 2026 om 16:05 schreef Support <s@x.nl>:\n> oud",
                "Bedankt.",
            ),
            (
                "ru, Thunderbird",
                "Спасибо.\n\n02.03.2026 16:05, Support пишет:\n> старое",
                "Спасибо.",
            ),
            (
                "ru, написал(а)",
                "Спасибо.\n\nПн, 2 мар. 2026 г. в 16:05, Support <s@x.ru> написал(а):\n> старое",
                "Спасибо.",
            ),
            (
                "ru, Gmail",
                "Спасибо.\n\nпн, 2 мар. 2026 г. в 16:05, Support <s@x.ru>:\n> старое",
                "Спасибо.",
            ),
            (
                "zh",
                "谢谢。\n\nSupport <s@x.cn> 于2026年3月2日周一 下午4:05写道：\n> 旧",
                "谢谢。",
            ),
            (
                "zh, Gmail wrap inside the address",
                "谢谢。\nSupport <\ns@x.cn> 于2026年3月2日周一 下午4:05写道：\n> 旧",
                "谢谢。",
            ),
            (
                "ja, のメッセージ",
                "ありがとう。\n\n2026/03/02 16:05、Support <s@x.jp> のメッセージ:\n> 古い",
                "ありがとう。",
            ),
            (
                "ja, Thunderbird",
                "ありがとう。\n\n2026/03/02 16:05, Support wrote:\n> 古い",
                "ありがとう。",
            ),
            (
                "a time is not a date",
                "At 16:05 my manager wrote:\nplease call back.",
                "At 16:05 my manager wrote:\nplease call back.",
            ),
            (
                "ja, Gmail",
                "ありがとう。\n\n2026年3月2日(月) 16:05 Support <s@x.jp>:\n> 古い",
                "ありがとう。",
            ),
            (
                "Outlook separator",
                "Fine.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nold",
                "Fine.",
            ),
            (
                "Outlook header block with the underscore line",
                "Fine.\n\n________________________________\nFrom: Support <s@x.com>\nSent: Monday, March 2, 2026 16:05\nTo: Jane\nSubject: Order\n\nold",
                "Fine.",
            ),
            (
                "Outlook, French",
                "D'accord.\n\nDe : Support <s@x.fr>\nEnvoyé : lundi 2 mars 2026 16:05\nÀ : Élodie\nObjet : Commande\n\nancien",
                "D'accord.",
            ),
            (
                "Outlook, German, bold labels from html",
                "Gut.\n\n*Von:* Support <s@x.de>\n*Gesendet:* Montag, 2. März 2026 16:05\n*An:* Jürgen\n\nalt",
                "Gut.",
            ),
            (
                "signature",
                "See you.\n\n-- \nJane Doe\n+44 20 7946 0000",
                "See you.",
            ),
            (
                "trailing quote without attribution",
                "Yes, please.\n\n> Shall we send a new one?\n>",
                "Yes, please.",
            ),
            (
                "interleaved answers keep their quotes",
                "On 02/03/2026 16:05, Support wrote:\n> Name?\nJane\n> Order?\n4417\n> Anything else?",
                "> Name?\nJane\n> Order?\n4417",
            ),
            (
                "reply below the quote",
                "On 02/03/2026 16:05, Support wrote:\n> Which colour?\n> Blue or red?\n\nBlue, please.\n\n-- \nJane",
                "Blue, please.",
            ),
            (
                "a forward keeps the forwarded mail",
                "See below.\n\n---------- Forwarded message ---------\nFrom: Shop <o@shop.example>\nDate: Tue, 24 Feb 2026\nSubject: Order\n\nTotal: 129",
                "See below.\n\n---------- Forwarded message ---------\nFrom: Shop <o@shop.example>\nDate: Tue, 24 Feb 2026\nSubject: Order\n\nTotal: 129",
            ),
            (
                "nothing but history: kept",
                "> only a quote\n> nothing else",
                "> only a quote\n> nothing else",
            ),
            (
                "a sentence is not an attribution",
                "On Monday my colleague\nwrote: the order is 4417.\nPlease check.",
                "On Monday my colleague\nwrote: the order is 4417.\nPlease check.",
            ),
            (
                "one field is not a header block",
                "From: my account page\nI cannot log in.",
                "From: my account page\nI cannot log in.",
            ),
            ("CRLF line ends", "Hi\r\n\r\n-- \r\nJ", "Hi"),
        ];
        for (label, text, visible) in cases {
            assert_eq!(strip_quoted(text), *visible, "{label}");
        }
    }

    #[test]
    fn header_fields_are_decoded() {
        let mail = parsed("reply-in-reply-to-only.eml");
        assert_eq!(
            mail.from,
            Some(Address {
                email: "tomas.ortega@example.com".into(),
                name: Some("Tomás Ortega".into()),
            })
        );
        assert_eq!(mail.date, Some(1_772_524_718));

        let mail = parsed("gb2312.eml");
        assert_eq!(mail.from.unwrap().name.as_deref(), Some("王伟"));
        let mail = parsed("shift-jis.eml");
        assert_eq!(mail.from.unwrap().name.as_deref(), Some("佐藤 花子"));
        let mail = parsed("iso-8859-1.eml");
        assert_eq!(mail.from.unwrap().name.as_deref(), Some("Jürgen Weiß"));

        let mail = parsed("new-message-subject-token.eml");
        assert_eq!(mail.from.unwrap().name.as_deref(), Some("Doe, Jane"));
        let cc: Vec<_> = mail.cc.iter().map(|a| a.email.as_str()).collect();
        assert_eq!(cc, ["accounts@example.net", "billing@example.net"]);
        assert_eq!(mail.to[0].email, "support@support.example.com");
        assert!(mail.full_text.ends_with("Example Corp | +44 20 7946 0000"));

        let mail = parsed("html-only-script.eml");
        assert_eq!(
            mail.reply_to,
            Some(Address {
                email: "lena.fischer@example.de".into(),
                name: Some("Lena Fischer".into()),
            })
        );

        let mail = parsed("outlook-reply.eml");
        assert_eq!(
            mail.thread_index.as_deref(),
            Some("AQHcqv3kV0pYk2mC7UaFq1r9bT3mJrRz4pAw")
        );
        assert!(
            mail.full_text
                .contains("\n________________________________\nFrom: Switchboard Support"),
            "{}",
            mail.full_text
        );

        let mail = parsed("bounce-dsn-failed.eml");
        assert_eq!(
            mail.from.unwrap().name.as_deref(),
            Some("Mail Delivery System")
        );
    }

    #[test]
    fn attachments_carry_their_bytes() {
        let mail = parsed("pdf-rfc2231-filename.eml");
        assert!(mail.attachments[0].bytes.starts_with(b"%PDF-1.4"));
        assert!(mail.attachments[0].bytes.ends_with(b"%%EOF\n"));

        let mail = parsed("inline-image-cid.eml");
        assert!(mail.attachments[0].bytes.starts_with(b"\x89PNG\r\n"));

        let mail = parsed("attached-eml.eml");
        let attached = parse(&mail.attachments[0].bytes).unwrap();
        assert_eq!(attached.subject.as_deref(), Some("Order confirmation 5521"));
        assert_eq!(
            attached.message_id.as_deref(),
            Some("order-5521@shop.example.com")
        );
        assert_eq!(
            attached.text,
            "Thank you for your order 5521.\nTotal: EUR 129.00"
        );

        let mail = parsed("bounce-dsn-delayed.eml");
        let returned = parse(&mail.attachments[1].bytes).unwrap();
        assert_eq!(
            returned.message_id.as_deref(),
            Some("sb.01JNY9W3E5.2hd6rx@support.example.com")
        );
    }

    #[test]
    fn attachment_names_are_decoded_and_made_safe() {
        let raw = concat!(
            "From: a@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
            "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n",
            "--b\r\nContent-Type: application/pdf\r\n",
            "Content-Disposition: attachment; filename=\"=?UTF-8?B?w5xiZXJzaWNodC5wZGY=?=\"\r\n",
            "\r\n%PDF\r\n",
            "--b\r\nContent-Type: text/plain; charset=iso-8859-1; name=\"../../etc/passwd\"\r\n",
            "Content-Disposition: attachment\r\nContent-Transfer-Encoding: quoted-printable\r\n",
            "\r\nroot=E9\r\n",
            "--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n",
            "Content-Disposition: attachment\r\n\r\niVBORw0KGgo=\r\n",
            "--b--\r\n",
        );
        let mail = parse(raw.as_bytes()).unwrap();
        let files: Vec<_> = mail
            .attachments
            .iter()
            .map(|a| (a.filename.as_str(), a.content_type.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                ("Übersicht.pdf", "application/pdf"),
                ("passwd", "text/plain"),
                ("attachment-3.png", "image/png"),
            ]
        );
        // Text attachments come as UTF-8.
        assert_eq!(&mail.attachments[1].bytes[..], "rooté".as_bytes());
        assert_eq!(mail.text, "See attached.");
    }

    #[test]
    fn bounces_say_what_happened() {
        let MailKind::Bounce(bounce) = parsed("bounce-dsn-failed.eml").kind else {
            panic!("not a bounce");
        };
        assert_eq!(
            bounce,
            Bounce {
                original_message_id: Some(SHIPPED.into()),
                recipient: Some("jane.doe@exmaple.net".into()),
                action: "failed".into(),
                status: Some("5.1.1".into()),
                permanent: true,
                diagnostic: "550 5.1.1 <jane.doe@exmaple.net>: Recipient address rejected: User unknown in virtual mailbox table".into(),
            }
        );

        let MailKind::Bounce(bounce) = parsed("bounce-dsn-delayed.eml").kind else {
            panic!("not a bounce");
        };
        assert_eq!(
            bounce,
            Bounce {
                original_message_id: Some("sb.01JNY9W3E5.2hd6rx@support.example.com".into()),
                recipient: Some("tomas.ortega@example.com".into()),
                action: "delayed".into(),
                status: Some("4.4.7".into()),
                permanent: false,
                diagnostic: "Delivery time expired".into(),
            }
        );
    }

    fn with_headers(headers: &str) -> ParsedMail {
        let raw = format!(
            "From: Ana <ana@example.com>\r\nTo: support@support.example.com\r\nSubject: Hi\r\n{headers}\r\nHello\r\n"
        );
        parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn automatic_signs_and_auto_reply_permission() {
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("", None, true),
            ("Auto-Submitted: no\r\n", None, true),
            (
                "Auto-Submitted: auto-generated; owner-email=\"x@y\"\r\n",
                Some("Auto-Submitted: auto-generated"),
                false,
            ),
            ("Precedence: bulk\r\n", Some("Precedence: bulk"), false),
            ("Precedence: junk\r\n", Some("Precedence: junk"), false),
            ("Precedence: first-class\r\n", None, true),
            ("List-Id: <news.example.com>\r\n", Some("List-Id"), false),
            ("Return-Path: <>\r\n", Some("Return-Path: <>"), false),
            ("Return-Path: <ana@example.com>\r\n", None, true),
            ("X-Autoreply: yes\r\n", Some("X-Autoreply"), false),
            // The sender asks for no auto-reply: still a person, but no acknowledgement.
            ("X-Auto-Response-Suppress: All\r\n", None, false),
            ("X-Auto-Response-Suppress: DR, OOF\r\n", None, false),
            ("X-Auto-Response-Suppress: DR, NDR\r\n", None, true),
        ];
        for (headers, reason, may_auto_reply) in cases {
            let mail = with_headers(headers);
            let got = match &mail.kind {
                MailKind::Automatic { reason } => Some(reason.as_str()),
                _ => None,
            };
            assert_eq!(got, *reason, "{headers}");
            assert_eq!(mail.may_auto_reply, *may_auto_reply, "{headers}");
        }
        for (from, automatic) in [
            ("MAILER-DAEMON@example.com", true),
            ("postmaster@example.com", true),
            ("owner-users@lists.example.org", true),
            ("users-request@lists.example.org", true),
            ("noreply@shop.example.com", false),
        ] {
            let raw = format!("From: {from}\r\nSubject: x\r\n\r\nbody\r\n");
            let kind = parse(raw.as_bytes()).unwrap().kind;
            assert_eq!(
                matches!(kind, MailKind::Automatic { .. }),
                automatic,
                "{from}"
            );
        }
        assert_eq!(
            parsed("mailing-list.eml").list_id.as_deref(),
            Some("users.lists.example.org")
        );
        assert!(!parsed("x-auto-response-suppress-person.eml").may_auto_reply);
        assert!(parsed("gmail-reply.eml").may_auto_reply);
    }

    #[test]
    fn read_receipts_are_automatic_not_bounces() {
        let raw = "From: Ana <ana@example.com>\r\nSubject: Read: Order\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822; ana@example.com\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n";
        assert_eq!(
            parse(raw.as_bytes()).unwrap().kind,
            MailKind::Automatic {
                reason: "multipart/report; report-type=disposition-notification".into()
            }
        );
    }

    #[test]
    fn not_an_email() {
        for raw in [
            &b""[..],
            b"  \r\n ",
            b"\x00\x01\x02\xff",
            b"just some words",
            b"key: value\nother: thing\n",
        ] {
            assert!(parse(raw).is_err(), "{:?}", String::from_utf8_lossy(raw));
        }
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Nothing but mail-parser's debug assertions (which come back as an error) may
    /// panic: `parse_message` is `parse` without its last guard.
    fn survives(raw: &[u8], what: impl Fn() -> String) {
        let outcome = std::panic::catch_unwind(|| parse_message(raw));
        assert!(outcome.is_ok(), "panicked on {}", what());
    }

    /// Bytes that mean something to a MIME parser.
    const SPECIAL: &[u8] = b"\r\n\t -=:;<>\"'?%*\\_\x00\xff\x80";

    #[test]
    fn truncated_and_mutated_corpus_mail_never_panics() {
        let mut rng = Rng(0x5eed_cafe_f00d_d00d);
        for file in corpus_files() {
            let raw = read(&file);
            // Every prefix near the start and the end, a sample of the rest.
            for len in 0..=raw.len() {
                if len < 300 || raw.len() - len < 300 || len % 23 == 0 {
                    survives(&raw[..len], || format!("{file} cut at {len}"));
                }
            }
            for round in 0..300 {
                let mut mutated = raw.clone();
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(mutated.len());
                    match rng.below(4) {
                        0 => mutated[at] ^= 1 << rng.below(8),
                        1 => mutated[at] = SPECIAL[rng.below(SPECIAL.len())],
                        2 => mutated.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
                        _ => {
                            mutated.remove(at);
                        }
                    }
                }
                survives(&mutated, || format!("{file}, mutation {round}"));
            }
        }
    }
}
