//! Local fakes of the providers, built from the provider contracts.

pub mod telegram;
pub mod twilio;
pub mod whatsapp;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How long `Watched::wait_until` waits before it gives up: far longer than any
/// test needs, short enough that a hung test fails with a dump instead of a timeout.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// A fake's mutable state, shared by its server and its test handle, with a change
/// counter so that tests (and long polls) can wait for the server to act instead of
/// sleeping.
pub struct Watched<T> {
    /// Names the fake in timeout panics ("the fake {name} waited ...").
    name: &'static str,
    /// What a timeout panic shows of the state, so a failing test sees what the fake
    /// did get.
    arrived: fn(&T) -> String,
    /// A std Mutex: it is never held across an await.
    state: Mutex<T>,
    /// Bumped after every change, to wake whoever waits.
    changed: watch::Sender<u64>,
}

impl<T> Watched<T> {
    pub fn new(name: &'static str, state: T, arrived: fn(&T) -> String) -> Watched<T> {
        Watched {
            name,
            arrived,
            state: Mutex::new(state),
            changed: watch::channel(0).0,
        }
    }

    /// Locks the state. A panic while it was held (a failed assertion in a handler)
    /// must not hide what the fake recorded, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes whoever waits; call it after every change to the state.
    pub fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every later `bump`, for waits `wait_until` does not fit
    /// (a long poll that ends quietly at its own deadline).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until `done` holds for the state, for at most `WAIT_LIMIT`; then panics
    /// with the fake's account of what arrived.
    pub async fn wait_until(&self, done: impl Fn(&T) -> bool) {
        let mut changes = self.subscribe();
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            // Marked seen before the check, so a change during it still wakes us.
            changes.borrow_and_update();
            if done(&self.lock()) {
                return;
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                let arrived = (self.arrived)(&self.lock());
                let (name, seconds) = (self.name, WAIT_LIMIT.as_secs());
                panic!("the fake {name} waited {seconds} s; {arrived}");
            }
        }
    }
}

/// `application/x-www-form-urlencoded` pairs (also the query string).
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    let pairs = text.split('&').filter(|p| !p.is_empty());
    let pair = |p: &str| {
        let (key, value) = p.split_once('=').unwrap_or((p, ""));
        (decode(key, true), decode(value, true))
    };
    pairs.map(pair).collect()
}

/// Percent-decoding (and `+` as a space in forms); invalid escapes stay as they are.
pub fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
