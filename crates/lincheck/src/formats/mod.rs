//! Reading (and writing) histories: the native line-oriented JSON format, Jepsen
//! register logs, and Porcupine's key-value logs.
//!
//! - [`Format::Cwb`] ([`cwb`]): one JSON object per line, times in nanoseconds; what the
//!   simulator and real-cluster runs write.
//! - [`Format::JepsenRegister`] ([`jepsen`]): Jepsen `jepsen.util` log lines of one
//!   register (read, write, cas), as in the etcd logs of Porcupine's test data.
//! - [`Format::PorcupineKv`] ([`edn`]): one Clojure (EDN) map per line, many keys (get,
//!   put, append), as in Porcupine's key-value test data.
//!
//! The last two have no times: each event happens at its line number, so reports name
//! the lines. A malformed file is refused with the number of the line at fault.

pub mod cwb;
pub mod edn;
pub mod jepsen;

use super::history::{History, HistoryError};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The native line-oriented JSON format (see [`cwb`]).
    Cwb,
    /// Jepsen register logs (see [`jepsen`]).
    JepsenRegister,
    /// Porcupine's key-value logs in EDN (see [`edn`]).
    PorcupineKv,
}

impl Format {
    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Cwb => "cwb",
            Format::JepsenRegister => "jepsen-register",
            Format::PorcupineKv => "porcupine-kv",
        }
    }

    /// Guesses the format from the first meaningful line: a JSON object is the native
    /// format, an EDN map (`{:`) Porcupine's, a `jepsen.util` log line (or a bare
    /// `PROCESS :type ...` line) Jepsen's. Anything else: the native format, whose
    /// parser then names the line it cannot read.
    pub fn guess(text: &str) -> Format {
        let Some(line) = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        else {
            return Format::Cwb;
        };
        if line.starts_with("{:") {
            Format::PorcupineKv
        } else if line.starts_with('{') {
            Format::Cwb
        } else if line.contains(jepsen::MARKER) || jepsen::is_bare_event(line) {
            Format::JepsenRegister
        } else {
            Format::Cwb
        }
    }
}

/// A history file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A line that is not what the format says, or an event that contradicts the
    /// events before it.
    #[error("line {line}: {message}")]
    Line {
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Nothing in the file is an operation of the format.
    #[error("no operations found: is this a {format} history?")]
    Empty {
        /// The format's name.
        format: &'static str,
    },
}

impl ParseError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> ParseError {
        ParseError::Line {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn history(line: usize, error: HistoryError) -> ParseError {
        ParseError::at(line, error.to_string())
    }
}

/// A history file that cannot be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a history of its format.
    #[error("{} ({} format): {source}", path.display(), format.name())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The format it was read as.
        format: Format,
        /// What is wrong.
        source: ParseError,
    },
}

/// Parses `text` as a history in `format`.
pub fn parse(text: &str, format: Format) -> Result<History, ParseError> {
    let history = match format {
        Format::Cwb => cwb::parse(text)?,
        Format::JepsenRegister => jepsen::parse(text)?,
        Format::PorcupineKv => edn::parse(text)?,
    };
    if history.is_empty() {
        return Err(ParseError::Empty {
            format: format.name(),
        });
    }
    Ok(history)
}

/// Reads the history in `path`, in `format` or (if `None`) the guessed one; returns it
/// with the format it was read as.
pub fn load(path: &Path, format: Option<Format>) -> Result<(History, Format), LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let line = 1 + e
                .as_bytes()
                .iter()
                .take(valid)
                .filter(|&&b| b == b'\n')
                .count();
            return Err(LoadError::Parse {
                path: path.to_path_buf(),
                format: format.unwrap_or(Format::Cwb),
                source: ParseError::at(line, "not valid UTF-8 text"),
            });
        }
    };
    let format = format.unwrap_or_else(|| Format::guess(&text));
    let history = parse(&text, format).map_err(|source| LoadError::Parse {
        path: path.to_path_buf(),
        format,
        source,
    })?;
    Ok((history, format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_from_the_first_meaningful_line() {
        assert_eq!(Format::guess("\n# a comment\n{\"client\":1}"), Format::Cwb);
        assert_eq!(
            Format::guess("{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}"),
            Format::PorcupineKv
        );
        assert_eq!(
            Format::guess("INFO  jepsen.util - 0\t:invoke\t:read\tnil"),
            Format::JepsenRegister
        );
        assert_eq!(Format::guess("3 :invoke :write 1"), Format::JepsenRegister);
        assert_eq!(Format::guess("garbage"), Format::Cwb);
        assert_eq!(Format::guess(""), Format::Cwb);
    }

    #[test]
    fn an_empty_file_has_no_operations() {
        for format in [Format::Cwb, Format::JepsenRegister, Format::PorcupineKv] {
            assert!(matches!(
                parse("\n\n", format),
                Err(ParseError::Empty { .. })
            ));
        }
    }
}
