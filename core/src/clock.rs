//! The time source. Production uses the system clock; tests use [`ManualClock`] to jump
//! past windows (the reopen window, retry backoff) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::model::Timestamp;

/// Something that tells the time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Wall-clock time plus an offset that tests can move forward, so that real waits
/// (network, retries) still pass while a test skips hours in one call.
#[derive(Debug, Default, Clone)]
pub struct ManualClock {
    offset_ms: Arc<AtomicI64>,
    /// Stopped at this instant plus the offset, instead of following the wall clock.
    frozen: Option<i64>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock standing at `at`, moving only by [`ManualClock::advance`]: for
    /// arithmetic that must come out exact (business hours, due times).
    pub fn frozen(at: Timestamp) -> Self {
        ManualClock {
            offset_ms: Arc::default(),
            frozen: Some(at.0),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let base = self.frozen.unwrap_or_else(|| Timestamp::now().0);
        Timestamp(base + self.offset_ms.load(Ordering::SeqCst))
    }
}
