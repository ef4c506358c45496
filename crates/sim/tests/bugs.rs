//! The known bugs of `protocols::bugs`: each is caught by the chaos seed its catalogue
//! entry names (scenario entries are pinned in `crates/teaching/tests/bugs.rs`), and the
//! same seed passes without it.
//!
//! `CWB_BUG=raft-commit-old-terms CWB_SEEDS=300 cargo nextest run -p sim --test bugs
//! --run-ignored ignored-only` searches seeds for one bug and prints each that fails.

use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::{Bug, CaughtBy, Protocol, ProtocolKind};
use sim::chaos::{run_seed, ChaosConfig, ChaosFailure};

/// The chaos config of `bug`'s seed: its settings ([`Bug::adjust`]), the bug on or off.
fn config(bug: Bug, on: bool) -> ChaosConfig {
    let mut cfg = ChaosConfig {
        bug: on.then_some(bug),
        ..ChaosConfig::default()
    };
    bug.adjust(&mut cfg.timing);
    cfg
}

/// Runs `seed` of `P` under `cfg`: the failure, if any.
fn outcome<P: Protocol>(seed: u64, cfg: &ChaosConfig) -> Option<ChaosFailure> {
    run_seed::<P>(seed, cfg, false, |_, _| Ok(())).1.err()
}

fn outcome_of(bug: Bug, seed: u64, with_bug: bool) -> Option<ChaosFailure> {
    let cfg = config(bug, with_bug);
    match bug.protocol() {
        ProtocolKind::Raft => outcome::<Raft>(seed, &cfg),
        ProtocolKind::Zab => outcome::<Zab>(seed, &cfg),
        ProtocolKind::Paxos => outcome::<Paxos>(seed, &cfg),
        ProtocolKind::Redis => panic!("{bug} is not a bug of Redis Cluster (it has none)"),
    }
}

#[test]
fn every_bug_with_a_seed_is_caught_by_it_and_the_seed_passes_without_it() {
    for bug in Bug::ALL {
        let CaughtBy::Seed(seed) = bug.caught_by() else {
            continue;
        };
        let failure = outcome_of(bug, seed, true)
            .unwrap_or_else(|| panic!("{bug}: seed {seed} passes with the bug on"));
        eprintln!("{bug}: {failure}");
        assert!(
            failure.replay.contains(&format!("--bug {bug}")),
            "{}",
            failure.replay
        );
        if let Some(f) = outcome_of(bug, seed, false) {
            panic!("{bug}: seed {seed} fails without the bug: {f}");
        }
    }
}

#[test]
fn a_bug_of_another_protocol_is_refused() {
    let failure = outcome::<Zab>(0, &config(Bug::RaftCommitOldTerms, true)).expect("refused");
    assert!(
        failure
            .violation
            .what
            .contains("is a bug of raft, not of zab"),
        "{failure}"
    );
}

#[test]
#[ignore = "a search, run by hand"]
fn search_seeds() {
    let Some(bug) = std::env::var("CWB_BUG")
        .ok()
        .and_then(|b| b.parse::<Bug>().ok())
    else {
        return;
    };
    let first = std::env::var("CWB_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let n = sim::chaos::seeds(100);
    for seed in first..first + n {
        eprintln!("seed {seed}");
        if let Some(f) = outcome_of(bug, seed, true) {
            let clean = outcome_of(bug, seed, false).is_none();
            println!("{bug}: {:?} stage; clean without: {clean}\n{f}\n", f.stage);
        }
    }
}
