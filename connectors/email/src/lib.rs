//! The email channel (`kind = "email"`): a support mailbox read over IMAP (IDLE, UID
//! resume), replies sent over SMTP, threaded so that real mail clients show them in
//! the customer's conversation.
//!
//! - [`config`]: the address, the IMAP mailbox and the SMTP server.
//! - [`inbound`]: raw mail into a parsed message: text without quoted history,
//!   sanitized html, attachments, threading headers, auto-replies and bounces.
//! - [`poller`]: the IMAP session: cursor, IDLE, reconnects.
//! - [`outbound`]: the reply as an email, sent through a pool of SMTP connections.

pub mod config;
pub mod inbound;
pub mod outbound;
pub mod poller;

use async_trait::async_trait;
use bytes::Bytes;
use switchboard_core::connector::{
    ChannelContext, Connector, DeliveryUpdate, Inbound, InboundAttachment, Outbound, Receipt,
    SendError, Sender, ThreadHint,
};
use switchboard_core::ingest::IngestError;
use switchboard_core::ratelimit::{Rate, RateLimits};
use switchboard_core::shutdown::Shutdown;
use switchboard_core::{DeliveryStatus, Identity};
use tokio::sync::OnceCell;

pub use config::EmailChannelConfig;
use inbound::{MailKind, ParsedMail};

/// The config `kind` of this channel.
pub const KIND: &str = "email";

/// Mail providers throttle by the minute and the day rather than the second; these
/// keep a shared mailbox well inside common limits (Google Workspace: 2,000 a day).
pub const DEFAULT_RATE_LIMITS: RateLimits = RateLimits {
    channel: Some(Rate::new(10, 1.0, Some(20))),
    recipient: Some(Rate::new(10, 60.0, Some(5))),
    group: None,
};

/// The channel-state key of the salt that makes this channel's Message-IDs unique.
const SALT_KEY: &str = "message_id_salt";

pub struct EmailConnector {
    pub(crate) config: EmailChannelConfig,
    pub(crate) context: ChannelContext,
    pub(crate) smtp: outbound::Transport,
    salt: OnceCell<String>,
}

/// Why a batch of mail was not imported.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportError {
    #[error("cannot store the messages: {0}")]
    Ingest(#[from] IngestError),
    #[error("cannot record a bounce: {0}")]
    Store(#[from] switchboard_core::StoreError),
}

impl EmailConnector {
    pub fn new(config: EmailChannelConfig, context: ChannelContext) -> Result<Self, String> {
        Ok(EmailConnector {
            smtp: outbound::transport(&config.smtp)?,
            config,
            context,
            salt: OnceCell::new(),
        })
    }

    /// A random token kept in the store, generated on first use.
    pub(crate) async fn salt(&self) -> Result<&str, switchboard_core::StoreError> {
        self.salt
            .get_or_try_init(|| async {
                if let Some(salt) = self.context.load_state(SALT_KEY).await? {
                    return Ok(salt);
                }
                // Nodes starting at once agree on the first one stored.
                let salt = format!("{:016x}", rand::random::<u64>());
                self.context.keep_state(SALT_KEY, &salt).await
            })
            .await
            .map(String::as_str)
    }

    /// Commits a batch of raw messages (IMAP UID, bytes): bounces of the gateway's
    /// own mail become failed deliveries, the gateway's own mail is dropped, the rest
    /// is ingested. `Ok` only when everything is recorded.
    pub(crate) async fn import(&self, batch: &[(u32, Vec<u8>)]) -> Result<(), ImportError> {
        let channel = self.context.channel().as_str().to_owned();
        let mut items = Vec::with_capacity(batch.len());
        for (uid, raw) in batch {
            let mail = match inbound::parse(raw) {
                Ok(mail) => mail,
                Err(error) => {
                    tracing::error!(channel, uid, %error, "skipping a message that is not an email");
                    count(&channel, "unparseable");
                    continue;
                }
            };
            if mail
                .message_id
                .as_deref()
                .is_some_and(|id| outbound::is_own(&self.config, id))
            {
                count(&channel, "own_mail");
                continue;
            }
            if let MailKind::Bounce(bounce) = &mail.kind
                && let Some(original) = &bounce.original_message_id
                && outbound::is_own(&self.config, original)
            {
                if bounce.permanent {
                    let reason = format!("the mail bounced: {}", bounce.diagnostic);
                    self.context
                        .delivery(DeliveryUpdate {
                            external_id: original.clone(),
                            status: DeliveryStatus::Failed,
                            reason: Some(reason),
                        })
                        .await?;
                }
                count(
                    &channel,
                    if bounce.permanent {
                        "bounce"
                    } else {
                        "delay_notice"
                    },
                );
                continue;
            }
            if mail.from.is_none() {
                tracing::warn!(
                    channel,
                    uid,
                    "a message without a usable From address: filed under its Sender or Return-Path, else kept aside as filtered"
                );
            }
            items.push(self.normalize(raw, mail));
        }
        self.context.ingest(items).await?;
        Ok(())
    }

    /// The parsed mail as a normalized message. Every mail becomes one: a mail whose
    /// fields name no usable address is filed under [`NO_ADDRESS`], unreachable and
    /// automatic, so that it is kept out of the queue rather than lost.
    pub fn normalize(&self, raw: &[u8], mail: ParsedMail) -> Inbound {
        let own = self.config.address.to_lowercase();
        let own_list = match &mail.kind {
            MailKind::List { id: Some(id) } if self.config.is_own_list(id) => Some(id.as_str()),
            _ => None,
        };
        // A group rewrites the From of senders whose domain publishes a strict DMARC
        // policy to the group's own address ("'Ana' via Support"), with the sender
        // in Reply-To. Google names the list after that address.
        let rewritten_by_group = own_list.is_some_and(|list| {
            mail.from
                .as_ref()
                .is_some_and(|from| from.email == own || from.email.replace('@', ".") == list)
        });
        let candidates = if rewritten_by_group {
            [&mail.reply_to, &mail.from, &mail.sender]
        } else {
            [&mail.from, &mail.reply_to, &mail.sender]
        };
        let found = candidates
            .into_iter()
            .flatten()
            .find_map(|a| Some((Identity::email(&a.email).ok()?, a.clone())));
        let reachable = found.is_some();
        let automatic = !reachable
            || match &mail.kind {
                MailKind::Regular => false,
                MailKind::List { .. } => own_list.is_none(),
                MailKind::Automatic { .. } | MailKind::Bounce(_) => true,
            };
        let (identity, from) = found.unwrap_or_else(|| {
            let name = mail.from.as_ref().and_then(|a| a.name.clone());
            let identity = Identity::email(NO_ADDRESS).expect("a valid address");
            (
                identity,
                inbound::Address {
                    email: NO_ADDRESS.into(),
                    name,
                },
            )
        });
        let root = thread_root(&mail);
        // Everyone else on the mail (not the support address itself) takes part.
        let participants = mail
            .to
            .iter()
            .chain(&mail.cc)
            .filter(|a| a.email != own && a.email != from.email)
            .filter_map(|a| {
                Some(Sender {
                    identity: Identity::email(&a.email).ok()?,
                    display_name: a.name.clone(),
                    reachable: false,
                })
            })
            .collect();
        let references = thread_ids(&mail);
        let limit = self.context.max_attachment_bytes();
        // The visible text drops the quoted history: the whole message stays
        // available to agents as the original.
        let original =
            (mail.text.trim() != mail.full_text.trim() || !reachable) && raw.len() <= limit;
        // A mail the core refused would hold up the whole batch, and the mailbox with
        // it: files past the most a message may carry stay in the mailbox, said so.
        let room = self
            .context
            .max_attachments()
            .saturating_sub(usize::from(original));
        let mut text = mail.text.clone();
        let mut attachments = Vec::with_capacity(mail.attachments.len() + 1);
        for file in mail.attachments {
            if file.bytes.len() > limit {
                text.push_str(&format!(
                    "\n[attachment {} ({:.1} MB) is larger than the gateway takes; it stays in the mailbox]",
                    file.filename,
                    file.bytes.len() as f64 / 1_048_576.0
                ));
                continue;
            }
            attachments.push(InboundAttachment {
                filename: file.filename,
                content_type: file.content_type,
                bytes: file.bytes,
            });
        }
        if attachments.len() > room {
            let left = attachments.len() - room;
            attachments.truncate(room);
            text.push_str(&format!(
                "\n[{left} more attachments stay in the mailbox: the gateway takes {} a message]",
                self.context.max_attachments()
            ));
        }
        if original {
            attachments.push(InboundAttachment {
                filename: "original.eml".into(),
                content_type: "message/rfc822".into(),
                bytes: Bytes::copy_from_slice(raw),
            });
        }
        if text.trim().is_empty() && attachments.is_empty() {
            text = "[an email without text]".into();
        }
        Inbound {
            external_id: mail.message_id.clone().unwrap_or_else(|| content_id(raw)),
            sender: Sender {
                identity,
                display_name: from.name.clone(),
                reachable,
            },
            conversation: format!("{}#{root}", from.email),
            thread: ThreadHint {
                reply_to: None,
                references,
            },
            subject: mail.subject,
            text,
            html: mail.html,
            attachments,
            automatic,
            edit_of: None,
            group: None,
            participants,
            reply_by: None,
        }
    }
}

/// Who a mail is filed under when none of From, Reply-To, Sender and Return-Path
/// gives an address (`.invalid` is reserved: nothing is ever sent there).
pub const NO_ADDRESS: &str = "no-address@sender.invalid";

/// The message ids that thread a mail, the conversation's root first: References
/// (oldest first), then In-Reply-To. A bounce of mail the gateway did not send starts
/// with the returned message's id, so it lands on the ticket that message is on.
fn thread_ids(mail: &ParsedMail) -> Vec<String> {
    let bounced = match &mail.kind {
        MailKind::Bounce(bounce) => bounce.original_message_id.as_slice(),
        _ => &[],
    };
    let mut ids: Vec<String> = Vec::new();
    for id in bounced
        .iter()
        .chain(&mail.references)
        .chain(&mail.in_reply_to)
    {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// What identifies the mail thread for one sender: Outlook's conversation (the first
/// 21 bytes of Thread-Index), else the first of References, else In-Reply-To, else
/// the message itself. Answers without threading headers from the same sender in the
/// same Outlook conversation then stay on one ticket.
fn thread_root(mail: &ParsedMail) -> String {
    if let Some(index) = mail.thread_index.as_deref().filter(|i| i.len() >= 28) {
        return format!("thread-index:{}", &index[..28]);
    }
    mail.references
        .first()
        .or(mail.in_reply_to.first())
        .or(mail.message_id.as_ref())
        .cloned()
        .unwrap_or_default()
}

/// A stable id for a message without a Message-ID: its content's SHA-256.
fn content_id(raw: &[u8]) -> String {
    use sha2::Digest;
    format!("no-message-id.{}", hex::encode(sha2::Sha256::digest(raw)))
}

fn count(channel: &str, reason: &'static str) {
    metrics::counter!("switchboard_email_skipped_total", "channel" => channel.to_owned(), "reason" => reason)
        .increment(1);
}

#[async_trait]
impl Connector for EmailConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, shutdown: Shutdown) -> anyhow::Result<()> {
        poller::run(self, shutdown).await
    }

    fn polls(&self) -> bool {
        true
    }

    async fn send(&self, outbound: &Outbound) -> Result<Receipt, SendError> {
        outbound::send(self, outbound).await
    }
}
