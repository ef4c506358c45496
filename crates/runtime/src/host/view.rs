//! A read-only view of a running node for live displays (`cwb serve`): the tail of its
//! log with the committed part marked, whom it backs (vote or promise), its armed
//! timers with their deadlines, and how many messages it sent to each peer.
//!
//! Only nodes started with [`super::spawn_viewed`] keep one; the node loop refreshes it
//! at most every [`VIEW_EVERY`], off the hot path, and never reads it back.

use protocols::{Describe, LogEntry, NodeId, Protocol};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a viewed node refreshes its [`NodeView`] at most.
pub const VIEW_EVERY: Duration = Duration::from_millis(40);

/// Log entries a view keeps: the newest ones (a live display shows a window).
pub const VIEW_LOG_TAIL: usize = 40;

/// What a live display shows of one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    /// The newest [`VIEW_LOG_TAIL`] entries of its log, oldest first.
    pub log_tail: Vec<LogEntry>,
    /// Entries in its whole log.
    pub log_len: usize,
    /// Whom it backs, in the protocol's words ([`Describe::vote`]).
    pub vote: Option<String>,
    /// Its armed timers.
    pub timers: Vec<TimerView>,
    /// Messages sent so far to each peer, with the kind of the latest.
    pub sent_to: BTreeMap<NodeId, LinkCount>,
    /// When this view was taken.
    pub at: Option<Instant>,
}

/// One armed timer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimerView {
    /// The protocol's name for it (its `Debug` form: `Election`, `Heartbeat`).
    pub name: String,
    /// When it fires.
    pub deadline: Instant,
    /// How long it was armed for (a display draws the remaining part of this).
    pub armed_for: Duration,
}

/// Messages on one directed link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCount {
    /// Sent so far.
    pub messages: u64,
    /// The kind of the latest ([`Protocol::message_kind`]).
    pub last_kind: &'static str,
}

/// Reads what a view needs from the protocol: its log and its vote.
pub(super) type Reader<P> = fn(&P) -> (Vec<LogEntry>, Option<String>);

/// The reader of a protocol that describes itself.
pub(super) fn reader<P: Protocol + Describe>() -> Reader<P> {
    |p: &P| (p.log_view(), p.vote())
}

/// A viewed node loop's side of the view.
pub(super) struct Viewing<P> {
    pub(super) read: Reader<P>,
    pub(super) shared: Arc<Mutex<Option<NodeView>>>,
    pub(super) sent_to: BTreeMap<NodeId, LinkCount>,
    pub(super) last: Instant,
}

impl<P> Viewing<P> {
    pub(super) fn new(read: Reader<P>) -> Viewing<P> {
        Viewing {
            read,
            shared: Arc::new(Mutex::new(None)),
            sent_to: BTreeMap::new(),
            last: Instant::now() - VIEW_EVERY,
        }
    }

    /// Counts one message sent to `to`.
    pub(super) fn sent(&mut self, to: NodeId, kind: &'static str) {
        let c = self.sent_to.entry(to).or_default();
        c.messages += 1;
        c.last_kind = kind;
    }

    /// Whether a refresh is due.
    pub(super) fn due(&self) -> bool {
        self.last.elapsed() >= VIEW_EVERY
    }

    /// Shares a fresh view built from `proto` and `timers` (name, deadline, armed for).
    pub(super) fn refresh(&mut self, proto: &P, timers: Vec<TimerView>) {
        self.last = Instant::now();
        let (log, vote) = (self.read)(proto);
        let log_len = log.len();
        let log_tail = log[log_len.saturating_sub(VIEW_LOG_TAIL)..].to_vec();
        let view = NodeView {
            log_tail,
            log_len,
            vote,
            timers,
            sent_to: self.sent_to.clone(),
            at: Some(self.last),
        };
        if let Ok(mut v) = self.shared.lock() {
            *v = Some(view);
        }
    }
}
