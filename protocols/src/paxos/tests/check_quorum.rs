//! CheckQuorum for the Paxos leader: followers answer heartbeats, and a leader that has
//! not heard from a majority within the election timeout min steps down; off, it keeps
//! leading (the comparison).

use super::*;
use crate::effect::{Effect, Role};
use crate::pump::Wire;
use std::time::Duration;

fn with_check_quorum(on: bool) -> Pump<Paxos> {
    let mut net = cluster(3, true).timing(Timing {
        check_quorum: on,
        ..Timing::default()
    });
    net.start_all();
    net.elect(1);
    assert_eq!(net.leaders(), vec![1]);
    net
}

fn is_reply(w: &Wire<Paxos>) -> bool {
    matches!(w.2, PaxosMessage::HeartbeatReply { .. })
}

#[test]
fn a_follower_answers_a_heartbeat_it_follows_only_with_check_quorum() {
    for on in [true, false] {
        let mut net = with_check_quorum(on);
        net.fire(1, PaxosTimer::Heartbeat);
        net.deliver_one(|w| w.1 == 2 && matches!(w.2, PaxosMessage::Heartbeat { .. }));
        assert_eq!(net.queue.iter().any(is_reply), on, "check_quorum {on}");
    }
}

#[test]
fn a_leader_answered_by_one_follower_of_two_keeps_leading() {
    let mut net = with_check_quorum(true);
    let t = Timing::default();
    net.partition(&[3]);
    for _ in 0..10 {
        net.advance(t.heartbeat);
        net.heartbeat();
        assert_eq!(net.leaders(), vec![1]);
    }
}

#[test]
fn a_leader_steps_down_when_no_majority_answered_within_the_timeout() {
    let mut net = with_check_quorum(true);
    let t = Timing::default();
    net.partition(&[1]);
    net.advance(t.election_timeout_min);
    let out = net.fire(1, PaxosTimer::Heartbeat);
    assert_eq!(net.status(1).role, Role::Follower);
    assert!(
        !out.iter()
            .any(|e| matches!(e, Effect::Send { .. } | Effect::SendAhead { .. })),
        "no heartbeat after stepping down"
    );
    assert!(net.is_armed(1, PaxosTimer::LeaderTimeout));
    assert!(!net.is_armed(1, PaxosTimer::Heartbeat));
    assert!(net
        .narration(1)
        .iter()
        .any(|l| l.contains("heard from only [1] within the election timeout min (150 ms)")));
    // It campaigns again when its timeout fires, like any follower.
    net.heal();
    net.elect(2);
    assert_eq!(net.leaders(), vec![2]);
}

/// Leader 1 cut off from both followers; its heartbeat timer keeps firing. How long
/// after the cut it stopped leading, if it did within `limit`.
fn isolated_leader_steps_down_after(on: bool, limit: Duration) -> Option<Duration> {
    let mut net = with_check_quorum(on);
    let t = Timing::default();
    net.partition(&[1]);
    let cut = net.now();
    while net.now().since(cut) < limit {
        net.advance(t.heartbeat);
        net.fire(1, PaxosTimer::Heartbeat);
        net.deliver_all();
        if net.status(1).role != Role::Leader {
            return Some(net.now().since(cut));
        }
    }
    None
}

#[test]
fn scenario_with_check_quorum_an_isolated_paxos_leader_steps_down_within_an_election_timeout() {
    let t = Timing::default();
    let took = isolated_leader_steps_down_after(true, Duration::from_secs(5))
        .expect("the isolated leader steps down");
    assert!(
        took <= t.election_timeout_min + t.heartbeat + Duration::from_millis(10),
        "took {took:?}"
    );
}

#[test]
fn scenario_without_check_quorum_an_isolated_paxos_leader_stays_leader() {
    assert_eq!(
        isolated_leader_steps_down_after(false, Duration::from_secs(5)),
        None
    );
}
