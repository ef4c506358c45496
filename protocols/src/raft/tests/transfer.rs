//! Leadership transfer (thesis §3.10) on a whole three-node cluster in the pump, with
//! etcd's defaults (PreVote and CheckQuorum on, which a transfer must get past).

use super::*;
use crate::effect::{ClientError, Event};
use std::time::Duration;

/// Three voters with the default timing; node 1 leads term 1 and "a" is committed.
fn cluster() -> Pump<Raft> {
    let mut p = Pump::new(Membership::voters(1..=3)).narrate(true);
    p.start_all();
    p.fire(1, RaftTimer::Election);
    p.deliver_all();
    assert_eq!(p.leaders(), [1]);
    p.write(1, "a");
    p.deliver_all();
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    p
}

fn transfer(p: &mut Pump<Raft>, from: NodeId, to: NodeId) {
    p.step(from, Input::TransferLeadership { to });
}

fn kinds(p: &Pump<Raft>, from: NodeId, to: NodeId) -> Vec<&'static str> {
    p.delivered
        .iter()
        .filter(|(f, t, _)| (*f, *t) == (from, to))
        .map(|(_, _, m)| Raft::message_kind(m))
        .collect()
}

#[test]
fn an_up_to_date_follower_gets_timeout_now_at_once_and_wins_the_next_term() {
    let mut p = cluster();
    transfer(&mut p, 1, 2);
    assert_eq!(p.node(1).transfer().map(|t| t.to), Some(2));
    p.deliver_all();
    assert_eq!(p.leaders(), [2]);
    assert_eq!(p.node(2).term(), 2);
    assert!(kinds(&p, 1, 2).contains(&"TimeoutNow"));
    // No pre-vote round: the target campaigned at once, and the voters did not ignore
    // it under CheckQuorum's lease.
    assert!(!kinds(&p, 2, 3).contains(&"PreVote"));
    // The new leader commits a write of its own; every node holds both.
    p.write(2, "b");
    p.deliver_all();
    p.fire(2, RaftTimer::Heartbeat);
    p.deliver_all();
    for id in 1..=3 {
        assert_eq!(p.applied_data(id), ["a", "b"], "node {id}");
    }
    assert!(p
        .events_where(|e| matches!(e, Event::LeaderReady { term: 2 }))
        .iter()
        .any(|(id, _)| *id == 2));
}

#[test]
fn a_lagging_follower_is_caught_up_before_timeout_now() {
    let mut p = cluster();
    // Node 3 misses "b" and "c".
    p.partition(&[3]);
    p.write(1, "b");
    p.write(1, "c");
    p.deliver_all();
    p.heal();
    assert!(p.node(3).log().last_index() < p.node(1).log().last_index());
    transfer(&mut p, 1, 3);
    p.deliver_all();
    assert_eq!(p.leaders(), [3]);
    let sent = kinds(&p, 1, 3);
    let first_append = sent.iter().rposition(|k| *k == "AppendEntries");
    let timeout_now = sent.iter().position(|k| *k == "TimeoutNow");
    assert!(
        first_append < timeout_now,
        "the log went to 3 before TimeoutNow: {sent:?}"
    );
    p.fire(3, RaftTimer::Heartbeat);
    p.deliver_all();
    for id in 1..=3 {
        assert_eq!(p.applied_data(id), ["a", "b", "c"], "node {id}");
    }
}

#[test]
fn proposals_are_refused_during_a_transfer_and_accepted_again_once_it_is_aborted() {
    let mut p = cluster();
    p.crash(3);
    transfer(&mut p, 1, 3);
    let refused = p.write(1, "x");
    let refusal = p.rejected.iter().find(|(_, id, _)| *id == refused);
    assert_eq!(
        refusal.map(|(_, _, e)| e.clone()),
        Some(ClientError::NotLeader { leader: Some(3) })
    );
    // An election timeout later, with node 3 still down, the leader gives up.
    // Heartbeats keep going meanwhile (CheckQuorum hears node 2).
    let beat = Timing::default().heartbeat;
    for _ in 0..=Timing::default().election_timeout_max.as_millis() / beat.as_millis() {
        p.advance(beat + Duration::from_millis(1));
        p.fire(1, RaftTimer::Heartbeat);
        p.deliver_all();
    }
    assert_eq!(p.node(1).transfer(), None);
    assert_eq!(p.leaders(), [1]);
    assert!(p
        .narration(1)
        .iter()
        .any(|l| l.contains("abort the transfer to 3")));
    p.write(1, "y");
    p.deliver_all();
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    assert_eq!(p.applied_data(2), ["a", "y"]);
}

#[test]
fn requests_for_the_leader_itself_or_for_a_stranger_change_nothing() {
    let mut p = cluster();
    transfer(&mut p, 2, 1); // sent on to 1, for itself
    transfer(&mut p, 1, 1); // the leader itself
    transfer(&mut p, 1, 9); // not a member
    p.deliver_all();
    assert_eq!(p.leaders(), [1]);
    assert_eq!(p.node(1).transfer(), None);
    assert_eq!(p.node(1).term(), 1);
}

#[test]
fn timeout_now_of_a_stale_term_is_ignored() {
    let mut p = cluster();
    p.step(
        2,
        Input::Message {
            from: 1,
            msg: RaftMessage::TimeoutNow { term: 0 },
        },
    );
    p.deliver_all();
    assert_eq!(p.leaders(), [1]);
    assert_eq!(p.node(2).term(), 1);
}

#[test]
fn a_follower_sends_the_request_on_to_its_leader_which_hands_over() {
    let mut p = cluster();
    transfer(&mut p, 2, 3); // 2 follows 1: it does not lead
    p.deliver_all();
    assert_eq!(kinds(&p, 2, 1).last(), Some(&"TransferLeader"));
    assert!(kinds(&p, 1, 3).contains(&"TimeoutNow"));
    assert_eq!(p.leaders(), [3]);
    assert_eq!(p.node(3).term(), 2);
}

#[test]
fn a_request_sent_on_is_taken_only_in_its_own_term_and_never_sent_on_again() {
    let mut p = cluster();
    // A request from term 0 reaches the leader of term 1: ignored.
    p.step(
        1,
        Input::Message {
            from: 2,
            msg: RaftMessage::TransferLeader { term: 0, to: 3 },
        },
    );
    // A follower handed a request by message does not pass it on.
    p.step(
        3,
        Input::Message {
            from: 2,
            msg: RaftMessage::TransferLeader { term: 1, to: 2 },
        },
    );
    p.deliver_all();
    assert_eq!(p.leaders(), [1]);
    assert_eq!(p.node(1).transfer(), None);
    assert!(kinds(&p, 3, 1).iter().all(|k| *k != "TransferLeader"));
}
