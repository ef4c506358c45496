//! One scenario, three protocols, one page: a self-contained HTML page with the narrated
//! timelines of each protocol in columns, aligned on the scenario's steps and checks, and
//! their message-sequence (Lamport) diagrams below (`cwb sim --scenario F --protocol all
//! --html OUT.html`).
//!
//! This is the lesson the workbench exists for, "the same fault, three protocols": the
//! same start, crash or partition heads one row, and each column shows what that
//! protocol did about it until the next step, so a reader compares across a row and
//! follows a protocol down a column.
//!
//! The page is built from what the other renderers produce ([`crate::scenario::render`]
//! for the timelines, [`crate::lamport::render_svg`] for the diagrams, shown first, each
//! in a scrolling box): it only cuts the
//! timelines at the scenario's instants and lays them out. No script, no external
//! resource: it opens from a file or an e-mail attachment.

use super::lamport::escape;
use super::scenario::Scenario;
use protocols::Time;
use std::fmt::Write as _;

/// One protocol's run of the scenario, rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The protocol's name (`raft`).
    pub protocol: String,
    /// Its narrated timeline ([`crate::scenario::render`]).
    pub text: String,
    /// Its Lamport diagram ([`crate::lamport::render_svg`]).
    pub svg: String,
    /// Whether every expectation held and nothing went wrong.
    pub passed: bool,
}

/// A rendered timeline cut into its parts.
struct Parts<'a> {
    /// The lines before the timeline (title, settings, description, legend).
    header: Vec<&'a str>,
    /// Each timestamped line (in ms) with the lines that continue it (a check's
    /// details).
    lines: Vec<(f64, Vec<&'a str>)>,
    /// The lines after the timeline (final states, delivered entries).
    summary: Vec<&'a str>,
}

/// `[  1000.000ms] ...`: the instant of a timeline line, in ms.
fn stamp(line: &str) -> Option<f64> {
    let rest = line.strip_prefix('[')?;
    let (ms, _) = rest.split_once("ms]")?;
    ms.trim().parse().ok()
}

fn parts(text: &str) -> Parts<'_> {
    let mut header = Vec::new();
    let mut lines: Vec<(f64, Vec<&str>)> = Vec::new();
    let mut summary = Vec::new();
    let mut in_summary = false;
    for line in text.lines() {
        if in_summary {
            summary.push(line);
        } else if let Some(at) = stamp(line) {
            lines.push((at, vec![line]));
        } else if let Some((_, cont)) = lines.last_mut() {
            if line.is_empty() {
                in_summary = true;
            } else {
                cont.push(line);
            }
        } else {
            header.push(line);
        }
    }
    while header.last().is_some_and(|l| l.is_empty()) {
        header.pop();
    }
    while summary.first().is_some_and(|l| l.is_empty()) {
        summary.remove(0);
    }
    while summary.last().is_some_and(|l| l.is_empty()) {
        summary.pop();
    }
    Parts {
        header,
        lines,
        summary,
    }
}

/// The instants (ms) at which the scenario does or checks something, whichever
/// protocol they apply to: the rows of the page.
fn instants(scenario: &Scenario) -> Vec<f64> {
    let ms = |t: Time| t.as_nanos() as f64 / 1e6;
    let mut at: Vec<f64> = std::iter::once(0.0)
        .chain(scenario.steps.iter().map(|s| ms(s.at)))
        .chain(scenario.expects.iter().map(|e| ms(e.at)))
        .collect();
    at.sort_by(f64::total_cmp);
    at.dedup();
    at
}

/// The page: a title, the scenario's description, one row per instant of the scenario
/// with each protocol's lines from that instant to the next, the final states, and the
/// three diagrams.
pub fn render_html(scenario: &Scenario, columns: &[Column]) -> String {
    let rows = instants(scenario);
    let cut: Vec<Parts<'_>> = columns.iter().map(|c| parts(&c.text)).collect();
    let row_of = |at: f64| rows.iter().rposition(|&r| r <= at + 1e-9).unwrap_or(0);
    let mut cells: Vec<Vec<Vec<&str>>> = vec![vec![Vec::new(); columns.len()]; rows.len()];
    for (c, p) in cut.iter().enumerate() {
        for (at, lines) in &p.lines {
            if let Some(cell) = cells.get_mut(row_of(*at)).and_then(|r| r.get_mut(c)) {
                cell.extend(lines.iter().copied());
            }
        }
    }
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style></head><body>\n",
        escape(&scenario.name)
    );
    let _ = writeln!(h, "<h1>{}</h1>", escape(&scenario.name));
    if let Some(d) = &scenario.description {
        let _ = writeln!(h, "<p class=\"desc\">{}</p>", escape(d.trim()));
    }
    let _ = writeln!(
        h,
        "<p class=\"how\">One row per instant at which the scenario acts (<b>**</b> a step) or checks (<b>CHECK</b>); each column shows what that protocol did from that instant until the next row. Times are virtual, in ms. <span class=\"legend\">n3 -&gt; n1: a message; indented: a node's reason for a decision; [committed] uncommitted entries in the logs at checks.</span></p>"
    );
    h.push_str("<h2 id=\"diagrams\">Message-sequence diagrams</h2>\n<p class=\"how\">Time runs down by rank (one row per instant with something to draw, not to scale); arrows are messages, marks on a node's line its role changes, commits (◆) and client answers (✓ ✗ …). Each diagram fits its column, every node in view (hover a mark in the left margin for the step or check it stands for); tick <i>actual size</i> to read the labels and scroll inside a diagram. The timelines below tell the same runs in words.</p>\n<input type=\"checkbox\" id=\"actual\"><label class=\"zoom\" for=\"actual\"> actual size</label>\n<div class=\"diagrams\">\n");
    for c in columns {
        let svg = c
            .svg
            .trim_start()
            .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
            .unwrap_or(&c.svg);
        let _ = writeln!(
            h,
            "<div class=\"diagram\"><h3>{}</h3>{}</div>",
            escape(&c.protocol),
            svg.trim()
        );
    }
    h.push_str("</div>\n");
    h.push_str("<h2>Timelines</h2>\n");
    h.push_str("<table class=\"runs\">\n<thead><tr><th class=\"at\">from</th>");
    for (c, p) in columns.iter().zip(&cut) {
        let verdict = if c.passed { "passed" } else { "FAILED" };
        let _ = write!(
            h,
            "<th><span class=\"proto\">{}</span> <span class=\"{}\">{verdict}</span><pre class=\"head\">{}</pre></th>",
            escape(&c.protocol),
            verdict.to_ascii_lowercase(),
            escape(&header_settings(&p.header))
        );
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (r, at) in rows.iter().enumerate() {
        let row = cells.get(r).cloned().unwrap_or_default();
        if row.iter().all(Vec::is_empty) {
            continue;
        }
        let _ = write!(h, "<tr><td class=\"at\">{at:.0} ms</td>");
        for cell in &row {
            h.push_str("<td><pre>");
            for line in cell {
                let class = line_class(line);
                // The instant in a narrow grey gutter, the rest coloured by what it is.
                match line.split_once("ms] ") {
                    Some((at, rest)) if line.starts_with('[') => {
                        let at = at.trim_start_matches('[').trim();
                        let _ = writeln!(
                            h,
                            "<span class=\"t\">{}</span><span class=\"{class}\">{}</span>",
                            escape(at),
                            escape(rest)
                        );
                    }
                    _ => {
                        let _ = writeln!(h, "<span class=\"{class}\">{}</span>", escape(line));
                    }
                }
            }
            h.push_str("</pre></td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("<tr><td class=\"at\">end</td>");
    for p in &cut {
        let _ = write!(h, "<td><pre>{}</pre></td>", escape(&p.summary.join("\n")));
    }
    h.push_str("</tr>\n</tbody></table>\n");
    h.push_str("</body></html>\n");
    h
}

/// The settings line of a timeline's header (`raft, 5 nodes, seed 0; heartbeat ...`) and
/// its log legend; the title and description are shown once for the page.
fn header_settings(header: &[&str]) -> String {
    let settings = header.get(1).copied().unwrap_or_default();
    let legend = header
        .iter()
        .find_map(|l| l.strip_prefix("logs at checks: "))
        .map(|l| format!("\nlogs: {l}"))
        .unwrap_or_default();
    let notation = header
        .iter()
        .find(|l| l.starts_with("notation: "))
        .map(|l| format!("\n{l}"))
        .unwrap_or_default();
    format!("{settings}{notation}{legend}")
}

fn line_class(line: &str) -> &'static str {
    let body = line.split_once("] ").map_or(line, |(_, b)| b);
    if body.starts_with("** ") {
        "step"
    } else if body.starts_with("CHECK") {
        if body.ends_with("FAILED") {
            "fail"
        } else {
            "check"
        }
    } else if body.trim_start().starts_with("FAIL ") || body.starts_with("!! ") {
        "fail"
    } else if body.contains(" ELECTED ") || body.contains(" READY") {
        "elected"
    } else if body.starts_with("   n") && body.contains(" -> n") {
        "msg"
    } else if body.starts_with("      ") {
        "why"
    } else {
        "event"
    }
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:12px;color:#222}
h1{font-size:18px;margin:4px 0}
h2{font-size:16px;margin:18px 0 4px}
h3{font-size:14px;margin:4px 0}
p.desc{font-size:13px;max-width:1200px;margin:4px 0}
p.how{font-size:12px;color:#555;margin:4px 0 8px}
table.runs{border-collapse:collapse;width:100%;table-layout:fixed}
table.runs th,table.runs td{border:1px solid #ccc;vertical-align:top;padding:2px 4px}
table.runs th{background:#f3f3f3;text-align:left;position:sticky;top:0}
th.at,td.at{width:64px;font-size:11px;color:#555;white-space:nowrap}
pre{margin:0;font-size:11px;line-height:1.35;white-space:pre-wrap;word-break:break-word}
pre.head{font-weight:normal;color:#555;font-size:10px}
span.proto{font-size:15px}
span.passed{color:#17803d;font-size:12px}
span.failed{color:#b42318;font-size:12px;font-weight:bold}
span.step{font-weight:bold;color:#1d4ed8}
span.check{color:#17803d;font-weight:bold}
span.fail{color:#b42318;font-weight:bold}
span.elected{color:#7e22ce;font-weight:bold}
span.msg{color:#666}
span.t{color:#999;display:inline-block;min-width:62px;text-align:right;margin-right:6px}
span.why{color:#92400e}
div.diagrams{display:flex;gap:8px;align-items:flex-start}
div.diagram{flex:1 1 0;min-width:0;max-height:620px;overflow:auto;border:1px solid #ccc}
div.diagram svg{display:block;width:100%;height:auto}
input#actual:checked~div.diagrams div.diagram svg{width:auto}
label.zoom{font-size:12px;color:#555}
";

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "== t ==\nraft, 3 nodes, seed 0; heartbeat 50 ms\nlogs at checks: legend\n\n[     0.000ms] ** start node 1\n[    12.500ms]    n1 -> n2  RequestVote\n[  1000.000ms] CHECK 1: passed\n               ok   node 1 leads\n\nnode 1: leader\n";

    #[test]
    fn a_timeline_is_cut_into_header_stamped_lines_and_summary() {
        let p = parts(TEXT);
        assert_eq!(p.header.len(), 3);
        let at: Vec<f64> = p.lines.iter().map(|(t, _)| *t).collect();
        assert_eq!(at, [0.0, 12.5, 1000.0]);
        assert_eq!(p.lines[2].1.len(), 2, "the check keeps its detail line");
        assert_eq!(p.summary, ["node 1: leader"]);
        assert_eq!(line_class("[  1000.000ms] CHECK 1: FAILED"), "fail");
        assert_eq!(line_class("[ 0.000ms] ** start node 1"), "step");
    }

    #[test]
    fn lines_land_in_the_row_of_the_last_instant_before_them() {
        let s = Scenario::parse(
            "name = \"t\"\nnodes = 3\n[[step]]\nat_ms = 0\naction = \"start\"\nnodes = [1, 2, 3]\n[[expect]]\nat_ms = 1000\nleader = \"any\"\n",
        )
        .expect("valid");
        let column = Column {
            protocol: "raft".into(),
            text: TEXT.into(),
            svg: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg></svg>".into(),
            passed: true,
        };
        let html = render_html(&s, &[column.clone(), column]);
        // Two rows (0 ms and 1000 ms) plus the end row; the vote lands in the first.
        assert_eq!(html.matches("<td class=\"at\">").count(), 3);
        let first = html
            .split("<td class=\"at\">1000 ms</td>")
            .next()
            .unwrap_or("");
        assert!(first.contains("RequestVote"));
        assert_eq!(html.matches("<svg>").count(), 2);
        assert!(!html.contains("<?xml"), "the prolog is dropped inside HTML");
    }
}
