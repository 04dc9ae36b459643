//! Replies out: how fast the gateway's dispatcher sends agents' replies to a provider
//! that answers at once. This process is that provider (the api channel's callback
//! receiver, checking every signature) and the agents: it opens `--tickets` tickets
//! with signed webhooks, queues `--replies` replies through the agent API from
//! `--concurrency` workers, and times each from its `202` to its arrival here. Then
//! every accepted reply must have arrived once, and with `--rate` no second may have
//! seen more than the channel's limit allows.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Client, Url};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::report::Latency;

/// `p50 .. p90 .. p99 .. max ..` in milliseconds, or `none`.
fn percentiles(samples: &mut [u32]) -> String {
    match Latency::from_micros(samples) {
        Some(l) => format!(
            "p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            l.p50, l.p90, l.p99, l.max
        ),
        None => "none".into(),
    }
}

#[derive(Debug, clap::Args)]
pub struct RepliesArgs {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: Url,
    /// The api channel whose replies are measured; its `callback_url` must be
    /// `http://<--receiver>/replies`.
    #[arg(long, default_value = "api")]
    channel: String,
    /// The channel's secret: webhooks are signed with it, and so are its callbacks.
    #[arg(long, env = "SWITCHBOARD_LOADGEN_SECRET", hide_env_values = true)]
    secret: String,
    /// An agent's bearer token.
    #[arg(long, env = "SWITCHBOARD_LOADGEN_AGENT_TOKEN", hide_env_values = true)]
    agent_token: String,
    /// Where this process listens as the provider.
    #[arg(long)]
    receiver: SocketAddr,
    /// Tickets the replies go to, in turn.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    tickets: u32,
    /// Replies queued.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    replies: u32,
    /// Reply requests in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// The channel's configured rate a second, to check every second against.
    #[arg(long)]
    rate: Option<u32>,
    /// Its burst (default: the rate).
    #[arg(long)]
    burst: Option<u32>,
    /// The gateway's process id, to read the CPU it used from `/proc/<pid>/stat`.
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// How long to wait for the last reply to arrive.
    #[arg(long, default_value = "120s", value_parser = crate::parse_duration)]
    timeout: Duration,
}

/// What the provider saw.
#[derive(Default)]
struct Provider {
    secret: String,
    /// (message id, when it arrived).
    arrived: Mutex<Vec<(i64, Instant)>>,
    bad_signatures: AtomicU32,
}

async fn receive(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let at = Instant::now();
    let mut mac = Hmac::<Sha256>::new_from_slice(provider.secret.as_bytes()).expect("any key");
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let signed = headers
        .get("x-switchboard-signature")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !signed {
        provider.bad_signatures.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::UNAUTHORIZED, "bad signature".into());
    }
    let Some(id) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["message_id"].as_i64())
    else {
        return (StatusCode::BAD_REQUEST, "no message_id".into());
    };
    provider
        .arrived
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((id, at));
    (
        StatusCode::OK,
        json!({ "external_id": format!("fake-{id}") }).to_string(),
    )
}

/// CPU time a process used so far, from `/proc/<pid>/stat` (user and system).
fn cpu_of(pid: Option<u32>) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux counts in USER_HZ, 100 a second everywhere it runs.
    Some(Duration::from_millis(ticks * 10))
}

/// The most arrivals within any one second.
fn busiest_second(times: &[Instant]) -> usize {
    let mut busiest = 0;
    let mut start = 0;
    for (end, at) in times.iter().enumerate() {
        while *at - times[start] >= Duration::from_secs(1) {
            start += 1;
        }
        busiest = busiest.max(end + 1 - start);
    }
    busiest
}

pub async fn run(args: RepliesArgs, command: String) -> anyhow::Result<std::process::ExitCode> {
    let provider = Arc::new(Provider {
        secret: args.secret.clone(),
        ..Provider::default()
    });
    let listener = tokio::net::TcpListener::bind(args.receiver)
        .await
        .with_context(|| format!("cannot listen on {}", args.receiver))?;
    let app = axum::Router::new()
        .route("/replies", axum::routing::post(receive))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(args.concurrency as usize)
        .tcp_nodelay(true)
        .build()?;
    let base = args.url.as_str().trim_end_matches('/').to_owned();
    let run_id = hex::encode(rand::random::<[u8; 6]>());

    // The tickets, each a customer's first message.
    let mut references = Vec::with_capacity(args.tickets as usize);
    for t in 0..args.tickets {
        let body = json!({
            "external_id": format!("{run_id}-t{t}"),
            "sender": {"id": format!("{run_id}-customer{t}")},
            "text": "Where is my withdrawal?",
        })
        .to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(args.secret.as_bytes()).expect("any key");
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let answer: Value = client
            .post(format!("{base}/webhooks/{}", args.channel))
            .header("content-type", "application/json")
            .header("x-switchboard-signature", signature)
            .body(body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let reference = answer["ticket_reference"]
            .as_str()
            .context("the webhook's answer names no ticket")?;
        references.push(reference.to_owned());
    }
    let references = Arc::new(references);

    // The replies, queued as fast as the API takes them.
    let cpu_before = cpu_of(args.gateway_pid);
    let started = Instant::now();
    let next = Arc::new(AtomicU32::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (client, base, token, references, next) = (
            client.clone(),
            base.clone(),
            args.agent_token.clone(),
            references.clone(),
            next.clone(),
        );
        let total = args.replies;
        workers.spawn(async move {
            let mut accepted = Vec::new();
            let mut round_trips = Vec::new();
            let mut refused = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return (accepted, round_trips, refused);
                }
                let reference = &references[n as usize % references.len()];
                let posted = Instant::now();
                let response = client
                    .post(format!("{base}/api/v1/tickets/{reference}/replies"))
                    .bearer_auth(&token)
                    .json(&json!({ "text": format!("Reply {n}: we are on it.") }))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == StatusCode::ACCEPTED => {
                        let at = Instant::now();
                        let body: Value = r.json().await.unwrap_or_default();
                        if let Some(id) = body["message_id"].as_i64() {
                            accepted.push((id, at));
                            round_trips.push(crate::chat::micros(at - posted));
                        }
                    }
                    Ok(r) => refused.push(format!("HTTP {}", r.status().as_u16())),
                    Err(e) => refused.push(e.to_string()),
                }
            }
        });
    }
    let mut accepted = Vec::new();
    let mut round_trips = Vec::new();
    let mut refused = Vec::new();
    while let Some(result) = workers.join_next().await {
        let (a, r, f) = result?;
        accepted.extend(a);
        round_trips.extend(r);
        refused.extend(f);
    }
    let queued_in = started.elapsed();

    // Until every accepted reply arrived, or the time is up.
    let deadline = Instant::now() + args.timeout;
    loop {
        let arrived = provider
            .arrived
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        if arrived >= accepted.len() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Anything sent twice would come now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu = cpu_before.zip(cpu_of(args.gateway_pid)).map(|(a, b)| b - a);
    let mut arrived = provider
        .arrived
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    arrived.sort_by_key(|(_, at)| *at);
    let mut first_arrival = std::collections::HashMap::new();
    let mut twice = 0;
    for (id, at) in &arrived {
        if first_arrival.insert(*id, *at).is_some() {
            twice += 1;
        }
    }
    let mut waits: Vec<u32> = accepted
        .iter()
        .filter_map(|(id, at)| {
            first_arrival
                .get(id)
                .map(|arrival| crate::chat::micros(*arrival - *at))
        })
        .collect();
    let missing = accepted
        .iter()
        .filter(|(id, _)| !first_arrival.contains_key(id))
        .count();
    let times: Vec<Instant> = arrived.iter().map(|(_, at)| *at).collect();
    let busiest = busiest_second(&times);
    let sending = times.last().map_or(Duration::ZERO, |last| *last - started);

    println!("command:     {command}");
    println!(
        "target:      {} tickets, {} replies from {} workers, provider at {}",
        args.tickets, args.replies, args.concurrency, args.receiver
    );
    println!(
        "queued:      {} accepted (202) in {:.2} s: {:.0}/s; {} refused",
        accepted.len(),
        queued_in.as_secs_f64(),
        accepted.len() as f64 / queued_in.as_secs_f64(),
        refused.len()
    );
    println!("request ms:  {}", percentiles(&mut round_trips));
    println!(
        "sent:        {} arrived at the provider, {:.0}/s from the first request to the last arrival ({:.2} s)",
        first_arrival.len(),
        first_arrival.len() as f64 / sending.as_secs_f64().max(1e-9),
        sending.as_secs_f64()
    );
    println!("202 to provider ms: {}", percentiles(&mut waits));
    println!("busiest second: {busiest} arrivals");
    if let Some(cpu) = cpu {
        println!(
            "gateway cpu: {:.2} s, {:.0} µs a reply",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / first_arrival.len().max(1) as f64
        );
    }
    let mut problems = Vec::new();
    if missing > 0 {
        problems.push(format!("{missing} accepted replies never arrived"));
    }
    if twice > 0 {
        problems.push(format!("{twice} replies arrived more than once"));
    }
    let bad = provider.bad_signatures.load(Ordering::Relaxed);
    if bad > 0 {
        problems.push(format!("{bad} callbacks with a bad signature"));
    }
    if let Some(rate) = args.rate {
        let allowed = (rate + args.burst.unwrap_or(rate)) as usize;
        if busiest > allowed {
            problems.push(format!(
                "{busiest} replies in one second, where the limit allows {allowed}"
            ));
        }
    }
    if accepted.is_empty() {
        bail!("no reply was accepted: {:?}", refused.first());
    }
    if problems.is_empty() {
        println!("result:      OK (every accepted reply arrived once)");
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        println!("result:      FAILED: {}", problems.join("; "));
        Ok(std::process::ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_second_counts_any_window() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let times = [
            at(0),
            at(100),
            at(900),
            at(1000),
            at(1050),
            at(1950),
            at(3000),
        ];
        // [100, 1100) holds four; no other second holds more.
        assert_eq!(busiest_second(&times), 4);
        assert_eq!(busiest_second(&[]), 0);
    }
}
