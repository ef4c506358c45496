//! The log-compaction benchmarks (`cwb bench --measure catchup,recovery,soak`) on a
//! short real run: every measure is recorded with its structure (both snapshot
//! settings, the entries asked for, samples at start and end). No timing is asserted.

use drivers::bench::{self, snapshots::SnapshotPlan, Measure, Plan, Silent};
use protocols::{ProtocolKind, Timing};
use std::time::Duration;

fn plan(measure: Vec<Measure>) -> Plan {
    Plan {
        protocols: vec![ProtocolKind::Raft],
        nodes: vec![3],
        trials: 1,
        measure,
        clients: vec![8],
        value_bytes: 64,
        value_sizes: Vec::new(),
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(1500),
        rounds: 1,
        read_percent: 0,
        fsync: storage::FsyncPolicy::Batch,
        timing: Timing {
            snapshot_every: 100,
            ..Timing::default()
        },
        sweep: None,
        processes: None,
        tls: None,
        net: None,
        command_line: "test".into(),
        connection_per_client: false,
        wait_replicas: vec![0],
        namespaces: false,
        snapshots: SnapshotPlan {
            catchup_entries: 600,
            recovery_entries: vec![300],
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catchup_recovery_and_soak_are_recorded_with_and_without_snapshots() {
    let p = plan(vec![Measure::Catchup, Measure::Recovery, Measure::Soak]);
    let results = bench::collect(&p, &mut Silent).await.expect("bench runs");
    let s = results.snapshots.as_ref().expect("compaction results");

    let every: Vec<u64> = s.catchup.iter().map(|c| c.snapshot_every).collect();
    assert_eq!(every, vec![0, 100]);
    for c in &s.catchup {
        assert_eq!(c.protocol, "raft");
        assert_eq!(c.entries, 600);
        // Every write committed while the follower was cut off, and it lacked them.
        assert!(c.behind >= 600, "{c:?}");
        assert!(c.bytes_sent > 0, "{c:?}");
    }
    // Only with snapshots is the follower sent an image: its log start was compacted.
    assert_eq!(s.catchup[0].install_snapshots, 0);
    assert!(s.catchup[1].install_snapshots >= 1, "{:?}", s.catchup[1]);
    assert!(s.catchup[1].install_snapshot_bytes > 0);

    let rec: Vec<(u64, u64)> = s
        .recovery
        .iter()
        .map(|r| (r.log_entries, r.snapshot_every))
        .collect();
    assert_eq!(rec, vec![(300, 0), (300, 100)]);
    assert!(s.recovery.iter().all(|r| r.disk_bytes > 0));

    assert_eq!(s.soak.len(), 1);
    let soak = &s.soak[0];
    assert_eq!(soak.snapshot_every, 100);
    assert!(soak.samples.len() >= 3, "{:?}", soak.samples);
    let (first, last) = (&soak.samples[0], &soak.samples[soak.samples.len() - 1]);
    assert!(last.applied > first.applied, "writes went on: {soak:?}");
    assert!(last.rss_kb > 0 && last.disk_bytes > 0);

    // The results file keeps them, and the report shows a table for each.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("results.json");
    results.save(&path).expect("save");
    let back = reports::results::load(&path).expect("load");
    // (Floats may differ in their last bit after the round trip.)
    let shape = |b: &reports::snapshots::SnapshotBench| {
        (
            b.catchup.iter().map(|c| c.behind).collect::<Vec<_>>(),
            b.recovery.iter().map(|r| r.disk_bytes).collect::<Vec<_>>(),
            b.soak.iter().map(|s| s.samples.len()).collect::<Vec<_>>(),
        )
    };
    let back_snapshots = back.snapshots.as_ref().expect("kept in the file");
    assert_eq!(shape(back_snapshots), shape(s));
    let out = dir.path().join("report");
    let paths = reports::write_report(&[(path, back)], &out).expect("report");
    let text = std::fs::read_to_string(&paths.html).expect("read report");
    assert!(text.contains("Snapshots and log compaction"));
    for header in ["catch-up ms", "recovery ms", "RSS MiB"] {
        assert!(text.contains(header), "{header}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zab_catches_up_through_snap_only_with_snapshots() {
    let p = Plan {
        protocols: vec![ProtocolKind::Zab],
        ..plan(vec![Measure::Catchup])
    };
    let results = bench::collect(&p, &mut Silent).await.expect("bench runs");
    let s = results.snapshots.as_ref().expect("compaction results");
    let every: Vec<u64> = s.catchup.iter().map(|c| c.snapshot_every).collect();
    assert_eq!(every, vec![0, 100]);
    assert!(s
        .catchup
        .iter()
        .all(|c| c.protocol == "zab" && c.behind >= 600));
    // Without snapshots the log serves it (DIFF); with them its last zxid is below the
    // leader's compaction point, so the image comes by SNAP.
    assert_eq!(s.catchup[0].install_snapshots, 0, "{:?}", s.catchup[0]);
    assert!(s.catchup[1].install_snapshots >= 1, "{:?}", s.catchup[1]);
    assert!(s.catchup[1].install_snapshot_bytes > 0);
}
