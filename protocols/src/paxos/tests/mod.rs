//! Test support for Paxos: the generic [`Pump`] set up for Paxos clusters, and the
//! ways of running it that the scenarios share. Not a simulator (that is the `sim`
//! crate's job): the test decides which queued message is delivered, which is dropped,
//! which timer fires and which node crashes, so each classic case of "Paxos Made
//! Simple" §2 can be staged exactly.

mod check_quorum;
mod extremes;
mod invalid_input;
mod lease;
mod scenarios;
mod snapshot;
mod transfer;

use super::*;
use crate::pump::Pump;
use crate::types::{Command, RequestId};
use bytes::Bytes;

/// A command with a recognisable payload.
pub(crate) fn cmd(origin: NodeId, seq: u64) -> Command {
    Command {
        id: RequestId { origin, seq },
        data: Bytes::from(format!("c{origin}.{seq}")),
    }
}

/// A cluster of voters `1..=n`, none started.
pub(crate) fn cluster(n: u64, narrate: bool) -> Pump<Paxos> {
    Pump::new(Membership::voters(1..=n))
        .seed(11)
        .narrate(narrate)
}

/// A cluster of voters `1..=n`, all started.
pub(crate) fn started(n: u64, narrate: bool) -> Pump<Paxos> {
    let mut net = cluster(n, narrate);
    net.start_all();
    net
}

/// Paxos's ways of running the pump.
pub(crate) trait Elections {
    /// Node `id` times out and the network runs until quiet; if its ballot was too low
    /// (a Nack told it a higher one), it retries after its back-off, a few times.
    fn elect(&mut self, id: NodeId);
    /// Every running leader's heartbeat goes out and the network runs until quiet.
    fn heartbeat(&mut self);
}

impl Elections for Pump<Paxos> {
    fn elect(&mut self, id: NodeId) {
        self.fire(id, PaxosTimer::LeaderTimeout);
        self.deliver_all();
        for _ in 0..5 {
            if !self.is_armed(id, PaxosTimer::Backoff) || self.leaders().contains(&id) {
                return;
            }
            self.fire(id, PaxosTimer::Backoff);
            self.deliver_all();
        }
    }

    fn heartbeat(&mut self) {
        for id in self.leaders() {
            self.fire(id, PaxosTimer::Heartbeat);
        }
        self.deliver_all();
    }
}
