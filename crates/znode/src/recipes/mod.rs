//! ZooKeeper's coordination recipes, built only from the tree's operations, as
//! client-side state machines without I/O: a recipe says which operation to send next
//! ([`Next`]), and is told each answer and each watch event. A client runs one
//! operation at a time; its host (the simulator's test driver, `cwb zk`) sends them
//! and keeps the session alive with heartbeats.
//!
//! - [`queue::QueueLock`]: a queue of ephemeral sequential nodes under one parent.
//!   Exclusive: the lowest holds the lock; shared read/write: a reader waits only for
//!   the writers before it, a writer for every node before it. Waiting either the naive
//!   way (everyone re-lists on every change of the parent: the herd effect) or by
//!   watching only the node it waits for ([`Waiting::Predecessor`]). The fair election
//!   is the exclusive queue under `/election`: the lowest leads, each candidate watches
//!   the one before it.
//! - [`race::RaceLock`]: everyone races to create one ephemeral node; the losers watch
//!   it and race again when it goes (an unfair election, the simplest lock).
//! - [`registry`]: service registration (an ephemeral sequential node holding an
//!   address) and discovery (list with a child watch, again on every change).
//!
//! Every acquisition carries a fencing token: the creation index (`czxid`) of the node
//! that won, unique and growing with every new holder, so a resource can refuse a
//! holder whose token is older than one it has seen (a holder paused past its
//! session's expiry).

pub mod queue;
pub mod race;
pub mod registry;

use crate::command::{WatchEvent, ZAnswer, ZOp};

/// What a recipe wants its client to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Send this operation.
    Send(ZOp),
    /// Nothing until a watch event (or nothing ever: held, released, lost).
    Wait,
}

/// How a queue waiter waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Waiting {
    /// A child watch on the parent: every change wakes every waiter (the herd effect).
    Herd,
    /// An exists watch on the one node it waits for: a change wakes one waiter.
    Predecessor,
}

/// Where a lock-like recipe stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Not held yet.
    Waiting,
    /// Held (or leading), with the fencing token and the node that holds it.
    Held {
        /// The creation index of the winning node.
        token: u64,
        /// The node.
        node: String,
    },
    /// Given back by the client.
    Released,
    /// The session ended (its node is gone): the client must start over with a new
    /// session.
    Lost,
}

/// A recipe as its host drives it.
pub trait Recipe {
    /// The first operation.
    fn start(&mut self) -> ZOp;
    /// The answer to the last operation sent.
    fn on_answer(&mut self, answer: &ZAnswer) -> Next;
    /// A watch event (or the session's end).
    fn on_event(&mut self, event: &WatchEvent) -> Next;
    /// The client moved to another node (its watches stayed behind): the operation
    /// to resend or the check to redo there.
    fn on_reconnect(&mut self) -> Next;
    /// Where it stands.
    fn standing(&self) -> Standing;
    /// The operation that gives it back, if it holds something.
    fn release(&mut self) -> Option<ZOp>;
    /// The node it waits on with an exists watch now, if any (for narration).
    fn watched(&self) -> Option<String> {
        None
    }
    /// What it knows of others (a discovery's instances); empty for the others.
    fn view(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The ten-digit sequence suffix of a sequential node's name (the order of the queue).
pub fn sequence_of(name: &str) -> Option<u64> {
    let start = name.len().checked_sub(10)?;
    name.get(start..)?.parse().ok()
}
