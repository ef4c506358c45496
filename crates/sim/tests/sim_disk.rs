//! The simulator's disk model, checked with a probe protocol that only persists and
//! sends: held sends wait for the sync, sends ahead do not (but never leave before a
//! held send to the same peer), durability signals arrive once the sync is done, and a
//! crash before the sync loses the write with everything that waited for it.

use protocols::{
    Effect, Effects, Input, InputOf, NodeId, Protocol, RecoveryError, Role, Setup, Status, Time,
};
use sim::{Action, DiskConfig, SimConfig, Simulation};
use std::time::Duration;

/// Node 1, given a client command, persists one record and sends `1` (held) and `2`
/// (ahead) to node 2, `3` (ahead) to node 3, and asks for a durability signal. Every
/// node remembers what it received, and when.
struct Probe {
    id: NodeId,
    records: usize,
    received: Vec<(NodeId, u32, Time)>,
    durable: Vec<(u64, Time)>,
}

impl Protocol for Probe {
    const NAME: &'static str = "probe";
    type Message = u32;
    type Record = u32;
    type Timer = ();

    fn recover(setup: Setup, records: Vec<u32>) -> Result<Probe, RecoveryError> {
        Ok(Probe {
            id: setup.id,
            records: records.len(),
            received: Vec::new(),
            durable: Vec::new(),
        })
    }

    fn handle(&mut self, now: Time, input: InputOf<Probe>, out: &mut Effects<Probe>) {
        match input {
            Input::Client(_) if self.id == 1 => {
                out.push(Effect::Persist(7));
                out.push(Effect::Send { to: 2, msg: 1 });
                out.push(Effect::SendAhead { to: 2, msg: 2 });
                out.push(Effect::SendAhead { to: 3, msg: 3 });
                out.push(Effect::SignalWhenDurable(9));
            }
            Input::Message { from, msg } => self.received.push((from, msg, now)),
            Input::Durable(token) => self.durable.push((token, now)),
            _ => {}
        }
    }

    fn status(&self) -> Status {
        Status {
            role: Role::Follower,
            term: 0,
            leader: None,
            commit_index: 0,
            last_index: self.records as u64,
        }
    }

    fn message_kind(_: &u32) -> &'static str {
        "probe"
    }
}

const SYNC: Duration = Duration::from_millis(10);

fn probe_cluster() -> Simulation<Probe> {
    let mut sim = Simulation::<Probe>::new(SimConfig::voters(3, 5));
    sim.start_all().expect("starts");
    sim.set_disk(1, DiskConfig::fixed(SYNC));
    sim.submit(1, bytes::Bytes::from_static(b"go"))
        .expect("submitted");
    sim
}

fn received(sim: &Simulation<Probe>, id: NodeId) -> Vec<(NodeId, u32, Time)> {
    sim.node(id).map(|p| p.received.clone()).unwrap_or_default()
}

#[test]
fn sends_ahead_leave_at_once_held_sends_wait_for_the_sync_and_order_per_peer_holds() {
    let mut sim = probe_cluster();
    let start = sim.now();
    sim.run_for(Duration::from_millis(50)).expect("runs");
    let synced = start.plus(SYNC);
    let to_3 = received(&sim, 3);
    assert_eq!(to_3.len(), 1);
    assert!(
        to_3[0].2 < synced,
        "a send ahead does not wait for the sync"
    );
    // The send ahead to 2 waits behind the held send to 2: both leave at the sync
    // (the simulated network may then reorder them, as it reorders everything).
    let mut to_2: Vec<_> = received(&sim, 2)
        .iter()
        .map(|r| (r.1, r.2 >= synced))
        .collect();
    to_2.sort();
    assert_eq!(to_2, vec![(1, true), (2, true)]);
    let durable = sim.node(1).map(|p| p.durable.clone()).unwrap_or_default();
    assert_eq!(durable, vec![(9, synced)], "the signal comes with the sync");
}

#[test]
fn a_crash_before_the_sync_loses_the_write_and_what_waited_for_it() {
    let mut sim = probe_cluster();
    sim.run_for(Duration::from_millis(5)).expect("runs");
    sim.act(Action::Crash(1)).expect("crashes");
    sim.act(Action::Start(1)).expect("restarts");
    sim.run_for(Duration::from_millis(50)).expect("runs");
    assert_eq!(received(&sim, 3).len(), 1, "the send ahead had left");
    assert!(
        received(&sim, 2).is_empty(),
        "the held sends died with the node"
    );
    let restarted = sim.node(1).expect("node 1 runs");
    assert_eq!(restarted.records, 0, "the unsynced record is gone");
    assert!(restarted.durable.is_empty());
}

#[test]
fn with_the_default_disk_everything_is_durable_within_its_step() {
    let mut sim = Simulation::<Probe>::new(SimConfig::voters(3, 5));
    sim.start_all().expect("starts");
    sim.submit(1, bytes::Bytes::from_static(b"go"))
        .expect("submitted");
    let now = sim.now();
    assert_eq!(sim.node(1).map(|p| p.durable.clone()), Some(vec![(9, now)]));
    sim.act(Action::Crash(1)).expect("crashes");
    sim.act(Action::Start(1)).expect("restarts");
    assert_eq!(sim.node(1).map(|p| p.records), Some(1));
}
