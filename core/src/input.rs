//! Checks on what comes in from outside (webhooks, pollers, the agent API), shared by
//! every way in, so that both stores keep the same thing and nothing stored can break
//! a later answer:
//!
//! - NUL characters: PostgreSQL's text cannot hold them (SQLite can). Customers' text
//!   loses them; ids and addresses that hold one are refused, since stripping could
//!   make two ids one.
//! - Media types: they become a `Content-Type` header on download, so a type with a
//!   line break or other control character is refused (or, from a provider that
//!   cannot be asked again, replaced by `application/octet-stream`).

/// Removes NUL characters from customer-supplied text.
pub fn strip_nul(text: &mut String) {
    if text.contains('\0') {
        text.retain(|c| c != '\0');
    }
}

/// An id, address or other key: refused when it holds a control character (NUL
/// among them), with a message naming `field`.
pub fn check_key(field: &str, value: &str) -> Result<(), String> {
    match value.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some(c) => Err(format!(
            "{field} contains the control character U+{:04X}, which ids and addresses may not hold",
            c as u32
        )),
    }
}

/// A media type fit for a `Content-Type` header (`image/png`,
/// `text/plain; charset=utf-8`): `type/subtype` of RFC 6838's name characters, and
/// parameters of printable ASCII. Returned trimmed, its type and subtype lowercased.
pub fn media_type(field: &str, value: &str) -> Result<String, String> {
    let value = value.trim();
    let refuse = |why: &str| Err(format!("{field} {value:?} is not a media type: {why}"));
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_graphic() || *c == ' ')) {
        return refuse(&format!(
            "it contains U+{:04X}; only printable ASCII may appear",
            c as u32
        ));
    }
    let (essence, parameters) = value.split_once(';').unwrap_or((value, ""));
    let Some((kind, subtype)) = essence.trim().split_once('/') else {
        return refuse("it needs the form type/subtype, such as image/png");
    };
    let name = |part: &str| {
        (1..=127).contains(&part.len())
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    if !name(kind) || !name(subtype) {
        return refuse("type and subtype are letters, digits and !#$&-^_.+");
    }
    let essence = format!(
        "{}/{}",
        kind.to_ascii_lowercase(),
        subtype.to_ascii_lowercase()
    );
    Ok(if parameters.trim().is_empty() {
        essence
    } else {
        format!("{essence}; {}", parameters.trim())
    })
}

/// The media type a provider gave, or `application/octet-stream` when it is none: a
/// customer's file is kept whatever its label says.
pub fn media_type_or_binary(value: &str) -> String {
    media_type("", value).unwrap_or_else(|_| "application/octet-stream".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_leaves_text_and_keys_that_hold_one_are_refused() {
        let mut text = "seed\0 words\0".to_owned();
        strip_nul(&mut text);
        assert_eq!(text, "seed words");
        assert!(check_key("external_id", "wamid.1").is_ok());
        let refused = check_key("external_id", "wamid\0.1").unwrap_err();
        assert!(
            refused.contains("external_id") && refused.contains("U+0000"),
            "{refused}"
        );
        assert!(check_key("sender.id", "a\r\nb").is_err());
    }

    #[test]
    fn media_types_are_checked_for_headers() {
        for (given, kept) in [
            ("image/png", "image/png"),
            (" Image/JPEG ", "image/jpeg"),
            ("image/png\r\n", "image/png"),
            ("audio/ogg; codecs=opus", "audio/ogg; codecs=opus"),
            (
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
            (
                "text/plain;charset=\"utf-8\"",
                "text/plain; charset=\"utf-8\"",
            ),
        ] {
            assert_eq!(media_type("content_type", given).unwrap(), kept);
        }
        for bad in [
            "",
            "image",
            "image/png\r\nSet-Cookie: a=b",
            "image/png\n; name=x",
            "/png",
            "image/",
            "ima ge/png",
            "image/pñg",
            "image/png\0",
        ] {
            let refused = media_type("attachments[0].content_type", bad).unwrap_err();
            assert!(
                refused.starts_with("attachments[0].content_type"),
                "{refused}"
            );
        }
        assert_eq!(
            media_type_or_binary("image/png\r\nX: y"),
            "application/octet-stream"
        );
        assert_eq!(media_type_or_binary("IMAGE/png"), "image/png");
    }
}
