//! The wire vocabulary: every message Paxos nodes exchange, and the values they carry.
//!
//! Phase names follow Lamport, "Paxos Made Simple" (2001) §2.2 (Prepare/Promise are
//! phase 1a/1b, Accept/Accepted are phase 2a/2b) and §3 (one Prepare covers every
//! instance from the first one the proposer does not know chosen). Two kinds of
//! instances share these messages: *leadership eras* (the election, a Basic-Paxos
//! instance per era whose value is "node X leads from ballot b") and *log slots*
//! (Multi-Paxos commands). `Nack` is the "reject" optimisation of §2.3 that tells a
//! proposer which higher ballot pre-empted it; `Heartbeat`, `CatchUp` and `Chosen` are
//! the learner's channel (§2.4: the leader tells learners what was chosen);
//! `SnapshotChunk` and `SnapshotPull` carry a snapshot to a learner that lacks slots
//! the others compacted (`snapshot.rs`);
//! `HeartbeatReply` lets a leader check it still has a quorum (CheckQuorum, as Raft
//! thesis §9.6 has it; see `multi.rs`).

use super::ballot::Ballot;
use crate::quorum::Membership;
use crate::types::{Command, NodeId};
use serde::{Deserialize, Serialize};

/// The value of one log slot: a client command, or `None` for the no-op a new leader
/// writes into a gap it finds on takeover (Paxos Made Simple §3).
pub type SlotValue = Option<Command>;

/// The value of a leadership era: "node `leader` leads from ballot `ballot`".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leadership {
    /// The node that leads the era.
    pub leader: NodeId,
    /// The ballot whose Phase 1 that node won; it runs every slot's Phase 2 with it.
    pub ballot: Ballot,
}

/// `node 2 leads from 2.2`.
impl std::fmt::Display for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {} leads from {}", self.leader, self.ballot)
    }
}

/// One leadership proposal an acceptor has accepted, reported in a Promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedEra {
    /// The leadership instance.
    pub era: u64,
    /// The ballot at which it was accepted.
    pub ballot: Ballot,
    /// What was accepted.
    pub value: Leadership,
}

/// One slot proposal an acceptor has accepted, reported in a Promise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedSlot {
    /// The log position (1-based).
    pub slot: u64,
    /// The ballot at which it was accepted.
    pub ballot: Ballot,
    /// What was accepted.
    pub value: SlotValue,
}

/// Every message a Paxos node sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PaxosMessage {
    /// Phase 1a: "promise me `ballot`, and tell me what you accepted in every era from
    /// `era_from` and every slot from `slot_from`".
    Prepare {
        /// The proposer's new ballot.
        ballot: Ballot,
        /// First leadership era the proposer does not know chosen.
        era_from: u64,
        /// First log slot the proposer does not know chosen.
        slot_from: u64,
    },
    /// Phase 1b: the acceptor promised `ballot` and reports what it knows.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// The latest era this node knows chosen, if at or after `era_from`.
        chosen_era: Option<(u64, Leadership)>,
        /// Leadership proposals accepted in eras after the known chosen one.
        eras: Vec<AcceptedEra>,
        /// Slots from `slot_from` this node knows chosen (a fact: no need to re-propose).
        chosen: Vec<(u64, SlotValue)>,
        /// Slot proposals accepted from `slot_from` that are not known chosen.
        accepted: Vec<AcceptedSlot>,
    },
    /// Phase 2a: "accept these values at `ballot`". Carries at most one leadership
    /// proposal and a batch of slot proposals, plus the sender's commit point so that
    /// followers learn chosen slots without waiting for a heartbeat.
    Accept {
        /// The proposer's ballot.
        ballot: Ballot,
        /// A leadership proposal: (era, value).
        era: Option<(u64, Leadership)>,
        /// Slot proposals (slot, value), several per message when batching.
        slots: Vec<(u64, SlotValue)>,
        /// Every slot up to here is chosen (0: none known).
        commit: u64,
    },
    /// Phase 2b: the acceptor accepted these proposals at `ballot`.
    Accepted {
        /// The ballot accepted.
        ballot: Ballot,
        /// The era accepted, if the Accept carried one.
        era: Option<u64>,
        /// The slots accepted.
        slots: Vec<u64>,
    },
    /// A Prepare, Accept or Heartbeat at `ballot` was refused: `higher` pre-empts it.
    Nack {
        /// The refused ballot.
        ballot: Ballot,
        /// The ballot the refusing node has promised (or knows a leader holds).
        higher: Ballot,
    },
    /// The leader of `era` (from `ballot`) is alive; every slot up to `commit` is chosen.
    Heartbeat {
        /// The leader's ballot.
        ballot: Ballot,
        /// The era it leads.
        era: u64,
        /// Its commit point.
        commit: u64,
    },
    /// A follower heard the leader's heartbeat at `ballot` and follows it (sent with
    /// CheckQuorum on: the leader steps down if fewer than a majority answer within
    /// the election timeout min).
    HeartbeatReply {
        /// The heartbeat's ballot.
        ballot: Ballot,
    },
    /// A planned hand-over ([`super::transfer`]): the leader at `ballot`, with every slot
    /// it proposed chosen through `commit`, asks the receiver to take over by running
    /// Phase 1 with a higher ballot once it has learned every slot through `commit`.
    TakeOver {
        /// The leader's ballot.
        ballot: Ballot,
        /// The leader's commit point: every slot up to here is chosen.
        commit: u64,
    },
    /// Lease reads ([`super::lease`]): the leader at `ballot` asks its followers to
    /// grant (renew) its lease; `round` numbers the request.
    LeaseProbe {
        /// The leader's ballot.
        ballot: Ballot,
        /// The round ([`crate::read::ReadRounds`]).
        round: u64,
    },
    /// A follower grants the lease of the leader at `ballot` for `round`.
    LeaseProbeAck {
        /// The leader's ballot.
        ballot: Ballot,
        /// The round acknowledged.
        round: u64,
    },
    /// A learner asks the leader for chosen values from slot `from` on.
    CatchUp {
        /// First slot the learner lacks.
        from: u64,
    },
    /// Chosen values of consecutive slots starting at `from` (the learner channel).
    Chosen {
        /// The sender's commit point.
        commit: u64,
        /// Slot of `values[0]`.
        from: u64,
        /// Chosen values of slots `from..from + values.len()`.
        values: Vec<SlotValue>,
    },
    /// One piece of the sender's snapshot through slot `index`, for a learner that
    /// lacks slots the sender has compacted ([`super::snapshot`]; Raft's Figure 13
    /// chunks): the image's bytes `offset..offset + data.len()`, `done` on the last. An
    /// empty piece at offset 0 offers the snapshot; the learner pulls the rest.
    SnapshotChunk {
        /// The snapshot's last slot.
        index: u64,
        /// The snapshot's `term` ([`crate::Snapshot::term`]).
        term: u64,
        /// Where `data` starts in the image.
        offset: u64,
        /// The image's bytes from `offset`.
        data: bytes::Bytes,
        /// This piece ends the image.
        done: bool,
    },
    /// A learner receiving the snapshot through `index` asks for its bytes from
    /// `offset` on.
    SnapshotPull {
        /// The snapshot's last slot.
        index: u64,
        /// The first byte the learner lacks.
        offset: u64,
    },
}

/// Whether an era number can come from an honest node: no era can follow `u64::MAX`,
/// so no proposer ever claims it (one that did would end leadership for good).
pub fn is_valid_era(era: u64) -> bool {
    era < u64::MAX
}

impl Leadership {
    /// Whether a voter of `membership` could have proposed this value: only voters
    /// campaign, each with ballots of its own ("node X leads from X's ballot b"), and
    /// `b` is valid ([`Ballot::is_valid`]).
    pub fn is_valid(&self, membership: &Membership) -> bool {
        self.ballot.is_valid()
            && self.ballot.node == self.leader
            && membership.is_voter(self.leader)
    }
}

impl PaxosMessage {
    /// Whether every ballot, era and leadership value the message carries could come
    /// from an honest node of `membership` ([`Ballot::is_valid`], [`is_valid_era`],
    /// [`Leadership::is_valid`]). A node refuses any other message as if it were lost,
    /// which is always safe in Paxos (Paxos Made Simple §2.1: messages "can be lost"):
    /// adopting such a number would leave it unable ever to number a higher one, and
    /// such a leadership value could be chosen (a candidate must re-propose what it
    /// finds) and then reported as a term that does not encode its ballot.
    pub fn is_valid(&self, membership: &Membership) -> bool {
        let era = |(era, v): &(u64, Leadership)| is_valid_era(*era) && v.is_valid(membership);
        match self {
            PaxosMessage::Prepare { ballot, .. } => ballot.is_valid(),
            PaxosMessage::Promise {
                ballot,
                chosen_era,
                eras,
                accepted,
                ..
            } => {
                ballot.is_valid()
                    && chosen_era.iter().all(era)
                    && eras
                        .iter()
                        .all(|a| a.ballot.is_valid() && era(&(a.era, a.value)))
                    && accepted.iter().all(|a| a.ballot.is_valid())
            }
            PaxosMessage::Accept { ballot, era: e, .. } => ballot.is_valid() && e.iter().all(era),
            PaxosMessage::Accepted { ballot, era, .. } => {
                ballot.is_valid() && era.is_none_or(is_valid_era)
            }
            PaxosMessage::Nack { ballot, higher } => ballot.is_valid() && higher.is_valid(),
            PaxosMessage::Heartbeat { ballot, era, .. } => ballot.is_valid() && is_valid_era(*era),
            PaxosMessage::HeartbeatReply { ballot }
            | PaxosMessage::TakeOver { ballot, .. }
            | PaxosMessage::LeaseProbe { ballot, .. }
            | PaxosMessage::LeaseProbeAck { ballot, .. } => ballot.is_valid(),
            PaxosMessage::CatchUp { .. }
            | PaxosMessage::Chosen { .. }
            | PaxosMessage::SnapshotChunk { .. }
            | PaxosMessage::SnapshotPull { .. } => true,
        }
    }

    /// The message type's name, for per-type counters and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            PaxosMessage::Prepare { .. } => "Prepare",
            PaxosMessage::Promise { .. } => "Promise",
            PaxosMessage::Accept { .. } => "Accept",
            PaxosMessage::Accepted { .. } => "Accepted",
            PaxosMessage::Nack { .. } => "Nack",
            PaxosMessage::Heartbeat { .. } => "Heartbeat",
            PaxosMessage::HeartbeatReply { .. } => "HeartbeatReply",
            PaxosMessage::TakeOver { .. } => "TakeOver",
            PaxosMessage::LeaseProbe { .. } => "LeaseProbe",
            PaxosMessage::LeaseProbeAck { .. } => "LeaseProbeAck",
            PaxosMessage::CatchUp { .. } => "CatchUp",
            PaxosMessage::Chosen { .. } => "Chosen",
            PaxosMessage::SnapshotChunk { .. } => "SnapshotChunk",
            PaxosMessage::SnapshotPull { .. } => "SnapshotPull",
        }
    }
}

/// The timers a Paxos node arms; one deadline per name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PaxosTimer {
    /// Follower: no heartbeat from a leader for a random timeout in
    /// `election_timeout_min..=max` starts an election. Candidate: the ballot took too
    /// long; retry with a higher one.
    LeaderTimeout,
    /// After a pre-empted ballot (a duel), wait a random time in
    /// `election_timeout_min..=max` before trying again.
    Backoff,
    /// Leader: send a heartbeat every `timing.heartbeat`.
    Heartbeat,
    /// Candidate and leader: re-send Prepares and Accepts that got no answer, every
    /// `timing.heartbeat`.
    Retransmit,
}
