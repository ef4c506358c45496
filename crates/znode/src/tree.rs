//! The znode tree as a deterministic state machine: every replica applies the same
//! committed [`ZCommand`]s in the same order and holds the same tree and sessions.
//!
//! Indexes in stats are log indexes ([`ZnodeTree::applied`] counts entries, no-ops
//! included), the analogue of ZooKeeper's zxids: `czxid` of a node is the index of the
//! entry that created it, unique and increasing, which makes it a fencing token.
//! Sequential nodes take their parent's next sequence number, counting from 1 and
//! written in 10 digits (`/lock/n-0000000001`); the counter belongs to the parent and
//! is never reused, even after its children are deleted.

use crate::command::{
    CreateMode, Stat, WatchKind, ZAnswer, ZCommand, ZError, ZOp, ANY_VERSION, MAX_DATA,
};
use crate::path::{self, ROOT};
use crate::session::{Liveness, SessionState, Sessions};
use crate::watch::Watches;
use bytes::Bytes;
use kv::{ApplyContext, Session, StateMachine};
use std::collections::{BTreeMap, BTreeSet};

/// The largest sequence number (10 digits).
pub const MAX_SEQUENCE: u64 = 9_999_999_999;

/// One znode.
#[derive(Debug, Clone)]
struct Znode {
    data: Bytes,
    stat: Stat,
    /// Children's names.
    children: BTreeSet<String>,
    /// The next sequence number for a sequential child.
    next_sequence: u64,
}

/// The tree, its sessions, and this node's watches and session judgements.
#[derive(Debug)]
pub struct ZnodeTree {
    /// Every node by full path (replicated).
    nodes: BTreeMap<String, Znode>,
    /// Sessions (replicated).
    sessions: Sessions,
    /// Entries applied (replicated: the log index).
    applied: u64,
    /// Retries not applied twice.
    duplicates: u64,
    /// Watches of this node's clients (local).
    watches: Watches,
    /// Sessions whose commands came from clients connected here (local).
    local_sessions: BTreeSet<u64>,
    /// When sessions were last heard from here (local).
    liveness: Liveness,
}

impl Default for ZnodeTree {
    fn default() -> Self {
        ZnodeTree::new()
    }
}

impl ZnodeTree {
    /// A tree holding only the root.
    pub fn new() -> ZnodeTree {
        let root = Znode {
            data: Bytes::new(),
            stat: Stat::default(),
            children: BTreeSet::new(),
            next_sequence: 1,
        };
        ZnodeTree {
            nodes: BTreeMap::from([(ROOT.to_string(), root)]),
            sessions: Sessions::default(),
            applied: 0,
            duplicates: 0,
            watches: Watches::default(),
            local_sessions: BTreeSet::new(),
            liveness: Liveness::default(),
        }
    }

    /// Applies one committed command (see the module docs); `None` only for an old
    /// duplicate of a session's command.
    pub fn apply(&mut self, data: &[u8], ctx: ApplyContext) -> Option<ZAnswer> {
        self.applied += 1;
        let index = self.applied;
        let Some(ZCommand { session, op }) = ZCommand::decode(data) else {
            return Some(ZAnswer::Error(ZError::Malformed));
        };
        let client = session.client;
        if client != 0 {
            if let Some(answer) = self.admit(session, &op, ctx) {
                return answer;
            }
        }
        let answer = self.execute(client, op, index, ctx.local);
        if let Some(s) = self.sessions.open.get_mut(&client) {
            s.last_seq = session.seq;
            s.last_answer = Some(answer.encode());
        }
        Some(answer)
    }

    /// Session checks before a command of `session` runs: `Some(answer)` if it must not
    /// run (a duplicate, or a session that is not open), `None` if it may.
    fn admit(&mut self, session: Session, op: &ZOp, ctx: ApplyContext) -> Option<Option<ZAnswer>> {
        let client = session.client;
        if self.sessions.ended.contains(&client) {
            return Some(Some(ZAnswer::Error(ZError::SessionExpired(client))));
        }
        match self.sessions.open.get(&client) {
            // A heartbeat is idempotent: never a duplicate, and it numbers nothing, so
            // a client may send one beside its outstanding command.
            Some(_) if matches!(op, ZOp::Touch) => {
                self.liveness.heard(client, ctx.now_ms);
                return Some(Some(ZAnswer::Ok));
            }
            // A retry of the last command that is a read runs again: reads change
            // nothing, and the retry must leave its watch on the node it now reaches
            // (an answer from memory would leave none, and the client would wait for
            // an event that never comes).
            Some(s) if session.seq == s.last_seq && op.is_read() => {}
            Some(s) if session.seq <= s.last_seq => {
                self.duplicates += 1;
                let again = (session.seq == s.last_seq)
                    .then(|| s.last_answer.as_deref().and_then(ZAnswer::decode))
                    .flatten();
                return Some(again);
            }
            Some(_) => {}
            None if matches!(op, ZOp::OpenSession { .. }) => {}
            None => return Some(Some(ZAnswer::Error(ZError::SessionExpired(client)))),
        }
        self.liveness.heard(client, ctx.now_ms);
        if ctx.local {
            self.local_sessions.insert(client);
        }
        None
    }

    /// Runs one admitted operation at log index `index`.
    fn execute(&mut self, client: u64, op: ZOp, index: u64, local: bool) -> ZAnswer {
        let result = match op {
            ZOp::OpenSession { timeout_ms } => {
                if client == 0 {
                    Err(ZError::NoSession)
                } else {
                    let s = self.sessions.open.entry(client).or_default();
                    s.timeout_ms = timeout_ms;
                    Ok(ZAnswer::SessionOpened {
                        session: client,
                        timeout_ms,
                    })
                }
            }
            ZOp::Touch => Ok(ZAnswer::Ok),
            ZOp::CloseSession => {
                self.end_session(client, index);
                Ok(ZAnswer::Ok)
            }
            ZOp::Expire { sessions } => {
                for s in sessions {
                    self.end_session(s, index);
                }
                Ok(ZAnswer::Ok)
            }
            ZOp::Create { path, data, mode } => self.create(client, &path, data, mode, index),
            ZOp::Delete { path, version } => self.delete(&path, version, index),
            ZOp::SetData {
                path,
                data,
                version,
            } => self.set_data(&path, data, version, index),
            ZOp::GetData { path, watch } => self.get_data(client, &path, watch && local),
            ZOp::GetChildren { path, watch } => self.get_children(client, &path, watch && local),
            ZOp::Exists { path, watch } => path::validate(&path).map(|()| {
                if watch && local && client != 0 {
                    self.watches.watch_data(client, &path);
                }
                ZAnswer::Exists(self.stat_of(&path))
            }),
        };
        result.unwrap_or_else(ZAnswer::Error)
    }

    fn create(
        &mut self,
        client: u64,
        path: &str,
        data: Bytes,
        mode: CreateMode,
        index: u64,
    ) -> Result<ZAnswer, ZError> {
        if data.len() > MAX_DATA {
            return Err(ZError::DataTooLarge {
                len: data.len(),
                max: MAX_DATA,
            });
        }
        // A sequential path may end with '/': it is checked with a suffix.
        let checked = if mode.is_sequential() {
            format!("{path}{:010}", 0)
        } else {
            path.to_string()
        };
        path::validate(&checked)?;
        if checked == ROOT {
            return Err(ZError::NodeExists(ROOT.into()));
        }
        if mode.is_ephemeral() && client == 0 {
            return Err(ZError::NoSession);
        }
        let parent_path = path::parent(&checked).to_string();
        let parent = self
            .nodes
            .get(&parent_path)
            .ok_or_else(|| ZError::NoNode(parent_path.clone()))?;
        if parent.stat.ephemeral_owner != 0 {
            return Err(ZError::NoChildrenForEphemerals(parent_path));
        }
        let full = if mode.is_sequential() {
            if parent.next_sequence > MAX_SEQUENCE {
                return Err(ZError::SequenceExhausted(parent_path));
            }
            format!("{path}{:010}", parent.next_sequence)
        } else {
            checked
        };
        if self.nodes.contains_key(&full) {
            return Err(ZError::NodeExists(full));
        }
        let owner = if mode.is_ephemeral() { client } else { 0 };
        let stat = Stat {
            czxid: index,
            mzxid: index,
            pzxid: index,
            version: 0,
            cversion: 0,
            ephemeral_owner: owner,
            data_length: data.len() as u32,
            num_children: 0,
        };
        if let Some(parent) = self.nodes.get_mut(&parent_path) {
            parent.children.insert(path::name(&full).to_string());
            parent.stat.cversion = parent.stat.cversion.wrapping_add(1);
            parent.stat.pzxid = index;
            parent.stat.num_children = parent.children.len() as u32;
            if mode.is_sequential() {
                parent.next_sequence += 1;
            }
        }
        if owner != 0 {
            if let Some(s) = self.sessions.open.get_mut(&owner) {
                s.ephemerals.insert(full.clone());
            }
        }
        self.nodes.insert(
            full.clone(),
            Znode {
                data,
                stat,
                children: BTreeSet::new(),
                next_sequence: 1,
            },
        );
        self.watches.trigger(WatchKind::NodeCreated, &full, index);
        self.watches
            .trigger(WatchKind::NodeChildrenChanged, &parent_path, index);
        Ok(ZAnswer::Created { path: full, stat })
    }

    fn delete(&mut self, path: &str, version: i32, index: u64) -> Result<ZAnswer, ZError> {
        path::validate(path)?;
        if path == ROOT {
            return Err(ZError::BadPath("\"/\": the root cannot be deleted".into()));
        }
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| ZError::NoNode(path.into()))?;
        check_version(path, node.stat.version, version)?;
        if !node.children.is_empty() {
            return Err(ZError::NotEmpty(path.into()));
        }
        self.remove(path, index);
        Ok(ZAnswer::Ok)
    }

    /// Removes a childless node and fires its watches.
    fn remove(&mut self, path: &str, index: u64) {
        let Some(node) = self.nodes.remove(path) else {
            return;
        };
        let parent_path = path::parent(path).to_string();
        if let Some(parent) = self.nodes.get_mut(&parent_path) {
            parent.children.remove(path::name(path));
            parent.stat.cversion = parent.stat.cversion.wrapping_add(1);
            parent.stat.pzxid = index;
            parent.stat.num_children = parent.children.len() as u32;
        }
        if let Some(s) = self.sessions.open.get_mut(&node.stat.ephemeral_owner) {
            s.ephemerals.remove(path);
        }
        self.watches.trigger(WatchKind::NodeDeleted, path, index);
        self.watches
            .trigger(WatchKind::NodeChildrenChanged, &parent_path, index);
    }

    fn set_data(
        &mut self,
        path: &str,
        data: Bytes,
        version: i32,
        index: u64,
    ) -> Result<ZAnswer, ZError> {
        path::validate(path)?;
        if data.len() > MAX_DATA {
            return Err(ZError::DataTooLarge {
                len: data.len(),
                max: MAX_DATA,
            });
        }
        let node = self
            .nodes
            .get_mut(path)
            .ok_or_else(|| ZError::NoNode(path.into()))?;
        check_version(path, node.stat.version, version)?;
        node.stat.version = node.stat.version.wrapping_add(1);
        node.stat.mzxid = index;
        node.stat.data_length = data.len() as u32;
        node.data = data;
        let stat = node.stat;
        self.watches
            .trigger(WatchKind::NodeDataChanged, path, index);
        Ok(ZAnswer::Stat(stat))
    }

    fn get_data(&mut self, client: u64, path: &str, watch: bool) -> Result<ZAnswer, ZError> {
        path::validate(path)?;
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| ZError::NoNode(path.into()))?;
        let answer = ZAnswer::Data {
            data: node.data.clone(),
            stat: node.stat,
        };
        if watch && client != 0 {
            self.watches.watch_data(client, path);
        }
        Ok(answer)
    }

    fn get_children(&mut self, client: u64, path: &str, watch: bool) -> Result<ZAnswer, ZError> {
        path::validate(path)?;
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| ZError::NoNode(path.into()))?;
        let answer = ZAnswer::Children {
            children: node.children.iter().cloned().collect(),
            stat: node.stat,
        };
        if watch && client != 0 {
            self.watches.watch_children(client, path);
        }
        Ok(answer)
    }

    /// Ends a session at `index`: deletes its ephemeral nodes (firing their watches),
    /// drops its watches here and tells its client if connected here.
    fn end_session(&mut self, session: u64, index: u64) {
        let Some(state) = self.sessions.open.remove(&session) else {
            return;
        };
        self.sessions.ended.insert(session);
        for path in &state.ephemerals {
            self.remove(path, index);
        }
        self.liveness.forget(session);
        let here = self.local_sessions.remove(&session);
        self.watches.session_ended(session, index, here);
    }

    fn stat_of(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path).map(|n| n.stat)
    }

    /// A node's data and stat, read directly (tests and displays; clients read through
    /// the log).
    pub fn peek(&self, path: &str) -> Option<(&Bytes, Stat)> {
        self.nodes.get(path).map(|n| (&n.data, n.stat))
    }

    /// A node's children, read directly.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.nodes
            .get(path)
            .map(|n| n.children.iter().cloned().collect())
    }

    /// Nodes in the tree, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether only the root is there.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// Open sessions and their ephemeral nodes.
    pub fn open_sessions(&self) -> impl Iterator<Item = (u64, &SessionState)> {
        self.sessions.open.iter().map(|(&id, s)| (id, s))
    }

    /// Entries applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Watches registered on this node.
    pub fn watches(&self) -> usize {
        self.watches.len()
    }

    /// A digest of the replicated state (nodes, stats, data, sessions), equal on
    /// replicas that applied the same entries; for checks.
    pub fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for (path, node) in &self.nodes {
            mix(path.as_bytes());
            mix(&node.data);
            mix(&postcard::to_stdvec(&node.stat).unwrap_or_default());
            mix(&node.next_sequence.to_le_bytes());
        }
        for (id, s) in &self.sessions.open {
            mix(&id.to_le_bytes());
            mix(&s.timeout_ms.to_le_bytes());
            mix(&s.last_seq.to_le_bytes());
        }
        mix(&self.applied.to_le_bytes());
        h
    }
}

/// ZooKeeper's version check: `expected` must be the node's version, or -1.
fn check_version(path: &str, actual: i32, expected: i32) -> Result<(), ZError> {
    if expected == ANY_VERSION || expected == actual {
        Ok(())
    } else {
        Err(ZError::BadVersion {
            path: path.into(),
            actual,
            expected,
        })
    }
}

impl StateMachine for ZnodeTree {
    fn apply_command(&mut self, data: &Bytes, ctx: ApplyContext) -> Option<Bytes> {
        self.apply(data, ctx).map(|a| a.encode())
    }

    fn skip(&mut self) {
        self.applied += 1;
    }

    fn applied(&self) -> u64 {
        self.applied
    }

    fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// `key` is a path; the value is the node's data and stat, as the bytes of a
    /// [`ZAnswer::Data`].
    fn peek_value(&self, key: &[u8]) -> Option<Bytes> {
        let path = std::str::from_utf8(key).ok()?;
        self.peek(path).map(|(data, stat)| {
            ZAnswer::Data {
                data: data.clone(),
                stat,
            }
            .encode()
        })
    }

    fn client_of(&self, data: &[u8]) -> Option<u64> {
        // The command starts with its session's client id (a postcard varint).
        let mut at = 0;
        kv::varint(data, &mut at).filter(|&c| c != 0)
    }

    fn take_notifications(&mut self) -> Vec<(u64, Bytes)> {
        self.watches
            .take()
            .into_iter()
            .map(|(session, event)| (session, event.encode()))
            .collect()
    }

    fn proposals(&mut self, now_ms: u64, leading: bool) -> Vec<Bytes> {
        let dead = self.liveness.dead(&self.sessions, now_ms, leading);
        if dead.is_empty() {
            return Vec::new();
        }
        vec![ZCommand {
            session: Session::NONE,
            op: ZOp::Expire { sessions: dead },
        }
        .encode()]
    }
}
