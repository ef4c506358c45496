//! Phase 0: FastLeaderElection (ZooKeeper's default election).
//!
//! Source: ZooKeeper `FastLeaderElection.java` (`lookForLeader`, `totalOrderPredicate`,
//! `getVoteTracker`, `checkLeader`, and the `WorkerReceiver` replies); docs/PROTOCOLS.md,
//! "FastLeaderElection". The rules, in the order `lookForLeader` applies them:
//! - A new round (`logicalclock + 1`) starts with a vote for oneself (sid, last logged
//!   zxid, current epoch), sent to every voter.
//! - A LOOKING vote from an older round is ignored (and the sender is told our round); a
//!   newer round is adopted: the tally is cleared and we vote for the better of the
//!   received vote and our own initial vote. In the same round the received vote
//!   replaces ours when it is better: higher epoch, then higher zxid, then higher sid
//!   (`totalOrderPredicate`). A changed vote is sent to every voter.
//! - When a quorum of the round's votes equals ours, wait `finalizeWait`: a better vote
//!   resumes the election; any other notification is consumed and the wait restarts;
//!   silence decides (LEADING if we are the candidate, else FOLLOWING / OBSERVING).
//! - FOLLOWING / LEADING notifications describe an established ensemble: a quorum of
//!   them naming one leader that itself reports LEADING (`checkLeader`) makes a
//!   latecomer follow it without disturbing anyone (`outofelection`).
//! - A voter that is not LOOKING answers a LOOKING voter with its last decided vote and
//!   its state; everybody answers a non-voter's notification at once; observers never
//!   count toward a quorum and cannot be voted for.
//! - When no notification arrives for the current interval, the vote is sent again and
//!   the interval doubles, up to a cap.

use crate::bugs::Bug;
use crate::output::Output;
use crate::types::NodeId;
use crate::zab::messages::{Notification, ServerState, Vote, ZabMessage};
use crate::zab::vote::{explain_comparison, total_order_predicate, Ballot};
use crate::zab::zxid::Zxid;
use crate::zab::{Out, Phase, Zab, ZabTimer};
use std::collections::BTreeMap;
use std::time::Duration;

/// The last round a server numbers or adopts. ZooKeeper's `logicalclock` is a Java
/// `long` that nothing stops from wrapping; here a notification of a later round (only
/// a forged one can carry it) is refused, and a server whose round reached this one
/// votes again in it instead of numbering a round it could never move past.
const LAST_ROUND: u64 = u64::MAX - 1;

/// Whether a notification can come from an honest server: its round can be followed
/// by another, and its vote names no epoch at the maximum, which no server ever
/// accepts (`discovery.rs`). Refusing one is always safe: the network may lose it.
fn is_valid(n: &Notification) -> bool {
    n.round <= LAST_ROUND && n.vote.peer_epoch < u32::MAX && n.vote.zxid.epoch() < u32::MAX
}

/// FastLeaderElection state, kept across rounds.
#[derive(Debug)]
pub(crate) struct Election {
    /// The election round (`logicalclock`); not persisted, as in ZooKeeper.
    pub(crate) round: u64,
    /// Our current vote in this round.
    proposal: Vote,
    /// Votes of this round (`recvset`), including our own.
    received: BTreeMap<NodeId, Ballot>,
    /// FOLLOWING / LEADING reports of any round (`outofelection`).
    out_of_election: BTreeMap<NodeId, Ballot>,
    /// The current notification timeout.
    interval: Duration,
    /// A quorum agrees and the finalize wait runs.
    finalizing: bool,
    /// The last decided vote, reported to LOOKING servers while not LOOKING.
    pub(crate) decided: Ballot,
}

impl Election {
    /// Our current vote (for live views).
    pub(crate) fn proposal(&self) -> Vote {
        self.proposal
    }

    pub(crate) fn new(first_interval: Duration) -> Election {
        let none = Vote {
            leader: 0,
            zxid: Zxid::ZERO,
            peer_epoch: 0,
        };
        Election {
            round: 0,
            proposal: none,
            received: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            interval: first_interval,
            finalizing: false,
            decided: Ballot {
                vote: none,
                round: 0,
                state: ServerState::Looking,
            },
        }
    }
}

impl Zab {
    /// Our initial vote: ourselves, or nobody for an observer; during a hand-over's
    /// election, its designated leader (`transfer.rs`).
    fn initial_vote(&self) -> Vote {
        if let Some(v) = self.designated.filter(|_| self.is_voter(self.id)) {
            return v;
        }
        if self.is_voter(self.id) {
            Vote {
                leader: self.id,
                zxid: self.history.last_zxid(),
                peer_epoch: self.history.current_epoch,
            }
        } else {
            Vote {
                leader: 0,
                zxid: Zxid::ZERO,
                peer_epoch: 0,
            }
        }
    }

    fn beats(&self, new: &Vote, current: &Vote) -> bool {
        if self.bug == Some(Bug::ZabFleIgnoresEpoch) {
            // BUG (teaching, off by default): `totalOrderPredicate` without its first
            // rule, the epoch: a server with a longer log of an older epoch wins.
            return self.is_voter(new.leader)
                && (new.zxid, new.leader) > (current.zxid, current.leader);
        }
        total_order_predicate(new, current, &self.membership)
    }

    /// Starts a new election round (`lookForLeader`'s preamble).
    pub(super) fn start_round(&mut self, out: &mut Out) {
        let designated = self.designated;
        let initial = self.initial_vote();
        let e = &mut self.election;
        if e.round >= LAST_ROUND {
            out.narrate(self.narrate, || {
                format!("round {LAST_ROUND} is the last: vote again in it")
            });
        }
        e.round = e.round.saturating_add(1).min(LAST_ROUND);
        e.received.clear();
        e.out_of_election.clear();
        e.finalizing = false;
        e.interval = self.timing.finalize_wait;
        e.proposal = initial;
        let (round, v) = (e.round, e.proposal);
        out.narrate(self.narrate, || {
            if v.leader == 0 {
                format!("round {round}: observer, no vote of its own")
            } else if designated.is_some() {
                format!(
                    "round {round}: vote for the designated leader {} (zxid {}, epoch {})",
                    v.leader, v.zxid, v.peer_epoch
                )
            } else {
                format!(
                    "round {round}: vote for myself (zxid {}, epoch {})",
                    v.zxid, v.peer_epoch
                )
            }
        });
        out.cancel_timer(ZabTimer::FinalizeWait);
        out.set_timer(ZabTimer::NotificationTimeout, self.election.interval);
        self.send_notifications(out);
        self.check_round_quorum(out);
    }

    /// Sends our vote to every voter and records it in our own tally (ZooKeeper sends
    /// it to itself through the loopback).
    fn send_notifications(&mut self, out: &mut Out) {
        let n = Notification {
            vote: self.election.proposal,
            round: self.election.round,
            state: ServerState::Looking,
        };
        for to in self
            .membership
            .voter_ids()
            .iter()
            .copied()
            .filter(|&v| v != self.id)
        {
            out.send(to, ZabMessage::Notification(n));
        }
        if self.is_voter(self.id) {
            self.election.received.insert(
                self.id,
                Ballot {
                    vote: n.vote,
                    round: n.round,
                    state: n.state,
                },
            );
        }
    }

    /// What we report to others: our proposal while LOOKING, else the decided vote.
    fn my_notification(&self) -> Notification {
        match self.phase {
            Phase::Looking => Notification {
                vote: self.election.proposal,
                round: self.election.round,
                state: ServerState::Looking,
            },
            _ => {
                let d = self.election.decided;
                Notification {
                    vote: d.vote,
                    round: d.round,
                    state: self.server_state(),
                }
            }
        }
    }

    /// A notification arrived (ZooKeeper's `WorkerReceiver`, then the main loop).
    pub(super) fn on_notification(&mut self, from: NodeId, n: Notification, out: &mut Out) {
        if !is_valid(&n) {
            out.narrate(self.narrate, || {
                format!(
                    "ignore a notification from {from} with an invalid round {} or epoch {}",
                    n.round, n.vote.peer_epoch
                )
            });
            return;
        }
        if !self.is_voter(from) {
            // Non-voters get our view at once and are never tallied.
            if self.is_voter(self.id) {
                let reply = self.my_notification();
                out.send(from, ZabMessage::Notification(reply));
            }
            return;
        }
        if !matches!(self.phase, Phase::Looking) {
            if n.state == ServerState::Looking && self.is_voter(self.id) {
                let reply = self.my_notification();
                out.narrate(self.narrate, || {
                    format!(
                        "{from} is LOOKING: tell it we are {} and the leader is {}",
                        super::describe::zab_state(reply.state),
                        reply.vote.leader
                    )
                });
                out.send(from, ZabMessage::Notification(reply));
            }
            return;
        }
        if n.state == ServerState::Looking
            && n.round < self.election.round
            && self.is_voter(self.id)
        {
            let reply = self.my_notification();
            out.send(from, ZabMessage::Notification(reply));
        }
        self.election_loop(from, n, out);
    }

    /// The body of `lookForLeader`'s loop for one notification.
    fn election_loop(&mut self, from: NodeId, n: Notification, out: &mut Out) {
        if self.election.finalizing {
            let current = self.election.proposal;
            if self.beats(&n.vote, &current) {
                self.election.finalizing = false;
                out.cancel_timer(ZabTimer::FinalizeWait);
                out.narrate(self.narrate, || {
                    format!(
                        "finalize wait interrupted by a better vote from {from}: {}",
                        explain_comparison(&n.vote, &current)
                    )
                });
            } else {
                out.narrate(self.narrate, || {
                    format!("finalize wait: vote from {from} is not better, wait again")
                });
                out.set_timer(ZabTimer::FinalizeWait, self.timing.finalize_wait);
                return;
            }
        }
        out.set_timer(ZabTimer::NotificationTimeout, self.election.interval);
        if !self.is_voter(n.vote.leader) {
            out.narrate(self.narrate, || {
                format!("ignore vote from {from} for non-voter {}", n.vote.leader)
            });
            return;
        }
        match n.state {
            ServerState::Looking => self.on_looking_vote(from, n, out),
            ServerState::Observing => {}
            ServerState::Following | ServerState::Leading => self.on_leader_report(from, n, out),
        }
    }

    fn on_looking_vote(&mut self, from: NodeId, n: Notification, out: &mut Out) {
        let round = self.election.round;
        if n.round > round {
            self.election.round = n.round;
            self.election.received.clear();
            let mine = self.initial_vote();
            let adopt = self.beats(&n.vote, &mine);
            self.election.proposal = if adopt { n.vote } else { mine };
            out.narrate(self.narrate, || {
                let rule = explain_comparison(&n.vote, &mine);
                if adopt {
                    format!(
                        "adopt round {} from {from}, clear the tally; vote for {}: {rule}",
                        n.round, n.vote.leader
                    )
                } else {
                    format!(
                        "adopt round {} from {from}, clear the tally; keep my own vote: {rule}",
                        n.round
                    )
                }
            });
            self.send_notifications(out);
        } else if n.round < round {
            out.narrate(self.narrate, || {
                format!(
                    "ignore vote from {from}: old round {} < {round} (only votes of the current \
                     round are tallied; ours, sent back, brings it to round {round})",
                    n.round
                )
            });
            return;
        } else {
            let current = self.election.proposal;
            if self.beats(&n.vote, &current) {
                self.election.proposal = n.vote;
                out.narrate(self.narrate, || {
                    format!(
                        "vote for {}: same round {round}, {}",
                        n.vote.leader,
                        explain_comparison(&n.vote, &current)
                    )
                });
                self.send_notifications(out);
            } else if n.vote != current {
                out.narrate(self.narrate, || {
                    format!(
                        "keep voting for {} over {from}'s vote for {}: {}",
                        current.leader,
                        n.vote.leader,
                        explain_comparison(&n.vote, &current)
                    )
                });
            }
        }
        self.election.received.insert(
            from,
            Ballot {
                vote: n.vote,
                round: n.round,
                state: n.state,
            },
        );
        self.check_round_quorum(out);
    }

    /// Whether a quorum of this round's votes equals our vote; if so, start finalizing.
    fn check_round_quorum(&mut self, out: &mut Out) {
        let e = &self.election;
        if e.finalizing {
            return;
        }
        let mine = Ballot {
            vote: e.proposal,
            round: e.round,
            state: ServerState::Looking,
        };
        let agreeing: Vec<NodeId> = e
            .received
            .iter()
            .filter(|(_, b)| b.agrees(&mine))
            .map(|(&s, _)| s)
            .collect();
        if !self.membership.is_quorum(&agreeing) {
            return;
        }
        self.election.finalizing = true;
        out.narrate(self.narrate, || {
            format!(
                "quorum {agreeing:?} agrees on {}: wait {:?} for a better vote",
                mine.vote.leader, self.timing.finalize_wait
            )
        });
        out.cancel_timer(ZabTimer::NotificationTimeout);
        out.set_timer(ZabTimer::FinalizeWait, self.timing.finalize_wait);
    }

    /// A FOLLOWING / LEADING notification while LOOKING.
    fn on_leader_report(&mut self, from: NodeId, n: Notification, out: &mut Out) {
        let report = Ballot {
            vote: n.vote,
            round: n.round,
            state: n.state,
        };
        if n.round == self.election.round {
            self.election.received.insert(from, report);
            if self.established_quorum(&self.election.received, &report) {
                out.narrate(self.narrate, || {
                    format!(
                        "a quorum of round {} reports leader {}",
                        n.round, n.vote.leader
                    )
                });
                self.decide(report, out);
                return;
            }
        }
        self.election.out_of_election.insert(from, report);
        if !self.established_quorum(&self.election.out_of_election, &report) {
            // Why this report does not end our election yet.
            let agreeing: Vec<NodeId> = self
                .election
                .out_of_election
                .iter()
                .filter(|(_, b)| b.agrees(&report))
                .map(|(&s, _)| s)
                .collect();
            let leader = n.vote.leader;
            let why = if !self.membership.is_quorum(&agreeing) {
                format!("only {agreeing:?} report it, not a quorum")
            } else {
                format!("{leader} itself has not told us it is LEADING")
            };
            out.narrate(self.narrate, || {
                format!(
                    "{from} is {} with leader {leader} (round {}); not joining yet: {why}",
                    super::describe::zab_state(n.state),
                    n.round
                )
            });
        } else {
            out.narrate(self.narrate, || {
                format!(
                    "latecomer: a quorum follows leader {} (round {}): join it",
                    n.vote.leader, n.round
                )
            });
            self.election.round = n.round;
            self.decide(report, out);
        }
    }

    /// `getVoteTracker(..).hasAllQuorums() && checkLeader(..)`.
    fn established_quorum(&self, votes: &BTreeMap<NodeId, Ballot>, report: &Ballot) -> bool {
        let agreeing: Vec<NodeId> = votes
            .iter()
            .filter(|(_, b)| b.agrees(report))
            .map(|(&s, _)| s)
            .collect();
        if !self.membership.is_quorum(&agreeing) {
            return false;
        }
        let leader = report.vote.leader;
        if leader == self.id {
            self.election.round == report.round
        } else {
            votes
                .get(&leader)
                .is_some_and(|b| b.state == ServerState::Leading)
        }
    }

    pub(super) fn on_finalize_wait(&mut self, out: &mut Out) {
        if !self.election.finalizing {
            return;
        }
        let e = &self.election;
        let vote = Ballot {
            vote: e.proposal,
            round: e.round,
            state: ServerState::Looking,
        };
        out.narrate(self.narrate, || {
            format!(
                "no better vote within the finalize wait: {} leads",
                vote.vote.leader
            )
        });
        self.decide(vote, out);
    }

    pub(super) fn on_notification_timeout(&mut self, out: &mut Out) {
        if self.election.finalizing {
            return;
        }
        let next = (self.election.interval * 2).min(self.timing.max_notification_interval);
        out.narrate(self.narrate, || {
            format!(
                "no notification for {:?}: send my vote again, next timeout {next:?}",
                self.election.interval
            )
        });
        self.election.interval = next;
        self.send_notifications(out);
        out.set_timer(ZabTimer::NotificationTimeout, next);
    }

    /// Leaves the election with `vote` as the decided vote.
    fn decide(&mut self, vote: Ballot, out: &mut Out) {
        let voter = self.is_voter(self.id);
        let e = &mut self.election;
        e.finalizing = false;
        e.received.clear();
        e.out_of_election.clear();
        let leader = vote.vote.leader;
        let state = if leader == self.id {
            ServerState::Leading
        } else if voter {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        e.decided = Ballot {
            vote: vote.vote,
            round: e.round,
            state,
        };
        out.cancel_timer(ZabTimer::NotificationTimeout);
        out.cancel_timer(ZabTimer::FinalizeWait);
        self.on_decided(leader, out);
    }

    /// Our current vote (LOOKING) or the decided one.
    pub fn current_vote(&self) -> Vote {
        self.my_notification().vote
    }

    /// The election round (ZooKeeper's logical clock).
    pub fn election_round(&self) -> u64 {
        self.election.round
    }

    /// ZOOKEEPER-1732: once the new epoch is established the decided vote reports it,
    /// so that every member answers latecomers with the same (leader, epoch).
    pub(super) fn update_election_vote(&mut self, epoch: u32) {
        self.election.decided.vote.peer_epoch = epoch;
    }
}
