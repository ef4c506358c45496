//! Leadership transfer (Ongaro, "Consensus: Bridging Theory and Practice", PhD thesis,
//! 2014, §3.10 "Leadership transfer extension"), as etcd-io/raft runs it
//! (`MsgTransferLeader`, `MsgTimeoutNow`, the `campaignTransfer` election).
//!
//! A planned failover: the leader is to be restarted, or another server is a better
//! leader. Waiting for the leader to stop and for an election timeout costs one timeout
//! of unavailability; a transfer hands leadership over in about one round trip. The
//! thesis's steps, and what this module does for each:
//! 1. "The prior leader stops accepting new client requests." From the request on, the
//!    leader refuses commands ([`crate::ClientError::NotLeader`], naming the target),
//!    so its log stops growing and the target can catch up with it.
//! 2. "The prior leader fully updates the target server's log to match its own, using
//!    the normal log replication mechanism." The target's AppendEntries go on as usual;
//!    each success is checked against the leader's last index.
//! 3. "The prior leader sends a TimeoutNow request to the target server. This request
//!    has the same effect as the target server's election timer firing: the target
//!    server starts a new election." [`super::RaftMessage::TimeoutNow`] goes out the
//!    moment the target's match index reaches the leader's last index (at once if it is
//!    there already).
//! 4. The target campaigns at once, skipping PreVote (§9.6: a pre-vote would be refused,
//!    since every server hears the leader), and its RequestVotes are marked
//!    ([`super::RaftMessage::TransferVote`], etcd's `campaignTransfer` context) so that
//!    voters do not ignore them under the CheckQuorum lease. The vote itself is a normal
//!    one (one per term, §5.4.1's up-to-date check); the old leader sees the higher term
//!    and steps down as for any election.
//! 5. "If the transfer does not complete within an election timeout, the prior leader
//!    aborts the transfer and resumes accepting client requests." Checked at each
//!    heartbeat against [`crate::Timing::election_timeout_max`]; the target may be down
//!    or cut off.
//!
//! Leases (§6.4.1): the marked votes bypass the lease the followers keep for the old
//! leader, so from the request on that leader serves no read on its lease alone; each
//! waits for a round of heartbeats a majority acknowledges, as ReadIndex does
//! ([`super::lease`]).
//!
//! A second request for another target replaces the first (etcd does the same); a
//! request for the same target is ignored while it runs; a request for the leader
//! itself, or for a server that cannot lead (an observer, a stranger) is narrated and
//! ignored. A follower that is asked (an operator's `cwb transfer` reached it rather
//! than the leader) sends the request on to the leader it follows
//! ([`super::RaftMessage::TransferLeader`], as etcd's follower forwards
//! `MsgTransferLeader` to its `lead`); the leader takes it only in the follower's own
//! term, and a request that arrives by message is never sent on again, so none can
//! circle. A candidate, or a follower that knows no leader, ignores the request.

use super::{Raft, RaftMessage, RoleState, Term};
use crate::effect::ClientError;
use crate::node::Effects;
use crate::output::Output;
use crate::types::{Command, NodeId, Time};

/// A leadership transfer under way at the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The server that is to lead next.
    pub to: NodeId,
    /// When the request arrived (the transfer is aborted an election timeout later).
    pub started: Time,
    /// Whether TimeoutNow was sent (once the target caught up).
    pub timeout_now_sent: bool,
}

impl Raft {
    /// The transfer this leader runs, if any.
    pub fn transfer(&self) -> Option<Transfer> {
        match &self.role {
            RoleState::Leader { transfer, .. } => *transfer,
            _ => None,
        }
    }

    /// `Input::TransferLeadership { to }`: step 1 of §3.10, then steps 2 and 3 as far
    /// as the target's log allows now.
    pub(super) fn start_transfer(&mut self, to: NodeId, out: &mut Effects<Self>) {
        let (me, term, narrate, now) = (self.id(), self.term, self.setup.narrate, self.now);
        let RoleState::Leader { transfer, .. } = &mut self.role else {
            match self.leader.filter(|&l| l != me) {
                Some(leader) if matches!(self.role, RoleState::Follower) => {
                    out.narrate(narrate, || {
                        format!("send the request to transfer leadership to {to} on to our leader {leader}")
                    });
                    out.send(leader, RaftMessage::TransferLeader { term, to });
                }
                _ => out.narrate(narrate, || {
                    format!("ignore the request to transfer leadership to {to}: we do not lead and know no leader")
                }),
            }
            return;
        };
        if to == me || !self.setup.membership.is_voter(to) {
            out.narrate(narrate, || {
                format!(
                    "ignore the request to transfer leadership to {to}: it is not another voter"
                )
            });
            return;
        }
        if transfer.is_some_and(|t| t.to == to) {
            out.narrate(narrate, || {
                format!("a transfer to {to} is already under way")
            });
            return;
        }
        if let Some(old) = transfer.replace(Transfer {
            to,
            started: now,
            timeout_now_sent: false,
        }) {
            let was = old.to;
            out.narrate(narrate, || {
                format!("abort the transfer to {was}: a transfer to {to} replaces it")
            });
        }
        out.narrate(narrate, || {
            format!(
                "transfer leadership of term {term} to {to}: refuse new commands, bring its log \
                 up to date, then tell it to campaign (thesis §3.10)"
            )
        });
        self.transfer_if_caught_up(to, out);
        if self.transfer().is_some_and(|t| !t.timeout_now_sent) {
            self.send_append(to, true, out);
        }
    }

    /// A follower's [`RaftMessage::TransferLeader`]: taken as the operator's own request
    /// when we lead the follower's term; never sent on again.
    pub(super) fn on_transfer_request(
        &mut self,
        from: NodeId,
        term: Term,
        to: NodeId,
        out: &mut Effects<Self>,
    ) {
        if term != self.term || !matches!(self.role, RoleState::Leader { .. }) {
            let narrate = self.setup.narrate;
            out.narrate(narrate, || {
                format!("ignore {from}'s request to transfer leadership to {to} (its term {term}): we do not lead it")
            });
            return;
        }
        self.start_transfer(to, out);
    }

    /// Step 3: sends TimeoutNow once the target `from` holds our whole log.
    pub(super) fn transfer_if_caught_up(&mut self, from: NodeId, out: &mut Effects<Self>) {
        let (last, term, narrate) = (self.log.last_index(), self.term, self.setup.narrate);
        let RoleState::Leader {
            progress, transfer, ..
        } = &mut self.role
        else {
            return;
        };
        let Some(t) = transfer
            .as_mut()
            .filter(|t| t.to == from && !t.timeout_now_sent)
        else {
            return;
        };
        let matched = progress.get(&from).map_or(0, |p| p.match_index);
        if matched < last {
            out.narrate(narrate, || {
                format!(
                    "transfer: {from} holds up to index {matched} of our {last}; catching it up"
                )
            });
            return;
        }
        t.timeout_now_sent = true;
        out.narrate(narrate, || {
            format!("transfer: {from} holds our whole log (index {last}); TimeoutNow")
        });
        out.send(from, RaftMessage::TimeoutNow { term });
    }

    /// Step 1: a leader handing over refuses new commands, naming the target.
    pub(super) fn refuses_during_transfer(&self, cmd: &Command, out: &mut Effects<Self>) -> bool {
        let Some(t) = self.transfer() else {
            return false;
        };
        out.reject(cmd.id, ClientError::NotLeader { leader: Some(t.to) });
        true
    }

    /// Step 5: at a heartbeat, gives up a transfer older than an election timeout.
    pub(super) fn abort_transfer_if_late(&mut self, out: &mut Effects<Self>) {
        let (now, limit, narrate) = (
            self.now,
            self.setup.timing.election_timeout_max,
            self.setup.narrate,
        );
        let RoleState::Leader { transfer, .. } = &mut self.role else {
            return;
        };
        if let Some(t) = transfer.filter(|t| now.since(t.started) >= limit) {
            *transfer = None;
            out.narrate(narrate, || {
                format!(
                    "abort the transfer to {}: no new leader within an election timeout \
                     ({} ms); accepting commands again (thesis §3.10)",
                    t.to,
                    limit.as_millis()
                )
            });
        }
    }

    /// Step 4, at the target: TimeoutNow from the leader of our term starts an election
    /// at once, without PreVote, its votes marked as a transfer's.
    pub(super) fn on_timeout_now(&mut self, from: NodeId, term: Term, out: &mut Effects<Self>) {
        let narrate = self.setup.narrate;
        if term != self.term
            || matches!(self.role, RoleState::Leader { .. })
            || !self.setup.membership.is_voter(self.id())
        {
            out.narrate(narrate, || {
                format!(
                    "ignore TimeoutNow from {from} for term {term}: stale, or we cannot campaign"
                )
            });
            return;
        }
        self.campaign_as(
            &format!("TimeoutNow from leader {from} (leadership transfer, thesis §3.10)"),
            true,
            out,
        );
    }
}
