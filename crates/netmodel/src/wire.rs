//! The per-link state that turns "send now" into "arrives then": loss, the link's
//! bandwidth queue, the sampled one-way delay, and FIFO order.
//!
//! For a message of `bytes` sent on `from -> to` at `now`:
//! 1. a cut link or a loss draw loses it;
//! 2. it starts transmitting when the link is free: `start = max(now, free_at)`, and
//!    occupies it for `bytes * 8 / bandwidth` (zero without a cap);
//! 3. it arrives after its sampled one-way delay: `sampled = start + transmission + delay`;
//! 4. it never overtakes the previous message on the link:
//!    `arrival = max(sampled, previous arrival)`.
//!
//! Step 4 is what TCP gives the runtime, and what keeps a simulated link from showing
//! an order a real cluster cannot.

use crate::link::LinkSpec;
use crate::model::NetModel;
use crate::NodeId;
use std::collections::HashMap;
use std::time::Duration;

/// What happens to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The model cuts the link one way.
    Cut,
    /// Lost to the link's loss rate.
    Lost,
    /// Arrives at this time (same clock as `now`).
    Arrives(Duration),
}

#[derive(Clone, Copy, Debug, Default)]
struct LinkClock {
    /// When the link finishes transmitting what it was given.
    free_at: Duration,
    /// When the last message handed to the link arrives.
    last_arrival: Duration,
}

/// A network model with the state of every directed link.
#[derive(Clone, Debug)]
pub struct Wire {
    model: NetModel,
    /// Resolved specs, so a send does not rebuild one.
    specs: HashMap<(NodeId, NodeId), LinkSpec>,
    clocks: HashMap<(NodeId, NodeId), LinkClock>,
}

impl Wire {
    /// Idle links under `model`.
    pub fn new(model: NetModel) -> Wire {
        Wire {
            model,
            specs: HashMap::new(),
            clocks: HashMap::new(),
        }
    }

    /// The model.
    pub fn model(&self) -> &NetModel {
        &self.model
    }

    /// The spec of `from -> to`.
    pub fn spec(&mut self, from: NodeId, to: NodeId) -> &LinkSpec {
        let model = &self.model;
        self.specs
            .entry((from, to))
            .or_insert_with(|| model.link(from, to))
    }

    /// Whether a message sent now is lost (a cut, or a loss draw). Draws nothing on a
    /// lossless link.
    pub fn lose(
        &mut self,
        from: NodeId,
        to: NodeId,
        bits: &mut dyn FnMut() -> u64,
    ) -> Option<Fate> {
        if self.model.is_cut(from, to) {
            return Some(Fate::Cut);
        }
        self.spec(from, to).lost(bits).then_some(Fate::Lost)
    }

    /// When a message of `bytes` that was not lost, sent at `now`, arrives: queued
    /// behind the link's earlier messages and never before the previous arrival.
    pub fn arrival(
        &mut self,
        from: NodeId,
        to: NodeId,
        now: Duration,
        bytes: u64,
        bits: &mut dyn FnMut() -> u64,
    ) -> Duration {
        let spec = self.spec(from, to);
        let tx = spec.transmission(bytes);
        let delay = spec.sample_delay(bits);
        let clock = self.clocks.entry((from, to)).or_default();
        let start = now.max(clock.free_at);
        clock.free_at = start + tx;
        let arrival = (start + tx + delay).max(clock.last_arrival);
        clock.last_arrival = arrival;
        arrival
    }

    /// The whole decision for one message: [`Wire::lose`], then [`Wire::arrival`].
    pub fn send(
        &mut self,
        from: NodeId,
        to: NodeId,
        now: Duration,
        bytes: u64,
        bits: &mut dyn FnMut() -> u64,
    ) -> Fate {
        if let Some(fate) = self.lose(from, to, bits) {
            return fate;
        }
        Fate::Arrives(self.arrival(from, to, now, bytes, bits))
    }

    /// Forgets a link's queue (its connection was reset: a new one starts empty).
    pub fn reset_link(&mut self, from: NodeId, to: NodeId) {
        self.clocks.remove(&(from, to));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Jitter;

    fn bits(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed;
        move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn a_link_is_fifo_whatever_the_jitter() {
        let model = NetModel::uniform(
            "jittery",
            LinkSpec::fixed(1.0).with_jitter(Jitter::Uniform { width_ms: 50.0 }),
        );
        let mut wire = Wire::new(model);
        let mut b = bits(1);
        let mut last = Duration::ZERO;
        let mut reordered_without_fifo = 0;
        for i in 0..1000u64 {
            let now = Duration::from_micros(i * 100);
            let Fate::Arrives(at) = wire.send(1, 2, now, 0, &mut b) else {
                panic!("lossless link lost a message");
            };
            assert!(at >= last, "message {i} overtook the previous one");
            assert!(at >= now + Duration::from_millis(1));
            if at == last {
                reordered_without_fifo += 1;
            }
            last = at;
        }
        // The clamp did work: with 50 ms of jitter and 0.1 ms between sends, many
        // samples were earlier than the previous arrival.
        assert!(reordered_without_fifo > 100);
    }

    #[test]
    fn links_are_independent_and_one_way() {
        let mut wire = Wire::new(NetModel::uniform("t", LinkSpec::fixed(10.0)));
        let mut b = bits(2);
        assert_eq!(
            wire.send(1, 2, Duration::ZERO, 0, &mut b),
            Fate::Arrives(Duration::from_millis(10))
        );
        // A later send on another link is not held back by 1 -> 2.
        let mut m = NetModel::uniform("t", LinkSpec::fixed(1.0));
        m.links.insert((1, 2), LinkSpec::fixed(100.0));
        m.cuts.insert((3, 1));
        let mut wire = Wire::new(m);
        assert_eq!(
            wire.send(1, 2, Duration::ZERO, 0, &mut b),
            Fate::Arrives(Duration::from_millis(100))
        );
        assert_eq!(
            wire.send(2, 1, Duration::ZERO, 0, &mut b),
            Fate::Arrives(Duration::from_millis(1))
        );
        assert_eq!(wire.send(3, 1, Duration::ZERO, 0, &mut b), Fate::Cut);
        assert!(matches!(
            wire.send(1, 3, Duration::ZERO, 0, &mut b),
            Fate::Arrives(_)
        ));
    }

    #[test]
    fn bandwidth_queues_messages_behind_each_other() {
        let spec = LinkSpec {
            bandwidth_mbps: Some(8.0),
            ..LinkSpec::fixed(5.0)
        };
        let mut wire = Wire::new(NetModel::uniform("slow", spec));
        let mut b = bits(3);
        // 1000 bytes at 8 Mbit/s: 1 ms on the wire each.
        let arrivals: Vec<Fate> = (0..3)
            .map(|_| wire.send(1, 2, Duration::ZERO, 1000, &mut b))
            .collect();
        assert_eq!(
            arrivals,
            vec![
                Fate::Arrives(Duration::from_millis(6)),
                Fate::Arrives(Duration::from_millis(7)),
                Fate::Arrives(Duration::from_millis(8)),
            ]
        );
    }

    #[test]
    fn loss_loses_about_its_share() {
        let spec = LinkSpec {
            loss: 0.5,
            ..LinkSpec::fixed(1.0)
        };
        let mut wire = Wire::new(NetModel::uniform("lossy", spec));
        let mut b = bits(4);
        let lost = (0..2000)
            .filter(|_| wire.send(1, 2, Duration::ZERO, 0, &mut b) == Fate::Lost)
            .count();
        assert!((900..1100).contains(&lost), "lost {lost}");
    }
}
