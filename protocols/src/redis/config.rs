//! Configuration propagation (Redis Cluster Specification, "Hash slots configuration
//! propagation", "UPDATE messages, a closer look", and the demotion of a master that
//! lost its slots).
//!
//! Every ping and pong header says who the sender is (master or replica of whom), the
//! slots it serves and its `configEpoch`. The receiver:
//! - adopts a higher `currentEpoch`;
//! - for each slot the sender claims, gives it the slot if nobody serves it or if its
//!   owner's `configEpoch` is lower than the sender's (the higher `configEpoch` wins);
//! - if the sender claims a slot whose owner has a higher `configEpoch`, answers with an
//!   `UPDATE` carrying that owner's configuration, so that a stale node learns at once;
//! - if a node it knew as a master now says it is a replica, forgets that node's slots.
//!
//! When the master we are (or replicate) loses its last slot to another master, we
//! become that master's replica and resynchronise with it: this is how a master that
//! comes back after a failover is demoted, and how the other replicas follow the
//! promoted one.

use super::slots::SlotRange;
use super::{Epoch, Header, Redis, RedisMessage};
use crate::effect::ClientError;
use crate::node::Effects;
use crate::output::Output;
use crate::types::NodeId;

impl Redis {
    /// Reads the configuration in a ping or pong header.
    pub(crate) fn process_header(&mut self, from: NodeId, h: &Header, out: &mut Effects<Self>) {
        self.observe_epoch(h.current_epoch);
        let was_master = match self.nodes.get_mut(&from) {
            Some(p) => {
                p.offset = h.offset;
                p.master.is_none()
            }
            None => return,
        };
        match h.master {
            Some(m) => {
                if was_master && self.slots.serves_any(from) {
                    // It was a master and says it is a replica now: its slots are
                    // unassigned until their new owner claims them.
                    self.slots.hand_over(from, 0);
                }
                if let Some(p) = self.nodes.get_mut(&from) {
                    if p.master != Some(m) {
                        p.master = Some(m);
                        self.conf_dirty = true;
                    }
                }
            }
            None => {
                if let Some(p) = self.nodes.get_mut(&from) {
                    if p.master.is_some() || h.config_epoch > p.config_epoch {
                        p.master = None;
                        p.config_epoch = p.config_epoch.max(h.config_epoch);
                        self.conf_dirty = true;
                    }
                }
                self.check_claims(from, h.config_epoch, &h.slots, out);
            }
        }
    }

    /// The slots `sender` (a master at `epoch`) claims: take over those whose owner is
    /// older, and tell the sender about an owner that is newer.
    fn check_claims(
        &mut self,
        sender: NodeId,
        epoch: Epoch,
        claims: &[SlotRange],
        out: &mut Effects<Self>,
    ) {
        let mut take = Vec::new();
        let mut newer: Option<NodeId> = None;
        for s in claims.iter().flat_map(|r| r.slots()) {
            match self.slots.owner(s) {
                Some(o) if o == sender => {}
                None => take.push(s),
                Some(o) => {
                    let theirs = self.nodes.get(&o).map_or(0, |p| p.config_epoch);
                    if theirs < epoch {
                        take.push(s);
                    } else if theirs > epoch {
                        newer = Some(o);
                    }
                }
            }
        }
        if !take.is_empty() {
            self.update_slots(sender, epoch, &take, out);
        }
        if let Some(o) = newer {
            let config_epoch = self.nodes.get(&o).map_or(0, |p| p.config_epoch);
            out.narrate(self.setup.narrate, || {
                format!("n{sender} claims slots of n{o}, whose configEpoch {config_epoch} is newer than its {epoch}: send UPDATE")
            });
            out.send(
                sender,
                RedisMessage::Update {
                    node: o,
                    config_epoch,
                    slots: self.slots.ranges_of(o),
                },
            );
        }
    }

    /// An `UPDATE`: `node` serves `slots` at `config_epoch`.
    pub(crate) fn on_update(
        &mut self,
        node: NodeId,
        config_epoch: Epoch,
        slots: &[SlotRange],
        out: &mut Effects<Self>,
    ) {
        let known = match self.nodes.get(&node) {
            Some(p) => p.config_epoch,
            None => return,
        };
        if known >= config_epoch {
            return;
        }
        if let Some(p) = self.nodes.get_mut(&node) {
            p.master = None;
            p.config_epoch = config_epoch;
        }
        let slots: Vec<u16> = slots.iter().flat_map(|r| r.slots()).collect();
        self.update_slots(node, config_epoch, &slots, out);
    }

    /// `clusterUpdateSlotsConfigWith`: `sender` serves `slots` at `epoch`. If the master
    /// we are or replicate loses its last slot to it, we follow `sender`.
    pub(crate) fn update_slots(
        &mut self,
        sender: NodeId,
        epoch: Epoch,
        slots: &[u16],
        out: &mut Effects<Self>,
    ) {
        let me = self.id();
        let ours = self.master().unwrap_or(me);
        let had_slots = self.slots.serves_any(ours);
        if let Some(p) = self.nodes.get_mut(&sender) {
            p.config_epoch = p.config_epoch.max(epoch);
        }
        for &s in slots {
            self.slots.assign(s, sender);
        }
        self.save_conf();
        let narrate = self.setup.narrate;
        out.narrate(narrate, || {
            format!("n{sender} now serves {} slot(s) at configEpoch {epoch} (the higher configEpoch wins)", slots.len())
        });
        if ours != sender && had_slots && !self.slots.serves_any(ours) {
            if ours == me {
                out.narrate(narrate, || {
                    format!(
                        "we lost our last slot to n{sender}: become its replica and resynchronise"
                    )
                });
            } else {
                out.narrate(narrate, || {
                    format!(
                        "our master n{ours} lost its last slot to n{sender}: replicate n{sender}"
                    )
                });
            }
            self.become_replica_of(sender, out);
        }
    }

    /// `clusterSetMaster`: replicate `master` from now on.
    pub(crate) fn become_replica_of(&mut self, master: NodeId, out: &mut Effects<Self>) {
        let was_master = self.is_master();
        self.me_mut().master = Some(master);
        self.save_conf();
        self.election = None;
        self.manual = None;
        self.linked = None;
        self.psync_sent = None;
        if was_master {
            // Commands we took and have not answered (WAIT, or held by a pause) may
            // or may not survive: the client is told leadership was lost.
            let owner = Some(master);
            for cmd in std::mem::take(&mut self.held) {
                out.reject(cmd.id, ClientError::NotLeader { leader: owner });
            }
            for cmd in self
                .stream
                .commands()
                .iter()
                .skip(usize::try_from(self.applied).unwrap_or(usize::MAX))
            {
                if cmd.id.origin == self.setup.id {
                    out.reject(cmd.id, ClientError::LeadershipLost);
                }
            }
            self.replicas.clear();
            self.sent.clear();
            self.pause = None;
        }
        self.request_sync(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cluster, header_of};
    use super::*;
    use crate::Input;

    #[test]
    fn a_claim_with_a_higher_config_epoch_takes_the_slots_and_a_lower_one_gets_an_update() {
        let mut p = cluster(1);
        // Node 4 (replica of 1) claims 1's slots at configEpoch 7.
        let mut h = header_of(&p, 4);
        let ranges = p.node(2).slot_map().ranges_of(1);
        h.master = None;
        h.config_epoch = 7;
        h.current_epoch = 7;
        h.slots = ranges.clone();
        p.step(
            2,
            Input::Message {
                from: 4,
                msg: RedisMessage::Pong(h.clone()),
            },
        );
        assert_eq!(p.node(2).slot_map().ranges_of(4), ranges);
        assert_eq!(p.node(2).current_epoch(), 7);
        // Node 1 still claims them at configEpoch 1: node 2 answers with an UPDATE.
        let h1 = header_of(&p, 1);
        let out = p.step(
            2,
            Input::Message {
                from: 1,
                msg: RedisMessage::Ping(h1),
            },
        );
        assert!(out.iter().any(|e| matches!(
            e,
            crate::Effect::Send {
                to: 1,
                msg: RedisMessage::Update {
                    node: 4,
                    config_epoch: 7,
                    ..
                }
            }
        )));
        assert_eq!(
            p.node(2).slot_map().ranges_of(4),
            ranges,
            "the lower configEpoch does not win"
        );
    }

    #[test]
    fn a_master_that_loses_its_last_slot_becomes_a_replica_of_the_winner() {
        let mut p = cluster(1);
        let ranges = p.node(1).slot_map().ranges_of(1);
        p.step(
            1,
            Input::Message {
                from: 2,
                msg: RedisMessage::Update {
                    node: 4,
                    config_epoch: 9,
                    slots: ranges,
                },
            },
        );
        assert_eq!(p.node(1).master(), Some(4));
        assert!(!p.node(1).is_master());
        // An UPDATE that is not newer than what we know changes nothing.
        let before = p.node(1).slot_map().clone();
        p.step(
            1,
            Input::Message {
                from: 2,
                msg: RedisMessage::Update {
                    node: 4,
                    config_epoch: 9,
                    slots: vec![],
                },
            },
        );
        assert_eq!(p.node(1).slot_map(), &before);
    }

    #[test]
    fn a_master_that_says_it_is_a_replica_loses_its_slots_in_our_view() {
        let mut p = cluster(1);
        let mut h = header_of(&p, 3);
        h.master = Some(6);
        h.slots = Vec::new();
        p.step(
            2,
            Input::Message {
                from: 3,
                msg: RedisMessage::Ping(h),
            },
        );
        assert!(!p.node(2).slot_map().serves_any(3));
        assert_eq!(p.node(2).peer(3).and_then(|x| x.master), Some(6));
    }
}
