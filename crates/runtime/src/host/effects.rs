//! Carrying out a node's effects (runtime concern): the shared
//! [`protocols::DurabilityGate`] decides what waits for the log; this file writes the
//! records, arms timers, sends, applies and answers clients, with sends and client
//! answers batched per iteration (see the module docs of [`super`]).

use super::wal_writer::WalReport;
use super::{ArmedTimer, EffectOf, Log, NodeLoop, ReplyTo, RuntimeError, PUBLISH_EVERY};
use crate::client::{ClientReply, ClientResponse};
use crate::events::TIMED_WAIT;
use protocols::gate::Sync;
use protocols::{Command, Effect, Event, Protocol};
use std::time::Instant;
use storage::{encode_record, encode_record_into};

/// The largest record-encoding buffer an inline log keeps between batches.
const RECORD_BUF_KEPT: usize = 1 << 20;

impl<P: Protocol> NodeLoop<P> {
    /// Takes a batch of effects through the durability gate: its records go to the log
    /// as one job, and whatever the gate releases is carried out in protocol order.
    pub(super) fn execute(&mut self, out: &mut Vec<EffectOf<P>>) -> Result<(), RuntimeError> {
        let id = self.id;
        let storage = |source| RuntimeError::Storage { node: id, source };
        let sync = match self.log {
            Log::Inline(_) => Sync::Now,
            Log::Threaded { .. } => Sync::Later,
        };
        let mut records = std::mem::take(&mut self.records);
        let mut ready = std::mem::take(&mut self.ready);
        let job = self
            .gate
            .admit(out, Instant::now(), sync, &mut records, &mut ready);
        // Log compaction: the records from here on rebuild the log's start.
        let base_at = self.gate.take_rebase();
        if job.is_some() {
            match &mut self.log {
                // Written and synced before anything the gate released is carried out.
                // Each record is encoded into one reused buffer and copied into the
                // WAL's: no allocation per record.
                Log::Inline(wal) => {
                    let mut base = None;
                    let mut payload = std::mem::take(&mut self.record_buf);
                    for (i, r) in records.drain(..).enumerate() {
                        if base_at == Some(i) {
                            base = Some(wal.begin_base().map_err(storage)?);
                        }
                        encode_record_into(&r, &mut payload).map_err(storage)?;
                        wal.append(&payload).map_err(storage)?;
                    }
                    // A rare large record's buffer is not kept for the node's lifetime.
                    if payload.capacity() <= RECORD_BUF_KEPT {
                        self.record_buf = payload;
                    }
                    wal.sync().map_err(storage)?;
                    if let Some(first) = base {
                        wal.drop_before(first).map_err(storage)?;
                    }
                    self.wal_stats = wal.stats();
                }
                // The writer numbers its jobs as the gate does: one per batch with
                // records, from 1.
                Log::Threaded { writer, .. } => {
                    let mut payloads = Vec::with_capacity(records.len());
                    for r in records.drain(..) {
                        payloads.push(encode_record(&r).map_err(storage)?);
                    }
                    let seq = writer.submit_with_base(payloads, base_at);
                    debug_assert_eq!(Some(seq), job, "WAL writer and gate disagree on jobs");
                }
            }
        }
        self.records = records;
        // An inline log wrote this batch's records (handed them to the OS: it is used
        // with `fsync = never`) before anything is carried out: its sends leave after
        // the write. A threaded log's job holds every send of the batch until
        // `on_wal_report`; what left now waited for no write.
        let after_write = job.is_some() && matches!(self.log, Log::Inline(_));
        self.carry_out_ready(&mut ready, after_write);
        self.ready = ready;
        if let Some(source) = self.snapshots.failed.take() {
            return Err(storage(source));
        }
        self.flush();
        self.unpublished = true;
        if self.last_publish.elapsed() >= PUBLISH_EVERY {
            self.publish();
        }
        Ok(())
    }

    /// Takes a report of the WAL writer: carries out what became durable.
    pub(super) fn on_wal_report(&mut self, report: WalReport) -> Result<(), RuntimeError> {
        self.unpublished = true;
        match report {
            WalReport::Durable { seq, stats } => {
                self.wal_stats = stats;
                let mut ready = std::mem::take(&mut self.ready);
                self.gate.durable(seq, &mut ready);
                self.carry_out_ready(&mut ready, true);
                self.ready = ready;
                self.flush();
                Ok(())
            }
            WalReport::Failed(source) => Err(RuntimeError::Storage {
                node: self.id,
                source,
            }),
        }
    }

    /// Carries out, in order, the effects the gate released (never a persist).
    /// Sends are deferred into per-peer batches; the caller flushes them. `after_write`:
    /// they were released behind a write of this node's log (for the fault filter's
    /// rules on answers that had something to record).
    fn carry_out_ready(&mut self, ready: &mut Vec<(Instant, EffectOf<P>)>, after_write: bool) {
        self.apply_clock_ms = None;
        for (produced, e) in ready.drain(..) {
            self.carry_out(produced, e, after_write);
        }
    }

    /// Carries out one released effect. An event is stamped `produced`, when the
    /// protocol produced it (the node was elected, or became a candidate, then), not at
    /// the end of the fsync it waited behind.
    fn carry_out(&mut self, produced: Instant, e: EffectOf<P>, after_write: bool) {
        match e {
            Effect::Persist(_) | Effect::SignalWhenDurable(_) => {}
            Effect::SetTimer { timer, after } => {
                let deadline = tokio::time::Instant::now() + after;
                let timed = after >= TIMED_WAIT;
                match self.timers.iter_mut().find(|t| t.timer == timer) {
                    Some(slot) => {
                        (slot.deadline, slot.timed, slot.after) = (deadline, timed, after)
                    }
                    None => self.timers.push(ArmedTimer {
                        timer,
                        deadline,
                        timed,
                        after,
                    }),
                }
            }
            Effect::CancelTimer(timer) => {
                self.timers.retain(|t| t.timer != timer);
            }
            Effect::Send { to, msg } | Effect::SendAhead { to, msg } => {
                if let Some(len) = self.transport.send_deferred(to, &msg, after_write) {
                    if let Some(v) = &mut self.viewing {
                        v.sent(to, P::message_kind(&msg));
                    }
                    let c = self
                        .local_counts
                        .by_kind
                        .entry(P::message_kind(&msg))
                        .or_default();
                    c.0 += 1;
                    c.1 += len as u64;
                    // Before the flush puts it on the wire: a reader that sees the
                    // counts clean after this message was answered has them all.
                    if !self.sent_unshared {
                        self.sent_unshared = true;
                        self.counts.mark_dirty();
                    }
                }
            }
            Effect::Apply { index, command } => {
                if !P::SHARED_LOG && index == 1 {
                    // A full resynchronisation (Protocol::SHARED_LOG): a fresh store.
                    self.kv = znode::new_state_machine(self.state_machine);
                }
                self.apply(command)
            }
            Effect::Reject { id: req, error } => {
                if req.origin == self.id {
                    if let Some(w) = self.pending.remove(&req.seq) {
                        let reply = match error {
                            protocols::ClientError::NotLeader { leader } => {
                                ClientReply::NotLeader {
                                    leader,
                                    addr: leader.and_then(|l| self.clients.get(&l).copied()),
                                }
                            }
                            other => ClientReply::Retry(other.to_string()),
                        };
                        self.reply(
                            w.reply_to,
                            ClientResponse {
                                id: w.request,
                                reply,
                            },
                        );
                    }
                }
            }
            Effect::ServeRead { id: req } => {
                if req.origin != self.id {
                    return;
                }
                if let Some(w) = self.pending.remove(&req.seq) {
                    let value = w.read_key.as_ref().and_then(|k| self.kv.peek_value(k));
                    self.reply(
                        w.reply_to,
                        ClientResponse {
                            id: w.request,
                            reply: ClientReply::Value(value),
                        },
                    );
                }
            }
            Effect::Event(event) => self.publish_event(event, produced),
            Effect::TakeSnapshot { index, term } => self.snapshots.take(&*self.kv, index, term),
            Effect::InstallSnapshot(snapshot) => self.install_snapshot(snapshot),
            Effect::Rebase(_) => {}
        }
    }

    /// Puts a protocol event on the bus, stamped `at` (when the protocol produced it).
    fn publish_event(&mut self, event: Event, at: Instant) {
        match event {
            Event::Narrate(text) => {
                // Protocols narrate only when asked to: show it wherever events are shown.
                tracing::debug!(node = self.id, "{text}");
                self.bus.publish_at(at, self.id, Event::Narrate(text));
            }
            Event::Committed { .. } => {}
            event => {
                self.bus.publish_at(at, self.id, event);
                self.publish();
            }
        }
    }

    /// Collects an answer for its connection until [`Self::flush`].
    fn reply(&mut self, to: ReplyTo, resp: ClientResponse) {
        self.replies
            .entry(to.conn)
            .or_insert_with(|| (to.tx, Vec::new()))
            .1
            .push(resp);
    }

    /// Hands this iteration's sends to the transport and its answers to the client
    /// connections, one unit per peer and per connection.
    fn flush(&mut self) {
        self.transport.flush();
        for (_, (tx, batch)) in self.replies.drain() {
            let _ = tx.send(batch);
        }
    }

    /// When the loop must wake to share what changed since the last publish (at most
    /// [`PUBLISH_EVERY`] after it); `None` when nothing is waiting to be shared.
    pub(super) fn publish_due(&self) -> Option<tokio::time::Instant> {
        self.unpublished
            .then(|| tokio::time::Instant::from_std(self.last_publish + PUBLISH_EVERY))
    }

    /// Shares counters and status with the handle (rate-limited off the hot path).
    pub(super) fn publish(&mut self) {
        self.last_publish = Instant::now();
        self.unpublished = false;
        let stats = self.wal_stats;
        self.local_counts.wal_records = stats.records;
        self.local_counts.wal_bytes = stats.bytes;
        self.local_counts.wal_syncs = stats.syncs;
        self.local_counts.wal_writes = stats.writes;
        let peer_io = self.transport.io();
        self.local_counts.peer_reads = peer_io.reads();
        self.local_counts.peer_writes = peer_io.writes();
        self.local_counts.client_reads = self.client_io.reads();
        self.local_counts.client_writes = self.client_io.writes();
        self.counts.publish(&self.local_counts);
        self.sent_unshared = false;
        if let Ok(mut s) = self.status.lock() {
            *s = Some(self.node_status());
        }
        if let Some(v) = &mut self.viewing {
            if v.due() {
                let timers = self
                    .timers
                    .iter()
                    .map(|t| super::view::TimerView {
                        name: format!("{:?}", t.timer),
                        deadline: t.deadline.into_std(),
                        armed_for: t.after,
                    })
                    .collect();
                v.refresh(&self.proto, timers);
            }
        }
    }

    fn apply(&mut self, command: Option<Command>) {
        let Some(cmd) = command else {
            self.kv.skip();
            return;
        };
        // Only a command a client of this node is waiting for is local (leaves
        // watches here): not one replayed after a restart.
        let waiting = take_answered(&mut self.pending, self.id, &cmd);
        // One clock read per batch of applies (milliseconds: the batch takes far less).
        let now_ms = *self
            .apply_clock_ms
            .get_or_insert_with(|| super::now().as_nanos() / 1_000_000);
        let ctx = kv::ApplyContext {
            now_ms,
            local: waiting.is_some(),
        };
        let result = self.kv.apply_command(&cmd.data, ctx);
        {
            if let Some(w) = waiting {
                if let Some(client) = self.kv.client_of(&cmd.data) {
                    self.watchers.insert(client, w.reply_to.clone());
                }
                self.reply(
                    w.reply_to,
                    ClientResponse {
                        id: w.request,
                        reply: ClientReply::Value(result),
                    },
                );
            }
        }
        for (client, note) in self.kv.take_notifications() {
            if let Some(to) = self.watchers.get(&client).cloned() {
                self.reply(
                    to,
                    ClientResponse {
                        id: 0,
                        reply: ClientReply::Watch(note),
                    },
                );
            }
        }
    }
}

/// The request of this node's clients that the applied `cmd` answers, taken out of
/// `pending`: one with its number whose command has its bytes. Numbers restart with
/// each incarnation, so a command an earlier incarnation proposed may commit now
/// under the number of a new, different request; it answers nobody here.
fn take_answered(
    pending: &mut rustc_hash::FxHashMap<u64, super::Waiting>,
    me: protocols::NodeId,
    cmd: &Command,
) -> Option<super::Waiting> {
    if cmd.id.origin != me {
        return None;
    }
    if pending
        .get(&cmd.id.seq)
        .is_none_or(|w| w.command != cmd.data)
    {
        return None;
    }
    pending.remove(&cmd.id.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(command: &'static [u8]) -> super::super::Waiting {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        super::super::Waiting {
            request: 7,
            command: bytes::Bytes::from_static(command),
            reply_to: ReplyTo { conn: 1, tx },
            since: std::time::Instant::now(),
            read_key: None,
        }
    }

    fn cmd(origin: protocols::NodeId, seq: u64, data: &'static [u8]) -> Command {
        Command {
            id: protocols::RequestId { origin, seq },
            data: bytes::Bytes::from_static(data),
        }
    }

    #[test]
    fn a_command_from_an_earlier_incarnation_does_not_answer_a_new_request() {
        let mut pending = rustc_hash::FxHashMap::default();
        pending.insert(1, waiting(b"put x 2"));
        // The previous incarnation's request number 1 commits late: not ours.
        assert!(take_answered(&mut pending, 3, &cmd(3, 1, b"put x 1")).is_none());
        assert!(pending.contains_key(&1), "the new request still waits");
        // Another node's number 1 is not ours either.
        assert!(take_answered(&mut pending, 3, &cmd(2, 1, b"put x 2")).is_none());
        // Our own command answers it.
        let w = take_answered(&mut pending, 3, &cmd(3, 1, b"put x 2")).expect("answered");
        assert_eq!(w.request, 7);
        assert!(pending.is_empty());
    }
}
