//! The simulated network: per-message loss, delay (random delays reorder messages),
//! duplication, and partitions into groups. All decisions come from the simulation's
//! seeded random source, so a run replays exactly from its seed.

use protocols::{DetRng, NodeId};
use std::time::Duration;

/// How the simulated network treats messages.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// Shortest one-way delay.
    pub delay_min: Duration,
    /// Longest one-way delay; delays are uniform in between, so messages reorder.
    pub delay_max: Duration,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a delivered message is delivered a second time.
    pub duplicate: f64,
}

impl Default for NetConfig {
    /// A clean LAN-like network: 0.5-2 ms, nothing lost or duplicated.
    fn default() -> NetConfig {
        NetConfig {
            delay_min: Duration::from_micros(500),
            delay_max: Duration::from_millis(2),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// The network's current state: its config plus the partition in force.
#[derive(Clone, Debug, Default)]
pub struct Network {
    /// Delay, loss, duplication.
    pub config: NetConfig,
    /// Partition groups; empty means fully connected. A node in no group is alone.
    groups: Vec<Vec<NodeId>>,
}

impl Network {
    /// A fully connected network.
    pub fn new(config: NetConfig) -> Network {
        Network {
            config,
            groups: Vec::new(),
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

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.groups.clear();
    }

    /// Whether `a` and `b` can reach each other.
    pub fn connected(&self, a: NodeId, b: NodeId) -> bool {
        if self.groups.is_empty() {
            return true;
        }
        self.groups.iter().any(|g| g.contains(&a) && g.contains(&b))
    }

    /// The delivery delays for one message from `from` to `to`: none if dropped, two if
    /// duplicated.
    pub fn deliveries(&self, from: NodeId, to: NodeId, rng: &mut DetRng) -> Vec<Duration> {
        if !self.connected(from, to) || rng.chance(self.config.loss) {
            return Vec::new();
        }
        let mut out = vec![rng.duration_between(self.config.delay_min, self.config.delay_max)];
        if rng.chance(self.config.duplicate) {
            out.push(rng.duration_between(self.config.delay_min, self.config.delay_max));
        }
        out
    }
}
