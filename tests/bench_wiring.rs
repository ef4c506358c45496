//! A tiny real-cluster `cwb bench` run for every protocol, then `cwb report` on its
//! results: proves the matrix wiring end to end. It asserts structure, never speed.

use std::process::Command;

const CWB: &str = env!("CARGO_BIN_EXE_cwb");

#[test]
fn tiny_bench_matrix_writes_results_that_report_renders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let results = dir.path().join("results.json");
    let out = Command::new(CWB)
        .args([
            "bench",
            "--protocols",
            "raft,zab,paxos",
            "--nodes",
            "3",
            "--trials",
            "1",
            "--clients",
            "2",
            "--warmup-ms",
            "50",
            "--duration-ms",
            "200",
            "--sweep",
            "election-timeout=150-155,150-300",
            "-o",
        ])
        .arg(&results)
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
    assert_eq!(r.runs.len(), 3);
    for run in &r.runs {
        let p = &run.protocol;
        assert!(
            r.settings
                .protocol_timing
                .get(p)
                .is_some_and(|m| !m.is_empty()),
            "{p}: timing mapping"
        );
        assert_eq!(
            run.election.as_ref().map(|m| m.samples.len()),
            Some(1),
            "{p}: one election trial"
        );
        for f in [&run.failover_kill, &run.failover_isolate] {
            let f = f.as_ref().expect("failover measured");
            assert_eq!(
                f.total.samples.len() as u32 + f.trials_discarded,
                1,
                "{p}: one failover trial"
            );
        }
        assert_eq!(run.throughput.len(), 1, "{p}: one throughput point");
        assert!(run.throughput[0].ops > 0, "{p}: operations committed");
        assert!(
            !run.messages.per_op.is_empty() && !run.messages.per_election.is_empty(),
            "{p}: message counts"
        );
        assert_eq!(run.sweep.len(), 2, "{p}: two sweep settings");
    }
    let report_dir = dir.path().join("report");
    let out = Command::new(CWB)
        .arg("report")
        .arg(&results)
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
    assert!(report_dir.join("report.md").exists());
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
