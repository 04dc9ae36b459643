//! Several gateway nodes on one PostgreSQL store, in one process: one poller per bot
//! and per mailbox across the nodes, taken over when its node dies or stops; a node that lost its
//! lease cannot move the poller's cursor; values made once per channel agree; what
//! one node commits reaches the live feed, web chat sockets and token checks of the
//! others at once; files stored through one node are read through another; a
//! channel's rate limit holds for all the nodes together.

#[allow(dead_code)] // each test binary uses a different part of the fakes
mod fakes;
mod support;

use std::time::Duration;

use fakes::telegram::{FakeTelegram, private_message};
use reqwest::Method;
use serde_json::json;
use support::chat::{Chat, ws_url};
use support::{ADMIN_TOKEN, AGENT_TOKEN, Backend, TestApp, event_ids, message, read_feed_until};
use switchboard_core::model::ChannelId;
use switchboard_core::store::queries::leases;

const TOKEN: &str = "7000000001:cluster";

/// The node that runs the bot's poller, as `/readyz` says.
async fn poller_node(app: &TestApp) -> Option<String> {
    app.cluster().await["pollers"]["poller:telegram"]
        .as_str()
        .map(str::to_owned)
}

async fn wait_for_poller(app: &TestApp, not: Option<&str>) -> String {
    for _ in 0..500 {
        if let Some(node) = poller_node(app).await
            && Some(node.as_str()) != not
        {
            return node;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no node took the poller over");
}

async fn wait_for_messages(app: &TestApp, count: i64) {
    for _ in 0..1000 {
        if app.count("messages").await >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} of {count} messages stored", app.count("messages").await);
}

async fn distinct_messages(app: &TestApp) -> (i64, i64) {
    let row = app
        .gateway
        .store()
        .read(|c| {
            c.query_one(
                "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM messages",
                &[],
            )
        })
        .await
        .unwrap()
        .unwrap();
    (row.i64(0).unwrap(), row.i64(1).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
async fn one_node_polls_a_bot_and_another_takes_over() {
    let fake = FakeTelegram::start(TOKEN).await;
    let first = support::spawn_with(Backend::Postgres, &fake.polling_channel()).await;
    let second = first.another_node().await;
    let holder = wait_for_poller(&first, None).await;
    assert!(
        [first.gateway.node(), second.gateway.node()].contains(&holder.as_str()),
        "{holder}"
    );
    for n in 1..=20 {
        fake.push_update(private_message(n, 50_000 + n, &format!("question {n}")));
    }
    wait_for_messages(&first, 20).await;
    // Both nodes run; a second poller would have ended the first's long polls.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.terminated(), 0, "two nodes polled the bot at once");

    // The holder dies without a word: its lease runs out and the other takes over.
    let (dead, alive) = if holder == first.gateway.node() {
        (first, second)
    } else {
        (second, first)
    };
    let dead_node = dead.gateway.node().to_owned();
    dead.crash();
    alive.clock.advance(Duration::from_secs(3));
    let started = std::time::Instant::now();
    let taken = wait_for_poller(&alive, Some(&dead_node)).await;
    assert_eq!(taken, alive.gateway.node());
    println!("takeover after the lease ran out: {:?}", started.elapsed());
    for n in 21..=40 {
        fake.push_update(private_message(n, 50_000 + n, &format!("question {n}")));
    }
    wait_for_messages(&alive, 40).await;

    // A third node waits while the poller's node lives; a clean stop hands it over
    // at once, with no lease to wait out.
    let third = alive.another_node().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        poller_node(&third).await.as_deref(),
        Some(alive.gateway.node())
    );
    let alive_node = alive.gateway.node().to_owned();
    alive.stop().await;
    assert_eq!(
        wait_for_poller(&third, Some(&alive_node)).await,
        third.gateway.node()
    );
    for n in 41..=60 {
        fake.push_update(private_message(n, 50_000 + n, &format!("question {n}")));
    }
    wait_for_messages(&third, 60).await;
    assert_eq!(
        distinct_messages(&third).await,
        (60, 60),
        "each update once"
    );

    // The offsets asked for never went back, and every update was confirmed.
    let offsets = fake.offsets();
    assert!(
        offsets.windows(2).all(|w| w[0] <= w[1]),
        "the offset went back: {offsets:?}"
    );
    for _ in 0..200 {
        if fake.confirmed_offset() > 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.confirmed_offset(), 61);
    // At most the dead node's last long poll was ended by the new poller.
    assert!(fake.terminated() <= 1, "{} conflicts", fake.terminated());
    third.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
async fn a_node_without_the_lease_cannot_move_the_cursor() {
    let first = support::spawn(Backend::Postgres).await;
    let second = first.another_node().await;
    let channel = ChannelId::parse("mailbox").unwrap();
    let mine = first.gateway.channel_context(channel.clone());
    let theirs = second.gateway.channel_context(channel);
    // No poller lease yet: either may write (a single node, or tests of a poller).
    mine.save_state("cursor", "7:100").await.unwrap();

    let (node, now) = (second.gateway.node().to_owned(), first.gateway.now().0);
    let taken = first
        .gateway
        .store()
        .write(move |c| leases::take(c, "poller:mailbox", &node, now, 60_000))
        .await
        .unwrap();
    assert!(taken);
    theirs.save_state("cursor", "7:150").await.unwrap();
    let refused = mine.save_state("cursor", "7:120").await.unwrap_err();
    assert!(refused.to_string().contains("another node"), "{refused}");
    assert_eq!(
        theirs.load_state("cursor").await.unwrap().as_deref(),
        Some("7:150")
    );

    // A value made once per channel: the first stored wins on every node.
    let (a, b) = tokio::join!(
        mine.keep_state("salt", "from-first"),
        theirs.keep_state("salt", "from-second")
    );
    assert_eq!(a.unwrap(), b.unwrap());
    first.stop().await;
    second.stop().await;
}

const CHAT: &str = r#"
[channels.chat]
kind = "webchat"
secret = "chat-secret-0123"
allowed_origins = ["https://shop.example"]
"#;

async fn feed(app: &TestApp, query: &str) -> reqwest::Response {
    app.http
        .get(format!("{}/api/v1/events{query}", app.url))
        .bearer_auth(AGENT_TOKEN)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
async fn what_one_node_commits_the_others_hear_at_once() {
    let first = support::spawn_with(Backend::Postgres, CHAT).await;
    let second = first.another_node().await;

    // The live feed on one node shows what another stored, in well under the
    // heartbeat a feed would otherwise wait for.
    let mut on_second = feed(&second, "").await;
    read_feed_until(&mut on_second, "event: ready").await;
    let sent = std::time::Instant::now();
    let (_, pushed) = first.push(&message("n1", "ana", "Hi")).await;
    let created = read_feed_until(&mut on_second, "event: message.created").await;
    println!(
        "an event of one node in another's feed after {:?}",
        sent.elapsed()
    );
    let reference = pushed["ticket_reference"].as_str().unwrap().to_owned();
    assert!(created.contains(&reference), "{created}");

    // An agent on the first node looks at the ticket: the second node's feed says so.
    let (status, _) = first
        .send_json(
            Method::POST,
            &format!("/api/v1/tickets/{reference}/presence"),
            ADMIN_TOKEN,
            &json!({"state": "typing"}),
        )
        .await;
    assert_eq!(status, 204);
    let text = read_feed_until(&mut on_second, "event: presence").await;
    assert!(text.contains("Ada Admin"), "{text}");

    // A feed resumed on the other node gets what it missed, once and in order.
    let last = *event_ids(&created).last().unwrap();
    drop(on_second);
    first.push(&message("n2", "bo", "Hello")).await;
    let mut on_first = feed(&first, &format!("?after={last}")).await;
    let text = read_feed_until(&mut on_first, "event: message.created").await;
    let ids = event_ids(&text);
    assert!(
        !ids.is_empty() && ids[0] == last + 1,
        "{ids:?} after {last}"
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // Two tabs of one web chat on two nodes: each sees what the other wrote, at once
    // rather than at the next heartbeat.
    let (mut here, welcome) =
        Chat::start(&ws_url(&second.url, "chat"), json!({"type": "hello"})).await;
    let (ack, _) = here.say("c1", "my deposit").await;
    let token = ack["token"]
        .as_str()
        .unwrap_or(welcome["token"].as_str().unwrap());
    let (mut there, _) = Chat::start(
        &ws_url(&first.url, "chat"),
        json!({"type": "hello", "token": token, "last_seq": 1}),
    )
    .await;
    let sent = std::time::Instant::now();
    here.say("c2", "it is 0.5 BTC").await;
    let seen = tokio::time::timeout(Duration::from_secs(3), there.until("message"))
        .await
        .expect("the other node's socket heard it before its heartbeat");
    println!(
        "a web chat message of one node at another's socket after {:?}",
        sent.elapsed()
    );
    assert_eq!(seen["seq"], 2);
    assert_eq!(seen["text"], "it is 0.5 BTC");

    // A token revoked through one node is refused by the other at once, though that
    // node took the token as good a moment ago.
    let (status, issued) = first
        .send_json(
            Method::POST,
            "/api/v1/agents/Gus Agent/tokens",
            ADMIN_TOKEN,
            &json!({"label": "laptop"}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().unwrap();
    assert_eq!(second.get("/api/v1/me", token).await.0, 200);
    let (status, _) = first
        .send_json(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", issued["id"]),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let revoked = std::time::Instant::now();
    while second.get("/api/v1/me", token).await.0 != 401 {
        assert!(
            revoked.elapsed() < Duration::from_millis(500),
            "the other node still took the revoked token"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
async fn a_file_stored_through_one_node_is_read_through_another() {
    let first = support::spawn_with(Backend::Postgres, CHAT).await;
    let second = first.another_node().await;
    let mut pushed = message("f1", "ana", "the receipt");
    pushed["attachments"] = json!([{"filename": "receipt.txt", "content_type": "text/plain",
        "data": "cmVjZWlwdCAjNDI="}]);
    let (status, answer) = first.push(&pushed).await;
    assert_eq!(status, 200, "{answer}");
    let detail = second
        .ticket(answer["ticket_reference"].as_str().unwrap())
        .await;
    let file = &detail["messages"][0]["attachments"][0];
    let response = second
        .http
        .get(format!("{}/api/v1/attachments/{}", second.url, file["id"]))
        .bearer_auth(AGENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), "receipt #42");
    // In the store, once (the tests' PostgreSQL config says attachments = "store").
    for app in [&first, &second] {
        assert_eq!(app.count("blobs").await, 1);
    }
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
async fn three_nodes_together_keep_a_channels_rate_limit() {
    // 5 a second with bursts of 5: in any second at most 5 + 5 replies leave, from
    // however many nodes.
    const RATE: usize = 5;
    const REPLIES: usize = 30;
    let limited = "rate_limit = { channel = { count = 5, per_seconds = 1 } }";
    let first = support::spawn_with(Backend::Postgres, limited).await;
    let second = first.another_node().await;
    let third = first.another_node().await;
    let nodes = [&first, &second, &third];
    // Until each node counts the three of them.
    for _ in 0..300 {
        let mut counted = 0;
        for node in nodes {
            counted += usize::from(node.cluster().await["nodes"].as_array().unwrap().len() == 3);
        }
        if counted == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut references = Vec::new();
    for i in 0..REPLIES {
        let (_, pushed) = first
            .push(&message(&format!("r{i}"), &format!("customer{i}"), "hello"))
            .await;
        references.push(pushed["ticket_reference"].as_str().unwrap().to_owned());
    }
    for (i, reference) in references.iter().enumerate() {
        nodes[i % 3].reply(reference, "on our way").await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut times = loop {
        let times: Vec<u64> = nodes
            .iter()
            .flat_map(|node| node.callback.delivered())
            .map(|d| d["received_at_ms"].as_u64().unwrap())
            .collect();
        if times.len() >= REPLIES {
            break times;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {REPLIES} replies sent",
            times.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    times.sort();
    let busiest = times
        .iter()
        .map(|&start| {
            times
                .iter()
                .filter(|&&t| t >= start && t < start + 1000)
                .count()
        })
        .max()
        .unwrap();
    let spread = times[times.len() - 1] - times[0];
    println!(
        "{REPLIES} replies from three nodes over {spread} ms, at most {busiest} in one second"
    );
    assert!(busiest <= 2 * RATE, "{busiest} replies in one second");
    // Each node alone may send 5 a second: three unaware of each other would have sent
    // all 30 in well under two seconds.
    assert!(
        spread >= ((REPLIES - 2 * RATE) / RATE) as u64 * 1000,
        "30 replies in {spread} ms: faster than the limit"
    );
    for node in [first, second, third] {
        node.stop().await;
    }
}

/// The email channel's IMAP cursor, `UIDVALIDITY:last UID`.
async fn imap_cursor(app: &TestApp) -> Option<String> {
    app.gateway
        .store()
        .read(|c| switchboard_core::store::queries::channel_state::get(c, "email", "imap_cursor"))
        .await
        .unwrap()
}

fn mail(n: usize) -> String {
    format!(
        "From: Customer {n} <customer{n}@example.com>\nTo: support@example.test\nSubject: question {n}\nDate: Sun, 22 Nov 2026 10:00:00 +0000\nMessage-ID: <q{n}@example.com>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nWhere is my deposit {n}?\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(all(postgres_tests, mail_tests)),
    ignore = "needs PostgreSQL and the mail servers: run under scripts/with-postgres scripts/with-mail"
)]
async fn one_node_reads_a_mailbox_and_another_takes_over() {
    let server = support::mail::MailServer::from_env();
    let user = server.fresh_user("nodes");
    for n in 0..10 {
        server.deliver(&user, mail(n).as_bytes());
    }
    let first = support::spawn_with(Backend::Postgres, &server.channel_config(&user, "all")).await;
    let second = first.another_node().await;
    wait_for_messages(&first, 10).await;
    for n in 10..20 {
        server.deliver(&user, mail(n).as_bytes());
    }
    wait_for_messages(&first, 20).await;
    let holder = first.cluster().await["pollers"]["poller:email"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = imap_cursor(&first).await;

    let (dead, alive) = if holder == first.gateway.node() {
        (first, second)
    } else {
        (second, first)
    };
    dead.crash();
    alive.clock.advance(Duration::from_secs(3));
    for n in 20..30 {
        server.deliver(&user, mail(n).as_bytes());
    }
    wait_for_messages(&alive, 30).await;
    assert_eq!(distinct_messages(&alive).await, (30, 30), "each mail once");
    assert_eq!(
        alive.cluster().await["pollers"]["poller:email"],
        alive.gateway.node()
    );
    // The cursor moved on from where the dead node left it, never back.
    let last = |value: Option<String>| -> u32 {
        value.unwrap().rsplit_once(':').unwrap().1.parse().unwrap()
    };
    let after = imap_cursor(&alive).await;
    assert!(
        last(after.clone()) >= last(before.clone()),
        "{before:?} then {after:?}"
    );
    assert_eq!(last(after), 30);
    alive.stop().await;
}
