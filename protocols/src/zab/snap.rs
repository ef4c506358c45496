//! SNAP sync from the stored snapshot, in chunks (Phase 2, Synchronization; ZooKeeper's
//! `LearnerHandler.syncFollower` sends "the snapshot of its database, then the
//! transactions after it", and `Learner.syncWithLeader` loads it).
//!
//! A learner whose last zxid is below the leader's compaction point, or more than
//! `snap_threshold` transactions behind and below the leader's newest image, gets that
//! image (`sync.rs` decides). The leader cuts it into chunks of at most
//! [`crate::Timing::snapshot_chunk_bytes`] (1 MiB by default), so that no message comes
//! near the transport's frame limit however large the state machine grows, and keeps at
//! most [`MAX_INFLIGHT_CHUNKS`] of them unacknowledged: the learner answers each with
//! SNAP-ACK and the bytes it holds (ZooKeeper leaves this flow control to TCP; here a
//! full peer queue would drop a chunk, and a lost message breaks the session, so the
//! window keeps a large image from overflowing it). Every chunk names the image (its
//! last position and zxid) and its whole size. Once the last chunk is acknowledged the
//! leader sends the proposals after the image as DIFF messages, then NEWLEADER: the
//! usual order, and nothing else is forwarded to the learner meanwhile, so no PROPOSAL
//! or COMMIT overtakes the history it follows. A transfer keeps the image it began with;
//! if the leader compacted past it meanwhile (two newer snapshots), it sends its newest
//! image after it, which the learner installs in turn.
//!
//! The learner takes chunks only while it waits for the sync, in order: a chunk at
//! offset 0 begins an image; any other must continue the image being received at the
//! offset expected next. Since the learner session is ordered and exactly-once
//! (`session.rs`), a chunk out of order, a duplicate, a size that changes, bytes beyond
//! the declared size or a `done` that does not complete it can only be invalid input:
//! the learner goes back to LOOKING, as on every sync it cannot use. An image declared
//! larger than [`crate::Timing::snapshot_max_bytes`] is refused before any of it is
//! buffered, and the buffer never grows past the declared size. The completed image is
//! installed ([`crate::Effect::InstallSnapshot`]) only if it covers at least what the
//! learner has delivered (a leader's image holds committed transactions, which every
//! learner's delivered prefix is a prefix of); the history restarts after it and the
//! log's start is rewritten ([`crate::Effect::Rebase`]) before the last SNAP-ACK leaves.

use crate::output::Output;
use crate::snapshot::Snapshot;
use crate::types::NodeId;
use crate::zab::discovery::{HandleStage, LearnerStage};
use crate::zab::messages::PeerMessage;
use crate::zab::zxid::Zxid;
use crate::zab::{Out, Phase, Zab};
use bytes::Bytes;

/// Unacknowledged SNAP chunks allowed per learner: one to be answered while the next
/// is on its way.
pub const MAX_INFLIGHT_CHUNKS: u64 = 2;

/// One SNAP chunk, as received (the message's fields after `epoch`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub(crate) last_index: u64,
    pub(crate) last_zxid: Zxid,
    pub(crate) size: u64,
    pub(crate) offset: u64,
    pub(crate) data: Bytes,
    pub(crate) done: bool,
}

/// Leader: the image being streamed to one learner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// The image (a cheap shared copy of the stored one).
    snapshot: Snapshot,
    /// Offset of the next chunk to send.
    next: u64,
    /// Bytes the learner acknowledged holding.
    acked: u64,
    /// The `done` chunk was sent.
    all_sent: bool,
}

impl Outgoing {
    fn size(&self) -> u64 {
        self.snapshot.data.len() as u64
    }
}

/// Learner: the bytes of one image received so far, in order.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Incoming {
    last_index: u64,
    last_zxid: Zxid,
    size: u64,
    data: Vec<u8>,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Incoming {{ last_index: {}, last_zxid: {}, {} of {} bytes }}",
            self.last_index,
            self.last_zxid,
            self.data.len(),
            self.size
        )
    }
}

impl Zab {
    /// Leader: starts streaming our newest image to `learner` (its handle exists).
    /// Returns false when there is no image to send.
    pub(super) fn start_snap(&mut self, learner: NodeId, out: &mut Out) -> bool {
        let Some(snapshot) = self.snapshot.clone() else {
            return false;
        };
        let (index, zxid, size) = (snapshot.index, Zxid(snapshot.term), snapshot.data.len());
        let Some(l) = self.leader() else { return false };
        let Some(h) = l.learners.get_mut(&learner) else {
            return false;
        };
        let behind = h.last_zxid;
        h.stage = HandleStage::Snapping;
        h.snap = Some(Outgoing {
            snapshot,
            next: 0,
            acked: 0,
            all_sent: false,
        });
        out.narrate(self.narrate, || {
            format!("sync {learner}: SNAP, {behind} is behind; send the snapshot through index {index} ({zxid}, {size} bytes) in chunks, then the proposals after it")
        });
        self.send_snap_chunks(learner, out);
        true
    }

    /// Leader: sends `learner` the next chunks of its image within the window.
    fn send_snap_chunks(&mut self, learner: NodeId, out: &mut Out) {
        let chunk_bytes = self.snapshot_chunk_bytes.max(1);
        let window = MAX_INFLIGHT_CHUNKS.saturating_mul(chunk_bytes);
        let Some(l) = self.leader() else { return };
        let Some(epoch) = l.new_epoch else { return };
        let Some(t) = l.learners.get_mut(&learner).and_then(|h| h.snap.as_mut()) else {
            return;
        };
        let mut chunks = Vec::new();
        while !t.all_sent && t.next.saturating_sub(t.acked) < window {
            let size = t.size();
            let offset = t.next;
            let end = offset.saturating_add(chunk_bytes).min(size);
            // Offsets stay within the image, which is in memory: they fit a usize.
            let data = t.snapshot.data.slice(offset as usize..end as usize);
            t.next = end;
            t.all_sent = end == size;
            chunks.push(PeerMessage::Snap {
                epoch,
                last_index: t.snapshot.index,
                last_zxid: Zxid(t.snapshot.term),
                size,
                offset,
                data,
                done: t.all_sent,
            });
        }
        for chunk in chunks {
            self.send_to_learner(out, learner, chunk);
        }
    }

    /// Leader: SNAP-ACK from `from`, who holds `received` bytes of the image.
    pub(super) fn on_snap_ack(&mut self, from: NodeId, received: u64, out: &mut Out) {
        let Some(l) = self.leader() else { return };
        let Some(h) = l.learners.get_mut(&from) else {
            return;
        };
        if h.stage != HandleStage::Snapping {
            return;
        }
        let Some(t) = h.snap.as_mut() else { return };
        if received <= t.acked || received > t.next {
            return; // no progress, or more than we sent: nonsense
        }
        t.acked = received;
        if !(t.all_sent && t.acked == t.size()) {
            self.send_snap_chunks(from, out);
            return;
        }
        let sent = h.snap.take().map(|t| t.snapshot);
        let (index, zxid) = sent
            .as_ref()
            .map_or((0, Zxid::ZERO), |s| (s.index, Zxid(s.term)));
        // `index` is an image of ours: it fits a usize.
        let after = usize::try_from(index).unwrap_or(usize::MAX);
        if after < self.history.base {
            // Compacted past the image while it travelled: send the newest after it.
            out.narrate(self.narrate, || {
                format!("{from} installed the image through {index}, but the history was compacted past it since: send the newest image")
            });
            if !self.start_snap(from, out) {
                self.forget_learner(from);
            }
            return;
        }
        out.narrate(self.narrate, || {
            format!("{from} holds the image through index {index} ({zxid}): the proposals after it follow")
        });
        self.finish_sync(from, after, None, out);
    }

    /// Learner: one SNAP chunk of our leader's image (see the module docs).
    pub(super) fn on_snap_chunk(&mut self, epoch: u32, chunk: Chunk, out: &mut Out) {
        let max = self.snapshot_max_bytes;
        let delivered = self.history.delivered as u64;
        let Phase::Learning(l) = &self.phase else {
            return;
        };
        if l.stage != LearnerStage::AwaitingSync || l.epoch != Some(epoch) {
            return;
        }
        let received = chunk.offset.checked_add(chunk.data.len() as u64);
        let why = if chunk.last_zxid.epoch() > epoch {
            Some(format!(
                "SNAP of epoch {epoch} ends at {}, of a later epoch",
                chunk.last_zxid
            ))
        } else if (chunk.last_index == 0) != (chunk.last_zxid == Zxid::ZERO) {
            Some(format!(
                "SNAP image ends at {} at index {}",
                chunk.last_zxid, chunk.last_index
            ))
        } else if chunk.size > max {
            Some(format!(
                "SNAP image of {} bytes is larger than the {max} accepted",
                chunk.size
            ))
        } else if received.is_none_or(|r| r > chunk.size)
            || chunk.done != (received == Some(chunk.size))
        {
            Some(format!(
                "SNAP chunk at {} of {} bytes does not fit an image of {} bytes (done: {})",
                chunk.offset,
                chunk.data.len(),
                chunk.size,
                chunk.done
            ))
        } else if chunk.offset == 0 {
            None
        } else {
            match &l.image {
                Some(i)
                    if (i.last_index, i.last_zxid, i.size)
                        == (chunk.last_index, chunk.last_zxid, chunk.size)
                        && i.data.len() as u64 == chunk.offset =>
                {
                    None
                }
                Some(i) => Some(format!(
                    "SNAP chunk at {} of the image through {} does not continue {i:?}",
                    chunk.offset, chunk.last_index
                )),
                None => Some(format!(
                    "SNAP chunk at {} without the image's start",
                    chunk.offset
                )),
            }
        };
        if let Some(why) = why {
            self.become_looking(out, move || why);
            return;
        }
        let Phase::Learning(l) = &mut self.phase else {
            return;
        };
        let image = match &mut l.image {
            Some(i) if chunk.offset > 0 => i,
            slot => slot.insert(Incoming {
                last_index: chunk.last_index,
                last_zxid: chunk.last_zxid,
                size: chunk.size,
                data: Vec::new(),
            }),
        };
        image.data.extend_from_slice(&chunk.data);
        let received = image.data.len() as u64;
        if !chunk.done {
            self.send_to_leader(out, PeerMessage::SnapAck { received });
            return;
        }
        let image = l.image.take();
        let Some(image) = image else { return };
        if image.last_index < delivered {
            let (index, zxid) = (image.last_index, image.last_zxid);
            self.become_looking(out, || {
                format!(
                    "SNAP image through {index} ({zxid}) is behind my delivered prefix {delivered}"
                )
            });
            return;
        }
        self.install_image(
            Snapshot {
                index: image.last_index,
                term: image.last_zxid.0,
                data: Bytes::from(image.data),
            },
            out,
        );
        self.send_to_leader(out, PeerMessage::SnapAck { received });
    }
}
