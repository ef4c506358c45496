//! Errors of the reports crate: reading and writing results files, drawing plots and
//! writing the report. Every error names the file it concerns so that a user who
//! passed several results files knows which one is at fault.

use std::path::PathBuf;

/// Everything that can go wrong while loading results or writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or directory could not be read, written or created.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A results file is not valid JSON, or does not have the shape of the schema.
    #[error("{path}: not a valid results file: {source}")]
    Json {
        /// The results file concerned.
        path: PathBuf,
        /// The underlying parse or shape error (it carries line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A results file has no `schema_version` field (or it is not an integer).
    #[error("{path}: not a results file: no integer `schema_version` field (this build reads schema version {supported})")]
    MissingSchemaVersion {
        /// The results file concerned.
        path: PathBuf,
        /// The schema version this build reads.
        supported: u32,
    },
    /// A results file was written with a schema version this build cannot read.
    #[error("{path}: results schema version {found} is not supported (this build reads schema version {supported}); regenerate the file with a matching `cwb bench` or use a matching `cwb report`")]
    UnsupportedSchemaVersion {
        /// The results file concerned.
        path: PathBuf,
        /// The version found in the file.
        found: u64,
        /// The schema version this build reads.
        supported: u32,
    },
    /// A plot could not be drawn.
    #[error("plot {plot}: {message}")]
    Plot {
        /// The file name of the plot that failed.
        plot: String,
        /// What the plotting library reported.
        message: String,
    },
    /// `write_report` was called without any results.
    #[error("no results files given: a report needs at least one")]
    NoInputs,
}

impl ReportError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }
}
