//! Scenario tests of Redis Cluster on the test pump: whole failovers, and the write an
//! asynchronous master acknowledged and its promoted replica never had. Helpers shared
//! by the per-concern tests live here.

use super::*;
use crate::pump::Pump;
use crate::{Membership, Protocol};
use std::time::Duration;

/// The key reader of the tests: `key=value` commands, the key before `=`.
fn key_before_equals(data: &Bytes) -> Option<Bytes> {
    let end = data.iter().position(|&b| b == b'=').unwrap_or(data.len());
    Some(data.slice(..end))
}

/// `n` started nodes with every start-up message delivered, WAIT-like with `wait`.
pub(super) fn cluster_with(n: u64, seed: u64, wait: usize) -> Pump<Redis> {
    let mut p = Pump::<Redis>::new(Membership::voters(1..=n))
        .seed(seed)
        .narrate(true)
        .on_recover(move |node: &mut Redis| {
            node.set_settings(RedisSettings {
                wait_replicas: wait,
                key_of: key_before_equals,
                ..RedisSettings::default()
            })
        });
    p.start_all();
    p.deliver_all();
    p
}

/// Six nodes (three masters 1-3, replicas 4-6), asynchronous.
pub(super) fn cluster(seed: u64) -> Pump<Redis> {
    cluster_with(6, seed, 0)
}

/// `n` nodes, asynchronous.
pub(super) fn cluster_of(n: u64, seed: u64) -> Pump<Redis> {
    cluster_with(n, seed, 0)
}

/// Six nodes whose masters answer after `wait` replicas acknowledged.
pub(super) fn cluster_waiting(seed: u64, wait: usize) -> Pump<Redis> {
    cluster_with(6, seed, wait)
}

/// Node `id`'s ping/pong header as it would send it.
pub(super) fn header_of(p: &Pump<Redis>, id: NodeId) -> Header {
    p.node(id).header(0)
}

/// A key whose slot master `master` serves.
pub(super) fn key_on(p: &Pump<Redis>, master: NodeId) -> String {
    (0..10_000)
        .map(|i| format!("k{i}"))
        .find(|k| {
            p.node(master)
                .slot_map()
                .owner(slots::slot_of(k.as_bytes()))
                == Some(master)
        })
        .unwrap_or_default()
}

/// Makes node `at` see master `master` as FAIL (its own PFAIL and a FAIL message).
pub(super) fn fail_master(p: &mut Pump<Redis>, at: NodeId, master: NodeId) {
    let other = (1..=6).find(|&n| n != at && n != master).unwrap_or(0);
    p.step(
        at,
        Input::Message {
            from: other,
            msg: RedisMessage::Fail { node: master },
        },
    );
}

/// Runs `clusterCron` on every running node every 50 ms for `span`, delivering
/// everything in between (election timers fire when due).
fn run_for(p: &mut Pump<Redis>, span: Duration) {
    let tick = Duration::from_millis(50);
    let mut elapsed = Duration::ZERO;
    while elapsed < span {
        p.advance(tick);
        elapsed += tick;
        for id in 1..=6 {
            if p.is_running(id) {
                p.fire_if_armed(id, RedisTimer::Cron);
                let due = p
                    .node(id)
                    .election()
                    .is_some_and(|e| !e.sent && e.auth_time <= p.now());
                if due {
                    p.fire_if_armed(id, RedisTimer::Election);
                }
            }
        }
        p.deliver_all();
    }
}

#[test]
fn a_new_cluster_has_three_masters_each_with_a_replica_and_a_third_of_the_slots() {
    let p = cluster(1);
    for m in 1..=3 {
        assert!(p.node(m).is_master());
        assert_eq!(p.node(m).config_epoch(), m);
    }
    for r in 4..=6 {
        assert_eq!(p.node(r).master(), Some(r - 3));
    }
    assert_eq!(p.node(4).slot_map().masters().len(), 3);
    assert_eq!(
        p.events_where(|e| matches!(e, Event::LeaderReady { .. }))
            .len(),
        3
    );
}

#[test]
fn a_key_of_another_master_is_redirected_moved() {
    let mut p = cluster(1);
    let key = key_on(&p, 2);
    let id = p.write(1, &format!("{key}=v"));
    assert!(p.rejected.iter().any(|(at, r, e)| *at == 1
        && *r == id
        && *e == ClientError::NotLeader { leader: Some(2) }));
    let id = p.write(5, &format!("{key}=v"));
    assert!(p.rejected.iter().any(|(at, r, e)| *at == 5
        && *r == id
        && *e == ClientError::NotLeader { leader: Some(2) }));
}

#[test]
fn a_killed_master_is_detected_and_its_replica_promoted_and_followed() {
    let mut p = cluster(3);
    p.crash(1);
    run_for(&mut p, Duration::from_millis(2500));
    assert!(p.node(4).is_master(), "replica 4 promoted");
    assert_eq!(p.node(4).config_epoch(), 4);
    for id in [2, 3, 5, 6] {
        assert_eq!(
            p.node(id).slot_map().owner(0),
            Some(4),
            "node {id} moved slot 0 to 4"
        );
    }
    // The old master comes back, learns it lost its slots and becomes a replica.
    p.restart(1);
    run_for(&mut p, Duration::from_millis(500));
    assert_eq!(p.node(1).master(), Some(4));
}

#[test]
fn an_acknowledged_write_is_lost_when_the_replica_that_never_had_it_is_promoted() {
    let mut p = cluster(5);
    let key = key_on(&p, 1);
    p.write(1, &format!("{key}=before"));
    p.deliver_all();
    let lost = p.write(1, &format!("{key}=acknowledged"));
    // Answered by the master...
    assert!(p.applied_data(1).contains(&format!("{key}=acknowledged")));
    // ... which dies before the stream reaches its replica.
    p.crash(1);
    p.drop_where(|(from, _, _)| *from == 1);
    run_for(&mut p, Duration::from_millis(2500));
    assert!(p.node(4).is_master());
    assert!(
        !p.node(4).stream().contains(lost),
        "the acknowledged write is gone"
    );
    // The old master restarts with it in its file, and its full resync throws it away.
    p.restart(1);
    run_for(&mut p, Duration::from_millis(500));
    assert!(!p.node(1).stream().contains(lost));
    assert_eq!(p.applied_data(1), vec![format!("{key}=before")]);
}

#[test]
fn with_wait_the_same_crash_loses_no_acknowledged_write() {
    let mut p = cluster_waiting(5, 1);
    let key = key_on(&p, 1);
    let id = p.write(1, &format!("{key}=x"));
    // Not answered before its replica has it; if the master dies now nothing was acknowledged.
    assert!(p.applied_data(1).is_empty());
    p.deliver_all();
    assert!(p.applied_data(1).contains(&format!("{key}=x")));
    p.crash(1);
    run_for(&mut p, Duration::from_millis(2500));
    assert!(p.node(4).is_master());
    assert!(
        p.node(4).stream().contains(id),
        "every acknowledged write survives"
    );
}

#[test]
fn an_isolated_master_is_failed_over_and_demoted_when_the_partition_heals() {
    let mut p = cluster(7);
    p.partition(&[1]);
    run_for(&mut p, Duration::from_millis(2500));
    assert!(p.node(4).is_master());
    assert!(
        p.node(1).is_master(),
        "the isolated master still believes it is one"
    );
    p.heal();
    run_for(&mut p, Duration::from_millis(500));
    assert_eq!(p.node(1).master(), Some(4), "the higher configEpoch won");
    // One master per configEpoch throughout.
    let elected = p.events_where(|e| matches!(e, Event::LeaderElected { .. }));
    let mut by_epoch: BTreeMap<u64, NodeId> = BTreeMap::new();
    for (node, e) in elected {
        if let Event::LeaderElected { term } = e {
            assert_eq!(*by_epoch.entry(term).or_insert(node), node);
        }
    }
}

#[test]
fn a_master_cut_off_from_the_majority_stops_taking_writes_after_the_node_timeout() {
    let mut p = cluster(2);
    let key = key_on(&p, 1);
    p.partition(&[1, 4]);
    // Before the node timeout the isolated master still answers: the window of writes
    // that a failover on the other side will lose.
    p.write(1, &format!("{key}=early"));
    assert_eq!(p.applied_data(1).len(), 1);
    run_for(&mut p, Duration::from_millis(400));
    assert!(p.node(1).cluster_down().is_some());
    let id = p.write(1, &format!("{key}=late"));
    assert!(p
        .rejected
        .iter()
        .any(|(_, r, e)| *r == id && *e == ClientError::NotLeader { leader: None }));
    assert_eq!(p.applied_data(1).len(), 1);
}

#[test]
fn a_restarted_node_recovers_its_epochs_vote_and_stream() {
    let mut p = cluster(9);
    let key = key_on(&p, 2);
    p.write(2, &format!("{key}=1"));
    fail_master(&mut p, 2, 1);
    p.step(
        2,
        Input::Message {
            from: 4,
            msg: RedisMessage::AuthRequest {
                current_epoch: 4,
                config_epoch: 1,
                master: 1,
                slots: vec![],
                force: false,
            },
        },
    );
    p.crash(2);
    p.restart(2);
    assert_eq!(p.node(2).current_epoch(), 4);
    assert_eq!(p.node(2).stream().offset(), 1);
    assert_eq!(p.applied_data(2), vec![format!("{key}=1")]);
    assert_eq!(
        <Redis as Protocol>::message_kind(&RedisMessage::MfStart),
        "MFSTART"
    );
}
