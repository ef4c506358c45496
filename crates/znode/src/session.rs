//! Client sessions (ZooKeeper's `SessionTracker`), in two halves.
//!
//! The replicated half, [`Sessions`], is changed only by committed entries and is the
//! same on every replica: which sessions are open, their timeouts, their ephemeral
//! nodes, and each one's last command number and answer (exactly-once retries, as in
//! the key-value store: a retry of the last command is answered from memory, an older
//! one gets no answer). A session ends by `CloseSession` or by an `Expire` entry;
//! either deletes all its ephemeral nodes inside that one entry. An ended session
//! stays ended: its id is remembered and refused if it tries to open again.
//!
//! The local half, [`Liveness`], is each node's judgement of which sessions are alive,
//! from its own clock: when it last applied a command of each session. Only the
//! leader acts on it, by proposing an `Expire` entry; every replica then applies what
//! was committed, so expiry is decided once, by the log. As in ZooKeeper, a node that
//! becomes leader first gives every session a fresh timeout, so sessions survive the
//! failover of the consensus leader if their clients keep sending heartbeats.

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// One open session (replicated).
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// Silence after which the leader may expire it.
    pub timeout_ms: u32,
    /// The last command number applied.
    pub last_seq: u64,
    /// Its answer, for a retry of it.
    pub last_answer: Option<Bytes>,
    /// Its ephemeral nodes.
    pub ephemerals: BTreeSet<String>,
}

/// The replicated session table.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Open sessions.
    pub open: BTreeMap<u64, SessionState>,
    /// Sessions that ended (closed or expired): never open again.
    pub ended: BTreeSet<u64>,
}

/// One node's view of session liveness (local, from its clock).
#[derive(Debug, Default)]
pub struct Liveness {
    /// When a command of each session was last applied here (milliseconds).
    last_heard: BTreeMap<u64, u64>,
    /// Expiries proposed and when, so that one is not proposed at every call.
    proposed: BTreeMap<u64, u64>,
    /// Whether this node led at the last call of [`Liveness::dead`].
    leading: bool,
}

impl Liveness {
    /// A command of `session` was applied here at `now_ms`.
    pub fn heard(&mut self, session: u64, now_ms: u64) {
        self.last_heard.insert(session, now_ms);
    }

    /// `session` ended: forget it.
    pub fn forget(&mut self, session: u64) {
        self.last_heard.remove(&session);
        self.proposed.remove(&session);
    }

    /// The open sessions this node, if it leads, should propose to expire at `now_ms`:
    /// silent for their timeout, and not proposed within the last timeout. A node that
    /// has just become leader restarts every session's clock first.
    pub fn dead(&mut self, sessions: &Sessions, now_ms: u64, leading: bool) -> Vec<u64> {
        let became_leader = leading && !self.leading;
        self.leading = leading;
        if !leading {
            return Vec::new();
        }
        if became_leader {
            self.proposed.clear();
            for id in sessions.open.keys() {
                self.last_heard.insert(*id, now_ms);
            }
        }
        let mut dead = Vec::new();
        for (&id, s) in &sessions.open {
            let timeout = u64::from(s.timeout_ms);
            let heard = *self.last_heard.entry(id).or_insert(now_ms);
            let silent = now_ms.saturating_sub(heard) >= timeout;
            let recently_proposed = self
                .proposed
                .get(&id)
                .is_some_and(|&at| now_ms.saturating_sub(at) < timeout.max(1));
            if silent && !recently_proposed {
                self.proposed.insert(id, now_ms);
                dead.push(id);
            }
        }
        dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(timeouts: &[(u64, u32)]) -> Sessions {
        let mut s = Sessions::default();
        for &(id, timeout_ms) in timeouts {
            s.open.insert(
                id,
                SessionState {
                    timeout_ms,
                    ..SessionState::default()
                },
            );
        }
        s
    }

    #[test]
    fn only_a_leader_judges_and_only_silent_sessions_die_once() {
        let sessions = table(&[(1, 100), (2, 100)]);
        let mut l = Liveness::default();
        l.heard(1, 0);
        l.heard(2, 0);
        assert!(
            l.dead(&sessions, 500, false).is_empty(),
            "followers judge nothing"
        );
        l.heard(2, 550);
        // Becoming leader restarts every clock.
        assert!(l.dead(&sessions, 600, true).is_empty());
        l.heard(2, 650);
        assert_eq!(l.dead(&sessions, 700, true), [1]);
        assert!(
            l.dead(&sessions, 710, true).is_empty(),
            "not proposed twice within a timeout"
        );
        assert_eq!(l.dead(&sessions, 800, true), [1, 2], "re-proposed if lost");
    }
}
