//! Who may see what: roles and teams enforced by the store's queries (every endpoint
//! answers 404 for a ticket outside the agent's scope, by id, by reference, through
//! its files, contact, messages and events), tokens issued, rotated and revoked
//! without a restart, the audit log with who, when and from where, and the request
//! limits per token and per address.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, AGENT_TOKEN, Backend, TestApp, message, spawn_full};

const LENA: &str = "lena-supervisor-token-0123";
const OMAR: &str = "omar-payments-token-01234";
const KIM: &str = "kim-kyc-agent-token-012345";
const AUDITOR: &str = "audrey-auditor-token-0123";

/// Payments (Omar, supervised by Lena) takes withdrawals; KYC (Kim) passports; any
/// other ticket goes to no team, the general queue of Gus (an agent in no team).
const TEAMS: &str = r#"
[[agents]]
name = "Lena"
token = "lena-supervisor-token-0123"
role = "supervisor"

[[agents]]
name = "Omar"
token = "omar-payments-token-01234"

[[agents]]
name = "Kim"
token = "kim-kyc-agent-token-012345"

[[agents]]
name = "Audrey"
token = "audrey-auditor-token-0123"
role = "auditor"

[helpdesk]
languages = ["en"]

[[helpdesk.triage]]
name = "money"
category = "payments"
keywords = ["withdrawal"]

[[helpdesk.triage]]
name = "identity"
category = "verification"
keywords = ["passport"]

[[helpdesk.teams]]
name = "payments"
categories = ["payments"]
agents = ["Omar"]
supervisors = ["Lena"]
assignment = "manual"

[[helpdesk.teams]]
name = "kyc"
categories = ["verification"]
agents = ["Kim"]
assignment = "manual"
"#;

async fn desk(backend: Backend, server: &str) -> TestApp {
    spawn_full(backend, server, |_| TEAMS.to_owned()).await
}

/// One ticket as the tests use it: what an outsider might guess.
struct Known {
    id: i64,
    reference: String,
    contact: i64,
    message: i64,
    attachment: i64,
}

async fn open(app: &TestApp, external_id: &str, sender: &str, text: &str) -> Known {
    let mut pushed = message(external_id, sender, text);
    pushed["attachments"] =
        json!([{"filename": "proof.png", "content_type": "image/png", "data": "iVBORw0KGgo="}]);
    let (status, body) = app.push(&pushed).await;
    assert_eq!(status, 200, "{body}");
    let reference = body["ticket_reference"].as_str().unwrap().to_owned();
    let detail = app.ticket(&reference).await;
    let first = &detail["messages"][0];
    Known {
        id: detail["ticket"]["id"].as_i64().unwrap(),
        reference,
        contact: detail["contact"]["id"].as_i64().unwrap(),
        message: first["id"].as_i64().unwrap(),
        attachment: first["attachments"][0]["id"].as_i64().unwrap(),
    }
}

/// Signs in to the inbox with `token`, as the browser does.
async fn sign_in(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/session", app.url))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap()
}

fn references(page: &Value) -> Vec<String> {
    let mut found: Vec<String> = page["tickets"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|t| t["reference"].as_str().unwrap().to_owned())
        .collect();
    found.sort();
    found
}

fn sorted(mut refs: Vec<&str>) -> Vec<String> {
    refs.sort();
    refs.into_iter().map(str::to_owned).collect()
}

async fn every_endpoint_hides_other_teams_tickets(backend: Backend) {
    let app = desk(backend, "").await;
    let payments = open(&app, "p1", "paula", "My withdrawal is stuck").await;
    let kyc = open(&app, "k1", "karl", "Here is my passport").await;
    let general = open(&app, "g1", "gina", "Hello there").await;
    assert_eq!(
        app.ticket(&payments.reference).await["ticket"]["team"],
        "payments"
    );
    assert_eq!(app.ticket(&kyc.reference).await["ticket"]["team"], "kyc");
    assert_eq!(
        app.ticket(&general.reference).await["ticket"]["team"],
        Value::Null
    );

    // Kim (KYC) guesses the payments ticket every way the API takes one.
    for key in [payments.id.to_string(), payments.reference.clone()] {
        let t = format!("/api/v1/tickets/{key}");
        let cases: Vec<(Method, String, Value)> = vec![
            (Method::GET, t.clone(), Value::Null),
            (Method::PATCH, t.clone(), json!({"status": "resolved"})),
            (Method::POST, format!("{t}/replies"), json!({"text": "hi"})),
            (Method::POST, format!("{t}/notes"), json!({"text": "hi"})),
            (Method::GET, format!("{t}/presence"), Value::Null),
            (
                Method::POST,
                format!("{t}/presence"),
                json!({"state": "viewing"}),
            ),
            (Method::GET, format!("{t}/suggestions"), Value::Null),
            (
                Method::GET,
                format!("/api/v1/canned?ticket={key}"),
                Value::Null,
            ),
        ];
        for (method, path, body) in cases {
            let (status, answer) = app.send_json(method.clone(), &path, KIM, &body).await;
            assert_eq!(
                (status, answer["error"]["code"].as_str()),
                (404, Some("not_found")),
                "{method} {path}: {answer}"
            );
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("not found"),
                "{answer}"
            );
        }
    }
    for path in [
        format!("/api/v1/contacts/{}", payments.contact),
        format!("/api/v1/attachments/{}", payments.attachment),
        format!("/api/v1/messages/{}/html", payments.message),
    ] {
        let (status, answer) = app.get(&path, KIM).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .ends_with(" not found"),
            "the same answer as for nothing at all: {answer}"
        );
    }
    // Their own ticket's are there (the mail body: the message has none).
    assert_eq!(
        app.get(&format!("/api/v1/contacts/{}", kyc.contact), KIM)
            .await
            .0,
        200
    );
    let own_file = app
        .http
        .get(format!("{}/api/v1/attachments/{}", app.url, kyc.attachment))
        .bearer_auth(KIM)
        .send()
        .await
        .unwrap();
    assert_eq!(own_file.status(), 200);
    let (status, answer) = app
        .get(&format!("/api/v1/messages/{}/html", kyc.message), KIM)
        .await;
    assert_eq!(status, 404);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no formatted body"),
        "{answer}"
    );

    // Lists, searches and counts hold only what each may see.
    let everyone = sorted(vec![
        &payments.reference,
        &kyc.reference,
        &general.reference,
    ]);
    for (token, expected) in [
        (KIM, sorted(vec![&kyc.reference])),
        (OMAR, sorted(vec![&payments.reference])),
        (LENA, sorted(vec![&payments.reference])),
        (AGENT_TOKEN, sorted(vec![&general.reference])),
        (ADMIN_TOKEN, everyone.clone()),
        (AUDITOR, everyone.clone()),
    ] {
        let (_, page) = app.get("/api/v1/tickets", token).await;
        assert_eq!(references(&page), expected, "{token}");
        let (_, counts) = app.get("/api/v1/tickets/counts", token).await;
        assert_eq!(counts["total"], expected.len() as i64, "{token}: {counts}");
    }
    for q in ["withdrawal", payments.reference.as_str(), "proof"] {
        let (_, found) = app.get(&format!("/api/v1/tickets?q={q}"), KIM).await;
        assert_eq!(references(&found), Vec::<String>::new(), "q={q}");
    }
    let (_, found) = app.get("/api/v1/tickets?q=withdrawal", OMAR).await;
    assert_eq!(references(&found), sorted(vec![&payments.reference]));

    // A ticket assigned to someone is theirs to see, whatever its team.
    let (status, body) = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tickets/{}", payments.reference),
            LENA,
            &json!({"assignee": "Kim"}),
        )
        .await;
    assert_eq!(status, 200, "a supervisor assigns: {body}");
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{}", payments.id), KIM)
            .await
            .0,
        200
    );
    let (status, body) = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tickets/{}", kyc.reference),
            KIM,
            &json!({"assignee": "Omar"}),
        )
        .await;
    assert_eq!(status, 403, "an agent does not assign others: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("supervisor"),
        "{body}"
    );
    let (status, body) = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tickets/{}", kyc.reference),
            KIM,
            &json!({"assignee": "Kim"}),
        )
        .await;
    assert_eq!(status, 200, "an agent takes a ticket: {body}");

    // The auditor reads everything and changes nothing.
    for (method, path, body) in [
        (
            Method::POST,
            format!("/api/v1/tickets/{}/replies", general.id),
            json!({"text": "x"}),
        ),
        (
            Method::POST,
            format!("/api/v1/tickets/{}/notes", general.id),
            json!({"text": "x"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/tickets/{}", general.id),
            json!({"status": "closed"}),
        ),
        (
            Method::POST,
            format!("/api/v1/tickets/{}/presence", general.id),
            json!({"state": "viewing"}),
        ),
    ] {
        let (status, answer) = app.send_json(method.clone(), &path, AUDITOR, &body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("auditor"),
            "{answer}"
        );
    }
    assert_eq!(app.get("/api/v1/audit", AUDITOR).await.0, 200);
    assert_eq!(app.get("/api/v1/audit", KIM).await.0, 403);
    assert_eq!(app.get("/api/v1/agents", LENA).await.0, 403);
    assert_eq!(app.get("/api/v1/reports/csat", KIM).await.0, 403);
    assert_eq!(app.get("/api/v1/reports/csat", LENA).await.0, 200);
    assert_eq!(app.get("/api/v1/channels", AUDITOR).await.0, 403);
    app.stop().await;
}

/// Kim's live feed, replayed from the start: only KYC's events, in order.
async fn the_live_feed_carries_only_tickets_in_scope(backend: Backend) {
    let app = desk(backend, "").await;
    let mut feed = app
        .http
        .get(format!("{}/api/v1/events", app.url))
        .bearer_auth(KIM)
        .send()
        .await
        .unwrap();
    let payments = open(&app, "p1", "paula", "My withdrawal is stuck").await;
    let kyc = open(&app, "k1", "karl", "Here is my passport").await;
    let presence = |key: &str| format!("/api/v1/tickets/{key}/presence");
    for key in [&payments.reference, &kyc.reference] {
        let (status, _) = app
            .send_json(
                Method::POST,
                &presence(key),
                ADMIN_TOKEN,
                &json!({"state": "typing"}),
            )
            .await;
        assert_eq!(status, 204);
    }
    let replies = format!("/api/v1/tickets/{}/replies", kyc.reference);
    let (status, _) = app
        .send_json(
            Method::POST,
            &replies,
            KIM,
            &json!({"text": "Thanks, checking"}),
        )
        .await;
    assert_eq!(status, 202);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while text.matches("event: message.created").count() < 2 || !text.contains("event: presence") {
        let chunk = tokio::time::timeout_at(deadline, feed.chunk())
            .await
            .unwrap_or_else(|_| panic!("events in time: {text}"))
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let tickets_named = |text: &str| -> Vec<i64> {
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| v["ticket_id"].as_i64())
            .collect()
    };
    let named = tickets_named(&text);
    assert!(
        !named.is_empty() && named.iter().all(|id| *id == kyc.id),
        "{text}"
    );

    // Resumed from the first event: the log, filtered the same way.
    let resumed = app
        .http
        .get(format!("{}/api/v1/events?after=0", app.url))
        .bearer_auth(KIM)
        .send()
        .await
        .unwrap();
    let mut replay = String::new();
    let mut resumed = resumed;
    while replay.matches("event: message.created").count() < 2 {
        let chunk = tokio::time::timeout_at(deadline, resumed.chunk())
            .await
            .unwrap_or_else(|_| panic!("the replay in time: {replay}"))
            .unwrap()
            .unwrap();
        replay.push_str(&String::from_utf8_lossy(&chunk));
    }
    let named = tickets_named(&replay);
    assert!(named.iter().all(|id| *id == kyc.id), "{replay}");
    let ids: Vec<i64> = replay
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    app.stop().await;
}

async fn tokens_are_issued_rotated_and_revoked_without_a_restart(backend: Backend) {
    let app = desk(backend, "").await;
    let (status, issued) = app
        .send_json(
            Method::POST,
            "/api/v1/agents/Kim/tokens",
            ADMIN_TOKEN,
            &json!({"label": "laptop"}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let first = issued["token"].as_str().unwrap().to_owned();
    assert!(first.starts_with("sbt_") && first.len() > 40);
    let (_, me) = app.get("/api/v1/me", &first).await;
    assert_eq!(
        (me["name"].as_str(), me["token_id"].as_i64()),
        (Some("Kim"), issued["id"].as_i64())
    );
    assert_eq!(me["teams"], json!(["kyc"]));

    // Only hashes are kept.
    let hashes = app
        .gateway
        .store()
        .read(|c| {
            c.query("SELECT hash FROM agent_tokens", &[])?
                .iter()
                .map(|r| r.string(0))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();
    assert_eq!(hashes.len(), 7, "six config tokens and the issued one");
    for token in [first.as_str(), KIM, ADMIN_TOKEN] {
        assert!(hashes.iter().all(|h| !h.contains(token) && h.len() == 64));
    }

    // A browser session signed in with it ends with it.
    let signed_in = sign_in(&app, &first).await;
    assert_eq!(signed_in.status(), 201);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let with_cookie = |cookie: String| {
        let (http, url) = (app.http.clone(), app.url.clone());
        async move {
            http.get(format!("{url}/api/v1/tickets"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(with_cookie(cookie.clone()).await, 200);

    let id = issued["id"].as_i64().unwrap();
    let (status, rotated) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/tokens/{id}/rotate"),
            &first,
            &json!({}),
        )
        .await;
    assert_eq!(status, 201, "an agent rotates their own token: {rotated}");
    let second = rotated["token"].as_str().unwrap().to_owned();
    assert_eq!(rotated["label"], "laptop");
    assert_eq!(
        app.get("/api/v1/tickets", &first).await.0,
        401,
        "the old token is refused at once"
    );
    assert_eq!(with_cookie(cookie).await, 401, "and its session ended");
    assert_eq!(app.get("/api/v1/tickets", &second).await.0, 200);

    // Not someone else's.
    let (status, body) = app
        .send_json(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", rotated["id"]),
            OMAR,
            &json!({}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // A config token can be revoked too, and stays revoked after a restart.
    let (_, agents) = app.get("/api/v1/agents", ADMIN_TOKEN).await;
    let omar = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Omar")
        .unwrap();
    let config_token = omar["tokens"][0]["id"].as_i64().unwrap();
    assert_eq!(omar["tokens"][0]["source"], "config");
    let (status, revoked) = app
        .send_json(
            Method::DELETE,
            &format!("/api/v1/tokens/{config_token}"),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["revoked_by"], "Ada Admin");
    assert_eq!(app.get("/api/v1/tickets", OMAR).await.0, 401);
    let app = app.restart(|| {}).await;
    assert_eq!(
        app.get("/api/v1/tickets", OMAR).await.0,
        401,
        "revoked is revoked"
    );
    assert_eq!(app.get("/api/v1/tickets", &second).await.0, 200);
    assert_eq!(app.get("/api/v1/tickets", KIM).await.0, 200);

    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/v1/agents/Nobody/tokens",
            ADMIN_TOKEN,
            &json!({"label": "x"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/v1/agents/Kim/tokens",
            KIM,
            &json!({"label": "x"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    app.stop().await;
}

async fn the_audit_log_records_who_did_what_from_where(backend: Backend) {
    let app = desk(backend, "").await;
    let kyc = open(&app, "k1", "karl", "Here is my passport").await;
    let t = format!("/api/v1/tickets/{}", kyc.reference);
    for (method, path, body, expected) in [
        (
            Method::POST,
            format!("{t}/replies"),
            json!({"text": "Thanks"}),
            202,
        ),
        (
            Method::POST,
            format!("{t}/notes"),
            json!({"text": "Looks fine"}),
            201,
        ),
        (Method::PATCH, t.clone(), json!({"status": "resolved"}), 200),
    ] {
        assert_eq!(
            app.send_json(method, &path, KIM, &body).await.0,
            expected,
            "{path}"
        );
    }
    assert_eq!(
        app.get("/api/v1/tickets", "not-a-token-at-all").await.0,
        401
    );
    assert_eq!(sign_in(&app, "also-wrong").await.status(), 401);
    assert_eq!(sign_in(&app, KIM).await.status(), 201);

    let (status, entries) = app
        .get(&format!("/api/v1/audit?ticket={}", kyc.reference), AUDITOR)
        .await;
    assert_eq!(status, 200, "{entries}");
    let actions: Vec<(&str, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("Kim", "ticket.update"),
            ("Kim", "message.note"),
            ("Kim", "message.reply")
        ],
        "{entries}"
    );
    for entry in entries.as_array().unwrap() {
        assert_eq!(entry["origin"], "127.0.0.1", "{entry}");
        assert_eq!(entry["ticket_id"], kyc.id);
    }
    assert_eq!(entries[0]["detail"]["status"], json!(["open", "resolved"]));
    assert!(
        !entries.to_string().contains("Thanks") && !entries.to_string().contains("Looks fine"),
        "the log holds no message text: {entries}"
    );

    let (_, sessions) = app.get("/api/v1/audit?action=session.", ADMIN_TOKEN).await;
    let sessions: Vec<(&str, &str)> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sessions,
        [
            ("Kim", "session.sign_in"),
            ("unknown", "session.sign_in_failed")
        ]
    );
    let (_, refused) = app
        .get("/api/v1/audit?action=token.refused", ADMIN_TOKEN)
        .await;
    assert_eq!(refused.as_array().unwrap().len(), 1, "{refused}");
    assert_eq!(refused[0]["origin"], "127.0.0.1");

    // The export: every entry, one per line, and the export itself recorded.
    let (_, all) = app.get("/api/v1/audit?limit=1000", ADMIN_TOKEN).await;
    let export = app
        .http
        .get(format!("{}/api/v1/audit/export", app.url))
        .bearer_auth(AUDITOR)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = export
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), all.as_array().unwrap().len() + 1);
    assert_eq!(
        (lines[0]["actor"].as_str(), lines[0]["action"].as_str()),
        (Some("Audrey"), Some("audit.export"))
    );
    assert_eq!(&lines[1..], all.as_array().unwrap().as_slice());
    app.stop().await;
}

async fn busy_tokens_and_addresses_are_told_to_wait(backend: Backend) {
    let app = desk(
        backend,
        "token_requests_per_second = 5\naddress_requests_per_second = 40",
    )
    .await;
    let mut refused = None;
    for _ in 0..30 {
        let response = app
            .http
            .get(format!("{}/api/v1/me", app.url))
            .bearer_auth(KIM)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("a burst past twice the rate is refused");
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this token"),
        "{body}"
    );
    // Another token from the same address still passes.
    assert_eq!(app.get("/api/v1/me", OMAR).await.0, 200);
    let mut statuses = Vec::new();
    for token in [OMAR, LENA, AUDITOR, ADMIN_TOKEN].iter().cycle().take(100) {
        statuses.push(app.get("/api/v1/me", token).await.0);
    }
    assert!(statuses.contains(&429), "the address's limit: {statuses:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get("/api/v1/me", KIM).await.0, 200, "after the wait");
    app.stop().await;
}

both_backends!(
    every_endpoint_hides_other_teams_tickets,
    the_live_feed_carries_only_tickets_in_scope,
    tokens_are_issued_rotated_and_revoked_without_a_restart,
    the_audit_log_records_who_did_what_from_where,
    busy_tokens_and_addresses_are_told_to_wait,
);
