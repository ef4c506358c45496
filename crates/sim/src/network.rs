//! The simulated network: per-message loss, delay, duplication, partitions into groups,
//! one-way cuts and dropped message kinds. All decisions come from the simulation's
//! seeded random source, so a run replays exactly from its seed.
//!
//! With a network model ([`NetConfig::model`]: a named profile or a file of the shared
//! [`netmodel`] crate), delays, per-link loss, bandwidth and static one-way cuts come
//! from it, and every directed link is FIFO, as the runtime's TCP links are: a message
//! never arrives before one sent earlier on the same link ([`netmodel::Wire`]).
//!
//! Without one, the uniform `delay_min..=delay_max` of [`NetConfig`] is drawn per
//! message, and the link is FIFO as well: a message whose drawn delay would land it
//! before one sent earlier on the same link arrives right after that one instead, as
//! TCP delivers it. (This path used to let a link reorder, so a stale FLE notification
//! overtaking a newer one could decide an outcome that a real cluster cannot show.)
//!
//! A cut or drop rule is checked when a message is sent and again when it would
//! be delivered (a message in flight when the link is cut is lost, as with a partition).

use netmodel::{KindRules, NetModel, Wire};
use protocols::{DetRng, NodeId, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How the simulated network treats messages.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// Shortest one-way delay.
    pub delay_min: Duration,
    /// Longest one-way delay; delays are uniform in between (the link stays FIFO: a
    /// short delay drawn after a long one waits for it).
    pub delay_max: Duration,
    /// Probability that a message is lost (on top of the model's per-link loss).
    pub loss: f64,
    /// Probability that a delivered message is delivered a second time.
    pub duplicate: f64,
    /// A network model (profile or file) that replaces `delay_min..=delay_max`.
    pub model: Option<NetModel>,
    /// Without a model: let a link reorder, each message keeping the delay drawn for
    /// it even when that overtakes an earlier one. TCP never does this; it is kept to
    /// show what reordering would change and to replay schedules found before the
    /// links were FIFO (`cwb sim --reorder`).
    pub reorder: bool,
}

impl Default for NetConfig {
    /// A clean LAN-like network: 0.5-2 ms, nothing lost or duplicated.
    fn default() -> NetConfig {
        NetConfig {
            delay_min: Duration::from_micros(500),
            delay_max: Duration::from_millis(2),
            loss: 0.0,
            duplicate: 0.0,
            model: None,
            reorder: false,
        }
    }
}

pub use netmodel::KindDrop;

/// The network's current state: its config plus the partition, cuts and drops in force.
#[derive(Clone, Debug)]
pub struct Network {
    /// Delay, loss, duplication.
    pub config: NetConfig,
    /// The model's per-link state (FIFO order and bandwidth queues), if a model is set.
    wire: Option<Wire>,
    /// Partition groups; empty means fully connected. A node in no group is alone.
    groups: Vec<Vec<NodeId>>,
    /// Directed links cut one way: `(from, to)` loses what `from` sends to `to`.
    cuts: BTreeSet<(NodeId, NodeId)>,
    /// Message kinds dropped on directed links, and delayed on every link.
    kinds: KindRules,
    /// Without a model: the latest arrival scheduled on each directed link, which keeps
    /// the link FIFO.
    last_arrival: BTreeMap<(NodeId, NodeId), Time>,
}

impl Default for Network {
    fn default() -> Network {
        Network::new(NetConfig::default())
    }
}

impl Network {
    /// A fully connected network.
    pub fn new(config: NetConfig) -> Network {
        Network {
            wire: config.model.clone().map(Wire::new),
            config,
            groups: Vec::new(),
            cuts: BTreeSet::new(),
            kinds: KindRules::default(),
            last_arrival: BTreeMap::new(),
        }
    }

    /// Splits the cluster: nodes in different groups cannot talk.
    pub fn partition(&mut self, groups: Vec<Vec<NodeId>>) {
        self.groups = groups;
    }

    /// Cuts `node` off from everyone.
    pub fn isolate(&mut self, node: NodeId, all: &[NodeId]) {
        let rest: Vec<NodeId> = all.iter().copied().filter(|&n| n != node).collect();
        self.groups = vec![vec![node], rest];
    }

    /// Cuts every link from a node of `from` to a node of `to`, one way: messages the
    /// other way still arrive.
    pub fn cut_one_way(&mut self, from: &[NodeId], to: &[NodeId]) {
        for &a in from {
            for &b in to.iter().filter(|&&b| b != a) {
                self.cuts.insert((a, b));
            }
        }
    }

    /// Loses the messages of `kind` sent from `from` to `to` from now on.
    pub fn drop_kind(&mut self, from: NodeId, to: NodeId, kind: &str) {
        self.kinds.drop_kind(from, to, kind);
    }

    /// Stops dropping `kind` (every kind, if `None`) on the link from `from` to `to`.
    pub fn stop_dropping(&mut self, from: NodeId, to: NodeId, kind: Option<&str>) {
        self.kinds.stop_dropping(from, to, kind);
    }

    /// The drop rules in force.
    pub fn kind_drops(&self) -> &[KindDrop] {
        self.kinds.kind_drops()
    }

    /// The rules by message kind in force (drops and delays), to change them.
    pub(crate) fn kinds_mut(&mut self) -> &mut KindRules {
        &mut self.kinds
    }

    /// The rules by message kind in force.
    pub fn kinds(&self) -> &KindRules {
        &self.kinds
    }

    /// Removes every partition, one-way cut and drop rule (kind delays stay: they
    /// stand for the nodes' disks).
    pub fn heal(&mut self) {
        self.groups.clear();
        self.cuts.clear();
        self.kinds.clear_drops();
    }

    /// Whether `a` and `b` are on the same side of the partition (one-way cuts aside):
    /// their connection stays up, so a crash of one resets it for the other.
    pub fn connected(&self, a: NodeId, b: NodeId) -> bool {
        if self.groups.is_empty() {
            return true;
        }
        self.groups.iter().any(|g| g.contains(&a) && g.contains(&b))
    }

    /// Whether a message from `from` reaches `to`: same side of the partition and the
    /// link not cut one way.
    pub fn reachable(&self, from: NodeId, to: NodeId) -> bool {
        self.connected(from, to)
            && (self.cuts.is_empty() || !self.cuts.contains(&(from, to)))
            && !self
                .wire
                .as_ref()
                .is_some_and(|w| w.model().is_cut(from, to))
    }

    /// Whether a message of `kind` from `from` to `to` is dropped by a rule.
    pub fn drops(&self, from: NodeId, to: NodeId, kind: &str) -> bool {
        self.kinds.drops(from, to, kind)
    }

    /// The delivery delays (from `now`) for one message of `bytes` from `from` to
    /// `to`: none if dropped, two if duplicated. Each keeps the link FIFO.
    pub fn deliveries(
        &mut self,
        from: NodeId,
        to: NodeId,
        now: Time,
        bytes: u64,
        rng: &mut DetRng,
    ) -> Vec<Duration> {
        if !self.reachable(from, to) {
            return Vec::new();
        }
        let Some(wire) = self.wire.as_mut() else {
            if rng.chance(self.config.loss) {
                return Vec::new();
            }
            let (lo, hi) = (self.config.delay_min, self.config.delay_max);
            let mut out = vec![self.fifo(from, to, now, rng.duration_between(lo, hi))];
            if rng.chance(self.config.duplicate) {
                let again = rng.duration_between(lo, hi);
                out.push(self.fifo(from, to, now, again));
            }
            return out;
        };
        if wire.lose(from, to, &mut || rng.next_u64()).is_some() || rng.chance(self.config.loss) {
            return Vec::new();
        }
        let sent = Duration::from_nanos(now.as_nanos());
        let arrive = |wire: &mut Wire, rng: &mut DetRng| {
            let at = wire.arrival(from, to, sent, bytes, &mut || rng.next_u64());
            at.saturating_sub(sent)
        };
        let mut out = vec![arrive(wire, rng)];
        if rng.chance(self.config.duplicate) {
            out.push(arrive(wire, rng));
        }
        out
    }

    /// The delay of a message sent at `now` on `from -> to` with `drawn` delay, pushed
    /// back so that it arrives no earlier than the link's previous message.
    fn fifo(&mut self, from: NodeId, to: NodeId, now: Time, drawn: Duration) -> Duration {
        if self.config.reorder {
            return drawn;
        }
        let last = self.last_arrival.entry((from, to)).or_insert(Time::ZERO);
        let at = now.plus(drawn).max(*last);
        *last = at;
        at.since(now)
    }

    /// Whether the model times messages by their size (a bandwidth cap somewhere).
    pub fn needs_sizes(&self) -> bool {
        self.wire.as_ref().is_some_and(|w| w.model().needs_sizes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netmodel::{Jitter, LinkSpec};

    #[test]
    fn a_model_keeps_every_link_fifo() {
        let model = NetModel::uniform(
            "jittery",
            LinkSpec::fixed(1.0).with_jitter(Jitter::Uniform { width_ms: 30.0 }),
        );
        let mut net = Network::new(NetConfig {
            model: Some(model),
            ..NetConfig::default()
        });
        let mut rng = DetRng::new(5);
        let mut last = Time::ZERO;
        for i in 0..500u64 {
            let now = Time(i * 100_000);
            let d = net.deliveries(1, 2, now, 0, &mut rng);
            assert_eq!(d.len(), 1);
            let at = now.plus(d[0]);
            assert!(at >= last, "message {i} overtook an earlier one");
            last = at;
        }
    }

    /// Arrival times of 500 messages sent 0.1 ms apart on one link, with the uniform
    /// 0.5-2 ms delay of the default config (and duplicates).
    fn arrivals(reorder: bool) -> Vec<Time> {
        let mut net = Network::new(NetConfig {
            duplicate: 0.2,
            reorder,
            ..NetConfig::default()
        });
        let mut rng = DetRng::new(9);
        let mut out = Vec::new();
        for i in 0..500u64 {
            let now = Time(i * 100_000);
            for d in net.deliveries(1, 2, now, 0, &mut rng) {
                out.push(now.plus(d));
            }
        }
        out
    }

    #[test]
    fn without_a_model_a_link_is_fifo_unless_told_to_reorder() {
        let fifo = arrivals(false);
        assert!(fifo.len() > 500, "some duplicates");
        assert!(
            fifo.windows(2).all(|w| w[0] <= w[1]),
            "no message overtakes"
        );
        let reordering = arrivals(true);
        assert_eq!(reordering.len(), fifo.len(), "the same draws");
        assert!(
            reordering.windows(2).any(|w| w[0] > w[1]),
            "with --reorder a later message can overtake"
        );
        // FIFO only holds a message back: never earlier than its drawn delay.
        assert!(fifo.iter().zip(&reordering).all(|(f, r)| f >= r));
    }

    #[test]
    fn a_one_way_cut_loses_one_direction_only() {
        let mut net = Network::default();
        net.cut_one_way(&[1], &[2, 3]);
        assert!(!net.reachable(1, 2) && !net.reachable(1, 3));
        assert!(net.reachable(2, 1) && net.reachable(3, 1) && net.reachable(2, 3));
        assert!(net.connected(1, 2), "the connection itself stays up");
        net.heal();
        assert!(net.reachable(1, 2));
    }

    #[test]
    fn heal_ends_kind_drops_and_keeps_kind_delays() {
        let mut net = Network::default();
        net.drop_kind(1, 3, "AppendEntries");
        net.kinds_mut()
            .delay_kind("Promise", Duration::from_millis(15), true);
        assert!(net.drops(1, 3, "appendentries"));
        net.heal();
        assert!(net.kind_drops().is_empty());
        assert_eq!(
            net.kinds().delay("Promise", true),
            Duration::from_millis(15)
        );
    }
}
