//! Leader-lease reads for Multi-Paxos: the leader serves at once while a majority
//! acknowledged a LeaseProbe round sent less than the lease span ago; a follower that
//! granted the lease ignores other proposers' Prepares meanwhile.

use super::*;
use crate::read::{lease_span, ReadPath};
use crate::ClientError;

fn leased() -> Pump<Paxos> {
    let mut net = cluster(3, true).timing(Timing {
        reads: ReadPath::Lease,
        ..Timing::default()
    });
    net.start_all();
    net.elect(1);
    net.heartbeat();
    assert_eq!(net.leaders(), vec![1]);
    net
}

fn read(net: &mut Pump<Paxos>, node: NodeId, seq: u64) -> RequestId {
    let id = RequestId { origin: node, seq };
    net.step(
        node,
        Input::Read(Command {
            id,
            data: bytes::Bytes::from_static(b"get"),
        }),
    );
    id
}

fn served(net: &Pump<Paxos>, id: RequestId) -> bool {
    net.served.iter().any(|(_, r, _)| *r == id)
}

#[test]
fn the_leader_serves_at_once_within_its_lease_and_waits_for_a_round_after_it() {
    let mut net = leased();
    let id = read(&mut net, 1, 100);
    assert!(served(&net, id), "within the lease");
    net.partition(&[1]);
    net.advance(lease_span(Timing::default().election_timeout_min));
    let late = read(&mut net, 1, 101);
    assert!(!served(&net, late), "the lease lapsed");
    net.heal();
    net.deliver_all();
    assert!(served(&net, late), "a new round renewed it");
}

#[test]
fn a_follower_that_granted_a_lease_ignores_another_proposers_prepare() {
    let mut net = leased();
    // Node 3 times out (say its clock ran fast) and campaigns: node 2 granted node 1
    // a lease just now and ignores the Prepare, so node 3 cannot win.
    net.fire(3, PaxosTimer::LeaderTimeout);
    net.deliver_all();
    assert_eq!(net.leaders(), vec![1]);
    assert!(net
        .narration(2)
        .iter()
        .any(|l| l.contains("lease granted here still runs")));
    // Once the lease span has passed without renewal, node 3 can take over.
    net.advance(Timing::default().election_timeout_min);
    net.elect(3);
    assert!(net.leaders().contains(&3));
}

#[test]
fn a_follower_refuses_a_lease_read_naming_the_leader() {
    let mut net = leased();
    let id = read(&mut net, 2, 100);
    assert!(net
        .rejected
        .iter()
        .any(|(n, r, e)| *n == 2 && *r == id && *e == ClientError::NotLeader { leader: Some(1) }));
}
