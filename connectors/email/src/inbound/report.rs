//! The kind of a mail: a person's, automatic (RFC 3834 signs and common
//! non-standard ones), or a bounce, read from its delivery status notification
//! (RFC 3464).

use std::collections::HashMap;

use mail_parser::{Message, MimeHeaders, PartType};

use super::{
    Bounce, MailKind, addresses, ids, is_type, list_id, mime, normalize_newlines, param, raw_field,
    squash_spaces,
};

pub(super) fn kind(
    message: &Message<'_>,
    in_reply_to: &[String],
    references: &[String],
) -> MailKind {
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
    if let Some(reason) = automatic_sign(message) {
        return MailKind::Automatic { reason };
    }
    let list_id = raw_field(message, "List-Id").and_then(|v| list_id(&v));
    let precedence_list = raw_field(message, "Precedence")
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("list"));
    if list_id.is_some() || precedence_list {
        return MailKind::List { id: list_id };
    }
    MailKind::Regular
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
        if ["bulk", "junk", "auto_reply"].contains(&value.as_str()) {
            return Some(format!("Precedence: {value}"));
        }
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
pub(super) fn suppresses_auto_replies(message: &Message<'_>) -> bool {
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
