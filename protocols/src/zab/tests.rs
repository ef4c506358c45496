//! Scenario tests: a small deterministic message pump drives whole ZAB ensembles.
//!
//! The pump (`pump.rs`) delivers queued messages in FIFO order and fires timers only on
//! demand, so every scenario is exact. Scenarios A, A' and B are docs/PROTOCOLS.md's; the others cover
//! DIFF / TRUNC / SNAP, restarts, observers and failure detection.

use super::*;
use crate::zab::pump::{txn, Msg, Pump};
use ServerState::{Following, Leading, Looking, Observing};

/// Every server's (state, leader), epochs and delivered sequence.
fn assert_ensemble(p: &Pump, leader: NodeId, members: &[NodeId], epoch: u32, delivered: &[&str]) {
    for &id in members {
        let expected = if id == leader {
            Leading
        } else if p.membership.is_voter(id) {
            Following
        } else {
            Observing
        };
        assert_eq!(p.state(id), (expected, Some(leader)), "server {id}");
        let h = p.node(id).history();
        assert_eq!(
            (h.accepted_epoch, h.current_epoch),
            (epoch, epoch),
            "epochs of {id}"
        );
        assert_eq!(p.applied_data(id), delivered, "delivered by {id}");
        assert_eq!(h.delivered, delivered.len(), "delivered count of {id}");
    }
}

#[test]
fn scenario_a_five_servers_started_in_order_elect_3() {
    let mut p = Pump::new(&[1, 2, 3, 4, 5], &[]);
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
    p.client(3, "a");
    p.client(5, "b");
    p.client(1, "c");
    p.run(1);
    assert_ensemble(&p, 3, &[1, 2, 3, 4, 5], 1, &["a", "b", "c"]);
    assert_eq!(p.node(4).history().last_zxid(), Zxid::new(1, 3));
}

#[test]
fn scenario_a_prime_three_servers_elect_2() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
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
    let mut p = Pump::new(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.deliver_all();
    // 1 and 2 finish their finalize waits first: their FOLLOWERINFOs reach 3 while it
    // is still LOOKING.
    for id in [1, 2] {
        assert!(p.fire(id, ZabTimer::FinalizeWait));
        p.deliver_all();
        assert_eq!(p.state(id), (Following, Some(3)));
    }
    assert_eq!(p.state(3), (Looking, None));
    assert_eq!(p.node(3).learner_backlog.len(), 2);
    // 3 decides and handles them at once: established with no tick (no FOLLOWERINFO
    // retry) in between.
    assert!(p.fire(3, ZabTimer::FinalizeWait));
    p.deliver_all();
    assert!(p.node(3).learner_backlog.is_empty());
    assert_eq!(
        p.count_events(3, |e| matches!(e, Event::LeaderReady { term: 1 })),
        1
    );
    let infos = p.sent.iter().filter(|(_, _, m)| m.kind() == "FOLLOWERINFO");
    assert_eq!(infos.count(), 2, "each follower sent FOLLOWERINFO once");
}

#[test]
fn a_learner_backlog_is_dropped_when_another_server_leads() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.deliver_all();
    // A stray FOLLOWERINFO reaches 2, which will follow 3: it must not keep it.
    assert!(p.fire(1, ZabTimer::FinalizeWait));
    let info = p
        .queue
        .iter()
        .find(|(_, _, m)| m.kind() == "FOLLOWERINFO")
        .map(|(_, _, m)| m.clone())
        .expect("1 sends FOLLOWERINFO to 3");
    p.step(2, Input::Message { from: 1, msg: info });
    assert_eq!(p.node(2).learner_backlog.len(), 1);
    assert!(p.fire(2, ZabTimer::FinalizeWait));
    assert_eq!(p.state(2), (Following, Some(3)));
    assert!(p.node(2).learner_backlog.is_empty());
}

#[test]
fn a_late_followerinfo_of_a_closed_session_does_not_replace_the_current_one() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &[]);
    let first_info = |p: &Pump| {
        p.sent
            .iter()
            .filter(|(f, t, m)| (*f, *t) == (1, 3) && m.kind() == "FOLLOWERINFO")
            .map(|(_, _, m)| m.clone())
            .collect::<Vec<_>>()
    };
    let stale = first_info(&p)
        .first()
        .cloned()
        .expect("1 sent FOLLOWERINFO");
    // 1 restarts and rejoins under a new session; the leader closes the old one.
    p.crash(1);
    p.start(1);
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &[]);
    let session_of_1 = |p: &Pump| match &p.node(3).phase {
        Phase::Leading(l) => l.learners.get(&1).map(|h| h.session),
        _ => None,
    };
    let current = session_of_1(&p);
    assert!(current.is_some());
    let roles_of_1 = p.count_events(1, |e| matches!(e, Event::RoleChanged { .. }));
    // The network delivers a late copy of the first session's FOLLOWERINFO.
    p.step(
        3,
        Input::Message {
            from: 1,
            msg: stale,
        },
    );
    assert_eq!(session_of_1(&p), current, "the current session is kept");
    p.run(10);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &[]);
    assert_eq!(
        p.count_events(1, |e| matches!(e, Event::RoleChanged { .. })),
        roles_of_1,
        "1 never went back to LOOKING"
    );
    p.client(1, "a");
    p.run(1);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &["a"]);
}

#[test]
fn scenario_b_survivors_elect_the_highest_zxid() {
    let mut p = Pump::new(&[1, 2, 3, 4, 5], &[]);
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
    let diffs: Vec<&Msg> = p
        .sent
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

/// 2 and 3 lead epoch 2 while 1, holding an uncommitted 1:3 of epoch 1, is down.
fn trunc_setup() -> Pump {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    p.preload(1, 3);
    p.preload(2, 2);
    p.preload(3, 2);
    p.start(2);
    p.start(3);
    p.run(3);
    assert_ensemble(&p, 3, &[2, 3], 2, &["1:1", "1:2"]);
    p.client(3, "x");
    p.run(1);
    p
}

#[test]
fn trunc_drops_an_uncommitted_proposal_of_an_older_epoch() {
    let mut p = trunc_setup();
    let before = p.disk.get(&1).map_or(0, Vec::len);
    p.start(1);
    p.run(2);
    // 1's vote (zxid 1:3) is "better", yet it joins the running ensemble.
    assert_ensemble(&p, 3, &[1, 2, 3], 2, &["1:1", "1:2", "x"]);
    let trunc = p
        .sent
        .iter()
        .find(|(f, t, m)| (*f, *t) == (3, 1) && m.kind() == "TRUNC");
    let expected_tail = p.node(3).history().txns[2..].to_vec();
    assert_eq!(
        trunc.and_then(|(_, _, m)| m.body().cloned()),
        Some(PeerMessage::Trunc {
            epoch: 2,
            truncate_to: Zxid::new(1, 2),
            txns: expected_tail
        })
    );
    let new_records = p
        .disk
        .get(&1)
        .map(|d| d[before..].to_vec())
        .unwrap_or_default();
    assert_eq!(new_records[0], ZabRecord::AcceptedEpoch(2));
    assert_eq!(
        new_records[1],
        ZabRecord::Truncate {
            last_kept: Zxid::new(1, 2)
        }
    );
    assert!(matches!(&new_records[2], ZabRecord::Proposal(t) if t.zxid == Zxid::new(2, 1)));
    assert_eq!(new_records[3], ZabRecord::CurrentEpoch(2));
    assert_eq!(p.node(1).history().txns, p.node(3).history().txns);
}

#[test]
fn snap_for_a_far_behind_follower_and_diff_for_a_slightly_behind_one() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    p.snap_threshold = 3;
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &[]);
    p.client(3, "a");
    p.run(1);
    p.crash(1);
    for data in ["b", "c", "d", "e"] {
        p.client(3, data);
    }
    p.run(1);
    // 1 missed four transactions, more than the threshold of 3: SNAP.
    p.start(1);
    p.run(2);
    let all = ["a", "b", "c", "d", "e"];
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &all);
    let last_to = |p: &Pump, to: NodeId, kind: &str| {
        p.sent
            .iter()
            .rev()
            .find(|(f, t, m)| (*f, *t) == (3, to) && m.kind() == kind)
            .and_then(|(_, _, m)| m.body().cloned())
    };
    let snap = last_to(&p, 1, "SNAP").expect("a SNAP for 1");
    assert!(
        matches!(snap, PeerMessage::Snap { epoch: 1, snapshot, txns } if snapshot.len() == 5 && txns.is_empty())
    );
    assert!(p.disk[&1]
        .iter()
        .any(|r| matches!(r, ZabRecord::Snapshot { txns } if txns.len() == 5)));
    // After a crash the snapshot is known committed and applied again at once.
    p.crash(1);
    p.start(1);
    assert_eq!(p.applied_data(1), all);
    p.run(2);
    // 2 restarts one transaction behind: DIFF.
    p.crash(2);
    p.client(3, "f");
    p.run(1);
    p.start(2);
    p.run(2);
    let diff = last_to(&p, 2, "DIFF").expect("a DIFF for 2");
    assert_eq!(
        diff,
        PeerMessage::Diff {
            epoch: 1,
            txns: p.node(3).history().txns[5..].to_vec()
        }
    );
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &["a", "b", "c", "d", "e", "f"]);
}

#[test]
fn restart_recovers_epochs_and_history() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    p.client(3, "a");
    p.client(1, "b");
    p.run(1);
    let before = p.node(1).history().clone();
    assert_eq!(
        (
            before.accepted_epoch,
            before.current_epoch,
            before.txns.len()
        ),
        (1, 1, 2)
    );
    p.crash(1);
    p.start(1);
    let after = p.node(1).history();
    assert_eq!((after.accepted_epoch, after.current_epoch), (1, 1));
    assert_eq!(after.txns, before.txns);
    // Commit points are not persisted: the history is delivered again after sync.
    assert_eq!(after.delivered, 0);
    p.run(2);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &["a", "b"]);
}

#[test]
fn the_leader_crashes_and_the_survivors_take_over_with_a_new_epoch() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    p.client(3, "a");
    p.run(1);
    p.crash(3);
    p.step(1, Input::PeerLost(3));
    p.step(2, Input::PeerLost(3));
    p.run(3);
    assert_ensemble(&p, 2, &[1, 2], 2, &["a"]);
    assert_eq!(
        p.count_events(2, |e| matches!(e, Event::LeaderReady { term: 2 })),
        1
    );
    p.client(1, "b");
    p.run(1);
    p.start(3);
    p.run(2);
    assert_ensemble(&p, 2, &[1, 2, 3], 2, &["a", "b"]);
}

#[test]
fn observers_apply_through_inform_but_never_count() {
    let mut p = Pump::new(&[1, 2, 3], &[4, 5]);
    for id in [4, 5, 1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3, 4, 5], 1, &[]);
    p.client(4, "a"); // forwarded: reaches the leader after "b"
    p.client(3, "b");
    p.run(1);
    assert_ensemble(&p, 3, &[1, 2, 3, 4, 5], 1, &["b", "a"]);
    let observer_acks = p.sent.iter().filter(|(f, _, m)| {
        *f >= 4 && matches!(m.body(), Some(PeerMessage::Ack { zxid }) if zxid.counter() > 0)
    });
    assert_eq!(observer_acks.count(), 0);
    assert!(p
        .sent
        .iter()
        .any(|(f, t, m)| (*f, *t) == (3, 4) && m.kind() == "INFORM"));
    // With two voters down, two observers are no quorum: nothing commits and the leader
    // steps down after syncLimit.
    p.crash(1);
    p.crash(2);
    p.client(3, "c");
    p.run(1);
    assert_eq!(p.applied_data(3), ["b", "a"]);
    p.run(p.node(3).timing().sync_limit as usize + 1);
    assert_eq!(p.state(3), (Looking, None));
    assert!(p
        .rejected
        .iter()
        .any(|(at, _, e)| *at == 3 && *e == ClientError::LeadershipLost));
}

#[test]
fn a_lost_proposal_sends_the_follower_back_through_election() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    let mut dropped = false;
    p.drop_if = Box::new(move |(_, to, m)| {
        let drop = !dropped && *to == 1 && m.kind() == "PROPOSAL";
        dropped |= drop;
        drop
    });
    p.client(3, "a");
    p.client(3, "b");
    p.run(2);
    assert!(p
        .narration(1)
        .iter()
        .any(|t| t.contains("broken: a message was lost")));
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &["a", "b"]);
}

#[test]
fn a_silent_leader_is_abandoned_after_sync_limit() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    p.crash(3); // no PeerLost: an isolated leader
    let limit = p.node(1).timing().sync_limit as usize;
    for _ in 0..limit {
        p.fire_all(ZabTimer::Tick);
        p.deliver_all();
    }
    assert_eq!(p.state(1), (Following, Some(3)));
    p.run(3);
    assert_ensemble(&p, 2, &[1, 2], 2, &[]);
}

#[test]
fn handlers_persist_before_the_dependent_send() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    p.client(3, "a");
    // Deliver until follower 1 takes the PROPOSAL; check exactly what it does.
    let effects = loop {
        let (from, to, msg) = p.queue.pop_front().expect("the proposal is on its way");
        let is_proposal = (to, msg.kind()) == (1, "PROPOSAL");
        let effects = p.step(to, Input::Message { from, msg });
        if is_proposal {
            break effects;
        }
    };
    let logged = p.node(1).history().txns[0].clone();
    assert_eq!(logged.zxid, Zxid::new(1, 1));
    // The ACK leaves at the end of the batch (the pump ends one after every input),
    // after the proposal's record: the gate holds it until the record is durable.
    assert_eq!(effects.len(), 2);
    assert_eq!(effects[0], Effect::Persist(ZabRecord::Proposal(logged)));
    assert!(matches!(&effects[1], Effect::Send { to: 3, msg }
        if msg.body() == Some(&PeerMessage::Ack { zxid: Zxid::new(1, 1) })));
    // Messages of another session, or from someone else than the leader, are ignored.
    let stray = |session| ZabMessage::Peer {
        session,
        seq: 9,
        body: PeerMessage::Commit {
            zxid: Zxid::new(1, 1),
        },
    };
    assert_eq!(
        p.step(
            1,
            Input::Message {
                from: 3,
                msg: stray(12345)
            }
        ),
        vec![]
    );
    assert_eq!(
        p.step(
            1,
            Input::Message {
                from: 2,
                msg: stray(0)
            }
        ),
        vec![]
    );
}

#[test]
fn clients_are_rejected_while_no_leader_is_established() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    p.start(1);
    p.settle();
    let id = p.client(1, "a");
    assert_eq!(
        p.rejected,
        vec![(1, id, ClientError::NotLeader { leader: None })]
    );
}

#[test]
fn a_single_voter_leads_alone() {
    let mut p = Pump::new(&[7], &[]);
    p.start(7);
    p.settle();
    assert_eq!(p.state(7), (Leading, Some(7)));
    p.client(7, "a");
    assert_eq!(p.applied_data(7), ["a"]);
}

#[test]
fn a_snap_shorter_than_a_learners_delivered_prefix_still_syncs_it() {
    let mut p = Pump::new(&[1, 2, 3], &[]);
    p.snap_threshold = 3;
    // 1 has epoch 1 and proposals 1:1..=1:10 but, just restarted, knows none of them
    // delivered; 2 delivered 1:1 and 1:2 from an earlier SNAP. 3 stays down.
    p.preload(1, 10);
    p.disk.insert(
        2,
        vec![
            ZabRecord::AcceptedEpoch(1),
            ZabRecord::CurrentEpoch(1),
            ZabRecord::Snapshot {
                txns: vec![txn(1, 1), txn(1, 2)],
            },
        ],
    );
    p.start(1);
    p.start(2);
    p.run(40);
    // 1 leads (highest zxid) and, 8 transactions ahead of 2, sends it a SNAP of its
    // delivered prefix (empty) and 10 proposals. 2 must not refuse it for being
    // shorter than its own delivered 2 (it did, over and over: a livelock).
    assert!(
        !p.narration(2)
            .iter()
            .any(|t| t.contains("does not extend my delivered prefix")),
        "{:?}",
        p.narration(2)
    );
    let all: Vec<String> = (1..=10).map(|c| format!("1:{c}")).collect();
    assert_ensemble(
        &p,
        1,
        &[1, 2],
        2,
        &all.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let h = p.node(2).history();
    assert_eq!(h.txns.len(), 10, "2 holds the leader's whole history");
}
