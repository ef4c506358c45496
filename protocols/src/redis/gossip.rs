//! Failure detection (Redis Cluster Specification, "Heartbeat and gossip messages" and
//! "Failure detection").
//!
//! - Every `clusterCron` a node pings every node whose last pong is older than half the
//!   node timeout and that has no ping waiting; a ping that waited half the node timeout
//!   is sent again on a fresh link, keeping its original send time.
//! - A node whose ping has waited longer than the node timeout is marked `PFAIL`, by this
//!   node alone.
//! - Every ping and pong carries the sender's header and a gossip section: the health
//!   it sees of other nodes. A `PFAIL` or `FAIL` gossiped by a master is kept as a
//!   failure report, valid for twice the node timeout (`CLUSTER_FAIL_REPORT_VALIDITY_MULT`).
//! - A node marks another `FAIL` when it sees it `PFAIL` itself and a majority of the
//!   masters serving slots report it (itself counted if it is such a master); it then
//!   broadcasts `FAIL`, which every receiver applies at once.
//! - `FAIL` is cleared when the node answers again and is a replica or a master without
//!   slots, or when a master stayed `FAIL` for more than twice the node timeout without
//!   its slots moving (`CLUSTER_FAIL_UNDO_TIME_MULT`).

use super::{Header, Health, Redis, RedisMessage};
use crate::node::Effects;
use crate::output::Output;
use crate::types::NodeId;

impl Redis {
    /// Our header for a ping or pong to `to`: our configuration and our view of the
    /// others' health (the receiver and ourselves left out).
    pub(crate) fn header(&self, to: NodeId) -> Header {
        let me = self.id();
        Header {
            current_epoch: self.current_epoch,
            config_epoch: self.config_epoch(),
            master: self.master(),
            slots: if self.is_master() {
                self.slots.ranges_of(me)
            } else {
                Vec::new()
            },
            offset: self.stream.offset(),
            mf_paused: self.pause.is_some_and(|p| p.replica == to),
            gossip: self
                .nodes
                .iter()
                .filter(|(&id, _)| id != me && id != to)
                .map(|(&id, p)| (id, p.health))
                .collect(),
        }
    }

    /// Sends a ping to `to`.
    pub(crate) fn ping(&mut self, to: NodeId, out: &mut Effects<Self>) {
        let h = self.header(to);
        out.send(to, RedisMessage::Ping(h));
    }

    /// Sends a pong to every other node (after a promotion, or to replicas of our
    /// master before an election).
    pub(crate) fn broadcast_pong(
        &mut self,
        only: impl Fn(&super::Peer) -> bool,
        out: &mut Effects<Self>,
    ) {
        for to in self.others() {
            if self.nodes.get(&to).is_some_and(&only) {
                let h = self.header(to);
                out.send(to, RedisMessage::Pong(h));
            }
        }
    }

    /// The ping half of `clusterCron`, and `PFAIL` on a ping that waited too long.
    pub(crate) fn ping_cron(&mut self, out: &mut Effects<Self>) {
        let now = self.now;
        let timeout = self.node_timeout();
        let half = timeout / 2;
        let narrate = self.setup.narrate;
        for id in self.others() {
            let Some(p) = self.nodes.get_mut(&id) else {
                continue;
            };
            let resend = match p.ping_sent {
                None => now.since(p.pong_received) >= half,
                // A ping waiting half the timeout goes again on a new link; the wait
                // is still counted from the first one.
                Some(sent) => now.since(sent) >= half && now.since(p.pong_received) >= half,
            };
            if let Some(sent) = p.ping_sent {
                if now.since(sent) > timeout && p.health == Health::Ok {
                    p.health = Health::PFail;
                    out.narrate(narrate, || {
                        format!(
                            "n{id} PFAIL: our ping waited {} ms, over the node timeout of {} ms",
                            now.since(sent).as_millis(),
                            timeout.as_millis()
                        )
                    });
                }
            }
            if resend {
                if p.ping_sent.is_none() {
                    p.ping_sent = Some(now);
                }
                self.ping(id, out);
            }
        }
        // Reports age out: a PFAIL we see may now lack a majority, or have one.
        for id in self.others() {
            self.mark_failing_if_needed(id, out);
        }
    }

    pub(crate) fn on_ping(&mut self, from: NodeId, h: Header, out: &mut Effects<Self>) {
        self.process_header(from, &h, out);
        self.process_gossip(from, &h.gossip, out);
        let reply = self.header(from);
        out.send(from, RedisMessage::Pong(reply));
        self.after_header(from, &h, out);
    }

    pub(crate) fn on_pong(&mut self, from: NodeId, h: Header, out: &mut Effects<Self>) {
        let now = self.now;
        if let Some(p) = self.nodes.get_mut(&from) {
            p.pong_received = now;
            p.ping_sent = None;
            if p.health == Health::PFail {
                p.health = Health::Ok;
            }
        }
        self.process_header(from, &h, out);
        self.process_gossip(from, &h.gossip, out);
        self.clear_failure_if_needed(from, out);
        self.after_header(from, &h, out);
    }

    /// Keeps or drops the failure reports a master's gossip carries.
    fn process_gossip(
        &mut self,
        from: NodeId,
        gossip: &[(NodeId, Health)],
        out: &mut Effects<Self>,
    ) {
        let reporter_is_master = self.nodes.get(&from).is_some_and(|p| p.master.is_none());
        if !reporter_is_master {
            return;
        }
        let now = self.now;
        for &(node, health) in gossip {
            if node == self.id() {
                continue;
            }
            let Some(p) = self.nodes.get_mut(&node) else {
                continue;
            };
            match health {
                Health::PFail | Health::Fail => {
                    p.fail_reports.insert(from, now);
                    self.mark_failing_if_needed(node, out);
                }
                Health::Ok => {
                    p.fail_reports.remove(&from);
                }
            }
        }
    }

    /// Failure reports from masters still valid (within twice the node timeout).
    pub(crate) fn valid_reports(&mut self, node: NodeId) -> usize {
        let now = self.now;
        let validity = self.node_timeout() * 2;
        let masters = self.slots.masters();
        let Some(p) = self.nodes.get_mut(&node) else {
            return 0;
        };
        p.fail_reports.retain(|_, at| now.since(*at) <= validity);
        p.fail_reports
            .keys()
            .filter(|r| masters.contains(r))
            .count()
    }

    /// `markNodeAsFailingIfNeeded`: `PFAIL` here plus a majority of masters: `FAIL`.
    pub(crate) fn mark_failing_if_needed(&mut self, node: NodeId, out: &mut Effects<Self>) {
        if self.nodes.get(&node).map(|p| p.health) != Some(Health::PFail) {
            return;
        }
        let me = self.id();
        let own = usize::from(self.is_master() && self.slots.serves_any(me));
        let reports = self.valid_reports(node) + own;
        let needed = self.quorum();
        if reports < needed {
            return;
        }
        let now = self.now;
        if let Some(p) = self.nodes.get_mut(&node) {
            p.health = Health::Fail;
            p.fail_since = now;
        }
        out.narrate(self.setup.narrate, || {
            format!("n{node} FAIL: {reports} of the masters report it failing, a majority needs {needed}; broadcast FAIL")
        });
        for to in self.others() {
            out.send(to, RedisMessage::Fail { node });
        }
    }

    pub(crate) fn on_fail(&mut self, from: NodeId, node: NodeId, out: &mut Effects<Self>) {
        if node == self.id() {
            return;
        }
        let now = self.now;
        if let Some(p) = self.nodes.get_mut(&node) {
            if p.health != Health::Fail {
                p.health = Health::Fail;
                p.fail_since = now;
                out.narrate(self.setup.narrate, || {
                    format!("n{node} FAIL, as n{from} announced")
                });
            }
        }
    }

    /// `clearNodeFailureIfNeeded`, on a pong from a `FAIL` node.
    pub(crate) fn clear_failure_if_needed(&mut self, node: NodeId, out: &mut Effects<Self>) {
        let now = self.now;
        let undo = self.node_timeout() * 2;
        let serves = self.slots.serves_any(node);
        let Some(p) = self.nodes.get_mut(&node) else {
            return;
        };
        if p.health != Health::Fail {
            return;
        }
        let reason = if p.master.is_some() || !serves {
            "it answers and serves no slots"
        } else if now.since(p.fail_since) > undo {
            "it answers and kept its slots for 2 node timeouts (no failover happened)"
        } else {
            return;
        };
        p.health = Health::Ok;
        p.fail_reports.clear();
        out.narrate(self.setup.narrate, || {
            format!("n{node} FAIL cleared: {reason}")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cluster, header_of};
    use super::*;
    use crate::Input;
    use std::time::Duration;

    #[test]
    fn an_unanswered_ping_marks_pfail_after_the_node_timeout_only() {
        let mut p = cluster(1);
        p.crash(2);
        p.drop_where(|_| true);
        // The ping leaves at 100 ms (the last pong is older than half the timeout) ...
        p.advance(Duration::from_millis(100));
        p.fire(1, super::super::RedisTimer::Cron);
        p.advance(Duration::from_millis(100));
        p.fire(1, super::super::RedisTimer::Cron);
        assert_eq!(p.node(1).peer(2).map(|x| x.health), Some(Health::Ok));
        // ... and has waited more than the 150 ms node timeout at 300 ms.
        p.advance(Duration::from_millis(100));
        p.fire(1, super::super::RedisTimer::Cron);
        assert_eq!(p.node(1).peer(2).map(|x| x.health), Some(Health::PFail));
    }

    #[test]
    fn fail_needs_a_majority_of_masters_and_a_pong_clears_pfail() {
        let mut p = cluster(1);
        // Node 1 (a master) sees 3 PFAIL; a second master (2) reports it: 2 of 3 is a majority.
        let h3 = header_of(&p, 3);
        p.crash(3);
        p.drop_where(|_| true);
        for _ in 0..3 {
            p.advance(Duration::from_millis(100));
            p.fire(1, super::super::RedisTimer::Cron);
            p.drop_where(|_| true);
        }
        assert_eq!(p.node(1).peer(3).map(|x| x.health), Some(Health::PFail));
        // A replica's report does not count.
        let mut h = header_of(&p, 4);
        h.gossip = vec![(3, Health::PFail)];
        p.step(
            1,
            Input::Message {
                from: 4,
                msg: RedisMessage::Ping(h),
            },
        );
        assert_eq!(p.node(1).peer(3).map(|x| x.health), Some(Health::PFail));
        let mut h = header_of(&p, 2);
        h.gossip = vec![(3, Health::PFail)];
        let out = p.step(
            1,
            Input::Message {
                from: 2,
                msg: RedisMessage::Ping(h),
            },
        );
        assert_eq!(p.node(1).peer(3).map(|x| x.health), Some(Health::Fail));
        assert!(out.iter().any(|e| matches!(
            e,
            crate::Effect::Send {
                msg: RedisMessage::Fail { node: 3 },
                ..
            }
        )));
        // A pong from a failed master that still serves slots does not clear FAIL at once.
        p.step(
            1,
            Input::Message {
                from: 3,
                msg: RedisMessage::Pong(h3.clone()),
            },
        );
        assert_eq!(p.node(1).peer(3).map(|x| x.health), Some(Health::Fail));
        // ... but after twice the node timeout without a failover it does.
        p.advance(Duration::from_millis(301));
        p.step(
            1,
            Input::Message {
                from: 3,
                msg: RedisMessage::Pong(h3),
            },
        );
        assert_eq!(p.node(1).peer(3).map(|x| x.health), Some(Health::Ok));
    }

    #[test]
    fn failure_reports_expire_after_twice_the_node_timeout() {
        let mut p = cluster(1);
        let mut h = header_of(&p, 2);
        h.gossip = vec![(5, Health::PFail)];
        p.step(
            1,
            Input::Message {
                from: 2,
                msg: RedisMessage::Ping(h),
            },
        );
        assert_eq!(p.node_mut(1).valid_reports(5), 1);
        p.advance(Duration::from_millis(301));
        p.fire(1, super::super::RedisTimer::Cron); // the node learns the time from an input
        assert_eq!(p.node_mut(1).valid_reports(5), 0);
    }

    #[test]
    fn a_fail_message_is_applied_at_once() {
        let mut p = cluster(1);
        p.step(
            4,
            Input::Message {
                from: 2,
                msg: RedisMessage::Fail { node: 1 },
            },
        );
        assert_eq!(p.node(4).peer(1).map(|x| x.health), Some(Health::Fail));
    }
}
