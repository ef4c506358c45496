//! Hand-made histories with known verdicts, one per kind of anomaly, and generated ones.

use super::generate::{simulate, Simulation};
use super::*;

const MS: u64 = 1_000_000;

/// One whole operation: (client, [start, end] in ms, key, input, outcome); `end` 0 with
/// an unknown outcome means never answered.
type Spec<'a> = (u64, (u64, u64), &'a str, Input, Completion);

/// A history written one whole operation at a time.
fn history(ops: &[Spec<'_>]) -> History {
    let mut h = History::new();
    for (client, (start, end), key, input, outcome) in ops {
        let completed = (*end > 0 || *outcome != Completion::Unknown).then_some(end * MS);
        h.push(Operation {
            client: *client,
            key: key.to_string(),
            input: input.clone(),
            invoked: start * MS,
            completed,
            outcome: outcome.clone(),
        })
        .expect("a well-formed operation");
    }
    h
}

fn put(v: &str) -> Input {
    Input::Put(v.into())
}

fn append(v: &str) -> Input {
    Input::Append(v.into())
}

fn cas(from: &str, to: &str) -> Input {
    Input::Cas {
        from: from.into(),
        to: to.into(),
    }
}

fn ok() -> Completion {
    Completion::done()
}

fn read(v: &str) -> Completion {
    Completion::value(v)
}

fn verdict(h: &History) -> Verdict {
    check(h, Limits::unlimited())
}

fn anomaly(h: &History) -> Anomaly {
    match verdict(h) {
        Verdict::NotLinearizable(a) => a,
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn concurrent_overlapping_operations_are_linearizable() {
    let h = history(&[
        (1, (0, 10), "x", put("1"), ok()),
        (2, (2, 8), "x", put("2"), ok()),
        // Both writes are in flight: either value, or the one before them.
        (3, (1, 3), "x", Input::Get, read("")),
        (4, (3, 4), "x", Input::Get, read("2")),
        (3, (5, 12), "x", Input::Get, read("1")),
        (2, (11, 14), "x", cas("1", "3"), Completion::cas(true)),
        (4, (13, 15), "x", Input::Get, read("3")),
        (1, (16, 17), "x", cas("1", "4"), Completion::cas(false)),
        (1, (18, 19), "x", append("a"), ok()),
        (2, (18, 20), "x", append("b"), ok()),
        (3, (21, 22), "x", Input::Get, read("3ba")),
    ]);
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn a_stale_read_is_not_linearizable() {
    let h = history(&[
        (1, (0, 1), "x", put("1"), ok()),
        (1, (2, 3), "x", put("2"), ok()),
        (2, (1, 2), "x", Input::Get, read("1")),
        (2, (4, 5), "x", Input::Get, read("1")),
    ]);
    let a = anomaly(&h);
    assert!(a.minimal);
    assert_eq!(
        a.to_string(),
        "key \"x\": client 1 put \"1\" [0 ns .. 1 ms] ok; client 1 put \"2\" [2 ms .. 3 ms] ok; \
         client 2 get [4 ms .. 5 ms] -> \"1\": no order of these operations explains client 2's get answer \"1\""
    );
}

#[test]
fn a_lost_write_is_not_linearizable() {
    let h = history(&[
        (9, (0, 1), "y", Input::Get, read("")),
        (2, (10, 12), "x", put("1"), ok()),
        (3, (13, 14), "x", Input::Get, read("")),
    ]);
    assert_eq!(
        anomaly(&h).to_string(),
        "key \"x\": client 2 put \"1\" [10 ms .. 12 ms] ok; client 3 get [13 ms .. 14 ms] -> \"\": \
         no order of these operations explains client 3's get answer \"\""
    );
    // An acknowledged append that later reads do not show is lost too.
    let h = history(&[
        (1, (0, 1), "x", append("a"), ok()),
        (1, (2, 3), "x", append("b"), ok()),
        (2, (4, 5), "x", Input::Get, read("b")),
    ]);
    assert_eq!(
        anomaly(&h).ops.len(),
        3,
        "both appends and the read that misses one"
    );
}

#[test]
fn a_write_applied_twice_is_not_linearizable() {
    // Visible through an append: one append, its string twice.
    let h = history(&[
        (1, (0, 2), "x", append("x"), ok()),
        (2, (3, 4), "x", Input::Get, read("xx")),
    ]);
    let a = anomaly(&h);
    assert_eq!(a.ops.len(), 2);
    assert_eq!(a.culprit, Some(1));
    // Visible through a sequence of reads: "1" comes back after "2" replaced it, with
    // no other write of "1" (a retried command applied a second time).
    let h = history(&[
        (1, (0, 1), "x", put("1"), ok()),
        (1, (2, 3), "x", put("2"), ok()),
        (2, (4, 5), "x", Input::Get, read("2")),
        (2, (6, 7), "x", Input::Get, read("1")),
    ]);
    let a = anomaly(&h);
    assert_eq!(
        a.ops.len(),
        4,
        "the read of \"2\" shows \"2\" was written: {a:#}"
    );
    assert_eq!(a.culprit, Some(3));
}

#[test]
fn reading_a_value_whose_write_failed_is_not_linearizable() {
    let h = history(&[
        (1, (0, 1), "x", put("v"), Completion::Failed),
        (2, (2, 3), "x", Input::Get, read("v")),
    ]);
    let a = anomaly(&h);
    assert_eq!(a.ops.len(), 1);
    assert_eq!(
        a.notes,
        ["\"v\" was only ever written by client 1's put \"v\" [0 ns .. 1 ms], which failed (definitely did not happen)"]
    );
    assert!(a
        .to_string()
        .contains("; note: \"v\" was only ever written by client 1's put"));
    // The same read is fine if the write's outcome is unknown: it may have happened.
    let h = history(&[
        (1, (0, 1), "x", put("v"), Completion::Unknown),
        (2, (2, 3), "x", Input::Get, read("v")),
    ]);
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn an_unknown_outcome_may_or_may_not_have_happened() {
    let unknown_put = (1, (0, 0), "x", put("1"), Completion::Unknown);
    // Seen, not seen, or seen late: all fine.
    for answer in ["", "1"] {
        let h = history(&[
            unknown_put.clone(),
            (2, (5, 6), "x", Input::Get, read(answer)),
        ]);
        assert_eq!(verdict(&h), Verdict::Linearizable, "read {answer:?}");
    }
    let h = history(&[
        unknown_put.clone(),
        (2, (5, 6), "x", Input::Get, read("")),
        (2, (50, 60), "x", Input::Get, read("1")),
    ]);
    assert_eq!(verdict(&h), Verdict::Linearizable);
    // But once seen it happened, and cannot be undone.
    let h = history(&[
        unknown_put,
        (2, (5, 6), "x", Input::Get, read("1")),
        (2, (7, 8), "x", Input::Get, read("")),
    ]);
    assert_eq!(anomaly(&h).ops.len(), 3);
    // Never before its invocation.
    let h = history(&[
        (2, (1, 2), "x", Input::Get, read("1")),
        (1, (3, 0), "x", put("1"), Completion::Unknown),
    ]);
    assert!(matches!(verdict(&h), Verdict::NotLinearizable(_)));
    // An unknown cas swaps only if it found its `from`; an unknown read is dropped.
    let h = history(&[
        (1, (0, 1), "x", put("a"), ok()),
        (2, (2, 0), "x", cas("a", "b"), Completion::Unknown),
        (3, (2, 0), "x", cas("z", "c"), Completion::Unknown),
        (4, (3, 0), "x", Input::Get, Completion::Unknown),
        (5, (4, 5), "x", Input::Get, read("b")),
    ]);
    assert_eq!(verdict(&h), Verdict::Linearizable);
    let h = history(&[
        (1, (0, 1), "x", put("a"), ok()),
        (3, (2, 0), "x", cas("z", "c"), Completion::Unknown),
        (5, (4, 5), "x", Input::Get, read("c")),
    ]);
    assert!(matches!(verdict(&h), Verdict::NotLinearizable(_)));
}

#[test]
fn unknown_puts_nobody_read_cost_the_search_nothing() {
    // A minority leader's writes: accepted, never committed, never answered. Sixty of
    // them among known puts and reads would be an exponential search; none of their
    // values was read, so none needs a place and the verdict comes at once.
    let mut ops: Vec<Spec<'_>> = Vec::new();
    let values: Vec<String> = (0..60).map(|i| format!("lost{i}")).collect();
    for (i, v) in values.iter().enumerate() {
        let at = i as u64 * 10;
        ops.push((100 + i as u64, (at, 0), "x", put(v), Completion::Unknown));
        ops.push((1, (at + 1, at + 2), "x", put(&format!("{i}")), ok()));
        ops.push((2, (at + 3, at + 4), "x", Input::Get, read(&format!("{i}"))));
    }
    let h = history(&ops);
    let tight = Limits {
        steps: Some(10_000),
        ..Limits::default()
    };
    assert_eq!(check(&h, tight), Verdict::Linearizable);
    // One of them read: it took effect, and the read must fit (here it cannot, as the
    // next read sees the older known put again).
    ops.push((3, (15, 16), "x", Input::Get, read("lost1")));
    ops.push((3, (17, 18), "x", Input::Get, read("0")));
    assert!(matches!(
        check(&history(&ops), tight),
        Verdict::NotLinearizable(_)
    ));
    // With a compare-and-set on the key an unread put may matter (it can make the
    // swap fail), so nothing is dropped there.
    let h = history(&[
        (1, (0, 1), "x", put("a"), ok()),
        (2, (2, 0), "x", put("z"), Completion::Unknown),
        (
            3,
            (4, 5),
            "x",
            cas("a", "b"),
            Completion::Ok(Output::Cas(false)),
        ),
    ]);
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn a_failed_compare_and_set_is_a_definite_not_equal() {
    let h = history(&[
        (1, (0, 1), "x", put("a"), ok()),
        (2, (2, 3), "x", cas("a", "b"), Completion::cas(false)),
    ]);
    let a = anomaly(&h);
    assert_eq!(
        a.explanation(),
        "no order of these operations explains client 2's cas not finding \"a\""
    );
}

#[test]
fn keys_are_checked_separately() {
    let h = history(&[
        (1, (0, 1), "x", put("1"), ok()),
        (2, (0, 1), "y", put("1"), ok()),
        (1, (2, 3), "x", Input::Get, read("1")),
        (2, (2, 3), "y", Input::Get, read("2")),
    ]);
    assert_eq!(anomaly(&h).key, "y");
    // The same operations on one key would not be linearizable; on two keys they are.
    let h = history(&[
        (1, (0, 1), "x", put("1"), ok()),
        (2, (2, 3), "y", put("2"), ok()),
        (3, (4, 5), "x", Input::Get, read("1")),
    ]);
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn limits_make_the_verdict_undecided() {
    let ops: Vec<Spec<'_>> = (0..30)
        .map(|c| (c, (0, 100), "x", append("a"), ok()))
        .chain([(99, (200, 201), "x", Input::Get, read("b"))])
        .collect();
    let h = history(&ops);
    let limits = Limits {
        steps: Some(100),
        ..Limits::default()
    };
    match check(&h, limits) {
        Verdict::Undecided(why) => assert!(
            why.starts_with("the limit of 100 search steps ran out while checking key \"x\""),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn simulated_histories_are_linearizable() {
    for seed in 1..=20 {
        let sim = Simulation {
            seed,
            clients: 6,
            keys: 3,
            operations: 400,
            unknown_per_mille: 30,
            failed_per_mille: 30,
        };
        let h = simulate(&sim);
        assert_eq!(
            check(&h, Limits::default()),
            Verdict::Linearizable,
            "seed {seed}"
        );
    }
}

#[test]
fn a_simulated_history_with_one_wrong_answer_is_not() {
    let h = simulate(&Simulation {
        operations: 400,
        keys: 2,
        ..Simulation::default()
    });
    // Change the answer of a read in the middle to a value nobody wrote.
    let target = h
        .ops()
        .iter()
        .enumerate()
        .skip(200)
        .find(|(_, op)| matches!(op.outcome, Completion::Ok(Output::Value(_))))
        .map(|(i, _)| i)
        .expect("a read");
    let mut broken = History::new();
    for (i, op) in h.ops().iter().enumerate() {
        let mut op = op.clone();
        if i == target {
            op.outcome = Completion::value("never written");
        }
        broken.push(op).expect("well-formed");
    }
    let a = anomaly(&broken);
    assert_eq!(a.ops.len(), 1, "{a:#}");
    assert_eq!(a.ops[0].outcome, Completion::value("never written"));
}
