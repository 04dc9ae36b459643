//! Lets the PostgreSQL halves of the test suites report themselves as ignored, with
//! the reason, when no server was given: `SWITCHBOARD_TEST_POSTGRES_URL` (set by
//! `scripts/with-postgres`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=SWITCHBOARD_TEST_POSTGRES_URL");
    if std::env::var_os("SWITCHBOARD_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
