//! Inputs no honest node sends (issue 23): fields at the maximum that, once adopted,
//! could never be moved past, or whose arithmetic overflowed. Each test reproduces one
//! finding of the `extremes` property test.

use super::*;
use crate::describe::Describe;
use ballot::MAX_ROUND;

/// The readable form of a `Chosen` computed its last slot as `from + n - 1`, which
/// overflowed (a panic in a checked build) for a `from` near the maximum.
#[test]
fn describing_a_chosen_message_at_the_last_slots_does_not_overflow() {
    let msg = PaxosMessage::Chosen {
        commit: 0,
        from: u64::MAX - 1,
        values: vec![None, None, None],
    };
    assert_eq!(
        Paxos::describe(&msg, &|_| String::new()),
        format!("Chosen 3 slot(s) from {} (commit 0)", u64::MAX - 1)
    );
    let msg = PaxosMessage::Chosen {
        commit: 9,
        from: 4,
        values: vec![None, None],
    };
    assert_eq!(
        Paxos::describe(&msg, &|_| String::new()),
        "Chosen slots 4..=5 (commit 9)"
    );
}

fn msg(from: NodeId, msg: PaxosMessage) -> InputOf<Paxos> {
    Input::Message { from, msg }
}

fn persists(out: &Effects<Paxos>) -> bool {
    out.iter()
        .any(|e| matches!(e, crate::effect::Effect::Persist(_)))
}

/// A Nack naming a ballot of round `2^48` or more was believed: the node's next
/// ballot was numbered above it, so that its term encoding wrapped (round `2^48 + 1`
/// of node 1 reads as ballot 1.1, a term some other leader may hold) or, at round
/// `u64::MAX`, stopped rising (`Ballot::above` saturated to a ballot below the one seen).
#[test]
fn a_nack_beyond_the_last_round_is_refused() {
    for higher in [
        Ballot::new(MAX_ROUND, 2),
        Ballot::new(1 << 48, 2),
        Ballot::new(u64::MAX, 3),
    ] {
        let mut net = started(3, false);
        net.step(
            1,
            msg(
                2,
                PaxosMessage::Nack {
                    ballot: Ballot::new(1, 1),
                    higher,
                },
            ),
        );
        net.fire(1, PaxosTimer::LeaderTimeout);
        assert_eq!(
            net.node(1).own_ballot(),
            Some(Ballot::new(1, 1)),
            "{higher}"
        );
    }
}

/// A Prepare of the last round was promised (durably): the acceptor's own next ballot
/// then had round `2^48`, whose term reads as round 0.
#[test]
fn a_prepare_of_the_last_round_is_refused() {
    let mut net = started(3, false);
    let out = net.step(
        2,
        msg(
            1,
            PaxosMessage::Prepare {
                ballot: Ballot::new(MAX_ROUND, 1),
                era_from: 1,
                slot_from: 1,
            },
        ),
    );
    assert!(
        !persists(&out) && out.is_empty(),
        "ignored as if lost: {out:?}"
    );
    assert_eq!(net.node(2).acceptor.promised(), Ballot::ZERO);
    net.fire(2, PaxosTimer::LeaderTimeout);
    assert_eq!(net.node(2).own_ballot(), Some(Ballot::new(1, 2)));
}

/// A node that promised a ballot of the last valid round (`2^48 - 2`) cannot campaign
/// above it: the round it would number (`2^48 - 1`) could never be exceeded, and
/// every other node refuses it (as Raft's candidates stop below the last term).
#[test]
fn a_node_never_numbers_the_last_round() {
    let mut net = started(3, false);
    let last_valid = Ballot::new(MAX_ROUND - 1, 1);
    net.step(
        2,
        msg(
            1,
            PaxosMessage::Prepare {
                ballot: last_valid,
                era_from: 1,
                slot_from: 1,
            },
        ),
    );
    assert_eq!(net.node(2).acceptor.promised(), last_valid);
    let out = net.fire(2, PaxosTimer::LeaderTimeout);
    assert_eq!(net.node(2).own_ballot(), None, "no ballot can follow it");
    assert!(out.iter().any(|e| matches!(
        e,
        crate::effect::Effect::SetTimer {
            timer: PaxosTimer::LeaderTimeout,
            ..
        }
    )));
}

/// A Heartbeat or an Accept of era `u64::MAX` was learned or accepted (durably): no era
/// can follow it, so no later leadership could ever be chosen.
#[test]
fn messages_of_the_last_era_are_refused() {
    let b = Ballot::new(1, 1);
    let lead = Leadership {
        leader: 1,
        ballot: b,
    };
    let forged = [
        PaxosMessage::Heartbeat {
            ballot: b,
            era: u64::MAX,
            commit: 0,
        },
        PaxosMessage::Accept {
            ballot: b,
            era: Some((u64::MAX, lead)),
            slots: vec![],
            commit: 0,
        },
    ];
    for forged in forged {
        let mut net = started(3, false);
        let out = net.step(2, msg(1, forged.clone()));
        assert!(!persists(&out), "{forged:?}");
        assert_eq!(net.node(2).known_era(), (0, None));
        assert!(net.node(2).acceptor.eras_from(0).is_empty());
    }
}

/// An Accept carrying a leadership value no voter could have proposed (the ballot of
/// "node 0 leads" is node `u64::MAX`'s) was accepted; the next candidate, bound by
/// Paxos to re-propose the highest-ballot value its promises report, got it chosen, and
/// a follower of that era reported its ballot as a term whose 16-bit node field wraps
/// (`u64::MAX` reads as node 65535).
#[test]
fn a_leadership_value_no_voter_could_propose_is_refused() {
    let mut net = started(3, false);
    let forged = Leadership {
        leader: 0,
        ballot: Ballot::new(1, u64::MAX),
    };
    for to in [2, 3] {
        let out = net.step(
            to,
            msg(
                1,
                PaxosMessage::Accept {
                    ballot: Ballot::new(1, 1),
                    era: Some((1, forged)),
                    slots: vec![],
                    commit: 0,
                },
            ),
        );
        assert!(!persists(&out));
    }
    net.elect(1);
    assert_eq!(net.leaders(), vec![1]);
    for id in [1, 2, 3] {
        let chosen_forged = net.disks[&id]
            .iter()
            .any(|r| matches!(r, PaxosRecord::EraChosen { value, .. } if *value == forged));
        assert!(!chosen_forged, "node {id} learned the forged leadership");
    }
}
