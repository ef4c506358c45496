//! Write-ahead log tests on real files in temporary directories: round trips, segment
//! rolling, torn-tail recovery, corruption detection, fsync policies, and property
//! tests for arbitrary payloads and arbitrary truncation.

use proptest::prelude::*;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use storage::{
    FsyncPolicy, StorageError, Wal, WalOptions, WalStats, DEFAULT_MAX_RECORD_BYTES, HEADER_LEN,
};

const POLICIES: [FsyncPolicy; 3] = [FsyncPolicy::Always, FsyncPolicy::Batch, FsyncPolicy::Never];

fn payload(i: usize) -> Vec<u8> {
    format!("record-{i}-{}", "x".repeat(i % 7)).into_bytes()
}

fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(payload).collect()
}

fn small_segments(segment_bytes: u64) -> WalOptions {
    WalOptions {
        segment_bytes,
        ..WalOptions::default()
    }
}

/// Opens a fresh log in `dir`, appends `records`, syncs, closes it.
fn write_log(dir: &Path, options: WalOptions, records: &[Vec<u8>]) {
    let (mut wal, old) = Wal::open_with(dir, FsyncPolicy::Batch, options).unwrap();
    assert!(old.is_empty());
    for r in records {
        wal.append(r).unwrap();
    }
    wal.sync().unwrap();
}

fn reopen(dir: &Path) -> Result<(Wal, Vec<Vec<u8>>), StorageError> {
    Wal::open(dir, FsyncPolicy::Batch)
}

/// Segment files in `dir`, sorted by name (= by first record).
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

fn only_segment(dir: &Path) -> PathBuf {
    let files = segments(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// Byte offset of record `index` in a segment holding `records` from its start.
fn offset_of(records: &[Vec<u8>], index: usize) -> u64 {
    records[..index]
        .iter()
        .map(|r| (HEADER_LEN + r.len()) as u64)
        .sum()
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

fn append_raw(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

fn truncate_to(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

#[test]
fn records_round_trip_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node-1").join("wal");
    let first = payloads(3);
    write_log(&data, WalOptions::default(), &first);

    let (mut wal, got) = reopen(&data).unwrap();
    assert_eq!(got, first);
    assert_eq!(wal.next_record_number(), 3);
    assert_eq!(wal.stats(), WalStats::default());
    wal.append(b"four").unwrap();
    wal.append(b"").unwrap();
    wal.sync().unwrap();
    let expected_bytes = (2 * HEADER_LEN + 4) as u64;
    assert_eq!(
        wal.stats(),
        WalStats {
            records: 2,
            bytes: expected_bytes,
            syncs: 1,
            writes: 1,
        }
    );
    drop(wal);

    let (wal, got) = reopen(&data).unwrap();
    let mut expected = first;
    expected.push(b"four".to_vec());
    expected.push(Vec::new());
    assert_eq!(got, expected);
    assert_eq!(wal.next_record_number(), 5);
    assert_eq!(segments(&data).len(), 1);
}

#[test]
fn many_records_roll_across_named_segments() {
    let dir = tempfile::tempdir().unwrap();
    let records = payloads(1000);
    let options = small_segments(256);
    write_log(dir.path(), options, &records);

    let files = segments(dir.path());
    assert!(
        files.len() > 50,
        "expected many segments, got {}",
        files.len()
    );
    // Each segment is named after the number of its first record, and fits the limit.
    let mut first = 0usize;
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, format!("wal-{first:016x}.log"));
        let len = file_len(file);
        assert!(len <= 256 && len > 0, "{name}: {len} bytes");
        let mut at = 0u64;
        while at < len {
            at += (HEADER_LEN + records[first].len()) as u64;
            first += 1;
        }
        assert_eq!(at, len, "{name} ends on a record boundary");
    }
    assert_eq!(first, records.len());

    let (mut wal, got) = Wal::open_with(dir.path(), FsyncPolicy::Batch, options).unwrap();
    assert_eq!(got, records);
    wal.append(b"after reopen").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, got) = Wal::open_with(dir.path(), FsyncPolicy::Batch, options).unwrap();
    assert_eq!(got.len(), 1001);
    assert_eq!(got.last().unwrap(), b"after reopen");
}

#[test]
fn record_larger_than_segment_gets_its_own_segment() {
    let dir = tempfile::tempdir().unwrap();
    let records = vec![b"a".to_vec(), vec![7u8; 1000], b"b".to_vec()];
    write_log(dir.path(), small_segments(64), &records);
    let files = segments(dir.path());
    assert_eq!(files.len(), 3);
    assert!(files[1].ends_with("wal-0000000000000001.log"));
    assert_eq!(file_len(&files[1]), 1008);
    assert_eq!(reopen(dir.path()).unwrap().1, records);
}

/// Checks the log recovers `expected`, its file is cut back to `intact_len`, and it
/// stays appendable across another reopen.
fn assert_recovers_prefix(dir: &Path, expected: &[Vec<u8>], intact_len: u64) {
    let (mut wal, got) = reopen(dir).unwrap();
    assert_eq!(got, expected);
    let seg = segments(dir).pop().unwrap();
    assert_eq!(file_len(&seg), intact_len);
    wal.append(b"appended after recovery").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, got) = reopen(dir).unwrap();
    assert_eq!(&got[..expected.len()], expected);
    assert_eq!(got[expected.len()..], [b"appended after recovery".to_vec()]);
}

#[test]
fn torn_tail_cut_mid_record_recovers_intact_prefix() {
    let records = payloads(10);
    let last = offset_of(&records, 9);
    for cut in [
        last + 3,
        last + HEADER_LEN as u64,
        last + HEADER_LEN as u64 + 2,
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), WalOptions::default(), &records);
        truncate_to(&only_segment(dir.path()), cut);
        assert_recovers_prefix(dir.path(), &records[..9], last);
    }
}

#[test]
fn torn_tail_of_the_last_of_many_segments_is_cut_away() {
    let records = payloads(100);
    let options = small_segments(200);
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), options, &records);
    let files = segments(dir.path());
    let last = files.last().unwrap();
    let name = last.file_name().unwrap().to_str().unwrap();
    let first_in_last = usize::from_str_radix(&name[4..20], 16).unwrap();
    let in_last = &records[first_in_last..];
    assert!(in_last.len() >= 2);
    let keep = offset_of(in_last, in_last.len() - 1);
    truncate_to(last, keep + 5);
    assert_recovers_prefix(dir.path(), &records[..records.len() - 1], keep);
}

#[test]
fn garbage_appended_after_last_record_is_a_torn_tail() {
    let records = payloads(10);
    let end = offset_of(&records, 10);
    // Garbage whose "length" runs past the end of the file.
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions::default(), &records);
    append_raw(&only_segment(dir.path()), &[0xff; 13]);
    assert_recovers_prefix(dir.path(), &records, end);

    // Garbage that frames exactly one record whose checksum fails, with nothing after.
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions::default(), &records);
    let mut garbage = 3u32.to_le_bytes().to_vec();
    garbage.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
    append_raw(&only_segment(dir.path()), &garbage);
    assert_recovers_prefix(dir.path(), &records, end);
}

#[test]
fn zero_filled_tail_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let records = payloads(5);
    write_log(dir.path(), WalOptions::default(), &records);
    append_raw(&only_segment(dir.path()), &[0; 4096]);
    assert_recovers_prefix(dir.path(), &records, offset_of(&records, 5));
}

fn expect_corrupt(result: Result<(Wal, Vec<Vec<u8>>), StorageError>) -> (PathBuf, u64, String) {
    match result {
        Err(err @ StorageError::Corrupt { .. }) => {
            let message = err.to_string();
            let StorageError::Corrupt { path, offset, .. } = err else {
                unreachable!()
            };
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(&format!("offset {offset}")), "{message}");
            (path, offset, message)
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok((_, got)) => panic!("expected Corrupt, recovered {} records", got.len()),
    }
}

#[test]
fn corrupted_byte_in_a_middle_record_is_refused_with_file_and_offset() {
    let records = payloads(10);
    let at = offset_of(&records, 4);
    // A flipped payload byte, and a flipped checksum byte.
    for flip in [at + HEADER_LEN as u64 + 2, at + 5] {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), WalOptions::default(), &records);
        let seg = only_segment(dir.path());
        flip_byte(&seg, flip);
        let (path, offset, message) = expect_corrupt(reopen(dir.path()));
        assert_eq!(path, seg);
        assert_eq!(offset, at);
        assert!(message.contains("checksum"), "{message}");
        // Refusing must not have touched the file.
        assert_eq!(file_len(&seg), offset_of(&records, 10));
    }
}

#[test]
fn a_damaged_length_in_the_last_segment_is_refused_not_cut_as_a_torn_tail() {
    // Issue 23 item 10: a length field damaged after the records behind it were synced
    // made the record "run past the end of the file", and recovery cut it and every
    // synced record after it as a torn tail, without a word.
    let records = payloads(10);
    let at = offset_of(&records, 4);
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions::default(), &records);
    let seg = only_segment(dir.path());
    let mut bytes = fs::read(&seg).unwrap();
    bytes[at as usize + 3] = 0x7f; // the length's high byte: far past the end
    fs::write(&seg, &bytes).unwrap();
    let (path, offset, message) = expect_corrupt(reopen(dir.path()));
    assert_eq!((path, offset), (seg.clone(), at));
    assert!(message.contains("length field is damaged"), "{message}");
    assert_eq!(
        file_len(&seg),
        offset_of(&records, 10),
        "refusing truncates nothing"
    );
}

#[test]
fn damage_at_the_end_of_an_older_segment_is_corruption_not_a_torn_tail() {
    let records = payloads(100);
    let options = small_segments(200);
    // The last record of the first segment has a bad checksum.
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), options, &records);
    let first = segments(dir.path())[0].clone();
    let len = file_len(&first);
    flip_byte(&first, len - 1);
    let (path, offset, _) = expect_corrupt(reopen(dir.path()));
    assert_eq!(path, first);
    assert!(offset < len && offset > 0);

    // The first segment is cut short.
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), options, &records);
    let first = segments(dir.path())[0].clone();
    truncate_to(&first, file_len(&first) - 3);
    let (path, _, message) = expect_corrupt(reopen(dir.path()));
    assert_eq!(path, first);
    assert!(message.contains("not the last"), "{message}");
}

#[test]
fn a_missing_segment_is_refused() {
    let records = payloads(100);
    let options = small_segments(200);
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), options, &records);
    let files = segments(dir.path());
    assert!(files.len() >= 3);
    fs::remove_file(&files[1]).unwrap();
    match reopen(dir.path()) {
        Err(err @ StorageError::MissingSegment { .. }) => {
            let message = err.to_string();
            let StorageError::MissingSegment { missing, found, .. } = err else {
                unreachable!()
            };
            assert_eq!(missing, files[1]);
            assert_eq!(found, files[2]);
            assert!(
                message.contains(&files[1].display().to_string()),
                "{message}"
            );
        }
        other => panic!(
            "expected MissingSegment, got {:?}",
            other.map(|(_, r)| r.len())
        ),
    }

    fs::remove_file(&files[0]).unwrap();
    match reopen(dir.path()) {
        Err(StorageError::MissingSegment { expected_first, .. }) => assert_eq!(expected_first, 0),
        other => panic!(
            "expected MissingSegment, got {:?}",
            other.map(|(_, r)| r.len())
        ),
    }
}

#[test]
fn unrelated_files_in_the_directory_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let records = payloads(4);
    write_log(dir.path(), WalOptions::default(), &records);
    fs::write(dir.path().join("snapshot.bin"), b"not a segment").unwrap();
    fs::write(dir.path().join("wal-12.log"), b"malformed name").unwrap();
    assert_eq!(reopen(dir.path()).unwrap().1, records);
}

#[test]
fn every_policy_persists_and_counts_its_fsyncs() {
    for policy in POLICIES {
        let dir = tempfile::tempdir().unwrap();
        let records = payloads(20);
        let (mut wal, _) = Wal::open(dir.path(), policy).unwrap();
        assert_eq!(wal.policy(), policy);
        for batch in records.chunks(5) {
            for r in batch {
                wal.append(r).unwrap();
            }
            wal.sync().unwrap();
        }
        wal.sync().unwrap(); // nothing new: no extra fsync
        let expected_syncs = match policy {
            FsyncPolicy::Always => 20,
            FsyncPolicy::Batch => 4,
            FsyncPolicy::Never => 0,
        };
        let stats = wal.stats();
        assert_eq!(stats.records, 20, "{policy}");
        assert_eq!(stats.syncs, expected_syncs, "{policy}");
        assert_eq!(stats.bytes, offset_of(&records, 20), "{policy}");
        drop(wal);
        assert_eq!(
            Wal::open(dir.path(), policy).unwrap().1,
            records,
            "{policy}"
        );
    }
}

#[test]
fn always_writes_each_record_before_append_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), FsyncPolicy::Always).unwrap();
    wal.append(b"durable").unwrap();
    assert_eq!(file_len(&only_segment(dir.path())), (HEADER_LEN + 7) as u64);
    assert_eq!(wal.stats().syncs, 1);
}

#[test]
fn batch_buffers_until_sync_or_a_full_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        buffer_bytes: 100,
        ..WalOptions::default()
    };
    let (mut wal, _) = Wal::open_with(dir.path(), FsyncPolicy::Batch, options).unwrap();
    let seg = only_segment(dir.path());
    wal.append(&[1; 40]).unwrap();
    assert_eq!(file_len(&seg), 0, "buffered, not yet written");
    wal.append(&[2; 60]).unwrap();
    assert_eq!(file_len(&seg), 116, "a full buffer is handed to the OS");
    assert_eq!(wal.stats().syncs, 0);
    wal.append(&[3; 1]).unwrap();
    wal.sync().unwrap();
    assert_eq!(file_len(&seg), 125);
    assert_eq!(wal.stats().syncs, 1);
}

#[test]
fn oversized_records_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions {
        max_record_bytes: 16,
        ..WalOptions::default()
    };
    let (mut wal, _) = Wal::open_with(dir.path(), FsyncPolicy::Batch, options).unwrap();
    let err = wal.append(&[0; 17]).unwrap_err();
    assert!(
        matches!(err, StorageError::RecordTooLarge { len: 17, max: 16 }),
        "{err}"
    );
    wal.append(&[9; 16]).unwrap();
    wal.sync().unwrap();
    assert_eq!(wal.stats().records, 1);
    drop(wal);
    assert_eq!(reopen(dir.path()).unwrap().1, vec![vec![9u8; 16]]);
    assert_eq!(
        WalOptions::default().max_record_bytes,
        DEFAULT_MAX_RECORD_BYTES
    );
}

fn payload_vecs() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_payload_sequence_round_trips(
        records in payload_vecs(),
        segment_bytes in 16u64..400,
        policy_index in 0usize..3,
        batch in 1usize..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let policy = POLICIES[policy_index];
        let options = small_segments(segment_bytes);
        let (mut wal, _) = Wal::open_with(dir.path(), policy, options).unwrap();
        for chunk in records.chunks(batch) {
            for r in chunk {
                wal.append(r).unwrap();
            }
            wal.sync().unwrap();
        }
        drop(wal);
        let (wal, got) = Wal::open_with(dir.path(), policy, options).unwrap();
        prop_assert_eq!(got, records.clone());
        prop_assert_eq!(wal.next_record_number(), records.len() as u64);
    }

    #[test]
    fn truncating_the_log_anywhere_yields_a_prefix(
        records in payload_vecs(),
        cut_fraction in 0.0f64..=1.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), WalOptions::default(), &records);
        let seg = only_segment(dir.path());
        let full = file_len(&seg);
        let cut = ((full as f64) * cut_fraction) as u64;
        truncate_to(&seg, cut.min(full));
        let (mut wal, got) = reopen(dir.path()).unwrap();
        prop_assert!(got.len() <= records.len());
        prop_assert_eq!(&got[..], &records[..got.len()]);
        // Everything that fit entirely before the cut survives.
        let whole = (0..=records.len()).rev().find(|&n| offset_of(&records, n) <= cut).unwrap();
        prop_assert_eq!(got.len(), whole);
        prop_assert_eq!(file_len(&seg), offset_of(&records, whole));
        wal.append(b"tail").unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (_, again) = reopen(dir.path()).unwrap();
        prop_assert_eq!(again.len(), whole + 1);
    }
}

#[test]
fn a_second_writer_on_one_directory_is_refused_naming_the_holder() {
    // Two nodes on one data directory used to interleave their records and corrupt the
    // log. The directory's lock (flock, released by the kernel when its holder exits)
    // refuses the second opener with the first one's pid.
    let dir = tempfile::tempdir().unwrap();
    let (mut first, _) = Wal::open_with(dir.path(), FsyncPolicy::Batch, WalOptions::default())
        .expect("the first opener locks the directory");
    first.append(b"mine").unwrap();
    first.sync().unwrap();
    let err = Wal::open_with(dir.path(), FsyncPolicy::Batch, WalOptions::default())
        .expect_err("a second opener is refused");
    let text = err.to_string();
    match err {
        StorageError::Locked { holder, .. } => {
            assert_eq!(holder, format!("pid {}", std::process::id()));
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert!(text.contains("in use by another node"), "{text}");
    // Once the holder is gone the directory opens again, with its records intact.
    drop(first);
    let (_, records) = reopen(dir.path()).expect("lock released");
    assert_eq!(records, vec![b"mine".to_vec()]);
}

#[test]
fn a_log_in_memory_recovers_as_the_same_bytes_in_a_file_do() {
    // The simulator keeps each node's log as these bytes and recovers it with the same
    // scan, so its sweeps go through the real torn-tail rules.
    let records = payloads(6);
    let mut log = Vec::new();
    for r in &records {
        storage::frame_record(&mut log, r).unwrap();
    }
    let (all, intact) = storage::recover_bytes(&log).expect("clean");
    assert_eq!((all, intact), (records.clone(), log.len() as u64));
    // Torn inside the last record: the intact prefix survives, cut where a file is cut.
    let torn = &log[..log.len() - 3];
    let (kept, intact) = storage::recover_bytes(torn).expect("torn tail");
    assert_eq!(kept, records[..5].to_vec());
    assert_eq!(intact, offset_of(&records, 5));
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions::default(), &records);
    let segment = only_segment(dir.path());
    truncate_to(&segment, offset_of(&records, 6) - 3);
    let (_, from_file) = reopen(dir.path()).expect("the file recovers too");
    assert_eq!(from_file, kept);
    // A damaged record in the middle is refused, in memory as on disk.
    let mut corrupt = log.clone();
    let at = usize::try_from(offset_of(&records, 2)).unwrap() + HEADER_LEN;
    corrupt[at] ^= 0xff;
    assert!(matches!(
        storage::recover_bytes(&corrupt),
        Err(StorageError::Corrupt { .. })
    ));
}

/// Collects what `tracing` writes while `f` runs.
fn logs_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = buf
        .0
        .lock()
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    (out, text.unwrap_or_default())
}

#[test]
fn a_flipped_byte_in_the_last_record_is_reported_as_a_possibly_durable_record_lost() {
    // Before, a damaged last record was cut as an ordinary torn tail: nothing said that
    // it was whole, so it may have been synced, and a durable record was lost.
    let dir = tempfile::tempdir().unwrap();
    let records = payloads(4);
    write_log(dir.path(), WalOptions::default(), &records);
    let segment = only_segment(dir.path());
    flip_byte(&segment, offset_of(&records, 3) + HEADER_LEN as u64 + 1);
    let (recovered, logs) = logs_of(|| reopen(dir.path()));
    let (_, kept) = recovered.expect("the damaged last record is cut");
    assert_eq!(kept, records[..3].to_vec());
    assert!(
        logs.contains("a whole record fails its checksum")
            && logs.contains("a durable record is lost"),
        "{logs}"
    );
}
