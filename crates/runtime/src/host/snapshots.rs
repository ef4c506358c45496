//! Snapshots in the tokio host (runtime concern of log compaction, Raft §7; see
//! `protocols::snapshot` for the cycle).
//!
//! - `Effect::TakeSnapshot`: the state machine is copied on the loop (the key-value
//!   store's copy shares every key and value, so it costs a walk of its tables), and
//!   the copy is serialized, written and fsynced on tokio's blocking pool; commits go
//!   on meanwhile. When the file is in place the loop steps `Input::SnapshotTaken`.
//!   A request that arrives while the previous snapshot is still being written is
//!   skipped (the protocol asks again after its next interval).
//! - `Effect::InstallSnapshot`: the leader's image replaces the state machine, and is
//!   written (fsynced) on the loop before anything else is carried out; this happens
//!   once per catch-up of a lagging follower.
//! - At start ([`restore`]): the newest snapshot file that passes its checksum and that
//!   the protocol accepts restores the state machine; a damaged one is logged and the
//!   one before it tried.

use super::{NodeLoop, RuntimeError};
use kv::StateMachine;
use protocols::{Input, NodeId, Protocol, RecoveryError, Snapshot};
use std::path::{Path, PathBuf};
use storage::StorageError;
use tokio::sync::mpsc;

/// The loop's snapshot state.
pub(super) struct Snapshots {
    /// The data directory the files go in.
    dir: PathBuf,
    /// Whether to fsync them (not under `fsync = never`).
    fsync: bool,
    /// A snapshot is being written.
    busy: bool,
    /// Finished snapshots (or why one failed), from the blocking pool.
    done_tx: mpsc::UnboundedSender<Result<Snapshot, StorageError>>,
    /// Their receiving end, polled by the loop.
    pub(super) done_rx: mpsc::UnboundedReceiver<Result<Snapshot, StorageError>>,
    /// An install failed to be stored: the loop stops with it.
    pub(super) failed: Option<StorageError>,
    /// Snapshots written and installed since start (for tests and reports).
    pub(super) taken: u64,
    pub(super) installed: u64,
}

impl Snapshots {
    pub(super) fn new(dir: PathBuf, fsync: bool) -> Snapshots {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Snapshots {
            dir,
            fsync,
            busy: false,
            done_tx,
            done_rx,
            failed: None,
            taken: 0,
            installed: 0,
        }
    }

    /// `Effect::TakeSnapshot`: copies `kv` now, writes it in the background.
    pub(super) fn take(&mut self, kv: &dyn StateMachine, index: u64, term: u64) {
        if self.busy {
            tracing::debug!(
                index,
                "snapshot skipped: the previous one is still being written"
            );
            return;
        }
        let Some(image) = kv.image_writer() else {
            return;
        };
        self.busy = true;
        let (dir, fsync, done) = (self.dir.clone(), self.fsync, self.done_tx.clone());
        tokio::task::spawn_blocking(move || {
            let snapshot = Snapshot {
                index,
                term,
                data: image().into(),
            };
            let written = storage::snapshot::write_snapshot(&dir, &snapshot, fsync);
            let _ = done.send(written.map(|_| snapshot));
        });
    }
}

impl<P: Protocol> NodeLoop<P> {
    /// A background snapshot finished: the protocol may compact its log.
    pub(super) fn on_snapshot_done(
        &mut self,
        done: Result<Snapshot, StorageError>,
        out: &mut Vec<super::EffectOf<P>>,
    ) {
        self.snapshots.busy = false;
        match done {
            Ok(snapshot) => {
                self.snapshots.taken += 1;
                tracing::debug!(node = self.id, index = snapshot.index, "snapshot stored");
                self.proto
                    .step(super::now(), Input::SnapshotTaken(snapshot), out);
            }
            // The log is not compacted; the next interval tries again.
            Err(e) => tracing::warn!(node = self.id, error = %e, "snapshot not stored"),
        }
    }

    /// `Effect::InstallSnapshot`: the leader's image becomes the state machine, stored
    /// durably first.
    pub(super) fn install_snapshot(&mut self, snapshot: Snapshot) {
        let dir = self.snapshots.dir.clone();
        if let Err(e) = storage::snapshot::write_snapshot(&dir, &snapshot, self.snapshots.fsync) {
            self.snapshots.failed = Some(e);
            return;
        }
        if let Err(reason) = self.kv.restore_image(&snapshot.data) {
            self.snapshots.failed = Some(StorageError::Corrupt {
                path: dir.join(storage::snapshot::snapshot_name(snapshot.index)),
                offset: 0,
                reason: format!("the leader's snapshot image does not restore: {reason}"),
            });
            return;
        }
        self.snapshots.installed += 1;
        tracing::info!(
            node = self.id,
            index = snapshot.index,
            "installed the leader's snapshot"
        );
    }
}

/// At start: restores `kv` and `proto` from the newest snapshot file in `dir` that is
/// intact and that the protocol accepts. A node whose log was compacted (it starts
/// after index 0) must find one.
pub(super) fn restore<P: Protocol>(
    id: NodeId,
    dir: &Path,
    proto: &mut P,
    kv: &mut dyn StateMachine,
) -> Result<(), RuntimeError> {
    let storage = |source| RuntimeError::Storage { node: id, source };
    for stored in storage::snapshot::read_snapshots(dir).map_err(storage)? {
        let snapshot = match stored {
            Ok(s) => s,
            Err(reason) => {
                tracing::warn!(node = id, %reason, "snapshot refused; trying an older one");
                continue;
            }
        };
        if let Err(e) = proto.restore_snapshot(&snapshot) {
            tracing::warn!(node = id, index = snapshot.index, error = %e, "snapshot does not fit the log");
            continue;
        }
        kv.restore_image(&snapshot.data)
            .map_err(|reason| RuntimeError::Recovery {
                node: id,
                source: RecoveryError::Inconsistent {
                    record: 0,
                    reason: format!("snapshot through {}: {reason}", snapshot.index),
                },
            })?;
        tracing::info!(node = id, index = snapshot.index, "started from a snapshot");
        return Ok(());
    }
    if proto.log_start() > 0 {
        return Err(RuntimeError::Recovery {
            node: id,
            source: RecoveryError::Inconsistent {
                record: 0,
                reason: format!(
                    "the log starts after index {} and no intact snapshot in {} covers it",
                    proto.log_start(),
                    dir.display()
                ),
            },
        });
    }
    Ok(())
}
