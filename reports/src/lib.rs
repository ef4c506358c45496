//! Benchmark results to plots and reports.
//!
//! `cwb bench` fills a [`Results`] (one JSON file per run, schema-versioned);
//! `cwb report` loads one or more of them with [`load`] and calls [`write_report`],
//! which writes a self-contained `index.html` (inline SVG plots and CSS, opens
//! offline) and a `report.md` with its plots as `.svg` files beside it.
//!
//! # Layout
//! - [`results`]: the schema ([`Results`] and its parts), [`load`] and [`save`].
//! - [`summary`]: [`Summary`], percentiles computed with HdrHistogram.
//! - [`error`]: the error type, [`ReportError`].
//! - `document`: the report as headings, paragraphs, tables and plots;
//!   `method`, `sections`, `steady_state` and `compare` fill it; `html` and `markdown` render it.
//! - `plots` and `bars`: the plotters SVG charts.
//!
//! # Example
//! ```no_run
//! use std::path::{Path, PathBuf};
//! let path = PathBuf::from("results.json");
//! let results = reports::load(&path)?;
//! let written = reports::write_report(&[(path, results)], Path::new("reports/out"))?;
//! println!("open {}", written.html.display());
//! # Ok::<(), reports::ReportError>(())
//! ```

#![warn(missing_docs)]

mod bars;
mod compare;
mod document;
pub mod error;
mod html;
mod markdown;
mod method;
mod plots;
pub mod results;
mod rounds;
mod sections;
mod steady_state;
pub mod summary;
mod targets;

use std::path::{Path, PathBuf};

pub use error::ReportError;
pub use results::{
    load, save, Baseline, ConcurrentFsync, Failover, Machine, Measure, MessageCounts, Mode,
    ProtocolRun, Results, Settings, SweepPoint, ThroughputPoint, Timing, MS_UNIT_SCALE,
    SCHEMA_VERSION,
};
pub use summary::Summary;

use document::{file_label, Document};

/// Where [`write_report`] put its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    /// The self-contained HTML report.
    pub html: PathBuf,
    /// The Markdown report.
    pub markdown: PathBuf,
    /// The SVG plots referenced by the Markdown report, in reading order.
    pub plots: Vec<PathBuf>,
}

/// Writes `index.html`, `report.md` and the plots of `report.md` into `out_dir`
/// (created if missing). Each input is a results file's path (for the report's
/// headings) and its contents. With two or more inputs the report opens with a
/// comparison of every median of the first file against the others.
pub fn write_report(
    inputs: &[(PathBuf, Results)],
    out_dir: &Path,
) -> Result<ReportPaths, ReportError> {
    if inputs.is_empty() {
        return Err(ReportError::NoInputs);
    }
    let doc = build_document(inputs)?;
    std::fs::create_dir_all(out_dir).map_err(|e| ReportError::io(out_dir, e))?;
    let mut plots = Vec::new();
    for plot in doc.plots() {
        let path = out_dir.join(&plot.file_name);
        std::fs::write(&path, &plot.svg).map_err(|e| ReportError::io(&path, e))?;
        plots.push(path);
    }
    let markdown = out_dir.join("report.md");
    std::fs::write(&markdown, markdown::render(&doc)).map_err(|e| ReportError::io(&markdown, e))?;
    let html = out_dir.join("index.html");
    std::fs::write(&html, html::render(&doc)).map_err(|e| ReportError::io(&html, e))?;
    Ok(ReportPaths {
        html,
        markdown,
        plots,
    })
}

/// Assembles the whole report: introduction, comparison, method, then each file.
fn build_document(inputs: &[(PathBuf, Results)]) -> Result<Document, ReportError> {
    let mut doc = Document {
        title: "Consensus workbench: election, failover and throughput".to_string(),
        blocks: Vec::new(),
    };
    let several = inputs.len() > 1;
    let described: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, (path, r))| {
            let label = if several {
                format!("{}: ", file_label(i))
            } else {
                String::new()
            };
            format!(
                "{label}{} (created {}, commit {}, protocols {})",
                path.display(),
                r.created,
                r.git_commit.as_deref().unwrap_or("unknown"),
                r.settings.protocols.join(", ")
            )
        })
        .collect();
    doc.paragraph(if several {
        "Results files compared in this report:"
    } else {
        "Results file of this report:"
    });
    doc.blocks.push(document::Block::List(described));
    compare::comparison(&mut doc, inputs);
    method::method(&mut doc);
    for (i, (path, results)) in inputs.iter().enumerate() {
        let prefix = if several {
            format!("{}: ", file_label(i))
        } else {
            String::new()
        };
        doc.heading(2, format!("{prefix}Results of {}", method::file_name(path)));
        method::settings(&mut doc, path, results, &prefix);
        targets::targets(&mut doc, results, &prefix);
        sections::measured(&mut doc, results, &prefix)?;
    }
    Ok(doc)
}
