//! Failover under load, on a real cluster: what a failover costs the clients who were
//! writing when it struck. Several writers keep writing, each write to a key of its
//! own; the node serving the first writers' keys (the consensus leader; for Redis
//! Cluster the first master) is killed or isolated, and restarted or reconnected as
//! soon as another node serves in its place; once a write on its keys is acknowledged
//! again and the load has run a little longer, every key written is read back from
//! the cluster, starting at the successor. Then:
//! - an acknowledged write whose key reads back empty is lost (with unique keys no later
//!   write can explain it away);
//! - the whole history (writes, read-backs; timeouts as unknown outcomes) goes to the
//!   linearizability checker ([`lincheck`]);
//! - the failover is decomposed like [`crate::measure::failover_on`]'s, and for Redis
//!   Cluster also into the steps of its specification ([`redis_steps`]).
//!
//! Writers are routed by key: the consensus protocols get one lane of writers at the
//! ready leader; Redis Cluster one lane per master, each writing keys whose hash slot
//! that master serves (a hash tag picks the slot), so the load covers every master and
//! a client only meets `MOVED` when its master's slots move.
//!
//! Lost writes are counted, never treated as a failure: losing them is the documented
//! price of asynchronous replication (docs/METHOD.md, "Acknowledged writes lost").

use crate::measure::{
    extra_rounds, failover_try_timeout, latest_ready, Cluster, FailoverSample, Failure,
    MeasureError, FAILOVER_RETRY_PAUSE,
};
use crate::metrics::{failover_phases, FailoverPhases};
use bytes::Bytes;
use lincheck::{Completion, History, Input, Limits, Verdict};
use protocols::redis::slots;
use protocols::{Event, NodeId};
use runtime::events::Stamped;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the load is laid out and paced.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    /// `None`: one node serves every key (the consensus leader). `Some(masters)`:
    /// Redis Cluster's initial masters, in order, each serving its equal share of the
    /// slots ([`slots::share`]); the first is the one failed.
    pub masters: Option<Vec<NodeId>>,
    /// Writers per lane (the consensus protocols' one lane gets this times the number
    /// of lanes Redis gets, so both offer the same load: see [`LoadPlan::writers`]).
    pub writers: u32,
    /// Each writer sends at most one write per this period.
    pub pace: Duration,
    /// How long the load goes on after the first write acknowledged on the failed
    /// node's keys.
    pub after: Duration,
    /// A writer gives one write up (an unknown outcome) after this long.
    pub write_deadline: Duration,
}

impl LoadPlan {
    /// Six writers in all, each a write every 2 ms (3000 writes/s offered), the load
    /// going on 300 ms after the failover; `masters` as in [`LoadPlan::masters`].
    pub fn new(masters: Option<Vec<NodeId>>) -> LoadPlan {
        let lanes = masters.as_ref().map_or(1, |m| m.len().max(1)) as u32;
        LoadPlan {
            masters,
            writers: 6 / lanes.min(6),
            pace: Duration::from_millis(2),
            after: Duration::from_millis(300),
            write_deadline: Duration::from_secs(1),
        }
    }

    /// Writers in all.
    pub fn writers(&self) -> u32 {
        self.writers * self.masters.as_ref().map_or(1, |m| m.len().max(1)) as u32
    }
}

/// What one failover under load measured.
#[derive(Clone, Debug)]
pub struct LoadedSample {
    /// The failover, decomposed as every protocol's is.
    pub failover: FailoverSample,
    /// Fault -> the first write acknowledged on the failed node's keys by its successor.
    pub first_write: Duration,
    /// Redis Cluster: the steps of [`redis_steps`]; empty for the consensus protocols.
    pub steps: Steps,
    /// Writes acknowledged.
    pub acknowledged: u64,
    /// Acknowledged writes whose key read back empty.
    pub lost: u64,
    /// The checker's verdict: `Some(true)` linearizable, `Some(false)` not, `None`
    /// undecided within its limits.
    pub linearizable: Option<bool>,
}

/// Redis Cluster's initial masters among `voters` nodes: the first `max(1, n / 2)`
/// ids, as `protocols::redis` lays a new cluster out (its module docs).
pub fn redis_masters(voters: u64) -> Vec<NodeId> {
    (1..=(voters / 2).max(1)).collect()
}

/// Whether protocol `P` is Redis Cluster, whose keys are served by several masters.
pub fn is_redis<P: protocols::Protocol>() -> bool {
    P::NAME == <protocols::redis::Redis as protocols::Protocol>::NAME
}

/// The throughput lanes of Redis Cluster's initial `masters`: one per master, writing
/// the keys of [`crate::workload::key`]'s space whose slot it serves.
pub fn redis_lanes(masters: &[NodeId]) -> Vec<crate::workload::Lane> {
    masters
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let range = slots::share(i, masters.len());
            crate::workload::Lane {
                start,
                keys: Some(crate::workload::keys_where(|k| {
                    (range.first..=range.last).contains(&slots::slot_of(k))
                })),
            }
        })
        .collect()
}

/// One lane of writers.
struct Lane {
    /// The node its writers send to first.
    node: NodeId,
    /// The hash tag that puts its keys in that node's slots (empty: no tag needed).
    tag: String,
}

/// A write a writer saw acknowledged.
#[derive(Clone, Debug)]
struct Ack {
    at: Instant,
    lane: usize,
    via: Option<NodeId>,
}

/// One write a writer sent: its key, its value, and whether it was acknowledged.
#[derive(Clone, Debug)]
struct Sent {
    key: String,
    value: String,
    acked: bool,
}

/// A failover's steps in the protocol's own words, each with its duration.
pub type Steps = Vec<(&'static str, Duration)>;

/// What the writers share.
#[derive(Default)]
struct Shared {
    history: Mutex<History>,
    acks: Mutex<Vec<Ack>>,
    /// Every key written, by writer, with its value and whether it was acknowledged.
    written: Mutex<BTreeMap<u64, Vec<Sent>>>,
}

impl Shared {
    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn acks(&self) -> std::sync::MutexGuard<'_, Vec<Ack>> {
        self.acks.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn written(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Vec<Sent>>> {
        self.written.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The smallest hash tag `{tN}` whose slot falls in `range`.
fn tag_for(range: slots::SlotRange) -> String {
    (0u32..)
        .map(|n| format!("{{t{n}}}"))
        .find(|t| (range.first..=range.last).contains(&slots::slot_of(t.as_bytes())))
        .unwrap_or_default()
}

fn nanos(origin: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(origin).as_nanos()).unwrap_or(u64::MAX)
}

/// Kills or isolates the node serving the first lane's keys under `plan`'s load, and
/// measures the failover and what it cost (see the module docs). The caller starts the
/// cluster (for Redis Cluster with narration on: its steps are read from it) and stops
/// it; the failed node is back (restarted, healed) once its successor is ready.
pub async fn failover_under_load<C: Cluster>(
    cluster: &mut C,
    failure: Failure,
    plan: &LoadPlan,
    timeout: Duration,
) -> Result<LoadedSample, MeasureError> {
    let origin = Instant::now();
    // Ready: every master (Redis Cluster), or a leader.
    let lanes: Vec<Lane> = match &plan.masters {
        None => {
            cluster
                .wait_ready(0, None, 0, timeout)
                .await
                .ok_or(MeasureError::Timeout(timeout, "a leader"))?;
            let (leader, _) = latest_ready(&cluster.bus().snapshot())
                .ok_or(MeasureError::Timeout(timeout, "a leader"))?;
            vec![Lane {
                node: leader,
                tag: String::new(),
            }]
        }
        Some(masters) => {
            let bus = cluster.bus().clone();
            for &m in masters {
                bus.wait_for(0, timeout, |s| {
                    s.node == m && matches!(s.event, Event::LeaderReady { .. })
                })
                .await
                .ok_or(MeasureError::Timeout(timeout, "every master ready"))?;
            }
            masters
                .iter()
                .enumerate()
                .map(|(i, &node)| Lane {
                    node,
                    tag: tag_for(slots::share(i, masters.len())),
                })
                .collect()
        }
    };
    let Some(victim) = lanes.first().map(|l| l.node) else {
        return Err(MeasureError::Timeout(timeout, "a node to fail"));
    };
    let old_term = latest_ready(&cluster.bus().snapshot()).map_or(0, |(_, t)| t);
    let shared = Arc::new(Shared::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    let mut writer_id = 0u64;
    for (lane, l) in lanes.iter().enumerate() {
        for _ in 0..plan.writers.max(1) {
            writer_id += 1;
            let mut client = cluster.client();
            client.try_timeout = failover_try_timeout(cluster.slowest_one_way());
            client.retry_pause = FAILOVER_RETRY_PAUSE;
            client.deadline = plan.write_deadline;
            client.start_at(l.node);
            writers.push(tokio::spawn(write_loop(
                client,
                writer_id,
                lane,
                l.tag.clone(),
                plan.pace,
                origin,
                shared.clone(),
                stop.clone(),
            )));
        }
    }
    let abort = |writers: &[tokio::task::JoinHandle<()>]| writers.iter().for_each(|w| w.abort());
    // Steady state: every lane had some writes acknowledged.
    let steady = tokio::time::timeout(timeout, async {
        loop {
            let per_lane = {
                let acks = shared.acks();
                (0..lanes.len())
                    .map(|l| acks.iter().filter(|a| a.lane == l).count())
                    .min()
                    .unwrap_or(0)
            };
            if per_lane >= 10 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    if steady.is_err() {
        abort(&writers);
        return Err(MeasureError::Timeout(timeout, "steady writes"));
    }
    let victim_addr = cluster.client_addrs().get(&victim).copied();
    let cursor = cluster.bus().len();
    let fault = match failure {
        Failure::Kill => cluster.kill(victim).await,
        Failure::Isolate => cluster.isolate(victim).await,
        Failure::Transfer => {
            abort(&writers);
            return Err(MeasureError::FaultNotVerified(
                "a planned transfer loses nothing: measured by the transfer measure".into(),
            ));
        }
    };
    let t0 = match fault {
        Ok(t0) => t0,
        Err(e) => {
            abort(&writers);
            return Err(e.into());
        }
    };
    let Some(new) = cluster
        .wait_ready(cursor, Some(victim), old_term, timeout)
        .await
    else {
        abort(&writers);
        return Err(MeasureError::Timeout(timeout, "a new leader or master"));
    };
    // The failed node comes back as soon as its successor serves: restarted from its
    // files, or reconnected. A Redis master with one replica and WAIT 1 has none left
    // once that replica is promoted: no write on its slots is acknowledged until the
    // old master is back as the new master's replica.
    let back = match failure {
        Failure::Kill => {
            if let Some(addr) = victim_addr {
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    abort(&writers);
                    return Err(MeasureError::FaultNotVerified(format!(
                        "killed node {victim} still accepts clients"
                    )));
                }
            }
            cluster.restart(victim).await
        }
        _ => cluster.heal().await,
    };
    if let Err(e) = back {
        abort(&writers);
        return Err(e.into());
    }
    // The first write on the failed node's keys acknowledged by its successor (for the
    // consensus protocols any node: the old leader cannot commit any more, and a ZAB
    // follower answers for its leader).
    let sharded = plan.masters.is_some();
    let deadline = Instant::now() + timeout;
    let first_write = loop {
        let found = shared
            .acks()
            .iter()
            .find(|a| a.lane == 0 && a.at >= new.at && (!sharded || a.via == Some(new.node)))
            .map(|a| a.at);
        if let Some(at) = found {
            break at;
        }
        if Instant::now() > deadline {
            abort(&writers);
            return Err(MeasureError::Timeout(
                timeout,
                "a write acknowledged on the failed node's keys",
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    tokio::time::sleep(plan.after).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers.iter_mut() {
        // A writer finishes its write in flight (bounded by its deadline).
        if tokio::time::timeout(plan.write_deadline * 2, &mut *w)
            .await
            .is_err()
        {
            w.abort();
        }
    }
    // Read every key back from the survivors, one reader per writer.
    let mut readers = Vec::new();
    let written = std::mem::take(&mut *shared.written());
    for (writer, keys) in written {
        let mut client = cluster.client();
        client.try_timeout = failover_try_timeout(cluster.slowest_one_way());
        client.retry_pause = FAILOVER_RETRY_PAUSE;
        client.deadline = plan.write_deadline.max(Duration::from_secs(2));
        client.start_at(new.node);
        readers.push(tokio::spawn(read_back(
            client,
            writer + 1_000_000,
            keys,
            origin,
            shared.clone(),
        )));
    }
    let (mut acknowledged, mut lost) = (0u64, 0u64);
    for r in readers {
        if let Ok((a, l)) = r.await {
            acknowledged += a;
            lost += l;
        }
    }
    let events = cluster.bus().snapshot();
    let (phases, steps, rounds) = if sharded {
        redis_steps(&events, t0, victim, new.node, first_write)
            .ok_or(MeasureError::Timeout(timeout, "the failover's steps"))?
    } else {
        let phases = failover_phases(&events, t0, victim, old_term, first_write)
            .ok_or(MeasureError::Timeout(timeout, "the failover's events"))?;
        let rounds = extra_rounds(
            events.get(cursor..).unwrap_or_default(),
            new.at,
            Some(victim),
        );
        (phases, Vec::new(), rounds)
    };
    let last_before = shared
        .acks()
        .iter()
        .filter(|a| a.lane == 0 && a.at <= t0)
        .map(|a| a.at)
        .max()
        .unwrap_or(t0);
    let history = std::mem::take(&mut *shared.history());
    let limits = Limits {
        time: Some(Duration::from_secs(10)),
        steps: None,
        shrink_time: Duration::ZERO,
    };
    let linearizable = match lincheck::check(&history, limits) {
        Verdict::Linearizable => Some(true),
        Verdict::NotLinearizable(_) => Some(false),
        Verdict::Undecided(_) => None,
    };
    Ok(LoadedSample {
        failover: FailoverSample {
            failure,
            old_leader: victim,
            new_leader: new.node,
            phases,
            unavailability: first_write.saturating_duration_since(last_before),
            extra_rounds: rounds,
            timer_lateness: cluster.bus().timer_lateness(),
        },
        first_write: first_write.saturating_duration_since(t0),
        steps,
        acknowledged,
        lost,
        linearizable,
    })
}

/// One writer: a put of a fresh key every `pace` until `stop`, each recorded in the
/// history (a timeout as an unknown outcome: the write may still take effect).
#[allow(clippy::too_many_arguments)]
async fn write_loop(
    mut client: runtime::client::Client,
    id: u64,
    lane: usize,
    tag: String,
    pace: Duration,
    origin: Instant,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = format!("{tag}w{id}-{n}");
        let value = format!("v{id}-{n}");
        let sent = Instant::now();
        if shared
            .history()
            .invoke(
                id,
                nanos(origin, sent),
                key.clone(),
                Input::Put(value.clone()),
            )
            .is_err()
        {
            return;
        }
        let result = client
            .put(Bytes::from(key.clone()), Bytes::from(value.clone()))
            .await;
        let done = Instant::now();
        let ok = result.is_ok();
        let completion = if ok {
            Completion::done()
        } else {
            Completion::Unknown
        };
        let _ = shared
            .history()
            .complete(id, nanos(origin, done), completion);
        if ok {
            shared.acks().push(Ack {
                at: done,
                lane,
                via: client.leader_guess(),
            });
        }
        shared.written().entry(id).or_default().push(Sent {
            key,
            value,
            acked: ok,
        });
        tokio::time::sleep_until((sent + pace).into()).await;
    }
}

/// Reads back one writer's keys; returns (acknowledged writes, of them lost).
async fn read_back(
    mut client: runtime::client::Client,
    id: u64,
    keys: Vec<Sent>,
    origin: Instant,
    shared: Arc<Shared>,
) -> (u64, u64) {
    let (mut acknowledged, mut lost) = (0, 0);
    for Sent { key, value, acked } in keys {
        let sent = Instant::now();
        if shared
            .history()
            .invoke(id, nanos(origin, sent), key.clone(), Input::Get)
            .is_err()
        {
            break;
        }
        let read = client.get(Bytes::from(key)).await;
        let done = Instant::now();
        let completion = match &read {
            Ok(v) => Completion::value(
                v.as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            ),
            Err(_) => Completion::Unknown,
        };
        let _ = shared
            .history()
            .complete(id, nanos(origin, done), completion);
        if acked {
            acknowledged += 1;
            if let Ok(v) = read {
                if v.as_deref() != Some(value.as_bytes()) {
                    lost += 1;
                }
            }
        }
    }
    (acknowledged, lost)
}

/// The names of Redis Cluster's failover steps, in order ([`redis_steps`]).
pub const REDIS_STEPS: [&str; 6] = [
    "PFAIL",
    "FAIL",
    "replica learns FAIL",
    "election delay",
    "vote",
    "first write",
];

/// Redis Cluster's failover of `victim` by `successor`, from the nodes' narration:
/// - PFAIL: the fault -> the first node's ping to `victim` waited a node timeout;
/// - FAIL: -> the first node that counted a majority of masters reporting it;
/// - replica learns FAIL: -> `successor` knows it (its own count or a `FAIL` message)
///   and draws its election delay;
/// - election delay: -> it sends `FAILOVER_AUTH_REQUEST` (its last before winning);
/// - vote: -> a majority of masters voted and it promoted itself;
/// - first write: promotion -> the first write on the slots acknowledged by it.
///
/// The shared decomposition takes detection up to "replica learns FAIL", election over
/// the delay and the vote, recovery as zero (a promoted replica serves at once) and
/// first commit as the first write. Also returns the extra vote rounds (requests sent
/// by non-failed nodes before the promotion, minus one). `None` if the promotion is
/// not among `events`.
pub fn redis_steps(
    events: &[Stamped],
    t0: Instant,
    victim: NodeId,
    successor: NodeId,
    first_write: Instant,
) -> Option<(FailoverPhases, Steps, u32)> {
    let after = |s: &&Stamped| s.at >= t0 && s.node != victim;
    let narration = |s: &Stamped| match &s.event {
        Event::Narrate(text) => Some(text.clone()),
        _ => None,
    };
    let elected = events
        .iter()
        .filter(after)
        .filter(|s| s.node == successor && matches!(s.event, Event::LeaderElected { .. }))
        .map(|s| s.at)
        .min()?;
    let ready = events
        .iter()
        .filter(after)
        .filter(|s| s.node == successor && matches!(s.event, Event::LeaderReady { .. }))
        .map(|s| s.at)
        .min()
        .unwrap_or(elected);
    let first = |pred: &dyn Fn(&Stamped, &str) -> bool| {
        events
            .iter()
            .filter(after)
            .filter(|s| s.at <= elected)
            .filter_map(|s| narration(s).filter(|t| pred(s, t)).map(|_| s.at))
            .min()
    };
    let pfail_text = format!("n{victim} PFAIL");
    let fail_texts = [format!("n{victim} FAIL:"), format!("n{victim} FAIL, as")];
    let learn_text = format!("master n{victim} is FAIL: election in");
    let requests: Vec<(NodeId, Instant)> = events
        .iter()
        .filter(after)
        .filter(|s| s.at <= elected)
        .filter_map(|s| {
            narration(s)
                .filter(|t| t.contains("send FAILOVER_AUTH_REQUEST"))
                .map(|_| (s.node, s.at))
        })
        .collect();
    let request = requests
        .iter()
        .filter(|(n, _)| *n == successor)
        .map(|&(_, at)| at)
        .max()
        .unwrap_or(elected);
    let learned = first(&|s, t| s.node == successor && t.starts_with(&learn_text))
        .unwrap_or(request)
        .min(request);
    let fail = first(&|_, t| fail_texts.iter().any(|f| t.starts_with(f.as_str())))
        .unwrap_or(learned)
        .min(learned);
    let pfail = first(&|_, t| t.starts_with(&pfail_text))
        .unwrap_or(fail)
        .min(fail);
    let since = |a: Instant, b: Instant| b.saturating_duration_since(a);
    let steps = vec![
        (REDIS_STEPS[0], since(t0, pfail)),
        (REDIS_STEPS[1], since(pfail, fail)),
        (REDIS_STEPS[2], since(fail, learned)),
        (REDIS_STEPS[3], since(learned, request)),
        (REDIS_STEPS[4], since(request, elected)),
        (REDIS_STEPS[5], since(ready, first_write)),
    ];
    let phases = FailoverPhases {
        detection: since(t0, learned),
        election: since(learned, elected),
        recovery: since(elected, ready),
        first_commit: since(ready, first_write),
        total: since(t0, first_write),
    };
    let rounds = u32::try_from(requests.len().saturating_sub(1)).unwrap_or(u32::MAX);
    Some((phases, steps, rounds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64, node: NodeId, event: Event) -> Stamped {
        Stamped {
            at: t0 + Duration::from_millis(ms),
            node,
            event,
        }
    }

    fn say(t0: Instant, ms: u64, node: NodeId, text: &str) -> Stamped {
        at(t0, ms, node, Event::Narrate(text.into()))
    }

    #[test]
    fn redis_steps_follow_the_specification_from_the_narration() {
        let t0 = Instant::now();
        let events = vec![
            say(t0, 0, 1, "n2 PFAIL: before the fault, ignored"),
            say(t0, 160, 2, "n1 PFAIL: our ping waited 160 ms"),
            say(t0, 170, 3, "n1 PFAIL: our ping waited 170 ms"),
            say(t0, 180, 3, "n1 FAIL: 2 of the masters report it failing"),
            say(t0, 185, 4, "n1 FAIL, as n3 announced"),
            say(t0, 200, 4, "master n1 is FAIL: election in 700 ms"),
            say(
                t0,
                900,
                4,
                "currentEpoch 4: send FAILOVER_AUTH_REQUEST to every node",
            ),
            at(t0, 905, 4, Event::LeaderElected { term: 4 }),
            at(t0, 905, 4, Event::LeaderReady { term: 4 }),
        ];
        let first_write = t0 + Duration::from_millis(910);
        let (phases, steps, rounds) =
            redis_steps(&events, t0, 1, 4, first_write).expect("a promotion");
        let ms = |n| Duration::from_millis(n);
        let want: Vec<(&str, Duration)> = REDIS_STEPS
            .iter()
            .copied()
            .zip([ms(160), ms(20), ms(20), ms(700), ms(5), ms(5)])
            .collect();
        assert_eq!(steps, want);
        assert_eq!(phases.detection, ms(200));
        assert_eq!(phases.election, ms(705));
        assert_eq!(phases.recovery, Duration::ZERO);
        assert_eq!(phases.first_commit, ms(5));
        assert_eq!(phases.total, ms(910));
        assert_eq!(rounds, 0);
        // The sum of the steps is the whole failover.
        assert_eq!(steps.iter().map(|s| s.1).sum::<Duration>(), phases.total);
    }

    #[test]
    fn hash_tags_put_each_lane_in_its_masters_slots() {
        for i in 0..3 {
            let range = slots::share(i, 3);
            let tag = tag_for(range);
            let key = format!("{tag}w7-42");
            let slot = slots::slot_of(key.as_bytes());
            assert!((range.first..=range.last).contains(&slot), "{key}: {slot}");
        }
    }

    #[test]
    fn both_layouts_offer_the_same_number_of_writers() {
        assert_eq!(LoadPlan::new(None).writers(), 6);
        assert_eq!(LoadPlan::new(Some(vec![1, 2, 3])).writers(), 6);
    }
}
