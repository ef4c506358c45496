//! The named network profiles. Each value says where it comes from; docs/METHOD.md
//! ("Network profiles") repeats the table. They are typical figures, not measurements
//! of any particular network: a run that needs a specific network describes it in a
//! file ([`crate::file`]).
//!
//! | profile | one-way delay | jitter | loss | bandwidth | source |
//! |---|---|---|---|---|---|
//! | `loopback` | 0 | none | 0 | - | nothing added: the host's own loopback (tens of µs RTT, measured by `cwb bench`'s baseline) |
//! | `lan` | 0.075 ms | normal, sd 0.02 ms | 0 | 1000 Mbit/s | two hosts on one gigabit Ethernet switch: ping RTT about 0.1-0.2 ms |
//! | `dc` | 0.25 ms | lognormal, median 0.02 ms, sigma 1 | 0 | 10000 Mbit/s | "round trip within same datacenter: 500 µs" (J. Dean, *Numbers everyone should know*, LADIS 2009 keynote); queueing gives a long tail |
//! | `cross-az` | 0.5 ms | lognormal, median 0.05 ms, sigma 1 | 0 | 10000 Mbit/s | availability zones of one cloud region are tens of km apart with round trips of about 1 ms ("single-digit millisecond" in AWS's own description of zones) |
//! | `wan` | regions us-east, us-west, eu-west: RTT 65 / 75 / 140 ms, 1 ms inside a region | lognormal, median 0.5 ms, sigma 0.5 | 0 | 1000 Mbit/s | published inter-region round trips between cloud regions in Virginia, Oregon and Ireland (about 60-70, 70-80 and 130-150 ms); nodes placed round-robin (1, 4 in us-east; 2, 5 in us-west; 3 in eu-west) |
//! | `lossy` | 0.075 ms | Pareto, scale 0.05 ms, shape 1.5 | 1% | 1000 Mbit/s | the `lan` profile degraded: V. Paxson's *End-to-end Internet packet dynamics* (SIGCOMM 1997) saw loss of a few percent on Internet paths; Pareto delays with shape between 1 and 2 after W. Leland et al. and V. Paxson and S. Floyd (*Wide-area traffic: the failure of Poisson modeling*, 1995) |
//! | `raft-fig16` | 7.5 ms | normal, sd 1 ms | 0 | - | the Raft paper's Figure 16 set-up: "a broadcast time of roughly 15ms" (Ongaro and Ousterhout, USENIX ATC 2014, §9.3), read as a 15 ms round trip |

use crate::link::{Jitter, LinkSpec};
use crate::model::{NetModel, Regions};

/// Every profile name, in the order of the table above.
pub const NAMES: &[&str] = &[
    "loopback",
    "lan",
    "dc",
    "cross-az",
    "wan",
    "lossy",
    "raft-fig16",
];

/// The named profile, if `name` is one.
pub fn named(name: &str) -> Option<NetModel> {
    let link = |delay_ms: f64, jitter: Jitter, bandwidth: Option<f64>| LinkSpec {
        delay_ms,
        jitter,
        loss: 0.0,
        bandwidth_mbps: bandwidth,
    };
    let model = match name {
        "loopback" => NetModel::uniform(name, LinkSpec::default()),
        "lan" => NetModel::uniform(
            name,
            link(0.075, Jitter::Normal { sd_ms: 0.02 }, Some(1000.0)),
        ),
        "dc" => NetModel::uniform(
            name,
            link(
                0.25,
                Jitter::Lognormal {
                    median_ms: 0.02,
                    sigma: 1.0,
                },
                Some(10_000.0),
            ),
        ),
        "cross-az" => NetModel::uniform(
            name,
            link(
                0.5,
                Jitter::Lognormal {
                    median_ms: 0.05,
                    sigma: 1.0,
                },
                Some(10_000.0),
            ),
        ),
        "wan" => {
            let mut m = NetModel::uniform(
                name,
                link(
                    0.5,
                    Jitter::Lognormal {
                        median_ms: 0.5,
                        sigma: 0.5,
                    },
                    Some(1000.0),
                ),
            );
            m.regions = Some(Regions {
                names: vec!["us-east".into(), "us-west".into(), "eu-west".into()],
                rtt_ms: vec![
                    vec![1.0, 65.0, 75.0],
                    vec![65.0, 1.0, 140.0],
                    vec![75.0, 140.0, 1.0],
                ],
                nodes: Vec::new(),
            });
            m
        }
        "lossy" => NetModel::uniform(
            name,
            LinkSpec {
                loss: 0.01,
                ..link(
                    0.075,
                    Jitter::Pareto {
                        scale_ms: 0.05,
                        shape: 1.5,
                    },
                    Some(1000.0),
                )
            },
        ),
        "raft-fig16" => NetModel::uniform(name, link(7.5, Jitter::Normal { sd_ms: 1.0 }, None)),
        _ => return None,
    };
    Some(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_profile_exists_and_is_valid() {
        for name in NAMES {
            let m = named(name).expect("listed profile");
            assert_eq!(m.name, *name);
            m.validate().expect("valid profile");
        }
        assert!(named("loopback").expect("exists").is_transparent());
        assert!(!named("lan").expect("exists").is_transparent());
        assert!(named("nope").is_none());
    }

    #[test]
    fn the_wan_places_nodes_round_robin_over_three_regions() {
        let wan = named("wan").expect("exists");
        assert_eq!(wan.link(1, 2).delay_ms, 32.5);
        assert_eq!(wan.link(2, 3).delay_ms, 70.0);
        assert_eq!(wan.link(1, 4).delay_ms, 0.5);
        assert_eq!(wan.link(5, 3).delay_ms, 70.0);
    }
}
