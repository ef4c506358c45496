//! `cwb nemesis --workload recipes`, the run: a cluster of `cwb node` processes on the
//! znode tree, the recipe clients of [`super::recipe_clients`] on it, the nemesis's
//! faults (`drivers::nemesis::inject_faults`), a quiet time, then the checks of
//! `recipes::live` and `recipes::check::check_actions` on what the clients recorded, one
//! verdict line each.

use super::recipe_clients::{client_task, ms, Log, Shared, LOCKS};
use super::Args;
use anyhow::{anyhow, Context};
use drivers::cluster::ClusterOptions;
use drivers::measure::Cluster;
use drivers::nemesis;
use drivers::process_cluster::ProcessCluster;
use recipes::broken::RecipeBug;
use recipes::check::{check_actions, Resource};
use recipes::live::{check_holds, check_progress, check_watches};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs the recipe workload under the nemesis; the exit status (0: every check held).
pub async fn run(args: Args) -> anyhow::Result<i32> {
    let bug: Option<RecipeBug> = args
        .recipe_bug
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: String| anyhow!(e))?;
    let dir = tempfile::tempdir().context("temporary data directory")?;
    // The recipe clients are the load: no key-value clients.
    let plan = args.plan(dir.path(), 0, 0)?;
    // `--clients` clients on each lock, taking turns (client i on LOCKS[i % 2]).
    let clients = usize::try_from(args.clients.max(1)).unwrap_or(1) * LOCKS.len();
    println!(
        "nemesis: {} on {} node processes (znode tree), {} recipe clients on each of {} (session timeout {} ms, pause chance {}{}), {} faults ({})",
        args.protocol,
        args.nodes,
        clients / LOCKS.len(),
        LOCKS.join(" and "),
        args.session_timeout_ms,
        args.pause_chance,
        bug.map_or(String::new(), |b| format!(", broken: {b}")),
        args.faults,
        args.kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut opts = ClusterOptions::new(plan.nodes, plan.base_dir.clone());
    opts.seed = plan.seed;
    opts.state_machine = kv::StateMachineKind::Znode;
    let mut cluster = ProcessCluster::start(&plan.exe, plan.protocol, &opts).await?;
    let sh = Arc::new(Shared {
        origin: Instant::now(),
        stop: AtomicBool::new(false),
        faulty: AtomicBool::new(true),
        paused: AtomicUsize::new(0),
        log: Mutex::new(Log {
            resources: LOCKS
                .iter()
                .map(|_| Resource::new(bug != Some(RecipeBug::NoFence)))
                .collect(),
            ..Log::default()
        }),
        addrs: cluster.client_addrs().values().copied().collect(),
        tls: cluster.client_tls(),
        bug,
        timeout: Duration::from_millis(args.session_timeout_ms.max(100)),
        pause_chance: args.pause_chance.clamp(0.0, 1.0),
    });
    let workers: Vec<_> = (0..clients)
        .map(|i| {
            let sh = sh.clone();
            let seed = args.seed.wrapping_mul(1000).wrapping_add(i as u64);
            tokio::spawn(async move { client_task(sh, i, seed).await })
        })
        .collect();
    let faults = nemesis::inject_faults(&mut cluster, &plan, sh.origin, &mut |line| {
        println!("  {line}")
    })
    .await;
    sh.faulty.store(false, Ordering::Relaxed);
    // The last pauses end (a pause is a client fault too), then the quiet time runs.
    while sh.paused.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let leader = nemesis::current_leader(&cluster).await;
    let repaired = sh.now();
    if faults.is_ok() && leader.is_some() {
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    }
    sh.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    cluster.shutdown().await;
    let faults = faults?;
    if leader.is_none() {
        anyhow::bail!(
            "no leader was ready {:?} after the last fault was repaired",
            nemesis::READY_WAIT
        );
    }
    let log = sh.log();
    if std::env::var_os("CWB_RECIPE_TRACE").is_some() {
        for x in &log.sightings {
            eprintln!("{x:?}");
        }
        for h in &log.holds {
            eprintln!("{h:?}");
        }
    }
    let mut ok = true;
    let mut verdict = |name: &str, r: Result<String, String>| match r {
        Ok(line) => println!("{name}: ok ({line})"),
        Err(e) => {
            ok = false;
            println!("{name}: VIOLATED: {e}");
        }
    };
    println!(
        "faults: {}; acquisitions: {}; sessions: {} opened, {} expired under their client; client pauses: {}; moves to a new leader: {}; watch events delivered: {}",
        faults.len(),
        log.holds.len(),
        log.sessions,
        log.sessions_lost,
        log.pauses,
        log.moves,
        log.notifications
    );
    verdict(
        "holders",
        check_holds(&log.holds).map(|s| {
            format!(
                "{} acquisitions, {} verified by an acknowledged release; {} pairs compared: none overlap, tokens grow",
                s.holds, s.verified, s.pairs
            )
        }),
    );
    let mut accepted = 0;
    let mut refused = 0;
    let mut fence = Ok(());
    for (r, res) in log.resources.iter().enumerate() {
        accepted += res.accepted.len();
        refused += res.refused;
        if fence.is_ok() {
            fence = check_actions(&res.accepted).map_err(|e| format!("{}: {e}", LOCKS[r]));
        }
    }
    verdict(
        "fencing",
        fence.map(|()| {
            format!(
                "{accepted} resource actions accepted in token order, {refused} stale ones fenced off{}",
                if bug == Some(RecipeBug::NoFence) {
                    " (the resources do not check tokens)"
                } else {
                    ""
                }
            )
        }),
    );
    verdict(
        "watches",
        check_watches(&log.sightings, &log.gone).map(|s| {
            format!(
                "{} set on existing nodes, {} fired, {} due before a later answer and each came first; none fired twice",
                s.set, s.fired, s.due
            )
        }),
    );
    verdict(
        "progress",
        check_progress(&log.holds, clients, repaired)
            .map(|()| {
                format!(
                    "every client held its lock again after the last repair at {:.1} s",
                    ms(repaired) / 1000.0
                )
            })
            .map_err(|stuck| {
                format!(
                    "clients {stuck:?} never held their lock in the {} ms after the last repair (a missed watch event?)",
                    args.settle_ms
                )
            }),
    );
    let path = args.out.with_file_name("nemesis-recipes.jsonl");
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let lines: Vec<String> = log
        .holds
        .iter()
        .map(|h| {
            serde_json::json!({
                "client": h.client,
                "lock": h.lock,
                "node": h.node,
                "token": h.token,
                "granted_ms": ms(h.granted),
                "released_ms": h.released.map(ms),
            })
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("holdings: {}", path.display());
    println!(
        "verdict: {}",
        if ok {
            "recipes safe"
        } else {
            "recipes NOT safe"
        }
    );
    Ok(if ok { 0 } else { 1 })
}
