//! The machine's own lower bounds, measured in the same run as the protocols so that a
//! report can say how far each protocol is from them (docs/METHOD.md):
//! - one loopback TCP round trip (a small frame there and back, Nagle off);
//! - one `fdatasync` of a 256-byte append to a file in the data directory's
//!   filesystem, written into zero-filled room as the WAL's appends are (so the
//!   fdatasync, like the WAL's, commits no new file size);
//! - the same append and `fdatasync` made by N writers at once, one per node of the
//!   cluster, each on its own file: what a cluster whose nodes share one disk pays.
//!
//! A commit cannot be faster than one round trip plus one fsync; an election cannot be
//! faster than the election timeout plus a round trip plus an fsync. On one machine the
//! nodes' fsyncs also wait for each other (a disk flush is device-wide), which the
//! concurrent figure shows; on a LAN every node has a disk of its own.

use runtime::events::Latencies;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

/// Measures `n` loopback round trips of a 64-byte message between two threads with
/// blocking sockets: the raw kernel round trip, without any async runtime's wake-ups
/// (those belong to the harness, and the protocols pay them like any other cost).
pub async fn loopback_rtt(n: usize) -> std::io::Result<Latencies> {
    tokio::task::spawn_blocking(move || blocking_rtt(n))
        .await
        .map_err(std::io::Error::other)?
}

fn blocking_rtt(n: usize) -> std::io::Result<Latencies> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        while s.read_exact(&mut buf).is_ok() {
            s.write_all(&buf)?;
        }
        Ok(())
    });
    let mut c = std::net::TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let mut lat = Latencies::new();
    let mut buf = [7u8; 64];
    for i in 0..n + 100 {
        let t = Instant::now();
        c.write_all(&buf)?;
        c.read_exact(&mut buf)?;
        if i >= 100 {
            lat.record(t.elapsed());
        }
    }
    drop(c);
    let _ = echo.join();
    Ok(lat)
}

/// Measures `n` appends of 256 bytes, each followed by `fdatasync`, in `dir`.
pub fn fsync(dir: &Path, n: usize) -> std::io::Result<Latencies> {
    fsync_concurrent(dir, 1, n)
}

/// Measures `n` appends of 256 bytes, each followed by `fdatasync`, made by `writers`
/// threads at once, each on its own file in `dir` (as each node has its own WAL). The
/// writers start together; the result holds all `writers * n` samples.
pub fn fsync_concurrent(dir: &Path, writers: usize, n: usize) -> std::io::Result<Latencies> {
    std::fs::create_dir_all(dir)?;
    let start = std::sync::Barrier::new(writers);
    let per_writer: Vec<std::io::Result<Latencies>> = std::thread::scope(|s| {
        let start = &start;
        let threads: Vec<_> = (0..writers)
            .map(|w| {
                let path = dir.join(format!("fsync-baseline-{w}.tmp"));
                s.spawn(move || append_and_sync(&path, n, start))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("writer panicked")))
            })
            .collect()
    });
    let mut all = Latencies::new();
    for lat in per_writer {
        all.merge(&lat?);
    }
    Ok(all)
}

/// One writer of [`fsync_concurrent`]: zero-fills room for its records and syncs it
/// (as the WAL preallocates), waits at `start`, then times `n` appends with their
/// fdatasync (after 10 not counted), then removes its file.
fn append_and_sync(
    path: &Path,
    n: usize,
    start: &std::sync::Barrier,
) -> std::io::Result<Latencies> {
    use std::io::{Seek, SeekFrom};
    let record = [0x5a_u8; 256];
    let prepared = (|| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)?;
        f.write_all(&vec![0u8; (n + 10) * record.len()])?;
        f.sync_all()?;
        f.seek(SeekFrom::Start(0))?;
        Ok::<_, std::io::Error>(f)
    })();
    // Every writer reaches the barrier, even one whose file failed, so none waits
    // forever.
    start.wait();
    let mut f = prepared?;
    let mut lat = Latencies::new();
    for i in 0..n + 10 {
        let t = Instant::now();
        f.write_all(&record)?;
        f.sync_data()?;
        if i >= 10 {
            lat.record(t.elapsed());
        }
    }
    drop(f);
    std::fs::remove_file(path)?;
    Ok(lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_round_trips_are_measured() {
        let l = loopback_rtt(50).await.expect("loopback works");
        assert_eq!(l.count(), 50);
    }

    #[test]
    fn fsyncs_are_measured_and_the_file_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = fsync(dir.path(), 5).expect("fsync works");
        assert_eq!(l.count(), 5);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn concurrent_fsyncs_hold_every_writers_samples_and_remove_the_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = fsync_concurrent(dir.path(), 3, 4).expect("fsync works");
        assert_eq!(l.count(), 12, "4 samples from each of 3 writers");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
