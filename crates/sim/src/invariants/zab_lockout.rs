//! A liveness limit of ZAB that ZooKeeper shares, told apart from a failure: the
//! chaos sweeps tolerate a seed that ends with servers locked out this way.

use crate::Simulation;
use protocols::zab::{ServerState, Zab};

/// Whether every server that did not converge is locked out by ZAB's epoch rule: it
/// accepted a NEWEPOCH that never became established (a prospective leader that did
/// not win a quorum of ACKEPOCHs), and the established leader's epoch is lower. It may
/// not follow an older epoch than it accepted (ZooKeeper's learner refuses with "Leaders
/// epoch, e is less than accepted epoch, e'"), and the leader keeps its quorum, so it
/// waits until that leader loses its quorum. A liveness limit ZooKeeper shares, not a
/// safety violation: every step of the run was checked before it.
pub fn locked_out_by_a_newer_accepted_epoch(sim: &Simulation<Zab>) -> bool {
    let committed = sim.checker().committed().len();
    let leader_epoch = sim
        .running()
        .into_iter()
        .filter_map(|id| sim.node(id))
        .find(|n| n.server_state() == ServerState::Leading)
        .map(|n| n.history().current_epoch);
    let Some(leader_epoch) = leader_epoch else {
        return false;
    };
    let lagging: Vec<&Zab> = sim
        .running()
        .into_iter()
        .filter(|&id| sim.applied(id).len() != committed)
        .filter_map(|id| sim.node(id))
        .collect();
    // Such a server cycles LOOKING -> FOLLOWING -> refused -> LOOKING; its accepted
    // epoch is what keeps it out, whichever state the run ended in.
    !lagging.is_empty()
        && lagging
            .iter()
            .all(|n| n.history().accepted_epoch > leader_epoch)
}
