//! `switchboard-loadgen`: drives webhooks at a running gateway's channel at a given
//! concurrency for a given time, reports throughput and latency, and optionally checks
//! in the store that every acknowledged message was stored exactly once.
//!
//! `--kind api` (the default) sends signed bodies to a generic api channel;
//! `--kind telegram` sends Bot API updates to a Telegram channel in webhook mode, with
//! the webhook secret in `X-Telegram-Bot-Api-Secret-Token`, as Telegram would;
//! `--kind whatsapp` sends Cloud API notifications to a WhatsApp channel, signed with
//! its app secret in `X-Hub-Signature-256`, as Meta would.
//!
//! ```text
//! switchboard-loadgen --url http://127.0.0.1:8080 --channel api --secret dev-secret \
//!     --concurrency 64 --duration 20s --verify-store sqlite:./data/switchboard.db
//! switchboard-loadgen --kind telegram --channel telegram --secret bench-secret \
//!     --concurrency 64 --duration 20s --verify-store sqlite:./data/switchboard.db
//! switchboard-loadgen --kind whatsapp --channel whatsapp --phone-number-id 106540352242922 \
//!     --secret bench-secret --concurrency 64 --duration 20s \
//!     --verify-store sqlite:./data/switchboard.db
//! ```
//!
//! `switchboard-loadgen chat ...` drives the web chat instead: idle and active
//! customer sockets and agents replying through the API (see [`chat`]).
//!
//! Layout: `shape` is everything that differs by kind (request bodies, headers,
//! acknowledgements, external ids); `drive` runs the workers and tallies answers;
//! `verify` reads the store; `report` prints the result; `chat` is the web chat's
//! own load, beside the webhooks.

mod chat;
mod drive;
mod replies;
mod report;
mod shape;
mod verify;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use reqwest::{Client, Url};

use drive::Plan;
use report::{Latency, Report};
use shape::{Kind, Run, Shape};
use verify::StoreSpec;

/// Drives webhooks (signed api-channel bodies, Telegram updates or WhatsApp
/// notifications) at a running Switchboard gateway and checks that every acknowledged
/// message was stored exactly once.
#[derive(Debug, Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The gateway's base URL; given several times (several nodes behind no load
    /// balancer), the workers take them in turn.
    #[arg(long, default_value = "http://127.0.0.1:8080", num_args = 1)]
    url: Vec<Url>,
    /// What to send: `api` (signed bodies for an api channel), `telegram` (Bot API
    /// updates for a Telegram channel in webhook mode) or `whatsapp` (Cloud API
    /// notifications for a WhatsApp channel).
    #[arg(long, value_enum, default_value_t = Kind::Api)]
    kind: Kind,
    /// The id of the channel to post to; its kind must match `--kind`.
    #[arg(long, default_value = "api")]
    channel: String,
    /// The channel's webhook secret: an api channel's signing secret, a Telegram
    /// channel's `webhook_secret`, or a WhatsApp channel's `app_secret`.
    #[arg(
        long,
        env = "SWITCHBOARD_LOADGEN_SECRET",
        hide_env_values = true,
        required = true
    )]
    secret: Option<String>,
    /// `--kind whatsapp`: the channel's `phone_number_id`. The gateway leaves alone
    /// notifications for other numbers, so it must match.
    #[arg(long)]
    phone_number_id: Option<String>,
    /// Requests in flight at once, one worker each.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    concurrency: u32,
    /// How long to send: `20s`, `500ms`, `2m`, or plain seconds.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Distinct customers (and conversations; Telegram: private chats; WhatsApp: phone
    /// numbers) the messages cycle over.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    customers: u64,
    /// Fraction of requests (0 to 1) that resend an already acknowledged message.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    duplicates: f64,
    /// After the run, check the store: `sqlite:PATH` or a `postgres://` URL.
    #[arg(long, value_parser = verify::parse_store)]
    verify_store: Option<StoreSpec>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Allow a target other than loopback; without it the load stays on this machine.
    #[arg(long)]
    allow_remote: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Loads a web chat channel instead: idle sockets (the gateway's memory per
    /// socket), then active chats with agents replying (throughput, ack and reply
    /// latency), then checks that nothing was lost or doubled.
    Chat(chat::ChatArgs),
    /// Measures replies out instead: queues agents' replies through the API and is
    /// itself the api channel's provider, answering at once; times each reply from
    /// its 202 to its arrival and checks that each arrived once.
    Replies(replies::RepliesArgs),
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a duration such as 20s, 500ms or 2m"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("unknown unit {unit:?}: use ms, s, m or h")),
    };
    let duration = Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("the duration must be more than zero".into());
    }
    Ok(duration)
}

fn parse_fraction(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{value:?} is not a fraction between 0 and 1")),
    }
}

/// Hides the password of a URL's user info (`postgres://user:***@host/db`).
fn redact_url_password(value: &str) -> String {
    let Some(scheme_end) = value.find("://").map(|i| i + 3) else {
        return value.to_owned();
    };
    let authority_end = value[scheme_end..]
        .find('/')
        .map_or(value.len(), |i| scheme_end + i);
    let authority = &value[scheme_end..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}***{}",
                &value[..scheme_end + colon + 1],
                &value[scheme_end + at..]
            ),
            None => value.to_owned(),
        },
        None => value.to_owned(),
    }
}

/// Options whose values are secrets.
const SECRET_OPTIONS: &[&str] = &["--secret", "--agent-token"];

/// The command line as typed, shell-quoted, with the secrets and store password
/// hidden so that reports can be shared.
fn command_line(args: impl IntoIterator<Item = String>) -> String {
    let mut shown = Vec::new();
    let mut secret_next = false;
    for arg in args {
        let inline_secret = SECRET_OPTIONS.iter().find(|option| {
            arg.strip_prefix(**option)
                .is_some_and(|v| v.starts_with('='))
        });
        let arg = if std::mem::take(&mut secret_next) {
            "***".to_owned()
        } else if SECRET_OPTIONS.contains(&arg.as_str()) {
            secret_next = true;
            arg
        } else if let Some(option) = inline_secret {
            format!("{option}=***")
        } else {
            redact_url_password(&arg)
        };
        shown.push(shell_quote(&arg));
    }
    shown.join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// `{base}/webhooks/{channel}`, keeping any path prefix of the base URL.
fn webhook_url(base: &Url, channel: &str) -> anyhow::Result<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("{base} cannot be a base URL"))?
        .pop_if_empty()
        .push("webhooks")
        .push(channel);
    Ok(url)
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    // reqwest is built without a default TLS provider; without this a Client panics.
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("cannot install the TLS crypto provider"))?;
    let args = Args::parse();
    let command = command_line(std::env::args());
    match args.command {
        Some(Command::Chat(chat)) => return chat::run(chat, command).await,
        Some(Command::Replies(replies)) => return replies::run(replies, command).await,
        None => {}
    }
    let secret = args.secret.context("--secret is required")?;
    if let Some(url) = args
        .url
        .iter()
        .find(|url| !args.allow_remote && !is_loopback(url))
    {
        bail!("{url} is not a loopback address; pass --allow-remote to load another host");
    }
    let endpoints = args
        .url
        .iter()
        .map(|url| webhook_url(url, &args.channel))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let endpoint = endpoints
        .iter()
        .map(Url::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let run_id = hex::encode(rand::random::<[u8; 8]>());
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let shape: Arc<dyn Shape> = shape::build(
        args.kind,
        Run {
            secret: &secret,
            id: &run_id,
            customers: args.customers,
            started_unix,
            phone_number_id: args.phone_number_id.as_deref(),
        },
    )
    .map_err(anyhow::Error::msg)?
    .into();
    let client = Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(args.concurrency as usize)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("cannot build the HTTP client")?;

    // Any HTTP answer means the gateway is up; without this check every worker would
    // spin on refused connections for the whole run.
    for url in &args.url {
        client
            .get(url.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .with_context(|| format!("the gateway does not answer at {url}"))?;
    }

    if !args.json {
        eprintln!(
            "run {run_id}: {} workers for {:?} against {endpoint}",
            args.concurrency, args.duration
        );
    }
    let started = tokio::time::Instant::now();
    let plan = Arc::new(Plan::new(
        client,
        endpoints,
        shape.clone(),
        args.duplicates,
        started + args.duration,
    ));
    let mut tally = drive::run(plan, args.concurrency).await?;
    let elapsed = started.elapsed();
    let latency = Latency::from_micros(&mut tally.latencies_us);

    let verification = match &args.verify_store {
        Some(spec) => Some(verify::verify(spec, &args.channel, &*shape, &tally).await?),
        None => None,
    };

    let mut problems = Vec::new();
    if tally.accepted == 0 {
        problems.push("no message was accepted".to_owned());
    }
    if tally.resends_stored_as_new > 0 {
        problems.push(format!(
            "{} resends were answered as new messages",
            tally.resends_stored_as_new
        ));
    }
    if tally.new_answered_duplicate > 0 {
        problems.push(format!(
            "{} new messages were answered as duplicates",
            tally.new_answered_duplicate
        ));
    }
    if let Some(v) = &verification {
        if v.missing > 0 {
            problems.push(format!(
                "{} acknowledged messages are not stored",
                v.missing
            ));
        }
        if v.stored_more_than_once > 0 {
            problems.push(format!(
                "{} messages are stored more than once",
                v.stored_more_than_once
            ));
        }
    }

    let report = Report {
        command: &command,
        run_id: &run_id,
        endpoint: endpoint.as_str(),
        shape: &*shape,
        concurrency: args.concurrency,
        customers: args.customers,
        duplicates: args.duplicates,
        elapsed,
        tally: &tally,
        latency,
        verification: args
            .verify_store
            .as_ref()
            .zip(verification.as_ref())
            .map(|(spec, v)| (spec.shown.as_str(), v)),
        problems: &problems,
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_common_units() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("20x").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn command_line_hides_secrets() {
        let args = [
            "switchboard-loadgen",
            "--secret",
            "dev-secret",
            "--secret=other",
            "--agent-token",
            "agent-token",
            "--agent-token=x",
            "--verify-store",
            "postgres://sb:pw@127.0.0.1/sb",
            "--url",
            "http://127.0.0.1:8080",
            "it's",
        ]
        .map(String::from);
        assert_eq!(
            command_line(args),
            "switchboard-loadgen --secret '***' '--secret=***' --agent-token '***' \
             '--agent-token=***' --verify-store \
             'postgres://sb:***@127.0.0.1/sb' --url http://127.0.0.1:8080 'it'\\''s'"
        );
        assert_eq!(
            redact_url_password("postgres://sb@h/db"),
            "postgres://sb@h/db"
        );
    }

    #[test]
    fn only_loopback_targets_by_default() {
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:8080",
        ] {
            assert!(is_loopback(&url.parse().unwrap()), "{url}");
        }
        assert!(!is_loopback(&"http://10.0.0.1:8080".parse().unwrap()));
        assert!(!is_loopback(&"http://example.com".parse().unwrap()));
    }

    #[test]
    fn webhook_url_keeps_the_base_path() {
        let url = |base: &str| {
            webhook_url(&base.parse().unwrap(), "api")
                .unwrap()
                .to_string()
        };
        assert_eq!(
            url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/webhooks/api"
        );
        assert_eq!(
            url("http://127.0.0.1:8080/sb/"),
            "http://127.0.0.1:8080/sb/webhooks/api"
        );
    }
}
