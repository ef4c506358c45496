//! Locks and the fair election as a queue of ephemeral sequential nodes under one
//! parent (ZooKeeper's lock and leader-election recipes).
//!
//! 1. Create the parent if missing, then `parent/<prefix>-` as an ephemeral sequential
//!    node; its creation index is the fencing token.
//! 2. List the parent's children and order them by sequence number. The nodes this one
//!    waits for: every node before it for an exclusive lock or a writer, only the
//!    writers before it for a reader (readers share).
//! 3. None: it holds the lock (leads). Else, with [`Waiting::Predecessor`], leave an
//!    exists watch on the last node it waits for (if that node is already gone, list
//!    again); with [`Waiting::Herd`], the listing itself left a child watch on the
//!    parent. When the watch fires, go to 2.
//!
//! With the herd variant every change under the parent wakes every waiter, and each of
//! them lists the parent again; with the predecessor variant the deletion of one node
//! wakes the one waiter behind it.

use super::{sequence_of, Next, Recipe, Standing, Waiting};
use crate::command::{CreateMode, WatchEvent, WatchKind, ZAnswer, ZError, ZOp, ANY_VERSION};
use crate::path;
use bytes::Bytes;

/// Which kind of node this client queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Exclusive lock, or election candidate (prefix `n-`).
    Exclusive,
    /// Shared reader of a read/write lock (prefix `read-`).
    Read,
    /// Writer of a read/write lock (prefix `write-`).
    Write,
}

impl Access {
    /// The prefix of its nodes' names.
    pub fn prefix(self) -> &'static str {
        match self {
            Access::Exclusive => "n-",
            Access::Read => "read-",
            Access::Write => "write-",
        }
    }
}

/// Where the client is in the steps above.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Creating the parent (step 1).
    Parent,
    /// Creating its own node (step 1).
    Joining,
    /// Listing (step 2).
    Listing,
    /// Setting the predecessor watch (step 3).
    Watching(String),
    /// Waiting for a watch to fire, or done.
    Idle,
}

/// One client of a queue lock or fair election.
#[derive(Debug, Clone)]
pub struct QueueLock {
    parent: String,
    access: Access,
    waiting: Waiting,
    /// Written into its node (the candidate's name, a host:port).
    data: Bytes,
    /// Its node's name, once created.
    mine: Option<String>,
    /// Its node's creation index.
    token: u64,
    step: Step,
    /// The last operation sent.
    sent: Option<ZOp>,
    standing: Standing,
    /// The node it waits for now, if it watches one (for narration).
    watched: Option<String>,
}

impl QueueLock {
    /// A client queueing under `parent` (whose own parent must exist).
    pub fn new(parent: &str, access: Access, waiting: Waiting, data: &[u8]) -> QueueLock {
        QueueLock {
            parent: parent.into(),
            access,
            waiting,
            data: Bytes::copy_from_slice(data),
            mine: None,
            token: 0,
            step: Step::Parent,
            sent: None,
            standing: Standing::Waiting,
            watched: None,
        }
    }

    /// Its own node's full path, once created.
    pub fn node(&self) -> Option<String> {
        self.mine.as_ref().map(|m| path::join(&self.parent, m))
    }

    /// The node it watches now (predecessor variant), if any.
    pub fn watched(&self) -> Option<&str> {
        self.watched.as_deref()
    }

    fn send(&mut self, step: Step, op: ZOp) -> Next {
        self.step = step;
        self.sent = Some(op.clone());
        Next::Send(op)
    }

    fn join(&mut self) -> Next {
        let op = ZOp::Create {
            path: path::join(&self.parent, self.access.prefix()),
            data: self.data.clone(),
            mode: CreateMode::EphemeralSequential,
        };
        self.send(Step::Joining, op)
    }

    fn list(&mut self) -> Next {
        let op = ZOp::GetChildren {
            path: self.parent.clone(),
            watch: self.waiting == Waiting::Herd,
        };
        self.send(Step::Listing, op)
    }

    /// Step 2 on a listing.
    fn decide(&mut self, children: &[String]) -> Next {
        let Some(mine) = self.mine.clone() else {
            return self.join();
        };
        let Some(my_seq) = sequence_of(&mine) else {
            return Next::Wait;
        };
        if !children.contains(&mine) {
            // Its node is gone: its session ended.
            self.standing = Standing::Lost;
            self.step = Step::Idle;
            return Next::Wait;
        }
        let mut queue: Vec<(u64, &String)> = children
            .iter()
            .filter_map(|c| sequence_of(c).map(|s| (s, c)))
            .filter(|&(s, _)| s < my_seq)
            .collect();
        queue.sort();
        let blocker = queue
            .iter()
            .rev()
            .find(|(_, name)| match self.access {
                Access::Read => name.starts_with(Access::Write.prefix()),
                Access::Exclusive | Access::Write => true,
            })
            .map(|(_, name)| (*name).clone());
        match blocker {
            None => {
                self.standing = Standing::Held {
                    token: self.token,
                    node: path::join(&self.parent, &mine),
                };
                self.watched = None;
                self.step = Step::Idle;
                Next::Wait
            }
            Some(_) if self.waiting == Waiting::Herd => {
                self.step = Step::Idle;
                Next::Wait
            }
            Some(before) => {
                let target = path::join(&self.parent, &before);
                self.watched = Some(target.clone());
                let op = ZOp::Exists {
                    path: target.clone(),
                    watch: true,
                };
                self.send(Step::Watching(target), op)
            }
        }
    }
}

impl Recipe for QueueLock {
    fn start(&mut self) -> ZOp {
        let op = ZOp::Create {
            path: self.parent.clone(),
            data: Bytes::new(),
            mode: CreateMode::Persistent,
        };
        self.step = Step::Parent;
        self.sent = Some(op.clone());
        op
    }

    fn on_answer(&mut self, answer: &ZAnswer) -> Next {
        if let ZAnswer::Error(ZError::SessionExpired(_)) = answer {
            self.standing = Standing::Lost;
            self.step = Step::Idle;
            return Next::Wait;
        }
        if self.standing != Standing::Waiting {
            return Next::Wait;
        }
        match (&self.step, answer) {
            (Step::Parent, _) => self.join(),
            (Step::Joining, ZAnswer::Created { path: full, stat }) => {
                self.mine = Some(path::name(full).to_string());
                self.token = stat.czxid;
                self.list()
            }
            (Step::Listing, ZAnswer::Children { children, .. }) => {
                let children = children.clone();
                self.decide(&children)
            }
            (Step::Watching(_), ZAnswer::Exists(None)) => self.list(),
            (Step::Watching(_), ZAnswer::Exists(Some(_))) => {
                self.step = Step::Idle;
                Next::Wait
            }
            _ => Next::Wait,
        }
    }

    fn on_event(&mut self, event: &WatchEvent) -> Next {
        match event.kind {
            WatchKind::SessionExpired => {
                self.standing = Standing::Lost;
                self.step = Step::Idle;
                Next::Wait
            }
            _ if self.standing == Standing::Waiting && self.step == Step::Idle => self.list(),
            _ => Next::Wait,
        }
    }

    fn on_reconnect(&mut self) -> Next {
        if self.standing != Standing::Waiting {
            return Next::Wait;
        }
        match (&self.step, self.sent.clone()) {
            // The answer may have been lost: send it again (a retry of a create is
            // answered from the session's memory, not applied twice).
            (Step::Parent | Step::Joining, Some(op)) => self.send(self.step.clone(), op),
            // Watches stayed on the old node: check again here.
            _ => self.list(),
        }
    }

    fn standing(&self) -> Standing {
        self.standing.clone()
    }

    fn watched(&self) -> Option<String> {
        self.watched.clone()
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
        self.step = Step::Idle;
        self.sent = Some(op.clone());
        Some(op)
    }
}
