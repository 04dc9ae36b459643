//! Brute force against agent tokens: a client address that keeps presenting tokens
//! that are no agent's (as a bearer token, or to sign in) is answered 429 with
//! `Retry-After` for a while, whatever it presents next, the right token included.
//! Only failures count, so agents at work never meet the limit; the address is the
//! client's behind trusted proxies ([`ClientIp`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use switchboard_core::connector::ClientIp;

use crate::api::error::ApiError;

/// The most addresses held blocked at once; past it the oldest blocks go first.
const MAX_BLOCKED: usize = 100_000;

pub struct Guesses {
    failures: DefaultKeyedRateLimiter<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl Guesses {
    /// `per_minute` wrong tokens from one address (at once, or refilled at that pace)
    /// before it is blocked.
    pub fn new(per_minute: u32) -> Guesses {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Guesses {
            failures: RateLimiter::keyed(Quota::per_minute(per_minute)),
            blocked: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.blocked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// 429 when the address is blocked.
    pub fn check(&self, client: Client) -> Result<(), ApiError> {
        let Some(ip) = client.0 else { return Ok(()) };
        let mut blocked = self.lock();
        match blocked.get(&ip) {
            Some(until) if *until > Instant::now() => Err(ApiError::TooManyRequests {
                retry_after: *until - Instant::now(),
                message: "too many wrong tokens from this address".into(),
            }),
            Some(_) => {
                blocked.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a wrong token from the address; past the limit it is blocked until the
    /// limit has room again.
    pub fn failed(&self, client: Client) {
        let Some(ip) = client.0 else { return };
        if let Err(not_until) = self.failures.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut blocked = self.lock();
            if blocked.len() >= MAX_BLOCKED {
                let now = Instant::now();
                blocked.retain(|_, until| *until > now);
            }
            if blocked.len() < MAX_BLOCKED {
                blocked.insert(ip, Instant::now() + wait.max(Duration::from_secs(1)));
            }
        }
        self.failures.retain_recent();
    }
}

/// The client's address, when the server knows it.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub Option<IpAddr>);

impl Client {
    pub fn of(parts: &Parts) -> Client {
        Client(parts.extensions.get::<ClientIp>().map(|ip| ip.0))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client::of(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_past_its_failures_and_others_are_not() {
        let guesses = Guesses::new(3);
        let (a, b) = (
            Client(Some("198.51.100.1".parse().unwrap())),
            Client(Some("198.51.100.2".parse().unwrap())),
        );
        for _ in 0..3 {
            assert!(guesses.check(a).is_ok());
            guesses.failed(a);
        }
        assert!(guesses.check(a).is_ok(), "three failures are allowed");
        guesses.failed(a);
        assert!(matches!(
            guesses.check(a),
            Err(ApiError::TooManyRequests { .. })
        ));
        assert!(guesses.check(b).is_ok());
        assert!(guesses.check(Client(None)).is_ok());
    }
}
