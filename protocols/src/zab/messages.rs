//! The ZAB wire vocabulary: election notifications and every peer message.
//!
//! Sources: ZooKeeper's `FastLeaderElection.Notification` (state, proposed leader,
//! proposed zxid, election round, proposed leader's epoch) and `Leader.java`'s packet
//! types (FOLLOWERINFO, OBSERVERINFO, LEADERINFO, ACKEPOCH, DIFF, TRUNC, SNAP, PROPOSAL,
//! NEWLEADER, ACK, UPTODATE, COMMIT, INFORM, PING, REQUEST); Zab paper §IV names the
//! same steps NEWEPOCH (LEADERINFO), ACK-E (ACKEPOCH), NEWLEADER, ACK-LD and COMMIT-LD
//! (UPTODATE).
//!
//! One deviation in transport: ZooKeeper carries notifications on a separate election
//! port (`QuorumCnxManager`) and the rest on per-learner TCP connections. Here every
//! message travels on the harness's one transport, identified by sender id; the
//! learner protocol runs in numbered sessions that give it TCP's order and
//! exactly-once delivery back (`session.rs`), and its messages also carry the epoch
//! they belong to.

use crate::types::{Command, NodeId};
use crate::zab::zxid::Zxid;
use serde::{Deserialize, Serialize};

/// A server's state in ZooKeeper's words (`QuorumPeer.ServerState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServerState {
    /// Electing: no known leader.
    Looking,
    /// Following an elected leader.
    Following,
    /// Leading.
    Leading,
    /// A non-voting learner following the leader.
    Observing,
}

/// A vote: who should lead, and the facts FastLeaderElection compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Vote {
    /// The proposed leader's sid (0 for an observer's empty vote: never a voter).
    pub leader: NodeId,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The proposed leader's current epoch (ZooKeeper's `peerEpoch`).
    pub peer_epoch: u32,
}

/// A FastLeaderElection notification: the sender's vote, round and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The vote.
    pub vote: Vote,
    /// The sender's election round (ZooKeeper's `logicalclock` / `electionEpoch`).
    pub round: u64,
    /// The sender's state: LOOKING senders are voting, the others report the leader.
    pub state: ServerState,
}

/// One transaction of the replicated history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// Its position in the total order.
    pub zxid: Zxid,
    /// The client command it carries.
    pub command: Command,
}

/// Every message ZAB servers exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZabMessage {
    /// FastLeaderElection vote (NOTIFICATION).
    Notification(Notification),
    /// A message of a learner session (see `session.rs`).
    Peer {
        /// The session, chosen at random by the learner.
        session: u64,
        /// The sender's number for this message within the session (FOLLOWERINFO is 0).
        seq: u64,
        /// The message.
        body: PeerMessage,
    },
    /// The leader steps down for a designated successor ([`Handoff`]).
    Handoff(Handoff),
}

/// The leader of `epoch` steps down in favour of `designated.leader` (a planned
/// hand-over, see `transfer.rs`): its followers go back to LOOKING and open their new
/// round with `designated` as their vote, as ZooKeeper's servers do with the designated
/// leader of a reconfiguration (`QuorumPeer.processReconfig`, `updateVote`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The epoch the sender leads.
    pub epoch: u32,
    /// The vote to open the next round with: the designated leader, its last zxid (the
    /// old leader's own last zxid, which it acknowledged) and the epoch.
    pub designated: Vote,
}

/// The messages of the learner protocol (ZooKeeper's `QuorumPacket` types).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// Follower to prospective leader: "I follow you; my accepted epoch is this"
    /// (Discovery, CEPOCH in the paper). Opens the session.
    FollowerInfo {
        /// The follower's last accepted epoch.
        accepted_epoch: u32,
    },
    /// Observer to leader: same as FOLLOWERINFO, for a non-voting learner.
    ObserverInfo {
        /// The observer's last accepted epoch.
        accepted_epoch: u32,
    },
    /// Leader to learner: the proposed new epoch (NEWEPOCH in the paper).
    LeaderInfo {
        /// The new epoch.
        new_epoch: u32,
    },
    /// Learner to leader: epoch accepted, with the learner's state summary.
    AckEpoch {
        /// The learner's current epoch; `None` (ZooKeeper's -1) when it had already
        /// accepted this same epoch, in which case it does not count toward the quorum.
        current_epoch: Option<u32>,
        /// The learner's last logged zxid.
        last_zxid: Zxid,
    },
    /// Synchronization: append these proposals after your last zxid.
    Diff {
        /// The leader's epoch.
        epoch: u32,
        /// The missing proposals, in zxid order.
        txns: Vec<Txn>,
    },
    /// Synchronization: drop everything after `truncate_to`, then append `txns`.
    Trunc {
        /// The leader's epoch.
        epoch: u32,
        /// The last zxid to keep (`Zxid::ZERO`: keep nothing).
        truncate_to: Zxid,
        /// The proposals that follow `truncate_to` in the leader's history.
        txns: Vec<Txn>,
    },
    /// Synchronization: one chunk of the leader's newest stored snapshot (ZooKeeper's
    /// SNAP streams its database's snapshot over the learner's connection). The image
    /// covers every transaction up to position `last_index`, the last one `last_zxid`;
    /// it is `size` bytes long and `data` are its bytes at `offset`. The proposals after
    /// it follow in DIFF messages once the last chunk is acknowledged (`sync.rs`).
    Snap {
        /// The leader's epoch.
        epoch: u32,
        /// The global position of the image's last transaction.
        last_index: u64,
        /// That transaction's zxid.
        last_zxid: Zxid,
        /// The whole image's size in bytes.
        size: u64,
        /// Where `data` starts in the image.
        offset: u64,
        /// The bytes.
        data: bytes::Bytes,
        /// The last chunk.
        done: bool,
    },
    /// Learner to leader: holds the first `received` bytes of the SNAP image (flow
    /// control for the chunks, which ZooKeeper leaves to TCP).
    SnapAck {
        /// Bytes of the image received so far.
        received: u64,
    },
    /// End of synchronization: the learner adopts `epoch` as its current epoch.
    NewLeader {
        /// The new epoch.
        epoch: u32,
    },
    /// Learner to leader: logged every proposal up to and including `zxid` (ACKs are
    /// cumulative because proposals are logged in zxid order). `Zxid::new(epoch, 0)`
    /// acknowledges NEWLEADER, as in ZooKeeper.
    Ack {
        /// The acknowledged zxid.
        zxid: Zxid,
    },
    /// Leader to learner: the leader is established; history up to `committed` is
    /// committed and the learner may serve clients.
    UpToDate {
        /// The leader's epoch.
        epoch: u32,
        /// The leader's last committed zxid.
        committed: Zxid,
    },
    /// Leader to followers: log this proposal and ACK it.
    Proposal {
        /// The proposal.
        txn: Txn,
    },
    /// Leader to followers: everything up to and including `zxid` is committed.
    Commit {
        /// The last committed zxid.
        zxid: Zxid,
    },
    /// Leader to observers: proposals and their commit in one message.
    Inform {
        /// Proposals the observer does not have yet, in zxid order.
        txns: Vec<Txn>,
        /// Everything up to and including this zxid is committed.
        committed: Zxid,
    },
    /// Heartbeat, leader to learner and learner to leader.
    Ping {
        /// The leader's epoch.
        epoch: u32,
    },
    /// Learner to leader: a client command received by the learner.
    Request {
        /// The command to propose.
        command: Command,
    },
    /// Learner to leader: ZooKeeper's `sync` for a read ([`crate::read::ReadPath::Sync`]).
    Sync {
        /// The learner's number for it.
        token: u64,
    },
    /// Leader to learner: the answer to SYNC `token`: the last zxid the leader proposed.
    SyncReply {
        /// The SYNC answered.
        token: u64,
        /// Deliver through this zxid before serving the read.
        zxid: Zxid,
    },
}

impl ZabMessage {
    /// ZooKeeper's name for the message type.
    pub fn kind(&self) -> &'static str {
        match self {
            ZabMessage::Notification(_) => "NOTIFICATION",
            ZabMessage::Peer { body, .. } => body.kind(),
            ZabMessage::Handoff(_) => "HANDOFF",
        }
    }

    /// The learner-protocol message inside, if any.
    pub fn body(&self) -> Option<&PeerMessage> {
        match self {
            ZabMessage::Notification(_) | ZabMessage::Handoff(_) => None,
            ZabMessage::Peer { body, .. } => Some(body),
        }
    }
}

impl PeerMessage {
    /// ZooKeeper's name for the message type.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerMessage::FollowerInfo { .. } => "FOLLOWERINFO",
            PeerMessage::ObserverInfo { .. } => "OBSERVERINFO",
            PeerMessage::LeaderInfo { .. } => "LEADERINFO",
            PeerMessage::AckEpoch { .. } => "ACKEPOCH",
            PeerMessage::Diff { .. } => "DIFF",
            PeerMessage::Trunc { .. } => "TRUNC",
            PeerMessage::Snap { .. } => "SNAP",
            PeerMessage::SnapAck { .. } => "SNAP-ACK",
            PeerMessage::NewLeader { .. } => "NEWLEADER",
            PeerMessage::Ack { .. } => "ACK",
            PeerMessage::UpToDate { .. } => "UPTODATE",
            PeerMessage::Proposal { .. } => "PROPOSAL",
            PeerMessage::Commit { .. } => "COMMIT",
            PeerMessage::Inform { .. } => "INFORM",
            PeerMessage::Ping { .. } => "PING",
            PeerMessage::Request { .. } => "REQUEST",
            PeerMessage::Sync { .. } => "SYNC",
            PeerMessage::SyncReply { .. } => "SYNC-REPLY",
        }
    }
}
