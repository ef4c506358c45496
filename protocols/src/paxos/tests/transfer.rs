//! A planned hand-over ([`crate::paxos::transfer`]): the leader settles its slots, the
//! target catches up and takes over with a higher ballot, the old leader yields.

use super::*;
use crate::effect::ClientError;
use crate::pump::Pump;
use std::time::Duration;

/// Three voters; 1 leads and "a" is chosen and applied everywhere.
fn led_by_1() -> Pump<Paxos> {
    let mut p = started(3, true);
    p.elect(1);
    assert_eq!(p.leaders(), [1]);
    p.write(1, "a");
    p.deliver_all();
    p.heartbeat();
    p
}

#[test]
fn an_up_to_date_follower_takes_over_with_a_higher_ballot() {
    let mut p = led_by_1();
    let old = p.node(1).own_ballot().expect("1 leads");
    p.step(1, Input::TransferLeadership { to: 2 });
    p.deliver_all();
    assert_eq!(p.leaders(), [2]);
    assert!(p.node(2).own_ballot().is_some_and(|b| b > old));
    assert!(p
        .delivered
        .iter()
        .any(|(f, t, m)| (*f, *t) == (1, 2) && m.kind() == "TakeOver"));
    p.heartbeat();
    p.write(2, "b");
    p.deliver_all();
    p.heartbeat();
    for id in 1..=3 {
        assert_eq!(p.applied_data(id), ["a", "b"], "node {id}");
    }
}

#[test]
fn a_lagging_follower_catches_up_before_it_runs_phase_one() {
    let mut p = led_by_1();
    p.write(1, "b");
    p.write(1, "c");
    p.drop_where(|(_, to, _)| *to == 3); // 3 never sees these Accepts
    p.deliver_all();
    p.step(1, Input::TransferLeadership { to: 3 });
    p.deliver_all();
    assert_eq!(p.leaders(), [1], "3 waits until it holds slots 1..=3");
    p.heartbeat(); // 3 learns the commit point, asks for the slots, then takes over
    assert_eq!(p.leaders(), [3]);
    p.heartbeat();
    for id in 1..=3 {
        assert_eq!(p.applied_data(id), ["a", "b", "c"], "node {id}");
    }
}

#[test]
fn commands_are_refused_during_the_hand_over_and_accepted_after_it_is_aborted() {
    let mut p = led_by_1();
    p.crash(3);
    p.step(1, Input::TransferLeadership { to: 3 });
    let refused = p.write(1, "x");
    let refusal = p.rejected.iter().find(|(_, id, _)| *id == refused);
    assert_eq!(
        refusal.map(|(_, _, e)| e.clone()),
        Some(ClientError::NotLeader { leader: Some(3) })
    );
    // Heartbeats keep going meanwhile (CheckQuorum hears node 2).
    let beat = Timing::default().heartbeat;
    for _ in 0..=Timing::default().election_timeout_max.as_millis() / beat.as_millis() {
        p.advance(beat + Duration::from_millis(1));
        p.heartbeat();
    }
    assert_eq!(p.node(1).transfer(), None);
    assert_eq!(p.leaders(), [1]);
    p.write(1, "y");
    p.deliver_all();
    p.heartbeat();
    assert_eq!(p.applied_data(2), ["a", "y"]);
}

#[test]
fn a_take_over_from_a_node_we_do_not_follow_is_ignored() {
    let mut p = led_by_1();
    let ballot = p.node(1).own_ballot().expect("1 leads");
    p.step(
        3,
        Input::Message {
            from: 2,
            msg: PaxosMessage::TakeOver { ballot, commit: 1 },
        },
    );
    p.deliver_all();
    assert_eq!(p.leaders(), [1]);
}
