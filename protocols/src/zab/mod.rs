//! ZAB (ZooKeeper Atomic Broadcast) with FastLeaderElection, as a pure state machine.
//!
//! Sources: Junqueira, Reed, Serafini, "Zab: High-performance broadcast for
//! primary-backup systems" (DSN 2011), and ZooKeeper's `FastLeaderElection.java`,
//! `Leader.java`, `LearnerHandler.java`, `Learner.java` / `Follower.java` /
//! `Observer.java`. One file per phase:
//!
//! | file | phase | paper / source |
//! |---|---|---|
//! | [`zxid`] | transaction ids | §III; `ZxidUtils` |
//! | `election.rs` | Phase 0: FastLeaderElection | `FastLeaderElection.lookForLeader` |
//! | `vote.rs` | vote ordering and agreement | `totalOrderPredicate`, `Vote.equals` |
//! | `discovery.rs` | Phase 1: Discovery (FOLLOWERINFO, LEADERINFO, ACKEPOCH) | §IV-A; `Leader.getEpochToPropose`, `waitForEpochAck` |
//! | `sync.rs` | Phase 2: Synchronization (DIFF/TRUNC/SNAP, NEWLEADER, UPTODATE) | §IV-B; `LearnerHandler.syncFollower` |
//! | `snap.rs` | Phase 2: SNAP from the stored snapshot, in chunks | `LearnerHandler.syncFollower`, `Learner.syncWithLeader` |
//! | `snapshot.rs` | snapshots and log compaction | `SyncRequestProcessor`, `PurgeTxnLog` |
//! | `broadcast.rs` | Phase 3: Broadcast (PROPOSAL, ACK, COMMIT, INFORM, PING) | §IV-C; `Leader.processAck` |
//! | [`persist`] | durable epochs and history, recovery | §IV "persistent variables" |
//! | [`messages`] | the wire vocabulary | `Leader.java` packet types |
//! | `session.rs` | ordered, exactly-once learner sessions | stands in for `LearnerHandler`'s TCP stream |
//!
//! # Contract with the harness
//! - **Apply**: every committed transaction is delivered as `Effect::Apply { index,
//!   command }` in zxid order; `index` is the 1-based position in the delivered
//!   sequence, which is the same on every server because all deliver the same zxid
//!   sequence. Zxids appear in narration only. After `recover` + `Input::Start` the
//!   node emits `Apply` again for everything it knows committed that its state machine
//!   does not hold: the host restores the state machine from the newest stored snapshot
//!   that fits the history ([`crate::Protocol::restore_snapshot`]), and the node applies
//!   from the index after it up to its log's base (everything before a base is known
//!   delivered; with no snapshot, from index 1 and nothing is known); the rest is
//!   delivered again once a leader re-synchronizes it.
//! - **Snapshots and compaction** (`snapshot.rs`, `snap.rs`): with
//!   [`crate::Timing::snapshot_every`] set the node asks for an image every that many
//!   deliveries (`TakeSnapshot`), and once one is stored (`SnapshotTaken`) drops its
//!   history up to the image before it and rewrites its log's start (`Rebase`). A
//!   learner installs a leader's image with `InstallSnapshot`.
//! - **Persist before send**: ACK after logging a PROPOSAL, ACKEPOCH after recording the
//!   accepted epoch, the NEWLEADER ACK after recording the current epoch (and the synced
//!   history before it, as ZooKeeper 3.6+ does). The established leader's PROPOSAL,
//!   COMMIT, INFORM and PING leave ahead of its own log (`Effect::SendAhead`), as
//!   ZooKeeper's leader logs and sends at once; its own ACK counts only once its log
//!   reports the proposal durable (`broadcast.rs`).
//! - **Events**: `RoleChanged { role, term }` (derived by [`crate::Protocol::step`]
//!   from `role_term`) with `term` = the server's current epoch when it took the role
//!   (a new leader does not know its new epoch yet, and adopting it during
//!   Synchronization is no new role);
//!   `LeaderElected { term }` with the new epoch, emitted by the leader when Discovery
//!   completes, i.e. when a quorum has acknowledged the new epoch (ACKEPOCH). That is
//!   one FOLLOWERINFO + LEADERINFO exchange after the FLE decision (which
//!   `RoleChanged { Leading }` marks): the new epoch is a function of a quorum's
//!   accepted epochs, and two prospective leaders may both pick the same number; only
//!   the ACKEPOCH quorum makes the leader of an epoch unique (each server accepts an
//!   epoch for the first time only once), which the harness checks for every term;
//!   `LeaderReady { term }` when a quorum has acknowledged NEWLEADER; `Committed {
//!   index }` whenever delivery advances.
//! - **Clients**: the established leader proposes; a FOLLOWING / OBSERVING server that
//!   received UPTODATE forwards the command (REQUEST) and answers when its `Apply`
//!   appears; any other server rejects with `NotLeader`. Commands received here and not
//!   yet applied are rejected with `LeadershipLost` when the server leaves its role.
//!
//! # Timing mapping
//! | ZooKeeper | here |
//! |---|---|
//! | `tickTime` | `timing.heartbeat`: the leader PINGs its learners every tick |
//! | `syncLimit` | `ceil(election_timeout_min / tickTime)` ticks (at least 1): a learner that hears nothing from its leader for that long, or a leader that does not hear from a quorum (counting itself), goes back to LOOKING |
//! | `initLimit` | `2 * syncLimit` ticks (ZooKeeper's defaults are 10 and 5): each Discovery / Synchronization wait of the leader, and a learner's silence before UPTODATE |
//! | `finalizeWait` | `timing.finalize_wait` (ZooKeeper: 200 ms) |
//! | notification timeout | starts at `finalizeWait` and doubles while no vote arrives, up to [`MAX_NOTIFICATION_BACKOFF`] times `finalizeWait` (ZooKeeper caps at 60 s, 300 times its 200 ms; a smaller cap keeps partitioned benchmarks recovering in seconds) |
//!
//! # Deviations from ZooKeeper, all deliberate
//! - One transport for everything (see [`messages`]). The learner protocol runs in
//!   numbered sessions (`session.rs`) that give back TCP's ordered, exactly-once
//!   delivery; a message lost inside a session is treated as ZooKeeper treats a broken
//!   learner connection: the learner goes back to LOOKING and rejoins through FLE
//!   (which the running ensemble answers with FOLLOWING/LEADING notifications), the
//!   leader forgets the session.
//! - A learner repeats FOLLOWERINFO every tick until LEADERINFO arrives (ZooKeeper
//!   retries its TCP connect instead, every second). A LOOKING server keeps the latest
//!   FOLLOWERINFO / OBSERVERINFO each server sent it and handles them if FLE makes it
//!   the leader, as a listen backlog would: a follower that decides a little before its
//!   leader (half the time, the two finalize waits starting an RTT apart) does not wait
//!   a tick to be heard. Handling a message later is something the network could have
//!   done anyway (it delays), so this keeps every safety argument as it was.
//! - A learner that has not received UPTODATE within `3 * initLimit` ticks (the
//!   leader's three bounded waits) starts over from LOOKING, so a lost handshake
//!   message cannot leave it stuck while PINGs keep arriving.
//! - SNAP is the leader's newest stored snapshot, in chunks with a SNAP-ACK window
//!   (`snap.rs`; ZooKeeper streams its snapshot over TCP), followed by its proposals
//!   after the image in DIFF messages. It is chosen when the learner's last zxid is
//!   below the leader's compaction point, or when the learner is more than
//!   `snap_threshold` ([`SNAP_THRESHOLD`] by default, ZooKeeper's `commitLogCount`)
//!   transactions behind and below the image; otherwise, and always when the leader
//!   holds no image, DIFF / TRUNC from the log serve it. Every sync message stays
//!   within [`crate::Timing::snapshot_chunk_bytes`] (DIFF proposals are batched), so
//!   none nears the transport's frame limit however far behind the learner is.
//! - ACKs are cumulative and COMMIT / INFORM commit every proposal up to their zxid;
//!   INFORM carries a batch of proposals with their commit.
//! - A LOOKING voter answers an observer with its current proposal (ZooKeeper answers
//!   with its last decided vote); observers never answer votes.
//!
//! # A liveness limit shared with ZooKeeper
//! A server that accepted a NEWEPOCH from a prospective leader that never won its
//! ACKEPOCH quorum refuses every leader of a lower epoch, as ZooKeeper's
//! `Learner.registerWithLeader` does ("Leaders epoch ... is less than accepted epoch").
//! If a leader of a lower epoch is established meanwhile by another quorum and keeps
//! it, that server cycles LOOKING -> FOLLOWING -> refused until the leader loses its
//! quorum. It is safe (the server only stays out); the simulator finds it in about one
//! random fault schedule in 15,000, and `crates/sim/tests/zab_sim.rs` tells it apart from a
//! failure.

mod broadcast;
mod describe;
mod discovery;
mod election;
pub mod messages;
pub mod persist;
mod preload;
mod reads;
mod session;
mod snap;
mod snapshot;
mod sync;
#[cfg(test)]
mod tests;
mod transfer;
mod vote;
pub mod zxid;

pub use messages::{Handoff, Notification, PeerMessage, ServerState, Txn, Vote, ZabMessage};
pub use persist::{History, ZabRecord};
pub use vote::{explain_comparison, total_order_predicate};
pub use zxid::Zxid;

use crate::bugs::Bug;
use crate::durable::DurableMarks;
use crate::effect::{ClientError, Event, Role};
use crate::node::{Effects, Input, Protocol, RecoveryError, Setup, Status};
use crate::output::Output;
use crate::quorum::Membership;
use crate::rng::DetRng;
use crate::timing::Timing;
use crate::types::{Command, NodeId, RequestId, Time};
use discovery::{LeaderState, LearnerState};
use election::Election;
use session::ClosedSessions;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Default number of missing transactions above which a learner gets SNAP instead of
/// DIFF (ZooKeeper keeps the last 500 committed proposals in memory for DIFF).
pub const SNAP_THRESHOLD: usize = 500;

/// The notification timeout never grows beyond this many finalize waits.
pub const MAX_NOTIFICATION_BACKOFF: u32 = 8;

/// ZAB's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZabTimer {
    /// LOOKING: no notification arrived for the current interval; re-send the vote.
    NotificationTimeout,
    /// LOOKING: a quorum agrees; decide unless a better vote arrives first.
    FinalizeWait,
    /// FOLLOWING / LEADING / OBSERVING: one `tickTime` passed (PINGs, limits).
    Tick,
}

/// The run's timing mapped onto ZooKeeper's knobs (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZabTiming {
    /// `tickTime`.
    pub tick: Duration,
    /// `syncLimit`, in ticks.
    pub sync_limit: u64,
    /// `initLimit`, in ticks.
    pub init_limit: u64,
    /// FastLeaderElection's `finalizeWait` (also the first notification timeout).
    pub finalize_wait: Duration,
    /// FastLeaderElection's `maxNotificationInterval`.
    pub max_notification_interval: Duration,
}

impl ZabTiming {
    /// Maps the shared timing vocabulary onto ZAB.
    pub fn from_timing(t: &Timing) -> ZabTiming {
        let tick = t.heartbeat.max(Duration::from_micros(1));
        let sync_limit = t
            .election_timeout_min
            .as_nanos()
            .div_ceil(tick.as_nanos())
            .max(1) as u64;
        let finalize_wait = t.finalize_wait.max(Duration::from_micros(1));
        ZabTiming {
            tick,
            sync_limit,
            init_limit: 2 * sync_limit,
            finalize_wait,
            max_notification_interval: t
                .max_notification_interval
                .unwrap_or(finalize_wait * MAX_NOTIFICATION_BACKOFF)
                .max(finalize_wait),
        }
    }
}

type Out = Effects<Zab>;

/// What the server is doing now.
#[derive(Debug)]
enum Phase {
    /// LOOKING: running FastLeaderElection.
    Looking,
    /// LEADING: Discovery, Synchronization, then Broadcast.
    Leading(Box<LeaderState>),
    /// FOLLOWING or OBSERVING a leader.
    Learning(LearnerState),
}

/// One ZAB server.
#[derive(Debug)]
pub struct Zab {
    /// This server's sid.
    id: NodeId,
    /// Voters and observers.
    membership: Membership,
    /// ZooKeeper's timing knobs.
    timing: ZabTiming,
    /// Emit narration events.
    narrate: bool,
    /// Learners further behind than this get SNAP.
    snap_threshold: usize,
    /// Durable epochs and history, and the delivered prefix.
    history: History,
    /// FastLeaderElection state (kept across rounds: the logical clock and last vote).
    election: Election,
    /// The current role's state.
    phase: Phase,
    /// Zxids waiting for our own log to report them durable (leader only).
    durable_marks: DurableMarks<Zxid>,
    /// Client commands received here, proposed or forwarded, not yet applied.
    pending_local: BTreeSet<RequestId>,
    /// While LOOKING: the latest session-opening FOLLOWERINFO / OBSERVERINFO from each
    /// server (session id and message), handled if this server starts leading.
    learner_backlog: BTreeMap<NodeId, (u64, PeerMessage)>,
    /// Learner sessions this server closed as a leader: never opened again.
    closed_sessions: ClosedSessions,
    /// Seeded randomness (learner session ids only).
    rng: DetRng,
    /// The time of the input being handled (mixed into session ids, so that a
    /// restarted node, whose random stream starts over, does not repeat one).
    now: Time,
    /// A known bug switched on for teaching ([`crate::bugs`]); `None` in every normal run.
    bug: Option<Bug>,
    /// How reads are served ([`crate::Timing::reads`], [`reads`]).
    setup_reads: crate::read::ReadPath,
    /// `sync` reads waiting ([`reads`]).
    sync_reads: Vec<reads::SyncRead>,
    /// The number of the last SYNC this server sent.
    next_sync_token: u64,
    /// LEADING: a hand-over to another server under way (`transfer.rs`).
    handoff: Option<transfer::PendingHandoff>,
    /// The vote the election rounds open with instead of our own (a hand-over's
    /// designated leader), until that election decides.
    designated: Option<Vote>,
    /// When the next snapshot is due ([`crate::Timing::snapshot_every`], `snapshot.rs`).
    schedule: crate::snapshot::SnapshotSchedule,
    /// The newest snapshot stored (taken or restored).
    snapshot: Option<crate::Snapshot>,
    /// The index of the image the host restored the state machine from on restart
    /// (0: none): `Input::Start` applies only what follows it.
    restored_through: usize,
    /// SNAP image bytes per message ([`crate::Timing::snapshot_chunk_bytes`]), also the
    /// bound on a DIFF's proposals' bytes.
    snapshot_chunk_bytes: u64,
    /// The largest SNAP image a learner accepts ([`crate::Timing::snapshot_max_bytes`]).
    snapshot_max_bytes: u64,
}

impl Zab {
    /// Overrides [`SNAP_THRESHOLD`] for this server when it leads.
    pub fn set_snap_threshold(&mut self, txns: usize) {
        self.snap_threshold = txns;
    }

    /// The durable state and the delivered prefix.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// ZooKeeper's name for this server's state.
    pub fn server_state(&self) -> ServerState {
        match &self.phase {
            Phase::Looking => ServerState::Looking,
            Phase::Leading(_) => ServerState::Leading,
            Phase::Learning(l) if l.observer => ServerState::Observing,
            Phase::Learning(_) => ServerState::Following,
        }
    }

    /// The timing this server runs with.
    pub fn timing(&self) -> &ZabTiming {
        &self.timing
    }

    fn is_voter(&self, id: NodeId) -> bool {
        self.membership.is_voter(id)
    }

    /// Delivers every logged transaction up to the 1-based position `count`, in order.
    fn deliver_through(&mut self, count: usize, out: &mut Out) {
        let count = count.min(self.history.len());
        if count <= self.history.delivered {
            return;
        }
        let first = self.history.delivered;
        // Delivered is never below the base, so every position after it is held.
        let fresh = self.history.held_from(first + 1);
        for (txn, index) in fresh.iter().take(count - first).zip(first as u64 + 1..) {
            self.pending_local.remove(&txn.command.id);
            out.apply(index, Some(txn.command.clone()));
        }
        self.history.delivered = count;
        let last = self.history.delivered_zxid();
        out.narrate(self.narrate, || {
            format!(
                "deliver indexes {}..={count} (through zxid {last})",
                first + 1
            )
        });
        out.event(Event::Committed {
            index: count as u64,
        });
        self.request_snapshot_if_due(out);
    }

    /// Leaves any role for LOOKING and starts a new election round.
    fn become_looking(&mut self, out: &mut Out, why: impl FnOnce() -> String) {
        if self.narrate {
            let why = why();
            out.narrate(self.narrate, || format!("back to LOOKING: {why}"));
        }
        out.cancel_timer(ZabTimer::Tick);
        for id in std::mem::take(&mut self.pending_local) {
            out.reject(id, ClientError::LeadershipLost);
        }
        self.refuse_sync_reads(out);
        self.handoff = None;
        self.phase = Phase::Looking;
        self.start_round(out);
    }

    /// FLE decided: lead, follow or observe `leader`.
    fn on_decided(&mut self, leader: NodeId, out: &mut Out) {
        // A hand-over's designated vote holds for one election only.
        self.designated = None;
        if leader == self.id {
            self.become_leading(out);
        } else {
            self.become_learner(leader, out);
        }
    }

    fn on_client(&mut self, command: Command, out: &mut Out) {
        let leader = match &self.phase {
            Phase::Leading(_) if self.refuses_during_handoff(&command, out) => return,
            Phase::Leading(l) if l.is_established() => {
                self.pending_local.insert(command.id);
                self.propose(command, out);
                return;
            }
            Phase::Learning(l) if l.is_serving() => {
                self.pending_local.insert(command.id);
                self.send_to_leader(out, PeerMessage::Request { command });
                return;
            }
            Phase::Learning(l) => Some(l.leader),
            Phase::Leading(_) | Phase::Looking => None,
        };
        out.reject(command.id, ClientError::NotLeader { leader });
    }

    fn on_message(&mut self, from: NodeId, msg: ZabMessage, out: &mut Out) {
        if from == self.id || !self.membership.contains(from) {
            return;
        }
        match msg {
            ZabMessage::Notification(n) => self.on_notification(from, n, out),
            ZabMessage::Handoff(h) => self.on_handoff(from, h, out),
            ZabMessage::Peer { session, seq, body } => match self.phase {
                Phase::Leading(_) => self.leader_receive(from, session, seq, body, out),
                Phase::Learning(_) => self.learner_receive(from, session, seq, body, out),
                Phase::Looking => {
                    let opens_a_session = seq == 0
                        && matches!(
                            body,
                            PeerMessage::FollowerInfo { .. } | PeerMessage::ObserverInfo { .. }
                        );
                    if opens_a_session && !self.closed_sessions.contains(from, session) {
                        self.learner_backlog.insert(from, (session, body));
                    }
                }
            },
        }
    }

    fn on_timer(&mut self, timer: ZabTimer, out: &mut Out) {
        match (timer, &self.phase) {
            (ZabTimer::NotificationTimeout, Phase::Looking) => self.on_notification_timeout(out),
            (ZabTimer::FinalizeWait, Phase::Looking) => self.on_finalize_wait(out),
            (ZabTimer::Tick, Phase::Leading(_)) => self.leader_tick(out),
            (ZabTimer::Tick, Phase::Learning(_)) => self.learner_tick(out),
            // A timer of a role this server has left: stale.
            _ => {}
        }
    }

    fn on_peer_lost(&mut self, peer: NodeId, out: &mut Out) {
        if matches!(&self.phase, Phase::Learning(l) if l.leader == peer) {
            self.become_looking(out, || format!("lost the connection to leader {peer}"));
        } else if self.forget_learner(peer) {
            out.narrate(self.narrate, || format!("learner {peer} disconnected"));
        }
    }
}

impl Protocol for Zab {
    fn message_text(msg: &Self::Message, command: &dyn Fn(&crate::Command) -> String) -> String {
        <Self as crate::Describe>::describe(msg, command)
    }

    const NAME: &'static str = "zab";
    const GENERATION: &'static str = "epoch";
    type Message = ZabMessage;
    type Record = ZabRecord;
    type Timer = ZabTimer;

    fn recover(setup: Setup, records: Vec<ZabRecord>) -> Result<Zab, RecoveryError> {
        setup.ensure_member()?;
        let history = History::replay(records)?;
        let timing = ZabTiming::from_timing(&setup.timing);
        let setup_reads = setup.timing.reads;
        let election = Election::new(timing.finalize_wait);
        Ok(Zab {
            id: setup.id,
            membership: setup.membership,
            timing,
            narrate: setup.narrate,
            snap_threshold: SNAP_THRESHOLD,
            history,
            election,
            phase: Phase::Looking,
            pending_local: BTreeSet::new(),
            learner_backlog: BTreeMap::new(),
            closed_sessions: ClosedSessions::default(),
            rng: setup.rng,
            now: Time::ZERO,
            durable_marks: DurableMarks::default(),
            bug: None,
            setup_reads,
            sync_reads: Vec::new(),
            next_sync_token: 0,
            handoff: None,
            designated: None,
            schedule: crate::snapshot::SnapshotSchedule::new(setup.timing.snapshot_every),
            snapshot: None,
            restored_through: 0,
            snapshot_chunk_bytes: setup.timing.snapshot_chunk_bytes.max(1),
            snapshot_max_bytes: setup.timing.snapshot_max_bytes,
        })
    }

    /// ZAB's bugs: [`Bug::ZabFleIgnoresEpoch`], [`Bug::ZabAckBeforePersist`].
    fn inject_bug(&mut self, bug: Bug) -> bool {
        let ours = bug.protocol() == crate::ProtocolKind::Zab;
        if ours {
            self.bug = Some(bug);
        }
        ours
    }

    fn handle(&mut self, now: Time, input: Input<ZabMessage, ZabTimer>, out: &mut Out) {
        self.now = now;
        match input {
            Input::Start => {
                let known = self.history.delivered;
                // The host restored the state machine through `restored_through`, never
                // below the base (it refuses to start a compacted log without an image).
                let restored = self.restored_through.max(self.history.base).min(known);
                let fresh = self.history.held_from(restored + 1);
                for (txn, index) in fresh
                    .iter()
                    .take(known - restored)
                    .zip(restored as u64 + 1..)
                {
                    out.apply(index, Some(txn.command.clone()));
                }
                if known > 0 {
                    out.event(Event::Committed {
                        index: known as u64,
                    });
                }
                self.start_round(out);
            }
            Input::Message { from, msg } => self.on_message(from, msg, out),
            Input::Timer(timer) => self.on_timer(timer, out),
            Input::Client(command) => self.on_client(command, out),
            Input::Read(command) => self.on_read(command, out),
            Input::PeerLost(peer) => self.on_peer_lost(peer, out),
            Input::Durable(token) => self.on_durable(token, out),
            Input::TransferLeadership { to } => self.start_handoff(to, out),
            Input::SnapshotTaken(snapshot) => self.on_snapshot_taken(snapshot, out),
        }
        self.handoff_if_caught_up(out);
        self.serve_sync_reads(out);
    }

    /// FOLLOWING: the one cumulative ACK for every proposal logged in the batch.
    /// LEADING: the durability mark of the proposals logged and the one COMMIT (INFORM)
    /// for everything delivered in it (see `broadcast.rs`).
    fn handle_end_of_batch(&mut self, _now: Time, out: &mut Out) {
        match self.phase {
            Phase::Leading(_) => self.flush_commits(out),
            Phase::Learning(_) => self.flush_ack(out),
            _ => {}
        }
    }

    fn restore_snapshot(&mut self, snapshot: &crate::Snapshot) -> Result<(), RecoveryError> {
        self.restore(snapshot)
    }

    fn log_start(&self) -> u64 {
        self.history.base as u64
    }

    fn status(&self) -> Status {
        let (role, leader) = match &self.phase {
            Phase::Looking => (Role::Looking, None),
            Phase::Leading(_) => (Role::Leading, Some(self.id)),
            Phase::Learning(l) if l.observer => (Role::Observing, Some(l.leader)),
            Phase::Learning(l) => (Role::Following, Some(l.leader)),
        };
        Status {
            role,
            term: u64::from(self.history.current_epoch),
            leader,
            commit_index: self.history.delivered as u64,
            last_index: self.history.len() as u64,
        }
    }

    /// The role and the current epoch when the server took it (see "Events" in the
    /// module docs): a leader's or learner's epoch advances during Synchronization
    /// without a new `RoleChanged`.
    fn role_term(&self) -> (Role, u64) {
        let (role, epoch) = match &self.phase {
            Phase::Looking => (Role::Looking, self.history.current_epoch),
            Phase::Leading(l) => (Role::Leading, l.taken_in_epoch()),
            Phase::Learning(l) if l.observer => (Role::Observing, l.taken_in_epoch),
            Phase::Learning(l) => (Role::Following, l.taken_in_epoch),
        };
        (role, u64::from(epoch))
    }

    fn election_phase_wait(timing: &Timing) -> Duration {
        timing.finalize_wait
    }

    fn timing_mapping(t: &Timing) -> Vec<(String, String)> {
        let z = ZabTiming::from_timing(t);
        vec![
            ("tickTime (PING interval)".into(), format!("{} ms = heartbeat", z.tick.as_millis())),
            (
                "syncLimit".into(),
                format!(
                    "{} ticks = ceil(election timeout min {} ms / tick): silence before a follower (or a leader short of a quorum) gives up",
                    z.sync_limit,
                    t.election_timeout_min.as_millis()
                ),
            ),
            ("initLimit".into(), format!("{} ticks = 2 x syncLimit", z.init_limit)),
            ("finalizeWait".into(), format!("{} ms", z.finalize_wait.as_millis())),
            (
                "notification timeout".into(),
                format!(
                    "starts at finalizeWait, doubles to {} ms when no votes arrive",
                    z.max_notification_interval.as_millis()
                ),
            ),
            ("failure detection".into(), "syncLimit ticks of silence, or the leader's connection dropping".into()),
        ]
    }

    fn message_kind(msg: &ZabMessage) -> &'static str {
        msg.kind()
    }
}
