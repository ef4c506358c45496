//! Leader-lease reads for Multi-Paxos ([`crate::read::ReadPath::Lease`]), after
//! Chandra, Griesemer and Redstone, "Paxos Made Live" (PODC 2007) §5.2 "Master
//! leases", with the lease arithmetic of Raft thesis §6.4.1.
//!
//! Plain Paxos lets any proposer take over at any moment with a higher ballot, so a
//! leader can never know it is still the leader without a round trip. A lease makes it
//! know for a while:
//! - the leader sends a `LeaseProbe` round ([`crate::read::ReadRounds`]) with every
//!   heartbeat; a follower that follows that leader answers it, restarts its
//!   leader-failure timeout, and (only under lease reads) ignores Prepares of any
//!   other proposer for `election_timeout_min` after it (the replicas' promise of
//!   Paxos Made Live: "the replicas promise not to process messages from any other
//!   master");
//! - once a majority acknowledged a round sent at `start`, no other proposer can win
//!   Phase 1 before `start + election_timeout_min` by those followers' clocks, so the
//!   leader serves reads from its own applied state until `start +`
//!   [`crate::read::lease_span`], the minimum election timeout shortened by the
//!   clock-drift bound [`crate::LEASE_DRIFT_PERCENT`] (10%);
//! - a read needs the leader to be ready (every slot found on takeover chosen, so every
//!   write acknowledged before the read is applied here); one that arrives while the
//!   lease has lapsed waits for the next confirmed round.
//!
//! Other read paths Paxos lacks (ReadIndex and `sync`) go through the log; local
//! reads are served at once from whatever this node has applied.

use super::{Ballot, Paxos, PaxosMessage, Stance};
use crate::effect::ClientError;
use crate::node::Effects;
use crate::output::Output;
use crate::read::{PendingRead, ReadPath};
use crate::types::{Command, NodeId};

impl Paxos {
    /// A read-only command arrived: served by the run's read path.
    pub(super) fn on_read(&mut self, command: Command, out: &mut Effects<Paxos>) {
        match self.timing.reads {
            ReadPath::Local => out.serve_read(command.id),
            ReadPath::Lease => self.lease_read(command, out),
            ReadPath::Log | ReadPath::Index | ReadPath::Sync => self.on_client(command, out),
        }
    }

    fn lease_read(&mut self, command: Command, out: &mut Effects<Paxos>) {
        let hint = self.leader_hint();
        let ready = matches!(&self.stance, Stance::Leader(lead) if lead.ready);
        if !ready {
            let leader = if matches!(self.stance, Stance::Leader(_)) {
                Some(self.id)
            } else {
                hint
            };
            out.reject(command.id, ClientError::NotLeader { leader });
            return;
        }
        let holds = self
            .read_rounds
            .lease_holds(self.now, self.timing.election_timeout_min);
        let round = if holds { 0 } else { self.read_rounds.next() };
        self.reads.push(PendingRead {
            id: command.id,
            round,
            index: self.learner.commit(),
        });
    }

    /// At each heartbeat (and when a waiting read needs one): a round of probes.
    pub(super) fn start_lease_round(&mut self, out: &mut Effects<Paxos>) {
        let Stance::Leader(lead) = &self.stance else {
            return;
        };
        let ballot = lead.ballot;
        let round = self.read_rounds.start(self.now, self.id, &self.membership);
        let voters: Vec<NodeId> = self.membership.voter_ids().to_vec();
        for v in voters.into_iter().filter(|&v| v != self.id) {
            out.send_ahead(v, PaxosMessage::LeaseProbe { ballot, round });
        }
    }

    /// A follower hears a probe: if it follows that leader, it grants the lease.
    pub(super) fn on_lease_probe(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        round: u64,
        out: &mut Effects<Paxos>,
    ) {
        if ballot.node != from || ballot < self.acceptor.promised() {
            return;
        }
        let follows = matches!(self.stance, Stance::Follower)
            && self
                .learner
                .era_value()
                .is_some_and(|v| v.leader == from && v.ballot == ballot);
        if !follows {
            return;
        }
        self.heard_from_leader(from, ballot, out);
        self.lease_granted = Some((from, self.now));
        self.send(from, PaxosMessage::LeaseProbeAck { ballot, round }, out);
    }

    /// The leader hears an acknowledgement of `round` at `ballot`.
    pub(super) fn on_lease_probe_ack(&mut self, from: NodeId, ballot: Ballot, round: u64) {
        let now = self.now;
        let Stance::Leader(lead) = &mut self.stance else {
            return;
        };
        if lead.ballot != ballot {
            return;
        }
        if let Some(at) = lead.heard.get_mut(&from) {
            *at = now;
        }
        self.read_rounds.ack(from, round, &self.membership);
    }

    /// Whether this acceptor must ignore a Prepare from `from`: under lease reads it
    /// granted another leader a lease less than `election_timeout_min` ago, or it is
    /// the leader and its own lease holds (its promise would depose it for nothing:
    /// the proposer cannot win a majority before the lease ends).
    pub(super) fn lease_forbids_prepare(&self, from: NodeId) -> bool {
        if self.timing.reads != ReadPath::Lease {
            return false;
        }
        let min = self.timing.election_timeout_min;
        let granted = self
            .lease_granted
            .is_some_and(|(leader, at)| leader != from && self.now.since(at) < min);
        let own = from != self.id
            && matches!(self.stance, Stance::Leader(_))
            && self.read_rounds.lease_holds(self.now, min);
        granted || own
    }

    /// End of every step: starts a round a waiting read needs, serves what may be
    /// served, and refuses the waiting reads of a leadership that ended.
    pub(super) fn settle_reads(&mut self, out: &mut Effects<Paxos>) {
        let ballot = match &self.stance {
            Stance::Leader(lead) => Some(lead.ballot),
            _ => None,
        };
        if ballot != self.read_ballot {
            self.read_ballot = ballot;
            self.read_rounds = Default::default();
            let hint = self.leader_hint();
            for id in self.reads.take_all() {
                out.reject(id, ClientError::NotLeader { leader: hint });
            }
        }
        if self.reads.is_empty() {
            return;
        }
        let needed = self.reads.round_needed();
        if needed > 0 && !self.read_rounds.pending_from(needed) {
            self.start_lease_round(out);
        }
        for id in self
            .reads
            .take_ready(self.read_rounds.confirmed(), self.applied)
        {
            out.serve_read(id);
        }
    }
}
