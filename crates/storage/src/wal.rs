//! The write-ahead log itself (storage concern): appending framed records to the
//! current segment through a write buffer, rolling to a new segment at a size limit,
//! and making appended records durable per [`FsyncPolicy`] with group commit.
//!
//! Durability follows Raft §5 / Figure 2 ("updated on stable storage before responding
//! to RPCs") and Zab's "a follower acknowledges a proposal only after logging it": the
//! runtime appends the records of a batch of protocol effects, calls [`Wal::sync`] once
//! (one `write` + one `fdatasync`, the group commit of ZooKeeper's `SyncRequestProcessor`
//! and etcd's Ready loop) and only then sends the messages that depend on them.
//! After a failed write or fsync the page cache no longer says what is on disk (the
//! 2018 "fsyncgate" lesson), so the log refuses further use until it is reopened.

use super::error::StorageError;
use super::record::{encode_into, segment_seed, HEADER_LEN};
use super::recovery::recover;
use super::segment::{segment_name, sync_dir};
use super::FsyncPolicy;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Default size at which the log rolls to a new segment file: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Default largest payload accepted by [`Wal::append`]: 64 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: u32 = 64 * 1024 * 1024;
/// Default size of the write buffer before it is handed to the OS unasked: 1 MiB.
pub const DEFAULT_BUFFER_BYTES: usize = 1024 * 1024;
/// A good [`WalOptions::preallocate_bytes`] for a node's log: 4 MiB.
pub const PREALLOCATE_BYTES: u64 = 4 * 1024 * 1024;

/// Tunables of a [`Wal`]; [`WalOptions::default`] suits the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is closed and a new one started when the next record would take it
    /// past this many bytes (a single larger record still gets a segment of its own).
    pub segment_bytes: u64,
    /// Largest payload [`Wal::append`] accepts, in bytes; larger ones are refused with
    /// [`StorageError::RecordTooLarge`].
    pub max_record_bytes: u32,
    /// Appended bytes are written to the file (without fsync) once the write buffer
    /// holds this many, bounding memory between two [`Wal::sync`] calls.
    pub buffer_bytes: usize,
    /// Zero-fill the current segment this many bytes ahead of its records (0: never).
    /// An fdatasync then only has to flush data written inside the file, not commit a
    /// new file size to the journal with it: ZooKeeper's `preAllocSize`, etcd's segment
    /// preallocation. Recovery cuts the zero tail as the torn tail it looks like, and a
    /// segment is cut back to its records when the log rolls past it.
    pub preallocate_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            preallocate_bytes: 0,
        }
    }
}

/// Counters since [`Wal::open`], for the metrics layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records appended since open.
    pub records: u64,
    /// Bytes the log grew by since open: payloads plus their 8-byte record headers.
    pub bytes: u64,
    /// `fdatasync` calls issued on segment files since open (0 under `Never`).
    pub syncs: u64,
    /// `write` calls issued on segment files since open: buffer flushes, and the
    /// positional zero-fills that preallocate a segment.
    pub writes: u64,
}

/// The name of the lock file in a data directory.
pub const LOCK_FILE: &str = "LOCK";

/// Takes the data directory's exclusive lock (`flock` on [`LOCK_FILE`], released by the
/// kernel when the holder exits, even by `kill -9`) and writes the holder's pid into
/// the file for the error a second opener gets. Two writers on one directory would
/// interleave their records and corrupt the log (as etcd's and ZooKeeper's lock
/// files prevent).
fn lock_dir(dir: &Path) -> Result<File, StorageError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "holder unknown".to_string());
            return Err(StorageError::Locked {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(StorageError::io(&path, e)),
    }
    file.set_len(0).map_err(|e| StorageError::io(&path, e))?;
    file.write_all(format!("pid {}\n", std::process::id()).as_bytes())
        .map_err(|e| StorageError::io(&path, e))?;
    Ok(file)
}

/// A write-ahead log of checksummed records in one node's data directory.
#[derive(Debug)]
pub struct Wal {
    /// The data directory holding the segment files.
    dir: PathBuf,
    /// When appended records are fsynced.
    policy: FsyncPolicy,
    /// Segment size, maximum record size and buffer size.
    options: WalOptions,
    /// The segment being appended to.
    file: File,
    /// Path of `file`, for error messages.
    path: PathBuf,
    /// The checksum seed of the current segment (from its first record's number).
    seed: u32,
    /// Size of the current segment including bytes still in `buffer`.
    segment_len: u64,
    /// Length of the current segment file on disk: its records plus any zero-filled
    /// room ahead of them.
    allocated: u64,
    /// Number the next appended record will get.
    next_record: u64,
    /// Framed records not yet handed to the OS.
    buffer: Vec<u8>,
    /// Bytes were written or buffered since the last fdatasync.
    dirty: bool,
    /// A write or fsync failed; the on-disk state is unknown.
    poisoned: bool,
    /// The data directory's lock, held while the log is open ([`lock_dir`]).
    _lock: File,
    /// Counters since open.
    stats: WalStats,
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir` with default options, recovers it,
    /// and returns it with every intact record payload, oldest first.
    ///
    /// A torn tail of the last segment is truncated away (logged with `tracing::warn`);
    /// a damaged record followed by more data, or in an older segment, is refused with
    /// [`StorageError::Corrupt`] naming the file and byte offset; a gap in the segment
    /// sequence is [`StorageError::MissingSegment`].
    pub fn open(dir: &Path, policy: FsyncPolicy) -> Result<(Wal, Vec<Vec<u8>>), StorageError> {
        Wal::open_with(dir, policy, WalOptions::default())
    }

    /// [`Wal::open`] with explicit [`WalOptions`].
    pub fn open_with(
        dir: &Path,
        policy: FsyncPolicy,
        options: WalOptions,
    ) -> Result<(Wal, Vec<Vec<u8>>), StorageError> {
        let _span = tracing::info_span!("wal_open", dir = %dir.display(), %policy).entered();
        create_dir(dir, policy)?;
        let lock = lock_dir(dir)?;
        let recovered = recover(dir)?;
        let (file, path, segment_len, first) = match recovered.last_segment {
            Some(segment) => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .open(&segment.path)
                    .map_err(|e| StorageError::io(&segment.path, e))?;
                file.seek(SeekFrom::Start(recovered.last_segment_len))
                    .map_err(|e| StorageError::io(&segment.path, e))?;
                let first = segment.first_record;
                (file, segment.path, recovered.last_segment_len, first)
            }
            None => {
                let (file, path) = create_segment(dir, recovered.next_record, policy)?;
                (file, path, 0, recovered.next_record)
            }
        };
        tracing::debug!(
            records = recovered.payloads.len(),
            segment = %path.display(),
            "WAL opened"
        );
        let wal = Wal {
            dir: dir.to_path_buf(),
            policy,
            options,
            file,
            path,
            seed: segment_seed(first),
            segment_len,
            allocated: segment_len,
            next_record: recovered.next_record,
            buffer: Vec::with_capacity(options.buffer_bytes.min(DEFAULT_BUFFER_BYTES)),
            dirty: false,
            poisoned: false,
            _lock: lock,
            stats: WalStats::default(),
        };
        Ok((wal, recovered.payloads))
    }

    /// Zero-fills the room ahead of the records now and makes it durable, if the
    /// options ask for preallocation and there is none yet. The node's WAL writer
    /// thread does this as soon as it starts, so that a node's first records (a vote,
    /// an accepted epoch, a promise: the ones an election waits for) do not pay for
    /// filling and flushing 4 MiB of zeros, and node start-up does not either.
    pub fn make_room(&mut self) -> Result<(), StorageError> {
        self.check_usable()?;
        if self.options.preallocate_bytes == 0 || self.allocated > self.segment_len {
            return Ok(());
        }
        self.write_buffer()?;
        self.preallocate()?;
        self.sync_file()
    }

    /// Appends one record. It is buffered: durable once [`Wal::sync`] returns, except
    /// under [`FsyncPolicy::Always`], where it is durable when this returns.
    pub fn append(&mut self, payload: &[u8]) -> Result<(), StorageError> {
        self.check_usable()?;
        let payload_len = u32::try_from(payload.len())
            .ok()
            .filter(|&len| len <= self.options.max_record_bytes)
            .ok_or(StorageError::RecordTooLarge {
                len: payload.len(),
                max: self.options.max_record_bytes,
            })?;
        let frame_len = (HEADER_LEN + payload.len()) as u64;
        if self.segment_len > 0 && self.segment_len + frame_len > self.options.segment_bytes {
            self.roll()?;
        }
        encode_into(&mut self.buffer, self.seed, payload_len, payload);
        self.segment_len += frame_len;
        self.next_record += 1;
        self.dirty = true;
        self.stats.records += 1;
        self.stats.bytes += frame_len;
        if self.policy == FsyncPolicy::Always {
            self.sync()
        } else if self.buffer.len() >= self.options.buffer_bytes {
            self.write_buffer()
        } else {
            Ok(())
        }
    }

    /// Makes every appended record durable: writes out the buffer, then `fdatasync`s
    /// under `Always`/`Batch` (one write and one fdatasync per call: group commit).
    /// Under `Never` it only hands the bytes to the OS.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.check_usable()?;
        self.write_buffer()?;
        if self.dirty && self.policy != FsyncPolicy::Never {
            self.sync_file()?;
        }
        Ok(())
    }

    /// The fsync policy this log was opened with.
    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// Records, bytes and fdatasyncs since open (for metrics).
    pub fn stats(&self) -> WalStats {
        self.stats
    }

    /// The data directory holding the segment files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of records in the log (recovered plus appended); the next record's number.
    pub fn next_record_number(&self) -> u64 {
        self.next_record
    }

    /// Log compaction, first half: makes everything appended so far durable and starts
    /// a new segment (unless the current one is still empty), so that the records
    /// appended next (a protocol's rebuilt start of its log) begin a segment. Returns
    /// the number of the first of them, for [`Wal::drop_before`].
    pub fn begin_base(&mut self) -> Result<u64, StorageError> {
        self.check_usable()?;
        if self.segment_len > 0 {
            self.roll()?;
        }
        Ok(self.next_record)
    }

    /// Log compaction, second half: once the records from `first_kept` on are durable
    /// and rebuild everything before them, deletes every segment before the one
    /// starting at `first_kept`. The new start is recorded first (in [`START_FILE`],
    /// written atomically), so recovery knows the log rightly begins there, and
    /// finishes the deletion if a crash interrupted it. Returns the segments deleted.
    pub fn drop_before(&mut self, first_kept: u64) -> Result<usize, StorageError> {
        self.check_usable()?;
        let segments = super::segment::list_segments(&self.dir)?;
        if !segments.iter().any(|s| s.first_record == first_kept) {
            return Ok(0); // not a segment start: nothing can be deleted safely
        }
        let fsync = self.policy != FsyncPolicy::Never;
        write_start(&self.dir, first_kept, fsync)?;
        let mut dropped = 0;
        for s in segments.iter().filter(|s| s.first_record < first_kept) {
            std::fs::remove_file(&s.path).map_err(|e| StorageError::io(&s.path, e))?;
            dropped += 1;
        }
        if fsync && dropped > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(dropped)
    }

    /// Refuses use after a failed write or fsync.
    fn check_usable(&self) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Hands the buffered bytes to the OS with one write (no fsync).
    fn write_buffer(&mut self) -> Result<(), StorageError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        if self.options.preallocate_bytes > 0 && self.segment_len > self.allocated {
            self.preallocate()?;
        }
        if let Err(e) = self.file.write_all(&self.buffer) {
            self.poisoned = true;
            return Err(StorageError::io(&self.path, e));
        }
        self.stats.writes += 1;
        self.buffer.clear();
        // A single huge record may have grown the buffer; give that memory back.
        if self.buffer.capacity() > 2 * self.options.buffer_bytes.max(DEFAULT_BUFFER_BYTES) {
            self.buffer.shrink_to(self.options.buffer_bytes);
        }
        Ok(())
    }

    /// Zero-fills the segment from its allocated end to `preallocate_bytes` past its
    /// records (positional writes: the append position does not move).
    fn preallocate(&mut self) -> Result<(), StorageError> {
        use std::os::unix::fs::FileExt;
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let target = self.segment_len + self.options.preallocate_bytes;
        let mut at = self
            .allocated
            .max(self.segment_len - self.buffer.len() as u64);
        while at < target {
            let n = (target - at).min(ZEROS.len() as u64) as usize;
            if let Err(e) = self.file.write_all_at(&ZEROS[..n], at) {
                self.poisoned = true;
                return Err(StorageError::io(&self.path, e));
            }
            self.stats.writes += 1;
            at += n as u64;
        }
        self.allocated = target;
        Ok(())
    }

    /// One fdatasync of the current segment.
    fn sync_file(&mut self) -> Result<(), StorageError> {
        if let Err(e) = self.file.sync_data() {
            self.poisoned = true;
            return Err(StorageError::io(&self.path, e));
        }
        self.dirty = false;
        self.stats.syncs += 1;
        Ok(())
    }

    /// Closes the current segment (durably, unless `Never`) and starts the next one, so
    /// that a crash can tear only the last segment.
    fn roll(&mut self) -> Result<(), StorageError> {
        self.sync()?;
        if self.allocated > self.segment_len {
            // A closed segment must end with its last record: recovery refuses a torn
            // tail anywhere but in the last segment.
            let cut = self.file.set_len(self.segment_len).and_then(|()| {
                if self.policy == FsyncPolicy::Never {
                    Ok(())
                } else {
                    self.file.sync_data()
                }
            });
            if let Err(e) = cut {
                self.poisoned = true;
                return Err(StorageError::io(&self.path, e));
            }
        }
        let (file, path) = create_segment(&self.dir, self.next_record, self.policy)?;
        tracing::debug!(segment = %path.display(), "WAL rolled to a new segment");
        self.file = file;
        self.path = path;
        self.seed = segment_seed(self.next_record);
        self.segment_len = 0;
        self.allocated = 0;
        Ok(())
    }
}

impl Drop for Wal {
    /// Hands still-buffered records to the OS, like `BufWriter`; never fsyncs.
    fn drop(&mut self) {
        if !self.poisoned {
            if let Err(e) = self.write_buffer() {
                tracing::warn!(error = %e, "WAL: could not write buffered records on close");
            }
        }
    }
}

/// The file that records where a compacted log begins (the first record number, in
/// decimal); absent while nothing was ever deleted.
pub const START_FILE: &str = "WAL-START";

/// Records `first` as the log's first record number: temporary file, fsync, rename,
/// directory fsync.
fn write_start(dir: &Path, first: u64, fsync: bool) -> Result<(), StorageError> {
    let path = dir.join(START_FILE);
    let tmp = dir.join(format!("{START_FILE}.tmp"));
    let mut file = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
    file.write_all(format!("{first}\n").as_bytes())
        .map_err(|e| StorageError::io(&tmp, e))?;
    if fsync {
        file.sync_all().map_err(|e| StorageError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e))?;
    if fsync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Creates the data directory if missing (durably, unless `Never`).
fn create_dir(dir: &Path, policy: FsyncPolicy) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
    if policy != FsyncPolicy::Never {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Creates the segment starting at `first_record`; fsyncs the directory unless `Never`.
fn create_segment(
    dir: &Path,
    first_record: u64,
    policy: FsyncPolicy,
) -> Result<(File, PathBuf), StorageError> {
    let path = dir.join(segment_name(first_record));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))?;
    if policy != FsyncPolicy::Never {
        sync_dir(dir)?;
    }
    Ok((file, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preallocating() -> WalOptions {
        WalOptions {
            segment_bytes: 4096,
            preallocate_bytes: 1024,
            ..WalOptions::default()
        }
    }

    #[test]
    fn group_commit_writes_and_syncs_once_per_batch() {
        let dir = tempfile::tempdir().unwrap();
        let options = WalOptions {
            preallocate_bytes: 0,
            ..WalOptions::default()
        };
        let (mut wal, _) = Wal::open_with(dir.path(), FsyncPolicy::Batch, options).unwrap();
        for i in 0..10u8 {
            wal.append(&[i; 32]).unwrap();
        }
        assert_eq!(wal.stats().writes, 0, "appends are buffered");
        wal.sync().unwrap();
        let stats = wal.stats();
        assert_eq!((stats.records, stats.writes, stats.syncs), (10, 1, 1));
    }

    #[test]
    fn a_new_log_has_its_first_room_before_the_first_record() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open_with(dir.path(), FsyncPolicy::Batch, preallocating()).unwrap();
        wal.make_room().unwrap();
        assert_eq!(wal.allocated, 1024, "room made ahead of any record");
        assert_eq!(wal.stats().syncs, 1, "and made durable");
        wal.make_room().unwrap();
        assert_eq!(wal.stats().syncs, 1, "once");
        wal.append(b"first vote").unwrap();
        wal.sync().unwrap();
        assert_eq!(wal.allocated, 1024, "the first record writes no zeros");
    }

    #[test]
    fn preallocated_room_is_cut_on_recovery_and_on_roll() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open_with(dir.path(), FsyncPolicy::Batch, preallocating()).unwrap();
        let mut written = Vec::new();
        for i in 0..40u8 {
            let record = vec![i; 200];
            wal.append(&record).unwrap();
            wal.sync().unwrap();
            written.push(record);
        }
        let len = wal.segment_len;
        assert!(wal.allocated > len, "zero-filled room ahead of the records");
        drop(wal);
        let (wal, got) = Wal::open_with(dir.path(), FsyncPolicy::Batch, preallocating()).unwrap();
        assert_eq!(got, written);
        assert_eq!(wal.segment_len, len);
        assert_eq!(std::fs::metadata(&wal.path).unwrap().len(), len);
        let mut segments: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        segments.sort();
        assert!(segments.len() > 1, "the log rolled");
        for closed in &segments[..segments.len() - 1] {
            let bytes = std::fs::read(closed).unwrap();
            assert_ne!(
                bytes.last(),
                Some(&0),
                "a closed segment ends with a record"
            );
        }
    }

    #[test]
    fn a_record_torn_inside_preallocated_room_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open_with(dir.path(), FsyncPolicy::Batch, preallocating()).unwrap();
        wal.append(b"kept").unwrap();
        wal.append(b"torn record").unwrap();
        wal.sync().unwrap();
        let path = wal.path.clone();
        drop(wal);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = HEADER_LEN + 4 + HEADER_LEN + 2;
        bytes[at] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (_, got) = Wal::open_with(dir.path(), FsyncPolicy::Batch, preallocating()).unwrap();
        assert_eq!(got, vec![b"kept".to_vec()]);
    }
}
