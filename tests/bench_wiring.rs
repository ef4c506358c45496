//! Tiny real-cluster `cwb bench` runs for every protocol, in-process and with one OS
//! process per node, then `cwb report` on their results: proves the matrix wiring end
//! to end. They assert structure, never speed.

use reports::results::{Mode, ProtocolRun, Results};
use std::path::Path;
use std::process::Command;

const CWB: &str = env!("CARGO_BIN_EXE_cwb");

/// Runs a one-trial bench of all three protocols on 3 nodes with `extra` arguments and
/// loads its results. Node data (and, with `--processes`, node processes' configs) go
/// under `dir`.
fn tiny_bench(dir: &Path, extra: &[&str]) -> Results {
    let results = dir.join("results.json");
    let out = Command::new(CWB)
        .args([
            "bench",
            "--protocols",
            "raft,zab,paxos",
            "--nodes",
            "3",
            "--trials",
            "1",
        ])
        .args([
            "--clients",
            "2",
            "--warmup-ms",
            "50",
            "--duration-ms",
            "200",
            "--rounds",
            "2",
        ])
        .args(extra)
        .arg("-o")
        .arg(&results)
        .env("TMPDIR", dir)
        .output()
        .expect("run cwb bench");
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = reports::results::load(&results).expect("results load with the current schema");
    assert_eq!(r.schema_version, reports::results::SCHEMA_VERSION);
    assert_eq!(r.settings.protocols, ["raft", "zab", "paxos"]);
    assert_eq!(r.settings.fsync, "batch");
    assert!(r.baseline.loopback_rtt_us.count > 0 && r.baseline.fsync_us.count > 0);
    let concurrent = &r.baseline.concurrent_fsync;
    assert_eq!(
        concurrent.len(),
        1,
        "one concurrent fsync baseline per cluster size"
    );
    assert_eq!(concurrent[0].writers, 3);
    assert_eq!(
        concurrent[0].latency_us.count,
        3 * 200,
        "every writer's samples"
    );
    assert_eq!(r.runs.len(), 3);
    for run in &r.runs {
        every_measure_once(&r, run);
    }
    r
}

/// One trial of every measure, and the timing mapping, for one protocol.
fn every_measure_once(r: &Results, run: &ProtocolRun) {
    let p = &run.protocol;
    assert!(
        r.settings
            .protocol_timing
            .get(p)
            .is_some_and(|m| !m.is_empty()),
        "{p}: timing mapping"
    );
    for (what, m) in [("election", &run.election), ("elected", &run.elected)] {
        assert_eq!(
            m.as_ref().map(|m| m.samples.len()),
            Some(1),
            "{p}: one {what} trial"
        );
    }
    for f in [&run.failover_kill, &run.failover_isolate] {
        let f = f.as_ref().expect("failover measured");
        assert_eq!(
            f.total.samples.len() as u32 + f.trials_discarded,
            1,
            "{p}: one failover trial"
        );
    }
    assert_eq!(run.throughput.len(), 1, "{p}: one throughput point");
    let point = &run.throughput[0];
    assert!(point.ops > 0, "{p}: operations committed");
    assert_eq!(
        point.rounds_ops_per_sec.len(),
        2,
        "{p}: one figure per round"
    );
    assert!(
        point.rounds_ops_per_sec.contains(&point.ops_per_sec),
        "{p}: the point is one of its rounds"
    );
}

/// Renders `results` with `cwb report` and returns the Markdown report.
fn report(dir: &Path, results: &Path) -> String {
    let report_dir = dir.join("report");
    let out = Command::new(CWB)
        .arg("report")
        .arg(results)
        .arg("-o")
        .arg(&report_dir)
        .output()
        .expect("run cwb report");
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(report_dir.join("index.html")).expect("index.html");
    for p in ["raft", "zab", "paxos"] {
        assert!(html.contains(p), "report mentions {p}");
    }
    std::fs::read_to_string(report_dir.join("report.md")).expect("report.md")
}

#[test]
fn tiny_in_process_matrix_writes_results_that_report_renders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = tiny_bench(dir.path(), &["--sweep", "election-timeout=150-155,150-300"]);
    assert_eq!(r.settings.mode, Mode::InProcess);
    for run in &r.runs {
        let p = &run.protocol;
        assert!(
            !run.messages.per_op.is_empty() && !run.messages.per_election.is_empty(),
            "{p}: message counts"
        );
        let late = run
            .timer_lateness_us
            .expect("timer lateness measured in-process");
        assert!(late.count > 0, "{p}: timers fired");
        // A cold election's count holds the followers' answers too (a vote granted, an
        // epoch acknowledged, a promise), not only what the new leader sent.
        let answer = match p.as_str() {
            "raft" => "RequestVoteResponse",
            "zab" => "ACKEPOCH",
            _ => "Promise",
        };
        assert!(
            run.messages
                .per_election
                .get(answer)
                .is_some_and(|n| *n >= 1.0),
            "{p}: no {answer} in {:?}",
            run.messages.per_election
        );
        let records = run.messages.wal_records_per_op.expect("WAL records per op");
        let syncs = run.messages.wal_syncs_per_op.expect("WAL fsyncs per op");
        assert!(
            records > 0.0 && syncs > 0.0,
            "{p}: {records} records, {syncs} syncs per op"
        );
        assert_eq!(run.sweep.len(), 2, "{p}: two sweep settings");
        assert!(
            run.idle_rss_kb.is_none(),
            "{p}: memory is measured in process mode only"
        );
    }
    report(dir.path(), &dir.path().join("results.json"));
}

#[test]
fn tiny_process_matrix_measures_idle_memory_and_leaves_no_process_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = tiny_bench(dir.path(), &["--processes"]);
    assert_eq!(r.settings.mode, Mode::MultiProcess);
    for run in &r.runs {
        let p = &run.protocol;
        // Counters live in the node processes: not collected in this mode.
        assert!(run.messages.per_op.is_empty(), "{p}: no message counts");
        assert_eq!(
            run.messages.wal_syncs_per_op, None,
            "{p}: no WAL counts either"
        );
        // Timer lateness is: each node process prints it beside its events.
        let lateness = run.timer_lateness_us.expect("timer lateness measured");
        assert!(lateness.count > 0, "{p}: {lateness:?}");
        let rss = run.idle_rss_kb.as_ref().expect("idle memory measured");
        assert_eq!(rss.unit, "kB");
        assert_eq!(rss.samples.len(), 3, "{p}: one sample per node");
        assert!(rss.samples.iter().all(|&kb| kb > 0.0), "{p}: {rss:?}");
    }
    let leftovers = nodes_under(dir.path());
    assert!(
        leftovers.is_empty(),
        "nodes outlived the bench: {leftovers:?}"
    );
    let markdown = report(dir.path(), &dir.path().join("results.json"));
    assert!(
        markdown.contains("idle resident memory per node"),
        "the report shows the memory row"
    );
}

#[test]
fn report_refuses_an_unknown_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("future.json");
    std::fs::write(&path, r#"{"schema_version": 99}"#).expect("write");
    let out = Command::new(CWB)
        .arg("report")
        .arg(&path)
        .arg("-o")
        .arg(dir.path().join("out"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("99"), "{stderr}");
}

/// Every `cwb node` process whose command line mentions `dir`.
fn nodes_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmd| cmd.contains(" node ") && cmd.contains(&needle))
        .collect()
}

#[test]
fn a_list_of_value_sizes_measures_every_point_at_each_and_the_report_plots_mb_per_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let results = dir.path().join("results.json");
    let out = Command::new(CWB)
        .args([
            "bench",
            "--protocols",
            "raft,zab,paxos",
            "--nodes",
            "3",
            "--measure",
            "throughput",
            "--clients",
            "1,2",
            "--value-bytes",
            "64,4096",
            "--warmup-ms",
            "50",
            "--duration-ms",
            "200",
            "--rounds",
            "1",
        ])
        .arg("-o")
        .arg(&results)
        .env("TMPDIR", dir.path())
        .output()
        .expect("run cwb bench");
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = reports::results::load(&results).expect("results load");
    assert_eq!(r.settings.value_bytes, 64, "the first size is the run's");
    for run in &r.runs {
        let shapes: Vec<(u32, u64)> = run
            .throughput
            .iter()
            .map(|p| (p.clients, p.value_bytes))
            .collect();
        assert_eq!(
            shapes,
            [(1, 64), (2, 64), (1, 4096), (2, 4096)],
            "{}",
            run.protocol
        );
        assert!(run.throughput.iter().all(|p| p.ops > 0), "{}", run.protocol);
    }
    let markdown = report(dir.path(), &results);
    assert!(
        markdown.contains("Throughput against value size"),
        "{markdown}"
    );
    assert!(dir.path().join("report/value-size-mbs-n3.svg").exists());
}
