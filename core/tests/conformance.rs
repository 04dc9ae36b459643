//! The store conformance suite: the same cases against SQLite and PostgreSQL, through
//! the core's public API (ingest, threading, agent actions, outbox, delivery).
//! PostgreSQL cases are ignored, with the reason, unless SWITCHBOARD_TEST_POSTGRES_URL
//! names a server (scripts/with-postgres starts one).

use std::sync::Arc;

use std::time::Duration;
use switchboard_core::access::{Actor, Scope};

use switchboard_core::connector::{DeliveryUpdate, Inbound, Sender, ThreadHint};
use switchboard_core::gateway::{ChannelContext, Gateway, GatewayConfig};
use switchboard_core::store::queries::{messages, outbox, tickets};
use switchboard_core::store::{Store, testing};
use switchboard_core::{
    ChannelId, DeliveryStatus, Direction, Identity, IdentityKind, ManualClock, TicketStatus,
};

struct Fixture {
    gateway: Gateway,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new(store: Store, dir: tempfile::TempDir) -> Fixture {
        let clock = ManualClock::new();
        let config = GatewayConfig {
            reopen_window: Duration::from_secs(3600),
            ..GatewayConfig::default()
        };
        let channels = ["api", "sms", "whatsapp"].map(|c| ChannelId::parse(c).unwrap());
        let gateway = Gateway::new(
            store,
            switchboard_core::blobs::BlobStore::new(dir.path().join("attachments")),
            Arc::new(clock.clone()),
            config,
            channels,
        );
        Fixture {
            gateway,
            clock,
            _dir: dir,
        }
    }

    fn channel(&self, id: &str) -> ChannelContext {
        self.gateway.channel_context(ChannelId::parse(id).unwrap())
    }

    fn store(&self) -> &Store {
        self.gateway.store()
    }

    async fn claim(
        &self,
        token: &str,
        at: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Vec<outbox::OutboxEntry> {
        let token = token.to_owned();
        self.store()
            .write(move |c| outbox::claim_due(c, &token, at, lease_ms, limit))
            .await
            .unwrap()
    }

    async fn mark_sent(
        &self,
        entry: &outbox::OutboxEntry,
        external_id: Option<&str>,
        at: i64,
    ) -> bool {
        let entry = entry.clone();
        let receipt = switchboard_core::connector::Receipt {
            external_id: external_id.map(str::to_owned),
            segments: None,
        };
        self.store()
            .write(move |c| outbox::mark_sent(c, &entry, &receipt, at))
            .await
            .unwrap()
            != outbox::Marked::ClaimLost
    }
}

fn message(external_id: &str, sender: &str, conversation: &str, text: &str) -> Inbound {
    Inbound {
        external_id: external_id.into(),
        sender: Sender {
            identity: Identity::api("api", sender).unwrap(),
            display_name: Some(format!("Customer {sender}")),
            reachable: false,
        },
        conversation: conversation.into(),
        thread: ThreadHint::default(),
        subject: None,
        text: text.into(),
        html: None,
        attachments: Vec::new(),
        automatic: false,
        edit_of: None,
        group: None,
        participants: Vec::new(),
        reply_by: None,
    }
}

async fn ingest_one(
    channel: &ChannelContext,
    inbound: Inbound,
) -> switchboard_core::ingest::IngestOutcome {
    channel.ingest(vec![inbound]).await.unwrap().remove(0)
}

async fn first_message_becomes_a_ticket_and_the_next_threads_into_it(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(
        &api,
        message("m1", "ana", "conv-1", "My withdrawal is stuck"),
    )
    .await;
    assert!(first.created_ticket && !first.duplicate);
    assert!(first.ticket_reference.starts_with("SB-") && first.ticket_reference.len() == 9);
    let second = ingest_one(&api, message("m2", "ana", "conv-1", "Any news?")).await;
    assert_eq!(second.ticket_id, first.ticket_id);
    assert!(!second.created_ticket);
    let other = ingest_one(&api, message("m3", "bob", "conv-2", "Hello")).await;
    assert_ne!(other.ticket_id, first.ticket_id);

    let id = first.ticket_id;
    let (ticket, msgs) = f
        .store()
        .read(move |c| Ok((tickets::get(c, id)?, messages::for_ticket(c, id)?)))
        .await
        .unwrap();
    assert_eq!(ticket.status, TicketStatus::New);
    assert_eq!(ticket.subject.as_deref(), Some("My withdrawal is stuck"));
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].author, "Customer ana");
    assert_eq!(msgs[1].text, "Any news?");
}

async fn duplicates_are_stored_once(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("dup", "ana", "conv-1", "Hi")).await;
    let again = ingest_one(&api, message("dup", "ana", "conv-1", "Hi")).await;
    assert!(again.duplicate);
    assert_eq!(
        (again.message_id, again.ticket_id),
        (first.message_id, first.ticket_id)
    );
    // The same id within one batch, and on another channel (a different message).
    let batch = api
        .ingest(vec![
            message("dup2", "ana", "conv-1", "a"),
            message("dup2", "ana", "conv-1", "a"),
        ])
        .await
        .unwrap();
    assert!(!batch[0].duplicate && batch[1].duplicate);
    let sms = f.channel("sms");
    assert!(
        !ingest_one(&sms, message("dup", "ana", "conv-1", "Hi"))
            .await
            .duplicate
    );
    let id = first.ticket_id;
    let count = f
        .store()
        .read(move |c| messages::for_ticket(c, id))
        .await
        .unwrap()
        .len();
    assert_eq!(count, 2);
}

async fn concurrent_ingest_stores_every_message_once(f: Fixture) {
    let api = f.channel("api");
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for n in 0..25 {
                // Every message twice, from two workers, over 8 conversations.
                let id = format!("c-{}", (worker / 2) * 100 + n);
                let conv = format!("conv-{}", n % 8);
                outcomes.push(
                    ingest_one(&api, message(&id, &format!("s{}", n % 8), &conv, "hi")).await,
                );
            }
            outcomes
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let fresh = all.iter().filter(|o| !o.duplicate).count();
    assert_eq!(fresh, 200);
    let stored = f
        .store()
        .read(|c| {
            c.query(
                "SELECT COUNT(*), COUNT(DISTINCT ticket_id) FROM messages",
                &[],
            )
        })
        .await
        .unwrap();
    assert_eq!(stored[0].i64(0).unwrap(), 200);
    assert_eq!(stored[0].i64(1).unwrap(), 8, "one ticket per conversation");
}

async fn one_phone_is_one_contact_across_sms_and_whatsapp(f: Fixture) {
    let mut sms = message("SM1", "x", "+16505551234", "Hi by SMS");
    sms.sender.identity = Identity::phone("+1 650 555 1234").unwrap();
    let mut wa = message("wamid.1", "x", "16505551234", "Hi by WhatsApp");
    wa.sender.identity = Identity::phone("16505551234").unwrap();
    let a = ingest_one(&f.channel("sms"), sms).await;
    let b = ingest_one(&f.channel("whatsapp"), wa).await;
    let (ta, tb) = (a.ticket_id, b.ticket_id);
    let (x, y) = f
        .store()
        .read(move |c| Ok((tickets::get(c, ta)?, tickets::get(c, tb)?)))
        .await
        .unwrap();
    assert_eq!(x.contact_id, y.contact_id);
    let contact_id = x.contact_id;
    let contact = f
        .store()
        .read(move |c| switchboard_core::store::queries::contacts::get(c, contact_id, &Scope::All))
        .await
        .unwrap();
    assert_eq!(contact.identities.len(), 1);
    assert_eq!(contact.identities[0].identity.kind, IdentityKind::Phone);
    assert_eq!(contact.identities[0].identity.address, "+16505551234");
}

async fn resolved_ticket_reopens_within_the_window_and_links_after(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("r1", "ana", "conv-1", "Help")).await;
    let resolve = || tickets::TicketPatch {
        status: Some(TicketStatus::Resolved),
        ..Default::default()
    };
    f.gateway
        .update_ticket(
            &first.ticket_reference,
            &Actor::unrestricted("Ada"),
            resolve(),
        )
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(1800));
    let reopened = ingest_one(&api, message("r2", "ana", "conv-1", "Still broken")).await;
    assert_eq!(reopened.ticket_id, first.ticket_id);
    assert!(reopened.reopened);
    let id = first.ticket_id;
    let ticket = f.store().read(move |c| tickets::get(c, id)).await.unwrap();
    assert_eq!(ticket.status, TicketStatus::Open);
    assert_eq!(ticket.resolved_at, None);

    f.gateway
        .update_ticket(&id.to_string(), &Actor::unrestricted("Ada"), resolve())
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(3601));
    let later = ingest_one(&api, message("r3", "ana", "conv-1", "New problem")).await;
    assert!(later.created_ticket);
    let later_id = later.ticket_id;
    let new_ticket = f
        .store()
        .read(move |c| tickets::get(c, later_id))
        .await
        .unwrap();
    assert_eq!(new_ticket.previous_ticket_id, Some(first.ticket_id));

    // A closed ticket never reopens, even inside the window.
    f.gateway
        .update_ticket(
            &later_id.to_string(),
            &Actor::unrestricted("Ada"),
            tickets::TicketPatch {
                status: Some(TicketStatus::Closed),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let after_close = ingest_one(&api, message("r4", "ana", "conv-1", "Thanks")).await;
    assert!(after_close.created_ticket);
}

async fn automatic_messages_never_reopen(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("a1", "ana", "conv-1", "Help")).await;
    f.gateway
        .update_ticket(
            &first.ticket_reference,
            &Actor::unrestricted("Ada"),
            tickets::TicketPatch {
                status: Some(TicketStatus::Resolved),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut auto = message("a2", "ana", "conv-1", "I am out of office");
    auto.automatic = true;
    let outcome = ingest_one(&api, auto).await;
    assert_eq!(outcome.ticket_id, first.ticket_id);
    assert!(!outcome.reopened);
    let id = first.ticket_id;
    let ticket = f.store().read(move |c| tickets::get(c, id)).await.unwrap();
    assert_eq!(ticket.status, TicketStatus::Resolved);
}

async fn reference_in_text_threads_across_conversations(f: Fixture) {
    let first = ingest_one(&f.channel("api"), message("x1", "ana", "conv-1", "Help")).await;
    let text = format!(
        "About ticket {} again",
        first.ticket_reference.to_lowercase()
    );
    let by_sms = ingest_one(
        &f.channel("sms"),
        message("x2", "ana", "+4479460958", &text),
    )
    .await;
    assert_eq!(by_sms.ticket_id, first.ticket_id);
}

async fn header_matches_need_a_sender_who_belongs(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("<a@mail>", "ana", "ana@x", "Question")).await;
    let mut reply = message("<b@mail>", "ana", "ana@x-other-thread", "Answer to it");
    reply.thread.references = vec!["<a@mail>".into()];
    assert_eq!(ingest_one(&api, reply).await.ticket_id, first.ticket_id);
    // Someone else quoting the same Message-ID (a newsletter everybody answers).
    let mut stranger = message("<c@mail>", "eve", "eve@x", "Me too");
    stranger.thread.references = vec!["<a@mail>".into()];
    let outcome = ingest_one(&api, stranger).await;
    assert_ne!(outcome.ticket_id, first.ticket_id);
    assert!(outcome.created_ticket);
}

/// A message with these References/In-Reply-To ids, the conversation's root first.
fn threaded(external_id: &str, sender: &str, references: &[&str], text: &str) -> Inbound {
    let mut item = message(
        external_id,
        sender,
        &format!("{sender}@x#{external_id}"),
        text,
    );
    item.thread.references = references.iter().map(|id| id.to_string()).collect();
    item
}

async fn status_of(f: &Fixture, id: i64) -> TicketStatus {
    f.store()
        .read(move |c| tickets::get(c, id))
        .await
        .unwrap()
        .status
}

async fn the_conversations_root_wins_and_continuations_are_followed(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, threaded("<r@m>", "ana", &[], "My deposit")).await;
    f.gateway
        .update_ticket(
            &first.ticket_reference,
            &Actor::unrestricted("Ada"),
            tickets::TicketPatch {
                status: Some(TicketStatus::Resolved),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(3601));
    // After the reopen window the conversation goes on in a new, linked ticket.
    let second = ingest_one(&api, threaded("<s@m>", "ana", &["<r@m>"], "Again")).await;
    assert!(second.created_ticket);
    // Answering the first ticket's message again (another device, an old window)
    // keeps to the ticket that continues it instead of splitting a third time.
    let old = ingest_one(&api, threaded("<t@m>", "ana", &["<r@m>"], "And")).await;
    assert_eq!(old.ticket_id, second.ticket_id);
    assert!(!old.created_ticket);
    // In-Reply-To into the continuation, References from the root: the same.
    let both = ingest_one(&api, threaded("<u@m>", "ana", &["<r@m>", "<s@m>"], "So")).await;
    assert_eq!(both.ticket_id, second.ticket_id);

    // The root wins over the message answered when the sender belongs to both.
    let other = ingest_one(&api, threaded("<o@m>", "ana", &[], "Other question")).await;
    assert_ne!(other.ticket_id, second.ticket_id);
    let mixed = ingest_one(&api, threaded("<v@m>", "ana", &["<s@m>", "<o@m>"], "Hm")).await;
    assert_eq!(mixed.ticket_id, second.ticket_id);

    // A stranger reusing the chain still starts a ticket of their own.
    let stranger = ingest_one(&api, threaded("<w@m>", "eve", &["<r@m>", "<s@m>"], "Me")).await;
    assert!(stranger.created_ticket);
}

async fn automatic_mail_lands_on_its_ticket_or_stays_out_of_the_queue(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, threaded("<q@m>", "ana", &[], "Withdrawal")).await;
    // A bounce from the mail system about a message of the ticket: on that ticket.
    let mut bounce = threaded("<dsn1@mx>", "mailer-daemon", &["<q@m>"], "Undeliverable");
    bounce.automatic = true;
    let landed = ingest_one(&api, bounce).await;
    assert_eq!(landed.ticket_id, first.ticket_id);
    assert!(!landed.created_ticket);

    // Automatic mail that concerns no ticket is kept, filtered out of the queue.
    let mut stray = threaded(
        "<dsn2@mx>",
        "mailer-daemon",
        &["<never@sent>"],
        "Undeliverable",
    );
    stray.automatic = true;
    let filtered = ingest_one(&api, stray).await;
    assert!(filtered.created_ticket);
    assert_eq!(
        status_of(&f, filtered.ticket_id).await,
        TicketStatus::Filtered
    );
    let list = |status| {
        let filter = tickets::TicketFilter {
            status,
            limit: 50,
            ..Default::default()
        };
        f.store().read(move |c| tickets::list(c, &filter))
    };
    let queue: Vec<i64> = list(None).await.unwrap().0.iter().map(|t| t.id).collect();
    assert_eq!(queue, vec![first.ticket_id]);
    let aside = list(Some(TicketStatus::Filtered)).await.unwrap().0;
    assert_eq!(aside.len(), 1);
    assert_eq!(aside[0].id, filtered.ticket_id);

    // More automatic mail in that conversation stays aside; a person writing brings
    // the ticket into the queue.
    let conversation = "mailer-daemon@x#<dsn2@mx>";
    let mut again = message(
        "<dsn3@mx>",
        "mailer-daemon",
        conversation,
        "Still undeliverable",
    );
    again.automatic = true;
    assert_eq!(ingest_one(&api, again).await.ticket_id, filtered.ticket_id);
    assert_eq!(
        status_of(&f, filtered.ticket_id).await,
        TicketStatus::Filtered
    );
    let person = ingest_one(
        &api,
        message(
            "<p@mx>",
            "mailer-daemon",
            conversation,
            "Hi, postmaster here",
        ),
    )
    .await;
    assert_eq!(person.ticket_id, filtered.ticket_id);
    assert!(!person.reopened);
    assert_eq!(status_of(&f, filtered.ticket_id).await, TicketStatus::New);
}

async fn copied_people_become_participants_whose_answers_thread(f: Fixture) {
    let api = f.channel("api");
    let mut first = message("<p1@mail>", "ana", "ana@x", "Question for you and Bruno");
    first.participants = vec![
        Sender {
            identity: Identity::api("api", "bruno").unwrap(),
            display_name: Some("Bru\0no".into()),
            reachable: false,
        },
        // An address no store can hold: left out, the message still taken.
        Sender {
            identity: Identity {
                kind: switchboard_core::IdentityKind::Api,
                address: "api:car\u{1}la".into(),
            },
            display_name: None,
            reachable: false,
        },
    ];
    let first = ingest_one(&api, first).await;
    let mut answer = message("<p2@mail>", "bruno", "bruno@x", "I agree with Ana");
    answer.thread.references = vec!["<p1@mail>".into()];
    assert_eq!(ingest_one(&api, answer).await.ticket_id, first.ticket_id);
    let id = first.ticket_id;
    let count = f
        .store()
        .read(move |c| {
            c.query(
                "SELECT COUNT(*) FROM participants WHERE ticket_id = $1",
                &[switchboard_core::store::Value::from(id)],
            )
        })
        .await
        .unwrap();
    assert_eq!(count[0].i64(0).unwrap(), 1);
}

async fn reply_to_threads_within_its_conversation(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("q1", "ana", "group-1", "Question one")).await;
    f.gateway
        .update_ticket(
            &first.ticket_reference,
            &Actor::unrestricted("Ada"),
            tickets::TicketPatch {
                status: Some(TicketStatus::Closed),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let second = ingest_one(&api, message("q2", "ana", "group-1", "Question two")).await;
    assert!(second.created_ticket);
    // Replying to the first message's id in another conversation does not match.
    let mut elsewhere = message("q3", "ana", "group-2", "re");
    elsewhere.thread.reply_to = Some("q1".into());
    assert!(ingest_one(&api, elsewhere).await.created_ticket);
}

async fn reply_queues_one_outbox_entry_claimed_once(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("o1", "ana", "conv-1", "Help")).await;
    let reply = f
        .gateway
        .reply(
            &first.ticket_reference,
            &Actor::unrestricted("Agent Smith"),
            "On it".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(reply.direction, Direction::Outbound);
    assert_eq!(reply.delivery_status, Some(DeliveryStatus::Queued));
    let now = f.gateway.now().0;
    let claimed = f.claim("claim-a", now, 60_000, 10).await;
    assert_eq!(claimed.len(), 1);
    let again = f.claim("claim-b", now, 60_000, 10).await;
    assert!(again.is_empty(), "a claimed entry is not claimed twice");
    let thread = f
        .store()
        .read(move |c| {
            let message = messages::get(c, reply.id)?;
            outbox::thread_context(c, &message)
        })
        .await
        .unwrap();
    assert_eq!(thread.reply_to.as_deref(), Some("o1"));
    assert_eq!(thread.conversation, "conv-1");
    assert_eq!(thread.recipient, Some(Identity::api("api", "ana").unwrap()));
    assert!(f.mark_sent(&claimed[0], Some("cb-1"), now).await);
    // After the lease would have run out, a sent entry is still never claimed again.
    let later = now + 3_600_000;
    let after = f.claim("claim-c", later, 60_000, 10).await;
    assert!(after.is_empty());
    let ticket_id = first.ticket_id;
    let ticket = f
        .store()
        .read(move |c| tickets::get(c, ticket_id))
        .await
        .unwrap();
    assert_eq!(
        ticket.status,
        TicketStatus::Open,
        "answering a new ticket opens it"
    );
}

async fn expired_claims_are_taken_over_and_the_old_claim_cannot_record(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("e1", "ana", "conv-1", "Help")).await;
    f.gateway
        .reply(
            &first.ticket_reference,
            &Actor::unrestricted("A"),
            "Hi".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    let now = f.gateway.now().0;
    let stale = f.claim("dead", now, 1_000, 10).await;
    let later = now + 2_000;
    let taken = f.claim("alive", later, 60_000, 10).await;
    assert_eq!(taken.len(), 1);
    assert!(!f.mark_sent(&stale[0], None, later).await);
    assert!(f.mark_sent(&taken[0], None, later).await);
}

async fn concurrent_claims_never_overlap(f: Fixture) {
    let api = f.channel("api");
    for n in 0..40 {
        let conversation = format!("conv-{n}");
        let first = ingest_one(
            &api,
            message(&format!("p{n}"), "ana", &conversation, "Help"),
        )
        .await;
        f.gateway
            .reply(
                &first.ticket_reference,
                &Actor::unrestricted("A"),
                format!("reply {n}"),
                Vec::new(),
            )
            .await
            .unwrap();
    }
    let now = f.gateway.now().0;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = f.store().clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claim = format!("w{worker}");
                let got = store
                    .write(move |c| outbox::claim_due(c, &claim, now, 60_000, 3))
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|e| e.id));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    let total = all.len();
    all.dedup();
    assert_eq!((total, all.len()), (40, 40));
}

async fn replies_to_one_conversation_go_out_in_order(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("ord1", "ana", "conv-1", "Help")).await;
    let other = ingest_one(&api, message("ord2", "bob", "conv-2", "Help")).await;
    let mut replies = Vec::new();
    for text in ["one", "two", "three"] {
        replies.push(
            f.gateway
                .reply(
                    &first.ticket_reference,
                    &Actor::unrestricted("A"),
                    text.into(),
                    Vec::new(),
                )
                .await
                .unwrap()
                .id,
        );
    }
    let elsewhere = f
        .gateway
        .reply(
            &other.ticket_reference,
            &Actor::unrestricted("A"),
            "other".into(),
            Vec::new(),
        )
        .await
        .unwrap()
        .id;
    let claim = |token: &'static str, at: i64| {
        let store = f.store().clone();
        async move {
            store
                .write(move |c| outbox::claim_due(c, token, at, 60_000, 10))
                .await
                .unwrap()
        }
    };
    let now = f.gateway.now().0;
    let batch = claim("a", now).await;
    let claimed: Vec<i64> = batch.iter().map(|e| e.message_id).collect();
    assert_eq!(
        claimed,
        [replies[0], elsewhere],
        "only the first reply of a conversation, other conversations go on"
    );
    assert!(claim("b", now).await.is_empty());
    // A retry of the first keeps the others waiting behind it.
    let first_entry = batch
        .iter()
        .find(|e| e.message_id == replies[0])
        .unwrap()
        .clone();
    let retry = first_entry.clone();
    f.store()
        .write(move |c| outbox::reschedule(c, &retry, now + 1_000, true, Some("busy"), now))
        .await
        .unwrap();
    assert!(claim("c", now + 500).await.is_empty());
    let again = claim("d", now + 1_000).await;
    assert_eq!(
        again.iter().map(|e| e.message_id).collect::<Vec<_>>(),
        [replies[0]]
    );
    f.mark_sent(&again[0], None, now).await;
    let next = claim("e", now + 1_000).await;
    assert_eq!(
        next.iter().map(|e| e.message_id).collect::<Vec<_>>(),
        [replies[1]]
    );
}

async fn delivery_status_only_moves_forward(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("d1", "ana", "conv-1", "Help")).await;
    let reply = f
        .gateway
        .reply(
            &first.ticket_reference,
            &Actor::unrestricted("A"),
            "Hi".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    let now = f.gateway.now().0;
    let entry = f.claim("c", now, 60_000, 1).await.remove(0);
    f.mark_sent(&entry, Some("prov-1"), now).await;
    let update = |status| DeliveryUpdate {
        external_id: "prov-1".into(),
        status,
        reason: None,
    };
    assert!(api.delivery(update(DeliveryStatus::Read)).await.unwrap());
    assert!(
        !api.delivery(update(DeliveryStatus::Delivered))
            .await
            .unwrap(),
        "late delivered ignored"
    );
    assert!(!api.delivery(update(DeliveryStatus::Failed)).await.unwrap());
    assert!(
        !api.delivery(DeliveryUpdate {
            external_id: "unknown".into(),
            status: DeliveryStatus::Read,
            reason: None
        })
        .await
        .unwrap()
    );
    let id = reply.id;
    let stored = f.store().read(move |c| messages::get(c, id)).await.unwrap();
    assert_eq!(stored.delivery_status, Some(DeliveryStatus::Read));
    assert_eq!(stored.external_id.as_deref(), Some("prov-1"));
}

async fn status_updates_that_overtake_the_send_are_applied_when_it_is_recorded(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("e1", "ana", "conv-1", "Help")).await;
    let reply = f
        .gateway
        .reply(
            &first.ticket_reference,
            &Actor::unrestricted("A"),
            "Hi".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    let now = f.gateway.now().0;
    let entry = f.claim("c", now, 60_000, 1).await.remove(0);
    // The provider calls back before its API answer reaches the gateway, out of
    // order, and once more.
    for status in [
        DeliveryStatus::Read,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
    ] {
        let update = DeliveryUpdate {
            external_id: "prov-early".into(),
            status,
            reason: None,
        };
        assert!(!api.delivery(update).await.unwrap(), "nothing to apply yet");
    }
    assert_eq!(count(&f, "early_deliveries").await, 2);
    f.mark_sent(&entry, Some("prov-early"), now).await;
    let id = reply.id;
    let stored = f.store().read(move |c| messages::get(c, id)).await.unwrap();
    assert_eq!(stored.delivery_status, Some(DeliveryStatus::Read));
    assert_eq!(
        count(&f, "early_deliveries").await,
        0,
        "applied once, then gone"
    );
    // Updates about messages never sent here are dropped after a week.
    let stray = DeliveryUpdate {
        external_id: "someone-elses".into(),
        status: DeliveryStatus::Delivered,
        reason: None,
    };
    api.delivery(stray.clone()).await.unwrap();
    f.clock
        .advance(std::time::Duration::from_secs(8 * 24 * 3600));
    api.delivery(DeliveryUpdate {
        external_id: "another".into(),
        ..stray
    })
    .await
    .unwrap();
    assert_eq!(count(&f, "early_deliveries").await, 1);
}

async fn a_reused_provider_id_does_not_block_marking_sent(f: Fixture) {
    let api = f.channel("api");
    let first = ingest_one(&api, message("taken", "ana", "conv-1", "Help")).await;
    f.gateway
        .reply(
            &first.ticket_reference,
            &Actor::unrestricted("A"),
            "Hi".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    let now = f.gateway.now().0;
    let entry = f.claim("c", now, 60_000, 1).await.remove(0);
    let message_id = entry.message_id;
    // The provider answers with an id that an inbound message already has.
    let sent = f.mark_sent(&entry, Some("taken"), now).await;
    assert!(sent);
    let stored = f
        .store()
        .read(move |c| messages::get(c, message_id))
        .await
        .unwrap();
    assert_eq!(stored.delivery_status, Some(DeliveryStatus::Sent));
    assert_eq!(stored.external_id, None);
    let later = now + 3_600_000;
    let again = f.claim("d", later, 60_000, 1).await;
    assert!(again.is_empty(), "never sent again");
}

async fn ticket_list_filters_and_paginates(f: Fixture) {
    let api = f.channel("api");
    for n in 0..7 {
        ingest_one(
            &api,
            message(
                &format!("l{n}"),
                &format!("s{n}"),
                &format!("c{n}"),
                &format!("text {n} withdrawal"),
            ),
        )
        .await;
    }
    ingest_one(
        &f.channel("sms"),
        message("l-sms", "z", "+4479460958", "deposit 100%"),
    )
    .await;
    ingest_one(&api, message("l-zh", "zh", "c-zh", "我的提现还没到账 Café")).await;
    let page = |before, limit| {
        let filter = tickets::TicketFilter {
            after: before,
            limit,
            ..Default::default()
        };
        let store = f.store().clone();
        async move {
            store
                .read(move |c| tickets::list(c, &filter))
                .await
                .unwrap()
        }
    };
    let (first, cursor) = page(None, 5).await;
    assert_eq!(first.len(), 5);
    let (second, end) = page(cursor, 5).await;
    assert_eq!(second.len(), 4);
    assert_eq!(end, None);
    assert!(first.last().unwrap().id > second[0].id);
    // New activity on the oldest ticket moves it to the top.
    f.clock.advance(Duration::from_secs(1));
    let revived = ingest_one(&api, message("l0-again", "s0", "c0", "still there?")).await;
    let (top, _) = page(None, 1).await;
    assert_eq!(top[0].id, revived.ticket_id);

    let search = |filter: tickets::TicketFilter| {
        let store = f.store().clone();
        async move {
            store
                .read(move |c| tickets::list(c, &filter))
                .await
                .unwrap()
                .0
        }
    };
    let by_channel = search(tickets::TicketFilter {
        channel: Some("sms".into()),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert_eq!(by_channel.len(), 1);
    let by_text = search(tickets::TicketFilter {
        text: Some("WITHDRAWAL".into()),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert_eq!(by_text.len(), 7);
    let literal_percent = search(tickets::TicketFilter {
        text: Some("100%".into()),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert_eq!(literal_percent.len(), 1);
    // Full-text: words in any case, the last also as a prefix while it is typed;
    // what looks like query syntax is only words.
    for (text, found) in [
        ("withdr", 7),
        ("Text 3 Withdrawal", 1),
        ("withdrawal deposit", 0),
        ("ithdrawal", 0),
        ("\"deposit\" OR text*", 0),
        ("(deposit*", 1),
        ("%%%", 0),
        ("café", 1),
        ("我的提现", 1),
    ] {
        let hits = search(tickets::TicketFilter {
            text: Some(text.into()),
            limit: 50,
            ..Default::default()
        })
        .await;
        assert_eq!(hits.len(), found, "{text:?}");
    }
    // Search pages follow their own cursor: every match once, none twice.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let filter = tickets::TicketFilter {
            text: Some("withdrawal".into()),
            after,
            limit: 3,
            ..Default::default()
        };
        let store = f.store().clone();
        let (hits, next) = store
            .read(move |c| tickets::list(c, &filter))
            .await
            .unwrap();
        seen.extend(hits.into_iter().map(|t| t.id));
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (7, 7));
    let by_reference = search(tickets::TicketFilter {
        text: Some(by_channel[0].reference.clone()),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert_eq!(by_reference.len(), 1);
    f.gateway
        .update_ticket(
            &by_channel[0].reference,
            &Actor::unrestricted("Ada"),
            tickets::TicketPatch {
                assignee: Some(Some("maria".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let by_assignee = search(tickets::TicketFilter {
        assignee: Some("maria".into()),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert_eq!(by_assignee.len(), 1);
    let by_status = search(tickets::TicketFilter {
        status: Some(TicketStatus::New),
        limit: 50,
        ..Default::default()
    })
    .await;
    assert_eq!(by_status.len(), 9);
}

/// Search past the newest messages: more of them than PostgreSQL samples before it
/// judges a word rare, so both ways of reading its index are taken, and paging.
async fn search_finds_old_matches_behind_many_new_messages(f: Fixture) {
    let api = f.channel("api");
    let old = ingest_one(
        &api,
        message(
            "s-old",
            "old",
            "c-old",
            "zyzzyva sometimes filler: txid 021e3c44ab, from ana@example.com",
        ),
    )
    .await;
    // A mail-sized body of distinct words, and a blob with no spaces in it.
    let long: Vec<String> = (0..60_000u64)
        .map(|n| format!("w{:x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .collect();
    let huge = ingest_one(
        &api,
        message(
            "s-huge",
            "huge",
            "c-huge",
            &format!("hugebody {} {}", long.join(" "), "Qk".repeat(4_000)),
        ),
    )
    .await;
    let mut busy = Vec::new();
    for n in 0..4 {
        busy.push(
            ingest_one(
                &api,
                message(&format!("s{n}"), "busy", &format!("c{n}"), "first"),
            )
            .await,
        );
    }
    // 20,000 newer messages over the busy tickets: every one says "filler", one in
    // 97 "sometimes" too. Straight through SQL: the ingest path would take
    // longer than the rest of the suite.
    let tickets: Vec<i64> = busy.iter().map(|b| b.ticket_id).collect();
    f.store()
        .write(move |c| {
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
                 INSERT INTO messages (ticket_id, direction, channel, conversation, author, body, created_at, updated_at)
                 SELECT t.id, 'inbound', t.channel, t.conversation, 'busy',
                        CASE WHEN n.i % 97 = 0 THEN 'filler sometimes' ELSE 'filler' END,
                        t.created_at, t.created_at
                 FROM n JOIN tickets t ON t.id = CASE n.i % 4 WHEN 0 THEN CAST($1 AS BIGINT) WHEN 1 THEN CAST($2 AS BIGINT)
                     WHEN 2 THEN CAST($3 AS BIGINT) ELSE CAST($4 AS BIGINT) END",
                &[tickets[0].into(), tickets[1].into(), tickets[2].into(), tickets[3].into()],
            )?;
            c.execute_script("ANALYZE")
        })
        .await
        .unwrap();
    let all = |text: &str| {
        let text = text.to_owned();
        let store = f.store().clone();
        async move {
            let mut listed = Vec::new();
            let mut after = None;
            loop {
                let filter = tickets::TicketFilter {
                    text: Some(text.clone()),
                    after,
                    limit: 2,
                    ..Default::default()
                };
                let (page, next) = store
                    .read(move |c| tickets::list(c, &filter))
                    .await
                    .unwrap();
                listed.extend(page.into_iter().map(|t| t.id));
                match next {
                    Some(next) => after = Some(next),
                    None => break listed,
                }
            }
        }
    };
    assert_eq!(all("zyzzyva").await, vec![old.ticket_id], "a rare word");
    for part in ["021e3c", "021e3c44ab", "example", "ana example com"] {
        assert_eq!(all(part).await, vec![old.ticket_id], "{part}");
    }
    assert_eq!(all("hugebody").await, vec![huge.ticket_id]);
    assert_eq!(all(&long[59_999]).await, vec![huge.ticket_id]);
    for word in ["sometimes", "filler", "fill"] {
        let listed = all(word).await;
        assert_eq!(listed.len(), 5, "{word}: {listed:?}");
        assert_eq!(
            listed.last(),
            Some(&old.ticket_id),
            "{word}: the oldest last"
        );
    }
}

/// More shapes of statement than a connection keeps prepared: the ones past the limit
/// and the ones from before it still run.
async fn statements_past_the_cache_still_run(f: Fixture) {
    let answers = f
        .store()
        .read(|c| {
            let mut answers = Vec::new();
            for n in 0..1_200i64 {
                let sql = format!("SELECT CAST($1 AS BIGINT) + {n}");
                answers.push(c.query_one(&sql, &[n.into()])?.unwrap().i64(0)?);
            }
            answers.push(
                c.query_one("SELECT CAST($1 AS BIGINT) + 0", &[7i64.into()])?
                    .unwrap()
                    .i64(0)?,
            );
            Ok(answers)
        })
        .await
        .unwrap();
    assert_eq!(answers[1_199], 2_398);
    assert_eq!(answers[1_200], 7);
}

async fn channel_state_round_trips(f: Fixture) {
    let tg = f.channel("api");
    assert_eq!(tg.load_state("offset").await.unwrap(), None);
    tg.save_state("offset", "41").await.unwrap();
    tg.save_state("offset", "42").await.unwrap();
    assert_eq!(
        tg.load_state("offset").await.unwrap().as_deref(),
        Some("42")
    );
    assert_eq!(f.channel("sms").load_state("offset").await.unwrap(), None);
}

async fn attachments_are_stored_by_content(f: Fixture) {
    let mut inbound = message("att1", "ana", "conv-1", "");
    inbound.attachments = vec![switchboard_core::InboundAttachment {
        filename: "receipt.pdf".into(),
        content_type: "application/pdf".into(),
        bytes: bytes::Bytes::from_static(b"%PDF-1.4 test"),
    }];
    let outcome = ingest_one(&f.channel("api"), inbound).await;
    let id = outcome.message_id;
    let stored = f.store().read(move |c| messages::get(c, id)).await.unwrap();
    assert_eq!(stored.attachments.len(), 1);
    let attachment = &stored.attachments[0];
    assert_eq!(
        (attachment.filename.as_str(), attachment.size),
        ("receipt.pdf", 13)
    );
    assert_eq!(
        f.gateway.blobs().get(&attachment.sha256).await.unwrap(),
        &b"%PDF-1.4 test"[..]
    );
}

async fn invalid_inbound_is_refused_and_stores_nothing(f: Fixture) {
    let api = f.channel("api");
    let err = api
        .ingest(vec![message("", "ana", "c", "x")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("external_id"), "{err}");
    let err = api
        .ingest(vec![message("e", "ana", "c", "  ")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("text"), "{err}");
    let count = f
        .store()
        .read(|c| c.query("SELECT COUNT(*) FROM messages", &[]))
        .await
        .unwrap();
    assert_eq!(count[0].i64(0).unwrap(), 0);
}

fn photo(name: &str) -> switchboard_core::InboundAttachment {
    switchboard_core::InboundAttachment {
        filename: name.into(),
        content_type: "image/jpeg".into(),
        bytes: bytes::Bytes::from(format!("jpeg {name}")),
    }
}

async fn count(f: &Fixture, table: &'static str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    f.store().read(move |c| c.query(&sql, &[])).await.unwrap()[0]
        .i64(0)
        .unwrap()
}

async fn edits_replace_the_text_and_keep_the_old_one(f: Fixture) {
    let api = f.channel("api");
    let original = ingest_one(&api, message("7:1", "ana", "7", "I sent 0.5 BTC")).await;
    f.clock.advance(Duration::from_secs(60));
    let mut edit = message("7:1:edit:1", "ana", "7", "I sent 0.05 BTC");
    edit.edit_of = Some("7:1".into());
    let edited = ingest_one(&api, edit.clone()).await;
    assert_eq!(
        (edited.message_id, edited.duplicate, edited.created_ticket),
        (original.message_id, false, false)
    );
    assert!(ingest_one(&api, edit).await.duplicate, "a resent edit");
    let id = original.message_id;
    let stored = f.store().read(move |c| messages::get(c, id)).await.unwrap();
    assert_eq!(stored.text, "I sent 0.05 BTC");
    assert!(stored.edited_at.is_some());
    assert_eq!(stored.edits.len(), 1);
    assert_eq!(stored.edits[0].previous_text, "I sent 0.5 BTC");
    assert_eq!(count(&f, "messages").await, 1);

    // An edit of a message never seen stands in for it; the original arriving late
    // is then a duplicate.
    let mut late = message("8:5:edit:9", "bob", "8", "edited first");
    late.edit_of = Some("8:5".into());
    let stand_in = ingest_one(&api, late).await;
    assert!(stand_in.created_ticket);
    let original = ingest_one(&api, message("8:5", "bob", "8", "original")).await;
    assert!(original.duplicate);
    assert_eq!(original.message_id, stand_in.message_id);
    assert_eq!(count(&f, "messages").await, 2);
}

async fn album_parts_become_one_message(f: Fixture) {
    let api = f.channel("api");
    let mut first = message("7:10", "ana", "7", "Both sides of my ID");
    first.group = Some("album-1".into());
    first.attachments = vec![photo("front.jpg")];
    let mut second = message("7:11", "ana", "7", "");
    second.group = Some("album-1".into());
    second.attachments = vec![photo("back.jpg")];
    let one = ingest_one(&api, first).await;
    let two = ingest_one(&api, second.clone()).await;
    assert_eq!(two.message_id, one.message_id);
    assert!(ingest_one(&api, second).await.duplicate, "a resent part");
    // Another album in the same chat is another message.
    let mut other = message("7:12", "ana", "7", "and a selfie");
    other.group = Some("album-2".into());
    other.attachments = vec![photo("selfie.jpg")];
    assert_ne!(ingest_one(&api, other).await.message_id, one.message_id);

    let id = one.message_id;
    let stored = f.store().read(move |c| messages::get(c, id)).await.unwrap();
    assert_eq!(stored.text, "Both sides of my ID");
    let names: Vec<_> = stored
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    assert_eq!(names, ["front.jpg", "back.jpg"]);
    assert_eq!(count(&f, "messages").await, 2);
}

async fn send_progress_is_kept_with_the_outbox_entry(f: Fixture) {
    let api = f.channel("api");
    let inbound = ingest_one(&api, message("p1", "ana", "conv-1", "Hi")).await;
    let reply = f
        .gateway
        .reply(
            &inbound.ticket_reference,
            &Actor::unrestricted("Agent"),
            "a long answer".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    let now = f.gateway.now().0;
    let claimed = f.claim("a", now, 1_000, 10).await;
    assert_eq!(claimed[0].progress, None);
    api.save_progress(reply.id, "parts=1").await.unwrap();
    let reclaimed = f.claim("b", now + 2_000, 1_000, 10).await;
    assert_eq!(reclaimed[0].progress.as_deref(), Some("parts=1"));
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::testing::sqlite(dir.path()).await.unwrap();
                    super::$case(super::Fixture::new(store, dir).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[cfg_attr(not(postgres_tests), ignore = "needs PostgreSQL: run under scripts/with-postgres")]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::testing::postgres().await.unwrap();
                    super::$case(super::Fixture::new(store, dir).await).await;
                }
            )*
        }
    };
}

conformance!(
    edits_replace_the_text_and_keep_the_old_one,
    album_parts_become_one_message,
    send_progress_is_kept_with_the_outbox_entry,
    first_message_becomes_a_ticket_and_the_next_threads_into_it,
    duplicates_are_stored_once,
    concurrent_ingest_stores_every_message_once,
    one_phone_is_one_contact_across_sms_and_whatsapp,
    resolved_ticket_reopens_within_the_window_and_links_after,
    automatic_messages_never_reopen,
    reference_in_text_threads_across_conversations,
    header_matches_need_a_sender_who_belongs,
    the_conversations_root_wins_and_continuations_are_followed,
    automatic_mail_lands_on_its_ticket_or_stays_out_of_the_queue,
    copied_people_become_participants_whose_answers_thread,
    reply_to_threads_within_its_conversation,
    reply_queues_one_outbox_entry_claimed_once,
    expired_claims_are_taken_over_and_the_old_claim_cannot_record,
    concurrent_claims_never_overlap,
    replies_to_one_conversation_go_out_in_order,
    delivery_status_only_moves_forward,
    status_updates_that_overtake_the_send_are_applied_when_it_is_recorded,
    a_reused_provider_id_does_not_block_marking_sent,
    ticket_list_filters_and_paginates,
    search_finds_old_matches_behind_many_new_messages,
    statements_past_the_cache_still_run,
    channel_state_round_trips,
    attachments_are_stored_by_content,
    invalid_inbound_is_refused_and_stores_nothing,
);
