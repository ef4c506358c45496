//! Snapshots, slot truncation and catch-up from a snapshot (`snapshot.rs`) on a whole
//! three-node cluster in the pump, whose hosts store each image as the applied
//! sequence it stands for, so that an installed or restored image is checked slot by
//! slot.

use super::*;
use crate::describe::Describe;
use crate::effect::Effect;

/// Three voters snapshotting every `every` applied slots, in pieces of `chunk` bytes;
/// node 1 leads.
fn cluster(every: u64, chunk: u64) -> Pump<Paxos> {
    let timing = Timing {
        snapshot_every: every,
        snapshot_chunk_bytes: chunk,
        ..Timing::default()
    };
    let mut p = Pump::new(Membership::voters(1..=3))
        .seed(11)
        .timing(timing)
        .narrate(true);
    p.start_all();
    p.elect(1);
    assert_eq!(p.leaders(), [1]);
    p
}

/// Writes `names` at node 1, each delivered and heartbeated so every reachable node
/// applies it.
fn commit(p: &mut Pump<Paxos>, names: &[String]) {
    for name in names {
        p.write(1, name);
        p.deliver_all();
        p.heartbeat();
    }
}

fn names(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("w{i}")).collect()
}

fn delivered_to(p: &Pump<Paxos>, to: NodeId, kind: &str) -> usize {
    p.delivered
        .iter()
        .filter(|(_, t, m)| *t == to && m.kind() == kind)
        .count()
}

#[test]
fn snapshots_every_n_applied_slots_and_keeps_one_interval_of_slots() {
    let mut p = cluster(4, 1 << 20);
    commit(&mut p, &names(1..=10));
    for id in 1..=3 {
        let taken: Vec<u64> = p.snapshots[&id].iter().map(|s| s.index).collect();
        assert_eq!(taken, [4, 8], "node {id}");
        let node = p.node(id);
        assert_eq!(node.compacted_through(), 4, "node {id}");
        assert_eq!(node.chosen(4), None, "slot 4 is compacted on node {id}");
        assert!(node.chosen(5).is_some(), "slot 5 is kept on node {id}");
        assert_eq!(node.log_start(), 4);
        // The disk was rewritten from that start: a base, then the kept slots.
        let disk = &p.disks[&id];
        assert!(
            matches!(disk[0], PaxosRecord::Base { start: 4, .. }),
            "node {id}: {:?}",
            disk[0]
        );
        assert!(
            matches!(&disk[1], PaxosRecord::Committed { upto: 8, values } if values.len() == 4),
            "node {id}: {:?}",
            disk[1]
        );
    }
    assert_eq!(p.applied_data(2), names(1..=10));
}

#[test]
fn a_restarted_node_starts_from_its_newest_snapshot_or_the_one_before() {
    let mut p = cluster(4, 1 << 20);
    commit(&mut p, &names(1..=10));
    p.restart(2);
    assert_eq!(p.node(2).snapshot().map(|s| s.index), Some(8));
    assert_eq!(p.applied_data(2), names(1..=8), "the image");
    // Slots 9 and 10 were accepted here; the leader's commit point says they are chosen.
    p.heartbeat();
    assert_eq!(
        p.applied_data(2),
        names(1..=10),
        "the image and slots 9..=10"
    );
    // The newest image is unusable (as a damaged file is skipped by the hosts): the
    // one before it and the interval of slots kept after it rebuild the same state.
    p.crash(2);
    p.snapshots.get_mut(&2).map(Vec::pop);
    p.start(2);
    // Restored from 4, it applied 5..=8 from its log and snapshotted at 8 again.
    let taken: Vec<u64> = p.snapshots[&2].iter().map(|s| s.index).collect();
    assert_eq!(taken, [4, 8]);
    assert_eq!(
        p.applied_data(2),
        names(1..=8),
        "the image and slots 5..=8 from the log"
    );
    p.heartbeat();
    assert_eq!(p.applied_data(2), names(1..=10));
    // An image older than the log's start does not fit.
    let old = crate::Snapshot {
        index: 2,
        term: 0,
        data: bytes::Bytes::from_static(b"x"),
    };
    assert!(p.node_mut(2).restore_snapshot(&old).is_err());
    // It keeps committing.
    commit(&mut p, &names(11..=12));
    assert_eq!(p.applied_data(2), names(1..=12));
}

#[test]
fn a_lagging_node_catches_up_through_a_snapshot_in_pieces() {
    let mut p = cluster(4, 5);
    p.crash(3);
    commit(&mut p, &names(1..=13));
    assert_eq!(p.node(1).compacted_through(), 8);
    p.start(3);
    p.heartbeat();
    // Node 3 asked for slot 1, compacted on the leader: it was offered the image
    // through 12 ("image of node 1 at 12", 22 bytes) and pulled it in 5-byte pieces.
    assert_eq!(p.applied_data(3), names(1..=13));
    assert_eq!(p.node(3).snapshot().map(|s| s.index), Some(12));
    assert_eq!(p.node(3).compacted_through(), 12);
    let pieces = delivered_to(&p, 3, "SnapshotChunk");
    assert_eq!(pieces, 1 + 5, "the offer and 5 pieces of 22 bytes");
    assert_eq!(delivered_to(&p, 1, "SnapshotPull"), 5);
    assert!(matches!(
        p.disks[&3][0],
        PaxosRecord::Base { start: 12, .. }
    ));
    // It restarts from the installed image, and keeps up.
    p.restart(3);
    commit(&mut p, &names(14..=15));
    assert_eq!(p.applied_data(3), names(1..=15));
}

#[test]
fn a_receiver_takes_pieces_only_at_the_expected_offset_and_restarts_on_a_newer_image() {
    let mut p = started(3, false);
    let chunk = |index, offset, data: &'static [u8], done| PaxosMessage::SnapshotChunk {
        index,
        term: 0,
        offset,
        data: bytes::Bytes::from_static(data),
        done,
    };
    let step = |p: &mut Pump<Paxos>, from, msg| p.step(2, Input::Message { from, msg });
    // A piece in the middle of a transfer never started is ignored.
    assert!(step(&mut p, 1, chunk(9, 3, b"abc", false)).is_empty());
    // The offer starts it: pull from 0.
    let out = step(&mut p, 1, chunk(9, 0, b"", false));
    assert!(out.contains(&Effect::Send {
        to: 1,
        msg: PaxosMessage::SnapshotPull {
            index: 9,
            offset: 0
        }
    }));
    step(&mut p, 1, chunk(9, 0, b"abc", false));
    // A duplicate, a gap and another node's piece of the same image are ignored.
    assert!(step(&mut p, 1, chunk(9, 0, b"abc", false)).is_empty());
    assert!(step(&mut p, 1, chunk(9, 6, b"ghi", false)).is_empty());
    assert!(step(&mut p, 3, chunk(9, 3, b"def", false)).is_empty());
    assert_eq!(p.node(2).receiving().map(|r| r.data.len()), Some(3));
    // An older image's offer, and another node's offer of the same image, are
    // ignored; a newer one starts over.
    assert!(step(&mut p, 3, chunk(5, 0, b"", false)).is_empty());
    assert!(step(&mut p, 3, chunk(9, 0, b"", false)).is_empty());
    step(&mut p, 3, chunk(11, 0, b"", false));
    let r = p.node(2).receiving().expect("receiving");
    assert_eq!((r.from, r.index, r.data.len()), (3, 11, 0));
    // The leader-less node keeps no transfer for slots it already holds.
    assert!(p.node(2).snapshot().is_none());
}

#[test]
fn a_prepare_from_before_the_compacted_slots_is_not_promised_but_offered_the_snapshot() {
    let mut p = cluster(4, 1 << 20);
    commit(&mut p, &names(1..=10));
    let prepare = PaxosMessage::Prepare {
        ballot: Ballot::new(9, 3),
        era_from: 1,
        slot_from: 3,
    };
    let out = p.step(
        2,
        Input::Message {
            from: 3,
            msg: prepare,
        },
    );
    let sent: Vec<&PaxosMessage> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Send { msg, .. } => Some(msg),
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            sent.as_slice(),
            [PaxosMessage::SnapshotChunk {
                index: 8,
                offset: 0,
                done: false,
                ..
            }]
        ),
        "{sent:?}"
    );
    assert!(p.node(2).vote().is_none_or(|v| !v.contains("9.3")));
}

#[test]
fn accepts_for_compacted_slots_are_acknowledged_without_being_stored() {
    let mut p = cluster(4, 1 << 20);
    commit(&mut p, &names(1..=10));
    let ballot = p.node(1).own_ballot().expect("node 1 leads");
    let out = p.step(
        2,
        Input::Message {
            from: 1,
            msg: PaxosMessage::Accept {
                ballot,
                era: None,
                slots: vec![(2, Some(cmd(1, 2)))],
                commit: 10,
            },
        },
    );
    assert!(out.iter().all(|e| !matches!(e, Effect::Persist(_))));
    assert!(out.contains(&Effect::Send {
        to: 1,
        msg: PaxosMessage::Accepted {
            ballot,
            era: None,
            slots: vec![2]
        }
    }));
}

#[test]
fn a_pull_past_the_image_is_ignored_and_an_old_pull_gets_the_newer_offer() {
    let mut p = cluster(4, 1 << 20);
    commit(&mut p, &names(1..=10));
    let pull = |index, offset| Input::Message {
        from: 3,
        msg: PaxosMessage::SnapshotPull { index, offset },
    };
    let sends = |out: Effects<Paxos>| -> Vec<PaxosMessage> {
        out.into_iter()
            .filter_map(|e| match e {
                Effect::Send { msg, .. } => Some(msg),
                _ => None,
            })
            .collect()
    };
    assert!(sends(p.step(1, pull(8, u64::MAX))).is_empty());
    assert!(matches!(
        sends(p.step(1, pull(4, 0))).as_slice(),
        [PaxosMessage::SnapshotChunk {
            index: 8,
            offset: 0,
            ..
        }]
    ));
    let whole = sends(p.step(1, pull(8, 0)));
    assert!(
        matches!(whole.as_slice(), [PaxosMessage::SnapshotChunk { index: 8, offset: 0, done: true, data, .. }] if !data.is_empty()),
        "{whole:?}"
    );
}

#[test]
fn base_records_replay_to_the_same_state() {
    let mut p = cluster(4, 1 << 20);
    commit(&mut p, &names(1..=10));
    let node = p.node(2);
    let records = persist::base_records(&node.acceptor, &node.learner);
    let (acceptor, learner) = persist::replay(&records).expect("replays");
    assert_eq!(learner.start(), node.learner.start());
    assert_eq!(learner.commit(), node.learner.commit());
    assert_eq!(learner.era(), node.learner.era());
    assert_eq!(acceptor.promised(), node.acceptor.promised());
    for slot in 5..=10 {
        assert_eq!(learner.chosen(slot), node.learner.chosen(slot));
    }
}
