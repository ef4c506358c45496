//! A whole network: which [`LinkSpec`] applies on each directed link, and its
//! validation. A link's spec is, in order of precedence: its own entry, then the region
//! matrix (if the nodes' regions differ or the matrix names the pair), then the default.

use crate::link::LinkSpec;
use crate::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Why a network description cannot be used. Every one is found before anything
/// starts.
#[derive(Debug, Error)]
pub enum NetError {
    /// Neither a profile name nor an existing file.
    #[error("unknown network profile {name:?}: expected one of {known} or the path of a network TOML file")]
    UnknownProfile {
        /// What was asked for.
        name: String,
        /// The profile names, comma-separated.
        known: String,
    },
    /// The file could not be read.
    #[error("cannot read network file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the expected shape.
    #[error("malformed network file {path}: {message}")]
    Malformed {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A value is impossible (negative delay, loss outside [0, 1], ...).
    #[error("network {network}: {place}: {problem}")]
    Invalid {
        /// The network's name.
        network: String,
        /// Which part of it (`default`, `link 1->2`, `regions`).
        place: String,
        /// What is wrong.
        problem: String,
    },
}

/// Nodes placed in named regions with a round-trip matrix between regions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regions {
    /// Region names, in matrix order.
    pub names: Vec<String>,
    /// Round-trip times in ms between regions (`rtt_ms[i][j]`, i, j in name order);
    /// a link's one-way delay is half of it. The diagonal is the round trip inside a
    /// region.
    pub rtt_ms: Vec<Vec<f64>>,
    /// The nodes of each region, in name order; a node named in none is placed
    /// round-robin: node `n` in region `(n - 1) % regions`.
    #[serde(default)]
    pub nodes: Vec<Vec<NodeId>>,
}

impl Regions {
    /// The index of `node`'s region.
    pub fn region_of(&self, node: NodeId) -> usize {
        self.nodes
            .iter()
            .position(|members| members.contains(&node))
            .unwrap_or_else(|| (node.saturating_sub(1) % self.names.len().max(1) as u64) as usize)
    }

    /// The name of `node`'s region.
    pub fn region_name(&self, node: NodeId) -> &str {
        self.names
            .get(self.region_of(node))
            .map_or("", String::as_str)
    }
}

/// A network: a default link, an optional region matrix, per-link overrides and
/// one-way cuts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetModel {
    /// The profile's name, or the file's `name` (its path if it has none).
    pub name: String,
    /// Every link not otherwise described.
    pub default: LinkSpec,
    /// Regions: one-way delay between two nodes is half their regions' round trip
    /// (jitter, loss and bandwidth from the default).
    pub regions: Option<Regions>,
    /// Per directed link overrides.
    pub links: BTreeMap<(NodeId, NodeId), LinkSpec>,
    /// Directed links that lose everything (a one-way partition).
    pub cuts: BTreeSet<(NodeId, NodeId)>,
}

impl NetModel {
    /// Every link alike.
    pub fn uniform(name: &str, link: LinkSpec) -> NetModel {
        NetModel {
            name: name.to_string(),
            default: link,
            regions: None,
            links: BTreeMap::new(),
            cuts: BTreeSet::new(),
        }
    }

    /// A profile name (see [`crate::profiles`]) or the path of a network TOML file,
    /// validated.
    pub fn parse_spec(spec: &str) -> Result<NetModel, NetError> {
        if let Some(model) = crate::profiles::named(spec) {
            return Ok(model);
        }
        let path = Path::new(spec);
        if path.exists() {
            return crate::file::load(path);
        }
        Err(NetError::UnknownProfile {
            name: spec.to_string(),
            known: crate::profiles::NAMES.join(", "),
        })
    }

    /// The spec that applies to messages from `from` to `to`.
    pub fn link(&self, from: NodeId, to: NodeId) -> LinkSpec {
        if let Some(spec) = self.links.get(&(from, to)) {
            return spec.clone();
        }
        if let Some(r) = &self.regions {
            let (a, b) = (r.region_of(from), r.region_of(to));
            if let Some(rtt) = r.rtt_ms.get(a).and_then(|row| row.get(b)) {
                return LinkSpec {
                    delay_ms: rtt / 2.0,
                    ..self.default.clone()
                };
            }
        }
        self.default.clone()
    }

    /// The largest mean one-way delay between any two of `nodes` (jitter's mean
    /// included): what a client waiting for a round of messages must at least allow.
    pub fn slowest_one_way(&self, nodes: &[NodeId]) -> Duration {
        let mut worst = 0.0f64;
        for &a in nodes {
            for &b in nodes {
                if a != b {
                    worst = worst.max(self.link(a, b).mean_delay_ms());
                }
            }
        }
        crate::link::ms(worst)
    }

    /// Whether the model cuts `from -> to` one way.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cuts.contains(&(from, to))
    }

    /// Whether messages need their size to be timed (a bandwidth cap somewhere).
    pub fn needs_sizes(&self) -> bool {
        self.default.bandwidth_mbps.is_some()
            || self.links.values().any(|l| l.bandwidth_mbps.is_some())
    }

    /// Whether the model does anything at all (the `loopback` profile does not).
    pub fn is_transparent(&self) -> bool {
        let clean = |l: &LinkSpec| {
            l.delay_ms == 0.0
                && l.jitter == crate::Jitter::None
                && l.loss == 0.0
                && l.bandwidth_mbps.is_none()
        };
        clean(&self.default)
            && self.regions.is_none()
            && self.links.values().all(clean)
            && self.cuts.is_empty()
    }

    /// Checks every value; the first problem found is the error.
    pub fn validate(&self) -> Result<(), NetError> {
        let invalid = |place: String, problem: String| NetError::Invalid {
            network: self.name.clone(),
            place,
            problem,
        };
        if let Some(p) = self.default.problem() {
            return Err(invalid("default".into(), p));
        }
        for (&(from, to), spec) in &self.links {
            if from == 0 || to == 0 || from == to {
                return Err(invalid(
                    format!("link {from}->{to}"),
                    "a link joins two different nodes, numbered from 1".into(),
                ));
            }
            if let Some(p) = spec.problem() {
                return Err(invalid(format!("link {from}->{to}"), p));
            }
        }
        for &(from, to) in &self.cuts {
            if from == 0 || to == 0 || from == to {
                return Err(invalid(
                    format!("cut {from}->{to}"),
                    "a cut joins two different nodes, numbered from 1".into(),
                ));
            }
        }
        if let Some(r) = &self.regions {
            let n = r.names.len();
            if n == 0 {
                return Err(invalid("regions".into(), "no region is named".into()));
            }
            if r.rtt_ms.len() != n || r.rtt_ms.iter().any(|row| row.len() != n) {
                return Err(invalid(
                    "regions".into(),
                    format!("rtt_ms must be a {n}x{n} matrix, one row and column per name"),
                ));
            }
            if let Some(bad) = r
                .rtt_ms
                .iter()
                .flatten()
                .find(|v| !v.is_finite() || **v < 0.0)
            {
                return Err(invalid(
                    "regions".into(),
                    format!("round-trip times must be >= 0, not {bad}"),
                ));
            }
            if r.nodes.len() > n {
                return Err(invalid(
                    "regions".into(),
                    format!(
                        "nodes lists {} regions but only {n} are named",
                        r.nodes.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// One line for logs and reports, e.g. `wan (regions us-east/us-west/eu-west)`.
    pub fn describe(&self) -> String {
        let d = &self.default;
        let mut s = format!("{}: one-way {:.3} ms mean", self.name, d.mean_delay_ms());
        if d.loss > 0.0 {
            s += &format!(", loss {}%", d.loss * 100.0);
        }
        if let Some(bw) = d.bandwidth_mbps {
            s += &format!(", {bw} Mbit/s");
        }
        if let Some(r) = &self.regions {
            s += &format!(", regions {}", r.names.join("/"));
        }
        if !self.links.is_empty() {
            s += &format!(", {} link overrides", self.links.len());
        }
        if !self.cuts.is_empty() {
            s += &format!(", {} one-way cuts", self.cuts.len());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_override_then_region_then_default() {
        let mut m = NetModel::uniform("t", LinkSpec::fixed(1.0));
        m.regions = Some(Regions {
            names: vec!["a".into(), "b".into()],
            rtt_ms: vec![vec![2.0, 40.0], vec![40.0, 2.0]],
            nodes: vec![vec![1, 3]],
        });
        m.links.insert((1, 2), LinkSpec::fixed(5.0));
        assert_eq!(m.link(1, 2).delay_ms, 5.0);
        assert_eq!(m.link(2, 1).delay_ms, 20.0);
        assert_eq!(m.link(1, 3).delay_ms, 1.0);
        // Node 4 is in no list: round-robin puts it in region (4-1) % 2 = 1 ("b").
        assert_eq!(m.regions.as_ref().map(|r| r.region_name(4)), Some("b"));
        assert_eq!(m.link(3, 4).delay_ms, 20.0);
        m.validate().expect("valid");
    }

    #[test]
    fn the_slowest_one_way_delay_is_the_worst_link_among_the_nodes() {
        let mut m = NetModel::uniform("t", LinkSpec::fixed(1.0));
        m.links.insert((2, 3), LinkSpec::fixed(9.0));
        m.links.insert((4, 5), LinkSpec::fixed(50.0));
        assert_eq!(m.slowest_one_way(&[1, 2, 3]), Duration::from_millis(9));
        assert_eq!(m.slowest_one_way(&[1, 2]), Duration::from_millis(1));
        assert_eq!(m.slowest_one_way(&[1]), Duration::ZERO);
    }

    #[test]
    fn bad_models_are_refused_with_their_place() {
        let mut m = NetModel::uniform("t", LinkSpec::fixed(1.0));
        m.links.insert((1, 2), LinkSpec::fixed(-3.0));
        let e = m.validate().expect_err("negative delay").to_string();
        assert!(e.contains("link 1->2") && e.contains("delay_ms"), "{e}");
        let mut m = NetModel::uniform("t", LinkSpec::fixed(1.0));
        m.regions = Some(Regions {
            names: vec!["a".into(), "b".into()],
            rtt_ms: vec![vec![2.0, 40.0]],
            nodes: vec![],
        });
        assert!(m
            .validate()
            .expect_err("ragged")
            .to_string()
            .contains("2x2"));
        let e = NetModel::parse_spec("no-such-profile")
            .expect_err("unknown")
            .to_string();
        assert!(
            e.contains("unknown network profile") && e.contains("wan"),
            "{e}"
        );
    }
}
