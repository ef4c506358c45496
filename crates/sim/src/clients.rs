//! The clients of a simulation: commands submitted to a node, and the history of what
//! the clients saw (invocation and answer of every key-value command), which the
//! linearizability checker judges.
//!
//! Two kinds of client. [`Simulation::submit`] sends one command to one node and waits
//! for that node's answer, as the scripted scenarios do. The chaos runs use retrying
//! clients ([`Action::Invoke`](crate::Action::Invoke)), as Jepsen's and a real
//! application's clients are: each has a session (Raft thesis §6.3) and one operation
//! outstanding at a time; an attempt that is refused goes to the leader the refusal
//! names (or the next node) at once, an attempt unanswered after [`RETRY_AFTER`] is sent
//! again to the next node, with the same session and sequence number, so that the
//! state machine applies it at most once; after [`GIVE_UP_AFTER`] the client gives up
//! and the history records the outcome as unknown (the operation may still take effect
//! later, or never). The history records one operation per client operation, from its
//! first attempt to the first answer of any attempt.

use crate::invariants::Violation;
use crate::{Action, Simulation};
use bytes::Bytes;
use kv::{KvCommand, KvOp, Session, StateMachine, StateMachineKind, CAS_SWAPPED};
use lincheck::{Completion, History, Input as LinInput, Output as LinOutput};
use protocols::{ClientError, Command, Input, NodeId, Protocol, ReadPath, RequestId};
use std::time::Duration;

/// How long a retrying client waits for an attempt's answer before it tries the next
/// node: longer than an election with the default timing (150-300 ms), so that most
/// operations outlive a leader change without giving up.
pub const RETRY_AFTER: Duration = Duration::from_millis(400);

/// How long a retrying client waits after a refusal before it tries again: a leader
/// change leaves no leader for a while, and a refused attempt costs one round trip.
pub const REFUSED_RETRY_AFTER: Duration = Duration::from_millis(20);

/// How long a retrying client keeps trying one operation before it gives up on it
/// (Jepsen's clients time out after a few seconds too).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(2);

/// A command sent to a node and not answered yet.
#[derive(Clone, Debug)]
pub(crate) struct OpenRequest {
    /// The incarnation of the node it was sent to (a crash leaves it unanswered).
    pub(crate) incarnation: u64,
    /// Its operation in the history.
    pub(crate) op: u64,
    /// What the operation asked.
    pub(crate) input: LinInput,
    /// The retrying client whose attempt it is (none: [`Simulation::submit`]).
    pub(crate) client: Option<usize>,
    /// A read sent as [`Input::Read`] (the run's read path is not the log): its key,
    /// read from the node's store when the node serves it.
    pub(crate) read_key: Option<Bytes>,
}

/// A retrying client of the chaos runs (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct RetryingClient {
    /// Its session's number of the last operation it started.
    seq: u64,
    /// The operation outstanding, if any.
    current: Option<ClientOp>,
}

/// A retrying client's operation outstanding.
#[derive(Clone, Debug)]
struct ClientOp {
    /// Its operation in the history.
    op: u64,
    /// The replicated command, the same bytes for every attempt.
    data: Bytes,
    /// Attempts made so far (the first is 1).
    attempt: u32,
    /// Where the last attempt went.
    node: NodeId,
    /// When the first attempt went.
    started: protocols::Time,
    /// Attempts that reached a running node, and attempts refused before they were
    /// appended: if every attempt that arrived was refused, the operation failed.
    arrived: u32,
    refused: u32,
    /// Refusals whose leader hint was followed at once, and the instant they came at:
    /// two nodes that each name the other as leader (a buggy protocol) would otherwise
    /// bounce the client between them forever within one instant.
    hops: (protocols::Time, usize),
}

/// What a history records of a key-value command: its key and input.
fn history_input(op: &KvOp) -> (&Bytes, LinInput) {
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    match op {
        KvOp::Get { key } => (key, LinInput::Get),
        KvOp::Put { key, value } | KvOp::Set { key, value } => (key, LinInput::Put(text(value))),
        KvOp::Cas { key, from, to } => (
            key,
            LinInput::Cas {
                from: text(from),
                to: text(to),
            },
        ),
    }
}

/// A node's answer to a command, as the history records it.
pub(crate) fn completion(input: &LinInput, answer: Option<&Bytes>) -> Completion {
    Completion::Ok(match input {
        LinInput::Get => LinOutput::Value(
            answer
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default(),
        ),
        LinInput::Cas { .. } => LinOutput::Cas(answer.is_some_and(|a| &a[..] == CAS_SWAPPED)),
        _ => LinOutput::Done,
    })
}

impl<P: Protocol> Simulation<P> {
    /// Submits a client command to `node` now; returns its id.
    pub fn submit(&mut self, node: NodeId, data: Bytes) -> Result<RequestId, Violation> {
        let op = self.next_request + 1;
        if self.state_machine != StateMachineKind::Kv {
            // Answered through `deliveries`, not the key-value history.
            let id = self.attempt(node, data, None, None)?;
            if let Some(n) = self.nodes.get(&node).filter(|n| n.proto.is_some()) {
                self.awaiting.insert(id, n.incarnation);
            }
            return Ok(id);
        }
        // A key-value command enters the clients' history: one client per command.
        let entry = KvCommand::decode(&data).map(|c| (op, c.op));
        self.attempt(node, data, entry, None)
    }

    /// Sends one attempt of a command to `node`: registers it with the history (as
    /// operation `entry.0`, invoked now, if it is not there yet) and hands it to the
    /// node if the node runs.
    fn attempt(
        &mut self,
        node: NodeId,
        data: Bytes,
        entry: Option<(u64, KvOp)>,
        client: Option<usize>,
    ) -> Result<RequestId, Violation> {
        self.next_request += 1;
        let id = RequestId {
            origin: node,
            seq: self.next_request,
        };
        let running = self
            .nodes
            .get(&node)
            .filter(|n| n.proto.is_some())
            .map(|n| n.incarnation);
        // Reads take the run's read path unless it is the log ([`protocols::read`]).
        let read_key = match &entry {
            Some((_, KvOp::Get { key })) if self.config.timing.reads != ReadPath::Log => {
                Some(key.clone())
            }
            _ => None,
        };
        if let Some((op, kv_op)) = entry {
            let (key, input) = history_input(&kv_op);
            let now = self.now.as_nanos();
            let first = self.history.pending(op).is_none();
            if first {
                let key_text = String::from_utf8_lossy(key).into_owned();
                let _ = self.history.invoke(op, now, key_text, input.clone());
            }
            // The known-buggy local read answers at once from the node's own store.
            let local = self
                .nodes
                .get(&node)
                .filter(|n| self.local_reads && n.proto.is_some())
                .filter(|_| matches!(input, LinInput::Get))
                .map(|n| n.kv.peek_value(key));
            if let Some(value) = local {
                let _ = self
                    .history
                    .complete(op, now, completion(&input, value.as_ref()));
                if let Some(c) = client.and_then(|c| self.clients.get_mut(c)) {
                    c.current = None;
                }
                return Ok(id);
            }
            match running {
                Some(incarnation) => {
                    self.open.insert(
                        id,
                        OpenRequest {
                            incarnation,
                            op,
                            input,
                            client,
                            read_key: read_key.clone(),
                        },
                    );
                }
                // Sent to a node that is down: it never arrived.
                None if client.is_none() => {
                    let _ = self.history.complete(op, now, Completion::Failed);
                }
                None => {}
            }
        }
        if running.is_some() {
            let command = Command { id, data };
            let input = if read_key.is_some() {
                Input::Read(command)
            } else {
                Input::Client(command)
            };
            self.input(node, input)?;
        }
        Ok(id)
    }

    /// A retrying client starts `op` at `node`, unless it has an operation outstanding
    /// (then the invocation is skipped, as a closed-loop client would not make it).
    pub(crate) fn invoke(
        &mut self,
        client: usize,
        node: NodeId,
        op: KvOp,
    ) -> Result<(), Violation> {
        if self.clients.len() <= client {
            self.clients
                .resize_with(client + 1, RetryingClient::default);
        }
        let c = &mut self.clients[client];
        if c.current.is_some() {
            return Ok(());
        }
        c.seq += 1;
        let data = KvCommand {
            // Session ids from 1; 0 is no session.
            session: Session {
                client: client as u64 + 1,
                seq: c.seq,
            },
            op: op.clone(),
        }
        .encode();
        let history_op = self.next_request + 1;
        self.clients[client].current = Some(ClientOp {
            op: history_op,
            data: data.clone(),
            attempt: 0,
            node,
            started: self.now,
            arrived: 0,
            refused: 0,
            hops: (protocols::Time::ZERO, 0),
        });
        self.send_attempt(client, node, Some(op))
    }

    /// Sends the next attempt of `client`'s operation to `node`, and arms its retry.
    fn send_attempt(
        &mut self,
        client: usize,
        node: NodeId,
        first: Option<KvOp>,
    ) -> Result<(), Violation> {
        let running = self.nodes.get(&node).is_some_and(|n| n.proto.is_some());
        let Some(cur) = self
            .clients
            .get_mut(client)
            .and_then(|c| c.current.as_mut())
        else {
            return Ok(());
        };
        cur.attempt += 1;
        cur.node = node;
        cur.arrived += u32::from(running);
        let (attempt, op, data) = (cur.attempt, cur.op, cur.data.clone());
        self.client_retries += u64::from(attempt > 1);
        if attempt > 1 && self.config.trace {
            self.note(format!(
                "** client {client} sends its operation again to n{node} (attempt {attempt})"
            ));
        }
        let entry = first.or_else(|| KvCommand::decode(&data).map(|c| c.op));
        let at = self.now.plus(if running {
            RETRY_AFTER
        } else {
            REFUSED_RETRY_AFTER
        });
        self.attempt(node, data, entry.map(|e| (op, e)), Some(client))?;
        self.schedule(at, Action::Retry { client, attempt });
        Ok(())
    }

    /// `client`'s retry timer for attempt `attempt` fired (or a refusal asked for an
    /// early retry): if that attempt is still the last one and unanswered, try the
    /// next node, or give up after [`GIVE_UP_AFTER`].
    pub(crate) fn retry(&mut self, client: usize, attempt: u32) -> Result<(), Violation> {
        self.retry_at(client, attempt, None)
    }

    fn retry_at(
        &mut self,
        client: usize,
        attempt: u32,
        hint: Option<NodeId>,
    ) -> Result<(), Violation> {
        let Some(cur) = self.clients.get(client).and_then(|c| c.current.as_ref()) else {
            return Ok(());
        };
        if cur.attempt != attempt {
            return Ok(());
        }
        if self.now >= cur.started.plus(GIVE_UP_AFTER) {
            // Given up: unknown, unless every attempt that arrived was refused.
            let outcome = if cur.arrived == cur.refused {
                Completion::Failed
            } else {
                Completion::Unknown
            };
            let op = cur.op;
            let _ = self.history.complete(op, self.now.as_nanos(), outcome);
            self.clients[client].current = None;
            return Ok(());
        }
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let next = hint
            .filter(|h| self.nodes.contains_key(h))
            .unwrap_or_else(|| {
                ids.iter()
                    .copied()
                    .find(|&id| id > cur.node)
                    .unwrap_or(ids[0])
            });
        self.send_attempt(client, next, None)
    }

    /// Attempts after the first that the retrying clients sent.
    pub fn client_retries(&self) -> u64 {
        self.client_retries
    }

    /// What the clients saw: every key-value command with its submission and answer.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Switches on a known-buggy read path for teaching and for testing the checker: a
    /// read is answered at once by the node it reaches, from its own store, as
    /// ZooKeeper's local reads are. A node behind its leader, or an old leader cut off
    /// from the rest, then answers with a stale value: sequentially consistent at best,
    /// not linearizable, and the history check says so.
    pub fn set_local_reads(&mut self, on: bool) {
        self.local_reads = on;
    }

    /// Switches on a known-buggy state machine for teaching and for testing the
    /// checker: every node's store ignores sessions ([`kv::KvStore::at_least_once`]), so
    /// a retried write that committed twice is applied twice. Takes effect for stores
    /// built from now on: call it before the nodes start.
    pub fn set_at_least_once(&mut self, on: bool) {
        self.at_least_once = on;
        for n in self.nodes.values_mut() {
            if n.kv.applied() == 0 {
                n.kv = Self::store(on, self.state_machine);
            }
        }
    }

    /// Makes every node run `kind` (the key-value store or the znode tree), for stores
    /// built from now on: call it before the nodes start.
    pub fn set_state_machine(&mut self, kind: StateMachineKind) {
        self.state_machine = kind;
        for n in self.nodes.values_mut() {
            if n.kv.applied() == 0 {
                n.kv = Self::store(self.at_least_once, kind);
            }
        }
    }

    /// What nodes sent their clients so far, for a state machine other than the
    /// key-value store: answers and notifications, in order.
    pub fn deliveries(&self) -> &[crate::Delivery] {
        &self.deliveries
    }

    /// Forgets the deliveries seen so far (a driver that has read them).
    pub fn take_deliveries(&mut self) -> Vec<crate::Delivery> {
        std::mem::take(&mut self.deliveries)
    }

    /// Node `id`'s state machine (for checks and displays).
    pub fn state_machine(&self, id: NodeId) -> Option<&dyn StateMachine> {
        self.nodes.get(&id).map(|n| &*n.kv)
    }

    /// How many times node `id` was started (a restart loses its volatile state: the
    /// watches its clients left there, their connections).
    pub fn incarnation(&self, id: NodeId) -> Option<u64> {
        self.nodes.get(&id).map(|n| n.incarnation)
    }

    /// A fresh store of `kind`; for the key-value store, the known-buggy one that
    /// ignores sessions if `at_least_once`.
    pub(crate) fn store(at_least_once: bool, kind: StateMachineKind) -> Box<dyn StateMachine> {
        match kind {
            StateMachineKind::Kv if at_least_once => Box::new(kv::KvStore::at_least_once()),
            kind => znode::new_state_machine(kind),
        }
    }

    /// The open request `req`, if node `node`'s current incarnation is the one it was
    /// sent to.
    pub(crate) fn open_request(&self, node: NodeId, req: RequestId) -> Option<&OpenRequest> {
        let incarnation = self.nodes.get(&node).map(|n| n.incarnation);
        self.open
            .get(&req)
            .filter(|o| req.origin == node && Some(o.incarnation) == incarnation)
    }

    /// Node `node` applied `req` and answered `answer`: the operation completes, unless
    /// a retrying client already has another answer for it (or gave up).
    pub(crate) fn answered(&mut self, node: NodeId, req: RequestId, answer: Option<&Bytes>) {
        let Some(open) = self.open_request(node, req).cloned() else {
            return;
        };
        self.open.remove(&req);
        if let Some(client) = open.client {
            match self.clients.get_mut(client) {
                Some(c) if c.current.as_ref().is_some_and(|cur| cur.op == open.op) => {
                    c.current = None;
                }
                _ => return,
            }
        }
        let done = completion(&open.input, answer);
        let _ = self.history.complete(open.op, self.now.as_nanos(), done);
    }

    /// Node `node` refused `req` before appending it: a plain submission failed; a
    /// retrying client tries again soon, where the refusal points.
    pub(crate) fn refused(
        &mut self,
        node: NodeId,
        req: RequestId,
        error: &ClientError,
    ) -> Result<(), Violation> {
        let now = self.now;
        let Some(open) = self.open_request(node, req).cloned() else {
            return Ok(());
        };
        self.open.remove(&req);
        let Some(client) = open.client else {
            let _ = self
                .history
                .complete(open.op, self.now.as_nanos(), Completion::Failed);
            return Ok(());
        };
        let Some(cur) = self
            .clients
            .get_mut(client)
            .and_then(|c| c.current.as_mut())
        else {
            return Ok(());
        };
        if cur.op != open.op {
            return Ok(());
        }
        cur.refused += 1;
        let attempt = cur.attempt;
        let hops = match cur.hops {
            (at, n) if at == now => n + 1,
            _ => 1,
        };
        cur.hops = (now, hops);
        let hint = match error {
            ClientError::NotLeader { leader } => *leader,
            _ => None,
        };
        // A refusal without a new leader to try waits a little (an election may be on),
        // as does one after more hints in one instant than there are nodes (a loop).
        match hint.filter(|&h| h != node) {
            Some(h) if hops <= self.nodes.len() => self.retry_at(client, attempt, Some(h)),
            _ => {
                let at = self.now.plus(REFUSED_RETRY_AFTER);
                self.schedule(at, Action::Retry { client, attempt });
                Ok(())
            }
        }
    }
}
