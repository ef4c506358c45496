//! Raft
