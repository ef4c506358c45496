//! Faults and restarts: starting a node from what its disk kept (through the WAL's own
//! recovery scan), crashing it (tearing what its disk had not synced), power failures
//! (several crashes at one instant), partitions, one-way cuts, dropped message kinds,
//! a leader stranded in a minority, isolation, loss and per-node disks.

use crate::invariants::Violation;
use crate::{Action, Simulation};
use protocols::{Bug, DetRng, DurabilityGate, Input, NodeId, Protocol, Setup};
use storage::{decode_record, recover_bytes};

/// The most client commands sent to one stranded leader ([`Action::StrandLeader`]).
/// Each stays unanswered until the partition heals (or for good), so each overlaps
/// every operation of the seconds the leader is stranded: a few dozen such puts on a
/// few keys already make the linearizability search long.
pub const STRANDED_COMMANDS: u32 = 24;

impl<P: Protocol> Simulation<P> {
    pub(crate) fn apply_action(&mut self, action: Action) -> Result<(), Violation> {
        // A retry timer is noted only if it sends an attempt (most find their
        // operation answered).
        if self.config.trace && !matches!(action, Action::Retry { .. }) {
            self.note(format!("** {action}"));
        }
        match action {
            Action::Start(id) => self.start(id)?,
            Action::Crash(id) => {
                if self.take_down(id) {
                    self.connection_lost(id)?;
                }
            }
            Action::PowerFailure(ids) => {
                // Every node goes down before anyone notices: the survivors' connection
                // resets come after, and none reaches a node that is down too.
                let down: Vec<NodeId> = ids.into_iter().filter(|&id| self.take_down(id)).collect();
                for id in down {
                    self.connection_lost(id)?;
                }
            }
            Action::Partition(groups) => self.network.partition(groups),
            Action::Isolate(id) => {
                let all = self.ids();
                self.network.isolate(id, &all);
            }
            Action::OneWay { from, to } => self.network.cut_one_way(&from, &to),
            Action::DropKind {
                from,
                to,
                kind: Some(kind),
            } => self.network.drop_kind(from, to, &kind),
            Action::DropKind {
                from,
                to,
                kind: None,
            } => {
                // One of the kinds this link has carried so far.
                let seen = self
                    .link_kinds
                    .get(&(from, to))
                    .cloned()
                    .unwrap_or_default();
                if !seen.is_empty() {
                    let i = self.rng.range_inclusive(0, seen.len() as u64 - 1) as usize;
                    let kind = seen[i];
                    if self.config.trace {
                        self.note(format!("n{from} -> n{to}: {kind} messages are dropped"));
                    }
                    self.network.drop_kind(from, to, kind);
                }
            }
            Action::StopDropKind { from, to, kind } => {
                self.network.stop_dropping(from, to, kind.as_deref())
            }
            Action::StrandLeader { minority } => self.strand_leader(minority),
            Action::Heal => {
                self.network.heal();
                self.steer = None;
            }
            Action::SetLoss(p) => self.network.config.loss = p,
            Action::Submit { node, data } => {
                let node = self.steered(node);
                self.submit(node, data)?;
            }
            Action::Invoke { client, node, op } => {
                let node = self.steered(node);
                self.invoke(client, node, op)?;
            }
            Action::Retry { client, attempt } => self.retry(client, attempt)?,
            Action::SetDisk { node, disk } => self.set_disk(node, disk),
            Action::TransferLeadership { to } => {
                if let Some(leader) = self.current_leader() {
                    self.input(leader, Input::TransferLeadership { to })?;
                } else if self.config.trace {
                    self.note("no leader to transfer from".into());
                }
            }
        }
        Ok(())
    }

    /// Where a client command meant for `node` goes: a stranded leader gets every third
    /// one, whoever it was meant for, up to `STRANDED_COMMANDS` of them.
    fn steered(&mut self, node: NodeId) -> NodeId {
        match &mut self.steer {
            Some((leader, sent))
                if *sent < STRANDED_COMMANDS && self.next_request.is_multiple_of(3) =>
            {
                *sent += 1;
                self.fault_stats.stranded_writes += 1;
                *leader
            }
            _ => node,
        }
    }

    /// Caps the entries one replication message carries ([`Protocol::set_max_batch`])
    /// for every node started or restarted from now on; `None` leaves each protocol's
    /// own cap.
    pub fn set_max_batch(&mut self, entries: Option<usize>) {
        self.max_batch = entries;
    }

    /// Switches Paxos's random back-off after a lost ballot off (`false`) for every node
    /// started or restarted from now on ([`Protocol::set_backoff`]); on by default.
    pub fn set_backoff(&mut self, on: bool) {
        self.backoff_off = !on;
    }

    /// Switches a known bug ([`protocols::Bug`]) on in every node started or restarted
    /// from now on (`None`: off, the default). Refused, with the bug returned, unless
    /// `P` has it.
    pub fn set_bug(&mut self, bug: Option<Bug>) -> Result<(), Bug> {
        match bug {
            Some(b) if b.protocol().as_str() != P::NAME => Err(b),
            _ => {
                self.bug = bug;
                Ok(())
            }
        }
    }

    /// The known bug nodes start with, if any.
    pub fn bug(&self) -> Option<Bug> {
        self.bug
    }

    /// Starts node `id` from its durable records, if it is not running.
    fn start(&mut self, id: NodeId) -> Result<(), Violation> {
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        if n.proto.is_some() {
            return Ok(());
        }
        let setup = Setup {
            id,
            membership: self.config.membership.clone(),
            timing: self.config.timing.clone(),
            rng: DetRng::for_node(self.config.seed ^ n.incarnation.wrapping_mul(0x51), id),
            narrate: self.config.trace,
        };
        // Recovery goes through the WAL's own scan: a torn tail is cut, and every record
        // is decoded by the codec that encoded it.
        let failed =
            |e: String| Violation::new(self.now, format!("node {id} failed to recover: {e}"));
        let (payloads, intact) = recover_bytes(&n.log).map_err(|e| failed(e.to_string()))?;
        if intact < n.log.len() as u64 {
            self.torn_tails += 1;
            n.log
                .truncate(usize::try_from(intact).unwrap_or(usize::MAX));
        }
        let records = payloads
            .iter()
            .map(|p| decode_record::<P::Record>(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(e.to_string()))?;
        let mut proto = P::recover(setup, records).map_err(|e| failed(e.to_string()))?;
        proto.route_by_key(kv::command_key);
        if let Some(adjust) = &self.adjust {
            adjust(&mut proto);
        }
        if let Some(entries) = self.max_batch {
            proto.set_max_batch(entries);
        }
        if self.backoff_off {
            proto.set_backoff(false);
        }
        if let Some(bug) = self.bug {
            if !proto.inject_bug(bug) {
                return Err(Violation::new(
                    self.now,
                    format!("{} has no bug {bug}", P::NAME),
                ));
            }
        }
        n.applied.clear();
        n.kv = Self::store(self.at_least_once, self.state_machine);
        // Log compaction: start from the newest stored snapshot the protocol accepts
        // (a damaged file fails its checksum and the one before it is tried).
        for file in n.snapshots.iter().rev() {
            let Ok(snapshot) = storage::snapshot::decode_snapshot(file) else {
                continue;
            };
            if proto.restore_snapshot(&snapshot).is_err() {
                continue;
            }
            n.kv.restore_image(&snapshot.data).map_err(&failed)?;
            let upto = usize::try_from(snapshot.index).unwrap_or(usize::MAX);
            n.applied = self
                .checker
                .committed()
                .get(..upto)
                .map(<[_]>::to_vec)
                .ok_or_else(|| {
                    failed(format!(
                        "a snapshot through {} is past the committed sequence",
                        snapshot.index
                    ))
                })?;
            break;
        }
        if n.applied.is_empty() && proto.log_start() > 0 {
            return Err(failed(format!(
                "its log starts after index {} and no stored snapshot covers it",
                proto.log_start()
            )));
        }
        n.proto = Some(proto);
        n.timers.clear();
        self.input(id, Input::Start)
    }

    /// Kills node `id` if it runs: volatile state gone, and what its disk had not
    /// synced lost or torn (see `DiskConfig::tears`), with the effects that waited for
    /// it. Returns whether it was running.
    fn take_down(&mut self, id: NodeId) -> bool {
        let Some(n) = self.nodes.get_mut(&id) else {
            return false;
        };
        if n.proto.take().is_none() {
            return false;
        }
        n.incarnation += 1;
        n.timers.clear();
        let tears = n.disk.as_ref().unwrap_or(&self.config.disk).tears;
        let unsynced: Vec<u8> = n
            .unsynced
            .drain(..)
            .flat_map(|(_, bytes, _)| bytes)
            .collect();
        if tears && !unsynced.is_empty() && self.rng.chance(0.5) {
            let cut =
                usize::try_from(self.rng.range_inclusive(0, unsynced.len() as u64)).unwrap_or(0);
            n.log
                .extend_from_slice(unsynced.get(..cut).unwrap_or_default());
        }
        n.gate = DurabilityGate::new();
        true
    }

    /// A crash resets the TCP connections of node `id`: the live peers on its side of
    /// the partition notice.
    fn connection_lost(&mut self, id: NodeId) -> Result<(), Violation> {
        let peers: Vec<NodeId> = self.config.membership.peers_of(id).collect();
        for peer in peers {
            if self.network.connected(id, peer)
                && self.nodes.get(&peer).is_some_and(|p| p.proto.is_some())
            {
                self.input(peer, Input::PeerLost(id))?;
            }
        }
        Ok(())
    }

    /// [`Action::StrandLeader`]: the running node that leads the highest term, cut off
    /// with `minority - 1` others picked at random; clients keep writing to it.
    /// The running node that leads the highest term, if any.
    fn current_leader(&self) -> Option<NodeId> {
        self.running()
            .into_iter()
            .filter_map(|id| self.node(id).map(|p| (id, p.status())))
            .filter(|(_, s)| s.role.is_leader())
            .max_by_key(|(id, s)| (s.term, *id))
            .map(|(id, _)| id)
    }

    fn strand_leader(&mut self, minority: usize) {
        let leader = self.current_leader();
        let Some(leader) = leader else {
            if self.config.trace {
                self.note("no leader to strand".into());
            }
            return;
        };
        let mut rest: Vec<NodeId> = self.ids().into_iter().filter(|&n| n != leader).collect();
        let mut side = vec![leader];
        while side.len() < minority.max(1) && !rest.is_empty() {
            let i = self.rng.range_inclusive(0, rest.len() as u64 - 1) as usize;
            side.push(rest.remove(i));
        }
        if self.config.trace {
            self.note(format!("leader {leader} stranded with {side:?}"));
        }
        self.network.partition(vec![side, rest]);
        self.steer = Some((leader, 0));
        self.fault_stats.stranded_leaders += 1;
    }
}
