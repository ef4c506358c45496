//! Segment files of the write-ahead log (storage concern): their names, finding them in
//! the data directory, and making their creation durable.
//!
//! The log is a sequence of files `wal-<first record number as 16 hex digits>.log`, so
//! the name of each file says which record it starts with and a gap in the sequence is
//! detectable (like etcd's `wal` package names `<seq>-<index>.wal`). Creating a file is
//! durable only once its directory is fsynced (Pillai et al., OSDI 2014, §3).

use super::error::StorageError;
use std::fs::File;
use std::path::{Path, PathBuf};

const PREFIX: &str = "wal-";
const SUFFIX: &str = ".log";
const HEX_DIGITS: usize = 16;

/// One segment file found in the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    /// Number of the first record stored in this segment (from its name).
    pub first_record: u64,
    /// Full path of the file.
    pub path: PathBuf,
}

/// The file name of the segment whose first record is `first_record`.
pub(crate) fn segment_name(first_record: u64) -> String {
    format!("{PREFIX}{first_record:016x}{SUFFIX}")
}

/// Parses a segment file name back to its first record number; `None` if `name` is not
/// exactly `wal-<16 lowercase or uppercase hex digits>.log`.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if hex.len() != HEX_DIGITS || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Lists the segment files in `dir`, sorted by first record number. Files with other
/// names are left alone; ones that look like a damaged segment name are logged.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>, StorageError> {
    let mut segments = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match parse_segment_name(name) {
            Some(first_record) => segments.push(SegmentFile {
                first_record,
                path: entry.path(),
            }),
            None if name.starts_with(PREFIX) && name.ends_with(SUFFIX) => {
                tracing::warn!(file = %entry.path().display(), "ignoring file with a malformed WAL segment name");
            }
            None => {}
        }
    }
    segments.sort_by_key(|s| s.first_record);
    Ok(segments)
}

/// Fsyncs a directory so that files created in it survive a crash. A no-op where
/// directories cannot be opened as files (non-Unix).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    if cfg!(unix) {
        let handle = File::open(dir).map_err(|e| StorageError::io(dir, e))?;
        handle.sync_all().map_err(|e| StorageError::io(dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_as_text() {
        assert_eq!(segment_name(0), "wal-0000000000000000.log");
        assert_eq!(segment_name(0x1f), "wal-000000000000001f.log");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("wal-000000000000001F.log"), Some(0x1f));
    }

    #[test]
    fn other_names_are_not_segments() {
        for name in [
            "wal-1.log",
            "wal-000000000000001g.log",
            "wal-0000000000000001.log.tmp",
            "xwal-0000000000000001.log",
            "wal-+000000000000001.log",
            "snapshot-0000000000000001.snap",
        ] {
            assert_eq!(parse_segment_name(name), None, "{name}");
        }
    }
}
