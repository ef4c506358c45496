//! The unfair election (and the simplest lock): every candidate races to create one
//! ephemeral node; the one whose create succeeds leads. The others leave an exists
//! watch on it and race again when it is deleted (its holder released it, or its
//! session expired), all of them at once: who wins is whoever's create the leader
//! orders first, not who waited longest.

use super::{Next, Recipe, Standing};
use crate::command::{CreateMode, WatchEvent, WatchKind, ZAnswer, ZError, ZOp, ANY_VERSION};
use bytes::Bytes;

/// One candidate.
#[derive(Debug, Clone)]
pub struct RaceLock {
    /// The node everyone races to create.
    path: String,
    /// What the winner writes into it (its name).
    data: Bytes,
    /// The last operation sent.
    sent: Option<ZOp>,
    standing: Standing,
}

impl RaceLock {
    /// A candidate for `path`, writing `data` (its name) if it wins.
    pub fn new(path: &str, data: &[u8]) -> RaceLock {
        RaceLock {
            path: path.into(),
            data: Bytes::copy_from_slice(data),
            sent: None,
            standing: Standing::Waiting,
        }
    }

    fn send(&mut self, op: ZOp) -> Next {
        self.sent = Some(op.clone());
        Next::Send(op)
    }

    fn race(&mut self) -> Next {
        let op = ZOp::Create {
            path: self.path.clone(),
            data: self.data.clone(),
            mode: CreateMode::Ephemeral,
        };
        self.send(op)
    }

    fn watch(&mut self) -> Next {
        let op = ZOp::Exists {
            path: self.path.clone(),
            watch: true,
        };
        self.send(op)
    }
}

impl Recipe for RaceLock {
    fn start(&mut self) -> ZOp {
        match self.race() {
            Next::Send(op) => op,
            Next::Wait => unreachable!("race always sends"),
        }
    }

    fn on_answer(&mut self, answer: &ZAnswer) -> Next {
        if self.standing != Standing::Waiting {
            return Next::Wait;
        }
        match (self.sent.as_ref(), answer) {
            (Some(ZOp::Create { .. }), ZAnswer::Created { path, stat }) => {
                self.standing = Standing::Held {
                    token: stat.czxid,
                    node: path.clone(),
                };
                Next::Wait
            }
            (Some(ZOp::Create { .. }), ZAnswer::Error(ZError::NodeExists(_))) => self.watch(),
            // Gone before the watch was set: race again; there: wait for its deletion.
            (Some(ZOp::Exists { .. }), ZAnswer::Exists(None)) => self.race(),
            (Some(ZOp::Exists { .. }), ZAnswer::Exists(Some(_))) => Next::Wait,
            (_, ZAnswer::Error(ZError::SessionExpired(_))) => {
                self.standing = Standing::Lost;
                Next::Wait
            }
            _ => Next::Wait,
        }
    }

    fn on_event(&mut self, event: &WatchEvent) -> Next {
        match event.kind {
            WatchKind::SessionExpired => {
                self.standing = Standing::Lost;
                Next::Wait
            }
            WatchKind::NodeDeleted if self.standing == Standing::Waiting => self.race(),
            // Created or changed: the watch is used up; set it again.
            _ if self.standing == Standing::Waiting => self.watch(),
            _ => Next::Wait,
        }
    }

    fn on_reconnect(&mut self) -> Next {
        match (&self.standing, self.sent.clone()) {
            (Standing::Waiting, Some(op)) => self.send(op),
            _ => Next::Wait,
        }
    }

    fn standing(&self) -> Standing {
        self.standing.clone()
    }

    /// The node it raced for, while it waits with an exists watch on it.
    fn watched(&self) -> Option<String> {
        match (&self.standing, &self.sent) {
            (Standing::Waiting, Some(ZOp::Exists { path, .. })) => Some(path.clone()),
            _ => None,
        }
    }

    fn release(&mut self) -> Option<ZOp> {
        let Standing::Held { node, .. } = &self.standing else {
            return None;
        };
        let op = ZOp::Delete {
            path: node.clone(),
            version: ANY_VERSION,
        };
        self.standing = Standing::Released;
        self.sent = Some(op.clone());
        Some(op)
    }
}
