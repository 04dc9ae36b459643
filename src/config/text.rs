//! The config file as text: `${VAR}` substitution from the environment, and finding
//! the line a key is set on, for error messages.

use super::Problem;

/// Replaces `${VAR}` and `${VAR:-default}` outside comments; `$${` is a literal `${`.
/// Values are escaped for TOML strings, so a secret with quotes cannot break the file.
pub(super) fn substitute_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<Problem>> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    for (number, whole_line) in text.split_inclusive('\n').enumerate() {
        let (line, comment) = whole_line.split_at(comment_start(whole_line));
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            if rest[..start].ends_with('$') {
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                problems.push(Problem {
                    key: "(environment)".into(),
                    line: Some(number + 1),
                    message: "unclosed ${".into(),
                });
                rest = "";
                break;
            };
            let expression = &rest[start + 2..start + end];
            let (name, default) = match expression.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expression, None),
            };
            match env(name)
                .filter(|v| !v.is_empty())
                .or(default.map(str::to_owned))
            {
                Some(value) => out.push_str(&escape_toml(&value)),
                None => problems.push(Problem {
                    key: "(environment)".into(),
                    line: Some(number + 1),
                    message: format!("environment variable {name} is not set and has no default"),
                }),
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Where a line's comment starts (its length if none): the first `#` outside a
/// string.
fn comment_start(line: &str) -> usize {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some('"'), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return i,
            _ => {}
        }
        escaped = false;
    }
    line.len()
}

fn escape_toml(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            c if c.is_control() => escaped.push_str(&format!("\\u{:04X}", c as u32)),
            c => escaped.push(c),
        }
    }
    escaped
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where a dotted key is set: the last segment as `key =` inside the
/// section named by the others (`[channels.api]` then `secret = ...`; `agents[1]` is
/// the second `[[agents]]`).
pub(super) fn find_key_line(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let key = key.split('[').next().unwrap_or(key);
    let (section, index) = match section.strip_suffix(']').and_then(|s| s.rsplit_once('[')) {
        Some((name, index)) => (name, index.parse::<usize>().ok()),
        None => (section, None),
    };
    let mut in_section = section.is_empty();
    let mut seen = 0;
    let mut section_line = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let name = trimmed.trim_matches(|c| c == '[' || c == ']').trim();
            in_section = section.is_empty()
                || (name == section && {
                    seen += 1;
                    index.is_none_or(|index| index + 1 == seen)
                });
            if in_section && section_line.is_none() {
                section_line = Some(i + 1);
            }
            continue;
        }
        if in_section {
            let assigned = trimmed
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"'));
            if assigned == Some(key) {
                return Some(i + 1);
            }
        }
    }
    section_line
}

/// The field a serde message names (`unknown field `x``, `missing field `y``).
pub(super) fn field_in_message(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}
