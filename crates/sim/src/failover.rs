//! Failover trials: one fault under a steady load of writes and reads, the same for
//! every protocol, measuring what the failover costs a client: how long until another
//! node serves again, and how many writes the cluster acknowledged and then lost.
//!
//! A trial starts the cluster, lets it settle, then submits a command every
//! [`TrialConfig::every`] (`put`s of fresh values round the keys; every fourth round
//! `get`s them), each to the
//! node that serves its key: the ready leader for the consensus protocols, the key's
//! master for Redis Cluster (a client that keeps its slot map fresh). At
//! [`TrialConfig::fault_at`] the node serving the first key is killed or isolated; it is
//! restarted or reconnected [`TrialConfig::down_for`] later, and the load stops at
//! [`TrialConfig::end`]. Then:
//! - the failover time is from the fault to the first `LeaderReady` of a newer
//!   generation on another node (for Redis Cluster, the promoted replica's);
//! - an acknowledged write is one a node answered; it is lost if the state the cluster
//!   serves at the end does not hold it ([`FailoverTarget::survives`]);
//! - the clients' history goes to the linearizability checker. A lost write shows only
//!   when a read returns the value it overwrote; a lost write that a later write
//!   overwrites before any read can be linearized, so the verdict may still pass.
//!
//! Lost writes are counted, never treated as a failure: losing them is the documented
//! price of asynchronous replication. The simulator's own checks (one leader per
//! generation; for the consensus protocols one applied sequence) still fail a trial.

use crate::{Action, ReplyOutcome, SimConfig, Simulation, Violation};
use bytes::Bytes;
use kv::{KvCommand, KvOp, Session};
use lincheck::{Limits, Verdict};
use protocols::{Event, NodeId, Protocol, RequestId, Time};
use std::collections::HashMap;
use std::time::Duration;

/// What happens to the node serving the load's first key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverFault {
    /// It crashes (restarted `down_for` later).
    Kill,
    /// It is cut off from every other node (reconnected `down_for` later); clients
    /// still reach it.
    Isolate,
}

impl std::fmt::Display for FailoverFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailoverFault::Kill => "kill",
            FailoverFault::Isolate => "isolate",
        })
    }
}

/// One trial's settings.
#[derive(Clone, Debug)]
pub struct TrialConfig {
    /// The seed of the run.
    pub seed: u64,
    /// Number of nodes.
    pub nodes: u64,
    /// The fault.
    pub fault: FailoverFault,
    /// One command every this long.
    pub every: Duration,
    /// Distinct keys the load spreads over.
    pub keys: usize,
    /// When the fault strikes (the load starts at half this).
    pub fault_at: Duration,
    /// How long the faulted node stays down or cut off.
    pub down_for: Duration,
    /// When the load stops; the run goes on a second more to settle.
    pub end: Duration,
}

impl TrialConfig {
    /// Six nodes, a command every 2 ms over 16 keys, the fault at 2 s for 4 s, the
    /// load until 8 s.
    pub fn new(seed: u64, fault: FailoverFault) -> TrialConfig {
        TrialConfig {
            seed,
            nodes: 6,
            fault,
            every: Duration::from_millis(2),
            keys: 16,
            fault_at: Duration::from_secs(2),
            down_for: Duration::from_secs(4),
            end: Duration::from_secs(8),
        }
    }
}

/// What one trial measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrialOutcome {
    /// The faulted node.
    pub victim: NodeId,
    /// From the fault to another node's `LeaderReady` of a newer generation.
    pub failover: Option<Duration>,
    /// Writes a node answered.
    pub acknowledged: u64,
    /// Acknowledged writes the final state does not hold.
    pub lost: u64,
    /// Commands submitted.
    pub submitted: u64,
    /// The checker's verdict: `Some(true)` linearizable, `Some(false)` not, `None`
    /// undecided within its step budget.
    pub linearizable: Option<bool>,
}

/// How a trial drives and judges protocol `Self`.
pub trait FailoverTarget: Protocol + Sized {
    /// The node a client sends a command on `key` to, if it knows one.
    fn route(sim: &Simulation<Self>, key: &[u8]) -> Option<NodeId>;
    /// Whether the acknowledged write `id` on `key` is in the state the cluster serves.
    fn survives(sim: &Simulation<Self>, id: RequestId, key: &[u8]) -> bool;
}

/// The consensus protocols: the latest ready leader that runs serves every key; a
/// write survives if it is in the committed sequence.
fn ready_leader<P: Protocol>(sim: &Simulation<P>) -> Option<NodeId> {
    let running = sim.running();
    sim.events().iter().rev().find_map(|e| match e.event {
        Event::LeaderReady { .. } if running.contains(&e.node) => Some(e.node),
        _ => None,
    })
}

macro_rules! consensus_target {
    ($t:ty) => {
        impl FailoverTarget for $t {
            fn route(sim: &Simulation<Self>, _key: &[u8]) -> Option<NodeId> {
                ready_leader(sim)
            }
            fn survives(sim: &Simulation<Self>, id: RequestId, _key: &[u8]) -> bool {
                sim.checker().committed().contains(&Some(id))
            }
        }
    };
}

consensus_target!(protocols::raft::Raft);
consensus_target!(protocols::zab::Zab);
consensus_target!(protocols::paxos::Paxos);

impl FailoverTarget for protocols::redis::Redis {
    /// The key's master in the view of the running node with the highest
    /// `currentEpoch` (a client refreshing its slot map with `CLUSTER SLOTS`).
    fn route(sim: &Simulation<Self>, key: &[u8]) -> Option<NodeId> {
        let view = sim
            .running()
            .into_iter()
            .filter_map(|id| sim.node(id))
            .max_by_key(|n| n.current_epoch())?;
        view.slot_map().owner(protocols::redis::slots::slot_of(key))
    }

    /// The write is in the stream of the master that serves its key now.
    fn survives(sim: &Simulation<Self>, id: RequestId, key: &[u8]) -> bool {
        Self::route(sim, key)
            .and_then(|m| sim.node(m))
            .is_some_and(|n| n.is_master() && n.stream().contains(id))
    }
}

fn command(client: u64, seq: u64, op: KvOp) -> Bytes {
    KvCommand {
        session: Session { client, seq },
        op,
    }
    .encode()
}

/// Runs one trial of `P`; `adjust` is given every node after it is recovered (a
/// protocol's own settings). Fails only on a violation of the simulator's checks.
pub fn failover_trial<P: FailoverTarget>(
    cfg: &TrialConfig,
    adjust: impl Fn(&mut P) + Send + Sync + 'static,
) -> Result<TrialOutcome, Violation> {
    let mut sc = SimConfig::voters(cfg.nodes, cfg.seed);
    sc.trace = true; // keeps the replies the trial counts
    let mut sim = Simulation::<P>::new(sc);
    sim.adjust_nodes(adjust);
    sim.start_all()?;
    let keys: Vec<Bytes> = (0..cfg.keys.max(1))
        .map(|k| Bytes::from(format!("key{k}")))
        .collect();
    let at = |d: Duration| Time::ZERO.plus(d);
    sim.run_until(at(cfg.fault_at / 2))?;
    let mut written: HashMap<RequestId, Bytes> = HashMap::new();
    let mut submitted = 0u64;
    let mut victim = None;
    let mut fault_time = Time::ZERO;
    let mut generation_before = 0;
    let mut healed = false;
    let mut next = sim.now();
    let mut seq = 0u64;
    while next < at(cfg.end) {
        sim.run_until(next)?;
        if victim.is_none() && next >= at(cfg.fault_at) {
            let v = P::route(&sim, &keys[0]).unwrap_or(1);
            generation_before = sim
                .events()
                .iter()
                .filter_map(|e| match e.event {
                    Event::LeaderReady { term } | Event::LeaderElected { term } => Some(term),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            sim.act(match cfg.fault {
                FailoverFault::Kill => Action::Crash(v),
                FailoverFault::Isolate => Action::Isolate(v),
            })?;
            victim = Some(v);
            fault_time = sim.now();
        }
        if let Some(v) = victim {
            if !healed && next >= fault_time.plus(cfg.down_for) {
                sim.act(match cfg.fault {
                    FailoverFault::Kill => Action::Start(v),
                    FailoverFault::Isolate => Action::Heal,
                })?;
                healed = true;
            }
        }
        seq += 1;
        let key = keys[(seq as usize) % keys.len()].clone();
        // Every fourth round over the keys reads them all.
        let op = if (seq / keys.len() as u64) % 4 == 3 {
            KvOp::Get { key: key.clone() }
        } else {
            KvOp::Put {
                key: key.clone(),
                value: Bytes::from(format!("v{seq}")),
            }
        };
        let is_write = matches!(op, KvOp::Put { .. });
        if let Some(node) = P::route(&sim, &key) {
            // Every command is a client of its own (no session): a lost write is never
            // hidden behind a session's duplicate check.
            let id = sim.submit(node, command(0, 0, op))?;
            submitted += 1;
            if is_write {
                written.insert(id, key);
            }
        }
        next = next.plus(cfg.every);
    }
    sim.run_for(Duration::from_secs(1))?;
    let victim = victim.unwrap_or(0);
    let failover = sim
        .events()
        .iter()
        .find(|e| {
            e.at >= fault_time
                && e.node != victim
                && matches!(e.event, Event::LeaderReady { term } if term > generation_before)
        })
        .map(|e| e.at.since(fault_time));
    let mut outcome = TrialOutcome {
        victim,
        failover,
        submitted,
        ..TrialOutcome::default()
    };
    for reply in sim.replies() {
        let (ReplyOutcome::Done { .. }, Some(key)) = (&reply.outcome, written.get(&reply.id))
        else {
            continue;
        };
        outcome.acknowledged += 1;
        if !P::survives(&sim, reply.id, key) {
            outcome.lost += 1;
        }
    }
    let limits = Limits {
        time: None,
        steps: Some(20_000_000),
        shrink_time: Duration::ZERO,
    };
    outcome.linearizable = match lincheck::check(sim.history(), limits) {
        Verdict::Linearizable => Some(true),
        Verdict::NotLinearizable(_) => Some(false),
        Verdict::Undecided(_) => None,
    };
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::redis::Redis;

    fn short(seed: u64, fault: FailoverFault) -> TrialConfig {
        TrialConfig {
            every: Duration::from_millis(5),
            fault_at: Duration::from_millis(1000),
            down_for: Duration::from_millis(2500),
            end: Duration::from_millis(4000),
            ..TrialConfig::new(seed, fault)
        }
    }

    #[test]
    fn raft_loses_no_acknowledged_write_when_its_leader_is_killed() {
        let o = failover_trial::<protocols::raft::Raft>(&short(1, FailoverFault::Kill), |_| {})
            .expect("no violation");
        assert!(o.failover.is_some(), "{o:?}");
        assert!(o.acknowledged > 0);
        assert_eq!(o.lost, 0, "{o:?}");
        assert_ne!(o.linearizable, Some(false));
    }

    #[test]
    fn redis_fails_over_a_killed_master_and_with_wait_loses_no_acknowledged_write() {
        let o =
            failover_trial::<Redis>(&short(1, FailoverFault::Kill), |_| {}).expect("no violation");
        assert!(o.failover.is_some(), "the replica is promoted: {o:?}");
        assert!(o.acknowledged > 0);
        let w = failover_trial::<Redis>(&short(1, FailoverFault::Kill), |n: &mut Redis| {
            let mut s = n.settings().clone();
            s.wait_replicas = 1;
            n.set_settings(s);
        })
        .expect("no violation");
        assert!(w.failover.is_some(), "{w:?}");
        assert_eq!(
            w.lost, 0,
            "WAIT 1: every acknowledged write is on the replica: {w:?}"
        );
    }

    #[test]
    fn an_isolated_redis_master_keeps_acknowledging_writes_the_failover_then_loses() {
        let o = failover_trial::<Redis>(&short(2, FailoverFault::Isolate), |_| {})
            .expect("no violation");
        assert!(o.failover.is_some(), "{o:?}");
        assert!(
            o.lost > 0,
            "writes acknowledged in the minority are lost: {o:?}"
        );
    }
}
