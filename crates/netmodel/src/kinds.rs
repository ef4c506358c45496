//! Rules by message kind: the part of the network model that looks at what a message
//! is, not only where it goes.
//!
//! Two rules, with one meaning in the simulator (`sim::network::Network`) and in the
//! TCP transport's fault filter (`runtime::transport::Faults`), which both keep a
//! [`KindRules`] and ask it about every message whose kind they know:
//! - a **drop** loses the messages of one kind on one directed link (a follower that
//!   misses the entries its leader sends it, say); other kinds, and the other
//!   direction, still pass;
//! - a **delay** holds every message of one kind back by an extra time before it enters
//!   the network, on every link, the link staying first in, first out (a message sent
//!   after a delayed one on the same link is not delivered before it). A delay can be
//!   limited to messages sent **after a write**: an answer that waited for the sender's
//!   log to be made durable (a vote that was recorded), when the extra time stands for a
//!   slower disk than the host's own. An answer that recorded nothing (a refusal that saw
//!   no newer term, a repeated request) is released without waiting for any write and
//!   is not held (unless it queued behind an earlier write of its node, on a host whose
//!   writes take time).
//!
//! Kinds are the protocols' own names (`protocols::Protocol::message_kind`), compared
//! ignoring ASCII case. What "after a write" means is the host's to tell: a message the
//! durability gate released because a write it waited for became durable, or one sent
//! by a step whose write was synced before it left. After-write delays are meant for
//! answers (plain sends); a message the protocol may send ahead of its own write (a
//! leader's entries) counts as after a write on a host that syncs within the step and
//! not on one that writes in the background, so a rule on such a kind means different
//! things on different hosts.

use crate::NodeId;
use std::time::Duration;

/// Messages of `kind` (compared ignoring ASCII case) sent from `from` to `to` are lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindDrop {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// The protocol's name for the message type.
    pub kind: String,
}

/// Messages of `kind` enter the network `extra` after they are sent, on every link; with
/// `after_write`, only those sent after a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindDelay {
    /// The protocol's name for the message type.
    pub kind: String,
    /// How long the message is held before it enters the network.
    pub extra: Duration,
    /// Only a message sent after its sender's write waits.
    pub after_write: bool,
}

/// The drop and delay rules in force. Empty by default; cheap to ask while empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindRules {
    drops: Vec<KindDrop>,
    delays: Vec<KindDelay>,
}

impl KindRules {
    /// Whether no rule is in force (a host need not name kinds then).
    pub fn is_empty(&self) -> bool {
        self.drops.is_empty() && self.delays.is_empty()
    }

    /// Loses the messages of `kind` sent from `from` to `to` from now on.
    pub fn drop_kind(&mut self, from: NodeId, to: NodeId, kind: &str) {
        if !self.drops(from, to, kind) {
            self.drops.push(KindDrop {
                from,
                to,
                kind: kind.to_string(),
            });
        }
    }

    /// Stops dropping `kind` (every kind, if `None`) on the link from `from` to `to`.
    pub fn stop_dropping(&mut self, from: NodeId, to: NodeId, kind: Option<&str>) {
        self.drops.retain(|d| {
            !(d.from == from && d.to == to && kind.is_none_or(|k| d.kind.eq_ignore_ascii_case(k)))
        });
    }

    /// Removes every drop rule (delays stay: they stand for the nodes' disks, not for
    /// a fault).
    pub fn clear_drops(&mut self) {
        self.drops.clear();
    }

    /// The drop rules in force, oldest first.
    pub fn kind_drops(&self) -> &[KindDrop] {
        &self.drops
    }

    /// Whether a message of `kind` from `from` to `to` is lost.
    pub fn drops(&self, from: NodeId, to: NodeId, kind: &str) -> bool {
        self.drops
            .iter()
            .any(|d| d.from == from && d.to == to && d.kind.eq_ignore_ascii_case(kind))
    }

    /// Holds every message of `kind` back by `extra` (only those sent after a write,
    /// with `after_write`). Replaces an earlier delay of the same kind; zero removes it.
    pub fn delay_kind(&mut self, kind: &str, extra: Duration, after_write: bool) {
        self.delays.retain(|d| !d.kind.eq_ignore_ascii_case(kind));
        if !extra.is_zero() {
            self.delays.push(KindDelay {
                kind: kind.to_string(),
                extra,
                after_write,
            });
        }
    }

    /// The extra time a message of `kind` waits before it enters the network;
    /// `after_write` says whether its sender wrote before sending it.
    pub fn delay(&self, kind: &str, after_write: bool) -> Duration {
        self.delays
            .iter()
            .find(|d| d.kind.eq_ignore_ascii_case(kind))
            .filter(|d| after_write || !d.after_write)
            .map_or(Duration::ZERO, |d| d.extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_drop_names_one_kind_on_one_directed_link() {
        let mut rules = KindRules::default();
        assert!(rules.is_empty());
        rules.drop_kind(1, 3, "AppendEntries");
        rules.drop_kind(1, 3, "appendentries");
        assert_eq!(rules.kind_drops().len(), 1, "one rule per kind and link");
        assert!(rules.drops(1, 3, "APPENDENTRIES"));
        assert!(
            !rules.drops(3, 1, "AppendEntries"),
            "the other direction passes"
        );
        assert!(!rules.drops(1, 2, "AppendEntries"), "other links pass");
        assert!(!rules.drops(1, 3, "Heartbeat"), "other kinds pass");
        rules.drop_kind(1, 3, "Heartbeat");
        rules.stop_dropping(1, 3, Some("appendEntries"));
        assert!(!rules.drops(1, 3, "AppendEntries") && rules.drops(1, 3, "Heartbeat"));
        rules.stop_dropping(1, 3, None);
        assert!(rules.is_empty());
    }

    #[test]
    fn a_delay_applies_on_every_link_and_after_write_only_to_what_followed_a_write() {
        let mut rules = KindRules::default();
        rules.delay_kind("Vote", 15 * MS, false);
        assert_eq!(rules.delay("vote", false), 15 * MS);
        assert_eq!(rules.delay("vote", true), 15 * MS);
        assert_eq!(rules.delay("Heartbeat", true), Duration::ZERO);
        rules.delay_kind("VOTE", 5 * MS, true);
        assert_eq!(
            rules.delay("Vote", false),
            Duration::ZERO,
            "replaced; no write, no wait"
        );
        assert_eq!(rules.delay("Vote", true), 5 * MS);
        rules.drop_kind(1, 2, "Vote");
        rules.clear_drops();
        assert_eq!(rules.delay("Vote", true), 5 * MS, "delays outlive a heal");
        rules.delay_kind("Vote", Duration::ZERO, true);
        assert!(rules.is_empty());
    }
}
