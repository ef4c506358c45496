//! Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm",
//! USENIX ATC 2014), with randomized election timeouts.
//!
//! What is implemented, by paper section:
//! - §5.1 terms; step down on any message with a higher term.
//! - §5.2 leader election: randomized timeout re-drawn on every reset, reset only as
//!   Figure 2's follower rule says (AppendEntries from the current leader, a granted
//!   vote), not by a higher term ([`crate::RaftTimerReset`]; etcd's rule is a setting)
//!   ([`crate::Timing`] `election_timeout_min..=max`, default 150-300 ms), at most one
//!   vote per term, candidates vote for themselves ([`election`]).
//! - §5.3 log replication: AppendEntries with the consistency check and conflict
//!   truncation, pipelined, batched, heartbeats every `Timing::heartbeat`
//!   ([`replication`], [`log`]).
//! - §5.4.1 the up-to-date check on votes; §5.4.2 a leader only counts replicas for
//!   entries of its own term, and commits earlier ones indirectly.
//! - §8 a leader appends a no-op at the start of its term; it is [`crate::Event::LeaderReady`]
//!   once that no-op is committed.
//! - Figure 2 "persistent state": `currentTerm`, `votedFor` and the log go through
//!   [`crate::Effect::Persist`] before any reply that depends on them.
//! - Thesis §10.2.1 "write to its disk in parallel": the leader sends AppendEntries
//!   ([`crate::Effect::SendAhead`]) while its own copy is still being written, and counts
//!   itself toward a quorum only up to the index its log reports durable
//!   ([`crate::Input::Durable`]).
//!
//! - Thesis §9.6 "Preventing disruptions when a server rejoins the cluster", as etcd
//!   runs it, each a setting and on by default: PreVote ([`crate::Timing::pre_vote`],
//!   [`prevote`]): a node whose election timeout fires first asks whether a majority
//!   would vote for it at the next term, without changing its own term, and only then
//!   campaigns; a server refuses a pre-vote while it has heard from a leader within the
//!   minimum election timeout. CheckQuorum ([`crate::Timing::check_quorum`],
//!   [`check_quorum`]): a leader not heard from by a majority within the minimum
//!   election timeout steps down, and a server that heard from a leader that recently
//!   ignores RequestVotes of a higher term (etcd's `inLease`).
//!
//! - Thesis §6.4 read paths ([`crate::Timing::reads`], [`crate::read`]): ReadIndex
//!   ([`read_index`]), leader leases (§6.4.1, [`lease`]), local reads, or through the log.
//!
//! - §7 log compaction ([`snapshot`], off unless [`crate::Timing::snapshot_every`] is
//!   set) with InstallSnapshot sent in chunks (Figure 13, [`install`]).
//!
//! Not implemented (and not part of §5): membership changes (§6). Observers in the membership are
//! replicated to as non-voting learners (thesis §4.2.1) and never campaign.
//!
//! After a restart the commit index is volatile (Figure 2), so a recovered node applies
//! nothing until a leader tells it what is committed; the harness rebuilds its state
//! machine from the `Apply` effects that follow, starting again at index 1.

pub mod check_quorum;
mod describe;
pub mod election;
pub mod install;
pub mod lease;
pub mod log;
mod preload;
pub mod prevote;
pub mod read_index;
pub mod replication;
pub mod snapshot;
pub mod transfer;

use crate::bugs::Bug;
use crate::durable::DurableMarks;
use crate::effect::{ClientError, Event, Role};
use crate::node::{Effects, Input, InputOf, Protocol, RecoveryError, Setup, Status};
use crate::output::Output;
use crate::timing::RaftTimerReset;
use crate::types::{NodeId, Time};
use log::{Entry, RaftLog};
use replication::Progress;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Raft term (§5.1).
pub type Term = u64;

/// The RPCs of Figure 2, as one-way messages (the reply is a message of its own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftMessage {
    /// Candidate asks for a vote.
    RequestVote {
        /// Candidate's term.
        term: Term,
        /// Index of the candidate's last log entry.
        last_log_index: u64,
        /// Term of the candidate's last log entry.
        last_log_term: Term,
    },
    /// Thesis §3.10 / etcd's `campaignTransfer`: a RequestVote sent by the target of a
    /// leadership transfer. Voters treat it as a RequestVote, except that the
    /// CheckQuorum lease does not make them ignore it (the leader asked for it).
    TransferVote {
        /// Candidate's term.
        term: Term,
        /// Index of the candidate's last log entry.
        last_log_index: u64,
        /// Term of the candidate's last log entry.
        last_log_term: Term,
    },
    /// Thesis §3.10: the leader tells the transfer target, now as up to date as itself,
    /// to start an election at once (etcd's `MsgTimeoutNow`).
    TimeoutNow {
        /// Leader's term.
        term: Term,
    },
    /// Answer to RequestVote.
    RequestVoteResponse {
        /// Voter's current term, for the candidate to update itself.
        term: Term,
        /// True means the candidate received the vote.
        granted: bool,
    },
    /// Thesis §9.6: "would you vote for me at `term`?", sent by a node whose election
    /// timeout fired, at its term plus one, before it changes its own term. No
    /// receiver adopts `term` from it or records anything.
    PreVote {
        /// The term the sender would campaign in (its own term plus one).
        term: Term,
        /// Index of the sender's last log entry.
        last_log_index: u64,
        /// Term of the sender's last log entry.
        last_log_term: Term,
    },
    /// Answer to PreVote. Granted: `term` is the PreVote's (a term in the pre-candidate's
    /// future, which it must not adopt). Refused: the refuser's current term.
    PreVoteResponse {
        /// See above.
        term: Term,
        /// True means the refuser would vote for the sender.
        granted: bool,
    },
    /// Leader replicates entries (empty: heartbeat).
    AppendEntries {
        /// Leader's term.
        term: Term,
        /// Index of the entry immediately preceding the new ones.
        prev_log_index: u64,
        /// Term of that entry.
        prev_log_term: Term,
        /// Entries to store (empty for a heartbeat).
        entries: Vec<Entry>,
        /// Leader's commit index.
        leader_commit: u64,
    },
    /// Answer to AppendEntries.
    AppendEntriesResponse {
        /// Follower's current term.
        term: Term,
        /// True if the follower matched `prev_log_index`/`prev_log_term`.
        success: bool,
        /// On success: the last index the follower now shares with the leader.
        /// On failure: the index the leader should try next.
        index: u64,
        /// On failure: the `prev_log_index` of the refused AppendEntries, so the leader
        /// can tell the refusal of what it sent last from a stale one (as etcd-io/raft's
        /// rejected index beside its hint); 0 on success.
        rejected: u64,
    },
    /// Thesis §6.4: a leader's round of heartbeats that confirms it still leads, for
    /// ReadIndex and lease reads ([`read_index`], [`lease`]). A follower of `term`
    /// treats it as a heartbeat (it restarts its election timeout and trusts the
    /// leader's lease) and acknowledges it.
    ReadProbe {
        /// Leader's term.
        term: Term,
        /// The leader's round number ([`crate::read::ReadRounds`]).
        round: u64,
    },
    /// Answer to ReadProbe: the follower's term, and the round it acknowledges.
    ReadProbeAck {
        /// Follower's current term.
        term: Term,
        /// The round acknowledged.
        round: u64,
    },
    /// §7, the extended paper's Figure 13: one chunk of the leader's snapshot, for a
    /// follower that needs entries the leader compacted away ([`install`]). The chunks
    /// of one image go in order, each at most [`crate::Timing::snapshot_chunk_bytes`].
    InstallSnapshot {
        /// Leader's term.
        term: Term,
        /// The image's last included index (Figure 13's `lastIncludedIndex`).
        last_index: u64,
        /// The term of that entry (`lastIncludedTerm`).
        last_term: Term,
        /// The whole image's size in bytes, so that a follower can refuse one too
        /// large before it buffers any of it.
        size: u64,
        /// Byte offset of `data` in the image.
        offset: u64,
        /// The chunk's bytes.
        data: bytes::Bytes,
        /// True for the last chunk.
        done: bool,
    },
    /// Answer to an InstallSnapshot chunk: the follower's term, and how much of the
    /// image it holds.
    InstallSnapshotResponse {
        /// Follower's current term.
        term: Term,
        /// The last included index of the image answered about (0: refused, the
        /// leader's term is stale).
        last_index: u64,
        /// The bytes of that image the follower holds in order: the offset it expects
        /// next (0: it holds none, start again).
        next_offset: u64,
        /// True once the follower holds everything up to `last_index` (the image is
        /// installed, or was applied already).
        done: bool,
    },
    /// Thesis §3.10 as etcd runs it (`MsgTransferLeader` sent on by a follower): a
    /// follower asked to transfer leadership hands the request to the leader it
    /// follows ([`transfer`]).
    TransferLeader {
        /// The follower's term: a leader of another term ignores the request.
        term: Term,
        /// The server that is to lead next.
        to: NodeId,
    },
}

/// What a Raft node writes to its write-ahead log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftRecord {
    /// `currentTerm` and `votedFor` (Figure 2).
    HardState {
        /// The term.
        term: Term,
        /// Who got our vote in that term.
        voted_for: Option<NodeId>,
    },
    /// Entries written starting at `first_index`; anything at or after `first_index`
    /// in the log before this record is deleted (conflict truncation, §5.3).
    Entries {
        /// Index of the first entry.
        first_index: u64,
        /// The entries.
        entries: Vec<Entry>,
    },
    /// The start of a compacted log (§7, [`snapshot`]): it replaces every record before
    /// it. The log holds nothing up to `start` (a snapshot covers it); the `Entries`
    /// that follow continue it.
    Base {
        /// The last index compacted into a snapshot.
        start: u64,
        /// The term of the entry at `start`.
        start_term: Term,
        /// `currentTerm` when the base was written.
        term: Term,
        /// `votedFor` in that term.
        voted_for: Option<NodeId>,
    },
}

/// Raft's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RaftTimer {
    /// Follower/candidate: no leader heard from; start an election (§5.2).
    Election,
    /// Leader: time to send heartbeats (and, with CheckQuorum, to check that a
    /// majority answered within the election timeout).
    Heartbeat,
}

/// Per-role volatile state.
#[derive(Debug)]
enum RoleState {
    Follower,
    /// Thesis §9.6: asking for pre-votes at `term + 1` without having changed term.
    PreCandidate {
        votes: Vec<NodeId>,
    },
    Candidate {
        votes: Vec<NodeId>,
        /// Voters that refused us this term (their own narration says why).
        refused: Vec<NodeId>,
    },
    Leader {
        progress: BTreeMap<NodeId, Progress>,
        /// CheckQuorum: when each follower last answered in this term.
        heard: BTreeMap<NodeId, Time>,
        ready: bool,
        noop_index: u64,
        /// Our own `matchIndex`: the last index of our log known durable here.
        durable_index: u64,
        /// A leadership transfer under way (thesis §3.10, [`transfer`]).
        transfer: Option<transfer::Transfer>,
    },
}

/// One Raft server.
#[derive(Debug)]
pub struct Raft {
    /// Identity, membership, timing, randomness, narration flag.
    setup: Setup,
    /// Latest term this server has seen (persistent).
    term: Term,
    /// Candidate voted for in `term` (persistent).
    voted_for: Option<NodeId>,
    /// The log (persistent).
    log: RaftLog,
    /// Highest index known committed (volatile).
    commit_index: u64,
    /// Highest index handed to the state machine (volatile).
    last_applied: u64,
    /// Who we believe leads `term`.
    leader: Option<NodeId>,
    /// Role-specific state.
    role: RoleState,
    /// Log indexes waiting for our own copy to be durable (leader only).
    durable_marks: DurableMarks<u64>,
    /// Client commands were appended since the last end of batch (leader only).
    unflushed: bool,
    /// Entries one AppendEntries carries at most ([`replication::MAX_BATCH`] unless set).
    max_batch: usize,
    /// The time of the input being handled (PreVote's lease, CheckQuorum).
    now: Time,
    /// When an AppendEntries from `leader` last reached us (volatile).
    leader_heard_at: Option<Time>,
    /// A known bug switched on for teaching ([`crate::bugs`]); `None` in every normal run.
    bug: Option<Bug>,
    /// Leader: rounds of leadership confirmation for reads, of the current term.
    read_rounds: crate::read::ReadRounds,
    /// Leader: reads waiting for a confirmed round and an applied index.
    reads: crate::read::PendingReads,
    /// The newest snapshot stored here (§7): sent to followers that need entries the
    /// log no longer holds.
    snapshot: Option<crate::Snapshot>,
    /// When to ask for the next snapshot ([`crate::Timing::snapshot_every`]).
    schedule: crate::snapshot::SnapshotSchedule,
    /// Follower: the chunks of a leader's image received so far ([`install`]).
    incoming: Option<install::Incoming>,
}

impl Raft {
    /// Our id.
    pub fn id(&self) -> NodeId {
        self.setup.id
    }

    /// Current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The log, for invariant checks and displays.
    pub fn log(&self) -> &RaftLog {
        &self.log
    }

    /// Highest committed index known here.
    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }

    /// The role this server plays now.
    pub fn role(&self) -> Role {
        match self.role {
            // A pre-candidate has changed neither term nor vote and still follows any
            // leader that reaches it; etcd names the state, here it stays a follower.
            RoleState::Follower | RoleState::PreCandidate { .. } => Role::Follower,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::Leader { .. } => Role::Leader,
        }
    }

    fn persist_hard_state(&self, out: &mut Effects<Self>) {
        out.persist(RaftRecord::HardState {
            term: self.term,
            voted_for: self.voted_for,
        });
    }

    fn reset_election_timer(&mut self, out: &mut Effects<Self>) {
        let t = &self.setup.timing;
        let after = self
            .setup
            .rng
            .duration_between(t.election_timeout_min, t.election_timeout_max);
        out.set_timer(RaftTimer::Election, after);
    }

    /// §5.1: on discovering a higher term, adopt it and revert to follower. Persists the
    /// new term (with no vote) before anything that follows is sent.
    ///
    /// Figure 2 restarts a follower's election timeout only on AppendEntries from the
    /// current leader or on granting a vote, so a follower or candidate keeps the timer
    /// it has (a leader has none and arms one); [`RaftTimerReset::Etcd`] restarts it
    /// here as etcd's `becomeFollower` does.
    fn observe_term(&mut self, term: Term, out: &mut Effects<Self>) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            // A partial image belongs to the leader of the term it came in.
            self.incoming = None;
            self.persist_hard_state(out);
            let restart_timer = match self.setup.timing.raft_timer_reset {
                RaftTimerReset::Figure2 => matches!(self.role, RoleState::Leader { .. }),
                RaftTimerReset::Etcd => true,
            };
            self.leader = None;
            self.become_follower(restart_timer, out);
        }
    }

    /// Becomes a follower of the current term; `restart_timer` re-draws the election
    /// timeout (voters only).
    fn become_follower(&mut self, restart_timer: bool, out: &mut Effects<Self>) {
        self.refuse_waiting_reads(out);
        self.role = RoleState::Follower;
        out.cancel_timer(RaftTimer::Heartbeat);
        if restart_timer && self.setup.membership.is_voter(self.id()) {
            self.reset_election_timer(out);
        }
    }

    fn reject_client(&self, cmd: &crate::Command, out: &mut Effects<Self>) {
        out.reject(
            cmd.id,
            ClientError::NotLeader {
                leader: self.leader,
            },
        );
    }

    /// Hands newly committed entries to the state machine, in order.
    fn apply_committed(&mut self, out: &mut Effects<Self>) {
        if self.commit_index <= self.last_applied {
            return;
        }
        while self.last_applied < self.commit_index {
            self.last_applied += 1;
            let command = self
                .log
                .get(self.last_applied)
                .and_then(|e| e.command.clone());
            out.apply(self.last_applied, command);
        }
        out.event(Event::Committed {
            index: self.commit_index,
        });
        self.request_snapshot_if_due(out);
    }
}

impl Protocol for Raft {
    fn message_text(msg: &Self::Message, command: &dyn Fn(&crate::Command) -> String) -> String {
        <Self as crate::Describe>::describe(msg, command)
    }

    const NAME: &'static str = "raft";
    type Message = RaftMessage;
    type Record = RaftRecord;
    type Timer = RaftTimer;

    /// Overrides [`replication::MAX_BATCH`], the entries one AppendEntries carries.
    fn set_max_batch(&mut self, entries: usize) {
        self.max_batch = entries.max(1);
    }

    /// Raft's bugs: [`Bug::RaftNoUpToDateCheck`], [`Bug::RaftCommitOldTerms`],
    /// [`Bug::RaftCountOwnCopyEarly`].
    fn inject_bug(&mut self, bug: Bug) -> bool {
        let ours = bug.protocol() == crate::ProtocolKind::Raft;
        if ours {
            self.bug = Some(bug);
        }
        ours
    }

    fn recover(setup: Setup, records: Vec<RaftRecord>) -> Result<Raft, RecoveryError> {
        setup.ensure_member()?;
        let mut node = Raft {
            setup,
            term: 0,
            voted_for: None,
            log: RaftLog::new(),
            commit_index: 0,
            last_applied: 0,
            leader: None,
            role: RoleState::Follower,
            durable_marks: DurableMarks::default(),
            unflushed: false,
            max_batch: replication::MAX_BATCH,
            now: Time::ZERO,
            leader_heard_at: None,
            bug: None,
            read_rounds: crate::read::ReadRounds::default(),
            reads: crate::read::PendingReads::default(),
            snapshot: None,
            schedule: crate::snapshot::SnapshotSchedule::new(0),
            incoming: None,
        };
        node.schedule = crate::snapshot::SnapshotSchedule::new(node.setup.timing.snapshot_every);
        for (i, record) in records.into_iter().enumerate() {
            match record {
                RaftRecord::HardState { term, voted_for } => {
                    if term < node.term {
                        return Err(RecoveryError::Inconsistent {
                            record: i,
                            reason: format!("term went back from {} to {term}", node.term),
                        });
                    }
                    node.term = term;
                    node.voted_for = voted_for;
                }
                RaftRecord::Base {
                    start,
                    start_term,
                    term,
                    voted_for,
                } => {
                    if term < node.term || start < node.log.start() {
                        return Err(RecoveryError::Inconsistent {
                            record: i,
                            reason: format!(
                                "a log base (term {term}, start {start}) goes back from term {} or start {}",
                                node.term,
                                node.log.start()
                            ),
                        });
                    }
                    node.term = term;
                    node.voted_for = voted_for;
                    node.log = RaftLog::starting_after(start, start_term);
                }
                RaftRecord::Entries {
                    first_index,
                    entries,
                } => {
                    if first_index <= node.log.start() && first_index > 0 {
                        // Entries the base compacted: keep those after its start.
                        let skip = (node.log.start() + 1 - first_index) as usize;
                        node.log.truncate_from(node.log.start() + 1);
                        for e in entries.into_iter().skip(skip) {
                            node.log.push(e);
                        }
                        continue;
                    }
                    if first_index == 0 || first_index > node.log.last_index() + 1 {
                        return Err(RecoveryError::Inconsistent {
                            record: i,
                            reason: format!(
                                "entries start at {first_index} but the log ends at {}",
                                node.log.last_index()
                            ),
                        });
                    }
                    node.log.truncate_from(first_index);
                    for e in entries {
                        node.log.push(e);
                    }
                }
            }
        }
        Ok(node)
    }

    fn handle(&mut self, now: Time, input: InputOf<Self>, out: &mut Effects<Self>) {
        self.now = now;
        match input {
            Input::Start => {
                if self.setup.membership.is_voter(self.id()) {
                    self.reset_election_timer(out);
                }
            }
            Input::Timer(RaftTimer::Election) => self.on_election_timeout(out),
            Input::Timer(RaftTimer::Heartbeat) => self.on_heartbeat_timer(out),
            Input::Client(cmd) => self.on_client(cmd, out),
            Input::Read(cmd) => self.on_read(cmd, out),
            Input::Message { from, msg } => {
                if !self.setup.membership.contains(from) || from == self.id() {
                    return; // not one of ours: ignore
                }
                self.on_message(from, msg, out);
            }
            Input::Durable(token) => self.on_durable(token, out),
            Input::PeerLost(_) => {} // Raft detects failures by timeout only (§5.2).
            Input::TransferLeadership { to } => self.start_transfer(to, out),
            Input::SnapshotTaken(snapshot) => self.on_snapshot_taken(snapshot, out),
        }
        self.serve_ready_reads(out);
    }

    fn handle_end_of_batch(&mut self, _now: Time, out: &mut Effects<Self>) {
        if std::mem::take(&mut self.unflushed) {
            self.flush(out);
        }
        self.start_read_round_if_needed(out);
        self.serve_ready_reads(out);
    }

    fn restore_snapshot(&mut self, snapshot: &crate::Snapshot) -> Result<(), RecoveryError> {
        self.restore(snapshot)
    }

    fn log_start(&self) -> u64 {
        self.log.start()
    }

    fn status(&self) -> Status {
        Status {
            role: self.role(),
            term: self.term,
            leader: self.leader,
            commit_index: self.commit_index,
            last_index: self.log.last_index(),
        }
    }

    fn timing_mapping(t: &crate::Timing) -> Vec<(String, String)> {
        vec![
            (
                "election timeout".into(),
                format!(
                    "uniform in {}-{} ms, re-drawn on every reset (§5.2)",
                    t.election_timeout_min.as_millis(),
                    t.election_timeout_max.as_millis()
                ),
            ),
            (
                "election timeout restarted by".into(),
                match t.raft_timer_reset {
                    RaftTimerReset::Figure2 => {
                        "AppendEntries from the current leader or a granted vote (Figure 2)"
                    }
                    RaftTimerReset::Etcd => "also any higher term (etcd's becomeFollower)",
                }
                .into(),
            ),
            (
                "heartbeat (empty AppendEntries)".into(),
                format!("every {} ms", t.heartbeat.as_millis()),
            ),
            (
                "failure detection".into(),
                "election timeout only (connection loss is ignored)".into(),
            ),
            (
                "PreVote (thesis §9.6)".into(),
                if t.pre_vote {
                    format!(
                        "on: a timeout first asks for pre-votes at the next term; refused while a                          leader was heard within {} ms",
                        t.election_timeout_min.as_millis()
                    )
                } else {
                    "off: a timeout increments the term at once".into()
                },
            ),
            (
                "CheckQuorum (thesis §9.6)".into(),
                if t.check_quorum {
                    format!(
                        "on: a leader not answered by a majority within {} ms steps down (checked                          every heartbeat); RequestVotes of a higher term are ignored meanwhile",
                        t.election_timeout_min.as_millis()
                    )
                } else {
                    "off: a leader keeps its role until it sees a higher term".into()
                },
            ),
        ]
    }

    fn message_kind(msg: &RaftMessage) -> &'static str {
        match msg {
            // Counted as the RequestVote it is (a drop rule for RequestVote hits it too).
            RaftMessage::RequestVote { .. } | RaftMessage::TransferVote { .. } => "RequestVote",
            RaftMessage::TimeoutNow { .. } => "TimeoutNow",
            RaftMessage::RequestVoteResponse { .. } => "RequestVoteResponse",
            RaftMessage::PreVote { .. } => "PreVote",
            RaftMessage::PreVoteResponse { .. } => "PreVoteResponse",
            RaftMessage::AppendEntries { entries, .. } if entries.is_empty() => "Heartbeat",
            RaftMessage::AppendEntries { .. } => "AppendEntries",
            RaftMessage::AppendEntriesResponse { .. } => "AppendEntriesResponse",
            RaftMessage::ReadProbe { .. } => "ReadProbe",
            RaftMessage::ReadProbeAck { .. } => "ReadProbeAck",
            RaftMessage::InstallSnapshot { .. } => "InstallSnapshot",
            RaftMessage::InstallSnapshotResponse { .. } => "InstallSnapshotResponse",
            RaftMessage::TransferLeader { .. } => "TransferLeader",
        }
    }
}

impl Raft {
    fn on_message(&mut self, from: NodeId, msg: RaftMessage, out: &mut Effects<Self>) {
        let msg_term = match &msg {
            RaftMessage::RequestVote { term, .. }
            | RaftMessage::TransferVote { term, .. }
            | RaftMessage::TimeoutNow { term }
            | RaftMessage::RequestVoteResponse { term, .. }
            | RaftMessage::PreVote { term, .. }
            | RaftMessage::PreVoteResponse { term, .. }
            | RaftMessage::AppendEntries { term, .. }
            | RaftMessage::AppendEntriesResponse { term, .. }
            | RaftMessage::ReadProbe { term, .. }
            | RaftMessage::ReadProbeAck { term, .. }
            | RaftMessage::InstallSnapshot { term, .. }
            | RaftMessage::InstallSnapshotResponse { term, .. }
            | RaftMessage::TransferLeader { term, .. } => *term,
        };
        if msg_term == Term::MAX {
            // No honest server reaches the last term (it could never campaign again):
            // refuse it as invalid input rather than adopt it.
            out.narrate(self.setup.narrate, || {
                format!("ignore a message from {from} with the invalid term {msg_term}")
            });
            return;
        }
        match &msg {
            // Thesis §9.6 / etcd: a PreVote never changes the receiver's term, and a
            // granted answer carries the pre-candidate's own future term, which it
            // adopts only by campaigning. A refusal carries the refuser's real term.
            RaftMessage::PreVote { .. } | RaftMessage::PreVoteResponse { granted: true, .. } => {}
            RaftMessage::RequestVote { .. } if self.ignores_vote_request(from, msg_term, out) => {
                return;
            }
            _ => self.observe_term(msg_term, out),
        }
        match msg {
            RaftMessage::PreVote {
                term,
                last_log_index,
                last_log_term,
            } => self.on_pre_vote(from, term, last_log_index, last_log_term, out),
            RaftMessage::PreVoteResponse { term, granted } => {
                self.on_pre_vote_response(from, term, granted, out)
            }
            RaftMessage::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => self.on_request_vote(from, term, last_log_index, last_log_term, out),
            RaftMessage::TransferVote {
                term,
                last_log_index,
                last_log_term,
            } => {
                let narrate = self.setup.narrate;
                out.narrate(narrate, || {
                    format!("{from} campaigns for term {term} at its leader's request (leadership transfer, thesis §3.10): the lease does not apply")
                });
                self.on_request_vote(from, term, last_log_index, last_log_term, out)
            }
            RaftMessage::TimeoutNow { term } => self.on_timeout_now(from, term, out),
            RaftMessage::RequestVoteResponse { term, granted } => {
                self.on_vote(from, term, granted, out)
            }
            RaftMessage::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => self.on_append_entries(
                from,
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                out,
            ),
            RaftMessage::AppendEntriesResponse {
                term,
                success,
                index,
                rejected,
            } => self.on_append_response(from, term, success, index, rejected, out),
            RaftMessage::ReadProbe { term, round } => self.on_read_probe(from, term, round, out),
            RaftMessage::ReadProbeAck { term, round } => self.on_read_probe_ack(from, term, round),
            RaftMessage::InstallSnapshot {
                term,
                last_index,
                last_term,
                size,
                offset,
                data,
                done,
            } => {
                let chunk = install::Chunk {
                    last_index,
                    last_term,
                    size,
                    offset,
                    data,
                    done,
                };
                self.on_install_snapshot(from, term, chunk, out)
            }
            RaftMessage::InstallSnapshotResponse {
                term,
                last_index,
                next_offset,
                done,
            } => self.on_install_snapshot_response(from, term, last_index, next_offset, done, out),
            RaftMessage::TransferLeader { term, to } => {
                self.on_transfer_request(from, term, to, out)
            }
        }
    }
}

#[cfg(test)]
mod tests;
