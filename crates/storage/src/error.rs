//! Errors of the write-ahead log (storage concern).
//!
//! Every error that comes from the disk names the file it concerns, and corruption also
//! names the byte offset of the bad record, so an operator can look at it with `xxd`
//! (docs/DESIGN.md, "Robustness expected everywhere": refuse a corrupted record in the middle
//! "with a clear error naming file and offset").

use protocols::NodeId;
use std::path::PathBuf;

/// Why a write-ahead log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating-system I/O call failed on `path`.
    #[error("WAL I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the failed call was about.
        path: PathBuf,
        /// The error the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// A record in the middle of the log (not a torn tail) fails its checks.
    #[error("corrupt WAL record in {} at byte offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The segment file holding the bad record.
        path: PathBuf,
        /// Byte offset of the bad record's header inside `path`.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// A payload is larger than the configured maximum record size; nothing was written.
    #[error("WAL record of {len} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// Size of the rejected payload in bytes.
        len: usize,
        /// The configured maximum payload size in bytes.
        max: u32,
    },
    /// A segment is missing from the sequence: records `expected_first..` are absent.
    #[error(
        "WAL segment {} is missing: the log must continue at record {expected_first} \
         but the next segment found is {}",
        missing.display(),
        found.display()
    )]
    MissingSegment {
        /// The path the missing segment would have.
        missing: PathBuf,
        /// The record number the missing segment would start with.
        expected_first: u64,
        /// The segment file found in its place (starting at a later record).
        found: PathBuf,
    },
    /// An earlier write or fdatasync on `path` failed, so what reached the disk is
    /// unknown; the log refuses further use until it is reopened and recovered.
    #[error("WAL on {} failed earlier and must be reopened before further use", path.display())]
    Poisoned {
        /// The segment file whose write or sync failed.
        path: PathBuf,
    },
    /// Another process (or another open log in this one) holds the data directory.
    #[error(
        "data directory {} is in use by another node ({holder}); two writers would corrupt \
         its WAL. Stop the other node, or give this one its own directory",
        dir.display()
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// Who holds it, as its lock file says (e.g. "pid 4242").
        holder: String,
    },
    /// The data directory belongs to another cluster or another node.
    #[error(
        "data directory {} belongs to {mismatch}: refusing to run on another node's \
         promises. Point data_dir elsewhere, or move this directory away",
        dir.display()
    )]
    ForeignDirectory {
        /// The data directory.
        dir: PathBuf,
        /// Whose its identity file says it is, and whose it should be.
        mismatch: String,
    },
    /// The directory is empty (no identity, no records) and this is not the first start
    /// of a new cluster: the node lost its log, and must not rejoin as a voter.
    #[error(
        "data directory {} of node {node} is empty, but this is not the first start of a \
         new cluster. A node that lost its log must not rejoin as a voter: it would vote \
         again in terms it already voted in and forget writes it acknowledged (with two \
         of three nodes wiped, every acknowledged write would be lost silently). If this \
         is a new cluster, start every node once with --bootstrap; to bring back a node \
         that lost its data, see docs/DESIGN.md, \"A node that lost its data\"",
        dir.display()
    )]
    EmptyDirectory {
        /// The data directory.
        dir: PathBuf,
        /// The node that was to run on it.
        node: NodeId,
    },
    /// Serializing or deserializing a typed record with postcard failed.
    #[error("WAL record codec error: {0}")]
    Codec(#[from] postcard::Error),
}

impl StorageError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }
}

/// A fsync policy name that is not one of `always`, `batch`, `never`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fsync policy {0:?}: expected \"always\", \"batch\" or \"never\"")]
pub struct UnknownFsyncPolicy(
    /// The name that was given.
    pub String,
);
