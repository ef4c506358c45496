//! Harness-side timestamps of protocol events, and the measures built on them.
//!
//! Every number the workbench reports comes from here: the runtime stamps each
//! [`Event`] a node emits with the harness clock ([`Instant`]) as it carries out the
//! node's effects, and the measures below read those stamps. Definitions
//! (docs/DESIGN.md, "Fair comparison rules"):
//! - election latency: trigger (cluster start) -> a leader is READY; "leader elected"
//!   is reported separately;
//! - failover: leader killed or isolated at `t0` -> the first client write committed by
//!   the new leader, decomposed into detection (`t0` -> the first survivor leaves its
//!   follower role), election (-> new leader elected), recovery/sync (-> new leader
//!   ready) and first commit (-> a client write is acknowledged).

use protocols::{Event, NodeId, Role};
use runtime::events::Stamped;
use std::time::{Duration, Instant};

/// Cluster start -> leader elected and -> leader ready, from a cluster's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Election {
    /// Who won.
    pub leader: NodeId,
    /// Its term (epoch, ballot).
    pub term: u64,
    /// Trigger -> `LeaderElected`.
    pub elected: Duration,
    /// Trigger -> `LeaderReady`.
    pub ready: Duration,
}

/// Finds the first leader that became ready after `trigger`, excluding `except` (the
/// failed leader) and terms `<= after_term`.
pub fn election_after(
    events: &[Stamped],
    trigger: Instant,
    except: Option<NodeId>,
    after_term: u64,
) -> Option<Election> {
    // Earliest by stamp, not by arrival: an event that waited behind an fsync, or
    // came from another process, may arrive after later-stamped ones.
    let ready = events
        .iter()
        .filter(|s| {
            s.at >= trigger
                && Some(s.node) != except
                && matches!(s.event, Event::LeaderReady { term } if term > after_term)
        })
        .min_by_key(|s| s.at)?;
    let Event::LeaderReady { term } = ready.event else {
        return None;
    };
    let elected = events
        .iter()
        .filter(|s| {
            s.node == ready.node && s.at >= trigger && s.event == Event::LeaderElected { term }
        })
        .map(|s| s.at)
        .min()
        .unwrap_or(ready.at);
    Some(Election {
        leader: ready.node,
        term,
        elected: elected.saturating_duration_since(trigger),
        ready: ready.at.saturating_duration_since(trigger),
    })
}

/// A failover split into its phases (all measured from harness timestamps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailoverPhases {
    /// `t0` -> first survivor leaves the follower role (timeout fired / LOOKING).
    pub detection: Duration,
    /// Detection -> new leader elected.
    pub election: Duration,
    /// Elected -> ready (Raft: no-op committed; ZAB: discovery + sync; Paxos: phase 1
    /// and re-proposals).
    pub recovery: Duration,
    /// Ready -> the first client write acknowledged.
    pub first_commit: Duration,
    /// `t0` -> the first client write acknowledged.
    pub total: Duration,
}

/// Decomposes a failover that began at `t0` with the failure of `old` (leader of
/// `old_term`), given when the first write was acknowledged by the new leader.
pub fn failover_phases(
    events: &[Stamped],
    t0: Instant,
    old: NodeId,
    old_term: u64,
    first_write: Instant,
) -> Option<FailoverPhases> {
    let new = election_after(events, t0, Some(old), old_term)?;
    let detected = events
        .iter()
        .filter(|s| {
            s.at >= t0
                && s.node != old
                && matches!(s.event, Event::RoleChanged { role, .. } if matches!(role, Role::Candidate | Role::Looking))
        })
        .map(|s| s.at)
        .min()
        .unwrap_or(t0 + new.elected);
    let detection = detected.saturating_duration_since(t0);
    let elected_at = t0 + new.elected;
    let ready_at = t0 + new.ready;
    Some(FailoverPhases {
        detection,
        election: elected_at.saturating_duration_since(detected),
        recovery: ready_at.saturating_duration_since(elected_at),
        first_commit: first_write.saturating_duration_since(ready_at),
        total: first_write.saturating_duration_since(t0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    /// `event` of `node`, stamped `ms` after `t0`.
    fn stamped(t0: Instant, ms: u64, node: NodeId, event: Event) -> Stamped {
        Stamped {
            at: at(t0, ms),
            node,
            event,
        }
    }

    #[test]
    fn failover_is_decomposed_from_event_stamps() {
        let t0 = Instant::now();
        let ev = |ms, node, event| stamped(t0, ms, node, event);
        let events = vec![
            ev(0, 1, Event::LeaderReady { term: 1 }),
            ev(
                180,
                2,
                Event::RoleChanged {
                    role: Role::Candidate,
                    term: 2,
                },
            ),
            ev(182, 2, Event::LeaderElected { term: 2 }),
            ev(185, 2, Event::LeaderReady { term: 2 }),
        ];
        let p = failover_phases(&events, at(t0, 10), 1, 1, at(t0, 190)).expect("found");
        assert_eq!(p.detection, Duration::from_millis(170));
        assert_eq!(p.election, Duration::from_millis(2));
        assert_eq!(p.recovery, Duration::from_millis(3));
        assert_eq!(p.first_commit, Duration::from_millis(5));
        assert_eq!(p.total, Duration::from_millis(180));
    }

    #[test]
    fn the_earliest_stamp_counts_not_the_first_to_arrive() {
        let t0 = Instant::now();
        let ev = |ms, node, event| stamped(t0, ms, node, event);
        let candidate = || Event::RoleChanged {
            role: Role::Candidate,
            term: 2,
        };
        // Node 3's candidacy waited behind an fsync: it arrived after node 2's but was
        // produced first; node 2's election likewise.
        let events = vec![
            ev(0, 1, Event::LeaderReady { term: 1 }),
            ev(181, 2, candidate()),
            ev(179, 3, candidate()),
            ev(186, 2, Event::LeaderReady { term: 2 }),
            ev(183, 2, Event::LeaderElected { term: 2 }),
        ];
        let p = failover_phases(&events, at(t0, 10), 1, 1, at(t0, 190)).expect("found");
        assert_eq!(p.detection, Duration::from_millis(169));
        assert_eq!(p.election, Duration::from_millis(4));
        assert_eq!(p.recovery, Duration::from_millis(3));
    }
}
