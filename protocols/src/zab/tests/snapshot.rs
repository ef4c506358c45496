//! Snapshots of the delivered state (`snapshot.rs`) on a whole ensemble in the pump,
//! whose hosts store each image as the applied sequence it stands for.

use super::*;
use crate::Timing;

/// Three voters snapshotting every `every` delivered transactions; 3 leads epoch 1.
fn ensemble(every: u64) -> Pump<Zab> {
    let mut p = pump(&[1, 2, 3], &[]).timing(Timing {
        snapshot_every: every,
        ..Timing::default()
    });
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    p
}

fn names(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("w{i}")).collect()
}

fn commit(p: &mut Pump<Zab>, names: &[String]) {
    for name in names {
        p.write(3, name);
        p.run(1);
    }
}

#[test]
fn every_server_snapshots_every_n_delivered_transactions() {
    let mut p = ensemble(4);
    commit(&mut p, &names(1..=10));
    for id in [1, 2, 3] {
        assert_eq!(p.applied_data(id), names(1..=10), "server {id}");
        let taken: Vec<(u64, u64)> = p.snapshots[&id].iter().map(|s| (s.index, s.term)).collect();
        // The term is the whole zxid of the image's last transaction.
        assert_eq!(
            taken,
            [(4, Zxid::new(1, 4).0), (8, Zxid::new(1, 8).0)],
            "server {id}"
        );
    }
}

#[test]
fn a_restarted_server_starts_from_its_newest_snapshot() {
    let mut p = ensemble(4);
    commit(&mut p, &names(1..=10));
    p.restart(1);
    // The image through 8 is restored; nothing up to it is applied again, and the
    // history holds it, so it counts as delivered.
    assert_eq!(p.applied_data(1), names(1..=8));
    assert_eq!(p.node(1).history().delivered, 8);
    p.run(2);
    assert_ensemble(
        &p,
        3,
        &[1, 2, 3],
        1,
        &names(1..=10).iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

#[test]
fn an_image_the_history_does_not_hold_is_refused_and_the_one_before_used() {
    let mut p = ensemble(4);
    commit(&mut p, &names(1..=10));
    // Forge a newest image that claims another zxid at index 8: refused.
    let mut forged = p.snapshots[&1][1].clone();
    forged.term = Zxid::new(2, 1).0;
    if let Some(files) = p.snapshots.get_mut(&1) {
        files.push(forged);
    }
    p.restart(1);
    assert_eq!(p.applied_data(1), names(1..=8), "the genuine image at 8");
    // Only the image at 4 left: restored from it, the rest comes after sync.
    if let Some(files) = p.snapshots.get_mut(&1) {
        files.truncate(1);
    }
    p.restart(1);
    assert_eq!(p.applied_data(1), names(1..=4));
    p.run(2);
    assert_eq!(p.applied_data(1), names(1..=10));
    // An image past the end of the history is refused too.
    let mut z = Zab::recover(
        Setup {
            id: 1,
            membership: Membership::voters(1..=3),
            timing: Timing::default(),
            rng: crate::DetRng::new(1),
            narrate: false,
        },
        vec![ZabRecord::AcceptedEpoch(1), ZabRecord::Proposal(txn(1, 1))],
    )
    .expect("recovered");
    let past = crate::Snapshot {
        index: 2,
        term: Zxid::new(1, 2).0,
        data: bytes::Bytes::new(),
    };
    assert!(z.restore_snapshot(&past).is_err());
    let at_one = crate::Snapshot {
        index: 1,
        term: Zxid::new(1, 1).0,
        data: bytes::Bytes::new(),
    };
    assert!(z.restore_snapshot(&at_one).is_ok());
    assert_eq!(z.history().delivered, 1);
}

/// Three voters snapshotting every `every` transactions and sending SNAP images in
/// chunks of `chunk` bytes; 3 leads epoch 1.
fn chunked_ensemble(every: u64, chunk: u64) -> Pump<Zab> {
    let mut p = pump(&[1, 2, 3], &[]).timing(Timing {
        snapshot_every: every,
        snapshot_chunk_bytes: chunk,
        ..Timing::default()
    });
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    p
}

fn strs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

#[test]
fn compaction_keeps_global_positions_and_bounds_the_log() {
    let mut p = ensemble(4);
    commit(&mut p, &names(1..=18));
    for id in [1, 2, 3] {
        assert_eq!(p.applied_data(id), names(1..=18), "server {id}");
        let h = p.node(id).history();
        // Images at 4, 8, 12 and 16: the history keeps one interval behind the newest.
        assert_eq!((h.base, h.len(), h.delivered), (12, 18, 18), "server {id}");
        assert_eq!(h.base_zxid, Zxid::new(1, 12));
        assert_eq!(
            h.get(13).map(|t| t.command.data.clone()),
            Some("w13".into())
        );
        assert_eq!(h.get(12), None, "compacted");
        assert_eq!(p.node(id).log_start(), 12);
        // The log was rewritten from the base: epochs, base, then the 6 proposals.
        let disk = &p.disks[&id];
        assert!(
            matches!(
                disk.as_slice(),
                [
                    ZabRecord::AcceptedEpoch(1),
                    ZabRecord::CurrentEpoch(1),
                    ZabRecord::Base { index: 12, .. },
                    ..
                ]
            ),
            "server {id}: {disk:?}"
        );
        assert_eq!(disk.len(), 3 + 6, "server {id}");
    }
    // Delivery goes on at the global index after compaction.
    commit(&mut p, &names(19..=19));
    assert!(p
        .events_of(1)
        .contains(&crate::Event::Committed { index: 19 }));
}

#[test]
fn a_learner_below_the_compaction_point_gets_snap_from_the_image_in_chunks() {
    let mut p = chunked_ensemble(4, 8);
    commit(&mut p, &names(1..=1));
    p.crash(1);
    commit(&mut p, &names(2..=18));
    assert_eq!(p.node(3).history().base, 12);
    p.start(1);
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &strs(&names(1..=18)));
    // The image through 16 ("image of node 3 at 16", 21 bytes) in chunks of 8, then
    // the two proposals after it.
    let chunks: Vec<(u64, u64, usize, bool)> = p
        .delivered
        .iter()
        .filter(|(f, t, _)| (*f, *t) == (3, 1))
        .filter_map(|(_, _, m)| match m.body() {
            Some(PeerMessage::Snap {
                last_index,
                offset,
                data,
                done,
                ..
            }) => Some((*last_index, *offset, data.len(), *done)),
            _ => None,
        })
        .collect();
    assert_eq!(
        chunks,
        [(16, 0, 8, false), (16, 8, 8, false), (16, 16, 5, true)]
    );
    let h = p.node(1).history();
    assert_eq!((h.base, h.len()), (16, 18));
    assert!(p
        .narration(1)
        .iter()
        .any(|t| t.starts_with("SNAP: installed the leader's image through index 16")));
    // Its log starts at the image too, and it restarts from it.
    assert!(matches!(
        p.disks[&1].as_slice(),
        [_, _, ZabRecord::Base { index: 16, .. }, ..]
    ));
    p.restart(1);
    assert_eq!(p.applied_data(1), names(1..=16));
    p.run(2);
    assert_eq!(p.applied_data(1), names(1..=18));
}

#[test]
fn recovery_starts_from_the_newest_image_or_the_previous_one_plus_the_log_after_it() {
    let mut p = ensemble(4);
    commit(&mut p, &names(1..=18));
    p.restart(2);
    // The newest image (16) and the log after it.
    assert_eq!(p.applied_data(2), names(1..=16));
    assert_eq!(p.node(2).history().delivered, 16);
    p.run(2);
    assert_eq!(p.applied_data(2), names(1..=18));
    // The newest image damaged (it names another transaction): the one before it, at
    // the log's base, then the log after it once a leader resynchronizes.
    let files = p.snapshots.get_mut(&2).expect("images");
    let newest = files.iter_mut().max_by_key(|s| s.index).expect("an image");
    assert_eq!(newest.index, 16);
    newest.term = Zxid::new(9, 9).0;
    p.restart(2);
    assert_eq!(p.applied_data(2), names(1..=12));
    assert_eq!(p.node(2).history().base, 12);
    p.run(2);
    assert_eq!(p.applied_data(2), names(1..=18));
    // An image below the base never fits.
    let old = p.snapshots[&2].iter().find(|s| s.index == 8).cloned();
    let old = old.expect("the image at 8");
    assert!(p.node_mut(2).restore_snapshot(&old).is_err());
}

/// A SNAP chunk of the image through 1:5 (`size` bytes), `data` at `offset`.
fn chunk(offset: u64, data: &[u8], size: u64, done: bool) -> PeerMessage {
    PeerMessage::Snap {
        epoch: 1,
        last_index: 5,
        last_zxid: Zxid::new(1, 5),
        size,
        offset,
        data: bytes::Bytes::copy_from_slice(data),
        done,
    }
}

/// Learner 1, back in epoch 1's ensemble, waiting for its sync (LEADERINFO delivered).
fn awaiting_sync() -> Pump<Zab> {
    let mut p = super::invalid_input::rejoining();
    p.deliver_one(|(_, to, m): &Wire<Zab>| *to == 1 && m.body().is_some());
    p
}

fn snap_acks(out: &crate::node::Effects<Zab>) -> Vec<u64> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Send { msg, .. } => match msg.body() {
                Some(PeerMessage::SnapAck { received }) => Some(*received),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn snap_chunks_are_taken_in_order_and_acknowledged() {
    use super::invalid_input::in_session;
    let mut p = awaiting_sync();
    let out = p.step(1, in_session(&p, 1, chunk(0, b"abcd", 12, false)));
    assert_eq!(snap_acks(&out), [4]);
    let out = p.step(1, in_session(&p, 1, chunk(4, b"efgh", 12, false)));
    assert_eq!(snap_acks(&out), [8]);
    // A chunk at offset 0 starts the image over (a new image from the leader).
    let out = p.step(1, in_session(&p, 1, chunk(0, b"ab", 12, false)));
    assert_eq!(snap_acks(&out), [2]);
    assert_eq!(p.state(1), (Following, Some(3)));
    // A duplicate (offset 0..2 again, but not at 0) is invalid in an ordered session.
    let out = p.step(1, in_session(&p, 1, chunk(1, b"b", 12, false)));
    assert!(snap_acks(&out).is_empty());
    assert_eq!(p.state(1), (Looking, None));
}

#[test]
fn out_of_order_oversized_and_overlong_chunks_end_the_session() {
    use super::invalid_input::in_session;
    let cases = [
        // A chunk without the image's start.
        vec![chunk(4, b"efgh", 12, false)],
        // A gap.
        vec![chunk(0, b"abcd", 12, false), chunk(8, b"ijkl", 12, true)],
        // The image changes size midway.
        vec![chunk(0, b"abcd", 12, false), chunk(4, b"efgh", 16, false)],
        // Bytes beyond the declared size, and a `done` that completes nothing.
        vec![chunk(0, b"abcdefgh", 4, false)],
        vec![chunk(0, b"ab", 4, true)],
        // Declared larger than snapshot_max_bytes: refused before anything is kept.
        vec![chunk(
            0,
            b"ab",
            crate::timing::DEFAULT_SNAPSHOT_MAX_BYTES + 1,
            false,
        )],
    ];
    for (case, chunks) in cases.into_iter().enumerate() {
        let mut p = awaiting_sync();
        let last = chunks.len() - 1;
        for (i, c) in chunks.into_iter().enumerate() {
            let out = p.step(1, in_session(&p, 1, c));
            if i == last {
                assert!(snap_acks(&out).is_empty(), "case {case}");
                assert!(
                    !out.iter().any(|e| matches!(
                        e,
                        Effect::InstallSnapshot(_) | Effect::Persist(_) | Effect::Rebase(_)
                    )),
                    "case {case}"
                );
            }
        }
        assert_eq!(p.state(1), (Looking, None), "case {case}");
        assert_eq!(p.node(1).history().base, 0, "case {case}");
    }
}
