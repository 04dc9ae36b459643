//! Lets the PostgreSQL halves of the test suites report themselves as ignored, with
//! the reason, when no server was given. `scripts/with-postgres` sets
//! `SWITCHBOARD_TEST_POSTGRES=1` with the server's address in
//! `SWITCHBOARD_TEST_POSTGRES_URL`; the flag decides, because the address changes on
//! every run and a changed variable here would rebuild the crate each time.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=SWITCHBOARD_TEST_POSTGRES");
    if std::env::var_os("SWITCHBOARD_TEST_POSTGRES").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
