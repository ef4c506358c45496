//! Decoding a received message without copying the commands it carries.
//!
//! Concern: the bytes of a client command cross the network in every replication
//! message (Raft's AppendEntries, ZAB's PROPOSAL, Paxos's Accept). A serde decode
//! would copy each command into a fresh allocation of its own; a profile of a loaded
//! 3-node run put that copy (and the page faults of the fresh memory) at 3-5% of all
//! CPU. [`decode_sharing`] lets the host name the received frame that a decode reads
//! from; while it runs, a [`crate::Command`]'s `data` decodes as a slice of that frame
//! ([`Bytes::slice_ref`], a reference count) instead of a copy. Outside it (the WAL's
//! recovery, the simulator, JSON) `data` decodes as a copy, exactly as before. The wire
//! format does not change: a length and the bytes.
//!
//! A slice keeps the frame's buffer alive for as long as the command lives (in a
//! protocol's log, in the state machine's values), as the client port's slices of
//! request frames already do on the node that took the command.
//!
//! This is plain data plumbing, deterministic and free of I/O: the source is set and
//! restored around one decode on the calling thread.

use bytes::Bytes;
use serde::de::{Deserializer, Error, SeqAccess, Visitor};
use std::cell::RefCell;
use std::fmt;

thread_local! {
    /// The frame the decode running on this thread reads from, if the host named one.
    static SOURCE: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Runs `decode` on `source`; while it runs, commands decoded from borrowed bytes
/// inside `source` share its buffer instead of copying. Nests (the previous source is
/// restored afterwards, even if `decode` panics).
pub fn decode_sharing<T>(source: &Bytes, decode: impl FnOnce(&[u8]) -> T) -> T {
    struct Restore(Option<Bytes>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SOURCE.with(|s| *s.borrow_mut() = previous);
        }
    }
    let _restore = Restore(SOURCE.with(|s| s.borrow_mut().replace(source.clone())));
    decode(source)
}

/// `bytes` as a slice of the current source when they lie inside it, else a copy.
fn share_or_copy(bytes: &[u8]) -> Bytes {
    SOURCE.with(|s| match s.borrow().as_ref() {
        Some(src) if !bytes.is_empty() && within(src, bytes) => src.slice_ref(bytes),
        _ => Bytes::copy_from_slice(bytes),
    })
}

/// True when `part` lies wholly inside `whole`'s memory.
fn within(whole: &[u8], part: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    p >= w && p.saturating_add(part.len()) <= w.saturating_add(whole.len())
}

/// Deserializes a command's bytes (`#[serde(deserialize_with)]`): shared with the
/// source frame when there is one, copied otherwise. Accepts what `Bytes`' own
/// deserializer accepts (bytes, a string, a sequence of numbers), so every format that
/// read commands before still does.
pub fn deserialize_shared<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    d.deserialize_bytes(SharedBytes)
}

struct SharedBytes;

impl<'de> Visitor<'de> for SharedBytes {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_borrowed_bytes<E: Error>(self, v: &'de [u8]) -> Result<Bytes, E> {
        Ok(share_or_copy(v))
    }

    fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(v))
    }

    fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(v))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(v.as_bytes()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        // The announced length is the peer's word: grow with what arrives.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, RequestId};

    fn command(data: &'static [u8]) -> Command {
        Command {
            id: RequestId { origin: 2, seq: 9 },
            data: Bytes::from_static(data),
        }
    }

    fn encoded(cmds: &[Command]) -> Bytes {
        // A frame as a peer would send it: a header in front of the message.
        let mut frame = vec![0xAA; 5];
        frame.extend(postcard_like(cmds));
        Bytes::from(frame)
    }

    /// postcard is not a dependency of the protocols: serde_json's bytes are numbers,
    /// so encode the postcard layout by hand (varints, then each command).
    fn postcard_like(cmds: &[Command]) -> Vec<u8> {
        let mut out = vec![cmds.len() as u8];
        for c in cmds {
            out.extend([c.id.origin as u8, c.id.seq as u8, c.data.len() as u8]);
            out.extend_from_slice(&c.data);
        }
        out
    }

    /// A minimal postcard-style reader for the test: a sequence of commands.
    fn decode_all(bytes: &[u8]) -> Vec<Command> {
        let n = bytes[0] as usize;
        let mut at = 1;
        let mut out = Vec::new();
        for _ in 0..n {
            let (origin, seq, len) = (bytes[at], bytes[at + 1], bytes[at + 2] as usize);
            at += 3;
            let data = &bytes[at..at + len];
            at += len;
            let d =
                serde::de::value::BorrowedBytesDeserializer::<serde::de::value::Error>::new(data);
            out.push(Command {
                id: RequestId {
                    origin: origin.into(),
                    seq: seq.into(),
                },
                data: deserialize_shared(d).unwrap(),
            });
        }
        out
    }

    #[test]
    fn inside_a_source_commands_share_the_frame() {
        let cmds = [command(b"put a 1"), command(b""), command(b"put bb 22")];
        let frame = encoded(&cmds);
        let decoded = decode_sharing(&frame, |b| decode_all(&b[5..]));
        assert_eq!(decoded, cmds);
        let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
        for c in decoded.iter().filter(|c| !c.data.is_empty()) {
            assert!(
                range.contains(&(c.data.as_ptr() as usize)),
                "{:?} is a slice of the frame",
                c.data
            );
        }
    }

    #[test]
    fn without_a_source_or_outside_it_commands_are_copied() {
        let cmds = [command(b"put a 1")];
        let frame = encoded(&cmds);
        let decoded = decode_all(&frame[5..]);
        assert_eq!(decoded, cmds);
        assert!(!frame.as_ptr_range().contains(&decoded[0].data.as_ptr()));
        // Bytes from another buffer while a source is set: copied, never a bad slice.
        let other = encoded(&cmds);
        let decoded = decode_sharing(&frame, |_| decode_all(&other[5..]));
        assert_eq!(decoded, cmds);
        assert!(!frame.as_ptr_range().contains(&decoded[0].data.as_ptr()));
        assert!(!other.as_ptr_range().contains(&decoded[0].data.as_ptr()));
    }

    #[test]
    fn the_source_is_restored_after_a_nested_decode() {
        let outer = Bytes::from_static(b"outer frame");
        let inner = Bytes::from_static(b"inner frame");
        decode_sharing(&outer, |_| {
            decode_sharing(&inner, |_| {});
            assert_eq!(share_or_copy(&outer[..5]).as_ptr(), outer.as_ptr());
        });
        let copy = share_or_copy(&outer[..5]);
        assert_ne!(copy.as_ptr(), outer.as_ptr(), "no source after the decode");
    }

    #[test]
    fn json_commands_still_read_as_before() {
        let c = command(b"put a 1");
        let json = serde_json_like(&c);
        assert_eq!(json, c);
    }

    /// The sequence form (how text formats write `Bytes`) still decodes.
    fn serde_json_like(c: &Command) -> Command {
        use serde::de::value::{Error as E, SeqDeserializer};
        let d = SeqDeserializer::<_, E>::new(c.data.iter().copied());
        let data = d.deserialize_any(SharedBytes).unwrap();
        Command { id: c.id, data }
    }
}
