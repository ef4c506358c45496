//! The known bugs whose catalogue entry is a scenario file (`protocols::Bug::caught_by`):
//! the file passes as shipped, and with the bug switched on the simulator's checker stops
//! it with a safety violation. The bugs caught by a chaos seed are pinned in
//! `crates/sim/tests/bugs.rs`.

use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::{Bug, CaughtBy, ProtocolKind};
use std::path::PathBuf;
use teaching::scenario::{self, Scenario, Scripted};

fn load(file: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(file);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The problems of a run of `s` with `bug` (or without), and whether it passed.
fn problems<P: Scripted>(s: &Scenario, bug: Option<Bug>) -> (bool, Vec<String>) {
    let outcome = scenario::run_with_bug::<P>(s, bug).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    (outcome.passed(), outcome.problems)
}

fn run(bug: Bug, s: &Scenario, with_bug: bool) -> (bool, Vec<String>) {
    let on = with_bug.then_some(bug);
    match bug.protocol() {
        ProtocolKind::Raft => problems::<Raft>(s, on),
        ProtocolKind::Zab => problems::<Zab>(s, on),
        ProtocolKind::Paxos => problems::<Paxos>(s, on),
        ProtocolKind::Redis => panic!("{bug} is not a bug of Redis Cluster (it has none)"),
    }
}

#[test]
fn every_bug_with_a_scenario_is_caught_by_it_and_the_scenario_passes_without_it() {
    let mut checked = 0;
    for bug in Bug::ALL {
        let CaughtBy::Scenario(file) = bug.caught_by() else {
            continue;
        };
        let s = load(file);
        assert_eq!(s.protocol, Some(bug.protocol()), "{file} is for {bug}");
        let (passed, problems) = run(bug, &s, false);
        assert!(passed, "{file} fails without {bug}: {problems:?}");
        let (passed, problems) = run(bug, &s, true);
        assert!(!passed, "{file} passes with {bug}");
        assert!(
            problems.iter().any(|p| p.contains("safety violation")),
            "{bug}: {file} failed without a safety violation: {problems:?}"
        );
        eprintln!("{bug}: {file}: {}", problems.join("; "));
        checked += 1;
    }
    assert!(checked > 0, "no bug names a scenario");
}

#[test]
fn a_bug_of_another_protocol_is_refused() {
    let s = load("scenarios/zab-a.toml");
    let err = scenario::run_with_bug::<Zab>(&s, Some(Bug::RaftCommitOldTerms))
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("is a bug of raft, not of zab"),
        "{err}"
    );
}
