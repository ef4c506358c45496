//! `cwb serve`: a page in the browser that shows a running cluster as it runs, and
//! steps through a deterministic simulation, for people learning the protocols by
//! breaking them.
//!
//! Live mode runs the same in-process loopback cluster as `cwb cluster` (real TCP, real
//! WAL) and shows each node's role, generation (term, epoch or ballot), vote, log
//! (index@term, committed entries filled) and timers, the messages between nodes
//! (sampled, with counts per link) and the narrated timeline; the page kills, restarts,
//! isolates, partitions and heals nodes, sets loss and delay, puts and gets keys and
//! sets the client load, with the commands `cwb cluster` reads on its standard input
//! ([`drivers::console`]). Replay mode runs a teaching scenario (or a seed) on the
//! simulator and steps through it: forward, back (by re-running to the instant, which
//! is deterministic), to the next election, with faults and writes injected at the
//! paused instant, one protocol or all three side by side.
//!
//! The page is one HTML, one JavaScript and one CSS file compiled into the binary
//! (no build step, nothing fetched from elsewhere).
//!
//! # Layout
//! - [`access`]: who may change the cluster: loopback only, or the cluster secret as a
//!   bearer token when bound to another address.
//! - [`model`]: the JSON the page reads (nodes, logs, timers), the same for both modes.
//! - [`live`]: live mode: the cluster behind a lock, its event stream, the command and
//!   load endpoints.
//! - [`replay`]: replay mode: scenarios run to an instant, injected steps.
//! - [`assets`]: the embedded page.
//!
//! # API
//! - `GET /` the page; `GET /app.js`, `GET /style.css` its assets.
//! - `GET /api/mode`: `{"mode": "live" | "replay", ...}`.
//! - Live: `GET /api/state` (a snapshot), `GET /api/events` (WebSocket: timeline lines
//!   and sampled messages as JSON), `POST /api/command` (`{"command": "kill 2"}`, any
//!   [`drivers::console`] command or `load N`).
//! - Replay: `GET /api/replay` (timeline instants and elections),
//!   `GET /api/replay/at?t_ms=T` (every protocol's nodes and timeline at T),
//!   `POST /api/replay/inject` (`{"command": "kill 2", "t_ms": T}`),
//!   `POST /api/replay/reset`, `POST /api/replay/load` (`{"name": "F.toml"}`),
//!   `POST /api/replay/protocols` (`{"protocols": ["raft", "zab", "paxos"]}`).

pub mod access;
pub mod assets;
pub mod live;
pub mod model;
pub mod replay;

use std::net::SocketAddr;
use thiserror::Error;

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// A non-loopback address without the cluster secret.
    #[error("{0} is not a loopback address: binding it needs the cluster secret (--secret-file), which the page's commands must then carry")]
    NeedsSecret(SocketAddr),
    /// The port could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The cluster did not start.
    #[error("starting the cluster: {0}")]
    Cluster(#[from] drivers::cluster::ClusterError),
    /// A scenario could not be loaded or run.
    #[error("{0}")]
    Scenario(#[from] teaching::scenario::ScenarioError),
    /// Serving failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds the page's listener: `addr` must be loopback unless `access` holds a secret.
pub async fn bind(
    addr: SocketAddr,
    access: &access::Access,
) -> Result<tokio::net::TcpListener, ServeError> {
    if !addr.ip().is_loopback() && !access.has_secret() {
        return Err(ServeError::NeedsSecret(addr));
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}
