//! The fuzz harness of WAL recovery, shared by the default property tests
//! (`tests/fuzz_recovery.rs`) and the cargo-fuzz target `wal_recovery`
//! (`fuzz/fuzz_targets/wal_recovery.rs`), which include this file.
//!
//! Two checks, both panicking on a panic or a broken promise:
//! - [`check_recover_bytes`]: any bytes as a log in memory and as the only segment of a
//!   log on disk recover alike, to records that re-frame to exactly the intact prefix;
//! - [`check_plan`]: a real log written by [`Wal`] (several segments, with or without
//!   preallocated room), its files then damaged (bits flipped, cut, garbage appended,
//!   runs zeroed, segments copied under other names, removed), must recover to a
//!   prefix of what was written (never a record that was not written, never records
//!   out of order, every record before the first damage kept) or be refused with a
//!   clear [`StorageError`] naming the file; and recovery must be repeatable.

#![allow(dead_code)] // each includer uses a different part

use std::path::{Path, PathBuf};
use storage::{recover_bytes, FsyncPolicy, StorageError, Wal, WalOptions, HEADER_LEN};

/// A temporary directory, in memory where the system offers one (`/dev/shm`): the
/// checks fsync (recovery makes a cut durable), which a disk makes slow.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let in_memory = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    in_memory.unwrap_or_else(|| tempfile::tempdir().expect("a temporary directory"))
}

/// Any bytes as a log in memory and as a one-segment log on disk.
pub fn check_recover_bytes(bytes: &[u8]) {
    let in_memory = recover_bytes(bytes);
    if let Ok((payloads, intact)) = &in_memory {
        let mut again = Vec::new();
        for p in payloads {
            storage::frame_record(&mut again, p).expect("small records frame");
        }
        let intact = usize::try_from(*intact).expect("fits");
        assert_eq!(
            &again[..],
            &bytes[..intact],
            "records re-frame to the prefix"
        );
        let (same, same_intact) = recover_bytes(&again).expect("the prefix is clean");
        assert_eq!((&same, same_intact), (payloads, intact as u64));
    }
    let dir = scratch_dir();
    let segment = dir.path().join("wal-0000000000000000.log");
    std::fs::write(&segment, bytes).expect("write the segment");
    let on_disk = Wal::open_with(dir.path(), FsyncPolicy::Never, WalOptions::default());
    match (&in_memory, on_disk) {
        (Ok((payloads, intact)), Ok((_wal, got))) => {
            assert_eq!(&got, payloads, "memory and disk recover alike");
            let len = std::fs::metadata(&segment).expect("segment").len();
            assert_eq!(len, *intact, "the torn tail is cut where memory cuts it");
        }
        (
            Err(StorageError::Corrupt { offset: a, .. }),
            Err(StorageError::Corrupt { offset: b, .. }),
        ) => {
            assert_eq!(*a, b, "memory and disk refuse the same record");
        }
        (memory, disk) => panic!("memory says {memory:?}, disk says {disk:?}"),
    }
}

/// How a test damages the files of a log.
#[derive(Clone, Debug)]
pub enum Damage {
    /// XOR one byte of segment `file` (by position, modulo the count).
    Flip { file: usize, at: usize, mask: u8 },
    /// Cut a segment to `at` bytes (modulo its length + 1).
    Truncate { file: usize, at: usize },
    /// Append bytes to a segment.
    Append { file: usize, bytes: Vec<u8> },
    /// Zero `len` bytes from `at`.
    Zero { file: usize, at: usize, len: usize },
    /// Copy a segment under the name that would continue the log, `gap` records on.
    CopyAfter { file: usize, gap: u8 },
    /// Copy a segment's bytes over another segment.
    CopyOver { file: usize, over: usize },
    /// Delete a segment.
    Remove { file: usize },
}

/// A log to write, how, and the damage done to its files afterwards.
#[derive(Clone, Debug)]
pub struct Plan {
    pub records: Vec<Vec<u8>>,
    pub segment_bytes: u64,
    pub preallocate: bool,
    pub damage: Vec<Damage>,
}

/// One segment as written: its path, first record and the end of each record in it.
struct Segment {
    path: PathBuf,
    first: usize,
    ends: Vec<usize>,
}

fn options(plan: &Plan) -> WalOptions {
    WalOptions {
        segment_bytes: plan.segment_bytes,
        preallocate_bytes: if plan.preallocate { 256 } else { 0 },
        ..WalOptions::default()
    }
}

fn open(dir: &Path, plan: &Plan) -> Result<(Wal, Vec<Vec<u8>>), StorageError> {
    Wal::open_with(dir, FsyncPolicy::Never, options(plan))
}

/// The segments of the log in `dir`, with where its records end.
fn layout(dir: &Path, records: &[Vec<u8>]) -> Vec<Segment> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list the log")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    paths.sort();
    let firsts: Vec<usize> = paths
        .iter()
        .map(|p| {
            let name = p.file_stem().and_then(|s| s.to_str()).expect("a name");
            let hex = name.trim_start_matches("wal-");
            usize::from_str_radix(hex, 16).expect("a segment name")
        })
        .collect();
    let mut segments = Vec::new();
    for (i, path) in paths.into_iter().enumerate() {
        let first = firsts[i];
        let last = firsts.get(i + 1).copied().unwrap_or(records.len());
        let mut end = 0;
        let ends = records[first..last]
            .iter()
            .map(|r| {
                end += HEADER_LEN + r.len();
                end
            })
            .collect();
        segments.push(Segment { path, first, ends });
    }
    segments
}

/// Records of `s` wholly before byte `at`: the damage there cannot touch them.
fn kept_before(s: &Segment, at: usize) -> usize {
    s.first + s.ends.iter().take_while(|&&end| end <= at).count()
}

/// Applies `d`; returns how many records (from the start of the log) it leaves
/// untouched.
fn damage(dir: &Path, segments: &[Segment], d: &Damage, total: usize) -> usize {
    let seg = |i: usize| &segments[i % segments.len()];
    let read = |s: &Segment| std::fs::read(&s.path).ok();
    match d {
        Damage::Flip { file, at, mask } => {
            let s = seg(*file);
            let Some(mut bytes) = read(s).filter(|b| !b.is_empty()) else {
                return total;
            };
            let at = at % bytes.len();
            bytes[at] ^= (*mask).max(1);
            std::fs::write(&s.path, bytes).expect("write");
            kept_before(s, at)
        }
        Damage::Truncate { file, at } => {
            let s = seg(*file);
            let Some(mut bytes) = read(s) else {
                return total;
            };
            let at = at % (bytes.len() + 1);
            bytes.truncate(at);
            std::fs::write(&s.path, bytes).expect("write");
            kept_before(s, at)
        }
        Damage::Append { file, bytes: more } => {
            let s = seg(*file);
            let Some(mut bytes) = read(s) else {
                return total;
            };
            let at = bytes.len();
            bytes.extend_from_slice(more);
            std::fs::write(&s.path, bytes).expect("write");
            kept_before(s, at)
        }
        Damage::Zero { file, at, len } => {
            let s = seg(*file);
            let Some(mut bytes) = read(s).filter(|b| !b.is_empty()) else {
                return total;
            };
            let at = at % bytes.len();
            let end = at.saturating_add(*len).min(bytes.len());
            bytes[at..end].fill(0);
            std::fs::write(&s.path, bytes).expect("write");
            kept_before(s, at)
        }
        Damage::CopyAfter { file, gap } => {
            let Some(bytes) = read(seg(*file)) else {
                return total;
            };
            let name = format!("wal-{:016x}.log", total + usize::from(*gap));
            std::fs::write(dir.join(name), bytes).expect("write");
            total
        }
        Damage::CopyOver { file, over } => {
            let (from, to) = (seg(*file), seg(*over));
            if from.path == to.path {
                return total;
            }
            let Some(bytes) = read(from) else {
                return total;
            };
            std::fs::write(&to.path, bytes).expect("write");
            to.first
        }
        Damage::Remove { file } => {
            let s = seg(*file);
            if std::fs::remove_file(&s.path).is_err() {
                return total;
            }
            s.first
        }
    }
}

/// Writes `plan.records` with a real [`Wal`], damages the files, and checks recovery.
pub fn check_plan(plan: &Plan) {
    let dir = scratch_dir();
    let (mut wal, old) = open(dir.path(), plan).expect("a new log opens");
    assert!(old.is_empty());
    wal.make_room().expect("room");
    for (i, r) in plan.records.iter().enumerate() {
        wal.append(r).expect("append");
        if i % 3 == 2 {
            wal.sync().expect("sync");
        }
    }
    wal.sync().expect("sync");
    drop(wal);
    let written = &plan.records;
    let segments = layout(dir.path(), written);
    let mut untouched = written.len();
    for d in &plan.damage {
        untouched = untouched.min(damage(dir.path(), &segments, d, written.len()));
    }
    let got = match open(dir.path(), plan) {
        Ok((_, got)) => got,
        Err(e) => {
            assert!(!plan.damage.is_empty(), "an undamaged log is refused: {e}");
            assert!(
                matches!(
                    e,
                    StorageError::Corrupt { .. } | StorageError::MissingSegment { .. }
                ),
                "{e}"
            );
            assert!(
                e.to_string().contains("wal-"),
                "the error names the file: {e}"
            );
            return;
        }
    };
    assert!(
        got.len() <= written.len() && got[..] == written[..got.len()],
        "recovered {} records that are not a prefix of the {} written",
        got.len(),
        written.len()
    );
    assert!(
        got.len() >= untouched,
        "lost records before the damage: {} of {untouched}",
        got.len()
    );
    // Recovery is repeatable, and the log goes on from where it was cut.
    let (mut wal, again) = open(dir.path(), plan).expect("a recovered log reopens");
    assert_eq!(again, got);
    wal.append(b"after recovery").expect("append");
    wal.sync().expect("sync");
    drop(wal);
    let (_, last) = open(dir.path(), plan).expect("reopens");
    assert_eq!(last.len(), got.len() + 1);
    assert_eq!(last.last().map(Vec::as_slice), Some(&b"after recovery"[..]));
}

/// A [`Plan`] read from fuzzer bytes (the cargo-fuzz target's structure).
pub fn plan_from_bytes(data: &[u8]) -> Plan {
    let mut it = data.iter().copied();
    let mut next = move || it.next().unwrap_or(0);
    let count = usize::from(next() % 24);
    let records = (0..count)
        .map(|i| {
            let len = usize::from(next() % 48);
            (0..len).map(|j| next() ^ (i + j) as u8).collect()
        })
        .collect();
    let segment_bytes = 24 + 2 * u64::from(next());
    let preallocate = next() & 1 == 1;
    let mut damage = Vec::new();
    for _ in 0..usize::from(next() % 5) {
        let (file, a, b) = (usize::from(next()), usize::from(next()), next());
        let at = a * 256 + usize::from(b);
        damage.push(match next() % 7 {
            0 => Damage::Flip { file, at, mask: b },
            1 => Damage::Truncate { file, at },
            2 => Damage::Append {
                file,
                bytes: vec![b; a % 20 + 1],
            },
            3 => Damage::Zero { file, at, len: a },
            4 => Damage::CopyAfter { file, gap: b % 3 },
            5 => Damage::CopyOver { file, over: a },
            _ => Damage::Remove { file },
        });
    }
    Plan {
        records,
        segment_bytes,
        preallocate,
        damage,
    }
}

/// The fuzz target's entry: `data` as a log's bytes, and as a plan.
pub fn fuzz_recovery(data: &[u8]) {
    check_recover_bytes(data);
    check_plan(&plan_from_bytes(data));
}
