//! Raft with log compaction (§7) under random faults: the safety checks of
//! `raft_sim.rs` (election safety, state machine safety, log matching, leader
//! completeness, and the clients' history checked for linearizability) still hold
//! when every node snapshots every few entries, drops its log prefix, restarts from
//! its snapshot files, and catches lagging followers up with InstallSnapshot.
//! The same for ZAB, whose servers snapshot every few delivered transactions, drop the
//! history prefix their snapshots cover, restart from their newest snapshot, and bring
//! learners below a leader's compaction point up with SNAP from the leader's image, in
//! chunks small enough that every image takes several.
//! `CWB_SEEDS=1000 cargo nextest run -p sim --test snapshot_sim` runs a longer sweep.

use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::Timing;
use sim::chaos::{self, ChaosConfig, Stage};
use sim::invariants::{
    locked_out_by_a_newer_accepted_epoch, log_matching, zab_local_order,
    zxids_name_one_transaction, RaftLeaderCompleteness, ZabPrimaryIntegrity,
};
use sim::Simulation;
use std::cell::Cell;
use std::rc::Rc;

#[test]
fn raft_with_snapshots_is_safe_under_random_faults() {
    let n = chaos::seeds(150);
    let cfg = ChaosConfig {
        timing: Timing {
            // Small, so that every seed compacts many times and followers that were
            // down or cut off fall behind the leader's log start.
            snapshot_every: 8,
            ..Timing::default()
        },
        ..ChaosConfig::default()
    };
    // The last snapshot counts of each seed's run, and the deepest compaction seen.
    let counts: Rc<Cell<(u64, u64)>> = Rc::default();
    let total: Rc<Cell<(u64, u64)>> = Rc::default();
    let deepest: Rc<Cell<u64>> = Rc::default();
    let report = chaos::sweep::<Raft, _>(
        &cfg,
        n,
        || {
            // A new seed: add the previous one's counts.
            let (t, i) = counts.replace((0, 0));
            let (tt, ti) = total.get();
            total.set((tt + t, ti + i));
            let mut completeness = RaftLeaderCompleteness::default();
            let (counts, deepest) = (counts.clone(), deepest.clone());
            move |sim: &Simulation<Raft>, step| {
                completeness.check(sim)?;
                if step % 50 == 0 {
                    log_matching(sim)?;
                    for id in sim.running() {
                        if let Some(node) = sim.node(id) {
                            deepest.set(deepest.get().max(node.log().start()));
                        }
                    }
                }
                counts.set(sim.snapshots());
                Ok(())
            }
        },
        |_, _| false,
    );
    let (t, i) = counts.get();
    let (taken, installed) = (total.get().0 + t, total.get().1 + i);
    eprintln!(
        "{n} seeds with a snapshot every 8 entries: {taken} snapshots taken, {installed} installed from a leader, logs compacted up to index {} at most; {}",
        deepest.get(),
        report.clients_line()
    );
    assert!(
        taken >= n,
        "every seed must snapshot: {taken} over {n} seeds"
    );
    assert!(
        installed > 0 || n < 20,
        "no follower fell behind a leader's log start over {n} seeds"
    );
    assert!(deepest.get() > 8, "logs were compacted");
    assert_eq!(
        report.undecided, 0,
        "histories the checker could not decide"
    );
    assert!(report.operations >= n * 100, "{}", report.operations);
}

#[test]
fn zab_with_snapshots_is_safe_under_random_faults() {
    let n = chaos::seeds(150);
    let cfg = ChaosConfig {
        timing: Timing {
            snapshot_every: 8,
            // The simulator's images are a few hundred bytes: several chunks each.
            snapshot_chunk_bytes: 64,
            ..Timing::default()
        },
        ..ChaosConfig::default()
    };
    // The last snapshot counts of each seed's run, and the deepest compaction seen.
    let counts: Rc<Cell<(u64, u64)>> = Rc::default();
    let total: Rc<Cell<(u64, u64)>> = Rc::default();
    let deepest: Rc<Cell<u64>> = Rc::default();
    let report = chaos::sweep::<Zab, _>(
        &cfg,
        n,
        || {
            let (t, i) = counts.replace((0, 0));
            let (tt, ti) = total.get();
            total.set((tt + t, ti + i));
            let mut seen = ZabPrimaryIntegrity::default();
            let (counts, deepest) = (counts.clone(), deepest.clone());
            move |sim: &Simulation<Zab>, step| {
                seen.check(sim)?;
                if step % 50 == 0 {
                    zab_local_order(sim)?;
                    zxids_name_one_transaction(sim)?;
                    for id in sim.running() {
                        if let Some(node) = sim.node(id) {
                            deepest.set(deepest.get().max(node.history().base as u64));
                        }
                    }
                }
                counts.set(sim.snapshots());
                Ok(())
            }
        },
        |sim, failure| {
            failure.stage == Stage::Convergence && locked_out_by_a_newer_accepted_epoch(sim)
        },
    );
    let (t, i) = counts.get();
    let (taken, installed) = (total.get().0 + t, total.get().1 + i);
    eprintln!(
        "{n} ZAB seeds with a snapshot every 8 transactions: {taken} snapshots taken, {installed} installed from a leader's SNAP, histories compacted up to index {} at most; {}",
        deepest.get(),
        report.clients_line()
    );
    assert!(
        taken >= n,
        "every seed must snapshot: {taken} over {n} seeds"
    );
    assert!(
        installed > 0 || n < 20,
        "no learner fell below a leader's compaction point over {n} seeds"
    );
    assert!(deepest.get() > 8, "histories were compacted");
    assert!(
        report.tolerated.len() as u64 * 1000 <= n.max(1000),
        "servers locked out in too many seeds: {:?}",
        report.tolerated
    );
    assert_eq!(
        report.undecided, 0,
        "histories the checker could not decide"
    );
    assert!(report.operations >= n * 100, "{}", report.operations);
}
