//! The report as a format-neutral document: headings, paragraphs, tables and plots,
//! some of them folded away or set side by side. The sections decide *what* the report
//! says once; `html.rs`, `markdown.rs` and `csv.rs` only decide how it looks, so the
//! outputs can never disagree on a number. [`Document::finish`] gives every heading a
//! unique anchor and every table the unique name of its CSV file.

use std::collections::{BTreeSet, HashSet};

use crate::summary::Summary;

/// What the report prints in place of a number that was not measured.
pub(crate) const NOT_MEASURED: &str = "not measured";

/// What a compact table (the headline) prints in place of a number not measured.
pub(crate) const DASH: &str = "–";

/// One piece of the report, in reading order.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    /// A section heading; level 1 is the document title.
    Heading {
        /// 1 (title) to 4.
        level: u8,
        /// Heading text.
        text: String,
        /// Anchor for links from the table of contents (HTML only); unique once the
        /// document is finished.
        anchor: String,
    },
    /// A paragraph of plain text.
    Paragraph(String),
    /// A bulleted list of plain-text items.
    List(Vec<String>),
    /// A table.
    Table(Table),
    /// A plot drawn as SVG.
    Plot(Plot),
    /// Blocks folded under a one-line summary (HTML `<details>`), for long material
    /// a reader may skip: settings, definitions.
    Details {
        /// The line shown while folded.
        summary: String,
        /// The folded content.
        blocks: Vec<Block>,
    },
    /// Two columns side by side in HTML (left, right); one after the other elsewhere.
    Beside(Vec<Block>, Vec<Block>),
}

/// A table with a header row; every cell is already formatted text.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// Column headings.
    pub header: Vec<String>,
    /// Rows, each as long as `header`.
    pub rows: Vec<Vec<String>>,
    /// Columns from this index on hold numbers (right-aligned in HTML).
    pub numeric_from: usize,
    /// Headings over groups of columns, with the number of columns each spans, in
    /// column order; empty for a table with one header row.
    pub groups: Vec<(String, usize)>,
    /// Cells marked as the best of their column, as (row, column).
    pub best: BTreeSet<(usize, usize)>,
    /// File name of the table's CSV copy (no directory, e.g. "failover.csv"): asked
    /// for by the section, or derived from the heading above the table by
    /// [`Document::finish`]; unique within the report once finished.
    pub csv: String,
}

impl Table {
    /// The header of column `i` with the heading of its group, if any, in front
    /// ("kill failover, ms: p99"): the one-line header of formats that have a single
    /// header row.
    pub fn full_header(&self, i: usize) -> String {
        let mut end = 0;
        for (group, span) in &self.groups {
            end += span;
            if i < end {
                return match self.header.get(i) {
                    Some(h) if !group.is_empty() => format!("{group}: {h}"),
                    Some(h) => h.clone(),
                    None => group.clone(),
                };
            }
        }
        self.header.get(i).cloned().unwrap_or_default()
    }
}

/// A plot: an SVG document and the file name it gets beside report.md.
#[derive(Debug, Clone)]
pub(crate) struct Plot {
    /// File name (no directory), e.g. "a-election-cdf-n3.svg".
    pub file_name: String,
    /// Short description, used as alt text and caption.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// The whole report.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    /// Title of the report.
    pub title: String,
    /// Content in reading order.
    pub blocks: Vec<Block>,
}

impl Document {
    /// An empty document.
    pub fn new(title: impl Into<String>) -> Self {
        Document {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    /// Adds a heading whose anchor is derived from its text.
    pub fn heading(&mut self, level: u8, text: impl Into<String>) {
        let text = text.into();
        let anchor = anchor_of(&text);
        self.blocks.push(Block::Heading {
            level,
            text,
            anchor,
        });
    }

    /// Adds a paragraph.
    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Paragraph(text.into()));
    }

    /// Adds a table; its CSV file is named after the heading above it.
    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>, numeric_from: usize) {
        self.blocks.push(Block::Table(Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
            numeric_from,
            ..Table::default()
        }));
    }

    /// Moves every block added since `mark` (an earlier `blocks.len()`) under a
    /// folded [`Block::Details`] with this summary line.
    pub fn fold_since(&mut self, mark: usize, summary: impl Into<String>) {
        let blocks = self.blocks.split_off(mark.min(self.blocks.len()));
        if !blocks.is_empty() {
            self.blocks.push(Block::Details {
                summary: summary.into(),
                blocks,
            });
        }
    }

    /// All plots of the document, in reading order (folded ones too).
    pub fn plots(&self) -> Vec<&Plot> {
        flatten(&self.blocks)
            .into_iter()
            .filter_map(|b| match b {
                Block::Plot(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// All tables of the document, in reading order (folded ones too).
    pub fn tables(&self) -> Vec<&Table> {
        flatten(&self.blocks)
            .into_iter()
            .filter_map(|b| match b {
                Block::Table(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// Makes heading anchors unique (a second "Settings" becomes "settings-2") and
    /// names every table's CSV file: the name it asked for, else the anchor of the
    /// heading above it, made unique the same way.
    pub fn finish(&mut self) {
        let mut anchors = HashSet::new();
        let mut files = HashSet::new();
        let mut last_anchor = String::from("table");
        finish_blocks(&mut self.blocks, &mut anchors, &mut files, &mut last_anchor);
    }
}

/// Every block in reading order, containers before their content.
pub(crate) fn flatten(blocks: &[Block]) -> Vec<&Block> {
    let mut out = Vec::new();
    for block in blocks {
        out.push(block);
        match block {
            Block::Details { blocks, .. } => out.extend(flatten(blocks)),
            Block::Beside(left, right) => {
                out.extend(flatten(left));
                out.extend(flatten(right));
            }
            _ => {}
        }
    }
    out
}

/// `base`, or `base-2`, `base-3`... whichever is not in `used` yet; recorded in `used`.
fn unique(base: &str, used: &mut HashSet<String>) -> String {
    let mut candidate = base.to_string();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

fn finish_blocks(
    blocks: &mut [Block],
    anchors: &mut HashSet<String>,
    files: &mut HashSet<String>,
    last_anchor: &mut String,
) {
    for block in blocks {
        match block {
            Block::Heading { anchor, .. } => {
                let base = if anchor.is_empty() {
                    "section".to_string()
                } else {
                    anchor.clone()
                };
                *anchor = unique(&base, anchors);
                last_anchor.clone_from(anchor);
            }
            Block::Table(table) => {
                let stem = match table.csv.strip_suffix(".csv") {
                    Some(stem) if !stem.is_empty() => stem.to_string(),
                    _ => last_anchor.clone(),
                };
                table.csv = format!("{}.csv", unique(&stem, files));
            }
            Block::Details { blocks, .. } => finish_blocks(blocks, anchors, files, last_anchor),
            Block::Beside(left, right) => {
                finish_blocks(left, anchors, files, last_anchor);
                finish_blocks(right, anchors, files, last_anchor);
            }
            Block::Paragraph(_) | Block::List(_) | Block::Plot(_) => {}
        }
    }
}

/// A lower-case, dash-separated anchor made of ASCII letters and digits only.
pub(crate) fn anchor_of(text: &str) -> String {
    let mut anchor = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            anchor.push(c.to_ascii_lowercase());
        } else if !anchor.ends_with('-') && !anchor.is_empty() {
            anchor.push('-');
        }
    }
    anchor.trim_end_matches('-').to_string()
}

/// A number with a precision that suits its size (3 significant digits, at least
/// whole units above 100).
pub(crate) fn number(value: f64) -> String {
    if !value.is_finite() {
        return NOT_MEASURED.to_string();
    }
    let magnitude = value.abs();
    if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// The four cells median, p99, min, max of a summary, or "not measured" four times.
pub(crate) fn summary_cells(summary: Option<&Summary>) -> Vec<String> {
    match summary.filter(|s| s.is_measured()) {
        Some(s) => vec![number(s.p50), number(s.p99), number(s.min), number(s.max)],
        None => vec![NOT_MEASURED.to_string(); 4],
    }
}

/// The sample count of a summary as a cell ("0" when not measured).
pub(crate) fn count_cell(summary: Option<&Summary>) -> String {
    summary.map_or(0, |s| s.count).to_string()
}

/// Relative change from `before` to `after`, e.g. "+12.5%"; "n/a" when either is
/// missing or `before` is zero.
pub(crate) fn change(before: Option<f64>, after: Option<f64>) -> String {
    match (before, after) {
        (Some(b), Some(a)) if b != 0.0 && b.is_finite() && a.is_finite() => {
            format!("{:+.1}%", (a - b) / b * 100.0)
        }
        _ => "n/a".to_string(),
    }
}

/// The label of the i-th results file: A, B, C ... then F27, F28 ...
pub(crate) fn file_label(index: usize) -> String {
    match u8::try_from(index) {
        Ok(i) if i < 26 => char::from(b'A' + i).to_string(),
        _ => format!("F{}", index + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_ascii_and_dashed() {
        assert_eq!(
            anchor_of("Failover (kill & isolate)"),
            "failover-kill-isolate"
        );
        assert_eq!(anchor_of("  A: small.json"), "a-small-json");
    }

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(number(1234.56), "1235");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(1.2345), "1.23");
        assert_eq!(number(0.012345), "0.012");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(f64::NAN), NOT_MEASURED);
    }

    #[test]
    fn unmeasured_summaries_print_not_measured() {
        assert_eq!(summary_cells(None), vec![NOT_MEASURED; 4]);
        assert_eq!(
            summary_cells(Some(&Summary::default())),
            vec![NOT_MEASURED; 4]
        );
        let s = Summary::from_samples(&[1.0, 2.0, 3.0], 1000.0);
        assert_eq!(
            summary_cells(Some(&s)),
            vec!["2.00", "3.00", "1.00", "3.00"]
        );
    }

    #[test]
    fn change_is_relative_to_the_first_value() {
        assert_eq!(change(Some(200.0), Some(150.0)), "-25.0%");
        assert_eq!(change(Some(100.0), Some(110.0)), "+10.0%");
        assert_eq!(change(None, Some(1.0)), "n/a");
        assert_eq!(change(Some(0.0), Some(1.0)), "n/a");
    }

    #[test]
    fn finishing_makes_anchors_and_csv_names_unique() {
        let mut doc = Document::new("t");
        doc.heading(2, "Settings");
        doc.table(&["a"], Vec::new(), 1);
        doc.table(&["a"], Vec::new(), 1);
        let mark = doc.blocks.len();
        doc.heading(2, "Settings");
        doc.table(&["a"], Vec::new(), 1);
        doc.fold_since(mark, "folded");
        doc.blocks.push(Block::Table(Table {
            csv: "headline.csv".into(),
            ..Table::default()
        }));
        doc.finish();
        let anchors: Vec<&str> = flatten(&doc.blocks)
            .into_iter()
            .filter_map(|b| match b {
                Block::Heading { anchor, .. } => Some(anchor.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(anchors, ["settings", "settings-2"]);
        let names: Vec<&str> = doc.tables().iter().map(|t| t.csv.as_str()).collect();
        assert_eq!(
            names,
            [
                "settings.csv",
                "settings-2.csv",
                "settings-2-2.csv",
                "headline.csv"
            ]
        );
    }

    #[test]
    fn group_headings_prefix_their_columns() {
        let table = Table {
            header: vec!["protocol".into(), "median ms".into(), "p99 ms".into()],
            groups: vec![(String::new(), 1), ("kill failover".into(), 2)],
            ..Table::default()
        };
        assert_eq!(table.full_header(0), "protocol");
        assert_eq!(table.full_header(2), "kill failover: p99 ms");
        assert_eq!(Table::default().full_header(3), "");
    }

    #[test]
    fn file_labels() {
        assert_eq!(file_label(0), "A");
        assert_eq!(file_label(25), "Z");
        assert_eq!(file_label(26), "F27");
    }
}
