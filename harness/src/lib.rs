//! The shared harness: everything the three protocols share, so that a comparison
//! measures the protocols and nothing else.

pub mod transport;
