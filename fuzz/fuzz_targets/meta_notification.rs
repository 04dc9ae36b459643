//! A WhatsApp Cloud API webhook notification, as the webhook takes it once its
//! signature matched: `inbound::parse` into customer messages (with the media still
//! to fetch) and delivery statuses for the channel's phone number; and the check of
//! a downloaded file against the sha256 the notification gave.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_connector_whatsapp::inbound;
use switchboard_core::input;
use switchboard_core::model::DeliveryStatus;

/// The phone number id of Meta's payload examples (and the repo's tests).
const PHONE_NUMBER_ID: &str = "106540352242922";

fuzz_target!(|body: &[u8]| {
    let Ok(notification) = inbound::parse(body, PHONE_NUMBER_ID) else {
        return;
    };
    for message in &notification.messages {
        let inbound = &message.inbound;
        assert!(!inbound.external_id.is_empty());
        assert!(!inbound.conversation.is_empty());
        // Nothing the customer sent disappears: text, or a file, or a stand-in.
        assert!(!inbound.text.trim().is_empty() || message.media.is_some());
        if let Some(media) = &message.media {
            assert!(!media.id.is_empty());
            assert!(!media.filename.is_empty());
            // The core refuses an attachment whose type is not a media type.
            if let Err(why) = input::media_type("mime_type", &media.mime_type) {
                panic!("{why}");
            }
            if let Some(sha256) = &media.sha256 {
                let _ = inbound::digest_matches(sha256, b"the downloaded file");
            }
        }
    }
    for status in &notification.statuses {
        // A failure always says why, and only a failure does.
        assert_eq!(
            status.reason.is_some(),
            status.status == DeliveryStatus::Failed,
            "{status:?}"
        );
    }
});
