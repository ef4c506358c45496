//! Log compaction on a real directory: the segments before a rebuilt start of the log
//! are deleted, a reopened log begins there, and a deletion a crash interrupted is
//! finished by recovery.

use storage::wal::START_FILE;
use storage::{FsyncPolicy, Wal};

fn records(wal: &mut Wal, from: u32, to: u32) {
    for i in from..=to {
        wal.append(format!("record {i}").as_bytes())
            .expect("append");
    }
    wal.sync().expect("sync");
}

fn texts(payloads: &[Vec<u8>]) -> Vec<String> {
    payloads
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

fn segment_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .expect("list")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("wal-"))
        })
        .count()
}

#[test]
fn segments_before_the_base_are_deleted_and_the_log_reopens_at_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = Wal::open(dir.path(), FsyncPolicy::Batch).expect("open");
    records(&mut wal, 1, 5);
    let base = wal.begin_base().expect("begin");
    assert_eq!(base, 5, "the base starts a segment at record 5");
    wal.append(b"base").expect("append");
    records(&mut wal, 6, 7);
    assert_eq!(segment_count(dir.path()), 2);
    assert_eq!(wal.drop_before(base).expect("drop"), 1);
    assert_eq!(segment_count(dir.path()), 1);
    records(&mut wal, 8, 8);
    drop(wal);
    let (_wal, payloads) = Wal::open(dir.path(), FsyncPolicy::Batch).expect("reopen");
    assert_eq!(
        texts(&payloads),
        ["base", "record 6", "record 7", "record 8"]
    );
}

#[test]
fn an_interrupted_deletion_is_finished_by_recovery_and_a_missing_base_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = Wal::open(dir.path(), FsyncPolicy::Batch).expect("open");
    records(&mut wal, 1, 3);
    let base = wal.begin_base().expect("begin");
    wal.append(b"base").expect("append");
    wal.sync().expect("sync");
    drop(wal);
    // The start was recorded, then the node crashed before deleting anything.
    std::fs::write(dir.path().join(START_FILE), format!("{base}\n")).expect("start");
    assert_eq!(segment_count(dir.path()), 2);
    let (wal, payloads) = Wal::open(dir.path(), FsyncPolicy::Batch).expect("reopen");
    assert_eq!(texts(&payloads), ["base"]);
    assert_eq!(segment_count(dir.path()), 1);
    drop(wal);
    // A start that names a record no segment begins with is a lost segment.
    std::fs::write(dir.path().join(START_FILE), "1\n").expect("start");
    let err = Wal::open(dir.path(), FsyncPolicy::Batch).expect_err("refused");
    assert!(err.to_string().contains("missing"), "{err}");
}
