//! Which language a customer writes in, so the gateway answers in it and agents see
//! it on the ticket. Codes are ISO 639-1 (`en`, `ms`, `zh`) everywhere in Switchboard;
//! [`normalize`] turns what configs and providers send (`en-GB`, `zh_TW`, `msa`,
//! `Bahasa Melayu`) into them.
//!
//! Detection is whatlang's, with three corrections for our customers: it has no
//! Malay (Malaysian Malay comes out as Indonesian), so the two are told apart by
//! words only one of them uses; Chinese wins over the English words mixed into it
//! (`我的withdrawal还没到账`), a Han character saying more than a Latin letter; and
//! what says nothing about a language (links, addresses, amounts, hashes, tickers,
//! quoted mail) is removed first.

use std::sync::LazyLock;

use regex::Regex;
use whatlang::{Detector, Lang, Script};

/// A language Switchboard knows: its ISO 639-1 code, whatlang's language for it (none
/// for Malay, which whatlang reads as Indonesian), and other codes and names for it
/// beyond whatlang's ISO 639-3 code and names (ISO 639-2/B codes, legacy codes,
/// everyday names).
struct Language {
    code: &'static str,
    detected: Option<Lang>,
    aliases: &'static [&'static str],
}

const fn lang(
    code: &'static str,
    detected: Option<Lang>,
    aliases: &'static [&'static str],
) -> Language {
    Language {
        code,
        detected,
        aliases,
    }
}

const LANGUAGES: &[Language] = &[
    lang("en", Some(Lang::Eng), &[]),
    lang(
        "ms",
        None,
        &[
            "msa",
            "may",
            "zsm",
            "zlm",
            "malay",
            "melayu",
            "bahasa melayu",
            "bahasa malaysia",
            "malaysian",
        ],
    ),
    lang(
        "zh",
        Some(Lang::Cmn),
        &[
            "zho",
            "chi",
            "yue",
            "chinese",
            "mandarin chinese",
            "cantonese",
            "simplified chinese",
            "traditional chinese",
            "中文",
            "汉语",
            "漢語",
            "华语",
            "華語",
            "简体中文",
            "繁體中文",
            "繁体中文",
        ],
    ),
    lang(
        "id",
        Some(Lang::Ind),
        &["in", "indonesia", "bahasa indonesia"],
    ),
    lang("th", Some(Lang::Tha), &["ไทย"]),
    lang("vi", Some(Lang::Vie), &["tiếng việt"]),
    lang("ta", Some(Lang::Tam), &[]),
    lang("tl", Some(Lang::Tgl), &["fil", "filipino", "pilipino"]),
    lang("ja", Some(Lang::Jpn), &[]),
    lang("ko", Some(Lang::Kor), &[]),
    lang("km", Some(Lang::Khm), &["cambodian"]),
    lang("my", Some(Lang::Mya), &["bur", "myanmar"]),
    lang("lo", None, &["lao", "laotian"]),
    lang("hi", Some(Lang::Hin), &[]),
    lang("bn", Some(Lang::Ben), &["bangla"]),
    lang("ur", Some(Lang::Urd), &[]),
    lang("ar", Some(Lang::Ara), &[]),
    lang("fa", Some(Lang::Pes), &["fas", "per", "farsi"]),
    lang("ru", Some(Lang::Rus), &[]),
    lang("uk", Some(Lang::Ukr), &[]),
    lang("es", Some(Lang::Spa), &[]),
    lang("pt", Some(Lang::Por), &[]),
    lang("fr", Some(Lang::Fra), &["fre"]),
    lang("de", Some(Lang::Deu), &["ger"]),
    lang("it", Some(Lang::Ita), &[]),
    lang("nl", Some(Lang::Nld), &["dut"]),
    lang("tr", Some(Lang::Tur), &[]),
    lang("pl", Some(Lang::Pol), &[]),
    lang("eo", Some(Lang::Epo), &[]),
    lang("ka", Some(Lang::Kat), &["geo"]),
    lang("he", Some(Lang::Heb), &["iw"]),
    lang("yi", Some(Lang::Yid), &["ji"]),
    lang("am", Some(Lang::Amh), &[]),
    lang("jv", Some(Lang::Jav), &["jw"]),
    lang("nb", Some(Lang::Nob), &["no", "nor", "norwegian", "bokmål"]),
    lang("da", Some(Lang::Dan), &[]),
    lang("sv", Some(Lang::Swe), &[]),
    lang("fi", Some(Lang::Fin), &[]),
    lang("hu", Some(Lang::Hun), &[]),
    lang("cs", Some(Lang::Ces), &["cze"]),
    lang("el", Some(Lang::Ell), &["gre"]),
    lang("bg", Some(Lang::Bul), &[]),
    lang("be", Some(Lang::Bel), &[]),
    lang("mr", Some(Lang::Mar), &[]),
    lang("kn", Some(Lang::Kan), &[]),
    lang("ro", Some(Lang::Ron), &["rum", "mo"]),
    lang("sl", Some(Lang::Slv), &["slovenian"]),
    lang("hr", Some(Lang::Hrv), &[]),
    lang("sr", Some(Lang::Srp), &[]),
    lang("mk", Some(Lang::Mkd), &["mac"]),
    lang("lt", Some(Lang::Lit), &[]),
    lang("lv", Some(Lang::Lav), &[]),
    lang("et", Some(Lang::Est), &[]),
    lang("gu", Some(Lang::Guj), &[]),
    lang("uz", Some(Lang::Uzb), &[]),
    lang("pa", Some(Lang::Pan), &[]),
    lang("az", Some(Lang::Aze), &[]),
    lang("te", Some(Lang::Tel), &[]),
    lang("ml", Some(Lang::Mal), &[]),
    lang("or", Some(Lang::Ori), &["ory", "odia"]),
    lang("ne", Some(Lang::Nep), &["npi"]),
    lang("si", Some(Lang::Sin), &["sinhala"]),
    lang("tk", Some(Lang::Tuk), &[]),
    lang("ak", Some(Lang::Aka), &[]),
    lang("zu", Some(Lang::Zul), &[]),
    lang("sn", Some(Lang::Sna), &[]),
    lang("af", Some(Lang::Afr), &[]),
    lang("la", Some(Lang::Lat), &[]),
    lang("sk", Some(Lang::Slk), &["slo"]),
    lang("ca", Some(Lang::Cat), &[]),
    lang("hy", Some(Lang::Hye), &["arm"]),
    lang("cy", Some(Lang::Cym), &["wel"]),
];

/// The ISO 639-1 code for a language name or code the config or a provider gives
/// ("en", "EN", "en-GB", "eng", "zh-Hans", "zh_TW", "ms-MY", "msa", "zsm" ...); None when unknown.
pub fn normalize(code: &str) -> Option<&'static str> {
    let given = code.trim().to_lowercase().replace('_', "-");
    // A POSIX locale's encoding and modifier (`en_US.UTF-8`, `sr_RS@latin`) say
    // nothing about the language.
    let given = given.split(['.', '@']).next().unwrap_or_default().trim();
    if given.is_empty() {
        return None;
    }
    // Names first ("bahasa melayu"), then the primary subtag of a tag ("zh-hant-tw").
    find(given).or_else(|| find(given.split('-').next()?))
}

fn find(given: &str) -> Option<&'static str> {
    LANGUAGES
        .iter()
        .find(|language| {
            language.code == given
                || language.aliases.contains(&given)
                || language.detected.is_some_and(|lang| {
                    lang.code() == given
                        || lang.eng_name().eq_ignore_ascii_case(given)
                        || lang.name().to_lowercase() == given
                })
        })
        .map(|language| language.code)
}

/// What whatlang detects for a code; Malay is read as Indonesian.
fn detectable(code: &str) -> Option<Lang> {
    match code {
        "ms" => Some(Lang::Ind),
        _ => {
            LANGUAGES
                .iter()
                .find(|language| language.code == code)?
                .detected
        }
    }
}

fn code_of(lang: Lang) -> Option<&'static str> {
    LANGUAGES
        .iter()
        .find(|language| language.detected == Some(lang))
        .map(|language| language.code)
}

/// Words that say nothing about the language: links, addresses, anything with a
/// digit (amounts, references, dates, hashes, wallet addresses), long
/// letter-and-digit strings.
static NOISE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)(?:https?://|www\.)[\x21-\x7e]+",
        r"|[\x21-\x7e]+@[\x21-\x7e]+",
        r"|[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*",
        r"|[A-Za-z0-9]{25,}",
    ))
    .expect("a valid pattern")
});

/// Words every language of our customers uses alike: coin tickers, acronyms, and the
/// particles and greetings of Malaysian chat ("lah", "ok"), which Malaysians add to
/// English and Malay alike.
static NEUTRAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(?:usdt|usdc|btc|eth|bnb|trx|xrp|sol|doge|kyc|otp|fpx|myr|rm|usd|sgd|idr|api",
        r"|ok|okay|okey|pls|plz|tq|tqvm|lah|leh|lor|loh|meh|mah|hor|ah|ar|wor|liao)\b",
    ))
    .expect("a valid pattern")
});

/// The customer's own words: no quoted mail (`>` lines and the "... wrote:" line
/// above them), no signature, no noise.
fn own_words(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed == "--" || trimmed.starts_with("-----Original Message") {
            break;
        }
        let attribution = ["wrote:", "menulis:", "写道：", "寫道：", "写道:", "寫道:"]
            .iter()
            .any(|end| trimmed.ends_with(end));
        if trimmed.starts_with('>') || attribution || trimmed.starts_with("Sent from my ") {
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    let kept = NOISE.replace_all(&kept, " ");
    NEUTRAL.replace_all(&kept, " ").into_owned()
}

/// Han, kana and Hangul: a character is a word or a syllable, worth several letters.
fn is_dense(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30ff}'   // kana
        | '\u{3400}'..='\u{4dbf}' // Han extension A
        | '\u{4e00}'..='\u{9fff}' // Han
        | '\u{f900}'..='\u{faff}' // Han compatibility
        | '\u{1100}'..='\u{11ff}' // Hangul jamo
        | '\u{ac00}'..='\u{d7af}' // Hangul syllables
        | '\u{20000}'..='\u{2fa1f}' // Han extensions
    )
}

/// How many letters one dense character counts for against Latin letters.
const DENSE_WEIGHT: usize = 3;

/// Small languages whose letter patterns catch short texts of bigger ones ("I cannot
/// withdraw my funds" reads as Welsh, Indonesian as Javanese): when any language may
/// be detected and whatlang is unsure, it is asked again without them.
const LOOKALIKES: &[Lang] = &[
    Lang::Cym,
    Lang::Afr,
    Lang::Sna,
    Lang::Jav,
    Lang::Epo,
    Lang::Lat,
    Lang::Aka,
    Lang::Zul,
    Lang::Tuk,
    Lang::Uzb,
];

/// Latin-script texts shorter than this many words are too short to tell apart
/// (`hi`, `ok thanks`), unless whatlang is sure.
const MIN_WORDS: usize = 3;

/// Malaysian Malay words whose Indonesian counterparts differ (and the other way
/// round), for what whatlang calls Indonesian.
const MALAY: &[&str] = &[
    "wang",
    "akaun",
    "semak",
    "kerana",
    "boleh",
    "sahaja",
    "betul",
    "baiki",
    "sila",
    "percuma",
    "duit",
    "pengeluaran",
    "telefon",
    "bimbit",
    "laluan",
    "macam",
    "nak",
    "mahu",
    "dah",
    "tak",
    "takde",
    "tiada",
    "je",
    "kat",
    "awak",
    "nombor",
    "kad",
    "hantar",
    "minit",
    "esok",
    "semalam",
    "berjaya",
    "maklumat",
    "soalan",
    "jawapan",
    "cuba",
    "faham",
    "pengesahan",
    "baki",
    "caj",
    "sebarang",
    "mesej",
    "emel",
    "rangkaian",
    "syarikat",
    "selepas",
    "lepas",
    "camne",
];
const INDONESIAN: &[&str] = &[
    "uang",
    "akun",
    "cek",
    "karena",
    "bisa",
    "perbaiki",
    "silakan",
    "gratis",
    "ponsel",
    "sandi",
    "kapan",
    "gimana",
    "nggak",
    "gak",
    "enggak",
    "udah",
    "aja",
    "dong",
    "sih",
    "banget",
    "nomor",
    "kartu",
    "menit",
    "besok",
    "kemarin",
    "berhasil",
    "informasi",
    "jawaban",
    "coba",
    "paham",
    "verifikasi",
    "penarikan",
    "rekening",
    "makasih",
    "kamu",
    "dicek",
    "bantuannya",
    "setelah",
];

/// Malay or Indonesian, by their own words; Malay when nothing tells.
fn malay_or_indonesian(text: &str) -> &'static str {
    let (mut malay, mut indonesian) = (0, 0);
    for word in text
        .split(|c: char| !c.is_alphabetic())
        .filter(|word| !word.is_empty())
    {
        let word = word.to_lowercase();
        malay += usize::from(MALAY.contains(&word.as_str()));
        indonesian += usize::from(INDONESIAN.contains(&word.as_str()));
    }
    if indonesian > malay { "id" } else { "ms" }
}

/// The language of a customer's message, among `candidates` (ISO 639-1 codes; empty =
/// any language the detector knows), or None when the text is too short or unclear to say.
pub fn detect(text: &str, candidates: &[&str]) -> Option<&'static str> {
    let candidates: Vec<&'static str> = candidates.iter().filter_map(|c| normalize(c)).collect();
    let allowed = |code: &str| candidates.is_empty() || candidates.contains(&code);
    let mut langs: Vec<Lang> = Vec::new();
    for lang in candidates.iter().filter_map(|c| detectable(c)) {
        if !langs.contains(&lang) {
            langs.push(lang);
        }
    }
    if !candidates.is_empty() && langs.is_empty() {
        return None;
    }

    let words = own_words(text);
    let dense = words.chars().filter(|&c| is_dense(c)).count();
    let letters = words.chars().filter(|c| c.is_alphabetic()).count();
    let others = letters - dense;
    let text: String = if dense * DENSE_WEIGHT >= others {
        // Chinese, Japanese or Korean, maybe with Latin words mixed in.
        if dense < 2 {
            return None;
        }
        words
            .chars()
            .map(|c| if is_dense(c) { c } else { ' ' })
            .collect()
    } else {
        words
            .chars()
            .map(|c| if is_dense(c) { ' ' } else { c })
            .collect()
    };

    // Detection is most of a message's cost, so a text gets one pass when that pass
    // is sure of its answer, and a second only when it is not.
    let mut info = Detector::new().detect(&text)?;
    if candidates.is_empty() {
        if !info.is_reliable() && LOOKALIKES.contains(&info.lang()) {
            info = Detector::with_denylist(LOOKALIKES.to_vec())
                .detect(&text)
                .unwrap_or(info);
        }
    } else if info.is_reliable() {
        if !langs.contains(&info.lang()) {
            // Surely in none of them: an allowlist would still pick the nearest
            // candidate (Vietnamese among en, ms and zh comes out as Indonesian).
            return None;
        }
    } else {
        info = Detector::with_allowlist(langs).detect(&text)?;
    }
    let code = match info.lang() {
        Lang::Ind => match (allowed("ms"), allowed("id")) {
            (true, true) => malay_or_indonesian(&text),
            (true, false) => "ms",
            (false, _) => "id",
        },
        lang => code_of(lang)?,
    };
    if !allowed(code) {
        // The Mandarin script is Japanese to whatlang when Mandarin is not allowed,
        // and single-language scripts (Thai) ignore the allowlist.
        return None;
    }
    let multi_language_script = matches!(
        info.script(),
        Script::Latin | Script::Cyrillic | Script::Arabic | Script::Devanagari | Script::Hebrew
    );
    if multi_language_script {
        let words = text
            .split(|c: char| !c.is_alphabetic())
            .filter(|word| !word.is_empty())
            .count();
        if words < MIN_WORDS && !info.is_reliable() {
            return None;
        }
    } else if text.chars().filter(|c| c.is_alphabetic()).count() < 2 {
        return None;
    }
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_normalize() {
        for (given, code) in [
            ("en", "en"),
            ("EN", "en"),
            ("en-GB", "en"),
            ("en_US.UTF-8", "en"),
            ("eng", "en"),
            ("English", "en"),
            ("zh-Hans", "zh"),
            ("zh_TW", "zh"),
            ("zh-Hant-HK", "zh"),
            ("cmn", "zh"),
            ("zho", "zh"),
            ("Chinese", "zh"),
            ("中文", "zh"),
            ("ms", "ms"),
            ("ms-MY", "ms"),
            ("msa", "ms"),
            ("may", "ms"),
            ("zsm", "ms"),
            ("Bahasa Melayu", "ms"),
            ("Malay", "ms"),
            ("id", "id"),
            ("ind", "id"),
            ("in", "id"),
            ("Bahasa Indonesia", "id"),
            ("th-TH", "th"),
            ("tha", "th"),
            ("vi", "vi"),
            ("Tiếng Việt", "vi"),
            ("ta", "ta"),
            ("fil", "tl"),
            ("ja-JP", "ja"),
            // ISO 639-3 `mal` is Malayalam, not Malay.
            ("mal", "ml"),
            ("Deutsch", "de"),
            ("ger", "de"),
            ("no", "nb"),
            ("lo", "lo"),
            (" fr ", "fr"),
        ] {
            assert_eq!(normalize(given), Some(code), "{given}");
        }
        for unknown in ["", "xx", "klingon", "-", "e", "zz-ZZ", "english please"] {
            assert_eq!(normalize(unknown), None, "{unknown}");
        }
    }

    /// The languages most of our customers are set up with.
    const USUAL: &[&str] = &["en", "ms", "zh"];

    const ENGLISH: &[&str] = &[
        "I cannot withdraw my funds",
        "Hi, my deposit has not arrived yet. I sent 500 USDT via TRC20 two hours ago.",
        "Why is my account locked? I can't log in since this morning.",
        "Please help, I forgot my password and the reset email never came.",
        "How long does KYC verification usually take?",
        "My withdrawal has been pending for three days, what is going on?",
        "I was charged twice for the same trade, please refund the extra fee.",
        "Can you tell me the minimum deposit amount for Bitcoin?",
        "The app keeps crashing when I open the wallet page.",
        "I sent ETH to the wrong network, is there any way to recover it?",
        "Where can I find my transaction history?",
        "Your support is too slow, I have been waiting all day for an answer.",
        "I did not receive the OTP code on my phone.",
        "Is there a fee for transferring to another exchange?",
        "Please close my account and return my remaining balance.",
        "I want to change the phone number linked to my account.",
        "Hello, the bank transfer went through but my balance still shows zero.",
        "Thank you for your help, the issue is solved now.",
        "Could you check why my order was cancelled automatically?",
        "My identity documents were rejected but I don't understand why.",
        "Dear support team,\n\nI submitted a withdrawal request yesterday evening \
         (tx 0x3f5c9a7e0b1d44c2ab12) and it still shows as processing. Could you please \
         look into it and let me know when I can expect the funds?\n\nBest regards,\nJohn",
        "what happened to my money",
        "need help with 2FA reset asap",
        "The price chart is not loading on my laptop",
        "When will the maintenance be finished?",
        "Still waiting for a reply on SB-7K3M9Q, nobody has answered me.",
    ];

    const MALAY_MESSAGES: &[&str] = &[
        "Deposit saya belum masuk lagi, tolong semak",
        "Saya tidak boleh log masuk ke akaun saya sejak pagi tadi.",
        "Kenapa pengeluaran saya masih belum diproses?",
        "Tolong bantu saya, saya terlupa kata laluan.",
        "Berapa lama masa yang diambil untuk pengesahan KYC?",
        "Saya sudah hantar wang melalui FPX tetapi baki masih kosong.",
        "Boleh saya tukar nombor telefon bimbit yang didaftarkan?",
        "Akaun saya dibekukan, apa yang perlu saya buat?",
        "Saya tak terima kod OTP dari semalam.",
        "Bila duit saya akan masuk? Dah dua hari saya tunggu.",
        "Aplikasi asyik tertutup sendiri bila saya buka dompet.",
        "Macam mana nak keluarkan duit ke akaun bank saya?",
        "Sila semak transaksi saya, jumlahnya tidak betul.",
        "Terima kasih atas bantuan anda, masalah sudah selesai.",
        "Saya tersalah hantar USDT ke rangkaian lain, boleh dapatkan semula?",
        "Adakah caj untuk pemindahan ke bursa lain?",
        "Dokumen pengenalan saya ditolak, saya tak faham kenapa.",
        "Saya nak tutup akaun dan keluarkan semua baki.",
        "Perkhidmatan pelanggan sangat lambat, saya dah tunggu sehari suntuk.",
        "Tolong baiki masalah ini secepat mungkin.",
        "Salam tuan/puan,\n\nSaya telah membuat permohonan pengeluaran semalam tetapi \
         statusnya masih dalam proses. Mohon pihak tuan semak dan maklumkan bila wang \
         tersebut akan sampai.\n\nTerima kasih,\nAhmad",
        "kenapa akaun saya kena sekat",
        "harga tak keluar dalam carta",
        "Bila penyelenggaraan akan siap?",
        "Saya dah buat pembayaran tapi pesanan dibatalkan secara automatik.",
        "Mesej saya tentang SB-7K3M9Q masih belum dijawab.",
    ];

    const CHINESE: &[&str] = &[
        "我的提款还没有到账",
        "你好，我昨天充值了500 USDT，到现在还没到账。",
        "为什么我的账户被冻结了？",
        "我忘记密码了，重置邮件一直收不到。",
        "KYC认证一般需要多久？",
        "提币已经三天了还在审核中，怎么回事？",
        "同一笔交易被扣了两次手续费，请退还。",
        "比特币最低充值金额是多少？",
        "App打开钱包页面就闪退。",
        "我把ETH转错网络了，还能找回吗？",
        "在哪里可以查看交易记录？",
        "客服太慢了，我等了一整天。",
        "手机收不到验证码。",
        "转到其他交易所要手续费吗？",
        "请帮我注销账户并退还余额。",
        "我想更换绑定的手机号码。",
        "银行转账已经成功了，但余额还是零。",
        "谢谢你们的帮助，问题已经解决了。",
        "我的订单为什么被自动取消了？",
        "我的身份证件被拒绝了，不知道原因。",
        "您好，\n\n我昨天晚上提交了提现申请（交易哈希 0x3f5c9a7e0b1d44c2），现在还显示处理中。\
         麻烦帮我查一下，大概什么时候能到账？\n\n谢谢！",
        "我的錢什麼時候到帳？",
        "請問提款要多久？",
        "维护什么时候结束？",
        "你好",
        "我的withdrawal还没到账, pls check",
        "Hi, 我想问一下提款的问题",
    ];

    /// Messages detected right, and what the others came out as.
    fn accuracy(expected: &str, messages: &[&str], candidates: &[&str]) -> (usize, Vec<String>) {
        let mut wrong = Vec::new();
        for message in messages {
            let got = detect(message, candidates);
            if got != Some(expected) {
                wrong.push(format!("{got:?} for {message:?}"));
            }
        }
        (messages.len() - wrong.len(), wrong)
    }

    #[test]
    fn usual_messages_come_out_right() {
        // As configured for most customers, and with Indonesian among the candidates.
        for candidates in [USUAL, &["en", "ms", "id", "zh"]] {
            for (code, messages) in [("en", ENGLISH), ("ms", MALAY_MESSAGES), ("zh", CHINESE)] {
                let (right, wrong) = accuracy(code, messages, candidates);
                assert!(
                    wrong.is_empty(),
                    "{code} among {candidates:?}: {right}/{}: {wrong:#?}",
                    messages.len()
                );
            }
        }
    }

    #[test]
    fn any_language_when_no_candidates() {
        // Without candidates every language whatlang knows competes: one Malay
        // message reads as Tagalog.
        let mut right = 0;
        let mut all = 0;
        for (code, messages) in [("en", ENGLISH), ("ms", MALAY_MESSAGES), ("zh", CHINESE)] {
            let (ok, wrong) = accuracy(code, messages, &[]);
            assert!(wrong.len() <= 1, "{code}: {wrong:#?}");
            right += ok;
            all += messages.len();
        }
        assert!(right + 1 >= all, "{right}/{all}");
    }

    #[test]
    fn the_examples() {
        assert_eq!(
            detect("Deposit saya belum masuk lagi, tolong semak", USUAL),
            Some("ms")
        );
        assert_eq!(detect("I cannot withdraw my funds", USUAL), Some("en"));
        assert_eq!(detect("我的提款还没有到账", USUAL), Some("zh"));
        assert_eq!(detect("hi", USUAL), None);
        // Two words whatlang is unsure of: None, and the conversation keeps the
        // language it had.
        assert_eq!(detect("ok thanks", USUAL), None);
        // Manglish: Malaysian particles say nothing, the words are English.
        assert_eq!(
            detect("boss my withdrawal still pending lah, can check ah?", USUAL),
            Some("en")
        );
    }

    #[test]
    fn malay_and_indonesian_by_their_own_words() {
        let indonesian = [
            "Saldo saya belum masuk, tolong dicek ya",
            "Kenapa akun saya tidak bisa login?",
            "Bagaimana cara menarik uang ke rekening bank?",
            "Saya lupa kata sandi, mohon bantuannya.",
            "Kapan penarikan saya diproses? Sudah dua hari belum masuk juga.",
        ];
        for candidates in [&["en", "ms", "id", "zh"][..], &[]] {
            let (right, wrong) = accuracy("id", &indonesian, candidates);
            assert_eq!(right, indonesian.len(), "{candidates:?}: {wrong:#?}");
        }
        // Where Indonesian is not a candidate, whatlang's Indonesian is Malay.
        assert_eq!(accuracy("ms", &indonesian, USUAL).0, indonesian.len());
        assert_eq!(detect(indonesian[0], &["en", "id"]), Some("id"));
    }

    #[test]
    fn malaysian_mixed_messages() {
        for (message, code) in [
            ("boss my withdrawal still pending lah, can check ah?", "en"),
            ("can help me check my account or not", "en"),
            (
                "bro deposit dah masuk ke belum? saya transfer semalam",
                "ms",
            ),
            (
                "boss, saya punya withdrawal masih pending, bila boleh settle?",
                "ms",
            ),
            ("我的withdrawal还没到账, pls check", "zh"),
            ("Hi, 我想问一下提款的问题", "zh"),
        ] {
            assert_eq!(detect(message, USUAL), Some(code), "{message}");
        }
    }

    #[test]
    fn other_languages() {
        for (message, code) in [
            ("ถอนเงินแล้วยังไม่ได้รับเลยค่ะ", "th"),
            ("บัญชีของฉันถูกล็อก", "th"),
            ("ขอบคุณ", "th"),
            ("Tôi chưa nhận được tiền rút về tài khoản.", "vi"),
            ("Tại sao tài khoản của tôi bị khóa?", "vi"),
            ("Làm thế nào để xác minh danh tính?", "vi"),
            ("出金がまだ届いていません", "ja"),
            ("출금이 아직 안 들어왔어요", "ko"),
        ] {
            assert_eq!(detect(message, &[]), Some(code), "{message}");
            assert_eq!(detect(message, &["en", code]), Some(code), "{message}");
            // In none of the candidates: not forced into the nearest one.
            assert_eq!(detect(message, USUAL), None, "{message}");
        }
    }

    #[test]
    fn too_short_or_nothing_to_read() {
        for message in [
            "",
            "hi",
            "ok",
            "ok thanks",
            "thank you",
            "hello",
            "help",
            "terima kasih",
            "?",
            "好",
            "https://example.com/withdrawal/status?id=77",
            "0x3f5c9a7e0b1d44c2ab12cd34ef56ab78cd90ef12",
            "TJYeasTPa6gpEEfYqJdrGvZ2fGW3UNjFRG",
            "SB-7K3M9Q",
            "RM500 USDT 2FA",
            "> I cannot withdraw my funds, please help me",
        ] {
            assert_eq!(detect(message, USUAL), None, "{message}");
        }
        // A short text in a script only one language writes is enough.
        assert_eq!(detect("你好", USUAL), Some("zh"));
        assert_eq!(detect("谢谢", &[]), Some("zh"));
    }

    #[test]
    fn quoted_mail_and_noise_are_not_read() {
        let reply = "sudah hantar semalam, tolong semak\n\n\
            On Mon, 5 Jan 2026, Support <help@example.com> wrote:\n\
            > Please send us a screenshot of the transfer and your account email so we \
            can check it for you";
        assert_eq!(detect(reply, USUAL), Some("ms"));
        let reply = "好的，我已经发了截图\n\nOn Mon, 5 Jan 2026 at 10:00, Support wrote:\n\
            > Please send us a screenshot of the transfer and your account email";
        assert_eq!(detect(reply, USUAL), Some("zh"));
        let noisy = "Sila semak TXID 9f8e7d6c5b4a39281706f5e4d3c2b1a0 ke alamat \
            TJYeasTPa6gpEEfYqJdrGvZ2fGW3UNjFRG https://tronscan.org/#/transaction/9f8e7d";
        assert_eq!(detect(noisy, USUAL), Some("ms"));
    }

    #[test]
    fn candidates_are_normalized_and_unknown_ones_ignored() {
        assert_eq!(
            detect(
                "Deposit saya belum masuk lagi, tolong semak",
                &["EN", "ms-MY", "zh-Hans"]
            ),
            Some("ms")
        );
        assert_eq!(detect("我的提款还没有到账", &["zh_TW"]), Some("zh"));
        // Lao is a language we know but whatlang does not: nothing to detect with.
        assert_eq!(detect("I cannot withdraw my funds", &["lo"]), None);
        assert_eq!(
            detect("I cannot withdraw my funds", &["xx", "en"]),
            Some("en")
        );
    }
}
