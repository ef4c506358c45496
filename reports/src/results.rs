//! The results schema: what one `cwb bench` run measured, written as ONE JSON file and
//! read back by `cwb report`. The measures follow the definitions of docs/DESIGN.md ("Fair
//! comparison rules"): election latency (cold start to leader ready, and to leader
//! elected), failover decomposed into detection, election, recovery and first commit,
//! commit throughput with latency percentiles, and message counts.
//!
//! The file carries [`SCHEMA_VERSION`]; [`load`] checks it before reading anything
//! else, so a file from another version fails with a clear error instead of a
//! confusing "missing field".

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::summary::Summary;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Resolution of duration summaries: samples in milliseconds, histogram in microseconds.
pub const MS_UNIT_SCALE: f64 = 1000.0;

/// Everything one benchmark run measured, with the settings needed to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Schema version of this file; always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// When the run started, RFC 3339 (given by the caller; this crate reads no clock).
    pub created: String,
    /// The machine the run was measured on.
    pub machine: Machine,
    /// Git commit of the workbench that ran the benchmark, when known.
    #[serde(default)]
    pub git_commit: Option<String>,
    /// The settings of the run: protocols, sizes, timing, workload.
    pub settings: Settings,
    /// Lower bounds measured in the same run (loopback round trip, fsync).
    pub baseline: Baseline,
    /// One entry per (protocol, cluster size) measured.
    #[serde(default)]
    pub runs: Vec<ProtocolRun>,
    /// The log-compaction measures (catch-up, recovery, soak), when run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<crate::snapshots::SnapshotBench>,
}

/// The machine a run was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Number of CPU cores available to the run.
    pub cores: u32,
    /// CPU model name (e.g. from /proc/cpuinfo).
    pub cpu_model: String,
    /// Operating system kernel release.
    pub kernel: String,
    /// Host name, when the user agreed to record it.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// How cluster nodes were hosted during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// All nodes as tokio tasks in one process, real TCP on loopback.
    InProcess,
    /// One OS process per node.
    MultiProcess,
    /// Nodes started elsewhere (`cwb bench --config`), measured over the network from
    /// the host that ran the bench ([`Settings::remote`]).
    Remote,
}

impl Mode {
    /// The name used in the JSON file and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::InProcess => "in-process",
            Mode::MultiProcess => "multi-process",
            Mode::Remote => "remote",
        }
    }
}

/// The settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Protocols measured ("raft", "zab", "paxos").
    pub protocols: Vec<String>,
    /// Cluster sizes measured.
    pub cluster_sizes: Vec<usize>,
    /// Trials per election or failover measure.
    pub trials: u32,
    /// How the nodes were hosted.
    pub mode: Mode,
    /// The fsync policy of the write-ahead log (e.g. "always", "batch 2ms", "never").
    pub fsync: String,
    /// The shared timing vocabulary, set once for all protocols.
    pub timing: Timing,
    /// How the shared timing maps onto each protocol's own parameters:
    /// protocol -> parameter -> value with unit (e.g. "zab" -> "tickTime" -> "50 ms").
    #[serde(default)]
    pub protocol_timing: BTreeMap<String, BTreeMap<String, String>>,
    /// Closed-loop client counts measured for throughput.
    #[serde(default)]
    pub clients: Vec<u32>,
    /// Size of each written value in bytes.
    pub value_bytes: u64,
    /// Size of each key in bytes.
    pub key_bytes: u64,
    /// Warm-up before a throughput measurement starts, in milliseconds.
    pub warmup_ms: u64,
    /// Length of one throughput measurement, in milliseconds.
    pub duration_ms: u64,
    /// Percent of throughput operations that were reads (`cwb bench --read-ratio`);
    /// 0 (writes only) in older files.
    #[serde(default)]
    pub read_percent: u32,
    /// The command line that produced this file.
    pub command_line: String,
    /// The network model the clusters ran over (`cwb bench --net`); none: loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// The cluster measured, when it was started elsewhere (`cwb bench --config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Remote>,
}

/// A cluster of nodes started elsewhere, as the measuring host saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remote {
    /// The config file the nodes were started with.
    pub config: String,
    /// Every node's client address: node id -> address.
    pub nodes: BTreeMap<String, String>,
    /// How the run was timed: events stamped on arrival at the measuring host's
    /// clock; the nodes' clocks never read.
    pub clock: String,
    /// Every crash the kill measure carried out: a process exit seen, and the
    /// supervisor's restart.
    pub crashes: Vec<RemoteCrash>,
    /// Events the nodes dropped from a stream this host did not read fast enough
    /// (0: every event arrived).
    pub events_lost: u64,
}

/// One crash of a remote node on command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteCrash {
    /// The node.
    pub node: u64,
    /// Its event stream ended right after the command: the process exited.
    pub exited: bool,
    /// It answered again as a new process (a different incarnation).
    pub restarted: bool,
    /// From the crash command to the restarted node's subscription, in ms.
    pub back_after_ms: Option<f64>,
}

/// The network model of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// The profile's or file's name.
    pub name: String,
    /// One line: mean one-way delay, loss, bandwidth, regions.
    pub description: String,
}

/// The shared timing vocabulary (docs/DESIGN.md: "One timing vocabulary").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Leader heartbeat interval, in milliseconds.
    pub heartbeat_ms: u64,
    /// Lower end of the randomized election / failure-detection timeout, in milliseconds.
    pub election_timeout_min_ms: u64,
    /// Upper end of the randomized election / failure-detection timeout, in milliseconds.
    pub election_timeout_max_ms: u64,
    /// ZAB's finalize wait after a quorum of votes agree, in milliseconds.
    pub finalize_wait_ms: u64,
    /// Raft: what restarts a follower's election timeout: "figure2" (AppendEntries from
    /// the current leader or a granted vote) or "etcd" (also any higher term). Files
    /// written before the setting existed ran etcd's rule.
    #[serde(default = "etcd_timer_reset")]
    pub raft_timer_reset: String,
    /// Raft PreVote (thesis §9.6). Files written before the setting existed ran
    /// without it.
    #[serde(default)]
    pub pre_vote: bool,
    /// Raft and Paxos leaders step down without a quorum (thesis §9.6). Files written
    /// before the setting existed ran without it.
    #[serde(default)]
    pub check_quorum: bool,
    /// How reads were served ("log", "index", "lease", "local", "sync";
    /// `protocols::read`). Files written before the setting existed read through the
    /// log.
    #[serde(default = "log_reads")]
    pub reads: String,
    /// Entries applied between two snapshots (log compaction; 0: none). Files written
    /// before the setting existed took none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub snapshot_every: u64,
    /// The most image bytes one snapshot message carried (Raft's InstallSnapshot chunk,
    /// Paxos's piece). Files written before it was recorded ran with 1 MiB.
    #[serde(default = "one_mib")]
    pub snapshot_chunk_bytes: u64,
}

fn one_mib() -> u64 {
    1 << 20
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn log_reads() -> String {
    "log".to_string()
}

fn etcd_timer_reset() -> String {
    "etcd".to_string()
}

/// Lower bounds measured in the same run, to read the protocol numbers against.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Loopback TCP round trip of a small message, in microseconds.
    pub loopback_rtt_us: Summary,
    /// One WAL append followed by fsync, in microseconds.
    pub fsync_us: Summary,
    /// The same append and fsync made by one writer per node at once, for each cluster
    /// size of the run: the nodes of an in-process cluster share one disk. Empty in
    /// files written before it was measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub concurrent_fsync: Vec<ConcurrentFsync>,
}

/// [`Baseline::concurrent_fsync`] for one number of writers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConcurrentFsync {
    /// Writers at once (a cluster size), each appending to its own file.
    pub writers: usize,
    /// Every writer's append + fsync, in microseconds.
    pub latency_us: Summary,
}

/// Everything measured for one protocol at one cluster size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolRun {
    /// Protocol name ("raft", "zab", "paxos").
    pub protocol: String,
    /// Number of voting nodes in the cluster.
    pub nodes: usize,
    /// Cold start to a leader READY to commit (docs/DESIGN.md's election latency).
    #[serde(default)]
    pub election: Option<Measure>,
    /// Cold start to a leader ELECTED (before it is ready).
    #[serde(default)]
    pub elected: Option<Measure>,
    /// Failover after the leader's process is killed (peers see connections reset).
    #[serde(default)]
    pub failover_kill: Option<Failover>,
    /// Failover after the leader is silently isolated (packets dropped).
    #[serde(default)]
    pub failover_isolate: Option<Failover>,
    /// Planned failover: from the request that the leader hand its leadership to
    /// another node to the new leader's first acknowledged write.
    #[serde(default)]
    pub failover_transfer: Option<Failover>,
    /// Commit throughput at each client count / value size measured.
    #[serde(default)]
    pub throughput: Vec<ThroughputPoint>,
    /// Messages exchanged per committed operation and per election, by kind.
    #[serde(default)]
    pub messages: MessageCounts,
    /// Election latency under other timeout settings (the Raft paper's Figure 16 sweep).
    #[serde(default)]
    pub sweep: Vec<SweepPoint>,
    /// Resident memory (VmRSS, unit "kB") of each node process about a second after a
    /// cold-start election settled, one sample per node. Multi-process runs only;
    /// `None` when not measured (in-process runs, files from older builds).
    #[serde(default)]
    pub idle_rss_kb: Option<Measure>,
    /// Extra election rounds per cold start (unit "rounds"): Raft terms lost to a split
    /// vote, Paxos ballots pre-empted in a duel, ZAB elections started over. `None`
    /// when not measured.
    #[serde(default)]
    pub election_extra_rounds: Option<Measure>,
    /// How late the nodes' timers that waited 1 ms or more (election timeouts,
    /// heartbeats, finalize waits) fired after their deadline, in microseconds, over
    /// every election and failover trial: time the harness adds to the protocol's own
    /// timers. Absent from multi-process runs and from older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_lateness_us: Option<Summary>,
    /// The wait, in ms, that this protocol's election phase contains by design after a
    /// failure is detected (ZAB's finalize wait; 0 for Raft and Paxos), as the protocol
    /// itself states it. Absent from older files, read as 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub election_phase_wait_ms: Option<f64>,
    /// Acknowledged writes lost per failover under a load of writers, with the
    /// linearizability checker's verdict on the clients' history: one entry per fault
    /// and replication setting (Redis Cluster: asynchronous and WAIT-like). Empty when
    /// not measured and in older files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_writes: Vec<LostWrites>,
    /// A failover's phases in the protocol's own words where the shared decomposition
    /// folds several into one (Redis Cluster: PFAIL, FAIL, the replica learning it,
    /// the election delay, the vote), one entry per fault. Empty when not measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_steps: Vec<FailoverSteps>,
    /// Commit latency with each node in turn leading (`cwb bench --measure
    /// placement`): one entry per leader. Empty when not measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement: Vec<Placement>,
}

/// Commit latency of one closed-loop client writing to the leader, with one node
/// leading (docs/METHOD.md, "Leader placement").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The leader while the client wrote.
    pub leader: u64,
    /// Its region in the network model, if the model has regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Writes acknowledged in the counted period.
    pub ops: u64,
    /// Writes that failed in the counted period (timed out or refused).
    #[serde(default)]
    pub errors: u64,
    /// Client-observed commit latency, in microseconds.
    pub latency_us: Summary,
}

impl ProtocolRun {
    /// A run of `protocol` at `nodes` nodes with nothing measured yet.
    pub fn new(protocol: &str, nodes: usize) -> ProtocolRun {
        ProtocolRun {
            protocol: protocol.to_string(),
            nodes,
            election: None,
            elected: None,
            failover_kill: None,
            failover_isolate: None,
            failover_transfer: None,
            throughput: Vec::new(),
            messages: MessageCounts::default(),
            sweep: Vec::new(),
            idle_rss_kb: None,
            election_extra_rounds: None,
            timer_lateness_us: None,
            election_phase_wait_ms: None,
            lost_writes: Vec::new(),
            failover_steps: Vec::new(),
            placement: Vec::new(),
        }
    }

    /// CPU per committed operation at the point the message counts come from (the
    /// largest client count), total and system, in µs: what the report's cost table
    /// and `cwb bench`'s cost line show.
    pub fn cpu_at_counted_point(&self) -> (Option<f64>, Option<f64>) {
        let clients = self
            .messages
            .per_op_clients
            .or_else(|| self.throughput.iter().map(|t| t.clients).max());
        self.throughput
            .iter()
            .filter(|t| Some(t.clients) == clients)
            .find(|t| t.cpu_us_per_op.is_some())
            .map_or((None, None), |t| (t.cpu_us_per_op, t.cpu_system_us_per_op))
    }
}

/// Acknowledged writes lost to one kind of failover under load (docs/METHOD.md,
/// "Acknowledged writes lost"): every write goes to a key of its own, and after the
/// failover every key is read back from the surviving cluster; an acknowledged write
/// whose key reads back empty is lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostWrites {
    /// The fault: "kill" or "isolate".
    pub failure: String,
    /// Redis Cluster's WAIT-like setting (a master answers once this many replicas
    /// have the write; 0: asynchronous replication); `None` for the consensus
    /// protocols, which acknowledge after a quorum by design.
    #[serde(default)]
    pub wait_replicas: Option<u32>,
    /// Writes acknowledged per trial (unit "writes").
    pub acknowledged: Measure,
    /// Of those, lost per trial (unit "writes").
    pub lost: Measure,
    /// Fault -> the first write acknowledged on the failed node's keys, per trial (ms).
    pub failover: Measure,
    /// Trials whose history the checker found linearizable.
    pub linearizable: u32,
    /// Trials whose history it found not linearizable.
    pub not_linearizable: u32,
    /// Trials it could not decide within its limits.
    pub undecided: u32,
    /// Trials that produced no sample (no failover in time, fault not verified).
    pub trials_discarded: u32,
}

impl LostWrites {
    /// The checker's verdict over every trial, in one word: "yes" (all linearizable),
    /// "no" (at least one was not), "undecided", or "none" when no trial ran.
    pub fn verdict(&self) -> &'static str {
        if self.not_linearizable > 0 {
            "no"
        } else if self.undecided > 0 {
            "undecided"
        } else if self.linearizable > 0 {
            "yes"
        } else {
            "none"
        }
    }

    /// "async", "WAIT 1" or "quorum" (the consensus protocols).
    pub fn replication(&self) -> String {
        match self.wait_replicas {
            None => "quorum".into(),
            Some(0) => "async".into(),
            Some(n) => format!("WAIT {n}"),
        }
    }
}

/// One failover's steps in the protocol's own words, each measured per trial (ms)
/// from the end of the step before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailoverSteps {
    /// The fault: "kill" or "isolate".
    pub failure: String,
    /// The steps in order: name and duration.
    pub steps: Vec<(String, Measure)>,
}

/// A measured quantity: its raw samples (one per trial) and their summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// Unit of the samples: "ms" for durations (f64 milliseconds), "rounds" for counts.
    pub unit: String,
    /// Raw samples, one per trial, in measurement order.
    pub samples: Vec<f64>,
    /// Summary of `samples`.
    pub summary: Summary,
}

impl Measure {
    /// A duration measure from samples in milliseconds (summary at microsecond resolution).
    pub fn from_ms(samples: Vec<f64>) -> Measure {
        let summary = Summary::from_samples(&samples, MS_UNIT_SCALE);
        Measure {
            unit: "ms".to_string(),
            samples,
            summary,
        }
    }

    /// A memory measure from samples in kilobytes ("kB"), summarised at 1 kB.
    pub fn from_kb(samples: Vec<f64>) -> Measure {
        let summary = Summary::from_samples(&samples, 1.0);
        Measure {
            unit: "kB".to_string(),
            samples,
            summary,
        }
    }

    /// A count measure (e.g. extra election rounds per trial) in the given unit.
    pub fn from_counts(unit: &str, samples: Vec<f64>) -> Measure {
        let summary = Summary::from_samples(&samples, MS_UNIT_SCALE);
        Measure {
            unit: unit.to_string(),
            samples,
            summary,
        }
    }
}

/// One failover experiment (crash or isolate the leader), decomposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failover {
    /// Leader loss -> a follower notices (timeout fires or connection reset seen).
    pub detection: Measure,
    /// Detection -> a new leader is elected.
    pub election: Measure,
    /// Elected -> ready (Raft: first entry of the term committed; ZAB: sync done;
    /// Paxos: in-flight slots re-proposed).
    pub recovery: Measure,
    /// Ready -> first client write committed by the new leader.
    pub first_commit: Measure,
    /// Leader loss -> first client write committed by the new leader.
    pub total: Measure,
    /// Window in which clients saw no write commit (client-observed unavailability).
    pub unavailability: Measure,
    /// Extra election rounds per failover (unit "rounds"), among the surviving nodes:
    /// Raft terms lost to a split vote or to a candidate that could not win, Paxos
    /// ballots pre-empted, ZAB elections started over. `None` in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_rounds: Option<Measure>,
    /// Trials thrown away because the fault could not be verified as injected.
    pub trials_discarded: u32,
}

/// Commit throughput and latency at one workload point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputPoint {
    /// Closed-loop clients.
    pub clients: u32,
    /// Bytes per written value.
    pub value_bytes: u64,
    /// fsync policy in force for this point.
    pub fsync: String,
    /// Length of the measurement window, in milliseconds.
    pub duration_ms: f64,
    /// Operations committed in the window.
    pub ops: u64,
    /// Committed operations per second.
    pub ops_per_sec: f64,
    /// Client-observed commit latency, in microseconds.
    pub latency_us: Summary,
    /// Client requests that failed (timed out or rejected) in the window.
    pub errors: u64,
    /// Ops/s of every round this point was measured in (`cwb bench --rounds`), lowest
    /// first; the fields above are the median round's. Empty in older files.
    #[serde(default)]
    pub rounds_ops_per_sec: Vec<f64>,
    /// CPU time (user + system) of every node and client during the median round's
    /// counted window, divided by its committed operations, in microseconds: what one
    /// operation costs the machine, harness included. `None` in older files or where it
    /// could not be read.
    #[serde(default)]
    pub cpu_us_per_op: Option<f64>,
    /// Of `cpu_us_per_op`, the system (kernel) time: syscalls, page faults, the
    /// loopback's packet path. `None` in older files or where it could not be read.
    #[serde(default)]
    pub cpu_system_us_per_op: Option<f64>,
    /// Of `ops`, the reads (`cwb bench --read-ratio`); 0 in a write-only run and in
    /// older files.
    #[serde(default)]
    pub reads: u64,
    /// Latency of the reads alone, in microseconds, when there were reads.
    #[serde(default)]
    pub read_latency_us: Option<Summary>,
    /// Latency of the writes alone, when the run mixed reads and writes.
    #[serde(default)]
    pub write_latency_us: Option<Summary>,
}

impl ThroughputPoint {
    /// Lowest and highest ops/s over the rounds, when measured in two or more.
    pub fn rounds_range(&self) -> Option<(f64, f64)> {
        let r = &self.rounds_ops_per_sec;
        (r.len() >= 2).then(|| {
            (
                r.iter().copied().fold(f64::INFINITY, f64::min),
                r.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        })
    }
}

/// Messages sent, by message kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageCounts {
    /// Messages per committed operation in steady state, by kind.
    #[serde(default)]
    pub per_op: BTreeMap<String, f64>,
    /// Bytes on the wire per committed operation, by kind.
    #[serde(default)]
    pub bytes_per_op: BTreeMap<String, f64>,
    /// Messages per election (cold start to ready), by kind.
    #[serde(default)]
    pub per_election: BTreeMap<String, f64>,
    /// Records appended to the WAL per committed operation, all nodes together (the
    /// same point as `per_op`). Absent from files written before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_records_per_op: Option<f64>,
    /// WAL fsyncs (fdatasync) per committed operation, all nodes together: how well
    /// group commit batches. Absent from files written before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_syncs_per_op: Option<f64>,
    /// `write` calls on WAL segment files per committed operation, all nodes together
    /// (buffer flushes and preallocation). Absent from older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_writes_per_op: Option<f64>,
    /// Socket writes (`send` calls that wrote bytes) on peer connections per committed
    /// operation, all nodes together. Absent from older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_writes_per_op: Option<f64>,
    /// Socket reads (`recv` calls that returned data) on peer connections per
    /// committed operation, all nodes together. Absent from older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_reads_per_op: Option<f64>,
    /// Socket writes on the nodes' client connections (answers) per committed
    /// operation. Absent from older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_writes_per_op: Option<f64>,
    /// Socket reads on the nodes' client connections (requests) per committed
    /// operation. Absent from older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_reads_per_op: Option<f64>,
    /// The client count of the throughput point that the per-op figures above come
    /// from (the largest one measured). Absent from files written before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_op_clients: Option<u32>,
}

/// Election latency under one election-timeout setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The setting, as printed (e.g. "150-155" for a 150 to 155 ms timeout range).
    pub setting: String,
    /// Election latency (cold start -> ready) at this setting.
    pub election_ms: Measure,
    /// Split votes (Raft) or extra rounds (ZAB, Paxos) per trial.
    pub split_votes_or_extra_rounds: Measure,
    /// Trials run at this setting.
    pub trials: u32,
    /// Kill-the-leader failover (kill -> first commit) at this setting, when the run
    /// measured kills. Absent from files written before sweeps measured failovers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_ms: Option<Measure>,
    /// Isolate-the-leader failover (isolation -> first commit) at this setting, when
    /// the run measured isolations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolate_ms: Option<Measure>,
    /// Extra election rounds (split votes, duels, restarted elections) per kill
    /// failover at this setting; absent from older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_rounds: Option<Measure>,
    /// Extra election rounds per isolate failover at this setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolate_rounds: Option<Measure>,
}

/// Reads a results file, checking its schema version before anything else.
pub fn load(path: impl AsRef<Path>) -> Result<Results, ReportError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ReportError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    let found = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| ReportError::MissingSchemaVersion {
            path: path.to_path_buf(),
            supported: SCHEMA_VERSION,
        })?;
    if found != u64::from(SCHEMA_VERSION) {
        return Err(ReportError::UnsupportedSchemaVersion {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    serde_json::from_value(value).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a results file as pretty JSON. The file is written beside its final name
/// and renamed into place, so a crash never leaves a half-written results file.
pub fn save(results: &Results, path: impl AsRef<Path>) -> Result<(), ReportError> {
    let path = path.as_ref();
    let text = serde_json::to_string_pretty(results).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let mut temp_name = path.as_os_str().to_owned();
    temp_name.push(".tmp");
    let temp = std::path::PathBuf::from(temp_name);
    std::fs::write(&temp, text + "\n").map_err(|e| ReportError::io(&temp, e))?;
    std::fs::rename(&temp, path).map_err(|e| ReportError::io(path, e))
}

impl Results {
    /// Reads a results file; see [`load`].
    pub fn load(path: impl AsRef<Path>) -> Result<Results, ReportError> {
        load(path)
    }

    /// Writes this results file; see [`save`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ReportError> {
        save(self, path)
    }

    /// The run of `protocol` at `nodes`, if measured.
    pub fn run(&self, protocol: &str, nodes: usize) -> Option<&ProtocolRun> {
        self.runs
            .iter()
            .find(|r| r.protocol == protocol && r.nodes == nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_match_the_json() {
        assert_eq!(
            serde_json::to_string(&Mode::InProcess).unwrap(),
            "\"in-process\""
        );
        assert_eq!(
            serde_json::to_string(&Mode::MultiProcess).unwrap(),
            "\"multi-process\""
        );
        assert_eq!(Mode::MultiProcess.as_str(), "multi-process");
    }

    #[test]
    fn measure_from_ms_keeps_samples_and_summarises() {
        let m = Measure::from_ms(vec![3.0, 1.0, 2.0]);
        assert_eq!(m.unit, "ms");
        assert_eq!(m.samples, vec![3.0, 1.0, 2.0]);
        assert_eq!(m.summary.count, 3);
        assert_eq!(m.summary.p50, 2.0);
    }

    #[test]
    fn idle_memory_is_optional_in_version_1_files() {
        let run = ProtocolRun {
            idle_rss_kb: Some(Measure::from_kb(vec![7100.0, 7300.0, 7200.0])),
            ..ProtocolRun::new("raft", 3)
        };
        let mut value = serde_json::to_value(&run).unwrap();
        assert_eq!(value["idle_rss_kb"]["unit"], "kB");
        // HdrHistogram keeps 3 significant digits: 7200 kB reads back within 0.1%.
        let p50 = value["idle_rss_kb"]["summary"]["p50"].as_f64().unwrap();
        assert!((7200.0..7208.0).contains(&p50), "{p50}");
        let back: ProtocolRun = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(back, run);
        // A file written before the field existed still reads: "not measured".
        value.as_object_mut().unwrap().remove("idle_rss_kb");
        let old: ProtocolRun = serde_json::from_value(value).unwrap();
        assert_eq!(old.idle_rss_kb, None);
    }

    #[test]
    fn the_concurrent_fsync_baseline_is_optional_in_version_1_files() {
        let summary = Summary {
            count: 600,
            p50: 210.0,
            ..Summary::default()
        };
        let baseline = Baseline {
            concurrent_fsync: vec![ConcurrentFsync {
                writers: 3,
                latency_us: summary,
            }],
            ..Baseline::default()
        };
        let mut value = serde_json::to_value(&baseline).unwrap();
        assert_eq!(value["concurrent_fsync"][0]["writers"], 3);
        let back: Baseline = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(back, baseline);
        // A file written before the field existed still reads: nothing measured.
        value.as_object_mut().unwrap().remove("concurrent_fsync");
        let old: Baseline = serde_json::from_value(value).unwrap();
        assert!(old.concurrent_fsync.is_empty());
        assert!(serde_json::to_value(&old)
            .unwrap()
            .get("concurrent_fsync")
            .is_none());
    }

    #[test]
    fn a_file_without_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "{\"runs\": []}").unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, ReportError::MissingSchemaVersion { .. }));
        assert!(err.to_string().contains("r.json"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, ReportError::Json { .. }));
        assert!(err.to_string().contains("broken.json"), "{err}");
    }
}
