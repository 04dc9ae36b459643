//! A config reload, as operators do it: the real binary, the file edited, SIGHUP.
//! Agents added, removed and given another role take effect without a restart; a
//! file with a problem changes nothing; each reload is in the audit log.

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::free_port;
use support::process::GatewayProcess;

fn config(port: u16, data: &std::path::Path, agents: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"

[storage]
data_dir = {data:?}

[[agents]]
name = "Ada"
token = "reload-admin-token-0123"
role = "admin"
{agents}
"#
    )
}

const BEFORE: &str = r#"
[[agents]]
name = "Bo"
token = "reload-bo-token-0123"

[[agents]]
name = "Cy"
token = "reload-cy-token-0123"
"#;

const AFTER: &str = r#"
[[agents]]
name = "Bo"
token = "reload-bo-token-0123"
role = "auditor"

[[agents]]
name = "Di"
token = "reload-di-token-0123"
"#;

async fn me(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let response = http
        .get(format!("{url}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_agents_roles_and_tokens() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("switchboard.toml");
    let data = dir.path().join("data");
    std::fs::write(&path, config(port, &data, BEFORE)).unwrap();
    let mut command = GatewayProcess::command(&path);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let gateway = GatewayProcess::start(command, &format!("127.0.0.1:{port}")).await;
    let url = gateway.url.clone();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(
        me(&http, &url, "reload-bo-token-0123").await.1["role"],
        "agent"
    );
    assert_eq!(me(&http, &url, "reload-cy-token-0123").await.0, 200);

    // A file with a problem is refused whole: nothing changes.
    std::fs::write(
        &path,
        config(port, &data, "[[agents]]\nname = \"\"\ntoken = \"x\""),
    )
    .unwrap();
    gateway.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(me(&http, &url, "reload-cy-token-0123").await.0, 200);

    std::fs::write(&path, config(port, &data, AFTER)).unwrap();
    gateway.signal("HUP");
    let mut reloaded = false;
    for _ in 0..200 {
        if me(&http, &url, "reload-di-token-0123").await.0 == 200 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(reloaded, "the added agent's token works after SIGHUP");
    assert_eq!(
        me(&http, &url, "reload-bo-token-0123").await.1["role"],
        "auditor"
    );
    assert_eq!(
        me(&http, &url, "reload-cy-token-0123").await.0,
        401,
        "a removed agent is refused"
    );

    let (status, log) = {
        let response = http
            .get(format!("{url}/api/v1/audit?action=config.reload"))
            .bearer_auth("reload-admin-token-0123")
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 200, "{log}");
    assert_eq!(
        log.as_array().unwrap().len(),
        1,
        "one reload applied: {log}"
    );
    let detail = &log[0]["detail"];
    assert_eq!(detail["added"], serde_json::json!(["Di"]));
    assert_eq!(detail["removed"], serde_json::json!(["Cy"]));
    assert_eq!(detail["role_changed"], serde_json::json!(["Bo"]));
    assert!(!log.to_string().contains("token-0123"), "names only: {log}");

    gateway.stop();
}
