//! The client codec: request frames as the client port reads them (`split_command` and
//! the full decoder), responses, and the replicated `KvCommand` decoders. Input: raw
//! bytes, or (first byte odd) real encodings and the mutations to apply to them.
//! Checks: `crates/runtime/tests/harness/decoders.rs` and
//! `crates/kv/tests/harness/commands.rs`.
#![no_main]

#[path = "../../crates/runtime/tests/harness/decoders.rs"]
mod decoders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoders::fuzz_client(data));
