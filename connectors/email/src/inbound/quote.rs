//! The quoted history of a reply: [`strip_quoted`] and the markers it looks for
//! (attributions, Outlook's separators and header blocks, forward lines), with
//! their labels in the languages mail clients write them in.

use super::{normalize_newlines, squash_spaces, tidy};

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
