//! `--protocol redis` on the command line: the failover trials count the acknowledged
//! writes an isolated master loses instead of failing, WAIT-like replication loses
//! none, the teaching scenario narrates the loss, and the commands that cannot run
//! Redis Cluster say so.

use std::process::{Command, Output};

fn cwb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cwb"))
        .args(args)
        .output()
        .expect("cwb runs")
}

fn lost_in(summary: &str) -> u64 {
    // "... N writes acknowledged, L lost (..."
    summary
        .split(" lost")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no lost count in {summary:?}"))
}

#[test]
fn an_isolated_master_loses_acknowledged_writes_and_wait_one_replica_loses_none() {
    let run = |wait: &str| {
        let out = cwb(&[
            "sim",
            "--protocol",
            "redis",
            "--failover",
            "isolate",
            "--trials",
            "3",
            "--wait-replicas",
            wait,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let summary = text
            .lines()
            .find(|l| l.starts_with("summary: 3 trials"))
            .unwrap_or_else(|| panic!("no summary in {text}"))
            .to_string();
        lost_in(&summary)
    };
    assert!(
        run("0") > 0,
        "asynchronous replication loses acknowledged writes"
    );
    assert_eq!(
        run("1"),
        0,
        "a write answered after a replica has it survives"
    );
}

#[test]
fn the_teaching_scenario_narrates_the_promotion_that_loses_the_write() {
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/redis-acknowledged-write-lost.toml"
    );
    let out = cwb(&["sim", "--scenario", scenario, "--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "n1 answers client: put lost=v2 acknowledged",
        "n1 FAIL: 2 of the masters report it failing",
        "FAILOVER_AUTH_REQUEST",
        "promoted, configEpoch 4",
        "n4    leader           4       4  1 [kept=v1]",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

#[test]
fn commands_that_need_one_leader_refuse_redis_and_a_small_cluster_is_refused() {
    // `cwb bench` runs Redis Cluster in-process; node processes do not run it.
    let out = cwb(&["bench", "--protocols", "raft,redis", "--processes"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in-process clusters only"));
    let out = cwb(&["nemesis", "--protocol", "redis"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not run Redis Cluster"));
    let out = cwb(&["cluster", "--protocol", "redis", "--duration", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nodes 6"));
}

#[test]
fn cluster_refuses_wait_replicas_for_a_consensus_protocol() {
    let out = cwb(&["cluster", "--protocol", "raft", "--wait-replicas", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--wait-replicas is Redis Cluster's WAIT"),
        "{err}"
    );
}
