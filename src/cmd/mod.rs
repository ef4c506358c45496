//! One module per subcommand, plus the settings they share.

pub mod client;
pub mod cluster;
pub mod node;
pub mod sim;

use anyhow::{bail, Context};
use protocols::Timing;
use std::time::Duration;

/// Timer settings shared by every subcommand that runs a protocol.
#[derive(clap::Args, Debug, Clone)]
pub struct TimingArgs {
    /// Leader heartbeat interval (ms). ZAB: tickTime.
    #[arg(long, default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// Failure-detection (election) timeout range in ms, MIN-MAX; Raft re-draws
    /// uniformly from it on every reset.
    #[arg(long, default_value = "150-300")]
    pub election_timeout: String,
    /// ZAB FastLeaderElection finalize wait (ms).
    #[arg(long, default_value_t = 200)]
    pub finalize_wait_ms: u64,
}

impl TimingArgs {
    /// The validated timing.
    pub fn timing(&self) -> anyhow::Result<Timing> {
        let (min, max) = parse_range(&self.election_timeout)?;
        let t = Timing {
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            election_timeout_min: Duration::from_millis(min),
            election_timeout_max: Duration::from_millis(max),
            finalize_wait: Duration::from_millis(self.finalize_wait_ms),
        };
        t.validate().context("invalid timing")?;
        Ok(t)
    }
}

/// Parses "150-300" (or "150" for a fixed value) into milliseconds.
pub fn parse_range(s: &str) -> anyhow::Result<(u64, u64)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let min: u64 = a
        .trim()
        .parse()
        .with_context(|| format!("bad timeout range {s:?}: expected MIN-MAX in ms"))?;
    let max: u64 = b
        .trim()
        .parse()
        .with_context(|| format!("bad timeout range {s:?}: expected MIN-MAX in ms"))?;
    if min > max {
        bail!("election timeout min ({min} ms) is greater than max ({max} ms)");
    }
    Ok((min, max))
}
