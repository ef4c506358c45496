//! Frames and the peer codec: `read_frame`/`take_frame`, Raft, ZAB and Paxos messages,
//! the handshake. Input: raw bytes, or (first byte odd) real framed messages and the
//! mutations to apply to them. Checks: `crates/runtime/tests/harness/decoders.rs`.
#![no_main]

#[path = "../../crates/runtime/tests/harness/decoders.rs"]
mod decoders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoders::fuzz_frames(data));
