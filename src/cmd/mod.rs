//! One module per subcommand, plus the settings they share.

pub mod bench;
pub mod client;
pub mod cluster;
pub mod compare;
pub mod exercise;
pub mod experiment;
pub mod lincheck;
pub mod nemesis;
pub mod node;
pub mod recipe_chaos;
pub mod recipes;
pub mod report;
pub mod serve;
pub mod sim;
pub mod summary;
pub mod zk;
pub mod zk_session;

use anyhow::Context;
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
    #[arg(long, value_enum, default_value_t = RaftTimerReset::Figure2)]
    pub raft_timer_reset: RaftTimerReset,
    /// Raft: run a pre-vote round before each election (thesis §9.6), so that a node
    /// back from a partition cannot raise the term and unseat a healthy leader.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub pre_vote: OnOff,
    /// Raft and Paxos: a leader that has not heard from a majority within the
    /// election timeout min steps down (thesis §9.6).
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub check_quorum: OnOff,
    /// How reads are served: log (through the log, like writes; every protocol), index
    /// (Raft ReadIndex, thesis §6.4), lease (Raft and Paxos leader leases, §6.4.1),
    /// local (any node answers from its own state: not linearizable), sync (ZAB:
    /// ZooKeeper's sync, then a local read).
    #[arg(long, value_enum, default_value_t = protocols::ReadPath::Log)]
    pub reads: protocols::ReadPath,
    /// Raft: snapshot the state machine every N applied entries and drop the log (and
    /// WAL segments) it covers; a follower too far behind is sent the snapshot
    /// (InstallSnapshot, §7). ZAB: the same with its history, and SNAP sync sends a
    /// learner below the compaction point the leader's snapshot in chunks. Paxos: snapshots every N
    /// applied slots, drops the chosen slots below the previous one and sends a lagging
    /// node the snapshot in pieces. 0 (the default) takes none.
    #[arg(long, default_value_t = 0)]
    pub snapshot_every: u64,
    /// The most image bytes one snapshot message carries (Raft's InstallSnapshot chunk,
    /// ZAB's SNAP chunk, Paxos's SnapshotChunk piece); a lagging node is sent the snapshot in pieces of
    /// this size, in order, each acknowledged (the peer transport's frames are capped
    /// at 16 MiB).
    #[arg(long, default_value_t = protocols::timing::DEFAULT_SNAPSHOT_CHUNK_BYTES)]
    pub snapshot_chunk_bytes: u64,
}

/// A setting that is on or off on the command line (`--pre-vote off`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    /// Whether it is on.
    pub fn on(self) -> bool {
        self == OnOff::On
    }
}

impl TimingArgs {
    /// The validated timing.
    pub fn timing(&self) -> anyhow::Result<Timing> {
        let (min, max) = drivers::bench::parse_range(&self.election_timeout)?;
        let t = Timing {
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            election_timeout_min: Duration::from_millis(min),
            election_timeout_max: Duration::from_millis(max),
            finalize_wait: Duration::from_millis(self.finalize_wait_ms),
            raft_timer_reset: self.raft_timer_reset,
            pre_vote: self.pre_vote.on(),
            check_quorum: self.check_quorum.on(),
            reads: self.reads,
            snapshot_every: self.snapshot_every,
            snapshot_chunk_bytes: self.snapshot_chunk_bytes,
            ..Timing::default()
        };
        t.validate().context("invalid timing")?;
        Ok(t)
    }
}

/// Refuses Redis Cluster where the workbench drives or measures one leader for every key
/// (the nemesis, Figure 16's election times, a node from a config file): its failover
/// is measured in process by `cwb bench --protocols redis` (its writers routed to every
/// master) and by `cwb sim --failover`, and it runs on loopback TCP under
/// `cwb cluster --protocol redis`. (`cwb node` reads no Redis settings from its config
/// file, and the nemesis picks its faults and routes its clients by one leader.)
pub fn refuse_redis(protocol: protocols::ProtocolKind, command: &str) -> anyhow::Result<()> {
    if protocol.is_consensus() {
        return Ok(());
    }
    anyhow::bail!(
        "`cwb {command}` drives one leader for every key and does not run Redis Cluster: \
         measure its failover with `cwb bench --protocols redis --measure kill,isolate,lost` \
         or `cwb sim --protocol redis --failover kill|isolate`, \
         watch it with `cwb cluster --protocol redis --nodes 6`"
    )
}
