//! Snapshot files (storage concern of log compaction, Raft §7): one state-machine image
//! per file in the node's data directory, written so that a crash leaves either the
//! whole new file or none of it, and checked when read back.
//!
//! A file is named `snap-<index as 16 hex digits>.snap` and holds
//! `magic "CWBSNAP1" | index u64 | term u64 | length u64 | crc u32 | image`, little
//! endian, where `crc` is CRC-32 over index, term, length and the image. It is written
//! to a `.tmp` name, fsynced, renamed into place and the directory fsynced (the order
//! Pillai et al., OSDI 2014, show applications get wrong), so a torn write is never
//! taken for a snapshot. The newest [`KEEP`] files are kept: a node whose newest image
//! fails its checksum starts from the one before it and the log after it (the protocol
//! keeps that much log; see `protocols::snapshot`).

use crate::error::StorageError;
use crate::segment::sync_dir;
use bytes::Bytes;
use protocols::Snapshot;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How many snapshot files a data directory keeps (the newest ones).
pub const KEEP: usize = 2;

const MAGIC: &[u8; 8] = b"CWBSNAP1";
const HEADER: usize = 8 + 8 + 8 + 8 + 4;
const PREFIX: &str = "snap-";
const SUFFIX: &str = ".snap";

/// The file name of the snapshot through `index`.
pub fn snapshot_name(index: u64) -> String {
    format!("{PREFIX}{index:016x}{SUFFIX}")
}

fn parse_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn crc(index: u64, term: u64, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&index.to_le_bytes());
    h.update(&term.to_le_bytes());
    h.update(&(data.len() as u64).to_le_bytes());
    h.update(data);
    h.finalize()
}

/// Encodes `snapshot` as a file's bytes.
pub fn encode_snapshot(snapshot: &Snapshot) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + snapshot.data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&snapshot.index.to_le_bytes());
    out.extend_from_slice(&snapshot.term.to_le_bytes());
    out.extend_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc(snapshot.index, snapshot.term, &snapshot.data).to_le_bytes());
    out.extend_from_slice(&snapshot.data);
    out
}

/// Decodes a file's bytes, checking magic, length and checksum; the reason otherwise.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, String> {
    let word = |at: usize| -> Result<u64, String> {
        let b = bytes
            .get(at..at + 8)
            .ok_or("file shorter than its header")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    };
    if bytes.get(..8) != Some(&MAGIC[..]) {
        return Err("not a snapshot file (bad magic)".into());
    }
    let (index, term, len) = (word(8)?, word(16)?, word(24)?);
    let mut c = [0u8; 4];
    c.copy_from_slice(bytes.get(32..36).ok_or("file shorter than its header")?);
    let stored = u32::from_le_bytes(c);
    let data = bytes.get(HEADER..).unwrap_or_default();
    if data.len() as u64 != len {
        return Err(format!(
            "image of {} bytes where the header says {len}",
            data.len()
        ));
    }
    if crc(index, term, data) != stored {
        return Err("checksum mismatch".into());
    }
    Ok(Snapshot {
        index,
        term,
        data: Bytes::copy_from_slice(data),
    })
}

/// Writes `snapshot` into `dir` atomically (temporary file, fsync unless `fsync` is
/// false, rename, directory fsync), then deletes all but the newest [`KEEP`] snapshot
/// files. Returns the file's path.
pub fn write_snapshot(
    dir: &Path,
    snapshot: &Snapshot,
    fsync: bool,
) -> Result<PathBuf, StorageError> {
    let path = dir.join(snapshot_name(snapshot.index));
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
    file.write_all(&encode_snapshot(snapshot))
        .map_err(|e| StorageError::io(&tmp, e))?;
    if fsync {
        file.sync_all().map_err(|e| StorageError::io(&tmp, e))?;
    }
    drop(file);
    std::fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e))?;
    if fsync {
        sync_dir(dir)?;
    }
    let stored = list(dir)?;
    for (_, old) in stored.iter().skip(KEEP) {
        std::fs::remove_file(old).map_err(|e| StorageError::io(old, e))?;
    }
    Ok(path)
}

/// The snapshot files in `dir`, newest first, as (index, path); leftover temporary
/// files of an interrupted write are deleted.
fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(StorageError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(PREFIX) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        if let Some(index) = parse_name(name) {
            found.push((index, entry.path()));
        }
    }
    found.sort_unstable_by_key(|f| std::cmp::Reverse(f.0));
    Ok(found)
}

/// Every snapshot file in `dir`, newest first: the snapshot, or why it was refused
/// (with its path). A host starts from the first one its protocol accepts.
pub fn read_snapshots(dir: &Path) -> Result<Vec<Result<Snapshot, String>>, StorageError> {
    let mut out = Vec::new();
    for (index, path) in list(dir)? {
        let bytes = std::fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
        out.push(match decode_snapshot(&bytes) {
            Ok(s) if s.index == index => Ok(s),
            Ok(s) => Err(format!(
                "{}: holds index {} but is named for {index}",
                path.display(),
                s.index
            )),
            Err(reason) => Err(format!("{}: {reason}", path.display())),
        });
    }
    Ok(out)
}

/// The bytes the snapshot files in `dir` take.
pub fn snapshot_bytes(dir: &Path) -> u64 {
    list(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(index: u64, data: &str) -> Snapshot {
        Snapshot {
            index,
            term: 3,
            data: Bytes::copy_from_slice(data.as_bytes()),
        }
    }

    #[test]
    fn written_files_read_back_newest_first_and_only_two_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in [10, 20, 30] {
            write_snapshot(dir.path(), &snap(i, &format!("image {i}")), true).expect("write");
        }
        let read = read_snapshots(dir.path()).expect("read");
        let indexes: Vec<u64> = read.iter().flatten().map(|s| s.index).collect();
        assert_eq!(indexes, [30, 20], "the oldest was deleted");
        assert_eq!(
            read[0].as_ref().map(|s| s.data.clone()),
            Ok(Bytes::from("image 30"))
        );
        assert!(!dir.path().join(snapshot_name(10)).exists());
    }

    #[test]
    fn a_flipped_byte_in_a_real_file_is_caught_by_the_checksum_and_the_previous_one_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_snapshot(dir.path(), &snap(20, "older image"), true).expect("write");
        let path = write_snapshot(dir.path(), &snap(30, "newer image"), true).expect("write");
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&path, bytes).expect("damage");
        let read = read_snapshots(dir.path()).expect("read");
        let first = read[0].as_ref().expect_err("the damaged file is refused");
        assert!(first.contains("checksum mismatch"), "{first}");
        assert!(
            first.contains(&snapshot_name(30)),
            "names the file: {first}"
        );
        let usable = read
            .iter()
            .find_map(|r| r.as_ref().ok())
            .expect("one valid");
        assert_eq!((usable.index, &usable.data[..]), (20, &b"older image"[..]));
    }

    #[test]
    fn truncated_renamed_and_leftover_files_are_refused_or_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_snapshot(dir.path(), &snap(5, "image"), true).expect("write");
        let bytes = std::fs::read(&path).expect("read");
        assert!(
            decode_snapshot(&bytes[..bytes.len() - 1]).is_err(),
            "short image"
        );
        assert!(decode_snapshot(&bytes[..10]).is_err(), "short header");
        assert!(decode_snapshot(b"garbage that is long enough to hold a header....").is_err());
        // A file renamed to another index is refused.
        std::fs::rename(&path, dir.path().join(snapshot_name(6))).expect("rename");
        // A temporary file of an interrupted write is removed.
        std::fs::write(dir.path().join("snap-0000000000000009.tmp"), b"half").expect("tmp");
        let read = read_snapshots(dir.path()).expect("read");
        assert_eq!(read.len(), 1);
        assert!(read[0].as_ref().is_err_and(|e| e.contains("named for 6")));
        assert!(!dir.path().join("snap-0000000000000009.tmp").exists());
    }
}
