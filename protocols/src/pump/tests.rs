//! The pump itself, and the role-change report every host relies on.

use super::*;
use crate::raft::{Raft, RaftMessage, RaftTimer};
use crate::Role;

/// `n` Raft voters that campaign as §5.2 says, without a pre-vote round first (what
/// these tests step through).
fn raft(n: u64) -> Pump<Raft> {
    Pump::new(Membership::voters(1..=n)).timing(Timing {
        pre_vote: false,
        ..Timing::default()
    })
}

fn role_changes(p: &Pump<Raft>, id: NodeId) -> Vec<(Role, u64)> {
    p.events_of(id)
        .into_iter()
        .filter_map(|e| match e {
            Event::RoleChanged { role, term } => Some((role, term)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_three_node_cluster_elects_and_commits_through_the_pump() {
    let mut p = raft(3);
    p.start_all();
    p.fire(1, RaftTimer::Election);
    p.deliver_all();
    assert_eq!(p.leaders(), vec![1]);
    p.write(1, "x");
    p.deliver_all();
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    for id in 1..=3 {
        assert_eq!(p.applied_data(id), ["x"], "node {id}");
    }
    assert_eq!(
        role_changes(&p, 1),
        [(Role::Follower, 0), (Role::Candidate, 1), (Role::Leader, 1)]
    );
}

#[test]
fn a_step_that_changes_role_reports_it_once_and_first_and_other_steps_never() {
    let mut p = raft(3);
    let start = p.start(1);
    assert_eq!(
        start.first(),
        Some(&Effect::Event(Event::RoleChanged {
            role: Role::Follower,
            term: 0
        }))
    );
    let campaign = p.fire(1, RaftTimer::Election);
    let roles: Vec<usize> = campaign
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Effect::Event(Event::RoleChanged { .. })))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(roles, [0]);
    assert_eq!(
        campaign[0],
        Effect::Event(Event::RoleChanged {
            role: Role::Candidate,
            term: 1
        })
    );
    // A refused vote changes neither role nor term: no report.
    let refused = p.step(
        1,
        Input::Message {
            from: 2,
            msg: RaftMessage::RequestVoteResponse {
                term: 1,
                granted: false,
            },
        },
    );
    assert!(!refused
        .iter()
        .any(|e| matches!(e, Effect::Event(Event::RoleChanged { .. }))));
    // A single voter campaigns and wins in one step: only the role it ends in.
    let mut solo = raft(1);
    solo.start(1);
    let won = solo.fire(1, RaftTimer::Election);
    let reported: Vec<usize> = won
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Effect::Event(Event::RoleChanged { .. })))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(reported, [0]);
    assert_eq!(
        won[0],
        Effect::Event(Event::RoleChanged {
            role: Role::Leader,
            term: 1
        })
    );
    assert!(won.contains(&Effect::Event(Event::LeaderElected { term: 1 })));
}

#[test]
fn an_on_demand_disk_holds_replies_until_synced_and_a_crash_loses_the_queue() {
    let mut p = raft(3).disk(Disk::OnDemand);
    p.start_all();
    p.fire(1, RaftTimer::Election);
    assert!(
        p.queue.is_empty(),
        "RequestVotes wait for the vote to be durable"
    );
    p.sync(1);
    assert_eq!(p.queue.len(), 2);
    p.crash(2);
    assert_eq!(p.queue.len(), 1);
    p.partition(&[1]);
    p.deliver_all();
    assert!(p.delivered.is_empty(), "the cut lost 1's RequestVote to 3");
    p.heal();
    p.start(2);
    assert_eq!(p.status(2).term, 0);
}
