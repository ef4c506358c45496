//! The recipes under the simulator's random faults on every protocol, and the proof
//! that the checks catch real violations: each broken variant of [`RecipeBug`] fails.
//! More seeds: `CWB_SEEDS=50 cargo nextest run -p recipes --test chaos`.

use protocols::{paxos::Paxos, raft::Raft, zab::Zab, Protocol};
use recipes::broken::RecipeBug;
use recipes::chaos::{run_seed, sweep, RecipeChaosConfig};
use recipes::driver::Driver;
use sim::SimConfig;
use std::time::Duration;
use znode::recipes::queue::{Access, QueueLock};
use znode::recipes::Waiting;

fn seeds() -> u64 {
    sim::chaos::seeds(2)
}

fn sweep_ok<P: Protocol>() {
    let cfg = RecipeChaosConfig::default();
    match sweep::<P>(&cfg, seeds()) {
        Ok(s) => {
            eprintln!("{}: {s}", P::NAME);
            assert!(s.total.grants > 0 && s.total.actions > 0, "{s}");
            assert!(s.total.pauses > 0, "{s}");
        }
        Err(failure) => panic!("{}: {failure}", P::NAME),
    }
}

#[test]
fn recipes_survive_chaos_on_raft() {
    sweep_ok::<Raft>();
}

#[test]
fn recipes_survive_chaos_on_zab() {
    sweep_ok::<Zab>();
}

#[test]
fn recipes_survive_chaos_on_paxos() {
    sweep_ok::<Paxos>();
}

/// The first seed among `0..limit` on which `bug` fails, with its message.
fn first_failure<P: Protocol>(bug: RecipeBug, limit: u64) -> (u64, String) {
    let cfg = RecipeChaosConfig {
        bug: Some(bug),
        ..RecipeChaosConfig::default()
    };
    for seed in 0..limit {
        if let Err(f) = run_seed::<P>(seed, &cfg) {
            return (seed, f.to_string());
        }
    }
    panic!("{bug}: no failure in {limit} seeds");
}

#[test]
fn a_lock_that_skips_the_watch_is_caught_as_a_missed_watch_event() {
    let (seed, text) = first_failure::<Raft>(RecipeBug::SkipWatch, 10);
    assert!(text.contains("liveness"), "{text}");
    assert!(
        text.contains(&format!(
            "replay: cargo run --release -- sim --recipes --protocol raft --nodes 3 --recipe-bug skip-watch --seed {seed}"
        )),
        "{text}"
    );
}

#[test]
fn a_resource_without_the_fence_is_caught_taking_a_stale_holder() {
    let (_, text) = first_failure::<Zab>(RecipeBug::NoFence, 20);
    assert!(text.contains("overlapping holders"), "{text}");
}

/// Trusting the watch event: A holds, B waits on A, C waits on B. B's session
/// expires (B crashed) while A still holds: C's watch fires and the broken C takes
/// the lock without listing again, while A's node still exists.
#[test]
fn a_lock_that_trusts_the_watch_event_is_caught_with_two_holders() {
    let mut d = Driver::<Raft>::new(SimConfig::voters(3, 1), 400).expect("cluster");
    let lock = |name: &str, bug| {
        RecipeBug::wrap(
            bug,
            QueueLock::new(
                "/lock",
                Access::Exclusive,
                Waiting::Predecessor,
                name.as_bytes(),
            ),
        )
    };
    d.add("client A", lock("A", None), None);
    d.run_for(Duration::from_millis(100)).expect("runs");
    d.add("client B", lock("B", None), None);
    d.run_for(Duration::from_millis(100)).expect("runs");
    d.add("client C", lock("C", Some(RecipeBug::TrustEvent)), None);
    d.run_for(Duration::from_millis(100)).expect("runs");
    assert_eq!(d.checker.granted(), [0], "A holds");
    d.crash_client(1);
    let err = d
        .run_for(Duration::from_secs(3))
        .expect_err("the checker must refuse C's grant");
    assert!(err.starts_with("two holders: client 2"), "{err}");
    // The correct recipe, the same story: C lists again and waits for A.
    let mut d = Driver::<Raft>::new(SimConfig::voters(3, 1), 400).expect("cluster");
    d.add("client A", lock("A", None), None);
    d.run_for(Duration::from_millis(100)).expect("runs");
    d.add("client B", lock("B", None), None);
    d.run_for(Duration::from_millis(100)).expect("runs");
    d.add("client C", lock("C", None), None);
    d.run_for(Duration::from_millis(100)).expect("runs");
    d.crash_client(1);
    d.run_for(Duration::from_secs(3)).expect("no violation");
    assert_eq!(d.checker.granted(), [0], "A still holds; C waits on A now");
    assert_eq!(d.clients[2].node_watched(), Some("/lock/n-0000000001"));
}
