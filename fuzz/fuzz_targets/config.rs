//! A config file as `Config::load` reads it (UTF-8 text), through
//! `Config::parse`: `${VAR}` substitution, TOML, every section and channel checked,
//! all problems collected. The environment is made up: names in capitals are set
//! (a URL for `*_URL`, a value that needs escaping for `QUOTED`), others are not.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::Config;

fn env(name: &str) -> Option<String> {
    let capitals = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    match name {
        "EMPTY" => Some(String::new()),
        "QUOTED" => Some("a \"quoted\" \\ value\nover two lines".into()),
        _ if name.ends_with("_URL") => Some("http://127.0.0.1:9/fuzz".into()),
        _ if capitals => Some(format!("fuzz-{}", name.to_lowercase())),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, "config/fuzz.toml", env) {
        Ok(config) => {
            let _ = config.development_secrets_warning();
        }
        Err(error) => {
            // Refused only with a reason, each naming where.
            assert!(!error.problems.is_empty());
            let lines = text.split('\n').count();
            for problem in &error.problems {
                assert!(!problem.key.is_empty() && !problem.message.is_empty());
                if let Some(line) = problem.line {
                    assert!(
                        (1..=lines).contains(&line),
                        "line {line} of {lines}: {problem:?}"
                    );
                }
            }
            let _ = error.to_string();
        }
    }
});
