//! Real-shaped notifications (developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples)
//! and what each must become.

use serde_json::{Value, json};

use super::*;

const PHONE_ID: &str = "106540352242922";
const WAMID: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";

/// One change's value around `messages`, from Sheena (+1 650-555-1234).
fn notification(messages: Value) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": messages,
        }
    }]}]})
    .to_string()
    .into_bytes()
}

fn message(kind: &str, body: Value) -> Value {
    let mut message =
        json!({"from": "16505551234", "id": WAMID, "timestamp": "1749416383", "type": kind});
    message[kind] = body;
    message
}

/// A row of the payload table: a name, the message as WhatsApp sends it, the text
/// it must give and the media it must fetch (kind, filename).
type Case = (
    &'static str,
    Value,
    &'static str,
    Option<(&'static str, &'static str)>,
);

#[test]
fn each_message_type_becomes_readable_text() {
    let cases: Vec<Case> = vec![
        (
            "text",
            message("text", json!({"body": "Does it come in another color?"})),
            "Does it come in another color?",
            None,
        ),
        (
            "image with caption",
            message(
                "image",
                json!({"caption": "the broken part", "mime_type": "image/jpeg", "sha256": "YQXWzHavQAMl6U1YjOURvlv9u3O0N9xR7KQ5F9ekPj0=", "id": "1003383421387256"}),
            ),
            "the broken part",
            Some(("image", "image-1003383421387256.jpg")),
        ),
        (
            "document with its file name",
            message(
                "document",
                json!({"filename": "statement-march.pdf", "mime_type": "application/pdf", "sha256": "E51US4IbE+vqFPGw/hhXciLkFcKWbjo1EcQZYFUjIgI=", "id": "2"}),
            ),
            "",
            Some(("document", "statement-march.pdf")),
        ),
        (
            "voice note",
            message(
                "audio",
                json!({"mime_type": "audio/ogg; codecs=opus", "sha256": "xX1+kgGXCLYUyQ+jaFzWRPVDpgFT+5nsm2fDgaJF+yo=", "id": "3", "voice": true}),
            ),
            "",
            Some(("voice", "voice-3.ogg")),
        ),
        (
            "video",
            message(
                "video",
                json!({"mime_type": "video/mp4", "sha256": "DKsclhdAT68rJOIh4YnKWUWBPhTT92Y0WwnKE7vij/w=", "id": "4"}),
            ),
            "",
            Some(("video", "video-4.mp4")),
        ),
        (
            "sticker",
            message(
                "sticker",
                json!({"mime_type": "image/webp", "sha256": "V8SxOkxzNecvFmngUG6ZII3x2gUMEl2meLI+u1W/TGE=", "id": "5", "animated": false}),
            ),
            "",
            Some(("sticker", "sticker-5.webp")),
        ),
        (
            "location",
            message(
                "location",
                json!({"latitude": 38.7223, "longitude": -9.1393, "name": "Main branch", "address": "Rua Augusta 1, Lisboa"}),
            ),
            "[location] Main branch, Rua Augusta 1, Lisboa\n38.7223, -9.1393\nhttps://www.openstreetmap.org/?mlat=38.7223&mlon=-9.1393#map=17/38.7223/-9.1393",
            None,
        ),
        (
            "shared contact",
            json!({"from": "16505551234", "id": WAMID, "timestamp": "1749416383", "type": "contacts", "contacts": [{
                "name": {"formatted_name": "Bruno Costa", "first_name": "Bruno"},
                "phones": [{"phone": "+351 912 345 678", "wa_id": "351912345678", "type": "CELL"}],
                "emails": [{"email": "bruno@example.com", "type": "WORK"}],
            }]}),
            "[contact] Bruno Costa: +351 912 345 678, bruno@example.com",
            None,
        ),
        (
            "button reply",
            message(
                "interactive",
                json!({"type": "button_reply", "button_reply": {"id": "unique-button-identifier-here", "title": "Talk to a person"}}),
            ),
            "[button] Talk to a person",
            None,
        ),
        (
            "list reply",
            message(
                "interactive",
                json!({"type": "list_reply", "list_reply": {"id": "list_reply_id", "title": "Card", "description": "Lost or stolen card"}}),
            ),
            "[list] Card: Lost or stolen card",
            None,
        ),
        (
            "template quick-reply button",
            message(
                "button",
                json!({"payload": "STOP_PROMOS", "text": "Stop promotions"}),
            ),
            "[button] Stop promotions",
            None,
        ),
        (
            "unsupported",
            json!({"from": "16505551234", "id": WAMID, "timestamp": "1749416383", "type": "unsupported",
                "errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                            "error_data": {"details": "Message type is currently not supported."}}],
                "unsupported": {"type": "edit"}}),
            "[the customer sent a unsupported message that WhatsApp does not pass on (Message type unknown); ask them to send it another way]",
            None,
        ),
        (
            "a type the gateway does not know yet",
            message("hologram", json!({"id": "9"})),
            "[the customer sent a hologram message that WhatsApp does not pass on; ask them to send it another way]",
            None,
        ),
    ];
    for (name, raw, text, media) in cases {
        let parsed = parse(&notification(json!([raw])), PHONE_ID).unwrap();
        assert_eq!(parsed.messages.len(), 1, "{name}");
        let message = &parsed.messages[0];
        assert_eq!(message.inbound.text, text, "{name}");
        assert_eq!(
            message
                .media
                .as_ref()
                .map(|m| (m.kind, m.filename.as_str())),
            media,
            "{name}"
        );
        assert_eq!(message.inbound.external_id, WAMID, "{name}");
        assert_eq!(
            message.inbound.sender.identity.address, "+16505551234",
            "{name}"
        );
        assert_eq!(
            message.inbound.sender.display_name.as_deref(),
            Some("Sheena Nelson"),
            "{name}"
        );
        assert_eq!(message.inbound.conversation, "16505551234", "{name}");
        assert!(!message.inbound.automatic, "{name}");
    }
}

#[test]
fn media_carries_what_the_download_needs() {
    let raw = message(
        "audio",
        json!({"mime_type": "audio/ogg; codecs=opus", "sha256": "0zBpwyVbWRBYmXsZBqlXDQHh80yu3ryrFnnZlqNatwM=", "id": "1003383421387256", "voice": true}),
    );
    let parsed = parse(&notification(json!([raw])), PHONE_ID).unwrap();
    assert_eq!(
        parsed.messages[0].media,
        Some(MediaRef {
            id: "1003383421387256".into(),
            kind: "voice",
            mime_type: "audio/ogg".into(),
            sha256: Some("0zBpwyVbWRBYmXsZBqlXDQHh80yu3ryrFnnZlqNatwM=".into()),
            filename: "voice-1003383421387256.ogg".into(),
        })
    );
}

#[test]
fn the_sha256_is_read_as_meta_writes_it() {
    let bytes = b"voice note bytes";
    let digest = Sha256::digest(bytes);
    // Meta's webhooks and media lookups give base64 (standard alphabet, padded).
    assert_eq!(
        digest_matches("0zBpwyVbWRBYmXsZBqlXDQHh80yu3ryrFnnZlqNatwM=", &digest),
        Some(true)
    );
    assert_eq!(
        digest_matches("0zBpwyVbWRBYmXsZBqlXDQHh80yu3ryrFnnZlqNatwM", &digest),
        Some(true),
        "unpadded"
    );
    let url_safe = "0zBpwyVbWRBYmXsZBqlXDQHh80yu3ryrFnnZlqNatwM="
        .replace('+', "-")
        .replace('/', "_");
    assert_eq!(digest_matches(&url_safe, &digest), Some(true), "URL-safe");
    assert_eq!(
        digest_matches(&hex::encode(digest), &digest),
        Some(true),
        "hex"
    );
    assert_eq!(
        digest_matches(&hex::encode(digest).to_uppercase(), &digest),
        Some(true)
    );
    // Another file's digest is a mismatch; what is no digest cannot be checked.
    let other = Sha256::digest(b"other bytes");
    assert_eq!(
        digest_matches("0zBpwyVbWRBYmXsZBqlXDQHh80yu3ryrFnnZlqNatwM=", &other),
        Some(false)
    );
    for unreadable in ["", "3F9A", "not base64 at all!", "AAAA"] {
        assert_eq!(digest_matches(unreadable, &digest), None, "{unreadable:?}");
    }
}

#[test]
fn wa_ids_outside_a_numbering_plan_table_are_phone_numbers() {
    // Malaysian mobiles of the 011 and 015 ranges: real customers, with replies
    // going to them, whatever a bundled numbering-plan table says.
    for wa_id in ["601123456789", "60154600123"] {
        let mut raw = message("text", json!({"body": "hi"}));
        raw["from"] = json!(wa_id);
        let body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
            "metadata": {"phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": "Aisyah"}, "wa_id": wa_id}],
            "messages": [raw],
        }}]}]});
        let parsed = parse(body.to_string().as_bytes(), PHONE_ID).unwrap();
        let sender = &parsed.messages[0].inbound.sender;
        assert_eq!(
            sender.identity,
            Identity::phone(&format!("+{wa_id}")).unwrap()
        );
        assert_eq!(sender.identity.address, format!("+{wa_id}"));
        assert_eq!(parsed.messages[0].inbound.conversation, wa_id);
    }
}

#[test]
fn replies_thread_to_the_quoted_message_and_reactions_to_theirs() {
    let mut reply = message("text", json!({"body": "yes, that one"}));
    reply["context"] = json!({"from": "15550783881", "id": "wamid.quoted"});
    let reaction = json!({"from": "16505551234", "id": "wamid.reaction", "timestamp": "1749416400", "type": "reaction",
        "reaction": {"message_id": "wamid.ours", "emoji": "\u{1F44D}"}});
    let removed = json!({"from": "16505551234", "id": "wamid.unreact", "timestamp": "1749416401", "type": "reaction",
        "reaction": {"message_id": "wamid.ours"}});
    let parsed = parse(&notification(json!([reply, reaction, removed])), PHONE_ID).unwrap();
    let [reply, reaction, removed] = &parsed.messages[..] else {
        panic!("three messages: {:?}", parsed.messages)
    };
    assert_eq!(
        reply.inbound.thread.reply_to.as_deref(),
        Some("wamid.quoted")
    );
    assert_eq!(
        reaction.inbound.thread.reply_to.as_deref(),
        Some("wamid.ours")
    );
    assert_eq!(reaction.inbound.text, "[reaction] \u{1F44D}");
    assert!(
        reaction.inbound.automatic,
        "a reaction never reopens a ticket"
    );
    assert_eq!(removed.inbound.text, "[reaction removed]");
}

#[test]
fn a_batch_holds_every_entry_change_message_and_status() {
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "1", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
                "contacts": [
                    {"profile": {"name": "Ana"}, "wa_id": "351912345678"},
                    {"profile": {"name": "Ravi"}, "wa_id": "919876543210"}],
                "messages": [
                    {"from": "351912345678", "id": "wamid.a", "timestamp": "1", "type": "text", "text": {"body": "Olá"}},
                    {"from": "919876543210", "id": "wamid.b", "timestamp": "2", "type": "text", "text": {"body": "Namaste"}}]}},
            {"field": "message_template_status_update", "value": {"event": "APPROVED"}}]},
        {"id": "2", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
                "statuses": [
                    {"id": "wamid.out1", "status": "read", "timestamp": "3", "recipient_id": "351912345678"},
                    {"id": "wamid.out1", "status": "delivered", "timestamp": "2", "recipient_id": "351912345678",
                     "conversation": {"id": "c1", "origin": {"type": "service"}},
                     "pricing": {"billable": false, "pricing_model": "PMP", "category": "service"}},
                    {"id": "wamid.out2", "status": "failed", "timestamp": "4", "recipient_id": "351912345678",
                     "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                                 "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]},
                    {"id": "wamid.out3", "status": "deleted", "timestamp": "5", "recipient_id": "351912345678"}]}},
            {"field": "messages", "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": "999"},
                "messages": [{"from": "1", "id": "wamid.other", "timestamp": "1", "type": "text", "text": {"body": "not ours"}}]}}]}]});
    let parsed = parse(body.to_string().as_bytes(), PHONE_ID).unwrap();
    let senders: Vec<_> = parsed
        .messages
        .iter()
        .map(|m| {
            (
                m.inbound.sender.identity.address.as_str(),
                m.inbound.sender.display_name.as_deref().unwrap(),
                m.inbound.text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        senders,
        [
            ("+351912345678", "Ana", "Olá"),
            ("+919876543210", "Ravi", "Namaste")
        ]
    );
    let statuses: Vec<_> = parsed
        .statuses
        .iter()
        .map(|s| (s.external_id.as_str(), s.status, s.reason.as_deref()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("wamid.out1", DeliveryStatus::Read, None),
            ("wamid.out1", DeliveryStatus::Delivered, None),
            (
                "wamid.out2",
                DeliveryStatus::Failed,
                Some(crate::outbound::WINDOW_CLOSED)
            ),
        ]
    );
    assert_eq!(
        parsed.ignored,
        ["other_field", "other_status", "other_phone_number"]
    );
}

#[test]
fn customers_without_a_phone_number_are_known_by_their_user_id() {
    // A customer with a WhatsApp username: a business-scoped user id, no wa_id.
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Kai"}, "user_id": "US.13491208655302741918"}],
        "messages": [{"from_user_id": "US.13491208655302741918", "id": "wamid.u", "timestamp": "1", "type": "text", "text": {"body": "hi"}}]}}]}]});
    let parsed = parse(body.to_string().as_bytes(), PHONE_ID).unwrap();
    let inbound = &parsed.messages[0].inbound;
    assert_eq!(inbound.sender.identity.kind, IdentityKind::WhatsappUser);
    assert_eq!(inbound.sender.identity.address, "US.13491208655302741918");
    assert_eq!(inbound.conversation, "user:US.13491208655302741918");
    // Nobody to attribute it to: left alone, not a crash.
    let body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
        "messages": [{"id": "wamid.x", "timestamp": "1", "type": "text", "text": {"body": "?"}}]}}]}]});
    let parsed = parse(body.to_string().as_bytes(), PHONE_ID).unwrap();
    assert!(parsed.messages.is_empty());
    assert_eq!(parsed.ignored, ["no_sender"]);
}

#[test]
fn what_is_not_a_notification_is_named() {
    for (body, says) in [
        (&b"not json"[..], "not a WhatsApp webhook notification"),
        (br#"{"object":"page","entry":[]}"#, "\"page\""),
        (br#"{"entry":[]}"#, "missing field `object`"),
        (
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":"x"}}]}]}"#,
            "a messages change is malformed",
        ),
    ] {
        let error = parse(body, PHONE_ID).unwrap_err();
        assert!(error.0.contains(says), "{}: {}", String::from_utf8_lossy(body), error.0);
    }
}
