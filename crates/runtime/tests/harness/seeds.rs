//! Real encodings of real messages, for the decoder fuzz harness to mutate
//! (`decoders.rs`): every message type of Raft, ZAB and Paxos, the handshake, client
//! requests and responses, with ordinary and extreme field values.

#![allow(dead_code)] // each includer uses a different part

use bytes::{Bytes, BytesMut};
use kv::{KvCommand, KvOp, Session};
use protocols::paxos::ballot::Ballot;
use protocols::paxos::messages::{AcceptedEra, AcceptedSlot, Leadership, PaxosMessage};
use protocols::raft::log::Entry;
use protocols::raft::RaftMessage;
use protocols::zab::messages::{Notification, PeerMessage, ServerState, Txn, Vote, ZabMessage};
use protocols::zab::zxid::Zxid;
use protocols::{Command, RequestId, Role, Status};
use runtime::client::{ClientOp, ClientReply, ClientRequest, ClientResponse, Fault, NodeStatus};
use runtime::transport::codec;
use runtime::transport::handshake::{Handshake, HandshakeKind};
use serde::Serialize;

fn command(origin: u64, seq: u64, op: KvOp) -> Command {
    let kv = KvCommand {
        session: Session {
            client: seq ^ 0x5a5a,
            seq,
        },
        op,
    };
    Command {
        id: RequestId { origin, seq },
        data: kv.encode(),
    }
}

fn put(key: &'static [u8], value: &'static [u8]) -> KvOp {
    KvOp::Put {
        key: Bytes::from_static(key),
        value: Bytes::from_static(value),
    }
}

/// Raft messages, with ordinary and extreme field values.
pub fn raft_messages() -> Vec<RaftMessage> {
    let entries = vec![
        Entry {
            term: 3,
            command: Some(command(1, 1, put(b"k", b"v"))),
        },
        Entry {
            term: u64::MAX,
            command: None,
        },
    ];
    vec![
        RaftMessage::RequestVote {
            term: u64::MAX,
            last_log_index: u64::MAX - 1,
            last_log_term: 0,
        },
        RaftMessage::RequestVoteResponse {
            term: 7,
            granted: true,
        },
        RaftMessage::PreVote {
            term: u64::MAX - 1,
            last_log_index: 3,
            last_log_term: u64::MAX,
        },
        RaftMessage::PreVoteResponse {
            term: 8,
            granted: false,
        },
        RaftMessage::AppendEntries {
            term: 5,
            prev_log_index: 10,
            prev_log_term: 4,
            entries,
            leader_commit: 9,
        },
        RaftMessage::AppendEntriesResponse {
            term: 5,
            success: false,
            index: u64::MAX,
            rejected: u64::MAX,
        },
        RaftMessage::InstallSnapshot {
            term: 6,
            last_index: 40_000,
            last_term: 5,
            size: u64::MAX,
            offset: 1 << 20,
            data: bytes::Bytes::from_static(b"a chunk of an image"),
            done: false,
        },
        RaftMessage::InstallSnapshotResponse {
            term: 6,
            last_index: 40_000,
            next_offset: u64::MAX,
            done: true,
        },
        RaftMessage::TransferLeader { term: 6, to: 3 },
    ]
}

/// ZAB messages: an election notification and learner-protocol messages.
pub fn zab_messages() -> Vec<ZabMessage> {
    let txn = |counter| Txn {
        zxid: Zxid::new(2, counter),
        command: command(2, u64::from(counter), put(b"key", b"value")),
    };
    let peer = |seq, body| ZabMessage::Peer {
        session: u64::MAX,
        seq,
        body,
    };
    vec![
        ZabMessage::Notification(Notification {
            vote: Vote {
                leader: 3,
                zxid: Zxid::new(u32::MAX, u32::MAX - 1),
                peer_epoch: u32::MAX,
            },
            round: 1,
            state: ServerState::Looking,
        }),
        peer(0, PeerMessage::FollowerInfo { accepted_epoch: 1 }),
        peer(
            1,
            PeerMessage::AckEpoch {
                current_epoch: None,
                last_zxid: Zxid::new(1, 4),
            },
        ),
        peer(
            2,
            PeerMessage::Snap {
                epoch: 2,
                last_index: 2,
                last_zxid: Zxid::new(1, 2),
                size: 9,
                offset: 4,
                data: bytes::Bytes::from_static(b"image"),
                done: true,
            },
        ),
        peer(3, PeerMessage::SnapAck { received: 9 }),
        peer(
            3,
            PeerMessage::Diff {
                epoch: 2,
                txns: vec![txn(3)],
            },
        ),
        peer(3, PeerMessage::Proposal { txn: txn(4) }),
        peer(4, PeerMessage::Ping { epoch: 2 }),
    ]
}

/// Paxos messages, with nested lists and options.
pub fn paxos_messages() -> Vec<PaxosMessage> {
    let ballot = Ballot::new(9, 2);
    let lead = Leadership { leader: 2, ballot };
    vec![
        PaxosMessage::Prepare {
            ballot: Ballot::new(u64::MAX >> 16, 3),
            era_from: 1,
            slot_from: u64::MAX,
        },
        PaxosMessage::Promise {
            ballot,
            chosen_era: Some((4, lead)),
            eras: vec![AcceptedEra {
                era: 5,
                ballot,
                value: lead,
            }],
            chosen: vec![(1, None), (2, Some(command(1, 2, put(b"a", b"b"))))],
            accepted: vec![AcceptedSlot {
                slot: 3,
                ballot,
                value: Some(command(3, 3, put(b"c", b"d"))),
            }],
        },
        PaxosMessage::Accept {
            ballot,
            era: None,
            slots: vec![(7, Some(command(1, 7, put(b"x", b"y"))))],
            commit: 6,
        },
        PaxosMessage::HeartbeatReply { ballot },
        PaxosMessage::Chosen {
            commit: 8,
            from: 7,
            values: vec![None, Some(command(2, 8, put(b"p", b"q")))],
        },
        PaxosMessage::SnapshotChunk {
            index: 40,
            term: 0,
            offset: 1 << 20,
            data: Bytes::from_static(b"image bytes"),
            done: true,
        },
        PaxosMessage::SnapshotPull {
            index: 40,
            offset: u64::MAX,
        },
    ]
}

/// The payloads of the three handshake messages.
pub fn handshake_payloads() -> Vec<Vec<u8>> {
    [
        HandshakeKind::Hello,
        HandshakeKind::Welcome,
        HandshakeKind::Proof,
    ]
    .into_iter()
    .map(|kind| {
        let mut out = BytesMut::new();
        Handshake {
            kind,
            from: 1,
            to: u64::MAX,
            cluster: [0x42; 16],
            nonce: [7; 32],
            proof: [9; 32],
        }
        .encode(&mut out);
        out.to_vec()
    })
    .collect()
}

/// Client requests of every kind.
pub fn client_requests() -> Vec<ClientRequest> {
    let kv = |op| {
        ClientOp::Kv(KvCommand {
            session: Session {
                client: u64::MAX,
                seq: 300,
            },
            op,
        })
    };
    let ops = vec![
        kv(put(b"0000abcd", b"value")),
        kv(KvOp::Get {
            key: Bytes::from_static(b"k"),
        }),
        kv(KvOp::Set {
            key: Bytes::from(vec![b'k'; 200]),
            value: Bytes::new(),
        }),
        ClientOp::Status,
        ClientOp::Challenge,
        ClientOp::Fault {
            fault: Fault::Isolate { node: 2 },
            proof: [3; 32],
        },
        ClientOp::Fault {
            fault: Fault::Heal,
            proof: [0; 32],
        },
    ];
    (0..)
        .zip(ops)
        .map(|(id, op)| ClientRequest { id, op })
        .collect()
}

/// Client responses of every kind.
pub fn client_responses() -> Vec<ClientResponse> {
    let replies = vec![
        ClientReply::Value(Some(Bytes::from_static(b"old value"))),
        ClientReply::Value(None),
        ClientReply::NotLeader {
            leader: Some(2),
            addr: Some("127.0.0.1:7102".parse().expect("an address")),
        },
        ClientReply::NotLeader {
            leader: None,
            addr: Some("[::1]:65535".parse().expect("an address")),
        },
        ClientReply::Status(NodeStatus {
            id: 1,
            protocol: "raft".into(),
            status: Status {
                role: Role::Leader,
                term: u64::MAX,
                leader: Some(1),
                commit_index: 5,
                last_index: 6,
            },
            applied: 5,
        }),
        ClientReply::Challenge([5; 32]),
        ClientReply::Ok,
        ClientReply::Retry("leadership lost".into()),
        ClientReply::Error("refused".into()),
    ];
    (u64::MAX - 20..)
        .zip(replies)
        .map(|(id, reply)| ClientResponse { id, reply })
        .collect()
}

/// Every peer payload seed: messages of the three protocols and handshakes.
pub fn peer_payloads() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    out.extend(raft_messages().iter().map(encoded));
    out.extend(zab_messages().iter().map(encoded));
    out.extend(paxos_messages().iter().map(encoded));
    out.extend(handshake_payloads());
    out
}

/// Every client payload seed: requests, responses and replicated commands.
pub fn client_payloads() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    out.extend(client_requests().iter().map(encoded));
    out.extend(client_responses().iter().map(encoded));
    for r in client_requests() {
        if let ClientOp::Kv(c) = r.op {
            out.push(c.encode().to_vec());
        }
    }
    out
}

/// The postcard encoding of `msg`, as the codec writes it.
pub fn encoded<M: Serialize>(msg: &M) -> Vec<u8> {
    let mut out = BytesMut::new();
    codec::encode(msg, &mut out).expect("seed messages encode");
    out.to_vec()
}

/// `payloads` framed back to back, and where each frame starts.
pub fn framed(payloads: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
    let mut out = BytesMut::new();
    let mut starts = Vec::new();
    for p in payloads {
        starts.push(out.len());
        runtime::transport::write_frame(p, &mut out).expect("seed frames fit");
    }
    (out.to_vec(), starts)
}
