//! Read paths: how a read-only client command is served, selected per run
//! ([`crate::Timing::reads`]).
//!
//! A read changes nothing, so it need not be replicated; what it needs is a moment,
//! between its invocation and its answer, at which the serving node's state machine held
//! every write that completed before the read began. The paths differ in how they find
//! that moment and what it costs:
//!
//! | path | how | linearizable | cost |
//! |---|---|---|---|
//! | [`ReadPath::Log`] | the read is a log entry like a write | yes | a write's: a quorum round trip and an fsync |
//! | [`ReadPath::Index`] | Raft thesis §6.4 ReadIndex: the leader notes its commit index, confirms it still leads with a round of [`ReadRounds`] to a majority, and answers once it has applied that index | yes | a quorum round trip, no disk |
//! | [`ReadPath::Lease`] | Raft thesis §6.4.1 / Paxos leader leases: while a majority acknowledged a round sent less than [`lease_span`] ago, no other leader can exist; the leader answers from its applied state at once | yes, under the clock-drift bound [`LEASE_DRIFT_PERCENT`] | none while the lease holds |
//! | [`ReadPath::Local`] | ZooKeeper's local read: whichever node the client reaches answers from its own state | no: sequentially consistent per client session only | none |
//! | [`ReadPath::Sync`] | ZooKeeper's `sync` then read: the node asks its leader for everything the leader proposed so far and answers once it has applied it | yes while the leader it asks still leads (ZooKeeper's own caveat: the leader does not confirm it) | a round trip to the leader |
//!
//! A host sends a read as [`crate::Input::Read`] when the path is not [`ReadPath::Log`];
//! the protocol answers it with [`crate::Effect::ServeRead`] once its applied state may
//! serve it (the host reads its state machine then), or refuses it with
//! [`crate::Effect::Reject`].

use crate::kind::ProtocolKind;
use crate::quorum::Membership;
use crate::types::{NodeId, RequestId, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// How reads are served (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ReadPath {
    /// Through the log, like a write (every protocol; the default).
    #[default]
    Log,
    /// Raft's ReadIndex (thesis §6.4).
    Index,
    /// A leader lease (Raft thesis §6.4.1; Paxos leader leases).
    Lease,
    /// ZooKeeper's local reads: not linearizable.
    Local,
    /// ZooKeeper's `sync` then a local read.
    Sync,
}

/// Every read path, in the order tables list them.
pub const READ_PATHS: [ReadPath; 5] = [
    ReadPath::Log,
    ReadPath::Index,
    ReadPath::Lease,
    ReadPath::Local,
    ReadPath::Sync,
];

impl ReadPath {
    /// The name used on the command line, in configs and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadPath::Log => "log",
            ReadPath::Index => "index",
            ReadPath::Lease => "lease",
            ReadPath::Local => "local",
            ReadPath::Sync => "sync",
        }
    }

    /// Whether every history of reads served this way is linearizable by design
    /// (local reads are only sequentially consistent).
    pub fn linearizable(self) -> bool {
        !matches!(self, ReadPath::Local)
    }

    /// Whether `protocol` implements this path: every protocol reads through the log
    /// and locally; Raft has ReadIndex and leases; ZAB has `sync`; Paxos has leases.
    pub fn supported_by(self, protocol: ProtocolKind) -> bool {
        match self {
            ReadPath::Log | ReadPath::Local => true,
            ReadPath::Index => protocol == ProtocolKind::Raft,
            ReadPath::Lease => matches!(protocol, ProtocolKind::Raft | ProtocolKind::Paxos),
            ReadPath::Sync => protocol == ProtocolKind::Zab,
        }
    }

    /// Whether a follower answers reads on this path itself (ZooKeeper's local reads
    /// and `sync`), so that clients may read at any node; on the others only the
    /// leader answers them.
    pub fn served_by_followers(self) -> bool {
        matches!(self, ReadPath::Local | ReadPath::Sync)
    }

    /// The paths `protocol` implements.
    pub fn for_protocol(protocol: ProtocolKind) -> Vec<ReadPath> {
        READ_PATHS
            .into_iter()
            .filter(|p| p.supported_by(protocol))
            .collect()
    }
}

impl fmt::Display for ReadPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ReadPath {
    type Err = String;

    fn from_str(s: &str) -> Result<ReadPath, String> {
        READ_PATHS
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown read path {s:?} (log, index, lease, local, sync)"))
    }
}

/// The clock-drift bound every lease assumes: over one election timeout, no node's
/// clock runs more than this many percent faster or slower than another's. A leader's
/// lease therefore ends [`lease_span`] = `election_timeout_min × (100 −
/// LEASE_DRIFT_PERCENT) / 100` after it *sent* the round a majority acknowledged
/// (thesis §6.4.1: "start + election timeout / clock drift bound"): a follower that
/// acknowledged it received it later than it was sent, and neither votes for another
/// candidate nor campaigns itself until `election_timeout_min` has passed on its own
/// clock. Quartz-driven server clocks drift by parts per million; 10% leaves room for
/// a paused process as well. A machine whose clocks can jump must not use leases.
pub const LEASE_DRIFT_PERCENT: u32 = 10;

/// How long a lease lasts after the round that earned it was sent (see
/// [`LEASE_DRIFT_PERCENT`]).
pub fn lease_span(election_timeout_min: Duration) -> Duration {
    election_timeout_min * (100 - LEASE_DRIFT_PERCENT) / 100
}

/// A leader's rounds of leadership confirmation (ReadIndex's "round of heartbeats",
/// the lease's renewals): each round is a numbered probe to every voter; a round is
/// confirmed once a majority (the leader included) acknowledged it in the leader's
/// term. Rounds belong to one term: a leader starts afresh ([`ReadRounds::default`])
/// whenever it takes a new term.
#[derive(Clone, Debug, Default)]
pub struct ReadRounds {
    /// The number of the last round started (rounds count from 1).
    started: u64,
    /// When each unconfirmed round was sent, and who acknowledged it.
    open: BTreeMap<u64, (Time, Vec<NodeId>)>,
    /// The highest confirmed round, and when it was sent.
    confirmed: Option<(u64, Time)>,
}

impl ReadRounds {
    /// Starts a round at `now`; returns its number, to put in the probes. A single
    /// voter confirms it at once.
    pub fn start(&mut self, now: Time, me: NodeId, membership: &Membership) -> u64 {
        self.started += 1;
        let round = self.started;
        self.open.insert(round, (now, Vec::new()));
        self.ack(me, round, membership);
        round
    }

    /// The number the next round will have: a read that arrives now needs it confirmed.
    pub fn next(&self) -> u64 {
        self.started + 1
    }

    /// Whether a round was started and not yet confirmed at or after `round`.
    pub fn pending_from(&self, round: u64) -> bool {
        self.started >= round
    }

    /// `from` acknowledged `round`; returns whether that confirmed a new round.
    /// Confirming a round confirms every earlier one.
    pub fn ack(&mut self, from: NodeId, round: u64, membership: &Membership) -> bool {
        let Some((sent, acks)) = self.open.get_mut(&round) else {
            return false;
        };
        if !membership.is_voter(from) || acks.contains(&from) {
            return false;
        }
        acks.push(from);
        if !membership.is_quorum(acks.iter()) {
            return false;
        }
        let sent = *sent;
        self.confirmed = Some((round, sent));
        // Rounds up to this one need no more acknowledgements.
        self.open = self.open.split_off(&(round + 1));
        true
    }

    /// The highest confirmed round (0 if none).
    pub fn confirmed(&self) -> u64 {
        self.confirmed.map_or(0, |(r, _)| r)
    }

    /// Whether the lease earned by the latest confirmed round still holds at `now`.
    pub fn lease_holds(&self, now: Time, election_timeout_min: Duration) -> bool {
        self.confirmed
            .is_some_and(|(_, sent)| now < sent.plus(lease_span(election_timeout_min)))
    }
}

/// A read waiting to be served: which request, the round that must be confirmed
/// first (0: none) and the index the state machine must have applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRead {
    /// The client request.
    pub id: RequestId,
    /// The confirmation round it waits for (0: none).
    pub round: u64,
    /// The index the state machine must have applied.
    pub index: u64,
}

/// Reads waiting, in arrival order.
#[derive(Clone, Debug, Default)]
pub struct PendingReads {
    reads: Vec<PendingRead>,
}

impl PendingReads {
    /// Queues a read.
    pub fn push(&mut self, read: PendingRead) {
        self.reads.push(read);
    }

    /// Whether no read waits.
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }

    /// The highest round some waiting read needs (0: none).
    pub fn round_needed(&self) -> u64 {
        self.reads.iter().map(|r| r.round).max().unwrap_or(0)
    }

    /// Takes the reads whose round is confirmed (`confirmed` or lower) and whose index
    /// is applied (`applied` or lower), in arrival order.
    pub fn take_ready(&mut self, confirmed: u64, applied: u64) -> Vec<RequestId> {
        let mut ready = Vec::new();
        self.reads.retain(|r| {
            let go = r.round <= confirmed && r.index <= applied;
            if go {
                ready.push(r.id);
            }
            !go
        });
        ready
    }

    /// Takes every waiting read (leadership lost: they are refused).
    pub fn take_all(&mut self) -> Vec<RequestId> {
        self.reads.drain(..).map(|r| r.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_is_confirmed_by_a_majority_including_the_leader() {
        let m = Membership::voters([1, 2, 3, 4, 5]);
        let mut rounds = ReadRounds::default();
        assert_eq!(rounds.next(), 1);
        let r = rounds.start(Time(10), 1, &m);
        assert_eq!(r, 1);
        assert!(!rounds.ack(2, r, &m));
        assert!(!rounds.ack(2, r, &m), "a repeated ack counts once");
        assert!(rounds.ack(3, r, &m));
        assert_eq!(rounds.confirmed(), 1);
        assert!(!rounds.ack(4, r, &m), "already confirmed");
        // The lease runs from the send time, shortened by the drift bound.
        let min = Duration::from_millis(150);
        assert!(rounds.lease_holds(Time(10).plus(Duration::from_millis(134)), min));
        assert!(!rounds.lease_holds(Time(10).plus(Duration::from_millis(135)), min));
    }

    #[test]
    fn a_single_voter_confirms_its_own_rounds() {
        let m = Membership::voters([1]);
        let mut rounds = ReadRounds::default();
        let r = rounds.start(Time::ZERO, 1, &m);
        assert_eq!(rounds.confirmed(), r);
    }

    #[test]
    fn reads_wait_for_their_round_and_their_index() {
        let mut reads = PendingReads::default();
        let id = |seq| RequestId { origin: 1, seq };
        reads.push(PendingRead {
            id: id(1),
            round: 2,
            index: 5,
        });
        reads.push(PendingRead {
            id: id(2),
            round: 0,
            index: 7,
        });
        assert_eq!(reads.round_needed(), 2);
        assert_eq!(reads.take_ready(1, 9), [id(2)]);
        assert_eq!(reads.take_ready(2, 4), []);
        assert_eq!(reads.take_ready(2, 5), [id(1)]);
        assert!(reads.is_empty());
    }

    #[test]
    fn paths_per_protocol_and_names_round_trip() {
        assert_eq!(
            ReadPath::for_protocol(ProtocolKind::Raft),
            [
                ReadPath::Log,
                ReadPath::Index,
                ReadPath::Lease,
                ReadPath::Local
            ]
        );
        assert_eq!(
            ReadPath::for_protocol(ProtocolKind::Zab),
            [ReadPath::Log, ReadPath::Local, ReadPath::Sync]
        );
        assert_eq!(
            ReadPath::for_protocol(ProtocolKind::Paxos),
            [ReadPath::Log, ReadPath::Lease, ReadPath::Local]
        );
        for p in READ_PATHS {
            assert_eq!(p.as_str().parse::<ReadPath>(), Ok(p));
        }
        assert!(!ReadPath::Local.linearizable());
    }
}
