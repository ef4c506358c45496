//! Phase 0 (FastLeaderElection) and Discovery: who leads, and how learners join.

use super::*;

#[test]
fn scenario_a_five_servers_started_in_order_elect_3() {
    let mut p = pump(&[1, 2, 3, 4, 5], &[]);
    p.start(1);
    p.settle();
    assert_eq!(p.state(1), (Looking, None));
    p.start(2);
    p.settle();
    // 1 and 2 converge on 2 (higher sid), but 2 of 5 is no majority.
    assert_eq!((p.state(1), p.state(2)), ((Looking, None), (Looking, None)));
    assert_eq!(
        (
            p.node(1).current_vote().leader,
            p.node(2).current_vote().leader
        ),
        (2, 2)
    );
    assert!(p
        .narration(1)
        .iter()
        .any(|t| t.contains("vote for 2: same round 1, epoch and zxid equal, sid 2 > 1")));
    p.start(3);
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &[]);
    assert_eq!(
        p.count_events(3, |e| matches!(e, Event::LeaderReady { term: 1 })),
        1
    );
    assert_eq!(
        p.count_events(3, |e| matches!(e, Event::LeaderElected { term: 1 })),
        1
    );
    // Latecomers follow 3 although their sids are higher, without a new election.
    p.start(4);
    p.run(2);
    p.start(5);
    p.run(2);
    assert_ensemble(&p, 3, &[1, 2, 3, 4, 5], 1, &[]);
    assert_eq!(p.node(3).election_round(), 1);
    assert_eq!(
        p.count_events(3, |e| matches!(e, Event::RoleChanged { .. })),
        2,
        "3 never left LEADING"
    );
    // Broadcast: writes at the leader and at a follower commit everywhere in one order.
    p.write(3, "a");
    p.write(5, "b");
    p.write(1, "c");
    p.run(1);
    assert_ensemble(&p, 3, &[1, 2, 3, 4, 5], 1, &["a", "b", "c"]);
    assert_eq!(p.node(4).history().last_zxid(), Zxid::new(1, 3));
}

#[test]
fn scenario_a_prime_three_servers_elect_2() {
    let mut p = pump(&[1, 2, 3], &[]);
    p.start(1);
    p.settle();
    p.start(2);
    p.run(3);
    // 2 of 3 is a majority: 2 leads, 1 follows.
    assert_ensemble(&p, 2, &[1, 2], 1, &[]);
    p.start(3);
    p.run(2);
    assert_ensemble(&p, 2, &[1, 2, 3], 1, &[]);
    assert_eq!(
        p.count_events(2, |e| matches!(e, Event::LeaderReady { .. })),
        1
    );
}

#[test]
fn a_follower_that_decides_before_its_leader_is_heard_without_a_retry() {
    let mut p = pump(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.deliver_all();
    // 1 and 2 finish their finalize waits first: their FOLLOWERINFOs reach 3 while it
    // is still LOOKING.
    for id in [1, 2] {
        assert!(p.fire_if_armed(id, ZabTimer::FinalizeWait));
        p.deliver_all();
        assert_eq!(p.state(id), (Following, Some(3)));
    }
    assert_eq!(p.state(3), (Looking, None));
    assert_eq!(p.node(3).learner_backlog.len(), 2);
    // 3 decides and handles them at once: established with no tick (no FOLLOWERINFO
    // retry) in between.
    assert!(p.fire_if_armed(3, ZabTimer::FinalizeWait));
    p.deliver_all();
    assert!(p.node(3).learner_backlog.is_empty());
    assert_eq!(
        p.count_events(3, |e| matches!(e, Event::LeaderReady { term: 1 })),
        1
    );
    let infos = p
        .delivered
        .iter()
        .filter(|(_, _, m)| m.kind() == "FOLLOWERINFO");
    assert_eq!(infos.count(), 2, "each follower sent FOLLOWERINFO once");
}

#[test]
fn a_learner_backlog_is_dropped_when_another_server_leads() {
    let mut p = pump(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.deliver_all();
    // A stray FOLLOWERINFO reaches 2, which will follow 3: it must not keep it.
    assert!(p.fire_if_armed(1, ZabTimer::FinalizeWait));
    let info = p
        .queue
        .iter()
        .find(|(_, _, m)| m.kind() == "FOLLOWERINFO")
        .map(|(_, _, m)| m.clone())
        .expect("1 sends FOLLOWERINFO to 3");
    p.step(2, Input::Message { from: 1, msg: info });
    assert_eq!(p.node(2).learner_backlog.len(), 1);
    assert!(p.fire_if_armed(2, ZabTimer::FinalizeWait));
    assert_eq!(p.state(2), (Following, Some(3)));
    assert!(p.node(2).learner_backlog.is_empty());
}

#[test]
fn scenario_b_survivors_elect_the_highest_zxid() {
    let mut p = pump(&[1, 2, 3, 4, 5], &[]);
    for (id, last) in [(1, 9), (2, 9), (3, 9), (4, 8), (5, 8)] {
        p.preload(id, last);
    }
    // Server 2 led epoch 1; servers 1 and 2 crashed. 3, 4 and 5 elect again.
    for id in [3, 4, 5] {
        p.start(id);
    }
    p.run(3);
    let nine: Vec<String> = (1..=9).map(|c| format!("1:{c}")).collect();
    let nine: Vec<&str> = nine.iter().map(String::as_str).collect();
    assert_ensemble(&p, 3, &[3, 4, 5], 2, &nine);
    assert!(p.narration(4).iter().any(
        |t| t.contains("vote for 3: same round 1, epoch equal (1), zxid 0x100000009 > 0x100000008")
    ));
    // 4 and 5 were one proposal behind: DIFF of 1:9.
    let diffs: Vec<&Wire<Zab>> = p
        .delivered
        .iter()
        .filter(|(f, _, m)| *f == 3 && m.kind() == "DIFF")
        .collect();
    assert_eq!(diffs.len(), 2);
    let expected = PeerMessage::Diff {
        epoch: 2,
        txns: vec![txn(1, 9)],
    };
    assert!(diffs.iter().all(|(_, _, m)| m.body() == Some(&expected)));
}

#[test]
fn a_single_voter_leads_alone() {
    let mut p = pump(&[7], &[]);
    p.start(7);
    p.settle();
    assert_eq!(p.state(7), (Leading, Some(7)));
    p.write(7, "a");
    assert_eq!(p.applied_data(7), ["a"]);
}
