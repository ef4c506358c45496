//! Multi-Paxos with snapshots and slot truncation (`protocols/src/paxos/snapshot.rs`)
//! in the simulator.
//!
//! - A scripted run: a replica is cut off while the others commit and compact far
//!   past it, then rejoins and catches up through a snapshot pulled in many small
//!   pieces; the simulator's safety checks run after every step, the Paxos
//!   one-value check every few, and the clients' history must be linearizable.
//! - The Paxos chaos sweep with a snapshot every 8 slots: crashes, restarts from the
//!   snapshot files, partitions, loss and duplication, with the same checks.
//!
//! `CWB_SEEDS=1000 cargo nextest run -p sim --test paxos_snapshot_sim` runs a longer
//! sweep.

use bytes::Bytes;
use lincheck::{Limits, Verdict};
use protocols::paxos::Paxos;
use protocols::{Protocol, Timing};
use sim::chaos::{self, ChaosConfig};
use sim::invariants::PaxosOneValue;
use sim::{Action, SimConfig, Simulation};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Bytes per snapshot piece in the scripted run: small, so the image takes many.
const PIECE: usize = 16;

fn linearizable(sim: &Simulation<Paxos>) -> bool {
    let limits = Limits {
        time: None,
        steps: Some(20_000_000),
        shrink_time: Duration::from_secs(2),
    };
    matches!(
        lincheck::check(sim.history(), limits),
        Verdict::Linearizable
    )
}

#[test]
fn a_cut_off_replica_catches_up_through_a_snapshot_in_many_pieces() {
    for seed in 1..=chaos::seeds(4).min(50) {
        let mut config = SimConfig::voters(3, seed);
        config.timing = Timing {
            snapshot_every: 8,
            snapshot_chunk_bytes: PIECE as u64,
            ..Timing::default()
        };
        let mut sim = Simulation::<Paxos>::new(config);
        sim.start_all().expect("starts");
        let leader = sim
            .run_until_ready(Duration::from_secs(5))
            .expect("safe")
            .expect("a leader");
        let lagging = sim
            .ids()
            .into_iter()
            .find(|&id| id != leader)
            .expect("3 nodes");
        sim.act(Action::Isolate(lagging)).expect("isolates");
        // Writes and reads by four clients while it is away: far past two intervals.
        let t0 = sim.now();
        for i in 0..80u64 {
            let at = t0.plus(Duration::from_millis(5 * i));
            let key = Bytes::from(format!("k{}", i % 12));
            let op = if i % 5 == 4 {
                kv::KvOp::Get { key }
            } else {
                kv::KvOp::Put {
                    key,
                    value: Bytes::from(format!("v{i}")),
                }
            };
            let action = Action::Invoke {
                client: (i % 4) as usize,
                node: leader,
                op,
            };
            sim.schedule(at, action);
        }
        let healed = t0.plus(Duration::from_millis(600));
        sim.schedule(healed, Action::Heal);
        let mut one_value = PaxosOneValue::default();
        let mut steps = 0u64;
        let end = healed.plus(Duration::from_secs(3));
        while sim.now() < end && sim.step().expect("safe") {
            steps += 1;
            if steps.is_multiple_of(8) {
                one_value.check(&sim).expect("one value per slot");
            }
        }
        let behind = sim.node(leader).expect("runs").compacted_through();
        assert!(
            behind > 8,
            "seed {seed}: the leader compacted through {behind}"
        );
        let node = sim.node(lagging).expect("runs");
        let image = node.snapshot().expect("installed a snapshot");
        assert!(
            image.data.len() > 3 * PIECE,
            "seed {seed}: an image of {} bytes takes several pieces",
            image.data.len()
        );
        assert!(node.receiving().is_none());
        assert!(sim.snapshots().1 >= 1, "seed {seed}: nothing installed");
        let committed = sim.checker().committed().len();
        assert_eq!(sim.applied(lagging).len(), committed, "seed {seed}");
        assert!(committed >= 60, "seed {seed}: {committed} committed");
        assert!(linearizable(&sim), "seed {seed}: not linearizable");
        assert!(sim.kinds_sent().contains("SnapshotPull"));
        eprintln!(
            "seed {seed}: node {lagging} installed the image through {} ({} bytes, pieces of {PIECE}); {committed} committed, leader compacted through {behind}",
            image.index,
            image.data.len()
        );
    }
}

#[test]
fn paxos_with_snapshots_is_safe_under_random_faults() {
    let n = chaos::seeds(150);
    let cfg = ChaosConfig {
        timing: Timing {
            snapshot_every: 8,
            ..Timing::default()
        },
        ..ChaosConfig::default()
    };
    let counts: Rc<Cell<(u64, u64)>> = Rc::default();
    let total: Rc<Cell<(u64, u64)>> = Rc::default();
    let deepest: Rc<Cell<u64>> = Rc::default();
    let report = chaos::sweep::<Paxos, _>(
        &cfg,
        n,
        || {
            let (t, i) = counts.replace((0, 0));
            let (tt, ti) = total.get();
            total.set((tt + t, ti + i));
            let mut chosen = PaxosOneValue::default();
            let (counts, deepest) = (counts.clone(), deepest.clone());
            move |sim: &Simulation<Paxos>, step| {
                if step.is_multiple_of(16) {
                    chosen.check(sim)?;
                    for id in sim.running() {
                        if let Some(node) = sim.node(id) {
                            deepest.set(deepest.get().max(node.log_start()));
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
        "{n} Paxos seeds with a snapshot every 8 slots: {taken} snapshots taken, {installed} installed from another node, slots compacted through {} at most; {}",
        deepest.get(),
        report.clients_line()
    );
    assert!(
        taken >= n,
        "every seed must snapshot: {taken} over {n} seeds"
    );
    assert!(
        installed > 0 || n < 20,
        "no replica fell behind another's compacted slots over {n} seeds"
    );
    assert!(deepest.get() > 8, "slots were compacted");
    assert_eq!(
        report.undecided, 0,
        "histories the checker could not decide"
    );
    assert!(report.operations >= n * 100, "{}", report.operations);
}
