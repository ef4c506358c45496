//! Lease-based reads (Ongaro, PhD thesis, 2014, §6.4.1): a leader serves reads from
//! its own state, without a round trip, while it holds a lease.
//!
//! The lease comes from the rounds of [`super::RaftMessage::ReadProbe`] the leader sends
//! with every heartbeat: once a majority acknowledged a round sent at `start`, the lease
//! holds until `start + `[`crate::read::lease_span`], the minimum election timeout
//! shortened by the clock-drift bound [`crate::LEASE_DRIFT_PERCENT`] (10%). Why no
//! other leader can exist meanwhile: each follower that acknowledged the round received
//! it after `start`, restarted its election timeout (at least `election_timeout_min`)
//! and, with CheckQuorum ([`crate::Timing::check_quorum`], required for leases), ignores
//! RequestVotes until that much time has passed since it last heard the leader; a
//! majority of such followers cannot vote for anyone before the lease ends, even if its
//! clock runs up to the bound faster than the leader's.
//!
//! A read that arrives while the lease holds waits only for the read index
//! ([`super::read_index`] step 1) to be applied; one that arrives after it lapsed
//! waits for the next round, as ReadIndex does, and that round renews the lease. Unlike
//! ReadIndex, the lease is only as safe as the clocks: the thesis recommends ReadIndex
//! unless latency matters more.

use super::{Raft, RoleState};
use crate::node::Effects;
use crate::read::PendingRead;
use crate::types::Command;

impl Raft {
    /// A lease read: served at once (once the read index is applied) while the lease
    /// holds, otherwise after the next confirmed round.
    pub(super) fn lease_read(&mut self, cmd: Command, out: &mut Effects<Self>) {
        let Some(index) = self.read_index_now() else {
            self.reject_client(&cmd, out);
            return;
        };
        // A leader handing over ([`super::transfer`]) trusts its lease no more: the
        // target's election bypasses the lease the followers keep for it, so a new
        // leader may commit before the lease ends. Its reads wait for a confirmed round.
        let holds = self.transfer().is_none()
            && self
                .read_rounds
                .lease_holds(self.now, self.setup.timing.election_timeout_min);
        let round = if holds { 0 } else { self.read_rounds.next() };
        self.reads.push(PendingRead {
            id: cmd.id,
            round,
            index,
        });
    }

    /// At each heartbeat under lease reads: a round that renews the lease.
    pub(super) fn renew_lease(&mut self, out: &mut Effects<Self>) {
        if self.setup.timing.reads == crate::read::ReadPath::Lease
            && matches!(self.role, RoleState::Leader { .. })
        {
            self.start_read_round(out);
        }
    }
}
