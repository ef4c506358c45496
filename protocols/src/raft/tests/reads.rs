//! Read paths (thesis §6.4): ReadIndex waits for a heartbeat round to a majority and
//! for the read index to be applied; a lease serves at once while a round sent less
//! than the lease span ago was acknowledged by a majority; local reads are served by
//! anyone at once.

use crate::pump::Pump;
use crate::raft::{Raft, RaftMessage, RaftTimer};
use crate::read::ReadPath;
use crate::timing::Timing;
use crate::types::{Command, NodeId, RequestId};
use crate::{ClientError, Input, Membership};
use bytes::Bytes;
use std::time::Duration;

/// Three Raft voters reading by `reads`, node 1 elected and its no-op committed.
fn cluster(reads: ReadPath) -> Pump<Raft> {
    let mut p = Pump::new(Membership::voters(1..=3)).timing(Timing {
        pre_vote: false,
        reads,
        ..Timing::default()
    });
    p.start_all();
    p.fire(1, RaftTimer::Election);
    p.deliver_all();
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    assert_eq!(p.leaders(), vec![1]);
    p
}

fn read(p: &mut Pump<Raft>, node: NodeId, seq: u64) -> RequestId {
    let id = RequestId {
        origin: node,
        seq: 1000 + seq,
    };
    p.step(
        node,
        Input::Read(Command {
            id,
            data: Bytes::from_static(b"get"),
        }),
    );
    id
}

fn served(p: &Pump<Raft>, id: RequestId) -> Option<u64> {
    p.served
        .iter()
        .find(|(_, r, _)| *r == id)
        .map(|&(_, _, applied)| applied)
}

fn is_probe(msg: &RaftMessage) -> bool {
    matches!(msg, RaftMessage::ReadProbe { .. })
}

#[test]
fn read_index_waits_for_a_majority_round_and_the_applied_index() {
    let mut p = cluster(ReadPath::Index);
    p.write(1, "x");
    // The read arrives before the write commits: its read index is the no-op's.
    let id = read(&mut p, 1, 1);
    assert_eq!(served(&p, id), None, "no round confirmed yet");
    assert!(
        p.queue.iter().any(|(_, _, m)| is_probe(m)),
        "the read's batch sent a round of ReadProbes"
    );
    // One follower's acknowledgement makes a majority with the leader.
    p.deliver_one(|(_, to, m)| *to == 2 && is_probe(m));
    p.deliver_one(|(from, _, m)| *from == 2 && matches!(m, RaftMessage::ReadProbeAck { .. }));
    let applied = served(&p, id).expect("served once a majority acknowledged");
    assert!(applied >= 1, "the no-op (read index 1) was applied");
}

#[test]
fn a_leader_cut_off_from_the_majority_never_serves_a_read_index_read() {
    let mut p = cluster(ReadPath::Index);
    p.partition(&[1]);
    let id = read(&mut p, 1, 1);
    p.deliver_all();
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    assert_eq!(served(&p, id), None);
}

#[test]
fn a_follower_refuses_read_index_and_lease_reads_naming_the_leader() {
    for reads in [ReadPath::Index, ReadPath::Lease] {
        let mut p = cluster(reads);
        let id = read(&mut p, 2, 1);
        assert!(
            p.rejected.iter().any(|(n, r, e)| *n == 2
                && *r == id
                && *e == ClientError::NotLeader { leader: Some(1) }),
            "{reads}: {:?}",
            p.rejected
        );
    }
}

#[test]
fn a_lease_serves_at_once_until_the_span_after_the_acknowledged_round_has_passed() {
    let mut p = cluster(ReadPath::Lease);
    // The heartbeat's round was acknowledged by the followers (delivered above).
    let id = read(&mut p, 1, 1);
    assert!(served(&p, id).is_some(), "served within the lease");
    // The lease lapses 90% of the minimum election timeout after that round was sent.
    p.partition(&[1]);
    p.advance(crate::read::lease_span(Duration::from_millis(150)));
    let late = read(&mut p, 1, 2);
    assert_eq!(
        served(&p, late),
        None,
        "the lease lapsed: a new round is needed"
    );
    p.heal();
    p.deliver_all();
    assert!(served(&p, late).is_some(), "served after the new round");
}

#[test]
fn a_probe_is_a_heartbeat_to_a_follower_that_then_ignores_votes_with_check_quorum() {
    let mut p = cluster(ReadPath::Lease);
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    // Node 3 campaigns (its timer fired early); node 2 heard the leader's probe just
    // now and, with CheckQuorum, ignores the RequestVote.
    p.fire(3, RaftTimer::Election);
    p.deliver_all();
    assert_eq!(p.leaders(), vec![1]);
}

#[test]
fn stepping_down_refuses_the_reads_still_waiting() {
    let mut p = cluster(ReadPath::Index);
    p.partition(&[1]);
    let id = read(&mut p, 1, 1);
    // A message of a higher term deposes the leader.
    p.step(
        1,
        Input::Message {
            from: 2,
            msg: RaftMessage::ReadProbeAck { term: 9, round: 1 },
        },
    );
    assert!(p.rejected.iter().any(|(n, r, _)| *n == 1 && *r == id));
    assert_eq!(served(&p, id), None);
}

#[test]
fn local_reads_are_served_at_once_by_any_node() {
    let mut p = cluster(ReadPath::Local);
    let id = read(&mut p, 3, 1);
    assert!(served(&p, id).is_some());
}
