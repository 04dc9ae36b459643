//! The helpdesk rules through the core's public API, on SQLite and PostgreSQL:
//! triage, SLA timers in business time with a frozen clock, routing, the gateway's
//! own messages (acknowledgement, warning, status, survey), the secrets guard and the
//! audit log. PostgreSQL cases are ignored unless SWITCHBOARD_TEST_POSTGRES_URL names
//! a server (scripts/with-postgres starts one).

use std::collections::HashMap;
use std::sync::Arc;

use std::time::Duration;
use switchboard_core::access::{Actor, Scope};

use switchboard_core::calendar::{Calendar, CalendarConfig};
use switchboard_core::connector::{Inbound, Sender, ThreadHint};
use switchboard_core::events::Event;
use switchboard_core::gateway::{ChannelContext, Gateway, GatewayConfig};
use switchboard_core::helpdesk::scheduler;
use switchboard_core::helpdesk::sla::{SlaState, SlaTarget};
use switchboard_core::helpdesk::{CsatGrouping, Helpdesk, HelpdeskConfig};
use switchboard_core::store::queries::{audit, contacts, tickets};
use switchboard_core::store::{Store, Value, testing};
use switchboard_core::{
    ChannelId, Direction, Identity, ManualClock, Message, Priority, Ticket, TicketStatus, Timestamp,
};

/// The rules of an exchange's support desk: Kuala Lumpur office hours with a lunch
/// break, deposits and withdrawals within an hour of business time.
const RULES: &str = r#"
languages = ["en", "ms", "zh"]
sender_name = "Support"
default_category = "general"

[acknowledgement]
channels = ["api"]

[csat]

[[triage]]
name = "complaint"
category = "complaints"
priority = "high"
keywords = ["complaint", "aduan", "投诉"]

[[triage]]
name = "money"
category = "deposits_withdrawals"
keywords = ["withdrawal", "deposit", "pengeluaran", "提款", "充值"]

[[triage]]
name = "login"
category = "technical"
regex = ['(?i)\b2fa\b', 'log\s*masuk']

[[teams]]
name = "payments"
agents = ["Ada", "Ben"]
categories = ["deposits_withdrawals"]
assignment = "round_robin"

[[teams]]
name = "supervisors"
agents = ["Sue"]
categories = ["escalations"]
assignment = "least_loaded"

[[teams]]
name = "frontline"
agents = ["Cat", "Dan"]
assignment = "least_loaded"

[[sla]]
name = "payments"
categories = ["deposits_withdrawals"]
calendar = "kl"
first_response_minutes = 60
next_response_minutes = 120
resolution_minutes = 480
at_risk_percent = 75
pause_when_pending = true
at_risk_priority = "high"
breach_priority = "urgent"
escalation_team = "supervisors"

[[sla]]
name = "standard"
first_response_minutes = 240
"#;

fn kl() -> Calendar {
    let hours = || vec!["09:00-13:00".to_owned(), "14:00-18:00".to_owned()];
    Calendar::from_config(&CalendarConfig {
        time_zone: Some("Asia/Kuala_Lumpur".into()),
        monday: hours(),
        tuesday: hours(),
        wednesday: hours(),
        thursday: hours(),
        friday: hours(),
        holidays: vec!["2026-12-08".into()],
        ..Default::default()
    })
    .unwrap()
}

fn at(text: &str) -> Timestamp {
    let instant: jiff::Timestamp = text.parse().unwrap();
    Timestamp(instant.as_millisecond())
}

struct Fixture {
    gateway: Gateway,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

/// Monday 2026-12-07 10:00 in Kuala Lumpur.
const START: &str = "2026-12-07T02:00:00Z";

fn helpdesk(rules: &str) -> Helpdesk {
    let config: HelpdeskConfig = toml::from_str(rules).unwrap();
    let calendars = HashMap::from([("kl".to_owned(), kl())]);
    Helpdesk::from_config(&config, &calendars, std::path::Path::new(".")).unwrap()
}

impl Fixture {
    async fn new(store: Store, dir: tempfile::TempDir) -> Fixture {
        Fixture::with(store, dir, RULES, ManualClock::frozen(at(START)))
    }

    fn with(store: Store, dir: tempfile::TempDir, rules: &str, clock: ManualClock) -> Fixture {
        let gateway = gateway(store, &dir, rules, &clock);
        Fixture {
            gateway,
            clock,
            _dir: dir,
        }
    }

    fn api(&self) -> ChannelContext {
        self.gateway
            .channel_context(ChannelId::parse("api").unwrap())
    }

    fn store(&self) -> &Store {
        self.gateway.store()
    }

    async fn ticket(&self, id: i64) -> Ticket {
        self.store()
            .read(move |c| {
                let mut ticket = tickets::get(c, id)?;
                ticket.sla = switchboard_core::helpdesk::sla::for_ticket(c, id)?;
                Ok(ticket)
            })
            .await
            .unwrap()
    }

    async fn messages(&self, id: i64) -> Vec<Message> {
        self.store()
            .read(move |c| switchboard_core::store::queries::messages::for_ticket(c, id))
            .await
            .unwrap()
    }

    /// The gateway's own messages on a ticket.
    async fn notices(&self, id: i64) -> Vec<String> {
        self.messages(id)
            .await
            .into_iter()
            .filter(|m| m.direction == Direction::Outbound && m.automatic)
            .map(|m| m.text)
            .collect()
    }

    async fn write(&self, from: &str, conversation: &str, text: &str) -> (i64, String) {
        let outcome = self
            .api()
            .ingest(vec![message(from, conversation, text)])
            .await
            .unwrap()
            .remove(0);
        (outcome.ticket_id, outcome.ticket_reference)
    }

    /// An agent moves the ticket to `status`.
    async fn set_status(&self, reference: &str, agent: &str, status: TicketStatus) {
        let patch = tickets::TicketPatch {
            status: Some(status),
            ..Default::default()
        };
        self.gateway
            .update_ticket(reference, &Actor::unrestricted(agent), patch)
            .await
            .unwrap();
    }

    async fn agents_at_work(&self, names: &[&str]) {
        for name in names {
            self.gateway.agent_at_work(name).await;
        }
    }

    fn advance(&self, minutes: u64) {
        self.clock.advance(Duration::from_secs(minutes * 60));
    }

    async fn pass(&self) -> scheduler::Pass {
        scheduler::pass(&self.gateway, true).await.unwrap()
    }
}

fn gateway(store: Store, dir: &tempfile::TempDir, rules: &str, clock: &ManualClock) -> Gateway {
    let config = GatewayConfig {
        helpdesk: Arc::new(helpdesk(rules)),
        ..GatewayConfig::default()
    };
    Gateway::new(
        store,
        switchboard_core::blobs::BlobStore::new(dir.path().join("attachments")),
        Arc::new(clock.clone()),
        config,
        ["api"].map(|c| ChannelId::parse(c).unwrap()),
    )
}

static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn message(from: &str, conversation: &str, text: &str) -> Inbound {
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Inbound {
        external_id: format!("m{n}"),
        sender: Sender {
            identity: Identity::api("api", from).unwrap(),
            display_name: Some(format!("Customer {from}")),
            reachable: false, // what most channels say: nothing proves it either way
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

async fn triage_sets_category_priority_and_language_in_three_languages(f: Fixture) {
    for (text, category, rule, priority, language) in [
        (
            "My withdrawal of 500 USDT has been pending since yesterday",
            "deposits_withdrawals",
            Some("money"),
            Priority::Normal,
            "en",
        ),
        (
            "Pengeluaran saya masih belum diproses sejak semalam, tolong semak",
            "deposits_withdrawals",
            Some("money"),
            Priority::Normal,
            "ms",
        ),
        (
            "我的提款已经两天了还没有到账",
            "deposits_withdrawals",
            Some("money"),
            Priority::Normal,
            "zh",
        ),
        (
            "I want to file a complaint about how my case was handled",
            "complaints",
            Some("complaint"),
            Priority::High,
            "en",
        ),
        (
            "Saya mahu membuat aduan tentang layanan ejen anda",
            "complaints",
            Some("complaint"),
            Priority::High,
            "ms",
        ),
        (
            "我要投诉你们的客服，态度非常差",
            "complaints",
            Some("complaint"),
            Priority::High,
            "zh",
        ),
        (
            "Saya tidak boleh log masuk ke akaun saya",
            "technical",
            Some("login"),
            Priority::Normal,
            "ms",
        ),
        (
            "Where can I read about your company and its history?",
            "general",
            None,
            Priority::Normal,
            "en",
        ),
    ] {
        let (id, _) = f
            .write(
                &format!("c-{category}-{language}"),
                &format!("{text:.12}"),
                text,
            )
            .await;
        let ticket = f.ticket(id).await;
        assert_eq!(ticket.category.as_deref(), Some(category), "{text}");
        assert_eq!(ticket.triage_rule.as_deref(), rule, "{text}");
        assert_eq!(ticket.priority, priority, "{text}");
        assert_eq!(ticket.language.as_deref(), Some(language), "{text}");
    }
}

async fn sla_targets_count_business_time_and_fire_once(f: Fixture) {
    // Monday 17:30 in Kuala Lumpur: 30 minutes left today, a holiday tomorrow.
    f.advance(7 * 60 + 30);
    let (id, reference) = f.write("ana", "ana-1", "My deposit has not arrived").await;
    let ticket = f.ticket(id).await;
    let first = ticket
        .sla
        .iter()
        .find(|s| s.target == SlaTarget::FirstResponse)
        .unwrap();
    // 30 minutes on Monday, 30 more on Wednesday from 09:00 (Tuesday is a holiday).
    assert_eq!(first.due_at, Some(at("2026-12-09T01:30:00Z")));
    // At risk after 45 of its 60 minutes: Wednesday 09:15.
    assert_eq!(first.at_risk_at, Some(at("2026-12-09T01:15:00Z")));
    let resolution = ticket
        .sla
        .iter()
        .find(|s| s.target == SlaTarget::Resolution)
        .unwrap();
    // 8 business hours: 0.5 on Monday, 4 on Wednesday morning, 3.5 after lunch:
    // Wednesday 17:30.
    assert_eq!(resolution.due_at, Some(at("2026-12-09T09:30:00Z")));
    assert_eq!(f.pass().await, scheduler::Pass::default());

    let mut feed = f.gateway.events().subscribe();
    // Wednesday 09:20: at risk, once.
    f.clock.advance(Duration::from_millis(
        (at("2026-12-09T01:20:00Z").0 - f.gateway.now().0) as u64,
    ));
    let pass = f.pass().await;
    assert_eq!((pass.at_risk, pass.breached), (1, 0));
    assert_eq!(f.pass().await.at_risk, 0);
    assert_eq!(f.ticket(id).await.priority, Priority::High);
    let mut seen = Vec::new();
    while let Ok(recorded) = feed.try_recv() {
        seen.push(recorded.event);
    }
    assert!(
        seen.iter().any(|e| matches!(e, Event::SlaAtRisk { reference: r, target: SlaTarget::FirstResponse, .. } if *r == reference)),
        "{seen:?}"
    );
    // 09:31: breached, escalated to the supervisors, urgent.
    f.advance(11);
    let pass = f.pass().await;
    assert_eq!((pass.at_risk, pass.breached), (0, 1));
    assert_eq!(f.pass().await.breached, 0);
    let ticket = f.ticket(id).await;
    assert_eq!(ticket.priority, Priority::Urgent);
    assert_eq!(ticket.team.as_deref(), Some("supervisors"));
    let first = ticket
        .sla
        .iter()
        .find(|s| s.target == SlaTarget::FirstResponse)
        .unwrap();
    assert_eq!(first.state, SlaState::Breached);
    // The late answer is recorded, and the target stays breached.
    f.gateway
        .reply(
            &reference,
            &Actor::unrestricted("Ada"),
            "Looking into it now".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    let first_after = f.ticket(id).await;
    let first_after = first_after
        .sla
        .iter()
        .find(|s| s.target == SlaTarget::FirstResponse)
        .unwrap();
    assert_eq!(first_after.state, SlaState::Breached);
    assert!(first_after.met_at.is_some());
    let log = f
        .store()
        .read(move |c| {
            audit::list(
                c,
                &audit::AuditFilter {
                    ticket_id: Some(id),
                    ..Default::default()
                },
                10,
            )
        })
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "sla.breach" && e.actor == "helpdesk"),
        "{log:?}"
    );
}

async fn pending_stops_the_clock_and_answers_set_the_next_target(f: Fixture) {
    let (id, reference) = f
        .write("ben", "ben-1", "Withdrawal stuck for two days")
        .await;
    f.advance(20);
    f.gateway
        .reply(
            &reference,
            &Actor::unrestricted("Ada"),
            "Which network did you use?".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    let ticket = f.ticket(id).await;
    assert!(ticket.first_response_at.is_some());
    let state = |t: &Ticket, target| t.sla.iter().find(|s| s.target == target).map(|s| s.state);
    assert_eq!(
        state(&ticket, SlaTarget::FirstResponse),
        Some(SlaState::Met)
    );
    // Waiting on the customer for two days stops the resolution clock.
    f.set_status(&reference, "Ada", TicketStatus::Pending).await;
    assert_eq!(
        state(&f.ticket(id).await, SlaTarget::Resolution),
        Some(SlaState::Paused)
    );
    f.advance(2 * 24 * 60);
    // Wednesday 10:20: the customer answers; 20 minutes were spent, 460 are left.
    f.write("ben", "ben-1", "It was TRC20").await;
    let ticket = f.ticket(id).await;
    assert_eq!(ticket.status, TicketStatus::Open);
    let resolution = ticket
        .sla
        .iter()
        .find(|s| s.target == SlaTarget::Resolution)
        .unwrap();
    assert_eq!(resolution.state, SlaState::Running);
    // 10:20 + 2h40 to 13:00, lunch, 14:00 + 4h = 18:00 (400 min), then Thursday 09:00 + 60 min.
    assert_eq!(resolution.due_at, Some(at("2026-12-10T02:00:00Z")));
    let next = ticket
        .sla
        .iter()
        .find(|s| s.target == SlaTarget::NextResponse)
        .unwrap();
    assert_eq!(next.state, SlaState::Running);
    assert_eq!(next.due_at, Some(at("2026-12-09T04:20:00Z")));
}

async fn due_times_survive_a_restart(f: Fixture) {
    let (id, _) = f.write("cy", "cy-1", "Deposit missing").await;
    let Fixture {
        gateway,
        clock,
        _dir,
    } = f;
    let store = gateway.store().clone();
    drop(gateway);
    // A new process on the same store, hours later.
    clock.advance(Duration::from_secs(3 * 3600));
    let f = Fixture {
        gateway: gateway_again(store, &_dir, &clock),
        clock,
        _dir,
    };
    let pass = f.pass().await;
    // Past its at-risk time and its due time at once: one breach, no warning first.
    assert_eq!((pass.at_risk, pass.breached), (0, 1));
    let ticket = f.ticket(id).await;
    let first = ticket
        .sla
        .iter()
        .find(|s| s.target == SlaTarget::FirstResponse)
        .unwrap();
    assert_eq!(first.state, SlaState::Breached);
}

fn gateway_again(store: Store, dir: &tempfile::TempDir, clock: &ManualClock) -> Gateway {
    gateway(store, dir, RULES, clock)
}

async fn acknowledgement_once_per_ticket_with_its_reference(f: Fixture) {
    let (id, reference) = f.write("dee", "dee-1", "My deposit has not arrived").await;
    let notices = f.notices(id).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains(&reference), "{}", notices[0]);
    assert!(notices[0].contains("1 hour"), "{}", notices[0]);
    f.write("dee", "dee-1", "Any news?").await;
    assert_eq!(f.notices(id).await.len(), 1);
    // In Malay for a Malay customer.
    let (id, reference) = f
        .write(
            "ema",
            "ema-1",
            "Deposit saya belum masuk lagi, tolong semak akaun saya",
        )
        .await;
    let notices = f.notices(id).await;
    assert!(notices[0].contains(&reference));
    assert!(notices[0].contains("jam"), "{}", notices[0]);
    // Never to an auto-reply.
    let mut automatic = message("fay", "fay-1", "I am out of the office until Monday");
    automatic.automatic = true;
    let outcome = f.api().ingest(vec![automatic]).await.unwrap().remove(0);
    assert!(f.notices(outcome.ticket_id).await.is_empty());
    // Never to someone the channel said cannot be reached (blocked, opted out).
    f.store()
        .write(|c| {
            let identity = Identity::api("api", "gil").unwrap();
            contacts::set_unreachable(c, "api", &identity, Some("opted out"), 0)
        })
        .await
        .unwrap();
    let (id, _) = f.write("gil", "gil-1", "Where is my deposit?").await;
    assert!(f.notices(id).await.is_empty());
    // The outbox holds the acknowledgements like any reply.
    let queued = f
        .store()
        .read(|c| {
            c.query_one("SELECT COUNT(*) FROM outbox", &[])
                .map(|r| r.unwrap().i64(0).unwrap())
        })
        .await
        .unwrap();
    assert_eq!(queued, 2);
}

const SEED: &str =
    "abandon ability able about above absent absorb abstract absurd abuse access accident";

async fn secrets_are_masked_flagged_and_warned_once(f: Fixture) {
    let (id, _) = f
        .write(
            "gus",
            "gus-1",
            &format!("My wallet is empty! my seed phrase is {SEED} please help"),
        )
        .await;
    let ticket = f.ticket(id).await;
    assert_eq!(ticket.sensitive.len(), 1);
    assert_eq!(ticket.sensitive[0].as_str(), "seed_phrase");
    let messages = f.messages(id).await;
    let inbound = messages
        .iter()
        .find(|m| m.direction == Direction::Inbound)
        .unwrap();
    assert!(
        inbound.text.contains("[seed phrase removed]"),
        "{}",
        inbound.text
    );
    // The phrase is nowhere in the store: not the message, the search index, the log.
    let hits = f
        .store()
        .read(|c| {
            let mut hits = 0;
            for table in ["messages", "tickets", "events", "audit_log"] {
                let sql = format!(
                    "SELECT COUNT(*) FROM {table} WHERE CAST({} AS TEXT) LIKE $1",
                    column(table)
                );
                hits += c
                    .query_one(&sql, &[Value::from("%absurd abuse%")])?
                    .unwrap()
                    .i64(0)?;
            }
            Ok(hits)
        })
        .await
        .unwrap();
    assert_eq!(hits, 0);
    let found = f
        .store()
        .read(|c| {
            tickets::list(
                c,
                &tickets::TicketFilter {
                    text: Some("absurd".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
    assert!(found.0.is_empty());
    let warnings: Vec<String> = f
        .notices(id)
        .await
        .into_iter()
        .filter(|n| !n.contains(&ticket.reference))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    f.write("gus", "gus-1", "and my password is Hunter2!x")
        .await;
    assert_eq!(f.ticket(id).await.sensitive.len(), 2);
    let again: Vec<String> = f
        .notices(id)
        .await
        .into_iter()
        .filter(|n| !n.contains(&ticket.reference))
        .collect();
    assert_eq!(again.len(), 1, "one warning per ticket: {again:?}");
}

fn column(table: &str) -> &'static str {
    match table {
        "messages" => "body",
        "tickets" => "subject",
        "events" => "body",
        _ => "detail",
    }
}

async fn status_by_reference_answers_only_the_owner(f: Fixture) {
    let (id, reference) = f.write("hal", "hal-1", "Withdrawal pending").await;
    // The owner asks from another conversation: the answer names the status.
    let outcome = f
        .api()
        .ingest(vec![message(
            "hal",
            "hal-2",
            &format!("status {reference}"),
        )])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        outcome.ticket_id, id,
        "the request lands on the ticket it asks about"
    );
    let notices = f.notices(id).await;
    assert!(notices.last().unwrap().contains(&reference), "{notices:?}");
    assert_eq!(f.ticket(id).await.status, TicketStatus::New);
    // Anyone else gets a neutral answer, on a ticket kept out of the queue.
    let (stranger, _) = f
        .write("eve", "eve-1", &format!("status {reference}"))
        .await;
    assert_ne!(stranger, id);
    let answer = f.notices(stranger).await;
    assert_eq!(answer.len(), 1);
    assert!(!answer[0].contains(&reference), "{}", answer[0]);
    assert_eq!(f.ticket(stranger).await.status, TicketStatus::Filtered);
    // Nor does quoting the reference in a message write into that ticket.
    let (quoted, _) = f
        .write(
            "eve",
            "eve-2",
            &format!("About {reference}: send the money to me"),
        )
        .await;
    assert_ne!(quoted, id);
    // Unknown references get the same neutral answer.
    let (unknown, _) = f.write("eve", "eve-3", "status SB-ZZZZZZ").await;
    assert_eq!(f.notices(unknown).await, answer);
}

async fn satisfaction_survey_after_resolution_records_the_rating(f: Fixture) {
    f.agents_at_work(&["Ada", "Ben"]).await;
    let (id, reference) = f.write("ida", "ida-1", "My deposit is missing").await;
    let assignee = f
        .ticket(id)
        .await
        .assignee
        .clone()
        .expect("assigned to an agent at work");
    f.gateway
        .reply(
            &reference,
            &Actor::unrestricted(&assignee),
            "Found it, credited now".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    f.set_status(&reference, &assignee, TicketStatus::Resolved)
        .await;
    let before = f.messages(id).await.len();
    let survey = f.notices(id).await.pop().unwrap();
    assert!(survey.contains(&reference), "{survey}");
    let choices = f
        .store()
        .read(move |c| {
            c.query_one(
                "SELECT choices FROM messages WHERE ticket_id = $1 ORDER BY id DESC LIMIT 1",
                &[Value::from(id)],
            )
            .map(|r| r.unwrap().opt_string(0).unwrap())
        })
        .await
        .unwrap()
        .unwrap();
    assert!(choices.contains("csat:5"), "{choices}");
    // Resolving again does not ask again.
    f.set_status(&reference, &assignee, TicketStatus::Open)
        .await;
    f.set_status(&reference, &assignee, TicketStatus::Resolved)
        .await;
    assert_eq!(f.messages(id).await.len(), before);
    // The answer lands on the ticket without reopening it.
    let outcome = f
        .api()
        .ingest(vec![message("ida", "ida-1", "csat:4")])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(outcome.ticket_id, id);
    assert!(!outcome.created_ticket && !outcome.reopened);
    let ticket = f.ticket(id).await;
    assert_eq!(ticket.csat_rating, Some(4));
    assert_eq!(ticket.status, TicketStatus::Resolved);
    let report = f
        .gateway
        .csat_report(CsatGrouping::Agent, Timestamp(0), &Scope::All)
        .await
        .unwrap();
    let group = report
        .iter()
        .find(|g| g.key.as_deref() == Some(assignee.as_str()))
        .unwrap();
    assert_eq!((group.responses, group.average), (1, Some(4.0)));
    assert_eq!(group.distribution, [0, 0, 0, 1, 0]);
}

async fn assignment_takes_turns_among_agents_at_work(f: Fixture) {
    // Only Ada is at work: she gets both.
    f.agents_at_work(&["Ada"]).await;
    let (a, _) = f.write("j1", "j1", "withdrawal one").await;
    let (b, _) = f.write("j2", "j2", "withdrawal two").await;
    assert_eq!(f.ticket(a).await.assignee.as_deref(), Some("Ada"));
    assert_eq!(f.ticket(b).await.assignee.as_deref(), Some("Ada"));
    assert_eq!(f.ticket(a).await.team.as_deref(), Some("payments"));
    // Ben comes in: turns alternate.
    f.agents_at_work(&["Ben"]).await;
    let mut got = Vec::new();
    for n in 0..4 {
        let (id, _) = f
            .write(&format!("k{n}"), &format!("k{n}"), "deposit question")
            .await;
        got.push(f.ticket(id).await.assignee.unwrap());
    }
    assert_eq!(got, ["Ben", "Ada", "Ben", "Ada"]);
    // Least loaded: Cat has two open tickets, Dan none.
    f.agents_at_work(&["Cat", "Dan"]).await;
    let (c, _) = f.write("l1", "l1", "general question one").await;
    let first = f.ticket(c).await.assignee.unwrap();
    let (d, _) = f.write("l2", "l2", "general question two").await;
    let second = f.ticket(d).await.assignee.unwrap();
    assert_ne!(
        first, second,
        "the one with fewer open tickets gets the next"
    );
}

async fn tickets_of_an_agent_gone_away_go_to_a_colleague(f: Fixture) {
    f.agents_at_work(&["Ada"]).await;
    let (id, _) = f.write("m1", "m1", "withdrawal delayed").await;
    assert_eq!(f.ticket(id).await.assignee.as_deref(), Some("Ada"));
    // Ada leaves; Ben stays at work.
    f.advance(8);
    f.agents_at_work(&["Ben"]).await;
    f.advance(3);
    assert_eq!(f.pass().await.reassigned, 1);
    assert_eq!(f.ticket(id).await.assignee.as_deref(), Some("Ben"));
    let log = f
        .store()
        .read(move |c| {
            audit::list(
                c,
                &audit::AuditFilter {
                    ticket_id: Some(id),
                    ..Default::default()
                },
                10,
            )
        })
        .await
        .unwrap();
    assert!(log.iter().any(|e| e.action == "ticket.reassign"), "{log:?}");
}

async fn rule_changes_and_agent_changes_are_audited(f: Fixture) {
    let rules = serde_json::json!({ "languages": ["en"] });
    assert!(
        f.gateway
            .record_helpdesk_rules(rules.clone())
            .await
            .unwrap()
    );
    assert!(
        !f.gateway.record_helpdesk_rules(rules).await.unwrap(),
        "unchanged rules are not recorded twice"
    );
    assert!(
        f.gateway
            .record_helpdesk_rules(serde_json::json!({ "languages": ["ms"] }))
            .await
            .unwrap()
    );
    let (id, reference) = f.write("n1", "n1", "Where is my deposit").await;
    f.gateway
        .update_ticket(
            &reference,
            &Actor::unrestricted("Ada"),
            tickets::TicketPatch {
                category: Some(Some("account".into())),
                priority: Some(Priority::High),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let log = f
        .store()
        .read(|c| audit::list(c, &audit::AuditFilter::default(), 10))
        .await
        .unwrap();
    let change = log.iter().find(|e| e.ticket_id == Some(id)).unwrap();
    assert_eq!(change.actor, "Ada");
    assert_eq!(
        change.detail["category"],
        serde_json::json!(["deposits_withdrawals", "account"])
    );
    assert_eq!(
        log.iter().filter(|e| e.action == "helpdesk.rules").count(),
        2
    );
    // The new category has no policy of its own: the standard one applies now.
    let ticket = f.ticket(id).await;
    let first = ticket
        .sla
        .iter()
        .find(|s| s.target == SlaTarget::FirstResponse)
        .unwrap();
    assert_eq!(first.policy, "standard");
    assert_eq!(first.target_minutes, 240);
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::testing::sqlite(dir.path()).await.unwrap();
                    super::$case(super::Fixture::new(store, dir).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

cases!(
    triage_sets_category_priority_and_language_in_three_languages,
    sla_targets_count_business_time_and_fire_once,
    pending_stops_the_clock_and_answers_set_the_next_target,
    due_times_survive_a_restart,
    acknowledgement_once_per_ticket_with_its_reference,
    secrets_are_masked_flagged_and_warned_once,
    status_by_reference_answers_only_the_owner,
    satisfaction_survey_after_resolution_records_the_rating,
    assignment_takes_turns_among_agents_at_work,
    tickets_of_an_agent_gone_away_go_to_a_colleague,
    rule_changes_and_agent_changes_are_audited,
);
