//! Scenario tests: the generic [`Pump`] drives whole ZAB ensembles.
//!
//! The pump delivers queued messages in FIFO order and fires timers only on demand, so
//! every scenario is exact. Scenarios A, A' and B are docs/PROTOCOLS.md's; the others
//! cover DIFF / TRUNC / SNAP, restarts, observers and failure detection.

mod broadcast;
mod election;
mod extremes;
mod forge;
mod invalid_input;
mod reads;
mod snapshot;
mod sync;
mod transfer;

use super::*;
use crate::effect::Effect;
use crate::pump::{Pump, Wire};
use std::time::Duration;
use ServerState::{Following, Leading, Looking, Observing};

/// An ensemble of `voters` and `observers`, none started, narrating, one nanosecond of
/// virtual time per input.
fn pump(voters: &[NodeId], observers: &[NodeId]) -> Pump<Zab> {
    let membership = Membership::new(voters.iter().copied(), observers.iter().copied());
    Pump::new(membership)
        .narrate(true)
        .tick(Duration::from_nanos(1))
}

/// The same, with learners further behind than `txns` synchronized by SNAP.
fn pump_with_snap_threshold(voters: &[NodeId], txns: usize) -> Pump<Zab> {
    pump(voters, &[]).on_recover(move |z: &mut Zab| z.set_snap_threshold(txns))
}

/// ZAB's ways of running the pump.
trait Ensemble {
    /// Delivers everything and lets every finalize wait expire, until quiet.
    fn settle(&mut self);
    /// `ticks` heartbeat ticks on every server, settling in between.
    fn run(&mut self, ticks: usize);
    /// Server `id`'s ZooKeeper state and the leader it believes in.
    fn state(&self, id: NodeId) -> (ServerState, Option<NodeId>);
    /// Puts records on `id`'s disk giving it epochs 1 and proposals `<1, 1..=last>`.
    fn preload(&mut self, id: NodeId, last: u32);
}

impl Ensemble for Pump<Zab> {
    fn settle(&mut self) {
        loop {
            self.deliver_all();
            if !self.fire_all(ZabTimer::FinalizeWait) {
                break;
            }
        }
    }

    fn run(&mut self, ticks: usize) {
        self.settle();
        for _ in 0..ticks {
            self.fire_all(ZabTimer::Tick);
            self.settle();
        }
    }

    fn state(&self, id: NodeId) -> (ServerState, Option<NodeId>) {
        let n = self.node(id);
        (n.server_state(), n.status().leader)
    }

    fn preload(&mut self, id: NodeId, last: u32) {
        let mut records = vec![ZabRecord::AcceptedEpoch(1), ZabRecord::CurrentEpoch(1)];
        records.extend((1..=last).map(|c| ZabRecord::Proposal(txn(1, c))));
        self.disks.insert(id, records);
    }
}

/// The transaction `<epoch, counter>`, with a recognisable payload.
fn txn(epoch: u32, counter: u32) -> Txn {
    Txn {
        zxid: Zxid::new(epoch, counter),
        command: Command {
            id: RequestId {
                origin: 99,
                seq: u64::from(epoch) << 32 | u64::from(counter),
            },
            data: bytes::Bytes::from(format!("{epoch}:{counter}")),
        },
    }
}

/// Every server's (state, leader), epochs and delivered sequence.
fn assert_ensemble(
    p: &Pump<Zab>,
    leader: NodeId,
    members: &[NodeId],
    epoch: u32,
    delivered: &[&str],
) {
    for &id in members {
        let expected = if id == leader {
            Leading
        } else if p.membership.is_voter(id) {
            Following
        } else {
            Observing
        };
        assert_eq!(p.state(id), (expected, Some(leader)), "server {id}");
        let h = p.node(id).history();
        assert_eq!(
            (h.accepted_epoch, h.current_epoch),
            (epoch, epoch),
            "epochs of {id}"
        );
        assert_eq!(p.applied_data(id), delivered, "delivered by {id}");
        assert_eq!(h.delivered, delivered.len(), "delivered count of {id}");
    }
}
