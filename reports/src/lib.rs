//! Benchmark results to plots and reports.
//!
//! `cwb bench` fills a [`Results`] (one JSON file per run, schema-versioned);
//! `cwb report` loads one or more of them with [`load`] and calls [`write_report`],
//! which writes a self-contained `index.html` (inline SVG plots and CSS, opens
//! offline), a `report.md` with its plots as `.svg` files beside it, and every table
//! as a CSV file in `tables/`.
//!
//! The report opens with the results (a headline table, plot and sentences per
//! results file), then the evidence section by section, then the method, settings,
//! timing mapping and baselines (folded where long).
//!
//! # Layout
//! - [`results`]: the schema ([`Results`] and its parts), [`load`] and [`save`].
//! - [`summary`]: [`Summary`], percentiles computed with HdrHistogram.
//! - [`error`]: the error type, [`ReportError`].
//! - `document`: the report as headings, paragraphs, tables and plots;
//!   `headline` (with `sentences`), `systems` (Redis Cluster beside the consensus
//!   protocols), `compare`, `targets`, `sections`, `failover`,
//!   `steady_state`, `rounds` and `method` fill it; `html`, `markdown` and `csv`
//!   render it.
//! - `plots` and `bars`: the plotters SVG charts; `palette`: their colours.
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
mod cost;
mod csv;
mod document;
pub mod error;
mod failover;
mod headline;
mod html;
mod markdown;
mod method;
mod networks;
mod palette;
mod placement;
mod plots;
pub mod recipes;
pub mod results;
mod rounds;
mod scaling;
mod sections;
mod sentences;
pub mod snapshots;
mod steady_state;
pub mod summary;
mod systems;
mod targets;

use std::path::{Path, PathBuf};

pub use error::ReportError;
pub use results::{
    load, save, Baseline, ConcurrentFsync, Failover, Machine, Measure, MessageCounts, Mode,
    ProtocolRun, Remote, RemoteCrash, Results, Settings, SweepPoint, ThroughputPoint, Timing,
    MS_UNIT_SCALE, SCHEMA_VERSION,
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
    /// The CSV copy of every table (in `tables/`), in reading order.
    pub tables: Vec<PathBuf>,
}

/// Writes `index.html`, `report.md`, the plots of `report.md` and `tables/*.csv`
/// into `out_dir` (created if missing). Each input is a results file's path (for the
/// report's headings) and its contents. With two or more inputs the headlines are
/// followed by a comparison of every median of the first file against the others.
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
    let tables_dir = out_dir.join(csv::DIR);
    std::fs::create_dir_all(&tables_dir).map_err(|e| ReportError::io(&tables_dir, e))?;
    let mut tables = Vec::new();
    for table in doc.tables() {
        let path = tables_dir.join(&table.csv);
        std::fs::write(&path, csv::render(table)).map_err(|e| ReportError::io(&path, e))?;
        tables.push(path);
    }
    let markdown = out_dir.join("report.md");
    std::fs::write(&markdown, markdown::render(&doc)).map_err(|e| ReportError::io(&markdown, e))?;
    let html = out_dir.join("index.html");
    std::fs::write(&html, html::render(&doc)).map_err(|e| ReportError::io(&html, e))?;
    Ok(ReportPaths {
        html,
        markdown,
        plots,
        tables,
    })
}

/// Assembles the whole report: the headline of each file, the comparison, the
/// measured sections of each file, then method and settings.
fn build_document(inputs: &[(PathBuf, Results)]) -> Result<Document, ReportError> {
    let mut doc = Document::new("Consensus workbench: election, failover and throughput");
    let several = inputs.len() > 1;
    let prefix = |i: usize| {
        if several {
            format!("{}: ", file_label(i))
        } else {
            String::new()
        }
    };
    for (i, (path, results)) in inputs.iter().enumerate() {
        headline::headline(&mut doc, path, results, &prefix(i))?;
        systems::side_by_side(&mut doc, results, &prefix(i))?;
    }
    compare::comparison(&mut doc, inputs);
    networks::by_network(&mut doc, inputs);
    for (i, (path, results)) in inputs.iter().enumerate() {
        let prefix = prefix(i);
        doc.heading(2, format!("{prefix}Results of {}", method::file_name(path)));
        targets::targets(&mut doc, results, &prefix);
        sections::measured(&mut doc, results, &prefix)?;
        if let Some(s) = &results.snapshots {
            snapshots::section(&mut doc, s, &prefix);
        }
        if let Some(r) = recipes::load_beside(path)? {
            recipes::section(&mut doc, &r, &prefix)?;
        }
    }
    method::method(&mut doc, inputs);
    for (i, (path, results)) in inputs.iter().enumerate() {
        method::settings(&mut doc, path, results, &prefix(i));
    }
    doc.finish();
    Ok(doc)
}
