//! Twilio Programmable Messaging (twilio.com/docs/messaging).
//!
//! Webhooks are form posts signed with `X-Twilio-Signature`: Base64 of HMAC-SHA1,
//! keyed with the auth token, over the URL exactly as configured at Twilio followed
//! by every parameter sorted by name (name, then value). Twilio adds parameters
//! without notice, so all of them count. Sends are form posts to `Messages.json`
//! with HTTP Basic auth; errors carry a numeric `code`.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::StatusCode;
use serde::Deserialize;
use sha1::Sha1;
use switchboard_core::connector::{DeliveryUpdate, WebhookRequest, WebhookResponse};
use switchboard_core::download::{BodyError, FetchError, capped_body};
use switchboard_core::input;
use switchboard_core::model::DeliveryStatus;

use crate::config::TwilioConfig;
use crate::{ReceivedSms, SendFailure, SmsProvider, StatusReport};

pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
/// TwiML that sends nothing back: the answer Twilio expects (anything but XML is
/// its error 12300).
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";
/// Twilio's error for a recipient who texted STOP.
const UNSUBSCRIBED: u32 = 21610;

pub struct Twilio {
    config: TwilioConfig,
    from: Option<String>,
    http: reqwest::Client,
}

impl Twilio {
    pub fn new(config: TwilioConfig, from: Option<String>, http: reqwest::Client) -> Self {
        Twilio { config, from, http }
    }
}

/// Twilio's signature of a request to `url` with these parameters.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(signing_mac(auth_token, url, params).finalize().into_bytes())
}

/// The HMAC over `url` and the parameters sorted by name (stable: repeated names
/// keep the order they were sent in).
fn signing_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn required<'p>(params: &'p [(String, String)], name: &str) -> Result<&'p str, String> {
    param(params, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("the {name} parameter is missing"))
}

/// Readable words for Twilio's delivery error codes (twilio.com/docs/api/errors).
fn error_reason(code: u32) -> String {
    let words = match code {
        30001 => "the queue overflowed at Twilio",
        30002 => "the Twilio account is suspended",
        30003 => "the handset is unreachable (switched off or out of coverage)",
        30004 => "the message was blocked (the recipient blocks the number or the carrier does)",
        30005 => "the number is unknown or no longer exists",
        30006 => "the number is a landline or cannot receive SMS",
        30007 => "the carrier filtered the message as spam",
        30008 => "the carrier reported an unknown error",
        21211 => "the number is not a valid phone number",
        21408 => "the account may not send to this region",
        21610 => "the recipient opted out (texted STOP); they must text START to receive messages",
        21612 => "the number cannot be reached from the sending number",
        21614 => "the number is not a mobile number",
        _ => "",
    };
    if words.is_empty() {
        format!("Twilio error {code}")
    } else {
        format!("{words} (Twilio error {code})")
    }
}

/// A status callback's parameters: the update, and whether the carrier says the
/// recipient opted out.
fn status_report(params: &[(String, String)]) -> Result<StatusReport, String> {
    let sid = required(params, "MessageSid")?;
    let status = param(params, "MessageStatus")
        .or(param(params, "SmsStatus"))
        .ok_or("the MessageStatus parameter is missing")?;
    let error = param(params, "ErrorCode")
        .filter(|c| !c.is_empty() && *c != "0")
        .map(|c| {
            c.parse::<u32>()
                .map_err(|_| format!("ErrorCode {c:?} is not a number"))
        })
        .transpose()?;
    let status = match status {
        "sent" => Some(DeliveryStatus::Sent),
        "delivered" => Some(DeliveryStatus::Delivered),
        "read" => Some(DeliveryStatus::Read),
        "undelivered" | "failed" => Some(DeliveryStatus::Failed),
        // accepted, scheduled, queued, sending, receiving, received, canceled...
        _ => None,
    };
    let update = status.map(|status| DeliveryUpdate {
        external_id: sid.to_owned(),
        status,
        reason: (status == DeliveryStatus::Failed).then(|| match error {
            Some(code) => error_reason(code),
            None => "the carrier did not deliver the message".to_owned(),
        }),
    });
    Ok(StatusReport {
        update,
        opted_out: error == Some(UNSUBSCRIBED),
    })
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[async_trait]
impl SmsProvider for Twilio {
    fn verify(
        &self,
        signed_url: &str,
        request: &WebhookRequest,
    ) -> Result<Vec<(String, String)>, String> {
        let given = request
            .headers
            .get(SIGNATURE_HEADER)
            .ok_or("X-Twilio-Signature is missing")?;
        let given = BASE64
            .decode(given.as_bytes())
            .map_err(|_| "X-Twilio-Signature is not Base64")?;
        let params: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let url = match &request.query {
            Some(query) if !query.is_empty() => format!("{signed_url}?{query}"),
            _ => signed_url.to_owned(),
        };
        let mac = signing_mac(self.config.auth_token.expose(), &url, &params);
        mac.verify_slice(&given).map_err(|_| {
            format!("X-Twilio-Signature does not match {url} and the parameters (signed with the channel's auth token; is public_url the URL configured at Twilio?)")
        })?;
        Ok(params)
    }

    fn received(&self, params: &[(String, String)]) -> Result<ReceivedSms, String> {
        let account = required(params, "AccountSid")?;
        if account != self.config.account_sid {
            return Err(format!(
                "AccountSid {account} is not this channel's account"
            ));
        }
        let count: usize = param(params, "NumMedia")
            .unwrap_or("0")
            .parse()
            .map_err(|_| "NumMedia is not a number")?;
        let media = (0..count)
            .map(|n| {
                let url = required(params, &format!("MediaUrl{n}"))?;
                let content_type = param(params, &format!("MediaContentType{n}")).map_or_else(
                    || "application/octet-stream".into(),
                    input::media_type_or_binary,
                );
                Ok((url.to_owned(), content_type))
            })
            .collect::<Result<_, String>>()?;
        Ok(ReceivedSms {
            id: required(params, "MessageSid")?.to_owned(),
            from: required(params, "From")?.to_owned(),
            body: param(params, "Body").unwrap_or_default().to_owned(),
            media,
        })
    }

    fn status(&self, params: &[(String, String)]) -> Result<StatusReport, String> {
        status_report(params)
    }

    fn signing_key(&self) -> &[u8] {
        self.config.auth_token.expose().as_bytes()
    }

    fn received_answer(&self) -> WebhookResponse {
        WebhookResponse::text(StatusCode::OK, "text/xml", EMPTY_TWIML)
    }

    async fn send(
        &self,
        to: &str,
        body: &str,
        media_urls: &[String],
        status_callback: Option<&str>,
    ) -> Result<String, SendFailure> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.api_url.trim_end_matches('/'),
            self.config.account_sid
        );
        let mut form: Vec<(&str, &str)> = vec![("To", to)];
        if !body.is_empty() {
            form.push(("Body", body));
        }
        form.extend(media_urls.iter().map(|url| ("MediaUrl", url.as_str())));
        match (&self.config.messaging_service_sid, &self.from) {
            (Some(service), _) => form.push(("MessagingServiceSid", service)),
            (None, Some(from)) => form.push(("From", from)),
            (None, None) => {
                return Err(SendFailure::Permanent(
                    "the channel has no number to send from".into(),
                ));
            }
        }
        if let Some(callback) = status_callback {
            form.push(("StatusCallback", callback));
        }
        let response = self
            .http
            .post(url)
            .basic_auth(
                &self.config.account_sid,
                Some(self.config.auth_token.expose()),
            )
            .form(&form)
            .send()
            .await
            .map_err(|e| SendFailure::Retry {
                reason: format!("cannot reach Twilio: {e}"),
                retry_after: None,
            })?;
        let status = response.status();
        let retry_after = switchboard_core::connector::retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| SendFailure::Retry {
            reason: format!("Twilio's answer was cut off: {e}"),
            retry_after: None,
        })?;
        if status.is_success() {
            return serde_json::from_slice::<Created>(&bytes)
                .map(|created| created.sid)
                .map_err(|_| SendFailure::Retry {
                    reason: format!("Twilio answered {status} without a message sid"),
                    retry_after: None,
                });
        }
        let error: Option<ApiError> = serde_json::from_slice(&bytes).ok();
        let code = error.as_ref().and_then(|e| e.code);
        let said = error
            .and_then(|e| e.message)
            .unwrap_or_else(|| status.to_string());
        Err(match code {
            Some(20429) => SendFailure::Retry {
                reason: format!("Twilio rate limit: {said} (Twilio error 20429)"),
                retry_after,
            },
            _ if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() => {
                SendFailure::Retry {
                    reason: format!("Twilio answered {status}: {said}"),
                    retry_after,
                }
            }
            Some(UNSUBSCRIBED) => SendFailure::OptedOut(error_reason(UNSUBSCRIBED)),
            Some(20003) => SendFailure::Credentials(format!(
                "Twilio refused the channel's credentials: check twilio.account_sid and twilio.auth_token (Twilio error 20003: {said})"
            )),
            Some(code) if !error_reason(code).starts_with("Twilio error") => {
                SendFailure::Permanent(error_reason(code))
            }
            Some(code) => SendFailure::Permanent(format!("Twilio error {code}: {said}")),
            None => SendFailure::Permanent(format!("Twilio answered {status}: {said}")),
        })
    }

    async fn download(&self, url: &str, limit: usize) -> Result<Bytes, FetchError> {
        // Twilio answers with a redirect to its CDN; reqwest follows it and drops
        // the credentials on the way to the other host.
        let response = self
            .http
            .get(url)
            .basic_auth(
                &self.config.account_sid,
                Some(self.config.auth_token.expose()),
            )
            .send()
            .await
            .map_err(|e| FetchError::Retry(format!("cannot download it: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    FetchError::Retry(format!("the download answered {status}"))
                } else {
                    FetchError::Permanent(format!("the download answered {status}"))
                },
            );
        }
        capped_body(response, limit)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge(_) => FetchError::Permanent(format!(
                    "it is larger than the gateway takes ({} MB)",
                    limit / (1024 * 1024)
                )),
                BodyError::Cut(why) => FetchError::Retry(why),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_official_signature_test_vector() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn statuses_map_and_error_codes_read_well() {
        let report = |status: &str, code: Option<&str>| {
            let mut params = pairs(&[("MessageSid", "SM1"), ("MessageStatus", status)]);
            if let Some(code) = code {
                params.push(("ErrorCode".into(), code.into()));
            }
            status_report(&params).unwrap()
        };
        assert!(report("queued", None).update.is_none());
        assert_eq!(
            report("delivered", None).update.unwrap().status,
            DeliveryStatus::Delivered
        );
        let failed = report("undelivered", Some("30005"));
        let update = failed.update.unwrap();
        assert_eq!(update.status, DeliveryStatus::Failed);
        assert_eq!(
            update.reason.unwrap(),
            "the number is unknown or no longer exists (Twilio error 30005)"
        );
        assert!(!failed.opted_out);
        assert!(report("failed", Some("21610")).opted_out);
        assert_eq!(error_reason(39999), "Twilio error 39999");
        assert!(status_report(&pairs(&[("MessageStatus", "sent")])).is_err());
    }
}
