//! The trait every protocol implements, and the inputs that drive it.
//!
//! Modelled on etcd-io/raft's `RawNode` (inputs in, a batch of intentions out) and
//! stateright's `Actor` (handlers push intentions into an output buffer and never act).
//! The harness owns all I/O: it delivers [`Input`]s one at a time, in the order it
//! chooses, with the current [`Time`], and carries out the [`Effect`]s in order.

use crate::effect::{Effect, Role};
use crate::quorum::Membership;
use crate::rng::DetRng;
use crate::timing::Timing;
use crate::types::{Command, NodeId, Time};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::hash::Hash;
use thiserror::Error;

/// Everything that can happen to a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Input<M, T> {
    /// The node (re)starts; called once, after [`Protocol::recover`].
    Start,
    /// A message arrived from peer `from`.
    Message { from: NodeId, msg: M },
    /// A timer set with [`Effect::SetTimer`] fired.
    Timer(T),
    /// A client submitted a command to this node.
    Client(Command),
    /// Every record persisted before the [`crate::Effect::SignalWhenDurable`] with this
    /// token (and so before every lower token) is durable.
    Durable(u64),
    /// The transport saw the connection to `peer` drop (a crash resets it; a silent
    /// partition does not). Protocols may use it as a failure hint or ignore it.
    PeerLost(NodeId),
}

/// The effects buffer a step appends to.
pub type Effects<P> =
    Vec<Effect<<P as Protocol>::Message, <P as Protocol>::Record, <P as Protocol>::Timer>>;

/// A protocol's input type.
pub type InputOf<P> = Input<<P as Protocol>::Message, <P as Protocol>::Timer>;

/// How to build one node.
#[derive(Clone, Debug)]
pub struct Setup {
    /// This node.
    pub id: NodeId,
    /// Who is in the cluster.
    pub membership: Membership,
    /// The run's shared timing settings.
    pub timing: Timing,
    /// This node's seeded random source.
    pub rng: DetRng,
    /// Emit [`crate::Event::Narrate`] explanations (teaching traces).
    pub narrate: bool,
}

impl Setup {
    /// Refuses a node that is not in the membership it was given (every protocol's
    /// `recover` starts with this).
    pub fn ensure_member(&self) -> Result<(), RecoveryError> {
        if self.membership.contains(self.id) {
            Ok(())
        } else {
            Err(RecoveryError::NotAMember(self.id))
        }
    }
}

/// A snapshot of a node's state for displays and checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The role it plays now.
    pub role: Role,
    /// Its leadership generation (see [`crate::Event`]).
    pub term: u64,
    /// Who it believes leads, if anyone.
    pub leader: Option<NodeId>,
    /// Highest index known committed.
    pub commit_index: u64,
    /// Highest index in its log.
    pub last_index: u64,
}

/// Why persisted records could not be turned back into a node.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecoveryError {
    /// The records contradict each other (a bug or a tampered log).
    #[error("inconsistent persisted state at record {record}: {reason}")]
    Inconsistent { record: usize, reason: String },
    /// The node is not in the membership it was given.
    #[error("node {0} is not a member of the configured cluster")]
    NotAMember(NodeId),
}

/// A consensus protocol as a deterministic state machine.
///
/// Contract:
/// - `step` never blocks, never reads a clock, never does I/O and draws randomness only
///   from the [`DetRng`] in its [`Setup`]. Same inputs, same effects.
/// - Nothing in a message may make `step` panic: malformed or stale messages are
///   ignored (and may be narrated).
/// - A node rebuilt by `recover` from every record it ever persisted behaves as the node
///   that persisted them would after a crash: it keeps every promise it made.
pub trait Protocol: Sized + Send + 'static {
    /// Short lower-case name used on the command line and in reports.
    const NAME: &'static str;
    /// Peer-to-peer message.
    type Message: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Durable record appended to the node's write-ahead log.
    type Record: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Timer name; one deadline per name.
    type Timer: Copy + Eq + Hash + Debug + Send + Sync + 'static;

    /// Builds a node from its setup and every record it persisted, oldest first
    /// (empty for a brand-new node).
    fn recover(setup: Setup, records: Vec<Self::Record>) -> Result<Self, RecoveryError>;

    /// Handles one input at time `now`, appending effects to `out`.
    fn step(&mut self, now: Time, input: InputOf<Self>, out: &mut Effects<Self>);

    /// The end of a batch (etcd-io/raft's `Ready` boundary): the host has stepped every
    /// input it had queued and is about to carry out their effects. A protocol sends
    /// here what it batched over those inputs (a leader's AppendEntries, PROPOSALs'
    /// durability mark and COMMITs, a follower's cumulative ACK, a Paxos leader's
    /// Accepts), so a burst of commands shares one message per peer. Every host calls
    /// it once after each batch, however it defines one: the runtime after draining its
    /// queues, the simulator and the test pumps after every input.
    fn end_of_batch(&mut self, now: Time, out: &mut Effects<Self>) {
        let _ = (now, out);
    }

    /// Current role, term, leader and indexes.
    fn status(&self) -> Status;

    /// How this protocol maps the shared [`Timing`] onto its own timers, as
    /// (setting, value) lines for reports and displays.
    fn timing_mapping(timing: &Timing) -> Vec<(String, String)> {
        let _ = timing;
        Vec::new()
    }

    /// A short name for a message's type ("AppendEntries", "PROPOSAL"), used to count
    /// messages and bytes per type.
    fn message_kind(msg: &Self::Message) -> &'static str;
}
