//! One network model for the whole workbench: what a message meets between two nodes.
//!
//! The deterministic simulator (`sim`) and the TCP transport's fault filter
//! (`runtime::transport::Faults`) both ask this crate what happens to a message sent on
//! a directed link `from -> to` at time `now`, so a profile means the same thing in a
//! simulated run and on real sockets. Per directed link:
//! - a one-way delay: a fixed base plus a jitter drawn from a distribution
//!   ([`Jitter`]: none, uniform, normal, lognormal or Pareto, the last two long-tailed);
//! - a loss probability;
//! - an optional bandwidth cap: a message occupies the link for `bytes * 8 / rate`, and
//!   messages queue behind each other for it;
//! - one-way cuts (a static partition in one direction).
//!
//! Both real links are TCP, so a link is FIFO: a message never overtakes an earlier one
//! on the same directed link. [`Wire`] keeps that order: a message's arrival is
//! `max(sampled arrival, arrival of the previous message on the link)`.
//!
//! Randomness is passed in (a source of 64 random bits), so the simulator's seeded
//! generator and the filter's per-link generators both drive the same sampling code; the
//! crate itself has no clock, no global random source and no I/O.
//!
//! # Layout
//! - [`link`]: [`LinkSpec`] and [`Jitter`], one directed link's behaviour and its sampling.
//! - [`model`]: [`NetModel`], which link spec applies between two nodes (default, region
//!   matrix, per-link overrides, cuts), and its validation.
//! - [`profiles`]: the named profiles `loopback`, `lan`, `dc`, `cross-az`, `wan`,
//!   `lossy` and `raft-fig16`, each value with its source.
//! - [`file`]: the TOML network file format.
//! - [`kinds`]: [`KindRules`], drops and delays by message kind (a delay can be limited
//!   to messages sent after their sender's write).
//! - [`wire`]: [`Wire`], the per-link FIFO and bandwidth state that turns a send into an
//!   arrival time.
//!
//! # Example
//! ```
//! use netmodel::{NetModel, Wire, Fate};
//! use std::time::Duration;
//! let model = NetModel::parse_spec("lan").expect("a named profile");
//! let mut wire = Wire::new(model);
//! let mut state = 7u64;
//! let mut bits = move || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1); state };
//! match wire.send(1, 2, Duration::ZERO, 200, &mut bits) {
//!     Fate::Arrives(at) => assert!(at > Duration::ZERO),
//!     other => panic!("a clean LAN lost a message: {other:?}"),
//! }
//! ```

pub mod file;
pub mod kinds;
pub mod link;
pub mod model;
pub mod profiles;
pub mod wire;

pub use kinds::{KindDelay, KindDrop, KindRules};
pub use link::{Jitter, LinkSpec};
pub use model::{NetError, NetModel, Regions};
pub use wire::{Fate, Wire};

/// A node's id, as the protocols number them (1-based).
pub type NodeId = u64;

/// A uniform value in `[0, 1)` from 64 random bits (the top 53 bits).
pub fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}
