//! What a protocol asks the harness to do, and what it reports.
//!
//! Effects are returned in order. The one ordering rule the harness must keep:
//! every [`Effect::Persist`] is durable before any [`Effect::Send`], [`Effect::Reject`],
//! [`Effect::Event`] or [`Effect::SignalWhenDurable`] that follows it is carried out
//! (Raft §5, Figure 2: "respond to RPCs only after updating stable storage"; Zab's ACK
//! only after logging; Paxos's promise only after recording it). The harness may group
//! the persists of many inputs behind one fsync (group commit) as long as no dependent
//! effect overtakes them.
//!
//! Two effects are exempt, so that a leader can write its log in parallel with
//! replicating it (Raft thesis §10.2.1; ZooKeeper's leader hands a proposal to its
//! `SyncRequestProcessor` and to its followers at the same time):
//! - [`Effect::SendAhead`] leaves at once. The protocol vouches that the message
//!   promises nothing about this node's not-yet-durable records (a leader's
//!   replication, not a vote or an acknowledgement). It still never overtakes an
//!   earlier held message to the same peer: per-peer order is kept, as TCP keeps it.
//! - [`Effect::Apply`] is carried out at once. A protocol emits it only for entries
//!   committed by *durable* copies on a quorum, so it counts its own copy only once
//!   [`crate::Input::Durable`] says that copy is durable.

use crate::types::{Command, NodeId, RequestId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// One thing a protocol wants done. `M` is the protocol's message type, `R` its
/// durable record type and `T` its timer name.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect<M, R, T> {
    /// Send `msg` to peer `to` (best effort: the network may lose it), once every
    /// record persisted before it is durable.
    Send { to: NodeId, msg: M },
    /// Send `msg` to peer `to` without waiting for the records persisted before it to
    /// become durable (see the module docs): a leader's replication of its log.
    SendAhead { to: NodeId, msg: M },
    /// Once every record persisted before this effect is durable, step the node with
    /// [`crate::Input::Durable`]`(token)`. Tokens a node issues increase; the harness
    /// may report only the latest of several that became durable together.
    SignalWhenDurable(u64),
    /// Append `R` to this node's durable log. Durable before any later `Send`,
    /// `Reject`, `Event` or `SignalWhenDurable` is carried out (see the module docs;
    /// [`protocols::DurabilityGate`](crate::DurabilityGate) enforces it).
    Persist(R),
    /// Fire `timer` after `after`; re-arming an armed timer replaces its deadline.
    SetTimer { timer: T, after: Duration },
    /// Disarm `timer` if armed.
    CancelTimer(T),
    /// `command` is committed at `index`; apply it to the state machine (at once: it is
    /// durable on a quorum, see the module docs). Indexes are
    /// delivered in strictly increasing order without gaps, the same on every node.
    /// `command` is `None` for a protocol's own entries (Raft's no-op, Paxos's gap
    /// filler), which the state machine skips.
    Apply {
        index: u64,
        command: Option<Command>,
    },
    /// The client request `id`, received on this node, cannot be served here.
    Reject { id: RequestId, error: ClientError },
    /// The read `id` ([`crate::Input::Read`]), received on this node, may be answered
    /// now from this node's state machine, as it stands after every `Apply` carried out
    /// so far ([`crate::read`] says why that is fresh enough for each read path). Held
    /// behind earlier persists like a `Reject`.
    ServeRead { id: RequestId },
    /// Something a human or the metrics layer wants to see.
    Event(Event),
    /// Capture the state machine now (it has applied exactly up to `index`), store the
    /// image durably, then step [`crate::Input::SnapshotTaken`] with it
    /// ([`crate::snapshot`]). Carried out at once, like `Apply`, so that no later
    /// `Apply` slips into the image; a host that cannot snapshot (or is still writing
    /// the previous one) may skip it.
    TakeSnapshot {
        /// The last applied index.
        index: u64,
        /// The protocol's generation of the entry at `index`.
        term: u64,
    },
    /// Replace the state machine with `snapshot`'s image (a leader sent it to this
    /// lagging node) and store the image durably before anything else is carried out.
    /// Carried out at once, like `Apply`; later applies continue from its index.
    InstallSnapshot(crate::Snapshot),
    /// Persist these records as the new start of this node's log: together with its
    /// newest snapshots they rebuild everything persisted before them, so once they are
    /// durable the host may delete every record written before them (log compaction,
    /// [`crate::snapshot`]). Ordered and made durable like `Persist`; a host that
    /// deletes nothing and writes them as ordinary records is correct too.
    Rebase(Vec<R>),
}

/// Why a client command was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientError {
    /// This node does not lead; `leader` is its best guess of who does.
    NotLeader { leader: Option<NodeId> },
    /// Leadership was lost before the command could be committed; it may or may not
    /// commit later (the client should retry idempotently).
    LeadershipLost,
    /// The node cannot take more commands right now.
    Overloaded,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NotLeader { leader: Some(l) } => {
                write!(f, "not the leader (try node {l})")
            }
            ClientError::NotLeader { leader: None } => write!(f, "not the leader (leader unknown)"),
            ClientError::LeadershipLost => write!(f, "leadership lost before commit"),
            ClientError::Overloaded => write!(f, "overloaded"),
        }
    }
}

/// The role a node plays, in each protocol's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Raft/Paxos: follows a leader (or waits for one).
    Follower,
    /// Raft: campaigning for votes. Paxos: running Phase 1/2 for leadership.
    Candidate,
    /// Raft/Paxos: the leader.
    Leader,
    /// ZAB: LOOKING, electing.
    Looking,
    /// ZAB: FOLLOWING a leader.
    Following,
    /// ZAB: LEADING.
    Leading,
    /// ZAB: OBSERVING (a non-voting learner).
    Observing,
}

impl Role {
    /// Whether this role is the leader's.
    pub fn is_leader(self) -> bool {
        matches!(self, Role::Leader | Role::Leading)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
            Role::Looking => "LOOKING",
            Role::Following => "FOLLOWING",
            Role::Leading => "LEADING",
            Role::Observing => "OBSERVING",
        };
        f.write_str(s)
    }
}

/// Observable protocol events. The harness timestamps them; elections, failovers and
/// commit latency are measured from these and nothing else.
///
/// `term` is the protocol's leadership generation: Raft's term, ZAB's epoch, and for
/// Paxos the ballot encoded by `Ballot::as_u64` (round in the high bits, node id in the
/// low 16), so that at most one leader per `term` is the safety property for all three.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// This node now plays `role` in `term`. Protocols do not emit it themselves:
    /// [`crate::Protocol::step`] compares [`crate::Protocol::role_term`] before and
    /// after each input (as etcd-io/raft diffs its `SoftState`) and puts this event
    /// first among the effects of a step that changed it. A step that passes through
    /// several roles reports only the one it ends in. [`crate::Input::Start`] always
    /// reports the role a node starts in.
    RoleChanged { role: Role, term: u64 },
    /// This node won the election for `term` (Raft: majority of votes; ZAB: Discovery
    /// done, a quorum acknowledged the new epoch with ACKEPOCH, one exchange after the
    /// FastLeaderElection decision that `RoleChanged { Leading }` marks; Paxos: its
    /// leadership value was chosen). Not yet able to commit.
    LeaderElected { term: u64 },
    /// This node, leader of `term`, can now commit client commands (Raft: its first
    /// entry of the term is committed; ZAB: established after Discovery and
    /// Synchronization; Paxos: Phase 1 won and in-flight slots re-proposed).
    LeaderReady { term: u64 },
    /// The commit index advanced to `index`.
    Committed { index: u64 },
    /// A narrated step for teaching: which rule decided what. Only emitted when the
    /// protocol was built with narration on. The text names no node: a host that
    /// shows it beside other nodes' lines prefixes it with [`narration_line`].
    Narrate(String),
}

/// How a host displays node `id`'s [`Event::Narrate`] `text`: `n{id}: {text}`, the one
/// node prefix every display and transcript uses (protocols never write their own).
///
/// ```
/// assert_eq!(protocols::narration_line(3, "vote for 2 in term 5"), "n3: vote for 2 in term 5");
/// ```
pub fn narration_line(id: NodeId, text: &str) -> String {
    format!("n{id}: {text}")
}
