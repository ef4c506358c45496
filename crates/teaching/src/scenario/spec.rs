//! A validated scenario: what runs, in the protocol-neutral vocabulary of the file
//! format (documented in [`super`] and in `scenarios/README.md`); [`super::file`] reads
//! and checks the TOML.

use protocols::ProtocolKind;
use protocols::{NodeId, Time, Timing};
use sim::network::NetConfig;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The latest virtual time a scenario may run to (ten minutes): a guard against typos
/// in hand-written files, which would otherwise simulate heartbeats for ages.
pub const MAX_END_MS: u64 = 600_000;

/// The most client commands one `put` step may expand to.
pub const MAX_PUT_COUNT: u64 = 10_000;

/// Why a scenario cannot be loaded or run.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the expected shape.
    #[error("{0}")]
    Parse(String),
    /// The file is well-formed but says something impossible.
    #[error("{0}")]
    Invalid(String),
    /// A node's preloaded history cannot be built.
    #[error("history of node {node}: {source}")]
    Preload {
        /// The node.
        node: NodeId,
        /// Why.
        source: protocols::preload::PreloadError,
    },
}

/// A validated scenario, ready to run with any protocol.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// One-line title.
    pub name: String,
    /// What the scenario shows, printed before the timeline.
    pub description: Option<String>,
    /// The protocol the file was written for (`--protocol` may override it).
    pub protocol: Option<ProtocolKind>,
    /// Voting members, ids `1..=nodes`.
    pub nodes: u64,
    /// Seed of every random choice (network delays, randomized timeouts).
    pub seed: u64,
    /// Entries (Raft) or slots (Paxos) one replication message carries at most
    /// ([`protocols::Protocol::set_max_batch`]); `None`: the protocol's own cap.
    pub max_batch: Option<usize>,
    /// Paxos backs off for a random time after a lost ballot (`backoff = false` in the
    /// file switches it off, to show the dueling-proposers livelock).
    pub backoff: bool,
    /// Every directed link delivers in send order (`fifo = true`): a message that
    /// would overtake one sent earlier on its link waits for it, as on a TCP
    /// connection. Off, the network's own order stands.
    pub fifo: bool,
    /// Protocol timers.
    pub timing: Timing,
    /// Network behaviour.
    pub net: NetConfig,
    /// Initial durable history per node: `(generation, count)` pairs.
    pub histories: BTreeMap<NodeId, Vec<(u64, u64)>>,
    /// What happens, in time order (puts already expanded).
    pub steps: Vec<Step>,
    /// What must hold, in time order.
    pub expects: Vec<Expect>,
    /// When the run ends.
    pub end: Time,
}

/// One scheduled happening.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// When.
    pub at: Time,
    /// What.
    pub action: StepAction,
    /// The protocols the step runs with (`protocol = "raft"` in the file); empty: all.
    pub protocols: Vec<ProtocolKind>,
}

/// Which recipe a scenario client runs ([`znode::recipes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipeKind {
    /// Exclusive lock: the lowest sequential node holds; each waits on the one before.
    Lock,
    /// Exclusive lock whose waiters all watch the parent (the herd effect).
    HerdLock,
    /// Reader of a read/write lock.
    Read,
    /// Writer of a read/write lock.
    Write,
    /// Fair election: the exclusive lock's queue, the lowest leads.
    FairElection,
    /// Unfair election: race to create one ephemeral node.
    UnfairElection,
    /// Service registration (an ephemeral sequential node with an address).
    Register,
    /// Service discovery (a listing with a child watch).
    Discover,
}

impl RecipeKind {
    /// Every kind, by its name in scenario files.
    pub const ALL: [(&'static str, RecipeKind); 8] = [
        ("lock", RecipeKind::Lock),
        ("herd-lock", RecipeKind::HerdLock),
        ("read", RecipeKind::Read),
        ("write", RecipeKind::Write),
        ("fair-election", RecipeKind::FairElection),
        ("unfair-election", RecipeKind::UnfairElection),
        ("register", RecipeKind::Register),
        ("discover", RecipeKind::Discover),
    ];
}

/// A node named in a step: by id, or "whoever leads at that moment".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// This node.
    Node(NodeId),
    /// The running node that leads the highest term when the step runs.
    Leader,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum StepAction {
    /// Start nodes (from their durable records; also after a crash).
    Start(Vec<NodeId>),
    /// Kill nodes: volatile state lost, durable records kept.
    Crash(Vec<Target>),
    /// Kill nodes and start them again at once, from their durable records.
    Restart(Vec<Target>),
    /// Cut one node off from all others (silently: packets dropped).
    Isolate(Target),
    /// From now on, every sync of this node's log takes `sync` (until then its writes
    /// are not durable, and a crash loses them).
    SlowDisk {
        /// The node.
        node: Target,
        /// How long each sync takes.
        sync: std::time::Duration,
    },
    /// Split the network into groups that cannot talk to each other.
    Partition(Vec<Vec<NodeId>>),
    /// Reconnect everything.
    Heal,
    /// Ask the current leader to hand its leadership to node `to` (a planned failover:
    /// Raft's leadership transfer, ZAB's hand-over, Paxos's takeover).
    Transfer {
        /// The node that should lead next.
        to: NodeId,
    },
    /// A client sends `put key=value` to a node.
    Put {
        /// The node the client talks to.
        node: Target,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// A client sends `get key` to a node (answered by the run's read path: through
    /// the log, or from the node's own store with `reads = "local"`).
    Get {
        /// The node the client talks to.
        node: Target,
        /// The key.
        key: String,
    },
    /// Set the probability that the network loses a message.
    SetLoss(f64),
    /// A recipe client joins (ZooKeeper's recipes on the znode tree, which every
    /// node of a scenario with clients runs): it opens a session with the leader and
    /// runs `recipe` on `path`.
    Client {
        /// Its name in the timeline ("client 1").
        name: String,
        /// What it runs.
        recipe: RecipeKind,
        /// The lock's, election's or service's node ("/lock").
        path: String,
        /// How long it holds what it gets before releasing it (`None`: until it
        /// crashes or a `release` step).
        hold: Option<std::time::Duration>,
    },
    /// A recipe client crashes: it falls silent and its session will expire.
    CrashClient(String),
    /// A recipe client gives back what it holds.
    ReleaseClient(String),
    /// From now on, lose the messages of one kind (the protocol's name for it, as
    /// [`protocols::Protocol::message_kind`] gives it) sent from `from` to `to`; the
    /// link's other messages, and every message the other way, still arrive.
    Drop {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message kind.
        kind: String,
    },
    /// Stop dropping `kind` (every kind, if `None`) on the link from `from` to `to`.
    StopDrop {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message kind.
        kind: Option<String>,
    },
    /// From now on, the messages of `kind` from `from` to `to` arrive `extra` later
    /// than the network would deliver them.
    Delay {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message kind.
        kind: String,
        /// How much later.
        extra: std::time::Duration,
    },
    /// Stop delaying `kind` (every kind, if `None`) on the link from `from` to `to`
    /// (messages already delayed keep their new arrival time).
    StopDelay {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message kind.
        kind: Option<String>,
    },
    /// From now on, take the messages of `kind` from `from` to `to` off the network
    /// when they would arrive (at most `count` of them, if given), until a `Release`.
    Hold {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message kind.
        kind: String,
        /// How many messages to hold at most; `None`: every one until released.
        count: Option<u64>,
    },
    /// Deliver now the messages held on the link from `from` to `to` (of `kind`, or
    /// every kind), in the order they were held, and stop holding them.
    Release {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message kind.
        kind: Option<String>,
    },
}

/// Which node must lead when an expectation is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderIs {
    /// This node leads the highest term among running nodes.
    Node(NodeId),
    /// Some node leads.
    Any,
    /// No running node plays a leader role.
    Nobody,
    /// Some node leads, and not the one the previous expectation found leading.
    Changed,
}

/// A node's expected state, in one vocabulary for all protocols: `leader` also matches
/// ZAB's LEADING, `follower` FOLLOWING, `candidate` LOOKING (and each the other way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateIs {
    /// Not running.
    Down,
    /// Running, in any role.
    Up,
    /// Leader / LEADING.
    Leader,
    /// Follower / FOLLOWING.
    Follower,
    /// Candidate / LOOKING: taking part in an election.
    Electing,
    /// OBSERVING.
    Observer,
}

/// How many entries nodes must have delivered (applied), no-ops excluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveredIs {
    /// Every running node delivered this many.
    All(u64),
    /// Each listed node delivered this many (and is running).
    PerNode(BTreeMap<NodeId, u64>),
}

/// Checks made at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    /// When (after everything up to this instant has run, before steps of this instant).
    pub at: Time,
    /// Who leads.
    pub leader: Option<LeaderIs>,
    /// The leader's term / epoch / ballot, as the timeline prints it ("2", "3.1").
    pub term: Option<String>,
    /// These nodes follow the leader.
    pub following: Vec<NodeId>,
    /// Every running node other than the leader follows it.
    pub others_follow: bool,
    /// Per-node states.
    pub states: BTreeMap<NodeId, StateIs>,
    /// Delivered entries.
    pub delivered: Option<DeliveredIs>,
    /// The recipe clients that hold a lock, lead an election or are registered now,
    /// by name.
    pub holders: Option<Vec<String>>,
    /// Whether the clients' history so far (every scripted put and get, with what
    /// each got back) has a linearization.
    pub linearizable: Option<bool>,
    /// The protocols the expectation is checked with (`protocol = "zab"` in the file);
    /// empty: all.
    pub protocols: Vec<ProtocolKind>,
}

impl Scenario {
    /// Whether the scenario has recipe clients (its nodes then run the znode tree).
    pub fn has_clients(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.action, StepAction::Client { .. }))
    }

    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(&text)
            .map_err(|e| ScenarioError::Invalid(format!("{}: {e}", path.display())))
    }

    /// Parses and validates scenario TOML.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        super::file::parse(text)
    }

    /// Every member's id.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> {
        1..=self.nodes
    }

    /// The scenario as it runs with `protocol`: the steps and expectations that name
    /// another protocol left out (those that name none apply to all).
    pub fn for_protocol(&self, protocol: ProtocolKind) -> Scenario {
        let applies = |ps: &[ProtocolKind]| ps.is_empty() || ps.contains(&protocol);
        let mut s = self.clone();
        s.steps.retain(|st| applies(&st.protocols));
        s.expects.retain(|e| applies(&e.protocols));
        s
    }

    /// How many expectations are checked when the scenario runs with `protocol`.
    pub fn expects_for(&self, protocol: ProtocolKind) -> usize {
        self.for_protocol(protocol).expects.len()
    }
}
