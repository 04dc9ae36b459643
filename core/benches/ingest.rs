//! Ingest throughput without HTTP: many tasks hand messages to the core at once, as
//! webhook handlers do, and wait for each commit. Shows what the store and threading
//! cost by themselves.
//!
//!   cargo bench -p switchboard-core --bench ingest [-- MESSAGES CONCURRENCY [TICKETS STORED]]
//!
//! With TICKETS and STORED, each store first holds that many tickets and messages
//! (filled as for the ticket queries benchmark), so the rate is that of a store
//! in use. With SWITCHBOARD_TEST_POSTGRES_URL set (scripts/with-postgres), PostgreSQL
//! too.

use std::sync::Arc;
use std::time::Instant;

use switchboard_core::blobs::BlobStore;
use switchboard_core::connector::{Inbound, Sender, ThreadHint};
use switchboard_core::gateway::{Gateway, GatewayConfig};
use switchboard_core::store::{Store, StoreLocation, Synchronous, testing};
use switchboard_core::{ChannelId, Identity, SystemClock};

// The word lists are the ticket queries benchmark's.
#[allow(dead_code)]
#[path = "support/fill.rs"]
mod fill;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let messages = args.first().copied().unwrap_or(50_000);
    let concurrency = args.get(1).copied().unwrap_or(64);
    let stored = Stored {
        tickets: args.get(2).copied().unwrap_or(0),
        messages: args.get(3).copied().unwrap_or(0),
    };
    let dir = tempfile::tempdir().unwrap();
    // Each store with its writers: SQLite takes one writer at a time, PostgreSQL four.
    let mut stores = Vec::new();
    for synchronous in [Synchronous::Normal, Synchronous::Full] {
        let path = dir.path().join(format!("{synchronous:?}.db"));
        let store = Store::open(StoreLocation::Sqlite { path, synchronous })
            .await
            .unwrap();
        stores.push((format!("sqlite (synchronous={synchronous:?})"), store, 1));
    }
    if std::env::var_os(testing::POSTGRES_URL_VAR).is_some() {
        stores.push(("postgres".into(), testing::postgres().await.unwrap(), 4));
    } else {
        println!(
            "postgres: skipped ({} is not set)",
            testing::POSTGRES_URL_VAR
        );
    }
    for (label, store, writers) in stores {
        run(
            &label,
            store,
            writers,
            &stored,
            messages,
            concurrency,
            dir.path(),
        )
        .await;
    }
}

/// What a store holds before the run.
struct Stored {
    tickets: usize,
    messages: usize,
}

async fn run(
    label: &str,
    store: Store,
    writers: usize,
    stored: &Stored,
    messages: usize,
    concurrency: usize,
    dir: &std::path::Path,
) {
    if stored.messages > 0 {
        fill::fill(&store, stored.tickets.max(1), stored.messages).await;
    }
    let config = GatewayConfig {
        ingest_writers: writers,
        ..GatewayConfig::default()
    };
    let channel = ChannelId::parse("api").unwrap();
    let gateway = Gateway::new(
        store,
        BlobStore::new(dir.join("blobs")),
        Arc::new(SystemClock),
        config,
        [channel.clone()],
    );
    let context = gateway.channel_context(channel);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let context = context.clone();
        let label = label.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while n < messages {
                let customer = n % 1000;
                let inbound = Inbound {
                    external_id: format!("{label}-{n}"),
                    sender: Sender {
                        identity: Identity::api("api", &format!("customer-{customer}")).unwrap(),
                        display_name: Some(format!("Customer {customer}")),
                        reachable: false,
                    },
                    // Not the filled conversations' names: these are new.
                    conversation: format!("chat-{customer}"),
                    thread: ThreadHint::default(),
                    subject: None,
                    text: format!("message {n}: my withdrawal is stuck"),
                    html: None,
                    attachments: Vec::new(),
                    automatic: false,
                    edit_of: None,
                    group: None,
                    participants: Vec::new(),
                    reply_by: None,
                };
                context.ingest(vec![inbound]).await.unwrap();
                n += concurrency;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{label}: {messages} messages, {concurrency} concurrent, into {} stored: {:.0} messages/s",
        stored.messages,
        messages as f64 / seconds
    );
}
