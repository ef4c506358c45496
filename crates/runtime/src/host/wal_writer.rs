//! The node's WAL writer thread (storage concern of the runtime): group commit that
//! runs beside the event loop instead of blocking it.
//!
//! `fdatasync` blocks for tens of microseconds to milliseconds. Called inside the node's
//! async task it would stall one of the runtime's few worker threads, and the node could
//! not step any input while its previous batch syncs. Here the loop hands each batch of
//! encoded `Persist` records to a dedicated OS thread as a numbered job and keeps going.
//! The thread takes every job already queued, appends them all, calls [`Wal::sync`]
//! once (group commit across loop iterations, as ZooKeeper's `SyncRequestProcessor`
//! does across requests and etcd's raft node with asynchronous storage writes), and
//! reports "durable up to job N". The loop holds back every effect that followed those
//! records until that report arrives (see the module docs of [`super`]).
//!
//! A crash is modelled faithfully: dropping the [`WalWriter`] (the node is killed) tells
//! the thread to stop; jobs not yet appended are discarded, and [`WalWriter::stopped`]
//! resolves only once the thread has let go of the log, so a restarted node never shares
//! its segment files with a lingering writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use storage::{StorageError, Wal, WalStats};
use tokio::sync::{mpsc, oneshot};

/// One batch of encoded record payloads, in append order.
struct Job {
    /// The batch's number (increasing from 1).
    seq: u64,
    /// The record payloads.
    payloads: Vec<Vec<u8>>,
    /// Log compaction (`protocols::Effect::Rebase`): the payloads from this position on
    /// rebuild everything before them; they start a new segment, and once synced every
    /// earlier segment is deleted.
    base_at: Option<usize>,
}

/// What the thread reports back to the loop.
#[derive(Debug)]
pub enum WalReport {
    /// Every job up to and including `seq` is durable (per the fsync policy).
    Durable {
        /// The highest durable job.
        seq: u64,
        /// The log's counters after that sync.
        stats: WalStats,
    },
    /// The log failed; nothing more will be made durable.
    Failed(StorageError),
}

/// The loop's handle on its writer thread.
pub struct WalWriter {
    jobs: std_mpsc::Sender<Job>,
    stop: Arc<AtomicBool>,
    /// The number of the last job submitted (0: none yet).
    submitted: u64,
}

impl WalWriter {
    /// Starts the writer thread for `wal`. Reports arrive on the returned receiver;
    /// the oneshot resolves (with an error) once the thread has exited.
    pub fn start(
        node: protocols::NodeId,
        wal: Wal,
    ) -> std::io::Result<(
        WalWriter,
        mpsc::UnboundedReceiver<WalReport>,
        oneshot::Receiver<()>,
    )> {
        let (jobs_tx, jobs_rx) = std_mpsc::channel::<Job>();
        let (report_tx, report_rx) = mpsc::unbounded_channel();
        let (exit_tx, exit_rx) = oneshot::channel::<()>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_seen = stop.clone();
        std::thread::Builder::new()
            .name(format!("wal-{node}"))
            .spawn(move || {
                // Dropped when the thread ends: tells `stopped` the log is released.
                let _exit = exit_tx;
                write_loop(wal, &jobs_rx, &report_tx, &stop_seen);
            })?;
        Ok((
            WalWriter {
                jobs: jobs_tx,
                stop,
                submitted: 0,
            },
            report_rx,
            exit_rx,
        ))
    }

    /// Queues one batch of record payloads; returns its job number.
    #[cfg(test)]
    pub fn submit(&mut self, payloads: Vec<Vec<u8>>) -> u64 {
        self.submit_with_base(payloads, None)
    }

    /// [`WalWriter::submit`], where the payloads from `base_at` on (if any) rebuild the
    /// log's start: the segments before them are deleted once they are durable.
    pub fn submit_with_base(&mut self, payloads: Vec<Vec<u8>>, base_at: Option<usize>) -> u64 {
        self.submitted += 1;
        // A send fails only if the thread has exited after a storage failure, which
        // it has reported; the loop stops on that report.
        let _ = self.jobs.send(Job {
            seq: self.submitted,
            payloads,
            base_at,
        });
        self.submitted
    }
}

impl Drop for WalWriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The thread: take all queued jobs, append, sync once, report; until told to stop.
fn write_loop(
    mut wal: Wal,
    jobs: &std_mpsc::Receiver<Job>,
    reports: &mpsc::UnboundedSender<WalReport>,
    stop: &AtomicBool,
) {
    // Jobs queue meanwhile; the first one usually arrives long after (an election
    // timeout or a finalize wait later).
    if let Err(e) = wal.make_room() {
        let _ = reports.send(WalReport::Failed(e));
        return;
    }
    while let Ok(first) = jobs.recv() {
        let mut next = Some(first);
        let mut last = 0;
        // The first record of the newest rebuilt log start in this group, if any.
        let mut base = None;
        while let Some(job) = next {
            if stop.load(Ordering::SeqCst) {
                return; // killed: what is not yet appended is lost, as in a crash
            }
            for (i, p) in job.payloads.iter().enumerate() {
                let appended = if job.base_at == Some(i) {
                    wal.begin_base().and_then(|first| {
                        base = Some(first);
                        wal.append(p)
                    })
                } else {
                    wal.append(p)
                };
                if let Err(e) = appended {
                    let _ = reports.send(WalReport::Failed(e));
                    return;
                }
            }
            last = job.seq;
            next = jobs.try_recv().ok();
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        // Only once the base is durable may what it replaces go.
        if let Err(e) = wal
            .sync()
            .and_then(|()| base.map_or(Ok(0), |first| wal.drop_before(first)))
        {
            let _ = reports.send(WalReport::Failed(e));
            return;
        }
        let report = WalReport::Durable {
            seq: last,
            stats: wal.stats(),
        };
        if reports.send(report).is_err() {
            return; // the loop is gone
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::FsyncPolicy;

    #[tokio::test]
    async fn jobs_become_durable_in_order_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), FsyncPolicy::Batch).unwrap();
        let (mut writer, mut reports, stopped) = WalWriter::start(1, wal).unwrap();
        assert_eq!(writer.submit(vec![b"a".to_vec(), b"b".to_vec()]), 1);
        assert_eq!(writer.submit(vec![b"c".to_vec()]), 2);
        let mut durable = 0;
        while durable < 2 {
            match reports.recv().await.unwrap() {
                WalReport::Durable { seq, stats } => {
                    assert!(seq > durable);
                    durable = seq;
                    assert!(stats.syncs >= 1);
                }
                WalReport::Failed(e) => panic!("{e}"),
            }
        }
        drop(writer);
        let _ = stopped.await;
        let (_, records) = Wal::open(dir.path(), FsyncPolicy::Batch).unwrap();
        assert_eq!(records, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[tokio::test]
    async fn a_rebase_job_deletes_the_segments_before_it_once_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), FsyncPolicy::Batch).unwrap();
        let (mut writer, mut reports, stopped) = WalWriter::start(1, wal).unwrap();
        writer.submit(vec![b"old 1".to_vec(), b"old 2".to_vec()]);
        let seq = writer.submit_with_base(
            vec![b"old 3".to_vec(), b"base".to_vec(), b"kept".to_vec()],
            Some(1),
        );
        let mut durable = 0;
        while durable < seq {
            match reports.recv().await.unwrap() {
                WalReport::Durable { seq, .. } => durable = seq,
                WalReport::Failed(e) => panic!("{e}"),
            }
        }
        drop(writer);
        let _ = stopped.await;
        let (_, records) = Wal::open(dir.path(), FsyncPolicy::Batch).unwrap();
        assert_eq!(records, vec![b"base".to_vec(), b"kept".to_vec()]);
    }

    #[tokio::test]
    async fn dropping_the_writer_releases_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), FsyncPolicy::Batch).unwrap();
        let (writer, _reports, stopped) = WalWriter::start(1, wal).unwrap();
        drop(writer);
        assert!(stopped.await.is_err(), "the thread exits");
    }
}
