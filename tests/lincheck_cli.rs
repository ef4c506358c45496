//! `cwb lincheck FILE` end to end: its exit status is the verdict (0 linearizable, 1 not,
//! 2 undecided or bad input), and what it prints says why.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CWB: &str = env!("CARGO_BIN_EXE_cwb");

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/lincheck/tests/fixtures/linearizability")
        .join(path)
}

fn lincheck(args: &[&str], file: &Path) -> Output {
    Command::new(CWB)
        .arg("lincheck")
        .arg(file)
        .args(args)
        .output()
        .expect("run cwb lincheck")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_linearizable_history_exits_0() {
    let out = lincheck(&[], &fixture("kv/c10-ok.txt"));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("(porcupine-kv format): 337 operations on 10 keys"),
        "{stdout}"
    );
    assert!(stdout.contains("\nlinearizable (checked in "), "{stdout}");

    // The native format, written by hand: two overlapping writes and a read.
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("history.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"client":1,"type":"invoke","f":"put","key":"x","value":"1","time":0}"#,
            r#"{"client":2,"type":"invoke","f":"put","key":"x","value":"2","time":5}"#,
            r#"{"client":2,"type":"ok","time":8}"#,
            r#"{"client":1,"type":"ok","time":10}"#,
            r#"{"client":3,"type":"invoke","f":"get","key":"x","time":11}"#,
            r#"{"client":3,"type":"ok","value":"1","time":12}"#,
        ]
        .join("\n"),
    )
    .expect("write");
    let out = lincheck(&[], &file);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("(cwb format): 3 operations on 1 key"));
}

#[test]
fn a_violation_exits_1_and_is_shown_in_words() {
    let out = lincheck(&["--format", "porcupine-kv"], &fixture("kv/c01-bad.txt"));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("NOT linearizable"), "{stdout}");
    assert!(
        stdout.contains("key \"7\" (3 of its 5 operations):\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no order of these operations explains client 0's get answer"),
        "{stdout}"
    );

    let out = lincheck(&[], &fixture("jepsen-register/etcd_000.log"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("(jepsen-register format)"));
}

#[test]
fn bad_input_and_no_verdict_exit_2() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        "{\"client\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\",\"time\":1}\n{\"client\":1,\"type\":\"ok\",\"value\":7,\"time\":2}\n",
    )
    .expect("write");
    let out = lincheck(&[], &file);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.jsonl (cwb format): line 2: a get cannot answer 7"),
        "{stderr}"
    );

    let out = lincheck(&[], &dir.path().join("missing.jsonl"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.jsonl"));

    // A jepsen log read as the native format: the first line is named.
    let out = lincheck(
        &["--format", "cwb"],
        &fixture("jepsen-register/etcd_002.log"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("(cwb format): line 1: "));

    // Out of search steps: undecided.
    let out = lincheck(&["--max-steps", "10"], &fixture("kv/c10-ok.txt"));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("undecided: the limit of 10 search steps ran out"),
        "{stdout}"
    );
}
