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
