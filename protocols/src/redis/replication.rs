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

use super::{Redis, RedisMessage, RedisRecord};
use crate::node::Effects;
use crate::output::Output;
use crate::types::{Command, NodeId};

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

    /// `replicationCron`: a replica without a link asks again every node timeout.
    pub(crate) fn replication_cron(&mut self, out: &mut Effects<Self>) {
        if let Some(m) = self.master() {
            let due = self
                .psync_sent
                .is_none_or(|t| self.now.since(t) >= self.node_timeout());
            if self.linked != Some(m) && due {
                self.request_sync(out);
            }
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
