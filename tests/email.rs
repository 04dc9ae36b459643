//! The email channel end to end, against a real Dovecot (IMAP) and a real SMTP server
//! that delivers into the Maildirs Dovecot serves (both started by scripts/with-mail):
//! mail in through IDLE, replies out and read back with their threading headers,
//! answers from real-shaped clients threaded or not, bounces, SMTP refusals, restarts,
//! dropped connections and a changed UIDVALIDITY.

mod support;

use std::time::{Duration, Instant};

use support::Backend;
use support::mail::{MailServer, header};

const DOMAIN: &str = "example.test";

struct Mailboxes {
    server: MailServer,
    /// The support mailbox the gateway reads.
    support: String,
}

impl Mailboxes {
    fn new() -> Mailboxes {
        let server = MailServer::from_env();
        let support = server.fresh_user("support");
        Mailboxes { server, support }
    }

    fn config(&self, initial_sync: &str) -> String {
        self.server.channel_config(&self.support, initial_sync)
    }

    fn deliver(&self, raw: &str) {
        self.server
            .deliver(&self.support, raw.replace('\n', "\r\n").as_bytes());
    }
}

/// A customer's mail as a client writes it.
fn mail(from: &str, message_id: &str, subject: &str, headers: &str, body: &str) -> String {
    format!(
        "From: Ana Lima <{from}>\nTo: support@{DOMAIN}\nSubject: {subject}\nDate: Sun, 22 Nov 2026 10:00:00 +0000\nMessage-ID: <{message_id}>\n{headers}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn mail_becomes_a_ticket_and_the_reply_threads_in_the_customers_client() {
    let boxes = Mailboxes::new();
    let app = support::spawn_with(Backend::Sqlite, &boxes.config("new")).await;
    let customer = boxes.server.fresh_user("ana");
    let from = format!("{customer}@customer.example");

    // IDLE brings new mail in within seconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    boxes.deliver(&mail(
        &from,
        "first.1@customer.example",
        "Withdrawal stuck",
        "",
        "My withdrawal of 0.5 BTC has been pending since yesterday.",
    ));
    let (ticket, message) = app
        .wait_for_stored("email", "first.1@customer.example")
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        message["text"],
        "My withdrawal of 0.5 BTC has been pending since yesterday."
    );
    assert_eq!(ticket["subject"], "Withdrawal stuck");
    let reference = ticket["reference"].as_str().unwrap().to_owned();

    // The agent's reply goes out over SMTP and arrives threaded.
    let reply = app.reply(&reference, "It was credited a minute ago.").await;
    let reply_id = reply["message_id"].as_i64().unwrap();
    let sent = app.wait_for_delivery(&reference, reply_id, "sent").await;
    let delivered = boxes.server.wait_for_delivered(&customer, 1);
    let raw = &delivered[0];
    assert_eq!(
        header(raw, "Subject").unwrap(),
        format!("Re: Withdrawal stuck [#{reference}]")
    );
    assert_eq!(
        header(raw, "In-Reply-To").unwrap(),
        "<first.1@customer.example>"
    );
    assert_eq!(
        header(raw, "References").unwrap(),
        "<first.1@customer.example>"
    );
    let our_id = sent["external_id"].as_str().unwrap().to_owned();
    assert_eq!(header(raw, "Message-ID").unwrap(), format!("<{our_id}>"));
    assert!(our_id.ends_with(&format!("@{DOMAIN}")), "{our_id}");
    assert!(
        header(raw, "From")
            .unwrap()
            .contains(&format!("{}@{DOMAIN}", boxes.support)),
        "{:?}",
        header(raw, "From")
    );
    assert!(String::from_utf8_lossy(raw).contains("It was credited a minute ago."));

    // The customer answers from their client, quoting: same ticket, quote stripped.
    boxes.deliver(&mail(
        &from,
        "second.2@customer.example",
        &format!("Re: Withdrawal stuck [#{reference}]"),
        &format!("In-Reply-To: <{our_id}>\nReferences: <first.1@customer.example> <{our_id}>\n"),
        "Thanks, I see it now.\n\nOn Sun, 22 Nov 2026 at 10:05, Example Support <support@example.test> wrote:\n> It was credited a minute ago.\n",
    ));
    let (answer_ticket, answer) = app
        .wait_for_stored("email", "second.2@customer.example")
        .await;
    assert_eq!(answer_ticket["reference"], reference);
    assert_eq!(answer["text"], "Thanks, I see it now.");

    // Someone else answering the same thread (a forwarded mail, a newsletter) is not
    // this customer's ticket.
    let other = boxes.server.fresh_user("bruno");
    boxes.deliver(&mail(
        &format!("{other}@elsewhere.example"),
        "third.3@elsewhere.example",
        "Re: Withdrawal stuck",
        &format!("In-Reply-To: <{our_id}>\nReferences: <first.1@customer.example> <{our_id}>\n"),
        "I have the same problem.",
    ));
    let (other_ticket, _) = app
        .wait_for_stored("email", "third.3@elsewhere.example")
        .await;
    assert_ne!(other_ticket["reference"], reference);

    // A client that drops the headers: the reference in the subject still threads it.
    boxes.deliver(&mail(
        &from,
        "fourth.4@customer.example",
        &format!("RE: [#{reference}] one more question"),
        "Thread-Index: AdnK7zFk3s1Q2w8hR0mZ4u8a9b0c1Q==\n",
        "Can I withdraw again today?",
    ));
    let (fourth_ticket, _) = app
        .wait_for_stored("email", "fourth.4@customer.example")
        .await;
    assert_eq!(fourth_ticket["reference"], reference);
    app.stop().await;
}

/// One answer as a client writes it, and whether it belongs on the customer's ticket.
struct Answer {
    client: &'static str,
    from: &'static str,
    subject: &'static str,
    /// Threading headers; `{first}` is the customer's first mail, `{ours}` the
    /// gateway's reply, `{ref}` the ticket reference.
    headers: &'static str,
    same_ticket: bool,
}

/// Subjects carry the reference only where the case is about the subject: the
/// others show that their headers alone thread them.
const ANSWERS: &[Answer] = &[
    Answer {
        client: "Gmail: In-Reply-To and the whole References chain",
        from: "ana",
        subject: "Re: Withdrawal stuck",
        headers: "In-Reply-To: <{ours}>\nReferences: <{first}> <{ours}>\n",
        same_ticket: true,
    },
    Answer {
        client: "Thunderbird: References only, folded over two lines",
        from: "ana",
        subject: "Re: Withdrawal stuck",
        headers: "References: <{first}>\n <{ours}>\n",
        same_ticket: true,
    },
    Answer {
        client: "a web mailer: In-Reply-To only",
        from: "ana",
        subject: "Re: Withdrawal stuck",
        headers: "In-Reply-To: <{ours}>\n",
        same_ticket: true,
    },
    Answer {
        client: "Apple Mail: References naming only the reply it answers",
        from: "ana",
        subject: "Re: Withdrawal stuck",
        headers: "In-Reply-To: <{ours}>\nReferences: <{ours}>\n",
        same_ticket: true,
    },
    Answer {
        client: "Outlook: Thread-Index only, the reference in an upper-case RE: subject",
        from: "ana",
        subject: "RE: Withdrawal stuck [#{ref}]",
        headers: "Thread-Index: AQHZ8k3mQ2w8hR0mZ4u8a9b0c1Qx7g==\nThread-Topic: Withdrawal stuck\n",
        same_ticket: true,
    },
    Answer {
        client: "a forward to self: no headers, the reference in the subject",
        from: "ana",
        subject: "Fwd: [#{ref}] Withdrawal stuck",
        headers: "",
        same_ticket: true,
    },
    Answer {
        client: "the colleague the customer copied, answering all",
        from: "carla",
        subject: "Re: Withdrawal stuck",
        headers: "In-Reply-To: <{ours}>\nReferences: <{first}> <{ours}>\n",
        same_ticket: true,
    },
    Answer {
        client: "a stranger reusing the References chain (a forwarded newsletter)",
        from: "bruno",
        subject: "Re: Withdrawal stuck",
        headers: "In-Reply-To: <{ours}>\nReferences: <{first}> <{ours}>\n",
        same_ticket: false,
    },
    Answer {
        client: "the customer starting a new subject without threading headers",
        from: "ana",
        subject: "Deposit address",
        headers: "",
        same_ticket: false,
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn every_clients_answer_lands_on_the_right_ticket() {
    let boxes = Mailboxes::new();
    let app = support::spawn_with(Backend::Sqlite, &boxes.config("new")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let people: Vec<(&str, String)> = ["ana", "carla", "bruno"]
        .into_iter()
        .map(|name| {
            (
                name,
                format!("{}@customer.example", boxes.server.fresh_user(name)),
            )
        })
        .collect();
    let address = |name: &str| people.iter().find(|(n, _)| *n == name).unwrap().1.clone();

    boxes.deliver(&mail(
        &address("ana"),
        "first@customer.example",
        "Withdrawal stuck",
        &format!("Cc: Carla <{}>\n", address("carla")),
        "My withdrawal has been pending since yesterday.",
    ));
    let (ticket, _) = app.wait_for_stored("email", "first@customer.example").await;
    let reference = ticket["reference"].as_str().unwrap().to_owned();
    let reply = app.reply(&reference, "Looking into it.").await;
    let sent = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
        .await;
    let ours = sent["external_id"].as_str().unwrap().to_owned();

    for (n, answer) in ANSWERS.iter().enumerate() {
        let fill = |template: &str| {
            template
                .replace("{first}", "first@customer.example")
                .replace("{ours}", &ours)
                .replace("{ref}", &reference)
        };
        let message_id = format!("answer.{n}@customer.example");
        boxes.deliver(&mail(
            &address(answer.from),
            &message_id,
            &fill(answer.subject),
            &fill(answer.headers),
            &format!("Answer {n}."),
        ));
        let (got, message) = app.wait_for_stored("email", &message_id).await;
        assert_eq!(
            got["reference"] == reference.as_str(),
            answer.same_ticket,
            "{}: landed on {}",
            answer.client,
            got["reference"]
        );
        assert_eq!(message["text"], format!("Answer {n}."), "{}", answer.client);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn an_outlook_conversation_stays_on_one_ticket_without_threading_headers() {
    let boxes = Mailboxes::new();
    let app = support::spawn_with(Backend::Sqlite, &boxes.config("new")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let from = format!("{}@customer.example", boxes.server.fresh_user("priya"));
    // Outlook's Thread-Index: 22 bytes naming the conversation, then 5 more per
    // answer. Some Exchange setups send no In-Reply-To or References at all.
    let conversation = "AdnK7zFk3s1Q2w8hR0mZ4u8a9b0c1Q==";
    let answer = "AdnK7zFk3s1Q2w8hR0mZ4u8a9b0c1QAAJ4F1";
    boxes.deliver(&mail(
        &from,
        "o1@customer.example",
        "Withdrawal limits",
        &format!("Thread-Index: {conversation}\nThread-Topic: Withdrawal limits\n"),
        "What is my daily withdrawal limit?",
    ));
    let (first, _) = app.wait_for_stored("email", "o1@customer.example").await;
    boxes.deliver(&mail(
        &from,
        "o2@customer.example",
        "RE: Withdrawal limits",
        &format!("Thread-Index: {answer}\nThread-Topic: Withdrawal limits\n"),
        "And the monthly one?",
    ));
    let (second, _) = app.wait_for_stored("email", "o2@customer.example").await;
    assert_eq!(second["reference"], first["reference"]);
    // Another Outlook conversation from the same person is another ticket.
    boxes.deliver(&mail(
        &from,
        "o3@customer.example",
        "Tax statement",
        "Thread-Index: AdnL0a1b2c3d4e5f6a7b8c9d0e1f2A==\nThread-Topic: Tax statement\n",
        "Where do I find my tax statement?",
    ));
    let (third, _) = app.wait_for_stored("email", "o3@customer.example").await;
    assert_ne!(third["reference"], first["reference"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn a_bounce_fails_the_reply_and_smtp_refusals_are_mapped() {
    let boxes = Mailboxes::new();
    let app = support::spawn_with(Backend::Sqlite, &boxes.config("new")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A 550 at RCPT: permanent, with the server's words.
    let refused = boxes.server.fresh_user("reject-permanent");
    boxes.deliver(&mail(
        &format!("{refused}@customer.example"),
        "r1@customer.example",
        "Hello",
        "",
        "Please call me.",
    ));
    let (ticket, _) = app.wait_for_stored("email", "r1@customer.example").await;
    let reference = ticket["reference"].as_str().unwrap().to_owned();
    let reply = app.reply(&reference, "Sure.").await;
    let failed = app
        .wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "failed")
        .await;
    let reason = failed["failure_reason"].as_str().unwrap();
    assert!(reason.contains("550"), "{reason}");

    // Accepted by the server, then bounced back by the remote side.
    let customer = boxes.server.fresh_user("gone");
    boxes.deliver(&mail(
        &format!("{customer}@customer.example"),
        "b1@customer.example",
        "Account question",
        "",
        "Is my account verified?",
    ));
    let (ticket, _) = app.wait_for_stored("email", "b1@customer.example").await;
    let reference = ticket["reference"].as_str().unwrap().to_owned();
    let reply = app.reply(&reference, "Yes, since Monday.").await;
    let reply_id = reply["message_id"].as_i64().unwrap();
    let sent = app.wait_for_delivery(&reference, reply_id, "sent").await;
    let our_id = sent["external_id"].as_str().unwrap();
    let tickets_before = app.count("tickets").await;
    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\nTo: support@{DOMAIN}\nSubject: Undelivered Mail Returned to Sender\nDate: Sun, 22 Nov 2026 10:10:00 +0000\nMessage-ID: <dsn.1@mx.customer.example>\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.customer.example\n\nFinal-Recipient: rfc822; {customer}@customer.example\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <{customer}@customer.example>: Recipient address rejected: User unknown\n\n--b\nContent-Type: text/rfc822-headers\n\nFrom: Example Support <support@{DOMAIN}>\nTo: {customer}@customer.example\nSubject: Re: Account question [#{reference}]\nMessage-ID: <{our_id}>\n\n--b--\n"
    );
    boxes.deliver(&dsn);
    let failed = app.wait_for_delivery(&reference, reply_id, "failed").await;
    let reason = failed["failure_reason"].as_str().unwrap();
    assert!(reason.contains("User unknown"), "{reason}");
    assert_eq!(
        app.count("tickets").await,
        tickets_before,
        "a bounce opens no ticket"
    );
    app.stop().await;
}

/// A delivery status notification about `original` (a Message-ID) for `recipient`.
fn dsn(message_id: &str, recipient: &str, original: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\nTo: support@{DOMAIN}\nSubject: Undelivered Mail Returned to Sender\nDate: Sun, 22 Nov 2026 10:10:00 +0000\nMessage-ID: <{message_id}>\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.customer.example\n\nFinal-Recipient: rfc822; {recipient}\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--b\nContent-Type: text/rfc822-headers\n\nFrom: someone@customer.example\nTo: {recipient}\nSubject: Hello\nMessage-ID: <{original}>\n\n--b--\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn bounces_of_mail_never_sent_land_on_their_ticket_or_stay_out_of_the_queue() {
    let boxes = Mailboxes::new();
    let app = support::spawn_with(Backend::Sqlite, &boxes.config("new")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let customer = format!("{}@customer.example", boxes.server.fresh_user("ana"));
    boxes.deliver(&mail(
        &customer,
        "q1@customer.example",
        "Deposit",
        "",
        "Where is it?",
    ));
    let (ticket, _) = app.wait_for_stored("email", "q1@customer.example").await;

    // Returns the customer's own mail (sent to the support address and to someone
    // who is gone): it concerns that ticket, and lands there without reopening it.
    boxes.deliver(&dsn(
        "dsn.a@mx.customer.example",
        "gone@customer.example",
        "q1@customer.example",
    ));
    let (landed, message) = app
        .wait_for_stored("email", "dsn.a@mx.customer.example")
        .await;
    assert_eq!(landed["id"], ticket["id"]);
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("could not be delivered")
    );

    // Backscatter: a bounce of mail with a forged support From, matching nothing.
    boxes.deliver(&dsn(
        "dsn.b@mx.customer.example",
        "victim@customer.example",
        "forged.1@spam.example",
    ));
    let (filtered, _) = app
        .wait_for_stored("email", "dsn.b@mx.customer.example")
        .await;
    assert_eq!(filtered["status"], "filtered");
    let (_, queue) = app.get("/api/v1/tickets", support::ADMIN_TOKEN).await;
    let ids: Vec<&serde_json::Value> = queue["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(
        ids,
        vec![&ticket["id"]],
        "the queue holds only the customer's ticket"
    );
    let (_, aside) = app
        .get("/api/v1/tickets?status=filtered", support::ADMIN_TOKEN)
        .await;
    assert_eq!(aside["tickets"][0]["id"], filtered["id"]);
    app.stop().await;
}

/// More files than a message may carry: the mail is taken with as many as fit and a
/// note, not refused (which would hold up every mail after it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn a_mail_with_too_many_files_is_taken_with_those_that_fit() {
    let boxes = Mailboxes::new();
    let app = support::spawn_with(
        Backend::Sqlite,
        &format!(
            "[attachments]\nmax_per_message = 3\n{}",
            boxes.config("new")
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let files: String = (0..5)
        .map(|n| {
            format!(
                "--b\nContent-Type: text/plain; name=\"f{n}.txt\"\nContent-Disposition: attachment; filename=\"f{n}.txt\"\n\nfile {n}\n"
            )
        })
        .collect();
    boxes.deliver(&format!(
        "From: Ana Lima <ana@customer.example>\nTo: support@{DOMAIN}\nSubject: Statements\nDate: Sun, 22 Nov 2026 10:00:00 +0000\nMessage-ID: <many.files@customer.example>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nFive statements attached.\n{files}--b--\n"
    ));
    boxes.deliver(&mail(
        "ana@customer.example",
        "after.files@customer.example",
        "And",
        "",
        "The next mail still comes.",
    ));
    let (_, stored) = app
        .wait_for_stored("email", "many.files@customer.example")
        .await;
    assert_eq!(
        stored["attachments"].as_array().unwrap().len(),
        3,
        "{stored}"
    );
    assert!(
        stored["text"]
            .as_str()
            .unwrap()
            .contains("[2 more attachments stay in the mailbox"),
        "{stored}"
    );
    app.wait_for_stored("email", "after.files@customer.example")
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn encoded_names_never_choose_the_sender_and_no_mail_is_dropped() {
    let boxes = Mailboxes::new();
    let app = support::spawn_with(Backend::Sqlite, &boxes.config("new")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let raw = |from: &str, extra: &str, id: &str| {
        format!(
            "From: {from}\n{extra}To: support@{DOMAIN}\nSubject: Hello\nDate: Sun, 22 Nov 2026 10:00:00 +0000\nMessage-ID: <{id}>\nContent-Type: text/plain; charset=utf-8\n\nHello.\n"
        )
    };
    // (From, other fields, the identity filed, the contact's name, ticket status)
    #[rustfmt::skip]
    let cases = [
        ("=?UTF-8?B?QW5hIDxjZW9AZXhhbXBsZS5jb20+LA==?= <attacker@evil.example>", "", "attacker@evil.example", "Ana <ceo@example.com>,", "new"),
        ("=?UTF-8?B?PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==?= eve@example.org", "", "eve@example.org", "<script>alert(1)</script>", "new"),
        // No address in From: the envelope sender the server recorded.
        ("=?UTF-8?B?PHZpY3RpbUBleGFtcGxlLmNvbT4=?=", "Return-Path: <real.sender@customer.example>\n", "real.sender@customer.example", "", "new"),
        // No address anywhere: kept, unreachable, out of the queue.
        ("=?UTF-8?B?PHZpY3RpbUBleGFtcGxlLmNvbT4=?=", "", "no-address@sender.invalid", "", "filtered"),
    ];
    for (n, (from, extra, identity, name, status)) in cases.into_iter().enumerate() {
        let id = format!("spoof.{n}@customer.example");
        boxes.deliver(&raw(from, extra, &id));
        let (ticket, _) = app.wait_for_stored("email", &id).await;
        let detail = app.ticket(ticket["reference"].as_str().unwrap()).await;
        let contact = &detail["contact"];
        assert_eq!(
            contact["identities"].as_array().unwrap().len(),
            1,
            "{from}: {contact}"
        );
        assert_eq!(contact["identities"][0]["address"], identity, "{from}");
        assert_eq!(contact["name"].as_str().unwrap_or(""), name, "{from}");
        assert_eq!(ticket["status"], status, "{from}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn restarts_dropped_connections_and_a_new_uidvalidity_lose_and_repeat_nothing() {
    let boxes = Mailboxes::new();
    // Mail that was there before the channel existed, imported by `all`.
    for n in 0..5 {
        boxes.deliver(&mail(
            &format!("early{n}@customer.example"),
            &format!("early.{n}@customer.example"),
            "Old question",
            "",
            "Before the gateway.",
        ));
    }
    let app = support::spawn_with(Backend::Sqlite, &boxes.config("all")).await;
    app.wait_for_stored("email", "early.4@customer.example")
        .await;
    assert_eq!(app.count("messages").await, 5);

    // Down for a while: what arrives meanwhile is fetched after the restart.
    let app = app
        .restart(|| {
            for n in 0..5 {
                boxes.deliver(&mail(
                    &format!("late{n}@customer.example"),
                    &format!("late.{n}@customer.example"),
                    "While down",
                    "",
                    "Arrived during the outage.",
                ));
            }
        })
        .await;
    app.wait_for_stored("email", "late.4@customer.example")
        .await;
    assert_eq!(app.count("messages").await, 10);

    // The server drops the connection: the gateway reconnects and goes on.
    assert!(
        boxes.server.kick(&boxes.support),
        "the gateway was connected"
    );
    boxes.deliver(&mail(
        "kicked@customer.example",
        "after.kick@customer.example",
        "After the drop",
        "",
        "Still there?",
    ));
    app.wait_for_stored("email", "after.kick@customer.example")
        .await;

    // A new UIDVALIDITY voids the cursor: everything is scanned again, nothing stored
    // twice, and new mail still comes in.
    boxes.server.change_uidvalidity(&boxes.support);
    boxes.deliver(&mail(
        "fresh@customer.example",
        "after.validity@customer.example",
        "After the change",
        "",
        "New mail.",
    ));
    app.wait_for_stored("email", "after.validity@customer.example")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.count("messages").await, 12, "each message once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn the_whole_corpus_imports_through_imap() {
    let boxes = Mailboxes::new();
    // The corpus's own mail (and the messages its bounces return) is on this domain.
    let config = boxes.config("all").replacen(
        "display_name = \"Example Support\"",
        "display_name = \"Example Support\"\nmessage_id_domain = \"support.example.com\"\nown_list_ids = [\"support.support.example.com\"]",
        1,
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/email");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{} corpus files", files.len());
    for file in &files {
        boxes
            .server
            .deliver(&boxes.support, &std::fs::read(file).unwrap());
    }
    let app = support::spawn_with(Backend::Sqlite, &config).await;
    // Everything but the two delivery reports about the gateway's own mail.
    let expected = files.len() as i64 - 2;
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.count("messages").await < expected {
        assert!(
            Instant::now() < deadline,
            "{} of {expected} imported",
            app.count("messages").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.count("messages").await, expected);
    let rows = app
        .gateway
        .store()
        .read(|c| {
            c.query(
                "SELECT external_id, automatic, body FROM messages ORDER BY id",
                &[],
            )
        })
        .await
        .unwrap();
    let automatic = rows.iter().filter(|r| r.bool(1).unwrap()).count();
    assert_eq!(automatic, 3, "out-of-office, mailing list, autoresponder");
    // Through the support address's own Google Group: the customer's, from the
    // customer in Reply-To rather than the group the From was rewritten to.
    let (ticket, message) = app
        .wait_for_stored("email", "8c1f0e2a-7b3d-4e5f-9a6b-1c2d3e4f5a6b@bank.example")
        .await;
    assert_eq!(message["automatic"], false);
    let group_mail = app.ticket(ticket["reference"].as_str().unwrap()).await;
    assert_eq!(
        group_mail["contact"]["identities"][0]["address"], "mei.tanaka@bank.example",
        "{group_mail}"
    );
    assert_eq!(group_mail["contact"]["name"], "Mei Tanaka");

    // Formatted mail is served for the inbox's sandboxed frame: sanitized, and under
    // a policy that runs nothing and loads nothing from outside.
    let (_, hostile) = app
        .wait_for_stored("email", "form-5521-1772630055@shop.example.com")
        .await;
    let body = app
        .http
        .get(format!(
            "{}/api/v1/messages/{}/html",
            app.url, hostile["id"]
        ))
        .bearer_auth(support::AGENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(body.status(), 200);
    let policy = body.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("default-src 'none'") && policy.ends_with("sandbox"),
        "{policy}"
    );
    let html = body.text().await.unwrap();
    assert!(html.contains("view order"), "{html}");
    for hostile in ["<script", "javascript:", "onmouseover", "evil.example"] {
        assert!(!html.contains(hostile), "{hostile} in {html}");
    }
    let (status, plain) = app
        .get(
            &format!("/api/v1/messages/{}/html", message["id"]),
            support::AGENT_TOKEN,
        )
        .await;
    assert_eq!(status, 404, "plain mail has no formatted body: {plain}");
    for row in &rows {
        let body = row.string(2).unwrap();
        assert!(
            !body.trim().is_empty(),
            "{:?} has no text",
            row.opt_string(0)
        );
        assert!(
            !body.contains('\u{fffd}'),
            "{:?} is mis-decoded: {body}",
            row.opt_string(0)
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(mail_tests),
    ignore = "needs the mail servers: scripts/with-mail starts them"
)]
async fn tls_and_starttls_connections_check_the_servers_certificate() {
    let boxes = Mailboxes::new();
    let ca = boxes.server.ca_path().display().to_string();
    let imaps_port = boxes
        .server
        .imaps_addr()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_owned();
    let imap_port = boxes
        .server
        .imap_addr()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_owned();
    let plain = boxes.config("all");
    for (tls, port) in [("implicit", imaps_port), ("starttls", imap_port.clone())] {
        let customer = boxes.server.fresh_user(&format!("tls-{tls}"));
        let id = format!("{tls}.1@customer.example");
        boxes.deliver(&mail(
            &format!("{customer}@customer.example"),
            &id,
            "Over TLS",
            "",
            "Hello",
        ));
        // IMAP over TLS (as configured), SMTP with STARTTLS, both trusting the test CA.
        let config = plain
            .replacen(
                "tls = \"none\"",
                &format!("tls = \"{tls}\"\nca_file = {ca:?}"),
                1,
            )
            .replacen(&format!("port = {imap_port}"), &format!("port = {port}"), 1)
            .replacen("host = \"127.0.0.1\"", "host = \"localhost\"", 1)
            .replacen(
                "tls = \"none\"",
                &format!("tls = \"starttls\"\nca_file = {ca:?}"),
                1,
            )
            .replacen("host = \"127.0.0.1\"", "host = \"localhost\"", 1);
        let app = support::spawn_with(Backend::Sqlite, &config).await;
        let (ticket, _) = app.wait_for_stored("email", &id).await;
        let reference = ticket["reference"].as_str().unwrap().to_owned();
        let reply = app.reply(&reference, "Answer over TLS").await;
        app.wait_for_delivery(&reference, reply["message_id"].as_i64().unwrap(), "sent")
            .await;
        assert_eq!(boxes.server.wait_for_delivered(&customer, 1).len(), 1);
        app.stop().await;
    }

    // Without the CA the certificate is not trusted: nothing is imported, and the
    // channel says why.
    let customer = boxes.server.fresh_user("untrusted");
    let id = "untrusted.1@customer.example";
    boxes.deliver(&mail(
        &format!("{customer}@customer.example"),
        id,
        "Untrusted",
        "",
        "Hi",
    ));
    let config = plain
        .replacen("tls = \"none\"", "tls = \"starttls\"", 1)
        .replacen("host = \"127.0.0.1\"", "host = \"localhost\"", 1);
    let app = support::spawn_with(Backend::Sqlite, &config).await;
    let problem = app.wait_for_channel_problem("email").await;
    assert!(problem.contains("TLS"), "{problem}");
    assert!(app.stored("email", id).await.is_none());
    app.stop().await;
}
