//! The safety properties the sweeps check, one file each, named after the property and
//! citing where each paper states it:
//!
//! | file | property | Raft | ZAB | Paxos |
//! |---|---|---|---|---|
//! | `election_safety` | at most one leader per term / epoch / ballot | §5.2, Figure 3 "Election Safety" | one established leader per epoch (Zab §3) | one leader per ballot |
//! | `state_machine_safety` | no two nodes apply different commands at one index; a committed entry never changes, across crashes | Figure 3 "State Machine Safety" | "integrity" and "total order" (Zab §3.1) | a single value chosen per slot, as learned |
//! | `log_matching` | logs that agree on an entry's term agree on everything before it | §5.3, Figure 3 "Log Matching" | | |
//! | `leader_completeness` | a new leader holds every committed entry | §5.4, Figure 3 "Leader Completeness" | "primary integrity" (Zab §3.2) | |
//! | `paxos_one_value` | at most one value chosen per slot and one leadership per era, on any node | | | "Paxos Made Simple" §2.1 |
//! | `zab_primary_order` | every zxid names one transaction everywhere; each server's epochs and log are ordered | | "primary order" (Zab §3.2) | |
//!
//! The first two hold for every protocol and are checked by the simulator itself after
//! every step ([`Checker`]); the others read a protocol's own state and are checked by
//! the sweeps through a per-step hook (`chaos::sweep`).

mod election_safety;
mod leader_completeness;
mod log_matching;
mod paxos_one_value;
mod state_machine_safety;
mod zab_lockout;
mod zab_primary_order;

pub use election_safety::ElectionSafety;
pub use leader_completeness::{RaftLeaderCompleteness, ZabPrimaryIntegrity};
pub use log_matching::log_matching;
pub use paxos_one_value::PaxosOneValue;
pub use state_machine_safety::StateMachineSafety;
pub use zab_lockout::locked_out_by_a_newer_accepted_epoch;
pub use zab_primary_order::{zab_local_order, zxids_name_one_transaction};

use protocols::{Event, NodeId, RequestId, Time};
use std::collections::BTreeMap;
use std::fmt;

/// A safety violation, with the virtual time it was detected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// When.
    pub at: Time,
    /// What went wrong, in words.
    pub what: String,
}

impl Violation {
    /// A violation detected at `at`.
    pub fn new(at: Time, what: String) -> Violation {
        Violation { at, what }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.at, self.what)
    }
}

impl std::error::Error for Violation {}

/// The properties every protocol must keep, checked by the simulator after every step.
#[derive(Debug, Default)]
pub struct Checker {
    elections: ElectionSafety,
    applies: StateMachineSafety,
}

impl Checker {
    /// Leaders seen, per term.
    pub fn leaders(&self) -> &BTreeMap<u64, NodeId> {
        self.elections.leaders()
    }

    /// The committed sequence as first applied.
    pub fn committed(&self) -> &[Option<RequestId>] {
        self.applies.committed()
    }

    /// A node's event.
    pub fn on_event(&mut self, at: Time, node: NodeId, event: &Event) -> Result<(), Violation> {
        self.elections.on_event(at, node, event)
    }

    /// A node applied `req` at `index`.
    pub fn on_apply(
        &mut self,
        at: Time,
        node: NodeId,
        index: u64,
        req: Option<RequestId>,
    ) -> Result<(), Violation> {
        self.applies.on_apply(at, node, index, req)
    }
}
