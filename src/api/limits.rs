//! How fast the agent API may be used: per token (a leaked token or a runaway script
//! cannot flood the gateway) and per client address (before any token is checked),
//! with governor. Past either, 429 with `Retry-After`. Webhooks are not limited here:
//! providers send from a few addresses at their own rates, and their signatures are
//! what keeps strangers out.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use switchboard_core::connector::ClientIp;

use crate::api::error::ApiError;
use crate::http::AppState;

pub struct Limits {
    per_token: DefaultKeyedRateLimiter<i64>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    /// Checks since the limiters last forgot idle keys.
    checks: AtomicU32,
}

/// Idle keys are forgotten every this many checks (a pass over every key).
const FORGET_EVERY: u32 = 4096;

impl Limits {
    /// Requests per second, with bursts of twice as many.
    pub fn new(per_token: u32, per_address: u32) -> Limits {
        let quota = |per_second: u32| {
            let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
            Quota::per_second(rate).allow_burst(rate.saturating_add(rate.get()))
        };
        Limits {
            per_token: RateLimiter::keyed(quota(per_token)),
            per_address: RateLimiter::keyed(quota(per_address)),
            checks: AtomicU32::new(0),
        }
    }

    pub fn check_token(&self, token_id: i64) -> Result<(), ApiError> {
        self.forget_idle();
        self.per_token
            .check_key(&token_id)
            .map_err(|not_until| ApiError::TooManyRequests {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
                message: "too many requests with this token".into(),
            })
    }

    fn check_address(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.forget_idle();
        self.per_address
            .check_key(&ip)
            .map_err(|not_until| ApiError::TooManyRequests {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
                message: "too many requests from this address".into(),
            })
    }
}

impl Limits {
    fn forget_idle(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.per_token.retain_recent();
            self.per_address.retain_recent();
        }
    }
}

/// The per-address limit, on the agent API's routes.
pub async fn by_address(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(ip) = request.extensions().get::<ClientIp>().map(|ip| ip.0) else {
        return next.run(request).await;
    };
    match state.limits.check_address(ip) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}
