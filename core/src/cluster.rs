//! Several gateway nodes on one store (PostgreSQL): who does what.
//!
//! Any node takes any webhook, any agent request and any reply from the outbox
//! (claimed once, `FOR UPDATE SKIP LOCKED`). What must run once across the nodes (the
//! poller of a mailbox or a bot) runs under a lease in the store: one node holds it
//! and renews it while it works; when that node dies, its lease runs out and another
//! node takes over. Each node also holds a lease of its own while it runs, which is
//! how nodes count each other. On SQLite the same code runs with one node.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::gateway::Gateway;
use crate::shutdown::{self, Shutdown};
use crate::store::queries::leases;

/// The names of the nodes' own leases start with this.
pub const NODE_PREFIX: &str = "node:";
/// The names of pollers' leases start with this.
pub const POLLER_PREFIX: &str = "poller:";

/// How a node takes part in a cluster, from `[cluster]`.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's name (`[cluster] node`, `node` by default); the node is known
    /// by it and a part made up at start ([`unique_name`]).
    pub node: String,
    /// How long a lease holds without renewal: a dead node's poller is taken over
    /// after at most this (and a second). Renewed every third of it.
    pub lease: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node: "node".into(),
            lease: Duration::from_secs(10),
        }
    }
}

/// A node's name as the others know it: the configured name and a part made up at
/// start, so that two nodes given one name by mistake still hold leases apart.
pub fn unique_name(name: &str) -> String {
    format!("{name}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// The lease of a channel's poller.
pub fn poller_lease(channel: &str) -> String {
    format!("{POLLER_PREFIX}{channel}")
}

/// How often a node that does not hold a lease tries to take it.
const TAKE_EVERY: Duration = Duration::from_secs(1);

/// Runs `work` on this node while it holds `lease`, and only then: waits until the
/// lease is free, runs `work` with a shutdown of its own, renews the lease while it
/// runs, and stops it when the lease is lost (a store that cannot be reached for as
/// long as the lease holds, or another node took it). Then it waits for the lease
/// again. At shutdown it stops `work` and gives the lease up, so that another node
/// takes over at once. `work` ending by itself ends this too.
pub async fn run_exclusively<F, Fut>(gateway: Gateway, lease: String, shutdown: Shutdown, work: F)
where
    F: Fn(Shutdown) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let ttl = gateway.config().cluster.lease;
    let node = gateway.node().to_owned();
    loop {
        if !wait_for_lease(&gateway, &lease, &shutdown).await {
            return;
        }
        tracing::info!(%lease, %node, "this node holds the lease and runs it");
        let (stop, stopped) = shutdown::channel();
        // A task of its own: renewing the lease never holds the work up.
        let mut running = Owned(tokio::spawn(work(stopped)));
        let mut renew = tokio::time::interval(ttl / 3);
        renew.tick().await;
        let mut renewed_at = tokio::time::Instant::now();
        let ended = loop {
            tokio::select! {
                _ = &mut running.0 => break true,
                () = shutdown.wait() => {
                    stop.fire();
                    let _ = (&mut running.0).await;
                    release(&gateway, &lease).await;
                    return;
                }
                _ = renew.tick() => match take(&gateway, &lease).await {
                    Ok(true) => renewed_at = tokio::time::Instant::now(),
                    Ok(false) => {
                        tracing::warn!(%lease, %node, "another node took the lease: stopping here");
                        break false;
                    }
                    Err(error) if renewed_at.elapsed() >= ttl => {
                        tracing::warn!(%lease, %node, %error, "cannot renew the lease before it ran out: stopping here");
                        break false;
                    }
                    Err(error) => tracing::warn!(%lease, %error, "cannot renew the lease; trying again"),
                },
            }
        };
        if ended {
            release(&gateway, &lease).await;
            return;
        }
        stop.fire();
        let _ = (&mut running.0).await;
    }
}

/// The work's task, aborted when this is dropped: a lease holder that is itself
/// cancelled (its node's tasks dropped) takes its work down with it.
struct Owned(tokio::task::JoinHandle<()>);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits until this node holds `lease`; false when the shutdown came first.
async fn wait_for_lease(gateway: &Gateway, lease: &str, shutdown: &Shutdown) -> bool {
    let mut said = false;
    loop {
        match take(gateway, lease).await {
            Ok(true) => return true,
            Ok(false) if !said => {
                said = true;
                tracing::info!(%lease, node = gateway.node(), "another node holds the lease: waiting to take over");
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(%lease, %error, "cannot take the lease; trying again"),
        }
        tokio::select! {
            () = tokio::time::sleep(TAKE_EVERY) => {}
            () = shutdown.wait() => return false,
        }
    }
}

async fn take(gateway: &Gateway, lease: &str) -> Result<bool, crate::StoreError> {
    let (lease, node) = (lease.to_owned(), gateway.node().to_owned());
    let (now, ttl) = (
        gateway.now().0,
        gateway.config().cluster.lease.as_millis() as i64,
    );
    gateway
        .store()
        .write(move |c| leases::take(c, &lease, &node, now, ttl))
        .await
}

async fn release(gateway: &Gateway, lease: &str) {
    let (name, node) = (lease.to_owned(), gateway.node().to_owned());
    if let Err(error) = gateway
        .store()
        .write(move |c| leases::release(c, &name, &node))
        .await
    {
        tracing::warn!(%lease, %error, "cannot give the lease up; it runs out by itself");
    }
}

/// The nodes alive now, as this node last counted them (itself included).
#[derive(Debug, Clone)]
pub struct Nodes(Arc<Counted>);

#[derive(Debug)]
struct Counted {
    count: AtomicUsize,
    /// Set once this node has been counted by the others too.
    joined: watch::Sender<bool>,
}

impl Default for Nodes {
    fn default() -> Self {
        Nodes(Arc::new(Counted {
            count: AtomicUsize::new(1),
            joined: watch::channel(false).0,
        }))
    }
}

impl Nodes {
    pub fn count(&self) -> usize {
        self.0.count.load(Ordering::Relaxed).max(1)
    }

    pub(crate) fn set(&self, count: usize) {
        self.0.count.store(count.max(1), Ordering::Relaxed);
    }

    /// Waits until the other nodes count this one (and it counted them), so that
    /// each divides the rate limits by the same number before this one sends.
    pub async fn joined(&self) {
        let mut joined = self.0.joined.subscribe();
        let _ = joined.wait_for(|joined| *joined).await;
    }
}

/// Holds this node's own lease while it runs, renewing it and counting the nodes
/// alive, until shutdown; then gives it up. The first count waits a renewal and a
/// margin after taking the lease, by which time every other node counted it too.
pub async fn keep_alive(gateway: Gateway, shutdown: Shutdown) {
    let ttl = gateway.config().cluster.lease;
    let lease = format!("{NODE_PREFIX}{}", gateway.node());
    let mut tick = tokio::time::interval(ttl / 3);
    let mut first = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => break,
        }
        if let Err(error) = take(&gateway, &lease).await {
            tracing::warn!(%error, "cannot renew this node's lease");
            continue;
        }
        if std::mem::take(&mut first) {
            tokio::select! {
                () = tokio::time::sleep(ttl / 3 + JOIN_MARGIN) => {}
                () = shutdown.wait() => break,
            }
        }
        let now = gateway.now().0;
        match gateway
            .store()
            .read(move |c| leases::held(c, NODE_PREFIX, now))
            .await
        {
            Ok(nodes) => {
                gateway.nodes().set(nodes.len());
                gateway.nodes().0.joined.send_replace(true);
            }
            Err(error) => tracing::warn!(%error, "cannot count the nodes"),
        }
    }
    release(&gateway, &lease).await;
}

/// How much longer than a renewal a new node waits before its first count: the
/// others' renewals are not in step with its own.
const JOIN_MARGIN: Duration = Duration::from_millis(500);

/// Who runs what now: the nodes alive, and each poller's node.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Membership {
    /// This node.
    pub node: String,
    pub nodes: Vec<String>,
    /// Poller lease (`poller:<channel>`) → the node running it.
    pub pollers: std::collections::BTreeMap<String, String>,
}

impl Gateway {
    /// Who runs what now, as the store says.
    pub async fn membership(&self) -> Result<Membership, crate::StoreError> {
        let now = self.now().0;
        let (nodes, pollers) = self
            .store()
            .read(move |c| {
                Ok((
                    leases::held(c, NODE_PREFIX, now)?,
                    leases::held(c, POLLER_PREFIX, now)?,
                ))
            })
            .await?;
        Ok(Membership {
            node: self.node().to_owned(),
            nodes: nodes
                .into_iter()
                .map(|(name, _)| name[NODE_PREFIX.len()..].to_owned())
                .collect(),
            pollers: pollers.into_iter().collect(),
        })
    }
}
