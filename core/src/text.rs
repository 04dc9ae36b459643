//! Splitting a reply that is longer than a channel allows into several messages,
//! at the most natural boundary that fits: a paragraph, then a sentence, then a word.

/// Splits `text` into parts of at most `max` units, where `unit` says what one
/// character counts (Telegram counts UTF-16 code units; most channels count
/// characters). Whitespace at the cuts is dropped; a single word longer than `max`
/// is cut where it must be. Text that fits comes back whole.
pub fn split(text: &str, max: usize, unit: impl Fn(char) -> usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let window = fitting_prefix(rest, max, &unit);
        if window == rest.len() {
            parts.push(rest.to_owned());
            break;
        }
        let cut = best_cut(rest, window).unwrap_or(window);
        let part = rest[..cut].trim_end();
        if !part.is_empty() {
            parts.push(part.to_owned());
        }
        rest = rest[cut..].trim_start();
    }
    parts
}

/// The byte length of the longest prefix of at most `max` units.
fn fitting_prefix(text: &str, max: usize, unit: &impl Fn(char) -> usize) -> usize {
    let mut used = 0;
    for (at, c) in text.char_indices() {
        used += unit(c);
        if used > max {
            // At least one character, so that a part is never empty.
            return if at == 0 { c.len_utf8() } else { at };
        }
    }
    text.len()
}

/// Where to end a part of at most `window` bytes of `rest`: after the last paragraph
/// break, sentence end or space, whichever comes first in that order and keeps the
/// part at least half the window (so that an early paragraph break does not leave a
/// tiny part).
fn best_cut(rest: &str, window: usize) -> Option<usize> {
    let half = window / 2;
    // One character past the window shows whether the window ends at a boundary.
    let end = rest[window..]
        .chars()
        .next()
        .map_or(window, |c| window + c.len_utf8());
    let seen = &rest[..end];
    let paragraph = seen[..window].rfind("\n\n").map(|at| at + 2);
    let sentence = seen
        .char_indices()
        .zip(seen.chars().skip(1))
        .filter(|((_, c), next)| is_sentence_end(*c) && next.is_whitespace())
        .map(|((at, c), _)| at + c.len_utf8())
        .filter(|&at| at <= window)
        .last()
        .or_else(|| {
            // Scripts that end sentences without a space (Chinese, Japanese).
            seen[..window]
                .char_indices()
                .filter(|(_, c)| matches!(c, '。' | '！' | '？'))
                .map(|(at, c)| at + c.len_utf8())
                .next_back()
        });
    let word = seen
        .char_indices()
        .filter(|(at, c)| c.is_whitespace() && *at <= window)
        .map(|(at, _)| at)
        .next_back();
    [paragraph, sentence, word]
        .into_iter()
        .flatten()
        .find(|&at| at >= half && at > 0)
}

fn is_sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | ';')
}

/// Telegram's unit: UTF-16 code units.
pub fn utf16_units(c: char) -> usize {
    c.len_utf16()
}

/// Adds a line to a message's text (a note of what could not be shown, say).
pub fn append_line(text: &mut String, line: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chars(_: char) -> usize {
        1
    }

    #[test]
    fn text_that_fits_is_one_part() {
        assert_eq!(split("Hello there", 20, chars), vec!["Hello there"]);
        assert_eq!(split("", 20, chars), Vec::<String>::new());
    }

    #[test]
    fn paragraphs_come_first() {
        let text = "First paragraph, long enough.\n\nSecond one. It has two sentences.";
        assert_eq!(
            split(text, 40, chars),
            vec![
                "First paragraph, long enough.",
                "Second one. It has two sentences."
            ]
        );
    }

    #[test]
    fn then_sentences_then_words() {
        let text = "One sentence here. Another sentence follows it";
        assert_eq!(
            split(text, 30, chars),
            vec!["One sentence here.", "Another sentence follows it"]
        );
        assert_eq!(
            split("alpha beta gamma delta", 12, chars),
            vec!["alpha beta", "gamma delta"]
        );
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut() {
        assert_eq!(split("abcdefghij", 4, chars), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn utf16_counts_emoji_as_two() {
        let text = "😀😀😀😀";
        let parts = split(text, 4, utf16_units);
        assert_eq!(parts, vec!["😀😀", "😀😀"]);
    }

    #[test]
    fn chinese_sentences_split_without_spaces() {
        let text = "这是第一句话。这是第二句话。这是第三句话。";
        assert_eq!(
            split(text, 15, chars),
            vec!["这是第一句话。这是第二句话。", "这是第三句话。"]
        );
    }

    proptest! {
        #[test]
        fn parts_fit_and_keep_every_word(text in "[a-zé😀 .\n]{0,300}", max in 1usize..60) {
            let parts = split(&text, max, utf16_units);
            for part in &parts {
                prop_assert!(part.encode_utf16().count() <= max.max(2), "{part:?} over {max}");
                prop_assert!(!part.trim().is_empty());
            }
            let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            prop_assert_eq!(squash(&parts.concat()), squash(&text));
        }
    }
}
