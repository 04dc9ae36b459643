//! The inbox's queries at scale: the ticket list (first page, filtered, a deep cursor
//! page) and full-text search, over a store filled straight through SQL (not the
//! ingest path, which would take an hour at this size) with support-like text.
//!
//!   cargo bench -p switchboard-core --bench ticket_queries [-- TICKETS MESSAGES]
//!
//! Defaults: 250,000 tickets and 1,000,000 messages. With SWITCHBOARD_TEST_POSTGRES_URL
//! set (scripts/with-postgres), PostgreSQL too. Each query shape runs 200 times with
//! varying arguments after a warm-up; the figures are p50 and p99 of the query through
//! `tickets::list`, which is what `GET /api/v1/tickets` runs.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchboard_core::model::TicketStatus;
use switchboard_core::store::queries::tickets::{self, TicketCursor, TicketFilter};
use switchboard_core::store::{Store, StoreLocation, Synchronous, Value, testing};

const RUNS: usize = 200;
const ROWS_PER_INSERT: usize = 400;
const START: i64 = 1_750_000_000_000;

/// Words of support conversations; some much more common than others, as in life.
const COMMON: &[&str] = &[
    "hello",
    "hi",
    "please",
    "thanks",
    "my",
    "the",
    "is",
    "not",
    "still",
    "since",
    "yesterday",
    "account",
    "deposit",
    "withdrawal",
    "pending",
    "transfer",
    "help",
    "when",
    "will",
    "it",
];
const TOPICAL: &[&str] = &[
    "btc",
    "eth",
    "usdt",
    "wallet",
    "address",
    "network",
    "fee",
    "kyc",
    "verification",
    "passport",
    "selfie",
    "rejected",
    "approved",
    "login",
    "password",
    "2fa",
    "authenticator",
    "locked",
    "unlock",
    "order",
    "limit",
    "market",
    "stop",
    "leverage",
    "margin",
    "liquidated",
    "futures",
    "spot",
    "staking",
    "rewards",
    "apy",
    "bank",
    "card",
    "declined",
    "refund",
    "chargeback",
    "statement",
    "tax",
    "report",
    "api",
    "key",
    "ip",
    "whitelist",
    "phone",
    "email",
    "changed",
    "hacked",
    "suspicious",
    "confirm",
    "cancel",
    "delay",
    "hours",
    "days",
    "minutes",
    "credited",
    "missing",
    "wrong",
    "memo",
    "tag",
    "chain",
    "bep20",
    "erc20",
    "trc20",
    "solana",
    "ripple",
    "xrp",
    "doge",
    "bonus",
    "referral",
    "commission",
    "vip",
    "tier",
    "upgrade",
    "closed",
    "reopen",
    "complaint",
    "urgent",
    "escalate",
    "manager",
];
const NAMES: &[&str] = &[
    "nadia", "ahmad", "siti", "wei", "mei", "rajesh", "priya", "john", "maria", "kenji", "aisha",
    "omar", "lee", "chen", "fatimah", "arjun", "sofia", "lucas", "hana", "yusuf",
];
const CHANNELS: &[&str] = &["api", "telegram", "email", "whatsapp", "sms"];
const STATUSES: &[&str] = &[
    "new", "open", "open", "pending", "resolved", "resolved", "closed",
];

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let tickets = args.first().copied().unwrap_or(250_000);
    let messages = args.get(1).copied().unwrap_or(1_000_000).max(tickets);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queries.db");
    let store = Store::open(StoreLocation::Sqlite {
        path,
        synchronous: Synchronous::Normal,
    })
    .await
    .unwrap();
    run("sqlite", store, tickets, messages).await;
    if std::env::var_os(testing::POSTGRES_URL_VAR).is_some() {
        let store = testing::postgres().await.unwrap();
        run("postgres", store, tickets, messages).await;
    } else {
        println!(
            "postgres: skipped ({} is not set)",
            testing::POSTGRES_URL_VAR
        );
    }
}

async fn run(label: &str, store: Store, tickets: usize, messages: usize) {
    let started = Instant::now();
    let facts = fill(&store, tickets, messages).await;
    println!(
        "{label}: {tickets} tickets, {messages} messages filled in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let deep = deep_cursor(&store, tickets / 2).await;
    let mut rng = StdRng::seed_from_u64(7);
    let shapes: Vec<(&str, Shape)> = vec![
        (
            "list: first page",
            Box::new(|_| page(TicketFilter::default())),
        ),
        (
            "list: status",
            Box::new(|r| {
                let status = ["new", "open", "pending", "closed"][r.random_range(0..4)];
                page(TicketFilter {
                    status: status.parse::<TicketStatus>().ok(),
                    ..Default::default()
                })
            }),
        ),
        (
            "list: channel",
            Box::new(|r| {
                page(TicketFilter {
                    channel: Some(CHANNELS[r.random_range(0..CHANNELS.len())].into()),
                    ..Default::default()
                })
            }),
        ),
        (
            "list: assignee",
            Box::new(|r| {
                page(TicketFilter {
                    assignee: Some(format!("agent-{}", r.random_range(0..40))),
                    ..Default::default()
                })
            }),
        ),
        (
            "list: deep cursor (middle of the list)",
            Box::new(move |_| {
                page(TicketFilter {
                    after: Some(deep),
                    ..Default::default()
                })
            }),
        ),
        (
            "search: a transaction id (one ticket)",
            Box::new(|r| search(format!("{:016x}", tx_id(r.random_range(0..facts.tx_ids))))),
        ),
        (
            "search: a name (~1% of messages)",
            Box::new(|r| search(NAMES[r.random_range(0..NAMES.len())].to_owned())),
        ),
        (
            "search: a topical word (~5%)",
            Box::new(|r| search(TOPICAL[r.random_range(0..TOPICAL.len())].to_owned())),
        ),
        (
            "search: a common word (~25%)",
            Box::new(|r| search(COMMON[r.random_range(0..COMMON.len())].to_owned())),
        ),
        (
            "search: two words",
            Box::new(|r| {
                search(format!(
                    "{} {}",
                    COMMON[r.random_range(0..COMMON.len())],
                    TOPICAL[r.random_range(0..TOPICAL.len())]
                ))
            }),
        ),
        (
            "search: a prefix being typed",
            Box::new(|r| {
                let word = TOPICAL[r.random_range(0..TOPICAL.len())];
                search(word[..word.len().min(3)].to_owned())
            }),
        ),
        (
            "search: a reference",
            Box::new(|r| search(reference(r.random_range(0..tickets)))),
        ),
        (
            "search: status filter and words",
            Box::new(|r| TicketFilter {
                status: "pending".parse::<TicketStatus>().ok(),
                ..search(TOPICAL[r.random_range(0..TOPICAL.len())].to_owned())
            }),
        ),
    ];
    println!(
        "{:<42} {:>9} {:>9} {:>9}",
        "query", "p50 ms", "p99 ms", "max ms"
    );
    for (name, shape) in &shapes {
        for _ in 0..10 {
            time(&store, shape(&mut rng)).await;
        }
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            times.push(time(&store, shape(&mut rng)).await);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:<42} {:>9.2} {:>9.2} {:>9.2}",
            ms(times[RUNS / 2]),
            ms(times[RUNS * 99 / 100]),
            ms(times[RUNS - 1])
        );
    }
    // The counts beside the inbox's filters: every ticket grouped, taken at most
    // every two seconds per node (src/api/counts.rs), so a few runs say enough.
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let groups = store.read(tickets::groups).await.unwrap();
        std::hint::black_box(groups);
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "{:<42} {:>9.2} {:>9.2} {:>9.2}",
        "counts: every ticket grouped (20 runs)",
        times[10].as_secs_f64() * 1000.0,
        times[19].as_secs_f64() * 1000.0,
        times[19].as_secs_f64() * 1000.0
    );
}

fn page(filter: TicketFilter) -> TicketFilter {
    TicketFilter {
        limit: 50,
        ..filter
    }
}

fn search(text: String) -> TicketFilter {
    page(TicketFilter {
        text: Some(text),
        ..Default::default()
    })
}

async fn time(store: &Store, filter: TicketFilter) -> Duration {
    let started = Instant::now();
    let (found, _) = store
        .read(move |c| tickets::list(c, &filter))
        .await
        .unwrap();
    std::hint::black_box(found);
    started.elapsed()
}

/// The cursor after the first `n` tickets of the list.
async fn deep_cursor(store: &Store, n: usize) -> TicketCursor {
    let row = store
        .read(move |c| {
            c.query_one(
                "SELECT last_message_at, id FROM tickets WHERE status <> 'filtered'
                 ORDER BY last_message_at DESC, id DESC LIMIT 1 OFFSET $1",
                &[Value::from(n as i64)],
            )
        })
        .await
        .unwrap()
        .unwrap();
    TicketCursor::Activity {
        last_message_at: row.i64(0).unwrap(),
        id: row.i64(1).unwrap(),
    }
}

fn reference(n: usize) -> String {
    format!("SB-{n:06X}")
}

/// A transaction id that appears in exactly one message.
fn tx_id(n: usize) -> u64 {
    (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// One query shape of the benchmark: a filter drawn afresh for each run.
type Shape<'a> = Box<dyn Fn(&mut StdRng) -> TicketFilter + 'a>;

struct Facts {
    tx_ids: usize,
}

/// Contacts, tickets and messages in big transactions of multi-row inserts. Messages
/// are spread over tickets with a long tail (most tickets short, some long), in time
/// order, each ticket's last message time kept.
async fn fill(store: &Store, tickets: usize, messages: usize) -> Facts {
    let mut rng = StdRng::seed_from_u64(42);
    let contacts = tickets.div_ceil(2);
    insert_rows(
        store,
        "contacts (id, name, created_at, updated_at)",
        4,
        (0..contacts).map(|n| {
            vec![
                Value::from(n as i64 + 1),
                Value::from(format!("Customer {n}")),
                Value::from(START),
                Value::from(START),
            ]
        }),
    )
    .await;
    // Each ticket's messages: one each, then the rest to random tickets.
    let mut per_ticket = vec![1usize; tickets];
    for _ in tickets..messages {
        let skewed = (rng.random::<f64>().powi(3) * tickets as f64) as usize;
        per_ticket[skewed.min(tickets - 1)] += 1;
    }
    let mut message_rows = Vec::with_capacity(messages);
    let mut ticket_rows = Vec::with_capacity(tickets);
    let mut at = START;
    let mut tx_ids = 0;
    for (t, count) in per_ticket.iter().enumerate() {
        let channel = CHANNELS[t % CHANNELS.len()];
        let created = at;
        for m in 0..*count {
            at += 7;
            let mut words: Vec<String> = Vec::new();
            for _ in 0..rng.random_range(6..24) {
                let pick: f64 = rng.random();
                words.push(if pick < 0.55 {
                    COMMON[rng.random_range(0..COMMON.len())].to_owned()
                } else if pick < 0.97 {
                    TOPICAL[rng.random_range(0..TOPICAL.len())].to_owned()
                } else {
                    NAMES[rng.random_range(0..NAMES.len())].to_owned()
                });
            }
            if rng.random_range(0..4) == 0 {
                words.push(format!("txid {:016x}", tx_id(tx_ids)));
                tx_ids += 1;
            }
            let inbound = m % 2 == 0;
            message_rows.push(vec![
                Value::from((t + 1) as i64),
                Value::from(if inbound { "inbound" } else { "outbound" }),
                Value::from(channel),
                Value::from(format!("conv-{t}")),
                Value::from(if inbound { "Customer" } else { "Agent" }),
                Value::from(words.join(" ")),
                Value::from(at),
                Value::from(at),
            ]);
        }
        let status = STATUSES[rng.random_range(0..STATUSES.len())];
        let assignee = (status != "new").then(|| format!("agent-{}", rng.random_range(0..40)));
        ticket_rows.push(vec![
            Value::from((t + 1) as i64),
            Value::from(reference(t)),
            Value::from(status),
            Value::from("normal"),
            assignee.map(Value::from).unwrap_or(Value::Null),
            Value::from(channel),
            Value::from(format!("conv-{t}")),
            Value::from((t % contacts + 1) as i64),
            Value::from(created),
            Value::from(at),
            Value::from(at),
        ]);
    }
    insert_rows(
        store,
        "tickets (id, reference, status, priority, assignee, channel, conversation, contact_id, created_at, updated_at, last_message_at)",
        11,
        ticket_rows.into_iter(),
    )
    .await;
    insert_rows(
        store,
        "messages (ticket_id, direction, channel, conversation, author, body, created_at, updated_at)",
        8,
        message_rows.into_iter(),
    )
    .await;
    // Ids were given explicitly: PostgreSQL's identity must move past them.
    store
        .write(|c| {
            if c.dialect() == switchboard_core::store::Dialect::Postgres {
                for table in ["contacts", "tickets"] {
                    c.execute(
                        &format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"),
                        &[],
                    )?;
                }
            }
            Ok(())
        })
        .await
        .unwrap();
    // VACUUM too on PostgreSQL (outside a transaction), or autovacuum would start on
    // the new rows in the middle of the measurements, as it does in the first hour
    // of a real import.
    store
        .read(|c| {
            c.execute_script(match c.dialect() {
                switchboard_core::store::Dialect::Postgres => "VACUUM ANALYZE",
                switchboard_core::store::Dialect::Sqlite => "ANALYZE",
            })
        })
        .await
        .unwrap();
    Facts { tx_ids }
}

async fn insert_rows(
    store: &Store,
    into: &'static str,
    columns: usize,
    rows: impl Iterator<Item = Vec<Value>>,
) {
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(ROWS_PER_INSERT * 50).collect();
        store
            .write(move |c| {
                for batch in chunk.chunks(ROWS_PER_INSERT) {
                    let placeholders: Vec<String> = (0..batch.len())
                        .map(|r| {
                            let cells: Vec<String> = (1..=columns)
                                .map(|k| format!("${}", r * columns + k))
                                .collect();
                            format!("({})", cells.join(", "))
                        })
                        .collect();
                    let values: Vec<Value> = batch.iter().flatten().cloned().collect();
                    c.execute(
                        &format!("INSERT INTO {into} VALUES {}", placeholders.join(", ")),
                        &values,
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
}
