//! The dispatcher: drains the outbox through the connectors.
//!
//! It claims due entries under a lease (any number of dispatchers, on any number of
//! nodes, claim disjoint entries), applies the channel's rate limits, sends, and
//! records the outcome against its claim: sent, retried later (exponential backoff
//! with jitter, or the provider's retry-after), or failed with a reason agents can
//! read. An entry marked sent is never claimed again. A dispatcher that dies mid-send
//! loses its lease and the entry is tried again: delivery is at least once, and the
//! message id given to connectors lets receivers drop the rare repeat.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::Semaphore;

use crate::connector::{
    Connector, Draft, Outbound, OutboundAttachment, Receipt, SendError, refusal,
};
use crate::events::Recorded;
use crate::gateway::Gateway;
use crate::model::{ChannelId, Timestamp};
use crate::ratelimit::{Limiter, RateLimits};
use crate::secret::redact_urls;
use crate::shutdown::Shutdown;
use crate::store::queries::{events as event_log, messages, outbox};
use crate::store::{Connection, StoreError};

/// Retry and concurrency settings, from the config's `[outbox]` section.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Attempts before a retryable failure becomes permanent.
    pub max_attempts: u32,
    /// The first retry waits about this long; each further one twice as long.
    pub backoff_base: Duration,
    /// Retries never wait longer than this.
    pub backoff_max: Duration,
    /// Sends in flight at once on this node.
    pub concurrency: usize,
    /// How long a claim holds an entry; a dispatcher that has not finished by then is
    /// presumed dead.
    pub lease: Duration,
    /// How long one provider call may take.
    pub send_timeout: Duration,
    /// How often the outbox is checked when nothing woke the dispatcher.
    pub poll_interval: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_attempts: 10,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(15 * 60),
            concurrency: 32,
            lease: Duration::from_secs(120),
            send_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// One channel as the dispatcher sees it.
struct Channel {
    connector: Arc<dyn Connector>,
    limiter: Limiter,
}

pub struct Dispatcher {
    gateway: Gateway,
    channels: HashMap<String, Channel>,
}

impl Dispatcher {
    pub fn new(gateway: Gateway) -> Self {
        Dispatcher {
            gateway,
            channels: HashMap::new(),
        }
    }

    /// Adds a channel whose replies this dispatcher sends.
    pub fn add_channel(
        &mut self,
        id: &ChannelId,
        connector: Arc<dyn Connector>,
        limits: &RateLimits,
    ) {
        self.channels.insert(
            id.as_str().to_owned(),
            Channel {
                connector,
                limiter: Limiter::shared(limits, self.gateway.nodes().clone()),
            },
        );
    }

    /// Sends until `shutdown`, then waits for the sends in flight to finish.
    pub async fn run(self, shutdown: Shutdown) {
        if self.gateway.bus().is_shared() {
            // Each node sends within its share of the rate limits: not before the
            // nodes agree how many they are.
            tokio::select! {
                () = self.gateway.nodes().joined() => {}
                () = shutdown.wait() => return,
            }
        }
        let config = self.gateway.config().dispatch.clone();
        let this = Arc::new(self);
        let concurrency = config.concurrency.max(1);
        let permits = Arc::new(Semaphore::new(concurrency));
        // Claims are store writes: under load, wait until a quarter of the slots are
        // free and claim for all of them, rather than one entry per finished send.
        let claim_batch = u32::try_from(concurrency.div_ceil(4)).unwrap_or(u32::MAX);
        let mut claims = 0u64;
        let mut last_cleanup = Instant::now();
        while !shutdown.is_fired() {
            let free = permits.available_permits();
            let claimed = if free == 0 {
                Vec::new()
            } else {
                match this.claim(free).await {
                    Ok(entries) => entries,
                    Err(error) => {
                        tracing::warn!(%error, "cannot claim outbox entries");
                        Vec::new()
                    }
                }
            };
            let idle = claimed.is_empty();
            for entry in claimed {
                claims += 1;
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore open");
                let this = this.clone();
                tokio::spawn(async move {
                    this.process(entry).await;
                    drop(permit);
                });
            }
            if last_cleanup.elapsed() > Duration::from_secs(60) {
                this.channels.values().for_each(|c| c.limiter.forget_idle());
                last_cleanup = Instant::now();
            }
            if !idle || free == 0 {
                // Busy: go on once enough slots are free for a claim worth its write.
                tokio::select! {
                    _ = permits.acquire_many(claim_batch) => {}
                    _ = shutdown.wait() => {}
                }
            } else {
                tokio::select! {
                    _ = this.gateway.inner.outbox_ready.notified() => {}
                    _ = tokio::time::sleep(config.poll_interval) => {}
                    _ = shutdown.wait() => {}
                }
            }
        }
        // Let in-flight sends record their outcome; whatever does not finish in time
        // is retried after its lease by the next dispatcher.
        let all = u32::try_from(config.concurrency.max(1)).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(config.send_timeout, permits.acquire_many(all)).await;
        tracing::info!(claims, "dispatcher stopped");
    }

    async fn claim(&self, limit: usize) -> Result<Vec<outbox::OutboxEntry>, StoreError> {
        // The node's name, and a part of each claim's own: claims never match.
        let claim = format!(
            "{}-{:016x}",
            self.gateway.node(),
            rand::rng().random::<u64>()
        );
        let now = self.gateway.now().0;
        let lease = self.gateway.config().dispatch.lease.as_millis() as i64;
        self.gateway
            .store()
            .write(move |conn| outbox::claim_due(conn, &claim, now, lease, limit))
            .await
    }

    async fn process(&self, entry: outbox::OutboxEntry) {
        let outcome = self.attempt(&entry).await;
        if let Err(error) = self.record(&entry, outcome).await {
            // The lease runs out and the entry is tried again.
            tracing::error!(entry = entry.id, %error, "cannot record the outcome of a send");
        }
    }

    /// Sends the entry once, unless a rate limit says to wait.
    async fn attempt(&self, entry: &outbox::OutboxEntry) -> Attempt {
        let Some(channel) = self.channels.get(&entry.channel) else {
            return Attempt::Failed(SendError::permanent(format!(
                "channel {} is not enabled on this gateway",
                entry.channel
            )));
        };
        let outbound = match self.load(entry).await {
            Ok(outbound) => outbound,
            Err(error) => {
                return Attempt::Failed(SendError::retryable(format!(
                    "cannot load the message: {error}"
                )));
            }
        };
        // The window closed or the customer opted out while the reply waited.
        if let Some(reason) = refusal(
            Some(channel.connector.as_ref()),
            &outbound.thread,
            Draft {
                text: &outbound.text,
                attachments: outbound.attachments.len(),
            },
            self.gateway.now(),
        ) {
            return Attempt::Failed(SendError::permanent(reason));
        }
        let cost = channel.connector.send_cost(&outbound);
        let group = channel.connector.is_group(&outbound);
        // A short wait for the limit (a busy channel's next token) is waited out here,
        // holding the claim: putting the entry back and claiming it again would cost
        // two store writes a try. A long one (a few a minute to one recipient) frees
        // the slot.
        let hold_until = Instant::now() + max_hold(self.gateway.config().dispatch.lease);
        loop {
            match channel
                .limiter
                .check(&outbound.thread.conversation, group, cost)
            {
                Ok(()) => break,
                Err(wait) if Instant::now() + wait <= hold_until => {
                    tokio::time::sleep(wait).await;
                }
                Err(wait) => return Attempt::Throttled(wait),
            }
        }
        let started = Instant::now();
        let timeout = self.gateway.config().dispatch.send_timeout;
        let result = match tokio::time::timeout(timeout, channel.connector.send(&outbound)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::retryable(format!(
                "the provider did not answer within {} s",
                timeout.as_secs()
            ))),
        };
        metrics::histogram!("switchboard_send_seconds", "channel" => entry.channel.clone())
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(receipt) => Attempt::Sent(receipt),
            Err(error) => Attempt::Failed(error),
        }
    }

    async fn load(&self, entry: &outbox::OutboxEntry) -> Result<Outbound, String> {
        let message_id = entry.message_id;
        let (message, thread, choices) = self
            .gateway
            .store()
            .read(move |conn| {
                let message = messages::get(conn, message_id)?;
                let thread = outbox::thread_context(conn, &message)?;
                let choices = messages::choices(conn, message_id)?;
                Ok((message, thread, choices))
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut attachments = Vec::with_capacity(message.attachments.len());
        for a in message.attachments {
            let bytes = self
                .gateway
                .blobs()
                .get(&a.sha256)
                .await
                .map_err(|e| format!("attachment {} is missing: {e}", a.filename))?;
            attachments.push(OutboundAttachment {
                filename: a.filename,
                content_type: a.content_type,
                bytes,
            });
        }
        Ok(Outbound {
            message_id,
            text: message.text,
            attachments,
            thread,
            attempt: entry.attempts + 1,
            progress: entry.progress.clone(),
            choices,
        })
    }

    async fn record(
        &self,
        entry: &outbox::OutboxEntry,
        attempt: Attempt,
    ) -> Result<(), StoreError> {
        let config = &self.gateway.config().dispatch;
        let now = self.gateway.now();
        let entry_owned = entry.clone();
        let (label, marked) = match attempt {
            Attempt::Sent(receipt) => {
                let marked = self
                    .gateway
                    .store()
                    .write(move |conn| {
                        let marked = outbox::mark_sent(conn, &entry_owned, &receipt, now.0);
                        with_event(conn, marked, now)
                    })
                    .await?;
                ("sent", Some(marked))
            }
            Attempt::Throttled(wait) => {
                let due = now.plus(wait).0;
                self.gateway
                    .store()
                    .write(move |conn| {
                        outbox::reschedule(conn, &entry_owned, due, false, None, now.0)
                    })
                    .await?;
                ("throttled", None)
            }
            Attempt::Failed(SendError::Retryable {
                reason,
                retry_after,
            }) if entry.attempts + 1 < config.max_attempts => {
                // Reasons are shown to agents and logged: no URL keeps its query.
                let reason = redact_urls(&reason);
                let wait = retry_after.unwrap_or_else(|| backoff(config, entry.attempts + 1));
                let due = now.plus(wait).0;
                tracing::info!(entry = entry.id, channel = %entry.channel, %reason, wait_ms = wait.as_millis() as u64, "send failed, will retry");
                self.gateway
                    .store()
                    .write(move |conn| {
                        outbox::reschedule(conn, &entry_owned, due, true, Some(&reason), now.0)
                    })
                    .await?;
                ("retry", None)
            }
            Attempt::Failed(error) => {
                let reason = match error {
                    SendError::Retryable { reason, .. } => {
                        format!("gave up after {} attempts: {reason}", entry.attempts + 1)
                    }
                    SendError::Permanent { reason } => reason,
                };
                let reason = redact_urls(&reason);
                tracing::warn!(entry = entry.id, channel = %entry.channel, %reason, "send failed permanently");
                let marked = self
                    .gateway
                    .store()
                    .write(move |conn| {
                        let marked = outbox::mark_failed(conn, &entry_owned, &reason, now.0);
                        with_event(conn, marked, now)
                    })
                    .await?;
                ("failed", Some(marked))
            }
        };
        metrics::counter!("switchboard_outbound_total", "channel" => entry.channel.clone(), "status" => label)
            .increment(1);
        match marked {
            Some((outbox::Marked::ClaimLost, _)) => tracing::warn!(
                entry = entry.id,
                outcome = label,
                "the claim had passed to another dispatcher; outcome not recorded"
            ),
            Some((_, recorded)) => self.gateway.events().publish(recorded),
            None => {}
        }
        Ok(())
    }
}

/// A mark and, when it changed the message's delivery status, that change's event,
/// recorded in the same transaction.
fn with_event(
    conn: &mut dyn Connection,
    marked: Result<outbox::Marked, StoreError>,
    now: Timestamp,
) -> Result<(outbox::Marked, Vec<Recorded>), StoreError> {
    let marked = marked?;
    let recorded = match &marked {
        outbox::Marked::Done {
            change: Some(change),
        } => event_log::append(conn, vec![change.event()], now)?,
        _ => Vec::new(),
    };
    Ok((marked, recorded))
}

enum Attempt {
    Sent(Receipt),
    Throttled(Duration),
    Failed(SendError),
}

/// The longest a send waits for its rate limit while holding its claim: well within
/// the claim's lease, and short enough not to hold a shutdown up.
fn max_hold(lease: Duration) -> Duration {
    (lease / 4).min(Duration::from_secs(1))
}

/// The wait before retry number `attempt`: base × 2^(attempt-1), capped, with full
/// jitter in its upper half so that retries of many entries spread out.
fn backoff(config: &DispatchConfig, attempt: u32) -> Duration {
    crate::backoff::delay(config.backoff_base, config.backoff_max, attempt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let config = DispatchConfig {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            ..DispatchConfig::default()
        };
        for _ in 0..50 {
            let first = backoff(&config, 1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let third = backoff(&config, 3);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
            assert!(backoff(&config, 40) <= Duration::from_secs(10));
        }
    }
}
