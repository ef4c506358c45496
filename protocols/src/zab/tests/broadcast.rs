//! Phase 3, Broadcast: sessions, observers, clients and failure detection.

use super::*;

#[test]
fn a_late_followerinfo_of_a_closed_session_does_not_replace_the_current_one() {
    let mut p = pump(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &[]);
    let first_info = |p: &Pump<Zab>| {
        p.delivered
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
    let session_of_1 = |p: &Pump<Zab>| match &p.node(3).phase {
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
    p.write(1, "a");
    p.run(1);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &["a"]);
}

#[test]
fn the_leader_crashes_and_the_survivors_take_over_with_a_new_epoch() {
    let mut p = pump(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    p.write(3, "a");
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
    p.write(1, "b");
    p.run(1);
    p.start(3);
    p.run(2);
    assert_ensemble(&p, 2, &[1, 2, 3], 2, &["a", "b"]);
}

#[test]
fn observers_apply_through_inform_but_never_count() {
    let mut p = pump(&[1, 2, 3], &[4, 5]);
    for id in [4, 5, 1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3, 4, 5], 1, &[]);
    p.write(4, "a"); // forwarded: reaches the leader after "b"
    p.write(3, "b");
    p.run(1);
    assert_ensemble(&p, 3, &[1, 2, 3, 4, 5], 1, &["b", "a"]);
    let observer_acks = p.delivered.iter().filter(|(f, _, m)| {
        *f >= 4 && matches!(m.body(), Some(PeerMessage::Ack { zxid }) if zxid.counter() > 0)
    });
    assert_eq!(observer_acks.count(), 0);
    assert!(p
        .delivered
        .iter()
        .any(|(f, t, m)| (*f, *t) == (3, 4) && m.kind() == "INFORM"));
    // With two voters down, two observers are no quorum: nothing commits and the leader
    // steps down after syncLimit.
    p.crash(1);
    p.crash(2);
    p.write(3, "c");
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
    let mut p = pump(&[1, 2, 3], &[]);
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
    p.write(3, "a");
    p.write(3, "b");
    p.run(2);
    assert!(p
        .narration(1)
        .iter()
        .any(|t| t.contains("broken: a message was lost")));
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &["a", "b"]);
}

#[test]
fn a_silent_leader_is_abandoned_after_sync_limit() {
    let mut p = pump(&[1, 2, 3], &[]);
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
    let mut p = pump(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    p.write(3, "a");
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
    let mut p = pump(&[1, 2, 3], &[]);
    p.start(1);
    p.settle();
    let id = p.write(1, "a");
    assert_eq!(
        p.rejected,
        vec![(1, id, ClientError::NotLeader { leader: None })]
    );
}
