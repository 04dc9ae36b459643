//! Lets the halves of the test suites that need a real server report themselves as
//! ignored, with the reason, when none was given. `scripts/with-postgres` sets
//! `SWITCHBOARD_TEST_POSTGRES=1` (with the server's address in
//! `SWITCHBOARD_TEST_POSTGRES_URL`), `scripts/with-mail` sets
//! `SWITCHBOARD_TEST_MAIL=1` (with the addresses in `SWITCHBOARD_TEST_IMAP_ADDR` and
//! the rest). The flags, not the addresses, decide: the addresses change on every
//! run, and a changed variable here would rebuild the crate each time.

fn main() {
    cfg_from_env("postgres_tests", "SWITCHBOARD_TEST_POSTGRES");
    cfg_from_env("mail_tests", "SWITCHBOARD_TEST_MAIL");
}

/// Sets `cfg(name)` when the environment variable is set and not empty.
fn cfg_from_env(name: &str, var: &str) {
    println!("cargo::rustc-check-cfg=cfg({name})");
    println!("cargo::rerun-if-env-changed={var}");
    if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg={name}");
    }
}
