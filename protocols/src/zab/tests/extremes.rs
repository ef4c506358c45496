//! Random peer messages with extreme field values (issue 23): `step` must neither panic
//! (the test build checks overflow) nor let an epoch, a round or a delivered index wrap
//! or go back, and must never adopt an epoch or round at the maximum.
//!
//! A server of voters 1..=3 and observer 4 is built in one of several states (a lone
//! LOOKING server; the leader, a follower or the observer of an ensemble elected
//! through the pump; a leader in Discovery; a follower rejoining at each step of its
//! handshake; a server recovered from records; the leader of the last epoch there is),
//! then fed random inputs (`forge.rs`): notifications and every learner message from
//! any sender (members, unknown ids, itself), with epochs, zxid halves, rounds,
//! sessions, sequence numbers and counts drawn from {0, 1, 2, max-1, max, random,
//! small}, mostly in the session of its leader or learner and with the epoch it
//! expects so that they get past the session checks; timers, client commands,
//! durability reports, lost peers, and some of the cluster's own traffic. After every
//! input the invariants below are checked; the pump checks that every server applies
//! in index order. `PROPTEST_CASES` raises the number of cases.

use super::forge::{act, resolve, Act};
use super::*;
use crate::describe::Describe;
use crate::node::Effects;
use proptest::prelude::*;

const OBSERVER: NodeId = 4;

/// The states the server under test starts in.
#[derive(Clone, Copy, Debug)]
enum Start {
    Looking,
    Leader,
    Follower,
    Observer,
    Recovered,
    /// The leader of epoch `u32::MAX - 1`, the last one there is.
    LastEpoch,
    /// The leader elected by FLE, in Discovery: no FOLLOWERINFO delivered yet.
    Discovery,
    /// Follower 1 rejoining the leader after a restart, with the first `n` learner
    /// messages of its leader delivered (0: it waits for LEADERINFO, 1: for the
    /// DIFF, 2: for NEWLEADER, 3: for UPTODATE).
    Joining(usize),
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        Just(Start::Looking),
        Just(Start::Leader),
        Just(Start::Follower),
        Just(Start::Observer),
        Just(Start::Recovered),
        Just(Start::LastEpoch),
        Just(Start::Discovery),
        (0usize..4).prop_map(Start::Joining),
    ]
}

/// Delivers every message `pick` selects and lets finalize waits expire, until quiet.
pub(super) fn settle_while(p: &mut Pump<Zab>, pick: impl Fn(&Wire<Zab>) -> bool) {
    loop {
        p.deliver_while(&pick);
        if !p.fire_all(ZabTimer::FinalizeWait) {
            break;
        }
    }
}

/// The ensemble and the id of the server under test.
fn build(start: Start) -> (Pump<Zab>, NodeId) {
    let mut p = pump(&[1, 2, 3], &[OBSERVER]);
    match start {
        Start::Looking => {
            p.start(1);
            (p, 1)
        }
        Start::Leader | Start::Follower | Start::Observer => {
            p.start_all();
            p.run(3);
            p.write(3, "a");
            p.write(1, "b");
            p.run(1);
            let target = match start {
                Start::Leader => 3,
                Start::Follower => 1,
                _ => OBSERVER,
            };
            (p, target)
        }
        Start::Recovered => {
            p.preload(1, 3);
            p.disks.entry(1).or_default().extend([
                ZabRecord::AcceptedEpoch(2),
                ZabRecord::Proposal(txn(1, 4)),
                ZabRecord::Proposal(txn(1, 5)),
            ]);
            p.start(1);
            (p, 1)
        }
        Start::LastEpoch => {
            let epoch = u32::MAX - 2;
            for id in [1, 2, 3] {
                p.disks.insert(
                    id,
                    vec![
                        ZabRecord::AcceptedEpoch(epoch),
                        ZabRecord::CurrentEpoch(epoch),
                        ZabRecord::Proposal(txn(epoch, Zxid::MAX_COUNTER - 1)),
                    ],
                );
            }
            p.start_all();
            p.run(3);
            p.write(3, "a");
            p.run(1);
            (p, 3)
        }
        Start::Discovery => {
            p.start_all();
            settle_while(&mut p, |(_, _, m)| m.body().is_none());
            (p, 3)
        }
        Start::Joining(n) => {
            p.start_all();
            p.run(3);
            p.write(3, "a");
            p.run(1);
            p.restart(1);
            let to_1 = |(_, to, m): &Wire<Zab>| *to == 1 && m.body().is_some();
            settle_while(&mut p, |w| !to_1(w));
            for _ in 0..n {
                p.deliver_one(to_1);
            }
            (p, 1)
        }
    }
}

/// What must never go back, observed before an input.
#[derive(Clone, Copy, Debug)]
struct Before {
    accepted: u32,
    current: u32,
    round: u64,
    looking: bool,
    delivered: usize,
}

fn before(z: &Zab) -> Before {
    let h = z.history();
    Before {
        accepted: h.accepted_epoch,
        current: h.current_epoch,
        round: z.election_round(),
        looking: z.server_state() == Looking,
        delivered: h.delivered,
    }
}

/// The server's state after an input, against the state before it.
fn check_state(z: &Zab, b: Before) -> Result<(), TestCaseError> {
    let h = z.history();
    prop_assert!(h.accepted_epoch >= b.accepted, "accepted epoch went back");
    prop_assert!(h.current_epoch >= b.current, "current epoch went back");
    prop_assert!(h.accepted_epoch < u32::MAX, "adopted the last epoch");
    prop_assert!(h.current_epoch <= h.accepted_epoch);
    // A latecomer adopts the round of the ensemble it joins, which may be older
    // (`FastLeaderElection.lookForLeader`: `logicalclock.set(n.electionEpoch)`); no
    // other step moves the round back.
    let joined = b.looking && z.server_state() != Looking;
    prop_assert!(
        z.election_round() >= b.round || joined,
        "election round went back"
    );
    prop_assert!(z.election_round() < u64::MAX, "adopted the last round");
    prop_assert!(h.delivered >= b.delivered, "delivered prefix went back");
    prop_assert!(h.base <= h.delivered && h.delivered <= h.len());
    prop_assert!(
        h.txns.windows(2).all(|w| w[0].zxid < w[1].zxid),
        "history out of order"
    );
    prop_assert!(
        h.last_zxid().epoch() <= h.accepted_epoch,
        "logged {} beyond accepted epoch {}",
        h.last_zxid(),
        h.accepted_epoch
    );
    let (_, term) = z.role_term();
    prop_assert!(term < u64::from(u32::MAX));
    Ok(())
}

/// The epoch a learner-protocol message carries, if any.
fn epoch_of(body: &PeerMessage) -> Option<u32> {
    match body {
        PeerMessage::FollowerInfo { accepted_epoch }
        | PeerMessage::ObserverInfo { accepted_epoch } => Some(*accepted_epoch),
        PeerMessage::LeaderInfo { new_epoch } => Some(*new_epoch),
        PeerMessage::Diff { epoch, .. }
        | PeerMessage::Trunc { epoch, .. }
        | PeerMessage::Snap { epoch, .. }
        | PeerMessage::NewLeader { epoch }
        | PeerMessage::UpToDate { epoch, .. }
        | PeerMessage::Ping { epoch } => Some(*epoch),
        PeerMessage::Ack { zxid } => Some(zxid.epoch()),
        PeerMessage::AckEpoch { .. }
        | PeerMessage::Proposal { .. }
        | PeerMessage::Commit { .. }
        | PeerMessage::Inform { .. }
        | PeerMessage::Request { .. }
        | PeerMessage::Sync { .. }
        | PeerMessage::SnapAck { .. } => None,
        PeerMessage::SyncReply { zxid, .. } => Some(zxid.epoch()),
    }
}

/// A message the server sent, against its state before the input (`round`: its
/// round after it).
fn check_sent(msg: &ZabMessage, b: Before, round: u64) -> Result<(), TestCaseError> {
    Zab::describe(msg, &|c| format!("{c:?}"));
    match msg {
        ZabMessage::Notification(n) => {
            prop_assert!(
                n.round >= b.round || n.round == round,
                "notification of an older round"
            );
            prop_assert!(n.round < u64::MAX);
            prop_assert!(n.vote.peer_epoch < u32::MAX);
        }
        ZabMessage::Peer { body, .. } => {
            if let Some(e) = epoch_of(body) {
                let kind = body.kind();
                prop_assert!(e >= b.current, "{kind} of epoch {e} < {}", b.current);
                prop_assert!(e < u32::MAX, "{kind} of the last epoch");
            }
        }
        ZabMessage::Handoff(h) => {
            prop_assert!(h.epoch == b.current, "HANDOFF of another epoch");
            prop_assert!(h.designated.peer_epoch < u32::MAX);
        }
    }
    Ok(())
}

/// What the server emitted for an input, against its state before it.
fn check_effects(out: &Effects<Zab>, b: Before, round: u64) -> Result<(), TestCaseError> {
    let mut applied = b.delivered as u64;
    for effect in out {
        match effect {
            Effect::Send { msg, .. } | Effect::SendAhead { msg, .. } => check_sent(msg, b, round)?,
            Effect::Apply { index, .. } => {
                prop_assert_eq!(*index, applied + 1, "Apply indexes are consecutive");
                applied = *index;
            }
            Effect::Event(
                Event::RoleChanged { term, .. }
                | Event::LeaderElected { term }
                | Event::LeaderReady { term },
            ) => {
                prop_assert!(*term >= u64::from(b.current), "event of an older epoch");
                prop_assert!(*term < u64::from(u32::MAX));
            }
            Effect::Event(Event::Committed { index }) => prop_assert_eq!(*index, applied),
            _ => {}
        }
    }
    Ok(())
}

/// Runs `acts` against a server built in state `start`.
fn run(start: Start, acts: Vec<(Act, bool)>) -> Result<(), TestCaseError> {
    let (mut p, target) = build(start);
    for (act, ends_batch) in acts {
        let b = before(p.node(target));
        let mut out = Vec::new();
        match resolve(p.node(target), act.clone()) {
            Some(input) => {
                if let Input::Message { msg, .. } = &input {
                    Zab::describe(msg, &|c| format!("{c:?}"));
                }
                out.extend(p.step_in_batch(target, input));
                if ends_batch {
                    out.extend(p.end_batch(target));
                }
            }
            None => {
                let Act::Deliver(n) = act else { continue };
                for _ in 0..n {
                    // Only the effects of fuzzed inputs are checked; the pump checks
                    // that every server applies in order.
                    if !p.deliver_one(|_| true) {
                        break;
                    }
                }
            }
        }
        check_effects(&out, b, p.node(target).election_round())?;
        check_state(p.node(target), b)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::pump::proptest_config(512))]
    #[test]
    fn step_neither_panics_nor_wraps_an_epoch_or_round(
        start in start(),
        acts in prop::collection::vec((act(), any::<bool>()), 1..48),
    ) {
        run(start, acts)?;
    }
}
