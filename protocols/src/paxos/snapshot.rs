//! Snapshots, slot truncation and catch-up from a snapshot (the Multi-Paxos side of
//! log compaction; `docs/DESIGN.md`, "Snapshots and log compaction").
//!
//! "Paxos Made Simple" (2001) §3 leaves the log unbounded; "Paxos Made Live" (Chandra,
//! Griesemer and Redstone, PODC 2007, §5.5) adds what every deployment needs: the
//! replica snapshots its state machine, drops the log the snapshot covers, and a
//! replica that lags behind what the others still hold is sent a snapshot instead of
//! the slots. Here the cycle is the one Raft's `snapshot.rs` runs, through the same
//! effects and inputs ([`crate::snapshot`]):
//!
//! 1. Every [`crate::Timing::snapshot_every`] applied slots a node asks its host for
//!    the state machine's image ([`crate::Effect::TakeSnapshot`], right after the
//!    `Apply` it covers; its `term` is 0: a chosen slot is final whatever ballot chose
//!    it). When the image is stored ([`crate::Input::SnapshotTaken`]) the node keeps
//!    it, drops the chosen values up to the snapshot *before* it from its learner (one
//!    interval of slots stays, so a damaged newest image can be replaced by the
//!    previous one plus the slots after it), and rewrites the start of its log
//!    ([`crate::Effect::Rebase`], `persist::base_records`).
//! 2. A node whose learner lacks slots another has compacted learns of it when it asks
//!    for them (`CatchUp` from a slot at or before the other's start) or campaigns from
//!    there (a `Prepare` whose `slot_from` is compacted is not promised: the acceptor
//!    could not report those slots, and ignoring a Prepare is always safe). Either way
//!    it is offered the snapshot: a [`PaxosMessage::SnapshotChunk`] at offset 0 with no
//!    bytes. It then pulls the image in pieces of at most
//!    [`crate::Timing::snapshot_chunk_bytes`] ([`PaxosMessage::SnapshotPull`]), one at a time,
//!    as Raft's Figure 13 sends InstallSnapshot in chunks: a piece is taken only at the
//!    offset expected, from the node the transfer started with; only an offer of a
//!    newer image (from anyone) starts over; nothing beyond
//!    [`crate::Timing::snapshot_max_bytes`] is kept. A transfer that received nothing between two heartbeats of the leader it
//!    follows pulls again (a piece or a pull was lost); one from another node than
//!    that leader is dropped for the leader's. The sender keeps no state per learner:
//!    each pull names the image and the offset.
//! 3. On the last piece the learner installs the image
//!    ([`crate::Effect::InstallSnapshot`]: the host replaces its state machine and
//!    stores the image), counts every slot up to it chosen and applied, rewrites its
//!    log's start, and asks for the chosen slots after the image with `CatchUp`.
//! 4. A restarted node is recovered from its log (which may begin with a `Base`), then
//!    handed the newest stored image that reaches its log's start
//!    ([`crate::Protocol::restore_snapshot`]) and applies only what follows it.
//!
//! An acceptor keeps answering Accepts for compacted slots (a proposal at a ballot
//! that high can only carry the chosen value, §2.2's P2b), without storing them.

use super::persist::base_records;
use super::{Paxos, PaxosMessage, Stance};
use crate::effect::Effect;
use crate::node::{Effects, RecoveryError};
use crate::output::Output;
use crate::snapshot::Snapshot;
use crate::types::NodeId;
use bytes::Bytes;

/// One [`PaxosMessage::SnapshotChunk`]'s fields.
pub(super) struct Piece {
    pub(super) index: u64,
    pub(super) term: u64,
    pub(super) offset: u64,
    pub(super) data: Bytes,
    pub(super) done: bool,
}

/// A snapshot being received, piece by piece.
#[derive(Clone, PartialEq, Eq)]
pub struct Receiving {
    /// The node sending it.
    pub from: NodeId,
    /// The image's last slot.
    pub index: u64,
    /// The image's `term`.
    pub term: u64,
    /// The bytes received so far (the next piece must start at their length).
    pub data: Vec<u8>,
    /// A piece arrived since the last heartbeat of the leader (no need to pull again).
    pub moved: bool,
}

impl std::fmt::Debug for Receiving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Receiving {{ from: {}, index: {}, term: {}, data: {} bytes }}",
            self.from,
            self.index,
            self.term,
            self.data.len()
        )
    }
}

impl Paxos {
    /// The newest snapshot this node holds (taken, installed or restored).
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Slots up to here are compacted: chosen, held only by a snapshot.
    pub fn compacted_through(&self) -> u64 {
        self.learner.start()
    }

    /// The snapshot this node is receiving, if any.
    pub fn receiving(&self) -> Option<&Receiving> {
        self.receiving.as_ref()
    }

    /// After applying: asks the host for a snapshot when one is due.
    pub(super) fn request_snapshot_if_due(&mut self, out: &mut Effects<Paxos>) {
        if self.schedule.due(self.applied) {
            out.push(Effect::TakeSnapshot {
                index: self.applied,
                term: 0,
            });
        }
    }

    /// The host stored the image asked for: keep it, drop the chosen values up to the
    /// previous image, rewrite the log's start.
    pub(super) fn on_snapshot_taken(&mut self, snapshot: Snapshot, out: &mut Effects<Paxos>) {
        let newer = self
            .snapshot
            .as_ref()
            .is_none_or(|s| snapshot.index > s.index);
        if !newer || snapshot.index > self.applied {
            return; // an image older than one installed meanwhile
        }
        let index = snapshot.index;
        if let Some(previous) = self.snapshot.replace(snapshot) {
            self.learner.compact_to(previous.index);
        }
        let start = self.learner.start();
        out.narrate(self.narrate, || {
            format!("snapshot through slot {index} stored; chosen slots up to {start} dropped")
        });
        self.rebase(out);
    }

    /// Rewrites the start of the log from the learner's compacted start: the records
    /// hold the whole chosen prefix after it, so the commit point is persisted too.
    fn rebase(&mut self, out: &mut Effects<Paxos>) {
        let commit = self.learner.commit();
        self.acceptor.forget_slots_through(commit);
        self.persisted_commit = commit;
        out.push(Effect::Rebase(base_records(&self.acceptor, &self.learner)));
    }

    /// Whether the durable log lags a snapshot restored past it (its commit point is
    /// below the learner's start): its start must then be rewritten, since no later
    /// `Committed` record could name the values of the slots in between.
    pub(super) fn log_lags_snapshot(&self) -> bool {
        self.persisted_commit < self.learner.start()
    }

    /// Rewrites the log's start after a restore past the durable commit point.
    pub(super) fn rebase_after_restore(&mut self, out: &mut Effects<Paxos>) {
        self.rebase(out);
    }

    /// Offers `to` our newest snapshot: an empty piece at offset 0.
    pub(super) fn offer_snapshot(&mut self, to: NodeId, out: &mut Effects<Paxos>) {
        let Some(s) = &self.snapshot else {
            return;
        };
        let (index, term) = (s.index, s.term);
        out.narrate(self.narrate, || {
            format!("{to} lacks slots compacted here: offer it the snapshot through slot {index}")
        });
        self.send(
            to,
            PaxosMessage::SnapshotChunk {
                index,
                term,
                offset: 0,
                data: Bytes::new(),
                done: false,
            },
            out,
        );
    }

    /// A learner pulls the image through `index` from `offset`: the piece, or an offer
    /// of our newer image.
    pub(super) fn on_snapshot_pull(
        &mut self,
        from: NodeId,
        index: u64,
        offset: u64,
        out: &mut Effects<Paxos>,
    ) {
        let Some(s) = &self.snapshot else {
            return;
        };
        if s.index > index {
            self.offer_snapshot(from, out);
            return;
        }
        if s.index != index {
            return;
        }
        let len = s.data.len();
        let Some(start) = usize::try_from(offset).ok().filter(|o| *o <= len) else {
            return; // past the image's end: malformed
        };
        // The sender cuts the pieces: a learner cannot make it send more than its own
        // setting per message.
        let piece = usize::try_from(self.timing.snapshot_chunk_bytes).unwrap_or(usize::MAX);
        let end = start.saturating_add(piece.max(1)).min(len);
        let msg = PaxosMessage::SnapshotChunk {
            index,
            term: s.term,
            offset,
            data: s.data.slice(start..end),
            done: end == len,
        };
        self.send(from, msg, out);
    }

    /// A piece of a snapshot (Figure 13's receiver, in Paxos's words): taken only at the
    /// expected offset; the last one installs the image.
    pub(super) fn on_snapshot_chunk(
        &mut self,
        from: NodeId,
        piece: Piece,
        out: &mut Effects<Paxos>,
    ) {
        let Piece {
            index,
            term,
            offset,
            data,
            done,
        } = piece;
        if from == self.id || matches!(self.stance, Stance::Leader(_)) {
            return; // a leader holds every chosen slot it reports
        }
        if index <= self.learner.commit() {
            // We hold these slots already.
            if self.receiving.as_ref().is_some_and(|r| r.index <= index) {
                self.receiving = None;
            }
            return;
        }
        let fresh = match &self.receiving {
            Some(r) if r.from == from && r.index == index => false,
            // Only a newer image replaces the one coming (from whichever node), so
            // offers from several nodes cannot keep restarting a transfer.
            Some(r) if r.index >= index => return,
            _ => true,
        };
        if fresh {
            if offset != 0 {
                return; // the middle of a transfer we did not start
            }
            out.narrate(self.narrate, || {
                format!(
                    "receive {from}'s snapshot through slot {index}: we lack slots it compacted"
                )
            });
            self.receiving = Some(super::snapshot::Receiving {
                from,
                index,
                term,
                data: Vec::new(),
                moved: true,
            });
        }
        let Some(r) = self.receiving.as_mut() else {
            return;
        };
        if offset != r.data.len() as u64 || term != r.term {
            return; // a duplicate or late piece
        }
        let max = self.timing.snapshot_max_bytes;
        if (r.data.len() as u64).saturating_add(data.len() as u64) > max {
            self.receiving = None;
            out.narrate(self.narrate, || {
                format!("abandon the snapshot through slot {index}: larger than {max} bytes")
            });
            return;
        }
        r.data.extend_from_slice(&data);
        r.moved = true;
        if !done {
            let next = r.data.len() as u64;
            self.send(
                from,
                PaxosMessage::SnapshotPull {
                    index,
                    offset: next,
                },
                out,
            );
            return;
        }
        let Some(r) = self.receiving.take() else {
            return;
        };
        let snapshot = Snapshot {
            index,
            term: r.term,
            data: Bytes::from(r.data),
        };
        self.install(from, snapshot, out);
    }

    /// The whole image arrived: it becomes our state machine and our log starts after it.
    fn install(&mut self, from: NodeId, snapshot: Snapshot, out: &mut Effects<Paxos>) {
        let index = snapshot.index;
        self.learner.start_after(index);
        self.applied = index;
        self.schedule.restart_at(index);
        out.narrate(self.narrate, || {
            format!(
                "install {from}'s snapshot through slot {index} ({} bytes); slots up to it chosen and applied",
                snapshot.data.len()
            )
        });
        self.snapshot = Some(snapshot.clone());
        out.push(Effect::InstallSnapshot(snapshot));
        self.rebase(out);
        let next = self.learner.commit() + 1;
        self.send(from, PaxosMessage::CatchUp { from: next }, out);
    }

    /// A leader at `from` reports chosen slots we lack: pull the next piece of the
    /// snapshot we are receiving from it, or ask for the slots.
    /// A transfer that received nothing since the previous heartbeat lost a piece or
    /// a pull: pull again. A transfer from another node than the leader (an acceptor
    /// that refused our Prepare) is dropped for the leader's.
    pub(super) fn ask_for_missing(&mut self, from: NodeId, out: &mut Effects<Paxos>) {
        let msg = match self.receiving.as_mut() {
            Some(r) if r.from == from && r.moved => {
                r.moved = false;
                return; // pieces are flowing
            }
            Some(r) if r.from == from => PaxosMessage::SnapshotPull {
                index: r.index,
                offset: r.data.len() as u64,
            },
            _ => {
                self.receiving = None;
                PaxosMessage::CatchUp {
                    from: self.learner.commit() + 1,
                }
            }
        };
        self.send(from, msg, out);
    }

    /// [`crate::Protocol::restore_snapshot`]: the host restored the state machine from
    /// `snapshot`; resume applying after it. The image must reach the log's start.
    pub(super) fn restore(&mut self, snapshot: &Snapshot) -> Result<(), RecoveryError> {
        if snapshot.index < self.learner.start() {
            return Err(RecoveryError::Inconsistent {
                record: 0,
                reason: format!(
                    "the snapshot through slot {} is older than the log's start after {}",
                    snapshot.index,
                    self.learner.start()
                ),
            });
        }
        if snapshot.index > self.learner.commit() {
            // The image goes past the durable commit point (it is persisted only every
            // few slots): every slot up to it is chosen.
            self.learner.start_after(snapshot.index);
            self.acceptor.forget_slots_through(self.learner.commit());
        }
        self.applied = snapshot.index;
        self.schedule.restart_at(snapshot.index);
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }
}
