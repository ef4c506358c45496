//! Tests of the headline: best-value marking, the choice of cluster size and client
//! count, and the table built from the fixture.

use super::*;
use crate::results::Results;

fn fixture() -> Results {
    crate::results::load(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/small.json"))
        .expect("fixture loads")
}

#[test]
fn the_best_value_is_the_lowest_or_the_highest() {
    let values = [Some(219.0), Some(240.0), None, Some(210.0)];
    assert_eq!(best_rows(&values, Better::Lower), vec![3]);
    assert_eq!(best_rows(&values, Better::Higher), vec![1]);
}

#[test]
fn values_that_print_alike_are_all_best() {
    // 233.4 and 233.2 both print "233": a reader cannot tell them apart.
    let values = [Some(233.4), Some(233.2), Some(257.0)];
    assert_eq!(best_rows(&values, Better::Lower), vec![0, 1]);
    let tie = [Some(6.0), Some(4.0), Some(4.0)];
    assert_eq!(best_rows(&tie, Better::Lower), vec![1, 2]);
}

#[test]
fn a_lone_or_missing_value_is_best_of_nothing() {
    assert!(best_rows(&[Some(1.0)], Better::Lower).is_empty());
    assert!(best_rows(&[Some(1.0), None], Better::Lower).is_empty());
    assert!(best_rows(&[None, None], Better::Higher).is_empty());
    assert!(best_rows(&[Some(f64::NAN), Some(2.0)], Better::Lower).is_empty());
    assert!(best_rows(&[], Better::Lower).is_empty());
}

#[test]
fn the_headline_prefers_three_nodes_else_the_smallest_size() {
    let mut results = fixture();
    assert_eq!(headline_nodes(&results), Some(3));
    results.runs.retain(|r| r.nodes != 3);
    assert_eq!(headline_nodes(&results), Some(5));
    results.runs.clear();
    assert_eq!(headline_nodes(&results), None);
}

/// The column of each protocol's marks in the fixture's table.
fn marked(table: &Table, col: usize) -> Vec<String> {
    table
        .best
        .iter()
        .filter(|(_, c)| *c == col)
        .map(|(r, _)| table.rows[*r][0].clone())
        .collect()
}

#[test]
fn the_fixture_table_marks_each_columns_best() {
    let results = fixture();
    let (rows, clients) = rows(&results, 3);
    assert_eq!(clients, Some(64));
    let table = table(&rows, clients);
    let names: Vec<&str> = table.rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["Raft", "ZAB", "Paxos"]);
    assert_eq!(table.header.len(), 10);
    let spans: usize = table.groups.iter().map(|g| g.1).sum();
    assert_eq!(spans, table.header.len());
    assert_eq!(table.groups[4].0, "throughput, 64 clients");
    // Cold election 219 / 240 / 210 ms: Paxos.
    assert_eq!(marked(&table, 1), ["Paxos"]);
    // Kill failover medians 257 / 233 / 236 ms: ZAB.
    assert_eq!(marked(&table, 2), ["ZAB"]);
    // Isolate: Paxos has none (a dash); Raft 232 against ZAB 428.
    assert_eq!(table.rows[2][4], DASH);
    assert_eq!(marked(&table, 4), ["Raft"]);
    // Throughput 56686 / 64000 / 53029 ops/s: ZAB, the highest.
    assert_eq!(table.rows[1][6], "64000");
    assert_eq!(marked(&table, 6), ["ZAB"]);
    // Messages per op 4 / 6 / 6: Raft.
    assert_eq!(marked(&table, 9), ["Raft"]);
    assert!(marked(&table, 0).is_empty(), "names are never marked");
}

#[test]
fn throughput_at_fewer_clients_is_shown_but_not_ranked() {
    let mut results = fixture();
    for run in results.runs.iter_mut().filter(|r| r.protocol == "raft") {
        run.throughput.retain(|p| p.clients <= 16);
    }
    for run in results.runs.iter_mut().filter(|r| r.protocol == "paxos") {
        run.throughput.clear();
    }
    let (rows, clients) = rows(&results, 3);
    let table = table(&rows, clients);
    assert_eq!(table.rows[0][6], "45091 (16 clients)");
    assert_eq!(table.rows[2][6], DASH);
    assert!(
        marked(&table, 6).is_empty(),
        "ZAB alone at 64 clients is best of nothing"
    );
}

#[test]
fn a_protocol_without_a_run_is_all_dashes() {
    let mut results = fixture();
    results.runs.retain(|r| r.protocol != "zab");
    let (rows, _) = rows(&results, 3);
    let table = table(&rows, Some(64));
    assert_eq!(table.rows[1][0], "ZAB");
    assert!(table.rows[1][1..].iter().all(|c| c == DASH));
}
