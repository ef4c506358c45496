//! The handle of a running node: its addresses, its counters and status, and a kill
//! that behaves like a crash.

use super::counts::SharedCounts;
use super::{MessageCounts, RuntimeError};
use crate::client::NodeStatus;
use protocols::NodeId;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running node. Dropping the handle does not stop the node; [`NodeHandle::kill`]
/// does.
pub struct NodeHandle {
    /// The node's id.
    pub id: NodeId,
    /// Where its transport listens.
    pub peer_addr: SocketAddr,
    /// Where its client port listens.
    pub client_addr: SocketAddr,
    pub(super) main: JoinHandle<Result<(), RuntimeError>>,
    pub(super) clients: JoinHandle<()>,
    pub(super) counts: Arc<SharedCounts>,
    pub(super) status: Arc<Mutex<Option<NodeStatus>>>,
    /// What a live display shows of the node (only if started with
    /// [`super::spawn_viewed`]).
    pub(super) view: Option<Arc<Mutex<Option<super::view::NodeView>>>>,
    /// Resolves once the WAL writer thread (if any) has released the log.
    pub(super) wal_released: Option<oneshot::Receiver<()>>,
}

impl NodeHandle {
    /// Kills the node as a crash would: its tasks are aborted, its sockets reset, and
    /// nothing unflushed is written. Waits until its ports are free again and its WAL
    /// writer thread has let go of the log (at most the length of one fsync).
    pub async fn kill(self) {
        self.main.abort();
        self.clients.abort();
        let _ = self.main.await;
        let _ = self.clients.await;
        if let Some(released) = self.wal_released {
            let _ = released.await;
        }
    }

    /// Whether the node's loop has stopped (only a storage failure stops it).
    pub fn is_finished(&self) -> bool {
        self.main.is_finished()
    }

    /// Messages sent so far, by kind, as last shared by the node (at most
    /// [`super::PUBLISH_EVERY`] behind, longer on a loaded machine).
    pub fn message_counts(&self) -> MessageCounts {
        self.counts.read().0
    }

    /// The node's shared counts, and whether they are complete: they hold every
    /// message the node has sent until now (false while it has sent something it has
    /// not shared yet).
    pub fn message_counts_if_complete(&self) -> (MessageCounts, bool) {
        self.counts.read()
    }

    /// The node's latest view (log tail, vote, timers, messages per peer), if it was
    /// started with [`super::spawn_viewed`] and has refreshed it once.
    pub fn view(&self) -> Option<super::view::NodeView> {
        self.view
            .as_ref()
            .and_then(|v| v.lock().ok().and_then(|v| v.clone()))
    }

    /// The node's latest status (refreshed every loop iteration).
    pub fn status(&self) -> Option<NodeStatus> {
        self.status.lock().ok().and_then(|s| s.clone())
    }
}
