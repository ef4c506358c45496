//! Phase 0: FastLeaderElection (ZooKeeper's default election).
//!
//! Source: ZooKeeper `FastLeaderElection.java` (`lookForLeader`, `totalOrderPredicate`,
//! `getVoteTracker`, `checkLeader`, and the `WorkerReceiver` replies); PROTOCOLS.md,
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

use crate::effect::Effect;
use crate::quorum::Membership;
use crate::types::NodeId;
use crate::zab::messages::{Notification, ServerState, Vote, ZabMessage};
use crate::zab::zxid::Zxid;
use crate::zab::{Out, Phase, Zab, ZabTimer};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

/// A vote as recorded in a tally: with the round and the state it was sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ballot {
    /// The vote.
    pub(crate) vote: Vote,
    /// The sender's round.
    pub(crate) round: u64,
    /// The sender's state.
    pub(crate) state: ServerState,
}

impl Ballot {
    /// ZooKeeper's `Vote.equals`: if either side is LOOKING everything must match;
    /// between FOLLOWING / LEADING reports only the leader and its epoch matter.
    fn agrees(&self, other: &Ballot) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.vote == other.vote && self.round == other.round
        } else {
            self.vote.leader == other.vote.leader && self.vote.peer_epoch == other.vote.peer_epoch
        }
    }
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

/// ZooKeeper's `totalOrderPredicate`: whether `new` beats `current`: higher epoch, then
/// higher zxid, then higher sid. A vote for a non-voter never wins.
pub fn total_order_predicate(new: &Vote, current: &Vote, membership: &Membership) -> bool {
    membership.is_voter(new.leader)
        && (new.peer_epoch, new.zxid, new.leader)
            > (current.peer_epoch, current.zxid, current.leader)
}

/// The rule that orders `new` against `current`, for narration:
/// "epoch equal (1), zxid 0x100000009 > 0x100000008".
pub fn explain_comparison(new: &Vote, current: &Vote) -> String {
    fn sym<T: Ord>(a: T, b: T) -> &'static str {
        match a.cmp(&b) {
            Ordering::Greater => ">",
            Ordering::Less => "<",
            Ordering::Equal => "=",
        }
    }
    if new.peer_epoch != current.peer_epoch {
        format!(
            "epoch {} {} {}",
            new.peer_epoch,
            sym(new.peer_epoch, current.peer_epoch),
            current.peer_epoch
        )
    } else if new.zxid != current.zxid {
        format!(
            "epoch equal ({}), zxid {} {} {}",
            new.peer_epoch,
            new.zxid,
            sym(new.zxid, current.zxid),
            current.zxid
        )
    } else {
        format!(
            "epoch and zxid equal, sid {} {} {}",
            new.leader,
            sym(new.leader, current.leader),
            current.leader
        )
    }
}

impl Zab {
    /// Our initial vote: ourselves, or nobody for an observer.
    fn initial_vote(&self) -> Vote {
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
        total_order_predicate(new, current, &self.membership)
    }

    /// Starts a new election round (`lookForLeader`'s preamble).
    pub(super) fn start_round(&mut self, out: &mut Out) {
        let initial = self.initial_vote();
        let e = &mut self.election;
        e.round += 1;
        e.received.clear();
        e.out_of_election.clear();
        e.finalizing = false;
        e.interval = self.timing.finalize_wait;
        e.proposal = initial;
        let (round, v) = (e.round, e.proposal);
        self.narrate(out, || {
            if v.leader == 0 {
                format!("round {round}: observer, no vote of its own")
            } else {
                format!(
                    "round {round}: vote for myself (zxid {}, epoch {})",
                    v.zxid, v.peer_epoch
                )
            }
        });
        out.push(Effect::CancelTimer(ZabTimer::FinalizeWait));
        self.set_timer(out, ZabTimer::NotificationTimeout, self.election.interval);
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
            self.send(out, to, ZabMessage::Notification(n));
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
        if !self.is_voter(from) {
            // Non-voters get our view at once and are never tallied.
            if self.is_voter(self.id) {
                let reply = self.my_notification();
                self.send(out, from, ZabMessage::Notification(reply));
            }
            return;
        }
        if !matches!(self.phase, Phase::Looking) {
            if n.state == ServerState::Looking && self.is_voter(self.id) {
                let reply = self.my_notification();
                self.narrate(out, || {
                    format!(
                        "{from} is LOOKING: tell it {:?} leader is {}",
                        reply.state, reply.vote.leader
                    )
                });
                self.send(out, from, ZabMessage::Notification(reply));
            }
            return;
        }
        if n.state == ServerState::Looking
            && n.round < self.election.round
            && self.is_voter(self.id)
        {
            let reply = self.my_notification();
            self.send(out, from, ZabMessage::Notification(reply));
        }
        self.election_loop(from, n, out);
    }

    /// The body of `lookForLeader`'s loop for one notification.
    fn election_loop(&mut self, from: NodeId, n: Notification, out: &mut Out) {
        if self.election.finalizing {
            let current = self.election.proposal;
            if self.beats(&n.vote, &current) {
                self.election.finalizing = false;
                out.push(Effect::CancelTimer(ZabTimer::FinalizeWait));
                self.narrate(out, || {
                    format!(
                        "finalize wait interrupted by a better vote from {from}: {}",
                        explain_comparison(&n.vote, &current)
                    )
                });
            } else {
                self.narrate(out, || {
                    format!("finalize wait: vote from {from} is not better, wait again")
                });
                self.set_timer(out, ZabTimer::FinalizeWait, self.timing.finalize_wait);
                return;
            }
        }
        self.set_timer(out, ZabTimer::NotificationTimeout, self.election.interval);
        if !self.is_voter(n.vote.leader) {
            self.narrate(out, || {
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
            self.narrate(out, || {
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
            self.narrate(out, || {
                format!("ignore vote from {from}: old round {} < {round}", n.round)
            });
            return;
        } else {
            let current = self.election.proposal;
            if self.beats(&n.vote, &current) {
                self.election.proposal = n.vote;
                self.narrate(out, || {
                    format!(
                        "vote for {}: same round {round}, {}",
                        n.vote.leader,
                        explain_comparison(&n.vote, &current)
                    )
                });
                self.send_notifications(out);
            } else if n.vote != current {
                self.narrate(out, || {
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
        self.narrate(out, || {
            format!(
                "quorum {agreeing:?} agrees on {}: wait {:?} for a better vote",
                mine.vote.leader, self.timing.finalize_wait
            )
        });
        out.push(Effect::CancelTimer(ZabTimer::NotificationTimeout));
        self.set_timer(out, ZabTimer::FinalizeWait, self.timing.finalize_wait);
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
                self.narrate(out, || {
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
        if self.established_quorum(&self.election.out_of_election, &report) {
            self.narrate(out, || {
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
        self.narrate(out, || {
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
        self.narrate(out, || {
            format!(
                "no notification for {:?}: send my vote again, next timeout {next:?}",
                self.election.interval
            )
        });
        self.election.interval = next;
        self.send_notifications(out);
        self.set_timer(out, ZabTimer::NotificationTimeout, next);
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
        out.push(Effect::CancelTimer(ZabTimer::NotificationTimeout));
        out.push(Effect::CancelTimer(ZabTimer::FinalizeWait));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn v(leader: NodeId, epoch: u32, counter: u32, peer_epoch: u32) -> Vote {
        Vote {
            leader,
            zxid: Zxid::new(epoch, counter),
            peer_epoch,
        }
    }

    #[test]
    fn total_order_predicate_table() {
        let m = Membership::new([1, 2, 3, 4, 5], [6]);
        // (new, current, new beats current)
        let table = [
            (v(1, 1, 1, 2), v(5, 1, 9, 1), true), // higher epoch wins over zxid and sid
            (v(5, 1, 9, 1), v(1, 1, 1, 2), false), // lower epoch loses
            (v(3, 1, 9, 1), v(4, 1, 8, 1), true), // same epoch: higher zxid wins
            (v(4, 1, 8, 1), v(3, 1, 9, 1), false), // lower zxid loses despite higher sid
            (v(3, 2, 1, 2), v(5, 1, 9, 2), true), // zxid epoch bits count
            (v(4, 1, 9, 1), v(3, 1, 9, 1), true), // all equal but sid: higher sid wins
            (v(3, 1, 9, 1), v(4, 1, 9, 1), false), // lower sid loses
            (v(3, 1, 9, 1), v(3, 1, 9, 1), false), // identical: not better
            (v(6, 9, 9, 9), v(1, 0, 0, 0), false), // a vote for an observer never wins
            (v(1, 0, 0, 0), v(0, 0, 0, 0), true), // any voter beats an observer's empty vote
        ];
        for (new, current, expected) in table {
            assert_eq!(
                total_order_predicate(&new, &current, &m),
                expected,
                "{new:?} vs {current:?}"
            );
        }
    }

    #[test]
    fn explanations_name_the_deciding_rule() {
        assert_eq!(
            explain_comparison(&v(3, 1, 9, 1), &v(4, 1, 8, 1)),
            "epoch equal (1), zxid 0x100000009 > 0x100000008"
        );
        assert_eq!(
            explain_comparison(&v(1, 1, 1, 2), &v(5, 1, 9, 1)),
            "epoch 2 > 1"
        );
        assert_eq!(
            explain_comparison(&v(4, 1, 9, 1), &v(3, 1, 9, 1)),
            "epoch and zxid equal, sid 4 > 3"
        );
    }

    #[test]
    fn ballots_agree_like_zookeeper_votes() {
        let looking = |leader, round| Ballot {
            vote: v(leader, 1, 1, 1),
            round,
            state: ServerState::Looking,
        };
        let report = |leader, round, peer_epoch, state| Ballot {
            vote: v(leader, 1, 7, peer_epoch),
            round,
            state,
        };
        assert!(looking(3, 2).agrees(&looking(3, 2)));
        assert!(!looking(3, 2).agrees(&looking(3, 1)));
        // Reports compare leader and epoch only, whatever the zxid and round.
        assert!(report(3, 1, 2, ServerState::Following).agrees(&report(
            3,
            5,
            2,
            ServerState::Leading
        )));
        assert!(!report(3, 1, 2, ServerState::Following).agrees(&report(
            3,
            1,
            1,
            ServerState::Leading
        )));
        // Against a LOOKING vote everything counts.
        assert!(!report(3, 2, 1, ServerState::Following).agrees(&looking(3, 2)));
    }
}
