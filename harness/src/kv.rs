//! The one state machine every protocol replicates: a small key-value store.
//!
//! Commands travel through the protocols as opaque bytes ([`KvOp::encode`]); every node
//! applies the committed sequence to its own [`KvStore`], and the node that received a
//! command from a client answers it with the result of applying it. Reads go through
//! the log like writes, so every read is linearizable and costs what a write costs, the
//! same for all three protocols.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A state-machine operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOp {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: Bytes,
    },
}

impl KvOp {
    /// The bytes the protocols replicate.
    pub fn encode(&self) -> Bytes {
        // Serializing this enum into a Vec cannot fail.
        Bytes::from(postcard::to_stdvec(self).unwrap_or_default())
    }

    /// Decodes replicated bytes; `None` if they are not a `KvOp`.
    pub fn decode(data: &[u8]) -> Option<KvOp> {
        postcard::from_bytes(data).ok()
    }
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct KvStore {
    map: HashMap<Bytes, Bytes>,
    applied: u64,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// Applies one committed command: a put returns the previous value, a get the
    /// current one. Undecodable data (never produced by this harness) changes nothing.
    pub fn apply(&mut self, data: &[u8]) -> Option<Bytes> {
        self.applied += 1;
        match KvOp::decode(data)? {
            KvOp::Put { key, value } => self.map.insert(key, value),
            KvOp::Get { key } => self.map.get(&key).cloned(),
        }
    }

    /// Counts a protocol no-op so `applied` tracks the log index.
    pub fn skip(&mut self) {
        self.applied += 1;
    }

    /// Entries applied (commands and no-ops).
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Reads a key directly (tests and displays only; clients read through the log).
    pub fn peek(&self, key: &[u8]) -> Option<&Bytes> {
        self.map.get(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_then_get() {
        let mut kv = KvStore::new();
        let put = KvOp::Put {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"v"),
        };
        assert_eq!(kv.apply(&put.encode()), None);
        let get = KvOp::Get {
            key: Bytes::from_static(b"k"),
        };
        assert_eq!(kv.apply(&get.encode()), Some(Bytes::from_static(b"v")));
        assert_eq!(kv.applied(), 2);
    }

    #[test]
    fn garbage_changes_nothing() {
        let mut kv = KvStore::new();
        assert_eq!(kv.apply(&[0xff, 0xff, 0xff]), None);
        assert!(kv.is_empty());
    }
}
