//! Why talking to, starting or measuring a peer system failed.

use thiserror::Error;

/// A failure of a peer system or of the client talking to it. Nothing the network
/// sends may panic: malformed answers end here.
#[derive(Debug, Error)]
pub enum PeerError {
    /// A socket or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The system's binary is not installed.
    #[error("{system} skipped: {binary} not found (install the Debian package `{package}`)")]
    Missing {
        /// The system ("zookeeper", "etcd").
        system: &'static str,
        /// The binary or file looked for.
        binary: String,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// The peer sent something that does not decode.
    #[error("malformed answer from {system}: {detail}")]
    Malformed {
        /// The system.
        system: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The peer refused the request (a ZooKeeper error code, an HTTP status).
    #[error("{system} refused: {detail}")]
    Refused {
        /// The system.
        system: &'static str,
        /// The error as the system gave it.
        detail: String,
    },
    /// Nothing answered in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, String),
    /// The ensemble did not come up (its log's last lines attached).
    #[error("{system} ensemble did not become ready: {detail}")]
    NotReady {
        /// The system.
        system: &'static str,
        /// What was seen.
        detail: String,
    },
}

impl PeerError {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PeerError {
        let what = what.into();
        move |source| PeerError::Io { what, source }
    }
}
