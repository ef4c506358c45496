//! The headline's sentences: one per result (cold start, kill, isolation, throughput,
//! latency, messages), each generated from the numbers of the headline's rows and
//! never written for one run. A result nobody measured gets no sentence; a protocol
//! that did not measure it is left out of the sentence (the table shows a dash).
//!
//! The rules:
//! - every sentence ranks the protocols that measured the result: the best first
//!   (ties, values that print alike, share the lead), then the others best first,
//!   those that print alike grouped ("6.00 for ZAB and Paxos");
//! - a failover sentence also says why: a protocol whose detection median is under
//!   [`AT_ONCE_SHARE`] of its failover median noticed the loss without waiting for a
//!   timeout. After a kill that is the peers' connections resetting (the fault
//!   closes the leader's sockets); the others wait for their timeout. A later phase
//!   (election, recovery, first commit) taking at least [`LATER_SHARE`] of a
//!   protocol's failover median is named as where its time goes.

use crate::document::number;
use crate::headline::{best_rows, Better, FailoverNumbers, Row};

/// Below this share of its failover's median, a detection is "at once".
pub(crate) const AT_ONCE_SHARE: f64 = 0.1;

/// From this share of its failover's median on, a later phase is worth naming.
pub(crate) const LATER_SHARE: f64 = 0.25;

/// The name a protocol goes by in prose.
pub(crate) fn display_name(protocol: &str) -> String {
    match protocol.to_ascii_lowercase().as_str() {
        "raft" => "Raft".to_string(),
        "zab" => "ZAB".to_string(),
        "paxos" => "Paxos".to_string(),
        _ => protocol.to_string(),
    }
}

/// "A", "A and B", "A, B and C".
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The singular or plural form, by how many subjects there are.
fn verb<'a>(count: usize, (singular, plural): (&'a str, &'a str)) -> &'a str {
    if count == 1 {
        singular
    } else {
        plural
    }
}

/// How one result is ranked and worded.
struct Ranking<'a> {
    /// What opens the sentence ("From a cold start").
    topic: &'a str,
    /// What the leaders do, singular and plural ("has a ready leader first").
    lead: (&'a str, &'a str),
    /// Before a value ("p99 ").
    prefix: &'a str,
    /// After a value (" ms").
    unit: &'a str,
    /// After the leaders' value (" (median)").
    note: String,
    /// Which way is better.
    better: Better,
}

/// The ranking sentence, without its final full stop (a clause may follow): `None`
/// when nobody measured the result.
fn rank(r: &Ranking<'_>, values: &[(String, f64)]) -> Option<String> {
    let measured: Vec<&(String, f64)> = values.iter().filter(|(_, v)| v.is_finite()).collect();
    let value = |v: f64| format!("{}{}{}", r.prefix, number(v), r.unit);
    if let [(name, v)] = measured.as_slice() {
        return Some(format!(
            "{} only {name} was measured: {}{}",
            r.topic,
            value(*v),
            r.note
        ));
    }
    let options: Vec<Option<f64>> = measured.iter().map(|(_, v)| Some(*v)).collect();
    let best = best_rows(&options, r.better);
    let first = measured.get(*best.first()?)?;
    let leaders: Vec<String> = best.iter().map(|&i| measured[i].0.clone()).collect();
    let mut rest: Vec<&(String, f64)> = measured
        .iter()
        .enumerate()
        .filter(|(i, _)| !best.contains(i))
        .map(|(_, m)| *m)
        .collect();
    if rest.is_empty() {
        return Some(format!(
            "{} {} tie: {} each{}",
            r.topic,
            and_list(&leaders),
            value(first.1),
            r.note
        ));
    }
    rest.sort_by(|a, b| match r.better {
        Better::Lower => a.1.total_cmp(&b.1),
        Better::Higher => b.1.total_cmp(&a.1),
    });
    // Neighbours that print alike share one value: "6.00 for ZAB and Paxos".
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (name, v) in rest {
        let text = format!("{}{}", number(*v), r.unit);
        match groups.last_mut() {
            Some((last, names)) if *last == text => names.push(name.clone()),
            _ => groups.push((text, vec![name.clone()])),
        }
    }
    let against: Vec<String> = groups
        .into_iter()
        .map(|(text, names)| format!("{text} for {}", and_list(&names)))
        .collect();
    let each = if leaders.len() > 1 { " each" } else { "" };
    Some(format!(
        "{} {} {}: {}{each}{}, against {}",
        r.topic,
        and_list(&leaders),
        verb(leaders.len(), r.lead),
        value(first.1),
        r.note,
        and_list(&against)
    ))
}

/// Ends a sentence.
fn sentence(text: String) -> String {
    format!("{text}.")
}

/// Cold start to a ready leader.
pub(crate) fn election(rows: &[Row]) -> Option<String> {
    let values: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|r| Some((display_name(&r.protocol), r.election_ms?)))
        .collect();
    let ranking = Ranking {
        topic: "From a cold start",
        lead: ("has a ready leader first", "have a ready leader first"),
        prefix: "",
        unit: " ms",
        note: " (median)".into(),
        better: Better::Lower,
    };
    rank(&ranking, &values).map(sentence)
}

/// The two faults of a failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The leader's process is killed: its peers see their connections reset.
    Kill,
    /// The leader's packets are dropped: nothing tells its peers.
    Isolate,
}

/// The names of the phases after detection, in order.
const LATER_PHASES: [&str; 3] = ["election", "recovery", "first commit"];

/// A failover: who commits again first, and why (see the module documentation).
pub(crate) fn failover(rows: &[Row], fault: Fault) -> Option<String> {
    let measured: Vec<(String, &FailoverNumbers)> = rows
        .iter()
        .filter_map(|r| {
            let f = match fault {
                Fault::Kill => r.kill.as_ref(),
                Fault::Isolate => r.isolate.as_ref(),
            }?;
            Some((display_name(&r.protocol), f))
        })
        .collect();
    let values: Vec<(String, f64)> = measured
        .iter()
        .map(|(name, f)| (name.clone(), f.median))
        .collect();
    let ranking = Ranking {
        topic: match fault {
            Fault::Kill => "After a leader kill",
            Fault::Isolate => "After a leader isolation",
        },
        lead: ("commits again first", "commit again first"),
        prefix: "",
        unit: " ms",
        note: " (median, leader loss to the first commit)".into(),
        better: Better::Lower,
    };
    let ranked = rank(&ranking, &values)?;
    let mut clauses = vec![detection_clause(&measured, fault)];
    let later: Vec<String> = measured
        .iter()
        .filter_map(|(name, f)| {
            let (phase, ms) = LATER_PHASES
                .iter()
                .zip(&f.phases[1..])
                .max_by(|a, b| a.1.total_cmp(b.1))?;
            (*ms >= LATER_SHARE * f.median && f.median > 0.0)
                .then(|| format!("{name} then spends {} ms in its {phase}", number(*ms)))
        })
        .collect();
    if !later.is_empty() {
        clauses.push(and_list(&later));
    }
    Some(sentence(format!("{ranked}; {}", clauses.join(", and "))))
}

/// Who noticed the loss at once and who waited for a timeout.
fn detection_clause(measured: &[(String, &FailoverNumbers)], fault: Fault) -> String {
    // Systems timed from outside (real ZooKeeper and etcd: a total, no phases) have
    // no detection to tell.
    let (at_once, waited): (Vec<_>, Vec<_>) = measured
        .iter()
        .filter(|(_, f)| f.phases.iter().any(|p| *p > 0.0))
        .partition(|(_, f)| f.phases[0] < AT_ONCE_SHARE * f.median);
    let names = |group: &[&(String, &FailoverNumbers)]| -> Vec<String> {
        group.iter().map(|(n, _)| n.clone()).collect()
    };
    let detections = |group: &[&(String, &FailoverNumbers)]| -> String {
        let ms: Vec<String> = group.iter().map(|(_, f)| number(f.phases[0])).collect();
        format!("{} ms of detection", and_list(&ms))
    };
    let reason = match fault {
        Fault::Kill => ": the connection reset",
        Fault::Isolate => "",
    };
    let quick = (!at_once.is_empty()).then(|| {
        format!(
            "{} {} at once ({}{reason})",
            and_list(&names(&at_once)),
            verb(at_once.len(), ("reacts", "react")),
            detections(&at_once)
        )
    });
    let slow = (!waited.is_empty()).then(|| {
        format!(
            "{} {} for {} timeout ({})",
            and_list(&names(&waited)),
            verb(waited.len(), ("waits", "wait")),
            verb(waited.len(), ("its", "their")),
            detections(&waited)
        )
    });
    match (quick, slow) {
        (Some(q), Some(s)) => format!("{q} while {s}"),
        (Some(q), None) => q,
        (None, Some(s)) => s,
        (None, None) => String::new(),
    }
}

/// The rows measured at `clients` clients, with what `pick` reads from their load.
fn at_load(
    rows: &[Row],
    clients: u32,
    pick: fn(&crate::headline::Load) -> Option<f64>,
) -> Vec<(String, f64)> {
    rows.iter()
        .filter_map(|r| {
            let load = r.throughput.as_ref().filter(|l| l.clients == clients)?;
            Some((display_name(&r.protocol), pick(load)?))
        })
        .collect()
}

/// Throughput at the headline's client count.
pub(crate) fn throughput(rows: &[Row], clients: u32) -> Option<String> {
    let topic = format!("With {clients} closed-loop clients");
    let ranking = Ranking {
        topic: &topic,
        lead: ("commits the most", "commit the most"),
        prefix: "",
        unit: " ops/s",
        note: String::new(),
        better: Better::Higher,
    };
    rank(&ranking, &at_load(rows, clients, |l| Some(l.ops_per_sec))).map(sentence)
}

/// Commit latency (p99, with the leader's p50) at the headline's client count.
pub(crate) fn latency(rows: &[Row], clients: u32) -> Option<String> {
    let p99 = at_load(rows, clients, |l| l.p99_us);
    let p50 = at_load(rows, clients, |l| l.p50_us);
    let options: Vec<Option<f64>> = p99.iter().map(|(_, v)| Some(*v)).collect();
    let best = best_rows(&options, Better::Lower);
    let note = match best.as_slice() {
        [one] => p99
            .get(*one)
            .and_then(|(name, _)| p50.iter().find(|(n, _)| n == name))
            .map_or(String::new(), |(_, v)| format!(" (p50 {} µs)", number(*v))),
        _ => String::new(),
    };
    // "also" when the same protocols lead the throughput.
    let ops = at_load(rows, clients, |l| Some(l.ops_per_sec));
    let ops_best = best_rows(
        &ops.iter().map(|(_, v)| Some(*v)).collect::<Vec<_>>(),
        Better::Higher,
    );
    let leaders = |values: &[(String, f64)], best: &[usize]| -> Vec<String> {
        best.iter()
            .filter_map(|&i| values.get(i))
            .map(|(n, _)| n.clone())
            .collect()
    };
    let also = !best.is_empty() && leaders(&p99, &best) == leaders(&ops, &ops_best);
    let topic = format!("At {clients} clients");
    let ranking = Ranking {
        topic: &topic,
        lead: if also {
            (
                "also has the lowest commit latency",
                "also have the lowest commit latency",
            )
        } else {
            (
                "has the lowest commit latency",
                "have the lowest commit latency",
            )
        },
        prefix: "p99 ",
        unit: " µs",
        note,
        better: Better::Lower,
    };
    rank(&ranking, &p99).map(sentence)
}

/// Messages per committed operation.
pub(crate) fn messages(rows: &[Row]) -> Option<String> {
    let values: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|r| Some((display_name(&r.protocol), r.messages_per_op?)))
        .collect();
    let ranking = Ranking {
        topic: "Per committed operation",
        lead: ("sends the fewest messages", "send the fewest messages"),
        prefix: "",
        unit: "",
        note: " (all nodes together)".into(),
        better: Better::Lower,
    };
    rank(&ranking, &values).map(sentence)
}

/// Every sentence the rows support, in the order of the table's columns.
pub(crate) fn all(rows: &[Row], clients: Option<u32>) -> Vec<String> {
    let mut out = vec![
        election(rows),
        failover(rows, Fault::Kill),
        failover(rows, Fault::Isolate),
    ];
    if let Some(c) = clients {
        out.push(throughput(rows, c));
        out.push(latency(rows, c));
    }
    out.push(messages(rows));
    out.into_iter().flatten().collect()
}

#[cfg(test)]
#[path = "sentences_tests.rs"]
mod tests;
