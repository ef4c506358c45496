//! What each protocol says about its own messages, for people: a one-line form of each
//! message in the words of the protocol's own sources, which messages are routine
//! (heartbeats and their acknowledgements, hidden from default timelines), and what
//! the protocol calls a leadership generation. Timelines, diagrams and the live views
//! read these; each protocol implements them beside its messages (`raft/describe.rs`,
//! `zab/describe.rs`, `paxos/describe.rs`).

use crate::{Command, Protocol};

/// How a protocol names its things.
#[derive(Clone, Copy, Debug)]
pub struct Vocabulary {
    /// The protocol's name.
    pub protocol: &'static str,
    /// What the protocol calls a leadership generation: "term", "epoch", "ballot".
    pub generation: &'static str,
    /// Formats a generation as the protocol writes it (Paxos ballots as `round.node`).
    pub show_term: fn(u64) -> String,
}

/// A protocol's readable forms of its messages.
pub trait Describe: Protocol {
    /// The protocol's names for its things.
    fn vocabulary() -> Vocabulary;
    /// A one-line form of `msg`; `command` renders a client command carried in it (the
    /// state machine's business, not the protocol's).
    fn describe(msg: &Self::Message, command: &dyn Fn(&Command) -> String) -> String;
    /// Whether `msg` is a heartbeat or a routine acknowledgement.
    fn routine(msg: &Self::Message) -> bool;
}
