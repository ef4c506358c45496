//! Fuzzing, stable edition: the znode command and answer decoders fed random and
//! mutated bytes never panic, agree with a re-encoding when they accept, and a tree fed
//! any byte sequence stays deterministic (two replicas, same digest).
//! `PROPTEST_CASES=100000 cargo nextest run -p znode --test fuzz_commands` runs longer.

use bytes::Bytes;
use kv::{ApplyContext, Session};
use proptest::prelude::*;
use znode::{CreateMode, WatchEvent, ZAnswer, ZCommand, ZOp, ZnodeTree};

fn config(cases: u32) -> ProptestConfig {
    let from_env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: from_env.unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Real commands, encoded: the seeds the mutations start from.
fn seeds() -> Vec<Vec<u8>> {
    let ops = [
        ZOp::OpenSession { timeout_ms: 1000 },
        ZOp::Create {
            path: "/l/n-".into(),
            data: Bytes::from_static(b"data"),
            mode: CreateMode::EphemeralSequential,
        },
        ZOp::Delete {
            path: "/l".into(),
            version: -1,
        },
        ZOp::Expire {
            sessions: vec![1, 2],
        },
        ZOp::GetChildren {
            path: "/".into(),
            watch: true,
        },
    ];
    ops.into_iter()
        .map(|op| {
            ZCommand {
                session: Session { client: 3, seq: 9 },
                op,
            }
            .encode()
            .to_vec()
        })
        .collect()
}

/// A seed with bytes flipped, cut, inserted.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..seeds().len(),
        prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..6),
    )
        .prop_map(|(i, edits)| {
            let mut b = seeds()[i].clone();
            for (at, byte, kind) in edits {
                if b.is_empty() {
                    b.push(byte);
                    continue;
                }
                let at = at % b.len();
                match kind {
                    0 => b[at] ^= byte,
                    1 => b.truncate(at),
                    _ => b.insert(at, byte),
                }
            }
            b
        })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..64), mutated()]
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn decoders_never_panic_and_accepted_bytes_reencode_the_same(data in input()) {
        if let Some(c) = ZCommand::decode(&data) {
            prop_assert_eq!(ZCommand::decode(&c.encode()), Some(c));
        }
        if let Some(a) = ZAnswer::decode(&data) {
            prop_assert_eq!(ZAnswer::decode(&a.encode()), Some(a));
        }
        let _ = WatchEvent::decode(&data);
    }

    #[test]
    fn any_entry_sequence_applies_the_same_on_two_replicas(
        entries in prop::collection::vec(input(), 0..40)
    ) {
        let mut a = ZnodeTree::new();
        let mut b = ZnodeTree::new();
        for (i, e) in entries.iter().enumerate() {
            let now_ms = i as u64;
            let x = a.apply(e, ApplyContext { now_ms, local: true });
            let y = b.apply(e, ApplyContext { now_ms: now_ms * 7, local: false });
            prop_assert_eq!(x, y);
        }
        prop_assert_eq!(a.digest(), b.digest());
    }
}
