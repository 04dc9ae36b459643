//! Ticket references: short, unique, human-typeable (`SB-7K3M9Q`).
//!
//! The alphabet leaves out characters that are easy to misread or mistype (0/O, 1/I/L),
//! so a customer reading a reference over the phone or typing it into an email subject
//! gets it right.

use rand::Rng;

/// The characters a reference's random part is made of.
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// How many random characters follow the prefix: 31^6, about 887 million references.
pub const RANDOM_LEN: usize = 6;

/// A fresh random reference with the given prefix, e.g. `SB-7K3M9Q`.
pub fn generate(prefix: &str) -> String {
    let mut rng = rand::rng();
    let mut out = String::with_capacity(prefix.len() + 1 + RANDOM_LEN);
    out.push_str(prefix);
    out.push('-');
    for _ in 0..RANDOM_LEN {
        out.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    out
}

/// A random token of 24 characters of the same alphabet (about 119 bits), for links
/// that must not be guessed (a satisfaction survey's).
pub fn token() -> String {
    let mut rng = rand::rng();
    (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Every reference with this prefix that appears in `text` (case-insensitive; customers
/// type `sb-7k3m9q` too), in order of appearance, upper-cased.
pub fn find_all(prefix: &str, text: &str) -> Vec<String> {
    let upper_prefix = prefix.to_ascii_uppercase();
    let bytes = text.as_bytes();
    let needle_len = upper_prefix.len() + 1 + RANDOM_LEN;
    let mut found = Vec::new();
    let mut i = 0;
    while i + needle_len <= bytes.len() {
        if is_reference_at(bytes, i, upper_prefix.as_bytes()) {
            let candidate = String::from_utf8_lossy(&bytes[i..i + needle_len]).to_ascii_uppercase();
            if !found.contains(&candidate) {
                found.push(candidate);
            }
            i += needle_len;
        } else {
            i += 1;
        }
    }
    found
}

fn is_reference_at(bytes: &[u8], at: usize, prefix: &[u8]) -> bool {
    let boundary_before = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
    let end = at + prefix.len() + 1 + RANDOM_LEN;
    let boundary_after = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
    boundary_before
        && boundary_after
        && bytes[at..at + prefix.len()].eq_ignore_ascii_case(prefix)
        && bytes[at + prefix.len()] == b'-'
        && bytes[at + prefix.len() + 1..end]
            .iter()
            .all(|b| ALPHABET.contains(&b.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_references_are_found_again() {
        for _ in 0..100 {
            let reference = generate("SB");
            assert_eq!(reference.len(), 9);
            let subject = format!("Re: my withdrawal [#{reference}]");
            assert_eq!(find_all("SB", &subject), vec![reference]);
        }
    }

    #[test]
    fn finds_lowercase_and_ignores_lookalikes() {
        assert_eq!(find_all("SB", "about sb-7k3m9q please"), vec!["SB-7K3M9Q"]);
        // 0 and O are not in the alphabet; a longer token is not a reference.
        assert!(find_all("SB", "SB-7K3M0Q").is_empty());
        assert!(find_all("SB", "SB-7K3M9QX").is_empty());
        assert!(find_all("SB", "XSB-7K3M9Q").is_empty());
        assert!(find_all("SB", "").is_empty());
        assert!(find_all("SB", "ü SB-").is_empty());
    }
}
