//! Phase 2, Synchronization: DIFF, TRUNC, SNAP and restarts.

use super::*;

/// 2 and 3 lead epoch 2 while 1, holding an uncommitted 1:3 of epoch 1, is down.
fn trunc_setup() -> Pump<Zab> {
    let mut p = pump(&[1, 2, 3], &[]);
    p.preload(1, 3);
    p.preload(2, 2);
    p.preload(3, 2);
    p.start(2);
    p.start(3);
    p.run(3);
    assert_ensemble(&p, 3, &[2, 3], 2, &["1:1", "1:2"]);
    p.write(3, "x");
    p.run(1);
    p
}

#[test]
fn trunc_drops_an_uncommitted_proposal_of_an_older_epoch() {
    let mut p = trunc_setup();
    let before = p.disks.get(&1).map_or(0, Vec::len);
    p.start(1);
    p.run(2);
    // 1's vote (zxid 1:3) is "better", yet it joins the running ensemble.
    assert_ensemble(&p, 3, &[1, 2, 3], 2, &["1:1", "1:2", "x"]);
    let trunc = p
        .delivered
        .iter()
        .find(|(f, t, m)| (*f, *t) == (3, 1) && m.kind() == "TRUNC");
    let expected_tail = p.node(3).history().txns[2..].to_vec();
    assert_eq!(
        trunc.and_then(|(_, _, m)| m.body().cloned()),
        Some(PeerMessage::Trunc {
            epoch: 2,
            truncate_to: Zxid::new(1, 2),
            txns: expected_tail
        })
    );
    let new_records = p
        .disks
        .get(&1)
        .map(|d| d[before..].to_vec())
        .unwrap_or_default();
    assert_eq!(new_records[0], ZabRecord::AcceptedEpoch(2));
    assert_eq!(
        new_records[1],
        ZabRecord::Truncate {
            last_kept: Zxid::new(1, 2)
        }
    );
    assert!(matches!(&new_records[2], ZabRecord::Proposal(t) if t.zxid == Zxid::new(2, 1)));
    assert_eq!(new_records[3], ZabRecord::CurrentEpoch(2));
    assert_eq!(p.node(1).history().txns, p.node(3).history().txns);
    // The fate of the dropped write, in the timeline's words.
    let said = p.narration(1);
    assert!(
        said.iter().any(|t| t
            == "drops proposal 0x100000003: TRUNC to 0x100000002, the new leader's history has no 0x100000003"),
        "{said:?}"
    );
    // The leader names the ACK quorum of each commit, itself first.
    let said = p.narration(3);
    assert!(
        said.iter()
            .any(|t| t.starts_with("commits zxid 0x200000001: ACKed by 3, 2")),
        "{said:?}"
    );
}

#[test]
fn without_an_image_a_far_behind_follower_gets_its_log_by_diff() {
    let mut p = pump_with_snap_threshold(&[1, 2, 3], 3);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &[]);
    p.write(3, "a");
    p.run(1);
    p.crash(1);
    for data in ["b", "c", "d", "e"] {
        p.write(3, data);
    }
    p.run(1);
    p.start(1);
    p.run(2);
    let all = ["a", "b", "c", "d", "e"];
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &all);
    let last_to = |p: &Pump<Zab>, to: NodeId, kind: &str| {
        p.delivered
            .iter()
            .rev()
            .find(|(f, t, m)| (*f, *t) == (3, to) && m.kind() == kind)
            .and_then(|(_, _, m)| m.body().cloned())
    };
    // 1 missed four transactions, more than the threshold of 3, but 3 holds no image
    // (snapshots are off): its log serves it.
    assert!(last_to(&p, 1, "SNAP").is_none());
    let diff = last_to(&p, 1, "DIFF").expect("a DIFF for 1");
    assert!(matches!(diff, PeerMessage::Diff { epoch: 1, txns } if txns.len() == 4));
    // After a crash nothing is known delivered (no snapshot): all comes after sync.
    p.crash(1);
    p.start(1);
    assert!(p.applied_data(1).is_empty());
    p.run(2);
    assert_eq!(p.applied_data(1), all);
    // 2 restarts one transaction behind: DIFF.
    p.crash(2);
    p.write(3, "f");
    p.run(1);
    p.start(2);
    p.run(2);
    let diff = last_to(&p, 2, "DIFF").expect("a DIFF for 2");
    assert_eq!(
        diff,
        PeerMessage::Diff {
            epoch: 1,
            txns: p.node(3).history().txns[5..].to_vec()
        }
    );
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &["a", "b", "c", "d", "e", "f"]);
}

#[test]
fn restart_recovers_epochs_and_history() {
    let mut p = pump(&[1, 2, 3], &[]);
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    p.write(3, "a");
    p.write(1, "b");
    p.run(1);
    let before = p.node(1).history().clone();
    assert_eq!(
        (
            before.accepted_epoch,
            before.current_epoch,
            before.txns.len()
        ),
        (1, 1, 2)
    );
    p.crash(1);
    p.start(1);
    let after = p.node(1).history();
    assert_eq!((after.accepted_epoch, after.current_epoch), (1, 1));
    assert_eq!(after.txns, before.txns);
    // Commit points are not persisted: the history is delivered again after sync.
    assert_eq!(after.delivered, 0);
    p.run(2);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &["a", "b"]);
}

/// The peer transport's default frame limit (`runtime::transport::DEFAULT_MAX_FRAME`).
const MAX_FRAME: usize = 16 << 20;

/// A learner 70,000 transactions of 256 bytes behind a leader that takes no snapshots
/// is synchronized in messages that each fit a transport frame, encoded with the
/// transport's codec (postcard). SNAP used to carry the whole history in one message
/// of about 20 MB, which the transport refuses past about 60,000 such transactions, so
/// the learner never caught up; the proposals now travel in DIFF batches of at most
/// `snapshot_chunk_bytes`.
#[test]
fn a_learner_far_behind_is_synchronized_in_messages_that_fit_a_frame() {
    const TXNS: u32 = 70_000;
    const VALUE: usize = 256;
    let big = |counter: u32| Txn {
        zxid: Zxid::new(1, counter),
        command: crate::Command {
            id: crate::RequestId {
                origin: 9,
                seq: u64::from(counter),
            },
            data: bytes::Bytes::from(vec![b'v'; VALUE]),
        },
    };
    let mut p = pump(&[1, 2, 3], &[]).narrate(false);
    let mut records = vec![ZabRecord::AcceptedEpoch(1), ZabRecord::CurrentEpoch(1)];
    records.extend((1..=TXNS).map(|c| ZabRecord::Proposal(big(c))));
    p.disks.insert(1, records.clone());
    p.disks.insert(2, records);
    p.start_all();
    p.run(3);
    assert_eq!(p.node(3).history().len(), TXNS as usize);
    assert_eq!(p.node(3).history().delivered, TXNS as usize);
    let mut largest = (0, "");
    for (_, to, msg) in &p.delivered {
        let size = postcard::to_stdvec(msg).expect("encodes").len();
        if *to == 3 && size > largest.0 {
            largest = (size, msg.kind());
        }
    }
    assert!(
        TXNS as usize * VALUE > MAX_FRAME,
        "the history is larger than a frame"
    );
    assert!(
        largest.0 <= (crate::timing::DEFAULT_SNAPSHOT_CHUNK_BYTES as usize) * 11 / 10,
        "{} of {} bytes",
        largest.1,
        largest.0
    );
}
