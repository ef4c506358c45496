//! The shared harness: everything the three protocols share, so that a comparison
//! measures the protocols and nothing else.
//!
//! # Layout
//! - [`storage`]: the write-ahead log (checksummed records, fsync policy, recovery).
//! - [`sim`]: the deterministic simulator (virtual clock, seeded faults, safety checks).

pub mod config;
pub mod kv;
pub mod metrics;
pub mod sim;
pub mod storage;
