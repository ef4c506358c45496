//! ZooKeeper's read paths ([`crate::Timing::reads`], [`crate::read`]).
//!
//! - Local reads ([`ReadPath::Local`]), ZooKeeper's default: every server answers
//!   reads from its own replica ("ZooKeeper: Wait-free coordination for Internet-scale
//!   systems", Hunt et al., USENIX ATC 2010, §4: "read requests are handled locally at
//!   each server"). A follower behind its leader, or one still following a leader
//!   that was deposed, answers with an older state: the paper's guarantee is
//!   sequential consistency per client (its reads never go back in time on one
//!   server, and it sees its own writes in order), not linearizability. A LOOKING
//!   server serves nothing.
//! - `sync` then read ([`ReadPath::Sync`]; ZooKeeper's `sync` API, the paper's §2.3:
//!   "sync causes a server to apply all pending write requests before processing the
//!   read"): the server asks its leader (a `SYNC` in the learner session), the leader
//!   answers with the zxid of the last transaction it proposed, and the server
//!   answers the read once it has delivered that zxid. A leader does the same with its
//!   own last zxid. As in ZooKeeper, the leader does not confirm with a quorum that it
//!   still leads: a leader deposed without knowing it could answer a `sync` from its
//!   old history. Its own step-down after `syncLimit` silent ticks, before any new
//!   leader can finish FastLeaderElection's finalize wait and Synchronization, closes
//!   that window in practice; the chaos sweeps check the histories.
//! - Other paths (ReadIndex and leases are Raft's and Paxos's) go through the log.

use super::{Out, PeerMessage, Phase, Zab};
use crate::effect::ClientError;
use crate::output::Output;
use crate::read::ReadPath;
use crate::types::{Command, RequestId};
use crate::zab::zxid::Zxid;

/// A `sync` read waiting: for the leader's answer (`upto` unknown), then for the zxid
/// it named to be delivered here.
#[derive(Clone, Debug)]
pub(super) struct SyncRead {
    /// The client request.
    id: RequestId,
    /// Our number for the SYNC we sent.
    token: u64,
    /// The zxid we must have delivered, once the leader named it.
    upto: Option<Zxid>,
}

impl Zab {
    /// A read-only command arrived: served by the run's read path.
    pub(super) fn on_read(&mut self, command: Command, out: &mut Out) {
        match self.setup_reads {
            ReadPath::Local => {
                if self.serves_clients() {
                    out.serve_read(command.id);
                } else {
                    self.refuse_read(command.id, out);
                }
            }
            ReadPath::Sync => self.sync_read(command.id, out),
            ReadPath::Log | ReadPath::Index | ReadPath::Lease => self.on_client(command, out),
        }
    }

    /// Whether this server is connected to an established leader (or is one).
    fn serves_clients(&self) -> bool {
        match &self.phase {
            Phase::Leading(l) => l.is_established(),
            Phase::Learning(l) => l.is_serving(),
            Phase::Looking => false,
        }
    }

    fn refuse_read(&self, id: RequestId, out: &mut Out) {
        let leader = match &self.phase {
            Phase::Learning(l) => Some(l.leader),
            _ => None,
        };
        out.reject(id, ClientError::NotLeader { leader });
    }

    /// `sync` then read: a learner asks its leader; the leader names its own last zxid.
    fn sync_read(&mut self, id: RequestId, out: &mut Out) {
        if !self.serves_clients() {
            self.refuse_read(id, out);
            return;
        }
        self.next_sync_token += 1;
        let token = self.next_sync_token;
        let upto = match &self.phase {
            Phase::Leading(_) => Some(self.history.last_zxid()),
            _ => None,
        };
        self.sync_reads.push(SyncRead { id, token, upto });
        if upto.is_none() {
            self.send_to_leader(out, PeerMessage::Sync { token });
        }
    }

    /// Leader: a learner's SYNC; the answer names the last zxid proposed, and leaves
    /// behind every PROPOSAL and COMMIT sent before it (the session keeps their order).
    pub(super) fn on_sync_request(&mut self, from: crate::NodeId, token: u64, out: &mut Out) {
        let zxid = self.history.last_zxid();
        self.send_ahead_to_learner(out, from, PeerMessage::SyncReply { token, zxid });
    }

    /// Learner: the leader answered our SYNC `token` with `zxid`.
    pub(super) fn on_sync_reply(&mut self, token: u64, zxid: Zxid) {
        if let Some(r) = self.sync_reads.iter_mut().find(|r| r.token == token) {
            r.upto = Some(zxid);
        }
    }

    /// Serves every `sync` read whose zxid is delivered here.
    pub(super) fn serve_sync_reads(&mut self, out: &mut Out) {
        if self.sync_reads.is_empty() {
            return;
        }
        let delivered = self.history.delivered_zxid();
        self.sync_reads.retain(|r| {
            let go = r.upto.is_some_and(|z| z <= delivered);
            if go {
                out.serve_read(r.id);
            }
            !go
        });
    }

    /// Leaving the role: the `sync` reads still waiting are refused (the client tries
    /// again elsewhere).
    pub(super) fn refuse_sync_reads(&mut self, out: &mut Out) {
        for r in std::mem::take(&mut self.sync_reads) {
            out.reject(r.id, ClientError::NotLeader { leader: None });
        }
    }
}
