//! A message another system pushes to an api channel, as the webhook takes it once
//! its signature matched: a JSON object, `PushedMessage` (unknown fields refused),
//! then `normalize` under the default limits and under small ones, and the inline
//! files attached.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_connector_api::inbound::{self, AttachmentSource, Invalid, PushedMessage};
use switchboard_core::{GatewayConfig, input};

fuzz_target!(|body: &[u8]| {
    // The webhook answers 400 to anything but an object before parsing.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return;
    }
    let defaults = GatewayConfig::default();
    let limits = [
        (defaults.max_attachment_bytes, defaults.max_attachments),
        (64, 3),
    ];
    for (max_bytes, max_attachments) in limits {
        // Parsed again for each: `normalize` takes the message.
        let Ok(pushed) = serde_json::from_slice::<PushedMessage>(body) else {
            return;
        };
        let (mut message, sources) = match pushed.normalize("api", max_bytes, max_attachments) {
            Ok(normalized) => normalized,
            Err(Invalid(why)) => {
                assert!(!why.is_empty());
                continue;
            }
        };
        assert!(!message.external_id.trim().is_empty());
        assert!(!message.conversation.trim().is_empty());
        assert!(!message.text.trim().is_empty() || !sources.is_empty());
        assert!(sources.len() <= max_attachments);
        for pending in sources {
            assert!(!pending.filename.trim().is_empty());
            // What the core checks again: a media type, as normalize gave it.
            if let Err(why) = input::media_type("content_type", &pending.content_type) {
                panic!("{why}");
            }
            if let AttachmentSource::Inline(bytes) = pending.source {
                assert!(bytes.len() <= max_bytes);
                inbound::attach(&mut message, pending.filename, pending.content_type, bytes);
            }
        }
    }
});
