//! The network file: a TOML description of a network, for `--net FILE` and for a
//! scenario's `[network]` table.
//!
//! ```toml
//! name = "two-racks"          # optional; the file's path otherwise
//! profile = "lan"             # optional: start from a named profile
//!
//! [default]                   # every link not described below
//! delay_ms = 0.1              # fixed part of the one-way delay
//! jitter = { kind = "normal", sd_ms = 0.02 }   # none | uniform | normal | lognormal | pareto
//! loss = 0.0                  # probability in [0, 1]
//! bandwidth_mbps = 1000       # optional cap
//!
//! [regions]                   # optional: one-way delay = half the regions' round trip
//! names = ["a", "b"]
//! rtt_ms = [[0.2, 30], [30, 0.2]]
//! nodes = [[1, 2, 3], [4, 5]]  # optional; unlisted nodes go round-robin
//!
//! [[link]]                    # one directed link (both ways with both_ways = true)
//! from = 1
//! to = 4
//! delay_ms = 40
//! both_ways = true
//!
//! [[cut]]                     # a one-way partition: 2 never hears from 5
//! from = 5
//! to = 2
//! ```
//!
//! Unknown keys are refused (a typo must not silently mean "no delay"), and the whole
//! model is validated ([`NetModel::validate`]).

use crate::link::{Jitter, LinkSpec};
use crate::model::{NetError, NetModel, Regions};
use crate::NodeId;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetFile {
    name: Option<String>,
    profile: Option<String>,
    default: Option<LinkSpec>,
    regions: Option<Regions>,
    #[serde(default)]
    link: Vec<FileLink>,
    #[serde(default)]
    cut: Vec<FileCut>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLink {
    from: NodeId,
    to: NodeId,
    #[serde(default)]
    both_ways: bool,
    delay_ms: Option<f64>,
    jitter: Option<Jitter>,
    loss: Option<f64>,
    bandwidth_mbps: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCut {
    from: NodeId,
    to: NodeId,
}

/// Reads and validates a network file.
pub fn load(path: &Path) -> Result<NetModel, NetError> {
    let text = std::fs::read_to_string(path).map_err(|source| NetError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses and validates the text of a network file; `origin` names it in errors and is
/// the network's name if the file gives none.
pub fn parse(text: &str, origin: &str) -> Result<NetModel, NetError> {
    let file: NetFile = toml::from_str(text).map_err(|e| NetError::Malformed {
        path: origin.to_string(),
        message: e.to_string(),
    })?;
    from_table(file, origin)
}

/// Builds a model from an already parsed TOML table (a scenario's `[network]`).
pub fn from_value(value: toml::Value, origin: &str) -> Result<NetModel, NetError> {
    let file: NetFile = value
        .try_into()
        .map_err(|e: toml::de::Error| NetError::Malformed {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
    from_table(file, origin)
}

fn from_table(file: NetFile, origin: &str) -> Result<NetModel, NetError> {
    let mut model = match &file.profile {
        Some(p) => crate::profiles::named(p).ok_or_else(|| NetError::UnknownProfile {
            name: p.clone(),
            known: crate::profiles::NAMES.join(", "),
        })?,
        None => NetModel::uniform(origin, LinkSpec::default()),
    };
    model.name = file.name.unwrap_or_else(|| origin.to_string());
    if let Some(d) = file.default {
        model.default = d;
    }
    if let Some(r) = file.regions {
        model.regions = Some(r);
    }
    for l in file.link {
        let base = model.link(l.from, l.to);
        let spec = LinkSpec {
            delay_ms: l.delay_ms.unwrap_or(base.delay_ms),
            jitter: l.jitter.unwrap_or(base.jitter),
            loss: l.loss.unwrap_or(base.loss),
            bandwidth_mbps: l.bandwidth_mbps.or(base.bandwidth_mbps),
        };
        if l.both_ways {
            model.links.insert((l.to, l.from), spec.clone());
        }
        model.links.insert((l.from, l.to), spec);
    }
    for c in file.cut {
        model.cuts.insert((c.from, c.to));
    }
    model.validate()?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let text = r#"
            name = "two-racks"
            profile = "lan"
            [default]
            delay_ms = 0.1
            jitter = { kind = "normal", sd_ms = 0.02 }
            bandwidth_mbps = 1000
            [regions]
            names = ["a", "b"]
            rtt_ms = [[0.2, 30], [30, 0.2]]
            nodes = [[1, 2, 3], [4, 5]]
            [[link]]
            from = 1
            to = 4
            delay_ms = 40
            both_ways = true
            [[cut]]
            from = 5
            to = 2
        "#;
        let m = parse(text, "t.toml").expect("valid");
        assert_eq!(m.name, "two-racks");
        assert_eq!(m.link(1, 4).delay_ms, 40.0);
        assert_eq!(m.link(4, 1).delay_ms, 40.0);
        assert_eq!(m.link(2, 5).delay_ms, 15.0);
        assert_eq!(m.link(1, 2).delay_ms, 0.1);
        assert!(m.is_cut(5, 2) && !m.is_cut(2, 5));
        assert_eq!(m.link(1, 4).jitter, Jitter::Normal { sd_ms: 0.02 });
    }

    #[test]
    fn malformed_and_impossible_files_are_refused_clearly() {
        let cases = [
            ("[default]\ndelay_ms = -1", "delay_ms must be"),
            ("[default]\nloss = 1.5", "loss must be a probability"),
            ("[default]\ndelay = 3", "unknown field"),
            ("profile = \"moon\"", "unknown network profile"),
            ("[default\n", "malformed network file"),
            (
                "[default]\njitter = { kind = \"gamma\", k = 1 }",
                "malformed network file",
            ),
            ("[[link]]\nfrom = 1\nto = 1", "two different nodes"),
            ("[[link]]\nfrom = 1\nto = 2\nloss = -0.1", "link 1->2"),
        ];
        for (text, want) in cases {
            let e = parse(text, "bad.toml").expect_err(text).to_string();
            assert!(e.contains(want), "{text:?} gave {e:?}, wanted {want:?}");
        }
    }

    #[test]
    fn a_missing_file_is_an_unknown_profile_and_a_real_one_loads() {
        let e = NetModel::parse_spec("/no/such/net.toml").expect_err("missing");
        assert!(matches!(e, NetError::UnknownProfile { .. }));
        let dir = std::env::temp_dir().join(format!("netmodel-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("n.toml");
        std::fs::write(&path, "[default]\ndelay_ms = 2").expect("write");
        let m = NetModel::parse_spec(&path.display().to_string()).expect("loads");
        assert_eq!(m.link(1, 2).delay_ms, 2.0);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
