//! The trait every protocol implements, and the inputs that drive it.
//!
//! Modelled on etcd-io/raft's `RawNode` (inputs in, a batch of intentions out) and
//! stateright's `Actor` (handlers push intentions into an output buffer and never act).
//! The harness owns all I/O: it delivers [`Input`]s one at a time, in the order it
//! chooses, with the current [`Time`], and carries out the [`Effect`]s in order.

use crate::effect::{Effect, Event, Role};
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
    /// A client submitted a read-only command to this node, to be served by the run's
    /// read path ([`crate::Timing::reads`], [`crate::read`]): the protocol answers
    /// with [`crate::Effect::ServeRead`] or [`crate::Effect::Reject`]. Hosts send reads
    /// as [`Input::Client`] under [`crate::read::ReadPath::Log`]; a protocol handed a
    /// read under that path puts it through its log.
    Read(Command),
    /// Every record persisted before the [`crate::Effect::SignalWhenDurable`] with this
    /// token (and so before every lower token) is durable.
    Durable(u64),
    /// The transport saw the connection to `peer` drop (a crash resets it; a silent
    /// partition does not). Protocols may use it as a failure hint or ignore it.
    PeerLost(NodeId),
    /// A person (or a bench) asks this node, if it leads, to hand its leadership to
    /// `to` (a planned failover: Raft thesis §3.10's leadership transfer, and its
    /// equivalents for ZAB and Paxos, see each protocol's `transfer` module). A node
    /// that does not lead, or a target that cannot lead, makes it a narrated no-op.
    /// Nothing answers it: the new leader's election events tell when it happened.
    TransferLeadership {
        /// The node that should lead next.
        to: NodeId,
    },
    /// The snapshot asked for with [`crate::Effect::TakeSnapshot`] is stored durably
    /// ([`crate::snapshot`]); protocols that take no snapshots ignore it.
    SnapshotTaken(crate::Snapshot),
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
///
/// A protocol implements the hooks [`Protocol::handle`] and
/// [`Protocol::handle_end_of_batch`]; hosts call the provided [`Protocol::step`] and
/// [`Protocol::end_of_batch`], which wrap them and derive [`Event::RoleChanged`] in one
/// place (see [`Protocol::step`]). Protocols never emit `RoleChanged` themselves.
pub trait Protocol: Sized + Send + 'static {
    /// Short lower-case name used on the command line and in reports.
    const NAME: &'static str;
    /// Peer-to-peer message.
    type Message: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Durable record appended to the node's write-ahead log.
    type Record: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Timer name; one deadline per name.
    type Timer: Copy + Eq + Hash + Debug + Send + Sync + 'static;

    /// Whether every node applies one shared sequence of commands (Raft's log, ZAB's
    /// history, Paxos's slots): true for the consensus protocols, the default. False
    /// for Redis Cluster, whose masters each own a replication stream over their hash
    /// slots: a node's [`crate::Effect::Apply`] indexes are then its own stream's
    /// offsets, the cross-node check of one applied sequence does not apply, and an
    /// `Apply` at index 1 on a node that applied before means a full resynchronisation:
    /// the host starts that node's state machine afresh.
    const SHARED_LOG: bool = true;

    /// Builds a node from its setup and every record it persisted, oldest first
    /// (empty for a brand-new node).
    fn recover(setup: Setup, records: Vec<Self::Record>) -> Result<Self, RecoveryError>;

    /// The protocol's handler for one input at time `now`: appends its effects to
    /// `out`. Hosts call [`Protocol::step`] instead.
    fn handle(&mut self, now: Time, input: InputOf<Self>, out: &mut Effects<Self>);

    /// Handles one input at time `now`, appending effects to `out`: what
    /// [`Protocol::handle`] appends, preceded by [`Event::RoleChanged`] when
    /// [`Protocol::role_term`] differs after the input from before it (as etcd-io/raft
    /// diffs its `SoftState` on every `Ready`). Only the role and term the step ends in
    /// are reported: a step that passes through several roles (a single voter that
    /// campaigns and wins at once) reports the last. [`Input::Start`] always reports
    /// the role the node starts in. The event comes first among the step's effects, so
    /// it precedes the `LeaderElected` or `LeaderReady` of the same step; every event
    /// of a batch is released together (see [`crate::gate`]), so its position does not
    /// change when it becomes visible. Not meant to be overridden.
    fn step(&mut self, now: Time, input: InputOf<Self>, out: &mut Effects<Self>) {
        let before = match input {
            Input::Start => None,
            _ => Some(self.role_term()),
        };
        let first = out.len();
        self.handle(now, input, out);
        report_role_change(before, self.role_term(), first, out);
    }

    /// The protocol's handler for the end of a batch (see [`Protocol::end_of_batch`]);
    /// does nothing by default.
    fn handle_end_of_batch(&mut self, now: Time, out: &mut Effects<Self>) {
        let _ = (now, out);
    }

    /// Caps the log entries (Raft) or slots (Paxos) one replication message carries, at
    /// least one; protocols without such a batch (ZAB sends one PROPOSAL per
    /// transaction) ignore it. Small caps make a lagging node catch up over many round
    /// trips, as the Raft paper's figures step through logs (Figure 8), and the chaos
    /// sweeps run some seeds that way.
    fn set_max_batch(&mut self, _entries: usize) {}

    /// Gives a protocol that routes commands by key (Redis Cluster's hash slots) the
    /// state machine's reader of a command's key; protocols that replicate one log
    /// ignore it. Every host calls it right after [`Protocol::recover`], as it calls
    /// [`Protocol::set_max_batch`].
    fn route_by_key(&mut self, _key_of: fn(&bytes::Bytes) -> Option<bytes::Bytes>) {}

    /// Redis Cluster's WAIT-like option: a master answers a write only once `replicas`
    /// of its replicas acknowledged it (0: asynchronously, at once). Protocols that
    /// answer only committed writes ignore it. Hosts call it right after
    /// [`Protocol::recover`] when an option asks for it.
    fn acknowledge_after_replicas(&mut self, _replicas: usize) {}

    /// Switches the random back-off after a lost ballot off (`false`) or on (`true`,
    /// the default), for teaching the dueling-proposers livelock ("Paxos Made Simple"
    /// §2.4): without it a pre-empted proposer retries at once with a higher ballot.
    /// Only Paxos backs off this way (Raft's randomized election timeout is its own
    /// tie-breaker and stays); the others ignore it. Only the simulator calls it.
    fn set_backoff(&mut self, _on: bool) {}

    /// Switches on a known bug ([`crate::bugs`]) for teaching; returns whether this
    /// protocol has it (a bug of another protocol is refused with `false`). Only the
    /// simulator calls it, right after [`Protocol::recover`], as it calls
    /// [`Protocol::set_max_batch`]; normal runs never do, so every bug stays off.
    fn inject_bug(&mut self, _bug: crate::bugs::Bug) -> bool {
        false
    }

    /// The end of a batch (etcd-io/raft's `Ready` boundary): the host has stepped every
    /// input it had queued and is about to carry out their effects. A protocol sends
    /// here what it batched over those inputs (a leader's AppendEntries, PROPOSALs'
    /// durability mark and COMMITs, a follower's cumulative ACK, a Paxos leader's
    /// Accepts), so a burst of commands shares one message per peer. Every host calls
    /// it once after each batch, however it defines one: the runtime after draining its
    /// queues, the simulator and the test pump after every input. Runs
    /// [`Protocol::handle_end_of_batch`] and reports a role change as
    /// [`Protocol::step`] does (none of the three protocols changes role here). Not
    /// meant to be overridden.
    fn end_of_batch(&mut self, now: Time, out: &mut Effects<Self>) {
        let before = self.role_term();
        let first = out.len();
        self.handle_end_of_batch(now, out);
        report_role_change(Some(before), self.role_term(), first, out);
    }

    /// Current role, term, leader and indexes.
    fn status(&self) -> Status;

    /// Starts a recovered node from a stored snapshot (the newest valid one), after
    /// [`Protocol::recover`] and before [`Input::Start`]: the host has restored its
    /// state machine from the same image, so the node resumes applying after
    /// `snapshot.index`. A protocol refuses an image that does not fit its log (then
    /// the host tries an older one). Protocols that take no snapshots refuse all.
    fn restore_snapshot(&mut self, snapshot: &crate::Snapshot) -> Result<(), RecoveryError> {
        Err(RecoveryError::Inconsistent {
            record: 0,
            reason: format!(
                "{} takes no snapshots, so cannot start from one at index {}",
                Self::NAME,
                snapshot.index
            ),
        })
    }

    /// The index of the first entry this node's log still holds after compaction minus
    /// one (0: nothing compacted): a recovered node whose log starts after 0 needs a
    /// snapshot to start from ([`Protocol::restore_snapshot`]).
    fn log_start(&self) -> u64 {
        0
    }

    /// The role this node plays and the term [`Event::RoleChanged`] reports with it;
    /// [`Protocol::step`] reports every change of either. Defaults to the role and term
    /// of [`Protocol::status`]; a protocol whose `RoleChanged` term is not its status
    /// term (ZAB's is the epoch the role was taken in) overrides it.
    fn role_term(&self) -> (Role, u64) {
        let s = self.status();
        (s.role, s.term)
    }

    /// The wait a failover's election phase contains by this protocol's design, after
    /// the failure is detected: ZAB's finalize wait (FastLeaderElection waits that long
    /// for a better vote once a quorum agrees). Zero for protocols whose timeout ends in
    /// the detection phase (Raft's election timeout, Paxos's failure timeout), the
    /// default. Reports subtract it to tell harness overhead from protocol design.
    fn election_phase_wait(timing: &Timing) -> std::time::Duration {
        let _ = timing;
        std::time::Duration::ZERO
    }

    /// How this protocol maps the shared [`Timing`] onto its own timers, as
    /// (setting, value) lines for reports and displays.
    fn timing_mapping(timing: &Timing) -> Vec<(String, String)> {
        let _ = timing;
        Vec::new()
    }

    /// A short name for a message's type ("AppendEntries", "PROPOSAL"), used to count
    /// messages and bytes per type.
    fn message_kind(msg: &Self::Message) -> &'static str;

    /// A one-line human form of `msg` for traces (`RequestVote term 2, last entry 9@1`);
    /// `command` renders a client command it carries. The three protocols give their
    /// [`crate::Describe`] form; the default is the Debug text.
    fn message_text(msg: &Self::Message, command: &dyn Fn(&crate::Command) -> String) -> String {
        let _ = command;
        format!("{msg:?}")
    }

    /// A timer's name in words for traces (`election timeout`): its Debug name with
    /// the words split (`ElectionTimeout` becomes `election timeout`).
    fn timer_text(timer: &Self::Timer) -> String {
        crate::describe::words(&format!("{timer:?}"))
    }

    /// What this protocol calls a leadership generation ("term", "epoch", "ballot"):
    /// the word every display of an [`Event`] uses ([`crate::event_text`]).
    const GENERATION: &'static str = "term";

    /// A generation as this protocol writes it: a number, or a Paxos ballot as
    /// `round.node` rather than its packed `u64`.
    fn show_generation(generation: u64) -> String {
        generation.to_string()
    }
}

/// Puts `RoleChanged { after }` at `first`, the start of one step's effects, unless the
/// node played `before` already.
fn report_role_change<M, R, T>(
    before: Option<(Role, u64)>,
    after: (Role, u64),
    first: usize,
    out: &mut Vec<Effect<M, R, T>>,
) {
    if before != Some(after) {
        let (role, term) = after;
        out.insert(first, Effect::Event(Event::RoleChanged { role, term }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Output;

    /// A protocol whose every message names the role and term to take (and, when the
    /// term is 99, a second role first), and whose end of batch steps up to leader.
    struct Toy {
        role: Role,
        term: u64,
        lead_at_end_of_batch: bool,
    }

    impl Protocol for Toy {
        const NAME: &'static str = "toy";
        type Message = (Role, u64);
        type Record = ();
        type Timer = ();

        fn recover(_: Setup, _: Vec<()>) -> Result<Toy, RecoveryError> {
            Ok(Toy {
                role: Role::Follower,
                term: 0,
                lead_at_end_of_batch: false,
            })
        }

        fn handle(&mut self, _: Time, input: InputOf<Toy>, out: &mut Effects<Toy>) {
            out.persist(());
            if let Input::Message {
                msg: (role, term), ..
            } = input
            {
                if term == 99 {
                    self.role = Role::Candidate;
                }
                (self.role, self.term) = (role, term);
                out.event(Event::LeaderElected { term });
            }
        }

        fn handle_end_of_batch(&mut self, _: Time, out: &mut Effects<Toy>) {
            if std::mem::take(&mut self.lead_at_end_of_batch) {
                self.role = Role::Leader;
                out.send(2, (Role::Leader, self.term));
            }
        }

        fn status(&self) -> Status {
            Status {
                role: self.role,
                term: self.term,
                leader: None,
                commit_index: 0,
                last_index: 0,
            }
        }

        fn message_kind(_: &(Role, u64)) -> &'static str {
            "toy"
        }
    }

    fn role_changes(out: &Effects<Toy>) -> Vec<(usize, Role, u64)> {
        out.iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Effect::Event(Event::RoleChanged { role, term }) => Some((i, *role, *term)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn step_reports_each_change_of_role_or_term_once_first_among_its_effects() {
        let setup = Setup {
            id: 1,
            membership: crate::Membership::voters([1, 2]),
            timing: crate::Timing::default(),
            rng: DetRng::new(1),
            narrate: false,
        };
        let mut toy = Toy::recover(setup, Vec::new()).expect("recovers");
        let step = |toy: &mut Toy, input| {
            let mut out = vec![Effect::Persist(())]; // an earlier step of the batch
            toy.step(Time::ZERO, input, &mut out);
            out
        };
        let msg = |role, term| Input::Message {
            from: 2,
            msg: (role, term),
        };
        // Start always reports the role the node starts in.
        let out = step(&mut toy, Input::Start);
        assert_eq!(role_changes(&out), [(1, Role::Follower, 0)]);
        // No change: no report.
        let out = step(&mut toy, msg(Role::Follower, 0));
        assert_eq!(role_changes(&out), []);
        // A new term in the same role is reported, before the step's other events.
        let out = step(&mut toy, msg(Role::Follower, 3));
        assert_eq!(role_changes(&out), [(1, Role::Follower, 3)]);
        // A step through two roles (candidate, then leader) reports only the last.
        let out = step(&mut toy, msg(Role::Leader, 99));
        assert_eq!(role_changes(&out), [(1, Role::Leader, 99)]);
        // The end of a batch is diffed too.
        step(&mut toy, msg(Role::Follower, 100));
        toy.lead_at_end_of_batch = true;
        let mut out = Vec::new();
        toy.end_of_batch(Time::ZERO, &mut out);
        assert_eq!(role_changes(&out), [(0, Role::Leader, 100)]);
        toy.end_of_batch(Time::ZERO, &mut out);
        assert_eq!(role_changes(&out).len(), 1);
    }
}
