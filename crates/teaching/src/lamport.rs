//! Message-sequence (Lamport) diagrams of a scenario run, as self-contained SVG text.
//!
//! Lamport's space-time diagrams ("Time, Clocks, and the Ordering of Events in a
//! Distributed System", CACM 1978, Figure 1): one vertical line per process, time
//! running downwards, an arrow per message from its send event to its receive event.
//! Here each node's line is solid while it runs and dashed while it is down; each
//! delivered message is an arrow labelled with its kind and what sets it apart (a vote
//! granted `✓` or refused `✗`, a ballot; `protocols::Describe::arrow_label`; hover for
//! its full short form);
//! role changes, elections and readiness are marked on the node's line, and so are a
//! leader's commits (a filled diamond, `commit 4`) and what a client heard back (`✓`
//! acknowledged, `✗` refused, `…` no answer, on the line of the node it asked); steps
//! (start, crash, partitions, client puts) and expectation results are annotated on the
//! right.
//!
//! Time is drawn by *rank*, not to scale: every distinct instant that has something to
//! draw gets one row, so that a 2 ms election and a 2 s quiet period both stay legible;
//! the left margin prints each row's virtual time.

use super::scenario::describe::Vocabulary;
use super::scenario::expect::CheckReport;
use super::scenario::run::{Fate, Item, ItemKind, Message, ReplyOutcome};
use super::scenario::text::read_answer;
use protocols::{Event, NodeId, Role, Time};
use sim::Action;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// What to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SvgOptions {
    /// Also draw heartbeats, routine acknowledgements and messages lost at the door
    /// (receiver down, or partitioned while in flight).
    pub verbose: bool,
    /// Draw at most this many messages (the first ones); the rest are counted.
    pub max_messages: usize,
    /// Narrow node columns and no notes margin (steps and checks as marks with their
    /// text on hover), for three diagrams side by side with every node in view.
    pub compact: bool,
}

impl Default for SvgOptions {
    fn default() -> SvgOptions {
        SvgOptions {
            verbose: false,
            max_messages: 1500,
            compact: false,
        }
    }
}

const ROW: f64 = 18.0;
/// Where the node names sit below the title and legend lines.
const HEAD: f64 = 40.0;
const GUTTER: f64 = 120.0;
const COLUMN: f64 = 170.0;
const NOTES: f64 = 330.0;
/// Width of one monospace character at the legend's font size (9 px).
const LEGEND_CHAR: f64 = 5.45;

/// Splits `text` into lines of at most `width` pixels of 9 px monospace, at spaces.
fn wrap(text: &str, width: f64) -> Vec<String> {
    let max = ((width / LEGEND_CHAR) as usize).max(20);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The legend of the marks, then of the protocol's notation.
fn legend_lines(protocol: &str, width: f64) -> Vec<String> {
    let marks = "marks: boxes = role and term/epoch/ballot from then on; ★ = elected / ready; \
                 ◆ commit N = a leader's commit point; ✓ acknowledged, ✗ refused, … no answer = \
                 what a client heard; on an arrow, ✓ / ✗ = a vote or answer granted / refused \
                 (\"vote 3 r2\": a FastLeaderElection vote for 3 in round 2); dashed line = \
                 node down; (late)/(held) = a message a scenario step delayed or held";
    let mut lines = wrap(marks, width);
    lines.extend(wrap(crate::legend::notation(protocol), width));
    lines
}

/// Order of things drawn at one instant: steps, then arrivals, then the events they
/// cause, then the sends that follow, then checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    /// Steps at one instant get a row each, in order.
    Step(usize),
    Receive,
    Event,
    /// A leader's commit, then what clients heard: rows of their own, so that their
    /// labels never share a row with a role change or an election.
    Commit,
    Reply,
    Send,
    Check,
}

/// Which items are a leader's commit advance: `Committed` events of a node whose last
/// role change made it a leader (followers' commits are not drawn).
fn leader_commits(timeline: &[Item]) -> Vec<bool> {
    let mut leading: BTreeSet<NodeId> = BTreeSet::new();
    timeline
        .iter()
        .map(|item| match &item.kind {
            ItemKind::Event {
                node,
                event: Event::RoleChanged { role, .. },
            } => {
                if role.is_leader() {
                    leading.insert(*node);
                } else {
                    leading.remove(node);
                }
                false
            }
            ItemKind::Step {
                action: Action::Crash(node),
                ..
            } => {
                leading.remove(node);
                false
            }
            ItemKind::Event {
                node,
                event: Event::Committed { .. },
            } => leading.contains(node),
            _ => false,
        })
        .collect()
}

/// The short label and colour of what a client heard, and its full text.
fn reply_mark(item: &ItemKind) -> Option<(NodeId, String, &'static str, String)> {
    match item {
        ItemKind::Reply {
            node, put, outcome, ..
        } => Some(match outcome {
            ReplyOutcome::Done { index, answer } => match read_answer(put, answer.as_ref()) {
                Some(read) => (
                    *node,
                    format!("✓ {read}"),
                    "#2ca02c",
                    format!("n{node} answered {read} (its store had applied up to index {index})"),
                ),
                None => (
                    *node,
                    format!("✓ {put}"),
                    "#2ca02c",
                    format!("n{node} acknowledged {put} (applied at index {index})"),
                ),
            },
            ReplyOutcome::Refused(protocols::ClientError::LeadershipLost) => (
                *node,
                format!("… {put}"),
                "#7f7f7f",
                format!("n{node} lost leadership before {put} committed: no answer yet"),
            ),
            ReplyOutcome::Refused(e) => (
                *node,
                format!("✗ {put}"),
                "#d62728",
                format!("n{node} refused {put}: {e}"),
            ),
        }),
        ItemKind::NoAnswer { node, put, why, .. } => Some((
            *node,
            format!("… {put}"),
            "#7f7f7f",
            format!("no answer for {put}: {why}"),
        )),
        _ => None,
    }
}

/// The slot of every step in `timeline` (by item index): steps at the same instant get
/// consecutive rows so that their annotations do not overlap.
fn step_slots(timeline: &[Item]) -> Vec<Slot> {
    let mut previous: Option<Time> = None;
    let mut sub = 0;
    timeline
        .iter()
        .map(|item| {
            if matches!(item.kind, ItemKind::Step { .. } | ItemKind::LinkRule { .. }) {
                sub = if previous == Some(item.at) {
                    sub + 1
                } else {
                    0
                };
                previous = Some(item.at);
            }
            Slot::Step(sub)
        })
        .collect()
}

/// Escapes text for SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => s.push(c),
        }
    }
    s
}

fn kind_colour(kind: &str) -> &'static str {
    const PALETTE: [&str; 8] = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    ];
    let h = kind.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    PALETTE[h % PALETTE.len()]
}

fn role_colour(role: Role) -> &'static str {
    match role {
        Role::Leader | Role::Leading => "#f5c542",
        Role::Follower | Role::Following => "#9ecae1",
        Role::Candidate | Role::Looking => "#dddddd",
        Role::Observing => "#c7e9c0",
    }
}

/// The diagram of `timeline` for nodes `nodes`, titled `title`; `checks` are the run's
/// expectation reports (for the pass/fail annotations).
pub fn render_svg(
    title: &str,
    nodes: &[NodeId],
    vocabulary: &Vocabulary,
    timeline: &[Item],
    checks: &[CheckReport],
    opts: SvgOptions,
) -> String {
    let mut messages: Vec<&Message> = Vec::new();
    let mut skipped = 0usize;
    let mut rows: BTreeSet<(Time, Slot)> = BTreeSet::new();
    let steps = step_slots(timeline);
    let step_slot = |i: usize| steps.get(i).copied().unwrap_or(Slot::Step(0));
    let commits = leader_commits(timeline);
    let is_commit = |i: usize| commits.get(i).copied().unwrap_or(false);
    for (i, item) in timeline.iter().enumerate() {
        let slot = match &item.kind {
            ItemKind::Event {
                event: Event::Committed { .. },
                ..
            } if is_commit(i) => Slot::Commit,
            ItemKind::Reply { .. } | ItemKind::NoAnswer { .. } => Slot::Reply,
            ItemKind::Message(m) => {
                let shown = matches!(m.fate, Fate::Delivered | Fate::Dropped);
                if (m.routine || !shown) && !opts.verbose {
                    continue;
                }
                if messages.len() >= opts.max_messages {
                    skipped += 1;
                    continue;
                }
                messages.push(m);
                rows.insert((m.sent, Slot::Send));
                Slot::Receive
            }
            ItemKind::Step { .. } | ItemKind::LinkRule { .. } => step_slot(i),
            ItemKind::Event { event, .. } if !matches!(event, Event::Committed { .. }) => {
                Slot::Event
            }
            ItemKind::Check(_) | ItemKind::Problem(_) => Slot::Check,
            _ => continue,
        };
        rows.insert((item.at, slot));
    }
    let row_of: BTreeMap<(Time, Slot), usize> =
        rows.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    // The notes margin is as wide as its longest step (11 px monospace), within reason.
    let longest = timeline
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::Step { text, .. } | ItemKind::LinkRule { text, .. } => {
                Some(text.chars().count())
            }
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let (gutter, col, notes) = if opts.compact {
        (86.0, 110.0, 70.0)
    } else {
        (
            GUTTER,
            COLUMN,
            (6.7 * longest as f64 + 20.0).clamp(NOTES, 900.0),
        )
    };
    let width = gutter + col * nodes.len() as f64 + notes;
    let legend = legend_lines(vocabulary.protocol, width - 20.0);
    // Title, subtitle (not when compact: the page heads each diagram), legend.
    let head_lines = if opts.compact { 0.0 } else { 2.0 };
    let legend_top = 10.0 + 16.0 * head_lines;
    let top = legend_top + 11.0 * legend.len() as f64 + HEAD;
    let y = |at: Time, slot: Slot| {
        top + ROW * (row_of.get(&(at, slot)).copied().unwrap_or(0) as f64) + ROW / 2.0
    };
    let column: BTreeMap<NodeId, f64> = nodes
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, gutter + col / 2.0 + col * i as f64))
        .collect();
    let x = |id: NodeId| column.get(&id).copied().unwrap_or(gutter);
    let bottom = top + ROW * rows.len().max(1) as f64;
    let height = bottom + 40.0;

    let mut svg = String::new();
    let _ = writeln!(svg, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="monospace" font-size="11">"#
    );
    svg.push_str(concat!(
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">"#,
        r#"<path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>"#,
        "\n",
        r#"<rect width="100%" height="100%" fill="white"/>"#,
        "\n"
    ));
    if opts.compact {
        let _ = writeln!(svg, "<title>{}</title>", escape(title));
    } else {
        let _ = writeln!(
            svg,
            r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
            escape(title)
        );
        let _ = writeln!(
            svg,
            r##"<text x="10" y="38" fill="#555">{}: time runs downwards (one row per instant, not to scale); arrows are delivered messages{}</text>"##,
            escape(vocabulary.protocol),
            if opts.verbose {
                " (grey dashed: lost)"
            } else {
                ", heartbeats and lost messages hidden"
            }
        );
    }
    for (i, line) in legend.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<text class="legend" x="10" y="{:.1}" fill="#666" font-size="9">{}</text>"##,
            legend_top + 8.0 + 11.0 * i as f64,
            escape(line)
        );
    }

    // Time labels.
    let mut last_label = String::new();
    for &(at, slot) in &rows {
        let label = at.to_string();
        if label != last_label {
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#888" font-size="9">{}</text>"##,
                gutter - 8.0,
                y(at, slot) + 3.0,
                escape(&label)
            );
            last_label = label;
        }
    }

    lifelines(&mut svg, nodes, timeline, &step_slot, &x, &y, (top, bottom));

    // Message labels sit on their arrow, moved along it when the middle is taken.
    let mut placed: Vec<(f64, f64, f64)> = Vec::new();
    for m in &messages {
        let (x1, y1, x2, y2) = (
            x(m.from),
            y(m.sent, Slot::Send),
            x(m.to),
            y(m.received, Slot::Receive),
        );
        let colour = kind_colour(m.kind);
        let lost = m.fate != Fate::Delivered;
        let dash = if lost {
            r#" stroke-dasharray="4,3""#
        } else {
            ""
        };
        let stroke = if lost { "#aaaaaa" } else { colour };
        let label_w = 5.4 * m.label.chars().count() as f64 + 6.0;
        let free = |lx: f64, ly: f64| {
            placed.iter().all(|&(px, py, pw)| {
                (px - lx).abs() * 2.0 >= pw + label_w || (py - ly).abs() >= 10.0
            })
        };
        let at = |t: f64| (x1 + (x2 - x1) * t, y1 + (y2 - y1) * t - 2.0);
        let (lx, ly) = [0.5, 0.35, 0.65, 0.22, 0.78]
            .into_iter()
            .map(at)
            .find(|&(lx, ly)| free(lx, ly))
            .unwrap_or_else(|| at(0.5));
        placed.push((lx, ly, label_w));
        let _ = writeln!(
            svg,
            r#"<g class="msg"><title>{}</title><line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{stroke}" stroke-width="1.2"{dash} marker-end="url(#arrow)"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="{stroke}" stroke="white" stroke-width="3" paint-order="stroke">{}{}</text></g>"#,
            escape(&format!(
                "n{} -> n{} sent {} received {}: {}{}",
                m.from,
                m.to,
                m.sent,
                m.received,
                m.text,
                m.note.as_ref().map_or(String::new(), |n| format!(" ({n})"))
            )),
            lx,
            ly,
            escape(&m.label),
            match (lost, m.note.as_deref()) {
                (true, _) => " ×",
                (false, Some(n)) if n.starts_with("held") => " (held)",
                (false, Some(_)) => " (late)",
                (false, None) => "",
            }
        );
    }

    let notes_x = gutter + col * nodes.len() as f64 + 10.0;
    // A note on the right; when compact, a short mark in the left margin with the
    // note as its hover text.
    let note = |svg: &mut String, cy: f64, colour: &str, text: &str, short: &str, bold: bool| {
        let weight = if bold { r#" font-weight="bold""# } else { "" };
        if opts.compact {
            let _ = writeln!(
                svg,
                r##"<g class="note"><title>{}</title><text x="2" y="{:.1}" fill="{colour}" font-size="9"{weight}>{}</text></g>"##,
                escape(text),
                cy + 3.0,
                escape(short)
            );
        } else {
            let _ = writeln!(
                svg,
                r##"<text class="step" x="{notes_x:.1}" y="{:.1}" fill="{colour}"{weight}>{}</text>"##,
                cy + 4.0,
                escape(text)
            );
        }
    };
    let role_label = |role: &Role, term: u64| format!("{role} {}", (vocabulary.show_term)(term));
    let role_width = |label: &str| 7.0 * label.chars().count() as f64 + 8.0;
    // The width of each role box, by instant and node.
    let role_boxes: BTreeMap<(Time, NodeId), f64> = timeline
        .iter()
        .filter_map(|item| match &item.kind {
            ItemKind::Event {
                node,
                event: Event::RoleChanged { role, term },
            } => Some(((item.at, *node), role_width(&role_label(role, *term)))),
            _ => None,
        })
        .collect();
    let elections: BTreeSet<(Time, NodeId, u64)> = timeline
        .iter()
        .filter_map(|item| match &item.kind {
            ItemKind::Event {
                node,
                event: Event::LeaderElected { term },
            } => Some((item.at, *node, *term)),
            _ => None,
        })
        .collect();
    let ready_with_election: BTreeSet<(Time, NodeId, u64)> = timeline
        .iter()
        .filter_map(|item| match &item.kind {
            ItemKind::Event {
                node,
                event: Event::LeaderReady { term },
            } if elections.contains(&(item.at, *node, *term)) => Some((item.at, *node, *term)),
            _ => None,
        })
        .collect();
    for (i, item) in timeline.iter().enumerate() {
        match &item.kind {
            ItemKind::Event { node, event } => {
                let (cx, cy) = (x(*node), y(item.at, Slot::Event));
                match event {
                    Event::RoleChanged { role, term } => {
                        let label = role_label(role, *term);
                        let w = role_width(&label);
                        let _ = writeln!(
                            svg,
                            r##"<g class="role"><rect x="{:.1}" y="{:.1}" width="{w:.1}" height="14" rx="4" fill="{}" stroke="#555"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text></g>"##,
                            cx - w / 2.0,
                            cy - 7.0,
                            role_colour(*role),
                            cy + 4.0,
                            escape(&label)
                        );
                    }
                    Event::LeaderElected { term } | Event::LeaderReady { term } => {
                        // Elected and ready at one instant share one label.
                        let both = ready_with_election.contains(&(item.at, *node, *term));
                        let what = match (event, both) {
                            (Event::LeaderReady { .. }, true) => continue,
                            (Event::LeaderElected { .. }, true) => "elected and ready",
                            (Event::LeaderElected { .. }, false) => "elected",
                            _ => "ready",
                        };
                        // Right of a role box drawn on the same row, not over it.
                        let dx = role_boxes
                            .get(&(item.at, *node))
                            .map_or(6.0, |w| w / 2.0 + 4.0);
                        let full = format!(
                            "★ {what} {} {}",
                            vocabulary.generation,
                            (vocabulary.show_term)(*term)
                        );
                        // Compact: the star alone, its words on hover.
                        let shown = if opts.compact { "★" } else { full.as_str() };
                        let _ = writeln!(
                            svg,
                            r##"<text class="event" x="{:.1}" y="{:.1}" font-weight="bold" fill="#b8860b"><title>{}</title>{}</text>"##,
                            cx + dx,
                            cy + 4.0,
                            escape(&full),
                            escape(shown)
                        );
                    }
                    Event::Committed { index } if is_commit(i) => {
                        let cy = y(item.at, Slot::Commit);
                        let _ = writeln!(
                            svg,
                            r##"<g class="commit"><title>n{node} commits through index {index}</title><path d="M{cx:.1},{:.1} L{:.1},{cy:.1} L{cx:.1},{:.1} L{:.1},{cy:.1} z" fill="#1f77b4"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#1f77b4">commit {index}</text></g>"##,
                            cy - 6.0,
                            cx + 6.0,
                            cy + 6.0,
                            cx - 6.0,
                            cx + 9.0,
                            cy + 4.0,
                        );
                    }
                    Event::Committed { .. } | Event::Narrate(_) => {}
                }
            }
            ItemKind::Reply { .. } | ItemKind::NoAnswer { .. } => {
                let Some((node, label, colour, full)) = reply_mark(&item.kind) else {
                    continue;
                };
                let (cx, cy) = (x(node), y(item.at, Slot::Reply));
                let _ = writeln!(
                    svg,
                    r##"<g class="reply"><title>{}</title><circle cx="{cx:.1}" cy="{cy:.1}" r="4" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="10" fill="{colour}" stroke="white" stroke-width="3" paint-order="stroke">{}</text></g>"##,
                    escape(&full),
                    cx + 8.0,
                    cy + 4.0,
                    escape(&label)
                );
            }
            ItemKind::Step { text, action } => {
                let cy = y(item.at, step_slot(i));
                step_marks(&mut svg, action, cy, &x, nodes, col);
                note(&mut svg, cy, "#333", text, "**", false);
            }
            ItemKind::LinkRule { text, from, to } => {
                // A delayed or held kind: a dotted violet line along the link.
                let cy = y(item.at, step_slot(i));
                let _ = writeln!(
                    svg,
                    r##"<line x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="#9467bd" stroke-width="1.5" stroke-dasharray="2,3"/>"##,
                    x(*from),
                    x(*to)
                );
                note(&mut svg, cy, "#333", text, "**", false);
            }
            ItemKind::Check(i) => {
                let Some(report) = checks.get(*i) else {
                    continue;
                };
                let (word, colour) = if report.passed() {
                    ("passed", "#2ca02c")
                } else {
                    ("FAILED", "#d62728")
                };
                let cy = y(item.at, Slot::Check);
                let details: Vec<&str> = report.lines.iter().map(|l| l.text.as_str()).collect();
                let _ = writeln!(
                    svg,
                    r##"<g class="check"><title>{}</title><line x1="{gutter:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="{colour}" stroke-dasharray="2,2"/></g>"##,
                    escape(&details.join("; ")),
                    notes_x - 10.0,
                );
                let label = format!("CHECK {} {word}", i + 1);
                let hover = format!("{label}: {}", details.join("; "));
                let short = format!("{}{}", if report.passed() { "✓" } else { "✗" }, i + 1);
                if opts.compact {
                    note(&mut svg, cy, colour, &hover, &short, true);
                } else {
                    note(&mut svg, cy, colour, &label, &short, true);
                }
            }
            ItemKind::Problem(text) => {
                let cy = y(item.at, Slot::Check);
                note(&mut svg, cy, "#d62728", &format!("!! {text}"), "!!", false);
            }
            _ => {}
        }
    }
    if skipped > 0 {
        let _ = writeln!(
            svg,
            r##"<text x="10" y="{:.1}" fill="#d62728">{skipped} later messages not drawn</text>"##,
            bottom + 24.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Each node's vertical line: solid while it runs, dashed while it is down.
fn lifelines(
    svg: &mut String,
    nodes: &[NodeId],
    timeline: &[Item],
    step_slot: &impl Fn(usize) -> Slot,
    x: &impl Fn(NodeId) -> f64,
    y: &impl Fn(Time, Slot) -> f64,
    (top, bottom): (f64, f64),
) {
    for &id in nodes {
        let cx = x(id);
        let _ = writeln!(
            svg,
            r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="13" font-weight="bold">n{id}</text>"##,
            top - 12.0
        );
        let mut up_since: Option<f64> = None;
        let mut from = top;
        let mut segments: Vec<(f64, f64, bool)> = Vec::new();
        for (i, item) in timeline.iter().enumerate() {
            let ItemKind::Step { action, .. } = &item.kind else {
                continue;
            };
            let at = y(item.at, step_slot(i));
            match action {
                Action::Start(n) if *n == id && up_since.is_none() => {
                    segments.push((from, at, false));
                    up_since = Some(at);
                }
                Action::Crash(n) if *n == id => {
                    if let Some(start) = up_since.take() {
                        segments.push((start, at, true));
                        from = at;
                    }
                }
                Action::PowerFailure(ids) if ids.contains(&id) => {
                    if let Some(start) = up_since.take() {
                        segments.push((start, at, true));
                        from = at;
                    }
                }
                _ => {}
            }
        }
        match up_since {
            Some(start) => segments.push((start, bottom, true)),
            None => segments.push((from, bottom, false)),
        }
        for (a, b, up) in segments {
            let style = if up {
                r##"stroke="#333" stroke-width="2""##
            } else {
                r##"stroke="#bbb" stroke-width="1" stroke-dasharray="3,4""##
            };
            let _ = writeln!(
                svg,
                r#"<line class="life" x1="{cx:.1}" y1="{a:.1}" x2="{cx:.1}" y2="{b:.1}" {style}/>"#
            );
        }
    }
}

/// Marks a step on the lines it concerns.
fn step_marks(
    svg: &mut String,
    action: &Action,
    cy: f64,
    x: &impl Fn(NodeId) -> f64,
    nodes: &[NodeId],
    col: f64,
) {
    match action {
        Action::Start(id) => {
            let _ = writeln!(
                svg,
                r##"<circle cx="{:.1}" cy="{cy:.1}" r="5" fill="#2ca02c"/>"##,
                x(*id)
            );
        }
        Action::Crash(id) => {
            let cx = x(*id);
            let _ = writeln!(
                svg,
                r##"<path d="M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}" stroke="#d62728" stroke-width="3"/>"##,
                cx - 6.0,
                cy - 6.0,
                cx + 6.0,
                cy + 6.0,
                cx - 6.0,
                cy + 6.0,
                cx + 6.0,
                cy - 6.0
            );
        }
        Action::Submit { node, .. } | Action::Invoke { node, .. } => {
            let _ = writeln!(
                svg,
                r##"<rect x="{:.1}" y="{:.1}" width="8" height="8" fill="#9467bd"/>"##,
                x(*node) - 4.0,
                cy - 4.0
            );
        }
        Action::SetDisk { node, .. } => {
            // A slow disk: a grey square outline on the node's line.
            let _ = writeln!(
                svg,
                r##"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="none" stroke="#7f7f7f" stroke-width="2"/>"##,
                x(*node) - 5.0,
                cy - 5.0
            );
        }
        Action::PowerFailure(ids) => {
            for &id in ids {
                step_marks(svg, &Action::Crash(id), cy, x, nodes, col);
            }
        }
        Action::DropKind { from, to, .. } | Action::StopDropKind { from, to, .. } => {
            // A dropped kind: a dotted line along the link, from sender to receiver.
            let _ = writeln!(
                svg,
                r##"<line x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="#ff7f0e" stroke-width="1.5" stroke-dasharray="2,3"/>"##,
                x(*from),
                x(*to)
            );
        }
        Action::TransferLeadership { to } => {
            // A planned hand-over: a green diamond on the target's line.
            let (cx, cy) = (x(*to), cy);
            let _ = writeln!(
                svg,
                r##"<path d="M{cx:.1},{:.1} l6,6 l-6,6 l-6,-6 z" fill="#2ca02c"/>"##,
                cy - 6.0
            );
        }
        Action::Isolate(_)
        | Action::Partition(_)
        | Action::OneWay { .. }
        | Action::StrandLeader { .. }
        | Action::Heal
        | Action::SetLoss(_) => {
            let (Some(first), Some(last)) = (nodes.first(), nodes.last()) else {
                return;
            };
            let _ = writeln!(
                svg,
                r##"<line x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="#ff7f0e" stroke-width="1.5" stroke-dasharray="8,4"/>"##,
                x(*first) - col / 2.0 + 10.0,
                x(*last) + col / 2.0 - 10.0
            );
            if let Action::Isolate(id) = action {
                let _ = writeln!(
                    svg,
                    r##"<circle cx="{:.1}" cy="{cy:.1}" r="8" fill="none" stroke="#ff7f0e" stroke-width="2"/>"##,
                    x(*id)
                );
            }
        }
        // A client's retry timer marks nothing: the attempt it sends is an Invoke's.
        Action::Retry { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_text_and_drops_control_characters() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(escape("x\u{1}y"), "xy");
    }
}
