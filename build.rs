//! Lets the halves of the test suites that need a real server report themselves as
//! ignored, with the reason, when none was given: PostgreSQL through
//! `SWITCHBOARD_TEST_POSTGRES_URL` (set by `scripts/with-postgres`), the mail servers
//! through `SWITCHBOARD_TEST_IMAP_ADDR` and the rest (set by `scripts/with-mail`).

fn main() {
    cfg_from_env("postgres_tests", "SWITCHBOARD_TEST_POSTGRES_URL");
    cfg_from_env("mail_tests", "SWITCHBOARD_TEST_IMAP_ADDR");
}

/// Sets `cfg(name)` when the environment variable is set and not empty.
fn cfg_from_env(name: &str, var: &str) {
    println!("cargo::rustc-check-cfg=cfg({name})");
    println!("cargo::rerun-if-env-changed={var}");
    if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg={name}");
    }
}
