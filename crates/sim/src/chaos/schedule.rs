//! A seed's random fault schedule and client commands.
//!
//! Faults start every 100-700 ms of the faulty phase, each drawn from this mix (percent
//! of fault slots) and undone after its own delay:
//!
//! | fault | share | undone after |
//! |---|---|---|
//! | one node crashes ([`Action::Crash`]) | 25 | 50-900 ms (restart) |
//! | power failure: 2 to all nodes crash at once, each losing its unsynced writes ([`Action::PowerFailure`]) | 8 | 50-900 ms, each node 0-100 ms apart |
//! | partition into two random groups | 12 | 50-900 ms |
//! | one node isolated | 10 | 50-900 ms |
//! | one-way cut: one node's messages to some others lost, theirs to it arrive ([`Action::OneWay`]) | 12 | 50-900 ms |
//! | one message kind, among those the link carried so far, dropped on one directed link ([`Action::DropKind`]) | 13 | 100-1500 ms |
//! | the leader stranded in a minority for seconds, with every third client command sent to it (at most [`crate::STRANDED_COMMANDS`]) ([`Action::StrandLeader`]) | 5 | 1-3 s |
//! | message loss up to `max_loss` | 15 | 50-900 ms |
//!
//! Network faults overlap (a later partition replaces an earlier one, and any heal
//! ends them all), except that nothing heals a stranded leader early: while one is
//! stranded, the partitions, isolations and cuts drawn become message loss.
//!
//! What each new fault is for. A one-way cut makes a leader that can send but not hear
//! (its heartbeats hold off elections while nothing commits) or hear but not send (the
//! others elect a new leader it learns of only later). A dropped kind starves one
//! exchange of a link while the rest of it works (AppendEntries without heartbeats,
//! acknowledgements, votes). A stranded leader is the superseded leader Raft §8 warns
//! about: it still believes it leads, and takes writes it cannot commit; when the
//! network heals Raft and ZAB discard them, while a Paxos leader's later round may still
//! choose them; their clients wait without an answer all along. A power failure crashes
//! every copy of a write at once, which is what the rules on stable storage are for:
//! Raft's Figure 2 (persistent state is written before answering) and thesis §10.2.1 (a
//! leader counts its own copy once durable), "Paxos Made Simple" §2.5 (an acceptor
//! records its response before sending it), ZAB's followers logging a proposal before
//! they acknowledge it.

use super::{ChaosConfig, ChaosReport};
use crate::{Action, Simulation};
use kv::KvOp;
use protocols::{DetRng, NodeId, Protocol, Time};
use std::time::Duration;

/// Draws a seed's fault plan (the table above) into `sim`'s schedule, counting the faults in
/// `report`; the recipe chaos runs (crate `recipes`) use it with their own clients.
pub fn schedule_faults<P: Protocol>(
    sim: &mut Simulation<P>,
    cfg: &ChaosConfig,
    plan: &mut DetRng,
    ids: &[NodeId],
    report: &mut ChaosReport,
) {
    let end = Time::ZERO.plus(cfg.faulty);
    let mut t = Time::ZERO
        .plus(plan.duration_between(Duration::from_millis(100), Duration::from_millis(500)));
    // Until when a stranded leader must stay stranded.
    let mut stranded_until = Time::ZERO;
    let ms = Duration::from_millis;
    while t < end {
        let pick = |plan: &mut DetRng| ids[plan.range_inclusive(0, ids.len() as u64 - 1) as usize];
        let back = t.plus(plan.duration_between(ms(50), ms(900)));
        // A percentile: the shares of the table in the module docs.
        let mut fault = plan.range_inclusive(0, 99);
        let heals = matches!(fault, 33..=66 | 80..=84);
        if heals && t < stranded_until {
            fault = 85; // loss instead: nothing may heal the stranded leader early
        }
        match fault {
            0..=24 => {
                let victim = pick(plan);
                sim.schedule(t, Action::Crash(victim));
                sim.schedule(back, Action::Start(victim));
                report.crashes += 1;
            }
            25..=32 => {
                // 2..=n nodes, all of them as often as any other size.
                let size = plan.range_inclusive(2, ids.len().max(2) as u64) as usize;
                let mut rest = ids.to_vec();
                let mut down = Vec::new();
                while down.len() < size && !rest.is_empty() {
                    let i = plan.range_inclusive(0, rest.len() as u64 - 1) as usize;
                    down.push(rest.remove(i));
                }
                for &id in &down {
                    sim.schedule(
                        back.plus(plan.duration_between(ms(0), ms(100))),
                        Action::Start(id),
                    );
                }
                report.crashes += down.len() as u32;
                report.power_failures += 1;
                sim.schedule(t, Action::PowerFailure(down));
            }
            33..=44 => {
                let mut groups = vec![Vec::new(), Vec::new()];
                for &id in ids {
                    groups[plan.range_inclusive(0, 1) as usize].push(id);
                }
                sim.schedule(t, Action::Partition(groups));
                sim.schedule(back, Action::Heal);
                report.partitions += 1;
            }
            45..=54 => {
                sim.schedule(t, Action::Isolate(pick(plan)));
                sim.schedule(back, Action::Heal);
                report.partitions += 1;
            }
            55..=66 => {
                // One node and some of the others; which way is lost is drawn too.
                let node = pick(plan);
                let others: Vec<NodeId> = ids
                    .iter()
                    .copied()
                    .filter(|&o| o != node && plan.chance(0.5))
                    .collect();
                let others = if others.is_empty() {
                    ids.iter().copied().filter(|&o| o != node).collect()
                } else {
                    others
                };
                let (from, to) = if plan.chance(0.5) {
                    (vec![node], others)
                } else {
                    (others, vec![node])
                };
                sim.schedule(t, Action::OneWay { from, to });
                sim.schedule(back, Action::Heal);
                report.one_way_cuts += 1;
            }
            67..=79 => {
                let from = pick(plan);
                let to = loop {
                    let to = pick(plan);
                    if to != from || ids.len() < 2 {
                        break to;
                    }
                };
                let until = t.plus(plan.duration_between(ms(100), ms(1500)));
                sim.schedule(
                    t,
                    Action::DropKind {
                        from,
                        to,
                        kind: None,
                    },
                );
                sim.schedule(
                    until,
                    Action::StopDropKind {
                        from,
                        to,
                        kind: None,
                    },
                );
                report.kind_drops += 1;
            }
            80..=84 => {
                let minority =
                    plan.range_inclusive(1, ((ids.len() as u64).saturating_sub(1) / 2).max(1));
                let until = t.plus(plan.duration_between(ms(1000), ms(3000)));
                sim.schedule(
                    t,
                    Action::StrandLeader {
                        minority: minority as usize,
                    },
                );
                sim.schedule(until, Action::Heal);
                stranded_until = until;
                report.partitions += 1;
            }
            _ => {
                let loss = (plan.range_inclusive(0, 100) as f64 / 100.0) * cfg.max_loss;
                sim.schedule(t, Action::SetLoss(loss));
                sim.schedule(back, Action::SetLoss(0.0));
            }
        }
        t = t.plus(plan.duration_between(ms(100), ms(700)));
    }
}

pub(super) fn schedule_clients<P: Protocol>(
    sim: &mut Simulation<P>,
    cfg: &ChaosConfig,
    plan: &mut DetRng,
    ids: &[NodeId],
    from: Time,
    until: Time,
) {
    let mut t = from;
    let mut n = 0u64;
    // The operations draw from a source of their own, so that the fault and timing plan
    // of a seed stays what it was before clients had operations.
    let mut ops = DetRng::new(sim.config.seed ^ 0x0C11_E475);
    // Per key, the values written to it so far: a cas expects one of the last few (or
    // the empty first value), so that some swap and some find another value.
    let mut written: [Vec<String>; KEYS as usize] = Default::default();
    while t < until {
        let node = ids[plan.range_inclusive(0, ids.len() as u64 - 1) as usize];
        n += 1;
        // Reads, writes and compare-and-sets on a few keys, so that operations really
        // conflict; each enters the clients' history, checked for linearizability at
        // the end. A client busy with an earlier operation skips its turn.
        let k = ops.range_inclusive(0, KEYS - 1) as usize;
        let key = bytes::Bytes::from(format!("k{k}"));
        let client = ops.range_inclusive(0, CLIENTS - 1) as usize;
        let value = format!("v{n}");
        let op = match ops.range_inclusive(0, 9) {
            0..=3 => KvOp::Get { key },
            4..=7 => KvOp::Put {
                key,
                value: bytes::Bytes::from(value.clone()),
            },
            _ => {
                let recent = &written[k][written[k].len().saturating_sub(3)..];
                let pick = ops.range_inclusive(0, recent.len() as u64) as usize;
                let from = recent.get(pick).cloned().unwrap_or_default();
                KvOp::Cas {
                    key,
                    from: bytes::Bytes::from(from),
                    to: bytes::Bytes::from(value.clone()),
                }
            }
        };
        if !matches!(op, KvOp::Get { .. }) {
            written[k].push(value);
        }
        sim.schedule(t, Action::Invoke { client, node, op });
        t = t.plus(plan.duration_between(cfg.client_gap / 2, cfg.client_gap * 3 / 2));
    }
}

/// Keys the chaos clients use.
const KEYS: u64 = 4;
/// Retrying clients in a chaos run, each with one operation outstanding at a time.
const CLIENTS: u64 = 8;
