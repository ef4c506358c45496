//! Service registration and discovery. A provider registers by creating an ephemeral
//! sequential node `dir/instance-` holding its address: it stays listed while its
//! session lives and vanishes with it. A consumer lists `dir` with a child watch and
//! lists again whenever the watch fires, so it learns of every instance that comes or
//! goes (a change between the firing and the new listing is in that listing).

use super::{Next, Recipe, Standing};
use crate::command::{CreateMode, WatchEvent, WatchKind, ZAnswer, ZError, ZOp, ANY_VERSION};
use bytes::Bytes;

/// A provider's registration: `Held` once listed, with its node.
#[derive(Debug, Clone)]
pub struct Registration {
    dir: String,
    address: Bytes,
    /// Whether the directory has been created (or found).
    dir_ready: bool,
    sent: Option<ZOp>,
    standing: Standing,
}

impl Registration {
    /// A provider of the service listed under `dir` (whose parent must exist), at
    /// `address`.
    pub fn new(dir: &str, address: &[u8]) -> Registration {
        Registration {
            dir: dir.into(),
            address: Bytes::copy_from_slice(address),
            dir_ready: false,
            sent: None,
            standing: Standing::Waiting,
        }
    }

    fn register(&mut self) -> Next {
        let op = ZOp::Create {
            path: format!("{}/instance-", self.dir),
            data: self.address.clone(),
            mode: CreateMode::EphemeralSequential,
        };
        self.sent = Some(op.clone());
        Next::Send(op)
    }
}

impl Recipe for Registration {
    fn start(&mut self) -> ZOp {
        let op = ZOp::Create {
            path: self.dir.clone(),
            data: Bytes::new(),
            mode: CreateMode::Persistent,
        };
        self.sent = Some(op.clone());
        op
    }

    fn on_answer(&mut self, answer: &ZAnswer) -> Next {
        match answer {
            ZAnswer::Error(ZError::SessionExpired(_)) => {
                self.standing = Standing::Lost;
                Next::Wait
            }
            _ if !self.dir_ready => {
                self.dir_ready = true;
                self.register()
            }
            ZAnswer::Created { path, stat } if self.standing == Standing::Waiting => {
                self.standing = Standing::Held {
                    token: stat.czxid,
                    node: path.clone(),
                };
                Next::Wait
            }
            _ => Next::Wait,
        }
    }

    fn on_event(&mut self, event: &WatchEvent) -> Next {
        if event.kind == WatchKind::SessionExpired {
            self.standing = Standing::Lost;
        }
        Next::Wait
    }

    fn on_reconnect(&mut self) -> Next {
        match (&self.standing, self.sent.clone()) {
            (Standing::Waiting, Some(op)) => {
                self.sent = Some(op.clone());
                Next::Send(op)
            }
            _ => Next::Wait,
        }
    }

    fn standing(&self) -> Standing {
        self.standing.clone()
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
        Some(op)
    }
}

/// A consumer's view of the providers listed under a directory.
#[derive(Debug, Clone)]
pub struct Discovery {
    dir: String,
    /// The instances in the last listing (names).
    instances: Vec<String>,
    /// Listings received.
    listings: u64,
}

impl Discovery {
    /// A consumer of the service listed under `dir`.
    pub fn new(dir: &str) -> Discovery {
        Discovery {
            dir: dir.into(),
            instances: Vec::new(),
            listings: 0,
        }
    }

    /// The instances it knows of now.
    pub fn instances(&self) -> &[String] {
        &self.instances
    }

    /// Listings received so far.
    pub fn listings(&self) -> u64 {
        self.listings
    }

    fn list(&self) -> ZOp {
        ZOp::GetChildren {
            path: self.dir.clone(),
            watch: true,
        }
    }
}

impl Recipe for Discovery {
    fn start(&mut self) -> ZOp {
        self.list()
    }

    /// The answer to a listing: the instances now. A missing directory lists none;
    /// look again with an exists watch (it fires when the directory is created).
    fn on_answer(&mut self, answer: &ZAnswer) -> Next {
        match answer {
            ZAnswer::Children { children, .. } => {
                self.instances = children.clone();
                self.listings += 1;
                Next::Wait
            }
            ZAnswer::Error(ZError::NoNode(_)) => {
                self.instances.clear();
                Next::Send(ZOp::Exists {
                    path: self.dir.clone(),
                    watch: true,
                })
            }
            ZAnswer::Exists(Some(_)) => Next::Send(self.list()),
            _ => Next::Wait,
        }
    }

    /// A watch fired: list again.
    fn on_event(&mut self, event: &WatchEvent) -> Next {
        match event.kind {
            WatchKind::SessionExpired => Next::Wait,
            _ => Next::Send(self.list()),
        }
    }

    /// After moving to another node: list again (the watch stayed behind).
    fn on_reconnect(&mut self) -> Next {
        Next::Send(self.list())
    }

    /// Always waiting: a consumer holds nothing.
    fn standing(&self) -> Standing {
        Standing::Waiting
    }

    fn release(&mut self) -> Option<ZOp> {
        None
    }

    fn view(&self) -> Vec<String> {
        self.instances.clone()
    }
}
