//! The key-value store's snapshot image (log compaction, Raft §7): everything a replica
//! needs to continue applying after the snapshot's index, namely every key and value,
//! the client sessions with their last answers (so that exactly-once survives a
//! snapshot), and the applied and duplicate counters.
//!
//! Taking a snapshot must not stall commits. [`KvStore::image_writer`] clones the store
//! on the caller's thread (a copy of the hash tables; keys and values are reference
//! counted, so no value is copied) and returns a closure that serializes the clone,
//! which the runtime runs on a blocking thread. The image is postcard, with keys and
//! sessions sorted so that two replicas with the same state write the same bytes.

use crate::{Key, KvStore, SessionEntry};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The serialized form of a [`KvStore`].
#[derive(Serialize, Deserialize)]
struct Image {
    /// Every key and its value, sorted by key.
    entries: Vec<(Bytes, Bytes)>,
    /// Every session: (client, last seq, its answer, the index it was applied at).
    sessions: Vec<(u64, u64, Option<Bytes>, u64)>,
    applied: u64,
    duplicates: u64,
}

/// Why an image could not be restored.
#[derive(Debug, thiserror::Error)]
#[error("the key-value image does not decode: {0}")]
pub struct ImageError(String);

impl Key {
    fn to_bytes(&self) -> Bytes {
        match self {
            Key::Short { len, bytes } => {
                Bytes::copy_from_slice(bytes.get(..usize::from(*len)).unwrap_or_default())
            }
            Key::Long(b) => b.clone(),
        }
    }
}

impl KvStore {
    /// A copy of the store (cheap: see the module docs).
    fn copy(&self) -> KvStore {
        KvStore {
            map: self.map.clone(),
            sessions: self
                .sessions
                .iter()
                .map(|(&c, e)| {
                    (
                        c,
                        SessionEntry {
                            seq: e.seq,
                            answer: e.answer.clone(),
                            at: e.at,
                        },
                    )
                })
                .collect(),
            applied: self.applied,
            duplicates: self.duplicates,
            at_least_once: self.at_least_once,
        }
    }

    /// The store's image, serialized now.
    pub fn image(&self) -> Vec<u8> {
        let mut entries: Vec<(Bytes, Bytes)> = self
            .map
            .iter()
            .map(|(k, v)| (k.to_bytes(), v.clone()))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut sessions: Vec<(u64, u64, Option<Bytes>, u64)> = self
            .sessions
            .iter()
            .map(|(&c, e)| (c, e.seq, e.answer.clone(), e.at))
            .collect();
        sessions.sort_unstable_by_key(|s| s.0);
        let image = Image {
            entries,
            sessions,
            applied: self.applied,
            duplicates: self.duplicates,
        };
        // Serializing plain vectors of bytes and integers into a Vec cannot fail.
        postcard::to_allocvec(&image).unwrap_or_default()
    }

    /// Clones the store now and returns the work of serializing the clone, to run off
    /// the hot path.
    pub fn image_writer(&self) -> Box<dyn FnOnce() -> Vec<u8> + Send> {
        let copy = self.copy();
        Box::new(move || copy.image())
    }

    /// Replaces the store's contents with `image` (its at-least-once setting stays).
    pub fn restore(&mut self, image: &[u8]) -> Result<(), ImageError> {
        let image: Image = postcard::from_bytes(image).map_err(|e| ImageError(e.to_string()))?;
        self.map = image
            .entries
            .into_iter()
            .map(|(k, v)| (Key::from_bytes(k), v))
            .collect();
        self.sessions = image
            .sessions
            .into_iter()
            .map(|(c, seq, answer, at)| (c, SessionEntry { seq, answer, at }))
            .collect();
        self.applied = image.applied;
        self.duplicates = image.duplicates;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KvCommand, KvOp, Session};

    fn put(client: u64, seq: u64, key: &str, value: &str) -> Bytes {
        KvCommand {
            session: Session { client, seq },
            op: KvOp::Put {
                key: Bytes::copy_from_slice(key.as_bytes()),
                value: Bytes::copy_from_slice(value.as_bytes()),
            },
        }
        .encode()
    }

    #[test]
    fn an_image_restores_keys_sessions_and_counters() {
        let mut a = KvStore::new();
        a.apply(&put(1, 1, "short", "v1"));
        a.apply(&put(2, 1, "a key longer than twenty-two bytes", "v2"));
        a.skip();
        let image = a.image_writer()();
        let mut b = KvStore::new();
        b.restore(&image).expect("restores");
        assert_eq!(b.peek(b"short").map(|v| &v[..]), Some(&b"v1"[..]));
        assert_eq!(
            b.peek(b"a key longer than twenty-two bytes")
                .map(|v| &v[..]),
            Some(&b"v2"[..])
        );
        assert_eq!((b.applied(), b.sessions()), (3, 2));
        // Exactly-once survives: a retry of client 1's last command is not applied
        // again and gets the first answer (nothing: the key was new).
        assert_eq!(b.apply(&put(1, 1, "short", "other")), None);
        assert_eq!(b.peek(b"short").map(|v| &v[..]), Some(&b"v1"[..]));
        assert_eq!(b.duplicates(), 1);
        // Same state, same bytes.
        assert_eq!(a.image(), {
            let mut c = KvStore::new();
            c.restore(&image).expect("restores");
            c.image()
        });
    }

    #[test]
    fn a_damaged_image_is_refused() {
        let mut a = KvStore::new();
        a.apply(&put(1, 1, "k", "v"));
        let image = a.image();
        let mut b = KvStore::new();
        assert!(b.restore(&image[..image.len() / 2]).is_err());
    }
}
