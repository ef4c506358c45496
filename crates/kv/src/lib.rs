//! The one state machine every protocol replicates: a small key-value store.
//!
//! Commands travel through the protocols as opaque bytes ([`KvCommand::encode`]); every
//! node applies the committed sequence to its own [`KvStore`], and the node that
//! received a command from a client answers it with the result of applying it. Reads go
//! through the log like writes, so every read is linearizable and costs what a write
//! costs, the same for all three protocols.
//!
//! # Client sessions: exactly once (Raft thesis §6.3)
//!
//! A client may retry a command whose first attempt committed after all (its answer was
//! lost with a leader, or came too late). Every command carries its client's
//! [`Session`]: a client id and a sequence number that grows by one per command and is
//! reused by every retry of it. The store keeps, per client, the last sequence number
//! it applied and that command's answer, so a retry is not applied again and gets the
//! first attempt's answer: a `put` retried across a leader change returns the value
//! before the first attempt, not the retry's own earlier write. A command older than
//! the last one applied for its client can only be a late duplicate: it is not applied
//! and answers nothing. A client has one command outstanding at a time.
//!
//! Sessions expire through the log, so every replica expires the same ones at the same
//! index: the table holds at most [`MAX_SESSIONS`] clients, and a new client beyond
//! that evicts the one whose last command is oldest in the log (least recently used,
//! one of the policies the thesis names). A client silent for that long loses its
//! session: a retry of its last command would then be applied again. Client id 0 means
//! no session (at-least-once, as before sessions).

mod image;
mod machine;

pub use image::ImageError;
pub use machine::{ApplyContext, StateMachine, StateMachineKind};

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
    /// Compare-and-set: set `key` to `to` if it holds `from` (a missing key holds the
    /// empty value); answers [`CAS_SWAPPED`] or [`CAS_NOT_EQUAL`].
    Cas {
        /// The key.
        key: Bytes,
        /// The value it must hold.
        from: Bytes,
        /// Its new value.
        to: Bytes,
    },
}

/// A compare-and-set's answer when it swapped.
pub const CAS_SWAPPED: &[u8] = b"1";
/// A compare-and-set's answer when the key held another value (nothing changed).
pub const CAS_NOT_EQUAL: &[u8] = b"0";

/// A client's session and the number of one of its commands (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Session {
    /// The client; 0 is no session.
    pub client: u64,
    /// The command's number, from 1, the same for every retry of it.
    pub seq: u64,
}

impl Session {
    /// No session: the command is applied every time it commits.
    pub const NONE: Session = Session { client: 0, seq: 0 };

    /// A fresh client id, unique with overwhelming probability across processes and
    /// runs (the clock, the process id and a counter, mixed), never 0.
    pub fn new_client_id() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut x = nanos
            ^ u64::from(std::process::id()).rotate_left(32)
            ^ COUNTER
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // SplitMix64's finalizer spreads the bits.
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (x ^ (x >> 31)).max(1)
    }
}

/// What the protocols replicate: an operation and the session it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvCommand {
    /// Who sent it, and its number.
    pub session: Session,
    /// The operation.
    pub op: KvOp,
}

impl KvCommand {
    /// The bytes the protocols replicate (postcard: the client id and sequence number
    /// as varints, then the operation's variant, then each field as a varint length
    /// and its bytes).
    pub fn encode(&self) -> Bytes {
        // Serializing these types into a Vec cannot fail.
        Bytes::from(postcard::to_stdvec(self).unwrap_or_default())
    }

    /// Decodes replicated bytes; `None` if they are not a `KvCommand`.
    pub fn decode(data: &[u8]) -> Option<KvCommand> {
        postcard::from_bytes(data).ok()
    }

    /// Decodes replicated bytes without copying the key and value (slices of `data`).
    /// Same format as [`KvCommand::decode`], but stricter: trailing bytes are refused.
    pub fn decode_shared(data: &Bytes) -> Option<KvCommand> {
        let mut at = 0;
        let client = varint(data, &mut at)?;
        let seq = varint(data, &mut at)?;
        let op = KvOp::decode_shared(&data.slice(at..))?;
        Some(KvCommand {
            session: Session { client, seq },
            op,
        })
    }
}

/// The key a replicated command reads or writes, for protocols that route commands by
/// key ([`protocols::Protocol::route_by_key`]); `None` if `data` is not a command.
pub fn command_key(data: &Bytes) -> Option<Bytes> {
    KvCommand::decode_shared(data).map(|c| c.op.key().clone())
}

impl KvOp {
    /// The key the operation reads or writes.
    pub fn key(&self) -> &Bytes {
        match self {
            KvOp::Put { key, .. }
            | KvOp::Get { key }
            | KvOp::Set { key, .. }
            | KvOp::Cas { key, .. } => key,
        }
    }

    /// Decodes an operation's bytes (postcard) without copying: the key and value are
    /// slices of `data` (the committed command the log already holds). Trailing bytes
    /// are refused.
    pub fn decode_shared(data: &Bytes) -> Option<KvOp> {
        let mut at = 0;
        let variant = varint_u32(data, &mut at)?;
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
            3 => KvOp::Cas {
                key: field(&mut at)?,
                from: field(&mut at)?,
                to: field(&mut at)?,
            },
            _ => return None,
        };
        (at == data.len()).then_some(op)
    }
}

/// Reads one postcard varint of a `u64` at `*at`: LEB128 in at most 10 bytes, the
/// last of which may carry only the 64th bit. Exactly what postcard accepts (longer
/// than necessary encodings included), so the zero-copy decoders agree with it; a value
/// that does not fit is refused, never cut.
pub fn varint(data: &[u8], at: &mut usize) -> Option<u64> {
    varint_of_width(data, at, u64::BITS)
}

/// Reads one postcard varint of a `u32` at `*at` (at most 5 bytes): how postcard
/// writes an enum's variant index.
pub fn varint_u32(data: &[u8], at: &mut usize) -> Option<u32> {
    varint_of_width(data, at, u32::BITS).and_then(|v| u32::try_from(v).ok())
}

/// A LEB128 varint of an integer `bits` wide, with postcard's limits.
fn varint_of_width(data: &[u8], at: &mut usize, bits: u32) -> Option<u64> {
    let max_bytes = bits.div_ceil(7);
    let mut value = 0u64;
    for i in 0..max_bytes {
        let byte = *data.get(*at)?;
        *at += 1;
        let shift = 7 * i;
        if i + 1 == max_bytes && u64::from(byte) >> (bits - shift) != 0 {
            // The last byte may neither continue nor carry bits beyond `bits`.
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
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

/// The most client sessions a store keeps (see the module docs).
pub const MAX_SESSIONS: usize = 4096;

/// What the store remembers of one client.
#[derive(Debug)]
struct SessionEntry {
    /// The last command of this client applied.
    seq: u64,
    /// Its answer, for a retry of it.
    answer: Option<Bytes>,
    /// When it was applied (the log index): the least recent is evicted first.
    at: u64,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct KvStore {
    map: FxHashMap<Key, Bytes>,
    sessions: FxHashMap<u64, SessionEntry>,
    applied: u64,
    duplicates: u64,
    /// The known-buggy variant: sessions ignored ([`KvStore::at_least_once`]).
    at_least_once: bool,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// A known-buggy store for teaching and for testing the linearizability checker:
    /// it ignores sessions and applies every copy of a command that commits, as before
    /// sessions existed. A write retried across a leader change may then be applied
    /// twice, undoing a write that came between its two copies, which clients see.
    pub fn at_least_once() -> KvStore {
        KvStore {
            at_least_once: true,
            ..KvStore::default()
        }
    }

    /// Applies one committed command: a put returns the previous value, a set nothing, a get the
    /// current one, a cas whether it swapped. A retry of the last command its session applied is not applied
    /// again and returns that command's answer; an older one returns nothing (see the
    /// module docs). Undecodable data (never produced by this harness) changes nothing.
    pub fn apply(&mut self, data: &Bytes) -> Option<Bytes> {
        self.applied += 1;
        let KvCommand { session, op } = KvCommand::decode_shared(data)?;
        let session = if self.at_least_once {
            Session::NONE
        } else {
            session
        };
        if session.client != 0 {
            if let Some(entry) = self.sessions.get_mut(&session.client) {
                if session.seq <= entry.seq {
                    self.duplicates += 1;
                    return (session.seq == entry.seq)
                        .then(|| entry.answer.clone())
                        .flatten();
                }
            }
        }
        let answer = match op {
            KvOp::Put { key, value } => self.map.insert(Key::from_bytes(key), value),
            KvOp::Get { key } => self.map.get(&Key::from_bytes(key)).cloned(),
            KvOp::Set { key, value } => {
                self.map.insert(Key::from_bytes(key), value);
                None
            }
            KvOp::Cas { key, from, to } => {
                let key = Key::from_bytes(key);
                let holds = self.map.get(&key).map_or(&[][..], |v| &v[..]);
                Some(Bytes::from_static(if holds == &from[..] {
                    self.map.insert(key, to);
                    CAS_SWAPPED
                } else {
                    CAS_NOT_EQUAL
                }))
            }
        };
        if session.client != 0 {
            self.remember(session, answer.clone());
        }
        answer
    }

    /// Records `session`'s answer, evicting the least recently used session when the
    /// table is full (the same one on every replica: the order is the log's).
    fn remember(&mut self, session: Session, answer: Option<Bytes>) {
        let at = self.applied;
        if let Some(entry) = self.sessions.get_mut(&session.client) {
            *entry = SessionEntry {
                seq: session.seq,
                answer,
                at,
            };
            return;
        }
        if self.sessions.len() >= MAX_SESSIONS {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(client, e)| (e.at, **client))
                .map(|(&client, _)| client);
            if let Some(client) = oldest {
                self.sessions.remove(&client);
            }
        }
        self.sessions.insert(
            session.client,
            SessionEntry {
                seq: session.seq,
                answer,
                at,
            },
        );
    }

    /// Commands that committed again (retries) and were not applied a second time.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Client sessions the store keeps now.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
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

    /// A command without a session, as replicated.
    trait Encode {
        fn encode(&self) -> Bytes;
    }

    impl Encode for KvOp {
        fn encode(&self) -> Bytes {
            self.in_session(Session::NONE)
        }
    }

    impl KvOp {
        fn in_session(&self, session: Session) -> Bytes {
            KvCommand {
                session,
                op: self.clone(),
            }
            .encode()
        }
    }

    #[test]
    fn a_retried_command_is_applied_once_and_its_retry_gets_the_first_answer() {
        // Raft thesis §6.3: a put whose first attempt committed after a leader change,
        // then retried, used to be applied twice, the retry answering with its own
        // earlier write as the "previous value".
        let mut kv = KvStore::new();
        let put = |v: &'static [u8]| KvOp::Put {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(v),
        };
        let a = Session { client: 7, seq: 1 };
        assert_eq!(kv.apply(&put(b"1").in_session(a)), None);
        assert_eq!(
            kv.apply(&put(b"1").in_session(a)),
            None,
            "the first answer again"
        );
        assert_eq!(kv.duplicates(), 1);
        // The client's next command applies, and answers with the real previous value.
        let a2 = Session { client: 7, seq: 2 };
        assert_eq!(
            kv.apply(&put(b"2").in_session(a2)),
            Some(Bytes::from_static(b"1"))
        );
        // A late copy of the first command changes nothing and answers nothing.
        assert_eq!(kv.apply(&put(b"1").in_session(a)), None);
        assert_eq!(kv.peek(b"k"), Some(&Bytes::from_static(b"2")));
        // Another client's command with the same number is its own.
        let b = Session { client: 8, seq: 1 };
        assert_eq!(
            kv.apply(&put(b"3").in_session(b)),
            Some(Bytes::from_static(b"2"))
        );
        assert_eq!(kv.applied(), 5);
        assert_eq!(kv.duplicates(), 2);
    }

    #[test]
    fn sessions_expire_least_recently_used_first_the_same_on_every_replica() {
        let run = || {
            let mut kv = KvStore::new();
            let get = KvOp::Get {
                key: Bytes::from_static(b"k"),
            };
            for client in 1..=MAX_SESSIONS as u64 {
                kv.apply(&get.in_session(Session { client, seq: 1 }));
            }
            // Client 1 is used again; the next new client evicts client 2, the least
            // recently used.
            kv.apply(&get.in_session(Session { client: 1, seq: 2 }));
            kv.apply(&get.in_session(Session {
                client: MAX_SESSIONS as u64 + 1,
                seq: 1,
            }));
            assert_eq!(kv.sessions(), MAX_SESSIONS);
            // Client 2's retry is applied again (its session is gone); client 1's is not.
            kv.apply(&get.in_session(Session { client: 2, seq: 1 }));
            kv.apply(&get.in_session(Session { client: 1, seq: 2 }));
            kv.duplicates()
        };
        assert_eq!(run(), 1);
        assert_eq!(run(), run(), "expiry is decided by the log alone");
    }

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
    fn cas_swaps_only_from_the_expected_value_and_a_retry_keeps_its_first_answer() {
        let mut kv = KvStore::new();
        let cas = |from: &'static [u8], to: &'static [u8]| KvOp::Cas {
            key: Bytes::from_static(b"k"),
            from: Bytes::from_static(from),
            to: Bytes::from_static(to),
        };
        let swapped = Some(Bytes::from_static(CAS_SWAPPED));
        let not_equal = Some(Bytes::from_static(CAS_NOT_EQUAL));
        // A missing key holds the empty value.
        assert_eq!(kv.apply(&cas(b"x", b"y").encode()), not_equal);
        assert_eq!(kv.peek(b"k"), None);
        assert_eq!(kv.apply(&cas(b"", b"a").encode()), swapped);
        assert_eq!(kv.peek(b"k"), Some(&Bytes::from_static(b"a")));
        // Retried after it swapped, the same command answers "swapped" again rather
        // than "not equal" (the value is no longer `from`), and changes nothing.
        let s = Session { client: 3, seq: 1 };
        assert_eq!(kv.apply(&cas(b"a", b"b").in_session(s)), swapped);
        assert_eq!(kv.apply(&cas(b"a", b"b").in_session(s)), swapped);
        assert_eq!(kv.peek(b"k"), Some(&Bytes::from_static(b"b")));
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
            KvOp::Cas {
                key: Bytes::from_static(b"k1"),
                from: Bytes::new(),
                to: long.clone(),
            },
        ];
        for op in ops {
            let command = KvCommand {
                session: Session {
                    client: u64::MAX,
                    seq: 300,
                },
                op,
            };
            let data = command.encode();
            assert_eq!(KvCommand::decode_shared(&data), Some(command.clone()));
            assert_eq!(KvCommand::decode(&data), Some(command));
            // Every truncation and a trailing byte are refused, as postcard refuses
            // truncations.
            for cut in 0..data.len() {
                assert_eq!(
                    KvCommand::decode_shared(&data.slice(..cut)),
                    None,
                    "cut {cut}"
                );
            }
            let mut longer = data.to_vec();
            longer.push(0);
            assert_eq!(KvCommand::decode_shared(&Bytes::from(longer)), None);
        }
        assert_eq!(KvOp::decode_shared(&Bytes::from_static(&[2, 0])), None);
        assert_eq!(KvOp::decode_shared(&Bytes::from_static(&[3, 0, 0])), None);
        assert_eq!(KvOp::decode_shared(&Bytes::from_static(&[4, 0])), None);
        assert_eq!(KvOp::decode_shared(&Bytes::from_static(&[0xff; 12])), None);
        assert_eq!(
            KvCommand::decode_shared(&Bytes::from_static(&[0xff; 12])),
            None
        );
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
