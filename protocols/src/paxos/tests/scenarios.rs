//! Scenario tests: the classic cases of Lamport, "Paxos Made Simple" (2001) §2-§3,
//! staged message by message with the generic pump.

use super::*;
use crate::effect::{ClientError, Effect, Event};
use crate::pump::Wire;

fn is_accept_to(from: NodeId, to: NodeId) -> impl Fn(&Wire<Paxos>) -> bool {
    move |(f, t, m)| *f == from && *t == to && matches!(m, PaxosMessage::Accept { .. })
}

fn elected(net: &Pump<Paxos>) -> Vec<NodeId> {
    net.events_where(|e| matches!(e, Event::LeaderElected { .. }))
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

#[test]
fn a_fresh_cluster_elects_one_leader_and_commits() {
    let mut net = started(3, true);
    net.elect(1);
    assert_eq!(net.leaders(), vec![1]);
    let term = Ballot::new(1, 1).as_u64();
    let ours: Vec<Event> = net
        .events
        .iter()
        .filter(|(id, _)| *id == 1)
        .map(|(_, e)| e.clone())
        .collect();
    let pos = |want: &Event| ours.iter().position(|e| e == want).expect("event emitted");
    assert!(
        pos(&Event::RoleChanged {
            role: Role::Candidate,
            term
        }) < pos(&Event::LeaderElected { term })
    );
    assert!(pos(&Event::LeaderElected { term }) <= pos(&Event::LeaderReady { term }));
    // Followers learn who leads from the leader's first heartbeat.
    assert_eq!(net.nodes[&2].status().leader, Some(1));
    assert_eq!(net.nodes[&3].status().term, term);

    net.client(1, cmd(9, 1));
    net.client(1, cmd(9, 2));
    net.deliver_all();
    assert_eq!(net.applied[&1], vec![Some(cmd(9, 1)), Some(cmd(9, 2))]);
    net.heartbeat();
    for id in 1..=3 {
        assert_eq!(
            net.applied[&id],
            vec![Some(cmd(9, 1)), Some(cmd(9, 2))],
            "node {id}"
        );
        assert_eq!(net.nodes[&id].status().commit_index, 2);
    }
    let narration: Vec<String> = net
        .events_where(|e| matches!(e, Event::Narrate(_)))
        .into_iter()
        .filter_map(|(_, e)| {
            if let Event::Narrate(s) = e {
                Some(s)
            } else {
                None
            }
        })
        .collect();
    assert!(narration
        .iter()
        .any(|s| s.contains("promise Prepare(1.1) to 1: no higher promise")));
    assert!(narration.iter().any(|s| s.contains("elected")));
}

#[test]
fn followers_and_candidates_refuse_clients_with_a_leader_hint() {
    let mut net = started(3, false);
    net.elect(2);
    let out = net.client(1, cmd(1, 1));
    assert_eq!(
        out,
        vec![Effect::Reject {
            id: cmd(1, 1).id,
            error: ClientError::NotLeader { leader: Some(2) }
        }]
    );
}

#[test]
fn two_duelling_proposers_still_converge() {
    let mut net = started(3, true);
    net.fire(1, PaxosTimer::LeaderTimeout);
    net.fire(3, PaxosTimer::LeaderTimeout);
    // 1 wins Phase 1 with 2's promise; then 2 promises 3's higher ballot, so 1's Accept
    // is refused: 1 is pre-empted. Then 3 is pre-empted in turn by 1's retry.
    assert!(net
        .deliver_one(|(f, t, m)| (*f, *t) == (1, 2) && matches!(m, PaxosMessage::Prepare { .. })));
    assert!(net.deliver_one(|(f, t, _)| (*f, *t) == (2, 1)));
    assert!(net
        .deliver_one(|(f, t, m)| (*f, *t) == (3, 2) && matches!(m, PaxosMessage::Prepare { .. })));
    assert!(net.deliver_one(|(f, t, _)| (*f, *t) == (2, 3)));
    assert!(net.deliver_one(is_accept_to(1, 2)));
    assert!(
        net.deliver_one(|(f, t, m)| (*f, *t) == (2, 1) && matches!(m, PaxosMessage::Nack { .. }))
    );
    assert_eq!(net.nodes[&1].duels(), 1);
    assert!(net.is_armed(1, PaxosTimer::Backoff));
    // 1's back-off happens to end before 3's Accept arrives: it pre-empts 3.
    net.fire(1, PaxosTimer::Backoff);
    net.deliver_while(|(_, _, m)| matches!(m, PaxosMessage::Prepare { .. }));
    net.deliver_all();
    assert!(net.nodes[&3].duels() >= 1, "3 was pre-empted too");
    // From here on random back-offs break the tie: fire whichever is armed, in turn.
    for _ in 0..20 {
        if net.leaders().len() == 1 {
            break;
        }
        let waiting = (1..=3).find(|id| net.is_armed(*id, PaxosTimer::Backoff));
        let Some(id) = waiting else { break };
        net.fire(id, PaxosTimer::Backoff);
        net.deliver_all();
    }
    let leaders = net.leaders();
    assert_eq!(leaders.len(), 1, "converged on one leader");
    net.heartbeat();
    let leader = leaders[0];
    for id in 1..=3 {
        assert_eq!(net.nodes[&id].status().leader, Some(leader));
    }
    assert!(
        net.events_where(|e| matches!(e, Event::Narrate(s) if s.contains("duel #1")))
            .len()
            >= 2
    );
}

#[test]
fn a_value_accepted_by_a_minority_may_be_replaced_by_the_next_leader() {
    let mut net = started(3, false);
    net.elect(1);
    net.client(1, cmd(1, 1)); // only 1's own acceptor takes it
    net.drop_where(|_| true);
    net.crash(1);
    net.elect(2);
    assert_eq!(net.leaders(), vec![2]);
    net.client(2, cmd(2, 1));
    net.deliver_all();
    net.start(1);
    net.heartbeat();
    for id in 1..=3 {
        assert_eq!(net.applied[&id], vec![Some(cmd(2, 1))], "node {id}");
    }
}

#[test]
fn a_value_accepted_by_a_majority_survives_every_later_ballot() {
    let mut net = started(3, false);
    net.elect(1);
    net.client(1, cmd(1, 1));
    assert!(net.deliver_one(is_accept_to(1, 2))); // 1 and 2 accepted: chosen, but nobody knows
    net.drop_where(|_| true);
    net.crash(1);
    net.elect(3); // promises from 3 and 2: 2 reports the value
    assert_eq!(net.leaders(), vec![3]);
    assert_eq!(net.applied[&3], vec![Some(cmd(1, 1))]);
    // More ballots, more crashes: slot 1 never changes.
    net.start(1);
    net.crash(3);
    net.elect(1); // 2 promised 3's ballot: 1's first retry is refused, the next wins
    assert_eq!(net.leaders(), vec![1]);
    net.client(1, cmd(1, 2));
    net.deliver_all();
    net.start(3);
    net.crash(1);
    net.elect(2);
    net.heartbeat();
    for id in [2, 3] {
        assert_eq!(
            net.applied[&id],
            vec![Some(cmd(1, 1)), Some(cmd(1, 2))],
            "node {id}"
        );
    }
}

#[test]
fn an_acceptor_restarted_from_its_records_keeps_its_promise() {
    let mut net = cluster(3, false);
    net.start(2);
    let high = Ballot::new(5, 1);
    let prepare = |from, ballot| Input::Message {
        from,
        msg: PaxosMessage::Prepare {
            ballot,
            era_from: 1,
            slot_from: 1,
        },
    };
    net.step(2, prepare(1, high));
    assert_eq!(net.disks[&2], vec![PaxosRecord::Promised { ballot: high }]);
    net.restart(2);
    let low = Ballot::new(4, 3);
    let nack = vec![Effect::Send {
        to: 3,
        msg: PaxosMessage::Nack {
            ballot: low,
            higher: high,
        },
    }];
    assert_eq!(net.step(2, prepare(3, low)), nack);
    let accept = PaxosMessage::Accept {
        ballot: low,
        era: None,
        slots: vec![(1, None)],
        commit: 0,
    };
    let out = net.step(
        2,
        Input::Message {
            from: 3,
            msg: accept,
        },
    );
    assert_eq!(out, nack);
    // And its own next ballot is above the promise it made.
    net.fire(2, PaxosTimer::LeaderTimeout);
    assert_eq!(net.node(2).own_ballot(), Some(Ballot::new(6, 2)));
}

#[test]
fn takeover_re_proposes_found_values_and_fills_gaps_with_no_ops() {
    let mut net = started(3, true);
    net.elect(1);
    for seq in 1..=4 {
        net.client(1, cmd(1, seq));
    }
    // Slot 1 reaches everyone; slots 2 and 4 reach node 2 only; slot 3 reaches nobody.
    let to_with_slot = |to: NodeId, slot: u64| {
        move |(f, t, m): &Wire<Paxos>| {
            *f == 1
                && *t == to
                && matches!(m, PaxosMessage::Accept { slots, .. } if slots.iter().any(|s| s.0 == slot))
        }
    };
    assert!(net.deliver_one(to_with_slot(2, 1)));
    assert!(net.deliver_one(to_with_slot(3, 1)));
    assert!(net.deliver_one(to_with_slot(2, 2)));
    assert!(net.deliver_one(to_with_slot(2, 4)));
    net.drop_where(|_| true);
    net.crash(1);
    net.fire(3, PaxosTimer::LeaderTimeout);
    // Hold back the Accepted replies to 3 so readiness can be observed waiting for them.
    net.deliver_while(|(_, _, m)| !matches!(m, PaxosMessage::Accepted { .. }));
    assert_eq!(
        net.leaders(),
        vec![],
        "the leadership value is not chosen yet"
    );
    net.deliver_all();
    assert_eq!(net.leaders(), vec![3]);
    let want = vec![Some(cmd(1, 1)), Some(cmd(1, 2)), None, Some(cmd(1, 4))];
    assert_eq!(net.applied[&3], want);
    let term = Ballot::new(2, 3).as_u64();
    let at_3: Vec<Event> = net
        .events
        .iter()
        .filter(|(id, _)| *id == 3)
        .map(|(_, e)| e.clone())
        .collect();
    let ready = at_3
        .iter()
        .position(|e| *e == Event::LeaderReady { term })
        .expect("ready");
    let committed = at_3
        .iter()
        .position(|e| *e == Event::Committed { index: 4 })
        .expect("committed");
    assert!(
        committed < ready,
        "ready only once every re-proposal is chosen"
    );
    assert!(net
        .events_where(|e| matches!(e, Event::Narrate(s) if s.contains("no-op in 1 gap(s)")))
        .iter()
        .any(|(id, _)| *id == 3));
    net.client(3, cmd(3, 1));
    net.deliver_all();
    net.heartbeat();
    assert_eq!(net.applied[&2].len(), 5);
    assert_eq!(net.applied[&2][4], Some(cmd(3, 1)));
}

#[test]
fn a_found_leadership_value_is_proposed_and_the_next_era_is_claimed() {
    let mut net = started(5, true);
    net.fire(1, PaxosTimer::LeaderTimeout);
    for to in [2, 3] {
        assert!(net.deliver_one(
            |(f, t, m)| (*f, *t) == (1, to) && matches!(m, PaxosMessage::Prepare { .. })
        ));
        assert!(net.deliver_one(|(f, t, _)| (*f, *t) == (to, 1)));
    }
    // Node 1 won Phase 1 and accepted its own value; its Accept reaches only node 2.
    assert!(net.deliver_one(is_accept_to(1, 2)));
    net.drop_where(|(f, t, _)| *f == 1 || *t == 1);
    net.crash(1);
    net.fire(5, PaxosTimer::LeaderTimeout);
    net.deliver_all();
    assert_eq!(net.leaders(), vec![5]);
    assert_eq!(elected(&net), vec![5]);
    let ballot = Ballot::new(1, 5); // 5 never saw 1's Prepare: round 1 is above 1.1
    assert_eq!(
        net.nodes[&5].known_era(),
        (2, Some(Leadership { leader: 5, ballot }))
    );
    assert!(net
        .events_where(|e| matches!(e, Event::Narrate(s) if s.contains("era 1: 1 leads from 1.1") && s.contains("must be proposed")))
        .iter()
        .any(|(id, _)| *id == 5));
    net.heartbeat();
    for id in 2..=4 {
        assert_eq!(
            net.nodes[&id].known_era(),
            (2, Some(Leadership { leader: 5, ballot }))
        );
    }
    // The named node, restarted, learns it was superseded and follows.
    net.start(1);
    net.heartbeat();
    assert_eq!(net.nodes[&1].status().leader, Some(5));
}

#[test]
fn a_restarted_node_replays_its_chosen_prefix_at_start() {
    let mut net = started(3, false);
    net.elect(1);
    let every = learner::COMMIT_RECORD_EVERY;
    for seq in 1..=every + 3 {
        net.client(1, cmd(1, seq));
    }
    net.deliver_all();
    net.heartbeat();
    let all = net.applied[&1].clone();
    assert_eq!(all.len() as u64, every + 3);
    net.crash(2);
    net.start(2); // Start alone, no message yet: the persisted prefix is replayed
    let replayed = net.applied[&2].len();
    assert!(replayed as u64 >= every && net.applied[&2] == all[..replayed]);
    net.heartbeat(); // the rest comes from the leader
    assert_eq!(net.applied[&2], all);
    net.crash(1);
    net.start(1);
    let replayed = net.applied[&1].len();
    assert!(replayed as u64 >= every && net.applied[&1] == all[..replayed]);
    assert_eq!(net.nodes[&1].status().role, Role::Follower);
}

#[test]
fn a_stale_leader_is_told_by_a_nack_and_steps_down() {
    let mut net = started(3, false);
    net.elect(1);
    net.elect(2);
    assert_eq!(net.leaders(), vec![2], "2's Prepare pre-empted 1");
    assert_eq!(net.nodes[&1].duels(), 1);
    net.heartbeat();
    assert_eq!(net.nodes[&1].status().leader, Some(2));
    assert!(
        !net.is_armed(1, PaxosTimer::Backoff),
        "a live leader's heartbeat cancels the back-off"
    );
    assert!(net.is_armed(1, PaxosTimer::LeaderTimeout));
}

#[test]
fn a_lagging_follower_catches_up_through_the_leader() {
    let mut net = started(3, false);
    net.elect(1);
    net.crash(3);
    for seq in 1..=300 {
        net.client(1, cmd(1, seq));
    }
    net.deliver_all();
    net.start(3);
    net.heartbeat();
    assert_eq!(net.applied[&3].len(), 300);
    assert_eq!(net.applied[&3], net.applied[&1]);
}

#[test]
fn malformed_and_stale_messages_are_ignored() {
    let mut net = cluster(3, false);
    net.start(2);
    let b = Ballot::new(3, 1);
    let hostile = vec![
        (
            1,
            PaxosMessage::Prepare {
                ballot: Ballot::new(9, 3),
                era_from: 1,
                slot_from: 1,
            },
        ), // not the sender's ballot
        (
            1,
            PaxosMessage::Accept {
                ballot: b,
                era: None,
                slots: vec![(0, None), (u64::MAX, None)],
                commit: u64::MAX,
            },
        ),
        (
            1,
            PaxosMessage::Heartbeat {
                ballot: b,
                era: u64::MAX,
                commit: u64::MAX,
            },
        ),
        (
            1,
            PaxosMessage::Chosen {
                commit: u64::MAX,
                from: u64::MAX,
                values: vec![None, None],
            },
        ),
        (
            1,
            PaxosMessage::Chosen {
                commit: 3,
                from: 0,
                values: vec![None],
            },
        ),
        (1, PaxosMessage::CatchUp { from: u64::MAX }),
        (
            1,
            PaxosMessage::Nack {
                ballot: b,
                higher: Ballot::ZERO,
            },
        ),
        (
            1,
            PaxosMessage::Accepted {
                ballot: b,
                era: Some(u64::MAX),
                slots: vec![u64::MAX],
            },
        ),
        (
            7,
            PaxosMessage::Prepare {
                ballot: Ballot::new(1, 7),
                era_from: 1,
                slot_from: 1,
            },
        ), // not a member
    ];
    for (from, msg) in hostile {
        net.step(2, Input::Message { from, msg });
    }
    assert_eq!(net.status(2).commit_index, 0);
    assert!(net.status(2).last_index < 1 << 21);
    // Still a working node: it can run an election after all that.
    net.fire(2, PaxosTimer::LeaderTimeout);
    assert_eq!(net.status(2).role, Role::Candidate);
}

#[test]
fn peer_lost_starts_an_early_election_only_when_enabled() {
    let mut net = started(3, false);
    net.elect(1);
    net.armed.get_mut(&2).expect("timers").clear();
    net.step(2, Input::PeerLost(1));
    assert!(
        !net.is_armed(2, PaxosTimer::LeaderTimeout),
        "off by default"
    );
    net.nodes.get_mut(&2).expect("running").elect_on_peer_lost = true;
    net.step(2, Input::PeerLost(3));
    assert!(
        !net.is_armed(2, PaxosTimer::LeaderTimeout),
        "only the leader's loss counts"
    );
    net.step(2, Input::PeerLost(1));
    assert!(net.is_armed(2, PaxosTimer::LeaderTimeout));
}
