//! The [`Gateway`]: the store, the ingest writers, the event feed and the clock, tied
//! together; and the [`ChannelContext`] each connector gets to hand its messages in.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use crate::blobs::BlobStore;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::connector::{self, Connector, DeliveryUpdate, Draft, Inbound, ThreadContext};
use crate::dispatcher::DispatchConfig;
use crate::events::Events;
use crate::helpdesk::Helpdesk;
use crate::identity::Identity;
use crate::ingest::{IngestError, IngestOutcome, Ingestor};
use crate::model::{Attachment, ChannelId, DeliveryStatus, Timestamp};
use crate::presence::Presence;
use crate::store::queries::{
    channel_state, contacts, conversation_log, events as event_log, messages, outbox,
};
use crate::store::{Connection, Store, StoreError};

/// Settings of the core, from the config's `[tickets]`, `[ingest]`, `[outbox]` and
/// `[attachments]` sections.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The prefix of ticket references (`SB` gives `SB-7K3M9Q`).
    pub reference_prefix: String,
    /// A resolved ticket reopens when the customer writes within this time; after it,
    /// a new ticket links to the old one.
    pub reopen_window: Duration,
    /// The largest attachment accepted, in bytes.
    pub max_attachment_bytes: usize,
    /// The most attachments one message may carry, in or out.
    pub max_attachments: usize,
    /// The most messages committed in one transaction.
    pub ingest_batch: usize,
    /// Concurrent ingest transactions (1 suits SQLite's single writer).
    pub ingest_writers: usize,
    pub dispatch: DispatchConfig,
    /// Business hours by name, from `[calendars]`.
    pub calendars: HashMap<String, Calendar>,
    /// Triage, SLAs, routing and the gateway's own messages, from `[helpdesk]`.
    pub helpdesk: Arc<Helpdesk>,
    /// How long tickets' contents are kept, from `[[retention]]`.
    pub retention: crate::privacy::Retention,
    /// This node's name and its leases, from `[cluster]`.
    pub cluster: crate::cluster::ClusterConfig,
}

/// Enough for an album, a mail with its inline images, a scanned document's pages.
pub const DEFAULT_MAX_ATTACHMENTS: usize = 50;

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            reference_prefix: "SB".into(),
            reopen_window: Duration::from_secs(7 * 24 * 3600),
            max_attachment_bytes: 25 * 1024 * 1024,
            max_attachments: DEFAULT_MAX_ATTACHMENTS,
            ingest_batch: 256,
            ingest_writers: 1,
            dispatch: DispatchConfig::default(),
            calendars: HashMap::new(),
            helpdesk: Arc::default(),
            retention: crate::privacy::Retention::default(),
            cluster: crate::cluster::ClusterConfig::default(),
        }
    }
}

/// The core, shared by the HTTP server, the connectors and the dispatcher.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<GatewayInner>,
}

pub(crate) struct GatewayInner {
    pub(crate) store: Store,
    pub(crate) blobs: BlobStore,
    pub(crate) events: Events,
    pub(crate) presence: Presence,
    /// This node's name among the nodes sharing the store, unique.
    pub(crate) node: String,
    /// What this node tells the other nodes sharing the store, and hears from them.
    pub(crate) bus: crate::bus::Bus,
    /// The nodes alive, as this node last counted them.
    pub(crate) nodes: crate::cluster::Nodes,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: GatewayConfig,
    pub(crate) ingestor: Ingestor,
    /// Wakes the dispatcher when a reply is queued on this node.
    pub(crate) outbox_ready: Arc<Notify>,
    /// Channels that have a running connector here; replies to others are refused.
    pub(crate) channels: HashSet<String>,
    /// Their connectors, once built: they may refuse a reply before it is queued.
    pub(crate) connectors: RwLock<HashMap<String, Arc<dyn Connector>>>,
    /// What each channel's connector last reported as wrong with it, by channel and
    /// concern, for admins.
    pub(crate) problems: Mutex<HashMap<String, Vec<ChannelProblem>>>,
}

/// Something wrong with a channel that needs an admin (an expired token, a second
/// poller on the same bot, files that cannot be fetched), as its connector reported it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ChannelProblem {
    /// Which part of the channel: each concern is reported and cleared on its own.
    pub concern: Concern,
    pub message: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

crate::model::string_enum!(
    /// The part of a channel a problem is about. A poller that logs in again clears
    /// its `connection` problem, not the `media` one a failed download left.
    Concern {
        /// Receiving: logging in, polling, registering the webhook.
        Connection => "connection",
        /// Who the channel is at the provider (Telegram's getMe).
        Identity => "identity",
        /// Customers' files that could not be fetched or stored.
        Media => "media",
        /// Sending replies: credentials, the account, the sender.
        Sending => "sending",
    }
);

impl Gateway {
    /// Builds the core and starts its ingest writers (on the current tokio runtime).
    pub fn new(
        store: Store,
        blobs: BlobStore,
        clock: Arc<dyn Clock>,
        config: GatewayConfig,
        channels: impl IntoIterator<Item = ChannelId>,
    ) -> Gateway {
        let node = crate::cluster::unique_name(&config.cluster.node);
        let bus = crate::bus::Bus::start(&store, &node);
        let events = Events::new(bus.clone());
        let presence = Presence::new(bus.clone());
        if bus.is_shared() {
            tokio::spawn(crate::events::relay(events.clone(), store.clone()));
            presence.follow_other_nodes();
        }
        Gateway {
            inner: Arc::new_cyclic(|gateway| GatewayInner {
                ingestor: Ingestor::start(
                    gateway.clone(),
                    store.clone(),
                    events.clone(),
                    clock.clone(),
                    &config,
                ),
                store,
                blobs,
                events,
                presence,
                node,
                bus,
                nodes: crate::cluster::Nodes::default(),
                clock,
                config,
                outbox_ready: Arc::new(Notify::new()),
                channels: channels
                    .into_iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
                connectors: RwLock::default(),
                problems: Mutex::default(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    /// This node's name among the nodes sharing the store, unique.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The nodes alive, as this node last counted them.
    pub fn nodes(&self) -> &crate::cluster::Nodes {
        &self.inner.nodes
    }

    /// What this node tells the other nodes sharing the store, and hears from them.
    pub fn bus(&self) -> &crate::bus::Bus {
        &self.inner.bus
    }

    pub fn events(&self) -> &Events {
        &self.inner.events
    }

    /// Who is on which ticket, and whether any agent is at work (this node's view).
    pub fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// The helpdesk rules in force.
    pub fn helpdesk(&self) -> &Helpdesk {
        &self.inner.config.helpdesk
    }

    /// Whether a channel runs here (replies to others are refused).
    pub(crate) fn serves(&self, channel: &str) -> bool {
        self.inner.channels.contains(channel)
    }

    /// The `kind` of a channel's connector (`email`, `telegram`, ...), once built.
    pub fn channel_kind(&self, channel: &str) -> Option<&'static str> {
        let connectors = self
            .inner
            .connectors
            .read()
            .unwrap_or_else(|e| e.into_inner());
        connectors.get(channel).map(|c| c.kind())
    }

    /// Wakes the dispatcher for replies queued on this node.
    pub(crate) fn outbox_queued(&self) {
        self.inner.outbox_ready.notify_one();
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Makes a channel's connector known, so that replies it would refuse
    /// ([`Connector::refuse`]) are refused before they are queued.
    pub fn add_connector(&self, channel: &ChannelId, connector: Arc<dyn Connector>) {
        self.inner
            .connectors
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(channel.as_str().to_owned(), connector);
    }

    /// Why a reply into `thread` would not go out now ([`connector::refusal`]).
    pub(crate) fn refusal(&self, thread: &ThreadContext, draft: Draft<'_>) -> Option<String> {
        let connectors = self
            .inner
            .connectors
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let connector = connectors.get(&thread.channel).map(|c| c.as_ref());
        connector::refusal(connector, thread, draft, self.now())
    }

    /// The problems a channel's connector reports now, oldest first; empty when it
    /// works.
    pub fn channel_problems(&self, channel: &str) -> Vec<ChannelProblem> {
        let problems = self
            .inner
            .problems
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        problems.get(channel).cloned().unwrap_or_default()
    }

    /// The handle a connector uses for its channel.
    pub fn channel_context(&self, channel: ChannelId) -> ChannelContext {
        ChannelContext {
            channel,
            gateway: self.clone(),
        }
    }
}

/// Whether a transaction writes.
#[derive(Clone, Copy)]
enum Access {
    Read,
    Write,
}

/// What a connector may do with the core: hand in messages and delivery updates,
/// keep its poller's cursor, mark addresses unreachable.
#[derive(Clone)]
pub struct ChannelContext {
    channel: ChannelId,
    gateway: Gateway,
}

impl ChannelContext {
    pub fn channel(&self) -> &ChannelId {
        &self.channel
    }

    pub fn now(&self) -> Timestamp {
        self.gateway.now()
    }

    /// A stored attachment's bytes, by SHA-256: for channels whose provider fetches
    /// a reply's files from the gateway by URL (MMS).
    pub async fn attachment(&self, sha256: &str) -> std::io::Result<bytes::Bytes> {
        self.gateway.inner.blobs.get(sha256).await
    }

    /// The largest attachment the gateway accepts, in bytes.
    pub fn max_attachment_bytes(&self) -> usize {
        self.gateway.inner.config.max_attachment_bytes
    }

    /// The most attachments one message may carry: check it before fetching any.
    pub fn max_attachments(&self) -> usize {
        self.gateway.inner.config.max_attachments
    }

    /// Commits the messages (deduplicated, threaded into tickets) and returns, in
    /// order, what became of each. Only after this returns `Ok` may the connector
    /// acknowledge them to the provider.
    pub async fn ingest(&self, items: Vec<Inbound>) -> Result<Vec<IngestOutcome>, IngestError> {
        self.gateway
            .inner
            .ingestor
            .submit(
                &self.gateway.inner.blobs,
                self.channel.clone(),
                false,
                items,
            )
            .await
    }

    /// [`ingest`](Self::ingest), and each new message also takes the next number in
    /// its conversation's log, in the same transaction (its
    /// [`IngestOutcome::seq`]); a duplicate comes back with the number it has. For
    /// channels where the gateway is the provider and clients resume by number.
    pub async fn ingest_logged(
        &self,
        items: Vec<Inbound>,
    ) -> Result<Vec<IngestOutcome>, IngestError> {
        self.gateway
            .inner
            .ingestor
            .submit(&self.gateway.inner.blobs, self.channel.clone(), true, items)
            .await
    }

    /// Runs `work` with the channel's id and the conversation key, in a transaction
    /// that writes or only reads.
    async fn in_conversation<T, F>(
        &self,
        conversation: &str,
        access: Access,
        mut work: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Connection, &str, &str) -> Result<T, StoreError> + Send + 'static,
    {
        let (channel, conversation) = (self.channel.as_str().to_owned(), conversation.to_owned());
        let work = move |conn: &mut dyn Connection| work(conn, &channel, &conversation);
        let store = &self.gateway.inner.store;
        match access {
            Access::Read => store.read(work).await,
            Access::Write => store.write(work).await,
        }
    }

    /// Puts a reply that is being sent into its conversation's log, or finds it there
    /// when an earlier attempt did; returns it with its number.
    pub async fn log_sent(
        &self,
        conversation: &str,
        message_id: i64,
    ) -> Result<conversation_log::Entry, StoreError> {
        let now = self.now().0;
        self.in_conversation(
            conversation,
            Access::Write,
            move |conn, channel, conversation| {
                let seq = conversation_log::append(conn, channel, conversation, message_id, now)?;
                let range = conversation_log::Range::After(seq - 1);
                conversation_log::read(conn, channel, conversation, range, 1)?
                    .pop()
                    .ok_or_else(|| StoreError::Database("a logged message vanished".into()))
            },
        )
        .await
    }

    /// Part of a conversation's log ([`conversation_log::read`]), its latest number,
    /// and the ticket its newest message is on.
    pub async fn conversation(
        &self,
        conversation: &str,
        range: conversation_log::Range,
        limit: usize,
    ) -> Result<conversation_log::Page, StoreError> {
        self.in_conversation(
            conversation,
            Access::Read,
            move |conn, channel, conversation| {
                conversation_log::page(conn, channel, conversation, range, limit)
            },
        )
        .await
    }

    /// Keeps a customer's file until a message refers to it; returns its SHA-256.
    pub async fn store_file(&self, bytes: bytes::Bytes) -> std::io::Result<String> {
        self.gateway.inner.blobs.put(bytes).await
    }

    /// A file of the conversation, with its bytes; `None` when it is not one of the
    /// conversation's.
    pub async fn conversation_attachment(
        &self,
        conversation: &str,
        attachment_id: i64,
    ) -> Result<Option<(Attachment, bytes::Bytes)>, StoreError> {
        let found = self
            .in_conversation(
                conversation,
                Access::Read,
                move |conn, channel, conversation| {
                    conversation_log::attachment(conn, channel, conversation, attachment_id)
                },
            )
            .await?;
        let Some(attachment) = found else {
            return Ok(None);
        };
        let bytes = self
            .gateway
            .inner
            .blobs
            .get(&attachment.sha256)
            .await
            .map_err(|e| StoreError::Database(format!("cannot read a stored file: {e}")))?;
        Ok(Some((attachment, bytes)))
    }

    /// The customer's client says it has (`delivered`) or showed (`read`) the agents'
    /// messages up to `seq`: their delivery status moves forward, and agents see it.
    pub async fn conversation_seen(
        &self,
        conversation: &str,
        seq: i64,
        status: DeliveryStatus,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let recorded = self
            .in_conversation(
                conversation,
                Access::Write,
                move |conn, channel, conversation| {
                    let changes = conversation_log::mark_outbound(
                        conn,
                        channel,
                        conversation,
                        seq,
                        status,
                        now.0,
                    )?;
                    if changes.is_empty() {
                        return Ok(Vec::new());
                    }
                    event_log::append(conn, changes.iter().map(|c| c.event()).collect(), now)
                },
            )
            .await?;
        self.gateway.inner.events.publish(recorded);
        Ok(())
    }

    /// Who is on which ticket, and whether any agent is at work.
    pub fn presence(&self) -> &Presence {
        &self.gateway.inner.presence
    }

    /// A calendar of `[calendars]`, by name.
    pub fn calendar(&self, name: &str) -> Option<&Calendar> {
        self.gateway.inner.config.calendars.get(name)
    }

    /// Whether other gateway nodes may share the store (PostgreSQL): then what they
    /// commit is announced on the [`bus`](Self::bus), and live connections also look
    /// for it now and then, for notices that were lost.
    pub fn store_is_shared(&self) -> bool {
        self.gateway.inner.store.dialect() == crate::store::Dialect::Postgres
    }

    /// What this node tells the other nodes sharing the store, and hears from them.
    pub fn bus(&self) -> &crate::bus::Bus {
        self.gateway.bus()
    }

    /// Applies a provider's delivery status to the outbound message it names.
    /// Returns `false` when the message is unknown or the status would go backwards.
    pub async fn delivery(&self, update: DeliveryUpdate) -> Result<bool, StoreError> {
        let channel = self.channel.as_str().to_owned();
        let now = self.now().0;
        let change = self
            .gateway
            .inner
            .store
            .write(move |conn| {
                let change = messages::apply_external_delivery(
                    conn,
                    &channel,
                    &update.external_id,
                    update.status,
                    update.reason.as_deref(),
                    now,
                )?;
                let recorded = match &change {
                    Some(change) => event_log::append(conn, vec![change.event()], Timestamp(now))?,
                    None => Vec::new(),
                };
                Ok((change.is_some(), recorded))
            })
            .await?;
        let (changed, recorded) = change;
        self.gateway.inner.events.publish(recorded);
        Ok(changed)
    }

    /// A value the connector stored earlier (a poller's offset or cursor).
    pub async fn load_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        let (channel, key) = (self.channel.as_str().to_owned(), key.to_owned());
        self.gateway
            .inner
            .store
            .read(move |conn| channel_state::get(conn, &channel, &key))
            .await
    }

    /// Stores a poller's value (an offset, a cursor) durably; call it only after what
    /// it stands for is committed. Refused when another node took over the channel's
    /// poller: a node that lost its lease never moves the new poller's cursor.
    pub async fn save_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (channel, key, value) = (
            self.channel.as_str().to_owned(),
            key.to_owned(),
            value.to_owned(),
        );
        let (lease, node) = (
            crate::cluster::poller_lease(&channel),
            self.gateway.node().to_owned(),
        );
        let now = self.now().0;
        let written = self
            .gateway
            .inner
            .store
            .write(move |conn| {
                channel_state::set_holding(conn, &channel, &key, &value, now, &lease, &node)
            })
            .await?;
        if written {
            Ok(())
        } else {
            Err(StoreError::Invalid(
                "another node runs this channel's poller now".into(),
            ))
        }
    }

    /// The value stored under `key`, storing `value` first if there is none: the
    /// first node to store one wins, and every node gets the same.
    pub async fn keep_state(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let (channel, key, value) = (
            self.channel.as_str().to_owned(),
            key.to_owned(),
            value.to_owned(),
        );
        let now = self.now().0;
        self.gateway
            .inner
            .store
            .write(move |conn| channel_state::get_or_set(conn, &channel, &key, &value, now))
            .await
    }

    /// Records how far sending a multi-part message got, so that a retry of it
    /// (handed in as [`Outbound::progress`](crate::connector::Outbound)) continues
    /// after the parts the customer already has.
    pub async fn save_progress(&self, message_id: i64, progress: &str) -> Result<(), StoreError> {
        let progress = progress.to_owned();
        let now = self.now().0;
        self.gateway
            .inner
            .store
            .write(move |conn| outbox::save_progress(conn, message_id, &progress, now))
            .await
    }

    /// Reports what is wrong with the channel about `concern` (shown to admins with
    /// the channel, in `/readyz` and as the `switchboard_channel_problem` gauge), or
    /// `None` once it works again. Repeating the same problem keeps its `since`.
    pub fn report_problem(&self, concern: Concern, problem: Option<&str>) {
        let channel = self.channel.as_str();
        let mut problems = self
            .gateway
            .inner
            .problems
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let list = problems.entry(channel.to_owned()).or_default();
        let at = list.iter().position(|p| p.concern == concern);
        match (problem, at) {
            (None, None) => return,
            (None, Some(at)) => {
                list.remove(at);
            }
            (Some(message), Some(at)) if list[at].message == message => return,
            (Some(message), at) => {
                let since = at.map_or_else(|| self.now(), |at| list[at].since);
                let reported = ChannelProblem {
                    concern,
                    message: message.to_owned(),
                    since,
                };
                match at {
                    Some(at) => list[at] = reported,
                    None => list.push(reported),
                }
                tracing::warn!(
                    channel,
                    concern = concern.as_str(),
                    problem = message,
                    "channel problem"
                );
            }
        }
        metrics::gauge!("switchboard_channel_problem", "channel" => channel.to_owned(), "concern" => concern.as_str())
            .set(if problem.is_some() { 1.0 } else { 0.0 });
    }

    /// Records that the provider says `identity` cannot be reached on this channel
    /// (`None`: reachable again). Whether anything changed.
    pub async fn set_unreachable(
        &self,
        identity: Identity,
        reason: Option<String>,
    ) -> Result<bool, StoreError> {
        let channel = self.channel.as_str().to_owned();
        let now = self.now().0;
        self.gateway
            .inner
            .store
            .write(move |conn| {
                contacts::set_unreachable(conn, &channel, &identity, reason.as_deref(), now)
            })
            .await
    }
}
