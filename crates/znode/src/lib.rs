//! ZooKeeper's data model as a replicated state machine of the shared harness, and the
//! coordination recipes built on it.
//!
//! The tree of znodes, the client sessions and the expiry of their ephemeral nodes are
//! replicated: every replica applies the same committed [`ZCommand`]s and holds the same
//! [`ZnodeTree`], whichever protocol (Raft, ZAB, Paxos) ordered them. Watches and the
//! judgement of which sessions are silent are local to a node, as in ZooKeeper: a watch
//! lives on the node its client is connected to, and only the leader turns a silent
//! session into an `Expire` entry, which everyone then applies from the log.
//!
//! # Layout
//! - [`path`]: ZooKeeper's path rules.
//! - [`command`]: operations, answers, stats, watch events, errors; their encoding.
//! - [`tree`]: [`ZnodeTree`], the state machine (create, delete, set, get, ls, exists,
//!   sessions), implementing [`kv::StateMachine`].
//! - [`session`]: the replicated session table and the local liveness judgement.
//! - [`watch`]: one node's one-shot watches.
//! - [`recipes`]: locks, read/write locks, elections and service registration as
//!   client-side state machines, with a deterministic driver to test them.
//!
//! # Example
//! ```
//! use znode::{CreateMode, ZAnswer, ZCommand, ZOp, ZnodeTree};
//! use kv::{ApplyContext, Session};
//!
//! let mut tree = ZnodeTree::new();
//! let session = Session { client: 7, seq: 1 };
//! let open = ZCommand { session, op: ZOp::OpenSession { timeout_ms: 4000 } };
//! tree.apply(&open.encode(), ApplyContext::default());
//! let create = ZCommand {
//!     session: Session { client: 7, seq: 2 },
//!     op: ZOp::Create { path: "/lock-".into(), data: Default::default(),
//!                       mode: CreateMode::EphemeralSequential },
//! };
//! match tree.apply(&create.encode(), ApplyContext::default()) {
//!     Some(ZAnswer::Created { path, stat }) => {
//!         assert_eq!(path, "/lock-0000000001");
//!         assert_eq!(stat.czxid, 2); // the entry that created it: a fencing token
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

pub mod command;
pub mod path;
pub mod recipes;
pub mod session;
pub mod tree;
pub mod watch;

#[cfg(test)]
mod tests;

pub use command::{
    CreateMode, Stat, WatchEvent, WatchKind, ZAnswer, ZCommand, ZError, ZOp, ANY_VERSION, MAX_DATA,
};
pub use tree::ZnodeTree;

use kv::{KvStore, StateMachine, StateMachineKind};

/// A fresh state machine of the given kind.
pub fn new_state_machine(kind: StateMachineKind) -> Box<dyn StateMachine> {
    match kind {
        StateMachineKind::Kv => Box::new(KvStore::new()),
        StateMachineKind::Znode => Box::new(ZnodeTree::new()),
    }
}
