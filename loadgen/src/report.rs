//! The report of a run: throughput, latency percentiles, failures and the store check,
//! as text for a person or as one JSON object for scripts.

use std::fmt::{self, Write as _};
use std::time::Duration;

use serde_json::{Value, json};

use crate::drive::Tally;
use crate::shape::Shape;
use crate::verify::Verification;

/// Nearest-rank percentile of ascending `sorted` samples: the smallest sample with at
/// least `p` percent of all samples at or below it. Exact, no interpolation.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    let last = sorted.len().checked_sub(1)?;
    // p * len first: for whole percentiles the division is then exact.
    let rank = (p * sorted.len() as f64 / 100.0).ceil() as usize;
    Some(sorted[rank.saturating_sub(1).min(last)])
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// From round trips in microseconds; sorts them.
    pub fn from_micros(samples: &mut [u32]) -> Option<Latency> {
        samples.sort_unstable();
        let ms = |p| percentile(samples, p).map(|us| f64::from(us) / 1000.0);
        Some(Latency {
            p50: ms(50.0)?,
            p90: ms(90.0)?,
            p99: ms(99.0)?,
            max: ms(100.0)?,
        })
    }
}

/// Everything a run reports.
pub struct Report<'a> {
    pub command: &'a str,
    pub run_id: &'a str,
    pub endpoint: &'a str,
    /// The kind of load: for what its ids and answers mean.
    pub shape: &'a dyn Shape,
    pub concurrency: u32,
    pub customers: u64,
    pub duplicates: f64,
    pub elapsed: Duration,
    pub tally: &'a Tally,
    pub latency: Option<Latency>,
    /// The store as given to `--verify-store`, and what it held.
    pub verification: Option<(&'a str, &'a Verification)>,
    /// Problems that make the run fail; empty when it passed.
    pub problems: &'a [String],
}

impl Report<'_> {
    fn accepted_per_second(&self) -> f64 {
        self.tally.accepted as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub fn to_json(&self) -> Value {
        let t = self.tally;
        let failures: serde_json::Map<String, Value> = t
            .failures
            .iter()
            .map(|(kind, count)| (kind.clone(), json!(count)))
            .collect();
        let verification = self.verification.map(|(store, v)| {
            json!({
                "store": store,
                "acknowledged": v.acknowledged,
                "found": v.found,
                "missing": v.missing,
                "missing_examples": v.missing_examples,
                "stored_more_than_once": v.stored_more_than_once,
                "stored_unacknowledged": v.stored_unacknowledged(),
                "stored_unacknowledged_cut_off": v.unacknowledged_cut_off,
                "stored_unacknowledged_after_failure": v.unacknowledged_after_failure,
                "stored_unacknowledged_unknown": v.unacknowledged_unknown,
                "ok": v.ok(),
            })
        });
        let mut report = json!({
            "command": self.command,
            "run_id": self.run_id,
            "endpoint": self.endpoint,
            "concurrency": self.concurrency,
            "customers": self.customers,
            "duplicates": self.duplicates,
            "duration_s": self.elapsed.as_secs_f64(),
            "requests": t.requests,
            "cut_off_at_deadline": t.cut_off,
            "accepted": t.accepted,
            "duplicates_acknowledged": t.duplicates_acked,
            "resends_stored_as_new": t.resends_stored_as_new,
            "new_answered_duplicate": t.new_answered_duplicate,
            "failures": failures,
            "failure_samples": t.failure_samples,
            "accepted_per_s": self.accepted_per_second(),
            "latency_ms": self.latency.as_ref().map(|l| json!({
                "p50": l.p50, "p90": l.p90, "p99": l.p99, "max": l.max,
            })),
            "verification": verification,
            "problems": self.problems,
            "ok": self.problems.is_empty(),
        });
        if let Some(ids) = self.shape.ids() {
            report["ids"] = json!(ids);
        }
        report
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.tally;
        writeln!(f, "command:     {}", self.command)?;
        writeln!(f, "run id:      {}", self.run_id)?;
        writeln!(
            f,
            "target:      POST {}, {} workers, {} customers, {}% resends",
            self.endpoint,
            self.concurrency,
            self.customers,
            self.duplicates * 100.0
        )?;
        if let Some(ids) = self.shape.ids() {
            writeln!(f, "ids:         {ids}")?;
        }
        writeln!(f, "duration:    {:.2} s", self.elapsed.as_secs_f64())?;
        writeln!(
            f,
            "requests:    {} answered, {} cut off at the deadline",
            t.requests, t.cut_off
        )?;
        writeln!(
            f,
            "accepted:    {} new messages, {:.1}/s",
            t.accepted,
            self.accepted_per_second()
        )?;
        if self.shape.flags_duplicates() {
            writeln!(
                f,
                "duplicates:  {} resends acknowledged as duplicates",
                t.duplicates_acked
            )?;
        } else {
            writeln!(
                f,
                "duplicates:  {} resends acknowledged (the answers do not say whether they \
                 were duplicates: the store check counts copies)",
                t.duplicates_acked
            )?;
        }
        if t.resends_stored_as_new + t.new_answered_duplicate > 0 {
            writeln!(
                f,
                "dedupe:      {} resends answered as new, {} new messages answered as duplicates",
                t.resends_stored_as_new, t.new_answered_duplicate
            )?;
        }
        if t.failures.is_empty() {
            writeln!(f, "failures:    none")?;
        } else {
            writeln!(f, "failures:")?;
            for (kind, count) in &t.failures {
                let sample = t.failure_samples.get(kind).map_or("", String::as_str);
                writeln!(f, "  {kind}: {count} (first: {sample})")?;
            }
        }
        match &self.latency {
            Some(l) => writeln!(
                f,
                "latency ms:  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
                l.p50, l.p90, l.p99, l.max
            )?,
            None => writeln!(f, "latency ms:  no answers")?,
        }
        if let Some((store, v)) = self.verification {
            writeln!(f, "verification of {store}:")?;
            writeln!(f, "  acknowledged:                {}", v.acknowledged)?;
            writeln!(f, "  found:                       {}", v.found)?;
            let mut missing = v.missing.to_string();
            if !v.missing_examples.is_empty() {
                write!(missing, " (e.g. {})", v.missing_examples.join(", "))?;
            }
            writeln!(f, "  missing:                     {missing}")?;
            writeln!(
                f,
                "  stored more than once:       {}",
                v.stored_more_than_once
            )?;
            writeln!(
                f,
                "  stored but not acknowledged: {} ({} cut off at the deadline, {} after a failure, {} never sent)",
                v.stored_unacknowledged(),
                v.unacknowledged_cut_off,
                v.unacknowledged_after_failure,
                v.unacknowledged_unknown
            )?;
        }
        if self.problems.is_empty() {
            write!(f, "result:      OK")
        } else {
            write!(f, "result:      FAILED: {}", self.problems.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 90.0), Some(90));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        assert_eq!(percentile(&samples, 0.0), Some(1));
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99.0), Some(10));
        assert_eq!(percentile(&[1, 2, 3], 50.0), Some(2));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn latency_sorts_and_converts_to_milliseconds() {
        let mut samples: Vec<u32> = (1..=1000).rev().map(|i| i * 10).collect();
        assert_eq!(
            Latency::from_micros(&mut samples),
            Some(Latency {
                p50: 5.0,
                p90: 9.0,
                p99: 9.9,
                max: 10.0
            })
        );
        assert_eq!(Latency::from_micros(&mut []), None);
    }
}
