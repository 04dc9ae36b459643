//! Polling mode: getUpdates long polling. The offset (the highest update id seen,
//! plus one) is stored only after the updates are committed, so a crash or restart
//! fetches again what was not stored (dedupe makes that harmless) and never skips.
//! Conflicts (another poller, a webhook set) are reported with their fix and waited
//! out, not retried in a tight loop; network failures back off.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use switchboard_core::backoff::Backoff;
use switchboard_core::gateway::Concern;
use switchboard_core::shutdown::Shutdown;
use teloxide::prelude::*;
use teloxide::requests::{JsonRequest, Payload};
use teloxide::{ApiError, RequestError};

use crate::inbound::HANDLED_UPDATES;
use crate::{ReceiveError, TelegramConnector};

/// The channel-state key of the next offset.
pub const OFFSET_KEY: &str = "update_offset";

/// getUpdates answered as plain JSON values, so that an update teloxide's types cannot read
/// is still seen (and its id confirmed) rather than failing the whole batch.
#[derive(Debug, Clone, Serialize)]
struct GetUpdatesRaw {
    offset: i64,
    limit: u8,
    timeout: u64,
    allowed_updates: &'static [&'static str],
}

impl Payload for GetUpdatesRaw {
    type Output = Vec<Value>;
    const NAME: &'static str = "GetUpdates";
}

pub(crate) async fn run(connector: &TelegramConnector, shutdown: Shutdown) -> anyhow::Result<()> {
    let context = &connector.context;
    let channel = context.channel().as_str();
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut offset = loop {
        match context.load_state(OFFSET_KEY).await {
            Ok(value) => break value.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0),
            Err(error) => {
                tracing::error!(channel, %error, "cannot read the Telegram offset; trying again");
                if wait(&shutdown, backoff.take()).await {
                    return Ok(());
                }
            }
        }
    };
    tracing::info!(channel, offset, "polling Telegram getUpdates");
    while !shutdown.is_fired() {
        let request = JsonRequest::new(
            connector.poll_bot.clone(),
            GetUpdatesRaw {
                offset,
                limit: 100,
                timeout: connector.config.poll_timeout_seconds,
                allowed_updates: HANDLED_UPDATES,
            },
        );
        let result = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            result = request.send() => result,
        };
        let batch = match result {
            Ok(batch) => batch,
            Err(error) => {
                let (problem, pause) = poll_failure(&error);
                tracing::error!(channel, %problem, "telegram getUpdates failed");
                context.report_problem(Concern::Connection, Some(&problem));
                let pause = pause.unwrap_or_else(|| backoff.take());
                if wait(&shutdown, pause).await {
                    return Ok(());
                }
                continue;
            }
        };
        context.report_problem(Concern::Connection, None);
        if batch.is_empty() {
            backoff.reset();
            continue;
        }
        let mut next = offset;
        let mut updates: Vec<(Update, Value)> = Vec::with_capacity(batch.len());
        for value in batch {
            if let Some(id) = value.get("update_id").and_then(Value::as_i64) {
                next = next.max(id + 1);
            }
            // From text, not from the Value: teloxide's Update reads borrowed keys.
            match serde_json::from_str::<Update>(&value.to_string()) {
                Ok(update) => updates.push((update, value)),
                Err(error) => {
                    tracing::error!(channel, %error, "skipping a getUpdates item that is not an Update");
                }
            }
        }
        if let Err(reason) = receive_all(connector, updates).await {
            tracing::warn!(channel, %reason, "telegram updates not stored; fetching them again");
            if wait(&shutdown, backoff.take()).await {
                return Ok(());
            }
            continue;
        }
        match context.save_state(OFFSET_KEY, &next.to_string()).await {
            // Only now does the next getUpdates confirm these to Telegram.
            Ok(()) => offset = next,
            Err(error) => {
                tracing::warn!(channel, %error, "cannot store the Telegram offset; the updates will be fetched again and deduplicated");
            }
        }
        backoff.reset();
    }
    Ok(())
}

/// Commits a batch; when one update in it is refused as invalid, the others are
/// committed one by one and the refused one is logged and skipped, so that one bad
/// update cannot stop the channel.
async fn receive_all(
    connector: &TelegramConnector,
    updates: Vec<(Update, Value)>,
) -> Result<(), String> {
    match connector.receive(updates.clone()).await {
        Ok(()) => Ok(()),
        Err(ReceiveError::Unavailable(reason)) => Err(reason),
        Err(ReceiveError::Invalid(_)) => {
            for (update, raw) in updates {
                let id = update.id.0;
                match connector.receive(vec![(update, raw)]).await {
                    Ok(()) => {}
                    Err(ReceiveError::Invalid(reason)) => {
                        tracing::error!(channel = connector.context.channel().as_str(), update = id, %reason, "skipping a Telegram update the gateway cannot store");
                    }
                    Err(ReceiveError::Unavailable(reason)) => return Err(reason),
                }
            }
            Ok(())
        }
    }
}

/// What a getUpdates failure means for an admin, and how long to pause when the
/// pause should not be the ordinary backoff.
fn poll_failure(error: &RequestError) -> (String, Option<Duration>) {
    let conflict_pause = Some(Duration::from_secs(5));
    match error {
        RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => (
            "another process is polling this bot (409 Conflict: terminated by other getUpdates request): \
             run one gateway per bot token in polling mode, or switch the channel to mode = \"webhook\""
                .into(),
            conflict_pause,
        ),
        RequestError::Api(ApiError::CantGetUpdates) => (webhook_conflict(), conflict_pause),
        RequestError::Api(ApiError::Unknown(text)) if text.contains("webhook is active") => {
            (webhook_conflict(), conflict_pause)
        }
        RequestError::Api(ApiError::InvalidToken) => (
            "Telegram rejected the bot token (401 Unauthorized): check the channel's token".into(),
            Some(Duration::from_secs(60)),
        ),
        RequestError::RetryAfter(wait) => (
            format!("Telegram asked to wait {} s", wait.seconds()),
            Some(wait.duration()),
        ),
        other => (format!("cannot poll Telegram: {other}"), None),
    }
}

fn webhook_conflict() -> String {
    "a webhook is set for this bot, so getUpdates is refused (409 Conflict): remove it with the Bot API's \
     deleteWebhook method, or switch the channel to mode = \"webhook\""
        .into()
}

/// Sleeps, or returns `true` at once when the gateway stops.
async fn wait(shutdown: &Shutdown, pause: Duration) -> bool {
    tokio::select! {
        _ = shutdown.wait() => true,
        _ = tokio::time::sleep(pause) => false,
    }
}
