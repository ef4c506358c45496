//! Whose a data directory is (storage concern): the cluster and the node that created
//! it, recorded in an `IDENTITY` file beside the log, so that a node never runs on
//! another cluster's or another node's data (a copied or misconfigured directory would
//! otherwise make it act on promises it never made). etcd records its cluster and
//! member ids in its WAL metadata and refuses a mismatch the same way; ZooKeeper keeps
//! `myid` beside its data.
//!
//! The file is three lines, written once (synced with its directory):
//! `cluster = <32 hex digits>`, `node = <id>`, `created = <seconds since 1970>`.

use super::error::StorageError;
use protocols::NodeId;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// The name of the identity file in a data directory.
pub const IDENTITY_FILE: &str = "IDENTITY";

/// Whether a directory without an identity may be claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The first start of a new cluster (`--bootstrap`): an empty directory is expected.
    Bootstrap,
    /// A restart, or a node joining a cluster that already runs: the directory must
    /// hold this node's data (an empty one is refused).
    Rejoin,
}

/// Checks that `dir` belongs to `node` of the cluster `cluster` (hex), recording it if
/// the directory has no identity yet. A directory with neither an identity nor records
/// (`has_records` false) is claimed only at [`Start::Bootstrap`]: anywhere else it is a
/// node that lost its data (etcd likewise refuses to re-bootstrap a member that is
/// already part of a cluster, and has it removed and added again with a fresh
/// directory). A directory with records but no identity predates identity files and is
/// claimed. Call it with the directory's lock held.
pub fn claim(
    dir: &Path,
    cluster: &str,
    node: NodeId,
    start: Start,
    has_records: bool,
) -> Result<(), StorageError> {
    let path = dir.join(IDENTITY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let field = |name: &str| {
                text.lines()
                    .filter_map(|l| l.split_once('='))
                    .find(|(k, _)| k.trim() == name)
                    .map(|(_, v)| v.trim().to_string())
            };
            let (found_cluster, found_node) = (field("cluster"), field("node"));
            if found_cluster.as_deref() != Some(cluster)
                || found_node.as_deref() != Some(node.to_string().as_str())
            {
                return Err(StorageError::ForeignDirectory {
                    dir: dir.to_path_buf(),
                    mismatch: format!(
                        "cluster {}, node {}, not to cluster {cluster}, node {node}",
                        found_cluster.unwrap_or_else(|| "?".into()),
                        found_node.unwrap_or_else(|| "?".into())
                    ),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !has_records && start == Start::Rejoin {
                return Err(StorageError::EmptyDirectory {
                    dir: dir.to_path_buf(),
                    node,
                });
            }
            let created = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| StorageError::io(&path, e))?;
            file.write_all(
                format!("cluster = {cluster}\nnode = {node}\ncreated = {created}\n").as_bytes(),
            )
            .and_then(|()| file.sync_all())
            .map_err(|e| StorageError::io(&path, e))?;
            super::segment::sync_dir(dir)
        }
        Err(e) => Err(StorageError::io(&path, e)),
    }
}
