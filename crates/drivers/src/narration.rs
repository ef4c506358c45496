//! The live narration of a cluster as a person can follow it (`cwb cluster --narrate`):
//! lines of every node and of the console, printed in the order of their stamps, with
//! decisions in full and the traffic every write repeats folded.
//!
//! Each node stamps its events when its protocol produces them, but they reach the
//! printer a little later and not in stamp order across nodes (a node's durability
//! batch, the scheduler), and a console command's line is only known once the command
//! returns, after its effects. So [`Digest`] holds every line for [`HOLD`] and prints
//! what is older in stamp order; a console command is stamped when it starts, so a kill
//! comes before the elections it causes. A line that arrives after later lines were
//! printed keeps its place at the end, stamped like the line before it, and says when
//! it happened.
//!
//! What it folds ([`Detail::Digest`], the default), by each protocol's own mark
//! ([`protocols::Narration`], from its `describe.rs`):
//! - routine per-write lines (accepting, acknowledging, learning, delivering) are not
//!   printed; the last line counts them;
//! - commit points are held until something else is printed, then shown as one line (a
//!   single commit point as it is; several as the last with their count), or attached
//!   to the answer of the console's own put or get, which then says what became of
//!   the write; under a steady load, one line per [`PERIOD`];
//! - a node repeating one of the last [`RECENT`] different lines it printed, within
//!   [`PERIOD`] of its last occurrence (one line over and over, or a cycle such as a
//!   pre-vote that fails and starts again), is counted, not printed again, and the count is shown when the node says something
//!   new or at least once per [`PERIOD`] (`... (x12 more since 1620.0 ms)`, `... (again at 1620.0 ms)`).
//!
//! [`Detail::All`] prints every line, in stamp order.

use protocols::{Narration, NodeId};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a line waits for lines with earlier stamps before it is printed.
pub const HOLD: Duration = Duration::from_millis(60);
/// Folded commit points and repeats are reported at least this often.
pub const PERIOD: Duration = Duration::from_secs(1);
/// A node's line equal to one of its last this many different lines is a repeat.
pub const RECENT: usize = 3;

/// How much of the narration is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Detail {
    /// Decisions in full; per-write traffic folded into commit points and the answers
    /// to puts; repeated lines counted.
    Digest,
    /// Every line, in stamp order.
    All,
}

/// What a line is, for folding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A node's line: its protocol's mark (protocol events are decisions).
    Node(NodeId, Narration),
    /// The console's own line (a command's effect, the client load): always printed.
    Console,
    /// The answer to a put or get the console sent at `started`: the commit points
    /// between then and its stamp are attached to it.
    Answer { started: Instant },
}

/// One line to print: when it happened, what it is, and its text without a stamp (a
/// node's line with its `nN: ` prefix).
#[derive(Clone, Debug)]
pub struct Line {
    /// When it happened (the protocol's step, the start of a command, the answer).
    pub at: Instant,
    /// What it is.
    pub kind: Kind,
    /// The text.
    pub text: String,
}

/// A line repeated by one node.
struct Repeat {
    text: String,
    /// Repeats not yet reported, and the stamp of the first of them.
    count: u64,
    since: Option<Instant>,
    /// The stamp of the last one.
    last: Instant,
}

/// The printer's state (see the module docs).
pub struct Digest {
    origin: Instant,
    detail: Detail,
    /// Lines not yet printed, with their arrival order (ties keep it).
    waiting: Vec<(Instant, u64, Line)>,
    arrived: u64,
    /// The stamp of the last printed line.
    printed_to: Option<Instant>,
    /// Commit points held back: node, stamp, text.
    commits: Vec<(NodeId, Instant, String)>,
    /// Each node's last [`RECENT`] different lines, oldest first.
    repeats: BTreeMap<NodeId, Vec<Repeat>>,
    /// Routine lines not printed.
    hidden: u64,
    /// Lines printed.
    lines: u64,
}

impl Digest {
    /// A printer whose stamps count from `origin`.
    pub fn new(origin: Instant, detail: Detail) -> Digest {
        Digest {
            origin,
            detail,
            waiting: Vec::new(),
            arrived: 0,
            printed_to: None,
            commits: Vec::new(),
            repeats: BTreeMap::new(),
            hidden: 0,
            lines: 0,
        }
    }

    /// Takes a line to print once it has waited [`HOLD`].
    pub fn push(&mut self, line: Line) {
        self.arrived += 1;
        self.waiting.push((line.at, self.arrived, line));
    }

    /// The lines to print at `now`: every line stamped before `now - HOLD`, in stamp
    /// order, with what is folded and due.
    pub fn release(&mut self, now: Instant) -> Vec<String> {
        let cut = now.checked_sub(HOLD).unwrap_or(self.origin);
        let mut out = Vec::new();
        self.waiting.sort_by_key(|(at, seq, _)| (*at, *seq));
        let due = self.waiting.partition_point(|(at, _, _)| *at <= cut);
        let ready: Vec<_> = self.waiting.drain(..due).collect();
        for (_, _, line) in ready {
            self.take(line, &mut out);
        }
        // Folded lines due by the period: at a stamp nothing printed has passed.
        if self
            .commits
            .first()
            .is_some_and(|(_, at, _)| cut.saturating_duration_since(*at) >= PERIOD)
        {
            self.flush_commits(&mut out);
        }
        let stale: Vec<NodeId> = self
            .repeats
            .iter()
            .filter(|(_, recent)| {
                recent.iter().any(|r| {
                    r.since
                        .is_some_and(|s| cut.saturating_duration_since(s) >= PERIOD)
                })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.flush_repeats(id, None, &mut out);
        }
        out
    }

    /// Everything still held, and a last line saying what was folded.
    pub fn finish(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        self.waiting.sort_by_key(|(at, seq, _)| (*at, *seq));
        for (_, _, line) in std::mem::take(&mut self.waiting) {
            self.take(line, &mut out);
        }
        self.flush_commits(&mut out);
        let ids: Vec<NodeId> = self.repeats.keys().copied().collect();
        for id in ids {
            self.flush_repeats(id, None, &mut out);
        }
        if self.hidden > 0 {
            out.push(format!(
                "narration: {} routine per-write lines folded into the commit points above \
                 (--narrate all prints them)",
                self.hidden
            ));
        }
        out
    }

    fn take(&mut self, line: Line, out: &mut Vec<String>) {
        if self.detail == Detail::All {
            let text = line.text.clone();
            self.print(line.at, &text, out);
            return;
        }
        match line.kind {
            Kind::Node(_, Narration::Routine) => self.hidden += 1,
            Kind::Node(id, Narration::Commit) => self.commits.push((id, line.at, line.text)),
            Kind::Node(id, Narration::Decision) => {
                let recent = self.repeats.entry(id).or_default();
                // A repeat follows its last occurrence within the period; after a
                // longer pause (a restart, a new leader) the line is news again.
                if let Some(r) = recent.iter_mut().find(|r| {
                    r.text == line.text && line.at.saturating_duration_since(r.last) <= PERIOD
                }) {
                    r.count += 1;
                    r.since.get_or_insert(line.at);
                    r.last = line.at;
                    return;
                }
                self.flush_repeats(id, Some(line.at), out);
                self.flush_commits(out);
                self.print(line.at, &line.text, out);
                let recent = self.repeats.entry(id).or_default();
                recent.retain(|r| r.text != line.text);
                if recent.len() >= RECENT {
                    recent.remove(0);
                }
                recent.push(Repeat {
                    text: line.text,
                    count: 0,
                    since: None,
                    last: line.at,
                });
            }
            Kind::Console => {
                self.flush_commits(out);
                self.print(line.at, &line.text, out);
            }
            Kind::Answer { started } => {
                let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.commits)
                    .into_iter()
                    .partition(|(_, at, _)| *at >= started && *at <= line.at);
                self.commits = others;
                self.flush_commits(out);
                let text = match mine.as_slice() {
                    [] => line.text,
                    [(_, _, one)] => format!("{}; {one}", line.text),
                    [.., (_, _, last)] => format!(
                        "{}; {last} (the last of {} commit points meanwhile)",
                        line.text,
                        mine.len()
                    ),
                };
                self.print(line.at, &text, out);
            }
        }
    }

    /// Prints the held commit points: one as it is, several as the last with a count.
    fn flush_commits(&mut self, out: &mut Vec<String>) {
        let commits = std::mem::take(&mut self.commits);
        let mut by_node: BTreeMap<NodeId, Vec<(Instant, String)>> = BTreeMap::new();
        for (id, at, text) in commits {
            by_node.entry(id).or_default().push((at, text));
        }
        let mut shown: Vec<(Instant, String)> = by_node
            .into_values()
            .filter_map(|list| {
                let first = list.first()?.0;
                let n = list.len();
                let (at, text) = list.into_iter().next_back()?;
                Some(if n == 1 {
                    (at, text)
                } else {
                    let since = self.ms(first);
                    (
                        at,
                        format!("{text} (the last of {n} commit points since {since:.1} ms)"),
                    )
                })
            })
            .collect();
        shown.sort_by_key(|(at, _)| *at);
        for (at, text) in shown {
            self.print(at, &text, out);
        }
    }

    /// Reports node `id`'s uncounted repeats, in the order of their first repeat,
    /// at `at` or at the last of them (never before a line already printed: each count
    /// says since when).
    fn flush_repeats(&mut self, id: NodeId, at: Option<Instant>, out: &mut Vec<String>) {
        let Some(recent) = self.repeats.get_mut(&id) else {
            return;
        };
        let mut due: Vec<(Instant, Instant, u64, String)> = recent
            .iter_mut()
            .filter_map(|r| {
                let since = r.since.take()?;
                Some((since, r.last, std::mem::take(&mut r.count), r.text.clone()))
            })
            .collect();
        if due.is_empty() {
            return;
        }
        due.sort_by_key(|d| d.0);
        self.flush_commits(out);
        for (since, last, count, text) in due {
            let text = if count == 1 {
                format!("{text} (again at {:.1} ms)", self.ms(since))
            } else {
                format!("{text} (x{count} more since {:.1} ms)", self.ms(since))
            };
            let at = at.unwrap_or(last).max(self.printed_to.unwrap_or(last));
            self.print(at, &text, out);
        }
    }

    fn ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.origin).as_secs_f64() * 1000.0
    }

    /// Prints `text` stamped `at`, or, if a later line is out already, stamped like it
    /// and saying when it happened.
    fn print(&mut self, at: Instant, text: &str, out: &mut Vec<String>) {
        let line = match self.printed_to {
            Some(to) if at < to => format!(
                "[{:>9.1} ms] {text} (arrived late: at {:.1} ms)",
                self.ms(to),
                self.ms(at)
            ),
            _ => {
                self.printed_to = Some(at);
                format!("[{:>9.1} ms] {text}", self.ms(at))
            }
        };
        self.lines += 1;
        out.push(line);
    }

    /// Lines printed so far.
    pub fn printed(&self) -> u64 {
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(origin: Instant, ms: u64) -> Instant {
        origin + Duration::from_millis(ms)
    }

    fn node(origin: Instant, ms: u64, id: NodeId, mark: Narration, text: &str) -> Line {
        Line {
            at: at(origin, ms),
            kind: Kind::Node(id, mark),
            text: format!("n{id}: {text}"),
        }
    }

    fn stamps(lines: &[String]) -> Vec<f64> {
        lines
            .iter()
            .map(|l| {
                l.trim_start_matches('[')
                    .split(" ms]")
                    .next()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or_else(|| panic!("no stamp in {l}"))
            })
            .collect()
    }

    #[test]
    fn lines_come_out_in_stamp_order_after_the_hold() {
        let o = Instant::now();
        let mut d = Digest::new(o, Detail::Digest);
        d.push(node(o, 207, 2, Narration::Decision, "promise"));
        d.push(node(o, 206, 3, Narration::Decision, "promise"));
        d.push(Line {
            at: at(o, 205),
            kind: Kind::Console,
            text: "*** killed node 1".into(),
        });
        assert!(d.release(at(o, 250)).is_empty(), "held for HOLD");
        let out = d.release(at(o, 400));
        assert_eq!(out.len(), 3);
        assert!(out[0].ends_with("*** killed node 1"));
        assert!(out[1].ends_with("n3: promise"));
        assert_eq!(stamps(&out), vec![205.0, 206.0, 207.0]);
        // A straggler keeps the stamps in order and says when it happened.
        d.push(node(o, 100, 1, Narration::Decision, "late"));
        let late = d.release(at(o, 500));
        assert_eq!(
            late,
            vec!["[    207.0 ms] n1: late (arrived late: at 100.0 ms)"]
        );
    }

    #[test]
    fn routine_lines_fold_and_commit_points_attach_to_the_answer() {
        let o = Instant::now();
        let mut d = Digest::new(o, Detail::Digest);
        d.push(node(
            o,
            10,
            2,
            Narration::Routine,
            "accept Accept(1.1) from 1: slots 1..=1",
        ));
        d.push(node(
            o,
            11,
            1,
            Narration::Commit,
            "chooses slot 1: accepted at 1.1 by 2, 3",
        ));
        d.push(node(
            o,
            12,
            3,
            Narration::Routine,
            "learn: slots 1..=1 chosen",
        ));
        d.push(Line {
            at: at(o, 13),
            kind: Kind::Answer { started: at(o, 9) },
            text: "put a=1 -> ok (previous: none) in 4.0 ms".into(),
        });
        let mut out = d.release(at(o, 100));
        out.extend(d.finish());
        assert_eq!(
            out,
            vec![
                "[     13.0 ms] put a=1 -> ok (previous: none) in 4.0 ms; n1: chooses slot 1: accepted at 1.1 by 2, 3",
                "narration: 2 routine per-write lines folded into the commit points above (--narrate all prints them)",
            ]
        );
    }

    #[test]
    fn a_steady_load_gives_one_commit_line_per_period_and_decisions_flush_it_first() {
        let o = Instant::now();
        let mut d = Digest::new(o, Detail::Digest);
        for i in 0..30u64 {
            d.push(node(
                o,
                100 + i * 50,
                1,
                Narration::Commit,
                &format!("commits index {}: stored on 1, 2", i + 1),
            ));
        }
        let mut out = Vec::new();
        for ms in (100..1800).step_by(20) {
            out.extend(d.release(at(o, ms)));
        }
        assert_eq!(
            out,
            vec!["[   1100.0 ms] n1: commits index 21: stored on 1, 2 (the last of 21 commit points since 100.0 ms)"]
        );
        d.push(node(
            o,
            1700,
            2,
            Narration::Decision,
            "is candidate (term 2)",
        ));
        let out = d.release(at(o, 2000));
        assert_eq!(
            out,
            vec![
                "[   1550.0 ms] n1: commits index 30: stored on 1, 2 (the last of 9 commit points since 1150.0 ms)",
                "[   1700.0 ms] n2: is candidate (term 2)",
            ]
        );
    }

    #[test]
    fn a_node_repeating_itself_is_counted_not_reprinted() {
        let o = Instant::now();
        let mut d = Digest::new(o, Detail::Digest);
        for i in 0..12u64 {
            d.push(node(
                o,
                100 + i * 10,
                2,
                Narration::Decision,
                "drop REQUEST from 2: not established yet",
            ));
            d.push(node(
                o,
                105 + i * 10,
                3,
                Narration::Decision,
                "drop REQUEST from 3: not established yet",
            ));
        }
        d.push(node(
            o,
            300,
            2,
            Narration::Decision,
            "is FOLLOWING (epoch 1)",
        ));
        let mut out = d.release(at(o, 1000));
        out.extend(d.finish());
        assert_eq!(
            out,
            vec![
                "[    100.0 ms] n2: drop REQUEST from 2: not established yet",
                "[    105.0 ms] n3: drop REQUEST from 3: not established yet",
                "[    300.0 ms] n2: drop REQUEST from 2: not established yet (x11 more since 110.0 ms)",
                "[    300.0 ms] n2: is FOLLOWING (epoch 1)",
                "[    300.0 ms] n3: drop REQUEST from 3: not established yet (x11 more since 115.0 ms)",
            ]
        );
        let s = stamps(&out);
        assert!(s.windows(2).all(|w| w[0] <= w[1]), "{out:?}");
    }

    #[test]
    fn a_cycle_of_two_lines_is_counted_too() {
        let o = Instant::now();
        let mut d = Digest::new(o, Detail::Digest);
        for i in 0..5u64 {
            d.push(node(
                o,
                100 + i * 200,
                1,
                Narration::Decision,
                "pre-vote for term 2 ends without a majority",
            ));
            d.push(node(
                o,
                100 + i * 200,
                1,
                Narration::Decision,
                "election timeout, asking for pre-votes for term 2",
            ));
        }
        let mut out = d.release(at(o, 1000));
        out.extend(d.finish());
        assert_eq!(
            out,
            vec![
                "[    100.0 ms] n1: pre-vote for term 2 ends without a majority",
                "[    100.0 ms] n1: election timeout, asking for pre-votes for term 2",
                "[    900.0 ms] n1: pre-vote for term 2 ends without a majority (x4 more since 300.0 ms)",
                "[    900.0 ms] n1: election timeout, asking for pre-votes for term 2 (x4 more since 300.0 ms)",
            ]
        );
    }

    #[test]
    fn a_line_after_a_long_pause_is_news_again() {
        let o = Instant::now();
        let mut d = Digest::new(o, Detail::Digest);
        d.push(node(o, 100, 2, Narration::Decision, "is follower (term 1)"));
        d.push(node(
            o,
            3400,
            2,
            Narration::Decision,
            "is follower (term 1)",
        ));
        let out = d.release(at(o, 4000));
        assert_eq!(
            out,
            vec![
                "[    100.0 ms] n2: is follower (term 1)",
                "[   3400.0 ms] n2: is follower (term 1)",
            ]
        );
    }

    #[test]
    fn all_prints_every_line_in_stamp_order() {
        let o = Instant::now();
        let mut d = Digest::new(o, Detail::All);
        d.push(node(o, 12, 3, Narration::Routine, "learn"));
        d.push(node(o, 10, 2, Narration::Routine, "accept"));
        d.push(node(o, 11, 1, Narration::Commit, "chooses"));
        d.push(node(o, 13, 1, Narration::Commit, "chooses"));
        let out = d.release(at(o, 100));
        assert_eq!(
            out,
            vec![
                "[     10.0 ms] n2: accept",
                "[     11.0 ms] n1: chooses",
                "[     12.0 ms] n3: learn",
                "[     13.0 ms] n1: chooses",
            ]
        );
        assert!(d.finish().is_empty());
    }
}
