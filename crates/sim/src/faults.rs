//! Faults and restarts: starting a node from what its disk kept (through the WAL's own
//! recovery scan), crashing it (tearing what its disk had not synced), partitions,
//! isolation, loss and per-node disks.

use crate::invariants::Violation;
use crate::{Action, Simulation};
use kv::KvStore;
use protocols::{DetRng, DurabilityGate, Input, NodeId, Protocol, Setup};
use storage::{decode_record, recover_bytes};

impl<P: Protocol> Simulation<P> {
    pub(crate) fn apply_action(&mut self, action: Action) -> Result<(), Violation> {
        if self.config.trace {
            self.note(format!("** {action:?}"));
        }
        match action {
            Action::Start(id) => {
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
                // Recovery goes through the WAL's own scan: a torn tail is cut, and every
                // record is decoded by the codec that encoded it.
                let failed = |e: String| {
                    Violation::new(self.now, format!("node {id} failed to recover: {e}"))
                };
                let (payloads, intact) =
                    recover_bytes(&n.log).map_err(|e| failed(e.to_string()))?;
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
                let proto = P::recover(setup, records).map_err(|e| failed(e.to_string()))?;
                n.proto = Some(proto);
                n.applied.clear();
                n.kv = KvStore::new();
                n.timers.clear();
                self.input(id, Input::Start)?;
            }
            Action::Crash(id) => {
                if let Some(n) = self.nodes.get_mut(&id) {
                    if n.proto.take().is_some() {
                        n.incarnation += 1;
                        n.timers.clear();
                        // What the disk had not synced is lost or torn (see
                        // `DiskConfig::tears`); the effects that waited for it are gone.
                        let tears = n.disk.as_ref().unwrap_or(&self.config.disk).tears;
                        let unsynced: Vec<u8> =
                            n.unsynced.drain(..).flat_map(|(_, bytes)| bytes).collect();
                        if tears && !unsynced.is_empty() && self.rng.chance(0.5) {
                            let cut =
                                usize::try_from(self.rng.range_inclusive(0, unsynced.len() as u64))
                                    .unwrap_or(0);
                            n.log
                                .extend_from_slice(unsynced.get(..cut).unwrap_or_default());
                        }
                        n.gate = DurabilityGate::new();
                        let peers: Vec<NodeId> = self.config.membership.peers_of(id).collect();
                        // A crash resets the TCP connections: live peers notice.
                        for peer in peers {
                            if self.network.connected(id, peer)
                                && self.nodes.get(&peer).is_some_and(|p| p.proto.is_some())
                            {
                                self.input(peer, Input::PeerLost(id))?;
                            }
                        }
                    }
                }
            }
            Action::Partition(groups) => self.network.partition(groups),
            Action::Isolate(id) => {
                let all = self.ids();
                self.network.isolate(id, &all);
            }
            Action::Heal => self.network.heal(),
            Action::SetLoss(p) => self.network.config.loss = p,
            Action::Submit { node, data } => {
                self.submit(node, data)?;
            }
            Action::SetDisk { node, disk } => self.set_disk(node, disk),
        }
        Ok(())
    }
}
