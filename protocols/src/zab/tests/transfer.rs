//! A planned hand-over (`transfer.rs`): the leader steps down for a designated
//! follower, which FastLeaderElection then agrees on in one round.

use super::*;
use crate::effect::ClientError;

/// Three voters; 3 leads epoch 1 (highest sid) and "a" is delivered everywhere.
fn ensemble() -> Pump<Zab> {
    let mut p = pump(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    p.write(3, "a");
    p.run(1);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &["a"]);
    p
}

#[test]
fn an_up_to_date_follower_is_elected_although_another_has_a_higher_sid() {
    let mut p = ensemble();
    p.step(3, Input::TransferLeadership { to: 1 });
    p.run(3);
    // Without the designated vote FLE would pick 3 again (same zxid, highest sid).
    assert_ensemble(&p, 1, &[1, 2, 3], 2, &["a"]);
    assert!(p
        .delivered
        .iter()
        .any(|(f, _, m)| *f == 3 && m.kind() == "HANDOFF"));
    p.write(1, "b");
    p.run(1);
    assert_ensemble(&p, 1, &[1, 2, 3], 2, &["a", "b"]);
}

#[test]
fn a_lagging_follower_acknowledges_everything_before_the_leader_steps_down() {
    let mut p = ensemble();
    p.write(3, "b");
    p.write(3, "c");
    // 1 has not seen the PROPOSALs yet; 2 has, and acknowledges.
    p.deliver_while(|(_, to, _)| *to != 1);
    p.step(3, Input::TransferLeadership { to: 1 });
    assert_eq!(p.state(3).0, Leading, "3 waits for 1's ACK");
    p.run(3);
    assert_ensemble(&p, 1, &[1, 2, 3], 2, &["a", "b", "c"]);
}

#[test]
fn commands_are_refused_during_the_hand_over_which_is_aborted_after_sync_limit() {
    let mut p = ensemble();
    // 1 hears nothing more: it cannot acknowledge the PROPOSAL below.
    p.write(3, "b");
    p.drop_if = Box::new(|(_, to, _)| *to == 1);
    p.deliver_all();
    p.step(3, Input::TransferLeadership { to: 1 });
    let refused = p.write(3, "x");
    let refusal = p.rejected.iter().find(|(_, id, _)| *id == refused);
    assert_eq!(
        refusal.map(|(_, _, e)| e.clone()),
        Some(ClientError::NotLeader { leader: Some(1) })
    );
    let sync_limit = p.node(3).timing().sync_limit as usize;
    p.run(sync_limit + 2);
    assert_eq!(p.state(3).0, Leading, "3 still leads (2 follows it)");
    assert!(p
        .narration(3)
        .iter()
        .any(|l| l.contains("abort the hand-over to 1")));
    p.write(3, "y");
    p.run(1);
    assert_eq!(p.applied_data(2), ["a", "b", "y"]);
}

#[test]
fn a_handoff_from_a_server_that_is_not_our_leader_is_ignored() {
    let mut p = ensemble();
    let forged = ZabMessage::Handoff(Handoff {
        epoch: 1,
        designated: Vote {
            leader: 2,
            zxid: Zxid::new(1, 1),
            peer_epoch: 1,
        },
    });
    p.step(
        1,
        Input::Message {
            from: 2,
            msg: forged,
        },
    );
    p.run(1);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &["a"]);
}
