//! What is kept and for how long: the retention policy deletes tickets' contents and
//! files after the configured days (the first matching rule decides, shared files
//! stay while another ticket needs them, a dry run counts first, one node runs it);
//! an erasure on request removes a contact's identities, names, contents, files and
//! search entries, after an export of everything held about them; the audit log
//! keeps that it happened and nothing of what went, and no one can change it.

mod support;

use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, AGENT_TOKEN, Backend, TestApp, message, spawn_with};

const DAY: Duration = Duration::from_secs(86_400);

const POLICY: &str = r#"
[[retention]]
category = "kyc"
days = 30

[[retention]]
days = 365
"#;

/// A PNG's first bytes, the same file in several messages.
const FILE: &str = "iVBORw0KGgo=";

async fn open(app: &TestApp, id: &str, sender: &str, text: &str, file: bool) -> String {
    let mut pushed = message(id, sender, text);
    if file {
        pushed["attachments"] =
            json!([{"filename": "passport.png", "content_type": "image/png", "data": FILE}]);
    }
    let (status, body) = app.push(&pushed).await;
    assert_eq!(status, 200, "{body}");
    body["ticket_reference"].as_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, reference: &str, fields: Value) {
    let path = format!("/api/v1/tickets/{reference}");
    let (status, body) = app
        .send_json(Method::PATCH, &path, ADMIN_TOKEN, &fields)
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn search(app: &TestApp, words: &str) -> Vec<String> {
    let (status, page) = app
        .get(&format!("/api/v1/tickets?q={words}"), ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{page}");
    page["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["reference"].as_str().unwrap().to_owned())
        .collect()
}

fn sha_of(detail: &Value) -> String {
    detail["messages"][0]["attachments"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn retention_deletes_contents_after_the_configured_days(backend: Backend) {
    let app = spawn_with(backend, POLICY).await;
    let old_kyc = open(&app, "r1", "ana", "My passport scan zebracorn", true).await;
    let general = open(&app, "r2", "ben", "A general question quokkafish", false).await;
    let open_kyc = open(&app, "r3", "cem", "Still open okapibird", false).await;
    for reference in [&old_kyc, &open_kyc] {
        patch(&app, reference, json!({"category": "kyc"})).await;
    }
    for reference in [&old_kyc, &general] {
        patch(&app, reference, json!({"status": "resolved"})).await;
    }
    app.clock.advance(21 * DAY);
    let young_kyc = open(&app, "r4", "dan", "Newer passport narwhalion", true).await;
    patch(&app, &young_kyc, json!({"category": "kyc"})).await;
    patch(&app, &young_kyc, json!({"status": "closed"})).await;
    app.clock.advance(10 * DAY);
    let file = sha_of(&app.ticket(&old_kyc).await);
    assert_eq!(
        file,
        sha_of(&app.ticket(&young_kyc).await),
        "one file, shared"
    );

    // The dry run counts what would go, and deletes nothing.
    let (status, preview) = app.get("/api/v1/retention", ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["rules"][0]["rule"],
        json!({"channel": null, "category": "kyc", "days": 30})
    );
    assert_eq!(
        (
            &preview["rules"][0]["tickets"],
            &preview["rules"][0]["messages"],
            &preview["rules"][0]["attachments"]
        ),
        (&json!(1), &json!(1), &json!(1)),
        "{preview}"
    );
    assert_eq!(
        preview["rules"][1]["tickets"], 0,
        "the general ticket has a year"
    );
    assert_eq!(app.get("/api/v1/retention", AGENT_TOKEN).await.0, 403);
    assert_eq!(search(&app, "zebracorn").await, vec![old_kyc.clone()]);

    // One node claims each run.
    let every = Duration::from_secs(3600);
    assert!(app.gateway.claim_retention_run(every).await.unwrap());
    assert!(
        !app.gateway.claim_retention_run(every).await.unwrap(),
        "claimed once"
    );
    let outcomes = app.gateway.purge_expired().await.unwrap();
    assert_eq!(outcomes[0].removed.tickets, 1);
    assert_eq!(outcomes[1].removed.tickets, 0);

    let purged = app.ticket(&old_kyc).await;
    assert!(purged["ticket"]["purged_at"].is_string(), "{purged}");
    assert_eq!(
        purged["ticket"]["reference"],
        old_kyc.as_str(),
        "metadata stays"
    );
    assert_eq!(purged["ticket"]["category"], "kyc");
    assert_eq!(purged["messages"][0]["text"], "");
    assert_eq!(purged["messages"][0]["attachments"], json!([]));
    assert!(
        search(&app, "zebracorn").await.is_empty(),
        "gone from the index"
    );
    // The file stays: the younger ticket still has it.
    assert!(app.gateway.blobs().get(&file).await.is_ok());
    for reference in [&general, &open_kyc, &young_kyc] {
        let kept = app.ticket(reference).await;
        assert!(kept["ticket"]["purged_at"].is_null(), "{kept}");
        assert_ne!(kept["messages"][0]["text"], "");
    }

    // Its 30 days later: the younger one's turn, and the file goes with the last of it.
    app.clock.advance(21 * DAY);
    assert!(
        app.gateway.claim_retention_run(every).await.unwrap(),
        "an hour later, again"
    );
    let outcomes = app.gateway.purge_expired().await.unwrap();
    assert_eq!(
        (outcomes[0].removed.tickets, outcomes[0].removed.attachments),
        (1, 1)
    );
    assert!(
        app.gateway.blobs().get(&file).await.is_err(),
        "the file is deleted"
    );
    assert!(app.ticket(&general).await["ticket"]["purged_at"].is_null());

    let (_, runs) = app
        .get("/api/v1/audit?action=retention.purge", ADMIN_TOKEN)
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");
    assert_eq!(runs[0]["actor"], "retention");
    assert_eq!(runs[0]["detail"]["rules"][0]["tickets"], 1);
    app.stop().await;
}

async fn a_contact_is_exported_then_erased_everywhere(backend: Backend) {
    let app = spawn_with(backend, "").await;
    let first = open(
        &app,
        "e1",
        "ana",
        "My account number is 4471 platypusx",
        true,
    )
    .await;
    // Bo's group conversation, where Ana writes too.
    let mut group = message("e4", "bo", "Unrelated wombatqi");
    group["conversation"] = json!("group-1");
    group["attachments"] =
        json!([{"filename": "same.png", "content_type": "image/png", "data": FILE}]);
    let (status, pushed) = app.push(&group).await;
    assert_eq!(status, 200, "{pushed}");
    let bystander = pushed["ticket_reference"].as_str().unwrap().to_owned();
    let mut in_group = message("e5", "ana", "Ana in the group capybarix");
    in_group["conversation"] = json!("group-1");
    assert_eq!(
        app.push(&in_group).await.1["ticket_reference"],
        bystander.as_str()
    );
    let reply = format!("/api/v1/tickets/{first}/replies");
    let (status, _) = app
        .send_json(
            Method::POST,
            &reply,
            ADMIN_TOKEN,
            &json!({"text": "We are checking, Customer ana"}),
        )
        .await;
    assert_eq!(status, 202);
    patch(&app, &first, json!({"status": "resolved"})).await;
    // Past the reopen window: a second ticket of theirs.
    app.clock.advance(2 * DAY);
    let second = open(&app, "e3", "ana", "Following up wombatqi", false).await;
    assert_ne!(first, second);
    let detail = app.ticket(&first).await;
    let contact = detail["contact"]["id"].as_i64().unwrap();
    let file = sha_of(&detail);

    // The export: everything, files included.
    let export = format!("/api/v1/contacts/{contact}/export");
    assert_eq!(app.get(&export, AGENT_TOKEN).await.0, 403);
    let (status, exported) = app.get(&export, ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{exported}");
    assert_eq!(exported["contact"]["identities"][0]["address"], "api:ana");
    let tickets = exported["tickets"].as_array().unwrap();
    let exported_refs: Vec<&str> = tickets
        .iter()
        .map(|t| t["ticket"]["reference"].as_str().unwrap())
        .collect();
    assert!(exported_refs.contains(&first.as_str()) && exported_refs.contains(&second.as_str()));
    let group = tickets
        .iter()
        .find(|t| t["ticket"]["reference"] == bystander.as_str())
        .unwrap();
    let texts: Vec<&str> = group["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Ana in the group capybarix"],
        "only what Ana wrote on Bo's ticket"
    );
    let with_file = tickets
        .iter()
        .find(|t| t["ticket"]["reference"] == first.as_str())
        .unwrap();
    let data = with_file["files"][0]["data"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        base64::engine::general_purpose::STANDARD
            .decode(FILE)
            .unwrap()
    );
    assert!(exported.to_string().contains("platypusx"));

    // The erasure.
    let erase = format!("/api/v1/contacts/{contact}/erase");
    let (status, _) = app
        .send_json(Method::POST, &erase, AGENT_TOKEN, &json!({"reason": "x"}))
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .send_json(Method::POST, &erase, ADMIN_TOKEN, &json!({"reason": ""}))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, erased) = app
        .send_json(
            Method::POST,
            &erase,
            ADMIN_TOKEN,
            &json!({"reason": "request #481"}),
        )
        .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["removed"]["tickets"], 2, "{erased}");
    assert_eq!(
        erased["removed"]["messages"], 4,
        "two on their tickets, the reply, and one on Bo's"
    );
    assert_eq!(erased["removed"]["attachments"], 1);

    let (_, gone) = app
        .get(&format!("/api/v1/contacts/{contact}"), ADMIN_TOKEN)
        .await;
    assert_eq!(
        (&gone["contact"]["name"], &gone["contact"]["identities"]),
        (&Value::Null, &json!([])),
        "{gone}"
    );
    assert!(gone["contact"]["erased_at"].is_string());
    let after = app.ticket(&first).await;
    for m in after["messages"].as_array().unwrap() {
        assert_eq!(m["text"], "", "{m}");
        assert_eq!(m["attachments"], json!([]));
    }
    assert_eq!(after["messages"][0]["author"], "erased");
    assert!(after["ticket"]["subject"].is_null());
    assert!(
        !after.to_string().contains("ana"),
        "no trace of the identity: {after}"
    );
    assert!(search(&app, "platypusx").await.is_empty());
    assert!(search(&app, "capybarix").await.is_empty());
    let group = app.ticket(&bystander).await;
    let messages = group["messages"].as_array().unwrap();
    assert_eq!(
        (messages[0]["text"].as_str(), messages[0]["author"].as_str()),
        (Some("Unrelated wombatqi"), Some("Customer bo"))
    );
    assert_eq!(
        (messages[1]["text"].as_str(), messages[1]["author"].as_str()),
        (Some(""), Some("erased"))
    );
    assert_eq!(
        search(&app, "wombatqi").await,
        vec![bystander.clone()],
        "only the bystander's"
    );
    assert!(
        app.gateway.blobs().get(&file).await.is_ok(),
        "the bystander's copy of the file stays"
    );

    // Nothing can be sent to them any more.
    let (status, refused) = app
        .send_json(
            Method::POST,
            &reply,
            ADMIN_TOKEN,
            &json!({"text": "Hello?"}),
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("reply_refused")),
        "{refused}"
    );
    assert!(
        after["reply"]["refused"]
            .as_str()
            .unwrap()
            .contains("erased"),
        "{after}"
    );

    // The audit log says it happened, by whom and why, and holds nothing of them.
    let (_, log) = app.get("/api/v1/audit?action=contact.", ADMIN_TOKEN).await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["contact.erase", "contact.export"]);
    assert_eq!(log[0]["actor"], "Ada Admin");
    assert_eq!(log[0]["detail"]["reason"], "request #481");
    assert!(
        !log.to_string().contains("ana") && !log.to_string().contains("platypusx"),
        "{log}"
    );

    // Nor can anyone with a connection to the store change the log.
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ] {
        let refused = app
            .gateway
            .store()
            .write(move |c| c.execute(sql, &[]))
            .await
            .expect_err(sql);
        assert!(
            refused.to_string().contains("append-only"),
            "{sql}: {refused}"
        );
    }
    let (_, unchanged) = app.get("/api/v1/audit?action=contact.", ADMIN_TOKEN).await;
    assert_eq!(unchanged, log);

    // Erased is erased; the same address writing again is a new customer.
    let (status, body) = app
        .send_json(
            Method::POST,
            &erase,
            ADMIN_TOKEN,
            &json!({"reason": "again"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let again = open(&app, "e6", "ana", "Hello again", false).await;
    let fresh = app.ticket(&again).await;
    assert_ne!(fresh["contact"]["id"], contact);
    assert_ne!(again, first);
    app.stop().await;
}

both_backends!(
    retention_deletes_contents_after_the_configured_days,
    a_contact_is_exported_then_erased_everywhere,
);
