//! What the simulation will do next, for hosts that show a run step by step (the
//! teaching timelines): the next queued happening, classified the way its step will
//! treat it, without stepping it.

use crate::{Action, Pending, Simulation};
use protocols::{NodeId, Protocol, Time};

/// What becomes of a message when its delivery comes up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The receiver steps it.
    Delivered,
    /// The receiver is down, or restarted since it was sent: it is lost.
    TargetDown,
    /// A partition between sender and receiver drops it, or a one-way cut of the
    /// link from sender to receiver.
    Partitioned,
    /// A drop rule for its kind on this link loses it ([`crate::Action::DropKind`]).
    Dropped,
}

/// The next happening in the queue.
#[derive(Debug)]
pub enum Upcoming<'a, P: Protocol> {
    /// A message delivery.
    Message {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// When it was sent.
        sent: Time,
        /// The message.
        msg: &'a P::Message,
        /// What its delivery will do.
        fate: Fate,
    },
    /// A timer that is still armed fires (a cancelled or re-armed one is skipped silently).
    Timer {
        /// Whose timer.
        node: NodeId,
        /// Which timer.
        timer: &'a P::Timer,
    },
    /// A scheduled action.
    Action(&'a Action),
    /// A disk sync completes, or a stale timer is skipped.
    Other,
}

impl<P: Protocol> Simulation<P> {
    /// What delivering `msg` from `from` to incarnation `incarnation` of `to` does now:
    /// the one rule that both stepping and [`Self::upcoming`] apply.
    pub(crate) fn fate(
        &self,
        from: NodeId,
        to: NodeId,
        incarnation: u64,
        msg: &P::Message,
    ) -> Fate {
        let up = self
            .nodes
            .get(&to)
            .is_some_and(|n| n.proto.is_some() && n.incarnation == incarnation);
        if !up {
            Fate::TargetDown
        } else if !self.network.reachable(from, to) {
            Fate::Partitioned
        } else if !self.network.kind_drops().is_empty()
            && self.network.drops(from, to, P::message_kind(msg))
        {
            Fate::Dropped
        } else {
            Fate::Delivered
        }
    }

    /// Whether a queued firing of `timer` is the latest arming on a node still up.
    pub(crate) fn timer_is_live(
        &self,
        node: NodeId,
        timer: &P::Timer,
        incarnation: u64,
        generation: u64,
    ) -> bool {
        self.nodes.get(&node).is_some_and(|n| {
            n.proto.is_some()
                && n.incarnation == incarnation
                && n.timers.get(timer) == Some(&generation)
        })
    }

    /// The time of the next queued happening and what it is, if anything is queued.
    pub fn upcoming(&self) -> Option<(Time, Upcoming<'_, P>)> {
        let &std::cmp::Reverse((at, seq)) = self.queue.peek()?;
        let next = match self.pending.get(&seq) {
            Some(Pending::Deliver {
                from,
                to,
                sent,
                incarnation,
                msg,
            }) => {
                let fate = self.fate(*from, *to, *incarnation, msg);
                Upcoming::Message {
                    from: *from,
                    to: *to,
                    sent: *sent,
                    msg,
                    fate,
                }
            }
            Some(Pending::Timer {
                node,
                timer,
                incarnation,
                generation,
            }) => {
                if self.timer_is_live(*node, timer, *incarnation, *generation) {
                    Upcoming::Timer { node: *node, timer }
                } else {
                    Upcoming::Other
                }
            }
            Some(Pending::Act(action)) => Upcoming::Action(action),
            Some(Pending::Synced { .. }) | None => Upcoming::Other,
        };
        Some((at, next))
    }

    /// The id the next submitted client command gets, as `(origin, seq)`'s `seq`.
    pub fn next_request_seq(&self) -> u64 {
        self.next_request + 1
    }
}
