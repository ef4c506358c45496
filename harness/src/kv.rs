//! The one state machine every protocol replicates: a small key-value store.
//!
//! Commands travel through the protocols as opaque bytes ([`KvOp::encode`]); every node
//! applies the committed sequence to its own [`KvStore`], and the node that received a
//! command from a client answers it with the result of applying it. Reads go through
//! the log like writes, so every read is linearizable and costs what a write costs, the
//! same for all three protocols.

use bytes::Bytes;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

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
    /// Set `key` to `value` and answer nothing back: etcd's put without `prev_kv`,
    /// what the benchmark workload sends (its answer carries no value).
    Set {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
    },
}

impl KvOp {
    /// The bytes the protocols replicate (postcard: the variant, then each field as a
    /// varint length and its bytes).
    pub fn encode(&self) -> Bytes {
        // Serializing this enum into a Vec cannot fail.
        Bytes::from(postcard::to_stdvec(self).unwrap_or_default())
    }

    /// Decodes replicated bytes; `None` if they are not a `KvOp`.
    pub fn decode(data: &[u8]) -> Option<KvOp> {
        postcard::from_bytes(data).ok()
    }

    /// Decodes replicated bytes without copying: the key and value are slices of
    /// `data` (the committed command the log already holds). Same format as
    /// [`KvOp::decode`], but stricter: trailing bytes are refused.
    pub fn decode_shared(data: &Bytes) -> Option<KvOp> {
        let mut at = 0;
        let variant = varint(data, &mut at)?;
        let field = |at: &mut usize| -> Option<Bytes> {
            let len = usize::try_from(varint(data, at)?).ok()?;
            let end = at.checked_add(len).filter(|&e| e <= data.len())?;
            let b = data.slice(*at..end);
            *at = end;
            Some(b)
        };
        let op = match variant {
            0 => KvOp::Put {
                key: field(&mut at)?,
                value: field(&mut at)?,
            },
            1 => KvOp::Get {
                key: field(&mut at)?,
            },
            2 => KvOp::Set {
                key: field(&mut at)?,
                value: field(&mut at)?,
            },
            _ => return None,
        };
        (at == data.len()).then_some(op)
    }
}

/// Reads one postcard varint (LEB128, at most 10 bytes) at `*at`.
pub(crate) fn varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *data.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// A key, stored inside the map's table when short (the workload's keys are 8 bytes),
/// so that a lookup compares it without following a pointer to another allocation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// Up to [`SHORT_KEY`] bytes.
    Short { len: u8, bytes: [u8; SHORT_KEY] },
    /// Longer keys.
    Long(Bytes),
}

/// The longest key stored inline.
const SHORT_KEY: usize = 22;

impl Key {
    /// A key from a slice of a command (no copy for a long key).
    fn from_bytes(key: Bytes) -> Key {
        if key.len() <= SHORT_KEY {
            let mut bytes = [0; SHORT_KEY];
            bytes[..key.len()].copy_from_slice(&key);
            Key::Short {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Key::Long(key)
        }
    }
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct KvStore {
    map: FxHashMap<Key, Bytes>,
    applied: u64,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// Applies one committed command: a put returns the previous value, a set nothing, a get the
    /// current one. Undecodable data (never produced by this harness) changes nothing.
    pub fn apply(&mut self, data: &Bytes) -> Option<Bytes> {
        self.applied += 1;
        match KvOp::decode_shared(data)? {
            KvOp::Put { key, value } => self.map.insert(Key::from_bytes(key), value),
            KvOp::Get { key } => self.map.get(&Key::from_bytes(key)).cloned(),
            KvOp::Set { key, value } => {
                self.map.insert(Key::from_bytes(key), value);
                None
            }
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
        self.map.get(&Key::from_bytes(Bytes::copy_from_slice(key)))
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
        let set = KvOp::Set {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"w"),
        };
        assert_eq!(kv.apply(&set.encode()), None, "a set answers nothing");
        assert_eq!(kv.apply(&get.encode()), Some(Bytes::from_static(b"w")));
        assert_eq!(kv.applied(), 4);
    }

    #[test]
    fn garbage_changes_nothing() {
        let mut kv = KvStore::new();
        assert_eq!(kv.apply(&Bytes::from_static(&[0xff, 0xff, 0xff])), None);
        assert!(kv.is_empty());
    }

    #[test]
    fn shared_decode_agrees_with_postcard() {
        let long = Bytes::from(vec![7u8; 300]); // two-byte varint lengths
        let ops = [
            KvOp::Put {
                key: Bytes::from_static(b"00000001"),
                value: long.clone(),
            },
            KvOp::Put {
                key: long.clone(),
                value: Bytes::new(),
            },
            KvOp::Get {
                key: Bytes::from_static(b""),
            },
            KvOp::Set {
                key: Bytes::from_static(b"0000abcd"),
                value: long.clone(),
            },
        ];
        for op in ops {
            let data = op.encode();
            assert_eq!(KvOp::decode_shared(&data), Some(op.clone()));
            assert_eq!(KvOp::decode(&data), Some(op));
            // Every truncation and a trailing byte are refused, as postcard refuses
            // truncations.
            for cut in 0..data.len() {
                assert_eq!(KvOp::decode_shared(&data.slice(..cut)), None, "cut {cut}");
            }
            let mut longer = data.to_vec();
            longer.push(0);
            assert_eq!(KvOp::decode_shared(&Bytes::from(longer)), None);
        }
        assert_eq!(KvOp::decode_shared(&Bytes::from_static(&[2, 0])), None);
        assert_eq!(KvOp::decode_shared(&Bytes::from_static(&[3, 0])), None);
        assert_eq!(KvOp::decode_shared(&Bytes::from_static(&[0xff; 12])), None);
    }

    #[test]
    fn short_and_long_keys_are_distinct_and_found() {
        let mut kv = KvStore::new();
        let long = [b'k'; 40];
        for key in [
            &b"k"[..],
            &b""[..],
            &long[..],
            &[b'k'; 22][..],
            &[b'k'; 23][..],
        ] {
            let put = KvOp::Put {
                key: Bytes::copy_from_slice(key),
                value: Bytes::copy_from_slice(key),
            };
            kv.apply(&put.encode());
        }
        assert_eq!(kv.len(), 5);
        assert_eq!(kv.peek(&[b'k'; 23]).map(|v| v.len()), Some(23));
        assert_eq!(kv.peek(b"").map(|v| v.len()), Some(0));
    }
}
