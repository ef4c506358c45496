//! `cwb nemesis --workload recipes` on real node processes: recipe clients (an
//! exclusive lock and a fair election on the znode tree) under leader kills, pauses
//! and partitions, with their checks; and a broken resource the fencing check catches.

use std::process::{Command, Output};

const CWB: &str = env!("CARGO_BIN_EXE_cwb");

fn nemesis(protocol: &str, extra: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(CWB)
        .args(["nemesis", "--workload", "recipes", "--protocol", protocol])
        .args(["--faults", "4", "--hold-ms", "600", "--gap-ms", "300"])
        .args([
            "--kinds",
            "kill-leader,pause-leader,partition-minority,partition-majority",
        ])
        .args(["--clients", "3", "--settle-ms", "2000", "--out"])
        .arg(dir.path().join("history.jsonl"))
        .args(extra)
        .output()
        .expect("run cwb nemesis");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

#[test]
fn recipe_clients_keep_their_locks_safe_under_the_nemesis_on_every_protocol() {
    for protocol in ["raft", "zab", "paxos"] {
        let (out, stdout) = nemesis(protocol, &[]);
        assert!(
            out.status.success(),
            "{protocol}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("fault 4/4"), "every fault ran: {stdout}");
        for check in ["holders: ok", "fencing: ok", "watches: ok", "progress: ok"] {
            assert!(stdout.contains(check), "{protocol}: {check}: {stdout}");
        }
        assert!(stdout.contains("verdict: recipes safe"), "{stdout}");
        // The checks looked at something: grants and watch events happened.
        let acquisitions: usize = stdout
            .split("acquisitions: ")
            .nth(1)
            .and_then(|s| s.split(';').next())
            .and_then(|n| n.trim().parse().ok())
            .expect("an acquisitions count");
        assert!(acquisitions > 0, "{stdout}");
        assert!(!stdout.contains(" 0 fired"), "watches fired: {stdout}");
    }
}

#[test]
fn a_resource_that_ignores_fencing_tokens_is_caught_on_real_processes() {
    // Clients pause for 2.5 session timeouts after half their grants while the faults
    // run: a paused holder's session expires, the next holder acts, and the paused one
    // wakes up and acts with its older token, which only the fence would refuse.
    let (out, stdout) = nemesis(
        "raft",
        &["--recipe-bug", "no-fence", "--pause-chance", "0.5"],
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("fencing: VIOLATED") && stdout.contains("overlapping holders"),
        "{stdout}"
    );
    assert!(stdout.contains("verdict: recipes NOT safe"), "{stdout}");
}
