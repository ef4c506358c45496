//! Per-peer state: the outbound queue, the current connection and the counters.
//!
//! Concern: what a node knows about one peer independently of any one TCP connection.
//! Senders push encoded frames into the peer's queue without blocking; the writer of
//! the peer's current connection drains it in batches. While no connection is up the
//! queue is small and bounded (messages beyond it are dropped: consensus protocols
//! retransmit); once connected, its bound is in bytes. A connection that drops takes
//! its unsent messages with it, as a crashed TCP connection would.

use bytes::Bytes;
#[cfg(test)]
use bytes::BytesMut;
use protocols::NodeId;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

/// Messages kept for a peer while no connection to it is established.
pub const MAX_QUEUED_WHILE_CONNECTING: usize = 1024;

/// Bytes kept for a connected peer that reads slower than we send (at least one message
/// is always accepted into an empty queue, however large).
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// The most bytes a writer gathers into one `write_all`.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Traffic counters for one peer, as returned by `Transport::stats`. Bytes include the
/// frame headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Messages written to the peer's socket.
    pub messages_sent: u64,
    /// Bytes written to the peer's socket.
    pub bytes_sent: u64,
    /// Messages received from the peer and delivered to the inbox.
    pub messages_received: u64,
    /// Bytes received from the peer (delivered or not).
    pub bytes_received: u64,
    /// Messages lost to the fault filter, on either side.
    pub dropped_by_faults: u64,
    /// Messages lost because the peer was not connected (full queue, or queued on a
    /// connection that then dropped).
    pub dropped_unconnected: u64,
}

#[derive(Default)]
struct Counters {
    messages_sent: AtomicU64,
    bytes_sent: AtomicU64,
    messages_received: AtomicU64,
    bytes_received: AtomicU64,
    dropped_by_faults: AtomicU64,
    dropped_unconnected: AtomicU64,
}

/// One message waiting to be written.
struct Outgoing {
    /// Not before this instant (the fault filter's delay); `None`: at once.
    due: Option<Instant>,
    /// One complete frame, or several back to back.
    frame: Bytes,
    /// How many frames `frame` holds.
    frames: u64,
}

/// The connection currently serving a peer.
struct Connection {
    generation: u64,
    /// Tells the connection's task to stop (it is being replaced).
    stop: oneshot::Sender<()>,
}

#[derive(Default)]
struct PeerState {
    connection: Option<Connection>,
    next_generation: u64,
    queue: VecDeque<Outgoing>,
    queued_bytes: usize,
}

/// What a writer found in the queue.
pub enum Batch {
    /// `messages` frames totalling `bytes` bytes were appended to the buffer.
    Ready {
        /// Frames appended.
        messages: u64,
        /// Bytes appended.
        bytes: u64,
    },
    /// Nothing is due before this instant.
    WaitUntil(Instant),
    /// The queue is empty.
    Empty,
}

/// Everything a node knows about one peer.
pub struct Peer {
    /// The peer's id.
    pub id: NodeId,
    /// Where to dial it (only used when our id is lower).
    addr: SocketAddr,
    /// Wakes the writer when a message is queued.
    pub outbox_ready: Notify,
    state: Mutex<PeerState>,
    counters: Counters,
}

impl Peer {
    /// A peer reachable at `addr`, not yet connected.
    pub fn new(id: NodeId, addr: SocketAddr) -> Peer {
        Peer {
            id,
            addr,
            outbox_ready: Notify::new(),
            state: Mutex::new(PeerState::default()),
            counters: Counters::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, PeerState> {
        // Every critical section leaves the state consistent, so poison is harmless.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Where to dial the peer.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True while a connection to the peer is established.
    pub fn is_connected(&self) -> bool {
        self.state().connection.is_some()
    }

    /// Queues `frame` for the peer, to be written not before `due`. Returns false (and
    /// counts a drop) when the queue is full.
    pub fn enqueue(&self, frame: Bytes, due: Option<Instant>) -> bool {
        self.enqueue_frames(frame, 1, due)
    }

    /// Queues `frames` complete frames laid back to back in `bytes` as one unit (they
    /// are written together, in order). Returns false (and counts the drops) when the
    /// queue is full.
    pub fn enqueue_frames(&self, bytes: Bytes, frames: u64, due: Option<Instant>) -> bool {
        let frame = bytes;
        let mut state = self.state();
        let full = if state.connection.is_some() {
            !state.queue.is_empty() && state.queued_bytes + frame.len() > MAX_QUEUED_BYTES
        } else {
            state.queue.len() >= MAX_QUEUED_WHILE_CONNECTING
        };
        if full {
            drop(state);
            self.counters
                .dropped_unconnected
                .fetch_add(frames, Ordering::Relaxed);
            return false;
        }
        state.queued_bytes += frame.len();
        state.queue.push_back(Outgoing { due, frame, frames });
        drop(state);
        self.outbox_ready.notify_one();
        true
    }

    #[cfg(test)]
    /// Moves the frames that are due, in order, into `buf` (up to a batch's worth).
    /// A frame that is not yet due holds back every frame behind it (FIFO per peer).
    pub fn take_batch(&self, buf: &mut BytesMut) -> Batch {
        let mut chunks = Vec::new();
        let batch = self.take_chunks(&mut chunks);
        for chunk in &chunks {
            buf.extend_from_slice(chunk);
        }
        batch
    }

    /// Like [`Peer::take_batch`], but hands over the queued units themselves (each one
    /// frame or several back to back), so a writer with a single unit can write it
    /// without copying.
    pub fn take_chunks(&self, chunks: &mut Vec<Bytes>) -> Batch {
        let mut state = self.state();
        let mut now: Option<Instant> = None;
        let (mut messages, mut bytes) = (0u64, 0usize);
        while let Some(front) = state.queue.front() {
            if let Some(due) = front.due {
                let now = *now.get_or_insert_with(Instant::now);
                if due > now {
                    if messages == 0 {
                        return Batch::WaitUntil(due);
                    }
                    break;
                }
            }
            if messages > 0 && bytes + front.frame.len() > MAX_BATCH_BYTES {
                break;
            }
            let Some(item) = state.queue.pop_front() else {
                break;
            };
            messages += item.frames;
            bytes += item.frame.len();
            chunks.push(item.frame);
        }
        state.queued_bytes = state.queued_bytes.saturating_sub(bytes);
        if messages == 0 {
            Batch::Empty
        } else {
            Batch::Ready {
                messages,
                bytes: bytes as u64,
            }
        }
    }

    /// Makes a new connection the current one. `announce(replaced)` runs under the
    /// peer's lock, so events about successive connections are emitted in order; it is
    /// told whether an older connection was replaced (and told to stop). Returns the new
    /// connection's generation and the signal telling it to stop.
    pub fn attach(&self, announce: impl FnOnce(bool)) -> (u64, oneshot::Receiver<()>) {
        let (stop, stopped) = oneshot::channel();
        let mut state = self.state();
        let generation = state.next_generation;
        state.next_generation += 1;
        let replaced = match state.connection.replace(Connection { generation, stop }) {
            Some(old) => {
                let _ = old.stop.send(());
                true
            }
            None => false,
        };
        announce(replaced);
        (generation, stopped)
    }

    /// Retires connection `generation` if it is still the current one: its unsent
    /// messages are dropped and `announce` runs under the peer's lock. Returns whether
    /// it was current (a replaced connection retires silently).
    pub fn detach(&self, generation: u64, announce: impl FnOnce()) -> bool {
        let mut state = self.state();
        if state.connection.as_ref().map(|c| c.generation) != Some(generation) {
            return false;
        }
        state.connection = None;
        let lost = state.queue.iter().map(|o| o.frames).sum();
        state.queue.clear();
        state.queued_bytes = 0;
        announce();
        drop(state);
        self.counters
            .dropped_unconnected
            .fetch_add(lost, Ordering::Relaxed);
        true
    }

    /// Forgets the current connection and the queue without announcing anything (the
    /// transport is shutting down and its tasks are gone).
    pub fn forget_connection(&self) {
        let mut state = self.state();
        state.connection = None;
        state.queue.clear();
        state.queued_bytes = 0;
    }

    /// Counts a batch written to the socket.
    pub fn count_sent(&self, messages: u64, bytes: u64) {
        self.counters
            .messages_sent
            .fetch_add(messages, Ordering::Relaxed);
        self.counters.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a frame received from the peer; `delivered` is false when the fault
    /// filter dropped it.
    pub fn count_received(&self, bytes: usize, delivered: bool) {
        self.counters
            .bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
        if delivered {
            self.counters
                .messages_received
                .fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters
                .dropped_by_faults
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a message the fault filter dropped on the sending side.
    pub fn count_fault_drop(&self) {
        self.counters
            .dropped_by_faults
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PeerStats {
        let c = &self.counters;
        PeerStats {
            messages_sent: c.messages_sent.load(Ordering::Relaxed),
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            messages_received: c.messages_received.load(Ordering::Relaxed),
            bytes_received: c.bytes_received.load(Ordering::Relaxed),
            dropped_by_faults: c.dropped_by_faults.load(Ordering::Relaxed),
            dropped_unconnected: c.dropped_unconnected.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer() -> Peer {
        Peer::new(2, "127.0.0.1:1".parse().unwrap())
    }

    #[test]
    fn queue_is_bounded_while_connecting() {
        let p = peer();
        for _ in 0..MAX_QUEUED_WHILE_CONNECTING {
            assert!(p.enqueue(Bytes::from_static(b"x"), None));
        }
        assert!(!p.enqueue(Bytes::from_static(b"x"), None));
        assert_eq!(p.stats().dropped_unconnected, 1);
    }

    #[test]
    fn batch_takes_everything_due_in_order() {
        let p = peer();
        p.enqueue(Bytes::from_static(b"ab"), None);
        p.enqueue(Bytes::from_static(b"cd"), None);
        let mut buf = BytesMut::new();
        assert!(matches!(
            p.take_batch(&mut buf),
            Batch::Ready {
                messages: 2,
                bytes: 4
            }
        ));
        assert_eq!(&buf[..], b"abcd");
        assert!(matches!(p.take_batch(&mut buf), Batch::Empty));
    }

    #[test]
    fn a_unit_of_several_frames_counts_each_frame() {
        let p = peer();
        p.enqueue_frames(Bytes::from_static(b"abcd"), 2, None);
        p.enqueue(Bytes::from_static(b"e"), None);
        let mut buf = BytesMut::new();
        assert!(matches!(
            p.take_batch(&mut buf),
            Batch::Ready {
                messages: 3,
                bytes: 5
            }
        ));
        assert_eq!(&buf[..], b"abcde");
    }

    #[test]
    fn a_delayed_frame_holds_back_later_ones() {
        let p = peer();
        let later = Instant::now() + Duration::from_secs(3600);
        p.enqueue(Bytes::from_static(b"1"), Some(later));
        p.enqueue(Bytes::from_static(b"2"), None);
        let mut buf = BytesMut::new();
        assert!(matches!(p.take_batch(&mut buf), Batch::WaitUntil(t) if t == later));
        assert!(buf.is_empty());

        let p = peer();
        let past = Instant::now();
        p.enqueue(Bytes::from_static(b"1"), Some(past));
        p.enqueue(Bytes::from_static(b"2"), None);
        p.enqueue(Bytes::from_static(b"3"), Some(later));
        assert!(matches!(
            p.take_batch(&mut buf),
            Batch::Ready { messages: 2, .. }
        ));
        assert_eq!(&buf[..], b"12");
    }

    #[test]
    fn replacing_and_detaching_connections() {
        let p = peer();
        let (first, mut first_stop) = p.attach(|replaced| assert!(!replaced));
        assert!(p.is_connected());
        let (second, _second_stop) = p.attach(|replaced| assert!(replaced));
        assert!(
            first_stop.try_recv().is_ok(),
            "the old connection is told to stop"
        );
        assert!(!p.detach(first, || panic!("a replaced connection retires silently")));
        p.enqueue(Bytes::from_static(b"x"), None);
        let mut lost = false;
        assert!(p.detach(second, || lost = true));
        assert!(lost && !p.is_connected());
        assert_eq!(p.stats().dropped_unconnected, 1);
    }
}
