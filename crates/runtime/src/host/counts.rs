//! What a node sent and wrote: messages and bytes by kind, WAL records, bytes, writes
//! and syncs, and the socket reads and writes of its peer and client connections.

use std::collections::BTreeMap;

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
