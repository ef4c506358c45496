//! Watches: one-shot triggers a client leaves on the node it is connected to
//! (ZooKeeper's `WatchManager`). Not replicated: a watch lives only on the node the
//! client talks to, registered when its read is applied there, and fired to that
//! client when a change to the watched node is applied there, after the answer of the
//! read that left it and in log order with the client's other answers.
//!
//! Which change fires which watch, as in ZooKeeper:
//! - a data watch (`get` with a watch; `exists` with a watch) fires on the node's
//!   creation (exists watches on a missing node), data change and deletion;
//! - a child watch (`ls` with a watch) fires when a child is created or deleted, and
//!   when the node itself is deleted.
//!
//! A watch fires once and is then gone; a client that wants to keep watching reads
//! again with a new watch. A session's end removes its watches and tells the client.

use crate::command::{WatchEvent, WatchKind};
use std::collections::{BTreeMap, BTreeSet};

/// The watches of one node's clients.
#[derive(Debug, Default)]
pub struct Watches {
    /// Data and exists watches: path to sessions.
    data: BTreeMap<String, BTreeSet<u64>>,
    /// Child watches: path to sessions.
    child: BTreeMap<String, BTreeSet<u64>>,
    /// Notifications produced and not yet taken: (session, event).
    fired: Vec<(u64, WatchEvent)>,
}

impl Watches {
    /// Leaves a data (or exists) watch of `session` on `path`.
    pub fn watch_data(&mut self, session: u64, path: &str) {
        self.data
            .entry(path.to_string())
            .or_default()
            .insert(session);
    }

    /// Leaves a child watch of `session` on `path`.
    pub fn watch_children(&mut self, session: u64, path: &str) {
        self.child
            .entry(path.to_string())
            .or_default()
            .insert(session);
    }

    /// Fires the watches a change of `kind` on `path` triggers (at log index `index`).
    pub fn trigger(&mut self, kind: WatchKind, path: &str, index: u64) {
        let data = matches!(
            kind,
            WatchKind::NodeCreated | WatchKind::NodeDataChanged | WatchKind::NodeDeleted
        );
        let child = matches!(
            kind,
            WatchKind::NodeChildrenChanged | WatchKind::NodeDeleted
        );
        let mut sessions = BTreeSet::new();
        if data {
            sessions.extend(self.data.remove(path).unwrap_or_default());
        }
        if child {
            sessions.extend(self.child.remove(path).unwrap_or_default());
        }
        for session in sessions {
            self.fired.push((
                session,
                WatchEvent {
                    kind,
                    path: path.to_string(),
                    index,
                },
            ));
        }
    }

    /// Forgets `session`'s watches and, if it had any here or `tell` (it was
    /// connected here), tells it that it ended.
    pub fn session_ended(&mut self, session: u64, index: u64, tell: bool) {
        let mut had = false;
        for map in [&mut self.data, &mut self.child] {
            map.retain(|_, sessions| {
                had |= sessions.remove(&session);
                !sessions.is_empty()
            });
        }
        if had || tell {
            self.fired.push((
                session,
                WatchEvent {
                    kind: WatchKind::SessionExpired,
                    path: "/".into(),
                    index,
                },
            ));
        }
    }

    /// The notifications produced since the last call, in order.
    pub fn take(&mut self) -> Vec<(u64, WatchEvent)> {
        std::mem::take(&mut self.fired)
    }

    /// Watches registered now (data and child).
    pub fn len(&self) -> usize {
        self.data
            .values()
            .chain(self.child.values())
            .map(BTreeSet::len)
            .sum()
    }

    /// Whether no watch is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_fires_once_and_only_for_its_kind_of_change() {
        let mut w = Watches::default();
        w.watch_data(1, "/a");
        w.watch_children(2, "/a");
        w.trigger(WatchKind::NodeChildrenChanged, "/a", 5);
        let fired = w.take();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].0, 2);
        w.trigger(WatchKind::NodeChildrenChanged, "/a", 6);
        assert!(w.take().is_empty(), "one-shot");
        w.trigger(WatchKind::NodeDataChanged, "/a", 7);
        assert_eq!(w.take()[0].1.index, 7);
        assert!(w.is_empty());
    }

    #[test]
    fn deletion_fires_data_and_child_watches_once_per_session() {
        let mut w = Watches::default();
        w.watch_data(1, "/a");
        w.watch_children(1, "/a");
        w.watch_children(3, "/a");
        w.trigger(WatchKind::NodeDeleted, "/a", 9);
        let sessions: Vec<u64> = w.take().into_iter().map(|(s, _)| s).collect();
        assert_eq!(sessions, [1, 3]);
    }

    #[test]
    fn a_session_end_drops_its_watches_and_tells_it() {
        let mut w = Watches::default();
        w.watch_data(1, "/a");
        w.watch_data(2, "/a");
        w.session_ended(1, 4, false);
        assert_eq!(w.take()[0].1.kind, WatchKind::SessionExpired);
        assert_eq!(w.len(), 1);
        w.session_ended(9, 5, false);
        assert!(w.take().is_empty(), "unknown here and not told");
    }
}
