//! Replica election and promotion (Redis Cluster Specification, "Replica election and
//! promotion", "Replica rank", "Masters reply to replica vote request").
//!
//! A replica whose master is `FAIL` (and serves slots) waits
//! `500 ms + random(0..=500 ms) + rank * 1000 ms`, its rank being how many replicas of
//! the same master announced a larger replication offset (the most up-to-date replica
//! goes first), and adds to the wait if its rank worsens meanwhile. Then it increments
//! `currentEpoch` and sends `FAILOVER_AUTH_REQUEST` to every node. A master votes for it
//! only if all of these hold:
//! 1. the voter is a master serving slots;
//! 2. the request's `currentEpoch` is not older than the voter's;
//! 3. the voter has not voted in this `currentEpoch` (`lastVoteEpoch`);
//! 4. the requester is a replica, and its master is `FAIL` (unless the request is a
//!    manual failover's, `FORCEACK`);
//! 5. the voter has not voted for a replica of that master within twice the node timeout;
//! 6. for every slot the requester claims, the `configEpoch` of the slot's owner in the
//!    voter's view is not newer than the requester's.
//!
//! A vote is saved in `nodes.conf` before the `FAILOVER_AUTH_ACK` leaves. A replica with
//! votes from a majority of the masters serving slots, counted within the vote round
//! (`max(2 * node timeout, 2 s)`), is promoted: its `configEpoch` becomes the epoch it
//! won, it takes its master's slots, starts a new replication history and broadcasts a
//! pong, whose higher `configEpoch` moves the slots everywhere ([`super::config`]). A
//! round that fails is retried after twice its timeout.

use super::slots::SlotRange;
use super::{Epoch, Health, Redis, RedisMessage, RedisRecord, RedisTimer};
use crate::effect::Event;
use crate::node::Effects;
use crate::output::Output;
use crate::types::{NodeId, Time};
use std::collections::BTreeSet;
use std::time::Duration;

/// A replica's election in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Election {
    /// When the request goes out (after the election delay).
    pub auth_time: Time,
    /// The request went out.
    pub sent: bool,
    /// The `currentEpoch` it was sent at.
    pub epoch: Epoch,
    /// Masters that voted for us in `epoch`.
    pub votes: BTreeSet<NodeId>,
    /// Our rank when the delay was drawn.
    pub rank: u64,
    /// A manual failover's election: no delay, masters vote without `FAIL`.
    pub manual: bool,
}

/// How long a vote round waits for a majority: `max(2 * node timeout, 2000 ms)`.
pub fn auth_timeout(node_timeout: Duration) -> Duration {
    (node_timeout * 2).max(Duration::from_millis(2000))
}

impl Redis {
    /// The election the replica is running, if any.
    pub fn election(&self) -> Option<&Election> {
        self.election.as_ref()
    }

    /// How many replicas of `master` announced a larger offset than ours.
    pub fn rank(&self, master: NodeId) -> u64 {
        let me = self.id();
        let ours = self.stream.offset();
        self.nodes
            .iter()
            .filter(|(&id, p)| id != me && p.master == Some(master) && p.offset > ours)
            .count() as u64
    }

    /// `clusterHandleSlaveFailover`, run from `clusterCron` and the election timer.
    pub(crate) fn election_cron(&mut self, out: &mut Effects<Self>) {
        let Some(m) = self.master() else {
            self.election = None;
            return;
        };
        let manual_ready = self.manual.as_ref().is_some_and(|mf| mf.can_start);
        let failed = self.nodes.get(&m).is_some_and(|p| p.health == Health::Fail);
        if !(failed || manual_ready) || !self.slots.serves_any(m) {
            return;
        }
        let now = self.now;
        let timeout = auth_timeout(self.node_timeout());
        if self
            .election
            .as_ref()
            .is_some_and(|e| now >= e.auth_time.plus(timeout * 2))
        {
            self.election = None; // the last round failed long enough ago: retry
        }
        let narrate = self.setup.narrate;
        let Some(e) = self.election.as_mut() else {
            let (rank, delay) = if manual_ready {
                (0, Duration::ZERO)
            } else {
                let rank = self.rank(m);
                let s = &self.settings;
                let random = self
                    .setup
                    .rng
                    .duration_between(Duration::ZERO, s.election_random);
                let steps = u32::try_from(rank).unwrap_or(u32::MAX);
                (
                    rank,
                    s.election_fixed + random + s.rank_step.saturating_mul(steps),
                )
            };
            self.election = Some(Election {
                auth_time: now.plus(delay),
                sent: false,
                epoch: 0,
                votes: BTreeSet::new(),
                rank,
                manual: manual_ready,
            });
            out.narrate(narrate, || {
                if manual_ready {
                    format!("manual failover: caught up with n{m}, ask for votes now")
                } else {
                    format!("master n{m} is FAIL: election in {} ms (500 fixed + random + rank {rank} * 1000)", delay.as_millis())
                }
            });
            // Tell the other replicas of our master our offset, so they rank themselves.
            self.broadcast_pong(|p| p.master == Some(m), out);
            if delay.is_zero() {
                return self.election_cron(out);
            }
            out.set_timer(RedisTimer::Election, delay);
            return;
        };
        if !e.sent && !e.manual {
            let rank = {
                let me = self.setup.id;
                let ours = self.stream.offset();
                self.nodes
                    .iter()
                    .filter(|(&id, p)| id != me && p.master == Some(m) && p.offset > ours)
                    .count() as u64
            };
            let Some(e) = self.election.as_mut() else {
                return;
            };
            if rank > e.rank {
                let added = self
                    .settings
                    .rank_step
                    .saturating_mul(u32::try_from(rank - e.rank).unwrap_or(u32::MAX));
                e.auth_time = e.auth_time.plus(added);
                e.rank = rank;
                out.narrate(narrate, || format!("a replica with a larger offset appeared: rank {rank}, election delayed by {} ms", added.as_millis()));
                out.set_timer(RedisTimer::Election, e.auth_time.since(now));
            }
        }
        let Some(e) = self.election.as_mut() else {
            return;
        };
        if now < e.auth_time || e.sent {
            return;
        }
        if now.since(e.auth_time) > timeout {
            return; // too late for this round; it will be retried
        }
        self.current_epoch += 1;
        e.epoch = self.current_epoch;
        e.sent = true;
        let (epoch, force) = (e.epoch, e.manual);
        self.save_conf();
        let config_epoch = self.nodes.get(&m).map_or(0, |p| p.config_epoch);
        let slots = self.slots.ranges_of(m);
        out.narrate(narrate, || {
            format!("currentEpoch {epoch}: send FAILOVER_AUTH_REQUEST to every node")
        });
        for to in self.others() {
            out.send(
                to,
                RedisMessage::AuthRequest {
                    current_epoch: epoch,
                    config_epoch,
                    master: m,
                    slots: slots.clone(),
                    force,
                },
            );
        }
        out.set_timer(RedisTimer::Election, timeout);
    }

    /// A master decides whether to vote (the six rules of the module docs).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_auth_request(
        &mut self,
        from: NodeId,
        current_epoch: Epoch,
        config_epoch: Epoch,
        master: NodeId,
        slots: &[SlotRange],
        force: bool,
        out: &mut Effects<Self>,
    ) {
        self.observe_epoch(current_epoch);
        let me = self.id();
        let narrate = self.setup.narrate;
        let refuse = |out: &mut Effects<Self>, why: String| {
            out.narrate(narrate, || format!("refuse to vote for n{from}: {why}"));
        };
        if !self.is_master() || !self.slots.serves_any(me) {
            return; // only masters serving slots vote
        }
        if current_epoch < self.current_epoch {
            return refuse(
                out,
                format!(
                    "its currentEpoch {current_epoch} is older than ours {}",
                    self.current_epoch
                ),
            );
        }
        if self.last_vote_epoch == self.current_epoch {
            return refuse(
                out,
                format!("we already voted in epoch {}", self.current_epoch),
            );
        }
        let requester_master = self.nodes.get(&from).and_then(|p| p.master);
        if requester_master.is_none() {
            return refuse(out, "it is a master, not a replica".into());
        }
        let master = requester_master.unwrap_or(master);
        let Some(mp) = self.nodes.get(&master) else {
            return refuse(out, format!("its master n{master} is unknown"));
        };
        if !force && mp.health != Health::Fail {
            return refuse(out, format!("its master n{master} is not FAIL"));
        }
        let window = self.node_timeout() * 2;
        if let Some(t) = mp.voted_time {
            if self.now.since(t) < window {
                return refuse(
                    out,
                    format!(
                        "we voted for a replica of n{master} {} ms ago, within 2 node timeouts",
                        self.now.since(t).as_millis()
                    ),
                );
            }
        }
        for s in slots.iter().flat_map(|r| r.slots()) {
            let Some(owner) = self.slots.owner(s) else {
                continue;
            };
            let theirs = self.nodes.get(&owner).map_or(0, |p| p.config_epoch);
            if theirs > config_epoch {
                return refuse(out, format!("slot {s} is served by n{owner} at configEpoch {theirs}, newer than its {config_epoch}"));
            }
        }
        self.last_vote_epoch = self.current_epoch;
        let now = self.now;
        if let Some(mp) = self.nodes.get_mut(&master) {
            mp.voted_time = Some(now);
        }
        self.save_conf();
        let epoch = self.current_epoch;
        out.narrate(narrate, || {
            format!(
                "vote for n{from} in epoch {epoch} (its master n{master}{})",
                if force {
                    ", manual failover"
                } else {
                    " is FAIL"
                }
            )
        });
        out.send(from, RedisMessage::AuthAck { epoch });
    }

    pub(crate) fn on_auth_ack(&mut self, from: NodeId, epoch: Epoch, out: &mut Effects<Self>) {
        let voter_ok = self.nodes.get(&from).is_some_and(|p| p.master.is_none())
            && self.slots.serves_any(from);
        let quorum = self.quorum();
        let Some(e) = self.election.as_mut() else {
            return;
        };
        if !voter_ok || !e.sent || epoch < e.epoch {
            return;
        }
        e.votes.insert(from);
        if e.votes.len() >= quorum {
            self.promote(out);
        }
    }

    /// `clusterFailoverReplaceYourMaster`: take the master's slots at the won epoch.
    fn promote(&mut self, out: &mut Effects<Self>) {
        let Some(e) = self.election.take() else {
            return;
        };
        let Some(old) = self.master() else { return };
        let me = self.id();
        let votes = e.votes.len();
        let epoch = {
            let p = self.me_mut();
            p.master = None;
            p.config_epoch = p.config_epoch.max(e.epoch);
            p.config_epoch
        };
        self.slots.hand_over(old, me);
        self.manual = None;
        self.linked = None;
        self.psync_sent = None;
        let replid = super::replication::history_id(epoch, me);
        let (old_id, offset) = (self.stream.replid(), self.stream.offset());
        self.stream.new_history(replid, old_id, offset);
        out.persist(RedisRecord::NewHistory {
            replid,
            replid2: old_id,
            replid2_offset: offset,
        });
        self.save_conf();
        out.narrate(self.setup.narrate, || {
            format!("{votes} vote(s), a majority of the masters: promoted, configEpoch {epoch}, serving n{old}'s slots from offset {offset}")
        });
        out.event(Event::LeaderElected { term: epoch });
        out.event(Event::LeaderReady { term: epoch });
        self.broadcast_pong(|_| true, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cluster, fail_master, header_of};
    use super::*;
    use crate::Input;

    fn request(_: &crate::pump::Pump<Redis>, epoch: Epoch, force: bool) -> RedisMessage {
        RedisMessage::AuthRequest {
            current_epoch: epoch,
            config_epoch: 1,
            master: 1,
            slots: vec![super::super::slots::share(0, 3)],
            force,
        }
    }

    fn acks(out: &[crate::Effect<RedisMessage, RedisRecord, RedisTimer>]) -> usize {
        out.iter()
            .filter(|e| {
                matches!(
                    e,
                    crate::Effect::Send {
                        msg: RedisMessage::AuthAck { .. },
                        ..
                    }
                )
            })
            .count()
    }

    #[test]
    fn a_master_votes_once_per_epoch_and_only_for_a_replica_of_a_failed_master() {
        let mut p = cluster(1);
        // Master 1 is not FAIL in node 2's view: refused.
        let out = p.step(
            2,
            Input::Message {
                from: 4,
                msg: request(&p, 4, false),
            },
        );
        assert_eq!(acks(&out), 0);
        fail_master(&mut p, 2, 1);
        let out = p.step(
            2,
            Input::Message {
                from: 4,
                msg: request(&p, 4, false),
            },
        );
        assert_eq!(acks(&out), 1);
        assert!(out.iter().any(|e| matches!(
            e,
            crate::Effect::Persist(RedisRecord::NodesConf {
                last_vote_epoch: 4,
                ..
            })
        )));
        // The same epoch again: refused.
        let out = p.step(
            2,
            Input::Message {
                from: 4,
                msg: request(&p, 4, false),
            },
        );
        assert_eq!(acks(&out), 0);
        // A later epoch, but a replica of the same master within 2 node timeouts: refused.
        let out = p.step(
            2,
            Input::Message {
                from: 4,
                msg: request(&p, 5, false),
            },
        );
        assert_eq!(acks(&out), 0);
        p.advance(Duration::from_millis(301));
        let out = p.step(
            2,
            Input::Message {
                from: 4,
                msg: request(&p, 6, false),
            },
        );
        assert_eq!(acks(&out), 1);
        // An older epoch: refused.
        let out = p.step(
            2,
            Input::Message {
                from: 4,
                msg: request(&p, 3, false),
            },
        );
        assert_eq!(acks(&out), 0);
    }

    #[test]
    fn masters_refuse_masters_stale_config_epochs_and_replicas_do_not_vote() {
        let mut p = cluster(1);
        fail_master(&mut p, 2, 1);
        // The requester is a master.
        let out = p.step(
            2,
            Input::Message {
                from: 3,
                msg: request(&p, 4, false),
            },
        );
        assert_eq!(acks(&out), 0);
        // The requested slots have a newer owner.
        let mut h = header_of(&p, 6);
        h.master = None;
        h.config_epoch = 9;
        h.slots = p.node(2).slot_map().ranges_of(1);
        p.step(
            2,
            Input::Message {
                from: 6,
                msg: RedisMessage::Pong(h),
            },
        );
        let out = p.step(
            2,
            Input::Message {
                from: 4,
                msg: request(&p, 10, false),
            },
        );
        assert_eq!(acks(&out), 0);
        // A replica never votes.
        fail_master(&mut p, 5, 1);
        let out = p.step(
            5,
            Input::Message {
                from: 4,
                msg: request(&p, 11, false),
            },
        );
        assert_eq!(acks(&out), 0);
    }

    #[test]
    fn a_forced_request_is_granted_without_fail() {
        let mut p = cluster(1);
        let out = p.step(
            2,
            Input::Message {
                from: 4,
                msg: request(&p, 4, true),
            },
        );
        assert_eq!(acks(&out), 1);
    }

    #[test]
    fn the_election_delay_is_fixed_plus_random_plus_rank() {
        let mut p = cluster(1);
        fail_master(&mut p, 4, 1);
        let now = p.now();
        p.fire(4, RedisTimer::Cron);
        let e = p
            .node(4)
            .election()
            .cloned()
            .expect("an election is scheduled");
        let delay = e.auth_time.since(now);
        assert!(
            delay >= Duration::from_millis(500) && delay <= Duration::from_millis(1000),
            "{delay:?}"
        );
        assert_eq!(e.rank, 0);
        assert!(!e.sent);
    }

    #[test]
    fn a_replica_behind_another_ranks_lower() {
        let mut p = super::super::tests::cluster_of(8, 1);
        // 8 nodes: masters 1-4, replicas 5-8; give master 1 a second replica by
        // announcement: node 8 says it replicates 1 with a larger offset.
        let mut h = header_of(&p, 8);
        h.master = Some(1);
        h.offset = 5;
        p.step(
            5,
            Input::Message {
                from: 8,
                msg: RedisMessage::Pong(h),
            },
        );
        assert_eq!(p.node(5).rank(1), 1);
        assert_eq!(p.node(5).rank(2), 0);
    }

    #[test]
    fn a_majority_of_votes_promotes_the_replica_which_takes_the_slots() {
        let mut p = cluster(1);
        fail_master(&mut p, 4, 1);
        p.fire(4, RedisTimer::Cron);
        p.advance(Duration::from_millis(1000));
        let out = p.fire(4, RedisTimer::Election);
        let requests = out
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    crate::Effect::Send {
                        msg: RedisMessage::AuthRequest { .. },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(requests, 5, "to every other node");
        let epoch = p.node(4).current_epoch();
        assert_eq!(epoch, 4);
        p.step(
            4,
            Input::Message {
                from: 2,
                msg: RedisMessage::AuthAck { epoch },
            },
        );
        assert!(
            !p.node(4).is_master(),
            "one vote of three masters is not a majority"
        );
        // An ack from a replica does not count.
        p.step(
            4,
            Input::Message {
                from: 5,
                msg: RedisMessage::AuthAck { epoch },
            },
        );
        assert!(!p.node(4).is_master());
        p.step(
            4,
            Input::Message {
                from: 3,
                msg: RedisMessage::AuthAck { epoch },
            },
        );
        assert!(p.node(4).is_master());
        assert_eq!(p.node(4).config_epoch(), 4);
        assert!(p.node(4).slot_map().serves_any(4));
        assert!(!p.node(4).slot_map().serves_any(1));
        assert!(p.events_of(4).contains(&Event::LeaderElected { term: 4 }));
    }
}
