//! Teaching on the deterministic simulator: scripted scenarios with expectations, their
//! narrated timelines, and Lamport message-sequence diagrams.
//!
//! # Layout
//! - [`scenario`]: scenario files (a cluster, initial histories, a fault schedule and
//!   expectations) that run with any of the three protocols, and their timelines.
//! - [`exercise`]: questions on the scenarios, graded by running the answers as
//!   expectations (`cwb exercise check`).
//! - [`lamport`]: the message-sequence diagram (SVG) of a simulated run.
//! - [`replay`]: the timeline of a random-fault seed replay, for its diagram.
//! - [`legend`]: one line per protocol explaining its notation (`4@1`, `1.3`, eras).
//! - [`side_by_side`]: one HTML page with a scenario's run under the three protocols,
//!   timelines aligned on its steps, and their diagrams.

pub mod exercise;
pub mod lamport;
pub mod legend;
pub mod replay;
pub mod scenario;
pub mod side_by_side;
