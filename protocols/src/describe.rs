//! What each protocol says about its own messages, for people: a one-line form of each
//! message in the words of the protocol's own sources, which messages are routine
//! (heartbeats and their acknowledgements, hidden from default timelines), and what
//! the protocol calls a leadership generation. Timelines, diagrams and the live views
//! read these; each protocol implements them beside its messages (`raft/describe.rs`,
//! `zab/describe.rs`, `paxos/describe.rs`).

use crate::{Command, Event, Protocol};

/// How a protocol names its things.
#[derive(Clone, Copy, Debug)]
pub struct Vocabulary {
    /// The protocol's name.
    pub protocol: &'static str,
    /// What the protocol calls a leadership generation: "term", "epoch", "ballot".
    pub generation: &'static str,
    /// Formats a generation as the protocol writes it (Paxos ballots as `round.node`).
    pub show_term: fn(u64) -> String,
    /// Formats the log entries `first..=last` of one generation (see [`LogEntry`]):
    /// Raft `4@1` and `2..5@1`, ZAB `0x100000004` and `0x100000002..0x100000005`,
    /// Paxos `6@2.4` and `2..5@1.1` (chosen slots whose ballot is forgotten: `2..5`).
    pub show_entries: fn(first: u64, last: u64, generation: u64) -> String,
    /// One line explaining [`Vocabulary::show_entries`]' notation, for the top of a
    /// timeline.
    pub log_legend: &'static str,
}

/// One entry of a node's log, as a timeline shows it: its position, the generation it
/// was written in (Raft: index and term; ZAB: the zxid's counter and epoch; Paxos: the
/// slot and the ballot it was accepted at, 0 once only the chosen value is kept) and
/// whether the node knows it committed (chosen, delivered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Raft index, ZAB zxid counter, Paxos slot.
    pub index: u64,
    /// Raft term, ZAB epoch, Paxos ballot (`Ballot::as_u64`; 0: not kept).
    pub generation: u64,
    /// Known committed by this node.
    pub committed: bool,
}

/// What a narrated line ([`crate::Event::Narrate`]) is about, so that a host can show
/// decisions in full and fold the traffic every write repeats (`cwb cluster --narrate`
/// does; `--narrate all` and the simulator's timelines show every line). Each protocol
/// decides it for its own lines in [`Describe::narration`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Narration {
    /// A decision worth a line each time: votes and elections, role and leadership
    /// changes, truncations, snapshots, refusals, lost connections.
    Decision,
    /// A leader's commit point: the fate of the writes it covers (Raft `commits index 4:
    /// stored on 1, 3`, ZAB `commits zxid 0x100000004: ACKed by 3, 1`, Paxos `chooses
    /// slot 4: accepted at 1.1 by 2, 3`). One per write, or per batch of writes.
    Commit,
    /// Per-write replication that every write repeats on every node: proposing,
    /// accepting, acknowledging, learning, delivering.
    Routine,
}

/// Whether `text` starts with one of `prefixes` (the narration classifiers' test).
pub fn starts_with_any(text: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| text.starts_with(p))
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
    /// This node's log, oldest first: what it holds and which part it knows committed.
    fn log_view(&self) -> Vec<LogEntry>;
    /// Whom this node backs now, in the protocol's words, for live views: Raft
    /// `voted for 2` (its durable vote of the current term), ZAB `votes for 3` (its
    /// FastLeaderElection proposal), Paxos `promised 2.3` (its acceptor's promise).
    /// `None` when it backs nobody yet.
    fn vote(&self) -> Option<String> {
        None
    }
    /// The few words a diagram writes on `msg`'s arrow: its kind, with what sets it
    /// apart from others of its kind where that is the point of the message (a vote
    /// granted `✓` or refused `✗`, the server a FastLeaderElection vote is for, a
    /// ballot). `None`: the kind alone.
    fn arrow_label(msg: &Self::Message) -> Option<String> {
        let _ = msg;
        None
    }
    /// What this protocol's narrated line `text` is about (see [`Narration`]): its
    /// commit points and its per-write replication lines, by the words they start
    /// with; anything else is a decision.
    fn narration(text: &str) -> Narration {
        let _ = text;
        Narration::Decision
    }
}

/// `LeaderTimeout` as `leader timeout`: a Rust identifier (a Debug name) in lower-case
/// words. Anything that is not a bare identifier (a variant with fields) is kept as is.
pub fn words(name: &str) -> String {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return name.to_string();
    }
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The one human form of a protocol event, without a node prefix (hosts add it, see
/// [`crate::narration_line`]): `is leader (term 2)`, `ELECTED leader of ballot 1.1`,
/// `READY: leads epoch 3 and can commit`, `committed through index 7`, or the
/// narration's own text. `generation` and `show` are the protocol's words
/// ([`Protocol::GENERATION`], [`Protocol::show_generation`]). The simulator's trace,
/// the scenario timelines and `cwb cluster` all print events through it.
///
/// ```
/// use protocols::{event_text, Event, Role};
/// let e = Event::RoleChanged { role: Role::Leader, term: 2 };
/// assert_eq!(event_text("term", |t| t.to_string(), &e), "is leader (term 2)");
/// ```
pub fn event_text(generation: &str, show: fn(u64) -> String, event: &Event) -> String {
    match event {
        Event::RoleChanged { role, term } => format!("is {role} ({generation} {})", show(*term)),
        Event::LeaderElected { term } => format!("ELECTED leader of {generation} {}", show(*term)),
        Event::LeaderReady { term } => {
            format!("READY: leads {generation} {} and can commit", show(*term))
        }
        Event::Committed { index } => format!("committed through index {index}"),
        Event::Narrate(text) => text.clone(),
    }
}

/// [`event_text`] in protocol `P`'s words.
pub fn event_text_of<P: Protocol>(event: &Event) -> String {
    event_text(P::GENERATION, P::show_generation, event)
}
