//! The inbox's queries at scale: the ticket list (first page, filtered, a deep cursor
//! page), full-text search, a ticket with its messages and a contact, over a store
//! filled straight through SQL (not the ingest path, which would take an hour at this
//! size) with support-like text.
//!
//!   cargo bench -p switchboard-core --bench ticket_queries [-- TICKETS MESSAGES]
//!
//! Defaults: 250,000 tickets and 1,000,000 messages. With SWITCHBOARD_TEST_POSTGRES_URL
//! set (scripts/with-postgres), PostgreSQL too. Each query shape runs 200 times with
//! varying arguments after a warm-up; the figures are p50 and p99 of what the agent
//! API's handlers read from the store: `tickets::list` for `GET /api/v1/tickets`, and
//! the reads of `GET /api/v1/tickets/{id}` and `GET /api/v1/contacts/{id}`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchboard_core::access::Scope;
use switchboard_core::helpdesk::sla;
use switchboard_core::model::TicketStatus;
use switchboard_core::store::queries::tickets::{self, TicketCursor, TicketFilter};
use switchboard_core::store::queries::{contacts, messages};
use switchboard_core::store::{Store, StoreLocation, Synchronous, Value, testing};

#[path = "support/fill.rs"]
mod fill;
use fill::{CHANNELS, COMMON, LONG_TICKET_MESSAGES, NAMES, TOPICAL, fill, reference, tx_id};

const RUNS: usize = 200;

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
    let long_tickets = &facts.long_tickets;
    let shapes: Vec<(&str, Shape)> = vec![
        (
            "list: first page",
            Box::new(|_| Query::List(page(TicketFilter::default()))),
        ),
        (
            "list: status",
            Box::new(|r| {
                let status = ["new", "open", "pending", "closed"][r.random_range(0..4)];
                Query::List(page(TicketFilter {
                    status: status.parse::<TicketStatus>().ok(),
                    ..Default::default()
                }))
            }),
        ),
        (
            "list: channel",
            Box::new(|r| {
                Query::List(page(TicketFilter {
                    channel: Some(CHANNELS[r.random_range(0..CHANNELS.len())].into()),
                    ..Default::default()
                }))
            }),
        ),
        (
            "list: assignee",
            Box::new(|r| {
                Query::List(page(TicketFilter {
                    assignee: Some(format!("agent-{}", r.random_range(0..40))),
                    ..Default::default()
                }))
            }),
        ),
        (
            "list: deep cursor (middle of the list)",
            Box::new(move |_| {
                Query::List(page(TicketFilter {
                    after: Some(deep),
                    ..Default::default()
                }))
            }),
        ),
        (
            "search: a transaction id (one ticket)",
            Box::new(|r| {
                Query::List(search(format!(
                    "{:016x}",
                    tx_id(r.random_range(0..facts.tx_ids))
                )))
            }),
        ),
        (
            "search: a name (~1% of messages)",
            Box::new(|r| Query::List(search(NAMES[r.random_range(0..NAMES.len())].to_owned()))),
        ),
        (
            "search: a topical word (~5%)",
            Box::new(|r| Query::List(search(TOPICAL[r.random_range(0..TOPICAL.len())].to_owned()))),
        ),
        (
            "search: a common word (~25%)",
            Box::new(|r| Query::List(search(COMMON[r.random_range(0..COMMON.len())].to_owned()))),
        ),
        (
            "search: two words",
            Box::new(|r| {
                Query::List(search(format!(
                    "{} {}",
                    COMMON[r.random_range(0..COMMON.len())],
                    TOPICAL[r.random_range(0..TOPICAL.len())]
                )))
            }),
        ),
        (
            "search: a prefix being typed",
            Box::new(|r| {
                let word = TOPICAL[r.random_range(0..TOPICAL.len())];
                Query::List(search(word[..word.len().min(3)].to_owned()))
            }),
        ),
        (
            "search: a reference",
            Box::new(|r| Query::List(search(reference(r.random_range(0..tickets))))),
        ),
        (
            "search: status filter and words",
            Box::new(|r| {
                Query::List(TicketFilter {
                    status: "pending".parse::<TicketStatus>().ok(),
                    ..search(TOPICAL[r.random_range(0..TOPICAL.len())].to_owned())
                })
            }),
        ),
        (
            "ticket: with its 200 messages",
            Box::new(|r| Query::Ticket(long_tickets[r.random_range(0..long_tickets.len())])),
        ),
        (
            "contact: with its identities and tickets",
            Box::new(|r| Query::Contact(r.random_range(1..=facts.contacts as i64))),
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
        black_box(groups);
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

async fn time(store: &Store, query: Query) -> Duration {
    let started = Instant::now();
    store
        .read(move |c| {
            match query {
                Query::List(filter) => {
                    black_box(tickets::list(c, &filter)?);
                }
                Query::Ticket(id) => {
                    let ticket = tickets::find_by_id_or_reference(c, &id.to_string(), &Scope::All)?;
                    black_box(sla::for_ticket(c, ticket.id)?);
                    black_box(contacts::get(c, ticket.contact_id, &Scope::All)?);
                    let found = messages::for_ticket(c, ticket.id)?;
                    assert_eq!(found.len(), LONG_TICKET_MESSAGES);
                    black_box(found);
                }
                Query::Contact(id) => {
                    black_box(contacts::get(c, id, &Scope::All)?);
                    black_box(tickets::list(
                        c,
                        &TicketFilter {
                            contact_id: Some(id),
                            limit: 200,
                            ..Default::default()
                        },
                    )?);
                }
            }
            Ok(())
        })
        .await
        .unwrap();
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

/// What one API request reads from the store.
enum Query {
    /// `GET /api/v1/tickets`: a list or a search.
    List(TicketFilter),
    /// `GET /api/v1/tickets/{id}`: the ticket, its SLA targets, its contact and its
    /// messages.
    Ticket(i64),
    /// `GET /api/v1/contacts/{id}`: the contact, its identities and its tickets.
    Contact(i64),
}

/// One query shape of the benchmark: a query drawn afresh for each run.
type Shape<'a> = Box<dyn Fn(&mut StdRng) -> Query + 'a>;
