//! `cwb sim --svg`: a seed replay draws its diagram, and `--protocol all` writes one
//! full-size diagram per protocol beside the path given.

use std::process::Command;

#[test]
fn a_seed_replay_and_protocol_all_write_their_diagrams() {
    let dir = std::env::temp_dir().join(format!("cwb-sim-svg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let seed_svg = dir.join("seed.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_cwb"))
        .args([
            "sim",
            "--protocol",
            "raft",
            "--seed",
            "1",
            "--faulty-secs",
            "1",
            "--quiet",
            "--svg",
        ])
        .arg(&seed_svg)
        .output()
        .expect("cwb runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&seed_svg).expect("the replay's diagram");
    assert!(svg.contains("seed 1: random faults (raft)"));
    assert!(svg.contains("class=\"msg\""), "messages are drawn");
    assert!(svg.contains("notation: term 2"), "the legend is drawn");

    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/zab-a-prime.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_cwb"))
        .args([
            "sim",
            "--scenario",
            scenario,
            "--protocol",
            "all",
            "--quiet",
            "--svg",
        ])
        .arg(dir.join("all.svg"))
        .output()
        .expect("cwb runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in ["raft", "zab", "paxos"] {
        let svg =
            std::fs::read_to_string(dir.join(format!("all.{p}.svg"))).expect("one per protocol");
        assert!(svg.contains(&format!("({p})")), "{p}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
