//! What a customer may ask the gateway itself rather than an agent: the status of a
//! ticket by its reference, and a satisfaction rating.
//!
//! Both are recognized only when they are the whole message, by a small explicit
//! grammar: a message that says anything more is for agents. Missing a request costs
//! an agent a moment; taking a customer's message for a command would hide it.

use super::triage::{fold, is_unspaced};
use crate::reference;

/// Words that ask for a status: a request needs at least one (in any language;
/// customers here mix English, Malay and Chinese in one line).
#[rustfmt::skip]
const ASKING: &[&str] = &[
    // English
    "status", "check", "progress", "update", "updates",
    // Malay
    "semak", "periksa", "cek", "kemaskini",
    // Chinese (simplified and traditional)
    "状态", "狀態", "查询", "查詢", "查看", "查", "进度", "進度", "进展", "進展",
];

/// Words allowed around the reference besides those of [`ASKING`]. Apostrophes are
/// dropped before looking (`what's` is `whats`).
#[rustfmt::skip]
const FILLER: &[&str] = &[
    // English
    "what", "whats", "is", "the", "of", "my", "ticket", "case", "please", "pls", "plz",
    "for", "on", "any", "hi", "hello", "hey", "can", "could", "you", "tell", "me", "i",
    "know", "current",
    // Malay
    "apa", "apakah", "tiket", "kes", "saya", "untuk", "sila", "tolong", "boleh",
    "bagaimana", "terkini", "hai", "helo",
    // Chinese (simplified and traditional)
    "工单号", "工單號", "工单", "工單", "单号", "單號", "我的", "的", "请问", "請問", "请",
    "請", "帮我", "幫我", "帮忙", "幫忙", "麻烦", "麻煩", "一下", "怎么样", "怎麼樣", "如何",
    "什么", "什麼", "是", "现在", "現在", "目前", "你好", "您好", "了", "吗", "嗎", "呢",
];

/// The reference a customer asks the status of, when the whole message is such a request:
/// "status SB-7K3M9Q", "Status of SB-7K3M9Q?", "what is the status of sb-7k3m9q", "SB-7K3M9Q status",
/// Malay "status SB-7K3M9Q", "semak status SB-7K3M9Q", "semak SB-7K3M9Q", "status tiket SB-7K3M9Q", "apa status SB-7K3M9Q",
/// Chinese "状态 SB-7K3M9Q", "查询 SB-7K3M9Q", "SB-7K3M9Q 状态", "查询工单 SB-7K3M9Q", "SB-7K3M9Q的进度".
/// Upper-cased. None for a message that merely mentions a reference among other content
/// ("about SB-7K3M9Q: my withdrawal is still missing, please check status") — it is a message for agents.
///
/// The message must hold one reference (it may repeat), at least one asking word and
/// otherwise only filler words; punctuation, symbols and emoji are ignored. A bare
/// reference is not a request: it is how customers say which ticket they write about.
pub fn status_request(reference_prefix: &str, text: &str) -> Option<String> {
    let found = reference::find_all(reference_prefix, text);
    let [reference] = found.as_slice() else {
        return None;
    };
    let rest = text.to_ascii_uppercase().replace(reference.as_str(), " ");
    let rest = fold(&rest).replace(['\'', '’'], "");
    let mut asked = false;
    let mut word = |word: &str| {
        if ASKING.contains(&word) {
            asked = true;
            true
        } else {
            FILLER.contains(&word)
        }
    };
    let mut chars = rest.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if !c.is_alphanumeric() {
            continue;
        }
        // A run of letters of one kind: a spaced word, or Han text to cut into words.
        let unspaced = is_unspaced(c);
        let mut end = start + c.len_utf8();
        while let Some(&(at, next)) = chars.peek() {
            if !next.is_alphanumeric() || is_unspaced(next) != unspaced {
                break;
            }
            end = at + next.len_utf8();
            chars.next();
        }
        let run = &rest[start..end];
        let known = if unspaced {
            segment(run, &mut word)
        } else {
            word(run)
        };
        if !known {
            return None;
        }
    }
    asked.then(|| reference.clone())
}

/// Cuts text without spaces into known words, the longest first at each place;
/// false when some of it is no known word.
fn segment(mut run: &str, word: &mut impl FnMut(&str) -> bool) -> bool {
    while !run.is_empty() {
        let longest = ASKING
            .iter()
            .chain(FILLER)
            .filter(|known| run.starts_with(**known))
            .max_by_key(|known| known.len());
        match longest {
            Some(known) if word(known) => run = &run[known.len()..],
            _ => return false,
        }
    }
    true
}

/// A satisfaction rating 1-5 when the whole message is one: "5", " 4 ", "4/5", "5 stars", "３" (full-width), "⭐⭐⭐⭐", "4⭐",
/// "csat:4" (a button's payload), Malay "5 bintang", Chinese "5分", "5星". None otherwise ("5 BTC", "I waited 5 hours", "0", "6", "10").
///
/// A bare digit counts, so this is for messages where a rating is expected (the
/// reply to a satisfaction survey). A closing "!" or "." is allowed ("5!").
pub fn csat_rating(text: &str) -> Option<u8> {
    let folded = fold(text);
    let message = folded.trim().trim_end_matches(['!', '.']).trim_end();
    let in_scale = |digit: char| digit.to_digit(10).filter(|n| (1..=5).contains(n));
    if let Some(payload) = message.strip_prefix("csat:") {
        let mut chars = payload.trim().chars();
        let (digit, None) = (chars.next()?, chars.next()) else {
            return None;
        };
        return in_scale(digit).map(|n| n as u8);
    }
    let is_star = |c: char| c == '⭐' || c == '★';
    if !message.is_empty()
        && message
            .chars()
            .all(|c| is_star(c) || c == '\u{FE0F}' || c.is_whitespace())
    {
        let stars = message.chars().filter(|&c| is_star(c)).count();
        return (1..=5).contains(&stars).then_some(stars as u8);
    }
    let mut chars = message.chars();
    let rating = in_scale(chars.next()?)?;
    let unit: String = chars.as_str().split_whitespace().collect();
    let unit = unit.trim_end_matches('\u{FE0F}');
    let known = matches!(
        unit,
        "" | "/5"
            | "outof5"
            | "⭐"
            | "★"
            | "star"
            | "stars"
            | "bintang"
            | "分"
            | "星"
            | "颗星"
            | "顆星"
    );
    known.then_some(rating as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(text: &str) -> Option<String> {
        status_request("SB", text)
    }

    #[test]
    fn status_requests_in_english() {
        for text in [
            "status SB-7K3M9Q",
            "Status of SB-7K3M9Q?",
            "what is the status of sb-7k3m9q",
            "What's the status of SB-7K3M9Q",
            "SB-7K3M9Q status",
            "SB-7K3M9Q status?",
            "check SB-7K3M9Q",
            "Hi, any update on SB-7K3M9Q please",
            "[#SB-7K3M9Q] status",
            "  STATUS   SB-7K3M9Q !! ",
        ] {
            assert_eq!(status(text).as_deref(), Some("SB-7K3M9Q"), "{text:?}");
        }
    }

    #[test]
    fn status_requests_in_malay() {
        for text in [
            "status SB-7K3M9Q",
            "semak status SB-7K3M9Q",
            "semak SB-7K3M9Q",
            "status tiket SB-7K3M9Q",
            "apa status SB-7K3M9Q",
            "Tolong semak tiket saya SB-7K3M9Q",
            "pls semak status sb-7k3m9q",
        ] {
            assert_eq!(status(text).as_deref(), Some("SB-7K3M9Q"), "{text:?}");
        }
    }

    #[test]
    fn status_requests_in_chinese() {
        for text in [
            "状态 SB-7K3M9Q",
            "查询 SB-7K3M9Q",
            "SB-7K3M9Q 状态",
            "查询工单 SB-7K3M9Q",
            "SB-7K3M9Q的进度",
            "请问SB-7K3M9Q的状态是什么？",
            "查詢工單SB-7K3M9Q",
            "SB-7K3M9Q 进度如何",
        ] {
            assert_eq!(status(text).as_deref(), Some("SB-7K3M9Q"), "{text:?}");
        }
    }

    #[test]
    fn messages_that_say_more_are_for_agents() {
        for text in [
            "about SB-7K3M9Q: my withdrawal is still missing, please check status",
            "SB-7K3M9Q",
            "status",
            "status please",
            "cancel SB-7K3M9Q",
            "is SB-7K3M9Q resolved?",
            "status SB-7K3M9Q and SB-2345AB",
            "semak SB-7K3M9Q, pengeluaran saya belum masuk",
            "SB-7K3M9Q 提款还没到",
            "查询SB-7K3M9Q为什么还没处理",
            // Not a reference: 0 is not in the alphabet, the prefix differs, a longer token.
            "status SB-7K3M0Q",
            "status AB-7K3M9Q",
            "status XSB-7K3M9Q",
            "",
        ] {
            assert_eq!(status(text), None, "{text:?}");
        }
        // The same reference twice is still one.
        assert_eq!(
            status("SB-7K3M9Q status SB-7K3M9Q").as_deref(),
            Some("SB-7K3M9Q")
        );
        // Another prefix.
        assert_eq!(
            status_request("HX", "status hx-7k3m9q").as_deref(),
            Some("HX-7K3M9Q")
        );
    }

    #[test]
    fn ratings() {
        for (text, rating) in [
            ("5", 5),
            (" 4 ", 4),
            ("1", 1),
            ("4/5", 4),
            ("4 / 5", 4),
            ("5 stars", 5),
            ("1 star", 1),
            ("5 Stars!", 5),
            ("3 out of 5", 3),
            ("３", 3),
            ("４／５", 4),
            ("⭐⭐⭐⭐", 4),
            ("⭐️⭐️⭐️", 3),
            ("★★", 2),
            ("4⭐", 4),
            ("4 ⭐️", 4),
            ("csat:4", 4),
            ("CSAT: 2", 2),
            ("5 bintang", 5),
            ("5分", 5),
            ("5星", 5),
            ("4 颗星", 4),
        ] {
            assert_eq!(csat_rating(text), Some(rating), "{text:?}");
        }
    }

    #[test]
    fn not_ratings() {
        for text in [
            "5 BTC",
            "５ BTC",
            "I waited 5 hours",
            "0",
            "6",
            "10",
            "4/10",
            "4.5",
            "-3",
            "5 stars but the wait was long",
            "⭐⭐⭐⭐⭐⭐",
            "⭐ 5",
            "csat:6",
            "csat:45",
            "csat:",
            "",
            "  ",
            "!",
            "thanks",
        ] {
            assert_eq!(csat_rating(text), None, "{text:?}");
        }
    }
}
