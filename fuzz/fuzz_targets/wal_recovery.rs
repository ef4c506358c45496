//! WAL recovery: the input as a log's bytes (in memory and as a segment on disk), and
//! as a plan (records to write with a real `Wal`, then damage to its segment files).
//! Checks: `crates/storage/tests/harness/recovery.rs`.
#![no_main]

#[path = "../../crates/storage/tests/harness/recovery.rs"]
mod recovery;

libfuzzer_sys::fuzz_target!(|data: &[u8]| recovery::fuzz_recovery(data));
