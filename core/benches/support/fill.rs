//! The benchmarks' store filler: contacts, tickets and messages of support-like text
//! written straight through SQL (the ingest path would take an hour at a million
//! messages). Shared by the ticket queries and the ingest benchmarks.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchboard_core::store::{Dialect, Store, Value};

const ROWS_PER_INSERT: usize = 400;
const START: i64 = 1_750_000_000_000;
/// The length of the longest tickets, which the ticket view is measured on.
pub const LONG_TICKET_MESSAGES: usize = 200;
/// How many tickets of that length, when the messages allow.
const LONG_TICKETS: usize = 20;

/// Words of support conversations; some much more common than others, as in life.
pub const COMMON: &[&str] = &[
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
pub const TOPICAL: &[&str] = &[
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
pub const NAMES: &[&str] = &[
    "nadia", "ahmad", "siti", "wei", "mei", "rajesh", "priya", "john", "maria", "kenji", "aisha",
    "omar", "lee", "chen", "fatimah", "arjun", "sofia", "lucas", "hana", "yusuf",
];
pub const CHANNELS: &[&str] = &["api", "telegram", "email", "whatsapp", "sms"];
const STATUSES: &[&str] = &[
    "new", "open", "open", "pending", "resolved", "resolved", "closed",
];

pub fn reference(n: usize) -> String {
    format!("SB-{n:06X}")
}

/// A transaction id that appears in exactly one message.
pub fn tx_id(n: usize) -> u64 {
    (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

pub struct Facts {
    pub contacts: usize,
    pub tx_ids: usize,
    /// Tickets with exactly [`LONG_TICKET_MESSAGES`] messages, spread over the list.
    pub long_tickets: Vec<i64>,
}

/// Contacts (each with an address), tickets and messages in big transactions of multi-row inserts. Messages
/// are spread over tickets with a long tail (most tickets short, some long), in time
/// order, each ticket's last message time kept.
pub async fn fill(store: &Store, tickets: usize, messages: usize) -> Facts {
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
    // One address each, which the contact view lists.
    insert_rows(
        store,
        "identities (contact_id, kind, address, created_at)",
        4,
        (0..contacts).map(|n| {
            vec![
                Value::from(n as i64 + 1),
                Value::from("email"),
                Value::from(format!("customer-{n}@example.com")),
                Value::from(START),
            ]
        }),
    )
    .await;
    // Each ticket's messages: one each, a few long tickets spread over the list (at
    // most half the messages beyond the first ones), then the rest to random other
    // tickets, with a long tail.
    let mut per_ticket = vec![1usize; tickets];
    let long = LONG_TICKETS.min((messages - tickets) / 2 / (LONG_TICKET_MESSAGES - 1));
    let long_tickets: Vec<usize> = (0..long).map(|k| k * tickets / long).collect();
    for &t in &long_tickets {
        per_ticket[t] = LONG_TICKET_MESSAGES;
    }
    for _ in tickets + long * (LONG_TICKET_MESSAGES - 1)..messages {
        let mut t = ((rng.random::<f64>().powi(3) * tickets as f64) as usize).min(tickets - 1);
        while long_tickets.contains(&t) {
            t = (t + 1) % tickets;
        }
        per_ticket[t] += 1;
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
            if c.dialect() == Dialect::Postgres {
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
                Dialect::Postgres => "VACUUM ANALYZE",
                Dialect::Sqlite => "ANALYZE",
            })
        })
        .await
        .unwrap();
    Facts {
        contacts,
        tx_ids,
        long_tickets: long_tickets.iter().map(|&t| t as i64 + 1).collect(),
    }
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
