//! The summary table printed after `cwb bench` and `cwb compare`.

use reports::results::{Failover, Measure, Results};

fn cell(m: Option<&Measure>) -> String {
    match m {
        Some(m) if m.summary.count > 0 => {
            format!(
                "{:>8.1} {:>8.1} {:>8.1} {:>8.1}",
                m.summary.p50, m.summary.p99, m.summary.min, m.summary.max
            )
        }
        _ => format!("{:>35}", "not measured"),
    }
}

/// Picks one phase out of a failover.
type Part = fn(&Failover) -> &Measure;

/// Prints median / p99 / min / max of every measure, then throughput, then baselines.
pub fn print(results: &Results) {
    println!(
        "{:<6} {:>5}  {:<34} {:>8} {:>8} {:>8} {:>8}",
        "proto", "nodes", "measure (ms)", "median", "p99", "min", "max"
    );
    for run in &results.runs {
        let row = |name: &str, m: Option<&Measure>| {
            println!(
                "{:<6} {:>5}  {:<34} {}",
                run.protocol,
                run.nodes,
                name,
                cell(m)
            );
        };
        row("cold start -> leader elected", run.elected.as_ref());
        row("cold start -> leader ready", run.election.as_ref());
        let rounds_line = |what: &str, rounds: Option<&Measure>| {
            if let Some(rounds) = rounds {
                let extra = rounds.samples.iter().filter(|&&r| r > 0.0).count();
                let max = rounds.samples.iter().copied().fold(0.0, f64::max);
                println!(
                    "{:<6} {:>5}  {what} needing more than one election round: {extra} of {} (max {max} extra)",
                    run.protocol,
                    run.nodes,
                    rounds.samples.len()
                );
            }
        };
        rounds_line("cold starts", run.election_extra_rounds.as_ref());
        for (name, f) in [
            ("kill", &run.failover_kill),
            ("isolate", &run.failover_isolate),
            ("transfer", &run.failover_transfer),
        ] {
            let Some(f) = f else { continue };
            let parts: [(&str, Part); 6] = [
                ("detection", |f| &f.detection),
                ("election", |f| &f.election),
                ("recovery/sync", |f| &f.recovery),
                ("first commit", |f| &f.first_commit),
                ("total (-> first commit)", |f| &f.total),
                ("client unavailability", |f| &f.unavailability),
            ];
            for (part, get) in parts {
                row(&format!("{name}: {part}"), Some(get(f)));
            }
            rounds_line(&format!("{name} failovers"), f.extra_rounds.as_ref());
            if f.trials_discarded > 0 {
                println!(
                    "{:<6} {:>5}  {name}: {} trials discarded (fault not verified or timed out)",
                    run.protocol, run.nodes, f.trials_discarded
                );
            }
        }
        for s in &run.failover_steps {
            for (step, m) in &s.steps {
                row(&format!("{} step: {step}", s.failure), Some(m));
            }
        }
        for l in &run.lost_writes {
            let mean =
                |m: &Measure| m.samples.iter().sum::<f64>() / (m.samples.len().max(1) as f64);
            println!(
                "{:<6} {:>5}  {} {}: {:.1} of {:.0} acknowledged writes lost per failover (mean of {} trials), linearizable: {} ({} yes, {} no, {} undecided), failover median {:.1} ms",
                run.protocol,
                run.nodes,
                l.failure,
                l.replication(),
                mean(&l.lost),
                mean(&l.acknowledged),
                l.lost.samples.len(),
                l.verdict(),
                l.linearizable,
                l.not_linearizable,
                l.undecided,
                l.failover.summary.p50
            );
        }
        for p in &run.placement {
            let region = p
                .region
                .as_deref()
                .map_or(String::new(), |r| format!(" ({r})"));
            println!(
                "{:<6} {:>5}  leader n{}{region}: one client's commit p50 {:.2} ms, p99 {:.2} ms ({} writes, {} failed)",
                run.protocol,
                run.nodes,
                p.leader,
                p.latency_us.p50 / 1000.0,
                p.latency_us.p99 / 1000.0,
                p.ops,
                p.errors
            );
        }
        for s in &run.sweep {
            row(
                &format!("sweep {}: election", s.setting),
                Some(&s.election_ms),
            );
            for (name, failover) in [("kill", &s.kill_ms), ("isolate", &s.isolate_ms)] {
                if let Some(m) = failover {
                    row(&format!("sweep {}: {name} total", s.setting), Some(m));
                }
            }
            let rounds = &s.split_votes_or_extra_rounds.summary;
            let extra = if rounds.is_measured() {
                format!("mean {:.2}, max {}", rounds.mean, rounds.max)
            } else {
                "not measured".to_string()
            };
            println!(
                "{:<6} {:>5}  sweep {}: extra rounds (split votes/duels) {extra}",
                run.protocol, run.nodes, s.setting
            );
        }
    }
    println!(
        "\n{:<6} {:>5}  {:>7} {:>7} {:>12} {:>8} {:>17} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "proto",
        "nodes",
        "clients",
        "value B",
        "ops/s",
        "MB/s",
        "rounds min-max",
        "p50 us",
        "p99 us",
        "p999 us",
        "msgs/op",
        "syncs/op",
        "cpu us/op"
    );
    for run in &results.runs {
        let msgs: f64 = run.messages.per_op.values().sum();
        let msgs = if run.messages.per_op.is_empty() {
            "-".to_string()
        } else {
            format!("{msgs:.2}")
        };
        let syncs = run
            .messages
            .wal_syncs_per_op
            .map_or("-".to_string(), |s| format!("{s:.3}"));
        // The counts come from one point (the largest client count); other rows show "-".
        let counted_at = run
            .messages
            .per_op_clients
            .or_else(|| run.throughput.iter().map(|t| t.clients).max());
        for t in &run.throughput {
            let (msgs, syncs) =
                if Some(t.clients) == counted_at && t.value_bytes == results.settings.value_bytes {
                    (msgs.as_str(), syncs.as_str())
                } else {
                    ("-", "-")
                };
            let spread = t
                .rounds_range()
                .map_or("-".to_string(), |(lo, hi)| format!("{lo:.0}-{hi:.0}"));
            let lat = |v: f64| {
                if t.latency_us.is_measured() {
                    format!("{v:.0}")
                } else {
                    "-".to_string()
                }
            };
            let cpu = t
                .cpu_us_per_op
                .map_or("-".to_string(), |c| format!("{c:.1}"));
            println!(
                "{:<6} {:>5}  {:>7} {:>7} {:>12.0} {:>8.2} {:>17} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
                run.protocol,
                run.nodes,
                t.clients,
                t.value_bytes,
                t.ops_per_sec,
                t.ops_per_sec * t.value_bytes as f64 / 1e6,
                spread,
                lat(t.latency_us.p50),
                lat(t.latency_us.p99),
                lat(t.latency_us.p999),
                msgs,
                syncs,
                cpu
            );
        }
    }
    cost_per_op(results);
    let b = &results.baseline;
    let concurrent: String = b
        .concurrent_fsync
        .iter()
        .map(|c| {
            format!(
                "; {} writers at once p50 {:.1} us, p99 {:.1} us",
                c.writers, c.latency_us.p50, c.latency_us.p99
            )
        })
        .collect();
    println!(
        "\nbaseline (same run): loopback RTT p50 {:.1} us, p99 {:.1} us; fdatasync of 256 B p50 {:.1} us, p99 {:.1} us{concurrent}; fsync = {}",
        b.loopback_rtt_us.p50, b.loopback_rtt_us.p99, b.fsync_us.p50, b.fsync_us.p99, results.settings.fsync
    );
}

/// One line per run: what a committed operation cost at the point with the most
/// clients (CPU, messages, bytes, socket and WAL writes, fsyncs; all nodes).
fn cost_per_op(results: &Results) {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let mut header = false;
    for run in &results.runs {
        let m = &run.messages;
        let Some(clients) = m.per_op_clients else {
            continue;
        };
        if !header {
            println!(
                "\n{:<6} {:>5}  {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "cost",
                "nodes",
                "clients",
                "cpu us",
                "sys us",
                "msgs",
                "bytes",
                "peer w",
                "peer r",
                "client w",
                "wal w",
                "fsyncs"
            );
            header = true;
        }
        let (cpu, system) = run.cpu_at_counted_point();
        let us = |v: Option<f64>| v.map_or("-".to_string(), |c| format!("{c:.1}"));
        let sum = |map: &std::collections::BTreeMap<String, f64>| {
            (!map.is_empty()).then(|| map.values().sum::<f64>())
        };
        println!(
            "{:<6} {:>5}  {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            run.protocol,
            run.nodes,
            clients,
            us(cpu),
            us(system),
            f(sum(&m.per_op)),
            sum(&m.bytes_per_op).map_or("-".to_string(), |b| format!("{b:.0}")),
            f(m.peer_writes_per_op),
            f(m.peer_reads_per_op),
            f(m.client_writes_per_op),
            f(m.wal_writes_per_op),
            f(m.wal_syncs_per_op),
        );
    }
}
