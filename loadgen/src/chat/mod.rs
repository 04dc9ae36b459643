//! `switchboard-loadgen chat`: the web chat under load, as a benchmark that reports
//! figures. Customers' sockets go to `GET /webchat/{channel}/ws` as a browser's
//! would (with an allowed `Origin`), agents reply through the agent API, all on
//! loopback. Two phases, on the same gateway, one after the other:
//!
//! 1. Idle: `--idle` sockets each say `hello`, get their `welcome` and stay open,
//!    silent, to the end of the run. The gateway's resident memory (read from
//!    `/proc/<pid>/status`) before and after, over the sockets, is the memory per
//!    idle socket.
//! 2. Active: `--chats` more sockets write a message every `--message-every` and
//!    wait for each `ack`; once a chat's ticket exists, its agent posts a reply every
//!    `--reply-every`, and the time from the request to the `message` frame at the
//!    chat's socket is the reply latency. The idle sockets stay open meanwhile.
//!
//! Then the checks: every acknowledged message stored once (`--verify-store`), its
//! own `message` frame back once, every accepted reply at its own socket exactly
//! once, and every socket's message numbers in sequence.
//!
//! ```text
//! switchboard-loadgen chat --url http://127.0.0.1:8080 --channel chat \
//!     --origin https://shop.example --agent-token "$TOKEN" --idle 10000 --chats 1000 \
//!     --duration 20s --gateway-pid "$PID" --verify-store sqlite:./data/switchboard.db
//! ```
//!
//! Layout: `socket` opens sockets and reads frames; `customer` is the idle and the
//! active customers; `agent` the replies; `check` matches what was sent with what
//! arrived and was stored; `report` prints it.

mod agent;
mod check;
mod customer;
mod report;
mod socket;

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{Client, Url};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::report::Latency;
use crate::verify::StoreSpec;
use agent::{AgentTally, Desk};
use customer::{ChatTally, Crowd, Live, Openings, Pace};
use report::{Active, Idle, Opening, Rss};
use socket::{OpenError, Target};

/// Web chat sockets at a running gateway: idle sockets for memory, then active
/// chats with agents replying, for throughput and latency; then the checks that
/// nothing was lost or doubled.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: Url,
    /// The id of the web chat channel.
    #[arg(long, default_value = "chat")]
    channel: String,
    /// The page the sockets come from: one of the channel's `allowed_origins`.
    #[arg(long, default_value = "https://bench.example")]
    origin: String,
    /// An agent's API token (the config's `[[agents]]`), for the replies.
    #[arg(long, env = "SWITCHBOARD_LOADGEN_AGENT_TOKEN", hide_env_values = true)]
    agent_token: String,
    /// Idle sockets: each says hello, gets its welcome and stays open to the end.
    #[arg(long, default_value_t = 10_000)]
    idle: u32,
    /// Active chats, opened after the idle sockets.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    chats: u32,
    /// How long the active chats write and their agents reply: `20s`, `2m`.
    #[arg(long, default_value = "20s", value_parser = crate::parse_duration)]
    duration: Duration,
    /// Each chat's customer writes this often; `0`: the next message as soon as the
    /// last is acknowledged.
    #[arg(long, default_value = "2s", value_parser = parse_pace)]
    message_every: Duration,
    /// Each chat's agent replies this often; `0`: back to back.
    #[arg(long, default_value = "2s", value_parser = parse_pace)]
    reply_every: Duration,
    /// Reply requests in flight at once, over all chats.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    reply_concurrency: u32,
    /// Handshakes in flight at once while sockets open. Each welcome reads the
    /// store on a blocking thread: many at once start that many threads, whose
    /// memory stays, and would count against the sockets.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    open_concurrency: u32,
    /// Local addresses to connect from, in turn (`127.0.0.2,127.0.0.3`). Each has its
    /// own ephemeral ports, for more sockets than one address has ports (see
    /// `/proc/sys/net/ipv4/ip_local_port_range`). Default: the kernel picks.
    #[arg(long, value_delimiter = ',')]
    source: Vec<IpAddr>,
    /// The gateway's process id, to read its memory from `/proc/<pid>/status`.
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// How long the gateway settles after the idle sockets opened, before its memory
    /// is read.
    #[arg(long, default_value = "2s", value_parser = crate::parse_duration)]
    settle: Duration,
    /// After the window, how long to wait at most for the acks and replies still on
    /// their way (replies queue in the outbox when the store cannot keep up).
    #[arg(long, default_value = "30s", value_parser = crate::parse_duration)]
    drain: Duration,
    /// After the run, check the store: `sqlite:PATH` or a `postgres://` URL.
    #[arg(long, value_parser = crate::verify::parse_store)]
    verify_store: Option<StoreSpec>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Allow a target (or source address) other than loopback.
    #[arg(long)]
    allow_remote: bool,
}

/// A pace: a duration, or `0` for none.
fn parse_pace(value: &str) -> Result<Duration, String> {
    match value.trim() {
        "0" | "0s" | "0ms" => Ok(Duration::ZERO),
        other => crate::parse_duration(other),
    }
}

/// How long to wait for the widgets to hear that agents are at work: the gateway
/// looks every 10 s.
const STATUS_WITHIN: Duration = Duration::from_secs(12);

pub(crate) fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

/// `ws://host:port/{base path}/webchat/{channel}/ws`.
fn ws_url(base: &Url, channel: &str) -> anyhow::Result<String> {
    if base.scheme() != "http" {
        bail!("{base}: only http:// gateways (no TLS in this client)");
    }
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("{base} cannot be a base URL"))?
        .pop_if_empty()
        .extend(["webchat", channel, "ws"]);
    Ok(url.as_str().replacen("http://", "ws://", 1))
}

pub async fn run(args: ChatArgs, command: String) -> anyhow::Result<ExitCode> {
    let remote = !crate::is_loopback(&args.url) || args.source.iter().any(|ip| !ip.is_loopback());
    if remote && !args.allow_remote {
        bail!(
            "{} (or a --source) is not a loopback address; pass --allow-remote to load another host",
            args.url
        );
    }
    let host = args.url.host_str().context("the URL has no host")?;
    let port = args.url.port_or_known_default().unwrap_or(80);
    let addr = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let url = ws_url(&args.url, &args.channel)?;
    let client = Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(args.reply_concurrency as usize)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    client
        .get(args.url.clone())
        .send()
        .await
        .with_context(|| format!("the gateway does not answer at {}", args.url))?;

    // The agent signs in as at work: the token is checked before any socket opens,
    // and the widgets' welcome says agents are online, as in a busy hour. (Otherwise
    // the first reply would turn them online in the window, and that change goes to
    // every socket at once.)
    let me = client
        .get(args.url.join("api/v1/me")?)
        .bearer_auth(&args.agent_token)
        .send()
        .await
        .context("GET /api/v1/me")?;
    if !me.status().is_success() {
        bail!(
            "GET /api/v1/me with --agent-token answers {}: is it an agent's token?",
            me.status()
        );
    }

    let run_id = hex::encode(rand::random::<[u8; 8]>());
    let (stop, stopped) = watch::channel(false);
    let (opened, outcomes) = mpsc::unbounded_channel();
    let mut openings = Openings {
        outcomes,
        opening: Opening::default(),
        welcome_us: Vec::new(),
    };
    let crowd = Arc::new(Crowd {
        target: Target {
            addr,
            url: url.clone(),
            origin: args
                .origin
                .parse()
                .context("--origin is not a header value")?,
            sources: args.source.clone(),
        },
        opening: Semaphore::new(args.open_concurrency as usize),
        stop: stopped,
        opened,
        dropped: AtomicU64::new(0),
        idle_frames: AtomicU64::new(0),
        idle_pings: AtomicU64::new(0),
        live: Live::default(),
    });
    let say = |line: String| {
        if !args.json {
            eprintln!("{line}");
        }
    };

    // The widgets hear that agents are at work (a `status` frame to every socket)
    // when the gateway next looks, within about 10 s: before the sockets open, so
    // that neither phase measures that broadcast. A socket kept open hears it.
    let (mut probe, _) = crowd
        .target
        .start(0)
        .await
        .map_err(|OpenError(kind, e)| anyhow::anyhow!("cannot open a socket ({kind}): {e}"))?;
    let asked = Instant::now();
    let heard = tokio::time::timeout(STATUS_WITHIN, async {
        while let Ok(Some(frame)) = socket::next(&mut probe).await {
            if frame["type"] == "status" {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    say(if heard {
        format!(
            "the widgets heard that agents are at work after {:.1} s",
            asked.elapsed().as_secs_f64()
        )
    } else {
        format!("no status change within {STATUS_WITHIN:?}: agents were at work already")
    });

    // 1. Idle sockets, and the gateway's memory before, halfway and after: what
    //    the second half adds is the cost of a socket past what the gateway's first
    //    connections set up once (threads, caches, the allocator's arenas).
    say(format!(
        "run {run_id}: opening {} idle sockets at {url}",
        args.idle
    ));
    let before = Rss::of(args.gateway_pid);
    let mut idle_tasks = JoinSet::new();
    let mut idle_open_time = Duration::ZERO;
    let mut halfway = None;
    for (from, to) in [(0, args.idle / 2), (args.idle / 2, args.idle)] {
        let started = Instant::now();
        for n in from..to {
            idle_tasks.spawn(customer::idle(crowd.clone(), n.into()));
        }
        openings.wait(to - from).await;
        idle_open_time += started.elapsed();
        tokio::time::sleep(args.settle).await;
        if from == 0 {
            halfway = Rss::of(args.gateway_pid).map(|rss| (openings.opening.opened, rss));
        }
    }
    let idle_opening = openings.take(idle_open_time);
    let idle_after = Rss::of(args.gateway_pid);

    // 2. Active chats, and their agents.
    say(format!(
        "opening {} active chats; then {:?} of messages and replies",
        args.chats, args.duration
    ));
    let (start, start_rx) = watch::channel(None);
    let pace = Arc::new(Pace {
        run_id: run_id.clone(),
        every: args.message_every,
        start: start_rx,
    });
    let desk = Arc::new(Desk {
        client,
        base: args.url.clone(),
        token: args.agent_token.clone(),
        run_id: run_id.clone(),
        every: args.reply_every,
        in_flight: Semaphore::new(args.reply_concurrency as usize),
        next: AtomicU64::new(1),
        accepted: AtomicU64::new(0),
    });
    let started = Instant::now();
    let mut chats = JoinSet::new();
    let mut references = Vec::with_capacity(args.chats as usize);
    for chat in 0..args.chats {
        let (reference, watch) = watch::channel(None);
        let (crowd, pace) = (crowd.clone(), pace.clone());
        let n = u64::from(args.idle) + u64::from(chat);
        chats.spawn(async move { (chat, customer::chat(crowd, pace, chat, n, reference).await) });
        references.push(watch);
    }
    openings.wait(args.chats).await;
    let chat_opening = openings.take(started.elapsed());
    let window_start = Instant::now();
    let deadline = window_start + args.duration;
    start.send_replace(Some(deadline));
    let mut agents = JoinSet::new();
    for (chat, reference) in references.into_iter().enumerate() {
        agents.spawn(agent::agent(desk.clone(), chat as u32, reference, deadline));
    }
    let mut replies = AgentTally::default();
    while let Some(tally) = agents.join_next().await {
        replies.merge(tally?);
    }
    // What is still on its way: acks, and replies accepted but not yet at a socket.
    // A moment past the deadline, so that no chat is about to send.
    let give_up = Instant::now().max(deadline) + args.drain;
    tokio::time::sleep_until((deadline + Duration::from_millis(50)).into()).await;
    while Instant::now() < give_up {
        let live = &crowd.live;
        let replies_in =
            live.replies_received.load(Ordering::Relaxed) >= desk.accepted.load(Ordering::Relaxed);
        if replies_in && live.pending.load(Ordering::Relaxed) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain = Instant::now().saturating_duration_since(deadline);
    let active_after = Rss::of(args.gateway_pid);
    stop.send_replace(true);
    let mut tallies: Vec<(u32, ChatTally)> = Vec::with_capacity(args.chats as usize);
    while let Some(result) = chats.join_next().await {
        tallies.push(result?);
    }
    tallies.sort_unstable_by_key(|(chat, _)| *chat);
    let tallies: Vec<ChatTally> = tallies.into_iter().map(|(_, t)| t).collect();
    while idle_tasks.join_next().await.is_some() {}
    let _ = probe.close(None).await;

    let mut active = Active {
        opening: chat_opening,
        window: args.duration,
        drain,
        message_every: args.message_every,
        reply_every: args.reply_every,
        in_flight: args.reply_concurrency,
        replies_accepted: replies.accepted.len() as u64,
        reply_failures: std::mem::take(&mut replies.failures),
        reply_request: Latency::from_micros(&mut replies.round_trip_us),
        after: active_after,
        ..Active::default()
    };
    active.add_chats(&tallies);
    let mut delivered = check::delivered(&tallies, &replies);
    active.from_post = Latency::from_micros(&mut delivered.from_post_us);
    active.from_answer = Latency::from_micros(&mut delivered.from_answer_us);
    let stored = match &args.verify_store {
        Some(spec) => Some((
            spec.shown.as_str(),
            check::stored(spec, &args.channel, &run_id, &tallies).await?,
        )),
        None => None,
    };
    let idle = Idle {
        opening: idle_opening,
        before,
        halfway,
        after: idle_after,
        dropped: crowd.dropped.load(Ordering::Relaxed),
        frames: crowd.idle_frames.load(Ordering::Relaxed),
        pings: crowd.idle_pings.load(Ordering::Relaxed),
    };

    let problems = check::problems(&idle, &active, &delivered, stored.as_ref().map(|(_, s)| s));

    let report = report::Report {
        command: &command,
        run_id: &run_id,
        url: &url,
        idle,
        active,
        stored,
        delivered,
        problems,
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_url_keeps_the_base_path() {
        let url = |base: &str| ws_url(&base.parse().unwrap(), "chat").unwrap();
        assert_eq!(
            url("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080/webchat/chat/ws"
        );
        assert_eq!(
            url("http://127.0.0.1:8080/sb/"),
            "ws://127.0.0.1:8080/sb/webchat/chat/ws"
        );
        assert!(ws_url(&"https://127.0.0.1".parse().unwrap(), "chat").is_err());
    }

    #[test]
    fn paces_may_be_zero() {
        assert_eq!(parse_pace("0"), Ok(Duration::ZERO));
        assert_eq!(parse_pace("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_pace("x").is_err());
    }
}
