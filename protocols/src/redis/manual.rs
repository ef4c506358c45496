//! Manual failover, `CLUSTER FAILOVER` (Redis Cluster Specification, "Manual failover";
//! `clusterHandleManualFailover` in the reference implementation).
//!
//! 1. The replica asks its master to stop (`MFSTART`) and gives itself
//!    `CLUSTER_MF_TIMEOUT` (5 s) to finish.
//! 2. The master pauses its clients (commands are held, not refused) and pings the
//!    replica with the `PAUSED` flag and its replication offset.
//! 3. Once the replica's offset reaches that offset it has every acknowledged write, and
//!    it asks for votes at once: no election delay, and the masters vote although its
//!    master is not failed (`FORCEACK`).
//! 4. Promoted, its pong moves the slots; the old master becomes its replica and the
//!    commands it held are redirected to the new master. If time runs out, the replica
//!    gives up and the master resumes.
//!
//! No acknowledged write is lost this way: that is the difference from a failover after
//! a crash.

use super::{Header, Redis, RedisMessage};
use crate::node::Effects;
use crate::output::Output;
use crate::types::{NodeId, Time};
use thiserror::Error;

/// A replica's manual failover in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manual {
    /// When it is abandoned.
    pub end: Time,
    /// The master's offset once it paused.
    pub master_offset: Option<u64>,
    /// We reached that offset: the election may start.
    pub can_start: bool,
}

/// A master paused for a replica's manual failover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    /// The replica taking over.
    pub replica: NodeId,
    /// When the pause ends if the failover did not happen (twice the timeout).
    pub until: Time,
}

/// Why `CLUSTER FAILOVER` cannot start.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ManualFailoverError {
    /// Only a replica can take over its master.
    #[error("CLUSTER FAILOVER must be sent to a replica")]
    NotAReplica,
    /// One is already running.
    #[error("a manual failover is already in progress")]
    InProgress,
}

impl Redis {
    /// `CLUSTER FAILOVER` sent to this node at `now` (a replica).
    pub fn manual_failover(
        &mut self,
        now: Time,
        out: &mut Effects<Self>,
    ) -> Result<(), ManualFailoverError> {
        self.now = now;
        let Some(m) = self.master() else {
            return Err(ManualFailoverError::NotAReplica);
        };
        if self.manual.is_some() {
            return Err(ManualFailoverError::InProgress);
        }
        self.manual = Some(Manual {
            end: now.plus(self.settings.manual_timeout),
            master_offset: None,
            can_start: false,
        });
        out.narrate(self.setup.narrate, || {
            format!("CLUSTER FAILOVER: ask master n{m} to pause its clients")
        });
        out.send(m, RedisMessage::MfStart);
        Ok(())
    }

    /// Whether a manual failover is in progress here (replica side).
    pub fn manual(&self) -> Option<&Manual> {
        self.manual.as_ref()
    }

    /// Whether we are a master paused for a manual failover.
    pub fn paused(&self) -> bool {
        self.pause.is_some()
    }

    pub(crate) fn on_mf_start(&mut self, from: NodeId, out: &mut Effects<Self>) {
        let ours = self
            .nodes
            .get(&from)
            .is_some_and(|p| p.master == Some(self.setup.id));
        if !self.is_master() || !ours {
            return;
        }
        self.pause = Some(Pause {
            replica: from,
            until: self.now.plus(self.settings.manual_timeout * 2),
        });
        let offset = self.stream.offset();
        out.narrate(self.setup.narrate, || {
            format!("MFSTART from n{from}: pause clients; our offset is {offset}")
        });
        // The stream first, then the PAUSED ping with the offset to reach.
        self.flush_stream(out);
        self.ping(from, out);
    }

    /// A header from our master: note its offset when it says it paused for us.
    pub(crate) fn after_header(&mut self, from: NodeId, h: &Header, out: &mut Effects<Self>) {
        if self.master() != Some(from) || !h.mf_paused {
            return;
        }
        if let Some(mf) = self.manual.as_mut() {
            if mf.master_offset.is_none() {
                mf.master_offset = Some(h.offset);
                out.narrate(self.setup.narrate, || {
                    format!("master n{from} paused at offset {}", h.offset)
                });
            }
        }
        self.after_offset_change(out);
    }

    /// Our offset changed or we learnt the paused master's: may the election start?
    pub(crate) fn after_offset_change(&mut self, out: &mut Effects<Self>) {
        let ours = self.stream.offset();
        let Some(mf) = self.manual.as_mut() else {
            return;
        };
        if mf.can_start || mf.master_offset != Some(ours) {
            return;
        }
        mf.can_start = true;
        out.narrate(self.setup.narrate, || {
            format!("caught up with the paused master at offset {ours}")
        });
        self.election_cron(out);
    }

    /// Timeouts of both sides.
    pub(crate) fn manual_cron(&mut self, out: &mut Effects<Self>) {
        let now = self.now;
        if self.manual.as_ref().is_some_and(|mf| now > mf.end) {
            self.manual = None;
            if self.election.as_ref().is_some_and(|e| e.manual) {
                self.election = None;
            }
            out.narrate(self.setup.narrate, || {
                "manual failover timed out: abandoned".into()
            });
        }
        if self.pause.is_some_and(|p| now > p.until) {
            out.narrate(self.setup.narrate, || {
                "manual failover did not happen: resume clients".into()
            });
            self.resume(out);
        }
    }

    /// Ends a pause: the held commands are served (or redirected).
    pub(crate) fn resume(&mut self, out: &mut Effects<Self>) {
        self.pause = None;
        for cmd in std::mem::take(&mut self.held) {
            self.on_client(cmd, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cluster, key_on};
    use super::*;

    #[test]
    fn manual_failover_promotes_the_caught_up_replica_without_losing_a_write() {
        let mut p = cluster(1);
        let key = key_on(&p, 1);
        p.write(1, &format!("{key}=a"));
        // The stream to the replica is still in flight when the failover starts.
        let mut out = Vec::new();
        let now = p.now();
        p.node_mut(4)
            .manual_failover(now, &mut out)
            .expect("a replica");
        assert_eq!(
            p.node_mut(1).manual_failover(now, &mut out),
            Err(ManualFailoverError::NotAReplica)
        );
        p.step(
            4,
            crate::Input::Message {
                from: 1,
                msg: RedisMessage::Ping(p.node(1).header(4)),
            },
        );
        // The pump did not carry out `out`: send MFSTART by hand.
        p.step(
            1,
            crate::Input::Message {
                from: 4,
                msg: RedisMessage::MfStart,
            },
        );
        assert!(p.node(1).paused());
        // A write during the pause is held, not answered.
        p.write(1, &format!("{key}=b"));
        assert_eq!(p.applied_data(1).len(), 1);
        p.deliver_all();
        assert!(p.node(4).is_master(), "promoted after catching up");
        assert!(!p.node(1).is_master(), "the old master follows");
        assert_eq!(p.node(1).master(), Some(4));
        assert!(
            p.node(4)
                .stream()
                .commands()
                .iter()
                .any(|c| c.data == format!("{key}=a")),
            "no acknowledged write lost"
        );
        assert!(p
            .events_of(4)
            .iter()
            .any(|e| matches!(e, crate::Event::LeaderElected { .. })));
    }

    #[test]
    fn a_manual_failover_that_cannot_finish_is_abandoned_and_the_master_resumes() {
        let mut p = cluster(1);
        let now = p.now();
        let mut out = Vec::new();
        p.node_mut(4)
            .manual_failover(now, &mut out)
            .expect("a replica");
        assert_eq!(
            p.node_mut(4).manual_failover(now, &mut out),
            Err(ManualFailoverError::InProgress)
        );
        p.step(
            1,
            crate::Input::Message {
                from: 4,
                msg: RedisMessage::MfStart,
            },
        );
        p.drop_where(|_| true);
        p.advance(std::time::Duration::from_millis(10_001));
        p.fire(4, super::super::RedisTimer::Cron);
        p.fire(1, super::super::RedisTimer::Cron);
        assert!(p.node(4).manual().is_none());
        assert!(!p.node(1).paused());
    }
}
