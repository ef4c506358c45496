//! ZooKeeper's read paths: a local read is served at once by any server that follows
//! an established leader, stale or not; `sync` makes a follower wait until it has
//! delivered everything its leader had proposed when the SYNC reached it.

use super::*;
use crate::read::ReadPath;

fn ensemble(reads: ReadPath) -> Pump<Zab> {
    let mut p = pump(&[1, 2, 3], &[]).timing(Timing {
        reads,
        ..Timing::default()
    });
    for id in [1, 2, 3] {
        p.start(id);
    }
    p.run(3);
    assert_ensemble(&p, 3, &[1, 2, 3], 1, &[]);
    p
}

fn read(p: &mut Pump<Zab>, node: NodeId, seq: u64) -> RequestId {
    let id = RequestId { origin: node, seq };
    p.step(
        node,
        Input::Read(Command {
            id,
            data: bytes::Bytes::from_static(b"get"),
        }),
    );
    id
}

fn served_at(p: &Pump<Zab>, id: RequestId) -> Option<u64> {
    p.served
        .iter()
        .find(|(_, r, _)| *r == id)
        .map(|&(_, _, applied)| applied)
}

#[test]
fn a_local_read_is_served_at_once_even_by_a_follower_behind_its_leader() {
    let mut p = ensemble(ReadPath::Local);
    // Node 1 is cut off after the ensemble formed; the leader commits a write with 2.
    p.partition(&[1]);
    p.write(3, "x");
    p.settle();
    assert_eq!(p.applied_data(3), ["x"]);
    let id = read(&mut p, 1, 100);
    assert_eq!(
        served_at(&p, id),
        Some(0),
        "served from the state without x: stale"
    );
}

#[test]
fn sync_then_read_waits_for_what_the_leader_proposed() {
    let mut p = ensemble(ReadPath::Sync);
    p.write(3, "x");
    // The read reaches follower 1 before the proposal is delivered there.
    let id = read(&mut p, 1, 100);
    assert_eq!(served_at(&p, id), None, "waits for the leader's answer");
    p.settle();
    assert_eq!(served_at(&p, id), Some(1), "served once x was delivered");
    assert!(p.delivered.iter().any(|(_, _, m)| m.kind() == "SYNC"));
}

#[test]
fn a_looking_server_serves_no_read() {
    for reads in [ReadPath::Local, ReadPath::Sync] {
        let mut p = pump(&[1, 2, 3], &[]).timing(Timing {
            reads,
            ..Timing::default()
        });
        p.start(1);
        let id = read(&mut p, 1, 100);
        assert!(
            p.rejected.iter().any(|(n, r, _)| *n == 1 && *r == id),
            "{reads}"
        );
    }
}
