//! Counting the socket reads and writes a node makes, for the bench's cost per
//! committed operation ("how many syscalls does one operation cost?").
//!
//! [`Counted`] wraps one side of a socket (a read half, a write half, or a whole
//! stream) and adds one to its [`IoCounters`] for every `poll_read` that brought bytes
//! or end-of-stream, and every `poll_write`/`poll_write_vectored` that wrote bytes.
//! Over a plain tokio TCP stream each of those is exactly one successful `recv`/`send`
//! (or `readv`/`writev`) syscall; a poll that finds the socket not ready is not counted
//! (tokio answers it from its readiness cache without a syscall in most cases). Over
//! TLS the wrapper sits above the TLS session, so it counts reads and writes of
//! decrypted data, not syscalls. Counting costs one relaxed atomic add per call.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Reads and writes made on a group of sockets (all of one node's peer connections,
/// or all of its client connections).
#[derive(Debug, Default)]
pub struct IoCounters {
    reads: AtomicU64,
    writes: AtomicU64,
}

impl IoCounters {
    /// Socket reads so far (each one `recv` that returned data or end-of-stream).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Socket writes so far (each one `send`/`writev` that wrote bytes).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// A socket side whose completed reads and writes are counted in an [`IoCounters`].
#[derive(Debug)]
pub struct Counted<S> {
    inner: S,
    counters: Arc<IoCounters>,
}

impl<S> Counted<S> {
    /// Wraps `inner`, counting into `counters`.
    pub fn new(inner: S, counters: Arc<IoCounters>) -> Self {
        Counted { inner, counters }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.counters.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
            }
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_each_completed_read_and_write() {
        let counters = Arc::new(IoCounters::default());
        let (a, b) = tokio::io::duplex(64);
        let mut a = Counted::new(a, counters.clone());
        let mut b = Counted::new(b, counters.clone());
        a.write_all(b"hello").await.expect("write");
        a.write_all(b" world").await.expect("write");
        assert_eq!(counters.writes(), 2);
        let mut got = [0u8; 11];
        b.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"hello world");
        // Both writes were buffered before the read: one read takes them both.
        assert_eq!(counters.reads(), 1);
        drop(a);
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.expect("end of stream");
        assert!(rest.is_empty());
        assert_eq!(counters.reads(), 2, "end of stream is one more read");
    }
}
