//! Benchmark results to plots and reports.
//!
//! `cwb bench` fills a [`Results`] (one JSON file per run, schema-versioned);
//! `cwb report` loads one or more of them and calls [`write_report`], which writes a
//! self-contained `index.html` (inline SVG plots and CSS, opens offline) and a
//! `report.md` with its plots as `.svg` files beside it.
//!
//! # Layout
//! - [`results`]: the schema ([`Results`] and its parts), [`load`] and [`save`].
//! - [`summary`]: [`Summary`], percentiles computed with HdrHistogram.
//! - [`error`]: [`ReportError`].
//! - [`fonts`]: [`register_fonts`], for builds where plotters needs a font.

mod bars;
mod document;
mod plots;
pub mod error;
pub mod fonts;
pub mod results;
pub mod summary;

pub use error::ReportError;
pub use fonts::register_fonts;
pub use results::{
    load, save, Baseline, Failover, Machine, Measure, MessageCounts, Mode, ProtocolRun, Results,
    Settings, SweepPoint, ThroughputPoint, Timing, SCHEMA_VERSION,
};
pub use summary::Summary;
