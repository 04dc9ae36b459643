//! Waiting after failures: exponential, capped, with jitter so that several nodes or
//! pollers do not retry in step. Used by the dispatcher and by connectors' pollers.

use std::time::Duration;

use rand::Rng;

/// The wait before attempt `attempt + 1`: `base * 2^(attempt-1)` up to `max`, drawn
/// between half of that and all of it.
pub fn delay(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exponent).min(max);
    let half = full / 2;
    half + full
        .saturating_sub(half)
        .mul_f64(rand::rng().random::<f64>())
}

/// A poller's failures in a row: each [`Backoff::take`] waits longer, up to `max`;
/// [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            failures: 0,
        }
    }

    /// How long to wait after one more failure.
    pub fn take(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        delay(self.base, self.max, self.failures)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_reset() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        for _ in 0..50 {
            let first = delay(Duration::from_secs(1), Duration::from_secs(10), 1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let third = delay(Duration::from_secs(1), Duration::from_secs(10), 3);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
        }
        for _ in 0..10 {
            assert!(backoff.take() <= Duration::from_secs(10));
        }
        assert!(backoff.take() >= Duration::from_secs(5));
        backoff.reset();
        assert!(backoff.take() <= Duration::from_secs(1));
    }
}
