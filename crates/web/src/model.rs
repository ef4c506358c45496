//! What the page reads about nodes, the same in live and replay mode: role,
//! generation in the protocol's words, vote, log as `index@term` with the committed part
//! marked, timers with the time left.

use protocols::{Describe, LogEntry, NodeId, Role, Status, Vocabulary};
use serde::Serialize;

/// The protocol's words, for headings.
#[derive(Clone, Debug, Serialize)]
pub struct Words {
    /// `raft`, `zab`, `paxos`.
    pub protocol: &'static str,
    /// `term`, `epoch`, `ballot`.
    pub generation: &'static str,
    /// How the log's entries are written.
    pub log_legend: &'static str,
}

impl Words {
    /// Protocol `P`'s words.
    pub fn of<P: Describe>() -> Words {
        let v = P::vocabulary();
        Words {
            protocol: v.protocol,
            generation: v.generation,
            log_legend: v.log_legend,
        }
    }
}

/// One node as the page draws it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeJson {
    /// Its id.
    pub id: NodeId,
    /// Running (not killed or crashed).
    pub up: bool,
    /// Cut off by an isolation.
    pub isolated: bool,
    /// Its group in a partition (0: not partitioned).
    pub group: usize,
    /// The role as the protocol names it (`leader`, `LOOKING`...), empty when down.
    pub role: String,
    /// The role's colour class: `leader`, `candidate`, `follower`, `observer`, `down`.
    pub kind: &'static str,
    /// Its generation in the protocol's words (`3`, `0x2`, `2.1`).
    pub term: String,
    /// Who it believes leads.
    pub leader: Option<NodeId>,
    /// Whom it backs ([`Describe::vote`]).
    pub vote: Option<String>,
    /// Highest index known committed.
    pub commit: u64,
    /// Highest index in its log.
    pub last_index: u64,
    /// Entries applied to the key-value store (live mode).
    pub applied: Option<u64>,
    /// The newest entries of its log.
    pub log: Vec<EntryJson>,
    /// Entries in its whole log.
    pub log_len: usize,
    /// Armed timers (live mode).
    pub timers: Vec<TimerJson>,
}

/// One log entry.
#[derive(Clone, Debug, Serialize)]
pub struct EntryJson {
    /// `4@1`, `0x100000004`, `6@2.4`.
    pub label: String,
    /// Index, zxid counter or slot.
    pub index: u64,
    /// Known committed by this node.
    pub committed: bool,
}

/// One armed timer.
#[derive(Clone, Debug, Serialize)]
pub struct TimerJson {
    /// The protocol's name for it.
    pub name: String,
    /// Time left when the snapshot was taken.
    pub remaining_ms: f64,
    /// How long it was armed for.
    pub total_ms: f64,
}

/// The colour class of a role.
pub fn kind_of(role: Role) -> &'static str {
    match role {
        Role::Leader | Role::Leading => "leader",
        Role::Candidate | Role::Looking => "candidate",
        Role::Follower | Role::Following => "follower",
        Role::Observing => "observer",
    }
}

/// A running node's fields from its status, log and vote.
pub fn node_json(
    id: NodeId,
    status: &Status,
    log: &[LogEntry],
    log_len: usize,
    vote: Option<String>,
    v: &Vocabulary,
) -> NodeJson {
    NodeJson {
        id,
        up: true,
        role: status.role.to_string(),
        kind: kind_of(status.role),
        term: (v.show_term)(status.term),
        leader: status.leader,
        vote,
        commit: status.commit_index,
        last_index: status.last_index,
        log: log
            .iter()
            .map(|e| EntryJson {
                label: (v.show_entries)(e.index, e.index, e.generation),
                index: e.index,
                committed: e.committed,
            })
            .collect(),
        log_len,
        ..NodeJson::default()
    }
}

/// A node that is down.
pub fn down_json(id: NodeId) -> NodeJson {
    NodeJson {
        id,
        kind: "down",
        ..NodeJson::default()
    }
}

/// The newest `n` entries of `log`.
pub fn tail(log: &[LogEntry], n: usize) -> &[LogEntry] {
    &log[log.len().saturating_sub(n)..]
}
