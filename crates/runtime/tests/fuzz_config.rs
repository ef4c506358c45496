//! Fuzzing, stable edition: `cluster.toml` parsing and validation fed thousands of
//! random and mutated files on every `cargo nextest run` (issue 23, "Decoders fuzzed").
//! Every input must give a config or a `ConfigError`, never a panic; a parsed config
//! must write back to the same config, and a validated one must be runnable (see
//! `harness/config.rs`, shared with the cargo-fuzz target `config_parse`; nightly:
//! `cargo +nightly fuzz run config_parse`).
//!
//! Inputs: random TOML-ish token soup and random text; and a valid file mutated line
//! by line: values replaced by numbers at 0, 1, -1, the limits and beyond, wrong types,
//! odd addresses and unicode; keys renamed (unknown or duplicated), lines deleted,
//! duplicated or moved, characters changed.
//!
//! Case counts keep the file to a few seconds; `PROPTEST_CASES=100000 cargo nextest
//! run -p runtime --test fuzz_config` runs longer (proptest reads the variable).

#[path = "harness/config.rs"]
mod harness;

use harness::{check_config_text, GOOD};
use proptest::prelude::*;
use proptest::sample::select;
use runtime::config::{ClusterConfig, ConfigError};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

fn config(cases: u32) -> ProptestConfig {
    let from_env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: from_env.unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A secret file with a good secret, and the other files a fuzzed config may name.
static SECRET_FILES: LazyLock<Vec<PathBuf>> = LazyLock::new(secret_files);

fn secret_files() -> Vec<PathBuf> {
    let good = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-config-secret.hex");
    std::fs::write(
        &good,
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    )
    .expect("write the secret file");
    ["/dev/null", "/dev/zero", "/", "/nonexistent/secret"]
        .into_iter()
        .map(PathBuf::from)
        .chain([good])
        .collect()
}

const KEYS: &[&str] = &[
    "cluster_id",
    "secret",
    "secret_file",
    "protocol",
    "fsync",
    "data_dir",
    "seed",
    "heartbeat_ms",
    "election_timeout_min_ms",
    "election_timeout_max_ms",
    "finalize_wait_ms",
    "raft_timer_reset",
    "pre_vote",
    "check_quorum",
    "max_connections",
    "idle_timeout_ms",
    "max_in_flight",
    "id",
    "peer",
    "client",
    "observer",
    "\"ключ\"",
    "unknown",
];

fn values(files: &[PathBuf]) -> Vec<String> {
    let mut v: Vec<String> = [
        "0",
        "1",
        "2",
        "-1",
        "50",
        "150",
        "300",
        "3600000",
        "3600001",
        "65535",
        "65536",
        "1048576",
        "1048577",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "99999999999999999999999",
        "1.5",
        "1e400",
        "nan",
        "inf",
        "true",
        "false",
        "\"\"",
        "\"raft\"",
        "\"zab\"",
        "\"paxos\"",
        "\"always\"",
        "\"never\"",
        "\"etcd\"",
        "\"figure2\"",
        "\"127.0.0.1:0\"",
        "\"127.0.0.1:65535\"",
        "\"127.0.0.1:7001\"",
        "\"[::1]:7002\"",
        "\"localhost:7001\"",
        "\"127.0.0.1:70000\"",
        "\"ünïcödé ✓ 𝄞\"",
        "\"\\u0000\"",
        "[1, 2]",
        "[]",
        "{ a = 1 }",
        "1979-05-27",
        "\"00112233445566778899aabbccddeeff\"",
        "\"00112233445566778899aabbccddeeffaa\"",
        "\"zz112233445566778899aabbccddeeff\"",
        "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"",
        "'''multi\nline'''",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    v.extend(
        files
            .iter()
            .map(|f| format!("{:?}", f.display().to_string())),
    );
    v
}

#[derive(Clone, Debug)]
enum Edit {
    SetValue(usize, String),
    RenameKey(usize, &'static str),
    Delete(usize),
    Duplicate(usize),
    Move(usize, usize),
    Insert(usize, String),
    Char(usize, char),
}

fn edit(files: &[PathBuf]) -> impl Strategy<Value = Edit> {
    let line = any::<usize>();
    let headers = ["[timing]", "[client_port]", "[[node]]", "[node]", "[timing"];
    prop_oneof![
        6 => (line, select(values(files))).prop_map(|(l, v)| Edit::SetValue(l, v)),
        2 => (line, select(KEYS)).prop_map(|(l, k)| Edit::RenameKey(l, k)),
        2 => line.prop_map(Edit::Delete),
        2 => line.prop_map(Edit::Duplicate),
        1 => (line, line).prop_map(|(a, b)| Edit::Move(a, b)),
        1 => (line, select(headers.to_vec())).prop_map(|(l, h)| Edit::Insert(l, h.into())),
        1 => (line, any::<char>()).prop_map(|(l, c)| Edit::Char(l, c)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::SetValue(l, v) => {
                if let Some(line) = lines.get_mut(l % n) {
                    if let Some((key, _)) = line.split_once(" = ") {
                        *line = format!("{key} = {v}");
                    }
                }
            }
            Edit::RenameKey(l, k) => {
                if let Some(line) = lines.get_mut(l % n) {
                    if let Some((_, value)) = line.split_once(" = ") {
                        *line = format!("{k} = {value}");
                    }
                }
            }
            Edit::Delete(l) if !lines.is_empty() => {
                lines.remove(l % n);
            }
            Edit::Duplicate(l) if !lines.is_empty() => {
                let copy = lines[l % n].clone();
                lines.insert(l % n, copy);
            }
            Edit::Move(a, b) if !lines.is_empty() => {
                let line = lines.remove(a % n);
                lines.insert(b % lines.len().max(1), line);
            }
            Edit::Insert(l, text) => lines.insert(l % (lines.len() + 1), text.clone()),
            Edit::Char(l, c) => {
                if let Some(line) = lines.get_mut(l % n) {
                    let at = line.char_indices().map(|(i, _)| i).nth(l % 7).unwrap_or(0);
                    line.insert(at, *c);
                }
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn token_soup() -> impl Strategy<Value = String> {
    let mut tokens: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
    tokens.extend(values(&[]));
    tokens.extend(
        [
            "=",
            " ",
            "\n",
            "[",
            "]",
            "[[",
            "]]",
            "node",
            "timing",
            "client_port",
            ".",
            ",",
            "#",
            "\"",
            "'",
            "{",
            "}",
            "\\",
            "é",
            "\u{0}",
            "\r\n",
            "\t",
        ]
        .map(String::from),
    );
    prop::collection::vec(select(tokens), 0..60).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn mutated_valid_configs_give_a_config_or_an_error(
        edits in prop::collection::vec(edit(&SECRET_FILES), 1..5),
    ) {
        check_config_text(&apply(GOOD, &edits), &SECRET_FILES);
    }
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn token_soup_gives_a_config_or_an_error(text in token_soup()) {
        check_config_text(&text, &[]);
    }

    #[test]
    fn random_text_gives_a_config_or_an_error(text in ".{0,200}") {
        check_config_text(&text, &[]);
    }
}

#[test]
fn the_seed_config_is_valid_and_mutations_reach_validation() {
    assert!(check_config_text(GOOD, &[]).is_some());
    let no_secret = GOOD.replace("secret = ", "secret_file = ");
    assert!(
        check_config_text(&no_secret, &[]).is_none(),
        "a hex string is no file"
    );
}

// Regression tests for what the fuzzing found.

fn validate(text: &str) -> Result<runtime::config::Validated, ConfigError> {
    ClusterConfig::parse(text, Path::new("cluster.toml"))?.validate()
}

#[test]
fn client_port_bounds_a_node_cannot_run_with_are_refused() {
    // `[client_port]` was not validated: max_in_flight or max_connections = 2^63-1
    // passed, and the client port's task then panicked creating its semaphore (tokio
    // refuses more than usize::MAX >> 3 permits), at start or at the first client
    // connection; 0 connections or a 0 ms idle timeout passed too and made a node no
    // client could use.
    let too_many = std::panic::catch_unwind(|| tokio::sync::Semaphore::new(1 << 63));
    assert!(too_many.is_err(), "what a value that passed used to meet");
    for (key, value) in [
        ("max_in_flight", "9223372036854775807"),
        ("max_connections", "9223372036854775807"),
        ("max_connections", "0"),
        ("max_in_flight", "0"),
        ("idle_timeout_ms", "0"),
        ("idle_timeout_ms", "3600001"),
    ] {
        let text =
            apply(GOOD, &[]).replace(&format!("{key} = "), &format!("{key} = {value}\n# was "));
        let err = validate(&text).expect_err(key);
        assert!(
            matches!(err, ConfigError::ClientLimit { .. }),
            "{key}: {err}"
        );
        assert!(err.to_string().contains(key), "{err}");
    }
    validate(GOOD).expect("the defaults' neighbours are fine");
}

#[test]
fn a_secret_file_that_never_ends_is_refused_without_reading_it_whole() {
    // `secret_file = "/dev/zero"` (or any huge file) was read whole: the node never
    // started and its memory grew without bound. Now at most 4 KiB are read.
    let text = GOOD.replace(
        "secret = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"",
        "secret_file = \"/dev/zero\"",
    );
    let err = validate(&text).expect_err("endless");
    assert!(matches!(err, ConfigError::FileTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("/dev/zero"), "{err}");
    // The config file itself is read up to a bound as well.
    let err = ClusterConfig::load(Path::new("/dev/zero")).expect_err("endless");
    assert!(matches!(err, ConfigError::FileTooLarge { .. }), "{err}");
}
