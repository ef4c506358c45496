//! What the Raft paper states about its Figure 16, used as the reference beside our
//! curves. Only numbers the paper's text gives are here; the other curves of the
//! printed figure are not digitized (docs/METHOD.md, "Figure 16", says why).
//!
//! From Ongaro and Ousterhout, USENIX ATC 2014, §9.3 (and the dissertation, §9.4):
//! - set-up: five servers, "a broadcast time of roughly 15ms"; the leader was crashed
//!   "uniformly randomly within its heartbeat interval, which was half of the minimum
//!   election timeout"; the servers "had different log lengths, so some candidates
//!   were not eligible to become leader"; a "synchronized broadcast of heartbeat RPCs
//!   from the leader before terminating its process"; 1000 trials per line, 100 for
//!   150-150 ms;
//! - 150-150 ms: "leader election consistently took longer than 10 seconds";
//! - 150-155 ms: "a median downtime of 287ms";
//! - 150-200 ms ("50ms of randomness"): "the worst-case completion time (over 1000
//!   trials) was 513ms";
//! - 12-24 ms: "it takes only 35ms on average to elect a leader (the longest trial took
//!   152ms)";
//! - every range: "the smallest possible downtime was about half of the minimum election
//!   timeout".

/// The top graph's ranges (ms): randomness added to a 150 ms minimum.
pub const TOP: &[(u64, u64)] = &[
    (150, 150),
    (150, 151),
    (150, 155),
    (150, 175),
    (150, 200),
    (150, 300),
];

/// The bottom graph's ranges (ms): the minimum scaled down.
pub const BOTTOM: &[(u64, u64)] = &[(12, 24), (25, 50), (50, 100), (100, 200), (150, 300)];

/// One statement of the paper about one range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stated {
    /// The median downtime (ms).
    Median(f64),
    /// The mean downtime (ms).
    Mean(f64),
    /// The longest trial (ms).
    Max(f64),
    /// Every trial took longer than this (ms).
    AllAbove(f64),
}

impl Stated {
    /// For tables: `median 287`.
    pub fn text(self) -> String {
        match self {
            Stated::Median(v) => format!("median {v}"),
            Stated::Mean(v) => format!("mean {v}"),
            Stated::Max(v) => format!("max {v}"),
            Stated::AllAbove(v) => format!("all > {v}"),
        }
    }
}

/// What the paper states for `range`.
pub fn stated(range: (u64, u64)) -> Vec<Stated> {
    match range {
        (150, 150) => vec![Stated::AllAbove(10_000.0)],
        (150, 155) => vec![Stated::Median(287.0)],
        (150, 200) => vec![Stated::Max(513.0)],
        (12, 24) => vec![Stated::Mean(35.0), Stated::Max(152.0)],
        _ => Vec::new(),
    }
}

/// The paper's lower bound on downtime for `range`: half the minimum timeout.
pub fn floor_ms(range: (u64, u64)) -> f64 {
    range.0 as f64 / 2.0
}
