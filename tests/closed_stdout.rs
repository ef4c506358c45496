//! A reader that stops early (`cwb cluster | head`) must not make `cwb` print a panic:
//! it stops quietly with the status of a death by SIGPIPE (141).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_reader_that_stops_early_ends_cwb_cluster_quietly() {
    let data = tempfile::tempdir().expect("temp dir");
    // The cluster keeps printing (the election, then the kill and the next one) after
    // the reader has gone.
    let mut child = Command::new(env!("CARGO_BIN_EXE_cwb"))
        .args(["cluster", "--narrate", "--kill-leader-after", "0.3"])
        .env("TMPDIR", data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cwb runs");
    let stdout = child.stdout.take().expect("piped");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("reads a line");
    assert!(!first.is_empty(), "cwb printed nothing");
    // The reader was dropped with the statement above: the pipe's read end is closed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cwb cluster went on after its reader had gone");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("stderr");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(141), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}
