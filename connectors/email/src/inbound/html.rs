//! Html into text (for mail without a plain part, and for finding the quoted
//! history in it) and html sanitized for showing to agents: both through ammonia.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use super::tidy;

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
/// breaks, blockquotes as `> ` lines (so that [`strip_quoted`](super::strip_quoted)
/// treats them as the quotes they are), `<hr>` as the underscore line Outlook's own
/// conversion writes, entities decoded, no tags, nothing of scripts and styles.
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

pub(super) fn sanitize_html(html: &str) -> String {
    HTML_SANITIZER.clean(html).to_string().trim().to_owned()
}
