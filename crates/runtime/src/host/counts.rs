//! What a node sent and wrote: messages and bytes by kind, WAL records, bytes, writes
//! and syncs, and the socket reads and writes of its peer and client connections.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Message and byte counts by message kind, as sent by one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// kind -> (messages, bytes including frame headers).
    pub by_kind: BTreeMap<&'static str, (u64, u64)>,
    /// Records and bytes appended to the WAL, and fsyncs.
    pub wal_records: u64,
    /// WAL bytes.
    pub wal_bytes: u64,
    /// WAL syncs.
    pub wal_syncs: u64,
    /// `write` calls on WAL segment files (buffer flushes and preallocation).
    pub wal_writes: u64,
    /// Socket reads on peer connections (each one `recv` that returned data).
    pub peer_reads: u64,
    /// Socket writes on peer connections (each one `send` that wrote bytes).
    pub peer_writes: u64,
    /// Socket reads on the client port's connections.
    pub client_reads: u64,
    /// Socket writes on the client port's connections.
    pub client_writes: u64,
}

impl MessageCounts {
    /// These counts less an earlier snapshot of them.
    pub fn minus(&self, earlier: &MessageCounts) -> MessageCounts {
        let by_kind = self
            .by_kind
            .iter()
            .map(|(k, &(n, b))| {
                let (n0, b0) = earlier.by_kind.get(k).copied().unwrap_or_default();
                (*k, (n.saturating_sub(n0), b.saturating_sub(b0)))
            })
            .collect();
        MessageCounts {
            by_kind,
            wal_records: self.wal_records.saturating_sub(earlier.wal_records),
            wal_bytes: self.wal_bytes.saturating_sub(earlier.wal_bytes),
            wal_syncs: self.wal_syncs.saturating_sub(earlier.wal_syncs),
            wal_writes: self.wal_writes.saturating_sub(earlier.wal_writes),
            peer_reads: self.peer_reads.saturating_sub(earlier.peer_reads),
            peer_writes: self.peer_writes.saturating_sub(earlier.peer_writes),
            client_reads: self.client_reads.saturating_sub(earlier.client_reads),
            client_writes: self.client_writes.saturating_sub(earlier.client_writes),
        }
    }

    /// Adds another node's counts to these (a cluster's total).
    pub fn add(&mut self, other: &MessageCounts) {
        for (kind, &(n, b)) in &other.by_kind {
            let e = self.by_kind.entry(kind).or_default();
            e.0 = e.0.saturating_add(n);
            e.1 = e.1.saturating_add(b);
        }
        self.wal_records = self.wal_records.saturating_add(other.wal_records);
        self.wal_bytes = self.wal_bytes.saturating_add(other.wal_bytes);
        self.wal_syncs = self.wal_syncs.saturating_add(other.wal_syncs);
        self.wal_writes = self.wal_writes.saturating_add(other.wal_writes);
        self.peer_reads = self.peer_reads.saturating_add(other.peer_reads);
        self.peer_writes = self.peer_writes.saturating_add(other.peer_writes);
        self.client_reads = self.client_reads.saturating_add(other.client_reads);
        self.client_writes = self.client_writes.saturating_add(other.client_writes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sums_and_minus_takes_the_difference() {
        let mut a = MessageCounts {
            wal_writes: 2,
            peer_writes: 5,
            client_reads: 1,
            ..MessageCounts::default()
        };
        a.by_kind.insert("Append", (3, 300));
        let mut total = MessageCounts::default();
        total.add(&a);
        total.add(&a);
        assert_eq!(total.by_kind.get("Append"), Some(&(6, 600)));
        assert_eq!(
            (total.wal_writes, total.peer_writes, total.client_reads),
            (4, 10, 2)
        );
        let d = total.minus(&a);
        assert_eq!(d.by_kind.get("Append"), Some(&(3, 300)));
        assert_eq!((d.wal_writes, d.peer_writes, d.client_reads), (2, 5, 1));
    }
}

/// A node's counters as shared with its handle: the copy published last, and whether
/// the node has sent anything since (so a reader knows when the copy is complete).
#[derive(Debug)]
pub(super) struct SharedCounts {
    published: Mutex<MessageCounts>,
    /// Set before a message counted after the last publish reaches the wire; cleared
    /// once the counts holding it are published.
    dirty: AtomicBool,
}

impl SharedCounts {
    pub(super) fn new() -> SharedCounts {
        SharedCounts {
            published: Mutex::new(MessageCounts::default()),
            dirty: AtomicBool::new(false),
        }
    }

    /// Notes that the node counted something not yet published.
    pub(super) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Shares `counts` (everything counted so far).
    pub(super) fn publish(&self, counts: &MessageCounts) {
        if let Ok(mut c) = self.published.lock() {
            c.clone_from(counts);
        }
        self.dirty.store(false, Ordering::Release);
    }

    /// The published counts, and whether they hold every message the node had sent
    /// by now (nothing sent since the publish).
    pub(super) fn read(&self) -> (MessageCounts, bool) {
        let complete = !self.dirty.load(Ordering::Acquire);
        let counts = self.published.lock().map(|c| c.clone()).unwrap_or_default();
        (counts, complete)
    }
}
