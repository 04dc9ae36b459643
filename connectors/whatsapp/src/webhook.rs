//! `/webhooks/{channel_id}`: Meta's verification handshake (GET) and signed
//! notifications (POST).
//!
//! Answers to POST: 200 only after every message and status in the notification is
//! committed (Meta retries anything else for days, and dedupe makes the retries
//! harmless); 401 when `X-Hub-Signature-256` is missing or does not match the exact
//! bytes received, nothing stored; 400 for a body that is not a notification; 413
//! above Meta's 3 MB; 503 when the store is unavailable.

use http::{Method, StatusCode};
use switchboard_core::connector::{WebhookRequest, WebhookResponse};
use switchboard_core::ingest::IngestError;
use switchboard_core::signature;

use crate::WhatsAppConnector;
use crate::inbound::{self, NotANotification};

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Meta's largest notification.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub(crate) async fn handle(
    connector: &WhatsAppConnector,
    request: WebhookRequest,
) -> WebhookResponse {
    if !request.subpath.is_empty() {
        return WebhookResponse::error(
            StatusCode::NOT_FOUND,
            "not_found",
            "WhatsApp channels take webhooks at their root path",
        );
    }
    match request.method {
        Method::GET => verify(connector, request.query.as_deref().unwrap_or("")),
        Method::POST => notification(connector, request).await,
        _ => WebhookResponse::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use GET (verification) or POST (notifications)",
        ),
    }
}

/// `hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`: the challenge back,
/// as text, when the token matches.
fn verify(connector: &WhatsAppConnector, query: &str) -> WebhookResponse {
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "hub.mode" => mode = Some(value.into_owned()),
            "hub.verify_token" => token = Some(value.into_owned()),
            "hub.challenge" => challenge = Some(value.into_owned()),
            _ => {}
        }
    }
    let token_ok = token.is_some_and(|t| connector.config.verify_token.matches(t.as_bytes()));
    match (mode.as_deref(), challenge) {
        (Some("subscribe"), Some(challenge)) if token_ok => {
            WebhookResponse::text(StatusCode::OK, "text/plain", challenge)
        }
        _ => WebhookResponse::error(
            StatusCode::FORBIDDEN,
            "verification_failed",
            "hub.mode must be subscribe and hub.verify_token the channel's verify_token",
        ),
    }
}

async fn notification(connector: &WhatsAppConnector, request: WebhookRequest) -> WebhookResponse {
    if request.body.len() > MAX_BODY {
        return WebhookResponse::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "WhatsApp notifications are at most 3 MB",
        );
    }
    let header = request.headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes());
    if let Err(error) =
        signature::verify_sha256(&connector.config.app_secret, &request.body, header)
    {
        return WebhookResponse::error(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            format!("X-Hub-Signature-256: {error} (signed with the channel's app_secret)"),
        );
    }
    let parsed = match inbound::parse(&request.body, &connector.config.phone_number_id) {
        Ok(parsed) => parsed,
        Err(NotANotification(why)) => {
            return WebhookResponse::error(StatusCode::BAD_REQUEST, "invalid_notification", why);
        }
    };
    match connector.receive(parsed).await {
        Ok(()) => WebhookResponse::text(StatusCode::OK, "text/plain", ""),
        Err(IngestError::Invalid(why)) => {
            WebhookResponse::error(StatusCode::BAD_REQUEST, "invalid_notification", why)
        }
        Err(error) => {
            tracing::warn!(channel = connector.context.channel().as_str(), %error, "WhatsApp notification not stored; Meta will resend it");
            WebhookResponse::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                error.to_string(),
            )
        }
    }
}
