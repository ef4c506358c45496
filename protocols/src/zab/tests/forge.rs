//! Random inputs for the `extremes` property test: peer messages of every kind with
//! extreme field values, from any sender, some of them in the session the server
//! under test is in and carrying the epoch and zxids it expects (stand-ins resolved
//! when the input is delivered), and the other inputs a server gets.

use super::*;
use crate::node::InputOf;
use proptest::prelude::*;

use crate::pump::extreme_u64 as e64;

/// Stand-ins for values known only when the message is delivered: the epoch the
/// server is in (its leader's, or the one it leads, else its accepted epoch) and, as
/// zxid counters of that epoch, the zxid that would follow its last, its last, and its
/// last delivered one. Any other zxid of `THE_EPOCH` is the same counter in its epoch.
const THE_EPOCH: u32 = 0xE90C_0001;
const NEXT: u32 = 0xC0DE_0001;
const LAST: u32 = 0xC0DE_0002;
const DELIVERED: u32 = 0xC0DE_0003;

fn e32() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(THE_EPOCH),
        7 => plain_e32(),
    ]
}

fn plain_e32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(2),
        Just(u32::MAX - 2),
        Just(u32::MAX - 1),
        Just(u32::MAX),
        any::<u32>(),
        0u32..8,
    ]
}

/// Members, unknown ids (0, 5, max) and the node itself.
fn id() -> impl Strategy<Value = NodeId> {
    prop_oneof![4 => 0u64..=5, 1 => Just(u64::MAX)]
}

fn zxid() -> impl Strategy<Value = Zxid> {
    prop_oneof![
        2 => prop_oneof![Just(NEXT), Just(LAST), Just(DELIVERED), 0u32..6]
            .prop_map(|c| Zxid::new(THE_EPOCH, c)),
        2 => (e32(), plain_e32()).prop_map(|(e, c)| Zxid::new(e, c)),
        2 => (0u32..4, 0u32..6).prop_map(|(e, c)| Zxid::new(e, c)),
        1 => e64().prop_map(Zxid),
    ]
}

fn cmd(seq: u64) -> Command {
    Command {
        id: RequestId { origin: 1, seq },
        data: bytes::Bytes::from_static(b"x"),
    }
}

fn txns() -> impl Strategy<Value = Vec<Txn>> {
    prop::collection::vec(
        (zxid(), 0u64..4).prop_map(|(zxid, seq)| Txn {
            zxid,
            command: cmd(seq),
        }),
        0..4,
    )
}

fn state() -> impl Strategy<Value = ServerState> {
    prop_oneof![
        Just(ServerState::Looking),
        Just(ServerState::Following),
        Just(ServerState::Leading),
        Just(ServerState::Observing),
    ]
}

fn notification() -> impl Strategy<Value = Notification> {
    (id(), zxid(), e32(), e64(), state()).prop_map(|(leader, zxid, peer_epoch, round, state)| {
        Notification {
            vote: Vote {
                leader,
                zxid,
                peer_epoch,
            },
            round,
            state,
        }
    })
}

/// Every learner-protocol message.
fn body() -> impl Strategy<Value = PeerMessage> {
    prop_oneof![
        e32().prop_map(|accepted_epoch| PeerMessage::FollowerInfo { accepted_epoch }),
        e32().prop_map(|accepted_epoch| PeerMessage::ObserverInfo { accepted_epoch }),
        e32().prop_map(|new_epoch| PeerMessage::LeaderInfo { new_epoch }),
        (prop::option::of(e32()), zxid()).prop_map(|(current_epoch, last_zxid)| {
            PeerMessage::AckEpoch {
                current_epoch,
                last_zxid,
            }
        }),
        (e32(), txns()).prop_map(|(epoch, txns)| PeerMessage::Diff { epoch, txns }),
        (e32(), zxid(), txns()).prop_map(|(epoch, truncate_to, txns)| PeerMessage::Trunc {
            epoch,
            truncate_to,
            txns
        }),
        // Never a last chunk: the pump installs only images it made itself.
        (e32(), 0u64..4, zxid(), 0u64..64, 0u64..64, 0usize..48).prop_map(
            |(epoch, last_index, last_zxid, size, offset, len)| PeerMessage::Snap {
                epoch,
                last_index,
                last_zxid,
                size,
                offset,
                data: bytes::Bytes::from(vec![7; len]),
                done: false
            }
        ),
        (0u64..64).prop_map(|received| PeerMessage::SnapAck { received }),
        e32().prop_map(|epoch| PeerMessage::NewLeader { epoch }),
        zxid().prop_map(|zxid| PeerMessage::Ack { zxid }),
        (e32(), zxid()).prop_map(|(epoch, committed)| PeerMessage::UpToDate { epoch, committed }),
        (zxid(), 0u64..4).prop_map(|(zxid, seq)| PeerMessage::Proposal {
            txn: Txn {
                zxid,
                command: cmd(seq)
            }
        }),
        zxid().prop_map(|zxid| PeerMessage::Commit { zxid }),
        (txns(), zxid()).prop_map(|(txns, committed)| PeerMessage::Inform { txns, committed }),
        e32().prop_map(|epoch| PeerMessage::Ping { epoch }),
        (0u64..4).prop_map(|seq| PeerMessage::Request { command: cmd(seq) }),
    ]
}

/// A session id or sequence number: the one the server expects next, or any.
#[derive(Clone, Copy, Debug)]
pub(super) enum Pick {
    Current,
    Value(u64),
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![4 => Just(Pick::Current), 1 => e64().prop_map(Pick::Value)]
}

/// The sender of a learner message: mostly the server's leader or learner (`None`).
fn from() -> impl Strategy<Value = Option<NodeId>> {
    prop_oneof![3 => Just(None), 1 => id().prop_map(Some)]
}

/// One thing that happens to the server under test.
#[derive(Clone, Debug)]
pub(super) enum Act {
    Notify(NodeId, Notification),
    /// A learner message from `from`, or (`None`) from the server's leader or from its
    /// `k`-th learner.
    Peer {
        from: Option<NodeId>,
        k: usize,
        session: Pick,
        seq: Pick,
        body: PeerMessage,
    },
    Timer(ZabTimer),
    Client(u64),
    Durable(u64),
    PeerLost(NodeId),
    /// Up to this many of the cluster's queued messages are delivered.
    Deliver(usize),
}

pub(super) fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        4 => (id(), notification()).prop_map(|(from, n)| Act::Notify(from, n)),
        10 => (from(), 0usize..4, pick(), pick(), body()).prop_map(
            |(from, k, session, seq, body)| Act::Peer { from, k, session, seq, body }
        ),
        2 => prop_oneof![
            Just(ZabTimer::NotificationTimeout),
            Just(ZabTimer::FinalizeWait),
            Just(ZabTimer::Tick)
        ]
        .prop_map(Act::Timer),
        1 => (0u64..4).prop_map(Act::Client),
        1 => e64().prop_map(Act::Durable),
        1 => id().prop_map(Act::PeerLost),
        2 => (1usize..12).prop_map(Act::Deliver),
    ]
}

/// The server's leader, or its `k`-th learner: (peer, session, next sequence number).
pub(super) fn partner(z: &Zab, k: usize) -> Option<(NodeId, u64, u64)> {
    match &z.phase {
        Phase::Learning(l) => Some((l.leader, l.session, l.inbox.next_seq())),
        Phase::Leading(l) => {
            let n = l.learners.len().max(1);
            let (&id, h) = l.learners.iter().nth(k % n)?;
            Some((id, h.session, h.inbox.next_seq()))
        }
        Phase::Looking => None,
    }
}

/// The epoch [`THE_EPOCH`] stands for at `z`.
fn the_epoch(z: &Zab) -> u32 {
    let epoch = match &z.phase {
        Phase::Learning(l) => l.epoch,
        Phase::Leading(l) => l.new_epoch,
        Phase::Looking => None,
    };
    epoch.unwrap_or(z.history().accepted_epoch)
}

/// Replaces the stand-ins (see [`THE_EPOCH`]) of a message to `z`.
struct Fix {
    epoch: u32,
    next: Zxid,
    last: Zxid,
    delivered: Zxid,
}

impl Fix {
    fn new(z: &Zab) -> Fix {
        let (epoch, h) = (the_epoch(z), z.history());
        let last = h.last_zxid();
        Fix {
            epoch,
            next: Zxid::next_in_epoch(last, epoch).unwrap_or(last),
            last,
            delivered: h.delivered_zxid(),
        }
    }

    fn epoch(&self, e: u32) -> u32 {
        if e == THE_EPOCH {
            self.epoch
        } else {
            e
        }
    }

    fn zxid(&self, z: Zxid) -> Zxid {
        match (z.epoch(), z.counter()) {
            (THE_EPOCH, NEXT) => self.next,
            (THE_EPOCH, LAST) => self.last,
            (THE_EPOCH, DELIVERED) => self.delivered,
            (e, c) => Zxid::new(self.epoch(e), c),
        }
    }

    fn txns(&self, txns: Vec<Txn>) -> Vec<Txn> {
        txns.into_iter()
            .map(|t| Txn {
                zxid: self.zxid(t.zxid),
                ..t
            })
            .collect()
    }

    fn notification(&self, mut n: Notification) -> Notification {
        n.vote.zxid = self.zxid(n.vote.zxid);
        n.vote.peer_epoch = self.epoch(n.vote.peer_epoch);
        n
    }

    fn body(&self, body: PeerMessage) -> PeerMessage {
        use PeerMessage as M;
        match body {
            M::FollowerInfo { accepted_epoch } => M::FollowerInfo {
                accepted_epoch: self.epoch(accepted_epoch),
            },
            M::ObserverInfo { accepted_epoch } => M::ObserverInfo {
                accepted_epoch: self.epoch(accepted_epoch),
            },
            M::LeaderInfo { new_epoch } => M::LeaderInfo {
                new_epoch: self.epoch(new_epoch),
            },
            M::AckEpoch {
                current_epoch,
                last_zxid,
            } => M::AckEpoch {
                current_epoch: current_epoch.map(|e| self.epoch(e)),
                last_zxid: self.zxid(last_zxid),
            },
            M::Diff { epoch, txns } => M::Diff {
                epoch: self.epoch(epoch),
                txns: self.txns(txns),
            },
            M::Trunc {
                epoch,
                truncate_to,
                txns,
            } => M::Trunc {
                epoch: self.epoch(epoch),
                truncate_to: self.zxid(truncate_to),
                txns: self.txns(txns),
            },
            M::Snap {
                epoch,
                last_index,
                last_zxid,
                size,
                offset,
                data,
                done,
            } => M::Snap {
                epoch: self.epoch(epoch),
                last_index,
                last_zxid: self.zxid(last_zxid),
                size,
                offset,
                data,
                done,
            },
            M::NewLeader { epoch } => M::NewLeader {
                epoch: self.epoch(epoch),
            },
            M::Ack { zxid } => M::Ack {
                zxid: self.zxid(zxid),
            },
            M::UpToDate { epoch, committed } => M::UpToDate {
                epoch: self.epoch(epoch),
                committed: self.zxid(committed),
            },
            M::Proposal { txn } => M::Proposal {
                txn: Txn {
                    zxid: self.zxid(txn.zxid),
                    ..txn
                },
            },
            M::Commit { zxid } => M::Commit {
                zxid: self.zxid(zxid),
            },
            M::SyncReply { token, zxid } => M::SyncReply {
                token,
                zxid: self.zxid(zxid),
            },
            M::Inform { txns, committed } => M::Inform {
                txns: self.txns(txns),
                committed: self.zxid(committed),
            },
            M::Ping { epoch } => M::Ping {
                epoch: self.epoch(epoch),
            },
            M::Request { command } => M::Request { command },
            M::Sync { token } => M::Sync { token },
            M::SnapAck { received } => M::SnapAck { received },
        }
    }
}

pub(super) fn resolve(z: &Zab, act: Act) -> Option<InputOf<Zab>> {
    let fix = Fix::new(z);
    Some(match act {
        Act::Notify(from, n) => Input::Message {
            from,
            msg: ZabMessage::Notification(fix.notification(n)),
        },
        Act::Peer {
            from,
            k,
            session,
            seq,
            body,
        } => {
            let (peer, current, next) = partner(z, k).unwrap_or((2, 0, 0));
            let value = |p: Pick, current: u64| match p {
                Pick::Current => current,
                Pick::Value(v) => v,
            };
            Input::Message {
                from: from.unwrap_or(peer),
                msg: ZabMessage::Peer {
                    session: value(session, current),
                    seq: value(seq, next),
                    body: fix.body(body),
                },
            }
        }
        Act::Timer(t) => Input::Timer(t),
        Act::Client(seq) => Input::Client(cmd(seq)),
        Act::Durable(token) => Input::Durable(token),
        Act::PeerLost(peer) => Input::PeerLost(peer),
        Act::Deliver(_) => return None,
    })
}
