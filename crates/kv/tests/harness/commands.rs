//! The fuzz harness of the replicated-command decoders, shared by the default
//! property tests (`crates/kv/tests/fuzz_commands.rs`), the runtime's decoder tests
//! and the cargo-fuzz target `client_codec` (which include this file).
//!
//! Each `check_*` function takes untrusted bytes and panics if a decoder panics or
//! disagrees with postcard, the format's reference: the zero-copy decoders
//! ([`KvCommand::decode_shared`], [`kv::varint`]) must accept exactly what postcard
//! accepts, and read the same values.

#![allow(dead_code)] // each includer uses a different part

use bytes::Bytes;
use kv::{KvCommand, KvOp, KvStore, Session, MAX_SESSIONS};

/// The varint readers at every start offset of `data` agree with postcard's.
pub fn check_varints(data: &[u8]) {
    for start in 0..data.len().min(12) {
        let input = &data[start..];
        let mut at = 0;
        let ours = kv::varint(input, &mut at);
        let theirs = postcard::take_from_bytes::<u64>(input).ok();
        assert_eq!(
            ours,
            theirs.map(|(v, _)| v),
            "u64 varint of {input:02x?} disagrees with postcard"
        );
        if let Some((_, rest)) = theirs {
            assert_eq!(at, input.len() - rest.len(), "u64 varint length");
        }
        let mut at = 0;
        let ours = kv::varint_u32(input, &mut at);
        let theirs = postcard::take_from_bytes::<u32>(input).ok();
        assert_eq!(
            ours,
            theirs.map(|(v, _)| v),
            "u32 varint of {input:02x?} disagrees with postcard"
        );
        if let Some((_, rest)) = theirs {
            assert_eq!(at, input.len() - rest.len(), "u32 varint length");
        }
    }
}

/// postcard's strict reading of a command: the whole of `data`, nothing left over.
fn strict(data: &[u8]) -> Option<KvCommand> {
    match postcard::take_from_bytes::<KvCommand>(data) {
        Ok((c, [])) => Some(c),
        _ => None,
    }
}

/// The command decoders on `data`: the zero-copy one and postcard agree exactly (both
/// refuse trailing bytes), the lenient one accepts at least as much, a decoded command
/// re-encodes canonically (never longer), and applying the bytes to a fresh store
/// applies exactly the writes that decode.
pub fn check_command(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    let shared = KvCommand::decode_shared(&bytes);
    assert_eq!(
        shared,
        strict(data),
        "decode_shared disagrees with postcard"
    );
    if let Some(c) = &shared {
        assert_eq!(KvCommand::decode(data).as_ref(), Some(c));
        let again = c.encode();
        assert!(again.len() <= data.len(), "{c:?} re-encodes longer");
        assert_eq!(KvCommand::decode_shared(&again).as_ref(), Some(c));
        if let KvOp::Put { key, value } | KvOp::Set { key, value } = &c.op {
            // Zero-copy: the key and value are slices of the input, not copies.
            let range = bytes.as_ptr_range();
            assert!(range.contains(&key.as_ptr()) || key.is_empty());
            assert!(range.contains(&value.as_ptr()) || value.is_empty());
        }
    }
    let mut store = KvStore::new();
    store.apply(&bytes);
    // On a fresh store a cas swaps only from the empty value.
    let writes = match &shared {
        Some(KvCommand { op, .. }) => match op {
            KvOp::Put { .. } | KvOp::Set { .. } => true,
            KvOp::Cas { from, .. } => from.is_empty(),
            KvOp::Get { .. } => false,
        },
        None => false,
    };
    assert_eq!(store.len(), usize::from(writes));
    assert_eq!(store.applied(), 1);
}

/// Applies `commands` in order to two stores: neither panics, both end equal (the
/// state machine is deterministic, whatever the bytes), and the session table stays
/// within its bound.
pub fn check_store(commands: &[Vec<u8>]) {
    let mut a = KvStore::new();
    let mut b = KvStore::new();
    for c in commands {
        let c = Bytes::copy_from_slice(c);
        assert_eq!(a.apply(&c), b.apply(&c));
    }
    assert_eq!(a.applied(), commands.len() as u64);
    assert_eq!((a.len(), a.duplicates()), (b.len(), b.duplicates()));
    assert!(a.sessions() <= MAX_SESSIONS);
}

/// Real encodings of commands of every kind, with extreme sessions and lengths.
pub fn seed_commands() -> Vec<Vec<u8>> {
    let sessions = [
        Session::NONE,
        Session { client: 1, seq: 1 },
        Session {
            client: u64::MAX,
            seq: u64::MAX,
        },
        Session {
            client: 300,
            seq: 128,
        },
    ];
    let ops = [
        KvOp::Put {
            key: Bytes::from_static(b"0000abcd"),
            value: Bytes::from_static(b"value"),
        },
        KvOp::Get {
            key: Bytes::from_static(b""),
        },
        KvOp::Set {
            key: Bytes::from(vec![b'k'; 23]),
            value: Bytes::from(vec![b'v'; 130]),
        },
        KvOp::Cas {
            key: Bytes::from_static(b"0000abcd"),
            from: Bytes::from_static(b"value"),
            to: Bytes::new(),
        },
    ];
    let mut out = Vec::new();
    for (i, session) in sessions.into_iter().enumerate() {
        for op in ops.iter().skip(i % 2) {
            out.push(
                KvCommand {
                    session,
                    op: op.clone(),
                }
                .encode()
                .to_vec(),
            );
        }
    }
    out
}
