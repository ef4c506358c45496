//! Tests of the headline's sentences: they follow the numbers (change a number and
//! the sentence changes), and leave out what was not measured.

use super::*;
use crate::headline::Load;

fn phases(phases: [f64; 4]) -> Option<FailoverNumbers> {
    let median = phases.iter().sum();
    Some(FailoverNumbers {
        median,
        p99: median * 1.2,
        phases,
    })
}

/// The fixture's shape: ZAB detects a kill by the connection reset, then waits out
/// its election; Raft and Paxos wait for their timeout.
fn rows() -> Vec<Row> {
    let load = |ops: f64, p50: f64, p99: f64| {
        Some(Load {
            clients: 64,
            ops_per_sec: ops,
            p50_us: Some(p50),
            p99_us: Some(p99),
        })
    };
    vec![
        Row {
            protocol: "raft".into(),
            election_ms: Some(219.0),
            kill: phases([228.8, 24.6, 1.1, 0.8]),
            isolate: phases([204.6, 24.9, 1.2, 0.9]),
            throughput: load(56686.0, 1080.0, 3024.0),
            messages_per_op: Some(4.0),
        },
        Row {
            protocol: "zab".into(),
            election_ms: Some(240.0),
            kill: phases([2.86, 220.8, 6.35, 1.1]),
            isolate: phases([201.3, 223.9, 7.7, 0.9]),
            throughput: load(64000.0, 990.0, 2772.0),
            messages_per_op: Some(6.0),
        },
        Row {
            protocol: "paxos".into(),
            election_ms: Some(210.0),
            kill: phases([205.9, 30.1, 1.7, 0.7]),
            isolate: None,
            throughput: load(53029.0, 1125.0, 3150.0),
            messages_per_op: Some(6.0),
        },
    ]
}

#[test]
fn the_cold_start_sentence_ranks_by_the_median() {
    assert_eq!(
        election(&rows()).as_deref(),
        Some(
            "From a cold start Paxos has a ready leader first: 210 ms (median), against \
             219 ms for Raft and 240 ms for ZAB."
        )
    );
}

#[test]
fn a_failover_timed_only_from_outside_is_ranked_but_has_no_detection() {
    let mut rows = rows();
    rows.push(Row {
        protocol: "etcd".into(),
        election_ms: None,
        kill: Some(FailoverNumbers {
            median: 214.0,
            p99: 220.0,
            phases: [0.0; 4],
        }),
        isolate: None,
        throughput: None,
        messages_per_op: None,
    });
    let text = failover(&rows, Fault::Kill).expect("four kills measured");
    assert!(
        text.starts_with("After a leader kill etcd commits again first: 214 ms"),
        "{text}"
    );
    assert!(
        text.contains(
            "ZAB reacts at once (2.86 ms of detection: the connection reset) while Raft and \
             Paxos wait for their timeout (229 and 206 ms of detection)"
        ),
        "{text}"
    );
    assert!(!text.contains("etcd react"), "{text}");
}

#[test]
fn a_kill_sentence_says_who_reacts_to_the_connection_reset() {
    let text = failover(&rows(), Fault::Kill).expect("three kills measured");
    assert!(
        text.starts_with("After a leader kill ZAB commits again first: 231 ms"),
        "{text}"
    );
    assert!(
        text.contains(
            "ZAB reacts at once (2.86 ms of detection: the connection reset) while Raft and \
             Paxos wait for their timeout (229 and 206 ms of detection)"
        ),
        "{text}"
    );
    assert!(
        text.ends_with(", and ZAB then spends 221 ms in its election."),
        "{text}"
    );
}

#[test]
fn the_sentence_follows_the_numbers_not_the_protocol() {
    // Make Raft the one that notices a kill at once: the sentence says so.
    let mut rows = rows();
    rows[0].kill = phases([1.5, 20.0, 1.0, 1.0]);
    let text = failover(&rows, Fault::Kill).expect("measured");
    assert!(
        text.starts_with("After a leader kill Raft commits again first"),
        "{text}"
    );
    assert!(
        text.contains("ZAB and Raft react at once") || text.contains("Raft and ZAB react at once"),
        "{text}"
    );
    assert!(
        text.contains("Paxos waits for its timeout (206 ms"),
        "{text}"
    );
    // Raft's election is 20 of 23.5 ms: named as where its time goes.
    assert!(
        text.contains("Raft then spends 20.0 ms in its election"),
        "{text}"
    );
}

#[test]
fn an_isolation_has_no_connection_reset_and_leaves_out_the_unmeasured() {
    let text = failover(&rows(), Fault::Isolate).expect("two isolations measured");
    assert!(
        !text.contains("Paxos"),
        "Paxos measured no isolation: {text}"
    );
    assert!(!text.contains("connection reset"), "{text}");
    assert!(
        text.contains("Raft and ZAB wait for their timeout (205 and 201 ms of detection)"),
        "{text}"
    );
    assert!(
        text.contains("ZAB then spends 224 ms in its election"),
        "{text}"
    );
}

#[test]
fn nothing_measured_gives_no_sentence() {
    let mut rows = rows();
    for r in &mut rows {
        r.isolate = None;
        r.election_ms = None;
        r.messages_per_op = None;
        r.throughput = None;
    }
    assert_eq!(failover(&rows, Fault::Isolate), None);
    assert_eq!(election(&rows), None);
    assert_eq!(messages(&rows), None);
    assert_eq!(throughput(&rows, 64), None);
    assert_eq!(latency(&rows, 64), None);
    // Only the kill sentence is left.
    let left = all(&rows, None);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with("After a leader kill"));
    assert!(all(&[], Some(64)).is_empty());
}

#[test]
fn a_lone_measurement_is_stated_not_ranked() {
    let mut rows = rows();
    rows.truncate(1);
    assert_eq!(
        election(&rows).as_deref(),
        Some("From a cold start only Raft was measured: 219 ms (median).")
    );
    let kill = failover(&rows, Fault::Kill).expect("measured");
    assert!(
        kill.contains("Raft waits for its timeout (229 ms of detection)"),
        "{kill}"
    );
}

#[test]
fn equal_values_are_grouped_and_ties_share_the_lead() {
    let rows = rows();
    assert_eq!(
        messages(&rows).as_deref(),
        Some(
            "Per committed operation Raft sends the fewest messages: 4.00 (all nodes \
             together), against 6.00 for ZAB and Paxos."
        )
    );
    let mut tied = rows.clone();
    tied[0].messages_per_op = Some(6.0);
    assert_eq!(
        messages(&tied).as_deref(),
        Some("Per committed operation Raft, ZAB and Paxos tie: 6.00 each (all nodes together).")
    );
    tied[0].messages_per_op = Some(4.0);
    tied[1].messages_per_op = Some(4.0);
    let text = messages(&tied).expect("measured");
    assert!(
        text.contains("Raft and ZAB send the fewest messages: 4.00 each"),
        "{text}"
    );
}

#[test]
fn throughput_and_latency_at_the_highest_client_count() {
    let rows = rows();
    assert_eq!(
        throughput(&rows, 64).as_deref(),
        Some(
            "With 64 closed-loop clients ZAB commits the most: 64000 ops/s, against \
             56686 ops/s for Raft and 53029 ops/s for Paxos."
        )
    );
    assert_eq!(
        latency(&rows, 64).as_deref(),
        Some(
            "At 64 clients ZAB also has the lowest commit latency: p99 2772 µs (p50 990 \
             µs), against 3024 µs for Raft and 3150 µs for Paxos."
        )
    );
    // Another protocol with the lowest latency: no "also".
    let mut other = rows.clone();
    if let Some(l) = other[2].throughput.as_mut() {
        l.p99_us = Some(2000.0);
    }
    let text = latency(&other, 64).expect("measured");
    assert!(
        text.starts_with("At 64 clients Paxos has the lowest commit latency: p99 2000 µs"),
        "{text}"
    );
    // A protocol measured at another client count is left out.
    let mut fewer = rows.clone();
    if let Some(l) = fewer[1].throughput.as_mut() {
        l.clients = 16;
    }
    let text = throughput(&fewer, 64).expect("measured");
    assert!(!text.contains("ZAB"), "{text}");
}

#[test]
fn names_and_lists_read_as_prose() {
    assert_eq!(display_name("zab"), "ZAB");
    assert_eq!(display_name("epaxos"), "epaxos");
    let items = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(and_list(&items(&[])), "");
    assert_eq!(and_list(&items(&["a"])), "a");
    assert_eq!(and_list(&items(&["a", "b"])), "a and b");
    assert_eq!(and_list(&items(&["a", "b", "c"])), "a, b and c");
}
