//! Deliberately broken recipe clients, for showing that the checks catch what they
//! claim to ([`crate::chaos`], the tests). Never used outside a check.
//!
//! - [`RecipeBug::SkipWatch`]: a queue lock that looks at the node before its own
//!   without leaving a watch on it. When that node goes, nobody tells it: it waits
//!   forever with the lock free (a missed watch event).
//! - [`RecipeBug::TrustEvent`]: a queue lock that takes the lock as soon as the node
//!   it watches is deleted, without listing the parent again. ZooKeeper's recipe says
//!   to list again: the node before may have gone because its client's session
//!   expired while earlier holders still hold (two holders at once).
//! - [`RecipeBug::NoFence`]: the resource the lock guards takes every action,
//!   whatever its fencing token: a holder paused past its session's expiry acts after
//!   the next holder did (overlapping holders).
//!
//! The same bugs run on real processes (`cwb nemesis --workload recipes --recipe-bug
//! B`), where the checks of [`crate::live`] and the fence catch them.

use std::fmt;
use std::str::FromStr;
use znode::recipes::queue::QueueLock;
use znode::recipes::{Next, Recipe, Standing};
use znode::{WatchEvent, WatchKind, ZAnswer, ZOp};

/// A known-broken recipe client or resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipeBug {
    /// Waits on the node before its own without a watch.
    SkipWatch,
    /// Takes the lock on the watch event without listing again.
    TrustEvent,
    /// The guarded resource does not check fencing tokens.
    NoFence,
}

impl RecipeBug {
    /// Every bug, by name.
    pub const ALL: [(&'static str, RecipeBug); 3] = [
        ("skip-watch", RecipeBug::SkipWatch),
        ("trust-event", RecipeBug::TrustEvent),
        ("no-fence", RecipeBug::NoFence),
    ];

    /// The lock client this bug runs instead of `lock` (the resource bug keeps it).
    pub fn wrap(bug: Option<RecipeBug>, lock: QueueLock) -> Box<dyn Recipe + Send> {
        match bug {
            Some(RecipeBug::SkipWatch) => Box::new(SkipWatch(lock)),
            Some(RecipeBug::TrustEvent) => Box::new(TrustEvent {
                lock,
                token: 0,
                taken: None,
            }),
            Some(RecipeBug::NoFence) | None => Box::new(lock),
        }
    }
}

impl fmt::Display for RecipeBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = RecipeBug::ALL
            .iter()
            .find(|(_, b)| b == self)
            .map_or("?", |(n, _)| n);
        f.write_str(name)
    }
}

impl FromStr for RecipeBug {
    type Err = String;

    fn from_str(s: &str) -> Result<RecipeBug, String> {
        RecipeBug::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, b)| *b)
            .ok_or_else(|| {
                let names: Vec<&str> = RecipeBug::ALL.iter().map(|(n, _)| *n).collect();
                format!("no recipe bug {s:?}; known: {}", names.join(", "))
            })
    }
}

/// [`RecipeBug::SkipWatch`].
struct SkipWatch(QueueLock);

impl SkipWatch {
    fn unwatched(next: Next) -> Next {
        match next {
            Next::Send(ZOp::Exists { path, .. }) => Next::Send(ZOp::Exists { path, watch: false }),
            other => other,
        }
    }
}

impl Recipe for SkipWatch {
    fn start(&mut self) -> ZOp {
        self.0.start()
    }
    fn on_answer(&mut self, answer: &ZAnswer) -> Next {
        SkipWatch::unwatched(self.0.on_answer(answer))
    }
    fn on_event(&mut self, event: &WatchEvent) -> Next {
        SkipWatch::unwatched(self.0.on_event(event))
    }
    fn on_reconnect(&mut self) -> Next {
        SkipWatch::unwatched(self.0.on_reconnect())
    }
    fn standing(&self) -> Standing {
        self.0.standing()
    }
    fn release(&mut self) -> Option<ZOp> {
        self.0.release()
    }
    fn watched(&self) -> Option<String> {
        Recipe::watched(&self.0)
    }
}

/// [`RecipeBug::TrustEvent`].
struct TrustEvent {
    lock: QueueLock,
    /// Its node's creation index.
    token: u64,
    /// Taken on a watch event: the standing it claims.
    taken: Option<Standing>,
}

impl Recipe for TrustEvent {
    fn start(&mut self) -> ZOp {
        self.lock.start()
    }
    fn on_answer(&mut self, answer: &ZAnswer) -> Next {
        if let ZAnswer::Created { stat, .. } = answer {
            self.token = stat.czxid;
        }
        if self.taken.is_some() {
            return Next::Wait;
        }
        self.lock.on_answer(answer)
    }
    fn on_event(&mut self, event: &WatchEvent) -> Next {
        let watched = Recipe::watched(&self.lock);
        if event.kind == WatchKind::NodeDeleted
            && self.taken.is_none()
            && self.lock.standing() == Standing::Waiting
            && watched.as_deref() == Some(event.path.as_str())
        {
            if let Some(node) = self.lock.node() {
                self.taken = Some(Standing::Held {
                    token: self.token,
                    node,
                });
                return Next::Wait;
            }
        }
        self.lock.on_event(event)
    }
    fn on_reconnect(&mut self) -> Next {
        if self.taken.is_some() {
            return Next::Wait;
        }
        self.lock.on_reconnect()
    }
    fn standing(&self) -> Standing {
        self.taken.clone().unwrap_or_else(|| self.lock.standing())
    }
    fn release(&mut self) -> Option<ZOp> {
        let Some(Standing::Held { node, .. }) = self.taken.take() else {
            return self.lock.release();
        };
        self.taken = Some(Standing::Released);
        Some(ZOp::Delete {
            path: node,
            version: znode::ANY_VERSION,
        })
    }
    fn watched(&self) -> Option<String> {
        if self.taken.is_some() {
            return None;
        }
        Recipe::watched(&self.lock)
    }
}
