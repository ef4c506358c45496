//! Fuzzing, stable edition: WAL recovery fed thousands of random and damaged logs on
//! every `cargo nextest run` (issue 23, "Decoders fuzzed").
//!
//! - random bytes, and real framed logs cut, flipped, extended or zeroed, recovered in
//!   memory (`recover_bytes`) and as a segment on disk (`Wal::open`): the two agree,
//!   and the records re-frame to exactly the intact prefix;
//! - real logs written by `Wal` in temporary directories (several segments, with and
//!   without preallocated room), their files then damaged: bits flipped, cut, garbage
//!   appended, runs zeroed, segments copied under the next name or over another one,
//!   removed. Recovery returns a prefix of what was written, keeping every record
//!   before the first damage, or refuses with a `StorageError` naming the file; never
//!   a panic, a record that was not written or records out of order.
//!
//! The checks live in `harness/recovery.rs`, shared with the cargo-fuzz target
//! `wal_recovery` (nightly: `cargo +nightly fuzz run wal_recovery`). Case counts keep
//! the file to a few seconds; `PROPTEST_CASES=100000 cargo nextest run -p storage
//! --test fuzz_recovery` runs longer (proptest reads the variable).

#[path = "harness/recovery.rs"]
mod harness;

use harness::*;
use proptest::prelude::*;
use storage::{FsyncPolicy, StorageError, Wal, WalOptions};

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

fn records() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..20)
}

fn framed(records: &[Vec<u8>]) -> Vec<u8> {
    let mut log = Vec::new();
    for r in records {
        storage::frame_record(&mut log, r).unwrap();
    }
    log
}

fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..24),
        (any::<u8>(), 1usize..24).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    let file = any::<usize>;
    prop_oneof![
        4 => (file(), any::<usize>(), 1u8..=255)
            .prop_map(|(file, at, mask)| Damage::Flip { file, at, mask }),
        3 => (file(), any::<usize>()).prop_map(|(file, at)| Damage::Truncate { file, at }),
        2 => (file(), garbage()).prop_map(|(file, bytes)| Damage::Append { file, bytes }),
        2 => (file(), any::<usize>(), 1usize..64)
            .prop_map(|(file, at, len)| Damage::Zero { file, at, len }),
        1 => (file(), 0u8..3).prop_map(|(file, gap)| Damage::CopyAfter { file, gap }),
        1 => (file(), file()).prop_map(|(file, over)| Damage::CopyOver { file, over }),
        1 => file().prop_map(|file| Damage::Remove { file }),
    ]
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        records(),
        24u64..400,
        any::<bool>(),
        prop::collection::vec(damage(), 0..4),
    )
        .prop_map(|(records, segment_bytes, preallocate, damage)| Plan {
            records,
            segment_bytes,
            preallocate,
            damage,
        })
}

#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Cut(usize),
    Extend(Vec<u8>),
    Zero(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, m)| Edit::Flip(at, m)),
        any::<usize>().prop_map(Edit::Cut),
        garbage().prop_map(Edit::Extend),
        (any::<usize>(), 1usize..32).prop_map(|(at, n)| Edit::Zero(at, n)),
    ]
}

fn edited(mut log: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = log.len();
        match e {
            Edit::Flip(at, m) if n > 0 => log[at % n] ^= m,
            Edit::Cut(at) => log.truncate(at % (n + 1)),
            Edit::Extend(bytes) => log.extend_from_slice(bytes),
            Edit::Zero(at, len) if n > 0 => {
                let at = at % n;
                log[at..(at + len).min(n)].fill(0);
            }
            _ => {}
        }
    }
    log
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn random_bytes_recover_alike_in_memory_and_on_disk(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        check_recover_bytes(&bytes);
    }

    #[test]
    fn damaged_logs_recover_alike_in_memory_and_on_disk(
        records in records(),
        edits in prop::collection::vec(edit(), 0..4),
    ) {
        check_recover_bytes(&edited(framed(&records), &edits));
    }
}

proptest! {
    // Each case writes a log of several segment files, damages them and opens it three
    // times (in /dev/shm where available): about 0.3 ms.
    #![proptest_config(config(3000))]

    #[test]
    fn damaged_segment_files_recover_a_prefix_or_are_refused(plan in plan()) {
        check_plan(&plan);
    }

    #[test]
    fn fuzzer_bytes_make_valid_plans(data in prop::collection::vec(any::<u8>(), 0..300)) {
        fuzz_recovery(&data);
    }
}

// Regression tests for what the fuzzing found.

/// A log of 6 records in segments of about 2 records each.
fn three_segments() -> (tempfile::TempDir, Vec<Vec<u8>>, WalOptions) {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        segment_bytes: 40,
        ..WalOptions::default()
    };
    let records: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 10]).collect();
    let (mut wal, _) = Wal::open_with(dir.path(), FsyncPolicy::Never, options).unwrap();
    for r in &records {
        wal.append(r).unwrap();
    }
    wal.sync().unwrap();
    (dir, records, options)
}

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn a_segment_copied_under_the_next_name_is_refused_not_replayed() {
    // Segments carried their first record number only in their name: a copy of the
    // first segment under the name that continues the log was read as records 6 and
    // 7, replaying records 0 and 1 after record 5.
    let (dir, records, options) = three_segments();
    let files = segments(dir.path());
    assert_eq!(files.len(), 3);
    std::fs::copy(&files[0], dir.path().join("wal-0000000000000006.log")).unwrap();
    match Wal::open_with(dir.path(), FsyncPolicy::Never, options) {
        Err(e @ StorageError::Corrupt { .. }) => {
            assert!(e.to_string().contains("wal-0000000000000006.log"), "{e}");
        }
        Ok((_, got)) => panic!("replayed {} records of {}", got.len(), records.len()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_segment_copied_over_another_is_refused_not_replayed() {
    // The same with the first segment's bytes written over the second's: records 0
    // and 1 came back as records 2 and 3.
    let (dir, _, options) = three_segments();
    let files = segments(dir.path());
    std::fs::copy(&files[0], &files[1]).unwrap();
    let err = Wal::open_with(dir.path(), FsyncPolicy::Never, options).expect_err("refused");
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
}
