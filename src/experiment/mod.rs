//! Reproductions of published results, run by `cwb experiment`.
//!
//! - [`fig16`]: Figure 16 of the Raft paper (Ongaro and Ousterhout, *In Search of an
//!   Understandable Consensus Algorithm*, USENIX ATC 2014, §9.3; the same experiment
//!   is §9.4 of Ongaro's dissertation): the time to detect and replace a crashed leader
//!   in a five-server cluster, as the election timeout range varies; run for Raft, ZAB
//!   and Paxos in the deterministic simulator over the network model.
//! - [`paper`]: what the paper states about that figure, and nothing more.
//! - [`stats`]: medians, means and percentiles of one setting's trials.
//! - [`svg`]: the CDF plots in the paper's layout.

pub mod fig16;
pub mod fig16_real;
pub mod paper;
pub mod stats;
pub mod svg;
