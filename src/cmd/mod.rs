//! One module per subcommand, plus the settings they share.

pub mod bench;
pub mod client;
pub mod cluster;
pub mod compare;
pub mod lincheck;
pub mod node;
pub mod report;
pub mod sim;
pub mod summary;

use anyhow::{bail, Context};
use protocols::{RaftTimerReset, Timing};
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
    /// Raft: does a message with a higher term restart a follower's election timeout?
    /// `figure2` (the paper: only AppendEntries from the leader and a granted vote do)
    /// or `etcd` (every step down to follower does).
    #[arg(long, default_value = "figure2", value_parser = parse_raft_timer_reset)]
    pub raft_timer_reset: RaftTimerReset,
}

pub(crate) fn parse_raft_timer_reset(name: &str) -> Result<RaftTimerReset, String> {
    RaftTimerReset::parse(name).ok_or_else(|| format!("{name:?}: expected figure2 or etcd"))
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
            raft_timer_reset: self.raft_timer_reset,
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

/// Now, as an RFC 3339 UTC timestamp (no external time crate needed).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Cores, CPU model, kernel and host name of this machine.
pub fn machine() -> reports::results::Machine {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let cpu_model = read("/proc/cpuinfo")
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    reports::results::Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        cpu_model,
        kernel: read("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
        hostname: read("/proc/sys/kernel/hostname"),
    }
}

/// The git commit of the working directory, if it is a git checkout.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_look_like_rfc3339() {
        let t = super::now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(
            t.starts_with("20") && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{t}"
        );
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(super::parse_range("150-300").expect("valid"), (150, 300));
        assert_eq!(super::parse_range("150").expect("valid"), (150, 150));
        assert!(super::parse_range("300-150").is_err());
        assert!(super::parse_range("abc").is_err());
    }
}
