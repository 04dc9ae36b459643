//! `POST /webhooks/{channel_id}`: Telegram's update, checked against the secret token,
//! committed, and only then answered 200 (Telegram resends on anything else).
//! Also the optional setWebhook at start.
//!
//! Answers: 200 stored, already stored, or deliberately ignored (with an empty body:
//! Telegram would run a method named in a JSON answer); 400 not an update; 401
//! missing or wrong secret token, nothing stored; 404 a polling channel; 405 not a
//! POST; 503 not now (store unavailable): Telegram tries again.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::Value;
use switchboard_core::connector::{WebhookRequest, WebhookResponse};
use switchboard_core::gateway::Concern;
use switchboard_core::shutdown::Shutdown;
use teloxide::payloads::SetWebhookSetters;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, UpdateKind};

use crate::config::Mode;
use crate::{ReceiveError, TelegramConnector};

/// The header Telegram puts the webhook's secret_token in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

pub(crate) async fn handle(
    connector: &TelegramConnector,
    request: WebhookRequest,
) -> WebhookResponse {
    if !request.subpath.is_empty() {
        return WebhookResponse::error(
            StatusCode::NOT_FOUND,
            "not_found",
            "Telegram channels take webhooks at their root path",
        );
    }
    let Some(secret) = connector
        .config
        .webhook_secret
        .as_ref()
        .filter(|_| connector.config.mode == Mode::Webhook)
    else {
        return WebhookResponse::error(
            StatusCode::NOT_FOUND,
            "no_webhook",
            "this channel polls getUpdates (mode = \"polling\"); it takes no webhooks",
        );
    };
    if request.method != Method::POST {
        return WebhookResponse::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use POST",
        );
    }
    let given = request
        .headers
        .get(SECRET_HEADER)
        .map_or(&b""[..], |v| v.as_bytes());
    if !secret.matches(given) {
        return WebhookResponse::error(
            StatusCode::UNAUTHORIZED,
            "invalid_secret_token",
            "X-Telegram-Bot-Api-Secret-Token is missing or does not match the channel's webhook_secret",
        );
    }
    // From the bytes: teloxide's Update reads borrowed keys, and one parse is cheaper.
    let update: Update = match serde_json::from_slice(&request.body) {
        Ok(update) => update,
        Err(error) if error.is_syntax() || error.is_eof() => {
            return WebhookResponse::error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not JSON: {error}"),
            );
        }
        Err(error) => {
            return WebhookResponse::error(
                StatusCode::BAD_REQUEST,
                "invalid_update",
                format!("not a Telegram Update: {error}"),
            );
        }
    };
    // The plain JSON is needed only for what teloxide's types could not read.
    let raw = match update.kind {
        UpdateKind::Error(_) => serde_json::from_slice(&request.body).unwrap_or_default(),
        _ => Value::Null,
    };
    match connector.receive(vec![(update, raw)]).await {
        Ok(()) => WebhookResponse::text(StatusCode::OK, "text/plain", ""),
        Err(ReceiveError::Invalid(reason)) => {
            WebhookResponse::error(StatusCode::BAD_REQUEST, "invalid_update", reason)
        }
        Err(ReceiveError::Unavailable(reason)) => {
            tracing::warn!(channel = connector.context.channel().as_str(), %reason, "telegram update not stored; Telegram will resend it");
            WebhookResponse::error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", reason)
        }
    }
}

/// The update types the gateway asks Telegram for.
pub(crate) fn allowed_updates() -> Vec<AllowedUpdate> {
    vec![
        AllowedUpdate::Message,
        AllowedUpdate::EditedMessage,
        AllowedUpdate::CallbackQuery,
    ]
}

/// Calls setWebhook with `{public_url}/webhooks/{channel_id}`, the secret token and
/// the handled update types, trying again with backoff until it works or the
/// gateway stops.
pub(crate) async fn register(connector: &TelegramConnector, shutdown: &Shutdown) {
    let channel = connector.context.channel().as_str();
    let (Some(base), Some(secret)) = (
        &connector.config.public_url,
        &connector.config.webhook_secret,
    ) else {
        return; // config validation requires both
    };
    let url = format!("{}/webhooks/{channel}", base.trim_end_matches('/'));
    let Ok(parsed) = url::Url::parse(&url) else {
        tracing::error!(
            channel,
            url,
            "cannot register the Telegram webhook: not a URL"
        );
        return;
    };
    let mut delay = Duration::from_secs(1);
    loop {
        let request = connector
            .bot
            .set_webhook(parsed.clone())
            .secret_token(secret.expose().to_owned())
            .allowed_updates(allowed_updates());
        match request.await {
            Ok(_) => {
                tracing::info!(channel, url, allowed_updates = ?crate::inbound::HANDLED_UPDATES, "registered the Telegram webhook (setWebhook) with the channel's secret token");
                connector.context.report_problem(Concern::Connection, None);
                return;
            }
            Err(error) => {
                let problem = format!("setWebhook for {url} failed: {error}");
                tracing::error!(channel, %problem, retry_in = ?delay, "cannot register the Telegram webhook");
                connector
                    .context
                    .report_problem(Concern::Connection, Some(&problem));
            }
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(300));
    }
}
