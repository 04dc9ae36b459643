//! The secrets guard against a corpus of support messages: ordinary ones (English,
//! Malay, Chinese) must yield nothing, and each message carrying secrets must yield
//! exactly its kinds with none of its secrets left after masking.

use std::path::PathBuf;
use std::time::Instant;

use switchboard_core::helpdesk::guard::{self, SensitiveKind};

fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/support_messages")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Messages separated by lines holding only `---`.
fn ordinary(name: &str) -> Vec<String> {
    let text = data(name);
    let mut messages = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line == "---" {
            messages.push(std::mem::take(&mut current));
        } else {
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(line);
        }
    }
    messages.push(current);
    messages.retain(|m| !m.trim().is_empty());
    messages
}

struct Sensitive {
    line: usize,
    kinds: Vec<SensitiveKind>,
    secrets: Vec<String>,
    text: String,
}

/// Messages each after `# expect: kinds` and optional `# secret: text` lines.
fn sensitive() -> Vec<Sensitive> {
    let text = data("sensitive.txt");
    let mut messages: Vec<Sensitive> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(kinds) = line.strip_prefix("# expect:") {
            let kinds = kinds
                .split(',')
                .map(|k| {
                    k.trim()
                        .parse()
                        .unwrap_or_else(|e| panic!("line {}: {e}", n + 1))
                })
                .collect();
            messages.push(Sensitive {
                line: n + 1,
                kinds,
                secrets: Vec::new(),
                text: String::new(),
            });
            continue;
        }
        let Some(message) = messages.last_mut() else {
            continue; // the file's own comments
        };
        match line.strip_prefix("# secret: ") {
            Some(secret) if message.text.is_empty() => {
                message.secrets.push(secret.replace("\\n", "\n"));
            }
            _ => {
                if !message.text.is_empty() {
                    message.text.push('\n');
                }
                message.text.push_str(line);
            }
        }
    }
    for message in &mut messages {
        message.text = message.text.trim_end().to_owned();
    }
    messages
}

#[test]
fn ordinary_messages_have_no_secrets() {
    let mut false_positives = 0;
    for name in ["en.txt", "ms.txt", "zh.txt"] {
        let messages = ordinary(name);
        assert!(messages.len() >= 150, "{name}: {} messages", messages.len());
        let mut findings = 0;
        for message in &messages {
            let found = guard::scan(message);
            findings += found.len();
            for f in &found {
                false_positives += 1;
                println!(
                    "FALSE POSITIVE in {name}: {} {:?}\n  in: {message}",
                    f.kind,
                    &message[f.start..f.end]
                );
            }
            if found.is_empty() {
                assert_eq!(guard::mask(message), None, "{message}");
            }
        }
        // The cost of a scan, for the record (not asserted: it depends on the build
        // and the machine; quote it from a release build).
        let bytes: usize = messages.iter().map(String::len).sum();
        let mut fastest = f64::MAX;
        for _ in 0..20 {
            let started = Instant::now();
            for message in &messages {
                std::hint::black_box(guard::scan(std::hint::black_box(message)));
            }
            fastest = fastest.min(started.elapsed().as_secs_f64());
        }
        let per_message = fastest / messages.len() as f64;
        println!(
            "{name}: {} messages ({} bytes on average) scanned, {findings} findings; {:.2} µs per scan",
            messages.len(),
            bytes / messages.len(),
            per_message * 1e6
        );
    }
    assert_eq!(false_positives, 0, "false positives, printed above");
}

#[test]
fn sensitive_messages_are_found_and_masked() {
    let messages = sensitive();
    assert!(messages.len() >= 60, "{} messages", messages.len());
    let mut failures = 0;
    let mut findings = 0;
    for m in &messages {
        let found = guard::scan(&m.text);
        findings += found.len();
        let mut kinds: Vec<SensitiveKind> = Vec::new();
        for f in &found {
            if !kinds.contains(&f.kind) {
                kinds.push(f.kind);
            }
        }
        let masked = guard::mask(&m.text);
        let (masked_text, masked_kinds) = masked.clone().unwrap_or_default();
        let left: Vec<&String> = m
            .secrets
            .iter()
            .filter(|s| masked_text.contains(s.as_str()))
            .collect();
        let found_left: Vec<&str> = found
            .iter()
            .map(|f| &m.text[f.start..f.end])
            .filter(|s| masked_text.contains(s))
            .collect();
        let ok = kinds == m.kinds
            && masked_kinds == m.kinds
            && left.is_empty()
            && found_left.is_empty()
            && guard::mask(&masked_text).is_none();
        if !ok {
            failures += 1;
            println!(
                "MISMATCH at line {}: expected {:?}, found {:?} {:?}\n  text: {}\n  masked: {}\n  secrets left: {left:?}",
                m.line,
                m.kinds,
                kinds,
                found
                    .iter()
                    .map(|f| &m.text[f.start..f.end])
                    .collect::<Vec<_>>(),
                m.text,
                masked_text
            );
        }
    }
    println!(
        "sensitive.txt: {} messages scanned, {findings} findings, {failures} mismatches",
        messages.len()
    );
    assert_eq!(failures, 0, "mismatches, printed above");
}
