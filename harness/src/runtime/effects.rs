//! Carrying out a node's effects (runtime concern): persists to the log, timers,
//! applies and sends ahead at once, everything else held in protocol order until the
//! records before it are durable; sends and client answers batched per iteration (see
//! the module docs of [`super`]).

use super::wal_writer::WalReport;
use super::{ArmedTimer, EffectOf, Held, Log, NodeLoop, ReplyTo, RuntimeError, PUBLISH_EVERY};
use crate::client::{ClientReply, ClientResponse};
use crate::metrics::TIMED_WAIT;
use crate::storage::encode_record;
use protocols::{Command, Effect, Event, Protocol};
use std::time::Instant;

impl<P: Protocol> NodeLoop<P> {
    /// Takes a batch of effects: its persists go to the log as one job, its timers
    /// are (re)armed at once, and everything else is held until that job (and every
    /// earlier one) is durable; then whatever is durable is carried out.
    pub(super) fn execute(&mut self, out: &mut Vec<EffectOf<P>>) -> Result<(), RuntimeError> {
        let id = self.id;
        let storage = |source| RuntimeError::Storage { node: id, source };
        let mut payloads = Vec::new();
        for e in out.iter() {
            if let Effect::Persist(r) = e {
                payloads.push(encode_record(r).map_err(storage)?);
            }
        }
        if !payloads.is_empty() {
            match &mut self.log {
                Log::Inline(wal) => {
                    for p in &payloads {
                        wal.append(p).map_err(storage)?;
                    }
                    wal.sync().map_err(storage)?;
                    self.wal_stats = wal.stats();
                    self.submitted += 1;
                    self.durable = self.submitted;
                }
                Log::Threaded { writer, .. } => self.submitted = writer.submit(payloads),
            }
        }
        for e in out.drain(..) {
            match e {
                Effect::Persist(_) => {}
                Effect::SetTimer { timer, after } => {
                    let deadline = tokio::time::Instant::now() + after;
                    let timed = after >= TIMED_WAIT;
                    match self.timers.iter_mut().find(|t| t.timer == timer) {
                        Some(slot) => (slot.deadline, slot.timed) = (deadline, timed),
                        None => self.timers.push(ArmedTimer {
                            timer,
                            deadline,
                            timed,
                        }),
                    }
                }
                Effect::CancelTimer(timer) => {
                    self.timers.retain(|t| t.timer != timer);
                }
                // Committed by durable copies on a quorum: nothing local to wait for.
                apply @ Effect::Apply { .. } => self.carry_out(apply),
                // A leader's replication leaves at once, unless an earlier message to
                // the same peer is still held: per-peer order is kept.
                Effect::SendAhead { to, msg } if !self.held_to.contains_key(&to) => {
                    self.carry_out(Effect::Send { to, msg });
                }
                Effect::SendAhead { to, msg } => self.hold(Effect::Send { to, msg }),
                other => {
                    if self.held.is_empty() && self.durable >= self.submitted {
                        self.carry_out(other);
                    } else {
                        self.hold(other);
                    }
                }
            }
        }
        self.flush();
        self.unpublished = true;
        if self.last_publish.elapsed() >= PUBLISH_EVERY {
            self.publish();
        }
        Ok(())
    }

    /// Queues `e` until the records submitted so far are durable.
    fn hold(&mut self, e: EffectOf<P>) {
        if let Effect::Send { to, .. } = &e {
            *self.held_to.entry(*to).or_default() += 1;
        }
        self.held.push_back(Held {
            job: self.submitted,
            produced: matches!(e, Effect::Event(_)).then(Instant::now),
            effect: e,
        });
    }

    /// Undoes [`Self::hold`]'s bookkeeping for an effect leaving the queue.
    fn unhold(&mut self, e: &EffectOf<P>) {
        if let Effect::Send { to, .. } = e {
            if let Some(n) = self.held_to.get_mut(to) {
                *n -= 1;
                if *n == 0 {
                    self.held_to.remove(to);
                }
            }
        }
    }

    /// Takes a report of the WAL writer: carries out what became durable.
    pub(super) fn on_wal_report(&mut self, report: WalReport) -> Result<(), RuntimeError> {
        self.unpublished = true;
        match report {
            WalReport::Durable { seq, stats } => {
                self.durable = self.durable.max(seq);
                self.wal_stats = stats;
                while self.held.front().is_some_and(|h| h.job <= self.durable) {
                    let Some(h) = self.held.pop_front() else {
                        break;
                    };
                    self.unhold(&h.effect);
                    match (h.effect, h.produced) {
                        (Effect::Event(event), Some(at)) => self.publish_event(event, at),
                        (e, _) => self.carry_out(e),
                    }
                }
                self.flush();
                Ok(())
            }
            WalReport::Failed(source) => Err(RuntimeError::Storage {
                node: self.id,
                source,
            }),
        }
    }

    /// Carries out one effect whose records are durable (never a persist or a timer).
    /// Sends are deferred into per-peer batches; the caller flushes them.
    fn carry_out(&mut self, e: EffectOf<P>) {
        match e {
            Effect::Persist(_) | Effect::SetTimer { .. } | Effect::CancelTimer(_) => {}
            Effect::SignalWhenDurable(token) => {
                self.durable_signal = self.durable_signal.max(Some(token));
            }
            Effect::Send { to, msg } | Effect::SendAhead { to, msg } => {
                if let Some(len) = self.transport.send_deferred(to, &msg) {
                    let c = self
                        .local_counts
                        .by_kind
                        .entry(P::message_kind(&msg))
                        .or_default();
                    c.0 += 1;
                    c.1 += len as u64;
                }
            }
            Effect::Apply { command, .. } => self.apply(command),
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
            Effect::Event(event) => self.publish_event(event, Instant::now()),
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
        if let Ok(mut c) = self.counts.lock() {
            c.clone_from(&self.local_counts);
        }
        if let Ok(mut s) = self.status.lock() {
            *s = Some(self.node_status());
        }
    }

    fn apply(&mut self, command: Option<Command>) {
        let Some(cmd) = command else {
            self.kv.skip();
            return;
        };
        let result = self.kv.apply(&cmd.data);
        if cmd.id.origin == self.id {
            if let Some(w) = self.pending.remove(&cmd.id.seq) {
                self.reply(
                    w.reply_to,
                    ClientResponse {
                        id: w.request,
                        reply: ClientReply::Value(result),
                    },
                );
            }
        }
    }
}
