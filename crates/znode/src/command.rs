//! What clients send the znode tree and what it answers, and their binary encoding.
//!
//! A [`ZCommand`] is an operation and the client's [`kv::Session`] (client id and
//! command number, for exactly-once retries, as in the key-value store). The client id
//! is also the ZooKeeper session id: ephemeral nodes belong to it and die with it.
//! Commands and answers are encoded with postcard (varints, length-prefixed strings and
//! bytes); [`ZCommand::decode`] and [`ZAnswer::decode`] return `None` on any bytes that
//! are not a value of their type, never panic, and refuse trailing bytes.

use bytes::Bytes;
use kv::Session;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The largest data a znode holds (ZooKeeper's default `jute.maxbuffer`, 1 MB).
pub const MAX_DATA: usize = 1024 * 1024;

/// Any version, for delete and set (ZooKeeper's -1).
pub const ANY_VERSION: i32 = -1;

/// The four kinds of znode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CreateMode {
    /// Stays until deleted.
    Persistent,
    /// Deleted when its owner's session ends; may have no children.
    Ephemeral,
    /// Persistent, named with the parent's next 10-digit sequence number appended.
    PersistentSequential,
    /// Ephemeral and sequential.
    EphemeralSequential,
}

impl CreateMode {
    /// Whether the node dies with its session.
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// Whether a sequence suffix is appended to its name.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential | CreateMode::EphemeralSequential
        )
    }
}

/// An operation on the tree or on a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZOp {
    /// Opens the session named by the command's client id, with a timeout: the
    /// leader expires it when it hears nothing from it for that long.
    OpenSession {
        /// Milliseconds of silence after which the session may be expired.
        timeout_ms: u32,
    },
    /// A heartbeat: the session is alive (any command of it counts as one). Its
    /// number is ignored: it may be sent beside an outstanding command.
    Touch,
    /// Ends the session: its ephemeral nodes are deleted.
    CloseSession,
    /// Proposed by the leader: these sessions are dead; their ephemeral nodes are
    /// deleted, all in this one entry.
    Expire {
        /// The sessions.
        sessions: Vec<u64>,
    },
    /// Creates a node; its parent must exist and not be ephemeral.
    Create {
        /// The path (for a sequential node, the prefix of its name).
        path: String,
        /// Its data.
        data: Bytes,
        /// Its kind.
        mode: CreateMode,
    },
    /// Deletes a childless node whose version is `version` (or any: -1).
    Delete {
        /// The path.
        path: String,
        /// The expected version.
        version: i32,
    },
    /// Replaces a node's data if its version is `version` (or any: -1).
    SetData {
        /// The path.
        path: String,
        /// The new data.
        data: Bytes,
        /// The expected version.
        version: i32,
    },
    /// Reads a node's data and stat; `watch` leaves a data watch on it.
    GetData {
        /// The path.
        path: String,
        /// Leave a one-shot data watch (fires on change or deletion).
        watch: bool,
    },
    /// Lists a node's children (sorted); `watch` leaves a child watch on it.
    GetChildren {
        /// The path.
        path: String,
        /// Leave a one-shot child watch (fires when a child is created or deleted,
        /// or the node is deleted).
        watch: bool,
    },
    /// A node's stat if it exists; `watch` leaves an exists watch (fires when it is
    /// created, changed or deleted).
    Exists {
        /// The path.
        path: String,
        /// Leave a one-shot exists watch.
        watch: bool,
    },
}

impl ZOp {
    /// Whether it only reads (get, ls, exists): running it again changes nothing.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            ZOp::GetData { .. } | ZOp::GetChildren { .. } | ZOp::Exists { .. }
        )
    }
}

/// A command as replicated: the session and its number, and the operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZCommand {
    /// The client (its id is the ZooKeeper session id; 0: no session) and the
    /// command's number.
    pub session: Session,
    /// The operation.
    pub op: ZOp,
}

/// A znode's metadata (ZooKeeper's `Stat`). Indexes are log indexes: the entry that
/// created or last changed the node, the analogue of ZooKeeper's zxids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// The log index of the entry that created it (czxid): a fencing token.
    pub czxid: u64,
    /// The log index of its last data change (mzxid).
    pub mzxid: u64,
    /// The log index of the last change of its children (pzxid).
    pub pzxid: u64,
    /// Data changes since creation.
    pub version: i32,
    /// Child changes (creations and deletions) since creation.
    pub cversion: i32,
    /// The owning session of an ephemeral node; 0 for a persistent one.
    pub ephemeral_owner: u64,
    /// Bytes of data.
    pub data_length: u32,
    /// Children now.
    pub num_children: u32,
}

/// What a watch saw happen (ZooKeeper's `EventType`), or the session's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WatchKind {
    /// The node was created.
    NodeCreated,
    /// The node was deleted.
    NodeDeleted,
    /// The node's data changed.
    NodeDataChanged,
    /// A child was created or deleted.
    NodeChildrenChanged,
    /// The session expired (or was closed): every watch of it is gone.
    SessionExpired,
}

/// A notification to a client: a watch fired, or its session ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// What happened.
    pub kind: WatchKind,
    /// The watched path (`/` for a session's end).
    pub path: String,
    /// The log index of the entry that fired it.
    pub index: u64,
}

/// The answer to one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZAnswer {
    /// A session was opened (or was already open).
    SessionOpened {
        /// The session id.
        session: u64,
        /// Its timeout.
        timeout_ms: u32,
    },
    /// Done, nothing to tell (touch, close, delete, expire).
    Ok,
    /// A node was created at `path` (with its sequence suffix, if any).
    Created {
        /// Its full path.
        path: String,
        /// Its stat (`czxid` is the fencing token of a lock).
        stat: Stat,
    },
    /// The stat after a set.
    Stat(Stat),
    /// A node's data and stat.
    Data {
        /// Its data.
        data: Bytes,
        /// Its stat.
        stat: Stat,
    },
    /// A node's children (names, sorted) and its stat.
    Children {
        /// Names, in byte order.
        children: Vec<String>,
        /// The parent's stat.
        stat: Stat,
    },
    /// Whether the node exists: its stat if so.
    Exists(Option<Stat>),
    /// Refused: nothing changed.
    Error(ZError),
}

/// Why a command was refused (ZooKeeper's error codes, with reasons).
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum ZError {
    /// The node (or, for a create, its parent) does not exist.
    #[error("no node: {0}")]
    NoNode(String),
    /// A node exists at the path.
    #[error("node exists: {0}")]
    NodeExists(String),
    /// The node has children.
    #[error("node not empty: {0}")]
    NotEmpty(String),
    /// The expected version is not the node's.
    #[error("bad version: {path} is at version {actual}, not {expected}")]
    BadVersion {
        /// The node.
        path: String,
        /// Its version.
        actual: i32,
        /// The version the command expected.
        expected: i32,
    },
    /// Ephemeral nodes may not have children.
    #[error("no children for ephemerals: {0} is ephemeral")]
    NoChildrenForEphemerals(String),
    /// The path breaks ZooKeeper's path rules.
    #[error("bad path {0}")]
    BadPath(String),
    /// The data is over [`MAX_DATA`].
    #[error("data too large: {len} bytes (at most {max})")]
    DataTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The session is not open (expired, closed or never opened).
    #[error("session {0:#x} expired or not open")]
    SessionExpired(u64),
    /// An ephemeral node needs a session.
    #[error("an ephemeral node needs a session")]
    NoSession,
    /// The parent's sequence counter is exhausted (10 digits).
    #[error("sequence numbers exhausted under {0}")]
    SequenceExhausted(String),
    /// The bytes are not a command.
    #[error("not a znode command")]
    Malformed,
}

/// Encodes a serializable value (into a Vec this cannot fail).
fn encode<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(postcard::to_stdvec(value).unwrap_or_default())
}

/// Decodes exactly one value: trailing bytes are refused.
fn decode<'a, T: Deserialize<'a>>(data: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(data) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

impl ZCommand {
    /// The bytes the protocols replicate.
    pub fn encode(&self) -> Bytes {
        encode(self)
    }

    /// Decodes replicated bytes; `None` if they are not exactly one command.
    pub fn decode(data: &[u8]) -> Option<ZCommand> {
        decode(data)
    }
}

impl ZAnswer {
    /// The bytes sent back to the client.
    pub fn encode(&self) -> Bytes {
        encode(self)
    }

    /// Decodes an answer; `None` if the bytes are not exactly one.
    pub fn decode(data: &[u8]) -> Option<ZAnswer> {
        decode(data)
    }
}

impl WatchEvent {
    /// The bytes of a notification.
    pub fn encode(&self) -> Bytes {
        encode(self)
    }

    /// Decodes a notification; `None` if the bytes are not exactly one.
    pub fn decode(data: &[u8]) -> Option<WatchEvent> {
        decode(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<ZCommand> {
        let s = Session {
            client: u64::MAX,
            seq: 300,
        };
        [
            ZOp::OpenSession { timeout_ms: 4000 },
            ZOp::Touch,
            ZOp::CloseSession,
            ZOp::Expire {
                sessions: vec![1, u64::MAX],
            },
            ZOp::Create {
                path: "/a/b-".into(),
                data: Bytes::from(vec![7; 300]),
                mode: CreateMode::EphemeralSequential,
            },
            ZOp::Delete {
                path: "/a".into(),
                version: ANY_VERSION,
            },
            ZOp::SetData {
                path: "/a".into(),
                data: Bytes::new(),
                version: 3,
            },
            ZOp::GetData {
                path: "/a".into(),
                watch: true,
            },
            ZOp::GetChildren {
                path: "/".into(),
                watch: false,
            },
            ZOp::Exists {
                path: "/x".into(),
                watch: true,
            },
        ]
        .into_iter()
        .map(|op| ZCommand { session: s, op })
        .collect()
    }

    #[test]
    fn commands_round_trip_and_every_cut_or_extension_is_refused() {
        for command in samples() {
            let data = command.encode();
            assert_eq!(ZCommand::decode(&data), Some(command));
            for cut in 0..data.len() {
                assert_eq!(ZCommand::decode(&data[..cut]), None, "cut {cut}");
            }
            let mut longer = data.to_vec();
            longer.push(0);
            assert_eq!(ZCommand::decode(&longer), None);
        }
    }

    #[test]
    fn answers_and_events_round_trip() {
        let stat = Stat {
            czxid: 5,
            mzxid: 9,
            pzxid: 7,
            version: 2,
            cversion: 1,
            ephemeral_owner: 3,
            data_length: 4,
            num_children: 0,
        };
        for answer in [
            ZAnswer::Ok,
            ZAnswer::Created {
                path: "/l/n-0000000001".into(),
                stat,
            },
            ZAnswer::Exists(None),
            ZAnswer::Children {
                children: vec!["a".into()],
                stat,
            },
            ZAnswer::Error(ZError::BadVersion {
                path: "/a".into(),
                actual: 1,
                expected: 0,
            }),
        ] {
            assert_eq!(ZAnswer::decode(&answer.encode()), Some(answer));
        }
        let ev = WatchEvent {
            kind: WatchKind::NodeDeleted,
            path: "/l".into(),
            index: 12,
        };
        assert_eq!(WatchEvent::decode(&ev.encode()), Some(ev));
        assert_eq!(ZAnswer::decode(&[0xff; 12]), None);
        assert_eq!(WatchEvent::decode(&[]), None);
    }
}
