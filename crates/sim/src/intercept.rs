//! Scripted message control for hosts that drive a run step by step (the teaching
//! scenarios' `delay`, `hold` and `fifo`): the next queued delivery can be moved later,
//! or taken off the network and put back when a later step releases it.
//!
//! The simulator itself never calls these: its own delivery order is the network's
//! ([`crate::network`]). A host looks at [`Simulation::upcoming`], decides, and calls
//! one of these before [`Simulation::step`].

use crate::{Pending, Simulation};
use protocols::{NodeId, Protocol, Time};
use std::cmp::Reverse;

/// A message taken off the network by [`Simulation::hold_next_delivery`], to be put
/// back with [`Simulation::release`].
#[derive(Debug)]
pub struct HeldMessage<P: Protocol> {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// When it was sent.
    pub sent: Time,
    /// The message.
    pub msg: P::Message,
    /// The receiver's incarnation it was sent to (a restart since loses it).
    incarnation: u64,
}

/// A delivery still queued on one link ([`Simulation::in_flight`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlight {
    /// When it is due to arrive.
    pub at: Time,
    /// Its place in the queue (ties at one instant break by it).
    pub seq: u64,
    /// When it was sent.
    pub sent: Time,
}

impl<P: Protocol> Simulation<P> {
    /// The queue number of the next happening: ties at one instant go in its order, and
    /// a host that moves a delivery uses it to recognise the delivery when it comes up
    /// again.
    pub fn upcoming_seq(&self) -> Option<u64> {
        self.queue.peek().map(|&Reverse((_, seq))| seq)
    }

    /// Takes the next queued happening off the queue if it is a delivery.
    fn take_next_delivery(&mut self) -> Option<HeldMessage<P>> {
        let &Reverse((_, seq)) = self.queue.peek()?;
        if !matches!(self.pending.get(&seq), Some(Pending::Deliver { .. })) {
            return None;
        }
        self.queue.pop();
        match self.pending.remove(&seq) {
            Some(Pending::Deliver {
                from,
                to,
                sent,
                incarnation,
                msg,
            }) => Some(HeldMessage {
                from,
                to,
                sent,
                msg,
                incarnation,
            }),
            _ => None,
        }
    }

    /// Moves the next queued delivery to `at` (now at the earliest), after everything
    /// already queued for that instant. Returns its new queue number, or `None` when
    /// the next happening is not a delivery.
    pub fn postpone_next_delivery(&mut self, at: Time) -> Option<u64> {
        let held = self.take_next_delivery()?;
        Some(self.release(held, at))
    }

    /// Takes the next queued delivery off the network until [`Self::release`] puts it
    /// back; `None` when the next happening is not a delivery.
    pub fn hold_next_delivery(&mut self) -> Option<HeldMessage<P>> {
        self.take_next_delivery()
    }

    /// Puts a held message back on the network, due at `at` (now at the earliest); it
    /// then meets the fate of any delivery (lost if its receiver is down or restarted
    /// since, or the link is cut). Returns its queue number.
    pub fn release(&mut self, held: HeldMessage<P>, at: Time) -> u64 {
        let seq = self.next_seq;
        self.push(
            at.max(self.now),
            Pending::Deliver {
                from: held.from,
                to: held.to,
                sent: held.sent,
                incarnation: held.incarnation,
                msg: held.msg,
            },
        );
        seq
    }

    /// The deliveries queued on the directed link from `from` to `to`.
    pub fn in_flight(&self, from: NodeId, to: NodeId) -> Vec<InFlight> {
        self.queue
            .iter()
            .filter_map(|&Reverse((at, seq))| match self.pending.get(&seq) {
                Some(Pending::Deliver {
                    from: f,
                    to: t,
                    sent,
                    ..
                }) if *f == from && *t == to => Some(InFlight {
                    at,
                    seq,
                    sent: *sent,
                }),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::{SimConfig, Simulation, Upcoming};
    use protocols::raft::Raft;
    use std::time::Duration;

    /// Runs a 3-node Raft cluster until the next happening is a delivery.
    fn at_a_delivery() -> Simulation<Raft> {
        let mut sim = Simulation::<Raft>::new(SimConfig::voters(3, 1));
        sim.start_all().unwrap();
        while !matches!(sim.upcoming(), Some((_, Upcoming::Message { .. }))) {
            assert!(sim.step().unwrap(), "the queue ran dry before any message");
        }
        sim
    }

    #[test]
    fn a_postponed_delivery_comes_up_later_with_its_send_time() {
        let mut sim = at_a_delivery();
        let Some((at, Upcoming::Message { from, to, sent, .. })) = sim.upcoming() else {
            unreachable!()
        };
        let later = at.plus(Duration::from_millis(40));
        let seq = sim.postpone_next_delivery(later).expect("a delivery");
        let moved = sim.in_flight(from, to);
        assert!(moved
            .iter()
            .any(|m| m.seq == seq && m.at == later && m.sent == sent));
        assert!(moved.iter().all(|m| m.at != at || m.seq != seq));
    }

    #[test]
    fn a_held_delivery_is_off_the_queue_until_released() {
        let mut sim = at_a_delivery();
        let Some((at, Upcoming::Message { from, to, .. })) = sim.upcoming() else {
            unreachable!()
        };
        let before = sim.in_flight(from, to).len();
        let held = sim.hold_next_delivery().expect("a delivery");
        assert_eq!(sim.in_flight(from, to).len(), before - 1);
        let seq = sim.release(held, at);
        assert!(sim.in_flight(from, to).iter().any(|m| m.seq == seq));
    }
}
