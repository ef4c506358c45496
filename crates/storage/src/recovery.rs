//! Crash recovery of the write-ahead log (storage concern): read every segment back in
//! order, cut away a torn tail of the last segment, refuse anything else that is damaged.
//!
//! The rules follow the usual WAL discipline (etcd's `wal.ReadAll` with its torn-write
//! repair, ZooKeeper's `FileTxnLog` replay): only the very end of the log can have been
//! in flight when the node crashed, because the writer makes a segment durable before
//! it starts the next one. So a torn record is expected only at the end of the last
//! segment; a damaged record anywhere else, a torn end of an older segment, or a gap in
//! the numbering means the disk lost data the node had acknowledged, and recovering past
//! it would silently break the protocol's promises (Raft §5, Figure 2: persistent state
//! must survive restarts).

use super::error::StorageError;
use super::record::{scan, segment_seed, ScanEnd};
use super::segment::{list_segments, segment_name, SegmentFile};
use std::fs::OpenOptions;
use std::path::Path;

/// What recovery found: the segment to continue appending to, and every record.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// The last segment, to which appends continue; `None` if the directory held none.
    pub last_segment: Option<SegmentFile>,
    /// Length in bytes of the last segment after any torn tail was cut away.
    pub last_segment_len: u64,
    /// Number of the next record to be appended (= number of records recovered).
    pub next_record: u64,
    /// Every intact record payload, oldest first.
    pub payloads: Vec<Vec<u8>>,
}

/// Reads and checks every segment in `dir`, truncating a torn tail of the last one.
pub(crate) fn recover(dir: &Path) -> Result<Recovered, StorageError> {
    let mut segments = list_segments(dir)?;
    let mut payloads = Vec::new();
    // A compacted log begins where its start file says; segments before that are left
    // over from a deletion a crash interrupted, and go now.
    let mut next_record = read_start(dir)?;
    for old in segments.iter().filter(|s| s.first_record < next_record) {
        tracing::info!(file = %old.path.display(), "WAL recovery: deleting a segment compacted away");
        std::fs::remove_file(&old.path).map_err(|e| StorageError::io(&old.path, e))?;
    }
    segments.retain(|s| s.first_record >= next_record);
    let mut last_segment_len = 0u64;
    let count = segments.len();
    for (position, segment) in segments.iter().enumerate() {
        check_sequence(dir, segment, next_record)?;
        let bytes = std::fs::read(&segment.path).map_err(|e| StorageError::io(&segment.path, e))?;
        let scan = scan(&bytes, segment_seed(segment.first_record));
        let is_last = position + 1 == count;
        match &scan.end {
            ScanEnd::Clean => {}
            ScanEnd::Torn { offset, .. }
                if is_last
                    && bytes
                        .get(*offset as usize..)
                        .is_some_and(|t| t.iter().all(|&b| b == 0)) =>
            {
                // Zero-filled room preallocated ahead of the records: expected, quiet.
                tracing::debug!(
                    file = %segment.path.display(),
                    offset,
                    "WAL recovery: cutting the preallocated zero tail"
                );
                truncate(&segment.path, *offset)?;
            }
            ScanEnd::Torn { offset, reason } if is_last => {
                tracing::warn!(
                    file = %segment.path.display(),
                    offset,
                    discarded_bytes = bytes.len() as u64 - offset,
                    reason = %reason,
                    "WAL recovery: truncating torn tail of the last segment"
                );
                truncate(&segment.path, *offset)?;
            }
            ScanEnd::Torn { offset, reason } => {
                return Err(StorageError::Corrupt {
                    path: segment.path.clone(),
                    offset: *offset,
                    reason: format!("{reason}, in a segment that is not the last one"),
                });
            }
            ScanEnd::Corrupt { offset, reason } => {
                return Err(StorageError::Corrupt {
                    path: segment.path.clone(),
                    offset: *offset,
                    reason: reason.clone(),
                });
            }
        }
        last_segment_len = scan.intact_len(bytes.len());
        payloads.reserve(scan.payloads.len());
        for range in scan.payloads {
            payloads.push(bytes.get(range).unwrap_or_default().to_vec());
            next_record += 1;
        }
    }
    Ok(Recovered {
        last_segment: segments.last().cloned(),
        last_segment_len,
        next_record,
        payloads,
    })
}

/// The first record number of a compacted log ([`crate::wal::START_FILE`]); 0 if none.
fn read_start(dir: &Path) -> Result<u64, StorageError> {
    let path = dir.join(crate::wal::START_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map_err(|_| StorageError::Corrupt {
            path: path.clone(),
            offset: 0,
            reason: format!("not a record number: {:?}", text.trim()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(StorageError::io(&path, e)),
    }
}

/// Checks that `segment` starts exactly where the segments before it ended.
fn check_sequence(dir: &Path, segment: &SegmentFile, expected: u64) -> Result<(), StorageError> {
    if segment.first_record > expected {
        return Err(StorageError::MissingSegment {
            missing: dir.join(segment_name(expected)),
            expected_first: expected,
            found: segment.path.clone(),
        });
    }
    if segment.first_record < expected {
        return Err(StorageError::Corrupt {
            path: segment.path.clone(),
            offset: 0,
            reason: format!(
                "segment starts at record {} but the segments before it already hold \
                 records up to {}",
                segment.first_record,
                expected.saturating_sub(1)
            ),
        });
    }
    Ok(())
}

/// Cuts `path` down to `len` bytes and makes the new length durable.
fn truncate(path: &Path, len: u64) -> Result<(), StorageError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io(path, e))?;
    file.set_len(len).map_err(|e| StorageError::io(path, e))?;
    file.sync_all().map_err(|e| StorageError::io(path, e))
}
