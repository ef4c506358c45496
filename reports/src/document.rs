//! The report as a format-neutral document: headings, paragraphs, tables and plots.
//! The sections decide *what* the report says once; `html.rs` and `markdown.rs` only
//! decide how it looks, so the two outputs can never disagree on a number.

use crate::summary::Summary;

/// What the report prints in place of a number that was not measured.
pub(crate) const NOT_MEASURED: &str = "not measured";

/// One piece of the report, in reading order.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    /// A section heading; level 1 is the document title.
    Heading {
        /// 1 (title) to 4.
        level: u8,
        /// Heading text.
        text: String,
        /// Anchor for links from the table of contents (HTML only).
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
}

/// A table with a header row; every cell is already formatted text.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// Column headings.
    pub header: Vec<String>,
    /// Rows, each as long as `header`.
    pub rows: Vec<Vec<String>>,
    /// Columns from this index on hold numbers (right-aligned in HTML).
    pub numeric_from: usize,
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

    /// Adds a table.
    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>, numeric_from: usize) {
        self.blocks.push(Block::Table(Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
            numeric_from,
        }));
    }

    /// All plots of the document, in reading order.
    pub fn plots(&self) -> impl Iterator<Item = &Plot> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Plot(p) => Some(p),
            _ => None,
        })
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
    fn file_labels() {
        assert_eq!(file_label(0), "A");
        assert_eq!(file_label(25), "Z");
        assert_eq!(file_label(26), "F27");
    }
}
