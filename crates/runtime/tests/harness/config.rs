//! The fuzz harness of `cluster.toml` parsing and validation, shared by the default
//! property tests (`tests/fuzz_config.rs`) and the cargo-fuzz target `config_parse`
//! (`fuzz/fuzz_targets/config_parse.rs`), which include this file.
//!
//! [`check_config_text`] parses and validates untrusted text and panics if either
//! panics or breaks a promise: a parsed config must write back (as `cwb config`
//! writes it) to text that parses to the same config, and a validated one must be
//! runnable: ids and ports as the docs say, timings in bounds, client-port limits the
//! node's semaphores and timers accept.

#![allow(dead_code)] // each includer uses a different part

use runtime::config::{
    ClusterConfig, ConfigError, Validated, MAX_CLIENT_LIMIT, MAX_IDLE_TIMEOUT_MS,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A valid file using every section and most keys.
pub const GOOD: &str = r#"# a cluster
cluster_id = "00112233445566778899aabbccddeeff"
secret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
protocol = "raft"
fsync = "batch"
data_dir = "cwb-data"
seed = 7
[timing]
heartbeat_ms = 50
election_timeout_min_ms = 150
election_timeout_max_ms = 300
finalize_wait_ms = 200
raft_timer_reset = "etcd"
pre_vote = false
check_quorum = true
[client_port]
max_connections = 512
idle_timeout_ms = 60000
max_in_flight = 4096
[[node]]
id = 1
peer = "127.0.0.1:7001"
client = "127.0.0.1:7101"
[[node]]
id = 2
peer = "[::1]:7002"
client = "127.0.0.1:7102"
[[node]]
id = 3
peer = "127.0.0.1:7003"
client = "127.0.0.1:7103"
observer = true
"#;

/// Where a fuzzed `secret_file` may point: anything else is replaced by a path that
/// does not exist, so that a fuzzer never reads (or blocks on) arbitrary files.
pub fn sanitize(config: &mut ClusterConfig, allowed: &[PathBuf]) {
    if let Some(path) = &config.secret_file {
        if !allowed.contains(path) {
            config.secret_file = Some(PathBuf::from("/nonexistent/cwb-fuzz-secret"));
        }
    }
}

/// Parses and validates `text`; panics on a panic or a broken promise (module docs).
/// `secret_files` are the secret files the text may name (see [`sanitize`]).
pub fn check_config_text(text: &str, secret_files: &[PathBuf]) -> Option<Validated> {
    let path = Path::new("fuzz.toml");
    let mut config = match ClusterConfig::parse(text, path) {
        Ok(c) => c,
        Err(e) => {
            assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
            assert!(e.to_string().contains("fuzz.toml"), "{e}");
            return None;
        }
    };
    sanitize(&mut config, secret_files);
    let written = toml::to_string(&config).expect("a parsed config writes back");
    let again = ClusterConfig::parse(&written, path).expect("what was written parses");
    assert_eq!(again, config, "{written}");
    match config.validate() {
        Ok(v) => {
            check_runnable(&config, &v);
            Some(v)
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            None
        }
    }
}

/// What a node started from `v` relies on.
fn check_runnable(config: &ClusterConfig, v: &Validated) {
    let ids: BTreeSet<_> = config.nodes.iter().map(|n| n.id).collect();
    assert_eq!(ids.len(), config.nodes.len(), "ids are unique");
    assert!(!ids.contains(&0), "no node 0");
    let addrs: BTreeSet<_> = config
        .nodes
        .iter()
        .flat_map(|n| [n.peer, n.client])
        .collect();
    assert_eq!(
        addrs.len(),
        2 * config.nodes.len(),
        "addresses are distinct"
    );
    assert!(addrs.iter().all(|a| a.port() != 0), "no port 0");
    assert_eq!(v.peers.len(), ids.len());
    assert_eq!(v.clients.len(), ids.len());
    assert!(!v.membership.voter_ids().is_empty());
    v.timing.validate().expect("validated timing");
    let limits = v.client_limits;
    for (value, max) in [
        (limits.max_connections as u64, MAX_CLIENT_LIMIT),
        (limits.max_in_flight as u64, MAX_CLIENT_LIMIT),
        (limits.idle_timeout_ms, MAX_IDLE_TIMEOUT_MS),
    ] {
        assert!((1..=max).contains(&value), "{limits:?}");
    }
    // The client port's semaphores panic beyond this many permits.
    assert!(limits.max_connections <= tokio::sync::Semaphore::MAX_PERMITS);
    assert!(limits.max_in_flight <= tokio::sync::Semaphore::MAX_PERMITS);
    assert!(v.key.secret.len() >= 16);
}

/// The fuzz target's entry: `data` as text (lossily, so every input is tried).
pub fn fuzz_config(data: &[u8]) {
    check_config_text(&String::from_utf8_lossy(data), &[]);
}
