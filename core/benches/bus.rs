//! The bus between nodes: how soon one node's notice reaches another over PostgreSQL
//! LISTEN/NOTIFY, and how many notices a second it carries. Two buses on one
//! database stand for two nodes; one announces, the other receives.
//!
//!   scripts/with-postgres cargo bench -p switchboard-core --bench bus [-- NOTICES]

use std::time::{Duration, Instant};

use switchboard_core::bus::{Bus, Topic};
use switchboard_core::store::testing;

#[tokio::main]
async fn main() {
    let notices: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    if std::env::var_os(testing::POSTGRES_URL_VAR).is_none() {
        println!("bus: skipped ({} is not set)", testing::POSTGRES_URL_VAR);
        return;
    }
    let store = testing::postgres().await.unwrap();
    let sender = Bus::start(&store, "bench-a");
    let receiver = Bus::start(&store, "bench-b");
    let mut heard = receiver.subscribe();
    // Both listening before the first notice.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // One at a time: the time from announcing to hearing, the latency a live feed
    // or a web chat socket on another node adds.
    let mut latencies = Vec::with_capacity(1000);
    for i in 0..1000 {
        let started = Instant::now();
        sender.announce(Topic::Chat, &format!("web {i} conversation"));
        loop {
            let notice = heard.recv().await.unwrap();
            if notice.topic == Topic::Chat && notice.body == format!("web {i} conversation") {
                break;
            }
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "one notice at a time: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );

    // As many as the sender can queue: what the bus carries a second.
    let started = Instant::now();
    let receiving = tokio::spawn(async move {
        let mut count = 0;
        while count < notices {
            match heard.recv().await {
                Ok(notice) if notice.topic == Topic::Chat => count += 1,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    count += missed as usize
                }
                Err(error) => panic!("{error}"),
            }
        }
    });
    for i in 0..notices {
        sender.announce(Topic::Chat, &format!("web {i} conversation"));
        if i % 256 == 0 {
            tokio::task::yield_now().await;
        }
    }
    receiving.await.unwrap();
    let elapsed = started.elapsed();
    println!(
        "{notices} notices at once: {:.0} a second ({:.2} s)",
        notices as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}
