//! The checks of the lock recipes, run at every grant and at the end of a run.
//!
//! - Mutual exclusion with fencing: when a client is granted a lock, every earlier
//!   holder it conflicts with (any holder of an exclusive lock; for a read/write lock,
//!   any writer, and any holder if the new one writes) has either released, or its
//!   node, identified by its creation index, is gone from the tree of the replica
//!   that applied the most (its session expired). And the new fencing token is
//!   larger than every earlier conflicting holder's, so a resource that refuses older
//!   tokens never takes a write from a superseded holder. A grant whose own node is
//!   gone already is a stale belief (an answer read after a pause), counted apart.
//! - No missed watch event: at the end of a quiet run, no live client waits while
//!   nobody holds; a client whose watch never fired would wait there forever.
//! - No two holders with overlapping fencing tokens at the resource the lock guards
//!   ([`Resource`], [`check_actions`]): a holder may believe it still holds after its
//!   session expired (it was paused, its messages were late), so what matters is what
//!   the guarded resource accepted. Among the actions it accepted, once a holder with
//!   token `t` acted, no conflicting holder with a token below `t` acts again. The
//!   resource's fence (refusing a token older than one it has seen) is what keeps this
//!   true when a stale holder wakes up; without it the check fails.

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
    /// Whether each grant (same index as `grants`) was released by its client.
    released: Vec<bool>,
    /// Grants a client believed in after its own node was gone (it read an old
    /// answer after a pause): not checked as grants.
    pub stale: u64,
}

impl Checker {
    /// Checks a new grant against the tree of the replica that applied the most.
    pub fn on_grant(
        &mut self,
        grant: Grant,
        tree: Option<&dyn StateMachine>,
    ) -> Result<(), String> {
        let holds = |node: &str, token: u64| {
            tree.and_then(|t| t.peek_value(node.as_bytes()))
                .and_then(|b: Bytes| ZAnswer::decode(&b))
                .is_some_and(|a| matches!(a, ZAnswer::Data { stat, .. } if stat.czxid == token))
        };
        if tree.is_some() && !holds(&grant.node, grant.token) {
            // A belief, not a grant: the client read an old answer (it was paused) and
            // its own node is gone already. The resource's fence deals with its actions.
            self.stale += 1;
            return Ok(());
        }
        for (earlier, &released) in self.grants.iter().zip(&self.released) {
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
            if released {
                continue;
            }
            let still_there = holds(&earlier.node, earlier.token);
            if still_there {
                return Err(format!(
                    "two holders: client {} granted {} (token {}) while client {}'s {} (token {}) still exists",
                    grant.client, grant.node, grant.token, earlier.client, earlier.node, earlier.token
                ));
            }
        }
        self.grants.push(grant);
        self.released.push(false);
        Ok(())
    }

    /// Client `client` released its latest grant.
    pub fn on_release(&mut self, client: usize) {
        if let Some(i) = self.grants.iter().rposition(|g| g.client == client) {
            self.released[i] = true;
        }
    }

    /// Clients granted something, in grant order.
    pub fn granted(&self) -> Vec<usize> {
        self.grants.iter().map(|g| g.client).collect()
    }
}

/// One action a holder took on the resource its lock guards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// The client.
    pub client: usize,
    /// The fencing token it presented.
    pub token: u64,
    /// A write (an exclusive holder or a writer), or a read (a reader, which shares).
    pub write: bool,
    /// When.
    pub at: Time,
}

/// A resource guarded by one lock (a file, a storage service), which takes an action
/// from whoever presents a fencing token. Fenced, it refuses a write whose token is
/// older than any it has seen, and a read whose token is older than the newest
/// writer's: a holder whose session expired while it was paused is turned away.
#[derive(Clone, Debug, Default)]
pub struct Resource {
    /// Whether it checks tokens (unfenced: it takes everything, the broken variant).
    pub fenced: bool,
    /// Highest token seen on any action, and on a write.
    max_any: u64,
    max_write: u64,
    /// The actions it accepted, in order.
    pub accepted: Vec<Action>,
    /// Actions it refused (stale tokens).
    pub refused: u64,
}

impl Resource {
    /// A resource, fenced or not.
    pub fn new(fenced: bool) -> Resource {
        Resource {
            fenced,
            ..Resource::default()
        }
    }

    /// A holder acts; whether the resource accepted it.
    pub fn act(&mut self, action: Action) -> bool {
        let floor = if action.write {
            self.max_any
        } else {
            self.max_write
        };
        if self.fenced && action.token < floor {
            self.refused += 1;
            return false;
        }
        self.max_any = self.max_any.max(action.token);
        if action.write {
            self.max_write = self.max_write.max(action.token);
        }
        self.accepted.push(action);
        true
    }
}

/// The check over what a resource accepted: for two conflicting holders (either one
/// writes) with tokens `a < b`, no action of `a`'s after `b`'s first. Written apart
/// from the fence, over the accepted actions alone.
pub fn check_actions(actions: &[Action]) -> Result<(), String> {
    for (i, later) in actions.iter().enumerate() {
        let newer = actions[..i].iter().find(|earlier| {
            earlier.token > later.token
                && earlier.client != later.client
                && (earlier.write || later.write)
        });
        if let Some(newer) = newer {
            return Err(format!(
                "overlapping holders: client {} acted with fencing token {} at {} after client {} had acted with token {} at {}",
                later.client, later.token, later.at, newer.client, newer.token, newer.at
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> Time {
        Time::ZERO.plus(Duration::from_millis(ms))
    }

    fn act(client: usize, token: u64, write: bool, ms: u64) -> Action {
        Action {
            client,
            token,
            write,
            at: at(ms),
        }
    }

    #[test]
    fn a_stale_writer_is_refused_by_the_fence_and_caught_without_it() {
        let history = [act(0, 5, true, 1), act(1, 9, true, 2), act(0, 5, true, 3)];
        let mut fenced = Resource::new(true);
        let mut open = Resource::new(false);
        for a in &history {
            fenced.act(a.clone());
            open.act(a.clone());
        }
        assert_eq!(fenced.refused, 1);
        assert_eq!(check_actions(&fenced.accepted), Ok(()));
        let err = check_actions(&open.accepted).expect_err("client 0 acted after client 1");
        assert!(err.contains("client 0 acted with fencing token 5"), "{err}");
    }

    #[test]
    fn readers_share_and_a_writer_excludes_them() {
        // Two readers interleave; a writer after them; a reader behind the writer.
        let ok = [
            act(0, 3, false, 1),
            act(1, 4, false, 2),
            act(0, 3, false, 3),
            act(2, 6, true, 4),
            act(3, 7, false, 5),
        ];
        assert_eq!(check_actions(&ok), Ok(()));
        let stale_reader = [act(2, 6, true, 4), act(0, 3, false, 5)];
        assert!(check_actions(&stale_reader).is_err());
        let mut fenced = Resource::new(true);
        assert!(fenced.act(act(2, 6, true, 4)));
        assert!(!fenced.act(act(0, 3, false, 5)));
        assert!(fenced.act(act(3, 7, false, 6)));
    }
}
