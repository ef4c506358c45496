//! The simulator's host for one node: it steps the protocol, hands the effects to the
//! same [`protocols::DurabilityGate`] the tokio runtime uses, writes the records the
//! gate batches to the simulated disk through the real WAL codec, and carries out what
//! the gate releases (sends into the network, timers into the queue, applies into the
//! node's key-value store, events into the checker).

use crate::invariants::Violation;
use crate::{EffectOf, Pending, Simulation, TimedEvent};

use protocols::gate::Sync;
use protocols::{Effect, Event, Input, InputOf, NodeId, Protocol};
use storage::{encode_record, frame_record, StorageError};

impl<P: Protocol> Simulation<P> {
    /// Feeds one input to a running node and carries out its effects: persists are
    /// written as one batch, timers, applies and sends ahead happen at once, the rest
    /// waits for the batch to be durable (at once when the disk has no delay).
    pub(crate) fn input(&mut self, id: NodeId, input: InputOf<P>) -> Result<(), Violation> {
        let now = self.now;
        let mut out = Vec::new();
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        let Some(proto) = n.proto.as_mut() else {
            return Ok(());
        };
        // Every input is a batch of its own here: the protocol sends what it batched
        // right after it.
        proto.step(now, input, &mut out);
        if self.state_machine != kv::StateMachineKind::Kv {
            // What the state machine proposes on its own while this node leads (the
            // znode tree's session expiries), stepped in the same batch.
            let leading = proto.status().role.is_leader();
            for data in n.kv.proposals(now.as_nanos() / 1_000_000, leading) {
                self.next_request += 1;
                let id = protocols::RequestId {
                    origin: id,
                    seq: self.next_request,
                };
                proto.step(
                    now,
                    Input::Client(protocols::Command { id, data }),
                    &mut out,
                );
            }
        }
        proto.end_of_batch(now, &mut out);
        let incarnation = n.incarnation;
        let disk = n.disk.as_ref().unwrap_or(&self.config.disk);
        let (sync_min, sync_max) = (disk.sync_min, disk.sync_max);
        // A disk without delay syncs within the step, unless earlier writes are still
        // on their way (syncs finish in order).
        let instant = sync_max.is_zero() && n.unsynced.is_empty();
        let sync = if instant { Sync::Now } else { Sync::Later };
        let mut records = Vec::new();
        let mut ready = Vec::new();
        let job = n.gate.admit(&mut out, (), sync, &mut records, &mut ready);
        let rebase = n.gate.take_rebase();
        let wrote = job.is_some();
        if let Some(job) = job {
            let mut bytes = Vec::new();
            // Log compaction (`Effect::Rebase`): from this byte on, the records rebuild
            // everything before them, which is deleted once they are durable.
            let mut base_at = None;
            for (i, r) in records.iter().enumerate() {
                if rebase == Some(i) {
                    base_at = Some(bytes.len());
                }
                frame(&mut bytes, r).map_err(|e| Violation::new(now, format!("node {id}: {e}")))?;
            }
            if instant {
                keep_durable(&mut n.log, bytes, base_at);
            } else {
                n.unsynced.push((job, bytes, base_at));
                let delay = self.rng.duration_between(sync_min, sync_max);
                let at = now.plus(delay).max(n.last_sync_at);
                n.last_sync_at = at;
                self.push(
                    at,
                    Pending::Synced {
                        node: id,
                        incarnation,
                        batch: job,
                    },
                );
            }
        }
        // What this step released now: after its write only on an instant disk (a
        // delayed disk holds every send of a writing step until `synced`, so what
        // leaves now waited for no write, as on a real node's threaded log).
        self.step_wrote = wrote && instant;
        let done = self.carry_out(id, ready);
        self.step_wrote = false;
        done
    }

    /// Carries out the effects of node `id` that its gate released, in order; then
    /// steps the durability signal released with them, if any.
    pub(crate) fn carry_out(
        &mut self,
        id: NodeId,
        effects: Vec<((), EffectOf<P>)>,
    ) -> Result<(), Violation> {
        let now = self.now;
        let Some(incarnation) = self.nodes.get(&id).map(|n| n.incarnation) else {
            return Ok(());
        };
        let mut taken = Vec::new();
        for ((), effect) in effects {
            match effect {
                Effect::TakeSnapshot { index, term } => {
                    if let Some(snapshot) = self.take_snapshot(id, index, term)? {
                        taken.push(snapshot);
                    }
                }
                Effect::InstallSnapshot(snapshot) => self.install_snapshot(id, snapshot)?,
                Effect::Rebase(_) => {}
                Effect::Send { to, msg } | Effect::SendAhead { to, msg } => {
                    self.messages += 1;
                    let kind = P::message_kind(&msg);
                    let kinds = self.link_kinds.entry((id, to)).or_default();
                    if !kinds.contains(&kind) {
                        kinds.push(kind);
                    }
                    if self.network.connected(id, to) && !self.network.reachable(id, to) {
                        self.fault_stats.one_way_drops += 1;
                    }
                    let to_incarnation = self.nodes.get(&to).map_or(0, |n| n.incarnation);
                    // A bandwidth cap times a message by its encoded size (the
                    // postcard payload the transport frames).
                    let bytes = if self.network.needs_sizes() {
                        postcard::to_allocvec(&msg).map_or(0, |v| v.len() as u64)
                    } else {
                        0
                    };
                    // A delayed kind enters the network later (`delay_kind`), so the
                    // link's first-in-first-out order holds behind it too: a later
                    // message on the link cannot overtake it, as on one TCP stream.
                    let entered = now.plus(self.kind_delay(kind));
                    for delay in self
                        .network
                        .deliveries(id, to, entered, bytes, &mut self.rng)
                    {
                        self.push(
                            entered.plus(delay),
                            Pending::Deliver {
                                from: id,
                                to,
                                sent: now,
                                incarnation: to_incarnation,
                                msg: msg.clone(),
                            },
                        );
                    }
                }
                Effect::Persist(_) | Effect::SignalWhenDurable(_) => {}
                Effect::SetTimer { timer, after } => {
                    let generation = self.next_seq;
                    if let Some(n) = self.nodes.get_mut(&id) {
                        n.timers.insert(timer, generation);
                    }
                    self.push(
                        now.plus(after),
                        Pending::Timer {
                            node: id,
                            timer,
                            incarnation,
                            generation,
                        },
                    );
                }
                Effect::CancelTimer(timer) => {
                    if let Some(n) = self.nodes.get_mut(&id) {
                        n.timers.remove(&timer);
                    }
                }
                Effect::Apply { index, command } => {
                    let req = command.as_ref().map(|c| c.id);
                    let mut answer = None;
                    if let Some(n) = self.nodes.get_mut(&id) {
                        if !P::SHARED_LOG && index == 1 {
                            // A full resynchronisation (Protocol::SHARED_LOG): a fresh
                            // state machine.
                            n.applied.clear();
                            n.kv = Self::store(self.at_least_once, self.state_machine);
                        }
                        let expected = n.applied.len() as u64 + 1;
                        if index != expected {
                            return Err(Violation::new(
                                now,
                                format!("node {id} applied index {index}, expected {expected} (gap or repeat)"),
                            ));
                        }
                        n.applied.push(req);
                        match &command {
                            Some(c) => {
                                // Only a command this incarnation received from its
                                // client is local (leaves watches): not one replayed
                                // after a restart.
                                let owed = self.awaiting.get(&c.id) == Some(&n.incarnation);
                                let ctx = kv::ApplyContext {
                                    now_ms: now.as_nanos() / 1_000_000,
                                    local: owed,
                                };
                                let a = n.kv.apply_command(&c.data, ctx);
                                if owed {
                                    self.awaiting.remove(&c.id);
                                    self.deliveries.push(crate::Delivery {
                                        at: now,
                                        node: id,
                                        what: crate::Delivered::Answer {
                                            id: c.id,
                                            answer: a.clone(),
                                        },
                                    });
                                }
                                for (client, data) in n.kv.take_notifications() {
                                    self.deliveries.push(crate::Delivery {
                                        at: now,
                                        node: id,
                                        what: crate::Delivered::Notification { client, data },
                                    });
                                }
                                answer = Some(a);
                            }
                            None => n.kv.skip(),
                        }
                    }
                    if P::SHARED_LOG {
                        self.checker.on_apply(now, id, index, req)?;
                    }
                    if let (true, Some(req), Some(value)) = (self.config.trace, req, &answer) {
                        // Only a request this incarnation still owes an answer: a
                        // restarted node re-applies old commands without answering.
                        if self.open_request(id, req).is_some() {
                            self.replies.push(crate::Reply {
                                at: now,
                                node: id,
                                id: req,
                                outcome: crate::ReplyOutcome::Done {
                                    index,
                                    answer: value.clone(),
                                },
                            });
                        }
                    }
                    if let (Some(req), Some(value)) = (req, answer) {
                        self.answered(id, req, value.as_ref());
                    }
                }
                // Refused without being appended: it never happens. Leadership lost after
                // it was appended: it may still commit, so it stays unanswered.
                Effect::Reject { id: req, error } => {
                    if self.config.trace && self.open_request(id, req).is_some() {
                        self.replies.push(crate::Reply {
                            at: now,
                            node: id,
                            id: req,
                            outcome: crate::ReplyOutcome::Refused(error.clone()),
                        });
                    }
                    if !matches!(error, protocols::ClientError::LeadershipLost) {
                        self.refused(id, req, &error)?;
                    }
                }
                // A read may be answered now from the node's store (`protocols::read`).
                Effect::ServeRead { id: req } => {
                    let key = self.open_request(id, req).and_then(|o| o.read_key.clone());
                    let Some(key) = key else { continue };
                    let (value, applied) = match self.nodes.get(&id) {
                        Some(n) => (n.kv.peek_value(&key), n.applied.len() as u64),
                        None => continue,
                    };
                    if self.config.trace {
                        self.replies.push(crate::Reply {
                            at: now,
                            node: id,
                            id: req,
                            outcome: crate::ReplyOutcome::Done {
                                index: applied,
                                answer: value.clone(),
                            },
                        });
                    }
                    self.answered(id, req, value.as_ref());
                }
                Effect::Event(event) => {
                    if let Event::Narrate(text) = &event {
                        if self.config.trace {
                            self.note(protocols::narration_line(id, text));
                        }
                        continue;
                    }
                    if self.config.trace {
                        let text = protocols::event_text_of::<P>(&event);
                        self.note(protocols::narration_line(id, &text));
                    }
                    self.checker.on_event(now, id, &event)?;
                    self.events.push(TimedEvent {
                        at: now,
                        node: id,
                        event,
                    });
                }
            }
        }
        let signal = self.nodes.get_mut(&id).and_then(|n| n.gate.take_signal());
        if let Some(token) = signal {
            self.input(id, Input::Durable(token))?;
        }
        // A snapshot is stored at once here: report it back.
        for snapshot in taken {
            self.input(id, Input::SnapshotTaken(snapshot))?;
        }
        Ok(())
    }

    /// `Effect::TakeSnapshot`: node `id`'s state machine, which has applied exactly up
    /// to `index`, becomes a snapshot file on its disk (the runtime serializes a copy
    /// on another thread; here it happens at once). `None` if the state machine takes
    /// no snapshots.
    fn take_snapshot(
        &mut self,
        id: NodeId,
        index: u64,
        term: u64,
    ) -> Result<Option<protocols::Snapshot>, Violation> {
        let now = self.now;
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(None);
        };
        if n.applied.len() as u64 != index {
            return Err(Violation::new(
                now,
                format!(
                    "node {id} asked for a snapshot at {index} having applied {}",
                    n.applied.len()
                ),
            ));
        }
        let Some(write) = n.kv.image_writer() else {
            return Ok(None);
        };
        let snapshot = protocols::Snapshot {
            index,
            term,
            data: write().into(),
        };
        store_snapshot(&mut n.snapshots, &snapshot);
        self.snapshots_taken += 1;
        Ok(Some(snapshot))
    }

    /// `Effect::InstallSnapshot`: node `id`'s state machine becomes the leader's image,
    /// stored on its disk first.
    fn install_snapshot(
        &mut self,
        id: NodeId,
        snapshot: protocols::Snapshot,
    ) -> Result<(), Violation> {
        let now = self.now;
        let upto = usize::try_from(snapshot.index).unwrap_or(usize::MAX);
        let Some(prefix) = self.checker.committed().get(..upto).map(<[_]>::to_vec) else {
            return Err(Violation::new(
                now,
                format!(
                    "node {id} was sent a snapshot through {}, past the committed sequence",
                    snapshot.index
                ),
            ));
        };
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        n.kv.restore_image(&snapshot.data).map_err(|e| {
            Violation::new(now, format!("node {id} cannot install a snapshot: {e}"))
        })?;
        // The image holds the committed prefix, which state machine safety has checked
        // entry by entry on the node that made it.
        n.applied = prefix;
        store_snapshot(&mut n.snapshots, &snapshot);
        self.snapshots_installed += 1;
        Ok(())
    }

    /// Node `id`'s log made every batch up to `batch` durable: keep those records and
    /// carry out what waited for them.
    pub(crate) fn synced(
        &mut self,
        id: NodeId,
        incarnation: u64,
        batch: u64,
    ) -> Result<(), Violation> {
        let Some(n) = self
            .nodes
            .get_mut(&id)
            .filter(|n| n.proto.is_some() && n.incarnation == incarnation)
        else {
            return Ok(());
        };
        let done = n.unsynced.partition_point(|(b, _, _)| *b <= batch);
        for (_, bytes, base_at) in n.unsynced.drain(..done) {
            keep_durable(&mut n.log, bytes, base_at);
        }
        let mut released = Vec::new();
        n.gate.durable(batch, &mut released);
        if self.config.trace && !released.is_empty() {
            self.note(format!("n{id}: log synced (writes 1..={batch} durable)"));
        }
        // What waited for the write leaves after it.
        self.step_wrote = true;
        let done = self.carry_out(id, released);
        self.step_wrote = false;
        done
    }
}

/// Stores `snapshot` as a file on a simulated disk, keeping the newest ones.
fn store_snapshot(files: &mut Vec<Vec<u8>>, snapshot: &protocols::Snapshot) {
    files.push(storage::snapshot::encode_snapshot(snapshot));
    let keep = storage::snapshot::KEEP;
    if files.len() > keep {
        files.drain(..files.len() - keep);
    }
}

/// Makes a write job's `bytes` durable in `log`: appended, or, when the job rebuilt the
/// start of the log from `base_at` on, replacing everything before that (the WAL
/// deletes the segments before a rebase).
fn keep_durable(log: &mut Vec<u8>, mut bytes: Vec<u8>, base_at: Option<usize>) {
    match base_at {
        Some(at) => *log = bytes.split_off(at.min(bytes.len())),
        None => log.extend_from_slice(&bytes),
    }
}

/// Encodes `record` with the WAL's codec and appends it framed as the WAL frames it.
pub(crate) fn frame<R: serde::Serialize>(
    log: &mut Vec<u8>,
    record: &R,
) -> Result<(), StorageError> {
    frame_record(log, &encode_record(record)?)
}
