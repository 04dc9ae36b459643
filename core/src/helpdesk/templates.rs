//! What the gateway itself says to customers (a new ticket's reference, a ticket's
//! status, the satisfaction question...), in English, Malay and Chinese out of the
//! box, with the admin's rewording and more languages from `[helpdesk.texts.<language>]`;
//! and agents' canned replies from `[helpdesk.canned.<id>]`.
//!
//! Texts are short enough for a chat bubble, and most for one SMS (160 GSM
//! characters, 70 in Chinese); the warning about a secret may take two.
//! Placeholders are written `{reference}`; `{{` and `}}` are literal braces. A value
//! the caller does not have renders as nothing; the built-in texts never need one
//! they may lack: the acknowledgement and the status have a second wording, used
//! when the response time or the agent is unknown (`acknowledgement_without_time`,
//! `status_without_agent`, which the admin may reword too).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::helpdesk::language;
use crate::model::TicketStatus;

crate::model::string_enum!(
    /// A message the gateway itself sends a customer.
    Notice {
        /// A new ticket: its reference and when to expect an answer.
        Acknowledgement => "acknowledgement",
        /// The answer to "status SB-XXXXXX" for the ticket's owner.
        Status => "status",
        /// The answer for anyone else, or an unknown reference: it reveals nothing.
        StatusUnknown => "status_unknown",
        /// The customer sent a secret: we removed it; never share it; we never ask for it.
        SensitiveWarning => "sensitive_warning",
        /// After resolution: rate 1-5 by replying.
        CsatQuestion => "csat_question",
        /// By email: rate by clicking a link (`{csat_link}`).
        CsatLink => "csat_link",
        /// After a rating.
        CsatThanks => "csat_thanks",
        /// FAQ articles that may help (`{articles}`).
        Suggestions => "suggestions",
    }
);

/// Values placeholders take; None renders as nothing (see the module's notes).
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub customer_name: Option<String>,
    pub reference: Option<String>,
    pub agent_name: Option<String>,
    /// Already localized by the caller, with [`status_name`].
    pub status: Option<String>,
    /// Already localized by the caller, with [`duration`].
    pub response_time: Option<String>,
    pub csat_link: Option<String>,
    pub articles: Option<String>,
}

/// A placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    CustomerName,
    Reference,
    AgentName,
    Status,
    ResponseTime,
    CsatLink,
    Articles,
}

const FIELDS: &[(&str, Field)] = &[
    ("customer_name", Field::CustomerName),
    ("reference", Field::Reference),
    ("agent_name", Field::AgentName),
    ("status", Field::Status),
    ("response_time", Field::ResponseTime),
    ("csat_link", Field::CsatLink),
    ("articles", Field::Articles),
];

impl Field {
    fn name(self) -> &'static str {
        FIELDS
            .iter()
            .find(|(_, field)| *field == self)
            .map(|(name, _)| *name)
            .unwrap_or_default()
    }

    fn value(self, values: &Values) -> Option<&str> {
        let value = match self {
            Field::CustomerName => &values.customer_name,
            Field::Reference => &values.reference,
            Field::AgentName => &values.agent_name,
            Field::Status => &values.status,
            Field::ResponseTime => &values.response_time,
            Field::CsatLink => &values.csat_link,
            Field::Articles => &values.articles,
        };
        value.as_deref().filter(|value| !value.is_empty())
    }
}

/// A template, parsed: literal text and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

type Template = Vec<Piece>;

/// Parses `{placeholder}`s and `{{`/`}}` escapes; the error says what is wrong, in
/// plain words.
fn parse(text: &str) -> Result<Template, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().enumerate().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.next_if(|&(_, next)| next == '{').is_some() => literal.push('{'),
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some((_, '}')) => break,
                        Some((_, c)) if c != '{' => name.push(c),
                        _ => {
                            return Err(format!(
                                "the brace at character {} is not closed; write {{{{ for a brace",
                                at + 1
                            ));
                        }
                    }
                }
                let Some(&(_, field)) = FIELDS.iter().find(|(known, _)| *known == name) else {
                    return Err(format!(
                        "{{{name}}} is not a placeholder; known ones are {}",
                        known_placeholders()
                    ));
                };
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Field(field));
            }
            '}' if chars.next_if(|&(_, next)| next == '}').is_some() => literal.push('}'),
            '}' => {
                return Err(format!(
                    "the closing brace at character {} opens nothing; write }}}} for a brace",
                    at + 1
                ));
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

fn known_placeholders() -> String {
    FIELDS
        .iter()
        .map(|(name, _)| format!("{{{name}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn uses(template: &Template, field: Field) -> bool {
    template.contains(&Piece::Field(field))
}

/// Fills the placeholders. A missing value renders as nothing, and the text around
/// it closes up: "Hi {customer_name}, ..." → "Hi, ...", "Thanks, {customer_name}!" →
/// "Thanks!", "{customer_name} 您好" → "您好".
fn fill(template: &Template, values: &Values) -> String {
    const PUNCTUATION: [char; 14] = [
        ',', '.', '!', '?', ';', ':', ')', '，', '。', '！', '？', '；', '：', '、',
    ];
    const COMMAS: [char; 3] = [',', '，', '、'];
    let mut out = String::new();
    let mut gap = false;
    let texts = template.iter().map(Some).chain([None]);
    for piece in texts {
        let text = match piece {
            Some(Piece::Field(field)) => {
                match field.value(values) {
                    Some(value) => {
                        out.push_str(value);
                        gap = false;
                    }
                    None => gap = true,
                }
                continue;
            }
            Some(Piece::Text(text)) => text.as_str(),
            None => "",
        };
        let mut text = text;
        if gap {
            if out.is_empty() || out.ends_with('\n') {
                text = text.trim_start_matches([' ', ',', '，']);
            } else if text.is_empty()
                || text.starts_with([' ', '\n'])
                || text.starts_with(PUNCTUATION)
            {
                out.truncate(out.trim_end_matches(' ').len());
                if !text.starts_with([' ', '\n']) {
                    out.truncate(out.trim_end_matches(COMMAS).len());
                }
                if out.ends_with(' ') || out.is_empty() {
                    text = text.trim_start_matches(' ');
                }
            }
        }
        out.push_str(text);
        gap = false;
    }
    out
}

/// The texts of a notice, by config key: the notice's own, and the second wordings
/// used when a value it needs is missing.
struct Variant {
    notice: Notice,
    key: &'static str,
    /// Used instead of the notice's text when this value is missing.
    without: Field,
}

const VARIANTS: &[Variant] = &[
    Variant {
        notice: Notice::Acknowledgement,
        key: "acknowledgement_without_time",
        without: Field::ResponseTime,
    },
    Variant {
        notice: Notice::Status,
        key: "status_without_agent",
        without: Field::AgentName,
    },
];

/// The config keys of `[helpdesk.texts.<language>]`.
fn keys() -> impl Iterator<Item = &'static str> {
    Notice::ALL
        .iter()
        .map(|notice| notice.as_str())
        .chain(VARIANTS.iter().map(|variant| variant.key))
}

/// What a text must say for the notice to do its job, and why.
fn required(key: &str) -> Option<(Field, &'static str)> {
    match key {
        "acknowledgement" | "acknowledgement_without_time" => Some((
            Field::Reference,
            "customers quote the reference to follow up",
        )),
        "status" | "status_without_agent" => Some((Field::Status, "it answers a status request")),
        "csat_link" => Some((Field::CsatLink, "the link is how customers rate")),
        "suggestions" => Some((Field::Articles, "the articles are the suggestion")),
        _ => None,
    }
}

/// The built-in texts: English, Malaysian Malay, simplified Chinese.
fn builtin(language: &str, key: &str) -> Option<&'static str> {
    let text = match (language, key) {
        ("en", "acknowledgement") => {
            "We have your message. Your reference is {reference}; quote it in any message about this. We aim to answer within {response_time}."
        }
        ("en", "acknowledgement_without_time") => {
            "We have your message. Your reference is {reference}; quote it in any message about this. We will answer as soon as we can."
        }
        ("en", "status") => "Ticket {reference} is {status}. Your support agent is {agent_name}.",
        ("en", "status_without_agent") => "Ticket {reference} is {status}.",
        ("en", "status_unknown") => {
            "We found no ticket with that reference for you. Check the reference, or write from the address or number you first contacted us with."
        }
        ("en", "sensitive_warning") => {
            "We removed a secret (seed phrase, private key or password) from your message and our records. Our staff will never ask for it. If it was real, move your funds or change it now."
        }
        ("en", "csat_question") => {
            "How did we do on {reference}? Reply with a number from 1 (poor) to 5 (excellent)."
        }
        ("en", "csat_link") => "How did we do on {reference}? Rate us with one click: {csat_link}",
        ("en", "csat_thanks") => "Thank you for your rating; it helps us do better.",
        ("en", "suggestions") => "While you wait, these articles may help:\n{articles}",

        ("ms", "acknowledgement") => {
            "Mesej anda telah kami terima. Rujukan anda: {reference}; sila nyatakannya dalam setiap mesej berkaitan. Kami berusaha membalas dalam masa {response_time}."
        }
        ("ms", "acknowledgement_without_time") => {
            "Mesej anda telah kami terima. Rujukan anda: {reference}; sila nyatakannya dalam setiap mesej berkaitan. Kami akan membalas secepat mungkin."
        }
        ("ms", "status") => "Tiket {reference} {status}. Ejen sokongan anda ialah {agent_name}.",
        ("ms", "status_without_agent") => "Tiket {reference} {status}.",
        ("ms", "status_unknown") => {
            "Tiada tiket dengan rujukan itu untuk anda. Sila semak rujukan, atau hubungi kami dari alamat atau nombor yang anda gunakan sebelum ini."
        }
        ("ms", "sensitive_warning") => {
            "Kami telah memadam maklumat rahsia (frasa pemulihan, kunci peribadi atau kata laluan) daripada mesej dan rekod kami. Kakitangan kami tidak akan memintanya. Jika ia sebenar, pindahkan dana anda atau tukarkannya sekarang."
        }
        ("ms", "csat_question") => {
            "Bagaimanakah perkhidmatan kami bagi {reference}? Balas dengan nombor dari 1 (lemah) hingga 5 (cemerlang)."
        }
        ("ms", "csat_link") => {
            "Bagaimanakah perkhidmatan kami bagi {reference}? Beri penilaian dengan satu klik: {csat_link}"
        }
        ("ms", "csat_thanks") => {
            "Terima kasih atas penilaian anda; ia membantu kami menambah baik perkhidmatan."
        }
        ("ms", "suggestions") => "Sementara menunggu, artikel ini mungkin membantu:\n{articles}",

        ("zh", "acknowledgement") => {
            "我们已收到您的消息。您的工单编号是 {reference}，有关此事的消息请注明该编号。我们将在 {response_time}内回复。"
        }
        ("zh", "acknowledgement_without_time") => {
            "我们已收到您的消息。您的工单编号是 {reference}，有关此事的消息请注明该编号。我们会尽快回复。"
        }
        ("zh", "status") => "工单 {reference} 当前状态：{status}。负责客服：{agent_name}。",
        ("zh", "status_without_agent") => "工单 {reference} 当前状态：{status}。",
        ("zh", "status_unknown") => {
            "未找到您名下该编号的工单。请核对编号，或使用您最初联系我们时的邮箱或号码发送消息。"
        }
        ("zh", "sensitive_warning") => {
            "您的消息含有敏感信息（助记词、私钥或密码），我们已将其从消息和记录中删除。我们的工作人员绝不会向您索取这些信息。如果信息属实，请立即转移资金或修改密码。"
        }
        ("zh", "csat_question") => {
            "您对工单 {reference} 的服务满意吗？请回复 1（很差）到 5（非常满意）之间的数字。"
        }
        ("zh", "csat_link") => "您对工单 {reference} 的服务满意吗？点击链接即可评分：{csat_link}",
        ("zh", "csat_thanks") => "感谢您的评分，这能帮助我们做得更好。",
        ("zh", "suggestions") => "在等待回复期间，以下文章或许能帮到您：\n{articles}",
        _ => return None,
    };
    Some(text)
}

/// Config overrides: `[helpdesk.texts.<language>] acknowledgement = "..."`.
pub type TextsConfig = BTreeMap<String, BTreeMap<String, String>>;

/// The built-in texts in en, ms, zh, with the admin's overrides and extra languages.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    /// By language (ISO 639-1) and config key.
    overrides: BTreeMap<(&'static str, &'static str), Template>,
}

impl Texts {
    /// Checks overrides: languages known to `language::normalize`, notice names known,
    /// placeholders known and closed; errors name the key (`"ms.acknowledgement"`).
    pub fn from_config(config: &TextsConfig) -> Result<Texts, (String, String)> {
        let mut overrides = BTreeMap::new();
        let mut given_as: BTreeMap<&'static str, &str> = BTreeMap::new();
        for (given, texts) in config {
            let Some(language) = language::normalize(given) else {
                return Err((
                    given.clone(),
                    format!(
                        "{given:?} is not a language Switchboard knows; use a language code such as \"ms\" or \"zh\""
                    ),
                ));
            };
            if let Some(other) = given_as.insert(language, given) {
                return Err((
                    given.clone(),
                    format!("{given:?} is the same language as {other:?}; give its texts once"),
                ));
            }
            for (name, text) in texts {
                let key = format!("{given}.{name}");
                let Some(name) = keys().find(|known| *known == name.as_str()) else {
                    return Err((
                        key,
                        format!(
                            "not a text the gateway sends; known ones are {}",
                            keys().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                };
                if text.trim().is_empty() {
                    return Err((
                        key,
                        "is empty; remove it to use the built-in text".to_owned(),
                    ));
                }
                let template = parse(text).map_err(|message| (key.clone(), message))?;
                if let Some((field, why)) = required(name)
                    && !uses(&template, field)
                {
                    return Err((key, format!("must include {{{}}}: {why}", field.name())));
                }
                if let Some(variant) = VARIANTS.iter().find(|variant| variant.key == name)
                    && uses(&template, variant.without)
                {
                    return Err((
                        key,
                        format!(
                            "cannot use {{{}}}: this text is for when it is unknown",
                            variant.without.name()
                        ),
                    ));
                }
                overrides.insert((language, name), template);
            }
        }
        let texts = Texts { overrides };
        // A text with a value that may be missing needs its second wording, in the
        // same language; and a second wording needs the first.
        for (&language, given) in &given_as {
            for variant in VARIANTS {
                let main = variant.notice.as_str();
                let main_text = texts.template(language, main);
                let has_variant = texts.template(language, variant.key).is_some();
                match main_text {
                    Some(template) if uses(&template, variant.without) && !has_variant => {
                        return Err((
                            format!("{given}.{main}"),
                            format!(
                                "uses {{{}}}, which may be unknown: give {} too",
                                variant.without.name(),
                                variant.key
                            ),
                        ));
                    }
                    None if has_variant => {
                        return Err((
                            format!("{given}.{}", variant.key),
                            format!("is only used with {main}: give {main} too"),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(texts)
    }

    /// The admin's text, else the built-in one.
    fn template(&self, language: &str, key: &str) -> Option<Template> {
        let language = language::normalize(language)?;
        if let Some(template) = self.overrides.get(&(language, key)) {
            return Some(template.clone());
        }
        builtin(language, key).map(|text| parse(text).expect("the built-in texts parse"))
    }

    fn has(&self, language: &str, notice: Notice) -> bool {
        self.overrides.contains_key(&(language, notice.as_str()))
            || builtin(language, notice.as_str()).is_some()
    }

    /// The notice in the first of `languages` that has it, then English (the fallback chain).
    /// `languages` is e.g. [contact's language, channel's language, the helpdesk default].
    pub fn render(&self, notice: Notice, languages: &[&str], values: &Values) -> String {
        let language = self.language_for(notice, languages);
        let Some(mut template) = self.template(language, notice.as_str()) else {
            return String::new();
        };
        for variant in VARIANTS.iter().filter(|variant| variant.notice == notice) {
            if variant.without.value(values).is_none()
                && uses(&template, variant.without)
                && let Some(other) = self.template(language, variant.key)
            {
                template = other;
            }
        }
        fill(&template, values)
    }

    /// Which language `render` would use (for recording and tests).
    pub fn language_for(&self, notice: Notice, languages: &[&str]) -> &'static str {
        languages
            .iter()
            .filter_map(|given| language::normalize(given))
            .find(|language| self.has(language, notice))
            .unwrap_or("en")
    }
}

/// A ticket status in words for customers, localized; English for other languages.
pub fn status_name(status: TicketStatus, language: &str) -> &'static str {
    use TicketStatus::*;
    match (language::normalize(language).unwrap_or("en"), status) {
        ("ms", New | Filtered) => "sedang menunggu ejen sokongan",
        ("ms", Open) => "sedang diuruskan",
        ("ms", Pending) => "menunggu balasan anda",
        ("ms", Resolved) => "telah diselesaikan",
        ("ms", Closed) => "telah ditutup",
        ("zh", New | Filtered) => "等待客服处理",
        ("zh", Open) => "处理中",
        ("zh", Pending) => "等待您的回复",
        ("zh", Resolved) => "已解决",
        ("zh", Closed) => "已关闭",
        // Automatic mail kept out of the queue reads as any new ticket: customers
        // need not know.
        (_, New | Filtered) => "waiting for an agent",
        (_, Open) => "being worked on",
        (_, Pending) => "waiting for your reply",
        (_, Resolved) => "resolved",
        (_, Closed) => "closed",
    }
}

/// A duration in words, localized and rounded up, since it is a promise: minutes
/// under an hour, 5-minute steps under 12 hours ("1 hour 30 minutes"), whole hours
/// under 3 days ("1 day 6 hours"), then whole days. Never less than a minute.
pub fn duration(ms: i64, language: &str) -> String {
    const MINUTE: u64 = 60_000;
    const HOUR: u64 = 60;
    const DAY: u64 = 24 * HOUR;
    let round_up = |minutes: u64, step: u64| minutes.div_ceil(step) * step;
    let minutes = u64::try_from(ms).unwrap_or(0).div_ceil(MINUTE).max(1);
    let minutes = if minutes < HOUR {
        minutes
    } else if minutes < 12 * HOUR {
        round_up(minutes, 5)
    } else if minutes < 3 * DAY {
        round_up(minutes, HOUR)
    } else {
        round_up(minutes, DAY)
    };
    let (days, hours, minutes) = (minutes / DAY, minutes % DAY / HOUR, minutes % HOUR);
    let unit = |count: u64, [one, many]: [&str; 2]| {
        let word = if count == 1 { one } else { many };
        format!("{count} {word}")
    };
    let units: [[&str; 2]; 3] = match language::normalize(language) {
        Some("ms") => [["hari"; 2], ["jam"; 2], ["minit"; 2]],
        Some("zh") => [["天"; 2], ["小时"; 2], ["分钟"; 2]],
        _ => [["day", "days"], ["hour", "hours"], ["minute", "minutes"]],
    };
    [days, hours, minutes]
        .into_iter()
        .zip(units)
        .filter(|(count, _)| *count > 0)
        .map(|(count, words)| unit(count, words))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An agent's canned reply, from `[helpdesk.canned.<id>]`: `title`, optional `tags`, and
/// `text.<language>` per language.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedConfig {
    pub title: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub text: BTreeMap<String, String>,
}

/// A canned reply as agents pick it: its texts by language (ISO 639-1), raw, with
/// their placeholders.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CannedReply {
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    /// The languages it is written in, as in `texts`.
    pub languages: Vec<String>,
    pub texts: BTreeMap<String, String>,
}

impl CannedReply {
    /// Checks a config; errors name the key relative to `[helpdesk.canned]`
    /// (`"refund-delay.text.ms"`).
    pub fn from_config(id: &str, config: &CannedConfig) -> Result<CannedReply, (String, String)> {
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_id {
            return Err((
                id.to_owned(),
                format!("canned reply id {id:?} must be 1-64 characters of a-z, 0-9, '-' and '_'"),
            ));
        }
        let title = config.title.trim();
        if title.is_empty() {
            return Err((
                format!("{id}.title"),
                "is empty; give the reply a title agents recognize".into(),
            ));
        }
        let mut tags = Vec::new();
        for tag in &config.tags {
            let tag = tag.trim();
            if tag.is_empty() {
                return Err((format!("{id}.tags"), "has an empty tag".into()));
            }
            if !tags.iter().any(|known| known == tag) {
                tags.push(tag.to_owned());
            }
        }
        if config.text.is_empty() {
            return Err((
                format!("{id}.text"),
                "has no text; give at least one language, e.g. text.en".into(),
            ));
        }
        let mut texts = BTreeMap::new();
        let mut given_as = BTreeMap::new();
        for (given, text) in &config.text {
            let key = format!("{id}.text.{given}");
            let Some(language) = language::normalize(given) else {
                return Err((
                    key,
                    format!(
                        "{given:?} is not a language Switchboard knows; use a language code such as \"ms\" or \"zh\""
                    ),
                ));
            };
            if let Some(other) = given_as.insert(language, given) {
                return Err((
                    key,
                    format!("{given:?} is the same language as {other:?}; give its text once"),
                ));
            }
            if text.trim().is_empty() {
                return Err((key, "is empty".into()));
            }
            parse(text).map_err(|message| (key, message))?;
            texts.insert(language.to_owned(), text.clone());
        }
        Ok(CannedReply {
            id: id.to_owned(),
            title: title.to_owned(),
            tags,
            languages: texts.keys().cloned().collect(),
            texts,
        })
    }

    /// The text in the first matching language of `languages` (then English, then the first it has), placeholders filled.
    pub fn render(&self, languages: &[&str], values: &Values) -> (String, String) {
        let chosen = languages
            .iter()
            .filter_map(|given| language::normalize(given))
            .chain(["en"])
            .find_map(|language| self.texts.get_key_value(language))
            .or_else(|| self.texts.iter().next());
        let Some((language, text)) = chosen else {
            return (String::from("en"), String::new());
        };
        // Checked when the config was read.
        let template = parse(text).unwrap_or_else(|_| vec![Piece::Text(text.clone())]);
        (language.clone(), fill(&template, values))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn values() -> Values {
        Values {
            reference: Some("SB-7K3M9Q".into()),
            response_time: Some(duration(30 * 60_000, "en")),
            ..Default::default()
        }
    }

    /// Language, key, text.
    type Entry<'a> = (&'a str, &'a str, &'a str);

    fn config(entries: &[Entry]) -> TextsConfig {
        let mut config = TextsConfig::new();
        for (language, key, text) in entries {
            config
                .entry(language.to_string())
                .or_default()
                .insert(key.to_string(), text.to_string());
        }
        config
    }

    #[test]
    fn the_acknowledgement_in_each_language() {
        let texts = Texts::default();
        assert_eq!(
            texts.render(Notice::Acknowledgement, &["en"], &values()),
            "We have your message. Your reference is SB-7K3M9Q; quote it in any message about this. We aim to answer within 30 minutes."
        );
        let without_time = Values {
            response_time: None,
            ..values()
        };
        assert_eq!(
            texts.render(Notice::Acknowledgement, &["en"], &without_time),
            "We have your message. Your reference is SB-7K3M9Q; quote it in any message about this. We will answer as soon as we can."
        );
        let malay = Values {
            response_time: Some(duration(90 * 60_000, "ms")),
            ..values()
        };
        assert_eq!(
            texts.render(Notice::Acknowledgement, &["ms"], &malay),
            "Mesej anda telah kami terima. Rujukan anda: SB-7K3M9Q; sila nyatakannya dalam setiap mesej berkaitan. Kami berusaha membalas dalam masa 1 jam 30 minit."
        );
        let chinese = Values {
            response_time: Some(duration(30 * 60_000, "zh")),
            ..values()
        };
        assert_eq!(
            texts.render(Notice::Acknowledgement, &["zh"], &chinese),
            "我们已收到您的消息。您的工单编号是 SB-7K3M9Q，有关此事的消息请注明该编号。我们将在 30 分钟内回复。"
        );
        assert!(
            texts
                .render(Notice::Acknowledgement, &["zh"], &without_time)
                .ends_with("我们会尽快回复。")
        );
    }

    #[test]
    fn the_status_with_and_without_an_agent() {
        let texts = Texts::default();
        let mut values = Values {
            reference: Some("SB-7K3M9Q".into()),
            status: Some(status_name(TicketStatus::Open, "en").into()),
            agent_name: Some("Aisyah".into()),
            ..Default::default()
        };
        assert_eq!(
            texts.render(Notice::Status, &["en"], &values),
            "Ticket SB-7K3M9Q is being worked on. Your support agent is Aisyah."
        );
        values.status = Some(status_name(TicketStatus::Pending, "ms").into());
        assert_eq!(
            texts.render(Notice::Status, &["ms"], &values),
            "Tiket SB-7K3M9Q menunggu balasan anda. Ejen sokongan anda ialah Aisyah."
        );
        values.status = Some(status_name(TicketStatus::Open, "zh").into());
        assert_eq!(
            texts.render(Notice::Status, &["zh"], &values),
            "工单 SB-7K3M9Q 当前状态：处理中。负责客服：Aisyah。"
        );
        values.agent_name = None;
        assert_eq!(
            texts.render(Notice::Status, &["zh"], &values),
            "工单 SB-7K3M9Q 当前状态：处理中。"
        );
        values.status = Some(status_name(TicketStatus::New, "en").into());
        assert_eq!(
            texts.render(Notice::Status, &["en"], &values),
            "Ticket SB-7K3M9Q is waiting for an agent."
        );
    }

    #[test]
    fn every_notice_in_every_built_in_language() {
        let texts = Texts::default();
        let values = Values {
            customer_name: Some("Mei Ling".into()),
            reference: Some("SB-7K3M9Q".into()),
            agent_name: Some("Aisyah".into()),
            status: Some("resolved".into()),
            response_time: Some("2 hours".into()),
            csat_link: Some("https://help.example.com/rate/abc".into()),
            articles: Some("- How deposits work".into()),
        };
        for language in ["en", "ms", "zh"] {
            let mut seen = BTreeSet::new();
            for &notice in Notice::ALL {
                assert_eq!(texts.language_for(notice, &[language]), language);
                let text = texts.render(notice, &[language], &values);
                assert!(!text.contains(['{', '}']), "{language} {notice}: {text}");
                assert!(seen.insert(text.clone()), "{language} {notice} repeats");
                // Short enough for one SMS: 160 characters of the GSM alphabet, or
                // 70 in UCS-2 for Chinese (a warning and a link may take two).
                let limit = if language == "zh" { 70 } else { 160 };
                let long = matches!(notice, Notice::SensitiveWarning | Notice::CsatLink);
                let length = text.chars().count();
                assert!(long || length <= limit, "{language} {notice}: {length}");
                assert!(length <= 2 * limit, "{language} {notice}: {length}");
                if language != "zh" {
                    let gsm = |c: char| c.is_ascii() && !"[]{}\\^~|`".contains(c);
                    assert!(text.chars().all(gsm), "{language} {notice}: {text}");
                }
            }
            for key in keys() {
                assert!(builtin(language, key).is_some(), "{language} {key}");
            }
        }
        let rendered = texts.render(Notice::CsatQuestion, &["en"], &values);
        assert_eq!(
            rendered,
            "How did we do on SB-7K3M9Q? Reply with a number from 1 (poor) to 5 (excellent)."
        );
        assert_eq!(
            texts.render(Notice::CsatLink, &["ms"], &values),
            "Bagaimanakah perkhidmatan kami bagi SB-7K3M9Q? Beri penilaian dengan satu klik: https://help.example.com/rate/abc"
        );
        assert_eq!(
            texts.render(Notice::Suggestions, &["zh"], &values),
            "在等待回复期间，以下文章或许能帮到您：\n- How deposits work"
        );
        let warning = texts.render(Notice::SensitiveWarning, &["en"], &values);
        assert!(warning.contains("removed") && warning.contains("never ask"));
        assert!(warning.contains("move your funds"));
    }

    #[test]
    fn the_fallback_chain() {
        let texts = Texts::from_config(&config(&[
            ("ms", "csat_thanks", "Terima kasih, {customer_name}!"),
            ("th", "csat_thanks", "ขอบคุณสำหรับคะแนนของคุณ"),
        ]))
        .unwrap();
        let values = values();
        // An unknown language, then no language: English.
        assert_eq!(texts.language_for(Notice::CsatQuestion, &["xx"]), "en");
        assert_eq!(texts.language_for(Notice::CsatQuestion, &[]), "en");
        assert!(
            texts
                .render(Notice::CsatQuestion, &["xx"], &values)
                .starts_with("How did we do")
        );
        // The contact's language first, given as a provider does.
        assert_eq!(texts.language_for(Notice::Status, &["zh-Hans", "ms"]), "zh");
        // Thai has only the thanks: other notices go down the chain.
        assert_eq!(texts.language_for(Notice::CsatThanks, &["th", "ms"]), "th");
        assert_eq!(
            texts.language_for(Notice::CsatQuestion, &["th", "ms"]),
            "ms"
        );
        assert_eq!(texts.language_for(Notice::CsatQuestion, &["th"]), "en");
        // The Malay override replaces only that notice.
        assert_eq!(
            texts.render(Notice::CsatThanks, &["ms-MY"], &values),
            "Terima kasih!"
        );
        assert_eq!(
            texts.render(
                Notice::CsatThanks,
                &["ms"],
                &Values {
                    customer_name: Some("Ahmad".into()),
                    ..values.clone()
                }
            ),
            "Terima kasih, Ahmad!"
        );
        assert_eq!(
            texts.render(Notice::CsatQuestion, &["ms"], &values),
            "Bagaimanakah perkhidmatan kami bagi SB-7K3M9Q? Balas dengan nombor dari 1 (lemah) hingga 5 (cemerlang)."
        );
    }

    #[test]
    fn overridden_status_keeps_its_second_wording() {
        let texts = Texts::from_config(&config(&[
            ("en", "status", "{reference}: {status}, with {agent_name}."),
            (
                "vi",
                "status",
                "Yêu cầu {reference}: {status} ({agent_name}).",
            ),
            (
                "vi",
                "status_without_agent",
                "Yêu cầu {reference}: {status}.",
            ),
        ]))
        .unwrap();
        let mut values = Values {
            reference: Some("SB-7K3M9Q".into()),
            status: Some("resolved".into()),
            agent_name: Some("Aisyah".into()),
            ..Default::default()
        };
        assert_eq!(
            texts.render(Notice::Status, &["en"], &values),
            "SB-7K3M9Q: resolved, with Aisyah."
        );
        values.agent_name = None;
        // No override for the second wording in English: the built-in one.
        assert_eq!(
            texts.render(Notice::Status, &["en"], &values),
            "Ticket SB-7K3M9Q is resolved."
        );
        assert_eq!(
            texts.render(Notice::Status, &["vi"], &values),
            "Yêu cầu SB-7K3M9Q: resolved."
        );
    }

    #[test]
    fn bad_overrides_are_refused_by_key() {
        let refused = |entries: &[Entry]| Texts::from_config(&config(entries)).unwrap_err();
        let cases: &[(&[Entry], &str)] = &[
            (&[("klingon", "csat_thanks", "Qapla'")], "klingon"),
            (
                &[("ms", "acknowledgment", "{reference}")],
                "ms.acknowledgment",
            ),
            (
                &[("ms", "csat_thanks", "Terima kasih {name}")],
                "ms.csat_thanks",
            ),
            (
                &[("zh", "csat_thanks", "谢谢 {customer_name")],
                "zh.csat_thanks",
            ),
            (&[("en", "csat_thanks", "Thanks } bye")], "en.csat_thanks"),
            (&[("en", "csat_thanks", "  ")], "en.csat_thanks"),
            (
                &[("ms-MY", "acknowledgement", "Terima kasih.")],
                "ms-MY.acknowledgement",
            ),
            (&[("en", "csat_link", "Rate us!")], "en.csat_link"),
            (
                &[("en", "status_without_agent", "{status}, {agent_name}")],
                "en.status_without_agent",
            ),
            (
                &[("th", "status", "{reference} {status} {agent_name}")],
                "th.status",
            ),
            (
                &[("th", "status_without_agent", "{reference} {status}")],
                "th.status_without_agent",
            ),
            (
                &[
                    ("ms", "csat_thanks", "Terima kasih"),
                    ("ms-MY", "csat_thanks", "Terima kasih"),
                ],
                "ms-MY",
            ),
        ];
        for (entries, key) in cases {
            let (got, message) = refused(entries);
            assert_eq!(got, *key, "{message}");
        }
        let (_, message) = refused(&[("ms", "csat_thanks", "Terima kasih {name}")]);
        assert!(message.contains("{name} is not a placeholder"), "{message}");
        // A Thai status without the agent needs no second wording.
        assert!(Texts::from_config(&config(&[("th", "status", "{reference}: {status}")])).is_ok());
    }

    #[test]
    fn braces_are_escaped_by_doubling() {
        assert_eq!(
            parse("{{literal}} {reference}}}").unwrap(),
            vec![
                Piece::Text("{literal} ".into()),
                Piece::Field(Field::Reference),
                Piece::Text("}".into()),
            ]
        );
        let texts = Texts::from_config(&config(&[(
            "en",
            "csat_thanks",
            "Thanks! {{Reply STOP to opt out}}",
        )]))
        .unwrap();
        assert_eq!(
            texts.render(Notice::CsatThanks, &["en"], &Values::default()),
            "Thanks! {Reply STOP to opt out}"
        );
        // Values are not read as templates.
        let values = Values {
            customer_name: Some("{reference}".into()),
            reference: Some("SB-1".into()),
            ..Default::default()
        };
        let template = parse("Hi {customer_name}").unwrap();
        assert_eq!(fill(&template, &values), "Hi {reference}");
        assert!(parse("{").is_err());
        assert!(parse("{reference").is_err());
        assert!(parse("{ref{erence}").is_err());
        assert!(parse("}").is_err());
        assert!(parse("{}").is_err());
    }

    #[test]
    fn durations() {
        let minutes = |m: i64| m * 60_000;
        for (ms, en, malay, chinese) in [
            (minutes(30), "30 minutes", "30 minit", "30 分钟"),
            (minutes(1), "1 minute", "1 minit", "1 分钟"),
            (0, "1 minute", "1 minit", "1 分钟"),
            (-5, "1 minute", "1 minit", "1 分钟"),
            (1, "1 minute", "1 minit", "1 分钟"),
            (minutes(59) + 1, "1 hour", "1 jam", "1 小时"),
            (minutes(60), "1 hour", "1 jam", "1 小时"),
            (
                minutes(90),
                "1 hour 30 minutes",
                "1 jam 30 minit",
                "1 小时 30 分钟",
            ),
            (
                minutes(61),
                "1 hour 5 minutes",
                "1 jam 5 minit",
                "1 小时 5 分钟",
            ),
            (minutes(4 * 60), "4 hours", "4 jam", "4 小时"),
            (minutes(13 * 60 + 10), "14 hours", "14 jam", "14 小时"),
            (minutes(24 * 60), "1 day", "1 hari", "1 天"),
            (
                minutes(30 * 60),
                "1 day 6 hours",
                "1 hari 6 jam",
                "1 天 6 小时",
            ),
            (minutes(48 * 60), "2 days", "2 hari", "2 天"),
            (minutes(80 * 60), "4 days", "4 hari", "4 天"),
        ] {
            assert_eq!(duration(ms, "en"), en, "{ms}");
            assert_eq!(duration(ms, "ms-MY"), malay, "{ms}");
            assert_eq!(duration(ms, "zh"), chinese, "{ms}");
        }
        // Other languages: English.
        assert_eq!(duration(minutes(120), "th"), "2 hours");
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name(TicketStatus::Open, "en"), "being worked on");
        assert_eq!(status_name(TicketStatus::Open, "ms"), "sedang diuruskan");
        assert_eq!(status_name(TicketStatus::Open, "zh-CN"), "处理中");
        assert_eq!(
            status_name(TicketStatus::Pending, "en"),
            "waiting for your reply"
        );
        assert_eq!(
            status_name(TicketStatus::Pending, "ms"),
            "menunggu balasan anda"
        );
        assert_eq!(status_name(TicketStatus::Pending, "zh"), "等待您的回复");
        assert_eq!(status_name(TicketStatus::Resolved, "zh"), "已解决");
        assert_eq!(status_name(TicketStatus::Closed, "th"), "closed");
        assert_eq!(
            status_name(TicketStatus::Filtered, "en"),
            status_name(TicketStatus::New, "en")
        );
    }

    fn canned(text: &[(&str, &str)]) -> CannedConfig {
        CannedConfig {
            title: "Withdrawal delay".into(),
            tags: vec!["withdrawal".into(), "delay".into()],
            text: text
                .iter()
                .map(|(language, text)| (language.to_string(), text.to_string()))
                .collect(),
        }
    }

    #[test]
    fn canned_replies_with_and_without_a_name() {
        let reply = CannedReply::from_config(
            "withdrawal-delay",
            &canned(&[
                (
                    "en",
                    "Hi {customer_name}, your withdrawal is with our finance team. {agent_name}",
                ),
                (
                    "ms-MY",
                    "Hai {customer_name}, pengeluaran anda sedang disemak. {agent_name}",
                ),
                ("zh", "{customer_name} 您好，您的提款正在审核中。"),
            ]),
        )
        .unwrap();
        assert_eq!(reply.languages, ["en", "ms", "zh"]);
        assert_eq!(reply.tags, ["withdrawal", "delay"]);
        let named = Values {
            customer_name: Some("Ahmad".into()),
            agent_name: Some("Aisyah".into()),
            ..Default::default()
        };
        assert_eq!(
            reply.render(&["ms"], &named),
            (
                "ms".to_owned(),
                "Hai Ahmad, pengeluaran anda sedang disemak. Aisyah".to_owned()
            )
        );
        let unnamed = Values {
            agent_name: Some("Aisyah".into()),
            ..Default::default()
        };
        assert_eq!(
            reply.render(&["en"], &unnamed).1,
            "Hi, your withdrawal is with our finance team. Aisyah"
        );
        assert_eq!(
            reply.render(&["zh-TW"], &unnamed).1,
            "您好，您的提款正在审核中。"
        );
        // No text in Thai: English; none in English either: the first it has.
        assert_eq!(reply.render(&["th"], &named).0, "en");
        let malay_only =
            CannedReply::from_config("x", &canned(&[("ms", "Sila tunggu {customer_name} ya.")]))
                .unwrap();
        assert_eq!(
            malay_only.render(&["th", "zh"], &Values::default()),
            ("ms".to_owned(), "Sila tunggu ya.".to_owned())
        );
    }

    #[test]
    fn bad_canned_replies_are_refused_by_key() {
        let refused =
            |id: &str, config: CannedConfig| CannedReply::from_config(id, &config).unwrap_err().0;
        assert_eq!(
            refused("Refund Delay", canned(&[("en", "x")])),
            "Refund Delay"
        );
        assert_eq!(refused("r", canned(&[])), "r.text");
        assert_eq!(refused("r", canned(&[("xx", "x")])), "r.text.xx");
        assert_eq!(refused("r", canned(&[("en", "Hi {nmae}")])), "r.text.en");
        assert_eq!(
            refused("r", canned(&[("en", "Hi {customer_name")])),
            "r.text.en"
        );
        assert_eq!(
            refused("r", canned(&[("ms", "a"), ("msa", "b")])),
            "r.text.msa"
        );
        let mut untitled = canned(&[("en", "x")]);
        untitled.title = " ".into();
        assert_eq!(refused("r", untitled), "r.title");
        // The config refuses keys it does not know.
        let config: Result<CannedConfig, _> = serde_json::from_value(serde_json::json!({
            "title": "t", "text": {"en": "x"}, "body": "y"
        }));
        assert!(config.is_err());
    }
}
