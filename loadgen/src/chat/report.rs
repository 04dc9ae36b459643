//! The chat run's report: both phases' figures, the checks, and the problems that
//! fail the run, as text or as one JSON object.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use super::check::{Delivered, Stored};
use super::customer::ChatTally;
use super::socket::Failures;
use crate::report::Latency;

/// A process's memory, from `/proc/<pid>/status`, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Rss {
    /// `VmRSS`: all resident memory.
    pub total: u64,
    /// `RssAnon`: the heap and stacks, without mapped files.
    pub anon: u64,
}

impl Rss {
    /// The process's resident memory, or `None` without a pid (or without /proc).
    pub fn of(pid: Option<u32>) -> Option<Rss> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map(|kb| kb * 1024)
        };
        Some(Rss {
            total: kb("VmRSS:")?,
            anon: kb("RssAnon:")?,
        })
    }
}

/// Sockets opened in a phase.
#[derive(Debug, Default)]
pub struct Opening {
    pub requested: u64,
    pub opened: u64,
    pub failures: Failures,
    pub elapsed: Duration,
    /// From connecting to the `welcome`, per socket.
    pub welcome: Option<Latency>,
}

pub struct Idle {
    pub opening: Opening,
    pub before: Option<Rss>,
    /// Once the first half was open: how many had opened, and the memory.
    pub halfway: Option<(u64, Rss)>,
    pub after: Option<Rss>,
    /// Closed by the gateway (or failed) before the end of the run.
    pub dropped: u64,
    /// Frames (status changes) and pings the idle sockets got after their welcome.
    pub frames: u64,
    pub pings: u64,
}

impl Idle {
    /// Resident bytes per idle socket over all of them, from before the first.
    pub fn per_socket(&self) -> Option<f64> {
        let (before, after) = self.before.zip(self.after)?;
        if self.opening.opened == 0 {
            return None;
        }
        Some(growth(before, after, self.opening.opened))
    }

    /// Resident bytes per idle socket of the second half: the cost of one more.
    pub fn per_further_socket(&self) -> Option<f64> {
        let ((opened, halfway), after) = self.halfway.zip(self.after)?;
        Some(growth(
            halfway,
            after,
            self.opening.opened.checked_sub(opened)?,
        ))
    }
}

fn growth(from: Rss, to: Rss, sockets: u64) -> f64 {
    (to.total as f64 - from.total as f64) / sockets.max(1) as f64
}

#[derive(Default)]
pub struct Active {
    pub opening: Opening,
    /// The sending window, and the wait after it for what was in flight.
    pub window: Duration,
    pub drain: Duration,
    pub message_every: Duration,
    pub reply_every: Duration,
    pub in_flight: u32,
    pub sent: u64,
    pub acked: u64,
    pub unanswered: u64,
    /// `error` frames the chats got, by code.
    pub errors: Failures,
    pub ack: Option<Latency>,
    pub replies_accepted: u64,
    pub reply_failures: Failures,
    /// The reply request's round trip.
    pub reply_request: Option<Latency>,
    /// Reply to widget, from just before the request and from its 202.
    pub from_post: Option<Latency>,
    pub from_answer: Option<Latency>,
    pub frames_out: u64,
    pub frames_in: u64,
    /// Active sockets closed before the end.
    pub lost: Failures,
    /// The gateway's memory with every socket still open.
    pub after: Option<Rss>,
}

impl Active {
    /// Adds up what the chats saw.
    pub fn add_chats(&mut self, chats: &[ChatTally]) {
        let mut ack_us = Vec::new();
        for tally in chats {
            self.sent += tally.sent;
            self.acked += tally.acked.len() as u64;
            self.unanswered += tally.unanswered.len() as u64;
            self.frames_out += tally.frames_out;
            self.frames_in += tally.frames_in;
            ack_us.extend_from_slice(&tally.ack_us);
            if let Some(why) = &tally.lost {
                self.lost.add("closed before the end", why);
            }
            for (code, count) in &tally.errors.counts {
                *self.errors.counts.entry(code.clone()).or_default() += count;
            }
            for (code, sample) in &tally.errors.samples {
                self.errors
                    .samples
                    .entry(code.clone())
                    .or_insert_with(|| sample.clone());
            }
        }
        self.ack = Latency::from_micros(&mut ack_us);
    }

    fn per_second(&self, count: u64, over: Duration) -> f64 {
        count as f64 / over.as_secs_f64().max(f64::EPSILON)
    }
    pub fn acked_per_s(&self) -> f64 {
        self.per_second(self.acked, self.window)
    }
    pub fn replies_per_s(&self) -> f64 {
        self.per_second(self.replies_accepted, self.window)
    }
    /// Frames both ways, over the window and the drain (when the last ones came).
    pub fn frames_per_s(&self) -> f64 {
        self.per_second(self.frames_in + self.frames_out, self.window + self.drain)
    }
}

pub struct Report<'a> {
    pub command: &'a str,
    pub run_id: &'a str,
    pub url: &'a str,
    pub idle: Idle,
    pub active: Active,
    pub stored: Option<(&'a str, Stored)>,
    pub delivered: Delivered,
    pub problems: Vec<String>,
}

fn latency_json(latency: &Option<Latency>) -> Value {
    latency.as_ref().map_or(
        Value::Null,
        |l| json!({"p50": l.p50, "p90": l.p90, "p99": l.p99, "max": l.max}),
    )
}

fn failures_json(failures: &Failures) -> Value {
    json!({"counts": failures.counts, "samples": failures.samples})
}

/// `every 2s`, or `back to back` for no pause.
fn pace(every: Duration) -> String {
    if every.is_zero() {
        "back to back".into()
    } else {
        format!("every {every:?}")
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl Report<'_> {
    pub fn to_json(&self) -> Value {
        let (idle, active, d) = (&self.idle, &self.active, &self.delivered);
        let rss = |r: Option<Rss>| r.map(|r| json!({"vm_rss": r.total, "rss_anon": r.anon}));
        let opening = |o: &Opening| {
            json!({
                "requested": o.requested, "opened": o.opened, "seconds": o.elapsed.as_secs_f64(),
                "failures": failures_json(&o.failures), "welcome_ms": latency_json(&o.welcome),
            })
        };
        json!({
            "command": self.command,
            "run_id": self.run_id,
            "url": self.url,
            "idle": {
                "opening": opening(&idle.opening),
                "rss_before": rss(idle.before),
                "rss_halfway": idle.halfway.map(|(opened, r)| json!({
                    "opened": opened, "vm_rss": r.total, "rss_anon": r.anon,
                })),
                "rss_after": rss(idle.after),
                "bytes_per_socket": idle.per_socket(),
                "bytes_per_further_socket": idle.per_further_socket(),
                "dropped": idle.dropped,
                "frames_after_welcome": idle.frames,
                "pings": idle.pings,
            },
            "active": {
                "opening": opening(&active.opening),
                "window_s": active.window.as_secs_f64(),
                "drain_s": active.drain.as_secs_f64(),
                "message_every_s": active.message_every.as_secs_f64(),
                "reply_every_s": active.reply_every.as_secs_f64(),
                "reply_requests_in_flight": active.in_flight,
                "messages_sent": active.sent,
                "messages_acked": active.acked,
                "messages_acked_per_s": active.acked_per_s(),
                "messages_unanswered": active.unanswered,
                "error_frames": failures_json(&active.errors),
                "ack_ms": latency_json(&active.ack),
                "replies_accepted": active.replies_accepted,
                "replies_per_s": active.replies_per_s(),
                "reply_failures": failures_json(&active.reply_failures),
                "reply_request_ms": latency_json(&active.reply_request),
                "reply_to_widget_ms": latency_json(&active.from_post),
                "reply_202_to_widget_ms": latency_json(&active.from_answer),
                "replies_before_202": d.before_answer,
                "frames_out": active.frames_out,
                "frames_in": active.frames_in,
                "frames_per_s": active.frames_per_s(),
                "sockets_lost": failures_json(&active.lost),
                "rss_after": rss(active.after),
            },
            "verification": {
                "store": self.stored.as_ref().map(|(store, s)| json!({
                    "store": store, "acknowledged": s.acknowledged, "found": s.found,
                    "missing": s.missing, "missing_examples": s.missing_examples,
                    "stored_more_than_once": s.stored_more_than_once,
                    "stored_unacknowledged": s.unacknowledged, "ok": s.ok(),
                })),
                "echoes_missing": d.echoes_missing,
                "echoes_doubled": d.echoes_doubled,
                "replies_accepted": d.replies_accepted,
                "replies_received_once": d.replies_once,
                "replies_missing": d.replies_missing,
                "replies_doubled": d.replies_doubled,
                "replies_on_another_socket": d.replies_elsewhere,
                "replies_received_unaccepted": d.replies_unaccepted,
                "message_frames_out_of_order": d.out_of_order,
                "ok": d.ok(),
            },
            "problems": self.problems,
            "ok": self.problems.is_empty(),
        })
    }
}

fn write_latency(f: &mut fmt::Formatter<'_>, label: &str, l: &Option<Latency>) -> fmt::Result {
    match l {
        Some(l) => writeln!(
            f,
            "{label:<26}p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            l.p50, l.p90, l.p99, l.max
        ),
        None => writeln!(f, "{label:<26}none"),
    }
}

fn write_failures(f: &mut fmt::Formatter<'_>, label: &str, failures: &Failures) -> fmt::Result {
    if failures.counts.is_empty() {
        return writeln!(f, "{label:<26}none");
    }
    writeln!(f, "{label}:")?;
    for (kind, count) in &failures.counts {
        let sample = failures.samples.get(kind).map_or("", String::as_str);
        writeln!(f, "  {kind}: {count} (first: {sample})")?;
    }
    Ok(())
}

fn write_opening(f: &mut fmt::Formatter<'_>, o: &Opening) -> fmt::Result {
    let rate = o.opened as f64 / o.elapsed.as_secs_f64().max(f64::EPSILON);
    writeln!(
        f,
        "  opened:                 {} of {} in {:.2} s ({rate:.0}/s)",
        o.opened,
        o.requested,
        o.elapsed.as_secs_f64()
    )?;
    write_latency(f, "  connect to welcome ms:", &o.welcome)?;
    write_failures(f, "  failures:", &o.failures)
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (idle, a, d) = (&self.idle, &self.active, &self.delivered);
        writeln!(f, "command:     {}", self.command)?;
        writeln!(f, "run id:      {}", self.run_id)?;
        writeln!(f, "target:      {}", self.url)?;
        writeln!(f, "idle sockets (hello, welcome, then silence):")?;
        write_opening(f, &idle.opening)?;
        match (idle.before, idle.after, idle.per_socket()) {
            (Some(before), Some(after), Some(per_socket)) => {
                writeln!(
                    f,
                    "  gateway RSS:            {:.1} MB before, {:.1} MB after: {:.1} KB per idle socket",
                    mb(before.total),
                    mb(after.total),
                    per_socket / 1024.0,
                )?;
                if let (Some((opened, halfway)), Some(further)) =
                    (idle.halfway, idle.per_further_socket())
                {
                    writeln!(
                        f,
                        "                          {:.1} MB with the first {opened} open: {:.1} KB per socket of the rest",
                        mb(halfway.total),
                        further / 1024.0
                    )?;
                }
            }
            _ if idle.opening.opened == 0 => {}
            _ => writeln!(
                f,
                "  gateway RSS:            not measured (no --gateway-pid)"
            )?,
        }
        writeln!(
            f,
            "  afterwards:             {} frames (status changes) and {} pings came; {} closed before the end",
            idle.frames, idle.pings, idle.dropped
        )?;
        writeln!(
            f,
            "active chats (per chat, the customer writes {} and the agent replies {}; at most {} reply requests in flight):",
            pace(a.message_every),
            pace(a.reply_every),
            a.in_flight
        )?;
        write_opening(f, &a.opening)?;
        writeln!(
            f,
            "  window:                 {:.2} s, then {:.2} s for what was in flight",
            a.window.as_secs_f64(),
            a.drain.as_secs_f64()
        )?;
        writeln!(
            f,
            "  customer messages:      {} sent, {} acknowledged: {:.1}/s; {} unanswered at the end",
            a.sent,
            a.acked,
            a.acked_per_s(),
            a.unanswered
        )?;
        write_latency(f, "  ack ms:", &a.ack)?;
        write_failures(f, "  error frames", &a.errors)?;
        writeln!(
            f,
            "  agent replies:          {} accepted (202): {:.1}/s",
            a.replies_accepted,
            a.replies_per_s()
        )?;
        write_latency(f, "  reply request ms:", &a.reply_request)?;
        write_latency(f, "  reply to widget ms:", &a.from_post)?;
        write_latency(f, "  202 to widget ms:", &a.from_answer)?;
        writeln!(
            f,
            "                          ({} replies reached the widget before their 202)",
            d.before_answer
        )?;
        write_failures(f, "  reply failures", &a.reply_failures)?;
        writeln!(
            f,
            "  frames:                 {} to the gateway, {} from it: {:.1}/s both ways",
            a.frames_out,
            a.frames_in,
            a.frames_per_s()
        )?;
        write_failures(f, "  sockets lost", &a.lost)?;
        if let Some(after) = a.after {
            writeln!(
                f,
                "  gateway RSS:            {:.1} MB after the active phase, every socket open",
                mb(after.total)
            )?;
        }
        writeln!(f, "verification:")?;
        if let Some((store, s)) = &self.stored {
            let mut missing = s.missing.to_string();
            if !s.missing_examples.is_empty() {
                missing = format!("{missing} (e.g. {})", s.missing_examples.join(", "));
            }
            writeln!(
                f,
                "  store {store}: {} acknowledged, {} found, {missing} missing, {} stored more than once, {} stored but not acknowledged",
                s.acknowledged, s.found, s.stored_more_than_once, s.unacknowledged
            )?;
        } else {
            writeln!(
                f,
                "  store:                  not checked (no --verify-store)"
            )?;
        }
        writeln!(
            f,
            "  own message frames:     {} missing, {} doubled",
            d.echoes_missing, d.echoes_doubled
        )?;
        writeln!(
            f,
            "  replies:                {} accepted, {} received once by their socket, {} missing, {} doubled, {} on another socket, {} received but not accepted",
            d.replies_accepted,
            d.replies_once,
            d.replies_missing,
            d.replies_doubled,
            d.replies_elsewhere,
            d.replies_unaccepted
        )?;
        writeln!(f, "  message frames out of sequence: {}", d.out_of_order)?;
        if self.problems.is_empty() {
            write!(f, "result:      OK")
        } else {
            write!(f, "result:      FAILED: {}", self.problems.join("; "))
        }
    }
}
