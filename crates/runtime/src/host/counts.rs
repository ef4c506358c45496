//! What a node sent and wrote: messages and bytes by kind, WAL records, bytes and syncs.

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
        }
    }
}
