//! Short readable forms of each protocol's messages, for timelines and diagrams.
//!
//! Each form names the message the way its protocol's own sources do (ZooKeeper's
//! packet types, the Raft paper's RPCs, Lamport's Prepare/Promise/Accept/Accepted) and
//! shows only the fields a reader needs to follow the run:
//! `NOTIFICATION vote 3 (zxid 0x100000009, epoch 1) round 2 LOOKING`,
//! `RequestVote term 2, last entry 9@1`, `Accept 2.1: era 2 = node 1; slots 10..=12`.
//! "Routine" messages (heartbeats and their acknowledgements) are hidden from the
//! default timeline and diagram so that elections stay readable.

use kv::{KvCommand, KvOp};
use protocols::paxos::{Paxos, PaxosMessage, SlotValue};
use protocols::preload::Preload;
use protocols::raft::{Raft, RaftMessage};
use protocols::zab::{Notification, PeerMessage, ServerState, Txn, Zab, ZabMessage};
use protocols::Command;

/// How a timeline names one protocol's things.
#[derive(Clone, Copy, Debug)]
pub struct Vocabulary {
    /// The protocol's name.
    pub protocol: &'static str,
    /// What the protocol calls a leadership generation: "term", "epoch", "ballot".
    pub generation: &'static str,
    /// Formats a generation as the protocol writes it (Paxos ballots as `round.node`).
    pub show_term: fn(u64) -> String,
}

/// A protocol that scenarios can run and narrate.
pub trait Scripted: Preload {
    /// The protocol's names for its things.
    fn vocabulary() -> Vocabulary;
    /// A one-line form of `msg`.
    fn describe(msg: &Self::Message) -> String;
    /// Whether `msg` is a heartbeat or a routine acknowledgement.
    fn routine(msg: &Self::Message) -> bool;
}

/// `put k=v`, `get k`, or the command's text.
pub fn command(c: &Command) -> String {
    match KvCommand::decode(&c.data).map(|c| c.op) {
        Some(KvOp::Put { key, value }) => format!(
            "put {}={}",
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(&value)
        ),
        Some(KvOp::Get { key }) => format!("get {}", String::from_utf8_lossy(&key)),
        Some(KvOp::Set { key, value }) => format!(
            "set {}={}",
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(&value)
        ),
        None => {
            let text = String::from_utf8_lossy(&c.data);
            if text.chars().count() > 24 {
                format!("{}…", text.chars().take(24).collect::<String>())
            } else {
                text.into_owned()
            }
        }
    }
}

fn plain(term: u64) -> String {
    term.to_string()
}

fn ballot(term: u64) -> String {
    protocols::paxos::Ballot::new(term >> protocols::paxos::ballot::NODE_BITS, term & 0xffff)
        .to_string()
}

fn txns(list: &[Txn]) -> String {
    match list {
        [] => "no proposals".into(),
        [one] => format!("{} {}", one.zxid, command(&one.command)),
        [first, .., last] => format!("{} proposals {}..{}", list.len(), first.zxid, last.zxid),
    }
}

fn zab_state(s: ServerState) -> &'static str {
    match s {
        ServerState::Looking => "LOOKING",
        ServerState::Following => "FOLLOWING",
        ServerState::Leading => "LEADING",
        ServerState::Observing => "OBSERVING",
    }
}

fn notification(n: &Notification) -> String {
    format!(
        "NOTIFICATION vote {} (zxid {}, epoch {}) round {} {}",
        n.vote.leader,
        n.vote.zxid,
        n.vote.peer_epoch,
        n.round,
        zab_state(n.state)
    )
}

impl Scripted for Zab {
    fn vocabulary() -> Vocabulary {
        Vocabulary {
            protocol: "zab",
            generation: "epoch",
            show_term: plain,
        }
    }

    fn describe(msg: &ZabMessage) -> String {
        let body = match msg {
            ZabMessage::Notification(n) => return notification(n),
            ZabMessage::Peer { body, .. } => body,
        };
        match body {
            PeerMessage::FollowerInfo { accepted_epoch } => {
                format!("FOLLOWERINFO accepted epoch {accepted_epoch}")
            }
            PeerMessage::ObserverInfo { accepted_epoch } => {
                format!("OBSERVERINFO accepted epoch {accepted_epoch}")
            }
            PeerMessage::LeaderInfo { new_epoch } => format!("LEADERINFO new epoch {new_epoch}"),
            PeerMessage::AckEpoch {
                current_epoch,
                last_zxid,
            } => match current_epoch {
                Some(e) => format!("ACKEPOCH current epoch {e}, last zxid {last_zxid}"),
                None => format!("ACKEPOCH (epoch already accepted), last zxid {last_zxid}"),
            },
            PeerMessage::Diff { epoch, txns: t } => format!("DIFF {} (epoch {epoch})", txns(t)),
            PeerMessage::Trunc {
                epoch,
                truncate_to,
                txns: t,
            } => format!("TRUNC to {truncate_to}, then {} (epoch {epoch})", txns(t)),
            PeerMessage::Snap {
                epoch,
                snapshot,
                txns: t,
            } => format!(
                "SNAP {} committed, then {} (epoch {epoch})",
                snapshot.len(),
                txns(t)
            ),
            PeerMessage::NewLeader { epoch } => format!("NEWLEADER epoch {epoch}"),
            PeerMessage::Ack { zxid } => format!("ACK {zxid}"),
            PeerMessage::UpToDate { epoch, committed } => {
                format!("UPTODATE epoch {epoch}, committed through {committed}")
            }
            PeerMessage::Proposal { txn } => {
                format!("PROPOSAL {} {}", txn.zxid, command(&txn.command))
            }
            PeerMessage::Commit { zxid } => format!("COMMIT {zxid}"),
            PeerMessage::Inform { txns: t, committed } => {
                format!("INFORM {}, committed through {committed}", txns(t))
            }
            PeerMessage::Ping { epoch } => format!("PING epoch {epoch}"),
            PeerMessage::Request { command: c } => format!("REQUEST {}", command(c)),
        }
    }

    fn routine(msg: &ZabMessage) -> bool {
        matches!(msg.body(), Some(PeerMessage::Ping { .. }))
    }
}

impl Scripted for Raft {
    fn vocabulary() -> Vocabulary {
        Vocabulary {
            protocol: "raft",
            generation: "term",
            show_term: plain,
        }
    }

    fn describe(msg: &RaftMessage) -> String {
        match msg {
            RaftMessage::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => format!("RequestVote term {term}, last entry {last_log_index}@{last_log_term}"),
            RaftMessage::RequestVoteResponse { term, granted } => {
                if *granted {
                    format!("vote GRANTED (term {term})")
                } else {
                    format!("vote refused (term {term})")
                }
            }
            RaftMessage::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => {
                let what = match entries.as_slice() {
                    [] => return format!("Heartbeat term {term}, commit {leader_commit}"),
                    [one] => match &one.command {
                        Some(c) => format!("entry {} {}", prev_log_index + 1, command(c)),
                        None => format!("entry {} no-op", prev_log_index + 1),
                    },
                    many => format!(
                        "entries {}..={}",
                        prev_log_index + 1,
                        prev_log_index + many.len() as u64
                    ),
                };
                format!(
                    "AppendEntries term {term} after {prev_log_index}@{prev_log_term}: {what}, commit {leader_commit}"
                )
            }
            RaftMessage::AppendEntriesResponse {
                term,
                success,
                index,
            } => {
                if *success {
                    format!("AppendEntries ok (term {term}), match {index}")
                } else {
                    format!("AppendEntries rejected (term {term}), retry from {index}")
                }
            }
        }
    }

    fn routine(msg: &RaftMessage) -> bool {
        match msg {
            RaftMessage::AppendEntries { entries, .. } => entries.is_empty(),
            RaftMessage::AppendEntriesResponse { success, .. } => *success,
            _ => false,
        }
    }
}

fn slot_range(slots: &[u64]) -> String {
    match slots {
        [] => "no slots".into(),
        [one] => format!("slot {one}"),
        [first, .., last] => format!("slots {first}..={last}"),
    }
}

fn slot_values(slots: &[(u64, SlotValue)]) -> String {
    match slots {
        [] => "no slots".into(),
        [(slot, Some(c))] => format!("slot {slot} {}", command(c)),
        [(slot, None)] => format!("slot {slot} no-op"),
        [(first, _), .., (last, _)] => format!("slots {first}..={last}"),
    }
}

impl Scripted for Paxos {
    fn vocabulary() -> Vocabulary {
        Vocabulary {
            protocol: "paxos",
            generation: "ballot",
            show_term: ballot,
        }
    }

    fn describe(msg: &PaxosMessage) -> String {
        match msg {
            PaxosMessage::Prepare {
                ballot,
                era_from,
                slot_from,
            } => format!("Prepare {ballot} (eras from {era_from}, slots from {slot_from})"),
            PaxosMessage::Promise {
                ballot,
                chosen_era,
                eras,
                chosen,
                accepted,
            } => {
                let mut parts = Vec::new();
                if let Some((era, v)) = chosen_era {
                    parts.push(format!("era {era} chosen = node {}", v.leader));
                }
                if let Some(e) = eras.last() {
                    parts.push(format!(
                        "accepted era {} = node {} at {}",
                        e.era, e.value.leader, e.ballot
                    ));
                }
                if !chosen.is_empty() {
                    parts.push(format!("{} chosen slot(s)", chosen.len()));
                }
                if !accepted.is_empty() {
                    parts.push(format!("{} accepted slot(s)", accepted.len()));
                }
                if parts.is_empty() {
                    format!("Promise {ballot}: nothing accepted")
                } else {
                    format!("Promise {ballot}: {}", parts.join(", "))
                }
            }
            PaxosMessage::Accept {
                ballot,
                era,
                slots,
                commit,
            } => {
                let mut parts = Vec::new();
                if let Some((e, v)) = era {
                    parts.push(format!("era {e} = node {}", v.leader));
                }
                if !slots.is_empty() {
                    parts.push(slot_values(slots));
                }
                format!("Accept {ballot}: {}; commit {commit}", parts.join(", "))
            }
            PaxosMessage::Accepted { ballot, era, slots } => {
                let mut parts = Vec::new();
                if let Some(e) = era {
                    parts.push(format!("era {e}"));
                }
                if !slots.is_empty() {
                    parts.push(slot_range(slots));
                }
                format!("Accepted {ballot}: {}", parts.join(", "))
            }
            PaxosMessage::Nack { ballot, higher } => {
                format!("Nack {ballot}: pre-empted by {higher}")
            }
            PaxosMessage::Heartbeat {
                ballot,
                era,
                commit,
            } => format!("Heartbeat {ballot} era {era}, commit {commit}"),
            PaxosMessage::CatchUp { from } => format!("CatchUp from slot {from}"),
            PaxosMessage::Chosen {
                commit,
                from,
                values,
            } => match values.len() as u64 {
                0 => format!("Chosen nothing new (commit {commit})"),
                n => format!("Chosen slots {from}..={} (commit {commit})", from + n - 1),
            },
        }
    }

    fn routine(msg: &PaxosMessage) -> bool {
        matches!(msg, PaxosMessage::Heartbeat { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::zab::{Vote, Zxid};

    #[test]
    fn zab_notifications_read_like_fast_leader_election() {
        let n = ZabMessage::Notification(Notification {
            vote: Vote {
                leader: 3,
                zxid: Zxid::new(1, 9),
                peer_epoch: 1,
            },
            round: 2,
            state: ServerState::Looking,
        });
        assert_eq!(
            Zab::describe(&n),
            "NOTIFICATION vote 3 (zxid 0x100000009, epoch 1) round 2 LOOKING"
        );
        assert!(!Zab::routine(&n));
    }

    #[test]
    fn raft_heartbeats_are_routine() {
        let hb = RaftMessage::AppendEntries {
            term: 2,
            prev_log_index: 4,
            prev_log_term: 2,
            entries: Vec::new(),
            leader_commit: 4,
        };
        assert_eq!(Raft::describe(&hb), "Heartbeat term 2, commit 4");
        assert!(Raft::routine(&hb));
        let rv = RaftMessage::RequestVote {
            term: 2,
            last_log_index: 9,
            last_log_term: 1,
        };
        assert_eq!(Raft::describe(&rv), "RequestVote term 2, last entry 9@1");
    }

    #[test]
    fn paxos_terms_print_as_ballots() {
        let b = protocols::paxos::Ballot::new(3, 2);
        assert_eq!((Paxos::vocabulary().show_term)(b.as_u64()), "3.2");
        let put = Command {
            id: protocols::RequestId { origin: 1, seq: 1 },
            data: KvCommand {
                session: kv::Session::NONE,
                op: KvOp::Put {
                    key: "k1".into(),
                    value: "v1".into(),
                },
            }
            .encode(),
        };
        assert_eq!(command(&put), "put k1=v1");
    }
}
