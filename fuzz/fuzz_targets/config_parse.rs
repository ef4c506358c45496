//! `cluster.toml` parsing and validation. Input: the file's text (lossily decoded).
//! Seed: `fuzz/seeds/config_parse/`. Checks:
//! `crates/runtime/tests/harness/config.rs`.
#![no_main]

#[path = "../../crates/runtime/tests/harness/config.rs"]
mod config;

libfuzzer_sys::fuzz_target!(|data: &[u8]| config::fuzz_config(data));
