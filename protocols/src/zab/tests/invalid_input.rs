//! Inputs no honest server sends (issue 23): fields at the maximum that, once adopted,
//! could never be moved past. Each test reproduces one finding of the `extremes`
//! property test.

use super::extremes::settle_while;
use super::forge::partner;
use super::*;

/// A LOOKING vote of `round` for `leader` (of epoch `peer_epoch`, last zxid `zxid`).
fn looking(round: u64, leader: NodeId, peer_epoch: u32, zxid: Zxid) -> ZabMessage {
    ZabMessage::Notification(Notification {
        vote: Vote {
            leader,
            zxid,
            peer_epoch,
        },
        round,
        state: Looking,
    })
}

fn msg(from: NodeId, msg: ZabMessage) -> Input<ZabMessage, ZabTimer> {
    Input::Message { from, msg }
}

/// The round after `u64::MAX` does not exist: adopting it made the server's next round
/// (`start_round`, `logicalclock + 1`) overflow, a panic in a checked build and round 0
/// (below every vote it would meet) in a release build.
#[test]
fn a_notification_of_the_last_round_is_refused() {
    let mut p = pump(&[1, 2, 3], &[]);
    p.start(1);
    p.step(1, msg(2, looking(u64::MAX, 2, 0, Zxid::ZERO)));
    assert_eq!(p.node(1).election_round(), 1, "the round is not adopted");
    // 1 goes on as if the vote had been lost: it decides nothing and, whatever happens
    // next, numbers its rounds without overflow.
    p.fire(1, ZabTimer::FinalizeWait);
    assert_eq!(p.state(1), (Looking, None));
    p.step(1, msg(2, looking(u64::MAX - 1, 2, 0, Zxid::ZERO)));
    p.step(1, msg(3, looking(u64::MAX - 1, 2, 0, Zxid::ZERO)));
    p.fire(1, ZabTimer::FinalizeWait);
    assert_eq!(p.state(1), (Following, Some(2)));
    for _ in 0..4 * p.node(1).timing().init_limit {
        p.fire(1, ZabTimer::Tick);
    }
    // Back to LOOKING: the round cannot be numbered past u64::MAX - 1, so the server
    // votes again in it.
    assert_eq!(p.state(1), (Looking, None));
    assert_eq!(p.node(1).election_round(), u64::MAX - 1);
}

/// A vote naming the last epoch, or a zxid of it, is refused: no honest server reaches
/// that epoch (see `discovery.rs`).
#[test]
fn a_vote_of_the_last_epoch_is_refused() {
    let mut p = pump(&[1, 2, 3], &[]);
    p.start(1);
    p.step(1, msg(2, looking(1, 2, u32::MAX, Zxid::ZERO)));
    p.step(1, msg(3, looking(1, 2, 0, Zxid::new(u32::MAX, 1))));
    assert_eq!(p.node(1).current_vote().leader, 1, "still votes for itself");
}

/// `body` as the next message of the session between `at` and its partner (its leader,
/// or its first learner), from that partner.
pub(super) fn in_session(
    p: &Pump<Zab>,
    at: NodeId,
    body: PeerMessage,
) -> Input<ZabMessage, ZabTimer> {
    let (from, session, seq) = partner(p.node(at), 0).expect("a session");
    msg(from, ZabMessage::Peer { session, seq, body })
}

/// Voters 1..=3 led by 3 in epoch 1; 1 restarted and rejoins: it sent FOLLOWERINFO
/// and waits for LEADERINFO, which is held back.
pub(super) fn rejoining() -> Pump<Zab> {
    let mut p = pump(&[1, 2, 3], &[]);
    p.start_all();
    p.run(3);
    p.restart(1);
    let to_1 = |(_, to, m): &Wire<Zab>| *to == 1 && m.body().is_some();
    settle_while(&mut p, |w| !to_1(w));
    assert_eq!(p.state(1), (Following, Some(3)));
    p
}

/// A learner accepted a LEADERINFO of epoch `u32::MAX` (and persisted it): as a leader
/// it could never propose an epoch above it, and it refused every real leader's lower
/// epoch, for good (the accepted epoch survives restarts).
#[test]
fn a_leaderinfo_of_the_last_epoch_is_refused() {
    let mut p = rejoining();
    let out = p.step(
        1,
        in_session(
            &p,
            1,
            PeerMessage::LeaderInfo {
                new_epoch: u32::MAX,
            },
        ),
    );
    assert_eq!(
        p.node(1).history().accepted_epoch,
        1,
        "the epoch is not accepted"
    );
    assert!(!out.iter().any(|e| matches!(e, Effect::Persist(_))));
    // Like a leader's older epoch (`Learner.registerWithLeader`), it ends the session.
    assert_eq!(p.state(1), (Looking, None));
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &[]);
}

/// Voters 1..=3 where FLE chose 3, in Discovery: the FOLLOWERINFOs are held back.
fn in_discovery() -> Pump<Zab> {
    let mut p = pump(&[1, 2, 3], &[]);
    p.start_all();
    settle_while(&mut p, |(_, _, m)| m.body().is_none());
    assert_eq!(p.state(3), (Leading, Some(3)));
    p
}

fn follower_info(accepted_epoch: u32) -> ZabMessage {
    ZabMessage::Peer {
        session: 77,
        seq: 0,
        body: PeerMessage::FollowerInfo { accepted_epoch },
    }
}

/// A FOLLOWERINFO of accepted epoch `u32::MAX - 1` made the leader propose (and
/// accept, durably) the last epoch, `highest + 1 = u32::MAX`, after which no epoch
/// could ever be proposed again.
#[test]
fn a_leader_never_proposes_the_last_epoch() {
    let mut p = in_discovery();
    let out = p.step(3, msg(2, follower_info(u32::MAX - 1)));
    assert_eq!(p.node(3).history().accepted_epoch, 0);
    assert!(!out.iter().any(|e| matches!(e, Effect::Persist(_))));
    assert_eq!(p.state(3), (Looking, None), "it gives up: no epoch is left");
    // The ensemble recovers without the forged claim (3 re-sends its vote when its
    // notification timeout fires, and joins).
    p.run(12);
    p.fire_all(ZabTimer::NotificationTimeout);
    p.run(3);
    let leader = p.leaders()[0];
    assert_ensemble(&p, leader, &[1, 2, 3], 1, &[]);
}

/// No server accepts the last epoch, so a FOLLOWERINFO claiming it is refused: the
/// learner is not registered and the leader waits for the real ones.
#[test]
fn a_followerinfo_of_the_last_epoch_is_refused() {
    let mut p = in_discovery();
    p.step(3, msg(2, follower_info(u32::MAX)));
    match &p.node(3).phase {
        Phase::Leading(l) => assert!(l.learners.is_empty() && l.new_epoch.is_none()),
        _ => panic!("3 still leads"),
    }
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &[]);
}

/// A DIFF, TRUNC or SNAP of epoch 1 carrying a proposal of epoch 2 was logged: the
/// learner then held a zxid of an epoch it never accepted (of `u32::MAX`, one it never
/// could), above every zxid a leader of its epoch may follow with its own proposals.
#[test]
fn a_sync_carrying_a_proposal_of_a_later_epoch_is_refused() {
    for forged in [txn(2, 1), txn(u32::MAX, 1)] {
        let bodies = [
            PeerMessage::Diff {
                epoch: 1,
                txns: vec![forged.clone()],
            },
            PeerMessage::Trunc {
                epoch: 1,
                truncate_to: Zxid::ZERO,
                txns: vec![forged.clone()],
            },
            PeerMessage::Snap {
                epoch: 1,
                last_index: 1,
                last_zxid: forged.zxid,
                size: 0,
                offset: 0,
                data: bytes::Bytes::new(),
                done: true,
            },
        ];
        for body in bodies {
            let mut p = rejoining();
            let to_1 = |(_, to, m): &Wire<Zab>| *to == 1 && m.body().is_some();
            p.deliver_one(to_1); // LEADERINFO: 1 accepts epoch 1, waits for the sync
            let out = p.step(1, in_session(&p, 1, body));
            assert!(p.node(1).history().txns.is_empty(), "nothing logged");
            assert!(!out.iter().any(|e| matches!(e, Effect::Persist(_))));
            assert_eq!(p.state(1), (Looking, None), "the session ends");
        }
    }
}
