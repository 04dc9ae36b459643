//! The knowledge base: FAQ articles kept as Markdown files in the config folder, and
//! the articles that best answer a ticket, so that an agent can send or link one
//! instead of writing the same answer again.
//!
//! Articles are scored with BM25 over their title, tags and body, each language on
//! its own: how much a word tells depends on how common it is among articles in the
//! same language ("akaun" is in every Malay article, and says nothing; "account" in
//! a Malay article is rare, and would say too much if English counted with it).
//! Latin text is split into lowercased words, without stop words and with a light
//! stemming per language; Chinese, which has no spaces, into pairs of adjacent
//! characters.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::LazyLock;

use serde::Serialize;

/// One article: a Markdown file `<id>.md` with a front matter block:
/// ---
/// title: Why is my withdrawal pending?
/// language: en
/// tags: withdrawal, pending, blockchain
/// url: https://help.example.com/withdrawal-pending   (optional)
/// ---
/// body in Markdown...
#[derive(Debug, Clone)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub language: String,
    pub tags: Vec<String>,
    pub url: Option<String>,
    pub body: String,
}

/// The articles, with the index that scores them, built once when they are loaded.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeBase {
    articles: Vec<Article>,
    /// For each article, its language as compared: the primary code, lowercased.
    languages: Vec<String>,
    /// For each article, the start of its body as plain text.
    excerpts: Vec<String>,
    /// One index per language of the articles.
    indexes: Vec<LanguageIndex>,
}

/// A suggested article for a ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub id: String,
    pub title: String,
    pub language: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Relevance, higher is better; comparable within one answer only.
    pub score: f32,
    /// The first sentence or so of the body, as plain text (Markdown stripped), for agents to judge.
    pub excerpt: String,
}

/// BM25's term frequency saturation: a word's tenth mention adds little to its first.
const K1: f32 = 1.2;
/// How much each field counts, and how much its length dampens a mention (a word in a
/// long body says less than in a short one). A title or a tag names what the article
/// is about, so a word there counts several times a word of the body.
const TITLE: Field = Field {
    weight: 3.0,
    b: 0.5,
};
const TAGS: Field = Field {
    weight: 2.5,
    b: 0.5,
};
const BODY: Field = Field {
    weight: 1.0,
    b: 0.75,
};
/// A language with few articles is scored as if it had at least this many, the others
/// lacking the word: otherwise every word of a language's only article would be as
/// common as can be, and the article never relevant.
const MIN_ARTICLES: f32 = 10.0;
/// Scores are in units of a word found once in the body of a single article, whatever
/// the number of articles (a word's weight is divided by the weight of such a word),
/// so that the floors below mean the same in a small base and a large one.
///
/// The score an article needs to be suggested when the text has a word of its title
/// or tags: those say what the article is about. A distinctive word there scores
/// about 1.5 to 2 ("memo", "fee", "transfer"), a word that most articles of the
/// language share ("account", "2FA", "deposit") under 1.2, so a lone common word
/// suggests nothing.
const FLOOR: f32 = 1.25;
/// The score an article needs when the text meets only its body: a body mentions
/// many things in passing ("app", "money", "order"), so it takes at least two words
/// in common. Greetings and thanks are stop words and score nothing.
const BODY_FLOOR: f32 = 2.0;
/// What an article counts for, when no language is asked for, if it is not in the
/// language the text looks most like: the customer would have to read a language
/// they did not write in.
const OTHER_LANGUAGE: f32 = 0.5;
/// How much of a ticket's text is read: its start (the subject, the first messages)
/// says what it is about, and the cap keeps a ticket view fast whatever its length.
const MAX_TEXT: usize = 64 * 1024;
/// An excerpt stops at the first sentence end after this many columns (a Chinese
/// character takes two)...
const EXCERPT_MIN: usize = 60;
/// ...or is cut at a word within this many.
const EXCERPT_MAX: usize = 220;

#[derive(Debug, Clone, Copy)]
struct Field {
    weight: f32,
    b: f32,
}

#[derive(Debug, Clone)]
struct LanguageIndex {
    /// As compared: lowercased, the primary code.
    language: String,
    /// How many articles are in the language.
    articles: f32,
    analyzer: Analyzer,
    /// For a term, the articles that have it.
    postings: HashMap<String, Vec<Posting>>,
}

/// How many times each term occurs in a field.
type Counts = HashMap<String, u32>;

#[derive(Debug, Clone, Copy)]
struct Posting {
    article: usize,
    /// The term's contribution to the article's score.
    score: f32,
    /// Whether the term is in the article's title or tags.
    named: bool,
    /// Whether the term is in the article's title or body, the language's own words
    /// (tags often give other languages' words for the same thing).
    written: bool,
}

impl KnowledgeBase {
    /// Reads every `*.md` in `dir` (not recursive; sorted by name). Errors name the file and the problem:
    /// no front matter, missing title or language, unknown front matter key, a language that is not a
    /// 2-letter code, a duplicate id. An empty folder is an empty base.
    ///
    /// Hidden files (an editor's `.name.md` leftovers) are skipped; ids that differ only
    /// in case count as duplicates, since they would be the same file on some systems.
    pub fn load(dir: &Path) -> Result<KnowledgeBase, String> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read the knowledge folder {}: {e}", dir.display()))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry
                .map_err(|e| format!("cannot read the knowledge folder {}: {e}", dir.display()))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let markdown = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("md"));
            // Metadata follows links, so a linked article is read like any other.
            if name.starts_with('.') || !markdown || !path.is_file() {
                continue;
            }
            files.push((name, path));
        }
        files.sort();
        let mut articles = Vec::with_capacity(files.len());
        let mut ids: HashMap<String, String> = HashMap::new();
        for (name, path) in files {
            let shown = path.display();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{shown}: cannot be read as UTF-8 text: {e}"))?;
            let id = name[..name.len() - ".md".len()].to_owned();
            if let Some(other) = ids.insert(id.to_lowercase(), name.clone()) {
                return Err(format!(
                    "{shown}: the id {id:?} is already used by {other} (ids are file names, whatever their case)"
                ));
            }
            articles.push(parse(id, &text).map_err(|e| format!("{shown}: {e}"))?);
        }
        Ok(KnowledgeBase::from_articles(articles))
    }

    pub fn from_articles(articles: Vec<Article>) -> KnowledgeBase {
        let excerpts = articles.iter().map(|a| excerpt(&a.body)).collect();
        let languages: Vec<String> = articles
            .iter()
            .map(|a| base_language(&a.language))
            .collect();
        let mut distinct = languages.clone();
        distinct.sort();
        distinct.dedup();
        let indexes = distinct
            .into_iter()
            .map(|language| LanguageIndex::build(language, &articles, &languages))
            .collect();
        KnowledgeBase {
            articles,
            languages,
            excerpts,
            indexes,
        }
    }

    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    /// The best articles for `text` (a customer's message, or a ticket's subject and messages),
    /// at most `limit`, best first; only articles scoring above a relevance floor (an unrelated message
    /// gets none). Articles in `language` are preferred (when Some); others are offered only when none
    /// in that language is relevant.
    ///
    /// `language` is compared by its primary code: `zh-CN` prefers `zh` articles.
    pub fn suggest(&self, text: &str, language: Option<&str>, limit: usize) -> Vec<Suggestion> {
        if limit == 0 || self.articles.is_empty() {
            return Vec::new();
        }
        let text = prefix(text, MAX_TEXT);
        let mut analyzed: HashMap<Analyzer, HashSet<String>> = HashMap::new();
        let mut scores = vec![0.0f32; self.articles.len()];
        let mut named = vec![false; self.articles.len()];
        let stop_words = stop_word_counts(text);
        // How much the text looks like each language: its stop words, and how common
        // its words are in the language's articles, counting only the language's own
        // script (a Chinese article's "USDT" says nothing of Chinese).
        let mut likeness: Vec<(&str, f32)> = Vec::with_capacity(self.indexes.len());
        for index in &self.indexes {
            let terms = analyzed
                .entry(index.analyzer)
                .or_insert_with(|| terms(text, index.analyzer).into_iter().collect());
            let mut common = 0.0;
            let han = index.language == "zh";
            for term in terms.iter() {
                let postings = index.postings.get(term).map_or(&[][..], Vec::as_slice);
                if term.chars().any(is_han) == han {
                    let written = postings.iter().filter(|p| p.written).count();
                    common += written as f32 / index.articles;
                }
                for posting in postings {
                    scores[posting.article] += posting.score;
                    named[posting.article] |= posting.named;
                }
            }
            let stop = match index.language.as_str() {
                "en" => stop_words[0],
                "ms" | "id" => stop_words[1],
                "zh" => stop_words[2],
                _ => 0.0,
            };
            likeness.push((index.language.as_str(), common + stop));
        }
        let mut relevant: Vec<usize> = (0..self.articles.len())
            .filter(|&i| scores[i] >= if named[i] { FLOOR } else { BODY_FLOOR })
            .collect();
        let in_language = |i: usize, language: &str| self.languages[i] == language;
        if let Some(wanted) = language.map(base_language) {
            if relevant.iter().any(|&i| in_language(i, &wanted)) {
                relevant.retain(|&i| in_language(i, &wanted));
            }
        } else {
            // Unlabelled, articles in the text's likeliest language count fully, the
            // others less: an English question finds the English article before the
            // Malay one that uses the same English words (rarer among Malay articles,
            // so weightier there).
            likeness.sort_by(|a, b| b.1.total_cmp(&a.1));
            if let [(best, most), rest @ ..] = likeness.as_slice()
                && *most > 0.0
                && rest.first().is_none_or(|(_, next)| next < most)
            {
                for &i in &relevant {
                    if !in_language(i, best) {
                        scores[i] *= OTHER_LANGUAGE;
                    }
                }
            }
        }
        relevant.sort_by(|&a, &b| {
            scores[b]
                .total_cmp(&scores[a])
                .then_with(|| self.articles[a].id.cmp(&self.articles[b].id))
        });
        relevant
            .into_iter()
            .take(limit)
            .map(|i| {
                let article = &self.articles[i];
                Suggestion {
                    id: article.id.clone(),
                    title: article.title.clone(),
                    language: article.language.clone(),
                    url: article.url.clone(),
                    score: scores[i],
                    excerpt: self.excerpts[i].clone(),
                }
            })
            .collect()
    }
}

impl LanguageIndex {
    /// BM25F: each field's mentions of a term are weighted and length-normalised, then
    /// summed and saturated once, so that a word in both title and body is not
    /// counted as two unrelated words. Everything but the query is known here, so a
    /// posting holds the term's whole contribution to the article's score.
    fn build(language: String, articles: &[Article], languages: &[String]) -> LanguageIndex {
        let analyzer = Analyzer::for_language(&language);
        // For each article of the language: its place, and per field (title, tags,
        // body) each term's count and the field's length in terms.
        let mut documents: Vec<(usize, [Counts; 3], [f32; 3])> = Vec::new();
        for (i, article) in articles.iter().enumerate() {
            if languages[i] != language {
                continue;
            }
            let fields = [
                terms(&article.title, analyzer),
                article
                    .tags
                    .iter()
                    .flat_map(|tag| terms(tag, analyzer))
                    .collect(),
                terms(&plain_text(&article.body), analyzer),
            ];
            let lengths = fields.each_ref().map(|f| f.len() as f32);
            let counts = fields.map(|field| {
                let mut counts = HashMap::new();
                for term in field {
                    *counts.entry(term).or_insert(0) += 1;
                }
                counts
            });
            documents.push((i, counts, lengths));
        }
        let n = documents.len() as f32;
        let mut average = [0.0f32; 3];
        for (_, _, lengths) in &documents {
            for (sum, length) in average.iter_mut().zip(lengths) {
                *sum += length / n;
            }
        }
        let mut frequencies: HashMap<&str, f32> = HashMap::new();
        for (_, counts, _) in &documents {
            let present: HashSet<&str> = counts
                .iter()
                .flat_map(|c| c.keys())
                .map(String::as_str)
                .collect();
            for term in present {
                *frequencies.entry(term).or_insert(0.0) += 1.0;
            }
        }
        let scale = n.max(MIN_ARTICLES);
        let idf = |df: f32| (1.0 + (scale - df + 0.5) / (df + 0.5)).ln();
        // A word once in one article's body: tf 1 in a body of average length.
        let unit = idf(1.0);
        let mut postings: HashMap<String, Vec<Posting>> = HashMap::new();
        for (article, counts, lengths) in &documents {
            let mut weighted: HashMap<&str, f32> = HashMap::new();
            for (field, ((counts, length), average)) in [TITLE, TAGS, BODY]
                .iter()
                .zip(counts.iter().zip(lengths).zip(average))
            {
                let norm = 1.0 - field.b + field.b * length / average.max(1.0);
                for (term, &count) in counts {
                    *weighted.entry(term.as_str()).or_insert(0.0) +=
                        field.weight * count as f32 / norm;
                }
            }
            for (term, tf) in weighted {
                let score = idf(frequencies[term]) * tf * (K1 + 1.0) / (K1 + tf) / unit;
                postings.entry(term.to_owned()).or_default().push(Posting {
                    article: *article,
                    score,
                    named: counts[0].contains_key(term) || counts[1].contains_key(term),
                    written: counts[0].contains_key(term) || counts[2].contains_key(term),
                });
            }
        }
        LanguageIndex {
            language,
            articles: n,
            analyzer,
            postings,
        }
    }
}

/// The primary language code, lowercased: `zh-CN` and `ZH` are `zh`.
fn base_language(language: &str) -> String {
    language
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The longest start of `text` of at most `max` bytes that ends on a character.
fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

const KEYS: &str = "title, language, tags, url";

/// An article from its file's text.
fn parse(id: String, text: &str) -> Result<Article, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    if lines
        .next()
        .is_none_or(|(_, line)| line.trim_end() != "---")
    {
        return Err("no front matter: the file must start with a line \"---\", then \"title:\" and \"language:\" lines, then \"---\"".into());
    }
    if !text.lines().skip(1).any(|line| line.trim() == "---") {
        return Err("the front matter is not closed by a line \"---\"".into());
    }
    let (mut title, mut language, mut tags, mut url) = (None, None, None, None);
    for (number, line) in lines.by_ref() {
        let line = line.trim();
        if line == "---" {
            break;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!(
                "front matter line {} is not \"key: value\": {line:?}",
                number + 1
            ));
        };
        let (key, value) = (key.trim(), unquote(value.trim()));
        let slot = match key {
            "title" => &mut title,
            "language" => &mut language,
            "tags" => &mut tags,
            "url" => &mut url,
            _ => {
                return Err(format!(
                    "unknown front matter key {key:?} on line {} (the keys are {KEYS})",
                    number + 1
                ));
            }
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(format!("the front matter gives {key:?} twice"));
        }
    }
    let body = lines.map(|(_, line)| line).collect::<Vec<_>>().join("\n");
    let title = title
        .filter(|t| !t.is_empty())
        .ok_or("missing title: the front matter needs a \"title:\" line")?;
    let language = language.filter(|l| !l.is_empty()).ok_or(
        "missing language: the front matter needs a \"language:\" line, such as \"language: en\"",
    )?;
    if language.len() != 2 || !language.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!(
            "the language {language:?} is not a 2-letter code such as en, ms or zh"
        ));
    }
    let tags = tags
        .map(|tags| {
            let tags = tags.trim();
            let tags = tags
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or(tags);
            tags.split(',')
                .map(|tag| unquote(tag.trim()).to_owned())
                .filter(|tag| !tag.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let url = url.filter(|u| !u.is_empty());
    if let Some(url) = &url {
        let web = url.starts_with("https://") || url.starts_with("http://");
        if !web || url.contains(char::is_whitespace) {
            return Err(format!(
                "the url {url:?} is not a web address (https://...)"
            ));
        }
    }
    Ok(Article {
        id,
        title,
        language: language.to_ascii_lowercase(),
        tags,
        url,
        body: body.trim().to_owned(),
    })
}

/// A value without the quotes YAML habits may put around it.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

/// Markdown as plain text, block by block: headings, paragraphs, list items,
/// each with whether it is a heading. Links keep their text, images their alt text;
/// emphasis, code marks, quotes, list markers, rules, tables' pipes and HTML tags go.
fn blocks(markdown: &str) -> Vec<(bool, String)> {
    let mut blocks: Vec<(bool, String)> = Vec::new();
    let mut open = false;
    for line in markdown.lines() {
        let mut line = line.trim();
        while let Some(rest) = line.strip_prefix('>') {
            line = rest.trim_start();
        }
        if line.is_empty() {
            open = false;
            continue;
        }
        if line.starts_with("```") || line.starts_with("~~~") {
            open = false;
            continue;
        }
        if line.len() >= 3
            && line
                .chars()
                .all(|c| matches!(c, '-' | '*' | '_' | '=' | ' '))
        {
            open = false;
            continue;
        }
        let heading = line.starts_with('#');
        let item = list_item(line);
        let start_block = heading || item.is_some() || !open;
        let content = if heading {
            line.trim_start_matches('#').trim()
        } else {
            item.unwrap_or(line)
        };
        let text = inline(content);
        if text.is_empty() {
            continue;
        }
        match blocks.last_mut() {
            Some((false, last)) if !start_block => {
                last.push(' ');
                last.push_str(&text);
            }
            _ => blocks.push((heading, text)),
        }
        open = !heading;
    }
    blocks
}

/// The text of a list item, without its marker ("- ", "* ", "+ ", "1. ", "1) ").
fn list_item(line: &str) -> Option<&str> {
    for marker in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(marker) {
            return Some(rest.trim_start());
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits < 4 {
        let rest = &line[digits..];
        if let Some(rest) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some(rest.trim_start());
        }
    }
    None
}

/// One line's inline Markdown as plain text.
fn inline(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '!' if chars.get(i + 1) == Some(&'[') => {}
            '[' | ']' => {
                // A link's target goes: "](url)".
                if c == ']'
                    && chars.get(i + 1) == Some(&'(')
                    && let Some(close) = chars[i..].iter().position(|&c| c == ')')
                {
                    i += close;
                }
            }
            '<' if chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '/') =>
            {
                match chars[i..].iter().position(|&c| c == '>') {
                    Some(close) => i += close,
                    None => out.push(c),
                }
            }
            '*' | '`' | '|' => {}
            '_' => {
                let before = i == 0 || !chars[i - 1].is_alphanumeric();
                let after = chars.get(i + 1).is_none_or(|n| !n.is_alphanumeric());
                if !(before || after) {
                    out.push(c);
                }
            }
            '\\' if chars.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) => {
                out.push(chars[i + 1]);
                i += 1;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The whole body as plain text, for the index.
fn plain_text(markdown: &str) -> String {
    blocks(markdown)
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first sentence of the body's first paragraph (headings skipped), or the first
/// two when the first is short; cut at a word with "…" when there is no sentence end
/// soon enough. Lengths are in columns: a Chinese character takes two, and says as
/// much as a short word.
fn excerpt(markdown: &str) -> String {
    let blocks = blocks(markdown);
    let Some((_, text)) = blocks
        .iter()
        .find(|(heading, _)| !heading)
        .or(blocks.first())
    else {
        return String::new();
    };
    let chars: Vec<char> = text.chars().collect();
    let mut width = 0;
    // The longest start within the maximum width, and its last space.
    let (mut fits, mut space) = (0, None);
    for (i, &c) in chars.iter().enumerate() {
        width += if is_han(c)
            || ('\u{3000}'..='\u{303F}').contains(&c)
            || ('\u{FF00}'..='\u{FFEF}').contains(&c)
        {
            2
        } else {
            1
        };
        if width > EXCERPT_MAX {
            break;
        }
        fits = i + 1;
        if c.is_whitespace() {
            space = Some(i);
        }
        let end = match c {
            '。' | '！' | '？' => true,
            '.' | '!' | '?' => chars.get(i + 1).is_none_or(|n| n.is_whitespace()),
            _ => false,
        };
        if (end && width >= EXCERPT_MIN) || i + 1 == chars.len() {
            return chars[..=i].iter().collect();
        }
    }
    let cut = space.filter(|&at| at > fits / 2).unwrap_or(fits);
    let excerpt: String = chars[..cut].iter().collect();
    let mut excerpt = excerpt
        .trim_end_matches([',', ';', ':', ' ', '，', '、', '；', '：'])
        .to_owned();
    excerpt.push('…');
    excerpt
}

/// How Latin words are stemmed: the article's language decides, and a message is
/// analysed once per analyzer to be scored against that language's articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Analyzer {
    /// English, and the Latin words (coin names, "2FA", "API") in Chinese articles.
    English,
    /// Malay (and Indonesian, close enough for its affixes).
    Malay,
    /// Words as they are, lowercased.
    Plain,
}

impl Analyzer {
    fn for_language(language: &str) -> Analyzer {
        match language {
            "en" | "zh" => Analyzer::English,
            "ms" | "id" => Analyzer::Malay,
            _ => Analyzer::Plain,
        }
    }

    fn stem(self, word: &str) -> String {
        match self {
            Analyzer::English => stem_english(word),
            Analyzer::Malay => stem_malay(word),
            Analyzer::Plain => word.to_owned(),
        }
    }
}

/// Words that say nothing about what a message asks. Both lists apply to every
/// language: they hardly overlap, and a Malaysian message often mixes both. Greetings,
/// thanks and politeness are here too, so that "hello" or "thanks!" matches nothing.
/// They also tell which language an unlabelled message is in.
#[rustfmt::skip]
const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "anyone",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "can", "cannot", "could", "did", "do", "does", "doing", "done", "down",
    "during", "each", "else", "even", "ever", "every", "few", "for", "from", "further", "get",
    "got", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how",
    "i", "if", "im", "in", "into", "is", "it", "its", "just", "let", "me", "more", "most",
    "much", "must", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so",
    "some", "still", "such", "than", "that", "the", "their", "theirs", "them", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "us",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "why", "will", "with", "would", "yet", "you", "your", "yours", "yourself", "ve", "ll",
    "re", "don", "doesn", "didn", "isn", "wasn", "won", "haven", "hasn", "hello",
    "hi", "hey", "hiya", "dear", "thanks", "thank", "thx", "tq", "ty", "please", "pls", "plz",
    "kindly", "regards", "best", "sir", "madam", "mam", "team", "support", "help", "good",
    "morning", "afternoon", "evening", "ok", "okay", "yes", "yeah", "sorry", "bro", "sis",
    "lol",
];

#[rustfmt::skip]
const MALAY_STOP_WORDS: &[&str] = &[
    "saya", "aku", "sy", "anda", "awak", "kamu", "kami", "kita", "mereka", "dia", "ia", "ini",
    "itu", "yang", "yg", "dan", "atau", "di", "ke", "dari", "daripada", "pada", "kepada",
    "untuk", "utk", "dengan", "dgn", "dalam", "oleh", "akan", "sudah", "dah", "telah", "belum",
    "blm", "tidak", "tak", "x", "bukan", "ada", "adalah", "ialah", "boleh", "bagaimana",
    "macam", "mana", "apa", "kenapa", "mengapa", "bila", "juga", "lagi", "sahaja", "saja",
    "hanya", "jika", "kalau", "supaya", "agar", "kerana", "sebab", "tetapi", "tapi", "pun",
    "nak", "mahu", "hendak", "ya", "ye", "sangat", "sekali", "semua", "setiap", "bagi",
    "sebagai", "seperti", "masih", "lepas", "sebelum", "selepas", "hingga", "sehingga",
    "jangan", "kah", "lah", "tu", "ni", "je", "mcm", "camne", "macamana", "tolong", "sila",
    "kasih", "hai", "helo", "salam", "assalamualaikum", "tuan", "puan", "encik", "cik", "pagi",
    "petang", "malam", "tengahari", "datang", "sejahtera", "maaf", "mohon", "minta",
];

/// The stop word lists as sets: a long ticket has thousands of words to look up.
static STOP_WORDS: LazyLock<[HashSet<&str>; 2]> = LazyLock::new(|| {
    [ENGLISH_STOP_WORDS, MALAY_STOP_WORDS].map(|list| list.iter().copied().collect())
});

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.iter().any(|set| set.contains(word))
}

/// How many English, Malay and Chinese stop words `text` has, as evidence of its
/// language.
fn stop_word_counts(text: &str) -> [f32; 3] {
    let mut counts = [0.0; 3];
    let lowercase = text.to_lowercase();
    for word in lowercase.split(|c: char| !c.is_alphanumeric() || is_han(c)) {
        for (count, set) in counts.iter_mut().zip(STOP_WORDS.iter()) {
            *count += set.contains(word) as u8 as f32;
        }
    }
    counts[2] = text.chars().filter(|c| HAN_STOP_CHARS.contains(c)).count() as f32;
    counts
}

/// A courtesy said in two words whose first word means something on its own:
/// "terima kasih" (thank you) is not about receiving, "selamat pagi" not about safety.
const STOP_PAIRS: &[(&str, &str)] = &[
    ("terima", "kasih"),
    ("selamat", "pagi"),
    ("selamat", "petang"),
    ("selamat", "malam"),
    ("selamat", "tengahari"),
    ("selamat", "datang"),
    ("selamat", "sejahtera"),
];

/// Chinese characters that are particles or pronouns: a run of Chinese text is cut at
/// them before it is paired, so that "我的充值" pairs only "充值".
#[rustfmt::skip]
const HAN_STOP_CHARS: &[char] = &[
    '的', '了', '吗', '嗎', '呢', '吧', '啊', '呀', '哦', '嘛', '我', '你', '您', '他', '她', '它', '们', '們',
];

/// Chinese pairs that are greetings, thanks or question words.
#[rustfmt::skip]
const HAN_STOP_PAIRS: &[&str] = &[
    "谢谢", "請問", "请问", "麻烦", "一下", "什么", "怎么", "为什", "如何", "可以", "已经", "这个",
    "那个", "因为", "所以", "如果", "但是", "还是", "或者", "就是", "现在", "时候", "问题", "帮忙",
    "不好", "好意", "意思", "客服", "感谢", "早上", "上好", "晚上", "下午",
];

/// Chinese (and Japanese kanji): the scripts written without spaces between words.
fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FA1F}')
}

/// Full-width Latin letters and digits (typed with a Chinese input method) as ASCII.
fn narrow(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// The index terms of `text`: Latin words lowercased, without stop words or pure
/// numbers or single letters, stemmed by `analyzer`; Chinese runs as pairs of
/// adjacent characters, a lone character as itself.
fn terms(text: &str, analyzer: Analyzer) -> Vec<String> {
    enum Run {
        Word(String),
        Han(Vec<char>),
    }
    let mut runs: Vec<Run> = Vec::new();
    let mut current: Option<Run> = None;
    for c in text.chars().map(narrow) {
        let han = is_han(c);
        let word = !han && c.is_alphanumeric();
        match (&mut current, han, word) {
            (Some(Run::Han(chars)), true, _) => chars.push(c),
            (Some(Run::Word(w)), _, true) => w.extend(c.to_lowercase()),
            (_, true, _) | (_, _, true) => {
                runs.extend(current.take());
                current = Some(if han {
                    Run::Han(vec![c])
                } else {
                    Run::Word(c.to_lowercase().collect())
                });
            }
            _ => runs.extend(current.take()),
        }
    }
    runs.extend(current);

    let mut terms = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        match run {
            Run::Word(word) => {
                let next = match runs.get(i + 1) {
                    Some(Run::Word(next)) => next.as_str(),
                    _ => "",
                };
                if word.chars().count() < 2
                    || word.chars().all(|c| c.is_ascii_digit())
                    || is_stop_word(word)
                    || STOP_PAIRS.contains(&(word.as_str(), next))
                {
                    continue;
                }
                terms.push(analyzer.stem(word));
            }
            Run::Han(chars) => {
                for segment in chars.split(|c| HAN_STOP_CHARS.contains(c)) {
                    if let [single] = segment {
                        terms.push(single.to_string());
                    }
                    for pair in segment.windows(2) {
                        let pair: String = pair.iter().collect();
                        if !HAN_STOP_PAIRS.contains(&pair.as_str()) {
                            terms.push(pair);
                        }
                    }
                }
            }
        }
    }
    terms
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

/// Words whose family the suffix rules below would not bring together.
const ENGLISH_FAMILIES: &[(&str, &str)] = &[
    ("withdrawal", "withdraw"),
    ("withdrawals", "withdraw"),
    ("verification", "verify"),
    ("verifications", "verify"),
    ("confirmation", "confirm"),
    ("confirmations", "confirm"),
    ("registration", "register"),
    ("login", "log"),
    ("logins", "log"),
    ("frozen", "freeze"),
    ("froze", "freeze"),
];

/// A light English stemmer: plurals, -ing and -ed, so that "withdrawals", "pending"
/// and "credited" meet "withdraw", "pend" and "credit". Not Porter's: enough for a
/// help centre's words, and consistent, which is what matching needs.
fn stem_english(word: &str) -> String {
    let word = ENGLISH_FAMILIES
        .iter()
        .find(|(form, _)| *form == word)
        .map_or(word, |(_, base)| base);
    let mut w = word.to_owned();
    let len = w.chars().count();
    if w.ends_with("ies") && len > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if w.ends_with("sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with('s')
        && len > 3
        && !w.ends_with("ss")
        && !w.ends_with("us")
        && !w.ends_with("is")
    {
        w.pop();
    }
    for suffix in ["ing", "ed"] {
        if let Some(stem) = w.strip_suffix(suffix)
            && stem.chars().count() >= 3
            && stem.chars().any(|c| is_vowel(c) || c == 'y')
        {
            w = stem.to_owned();
            // "logged", "transferred": one consonant of the doubled pair.
            let mut tail = w.chars().rev();
            if let (Some(last), Some(before)) = (tail.next(), tail.next())
                && last == before
                && !is_vowel(last)
                && !matches!(last, 'l' | 's' | 'z')
            {
                w.pop();
            }
            break;
        }
    }
    // "verify", "verified" and "verifying" meet at "verifi".
    let chars: Vec<char> = w.chars().collect();
    if chars.len() > 2 && chars[chars.len() - 1] == 'y' && !is_vowel(chars[chars.len() - 2]) {
        w.pop();
        w.push('i');
    }
    // "change", "changed" and "changing" meet at "chang".
    if w.chars().count() > 4 && w.ends_with('e') && !w.ends_with("ee") {
        w.pop();
    }
    w
}

/// A light Malay stemmer: the common affixes, so that "pengeluaran", "mengeluarkan",
/// "dikeluarkan" and "keluar" meet, as do "menunggu" and "tunggu", "dikunci" and
/// "terkunci". Without a dictionary some roots come out wrong ("pengaktifan" gives
/// "kaktif"), but every form of a word comes out the same way, which is what
/// matching needs. Only one prefix goes, and none that leaves too short a root.
fn stem_malay(word: &str) -> String {
    let count = |s: &str| s.chars().count();
    let mut w = word;
    // The ke-...-an circumfix: "keselamatan" is "selamat", "kelewatan" "lewat".
    if w.starts_with("ke") && w.ends_with("an") && !w.ends_with("kan") && count(w) >= 8 {
        return w[2..w.len() - 2].to_owned();
    }
    if let Some(stem) = w.strip_suffix("nya").filter(|s| count(s) >= 4) {
        w = stem;
    }
    if let Some(stem) = w
        .strip_suffix("kan")
        .or_else(|| w.strip_suffix("an"))
        .filter(|s| count(s) >= 4)
    {
        w = stem;
    }
    // A nasal prefix swallows the root's first consonant when it is k, s, p or t:
    // "mengeluar" is "keluar", "menyemak" "semak", "memindah" "pindah", "menunggu"
    // "tunggu". Before a vowel the consonant comes back.
    for (prefixes, restored) in [
        (["meng", "peng"], "k"),
        (["meny", "peny"], "s"),
        (["mem", "pem"], "p"),
        (["men", "pen"], "t"),
    ] {
        for prefix in prefixes {
            if let Some(rest) = w.strip_prefix(prefix).filter(|r| count(r) >= 3) {
                return if rest.starts_with(is_vowel) {
                    format!("{restored}{rest}")
                } else {
                    rest.to_owned()
                };
            }
        }
    }
    for (prefix, min) in [("ber", 4), ("ter", 4), ("di", 3)] {
        if let Some(rest) = w.strip_prefix(prefix).filter(|r| count(r) >= min) {
            return rest.to_owned();
        }
    }
    for prefix in ["me", "pe"] {
        if let Some(rest) = w
            .strip_prefix(prefix)
            .filter(|r| count(r) >= 3 && r.starts_with(['l', 'r', 'w', 'y', 'n', 'm']))
        {
            return rest.to_owned();
        }
    }
    w.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/knowledge");

    fn sample() -> KnowledgeBase {
        KnowledgeBase::load(Path::new(SAMPLE)).unwrap()
    }

    fn ids(suggestions: &[Suggestion]) -> Vec<&str> {
        suggestions.iter().map(|s| s.id.as_str()).collect()
    }

    fn first(base: &KnowledgeBase, text: &str, language: Option<&str>) -> String {
        let suggestions = base.suggest(text, language, 3);
        assert!(!suggestions.is_empty(), "no suggestion for {text:?}");
        suggestions[0].id.clone()
    }

    const ARTICLE: &str = "---\ntitle: Fees\nlanguage: en\n---\nOur fees are low.\n";

    /// The error loading a folder with these files.
    fn load_error(files: &[(&str, &str)]) -> String {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        KnowledgeBase::load(dir.path()).unwrap_err()
    }

    #[test]
    fn the_sample_loads_and_each_topic_is_in_two_languages_or_three() {
        let base = sample();
        let articles = base.articles();
        assert!((12..=20).contains(&articles.len()), "{}", articles.len());
        let mut topics: HashMap<&str, Vec<&str>> = HashMap::new();
        for article in articles {
            let (topic, suffix) = article.id.rsplit_once('-').unwrap();
            assert_eq!(suffix, article.language, "{}", article.id);
            assert!(["en", "ms", "zh"].contains(&suffix), "{}", article.id);
            assert!(article.url.as_deref().unwrap().starts_with("https://"));
            assert!(!article.tags.is_empty(), "{}", article.id);
            let size = if article.language == "zh" {
                // Chinese counts characters; a word is one to two of them.
                article.body.chars().filter(|c| is_han(*c)).count() / 2
            } else {
                article.body.split_whitespace().count()
            };
            assert!((80..=250).contains(&size), "{}: {size} words", article.id);
            topics.entry(topic).or_default().push(suffix);
        }
        assert_eq!(topics.len(), 9, "{topics:?}");
        for (topic, languages) in topics {
            assert!((2..=3).contains(&languages.len()), "{topic}: {languages:?}");
        }
        // Sorted by file name.
        assert_eq!(articles[0].id, "account-locked-en");
        let withdrawal = articles
            .iter()
            .find(|a| a.id == "withdrawal-pending-en")
            .unwrap();
        assert_eq!(withdrawal.title, "Why is my withdrawal pending?");
        assert_eq!(withdrawal.tags[..2], ["withdrawal", "withdraw"]);
        assert!(withdrawal.body.starts_with("Most withdrawals"));
    }

    #[test]
    fn english_messages_find_their_article() {
        let base = sample();
        for (text, expected) in [
            (
                "my withdrawal has been pending for 3 hours",
                "withdrawal-pending-en",
            ),
            (
                "Why is my BTC withdraw still processing??",
                "withdrawal-pending-en",
            ),
            (
                "I sent USDT on TRC20 but the deposit is not credited, here is the txid",
                "deposit-not-credited-en",
            ),
            (
                "I forgot to put the memo tag when depositing XRP",
                "deposit-not-credited-en",
            ),
            (
                "I lost my phone and can't get my google authenticator codes",
                "reset-2fa-en",
            ),
            (
                "what documents do you need for KYC? can I use my passport",
                "kyc-documents-en",
            ),
            ("how much is the trading fee for makers?", "fees-en"),
            (
                "someone on telegram asked for my seed phrase, is that you?",
                "security-seed-phrase-en",
            ),
            (
                "How do I whitelist my server IP for the API key?",
                "api-keys-en",
            ),
            (
                "my account is locked after entering the wrong password",
                "account-locked-en",
            ),
            (
                "I paid the P2P seller by bank transfer but the order is not released",
                "bank-transfer-delays-en",
            ),
        ] {
            assert_eq!(first(&base, text, Some("en")), expected, "{text}");
            assert_eq!(first(&base, text, None), expected, "{text}");
        }
    }

    #[test]
    fn malay_messages_find_their_article() {
        let base = sample();
        for (text, expected) in [
            ("Deposit saya belum masuk", "deposit-not-credited-ms"),
            (
                "pengeluaran saya masih pending dari pagi tadi",
                "withdrawal-pending-ms",
            ),
            (
                "Kenapa pengeluaran USDT saya tertunda?",
                "withdrawal-pending-ms",
            ),
            (
                "akaun saya dikunci, saya terlupa kata laluan",
                "account-locked-ms",
            ),
            (
                "KYC saya ditolak, dokumen apa yang perlu?",
                "kyc-documents-ms",
            ),
            ("berapa yuran pengeluaran USDT?", "fees-ms"),
            // These need the stemmer: "kredit" is "dikreditkan", "hantar" "menghantar",
            // "dikuncikan" "dikunci", "mengeluarkan" "pengeluaran".
            (
                "Saya sudah hantar USDT tapi belum kredit",
                "deposit-not-credited-ms",
            ),
            ("kenapa akaun saya dikuncikan", "account-locked-ms"),
            (
                "Saya tak boleh mengeluarkan USDT, masih menunggu semakan",
                "withdrawal-pending-ms",
            ),
            (
                "saya dah bayar melalui DuitNow tapi penjual P2P belum lepaskan",
                "bank-transfer-delays-ms",
            ),
        ] {
            assert_eq!(first(&base, text, Some("ms")), expected, "{text}");
        }
        // Without a language, a Malay message still finds the Malay article first.
        assert_eq!(
            first(&base, "Deposit saya belum masuk", None),
            "deposit-not-credited-ms"
        );
    }

    #[test]
    fn chinese_messages_find_their_article() {
        let base = sample();
        for (text, expected) in [
            ("我的充值还没到账", "deposit-not-credited-zh"),
            ("充值USDT忘记填写memo了怎么办", "deposit-not-credited-zh"),
            ("提现一直在处理中，已经两个小时了", "withdrawal-pending-zh"),
            ("手机丢了，谷歌验证码收不到，怎么重置2FA？", "reset-2fa-zh"),
            ("有人在Telegram上找我要助记词", "security-seed-phrase-zh"),
            ("API密钥怎么设置IP白名单", "api-keys-zh"),
        ] {
            assert_eq!(first(&base, text, Some("zh")), expected, "{text}");
            assert_eq!(first(&base, text, None), expected, "{text}");
        }
    }

    #[test]
    fn the_preferred_language_comes_alone_when_it_has_an_answer() {
        let base = sample();
        let text = "my withdrawal is still pending";
        // Malay articles use the English words too; when one is relevant, only Malay.
        let malay = base.suggest(text, Some("ms"), 5);
        assert_eq!(malay[0].id, "withdrawal-pending-ms");
        assert!(
            malay.iter().all(|s| s.language == "ms"),
            "{:?}",
            ids(&malay)
        );
        // Any region or case of the code.
        assert_eq!(
            base.suggest(text, Some("MS-my"), 5)[0].id,
            "withdrawal-pending-ms"
        );
        // Without a preference, the English article leads, as the text is English,
        // though the Malay article's raw score is higher; the others follow.
        let any = base.suggest(text, None, 5);
        assert_eq!(any[0].id, "withdrawal-pending-en", "{:?}", ids(&any));
        let english = base.suggest(text, Some("en"), 1);
        assert!(malay[0].score > english[0].score, "{malay:?} {english:?}");
        assert!(
            ids(&any).contains(&"withdrawal-pending-ms"),
            "{:?}",
            ids(&any)
        );
        assert!(any.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn other_languages_are_offered_when_the_preferred_has_nothing() {
        let base = sample();
        // There is no Malay article on API keys: the English and Chinese ones answer.
        let text = "Macam mana nak set API key dan whitelist IP server saya?";
        let offered = base.suggest(text, Some("ms"), 5);
        assert_eq!(offered[0].id, "api-keys-en", "{:?}", ids(&offered));
        assert!(
            ids(&offered).contains(&"api-keys-zh"),
            "{:?}",
            ids(&offered)
        );
        // Nor a Chinese one on locked accounts.
        let offered = base.suggest("my account is locked after failed logins", Some("zh"), 5);
        assert_eq!(offered[0].id, "account-locked-en", "{:?}", ids(&offered));
        // A language without any article falls back the same way.
        assert_eq!(
            first(&base, "deposit not credited, wrong network", Some("th")),
            "deposit-not-credited-en"
        );
    }

    #[test]
    fn unrelated_messages_get_nothing() {
        let base = sample();
        for text in [
            "",
            "hello",
            "Hello!",
            "thanks!",
            "Thank you so much :)",
            "ok",
            "my cat is cute",
            "Is anyone there?",
            "good morning team",
            "I would like to speak to a human please",
            "terima kasih",
            "Selamat pagi tuan",
            "ok tq",
            "你好",
            "谢谢！",
            "好的，谢谢你",
            "👍",
            "12345",
        ] {
            for language in [None, Some("en"), Some("ms"), Some("zh")] {
                let suggestions = base.suggest(text, language, 5);
                assert!(
                    suggestions.is_empty(),
                    "{text:?} ({language:?}) got {:?}",
                    suggestions
                        .iter()
                        .map(|s| (&s.id, s.score))
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn a_lone_common_word_is_below_the_floor() {
        let base = sample();
        // Words most articles share say too little to suggest one, even when they are
        // in a title or tags ("deposit", "bank", "2FA").
        for text in [
            "my account",
            "what time is it",
            "akaun saya",
            "我的账户",
            "deposit",
            "bank",
            "2FA",
            "password",
            "wallet address",
        ] {
            let suggestions = base.suggest(text, None, 5);
            assert!(suggestions.is_empty(), "{text}: {suggestions:?}");
        }
        // A single word that only some article's body mentions in passing is not
        // enough either: these score as much as a tag word, under the body floor.
        for text in [
            "where is my money",
            "my order",
            "the app keeps crashing on my iphone",
            "aplikasi tak boleh buka",
            "如何购买比特币",
        ] {
            let suggestions = base.suggest(text, None, 5);
            assert!(suggestions.is_empty(), "{text}: {suggestions:?}");
        }
    }

    #[test]
    fn at_most_limit_best_first() {
        let base = sample();
        let text =
            "my withdrawal is pending and my deposit has not arrived, also what are the fees";
        let all = base.suggest(text, Some("en"), 10);
        assert!(all.len() >= 3, "{:?}", ids(&all));
        assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
        let one = base.suggest(text, Some("en"), 1);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].id, all[0].id);
        assert_eq!(ids(&base.suggest(text, Some("en"), 2)), ids(&all[..2]));
        assert!(base.suggest(text, Some("en"), 0).is_empty());
    }

    #[test]
    fn suggestions_carry_plain_excerpts_and_skip_a_missing_url() {
        let base = sample();
        let suggestion = &base.suggest("withdrawal pending", Some("en"), 1)[0];
        assert_eq!(suggestion.title, "Why is my withdrawal pending?");
        assert_eq!(
            suggestion.excerpt,
            "Most withdrawals leave your account within 30 minutes. A withdrawal shows Pending \
             while it goes through our security checks and while it waits for the blockchain to confirm it."
        );
        let zh = &base.suggest("充值没到账", Some("zh"), 1)[0];
        assert_eq!(
            zh.excerpt,
            "数字货币充值需要经过区块链确认后才会到账，所需确认数因币种而异，例如比特币需要 2 个确认，以太坊需要 12 个确认。"
        );
        let json = serde_json::to_value(suggestion).unwrap();
        assert_eq!(json["url"], "https://help.example.com/withdrawal-pending");
        assert!(json["score"].as_f64().unwrap() > 0.0);

        let base = KnowledgeBase::from_articles(vec![Article {
            id: "fees".into(),
            title: "Trading fees".into(),
            language: "en".into(),
            tags: vec![],
            url: None,
            body: "# Fees\n\nSee **[the schedule](https://x.example/fees)** for `maker` and _taker_ fees.".into(),
        }]);
        let suggestion = &base.suggest("what are your trading fees", None, 1)[0];
        assert_eq!(
            suggestion.excerpt,
            "See the schedule for maker and taker fees."
        );
        let json = serde_json::to_value(suggestion).unwrap();
        assert!(json.get("url").is_none(), "{json}");
    }

    #[test]
    fn a_long_first_paragraph_is_cut_at_a_word() {
        let body = "word ".repeat(100);
        let cut = excerpt(&body);
        assert!(cut.ends_with("word…"), "{cut}");
        assert!(cut.chars().count() <= EXCERPT_MAX + 1);
        assert_eq!(
            excerpt(
                "Short. Then a second sentence that is long enough to end the excerpt. A third."
            ),
            "Short. Then a second sentence that is long enough to end the excerpt."
        );
        assert_eq!(excerpt(""), "");
        assert_eq!(
            excerpt("Only a line without an end"),
            "Only a line without an end"
        );
    }

    #[test]
    fn an_empty_folder_is_an_empty_base_and_other_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let base = KnowledgeBase::load(dir.path()).unwrap();
        assert!(base.articles().is_empty());
        assert!(base.suggest("withdrawal pending", None, 5).is_empty());
        std::fs::write(dir.path().join("README.txt"), "not an article").unwrap();
        std::fs::write(dir.path().join(".fees.md"), "an editor's leftover").unwrap();
        std::fs::create_dir(dir.path().join("drafts.md")).unwrap();
        std::fs::write(dir.path().join("drafts.md/x.md"), "not read").unwrap();
        std::fs::write(dir.path().join("fees.md"), ARTICLE).unwrap();
        let base = KnowledgeBase::load(dir.path()).unwrap();
        assert_eq!(base.articles().len(), 1);
        assert_eq!(base.articles()[0].id, "fees");
        assert_eq!(base.articles()[0].body, "Our fees are low.");
        assert!(base.articles()[0].tags.is_empty());
        assert_eq!(base.articles()[0].url, None);
    }

    #[test]
    fn front_matter_is_read_leniently_where_it_is_unambiguous() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("locked.MD"),
            "\u{feff}---\r\n# a comment\r\ntitle: \"Locked: what now?\"\r\nlanguage: EN\r\n\r\ntags: [locked, 'login', ]\r\nurl:\r\n---\r\n\r\nBody.\r\n",
        )
        .unwrap();
        let base = KnowledgeBase::load(dir.path()).unwrap();
        let article = &base.articles()[0];
        assert_eq!(article.id, "locked");
        assert_eq!(article.title, "Locked: what now?");
        assert_eq!(article.language, "en");
        assert_eq!(article.tags, ["locked", "login"]);
        assert_eq!(article.url, None);
        assert_eq!(article.body, "Body.");
    }

    #[test]
    fn loading_errors_name_the_file_and_the_problem() {
        for (text, problem) in [
            ("title: Fees\nlanguage: en\n\nBody.", "no front matter"),
            ("Just a body.", "no front matter"),
            ("---\ntitle: Fees\nlanguage: en\nBody.", "not closed"),
            ("---\nlanguage: en\n---\nBody.", "missing title"),
            ("---\ntitle:  \nlanguage: en\n---\nBody.", "missing title"),
            ("---\ntitle: Fees\n---\nBody.", "missing language"),
            (
                "---\ntitle: Fees\nlanguage: en\nauthor: Ali\n---\nBody.",
                "unknown front matter key \"author\" on line 4",
            ),
            (
                "---\ntitle: Fees\nlanguage: en\nTitle: Fees\n---\nBody.",
                "unknown front matter key \"Title\"",
            ),
            (
                "---\ntitle: Fees\nlanguage: english\n---\nBody.",
                "\"english\" is not a 2-letter code",
            ),
            (
                "---\ntitle: Fees\nlanguage: zh-CN\n---\nBody.",
                "\"zh-CN\" is not a 2-letter code",
            ),
            (
                "---\ntitle: Fees\nlanguage: e1\n---\nBody.",
                "not a 2-letter code",
            ),
            (
                "---\ntitle: Fees\ntitle: Fees again\nlanguage: en\n---\nBody.",
                "\"title\" twice",
            ),
            (
                "---\ntitle: Fees\nlanguage: en\njust words\n---\nBody.",
                "line 4 is not \"key: value\"",
            ),
            (
                "---\ntitle: Fees\nlanguage: en\nurl: help.example.com/fees\n---\nBody.",
                "not a web address",
            ),
        ] {
            let error = load_error(&[("fees-en.md", text)]);
            assert!(error.contains("fees-en.md: "), "{text:?}: {error}");
            assert!(
                error.contains(problem),
                "{text:?}: {error} (wanted {problem:?})"
            );
        }
        let error = load_error(&[("fees.md", ARTICLE), ("FEES.md", ARTICLE)]);
        assert!(
            error.contains("fees.md: the id \"fees\" is already used by FEES.md"),
            "{error}"
        );
        let error = load_error(&[("fees.md", ARTICLE), ("fees.MD", ARTICLE)]);
        assert!(error.contains("already used"), "{error}");
        // The first bad file stops the load, and the good ones before it do not hide it.
        let error = load_error(&[("a.md", ARTICLE), ("b.md", "no front matter")]);
        assert!(error.contains("b.md: no front matter"), "{error}");
        let error = load_error(&[("bad.md", "\u{ff}\u{fe}binary")]);
        assert!(error.contains("bad.md"), "{error}");
        let error = KnowledgeBase::load(Path::new("/nonexistent/knowledge")).unwrap_err();
        assert!(
            error.contains("cannot read the knowledge folder /nonexistent/knowledge"),
            "{error}"
        );
    }

    #[test]
    fn a_long_ticket_is_read_quickly() {
        let base = sample();
        let message = "Hi, my withdrawal of 500 USDT has been pending since this morning, \
                       please check. Saya sudah tunggu lama. 我的提现还在处理中。\n";
        let ticket = message.repeat(4000);
        let started = std::time::Instant::now();
        let suggestions = base.suggest(&ticket, None, 3);
        let took = started.elapsed();
        assert!(
            ids(&suggestions).contains(&"withdrawal-pending-en"),
            "{:?}",
            ids(&suggestions)
        );
        // Generous for a debug build on a loaded machine; the cap on the text read
        // is what keeps this bounded.
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn english_forms_of_a_word_meet() {
        let stem = |w: &str| stem_english(w);
        for family in [
            &["withdraw", "withdrawal", "withdrawals", "withdrawing"][..],
            &["deposit", "deposits", "deposited", "depositing"],
            &["credit", "credited", "credits"],
            &["pend", "pending", "pended"],
            &["lock", "locked", "locking", "locks"],
            &["verify", "verified", "verifying", "verification"],
            &["log", "logged", "login", "logins", "logging"],
            &["transfer", "transferred", "transferring", "transfers"],
            &["phrase", "phrases"],
            &["fee", "fees"],
            &["address", "addresses"],
        ] {
            let stems: HashSet<String> = family.iter().map(|w| stem(w)).collect();
            assert_eq!(stems.len(), 1, "{family:?}: {stems:?}");
        }
        // Words that only look inflected stay whole.
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("bring"), "bring");
        assert_eq!(stem("need"), "need");
        assert_ne!(stem("fee"), stem("feed"));
    }

    #[test]
    fn malay_forms_of_a_word_meet() {
        for family in [
            &[
                "keluar",
                "pengeluaran",
                "mengeluarkan",
                "dikeluarkan",
                "keluarkan",
            ][..],
            &["tunggu", "menunggu"],
            &["kunci", "dikunci", "terkunci", "mengunci"],
            // Not "semakan": "-kan" and "-an" cannot be told apart without a dictionary.
            &["semak", "menyemak", "disemak"],
            &["bayar", "bayaran", "pembayaran", "membayar", "dibayar"],
            &["terima", "menerima", "diterima"],
            &["kredit", "dikreditkan", "mengkreditkan"],
            &["lewat", "kelewatan"],
            &["tarik", "menarik", "ditarik"],
            &["akaun", "akaunnya"],
        ] {
            let stems: HashSet<String> = family.iter().map(|w| stem_malay(w)).collect();
            assert_eq!(stems.len(), 1, "{family:?}: {stems:?}");
        }
        // "masalah" (problem) is not "masa" (time), nor "terima" "ima".
        assert_eq!(stem_malay("masalah"), "masalah");
        assert_eq!(stem_malay("terima"), "terima");
        assert_eq!(stem_malay("berapa"), "berapa");
    }

    #[test]
    fn chinese_is_paired_and_particles_cut_it() {
        assert_eq!(
            terms("我的充值还没到账", Analyzer::English),
            ["充值", "值还", "还没", "没到", "到账"]
        );
        // A lone character is a term; Latin words inside Chinese are words.
        assert_eq!(terms("钱", Analyzer::English), ["钱"]);
        assert_eq!(
            terms("重置2FA的方法", Analyzer::English),
            ["重置", "2fa", "方法"]
        );
        // Full-width letters are the ASCII ones.
        assert_eq!(terms("ＵＳＤＴ", Analyzer::English), ["usdt"]);
        assert!(terms("谢谢你！", Analyzer::English).is_empty());
    }

    #[test]
    fn stop_words_and_courtesies_are_not_terms() {
        assert!(terms("Hi, thanks so much! Terima kasih tuan.", Analyzer::Malay).is_empty());
        // "terima" alone means receive, and counts.
        assert_eq!(
            terms("belum terima deposit", Analyzer::Malay),
            ["terima", "deposit"]
        );
        assert_eq!(
            terms(
                "My 3 withdrawals (TxID 0xabc) are pending",
                Analyzer::English
            ),
            ["withdraw", "txid", "0xabc", "pend"]
        );
    }
}
