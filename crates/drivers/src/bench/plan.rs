//! What one benchmark run measures: protocols, sizes, measures, workload, timers.

use protocols::{ProtocolKind, Timing};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use storage::FsyncPolicy;
use thiserror::Error;

/// One kind of measurement.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Cold-start elections.
    Election,
    /// Failover after the leader's process is killed.
    Kill,
    /// Failover after the leader is silently isolated.
    Isolate,
    /// Planned failover: the leader hands its leadership to another node (Raft's
    /// leadership transfer, ZAB's hand-over, Paxos's takeover); timed from the request
    /// to the new leader's first acknowledged write.
    Transfer,
    /// Closed-loop commit throughput and latency.
    Throughput,
    /// Acknowledged writes lost per failover under a load of writers, after a kill
    /// and after an isolation, with the linearizability checker's verdict on the
    /// clients' history (`drivers::loaded`); Redis Cluster once per
    /// [`Plan::wait_replicas`] setting. In-process clusters only.
    Lost,
    /// ZooKeeper's recipes on the znode state machine, in the simulator: lock
    /// hand-over after the holder's crash (session expiry) and after the consensus
    /// leader's crash, and notifications per hand-over (herd against predecessor
    /// watch). Run by `cwb bench` beside the matrix, not inside it.
    Recipes,
    /// Catch-up of a follower isolated while [`SnapshotPlan::catchup_entries`]
    /// entries commit, healed; without snapshots and with them
    /// (`bench::snapshots`). In-process clusters only.
    Catchup,
    /// Recovery of a follower restarted with a log of each of
    /// [`SnapshotPlan::recovery_entries`] entries, without snapshots and with them.
    Recovery,
    /// Writes at full throughput for the plan's duration with the plan's snapshot
    /// interval, resident memory and disk use sampled.
    Soak,
    /// Commit latency of one client with each node in turn leading, moved there by
    /// planned transfers, for the plan's duration each (`drivers::placement`): on a
    /// network model with regions, what the leader's region costs.
    Placement,
}

/// What a timeout sweep varies; each setting runs [`Plan::trials`] cold elections,
/// and as many kill and isolate failovers when the plan measures those.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// Raft's election-timeout range; Paxos's failure timeout and back-off (ms).
    ElectionTimeout(Vec<(u64, u64)>),
    /// ZAB's finalize wait (ms).
    FinalizeWait(Vec<u64>),
    /// ZAB's `maxNotificationInterval` (ms): the cap of the notification timeout,
    /// which doubles from the finalize wait while no vote arrives.
    NotificationTimeout(Vec<u64>),
    /// Paxos's back-off: how many lost campaigns in a row double the next
    /// campaign's timeout at most (0: no back-off growth).
    BackoffDoublings(Vec<u32>),
}

impl Sweep {
    /// How many settings it runs.
    pub fn settings(&self) -> usize {
        match self {
            Sweep::ElectionTimeout(v) => v.len(),
            Sweep::FinalizeWait(v) => v.len(),
            Sweep::NotificationTimeout(v) => v.len(),
            Sweep::BackoffDoublings(v) => v.len(),
        }
    }
}

/// Why a benchmark run could not be made.
#[derive(Debug, Error)]
pub enum BenchError {
    /// A local resource failed (temporary directory, baseline measurement).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The timer settings cannot run.
    #[error("invalid timing: {0}")]
    Timing(#[from] protocols::timing::TimingError),
    /// A sweep setting is not a valid timing with the run's other timers.
    #[error("sweep setting {label} is not a valid timing with heartbeat {heartbeat_ms} ms")]
    SweepSetting {
        /// The setting as written.
        label: String,
        /// The run's heartbeat.
        heartbeat_ms: u128,
    },
    /// A `--sweep` or range argument that does not parse.
    #[error("{0}")]
    Syntax(String),
}

/// One run of the matrix.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Protocols, in report order.
    pub protocols: Vec<ProtocolKind>,
    /// Cluster sizes.
    pub nodes: Vec<u64>,
    /// Trials per election and failover measure.
    pub trials: u32,
    /// What to measure.
    pub measure: Vec<Measure>,
    /// Closed-loop client counts for throughput.
    pub clients: Vec<u32>,
    /// Value size in bytes (keys are 8 bytes) of every measure's writes.
    pub value_bytes: usize,
    /// Value sizes the throughput points are measured at, each with every client
    /// count (`cwb bench --value-bytes 64,1024,65536`); empty: `value_bytes` only.
    pub value_sizes: Vec<usize>,
    /// Throughput warm-up, not counted.
    pub warmup: Duration,
    /// Throughput counted period.
    pub duration: Duration,
    /// Throughput rounds (the median round is reported).
    pub rounds: u32,
    /// Percent of throughput operations that are reads (0: writes only).
    pub read_percent: u32,
    /// WAL durability.
    pub fsync: FsyncPolicy,
    /// Protocol timers.
    pub timing: Timing,
    /// An optional timeout sweep.
    pub sweep: Option<Sweep>,
    /// Run each node as a `node` process of this executable instead of in-process.
    pub processes: Option<PathBuf>,
    /// TLS on both ports of every node, to measure its cost against a run without.
    pub tls: Option<runtime::tls::LoopbackTls>,
    /// The network model every trial's cluster runs over (`None`: plain loopback).
    pub net: Option<netmodel::NetModel>,
    /// The command line that asked for the run, recorded in the results.
    pub command_line: String,
    /// Redis Cluster's WAIT-like settings the `lost` measure runs (0: asynchronous
    /// replication); the consensus protocols run it once.
    pub wait_replicas: Vec<u32>,
    /// One connection per closed-loop client instead of
    /// [`crate::workload::CLIENTS_PER_CONNECTION`] clients to a connection: the shape
    /// the clients of ZooKeeper and etcd have, for a run that compares with them.
    pub connection_per_client: bool,
    /// With `processes`: every node in a network namespace of its own with its own
    /// address on a bridge ([`crate::netns`]), the clients in the root namespace.
    pub namespaces: bool,
    /// The sizes of the log-compaction measures (catch-up, recovery).
    pub snapshots: super::snapshots::SnapshotPlan,
}

impl Plan {
    /// The value sizes of the throughput points: [`Self::value_sizes`], or
    /// [`Self::value_bytes`] alone.
    pub fn throughput_values(&self) -> Vec<usize> {
        if self.value_sizes.is_empty() {
            vec![self.value_bytes]
        } else {
            self.value_sizes.clone()
        }
    }

    /// Steps the progress display counts: one per trial and per throughput round.
    pub fn planned_steps(&self) -> u64 {
        self.protocols
            .iter()
            .map(|&p| self.nodes.len() as u64 * self.steps_per_size(p))
            .sum()
    }

    /// Steps of one protocol at one cluster size.
    fn steps_per_size(&self, protocol: ProtocolKind) -> u64 {
        let trials = u64::from(self.trials);
        let lost_settings = if protocol.is_consensus() {
            1
        } else {
            self.wait_replicas.len().max(1) as u64
        };
        self.measure
            .iter()
            .map(|m| match m {
                Measure::Throughput => {
                    (self.clients.len() * self.throughput_values().len()) as u64
                        * u64::from(self.rounds)
                }
                Measure::Lost => 2 * trials * lost_settings,
                // Counted once per protocol by `snapshots::steps`.
                Measure::Catchup | Measure::Recovery | Measure::Soak => 0,
                Measure::Placement => 1,
                _ => trials,
            })
            .sum::<u64>()
            + match &self.sweep {
                // Each setting: cold elections, and the kills and isolations measured.
                Some(sweep) => {
                    let failovers = [Measure::Kill, Measure::Isolate]
                        .iter()
                        .filter(|m| self.measure.contains(m))
                        .count() as u64;
                    sweep.settings() as u64 * trials * (1 + failovers)
                }
                None => 0,
            }
    }
}

/// Parses "150-300" (or "150" for a fixed value) into milliseconds.
pub fn parse_range(s: &str) -> Result<(u64, u64), BenchError> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let bad = || BenchError::Syntax(format!("bad timeout range {s:?}: expected MIN-MAX in ms"));
    let min: u64 = a.trim().parse().map_err(|_| bad())?;
    let max: u64 = b.trim().parse().map_err(|_| bad())?;
    if min > max {
        return Err(BenchError::Syntax(format!(
            "election timeout min ({min} ms) is greater than max ({max} ms)"
        )));
    }
    Ok((min, max))
}

impl FromStr for Sweep {
    type Err = BenchError;

    /// `election-timeout=150-151,150-155` or `finalize-wait=50,100,200`.
    fn from_str(s: &str) -> Result<Sweep, BenchError> {
        let (key, values) = s
            .split_once('=')
            .ok_or_else(|| BenchError::Syntax("--sweep takes KEY=V1,V2,...".into()))?;
        let values: Vec<&str> = values
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        match key.trim() {
            "election-timeout" => Ok(Sweep::ElectionTimeout(
                values
                    .iter()
                    .map(|v| parse_range(v))
                    .collect::<Result<_, _>>()?,
            )),
            "finalize-wait" => Ok(Sweep::FinalizeWait(numbers(&values, "finalize wait")?)),
            "notification-timeout" => Ok(Sweep::NotificationTimeout(numbers(
                &values,
                "notification timeout",
            )?)),
            "backoff-doublings" => Ok(Sweep::BackoffDoublings(numbers(
                &values,
                "back-off doublings",
            )?)),
            other => Err(BenchError::Syntax(format!(
                "unknown sweep {other:?}: expected election-timeout, finalize-wait, \
                 notification-timeout or backoff-doublings"
            ))),
        }
    }
}

/// Every value of a sweep list as a number, or the first that is not one.
fn numbers<T: FromStr>(values: &[&str], what: &str) -> Result<Vec<T>, BenchError> {
    values
        .iter()
        .map(|v| {
            v.parse()
                .map_err(|_| BenchError::Syntax(format!("bad {what} {v:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("150-300").expect("valid"), (150, 300));
        assert_eq!(parse_range("150").expect("valid"), (150, 150));
        assert!(parse_range("300-150").is_err());
        assert!(parse_range("abc").is_err());
    }

    #[test]
    fn sweeps_parse_and_unknown_keys_are_refused() {
        assert_eq!(
            "election-timeout=150-151, 150-300"
                .parse::<Sweep>()
                .expect("valid"),
            Sweep::ElectionTimeout(vec![(150, 151), (150, 300)])
        );
        assert_eq!(
            "finalize-wait=50,200".parse::<Sweep>().expect("valid"),
            Sweep::FinalizeWait(vec![50, 200])
        );
        assert_eq!(
            "notification-timeout=400,3200"
                .parse::<Sweep>()
                .expect("valid"),
            Sweep::NotificationTimeout(vec![400, 3200])
        );
        assert_eq!(
            "backoff-doublings=0,3".parse::<Sweep>().expect("valid"),
            Sweep::BackoffDoublings(vec![0, 3])
        );
        assert!("backoff-doublings=-1".parse::<Sweep>().is_err());
        assert!("heartbeat=5".parse::<Sweep>().is_err());
        assert!("election-timeout".parse::<Sweep>().is_err());
    }
}
