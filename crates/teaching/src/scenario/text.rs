//! The narrated timeline as text: what `cwb sim --scenario` prints.
//!
//! One line per happening, time first: steps (`**`), messages (`n1 -> n2  NOTIFICATION
//! vote 3 ...`), the protocols' own explanations of each decision (among them the fate
//! of each write: commits naming the nodes that hold the entry, entries a conflict or a
//! TRUNC drops), what each client heard (acknowledged, refused, no answer), role
//! changes, elections, and the expectations with each condition marked `ok` or `FAIL`
//! and every node's log then (committed prefix in brackets, a legend at the top); then
//! every node's final state and the puts left unanswered.

use super::describe::Vocabulary;
use super::expect::Verdict;
use super::run::{Fate, Item, ItemKind, Outcome, ReplyOutcome};
use super::spec::Scenario;
use protocols::{Event, Protocol, Time};
use std::fmt::Write as _;

/// What to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// Also heartbeats, routine acknowledgements, timers, commit advances and messages
    /// lost at the door.
    pub verbose: bool,
    /// No messages at all: steps, decisions, events and checks only.
    pub quiet: bool,
}

fn time(t: Time) -> String {
    format!("[{:>12}]", t.to_string())
}

/// One line for a protocol event; `None` for events shown only when verbose.
pub fn event_text(v: &Vocabulary, node: u64, event: &Event, verbose: bool) -> Option<String> {
    let text = protocols::event_text(v.generation, v.show_term, event);
    Some(match event {
        Event::Committed { .. } if !verbose => return None,
        Event::Narrate(_) => protocols::narration_line(node, &text),
        _ => format!("n{node} {text}"),
    })
}

/// The header, timeline, check results and final states.
pub fn render<P: Protocol>(scenario: &Scenario, outcome: &Outcome<P>, opts: TextOptions) -> String {
    let v = &outcome.vocabulary;
    let mut out = String::new();
    let t = &scenario.timing;
    let _ = writeln!(out, "== {} ==", scenario.name);
    let _ = writeln!(
        out,
        "{}, {} nodes, seed {}; heartbeat {} ms, election timeout {}-{} ms, finalize wait {} ms",
        v.protocol,
        scenario.nodes,
        scenario.seed,
        t.heartbeat.as_millis(),
        t.election_timeout_min.as_millis(),
        t.election_timeout_max.as_millis(),
        t.finalize_wait.as_millis()
    );
    if let Some(d) = &scenario.description {
        let _ = writeln!(out, "{}", d.trim_end());
    }
    let _ = writeln!(out, "{}", crate::legend::notation(v.protocol));
    let _ = writeln!(
        out,
        "logs at checks: [committed] uncommitted (* committed out of order); {}",
        v.log_legend
    );
    out.push('\n');
    for item in &outcome.timeline {
        if let Some(line) = item_text(outcome, item, opts) {
            let _ = writeln!(out, "{} {line}", time(item.at));
        }
    }
    out.push('\n');
    summary(outcome, &mut out);
    out
}

/// One line (or a few, for a check) for one timeline item, as [`render`] prints it
/// after the time; `None` for items `opts` hides.
pub fn item_text<P: Protocol>(
    outcome: &Outcome<P>,
    item: &Item,
    opts: TextOptions,
) -> Option<String> {
    let v = &outcome.vocabulary;
    match &item.kind {
        ItemKind::Step { text, .. } | ItemKind::LinkRule { text, .. } => Some(format!("** {text}")),
        ItemKind::Message(m) => {
            // A message the scenario drops on purpose is part of its story: shown
            // unless routine; other losses only with --verbose.
            let shown = matches!(m.fate, Fate::Delivered | Fate::Dropped);
            if opts.quiet || (!opts.verbose && (m.routine || !shown)) {
                return None;
            }
            let fate = match m.fate {
                Fate::Delivered => "",
                Fate::TargetDown => "   (lost: the receiver is down)",
                Fate::Partitioned => "   (lost: partitioned while in flight)",
                Fate::Dropped => "   (dropped: its kind is dropped on this link)",
            };
            let note = m
                .note
                .as_ref()
                .map_or(String::new(), |n| format!("   ({n})"));
            Some(format!(
                "   n{} -> n{}  {}{fate}{note}",
                m.from, m.to, m.text
            ))
        }
        ItemKind::Timer { node, name } => opts
            .verbose
            .then(|| format!("   n{node}: timer fires: {name}")),
        ItemKind::Narration(text) => Some(format!("      {text}")),
        ItemKind::Event { node, event } => {
            event_text(v, *node, event, opts.verbose).map(|s| format!(" {s}"))
        }
        ItemKind::Check(i) => {
            let report = outcome.checks.get(*i)?;
            let mut s = format!(
                "CHECK {}: {}",
                i + 1,
                if report.passed() { "passed" } else { "FAILED" }
            );
            for line in &report.lines {
                let mark = match line.verdict {
                    Verdict::Pass => "ok  ",
                    Verdict::Fail => "FAIL",
                    Verdict::Note => "note",
                };
                // A condition in several lines (a checker's anomaly) stays under its mark.
                let text = line.text.replace('\n', &format!("\n{:>20}", ""));
                let _ = write!(s, "\n{:>15}{mark} {text}", "");
            }
            for (node, log) in &report.logs {
                let log = log.as_deref().unwrap_or("(down)");
                let _ = write!(s, "\n{:>15}log  n{node}: {log}", "");
            }
            Some(s)
        }
        ItemKind::Reply {
            node,
            put,
            outcome: o,
            ..
        } => Some(format!(" {}", reply_text(*node, put, o))),
        ItemKind::NoAnswer { put, why, .. } => {
            Some(format!(" client gets no answer for {put}: {why}"))
        }
        ItemKind::Problem(text) => Some(format!("!! {text}")),
    }
}

/// `n2 refuses client: put k1=v1: not the leader (try node 1)`: what the client of
/// `put` heard from `node`.
pub fn reply_text(node: u64, put: &str, outcome: &ReplyOutcome) -> String {
    match outcome {
        ReplyOutcome::Done { index, answer } => match read_answer(put, answer.as_ref()) {
            Some(read) => format!(
                "n{node} answers client: {read} (its store has applied up to index {index})"
            ),
            None => {
                format!("n{node} answers client: {put} acknowledged (applied at index {index})")
            }
        },
        ReplyOutcome::Refused(protocols::ClientError::LeadershipLost) => format!(
            "n{node} cannot answer client: {put}: leadership lost before commit (it may still commit)"
        ),
        ReplyOutcome::Refused(e) => format!("n{node} refuses client: {put}: {e}"),
    }
}

/// `x = 1`: what the read `command` (`get x`) returned; `None` for a write.
pub fn read_answer(command: &str, answer: Option<&bytes::Bytes>) -> Option<String> {
    let key = command.strip_prefix("get ")?;
    let value = answer.map_or("nothing".to_string(), |v| {
        String::from_utf8_lossy(v).into_owned()
    });
    Some(format!("{key} = {value}"))
}

fn summary<P: Protocol>(outcome: &Outcome<P>, out: &mut String) {
    let v = &outcome.vocabulary;
    let _ = writeln!(out, "final state at {}:", outcome.sim.now());
    let _ = writeln!(
        out,
        "  {:<5} {:<10} {:>7} {:>7}  delivered",
        "node", "role", v.generation, "leader"
    );
    for n in outcome.summary() {
        let delivered = &n.delivered;
        let names: Vec<String> = if delivered.len() <= 6 {
            delivered.iter().map(|e| outcome.command_name(e)).collect()
        } else {
            let first = delivered.iter().take(2).map(|e| outcome.command_name(e));
            let last = delivered
                .iter()
                .skip(delivered.len() - 2)
                .map(|e| outcome.command_name(e));
            first.chain(["…".to_string()]).chain(last).collect()
        };
        let seq = format!("{} [{}]", delivered.len(), names.join(", "));
        match &n.status {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "  n{:<4} {:<10} {:>7} {:>7}  {seq}",
                    n.node,
                    s.role.to_string(),
                    (v.show_term)(s.term),
                    s.leader.map_or("-".to_string(), |l| l.to_string()),
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  n{:<4} {:<10} {:>7} {:>7}  (before it went down) {seq}",
                    n.node, "down", "-", "-"
                );
            }
        }
    }
    let messages = outcome
        .timeline
        .iter()
        .filter(|i| matches!(&i.kind, ItemKind::Message(m) if m.fate == Fate::Delivered))
        .count();
    let _ = writeln!(
        out,
        "{} messages sent, {messages} delivered; delivered sequences are checked to agree after every step",
        outcome.sim.messages_sent()
    );
    if !outcome.unanswered.is_empty() {
        let open: Vec<String> = outcome
            .unanswered
            .iter()
            .map(|(id, n)| format!("{} (sent to n{n})", outcome.put_name(id)))
            .collect();
        let _ = writeln!(out, "no answer yet at the end: {}", open.join(", "));
    }
    let failed = outcome.checks.iter().filter(|c| !c.passed()).count();
    let _ = writeln!(
        out,
        "expectations: {} passed, {failed} failed{}",
        outcome.checks.len() - failed,
        if outcome.problems.is_empty() {
            String::new()
        } else {
            format!(
                "; {} problem(s): {}",
                outcome.problems.len(),
                outcome.problems.join("; ")
            )
        }
    );
}
