//! Known-buggy variants of the protocols, for teaching: each breaks one rule of its
//! paper, and the simulator's checkers catch it.
//!
//! A bug is compiled in but off: a node runs it only after
//! [`Protocol::inject_bug`](crate::Protocol::inject_bug), which only the simulator calls
//! (`sim::Simulation::set_bug`, applied to every node at each (re)start; `cwb sim --bug
//! NAME`). `cwb node`, `cwb cluster` and `cwb bench` have no way to set one. In the
//! protocol code each bug is one small branch, `if self.bug == Some(Bug::X)`, with a
//! comment citing the rule it breaks.
//!
//! | bug | rule broken |
//! |---|---|
//! | [`Bug::RaftNoUpToDateCheck`] | Raft §5.4.1: vote only for a candidate whose log is at least as up to date |
//! | [`Bug::RaftCommitOldTerms`] | Raft §5.4.2 (Figure 8): commit by counting replicas only entries of the current term |
//! | [`Bug::RaftCountOwnCopyEarly`] | Raft thesis §10.2.1: a leader counts its own copy only once it is durable |
//! | [`Bug::RaftReadIndexWithoutRound`] | Raft thesis §6.4 step 2: a ReadIndex read waits for a round of heartbeats to a majority (runs with `--reads index`) |
//! | [`Bug::ZabFleIgnoresEpoch`] | ZooKeeper `totalOrderPredicate`: compare votes by epoch first, then zxid, then sid |
//! | [`Bug::ZabAckBeforePersist`] | Zab §IV-C: a follower logs a proposal durably before it ACKs it |
//! | [`Bug::PaxosPromiseNotPersisted`] | Paxos Made Simple §2.3: an acceptor remembers its promise across a restart |
//! | [`Bug::PaxosIgnoreAcceptedInPromises`] | Paxos Made Simple §2.2 (P2c): propose the value of the highest-numbered proposal reported |
//!
//! [`Bug::catalogue`] names, for each, the chaos seed or scenario file that catches it
//! (`cwb sim --bug help` prints it; `crates/sim/tests/bugs.rs` pins it).

use crate::kind::ProtocolKind;
use crate::read::ReadPath;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A known bug that the simulator can switch on in one protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bug {
    /// Raft grants votes (and pre-votes) without the §5.4.1 check that the candidate's
    /// log is at least as up to date as the voter's: a node missing committed entries
    /// can be elected and overwrite them.
    RaftNoUpToDateCheck,
    /// A Raft leader commits an entry of an earlier term once a majority stores it,
    /// without the §5.4.2 rule that only entries of its own term commit by counting:
    /// Figure 8's committed entry that a later leader overwrites.
    RaftCommitOldTerms,
    /// A Raft leader counts its own copy toward the quorum as soon as it appends it,
    /// before its disk reports it durable (thesis §10.2.1): a crash before the sync
    /// loses a "committed" entry.
    RaftCountOwnCopyEarly,
    /// A Raft leader serves a ReadIndex read without the round of heartbeats that
    /// confirms it still leads (thesis §6.4, step 2): a leader cut off from the
    /// majority answers from its stale state while a new leader commits writes.
    RaftReadIndexWithoutRound,
    /// ZAB's FastLeaderElection orders votes by zxid and sid only, ignoring the epoch
    /// (ZooKeeper's `totalOrderPredicate` compares the epoch first). Here it costs
    /// liveness, not safety (a zxid carries the epoch of its transaction): a server of
    /// an older current epoch wins on its sid, Discovery drops the learners whose epoch
    /// is ahead of it, it never gets a quorum of ACKEPOCHs, and the same vote wins again.
    ZabFleIgnoresEpoch,
    /// A ZAB follower sends its ACK before the proposal it acknowledges is durable
    /// (Zab §IV-C: log it, then ACK): a crash loses a proposal counted for a commit.
    ZabAckBeforePersist,
    /// A Paxos acceptor does not persist a promise that accepts nothing (Paxos Made
    /// Simple §2.3: an acceptor must remember it across a restart): after a restart it
    /// accepts a lower ballot it promised to refuse.
    PaxosPromiseNotPersisted,
    /// A Paxos proposer that wins Phase 1 ignores the accepted proposals its promises
    /// report (Paxos Made Simple §2.2, P2c): it proposes itself for the era and a no-op
    /// for every slot not known chosen, overwriting values that may have been chosen.
    PaxosIgnoreAcceptedInPromises,
}

/// How a bug is caught: the chaos seed or the scenario file that fails with it on (and
/// passes with it off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaughtBy {
    /// `cwb sim --protocol P --seed N --bug NAME` (5 voters, the default chaos config).
    Seed(u64),
    /// `cwb sim --scenario FILE --bug NAME`, a path from the workspace root.
    Scenario(&'static str),
}

impl fmt::Display for CaughtBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaughtBy::Seed(n) => write!(f, "seed {n}"),
            CaughtBy::Scenario(path) => f.write_str(path),
        }
    }
}

/// The chaos seed (5 voters, `--reads index --check-quorum off`) on which a deposed Raft leader serves a
/// stale ReadIndex read under [`Bug::RaftReadIndexWithoutRound`].
const READ_INDEX_BUG_SEED: u64 = 0;

/// A name that is no [`Bug`].
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown bug {0:?}: `cwb sim --bug help` lists them")]
pub struct UnknownBug(pub String);

impl Bug {
    /// Every bug, in catalogue order.
    pub const ALL: [Bug; 8] = [
        Bug::RaftNoUpToDateCheck,
        Bug::RaftCommitOldTerms,
        Bug::RaftCountOwnCopyEarly,
        Bug::RaftReadIndexWithoutRound,
        Bug::ZabFleIgnoresEpoch,
        Bug::ZabAckBeforePersist,
        Bug::PaxosPromiseNotPersisted,
        Bug::PaxosIgnoreAcceptedInPromises,
    ];

    /// The command-line name, `<protocol>-<what>`.
    pub fn name(self) -> &'static str {
        match self {
            Bug::RaftNoUpToDateCheck => "raft-no-up-to-date-check",
            Bug::RaftCommitOldTerms => "raft-commit-old-terms",
            Bug::RaftCountOwnCopyEarly => "raft-count-own-copy-early",
            Bug::RaftReadIndexWithoutRound => "raft-read-index-without-round",
            Bug::ZabFleIgnoresEpoch => "zab-fle-ignores-epoch",
            Bug::ZabAckBeforePersist => "zab-ack-before-persist",
            Bug::PaxosPromiseNotPersisted => "paxos-promise-not-persisted",
            Bug::PaxosIgnoreAcceptedInPromises => "paxos-ignore-accepted-in-promises",
        }
    }

    /// The protocol that has it.
    pub fn protocol(self) -> ProtocolKind {
        match self {
            Bug::RaftNoUpToDateCheck
            | Bug::RaftCommitOldTerms
            | Bug::RaftCountOwnCopyEarly
            | Bug::RaftReadIndexWithoutRound => ProtocolKind::Raft,
            Bug::ZabFleIgnoresEpoch | Bug::ZabAckBeforePersist => ProtocolKind::Zab,
            Bug::PaxosPromiseNotPersisted | Bug::PaxosIgnoreAcceptedInPromises => {
                ProtocolKind::Paxos
            }
        }
    }

    /// One line on what the buggy variant does and which rule it breaks.
    pub fn description(self) -> &'static str {
        match self {
            Bug::RaftNoUpToDateCheck => {
                "votes without the log up-to-date check (Raft §5.4.1)"
            }
            Bug::RaftCommitOldTerms => {
                "commits entries of earlier terms by counting replicas (Raft §5.4.2, Figure 8)"
            }
            Bug::RaftCountOwnCopyEarly => {
                "the leader counts its own copy before it is durable (Raft thesis §10.2.1)"
            }
            Bug::RaftReadIndexWithoutRound => {
                "ReadIndex serves without a heartbeat round to a majority (Raft thesis §6.4)"
            }
            Bug::ZabFleIgnoresEpoch => {
                "FastLeaderElection compares votes without the epoch (ZooKeeper totalOrderPredicate)"
            }
            Bug::ZabAckBeforePersist => {
                "a follower ACKs a proposal before it is durable (Zab §IV-C)"
            }
            Bug::PaxosPromiseNotPersisted => {
                "an acceptor does not persist its promise; a restart forgets it (Paxos Made Simple §2.3)"
            }
            Bug::PaxosIgnoreAcceptedInPromises => {
                "the proposer ignores accepted values reported in promises and proposes its own (Paxos Made Simple §2.2)"
            }
        }
    }

    /// The chaos seed or scenario that catches it (see `crates/sim/tests/bugs.rs`).
    pub fn caught_by(self) -> CaughtBy {
        match self {
            Bug::RaftNoUpToDateCheck => CaughtBy::Seed(3),
            Bug::RaftCommitOldTerms => CaughtBy::Scenario("scenarios/raft-figure-8-commit.toml"),
            Bug::RaftCountOwnCopyEarly => {
                CaughtBy::Scenario("scenarios/raft-undurable-leader-copy.toml")
            }
            Bug::RaftReadIndexWithoutRound => CaughtBy::Seed(READ_INDEX_BUG_SEED),
            Bug::ZabFleIgnoresEpoch => CaughtBy::Seed(81),
            Bug::ZabAckBeforePersist => CaughtBy::Scenario("scenarios/zab-ack-after-log.toml"),
            Bug::PaxosPromiseNotPersisted => {
                CaughtBy::Scenario("scenarios/paxos-promise-kept.toml")
            }
            Bug::PaxosIgnoreAcceptedInPromises => CaughtBy::Seed(0),
        }
    }

    /// The read path the bug needs to show ([`crate::read`]): its chaos seed runs
    /// with it. Every bug but the read bugs shows on the default path, the log.
    pub fn read_path(self) -> ReadPath {
        match self {
            Bug::RaftReadIndexWithoutRound => ReadPath::Index,
            _ => ReadPath::Log,
        }
    }

    /// The settings the bug's chaos seed runs with: its read path, and for the
    /// ReadIndex bug CheckQuorum off, so that a deposed leader keeps its role long
    /// enough for a new leader to commit (with CheckQuorum it steps down within an
    /// election timeout, before its successor can be elected, and the skipped round
    /// is rarely seen).
    pub fn adjust(self, timing: &mut crate::Timing) {
        timing.reads = self.read_path();
        if self == Bug::RaftReadIndexWithoutRound {
            timing.check_quorum = false;
        }
    }

    /// The `cwb sim` command that shows the bug caught.
    pub fn command(self) -> String {
        let reads = match self.read_path() {
            ReadPath::Log => String::new(),
            path => format!(" --reads {path}"),
        };
        let reads = if self == Bug::RaftReadIndexWithoutRound {
            format!("{reads} --check-quorum off")
        } else {
            reads
        };
        match self.caught_by() {
            CaughtBy::Seed(n) => format!(
                "cwb sim --protocol {} --seed {n}{reads} --bug {self} --quiet",
                self.protocol()
            ),
            CaughtBy::Scenario(file) => format!("cwb sim --scenario {file} --bug {self} --quiet"),
        }
    }

    /// `cwb sim --bug help`: one line per bug (name, protocol, what it does, what
    /// catches it).
    pub fn catalogue() -> String {
        let mut text = String::new();
        for bug in Bug::ALL {
            text.push_str(&format!(
                "{:<34} {}; caught by {} (with {}: {})\n",
                bug.name(),
                bug.description(),
                bug.caught_by(),
                bug.protocol(),
                bug.command()
            ));
        }
        text
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = UnknownBug;
    fn from_str(s: &str) -> Result<Bug, UnknownBug> {
        Bug::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownBug(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_start_with_their_protocol() {
        for bug in Bug::ALL {
            assert_eq!(bug.name().parse(), Ok(bug));
            assert!(
                bug.name().starts_with(&format!("{}-", bug.protocol())),
                "{bug}"
            );
        }
        assert!("raft-nothing".parse::<Bug>().is_err());
        assert_eq!(Bug::catalogue().lines().count(), Bug::ALL.len());
    }

    #[test]
    fn each_protocol_takes_its_own_bugs_only() {
        use crate::paxos::Paxos;
        use crate::raft::Raft;
        use crate::zab::Zab;
        use crate::{DetRng, Membership, Protocol, Setup, Timing};
        let setup = || Setup {
            id: 1,
            membership: Membership::voters([1, 2, 3]),
            timing: Timing::default(),
            rng: DetRng::new(1),
            narrate: false,
        };
        for bug in Bug::ALL {
            let mut raft = Raft::recover(setup(), Vec::new()).expect("recovers");
            let mut zab = Zab::recover(setup(), Vec::new()).expect("recovers");
            let mut paxos = Paxos::recover(setup(), Vec::new()).expect("recovers");
            assert_eq!(raft.inject_bug(bug), bug.protocol() == ProtocolKind::Raft);
            assert_eq!(zab.inject_bug(bug), bug.protocol() == ProtocolKind::Zab);
            assert_eq!(paxos.inject_bug(bug), bug.protocol() == ProtocolKind::Paxos);
        }
    }
}
