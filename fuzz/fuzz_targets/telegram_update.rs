//! A Telegram update as the webhook receives it (getUpdates returns the same JSON per
//! item): teloxide's `Update` from the bytes, the plain JSON for what teloxide cannot
//! read, then `inbound::parse`, under both group settings and with and without the
//! bot's username; and the note or file `attach` puts on a message with media.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard_connector_telegram::config::GroupMessages;
use switchboard_connector_telegram::inbound::{
    self, BOT_DOWNLOAD_LIMIT, BotIdentity, Draft, FetchError, Parsed,
};
use switchboard_core::input;
use teloxide::types::{Update, UpdateKind};

const BOT_ID: u64 = 7_000_000_001;

/// The ids the module documents: `{chat}:{message_id}`, an edit
/// `{chat}:{message_id}:edit:{edit_date}` recorded against the original, a button
/// press `callback:{id}`; the conversation is the chat id.
fn check(draft: Draft) {
    let Draft {
        mut inbound,
        media,
        callback_query_id,
    } = draft;
    assert!(
        inbound.conversation.parse::<i64>().is_ok(),
        "conversation {:?} is not a chat id",
        inbound.conversation
    );
    match (&callback_query_id, &inbound.edit_of) {
        (Some(id), _) => assert_eq!(inbound.external_id, format!("callback:{id}")),
        (None, Some(original)) => {
            assert!(inbound.external_id.starts_with(&format!("{original}:edit")));
            assert!(original.starts_with(&format!("{}:", inbound.conversation)));
        }
        (None, None) => {
            assert!(
                inbound
                    .external_id
                    .starts_with(&format!("{}:", inbound.conversation))
            );
        }
    }
    let Some(media) = media else {
        return;
    };
    // The core refuses an attachment whose type is not a media type: the connector
    // keeps the customer's file under application/octet-stream instead.
    if let Err(why) = input::media_type("content_type", &media.content_type) {
        panic!("{why}");
    }
    assert!(!media.filename.is_empty());
    let fetched = if media.size > BOT_DOWNLOAD_LIMIT {
        Err(FetchError::TooBig(media.size))
    } else {
        Ok(Bytes::from_static(b"the file"))
    };
    inbound::attach(&mut inbound, media, fetched);
    assert!(!inbound.text.trim().is_empty() || !inbound.attachments.is_empty());
}

fuzz_target!(|body: &[u8]| {
    // As the webhook reads it: from the bytes, and the plain JSON only when
    // teloxide's types could not read the update.
    let Ok(update) = serde_json::from_slice::<Update>(body) else {
        return;
    };
    let raw = match update.kind {
        UpdateKind::Error(_) => serde_json::from_slice(body).unwrap_or_default(),
        _ => Value::Null,
    };
    let addressed = [Some("Support_Bot"), None].map(|username| {
        let bot = BotIdentity {
            id: BOT_ID,
            username: username.map(str::to_owned),
        };
        (GroupMessages::Addressed, Some(bot))
    });
    for (groups, bot) in addressed.into_iter().chain([(GroupMessages::All, None)]) {
        let bot = bot.filter(|_| inbound::needs_bot_identity(&update, groups));
        match inbound::parse(&update, &raw, bot.as_ref(), groups) {
            Parsed::Message(draft) => check(*draft),
            Parsed::Ignored(reason) => assert!(!reason.is_empty()),
        }
    }
});
