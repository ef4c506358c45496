//! Asynchronous replication with replication ids and offsets (the Redis replication
//! documentation, "How Redis replication works" and PSYNC; the cluster specification's
//! replicas use it unchanged), and the `WAIT` command as an option.
//!
//! - A master appends each client command to its stream, writes it to its append-only
//!   file and, by default, answers the client at once: the write reaches its replicas
//!   later, at the end of the batch. A master that dies in between has acknowledged a
//!   write its replicas never saw.
//! - With `wait_replicas = N` (the `WAIT N 0` a client may send after a write) the
//!   master answers a command only once `N` replicas acknowledged its offset
//!   (`REPLCONF ACK`). Without a timeout it waits for as long as it takes.
//! - A replica asks its master to continue its history with `PSYNC replid offset`. The
//!   master continues it partially when the replica's history is a prefix of its own:
//!   the same replication id, or its previous id (`replid2`, kept by a promoted
//!   replica) up to the offset where that history ended. Otherwise it sends its whole
//!   dataset (`FULLRESYNC`) and the replica's diverging writes are thrown away.
//! - Offsets count commands here, not bytes.
//! - The link is watched as Redis watches it: a master pings its replicas over the
//!   replication stream every `repl-ping-replica-period` (an empty `Stream` message,
//!   answered by `REPLCONF ACK`), and a replica that hears nothing on the stream for
//!   `repl-timeout` drops the link and asks again with PSYNC, as it does at once when
//!   the connection to its master drops ([`crate::Input::PeerLost`]). Without it a
//!   replica whose master restarted behind a partition (the master forgot it; the
//!   replica saw no reset) would wait forever. Redis's defaults are 10 s and 60 s
//!   beside a 15 s `cluster-node-timeout`; here they are one node timeout and
//!   [`REPL_TIMEOUT_NODE_TIMEOUTS`] node timeouts.

use super::{Redis, RedisMessage, RedisRecord};
use crate::node::Effects;
use crate::output::Output;
use crate::types::{Command, NodeId};

/// `repl-timeout` in node timeouts (Redis: 60 s against a 15 s node timeout).
pub const REPL_TIMEOUT_NODE_TIMEOUTS: u32 = 4;

/// The replication id a master takes when it starts again after a crash, for the
/// `restarts`-th time: the promotion's id with the restart count in its top bits, so
/// unique per (epoch, node, restart).
pub fn restart_history_id(config_epoch: u64, node: NodeId, restarts: u64) -> u64 {
    history_id(config_epoch, node) ^ (restarts << 48)
}

/// A replication id for the history a master starts at `config_epoch`: unique per
/// (epoch, node).
pub fn history_id(config_epoch: u64, node: NodeId) -> u64 {
    config_epoch.wrapping_mul(1 << 16).wrapping_add(node)
}

/// A dataset's history: its replication id, the previous one and the commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    replid: u64,
    replid2: u64,
    replid2_offset: u64,
    commands: Vec<Command>,
}

impl Stream {
    /// An empty history named `replid`.
    pub fn new(replid: u64) -> Stream {
        Stream {
            replid,
            replid2: 0,
            replid2_offset: 0,
            commands: Vec::new(),
        }
    }

    /// The replication offset: commands in the stream.
    pub fn offset(&self) -> u64 {
        self.commands.len() as u64
    }

    /// The replication id.
    pub fn replid(&self) -> u64 {
        self.replid
    }

    /// Every command, oldest first (offset 1 first).
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// Whether any command of the stream has request id `id`.
    pub fn contains(&self, id: crate::RequestId) -> bool {
        self.commands.iter().any(|c| c.id == id)
    }

    /// Appends commands.
    pub fn extend(&mut self, commands: impl IntoIterator<Item = Command>) {
        self.commands.extend(commands);
    }

    /// A promotion: a new id, the old one kept as the second up to `offset`.
    pub fn new_history(&mut self, replid: u64, replid2: u64, offset: u64) {
        self.replid = replid;
        self.replid2 = replid2;
        self.replid2_offset = offset;
    }

    /// Whether a replica at (`replid`, `offset`) holds a prefix of this history.
    pub fn continues(&self, replid: u64, offset: u64) -> bool {
        replid != 0
            && offset <= self.offset()
            && (replid == self.replid || (replid == self.replid2 && offset <= self.replid2_offset))
    }
}

impl Redis {
    /// A master takes a client command: append, write, and answer now (asynchronous)
    /// or once enough replicas have it (WAIT-like).
    pub(crate) fn append(&mut self, cmd: Command, out: &mut Effects<Self>) {
        let from = self.stream.offset() + 1;
        out.persist(RedisRecord::Append {
            from,
            commands: vec![cmd.clone()],
        });
        self.stream.extend([cmd]);
        self.unflushed = true;
        self.apply_acknowledged(out);
    }

    /// Answers (applies) every command the WAIT-like rule allows: all of them when
    /// asynchronous, else those `wait_replicas` replicas acknowledged.
    pub(crate) fn apply_acknowledged(&mut self, out: &mut Effects<Self>) {
        let need = self.settings.wait_replicas;
        let upto = if need == 0 {
            self.stream.offset()
        } else {
            let mut acks: Vec<u64> = self.replicas.values().copied().collect();
            acks.sort_unstable_by(|a, b| b.cmp(a));
            acks.get(need - 1)
                .copied()
                .unwrap_or(self.applied)
                .min(self.stream.offset())
        };
        while self.applied < upto {
            self.applied += 1;
            let cmd = self
                .stream
                .commands()
                .get(usize::try_from(self.applied - 1).unwrap_or(usize::MAX))
                .cloned();
            out.apply(self.applied, cmd);
        }
    }

    /// End of batch on a master: the stream goes to every synced replica, without
    /// waiting for our own append-only file (replication is not ordered after it).
    pub(crate) fn flush_stream(&mut self, out: &mut Effects<Self>) {
        let replid = self.stream.replid();
        let end = self.stream.offset();
        for (&to, sent) in self.sent.iter_mut() {
            if *sent >= end {
                continue;
            }
            let first = usize::try_from(*sent).unwrap_or(usize::MAX);
            let commands = self
                .stream
                .commands()
                .get(first..)
                .unwrap_or_default()
                .to_vec();
            out.send_ahead(
                to,
                RedisMessage::Stream {
                    replid,
                    from: *sent + 1,
                    commands,
                },
            );
            *sent = end;
        }
    }

    /// A master starting again from its files takes a new replication id, with no
    /// previous one to continue (as Redis does after a restart without a clean
    /// shutdown): the tail of its stream it had not yet synced to disk is gone, and it
    /// may now write other commands at offsets its replicas already hold. A replica's
    /// PSYNC then finds another history and is resynchronised fully, instead of being
    /// continued on a prefix that is not one.
    pub(crate) fn restart_history(&mut self, out: &mut Effects<Self>) {
        self.restarts += 1;
        let replid = restart_history_id(self.config_epoch(), self.id(), self.restarts);
        self.stream.new_history(replid, 0, 0);
        out.persist(RedisRecord::NewHistory {
            replid,
            replid2: 0,
            replid2_offset: 0,
        });
        let offset = self.stream.offset();
        out.narrate(self.setup.narrate, || {
            format!("restarted as a master with {offset} command(s) from our files: a new replication id, so replicas resynchronise in full")
        });
    }

    /// A replica asks its master for the stream.
    pub(crate) fn request_sync(&mut self, out: &mut Effects<Self>) {
        if let Some(m) = self.master() {
            self.psync_sent = Some(self.now);
            out.send(
                m,
                RedisMessage::Psync {
                    replid: self.stream.replid(),
                    offset: self.stream.offset(),
                },
            );
        }
    }

    /// `replicationCron`: a master pings its replicas over the stream every node
    /// timeout; a replica whose link timed out drops it, and a replica without a link
    /// asks again every node timeout.
    pub(crate) fn replication_cron(&mut self, out: &mut Effects<Self>) {
        let timeout = self.node_timeout();
        let Some(m) = self.master() else {
            if self.now.since(self.repl_pinged) >= timeout {
                self.repl_pinged = self.now;
                self.ping_replicas(out);
            }
            return;
        };
        let repl_timeout = timeout.saturating_mul(REPL_TIMEOUT_NODE_TIMEOUTS);
        if self.linked == Some(m)
            && self
                .repl_heard
                .is_none_or(|t| self.now.since(t) >= repl_timeout)
        {
            out.narrate(self.setup.narrate, || {
                format!(
                    "nothing on n{m}'s replication stream for {} ms (repl-timeout): drop the link and PSYNC again",
                    repl_timeout.as_millis()
                )
            });
            self.linked = None;
        }
        let due = self.psync_sent.is_none_or(|t| self.now.since(t) >= timeout);
        if self.linked != Some(m) && due {
            self.request_sync(out);
        }
    }

    /// The replication ping: an empty stream message to every synced replica at the
    /// offset sent so far (a replica that missed some of it finds the gap and asks
    /// again).
    fn ping_replicas(&mut self, out: &mut Effects<Self>) {
        let replid = self.stream.replid();
        for (&to, &sent) in &self.sent {
            out.send(
                to,
                RedisMessage::Stream {
                    replid,
                    from: sent + 1,
                    commands: Vec::new(),
                },
            );
        }
    }

    /// The connection to `peer` dropped: if it is our master, the link is gone and
    /// the next `replicationCron` asks again.
    pub(crate) fn on_link_lost(&mut self, peer: NodeId, out: &mut Effects<Self>) {
        if self.linked == Some(peer) {
            out.narrate(self.setup.narrate, || {
                format!("the connection to our master n{peer} dropped: PSYNC again")
            });
            self.linked = None;
            self.psync_sent = None;
        }
    }

    pub(crate) fn on_psync(
        &mut self,
        from: NodeId,
        replid: u64,
        offset: u64,
        out: &mut Effects<Self>,
    ) {
        if !self.is_master() {
            return; // (chained replication is not modelled)
        }
        let narrate = self.setup.narrate;
        if self.stream.continues(replid, offset) {
            let first = usize::try_from(offset).unwrap_or(usize::MAX);
            let commands = self
                .stream
                .commands()
                .get(first..)
                .unwrap_or_default()
                .to_vec();
            out.narrate(narrate, || {
                format!(
                    "PSYNC from n{from} at offset {offset}: continue ({} command(s))",
                    commands.len()
                )
            });
            out.send(
                from,
                RedisMessage::Continue {
                    replid: self.stream.replid(),
                    from: offset + 1,
                    commands,
                },
            );
            self.replicas.insert(from, offset);
        } else {
            out.narrate(narrate, || {
                format!("PSYNC from n{from} at offset {offset} of another history: FULLRESYNC with our {} command(s)", self.stream.offset())
            });
            out.send(
                from,
                RedisMessage::FullResync {
                    replid: self.stream.replid(),
                    commands: self.stream.commands().to_vec(),
                },
            );
            self.replicas.insert(from, 0);
        }
        self.sent.insert(from, self.stream.offset());
    }

    pub(crate) fn on_full_resync(
        &mut self,
        from: NodeId,
        replid: u64,
        commands: Vec<Command>,
        out: &mut Effects<Self>,
    ) {
        if self.master() != Some(from) {
            return;
        }
        let lost = self.stream.offset();
        out.narrate(self.setup.narrate, || {
            format!(
                "FULLRESYNC from n{from}: our {lost} command(s) are replaced by its {}",
                commands.len()
            )
        });
        out.persist(RedisRecord::Reset {
            replid,
            commands: commands.clone(),
        });
        self.stream = Stream::new(replid);
        self.stream.extend(commands);
        self.applied = 0;
        for (i, cmd) in self.stream.commands().iter().enumerate() {
            out.apply(i as u64 + 1, Some(cmd.clone()));
        }
        self.applied = self.stream.offset();
        self.linked = Some(from);
        self.repl_heard = Some(self.now);
        self.ack_due = true;
        self.after_offset_change(out);
    }

    pub(crate) fn on_stream(
        &mut self,
        from: NodeId,
        replid: u64,
        first: u64,
        commands: Vec<Command>,
        out: &mut Effects<Self>,
    ) {
        if self.master() != Some(from) || replid != self.stream.replid() {
            return;
        }
        let offset = self.stream.offset();
        if first > offset + 1 {
            // A gap (a lost message): ask to continue from where we are.
            self.linked = None;
            self.request_sync(out);
            return;
        }
        self.linked = Some(from);
        self.repl_heard = Some(self.now);
        let skip = usize::try_from(offset + 1 - first).unwrap_or(usize::MAX);
        let new: Vec<Command> = commands.into_iter().skip(skip).collect();
        if !new.is_empty() {
            out.persist(RedisRecord::Append {
                from: offset + 1,
                commands: new.clone(),
            });
            for cmd in new {
                self.stream.extend([cmd.clone()]);
                self.applied = self.stream.offset();
                out.apply(self.applied, Some(cmd));
            }
        }
        self.ack_due = true;
        self.after_offset_change(out);
    }

    /// `+CONTINUE replid`: our history is a prefix of the master's; adopt its id (ours
    /// becomes the previous one) and take the rest.
    pub(crate) fn on_continue(
        &mut self,
        from: NodeId,
        replid: u64,
        first: u64,
        commands: Vec<Command>,
        out: &mut Effects<Self>,
    ) {
        if self.master() != Some(from) {
            return;
        }
        if replid != self.stream.replid() {
            let (old, offset) = (self.stream.replid(), self.stream.offset());
            self.stream.new_history(replid, old, offset);
            out.persist(RedisRecord::NewHistory {
                replid,
                replid2: old,
                replid2_offset: offset,
            });
        }
        self.on_stream(from, replid, first, commands, out);
    }

    pub(crate) fn on_repl_ack(&mut self, from: NodeId, offset: u64, out: &mut Effects<Self>) {
        if let Some(acked) = self.replicas.get_mut(&from) {
            *acked = (*acked).max(offset.min(self.stream.offset()));
        }
        if let Some(p) = self.nodes.get_mut(&from) {
            p.offset = offset;
        }
        self.apply_acknowledged(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cluster, cluster_waiting, key_on};
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_replica_whose_master_restarted_behind_a_partition_relinks_after_repl_timeout() {
        let mut p = cluster(1);
        let key = key_on(&p, 1);
        p.write(1, &format!("{key}=a"));
        p.deliver_all();
        assert_eq!(p.applied_data(4), vec![format!("{key}=a")]);
        // The master restarts while cut off: its replica sees no reset, and the
        // restarted master has forgotten it.
        p.partition(&[1]);
        p.restart(1);
        p.deliver_all();
        p.heal();
        p.write(1, &format!("{key}=b"));
        p.deliver_all();
        assert_eq!(p.applied_data(4).len(), 1, "the master streams to no one");
        // The replica's replicationCron: within repl-timeout and a node timeout more it
        // drops the silent link and continues from its offset.
        let timeout = p.node(4).node_timeout();
        let mut waited = Duration::ZERO;
        while p.applied_data(4).len() < 2 && waited < timeout * (REPL_TIMEOUT_NODE_TIMEOUTS + 2) {
            p.advance(Duration::from_millis(50));
            waited += Duration::from_millis(50);
            p.fire(4, crate::redis::RedisTimer::Cron);
            p.deliver_all();
        }
        assert_eq!(
            p.applied_data(4),
            vec![format!("{key}=a"), format!("{key}=b")]
        );
        assert!(p.narration(4).iter().any(|l| l.contains("repl-timeout")));
        // From now on the master pings the replica over the stream, which keeps the
        // link: no further PSYNC however long it stays quiet.
        let psyncs = |p: &crate::pump::Pump<Redis>| {
            p.narration(1)
                .iter()
                .filter(|l| l.contains("PSYNC from n4"))
                .count()
        };
        let before = psyncs(&p);
        for _ in 0..40 {
            p.advance(Duration::from_millis(50));
            p.fire(1, crate::redis::RedisTimer::Cron);
            p.fire(4, crate::redis::RedisTimer::Cron);
            p.deliver_all();
        }
        assert_eq!(psyncs(&p), before);
    }

    #[test]
    fn a_dropped_connection_to_the_master_relinks_at_once() {
        let mut p = cluster(1);
        let key = key_on(&p, 1);
        p.write(1, &format!("{key}=a"));
        p.deliver_all();
        p.restart(1);
        p.step(4, crate::Input::PeerLost(1));
        p.write(1, &format!("{key}=b"));
        p.fire(4, crate::redis::RedisTimer::Cron);
        p.deliver_all();
        assert_eq!(
            p.applied_data(4),
            vec![format!("{key}=a"), format!("{key}=b")]
        );
    }

    #[test]
    fn a_master_answers_before_its_replica_has_the_write() {
        let mut p = cluster(1);
        let key = key_on(&p, 1);
        p.write(1, &format!("{key}=v"));
        // Answered (applied) on the master at once; the replica has nothing yet.
        assert_eq!(p.applied_data(1), vec![format!("{key}=v")]);
        assert!(p.applied_data(4).is_empty());
        p.deliver_all();
        assert_eq!(p.applied_data(4), vec![format!("{key}=v")]);
        assert_eq!(p.node(4).stream().offset(), 1);
    }

    #[test]
    fn with_wait_the_master_answers_only_after_a_replica_acknowledged() {
        let mut p = cluster_waiting(1, 1);
        let key = key_on(&p, 1);
        p.write(1, &format!("{key}=v"));
        assert!(
            p.applied_data(1).is_empty(),
            "not answered before the replica has it"
        );
        p.deliver_all();
        assert_eq!(p.applied_data(1), vec![format!("{key}=v")]);
    }

    #[test]
    fn psync_continues_a_prefix_and_fully_resyncs_a_diverged_history() {
        let mut s = Stream::new(10);
        let cmd = |seq| Command {
            id: crate::RequestId { origin: 1, seq },
            data: bytes::Bytes::new(),
        };
        s.extend([cmd(1), cmd(2), cmd(3)]);
        assert!(s.continues(10, 2));
        assert!(!s.continues(10, 4), "past our end");
        assert!(!s.continues(11, 1), "another history");
        assert!(
            !s.continues(0, 0),
            "an empty replica has no history to continue"
        );
        s.new_history(20, 10, 2);
        assert!(s.continues(20, 3));
        assert!(
            s.continues(10, 2),
            "the previous history up to where it ended"
        );
        assert!(!s.continues(10, 3), "past where the previous history ended");
        assert_eq!(history_id(2, 5), 2 * 65536 + 5);
    }

    #[test]
    fn a_replica_that_missed_part_of_the_stream_asks_again() {
        let mut p = cluster(1);
        let key = key_on(&p, 1);
        p.write(1, &format!("{key}=a"));
        p.drop_where(|(_, to, m)| *to == 4 && matches!(m, RedisMessage::Stream { .. }));
        p.write(1, &format!("{key}=b"));
        // The second stream message arrives with a gap: the replica asks for a PSYNC.
        p.deliver_one(|(_, to, m)| *to == 4 && matches!(m, RedisMessage::Stream { .. }));
        p.deliver_all();
        assert_eq!(p.node(4).stream().offset(), 2);
    }
}
