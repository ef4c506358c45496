//! The clients of a simulation: commands submitted to a node, and the history of what
//! the clients saw (invocation and answer of every key-value command), which the
//! linearizability checker judges.

use crate::invariants::Violation;
use crate::Simulation;
use kv::{KvCommand, KvOp};
use lincheck::{Completion, History, Input as LinInput, Output as LinOutput};
use protocols::{Command, Input, NodeId, Protocol, RequestId};

impl<P: Protocol> Simulation<P> {
    /// Submits a client command to `node` now; returns its id.
    pub fn submit(&mut self, node: NodeId, data: bytes::Bytes) -> Result<RequestId, Violation> {
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
        // A key-value command enters the clients' history: one client per command.
        if let Some(KvCommand { op, .. }) = KvCommand::decode(&data) {
            let (key, input) = match op {
                KvOp::Get { key } => (key, LinInput::Get),
                KvOp::Put { key, value } | KvOp::Set { key, value } => (
                    key,
                    LinInput::Put(String::from_utf8_lossy(&value).into_owned()),
                ),
            };
            let local = self
                .nodes
                .get(&node)
                .filter(|n| self.local_reads && n.proto.is_some())
                .filter(|_| matches!(input, LinInput::Get))
                .map(|n| n.kv.peek(&key).cloned());
            let key = String::from_utf8_lossy(&key).into_owned();
            let now = self.now.as_nanos();
            let _ = self.history.invoke(id.seq, now, key, input.clone());
            if let Some(value) = local {
                let value = value
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_default();
                let _ = self
                    .history
                    .complete(id.seq, now, Completion::Ok(LinOutput::Value(value)));
                return Ok(id);
            }
            match running {
                Some(incarnation) => {
                    self.open.insert(id, (incarnation, input));
                }
                // Sent to a node that is down: it never arrived.
                None => {
                    let _ = self.history.complete(id.seq, now, Completion::Failed);
                }
            }
        }
        if running.is_some() {
            self.input(node, Input::Client(Command { id, data }))?;
        }
        Ok(id)
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

    /// Closes `req`'s entry in the history if node `node`'s current incarnation is
    /// the one it was sent to.
    pub(crate) fn answer(
        &mut self,
        node: NodeId,
        req: RequestId,
        outcome: impl FnOnce(&LinInput) -> Completion,
    ) {
        let incarnation = self.nodes.get(&node).map(|n| n.incarnation);
        if req.origin != node {
            return;
        }
        if let Some((sent_to, input)) = self.open.get(&req) {
            if Some(*sent_to) == incarnation {
                let completion = outcome(input);
                self.open.remove(&req);
                let _ = self
                    .history
                    .complete(req.seq, self.now.as_nanos(), completion);
            }
        }
    }
}
