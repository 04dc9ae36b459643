//! The operator's command line, run as the real binary.

use std::path::Path;
use std::process::{Command, Output};

fn check_config(text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.toml");
    std::fs::write(&path, text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .env_remove("SWITCHBOARD_API_SECRET")
        .output()
        .unwrap()
}

fn sample() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/switchboard.toml"))
        .unwrap()
}

/// The shipped sample runs quietly on loopback, and warns (still valid, exit 0)
/// once it listens where other machines can reach it with its public secrets.
#[test]
fn check_config_warns_of_development_secrets_off_loopback() {
    let quiet = check_config(&sample());
    assert!(quiet.status.success());
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");

    let exposed = check_config(&sample().replace("127.0.0.1:8080", "0.0.0.0:8080"));
    let stderr = String::from_utf8_lossy(&exposed.stderr);
    assert!(exposed.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&exposed.stdout).contains("is valid"),
        "a warning, not a refusal"
    );
    assert!(
        stderr.starts_with(
            "warning: agents[0].token, channels.api.secret, channels.chat.secret still hold"
        ),
        "{stderr}"
    );
    for value in ["dev-secret", "dev-admin-token", "dev-chat-secret"] {
        assert!(!stderr.contains(value), "{stderr}");
    }
}

/// A problem is named by its key and line, and the exit code says the file is bad.
#[test]
fn check_config_names_the_key_at_fault() {
    let bad = check_config(&sample().replace(
        "secret = \"${SWITCHBOARD_API_SECRET:-dev-secret}\"",
        "secret = 12345",
    ));
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("line 28: channels.api.secret: invalid type: integer `12345`"),
        "{stderr}"
    );
}
