//! InstallSnapshot in chunks (the extended paper's Figure 13: `offset`, `data`,
//! `done`) on a three-node cluster in the pump, with chunks of a few bytes so that the
//! pump's small images travel in many of them.

use super::*;
use crate::Snapshot;
use std::time::Duration;

/// Bytes per chunk in these tests.
const CHUNK: u64 = 4;

/// Three voters snapshotting every 4 applied entries, sending images in `CHUNK`-byte
/// chunks and accepting images up to `max` bytes; node 1 leads term 1.
fn cluster(max: u64) -> Pump<Raft> {
    let timing = Timing {
        snapshot_every: 4,
        snapshot_chunk_bytes: CHUNK,
        snapshot_max_bytes: max,
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

fn commit(p: &mut Pump<Raft>, range: std::ops::RangeInclusive<u32>) {
    for i in range {
        p.write(1, &format!("w{i}"));
        p.deliver_all();
        p.fire(1, RaftTimer::Heartbeat);
        p.deliver_all();
    }
}

fn names(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("w{i}")).collect()
}

/// A cluster whose node 3 was cut off while the others compacted past it; the leader's
/// newest image, of more than two chunks.
fn lagging() -> (Pump<Raft>, Snapshot) {
    let mut p = cluster(1 << 20);
    commit(&mut p, 1..=2);
    p.partition(&[3]);
    commit(&mut p, 3..=20);
    assert!(p.node(1).log().start() > p.node(3).log().last_index());
    p.heal();
    let image = p.snapshots[&1].last().cloned().expect("an image");
    assert!(image.data.len() as u64 > 2 * CHUNK, "{image:?}");
    (p, image)
}

/// The chunk of `image` at `offset`, `len` bytes (to its end at most), sent in `term`.
fn chunk(term: Term, image: &Snapshot, offset: u64, len: u64) -> RaftMessage {
    let size = image.data.len() as u64;
    let end = offset.saturating_add(len).min(size);
    RaftMessage::InstallSnapshot {
        term,
        last_index: image.index,
        last_term: image.term,
        size,
        offset,
        data: image.data.slice(offset as usize..end as usize),
        done: end == size,
    }
}

/// Node `to`'s InstallSnapshot answers among `out`: (last index, next offset, done).
fn answers(out: &Out) -> Vec<(u64, u64, bool)> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Send {
                msg:
                    RaftMessage::InstallSnapshotResponse {
                        last_index,
                        next_offset,
                        done,
                        ..
                    },
                ..
            } => Some((*last_index, *next_offset, *done)),
            _ => None,
        })
        .collect()
}

fn installs(out: &Out) -> Vec<Snapshot> {
    out.iter()
        .filter_map(|e| match e {
            Effect::InstallSnapshot(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// The (offset, length, done) of every chunk delivered from 1 to 3.
fn chunks_delivered(p: &Pump<Raft>) -> Vec<(u64, usize, bool)> {
    p.delivered
        .iter()
        .filter_map(|(from, to, m)| match m {
            RaftMessage::InstallSnapshot {
                offset, data, done, ..
            } if (*from, *to) == (1, 3) => Some((*offset, data.len(), *done)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_leader_sends_the_image_in_order_in_bounded_chunks_and_the_follower_installs_it_whole() {
    let (mut p, image) = lagging();
    // The image sent during the partition was lost; the next heartbeat after the
    // longest election timeout sends it again.
    p.advance(Duration::from_millis(300));
    p.fire(1, RaftTimer::Heartbeat);
    // At most two chunks are ever unacknowledged.
    let in_flight = p
        .queue
        .iter()
        .filter(|(_, _, m)| matches!(m, RaftMessage::InstallSnapshot { .. }))
        .count();
    assert_eq!(in_flight, 2);
    p.deliver_all();
    let sent = chunks_delivered(&p);
    let size = image.data.len() as u64;
    // Every byte once, in order, no chunk over the limit, only the last one `done`.
    let mut expected = 0;
    for (i, &(offset, len, done)) in sent.iter().enumerate() {
        assert_eq!(offset, expected, "chunk {i} of {sent:?}");
        assert!(len as u64 <= CHUNK && len > 0);
        expected += len as u64;
        assert_eq!(done, expected == size);
    }
    assert_eq!(expected, size);
    assert_eq!(sent.len() as u64, size.div_ceil(CHUNK));
    // The follower installed exactly the leader's image, and replication went on.
    assert_eq!(p.snapshots[&3].last(), Some(&image));
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    assert_eq!(p.applied_data(3), names(1..=20));
    assert_eq!(p.node(3).log().last_index(), p.node(1).log().last_index());
}

#[test]
fn out_of_order_and_duplicate_chunks_are_ignored_and_answered_with_the_offset_expected() {
    let (mut p, image) = lagging();
    let size = image.data.len() as u64;
    let mut to3 = |msg| p.step(3, Input::Message { from: 1, msg });
    assert_eq!(
        answers(&to3(chunk(1, &image, 0, CHUNK))),
        [(image.index, 4, false)]
    );
    // A duplicate of the first chunk, and one past a gap: nothing written.
    assert_eq!(
        answers(&to3(chunk(1, &image, 0, CHUNK))),
        [(image.index, 4, false)]
    );
    assert_eq!(
        answers(&to3(chunk(1, &image, 8, CHUNK))),
        [(image.index, 4, false)]
    );
    // A chunk overlapping what is held (not at the expected offset) is refused too.
    assert_eq!(
        answers(&to3(chunk(1, &image, 2, CHUNK))),
        [(image.index, 4, false)]
    );
    // The rest, in order: installed with the last chunk, and only then.
    let mut offset = CHUNK;
    while offset + CHUNK < size {
        let out = to3(chunk(1, &image, offset, CHUNK));
        assert!(installs(&out).is_empty());
        offset += CHUNK;
        assert_eq!(answers(&out), [(image.index, offset, false)]);
    }
    let out = to3(chunk(1, &image, offset, CHUNK));
    assert_eq!(
        installs(&out),
        std::slice::from_ref(&image),
        "the bytes assembled in order"
    );
    assert_eq!(answers(&out), [(image.index, size, true)]);
    // A late duplicate of the last chunk is only acknowledged.
    let out = to3(chunk(1, &image, offset, CHUNK));
    assert!(installs(&out).is_empty());
    assert_eq!(answers(&out), [(image.index, size, true)]);
    assert_eq!(p.applied_data(3), names(1..=image.index as u32 - 1));
}

#[test]
fn a_newer_image_restarts_the_transfer_and_chunks_of_the_old_one_are_refused() {
    let (mut p, image) = lagging();
    let older = p.snapshots[&1]
        .iter()
        .rev()
        .nth(1)
        .cloned()
        .expect("two images");
    assert!(older.index < image.index && older.index > p.node(3).log().last_index());
    let mut to3 = |msg| p.step(3, Input::Message { from: 1, msg });
    assert_eq!(
        answers(&to3(chunk(1, &older, 0, CHUNK))),
        [(older.index, 4, false)]
    );
    // The first chunk of another image replaces the partial one...
    assert_eq!(
        answers(&to3(chunk(1, &image, 0, CHUNK))),
        [(image.index, 4, false)]
    );
    // ...so the old image's next chunk finds nothing to continue: start again.
    assert_eq!(
        answers(&to3(chunk(1, &older, 4, CHUNK))),
        [(older.index, 0, false)]
    );
    // The newer image completes.
    let out = to3(chunk(1, &image, 4, u64::MAX));
    assert_eq!(installs(&out), std::slice::from_ref(&image));
    assert!(p.narration(3).iter().any(|l| l.contains(&format!(
        "drops the partial snapshot through {}",
        older.index
    ))));
}

#[test]
fn term_rules_a_stale_chunk_is_refused_and_a_new_term_drops_the_partial_image() {
    let (mut p, image) = lagging();
    let mut to3 = |msg| p.step(3, Input::Message { from: 1, msg });
    assert_eq!(
        answers(&to3(chunk(1, &image, 0, CHUNK))),
        [(image.index, 4, false)]
    );
    // A leader of term 2 (node 1 again, say after a re-election) continues at 4: the
    // partial image came in term 1, so it is gone.
    assert_eq!(
        answers(&to3(chunk(2, &image, 4, CHUNK))),
        [(image.index, 0, false)]
    );
    assert_eq!(p.node(3).term(), 2);
    // Rule 1: a chunk of term 1 is refused with our term, whatever its offset.
    let out = p.step(
        3,
        Input::Message {
            from: 1,
            msg: chunk(1, &image, 0, CHUNK),
        },
    );
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Send {
            to: 1,
            msg: RaftMessage::InstallSnapshotResponse {
                term: 2,
                last_index: 0,
                next_offset: 0,
                done: false
            }
        }
    )));
    // And the leader of term 1 ignores that refusal's offset: it steps down.
    let refusal = RaftMessage::InstallSnapshotResponse {
        term: 2,
        last_index: 0,
        next_offset: 0,
        done: false,
    };
    p.step(
        1,
        Input::Message {
            from: 3,
            msg: refusal,
        },
    );
    assert_eq!(p.node(1).role(), Role::Follower);
}

#[test]
fn an_image_over_the_size_limit_or_a_chunk_past_its_declared_size_is_refused_unbuffered() {
    let mut p = cluster(16);
    commit(&mut p, 1..=2);
    p.partition(&[3]);
    commit(&mut p, 3..=20);
    p.heal();
    let image = p.snapshots[&1].last().cloned().expect("an image");
    assert!(image.data.len() > 16);
    let huge = RaftMessage::InstallSnapshot {
        term: 1,
        last_index: image.index,
        last_term: image.term,
        size: u64::MAX,
        offset: 0,
        data: image.data.slice(0..4),
        done: false,
    };
    for msg in [chunk(1, &image, 0, CHUNK), huge] {
        let out = p.step(3, Input::Message { from: 1, msg });
        assert!(answers(&out).is_empty() && installs(&out).is_empty());
    }
    assert!(p
        .narration(3)
        .iter()
        .any(|l| l.contains("over the 16-byte limit")));
    // Within the limit, a chunk that runs past the size it declared drops the transfer.
    let small = Snapshot {
        index: image.index,
        term: image.term,
        data: image.data.slice(0..12),
    };
    let mut to3 = |msg| p.step(3, Input::Message { from: 1, msg });
    assert_eq!(
        answers(&to3(chunk(1, &small, 0, 8))),
        [(small.index, 8, false)]
    );
    let past = RaftMessage::InstallSnapshot {
        term: 1,
        last_index: small.index,
        last_term: small.term,
        size: 12,
        offset: 8,
        data: image.data.slice(0..8),
        done: true,
    };
    let out = to3(past);
    assert!(installs(&out).is_empty());
    assert_eq!(answers(&out), [(small.index, 0, false)]);
    // A `done` chunk short of the declared size does not install either.
    to3(chunk(1, &small, 0, 8));
    let short = RaftMessage::InstallSnapshot {
        term: 1,
        last_index: small.index,
        last_term: small.term,
        size: 12,
        offset: 8,
        data: image.data.slice(0..2),
        done: true,
    };
    let out = to3(short);
    assert!(installs(&out).is_empty());
    assert_eq!(answers(&out), [(small.index, 0, false)]);
}

#[test]
fn the_leader_resumes_from_the_acknowledged_offset_after_a_loss_and_restarts_after_a_restart() {
    let (mut p, image) = lagging();
    let size = image.data.len() as u64;
    p.advance(Duration::from_millis(300));
    p.fire(1, RaftTimer::Heartbeat);
    // The first chunk arrives and is answered; the second is lost.
    assert!(p.deliver_one(
        |(_, to, m)| *to == 3 && matches!(m, RaftMessage::InstallSnapshot { offset: 0, .. })
    ));
    p.drop_where(|(_, to, m)| *to == 3 && matches!(m, RaftMessage::InstallSnapshot { .. }));
    p.deliver_all();
    // The answer to the first sent the third chunk, which arrives past the gap and is
    // answered with the offset expected: the leader goes back to it.
    let sent = chunks_delivered(&p);
    let offsets: Vec<u64> = sent.iter().map(|c| c.0).collect();
    assert_eq!(&offsets[..3], [0, 2 * CHUNK, CHUNK], "{sent:?}");
    assert_eq!(p.snapshots[&3].last(), Some(&image));

    // Again on a fresh lag, the follower restarts halfway through: it lost the
    // partial image, answers 0 to the next chunk, and the leader starts over.
    let (mut p, image) = lagging();
    p.advance(Duration::from_millis(300));
    p.fire(1, RaftTimer::Heartbeat);
    for _ in 0..2 {
        assert!(p.deliver_one(|(_, to, m)| *to == 3 && matches!(m, RaftMessage::InstallSnapshot { .. })));
    }
    p.crash(3);
    p.restart(3);
    p.deliver_all();
    let offsets: Vec<u64> = chunks_delivered(&p).iter().map(|c| c.0).collect();
    let restarts = offsets.iter().filter(|&&o| o == 0).count();
    assert!(restarts >= 2, "{offsets:?}");
    assert_eq!(p.snapshots[&3].last(), Some(&image));
    assert_eq!(*offsets.last().expect("chunks"), (size - 1) / CHUNK * CHUNK);

    // Silence: chunks sent, none answered within the longest election timeout, are
    // sent again from the last acknowledged offset.
    let (mut p, _) = lagging();
    p.advance(Duration::from_millis(300));
    p.fire(1, RaftTimer::Heartbeat);
    p.drop_where(|(_, to, _)| *to == 3);
    p.fire(1, RaftTimer::Heartbeat);
    assert!(
        !p.queue
            .iter()
            .any(|(_, _, m)| matches!(m, RaftMessage::InstallSnapshot { .. })),
        "a heartbeat while the window is full"
    );
    p.advance(Duration::from_millis(300));
    p.fire(1, RaftTimer::Heartbeat);
    assert!(p
        .queue
        .iter()
        .any(|(_, _, m)| matches!(m, RaftMessage::InstallSnapshot { offset: 0, .. })));
    p.deliver_all();
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    assert_eq!(p.applied_data(3), names(1..=20));
}
