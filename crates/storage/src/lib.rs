//! Storage: the write-ahead log every protocol node persists its records in.
//!
//! The protocols hand the runtime opaque serialized records (`Effect::Persist`); the
//! runtime appends them to a [`Wal`], makes them durable per [`FsyncPolicy`] before
//! sending anything that depends on them (Raft §5 / Figure 2; Zab's "log, then ACK"),
//! and on restart reads them all back in order to rebuild the protocol's state.
//!
//! # Layout
//! - [`wal`]: the log [`Wal`] (open + recover, append, group-commit sync), [`WalOptions`],
//!   [`WalStats`].
//! - `record`: the on-disk record frame `length | crc32 | payload` and the scan that
//!   tells intact records from a torn tail and from corruption.
//! - `segment`: segment file names `wal-<first record, 16 hex>.log` and directory fsync.
//! - `recovery`: reading all segments back, truncating a torn tail, refusing corruption.
//! - [`snapshot`]: state-machine snapshot files (log compaction), written atomically
//!   and checksummed; the WAL's [`Wal::begin_base`] and [`Wal::drop_before`] delete
//!   the segments a snapshot made unnecessary.
//! - [`error`]: the error type [`StorageError`].
//!
//! # Example
//! ```
//! use storage::{decode_record, encode_record, FsyncPolicy, Wal};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let (mut wal, old) = Wal::open(dir.path(), FsyncPolicy::Batch)?;
//! assert!(old.is_empty());
//! wal.append(&encode_record(&(1u64, "set x = 1"))?)?;
//! wal.append(&encode_record(&(2u64, "set y = 2"))?)?;
//! wal.sync()?; // one write + one fdatasync for the whole batch
//! drop(wal);
//!
//! let (_wal, records) = Wal::open(dir.path(), FsyncPolicy::Batch)?;
//! let first: (u64, String) = decode_record(&records[0])?;
//! assert_eq!(first, (1, "set x = 1".to_string()));
//! assert_eq!(records.len(), 2);
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod identity;
mod record;
mod recovery;
mod segment;
pub mod snapshot;
pub mod wal;

pub use error::{StorageError, UnknownFsyncPolicy};
pub use record::HEADER_LEN;
pub use wal::{
    Wal, WalOptions, WalStats, DEFAULT_BUFFER_BYTES, DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_SEGMENT_BYTES, PREALLOCATE_BYTES,
};

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// When appended records are forced to disk. Reports always state the policy used,
/// because it dominates commit latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FsyncPolicy {
    /// `fdatasync` after every single append.
    Always,
    /// `fdatasync` once per batch of appends (group commit; `Wal::sync`).
    Batch,
    /// Never fsync: the bytes are only handed to the OS (they survive a process crash,
    /// not a power loss).
    Never,
}

impl FsyncPolicy {
    /// The policy's name as written in configuration files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Batch => "batch",
            FsyncPolicy::Never => "never",
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FsyncPolicy {
    type Err = UnknownFsyncPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "batch" => Ok(FsyncPolicy::Batch),
            "never" => Ok(FsyncPolicy::Never),
            other => Err(UnknownFsyncPolicy(other.to_string())),
        }
    }
}

/// Serializes a typed record with postcard, ready for [`Wal::append`].
pub fn encode_record<T: Serialize>(record: &T) -> Result<Vec<u8>, StorageError> {
    // One allocation for a typical record (a log entry with a 256-byte value) instead
    // of a doubling series.
    Ok(postcard::to_extend(record, Vec::with_capacity(512))?)
}

/// Serializes a typed record with postcard into `buf` (cleared first), so that a writer
/// that appends records one at a time reuses one buffer instead of allocating one per
/// record ([`encode_record`]); `buf` keeps its capacity for the next record.
pub fn encode_record_into<T: Serialize>(record: &T, buf: &mut Vec<u8>) -> Result<(), StorageError> {
    buf.clear();
    let out = postcard::to_extend(record, std::mem::take(buf))?;
    *buf = out;
    Ok(())
}

/// Appends `payload` to `buf` framed as one WAL record (`length | crc | payload`), the
/// bytes [`Wal::append`] writes: for a log kept in memory, such as the simulator's disk.
pub fn frame_record(buf: &mut Vec<u8>, payload: &[u8]) -> Result<(), StorageError> {
    let len = u32::try_from(payload.len()).map_err(|_| StorageError::RecordTooLarge {
        len: payload.len(),
        max: u32::MAX,
    })?;
    record::encode_into(buf, record::segment_seed(0), len, payload);
    Ok(())
}

/// Recovers a log kept in memory as one segment, with the rules [`Wal::open`] applies
/// to the last segment of a log on disk (the same scan): the intact records in order,
/// and the length of the intact prefix, where a torn tail is cut. A damaged record with
/// more bytes after it is refused as corrupt.
pub fn recover_bytes(bytes: &[u8]) -> Result<(Vec<Vec<u8>>, u64), StorageError> {
    let scan = record::scan(bytes, record::segment_seed(0));
    if let record::ScanEnd::Corrupt { offset, reason } = &scan.end {
        return Err(StorageError::Corrupt {
            path: std::path::PathBuf::from("<log in memory>"),
            offset: *offset,
            reason: reason.clone(),
        });
    }
    let intact = scan.intact_len(bytes.len());
    let payloads = scan
        .payloads
        .into_iter()
        .map(|range| bytes.get(range).unwrap_or_default().to_vec())
        .collect();
    Ok((payloads, intact))
}

/// Deserializes a record payload returned by [`Wal::open`].
pub fn decode_record<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    Ok(postcard::from_bytes(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_record_buffer_encodes_what_encode_record_does() {
        let mut buf = Vec::new();
        let long = (7u64, "x".repeat(1000));
        encode_record_into(&long, &mut buf).unwrap();
        assert_eq!(buf, encode_record(&long).unwrap());
        let capacity = buf.capacity();
        let short = (8u64, "set y = 2".to_string());
        encode_record_into(&short, &mut buf).unwrap();
        assert_eq!(
            buf,
            encode_record(&short).unwrap(),
            "cleared, not appended to"
        );
        assert_eq!(buf.capacity(), capacity, "the allocation is reused");
        assert_eq!(decode_record::<(u64, String)>(&buf).unwrap(), short);
    }

    #[test]
    fn policy_names_round_trip() {
        for policy in [FsyncPolicy::Always, FsyncPolicy::Batch, FsyncPolicy::Never] {
            assert_eq!(policy.to_string().parse::<FsyncPolicy>(), Ok(policy));
            let json = serde_json::to_string(&policy).unwrap();
            assert_eq!(json, format!("\"{policy}\""));
            assert_eq!(serde_json::from_str::<FsyncPolicy>(&json).unwrap(), policy);
        }
    }

    #[test]
    fn unknown_policy_name_is_a_clear_error() {
        let err = "Sometimes".parse::<FsyncPolicy>().unwrap_err();
        assert_eq!(err, UnknownFsyncPolicy("Sometimes".to_string()));
        assert!(err
            .to_string()
            .contains("\"always\", \"batch\" or \"never\""));
    }

    #[test]
    fn typed_records_round_trip_and_garbage_is_a_codec_error() {
        let bytes = encode_record(&(7u64, vec![1u8, 2, 3], "x".to_string())).unwrap();
        let back: (u64, Vec<u8>, String) = decode_record(&bytes).unwrap();
        assert_eq!(back, (7, vec![1, 2, 3], "x".to_string()));
        let err = decode_record::<(u64, String)>(&[0xff]).unwrap_err();
        assert!(matches!(err, StorageError::Codec(_)));
    }
}
