//! Log compaction and InstallSnapshot (Raft §7, the extended paper's Figure 13) on a
//! whole three-node cluster in the pump, whose hosts store each image as the applied
//! sequence it stands for, so that an installed image is checked entry by entry.

use super::*;
use crate::effect::Event;

/// Three voters taking a snapshot every `every` applied entries; node 1 leads term 1.
fn cluster(every: u64) -> Pump<Raft> {
    let timing = Timing {
        snapshot_every: every,
        ..paper()
    };
    let mut p = Pump::new(Membership::voters(1..=3))
        .timing(timing)
        .narrate(true);
    p.start_all();
    p.fire(1, RaftTimer::Election);
    p.deliver_all();
    assert_eq!(p.leaders(), [1]);
    p
}

/// Writes `names` at node 1, delivering and heartbeating after each so that every
/// reachable node applies it.
fn commit(p: &mut Pump<Raft>, names: &[String]) {
    for name in names {
        p.write(1, name);
        p.deliver_all();
        p.fire(1, RaftTimer::Heartbeat);
        p.deliver_all();
    }
}

fn names(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("w{i}")).collect()
}

fn kinds(p: &Pump<Raft>, from: NodeId, to: NodeId) -> Vec<&'static str> {
    p.delivered
        .iter()
        .filter(|(f, t, _)| (*f, *t) == (from, to))
        .map(|(_, _, m)| Raft::message_kind(m))
        .collect()
}

#[test]
fn snapshots_every_n_applied_entries_and_keeps_one_interval_of_log() {
    let mut p = cluster(4);
    // The no-op (index 1) and 10 writes: snapshots at 4 and 8 on every node.
    commit(&mut p, &names(1..=10));
    for id in 1..=3 {
        let taken: Vec<u64> = p.snapshots[&id].iter().map(|s| s.index).collect();
        assert_eq!(taken, [4, 8], "node {id}");
        // The log is compacted to the snapshot before the newest.
        assert_eq!(p.node(id).log().start(), 4, "node {id}");
        assert_eq!(p.node(id).log().last_index(), 11, "node {id}");
        // The disk was rewritten from that start: a base, then the entries kept.
        let disk = &p.disks[&id];
        assert!(
            matches!(
                disk[0],
                RaftRecord::Base {
                    start: 4,
                    start_term: 1,
                    term: 1,
                    ..
                }
            ),
            "node {id}: {:?}",
            disk[0]
        );
    }
    // Compaction changed nothing that was applied.
    assert_eq!(p.applied_data(2), names(1..=10));
}

#[test]
fn a_restarted_node_starts_from_its_newest_snapshot_and_the_log_after_it() {
    let mut p = cluster(4);
    commit(&mut p, &names(1..=10));
    p.restart(2);
    // Applied state comes back from the image, not by replaying from index 1.
    assert_eq!(p.applied_data(2), names(1..=7), "the image at index 8");
    assert_eq!(p.node(2).log().start(), 4);
    // The leader's next heartbeat commits the rest again.
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    assert_eq!(p.applied_data(2), names(1..=10));
}

#[test]
fn a_restarted_node_whose_newest_snapshot_is_refused_uses_the_one_before() {
    let mut p = cluster(4);
    commit(&mut p, &names(1..=10));
    // The newest image is lost (a host drops one whose checksum fails): the previous
    // one, at the log's start, and the log after it still rebuild the node.
    p.snapshots.get_mut(&2).map(Vec::pop);
    p.restart(2);
    assert_eq!(p.applied_data(2), names(1..=3), "the image at index 4");
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    assert_eq!(p.applied_data(2), names(1..=10));
}

#[test]
fn a_partitioned_follower_catches_up_by_install_snapshot() {
    let mut p = cluster(4);
    commit(&mut p, &names(1..=2));
    p.partition(&[3]);
    commit(&mut p, &names(3..=20));
    assert!(p.node(1).log().start() > p.node(3).log().last_index());
    p.heal();
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    // The image sent during the partition was lost; heartbeats keep the follower from
    // campaigning meanwhile, and their refusals are ignored until the longest election
    // timeout has passed and it is sent again.
    assert!(!kinds(&p, 1, 3).contains(&"InstallSnapshot"));
    p.advance(std::time::Duration::from_millis(300));
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    // Figure 13: the leader sent its newest image (in one chunk: the pump's images are
    // far smaller than the default chunk), the follower installed it.
    assert!(
        kinds(&p, 1, 3).contains(&"InstallSnapshot"),
        "{:?}",
        kinds(&p, 1, 3)
    );
    assert!(kinds(&p, 3, 1).contains(&"InstallSnapshotResponse"));
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    assert_eq!(p.applied_data(3), names(1..=20));
    assert_eq!(p.node(3).log().last_index(), p.node(1).log().last_index());
    assert!(p
        .narration(3)
        .iter()
        .any(|l| l.contains("installs 1's snapshot")));
    // Its disk starts at the image, so a restart comes back from it.
    p.restart(3);
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    assert_eq!(p.applied_data(3), names(1..=20));
}

#[test]
fn install_snapshot_receiver_rules() {
    let mut p = cluster(4);
    commit(&mut p, &names(1..=10));
    let image = p.snapshots[&1].last().cloned().expect("a snapshot");
    let whole = |term| RaftMessage::InstallSnapshot {
        term,
        last_index: image.index,
        last_term: image.term,
        size: image.data.len() as u64,
        offset: 0,
        data: image.data.clone(),
        done: true,
    };
    // Rule 1: a stale term is refused with ours.
    let out = p.step(
        2,
        Input::Message {
            from: 1,
            msg: whole(0),
        },
    );
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Send {
            to: 1,
            msg: RaftMessage::InstallSnapshotResponse {
                term: 1,
                last_index: 0,
                done: false,
                ..
            }
        }
    )));
    // An image already applied is acknowledged, not installed.
    let out = p.step(
        2,
        Input::Message {
            from: 1,
            msg: whole(1),
        },
    );
    assert!(!out.iter().any(|e| matches!(e, Effect::InstallSnapshot(_))));
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Send {
            msg: RaftMessage::InstallSnapshotResponse {
                last_index: 8,
                done: true,
                ..
            },
            ..
        }
    )));
    assert_eq!(p.node(2).log().last_index(), 11, "its log is untouched");
    // No event besides narration came of it.
    assert!(out
        .iter()
        .all(|e| !matches!(e, Effect::Event(Event::LeaderElected { .. }))));
}

#[test]
fn recovery_reads_a_base_and_the_entries_after_it() {
    let entry = |term| Entry {
        term,
        command: None,
    };
    let mut one = node(
        1,
        3,
        vec![
            RaftRecord::HardState {
                term: 1,
                voted_for: Some(1),
            },
            RaftRecord::Base {
                start: 6,
                start_term: 2,
                term: 3,
                voted_for: Some(2),
            },
            RaftRecord::Entries {
                first_index: 7,
                entries: vec![entry(3), entry(3)],
            },
            // A record from before the base may overlap it: kept from the start on.
            RaftRecord::Entries {
                first_index: 5,
                entries: vec![entry(2), entry(2), entry(3), entry(4)],
            },
        ],
    );
    start(&mut one);
    let r = one.pump.node(1);
    assert_eq!((r.term(), r.log().start(), r.log().last_index()), (3, 6, 8));
    assert_eq!(r.log().term_at(8), Some(4));
    assert_eq!(r.log_start(), 6);
}
