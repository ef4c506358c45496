//! ZAB's messages in the words of ZooKeeper's own packet types (NOTIFICATION,
//! FOLLOWERINFO, LEADERINFO, ACKEPOCH, DIFF/TRUNC/SNAP, NEWLEADER, UPTODATE, PROPOSAL,
//! ACK, COMMIT, INFORM, PING), for timelines and diagrams. PINGs are routine.

use crate::describe::{starts_with_any, Describe, LogEntry, Narration, Vocabulary};
use crate::zab::{Notification, PeerMessage, ServerState, Txn, Zab, ZabMessage, Zxid};
use crate::Command;

fn txns(list: &[Txn], command: &dyn Fn(&Command) -> String) -> String {
    match list {
        [] => "no proposals".into(),
        [one] => format!("{} {}", one.zxid, command(&one.command)),
        [first, .., last] => format!("{} proposals {}..{}", list.len(), first.zxid, last.zxid),
    }
}

/// ZooKeeper's name for a server state (`LOOKING`, `FOLLOWING`, ...).
pub(super) fn zab_state(s: ServerState) -> &'static str {
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

impl Describe for Zab {
    fn vocabulary() -> Vocabulary {
        Vocabulary {
            protocol: "zab",
            generation: <Self as crate::Protocol>::GENERATION,
            show_term: <Self as crate::Protocol>::show_generation,
            show_entries: |first, last, epoch| {
                let z = |c: u64| Zxid::new(epoch as u32, c as u32);
                if first == last {
                    z(first).to_string()
                } else {
                    format!("{}..{}", z(first), z(last))
                }
            },
            log_legend: "0x100000004 = zxid of epoch 1, counter 4 (the 4th proposal of epoch 1); a..b = the proposals between",
        }
    }

    fn vote(&self) -> Option<String> {
        let leader = self.election.proposal().leader;
        (leader != 0).then(|| format!("votes for {leader}"))
    }

    fn log_view(&self) -> Vec<LogEntry> {
        self.history
            .txns
            .iter()
            .enumerate()
            .map(|(i, t)| LogEntry {
                index: u64::from(t.zxid.counter()),
                generation: u64::from(t.zxid.epoch()),
                committed: self.history.base + i < self.history.delivered,
            })
            .collect()
    }

    fn describe(msg: &ZabMessage, command: &dyn Fn(&Command) -> String) -> String {
        let body = match msg {
            ZabMessage::Notification(n) => return notification(n),
            ZabMessage::Handoff(h) => {
                return format!(
                    "HANDOFF epoch {}: step down, vote for {} (zxid {})",
                    h.epoch, h.designated.leader, h.designated.zxid
                )
            }
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
            PeerMessage::Diff { epoch, txns: t } => {
                format!("DIFF {} (epoch {epoch})", txns(t, command))
            }
            PeerMessage::Trunc {
                epoch,
                truncate_to,
                txns: t,
            } => format!(
                "TRUNC to {truncate_to}, then {} (epoch {epoch})",
                txns(t, command)
            ),
            PeerMessage::Snap {
                epoch,
                last_index,
                last_zxid,
                size,
                offset,
                data,
                done,
            } => format!(
                "SNAP image through {last_index} ({last_zxid}), bytes {offset}..{} of {size}{} (epoch {epoch})",
                offset.saturating_add(data.len() as u64),
                if *done { ", last chunk" } else { "" }
            ),
            PeerMessage::SnapAck { received } => format!("SNAP-ACK {received} bytes held"),
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
                format!("INFORM {}, committed through {committed}", txns(t, command))
            }
            PeerMessage::Ping { epoch } => format!("PING epoch {epoch}"),
            PeerMessage::Request { command: c } => format!("REQUEST {}", command(c)),
            PeerMessage::Sync { token } => format!("SYNC {token}"),
            PeerMessage::SyncReply { token, zxid } => format!("SYNC {token} answered: {zxid}"),
        }
    }

    /// Broadcast (Zab paper §5.3; ZooKeeper's `Leader.processAck`): the leader's commit
    /// point (`commits zxid ...: ACKed by ...`) is the fate of a write; its PROPOSAL,
    /// the COMMIT flush and every server's delivery repeat for each write. Election,
    /// Discovery and Synchronization lines are decisions.
    fn narration(text: &str) -> Narration {
        if starts_with_any(text, &["commits zxid"]) {
            Narration::Commit
        } else if starts_with_any(text, &["PROPOSAL ", "flush: COMMIT", "deliver indexes"]) {
            Narration::Routine
        } else {
            Narration::Decision
        }
    }

    fn arrow_label(msg: &ZabMessage) -> Option<String> {
        match msg {
            ZabMessage::Notification(n) => Some(format!(
                "vote {} r{}{}",
                n.vote.leader,
                n.round,
                match n.state {
                    ServerState::Looking => "",
                    ServerState::Following => " F",
                    ServerState::Leading => " L",
                    ServerState::Observing => " O",
                }
            )),
            _ => None,
        }
    }

    fn routine(msg: &ZabMessage) -> bool {
        matches!(msg.body(), Some(PeerMessage::Ping { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::{Vote, Zxid};

    #[test]
    fn broadcast_lines_are_routine_and_elections_are_decisions() {
        assert_eq!(
            Zab::narration("commits zxid 0x100000001: ACKed by 3, 1; deliver, COMMIT at the flush"),
            Narration::Commit
        );
        for routine in [
            "PROPOSAL 0x100000001 to [1, 2]",
            "flush: COMMIT 0x100000001 to [1, 2]",
            "deliver indexes 1..=1 (through zxid 0x100000001)",
        ] {
            assert_eq!(Zab::narration(routine), Narration::Routine, "{routine}");
        }
        for decision in [
            "round 1: vote for myself (zxid 0x0, epoch 0)",
            "epoch quorum [2, 3]: highest accepted epoch 0, propose new epoch 1",
            "sync 1: DIFF of 0 proposals after 0x0; then NEWLEADER 1",
            "back to LOOKING: lost the quorum",
            "drop REQUEST from 2: not established yet",
        ] {
            assert_eq!(Zab::narration(decision), Narration::Decision, "{decision}");
        }
    }

    #[test]
    fn notifications_read_like_fast_leader_election() {
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
            Zab::describe(&n, &|_| String::new()),
            "NOTIFICATION vote 3 (zxid 0x100000009, epoch 1) round 2 LOOKING"
        );
        assert!(!Zab::routine(&n));
    }
}
