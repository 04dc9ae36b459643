//! `/webhooks/{channel_id}` (received texts) and `/webhooks/{channel_id}/status`
//! (delivery statuses): form posts the provider signs over the channel's public URL.
//! And `GET /webhooks/{channel_id}/media/<sha256>?...`: a reply's file, for the
//! provider to fetch, at a URL the gateway signed (403 otherwise, 404 when gone).
//!
//! Answers: received texts 200 with the provider's empty answer (TwiML) once
//! committed; statuses 204 once applied; 403 when the signature is missing or does
//! not match, nothing stored; 400 for parameters that are not a text or a status;
//! 503 when the store is unavailable (the provider retries).

use http::{Method, StatusCode};
use switchboard_core::connector::{WebhookRequest, WebhookResponse};
use switchboard_core::ingest::IngestError;

use crate::inbound::{self, Keyword, OPTED_OUT};
use crate::{SmsConnector, outbound};

pub(crate) async fn handle(connector: &SmsConnector, request: WebhookRequest) -> WebhookResponse {
    if let Some(sha256) = request.subpath.strip_prefix("/media/") {
        return media(connector, sha256, request.query.as_deref().unwrap_or("")).await;
    }
    let status = match request.subpath.as_str() {
        "" => false,
        "/status" => true,
        _ => {
            return WebhookResponse::error(
                StatusCode::NOT_FOUND,
                "not_found",
                "SMS channels take texts at their root path and statuses at /status",
            );
        }
    };
    if request.method != Method::POST {
        return WebhookResponse::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use POST",
        );
    }
    let signed_url = connector.public_webhook_url(&request.subpath);
    let params = match connector.provider.verify(&signed_url, &request) {
        Ok(params) => params,
        Err(why) => {
            return WebhookResponse::error(StatusCode::FORBIDDEN, "invalid_signature", why);
        }
    };
    let outcome = if status {
        delivery(connector, &params).await
    } else {
        received(connector, &params).await
    };
    match outcome {
        Ok(answer) => answer,
        Err(IngestError::Invalid(why)) => {
            WebhookResponse::error(StatusCode::BAD_REQUEST, "invalid_request", why)
        }
        Err(error) => {
            tracing::warn!(channel = connector.context.channel().as_str(), %error, "SMS webhook not stored; the provider will retry");
            WebhookResponse::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                error.to_string(),
            )
        }
    }
}

async fn media(connector: &SmsConnector, sha256: &str, query: &str) -> WebhookResponse {
    let now = connector.context.now();
    let (sha256, content_type) = match outbound::check_media_url(connector, sha256, query, now) {
        Ok(found) => found,
        Err(why) => return WebhookResponse::error(StatusCode::FORBIDDEN, "invalid_media_url", why),
    };
    match connector.context.attachment(&sha256).await {
        Ok(bytes) => WebhookResponse::text(StatusCode::OK, content_type, bytes),
        Err(error) => WebhookResponse::error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("the file is not stored here: {error}"),
        ),
    }
}

async fn received(
    connector: &SmsConnector,
    params: &[(String, String)],
) -> Result<WebhookResponse, IngestError> {
    let sms = connector
        .provider
        .received(params)
        .map_err(IngestError::Invalid)?;
    let (mut inbound, keyword) = inbound::normalize(&sms).map_err(|why| {
        IngestError::Invalid(format!(
            "the sender {:?} cannot be answered: {why}",
            sms.from
        ))
    })?;
    inbound::attach_media(connector, &sms, &mut inbound).await;
    let identity = inbound.sender.identity.clone();
    connector.context.ingest(vec![inbound]).await?;
    if keyword == Some(Keyword::OptOut) {
        connector
            .context
            .set_unreachable(identity, Some(OPTED_OUT.to_owned()))
            .await?;
    }
    Ok(connector.provider.received_answer())
}

async fn delivery(
    connector: &SmsConnector,
    params: &[(String, String)],
) -> Result<WebhookResponse, IngestError> {
    let report = connector
        .provider
        .status(params)
        .map_err(IngestError::Invalid)?;
    if let Some(update) = report.update {
        connector.context.delivery(update).await?;
    }
    if report.opted_out
        && let Some(to) = params.iter().find(|(n, _)| n == "To").map(|(_, v)| v)
    {
        crate::outbound::mark_opted_out(connector, to);
    }
    Ok(WebhookResponse::text(
        StatusCode::NO_CONTENT,
        "text/plain",
        "",
    ))
}
