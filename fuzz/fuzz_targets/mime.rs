//! Raw mail as the IMAP poller fetches it, through what `EmailConnector::import`
//! does with each message: `inbound::parse` (MIME, charsets, format=flowed, quoted
//! history, html, attachments, auto-reply and bounce detection), then the
//! connector's `normalize` into the core's `Inbound`.
//!
//! mail-parser has `debug_assert!`s that some broken MIME trips; the email connector
//! catches those panics (`inbound::mime`), and release builds do not have them. Here
//! debug assertions are on, and libFuzzer's panic hook aborts before anything can
//! catch: so a panic raised inside mail-parser is left to unwind into the
//! connector's guard (and named once on stderr), while any other panic is a crash.

#![no_main]

use std::collections::HashSet;
use std::panic::{self, PanicHookInfo};
use std::sync::{Mutex, Once, OnceLock};

use libfuzzer_sys::fuzz_target;
use switchboard_connector_email::inbound::{self, MailKind, ParsedMail};
use switchboard_connector_email::{EmailChannelConfig, EmailConnector};
use switchboard_core::blobs::BlobStore;
use switchboard_core::input;
use switchboard_core::store::{StoreLocation, Synchronous};
use switchboard_core::{ChannelId, Gateway, GatewayConfig, Inbound, Store, SystemClock};

/// The connector, on a core whose store is an in-memory SQLite database: `normalize`
/// reads only the channel's config and the attachment limit.
struct Fixture {
    connector: EmailConnector,
    limits: GatewayConfig,
    _runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let config: EmailChannelConfig = serde_json::from_value(serde_json::json!({
            "address": "support@support.example.com",
            "own_list_ids": ["support.lists.example.com"],
            "imap": {"host": "127.0.0.1", "tls": "none", "username": "u", "password": "p"},
            "smtp": {"host": "127.0.0.1", "tls": "none"},
        }))
        .expect("a valid email channel config");
        let connector = runtime.block_on(async {
            let store = Store::open(StoreLocation::Sqlite {
                path: ":memory:".into(),
                synchronous: Synchronous::Normal,
            })
            .await
            .expect("an in-memory store");
            let channel = ChannelId::parse("support-email").expect("a channel id");
            let gateway = Gateway::new(
                store,
                BlobStore::new(std::env::temp_dir().join("switchboard-fuzz-no-blobs")),
                std::sync::Arc::new(SystemClock),
                GatewayConfig::default(),
                [channel.clone()],
            );
            EmailConnector::new(config, gateway.channel_context(channel))
                .expect("an email connector")
        });
        Fixture {
            limits: GatewayConfig::default(),
            connector,
            _runtime: runtime,
        }
    })
}

/// Lets panics raised in mail-parser unwind (the connector catches them); hands every
/// other panic to libFuzzer's hook, which aborts.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            let Some(location) = info.location() else {
                return fuzzer_hook(info);
            };
            if !location.file().contains("/mail-parser-") {
                return fuzzer_hook(info);
            }
            static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
            let place = location.to_string();
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(place.clone()) {
                eprintln!(
                    "mime: mail-parser gave up at {place} ({}); the connector's guard catches that",
                    info.payload_as_str().unwrap_or("no message")
                );
            }
        }));
    });
}

/// What `inbound`'s documentation promises of a parsed mail.
fn check_parsed(mail: &ParsedMail) {
    for ids in [&mail.in_reply_to, &mail.references] {
        for (i, id) in ids.iter().enumerate() {
            assert!(!id.is_empty(), "an empty message id in {ids:?}");
            assert!(!ids[..i].contains(id), "message id {id:?} twice in {ids:?}");
        }
    }
    assert!(mail.message_id.as_ref().is_none_or(|id| !id.is_empty()));
    let index = mail.thread_index.as_deref().unwrap_or("-");
    assert!(!index.is_empty() && index.bytes().all(|b| b.is_ascii_graphic()));
    let addresses = [&mail.from, &mail.sender, &mail.reply_to]
        .into_iter()
        .flatten()
        .chain(&mail.to)
        .chain(&mail.cc);
    for address in addresses {
        assert!(!address.email.is_empty());
        assert_eq!(
            address.email,
            address.email.to_lowercase(),
            "not lowercased"
        );
    }
    // `\n` line ends, no trailing spaces, no blank lines before or after.
    let full = &mail.full_text;
    assert!(!full.contains('\r'), "a \\r in the text: {full:?}");
    assert!(
        full.lines().all(|l| l == l.trim_end()),
        "trailing spaces: {full:?}"
    );
    assert!(!full.starts_with('\n') && !full.ends_with('\n'), "{full:?}");
    for file in &mail.attachments {
        let name = &file.filename;
        assert!(!name.trim().is_empty(), "an attachment without a name");
        assert!(
            !name.contains(['/', '\\']) && !name.chars().any(char::is_control),
            "an unsafe attachment name: {name:?}"
        );
        assert!(!file.content_type.contains(';'), "{:?}", file.content_type);
        assert_eq!(file.content_type, file.content_type.to_lowercase());
    }
    if let MailKind::Bounce(bounce) = &mail.kind {
        let five = bounce.status.as_deref().is_some_and(|s| s.starts_with('5'));
        assert_eq!(
            bounce.permanent,
            bounce.action == "failed" && five,
            "{bounce:?}"
        );
    }
    if mail.may_auto_reply {
        assert_eq!(
            mail.kind,
            MailKind::Regular,
            "may auto-reply to automatic mail"
        );
    }
}

/// What the core's ingest refuses (`Ingestor::check`, with the default limits). The
/// poller commits a fetched batch whole and advances its cursor only after that: one
/// mail the core refuses would stop the mailbox, so `normalize` promises that every
/// mail becomes a message that is kept.
fn check_ingestible(message: &Inbound, limits: &GatewayConfig) {
    assert!(!message.external_id.trim().is_empty());
    assert!(!message.conversation.trim().is_empty());
    let keys = [
        ("external_id", &message.external_id),
        ("conversation", &message.conversation),
        ("sender", &message.sender.identity.address),
    ];
    let thread = message
        .thread
        .reply_to
        .iter()
        .chain(&message.thread.references);
    for (field, value) in keys.into_iter().chain(thread.map(|id| ("thread", id))) {
        if let Err(why) = input::check_key(field, value) {
            panic!("the core would refuse the mail: {why}");
        }
    }
    assert!(
        message.attachments.len() <= limits.max_attachments,
        "the core would refuse the mail: {} attachments",
        message.attachments.len()
    );
    for file in &message.attachments {
        assert!(file.bytes.len() <= limits.max_attachment_bytes);
        if let Err(why) = input::media_type("content_type", &file.content_type) {
            panic!("the core would refuse the mail: {why}");
        }
    }
    assert!(!message.text.trim().is_empty() || !message.attachments.is_empty());
    // The core stores the other people on a mail as they are: PostgreSQL's text
    // cannot hold NUL.
    for person in &message.participants {
        let name = person.display_name.as_deref().unwrap_or_default();
        assert!(!person.identity.address.contains('\0') && !name.contains('\0'));
    }
}

fuzz_target!(|raw: &[u8]| {
    install_panic_hook();
    let fixture = fixture();
    let Ok(mail) = inbound::parse(raw) else {
        return;
    };
    check_parsed(&mail);
    let message = fixture.connector.normalize(raw, mail);
    check_ingestible(&message, &fixture.limits);
    // An unreachable sender (no usable address) only on mail kept aside as automatic.
    assert!(message.sender.reachable || message.automatic);
});
