//! Nemesis runs: a real cluster of `cwb node` processes (fsync `batch`), clients that
//! retry with sessions on a small key set, and a schedule of faults (kill -9 of the
//! leader or of a random node, SIGSTOP/SIGCONT pauses of the leader, isolation of the
//! leader, each followed by a restart, a resume or a heal). Every client operation is
//! recorded as an invocation and a completion on the monotonic clock (ok with its
//! answer; unknown after a timeout or a broken connection, since it may still take
//! effect), and the history is checked for linearizability (the `lincheck` crate),
//! as Jepsen does for real databases.
//!
//! The report gives, per run: operations by outcome, the checker's verdict, the
//! acknowledged writes lost (per key, the last acknowledged put that the final read
//! neither returns nor could have seen overwritten), and per fault the window without
//! an acknowledged write: from the fault to the first write acknowledged after it.

use crate::cluster::ClusterOptions;
use crate::measure::Cluster;
use crate::process_cluster::{ProcessCluster, ProcessClusterError};
use bytes::Bytes;
use lincheck::{Completion, History, Input, Limits, Output, Verdict};
use protocols::{NodeId, ProtocolKind};
use runtime::client::Client;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use thiserror::Error;

/// What one nemesis run does.
#[derive(Clone, Debug)]
pub struct NemesisPlan {
    /// The protocol the nodes run.
    pub protocol: ProtocolKind,
    /// Voters.
    pub nodes: u64,
    /// Faults to inject, one after another.
    pub faults: u32,
    /// Which faults, cycled in this order.
    pub kinds: Vec<FaultKind>,
    /// Concurrent clients (each one operation at a time).
    pub clients: u32,
    /// Keys the clients share (few, so that operations conflict).
    pub keys: u32,
    /// Operations each client starts per second at most (0: as fast as answers come).
    /// Jepsen-style runs keep this low: the history stays small enough to check, and
    /// faults, not load, decide what happens.
    pub rate: u32,
    /// Quiet time between a fault's repair and the next fault.
    pub gap: Duration,
    /// How long a fault lasts before its repair (restart, resume, heal).
    pub hold: Duration,
    /// The `cwb` executable that runs the nodes.
    pub exe: PathBuf,
    /// Where the nodes keep their data and logs.
    pub base_dir: PathBuf,
    /// Seed of the fault choices and of the nodes.
    pub seed: u64,
}

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FaultKind {
    /// kill -9 of the leader, restarted after the hold.
    KillLeader,
    /// kill -9 of a random node, restarted after the hold.
    KillRandom,
    /// SIGSTOP of the leader, SIGCONT after the hold.
    PauseLeader,
    /// The leader isolated (its own filter drops everything), healed after the hold.
    IsolateLeader,
    /// A partition that keeps the leader with a majority and cuts a minority of the
    /// followers off (the leader must go on committing), healed after the hold.
    PartitionMajority,
    /// A partition that strands the leader in a minority (alone in a 3-node
    /// cluster): the majority elects a new leader while the old one may still take
    /// writes it cannot commit (Raft §8's superseded leader), healed after the hold.
    PartitionMinority,
}

impl FaultKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillLeader => "kill-leader",
            FaultKind::KillRandom => "kill-random",
            FaultKind::PauseLeader => "pause-leader",
            FaultKind::IsolateLeader => "isolate-leader",
            FaultKind::PartitionMajority => "partition-majority",
            FaultKind::PartitionMinority => "partition-minority",
        }
    }
}

/// One injected fault and what clients saw of it.
#[derive(Clone, Debug)]
pub struct FaultRecord {
    /// What was done.
    pub kind: FaultKind,
    /// To which node.
    pub node: NodeId,
    /// When, since the run started.
    pub at: Duration,
    /// From the fault to the first write acknowledged after it (none: no write was
    /// acknowledged before the run ended).
    pub unavailable: Option<Duration>,
}

/// What a nemesis run found.
#[derive(Debug)]
pub struct NemesisReport {
    /// Every client operation.
    pub history: History,
    /// The faults, in order.
    pub faults: Vec<FaultRecord>,
    /// The checker's verdict on the history.
    pub verdict: Verdict,
    /// Acknowledged writes the final reads show lost.
    pub lost_writes: usize,
}

/// Why a nemesis run could not be made (a fault that found no leader is skipped and
/// said so, not an error).
#[derive(Debug, Error)]
pub enum NemesisError {
    /// The cluster failed to start, kill, restart or heal.
    #[error(transparent)]
    Cluster(#[from] ProcessClusterError),
    /// No leader after the faults were repaired.
    #[error("no leader was ready {0:?} after the last fault was repaired")]
    NoLeader(Duration),
    /// A pause or resume signal could not be sent.
    #[error("signalling node {node}: {reason}")]
    Signal {
        /// The node.
        node: NodeId,
        /// Why.
        reason: String,
    },
}

/// The recorder every client writes into.
#[derive(Clone)]
struct Recorder {
    history: Arc<Mutex<History>>,
    origin: Instant,
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, History> {
        // A panic while holding the lock cannot leave the history half-written: each
        // call is one push or one completion.
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// How long a run waits for a leader after a repair.
pub const READY_WAIT: Duration = Duration::from_secs(20);

/// Runs the plan; `note` hears about each fault as it happens.
pub async fn run(
    plan: &NemesisPlan,
    mut note: impl FnMut(String),
) -> Result<NemesisReport, NemesisError> {
    let mut opts = ClusterOptions::new(plan.nodes, plan.base_dir.clone());
    opts.seed = plan.seed;
    let mut cluster = ProcessCluster::start(&plan.exe, plan.protocol, &opts).await?;
    let recorder = Recorder {
        history: Arc::new(Mutex::new(History::new())),
        origin: Instant::now(),
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for c in 0..plan.clients {
        let (recorder, stop) = (recorder.clone(), stop.clone());
        let addrs = cluster.client_addrs().clone();
        let keys = plan.keys.max(1);
        let seed = plan.seed.wrapping_add(u64::from(c));
        let pace = (plan.rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(plan.rate)));
        workers.push(tokio::spawn(async move {
            client_loop(u64::from(c) + 1, addrs, keys, seed, pace, recorder, stop).await
        }));
    }
    let faults = inject_faults(&mut cluster, plan, recorder.origin, &mut note).await?;
    // Let the cluster settle, stop the clients, then read every key once more.
    if current_leader(&cluster).await.is_none() {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        cluster.shutdown().await;
        return Err(NemesisError::NoLeader(READY_WAIT));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let mut final_reader = Client::new(cluster.client_addrs().clone());
    final_reader.deadline = READY_WAIT;
    let reader_id = u64::from(plan.clients) + 1;
    let mut finals = Vec::new();
    for k in 0..plan.keys.max(1) {
        let key = key_name(k);
        let _ = recorder
            .lock()
            .invoke(reader_id, recorder.now(), key.clone(), Input::Get);
        let got = final_reader.get(Bytes::from(key.clone())).await;
        let completion = match &got {
            Ok(v) => Completion::value(text(v.as_ref())),
            Err(_) => Completion::Unknown,
        };
        let _ = recorder
            .lock()
            .complete(reader_id, recorder.now(), completion);
        if let Ok(v) = got {
            finals.push((key, text(v.as_ref())));
        }
    }
    cluster.shutdown().await;
    let history = recorder.lock().clone();
    let mut faults = faults;
    for f in &mut faults {
        f.unavailable = first_write_after(&history, f.at);
    }
    let verdict = lincheck::check(&history, Limits::default());
    let lost_writes = finals
        .iter()
        .filter(|(key, value)| lost(&history, key, value))
        .count();
    Ok(NemesisReport {
        history,
        faults,
        verdict,
        lost_writes,
    })
}

/// Injects `plan.faults` faults into `cluster`, one after another (each held for
/// `plan.hold`, repaired, then `plan.gap` of quiet), and returns what was done, with
/// times since `origin`. The key-value run above and the recipe clients' run
/// (`cwb nemesis --workload recipes`) share it.
pub async fn inject_faults(
    cluster: &mut ProcessCluster,
    plan: &NemesisPlan,
    origin: Instant,
    note: &mut impl FnMut(String),
) -> Result<Vec<FaultRecord>, NemesisError> {
    let mut rng = protocols::DetRng::new(plan.seed);
    let mut faults = Vec::new();
    for i in 0..plan.faults {
        let Some(kind) = plan
            .kinds
            .get(i as usize % plan.kinds.len().max(1))
            .copied()
        else {
            break;
        };
        let Some(leader) = current_leader(cluster).await else {
            note(format!(
                "fault {}: no leader within {READY_WAIT:?}, skipped",
                i + 1
            ));
            continue;
        };
        let running = cluster.running();
        let node = match kind {
            FaultKind::KillRandom => {
                let pick = rng.range_inclusive(0, running.len().saturating_sub(1) as u64);
                running
                    .get(usize::try_from(pick).unwrap_or(0))
                    .copied()
                    .unwrap_or(leader)
            }
            _ => leader,
        };
        let at = origin.elapsed();
        match kind {
            FaultKind::KillLeader | FaultKind::KillRandom => {
                cluster.kill(node).await?;
                tokio::time::sleep(plan.hold).await;
                cluster.restart(node).await?;
            }
            FaultKind::PauseLeader => {
                signal(cluster, node, Pause::Stop)?;
                tokio::time::sleep(plan.hold).await;
                signal(cluster, node, Pause::Continue)?;
            }
            FaultKind::IsolateLeader => {
                cluster.isolate(node).await?;
                tokio::time::sleep(plan.hold).await;
                cluster.heal().await?;
            }
            FaultKind::PartitionMajority | FaultKind::PartitionMinority => {
                let groups = split(
                    plan.nodes,
                    leader,
                    kind == FaultKind::PartitionMajority,
                    &mut rng,
                );
                note(format!("  groups {groups:?}"));
                cluster.partition(groups).await?;
                tokio::time::sleep(plan.hold).await;
                cluster.heal().await?;
            }
        }
        note(format!(
            "fault {}/{}: {} node {node} at {:.1} s",
            i + 1,
            plan.faults,
            kind.name(),
            at.as_secs_f64()
        ));
        faults.push(FaultRecord {
            kind,
            node,
            at,
            unavailable: None,
        });
        tokio::time::sleep(plan.gap).await;
    }
    Ok(faults)
}

/// Two groups of the nodes `1..=nodes`: `leader` with a majority (`leader_wins`)
/// or with a minority, the other members drawn at random.
fn split(
    nodes: u64,
    leader: NodeId,
    leader_wins: bool,
    rng: &mut protocols::DetRng,
) -> Vec<Vec<NodeId>> {
    let mut others: Vec<NodeId> = (1..=nodes).filter(|&id| id != leader).collect();
    // A Fisher-Yates shuffle with the run's seed.
    for i in (1..others.len()).rev() {
        let j = usize::try_from(rng.range_inclusive(0, i as u64)).unwrap_or(i);
        others.swap(i, j);
    }
    let minority = usize::try_from((nodes.saturating_sub(1)) / 2).unwrap_or(0);
    let with_leader = if leader_wins {
        usize::try_from(nodes)
            .unwrap_or(0)
            .saturating_sub(minority + 1)
    } else {
        minority.saturating_sub(1)
    };
    let mut side: Vec<NodeId> = others.drain(..with_leader.min(others.len())).collect();
    side.insert(0, leader);
    side.sort_unstable();
    others.sort_unstable();
    vec![side, others]
}

/// The running node that says it leads, in the highest term, asked over the client
/// ports until one does or [`READY_WAIT`] passes.
pub async fn current_leader(cluster: &ProcessCluster) -> Option<NodeId> {
    let deadline = Instant::now() + READY_WAIT;
    while Instant::now() < deadline {
        let mut best: Option<(u64, NodeId)> = None;
        for id in cluster.running() {
            let Some(addr) = cluster.client_addrs().get(&id) else {
                continue;
            };
            let tls = cluster.client_tls();
            if let Ok(s) =
                runtime::client::status_with(*addr, tls.as_ref(), Duration::from_millis(300)).await
            {
                if s.status.role.is_leader() && best.is_none_or(|(t, _)| s.status.term > t) {
                    best = Some((s.status.term, id));
                }
            }
        }
        if let Some((_, id)) = best {
            return Some(id);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn key_name(k: u32) -> String {
    format!("k{k}")
}

fn text(v: Option<&Bytes>) -> String {
    v.map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// One client: random gets, puts (unique values) and compare-and-sets on the shared
/// keys until `stop`.
async fn client_loop(
    id: u64,
    addrs: std::collections::BTreeMap<NodeId, std::net::SocketAddr>,
    keys: u32,
    seed: u64,
    pace: Option<Duration>,
    recorder: Recorder,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut client = Client::new(addrs);
    client.deadline = Duration::from_secs(2);
    client.try_timeout = Duration::from_millis(500);
    let mut rng = protocols::DetRng::new(seed);
    let mut n = 0u64;
    // The last value this client saw of each key, what its compare-and-sets expect.
    let mut seen = std::collections::HashMap::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let started = tokio::time::Instant::now();
        let k = u32::try_from(rng.range_inclusive(0, u64::from(keys) - 1)).unwrap_or(0);
        let key = key_name(k);
        n += 1;
        let value = format!("c{id}-{n}");
        // Reads, writes and compare-and-sets (from the value this client last saw of
        // the key, which others may have changed since) in 4:4:2.
        let input = match rng.range_inclusive(0, 9) {
            0..=3 => Input::Get,
            4..=7 => Input::Put(value.clone()),
            _ => Input::Cas {
                from: seen.get(&k).cloned().unwrap_or_default(),
                to: value.clone(),
            },
        };
        if recorder
            .lock()
            .invoke(id, recorder.now(), key.clone(), input.clone())
            .is_err()
        {
            return;
        }
        let key = Bytes::from(key);
        let completion = match &input {
            Input::Put(v) => match client.set(key, Bytes::from(v.clone())).await {
                Ok(()) => {
                    seen.insert(k, v.clone());
                    Completion::done()
                }
                Err(_) => Completion::Unknown,
            },
            Input::Cas { from, to } => {
                let op = kv::KvOp::Cas {
                    key,
                    from: Bytes::from(from.clone()),
                    to: Bytes::from(to.clone()),
                };
                match client.kv(op).await {
                    Ok(answer) => {
                        let swapped = answer.as_deref() == Some(kv::CAS_SWAPPED);
                        if swapped {
                            seen.insert(k, to.clone());
                        }
                        Completion::cas(swapped)
                    }
                    Err(_) => Completion::Unknown,
                }
            }
            _ => match client.get(key).await {
                Ok(v) => {
                    let v = text(v.as_ref());
                    seen.insert(k, v.clone());
                    Completion::value(v)
                }
                Err(_) => Completion::Unknown,
            },
        };
        let _ = recorder.lock().complete(id, recorder.now(), completion);
        if let Some(pace) = pace {
            tokio::time::sleep_until(started + pace).await;
        }
    }
}

/// From `at` to the completion of the first write invoked after `at` and acknowledged.
fn first_write_after(history: &History, at: Duration) -> Option<Duration> {
    let at_ns = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
    history
        .ops()
        .iter()
        .filter(|op| op.invoked >= at_ns && matches!(op.input, Input::Put(_)))
        .filter(|op| op.outcome == Completion::Ok(Output::Done))
        .filter_map(|op| op.completed)
        .min()
        .map(|done| Duration::from_nanos(done.saturating_sub(at_ns)))
}

/// The value `op` writes if it took effect, and whether its client knows it did: a put
/// not refused, a compare-and-set that swapped or whose outcome is unknown.
fn write_of(op: &lincheck::Operation) -> Option<(&str, bool)> {
    match (&op.input, &op.outcome) {
        (Input::Put(v), Completion::Ok(_)) => Some((v, true)),
        (Input::Put(v), Completion::Unknown) => Some((v, false)),
        (Input::Cas { to, .. }, Completion::Ok(Output::Cas(true))) => Some((to, true)),
        (Input::Cas { to, .. }, Completion::Unknown) => Some((to, false)),
        _ => None,
    }
}

/// Whether the final read `value` of `key` loses the last acknowledged write (a put,
/// or a compare-and-set that swapped): it is neither that write's value nor the value
/// of any write that may have followed it (one invoked before that write completed,
/// whose order is open, or any later one).
fn lost(history: &History, key: &str, value: &str) -> bool {
    let writes: Vec<_> = history
        .ops()
        .iter()
        .filter(|op| op.key == key)
        .filter_map(|op| write_of(op).map(|(v, acked)| (op, v, acked)))
        .collect();
    let Some((last, _, _)) = writes
        .iter()
        .filter(|(_, _, acked)| *acked)
        .max_by_key(|(op, _, _)| op.completed)
    else {
        return false;
    };
    let last_done = last.completed.unwrap_or(u64::MAX);
    !writes.iter().any(|(op, v, _)| {
        let may_follow = op.completed.is_none_or(|c| c >= last.invoked) || op.invoked >= last_done;
        may_follow && *v == value
    })
}

enum Pause {
    Stop,
    Continue,
}

/// Sends SIGSTOP or SIGCONT to a node process.
fn signal(cluster: &ProcessCluster, node: NodeId, pause: Pause) -> Result<(), NemesisError> {
    let failed = |reason: String| NemesisError::Signal { node, reason };
    let pid = cluster
        .pid(node)
        .ok_or_else(|| failed("not running".into()))?;
    let flag = match pause {
        Pause::Stop => "-STOP",
        Pause::Continue => "-CONT",
    };
    let status = std::process::Command::new("kill")
        .args([flag, &pid.to_string()])
        .status()
        .map_err(|e| failed(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(failed(format!("kill {flag} {pid} exited with {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(ops: &[(u64, &str, Input, u64, Completion, u64)]) -> History {
        let mut h = History::new();
        for (client, key, input, at, completion, done) in ops {
            h.invoke(*client, *at, *key, input.clone()).expect("invoke");
            h.complete(*client, *done, completion.clone())
                .expect("complete");
        }
        h
    }

    #[test]
    fn a_final_read_without_the_last_acknowledged_write_counts_as_lost() {
        let h = history(&[
            (1, "k0", Input::Put("a".into()), 0, Completion::done(), 10),
            (1, "k0", Input::Put("b".into()), 20, Completion::done(), 30),
        ]);
        assert!(!lost(&h, "k0", "b"));
        assert!(lost(&h, "k0", "a"), "b was acknowledged after a");
        assert!(lost(&h, "k0", ""), "nothing at all");
    }

    #[test]
    fn a_concurrent_or_unknown_later_write_explains_the_final_value() {
        let h = history(&[
            (1, "k0", Input::Put("a".into()), 0, Completion::done(), 30),
            (2, "k0", Input::Put("b".into()), 10, Completion::done(), 20),
            (3, "k0", Input::Put("c".into()), 40, Completion::Unknown, 50),
        ]);
        assert!(!lost(&h, "k0", "a"));
        assert!(
            !lost(&h, "k0", "b"),
            "b overlaps a: either order is possible"
        );
        assert!(!lost(&h, "k0", "c"), "c may have taken effect after a");
    }

    #[test]
    fn unavailability_runs_to_the_first_write_acknowledged_after_the_fault() {
        let h = history(&[
            (1, "k0", Input::Put("a".into()), 0, Completion::done(), 5),
            (1, "k0", Input::Get, 100, Completion::value("a"), 150),
            (
                1,
                "k0",
                Input::Put("b".into()),
                200,
                Completion::Unknown,
                900,
            ),
            (
                1,
                "k0",
                Input::Put("c".into()),
                1_000,
                Completion::done(),
                1_200,
            ),
        ]);
        assert_eq!(
            first_write_after(&h, Duration::from_nanos(50)),
            Some(Duration::from_nanos(1_150))
        );
        assert_eq!(first_write_after(&h, Duration::from_nanos(2_000)), None);
    }

    #[test]
    fn a_swapping_compare_and_set_is_a_write_and_a_refused_one_is_not() {
        let cas = |from: &str, to: &str| Input::Cas {
            from: from.into(),
            to: to.into(),
        };
        let h = history(&[
            (1, "k0", Input::Put("a".into()), 0, Completion::done(), 10),
            (2, "k0", cas("a", "b"), 20, Completion::cas(true), 30),
            (3, "k0", cas("x", "c"), 40, Completion::cas(false), 50),
        ]);
        assert!(
            !lost(&h, "k0", "b"),
            "the swap is the last acknowledged write"
        );
        assert!(
            lost(&h, "k0", "a"),
            "the swap to b was acknowledged after a"
        );
        assert!(
            lost(&h, "k0", "c"),
            "c was never written: its cas found another value"
        );
    }

    #[test]
    fn partitions_put_the_leader_on_the_side_asked_for() {
        let mut rng = protocols::DetRng::new(7);
        for nodes in [3u64, 5, 7] {
            for leader in 1..=nodes {
                let majority = usize::try_from(nodes / 2 + 1).unwrap_or(0);
                let wins = split(nodes, leader, true, &mut rng);
                assert!(
                    wins[0].contains(&leader) && wins[0].len() == majority,
                    "{wins:?}"
                );
                let loses = split(nodes, leader, false, &mut rng);
                assert!(
                    loses[0].contains(&leader) && loses[0].len() < majority,
                    "{loses:?}"
                );
                assert_eq!(loses[1].len(), majority, "{loses:?}");
                for groups in [wins, loses] {
                    let mut all: Vec<NodeId> = groups.concat();
                    all.sort_unstable();
                    assert_eq!(all, (1..=nodes).collect::<Vec<_>>());
                }
            }
        }
    }
}
