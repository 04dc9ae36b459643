//! Category and priority of a new ticket, from its first message, by the rules of
//! `[[helpdesk.triage]]` in order: the first rule that matches wins, and a message no
//! rule matches gets `[helpdesk] default_category` and `default_priority`.
//!
//! Keywords are compared folded: lower case, without accents, full-width letters and
//! digits as plain ones (`ＫＹＣ` is `kyc`). In scripts written with spaces a keyword
//! matches whole words only (`fee` is not in `feedback`), and an English-looking
//! keyword also matches its plural (`deposit` matches `deposits`, `app crash` matches
//! `app crashes`). In Chinese, Japanese, Thai and the like, which have no spaces
//! between words, a keyword matches anywhere (`提款` in `我的提款还没到`), and a Latin
//! keyword next to such text still counts as a whole word (`2fa` in `我的2fa不能用`).

use regex::{RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

use crate::model::Priority;

/// One rule from `[[helpdesk.triage]]`: the first rule that matches a new ticket's first message sets its category and priority.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageRuleConfig {
    pub name: String,
    /// Left out: the default category.
    pub category: Option<String>,
    /// Left out: the default priority.
    pub priority: Option<Priority>,
    /// Only on these channel ids (empty: any).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Only for messages in these languages (ISO 639-1; empty: any). The message's language is given by the caller.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Matches when any keyword appears (case-insensitive; whole words in Latin scripts, anywhere in Han/Thai text; a keyword may be several words: "withdrawal pending").
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Or when any regex matches (Rust `regex` syntax, compiled case-insensitive).
    #[serde(default)]
    pub regex: Vec<String>,
}

/// What applies when no rule matches: `[helpdesk] default_category`, `default_priority`.
#[derive(Debug, Clone)]
pub struct TriageDefault {
    pub category: Option<String>,
    /// `normal` when the config does not say.
    pub priority: Priority,
}

impl Default for TriageDefault {
    fn default() -> Self {
        TriageDefault {
            category: None,
            priority: Priority::Normal,
        }
    }
}

/// A checked rule, without what it matches on (that is in [`Triage`]'s sets).
#[derive(Debug, Clone)]
struct Rule {
    name: String,
    category: Option<String>,
    priority: Option<Priority>,
    channels: Vec<String>,
    languages: Vec<String>,
}

/// The rules, loaded once: every rule's keywords in one set searched in one pass over
/// the folded text, every rule's regexes in another over the text as written.
#[derive(Debug, Clone)]
pub struct Triage {
    rules: Vec<Rule>,
    keywords: RegexSet,
    /// The rule of each pattern of `keywords`.
    keyword_rules: Vec<usize>,
    regexes: RegexSet,
    /// The rule of each pattern of `regexes`.
    regex_rules: Vec<usize>,
    default: TriageDefault,
}

/// The outcome for a ticket: which rule matched (None: the default).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Classification {
    pub rule: Option<String>,
    pub category: Option<String>,
    pub priority: Priority,
}

/// A character that may stand next to a whole word: anything but a letter, digit or
/// mark of a script written with spaces.
const EDGE: &str =
    r"[[^\p{L}\p{N}\p{M}]\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]";

impl Triage {
    /// Checks the rules; errors name the key: `triage[2].regex[0]` with the regex error, a rule with neither keywords nor regex, an empty or duplicate name, a category that is not 1-64 chars of a-z 0-9 - _ .
    pub fn from_config(
        rules: &[TriageRuleConfig],
        default: TriageDefault,
    ) -> Result<Triage, (String, String)> {
        if let Some(category) = &default.category {
            check_category(category).map_err(|e| ("default_category".to_owned(), e))?;
        }
        let mut checked: Vec<Rule> = Vec::with_capacity(rules.len());
        let (mut keyword_patterns, mut keyword_rules) = (Vec::new(), Vec::new());
        let (mut regex_patterns, mut regex_rules) = (Vec::new(), Vec::new());
        for (index, rule) in rules.iter().enumerate() {
            let key = |field: &str| format!("triage[{index}].{field}");
            let name = rule.name.trim();
            if name.is_empty() {
                return Err((key("name"), "a rule needs a name".into()));
            }
            if let Some(other) = checked.iter().position(|r| r.name == name) {
                return Err((
                    key("name"),
                    format!("{name:?} is already the name of triage[{other}]"),
                ));
            }
            if let Some(category) = &rule.category {
                check_category(category).map_err(|e| (key("category"), e))?;
            }
            if rule.category.is_none() && rule.priority.is_none() {
                return Err((
                    key("category"),
                    "a rule sets a category, a priority or both".into(),
                ));
            }
            if rule.keywords.is_empty() && rule.regex.is_empty() {
                return Err((
                    key("keywords"),
                    "a rule needs keywords or regex to match messages on".into(),
                ));
            }
            for (i, channel) in rule.channels.iter().enumerate() {
                crate::model::ChannelId::parse(channel)
                    .map_err(|e| (key(&format!("channels[{i}]")), e))?;
            }
            let mut languages = Vec::with_capacity(rule.languages.len());
            for (i, language) in rule.languages.iter().enumerate() {
                let code = language.trim().to_ascii_lowercase();
                if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_lowercase()) {
                    return Err((
                        key(&format!("languages[{i}]")),
                        format!("{language:?} is not a two-letter ISO 639-1 code such as \"ms\""),
                    ));
                }
                languages.push(code);
            }
            if !rule.keywords.is_empty() {
                let pattern = keywords_pattern(&rule.keywords).map_err(|i| {
                    (
                        key(&format!("keywords[{i}]")),
                        "a keyword cannot be empty".into(),
                    )
                })?;
                keyword_patterns.push(pattern);
                keyword_rules.push(index);
            }
            for (i, regex) in rule.regex.iter().enumerate() {
                RegexBuilder::new(regex)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| {
                        (
                            key(&format!("regex[{i}]")),
                            format!("not a valid regex: {e}"),
                        )
                    })?;
                regex_patterns.push(regex.clone());
                regex_rules.push(index);
            }
            checked.push(Rule {
                name: name.to_owned(),
                category: rule.category.clone(),
                priority: rule.priority,
                channels: rule.channels.clone(),
                languages,
            });
        }
        let keywords = RegexSetBuilder::new(&keyword_patterns)
            .build()
            .map_err(|e| {
                (
                    "triage".to_owned(),
                    format!("the keywords are too many to search: {e}"),
                )
            })?;
        let regexes = RegexSetBuilder::new(&regex_patterns)
            .case_insensitive(true)
            .build()
            .map_err(|e| {
                (
                    "triage".to_owned(),
                    format!("the regexes are too many to search: {e}"),
                )
            })?;
        Ok(Triage {
            rules: checked,
            keywords,
            keyword_rules,
            regexes,
            regex_rules,
            default,
        })
    }

    /// First match wins, over the subject and the text.
    pub fn classify(
        &self,
        channel: &str,
        language: Option<&str>,
        subject: Option<&str>,
        text: &str,
    ) -> Classification {
        let mut matched = vec![false; self.rules.len()];
        for written in subject.into_iter().chain([text]) {
            let folded = fold(written);
            for pattern in self.keywords.matches(&folded).iter() {
                matched[self.keyword_rules[pattern]] = true;
            }
            for pattern in self.regexes.matches(written).iter() {
                matched[self.regex_rules[pattern]] = true;
            }
        }
        // "zh-CN" is "zh".
        let language = language.map(|l| {
            l.split(['-', '_'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        });
        let rule = self.rules.iter().zip(matched).find_map(|(rule, matched)| {
            let on_channel = rule.channels.is_empty() || rule.channels.iter().any(|c| c == channel);
            let in_language = rule.languages.is_empty()
                || language
                    .as_ref()
                    .is_some_and(|l| rule.languages.contains(l));
            (matched && on_channel && in_language).then_some(rule)
        });
        match rule {
            Some(rule) => Classification {
                rule: Some(rule.name.clone()),
                category: rule
                    .category
                    .clone()
                    .or_else(|| self.default.category.clone()),
                priority: rule.priority.unwrap_or(self.default.priority),
            },
            None => Classification {
                rule: None,
                category: self.default.category.clone(),
                priority: self.default.priority,
            },
        }
    }

    /// The categories rules can set (for validating SLA policies and routing against),
    /// the default category included, each once, in the order of the rules.
    pub fn categories(&self) -> Vec<&str> {
        let mut categories: Vec<&str> = Vec::new();
        let all = self.rules.iter().map(|rule| &rule.category);
        for category in all.chain([&self.default.category]).flatten() {
            if !categories.contains(&category.as_str()) {
                categories.push(category);
            }
        }
        categories
    }
}

/// Categories name SLA policies and routes, and show in URLs and metrics.
fn check_category(category: &str) -> Result<(), String> {
    let valid = !category.is_empty()
        && category.len() <= 64
        && category
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "category {category:?} must be 1-64 characters of a-z, 0-9, '-' and '_'"
        ))
    }
}

/// One pattern matching any of a rule's keywords in folded text, or the index of an
/// empty keyword. Keywords are grouped by which of their ends need a word edge, so
/// that the (large) edge class appears at most four times.
fn keywords_pattern(keywords: &[String]) -> Result<String, usize> {
    // [neither, before only, after only, both]
    let mut groups: [Vec<String>; 4] = Default::default();
    for (i, keyword) in keywords.iter().enumerate() {
        let folded = fold(keyword);
        let words: Vec<&str> = folded.split_whitespace().collect();
        let (Some(first), Some(last)) = (words.first(), words.last()) else {
            return Err(i);
        };
        let mut pattern = words
            .iter()
            .map(|word| regex::escape(word))
            .collect::<Vec<_>>()
            .join(r"[\s\-]+");
        // English-looking: letters a-z only, long enough not to be an abbreviation.
        if last.len() >= 3 && last.bytes().all(|b| b.is_ascii_lowercase()) {
            pattern.push_str("(?:s|es)?");
        }
        let before = first.chars().next().is_some_and(needs_edge);
        let after = last.chars().next_back().is_some_and(needs_edge);
        groups[usize::from(before) + 2 * usize::from(after)].push(pattern);
    }
    let alternatives: Vec<String> = groups
        .iter()
        .enumerate()
        .filter(|(_, group)| !group.is_empty())
        .map(|(kind, group)| {
            let before = if kind & 1 == 1 {
                format!("(?:^|{EDGE})")
            } else {
                String::new()
            };
            let after = if kind & 2 == 2 {
                format!("(?:$|{EDGE})")
            } else {
                String::new()
            };
            format!("{before}(?:{}){after}", group.join("|"))
        })
        .collect();
    Ok(alternatives.join("|"))
}

/// Whether a keyword starting or ending with `c` must sit at a word's edge there: a
/// letter or digit of a script written with spaces.
fn needs_edge(c: char) -> bool {
    c.is_alphanumeric() && !is_unspaced(c)
}

/// Letters of scripts written without spaces between words.
pub(crate) fn is_unspaced(c: char) -> bool {
    matches!(c,
        '\u{2E80}'..='\u{2FDF}'   // CJK radicals
        | '\u{3005}'..='\u{3007}' // 々 〆 〇
        | '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3FFFF}'
        | '\u{0E00}'..='\u{0EFF}' // Thai, Lao
        | '\u{1000}'..='\u{109F}' // Myanmar
        | '\u{1780}'..='\u{17FF}' // Khmer
    )
}

/// Text as keywords are compared: lower case, accents removed (Latin letters,
/// Vietnamese included), full-width ASCII as ASCII.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        };
        for lower in c.to_lowercase() {
            if let Some(base) = base_letter(lower) {
                out.push_str(base);
            } else if !('\u{0300}'..='\u{036F}').contains(&lower) {
                out.push(lower);
            }
        }
    }
    out
}

/// The plain letter(s) of a lower-case accented Latin letter.
fn base_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' | '\u{1EA0}'..='\u{1EB7}' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' | '\u{1EB8}'..='\u{1EC7}' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' | '\u{1EC8}'..='\u{1ECB}' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' | 'ơ' | '\u{1ECC}'..='\u{1EE3}' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' | 'ư' | '\u{1EE4}'..='\u{1EF1}' => {
            "u"
        }
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' | '\u{1EF2}'..='\u{1EF9}' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, category: &str, keywords: &[&str]) -> TriageRuleConfig {
        TriageRuleConfig {
            name: name.into(),
            category: Some(category.into()),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            ..Default::default()
        }
    }

    /// Rules like a crypto exchange's.
    fn exchange_rules() -> Vec<TriageRuleConfig> {
        vec![
            TriageRuleConfig {
                name: "account-takeover".into(),
                category: Some("security".into()),
                priority: Some(Priority::Urgent),
                regex: vec![r"\b(?:hack(?:ed)?|stolen|dicuri)\b".into(), "被盗".into()],
                ..Default::default()
            },
            TriageRuleConfig {
                name: "otp-on-whatsapp".into(),
                category: Some("technical".into()),
                priority: Some(Priority::High),
                channels: vec!["whatsapp-main".into()],
                keywords: vec!["otp".into()],
                ..Default::default()
            },
            TriageRuleConfig {
                name: "cards-in-malay".into(),
                category: Some("cards".into()),
                languages: vec!["ms".into()],
                keywords: vec!["kad".into()],
                ..Default::default()
            },
            rule(
                "technical",
                "technical",
                &[
                    "2fa",
                    "login",
                    "app crash",
                    "tidak boleh log masuk",
                    "无法登录",
                ],
            ),
            rule(
                "deposits-withdrawals",
                "deposits_withdrawals",
                &["withdrawal", "deposit", "pengeluaran", "提款", "充值"],
            ),
            rule(
                "account",
                "account",
                &["kyc", "verification", "pengesahan", "实名认证"],
            ),
            rule(
                "trading",
                "trading",
                &["order", "trade", "dagangan", "交易", "fee"],
            ),
            TriageRuleConfig {
                priority: Some(Priority::High),
                ..rule("complaints", "complaints", &["complaint", "aduan", "投诉"])
            },
            TriageRuleConfig {
                name: "listing".into(),
                priority: Some(Priority::Low),
                keywords: vec!["listing".into(), "上币".into()],
                ..Default::default()
            },
        ]
    }

    fn exchange() -> Triage {
        Triage::from_config(
            &exchange_rules(),
            TriageDefault {
                category: Some("general".into()),
                priority: Priority::Normal,
            },
        )
        .unwrap()
    }

    /// The category of a message on the web chat, language unknown.
    fn category(triage: &Triage, text: &str) -> Option<String> {
        triage.classify("webchat", None, None, text).category
    }

    #[test]
    fn english_messages() {
        let triage = exchange();
        let cases = [
            ("I can't login since yesterday", "technical"),
            ("My 2FA code is rejected", "technical"),
            ("The app crashes when I open the wallet", "technical"),
            ("Withdrawal pending for 3 hours", "deposits_withdrawals"),
            ("Two deposits are missing", "deposits_withdrawals"),
            ("When is my KYC approved?", "account"),
            ("Verification failed twice", "account"),
            ("My order was not filled", "trading"),
            ("Why are the fees so high?", "trading"),
            ("I want to file a complaint", "complaints"),
        ];
        for (text, expected) in cases {
            assert_eq!(category(&triage, text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn malay_messages() {
        let triage = exchange();
        let cases = [
            ("Saya tidak boleh log masuk ke akaun", "technical"),
            ("TIDAK BOLEH LOG MASUK", "technical"),
            ("Pengeluaran saya belum sampai", "deposits_withdrawals"),
            ("PENGELUARAN tertangguh", "deposits_withdrawals"),
            ("Bila pengesahan akaun saya siap?", "account"),
            ("Dagangan saya dibatalkan", "trading"),
            ("Saya nak buat aduan", "complaints"),
        ];
        for (text, expected) in cases {
            assert_eq!(category(&triage, text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn chinese_messages_match_anywhere() {
        let triage = exchange();
        let cases = [
            ("我无法登录账户", "technical"),
            ("我的2fa不能用了", "technical"),
            ("提款还没到账", "deposits_withdrawals"),
            ("昨天充值的USDT没有到", "deposits_withdrawals"),
            ("实名认证一直失败", "account"),
            ("交易记录不见了", "trading"),
            ("我要投诉你们的客服", "complaints"),
            ("我的账户被盗了", "security"),
        ];
        for (text, expected) in cases {
            assert_eq!(category(&triage, text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn latin_keywords_match_whole_words_only() {
        let triage = exchange();
        // "fee" is not in "feedback", "order" not in "border", "trade" not in
        // "trader" (only a plural s/es is allowed).
        for text in [
            "Some feedback on the app",
            "I live near the border",
            "Pro trader here",
        ] {
            assert_eq!(
                category(&triage, text).as_deref(),
                Some("general"),
                "{text}"
            );
        }
        // Words end at punctuation and at Han text.
        assert_eq!(category(&triage, "login!").as_deref(), Some("technical"));
        assert_eq!(
            category(&triage, "(deposit)").as_deref(),
            Some("deposits_withdrawals")
        );
        assert_eq!(category(&triage, "kyc审核").as_deref(), Some("account"));
        // Several words may stand apart by more spaces, a line break or a hyphen.
        assert_eq!(
            category(&triage, "app\n  crash").as_deref(),
            Some("technical")
        );
        assert_eq!(category(&triage, "app-crash").as_deref(), Some("technical"));
        assert_eq!(
            category(&triage, "app crashing").as_deref(),
            Some("general")
        );
    }

    #[test]
    fn case_accents_and_full_width_fold() {
        let triage = Triage::from_config(
            &[
                rule("fr", "verification", &["vérification"]),
                rule("vi", "withdrawal", &["rút tiền"]),
            ],
            TriageDefault::default(),
        )
        .unwrap();
        for text in ["VERIFICATION", "Vérification", "vÉrIfIcAtIoN"] {
            assert_eq!(
                category(&triage, text).as_deref(),
                Some("verification"),
                "{text}"
            );
        }
        assert_eq!(
            category(&triage, "Tôi muốn RÚT TIỀN").as_deref(),
            Some("withdrawal")
        );
        assert_eq!(
            category(&triage, "toi muon rut tien").as_deref(),
            Some("withdrawal")
        );
        assert_eq!(
            category(&exchange(), "ＫＹＣ 问题").as_deref(),
            Some("account")
        );
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let triage = exchange();
        // Both a withdrawal and a complaint: the withdrawal rule comes first.
        let outcome = triage.classify(
            "email",
            Some("en"),
            None,
            "Complaint: my withdrawal is late",
        );
        assert_eq!(
            outcome,
            Classification {
                rule: Some("deposits-withdrawals".into()),
                category: Some("deposits_withdrawals".into()),
                priority: Priority::Normal,
            }
        );
        // The complaint alone is high priority.
        let outcome = triage.classify("email", Some("en"), None, "This is a complaint");
        assert_eq!(outcome.priority, Priority::High);
        assert_eq!(outcome.rule.as_deref(), Some("complaints"));
        // A regex rule first in the table beats keywords of later rules.
        let outcome = triage.classify(
            "email",
            None,
            None,
            "Account HACKED, withdrawal I never made",
        );
        assert_eq!(outcome.category.as_deref(), Some("security"));
        assert_eq!(outcome.priority, Priority::Urgent);
    }

    #[test]
    fn the_subject_counts_too() {
        let triage = exchange();
        let outcome = triage.classify(
            "email",
            None,
            Some("Withdrawal pending"),
            "See above, thanks",
        );
        assert_eq!(outcome.category.as_deref(), Some("deposits_withdrawals"));
        // Words of the subject and the text do not join across them.
        let outcome = triage.classify("email", None, Some("my app"), "crash");
        assert_eq!(outcome.rule, None);
    }

    #[test]
    fn channel_and_language_filters() {
        let triage = exchange();
        let otp = "I never got the OTP";
        let on = triage.classify("whatsapp-main", Some("en"), None, otp);
        assert_eq!(on.rule.as_deref(), Some("otp-on-whatsapp"));
        assert_eq!(on.priority, Priority::High);
        assert_eq!(triage.classify("email", Some("en"), None, otp).rule, None);

        let card = "Kad saya disekat";
        assert_eq!(
            triage
                .classify("webchat", Some("ms"), None, card)
                .category
                .as_deref(),
            Some("cards")
        );
        assert_eq!(
            triage
                .classify("webchat", Some("MS"), None, card)
                .category
                .as_deref(),
            Some("cards")
        );
        // Another language, or none known: the rule does not apply.
        assert_eq!(
            triage.classify("webchat", Some("en"), None, card).rule,
            None
        );
        assert_eq!(triage.classify("webchat", None, None, card).rule, None);
        // A rule without filters applies in every language and channel.
        assert_eq!(
            triage
                .classify("telegram", Some("zh-CN"), None, "提款")
                .rule
                .as_deref(),
            Some("deposits-withdrawals")
        );
    }

    #[test]
    fn unset_fields_come_from_the_default() {
        let triage = exchange();
        let listing = triage.classify("webchat", None, None, "新币上币申请");
        assert_eq!(
            listing,
            Classification {
                rule: Some("listing".into()),
                category: Some("general".into()),
                priority: Priority::Low,
            }
        );
        let nothing = triage.classify("webchat", None, None, "hello there");
        assert_eq!(
            nothing,
            Classification {
                rule: None,
                category: Some("general".into()),
                priority: Priority::Normal,
            }
        );
        // Without a default: no category, normal priority.
        let bare = Triage::from_config(&[], TriageDefault::default()).unwrap();
        assert_eq!(
            bare.classify("webchat", None, None, "withdrawal"),
            Classification {
                rule: None,
                category: None,
                priority: Priority::Normal,
            }
        );
        assert!(bare.categories().is_empty());
    }

    #[test]
    fn categories_are_listed_once() {
        assert_eq!(
            exchange().categories(),
            [
                "security",
                "technical",
                "cards",
                "deposits_withdrawals",
                "account",
                "trading",
                "complaints",
                "general"
            ]
        );
    }

    #[test]
    fn bad_rules_are_refused_by_key() {
        let refused = |change: &dyn Fn(&mut Vec<TriageRuleConfig>)| {
            let mut rules = exchange_rules();
            change(&mut rules);
            Triage::from_config(&rules, TriageDefault::default()).unwrap_err()
        };
        let (key, message) = refused(&|rules| rules[2].regex = vec!["(unclosed".into()]);
        assert_eq!(key, "triage[2].regex[0]");
        assert!(message.contains("unclosed"), "{message}");
        let (key, _) = refused(&|rules| {
            rules[3].keywords.clear();
        });
        assert_eq!(key, "triage[3].keywords");
        assert_eq!(
            refused(&|rules| rules[4].name = " ".into()).0,
            "triage[4].name"
        );
        let (key, message) = refused(&|rules| rules[5].name = "technical".into());
        assert_eq!(key, "triage[5].name");
        assert!(message.contains("triage[3]"), "{message}");
        for bad in ["", "Deposits", "deposits & withdrawals", &"x".repeat(65)] {
            let (key, _) = refused(&|rules| rules[1].category = Some(bad.to_owned()));
            assert_eq!(key, "triage[1].category", "{bad:?}");
        }
        let (key, _) = refused(&|rules| {
            rules[8].priority = None;
        });
        assert_eq!(key, "triage[8].category");
        assert_eq!(
            refused(&|rules| rules[0].languages = vec!["en".into(), "malay".into()]).0,
            "triage[0].languages[1]"
        );
        assert_eq!(
            refused(&|rules| rules[0].channels = vec!["Email Main".into()]).0,
            "triage[0].channels[0]"
        );
        assert_eq!(
            refused(&|rules| rules[6].keywords.push("  ".into())).0,
            "triage[6].keywords[5]"
        );
        let (key, _) = Triage::from_config(
            &[],
            TriageDefault {
                category: Some("General".into()),
                priority: Priority::Normal,
            },
        )
        .unwrap_err();
        assert_eq!(key, "default_category");
    }

    #[test]
    fn rules_deserialize_from_toml_shaped_json() {
        let rule: TriageRuleConfig = serde_json::from_value(serde_json::json!({
            "name": "vip",
            "priority": "urgent",
            "keywords": ["withdrawal pending"],
        }))
        .unwrap();
        assert_eq!(rule.priority, Some(Priority::Urgent));
        assert!(
            serde_json::from_value::<TriageRuleConfig>(serde_json::json!({
                "name": "vip",
                "keyword": ["typo"],
            }))
            .is_err()
        );
    }
}
