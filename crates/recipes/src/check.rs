//! The checks of the lock recipes, run at every grant and at the end of a run.
//!
//! - Mutual exclusion with fencing: when a client is granted a lock, every earlier
//!   holder it conflicts with (any holder of an exclusive lock; for a read/write lock,
//!   any writer, and any holder if the new one writes) has either released, or its
//!   node, identified by its creation index, is gone from the tree of the replica
//!   that granted it (its session expired there first). And the new fencing token is
//!   larger than every earlier conflicting holder's, so a resource that refuses older
//!   tokens never takes a write from a superseded holder.
//! - No missed watch event: at the end of a quiet run, no live client waits while
//!   nobody holds; a client whose watch never fired would wait there forever.

use bytes::Bytes;
use kv::StateMachine;
use protocols::Time;
use znode::ZAnswer;

/// One grant a client saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The client.
    pub client: usize,
    /// Its fencing token (its node's creation index).
    pub token: u64,
    /// Its node.
    pub node: String,
    /// When.
    pub at: Time,
}

impl Grant {
    /// Whether it shares with others of its kind: a read lock (`read-` nodes), or a
    /// service registration (`instance-` nodes, which exclude nothing).
    fn reads(&self) -> bool {
        let name = znode::path::name(&self.node);
        name.starts_with("read-") || name.starts_with("instance-")
    }
}

/// Every grant so far and which of them were released.
#[derive(Debug, Default)]
pub struct Checker {
    /// Grants, in order.
    pub grants: Vec<Grant>,
    /// Clients that released their grant.
    released: Vec<usize>,
}

impl Checker {
    /// Checks a new grant against the tree of the replica that granted it.
    pub fn on_grant(
        &mut self,
        grant: Grant,
        tree: Option<&dyn StateMachine>,
    ) -> Result<(), String> {
        for earlier in &self.grants {
            let same_lock = znode::path::parent(&earlier.node) == znode::path::parent(&grant.node);
            if !same_lock || earlier.reads() && grant.reads() {
                continue;
            }
            if earlier.token >= grant.token {
                return Err(format!(
                    "fencing: client {} granted token {} after client {} held token {}",
                    grant.client, grant.token, earlier.client, earlier.token
                ));
            }
            if self.released.contains(&earlier.client) {
                continue;
            }
            let still_there = tree
                .and_then(|t| t.peek_value(earlier.node.as_bytes()))
                .and_then(|b: Bytes| ZAnswer::decode(&b))
                .is_some_and(
                    |a| matches!(a, ZAnswer::Data { stat, .. } if stat.czxid == earlier.token),
                );
            if still_there {
                return Err(format!(
                    "two holders: client {} granted {} (token {}) while client {}'s {} (token {}) still exists",
                    grant.client, grant.node, grant.token, earlier.client, earlier.node, earlier.token
                ));
            }
        }
        self.grants.push(grant);
        Ok(())
    }

    /// Client `client` released its grant.
    pub fn on_release(&mut self, client: usize) {
        self.released.push(client);
    }

    /// Clients granted something, in grant order.
    pub fn granted(&self) -> Vec<usize> {
        self.grants.iter().map(|g| g.client).collect()
    }
}
