//! Provider limits, respected rather than discovered: one limiter per channel and one
//! per recipient (keyed), from the channel's config or its kind's defaults. Several
//! nodes on one store each take an equal share of every limit.

use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use crate::cluster::Nodes;

/// `count` messages per `per_seconds`, with bursts up to `burst` (default `count`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Messages allowed per period.
    pub count: u32,
    /// The period, in seconds.
    #[serde(default = "one_second")]
    pub per_seconds: f64,
    /// How many may go at once before the rate applies.
    pub burst: Option<u32>,
}

fn one_second() -> f64 {
    1.0
}

impl Rate {
    pub const fn new(count: u32, per_seconds: f64, burst: Option<u32>) -> Self {
        Rate {
            count,
            per_seconds,
            burst,
        }
    }

    /// A problem with the values, named for the config error.
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        if !(self.per_seconds > 0.0 && self.per_seconds <= 86_400.0) {
            return Err("per_seconds must be a positive number of seconds, at most 86400".into());
        }
        if self.burst == Some(0) {
            return Err("burst must be at least 1".into());
        }
        Ok(())
    }

    /// One of `nodes` equal parts: the same count over a period `nodes` times as
    /// long, and the burst divided (at least 1).
    fn divided(self, nodes: usize) -> Rate {
        let nodes = nodes.max(1) as u32;
        Rate {
            count: self.count,
            per_seconds: self.per_seconds * f64::from(nodes),
            burst: Some((self.burst.unwrap_or(self.count) / nodes).max(1)),
        }
    }

    fn quota(&self) -> Quota {
        let period = Duration::from_secs_f64(self.per_seconds / f64::from(self.count.max(1)));
        let burst = NonZeroU32::new(self.burst.unwrap_or(self.count)).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .expect("period is positive")
            .allow_burst(burst)
    }
}

/// A channel's limits. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// For the whole channel (one bot, one number, one account).
    pub channel: Option<Rate>,
    /// For each recipient (chat, phone number) separately.
    pub recipient: Option<Rate>,
    /// For each group conversation (a Telegram group chat), instead of `recipient`.
    pub group: Option<Rate>,
}

/// The live limiters of one channel: on a store several nodes share, each node's
/// share of the channel's limits (the limits divided by the nodes alive), so that
/// together they never send faster than the limits.
pub struct Limiter {
    limits: RateLimits,
    nodes: Nodes,
    /// The share in force, and for how many nodes it was made.
    share: RwLock<(usize, Arc<Share>)>,
}

/// The limiters of one share.
struct Share {
    channel: Option<(DefaultDirectRateLimiter, u32)>,
    recipient: Option<(DefaultKeyedRateLimiter<String>, u32)>,
    group: Option<(DefaultKeyedRateLimiter<String>, u32)>,
}

impl Share {
    fn new(limits: &RateLimits, nodes: usize) -> Self {
        let part = |rate: Rate| rate.divided(nodes);
        let burst = |rate: &Rate| rate.burst.unwrap_or(rate.count).max(1);
        Share {
            channel: limits
                .channel
                .map(part)
                .map(|r| (RateLimiter::direct(r.quota()), burst(&r))),
            recipient: limits
                .recipient
                .map(part)
                .map(|r| (RateLimiter::keyed(r.quota()), burst(&r))),
            group: limits
                .group
                .map(part)
                .map(|r| (RateLimiter::keyed(r.quota()), burst(&r))),
        }
    }

    /// Uses up the channel's burst: a share that replaces another starts empty, or
    /// the nodes' fresh bursts together could pass the limit.
    fn drained(self) -> Self {
        if let Some((limiter, burst)) = &self.channel {
            let _ = limiter.check_n(NonZeroU32::new(*burst).unwrap_or(NonZeroU32::MIN));
        }
        self
    }
}

impl Limiter {
    /// The limits of a channel on a node of its own.
    pub fn new(limits: &RateLimits) -> Self {
        Limiter::shared(limits, Nodes::default())
    }

    /// This node's share of the limits, as `nodes` counts the nodes alive.
    pub fn shared(limits: &RateLimits, nodes: Nodes) -> Self {
        let count = nodes.count();
        Limiter {
            limits: *limits,
            share: RwLock::new((count, Arc::new(Share::new(limits, count)))),
            nodes,
        }
    }

    /// The share for the nodes alive now, made anew when their number changed.
    fn share(&self) -> Arc<Share> {
        let count = self.nodes.count();
        {
            let share = self.share.read().unwrap_or_else(|e| e.into_inner());
            if share.0 == count {
                return share.1.clone();
            }
        }
        let mut share = self.share.write().unwrap_or_else(|e| e.into_inner());
        if share.0 != count {
            tracing::info!(
                nodes = count,
                "the nodes alive changed: dividing the rate limits anew"
            );
            *share = (count, Arc::new(Share::new(&self.limits, count).drained()));
        }
        share.1.clone()
    }

    /// Takes `cost` tokens for `recipient` (a group conversation when `group`), or
    /// says how long to wait. A cost larger than the burst is charged as the whole
    /// burst, so a big message still goes out.
    pub fn check(&self, recipient: &str, group: bool, cost: u32) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        let share = self.share();
        let per_recipient = match (&share.group, group) {
            (Some(limiter), true) => Some(limiter),
            _ => share.recipient.as_ref(),
        };
        if let Some((limiter, burst)) = per_recipient {
            let n = NonZeroU32::new(cost.clamp(1, *burst)).unwrap_or(NonZeroU32::MIN);
            if let Ok(Err(not_until)) = limiter.check_key_n(&recipient.to_owned(), n) {
                return Err(not_until.wait_time_from(now));
            }
        }
        if let Some((limiter, burst)) = &share.channel {
            let n = NonZeroU32::new(cost.clamp(1, *burst)).unwrap_or(NonZeroU32::MIN);
            if let Ok(Err(not_until)) = limiter.check_n(n) {
                return Err(not_until.wait_time_from(now));
            }
        }
        Ok(())
    }

    /// Forgets recipients whose limit is back to full, so memory stays bounded.
    pub fn forget_idle(&self) {
        let share = self.share();
        for (limiter, _) in [&share.recipient, &share.group].into_iter().flatten() {
            limiter.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_take_equal_shares_and_a_new_share_starts_empty() {
        let nodes = Nodes::default();
        nodes.set(2);
        let limiter = Limiter::shared(
            &RateLimits {
                channel: Some(Rate::new(10, 1.0, None)),
                recipient: None,
                group: None,
            },
            nodes.clone(),
        );
        let at_once = (0..20)
            .filter(|_| limiter.check("a", false, 1).is_ok())
            .count();
        assert_eq!(at_once, 5, "half the burst on each of two nodes");
        let wait = limiter.check("a", false, 1).unwrap_err();
        assert!(
            wait <= Duration::from_millis(200),
            "half the rate: {wait:?}"
        );
        nodes.set(1);
        assert!(
            limiter.check("a", false, 1).is_err(),
            "the share for one node starts without a burst"
        );
    }

    #[test]
    fn recipient_limit_applies_per_recipient() {
        let limiter = Limiter::new(&RateLimits {
            channel: None,
            recipient: Some(Rate::new(1, 60.0, Some(2))),
            group: None,
        });
        assert!(limiter.check("a", false, 1).is_ok());
        assert!(limiter.check("a", false, 1).is_ok());
        let wait = limiter.check("a", false, 1).unwrap_err();
        assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(60));
        assert!(
            limiter.check("b", false, 1).is_ok(),
            "another recipient is not held up"
        );
    }

    #[test]
    fn channel_limit_counts_cost() {
        let limiter = Limiter::new(&RateLimits {
            channel: Some(Rate::new(3, 1.0, None)),
            recipient: None,
            group: None,
        });
        assert!(limiter.check("a", false, 2).is_ok());
        assert!(limiter.check("b", false, 2).is_err());
        assert!(limiter.check("c", false, 1).is_ok());
    }

    #[test]
    fn group_conversations_take_the_group_limit() {
        let limiter = Limiter::new(&RateLimits {
            channel: None,
            recipient: Some(Rate::new(1, 1.0, Some(3))),
            group: Some(Rate::new(20, 60.0, Some(1))),
        });
        assert!(limiter.check("-100", true, 1).is_ok());
        let wait = limiter.check("-100", true, 1).unwrap_err();
        assert!(wait > Duration::from_secs(2), "20 a minute: {wait:?}");
        assert!(limiter.check("42", false, 1).is_ok());
        assert!(
            limiter.check("42", false, 1).is_ok(),
            "a private chat has its own burst"
        );
    }
}
