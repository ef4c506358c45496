//! InstallSnapshot in chunks (Raft §7; the extended paper's Figure 13, with its
//! `offset`, `data` and `done` arguments).
//!
//! A leader whose follower needs an entry it no longer holds (`nextIndex` at or before
//! the log's start, [`super::snapshot`]) sends it the newest image it stored, cut into
//! chunks of at most [`crate::Timing::snapshot_chunk_bytes`] (1 MiB by default), so
//! that no message comes near the transport's frame limit however large the state
//! machine grows. Each message names the image (its last included index and term) and
//! its whole size, and carries the bytes at one offset.
//!
//! The leader's side ([`Outgoing`], one per follower): chunks go in order, at most
//! [`MAX_INFLIGHT_CHUNKS`] unacknowledged; every answer says how many bytes of the
//! image the follower holds, and the leader sends on from there. An answer that shows
//! no progress (the follower refused a chunk out of order, or lost what it had, for
//! instance by restarting) rewinds the leader to the follower's offset, which is 0
//! after a loss, and a transfer back at 0 takes the leader's newest image. A transfer
//! that hears nothing for the longest election timeout is resent from the last
//! acknowledged offset. A transfer keeps the image it began with to the end even if
//! the leader takes a newer one meanwhile (a cheap shared copy): restarting on every
//! new snapshot could starve a follower whose transfer is longer than the snapshot
//! interval. While the window is full, heartbeats carry on so that the follower does
//! not campaign, and their refusals are ignored.
//!
//! The follower's side ([`Incoming`]) follows Figure 13's receiver rules: a stale term
//! is refused (rule 1); a chunk at offset 0 of an image other than the one being
//! received starts a new one (rule 2); a chunk is written only at the offset expected
//! next, and a duplicate, stale or early one is ignored and answered with that offset
//! (rules 3-4); only the `done` chunk that completes the declared size installs the
//! image (rule 5). An image declared larger than [`crate::Timing::snapshot_max_bytes`]
//! is refused before any of it is buffered, and the buffer never grows past the size
//! declared, so nothing a peer sends makes a follower allocate without bound. On
//! install, if its log holds the image's last entry with the same term it keeps the
//! entries after it, else it discards the whole log, and its state machine is
//! replaced by the image ([`crate::Effect::InstallSnapshot`], rules 6-8). A partial
//! image belongs to the leader and term it came from: it is dropped on a higher term.
//! An image the follower has already applied is only acknowledged. The final answer
//! waits for the rewritten start of its log to be durable, like every answer behind a
//! persist.
//!
//! etcd's raft and raft-rs send a snapshot as one message and leave streaming it to the
//! transport; this follows the paper's chunked RPC instead (as openraft's chunked
//! snapshot transfer does), so the same protocol runs unchanged on every transport.

use super::log::RaftLog;
use super::{Raft, RaftMessage, RoleState, Term};
use crate::effect::Effect;
use crate::node::Effects;
use crate::output::Output;
use crate::snapshot::Snapshot;
use crate::types::{NodeId, Time};
use bytes::Bytes;

/// Unacknowledged chunks allowed per follower: one to be answered while the next is
/// on its way.
pub const MAX_INFLIGHT_CHUNKS: u64 = 2;

/// One InstallSnapshot chunk, as received (the message's fields after `term`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The image's last included index.
    pub last_index: u64,
    /// The term of that entry.
    pub last_term: Term,
    /// The whole image's declared size in bytes.
    pub size: u64,
    /// Byte offset of `data` in the image.
    pub offset: u64,
    /// The bytes.
    pub data: Bytes,
    /// The last chunk.
    pub done: bool,
}

/// Leader: the transfer of one image to one follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The image being sent.
    snapshot: Snapshot,
    /// Offset of the next chunk to send.
    next: u64,
    /// Bytes the follower has acknowledged holding.
    acked: u64,
    /// The `done` chunk has been sent since the last rewind.
    all_sent: bool,
    /// When a chunk was last sent or answered: the resend clock.
    active_at: Time,
}

impl Outgoing {
    fn new(snapshot: Snapshot, now: Time) -> Outgoing {
        Outgoing {
            snapshot,
            next: 0,
            acked: 0,
            all_sent: false,
            active_at: now,
        }
    }

    fn size(&self) -> u64 {
        self.snapshot.data.len() as u64
    }

    /// Send again from `offset`, which the follower holds.
    fn rewind_to(&mut self, offset: u64) {
        self.next = offset;
        self.acked = offset;
        self.all_sent = false;
    }

    /// The image's last included index.
    pub fn index(&self) -> u64 {
        self.snapshot.index
    }
}

/// Follower: the chunks of one image received so far, in order.
#[derive(Debug)]
pub struct Incoming {
    /// The leader sending it, and its term.
    leader: NodeId,
    term: Term,
    /// The image's last included index and term, and its declared size.
    last_index: u64,
    last_term: Term,
    size: u64,
    /// The bytes received so far (never more than `size`).
    data: Vec<u8>,
}

impl Incoming {
    fn is_for(&self, leader: NodeId, term: Term, chunk: &Chunk) -> bool {
        (
            self.leader,
            self.term,
            self.last_index,
            self.last_term,
            self.size,
        ) == (leader, term, chunk.last_index, chunk.last_term, chunk.size)
    }
}

impl Raft {
    /// Leader: `peer` needs entries compacted away; sends it the next chunks of an
    /// image within the window, or, with none to send, a heartbeat when `heartbeat`
    /// (its refusal is ignored while the transfer lasts).
    pub(super) fn send_snapshot(&mut self, peer: NodeId, heartbeat: bool, out: &mut Effects<Self>) {
        let (term, commit, now) = (self.term, self.commit_index, self.now);
        let (start, start_term) = (self.log.start(), self.log.start_term());
        let resend_after = self.setup.timing.election_timeout_max;
        let chunk_bytes = self.setup.timing.snapshot_chunk_bytes.max(1);
        let narrate = self.setup.narrate;
        let Some(newest) = self.snapshot.as_ref() else {
            return;
        };
        let RoleState::Leader { progress, .. } = &mut self.role else {
            return;
        };
        let Some(p) = progress.get_mut(&peer) else {
            return;
        };
        let transfer = match &mut p.transfer {
            Some(t) if t.acked > 0 || t.snapshot.index == newest.index => t,
            // No transfer yet, or one with nothing acknowledged of an older image.
            slot => {
                let index = newest.index;
                let size = newest.data.len();
                out.narrate(narrate, || {
                    format!("{peer} needs entries compacted away: send it the snapshot through {index} ({size} bytes) in chunks (InstallSnapshot, §7)")
                });
                slot.insert(Outgoing::new(newest.clone(), now))
            }
        };
        let unanswered = transfer.next > transfer.acked || transfer.all_sent;
        if unanswered && now >= transfer.active_at.plus(resend_after) {
            // Nothing heard for an election timeout: the chunks in flight were lost
            // (or their answers were).
            let from = transfer.acked;
            out.narrate(narrate, || {
                format!(
                    "no answer from {peer} to the snapshot's chunks: send again from byte {from}"
                )
            });
            transfer.rewind_to(from);
        }
        let mut sent = false;
        let window = MAX_INFLIGHT_CHUNKS.saturating_mul(chunk_bytes);
        while !transfer.all_sent && transfer.next.saturating_sub(transfer.acked) < window {
            let size = transfer.size();
            let offset = transfer.next;
            let end = offset.saturating_add(chunk_bytes).min(size);
            // Offsets are within the image, which is in memory: they fit a usize.
            let data = transfer.snapshot.data.slice(offset as usize..end as usize);
            let done = end == size;
            transfer.next = end;
            transfer.all_sent = done;
            transfer.active_at = now;
            sent = true;
            out.send_ahead(
                peer,
                RaftMessage::InstallSnapshot {
                    term,
                    last_index: transfer.snapshot.index,
                    last_term: transfer.snapshot.term,
                    size,
                    offset,
                    data,
                    done,
                },
            );
        }
        if !sent && heartbeat {
            out.send_ahead(
                peer,
                RaftMessage::AppendEntries {
                    term,
                    prev_log_index: start,
                    prev_log_term: start_term,
                    entries: Vec::new(),
                    leader_commit: commit,
                },
            );
        }
    }

    /// InstallSnapshot receiver (Figure 13). `term` has already been observed.
    pub(super) fn on_install_snapshot(
        &mut self,
        from: NodeId,
        term: Term,
        chunk: Chunk,
        out: &mut Effects<Self>,
    ) {
        if term < self.term {
            // Rule 1: reply immediately; our term tells the stale leader to step down.
            let reply = RaftMessage::InstallSnapshotResponse {
                term: self.term,
                last_index: 0,
                next_offset: 0,
                done: false,
            };
            out.send(from, reply);
            return;
        }
        if matches!(self.role, RoleState::Leader { .. }) {
            return; // impossible by election safety
        }
        if !matches!(self.role, RoleState::Follower) {
            self.become_follower(true, out);
        } else if self.setup.membership.is_voter(self.id()) {
            self.reset_election_timer(out);
        }
        self.leader_heard_at = Some(self.now);
        self.leader = Some(from);
        let index = chunk.last_index;
        let answer = |next_offset, done| RaftMessage::InstallSnapshotResponse {
            term,
            last_index: index,
            next_offset,
            done,
        };
        if index <= self.last_applied {
            // An image we had applied already (committed entries match, Log Matching):
            // acknowledging its index is true, and no partial image up to it is needed.
            if self
                .incoming
                .as_ref()
                .is_some_and(|i| i.last_index <= self.last_applied)
            {
                self.incoming = None;
            }
            out.send(from, answer(chunk.size, true));
            return;
        }
        let max = self.setup.timing.snapshot_max_bytes;
        if chunk.size > max {
            let size = chunk.size;
            out.narrate(self.setup.narrate, || {
                format!("refuses {from}'s snapshot through {index}: {size} bytes, over the {max}-byte limit")
            });
            self.incoming = None;
            return;
        }
        let ours = self
            .incoming
            .as_ref()
            .is_some_and(|i| i.is_for(from, term, &chunk));
        if !ours {
            if chunk.offset != 0 {
                // Part of an image we hold nothing of (lost on a restart, or replaced
                // by another): ask for it from the start.
                out.send(from, answer(0, false));
                return;
            }
            // Rule 2: the first chunk of a new image replaces any partial one.
            if let Some(old) = &self.incoming {
                let old = old.last_index;
                out.narrate(self.setup.narrate, || {
                    format!("drops the partial snapshot through {old}: {from} sends the one through {index}")
                });
            }
            self.incoming = Some(Incoming {
                leader: from,
                term,
                last_index: index,
                last_term: chunk.last_term,
                size: chunk.size,
                data: Vec::new(),
            });
        }
        let Some(incoming) = self.incoming.as_mut() else {
            return;
        };
        let have = incoming.data.len() as u64;
        if chunk.offset != have {
            // Rules 3-4: only the next offset is written; a duplicate, stale or early
            // chunk is answered with the offset expected.
            out.send(from, answer(have, false));
            return;
        }
        let end = have.saturating_add(chunk.data.len() as u64);
        if end > incoming.size || (chunk.done && end != incoming.size) {
            let size = incoming.size;
            out.narrate(self.setup.narrate, || {
                format!("drops {from}'s snapshot through {index}: a chunk ends at byte {end} of a {size}-byte image")
            });
            self.incoming = None;
            out.send(from, answer(0, false));
            return;
        }
        incoming.data.extend_from_slice(&chunk.data);
        if !chunk.done {
            out.send(from, answer(end, false));
            return;
        }
        // Rule 5: the last chunk; the image is whole.
        let Some(incoming) = self.incoming.take() else {
            return;
        };
        let snapshot = Snapshot {
            index,
            term: incoming.last_term,
            data: Bytes::from(incoming.data),
        };
        self.install(from, snapshot, out);
        out.send(from, answer(end, true));
    }

    /// Rules 6-8 of Figure 13: keep the entries after the image's last one if our log
    /// matches it, else discard the whole log; the state machine becomes the image.
    fn install(&mut self, from: NodeId, snapshot: Snapshot, out: &mut Effects<Self>) {
        let index = snapshot.index;
        if self.log.term_at(index) == Some(snapshot.term) {
            self.log.compact_to(index, snapshot.term);
        } else {
            self.log = RaftLog::starting_after(index, snapshot.term);
        }
        self.commit_index = self.commit_index.max(index);
        self.last_applied = index;
        self.schedule.restart_at(index);
        let size = snapshot.data.len();
        out.narrate(self.setup.narrate, || {
            format!("installs {from}'s snapshot through {index} ({size} bytes); log now starts after it")
        });
        self.snapshot = Some(snapshot.clone());
        out.push(Effect::InstallSnapshot(snapshot));
        out.push(Effect::Rebase(self.base_records()));
    }

    /// InstallSnapshotResponse at the leader: once `done`, the follower holds
    /// everything up to `last_index` and replication resumes after it; before, it holds
    /// `next_offset` bytes of that image and the transfer goes on from there.
    pub(super) fn on_install_snapshot_response(
        &mut self,
        from: NodeId,
        term: Term,
        last_index: u64,
        next_offset: u64,
        done: bool,
        out: &mut Effects<Self>,
    ) {
        if term != self.term || last_index == 0 {
            return;
        }
        self.heard_from_follower(from);
        let (last, now) = (self.log.last_index(), self.now);
        let newest = self.snapshot.clone();
        let RoleState::Leader { progress, .. } = &mut self.role else {
            return;
        };
        let Some(p) = progress.get_mut(&from) else {
            return;
        };
        if done {
            p.match_index = p.match_index.max(last_index.min(last));
            p.next_index = p.match_index + 1;
            p.transfer = None;
            p.probing = false;
            p.inflight.clear();
            self.send_append(from, false, out);
            self.advance_commit(out);
            return;
        }
        let Some(t) = p.transfer.as_mut() else {
            return; // an answer about a transfer already over
        };
        if t.snapshot.index != last_index || next_offset > t.size() {
            return; // about another image, or nonsense
        }
        t.active_at = now;
        if next_offset > t.acked {
            t.acked = next_offset;
            t.next = t.next.max(next_offset);
        } else {
            // No progress: the follower refused a chunk (one before it was lost) or
            // lost what it had. Go back to what it holds; from 0, with the newest image.
            t.rewind_to(next_offset);
            if next_offset == 0 {
                if let Some(newest) = newest.filter(|n| n.index != t.snapshot.index) {
                    *t = Outgoing::new(newest, now);
                }
            }
        }
        self.send_snapshot(from, false, out);
    }
}
