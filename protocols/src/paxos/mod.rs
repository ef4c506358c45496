//! Paxos: a Basic-Paxos leader election with Multi-Paxos commits.
//!
//! Primary sources: Lamport, "Paxos Made Simple" (2001) §2 (single-decree Paxos:
//! proposers, acceptors, learners; Phase 1 Prepare/Promise, Phase 2 Accept/Accepted)
//! and §3 (a state machine: one leader runs Phase 1 for every instance at once, then
//! one Phase 2 round trip per command, with no-ops for gaps); van Renesse &
//! Altinbuken, "Paxos Made Moderately Complex" (2015) for the leader/ballot structure.
//! Every node plays every role; each role has its own module:
//! - [`ballot`]: `(round, node)` proposal numbers and their `term` encoding;
//! - [`acceptor`]: promises and acceptances, persisted before the reply;
//! - [`proposer`]: the election, a Basic-Paxos instance per leadership era (see its
//!   module doc for why adopting another node's leadership value is safe and live);
//! - [`multi`]: the elected leader's Phase-2-only slot pipeline;
//! - [`learner`]: what is chosen, heartbeats, catch-up, in-order `Apply`;
//! - [`snapshot`]: snapshots every [`Timing::snapshot_every`] applied slots, the chosen
//!   slots below them dropped, and catch-up from a snapshot sent in pieces;
//! - [`messages`], [`persist`]: the wire and disk vocabularies.
//!
//! # Timing (the shared [`Timing`] vocabulary)
//! - `heartbeat`: the leader's heartbeat interval (it carries the commit point), and the
//!   retransmission interval for unanswered Prepares and Accepts;
//! - `election_timeout_min..=max`: a follower that hears no heartbeat for a random time
//!   in this range starts an election; a pre-empted proposer (a duel) backs off for a
//!   random time in the same range before retrying with a higher round.
//! - `check_quorum` (on by default, as Raft thesis §9.6 and etcd have it for Raft): a
//!   voter answers each heartbeat it follows with a `HeartbeatReply`, and at each
//!   heartbeat a leader that has not heard from a majority (itself included) within
//!   `election_timeout_min` steps down (`multi.rs`).
//! - [`Paxos::elect_on_peer_lost`] (default off, [`ELECT_ON_PEER_LOST`]): when on, a
//!   follower that sees the connection to its leader drop (`Input::PeerLost`) starts an
//!   election after a random delay in `0..=(max - min)` instead of waiting for the
//!   heartbeat timeout. Off by default so that failure detection is the same
//!   heartbeat-timeout mechanism as Raft's in fair comparisons.
//!
//! - `reads` ([`crate::read`]): through the log, leader leases ([`lease`]) or local.
//!
//! # Events
//! `term` is always a ballot encoded by [`Ballot::as_u64`] (node ids must be below
//! 65536): `RoleChanged`, derived by [`crate::Protocol::step`] from `role_term` and
//! [`Protocol::status`]'s role and term (Follower: the ballot of the leader it follows,
//! 0 if none; Candidate/Leader: its own ballot), `LeaderElected` when its leadership value is
//! chosen, `LeaderReady` once every slot found on takeover is chosen, `Committed`.

pub mod acceptor;
pub mod ballot;
mod describe;
pub mod learner;
pub mod lease;
pub mod messages;
pub mod multi;
pub mod persist;
mod preload;
pub mod proposer;
pub mod snapshot;
pub mod transfer;

#[cfg(test)]
mod tests;

pub use ballot::Ballot;
pub use messages::{Leadership, PaxosMessage, PaxosTimer, SlotValue};
pub use persist::PaxosRecord;

use crate::bugs::Bug;
use crate::durable::DurableMarks;
use crate::effect::Role;
use crate::node::{Effects, Input, InputOf, Protocol, RecoveryError, Setup, Status};
use crate::output::Output;
use crate::quorum::Membership;
use crate::rng::DetRng;
use crate::timing::Timing;
use crate::types::{NodeId, Time};
use acceptor::Acceptor;
use learner::Learner;
use multi::Leading;
use proposer::{Campaign, Report};
use std::collections::VecDeque;
use std::time::Duration;

/// Most times a campaign's timeouts double under contention
/// ([`Paxos::contention_timeout`]): eight times the election timeout at most.
pub const MAX_CONTENTION_DOUBLINGS: u32 = 3;

/// Default of [`Paxos::elect_on_peer_lost`]: off.
pub const ELECT_ON_PEER_LOST: bool = false;

/// The role-specific state of a node.
#[derive(Clone, Debug, PartialEq)]
enum Stance {
    /// Follows the leader of the latest era it knows (or waits for one).
    Follower,
    /// Runs an election ballot.
    Candidate(Campaign),
    /// Leads.
    Leader(Leading),
}

/// One Paxos node: proposer, acceptor and learner at once.
#[derive(Debug)]
pub struct Paxos {
    /// This node.
    id: NodeId,
    /// The cluster; quorums are majorities of its voters.
    membership: Membership,
    /// The run's timing settings.
    timing: Timing,
    /// Randomness for timeouts and back-off.
    rng: DetRng,
    /// Whether to emit narration events.
    narrate: bool,
    /// Start an election soon after `Input::PeerLost(leader)` instead of waiting for
    /// the heartbeat timeout. Defaults to [`ELECT_ON_PEER_LOST`] (off).
    pub elect_on_peer_lost: bool,
    /// The acceptor role's durable state.
    acceptor: Acceptor,
    /// The learner role's state.
    learner: Learner,
    /// Follower, candidate or leader.
    stance: Stance,
    /// The highest ballot seen anywhere, so the next one can be higher.
    highest_seen: Ballot,
    /// How many of our ballots were pre-empted.
    duels: u64,
    /// Campaigns of ours that failed (pre-empted, or timed out unfinished) since a
    /// leader was last heard or we became ready: each doubles the next campaign's
    /// timeouts ([`Paxos::contention_timeout`]).
    contention: u32,
    /// The time of the input being handled.
    now: Time,
    /// Messages to ourselves, handled at the end of the step.
    inbox: VecDeque<PaxosMessage>,
    /// Our acceptor's replies to our proposer (Promise, Accepted), waiting for the
    /// records they report to be durable before they count.
    durable_marks: DurableMarks<PaxosMessage>,
    /// Slots up to here were handed to the state machine since (re)start.
    applied: u64,
    /// Slots up to here are recorded as committed on disk.
    persisted_commit: u64,
    /// Most slots one Accept carries ([`multi::MAX_BATCH`] unless set otherwise).
    max_batch: usize,
    /// A known bug switched on for teaching ([`crate::bugs`]); `None` in every normal run.
    bug: Option<Bug>,
    /// Back off for a random time after a lost ballot (on unless a teaching scenario
    /// switches it off, [`Protocol::set_backoff`]).
    backoff: bool,
    /// Leader: lease rounds of the ballot `read_ballot` ([`lease`]).
    read_rounds: crate::read::ReadRounds,
    /// The ballot we led when the reads and rounds were taken (`None`: not leading).
    read_ballot: Option<Ballot>,
    /// Leader: reads waiting for a lease or an applied slot.
    reads: crate::read::PendingReads,
    /// Follower: the leader we last granted a lease, and when ([`lease`]).
    lease_granted: Option<(NodeId, Time)>,
    /// Leader: a hand-over under way ([`transfer`]).
    transfer: Option<transfer::Transfer>,
    /// Follower: a leader asked us to take over once we hold its commit point
    /// ([`transfer`]).
    take_over: Option<transfer::TakeOver>,
    /// The newest snapshot stored here ([`snapshot`]): offered to learners that lack
    /// slots this node compacted.
    snapshot: Option<crate::Snapshot>,
    /// When to ask for the next snapshot ([`Timing::snapshot_every`]).
    schedule: crate::snapshot::SnapshotSchedule,
    /// A snapshot being received from another node ([`snapshot`]).
    receiving: Option<snapshot::Receiving>,
}

impl Paxos {
    /// How many of this node's ballots were pre-empted by a higher one (duels).
    pub fn duels(&self) -> u64 {
        self.duels
    }

    /// The ballot this node holds while it is a candidate or the leader.
    pub fn own_ballot(&self) -> Option<Ballot> {
        match &self.stance {
            Stance::Follower => None,
            Stance::Candidate(c) => Some(c.ballot),
            Stance::Leader(l) => Some(l.ballot),
        }
    }

    /// The latest leadership era this node knows chosen, and its value.
    pub fn known_era(&self) -> (u64, Option<Leadership>) {
        (self.learner.era(), self.learner.era_value())
    }

    /// The value this node knows chosen for `slot` (1-based), if any; `Some(None)` is a
    /// no-op. Includes chosen slots beyond the applied prefix.
    pub fn chosen(&self, slot: u64) -> Option<&SlotValue> {
        self.learner.chosen(slot)
    }

    /// The highest slot this node knows chosen (at or beyond its commit point).
    pub fn last_known_chosen(&self) -> u64 {
        self.learner.last_known()
    }

    /// Refuses `what` (Prepare, Accept, Heartbeat) at `ballot` from `from` because a
    /// higher ballot was promised: narrated, and a Nack tells the proposer which.
    fn reject(
        &mut self,
        from: NodeId,
        what: &str,
        ballot: Ballot,
        promised: Ballot,
        out: &mut Effects<Paxos>,
    ) {
        out.narrate(self.narrate, || {
            format!("reject {what}({ballot}) from {from}: promised {promised}")
        });
        self.send(
            from,
            PaxosMessage::Nack {
                ballot,
                higher: promised,
            },
            out,
        );
    }

    /// Sends `msg` to `to`. A message to ourselves goes through the inbox; if it is
    /// our acceptor's Promise or Accepted, only once what it reports is durable, as it
    /// would reach any other proposer.
    fn send(&mut self, to: NodeId, msg: PaxosMessage, out: &mut Effects<Paxos>) {
        if to != self.id {
            out.send(to, msg);
        } else if matches!(
            msg,
            PaxosMessage::Promise { .. } | PaxosMessage::Accepted { .. }
        ) {
            self.durable_marks.mark(msg, out);
        } else {
            self.inbox.push_back(msg);
        }
    }

    /// Sends `msg` to every voter, ourselves included (through the inbox).
    fn broadcast(&mut self, msg: PaxosMessage, out: &mut Effects<Paxos>) {
        let voters: Vec<NodeId> = self.membership.voter_ids().to_vec();
        for voter in voters {
            self.send(voter, msg.clone(), out);
        }
    }

    /// Sends `msg` to every voter without waiting for our log (the elected leader's
    /// Accepts, see `multi.rs`); ours goes through the inbox.
    fn broadcast_ahead(&mut self, msg: PaxosMessage, out: &mut Effects<Paxos>) {
        for &voter in self.membership.voter_ids() {
            if voter == self.id {
                self.inbox.push_back(msg.clone());
            } else {
                out.send_ahead(voter, msg.clone());
            }
        }
    }

    /// A fresh random timeout in `election_timeout_min..=max`.
    fn election_timeout(&mut self) -> Duration {
        self.rng.duration_between(
            self.timing.election_timeout_min,
            self.timing.election_timeout_max,
        )
    }

    /// The timeout of a campaign under contention: the election timeout range
    /// doubled for each failed campaign since a leader was last heard, at most
    /// [`MAX_CONTENTION_DOUBLINGS`] times. Phase 1 and the leadership Accept take two
    /// round trips; where that exceeds the configured timeout (a WAN with a 150 ms
    /// round trip against a 150-300 ms timeout) a fixed range lets a candidate abandon
    /// its own ballot, and its rival's promise timer fire, before either can finish,
    /// forever. Growing the timeout after each failed round is how protocols for
    /// partial synchrony reach the point where a round fits (Dwork, Lynch and
    /// Stockmeyer, JACM 1988, §4; PBFT doubles its view-change timeout the same way,
    /// Castro and Liskov, OSDI 1999, §4.5.2). Without contention it is the plain
    /// election timeout.
    fn contention_timeout(&mut self) -> Duration {
        let cap = self
            .timing
            .contention_doublings
            .unwrap_or(MAX_CONTENTION_DOUBLINGS);
        let factor = 1u32
            << self
                .contention
                .min(cap)
                .min(crate::timing::MAX_CONTENTION_DOUBLINGS);
        self.rng.duration_between(
            self.timing.election_timeout_min.saturating_mul(factor),
            self.timing.election_timeout_max.saturating_mul(factor),
        )
    }

    /// A campaign of ours failed: the next one waits longer.
    fn campaign_failed(&mut self) {
        self.contention = self.contention.saturating_add(1);
    }

    /// A leader is alive (or we are it): campaigns start from the plain timeout again.
    fn contention_over(&mut self) {
        self.contention = 0;
    }

    /// Who a refused client should try.
    fn leader_hint(&self) -> Option<NodeId> {
        match &self.stance {
            Stance::Leader(_) => Some(self.id),
            Stance::Candidate(_) => None,
            Stance::Follower => self
                .learner
                .era_value()
                .map(|v| v.leader)
                .filter(|l| *l != self.id),
        }
    }

    fn on_start(&mut self, out: &mut Effects<Paxos>) {
        self.stance = Stance::Follower;
        let after = self.election_timeout();
        out.set_timer(PaxosTimer::LeaderTimeout, after);
    }

    fn on_message(&mut self, from: NodeId, msg: PaxosMessage, out: &mut Effects<Paxos>) {
        if !self.membership.contains(from) {
            return;
        }
        if !msg.is_valid(&self.membership) {
            out.narrate(self.narrate, || {
                format!(
                    "ignore {} from {from}: a ballot, era or leadership no honest node sends",
                    msg.kind()
                )
            });
            return;
        }
        match msg {
            PaxosMessage::Prepare {
                ballot,
                era_from,
                slot_from,
            } => self.on_prepare(from, ballot, era_from, slot_from, out),
            PaxosMessage::Promise {
                ballot,
                chosen_era,
                eras,
                chosen,
                accepted,
            } => self.on_promise(
                from,
                ballot,
                Report {
                    chosen_era,
                    eras,
                    chosen,
                    accepted,
                },
                out,
            ),
            PaxosMessage::Accept {
                ballot,
                era,
                slots,
                commit,
            } => self.on_accept(from, ballot, era, slots, commit, out),
            PaxosMessage::Accepted { ballot, era, slots } => {
                self.on_accepted(from, ballot, era, slots, out)
            }
            PaxosMessage::Nack { ballot, higher } => self.on_nack(from, ballot, higher, out),
            PaxosMessage::Heartbeat {
                ballot,
                era,
                commit,
            } => self.on_heartbeat(from, ballot, era, commit, out),
            PaxosMessage::HeartbeatReply { ballot } => self.on_heartbeat_reply(from, ballot),
            PaxosMessage::TakeOver { ballot, commit } => {
                self.on_take_over(from, ballot, commit, out)
            }
            PaxosMessage::LeaseProbe { ballot, round } => {
                self.on_lease_probe(from, ballot, round, out)
            }
            PaxosMessage::LeaseProbeAck { ballot, round } => {
                self.on_lease_probe_ack(from, ballot, round)
            }
            PaxosMessage::CatchUp { from: first } => self.on_catch_up(from, first, out),
            PaxosMessage::Chosen {
                commit,
                from: first,
                values,
            } => self.on_chosen(from, commit, first, values, out),
            PaxosMessage::SnapshotChunk {
                index,
                term,
                offset,
                data,
                done,
            } => {
                let piece = snapshot::Piece {
                    index,
                    term,
                    offset,
                    data,
                    done,
                };
                self.on_snapshot_chunk(from, piece, out)
            }
            PaxosMessage::SnapshotPull { index, offset } => {
                self.on_snapshot_pull(from, index, offset, out)
            }
        }
    }

    fn on_timer(&mut self, timer: PaxosTimer, out: &mut Effects<Paxos>) {
        match (timer, &self.stance) {
            (PaxosTimer::LeaderTimeout, Stance::Follower) => {
                self.start_election("no heartbeat from a leader within the timeout", out)
            }
            (PaxosTimer::LeaderTimeout, Stance::Candidate(_)) => {
                self.start_election("ballot timed out", out)
            }
            (PaxosTimer::Backoff, Stance::Follower) => {
                self.start_election("back-off over and still no leader", out)
            }
            (PaxosTimer::Heartbeat, Stance::Leader(_)) => self.send_heartbeats(out),
            (PaxosTimer::Retransmit, Stance::Candidate(_) | Stance::Leader(_)) => {
                self.retransmit_campaign(out);
                self.retransmit_slots(out);
                out.set_timer(PaxosTimer::Retransmit, self.timing.heartbeat);
            }
            _ => {} // a stale timer of a role we no longer play
        }
    }

    fn on_peer_lost(&mut self, peer: NodeId, out: &mut Effects<Paxos>) {
        if !self.elect_on_peer_lost || !matches!(self.stance, Stance::Follower) {
            return;
        }
        if self.learner.era_value().map(|v| v.leader) != Some(peer) {
            return;
        }
        let spread = self
            .timing
            .election_timeout_max
            .saturating_sub(self.timing.election_timeout_min);
        let after = self.rng.duration_between(Duration::ZERO, spread);
        out.narrate(self.narrate, || {
            format!("lost the connection to leader {peer}: elect in {after:?}")
        });
        out.set_timer(PaxosTimer::LeaderTimeout, after);
    }

    /// End of every step: handle messages to ourselves, apply what became chosen,
    /// report readiness.
    fn finish(&mut self, out: &mut Effects<Paxos>) {
        while let Some(msg) = self.inbox.pop_front() {
            self.on_message(self.id, msg, out);
        }
        self.flush_commits(out);
        self.check_ready(out);
        self.settle_reads(out);
    }
}

impl Protocol for Paxos {
    fn message_text(msg: &Self::Message, command: &dyn Fn(&crate::Command) -> String) -> String {
        <Self as crate::Describe>::describe(msg, command)
    }

    const NAME: &'static str = "paxos";
    const GENERATION: &'static str = "ballot";

    /// A ballot as `round.node` (`1.1`), not its packed number (65537).
    fn show_generation(generation: u64) -> String {
        Ballot::from_u64(generation).to_string()
    }
    type Message = PaxosMessage;
    type Record = PaxosRecord;
    type Timer = PaxosTimer;

    fn recover(setup: Setup, records: Vec<PaxosRecord>) -> Result<Paxos, RecoveryError> {
        setup.ensure_member()?;
        let (acceptor, learner) = persist::replay(&records)?;
        let persisted_commit = learner.commit();
        let schedule = crate::snapshot::SnapshotSchedule::new(setup.timing.snapshot_every);
        Ok(Paxos {
            id: setup.id,
            membership: setup.membership,
            timing: setup.timing,
            rng: setup.rng,
            narrate: setup.narrate,
            elect_on_peer_lost: ELECT_ON_PEER_LOST,
            highest_seen: acceptor.promised(),
            acceptor,
            learner,
            stance: Stance::Follower,
            duels: 0,
            contention: 0,
            now: Time::ZERO,
            inbox: VecDeque::new(),
            durable_marks: DurableMarks::default(),
            applied: 0,
            persisted_commit,
            max_batch: multi::MAX_BATCH,
            bug: None,
            backoff: true,
            read_rounds: crate::read::ReadRounds::default(),
            read_ballot: None,
            reads: crate::read::PendingReads::default(),
            lease_granted: None,
            transfer: None,
            take_over: None,
            snapshot: None,
            schedule,
            receiving: None,
        })
    }

    /// Paxos's bugs: [`Bug::PaxosPromiseNotPersisted`],
    /// [`Bug::PaxosIgnoreAcceptedInPromises`].
    fn inject_bug(&mut self, bug: Bug) -> bool {
        let ours = bug.protocol() == crate::ProtocolKind::Paxos;
        if ours {
            self.bug = Some(bug);
        }
        ours
    }

    fn set_max_batch(&mut self, slots: usize) {
        self.max_batch = slots.max(1);
    }

    fn set_backoff(&mut self, on: bool) {
        self.backoff = on;
    }

    fn handle(&mut self, now: Time, input: InputOf<Paxos>, out: &mut Effects<Paxos>) {
        self.now = now;
        match input {
            Input::Start => self.on_start(out),
            Input::Message { from, msg } => self.on_message(from, msg, out),
            Input::Timer(timer) => self.on_timer(timer, out),
            Input::Client(command) => self.on_client(command, out),
            Input::Read(command) => self.on_read(command, out),
            Input::PeerLost(peer) => self.on_peer_lost(peer, out),
            Input::Durable(token) => self.inbox.extend(self.durable_marks.reached(token)),
            Input::TransferLeadership { to } => self.start_transfer(to, out),
            Input::SnapshotTaken(snapshot) => self.on_snapshot_taken(snapshot, out),
        }
        self.finish(out);
        if self.advance_transfer(out) {
            self.finish(out); // the takeover's Prepare to our own acceptor
        }
    }

    fn restore_snapshot(&mut self, snapshot: &crate::Snapshot) -> Result<(), RecoveryError> {
        self.restore(snapshot)
    }

    fn log_start(&self) -> u64 {
        self.learner.start()
    }

    fn handle_end_of_batch(&mut self, _now: Time, out: &mut Effects<Paxos>) {
        if matches!(&self.stance, Stance::Leader(lead) if !lead.unsent.is_empty()) {
            self.flush_accepts(out);
        }
    }

    fn status(&self) -> Status {
        let (role, term) = self.role_term();
        let last_index = match &self.stance {
            Stance::Leader(l) => l.pipeline.last_slot().max(self.learner.commit()),
            _ => self.learner.last_known().max(self.acceptor.last_slot()),
        };
        Status {
            role,
            term,
            leader: self.leader_hint(),
            commit_index: self.learner.commit(),
            last_index,
        }
    }

    /// Follower: the ballot of the leader it follows (0 if none); candidate and leader:
    /// its own ballot (see "Events" in the module docs).
    fn role_term(&self) -> (Role, u64) {
        match &self.stance {
            Stance::Follower => (
                Role::Follower,
                self.learner.era_value().map_or(0, |v| v.ballot.as_u64()),
            ),
            Stance::Candidate(c) => (Role::Candidate, c.ballot.as_u64()),
            Stance::Leader(l) => (Role::Leader, l.ballot.as_u64()),
        }
    }

    fn timing_mapping(t: &crate::Timing) -> Vec<(String, String)> {
        let (min, max) = (
            t.election_timeout_min.as_millis(),
            t.election_timeout_max.as_millis(),
        );
        vec![
            (
                "leader heartbeat (carries the commit point)".into(),
                format!("every {} ms", t.heartbeat.as_millis()),
            ),
            (
                "leader-failure timeout".into(),
                format!(
                    "uniform in {min}-{max} ms, re-drawn on every reset (a heartbeat, or a promise to a new ballot)"
                ),
            ),
            (
                "back-off after a lost ballot".into(),
                format!("uniform in {min}-{max} ms"),
            ),
            (
                "CheckQuorum".into(),
                if t.check_quorum {
                    format!(
                        "on: voters answer heartbeats; a leader without a majority of answers \
                         within {min} ms steps down"
                    )
                } else {
                    "off: heartbeats go unanswered; a leader keeps leading until pre-empted".into()
                },
            ),
            (
                "failure detection".into(),
                if ELECT_ON_PEER_LOST {
                    "heartbeat timeout, or the leader's connection dropping".into()
                } else {
                    "heartbeat timeout only (elect_on_peer_lost is off)".into()
                },
            ),
        ]
    }

    fn message_kind(msg: &PaxosMessage) -> &'static str {
        msg.kind()
    }
}
