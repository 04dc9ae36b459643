//! A Twilio webhook's form body, signed as Twilio signs it, through what the SMS
//! webhook does with it: the provider's `verify` (the form's parameters, and the
//! signature over the public URL and every parameter), then `received` and
//! `inbound::normalize` (a text) and `status` (a status callback). The same body
//! signed with another auth token must be refused.

#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use switchboard_connector_sms::SmsProvider;
use switchboard_connector_sms::config::TwilioConfig;
use switchboard_connector_sms::inbound;
use switchboard_connector_sms::twilio::{self, SIGNATURE_HEADER, Twilio};
use switchboard_core::model::DeliveryStatus;
use switchboard_core::{Secret, WebhookRequest, input};

/// The account and token of the repo's SMS tests.
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-auth-token";
/// The channel's webhook as configured at Twilio: what signatures cover.
const SIGNED_URL: &str = "https://support.example.com/webhooks/sms";

fn provider() -> &'static Twilio {
    static TWILIO: OnceLock<Twilio> = OnceLock::new();
    TWILIO.get_or_init(|| {
        // The workspace's reqwest has no TLS provider of its own (as in main).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .build()
            .expect("an HTTP client (never used here)");
        let config = TwilioConfig {
            account_sid: ACCOUNT_SID.into(),
            auth_token: Secret::new(AUTH_TOKEN),
            messaging_service_sid: None,
            api_url: "http://127.0.0.1:9".into(),
        };
        Twilio::new(config, Some("+15017122661".into()), http)
    })
}

fn request(body: &[u8], signature: &str) -> WebhookRequest {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(signature).expect("base64 is a header value");
    headers.insert(SIGNATURE_HEADER, value);
    WebhookRequest {
        method: Method::POST,
        subpath: String::new(),
        query: None,
        headers,
        body: Bytes::copy_from_slice(body),
    }
}

fuzz_target!(|body: &[u8]| {
    let twilio = provider();
    let sent: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();

    let forged = twilio::signature("another-auth-token", SIGNED_URL, &sent);
    assert!(
        twilio.verify(SIGNED_URL, &request(body, &forged)).is_err(),
        "a body signed with another token was accepted"
    );
    let signature = twilio::signature(AUTH_TOKEN, SIGNED_URL, &sent);
    let params = match twilio.verify(SIGNED_URL, &request(body, &signature)) {
        Ok(params) => params,
        Err(why) => panic!("a body signed as Twilio signs it was refused: {why}"),
    };
    assert_eq!(params, sent, "the parameters are not the ones signed");

    // `/webhooks/{channel}`: a received text.
    if let Ok(sms) = twilio.received(&params) {
        assert!(!sms.id.is_empty() && !sms.from.is_empty());
        for (url, content_type) in &sms.media {
            assert!(!url.is_empty());
            // The core refuses an attachment whose type is not a media type.
            if let Err(why) = input::media_type("MediaContentType", content_type) {
                panic!("{why}");
            }
        }
        if let Ok((message, keyword)) = inbound::normalize(&sms) {
            assert_eq!(message.external_id, sms.id);
            // One contact per number, whichever way it is written.
            assert_eq!(message.conversation, message.sender.identity.address);
            // Carrier keywords never reopen a ticket.
            assert_eq!(message.automatic, keyword.is_some());
        }
    }
    // `/webhooks/{channel}/status`: a status callback.
    if let Ok(report) = twilio.status(&params)
        && let Some(update) = report.update
    {
        assert!(!update.external_id.is_empty());
        assert_eq!(
            update.reason.is_some(),
            update.status == DeliveryStatus::Failed,
            "{update:?}"
        );
    }
});
