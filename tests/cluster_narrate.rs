//! `cwb cluster --narrate` on a real loopback cluster, driven through its standard
//! input as a person would: puts, a leader kill, a second kill that leaves no quorum, a
//! put that must wait, `status` while it waits, and a restart. The timeline must stay
//! readable: one line per write (its answer with its commit point), elections in full,
//! stamps in order, no line printed twice in a row, and the prompt free while a put
//! waits. `--narrate all` prints the per-write traffic the default folds.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

/// A guard against a hung run, not a timing assertion: every awaited line normally
/// comes within a second.
const GUARD: Duration = Duration::from_secs(60);

struct Console {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Console {
    fn start(protocol: &str, narrate: &[&str]) -> Console {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cwb"))
            .args([
                "cluster",
                "--protocol",
                protocol,
                "--nodes",
                "3",
                "--writes-per-sec",
                "0",
            ])
            .args(narrate)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cwb cluster starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Console {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{command}").expect("cwb reads its stdin");
        stdin.flush().expect("flushed");
    }

    /// Reads lines until one satisfies `want`; returns it.
    fn until(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(GUARD) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line {what} within {GUARD:?}; the console printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Quits and returns everything printed.
    fn quit(mut self) -> Vec<String> {
        self.send("quit");
        drop(self.stdin.take());
        while let Ok(line) = self.lines.recv_timeout(GUARD) {
            self.seen.push(line);
        }
        let status = self.child.wait().expect("cwb exits");
        assert!(status.success(), "cwb cluster failed: {status}");
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stamp of a timeline line (`[   12.3 ms] ...`).
fn stamp(line: &str) -> Option<f64> {
    line.strip_prefix('[')?
        .split_once(" ms]")?
        .0
        .trim()
        .parse()
        .ok()
}

/// A line's text without its stamp.
fn text(line: &str) -> &str {
    line.split_once(" ms] ").map_or(line, |(_, t)| t)
}

fn killed_id(line: &str) -> String {
    text(line)
        .trim_start_matches("*** killed node ")
        .split(' ')
        .next()
        .expect("an id")
        .to_string()
}

/// The scripted session; returns every line printed and the lines of the steady
/// phase (from the first put's answer to the first kill).
fn session(protocol: &str, narrate: &[&str], commit_word: &str) -> (Vec<String>, Vec<String>) {
    let mut c = Console::start(protocol, narrate);
    c.until("with a leader READY", |l| l.contains("READY"));
    let put = |c: &mut Console, i: u32| {
        c.send(&format!("put k{i} v{i}"));
        let answer = c.until("answering the put", |l| {
            text(l).starts_with(&format!("put k{i}=v{i} -> "))
        });
        assert!(
            answer.contains("-> ok") && answer.contains(commit_word),
            "a put's answer names its commit point ({commit_word}): {answer}"
        );
    };
    put(&mut c, 1);
    let steady_from = c.seen.len() - 1;
    for i in 2..=6 {
        put(&mut c, i);
    }
    c.send("kill-leader");
    let first_kill = c.until("saying the leader was killed", |l| {
        l.contains("*** killed node")
    });
    let steady: Vec<String> = c.seen[steady_from..c.seen.len() - 1].to_vec();
    c.until("with a new leader READY", |l| l.contains("READY"));
    for i in 7..=9 {
        put(&mut c, i);
    }
    // No quorum: the put waits, and the prompt still answers `status`.
    c.send("kill-leader");
    c.until("saying the second leader was killed", |l| {
        l.contains("*** killed node")
    });
    c.send("put lost 1");
    c.send("status");
    c.until("of status while the put waits", |l| {
        assert!(
            !l.contains("put lost=1 ->"),
            "answered without a quorum: {l}"
        );
        l.contains("down")
    });
    let waits = |l: &str| text(l).starts_with("put lost=1: no answer after");
    if !c.seen.iter().any(|l| waits(l)) {
        c.until("saying the put waits", waits);
    }
    c.send(&format!("restart {}", killed_id(&first_kill)));
    c.until("answering the put once a quorum is back", |l| {
        text(l).starts_with("put lost=1 -> ok")
    });
    (c.quit(), steady)
}

fn check_default(protocol: &str, commit_word: &str) {
    let (lines, steady) = session(protocol, &["--narrate"], commit_word);
    let timeline: Vec<&String> = lines.iter().filter(|l| stamp(l).is_some()).collect();
    // Stamps never go back, across nodes and the console.
    let stamps: Vec<f64> = timeline.iter().filter_map(|l| stamp(l)).collect();
    for w in stamps.windows(2) {
        assert!(w[0] <= w[1], "stamps out of order: {lines:#?}");
    }
    // One line per write while nothing else happens: its answer.
    assert_eq!(
        steady.len(),
        6,
        "{protocol}: six puts gave these lines: {steady:#?}"
    );
    // Elections in full: two leaders were elected after the cold start.
    let elected = timeline
        .iter()
        .filter(|l| l.contains("ELECTED leader"))
        .count();
    assert!(elected >= 2, "{protocol}: elections missing: {lines:#?}");
    // Nothing printed twice in a row.
    for w in timeline.windows(2) {
        assert_ne!(text(w[0]), text(w[1]), "{protocol}: a line repeated");
    }
    // The per-write traffic is folded, and said so (Raft narrates none besides its
    // commit points).
    if protocol != "raft" {
        let folded = lines
            .iter()
            .find_map(|l| l.strip_prefix("narration: "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("{protocol}: no folded count: {lines:#?}"));
        assert!(folded >= 10, "{protocol}: only {folded} lines folded");
    }
    println!(
        "{protocol}: {} lines, {} timeline lines",
        lines.len(),
        timeline.len()
    );
}

#[test]
fn raft_narration_is_one_line_per_write_with_elections_in_full() {
    check_default("raft", "commits index");
}

#[test]
fn zab_narration_is_one_line_per_write_with_elections_in_full() {
    check_default("zab", "commits zxid");
}

#[test]
fn paxos_narration_is_one_line_per_write_with_elections_in_full() {
    check_default("paxos", "chooses slot");
}

#[test]
fn narrate_all_prints_the_per_write_traffic_in_stamp_order() {
    // (The answers carry no commit point here: the commit lines print on their own.)
    let (lines, steady) = session("paxos", &["--narrate", "all"], "");
    let stamps: Vec<f64> = lines.iter().filter_map(|l| stamp(l)).collect();
    for w in stamps.windows(2) {
        assert!(w[0] <= w[1], "stamps out of order: {lines:#?}");
    }
    // Every acceptor's accept and every learner's learn, for each of the six puts.
    let accepts = steady
        .iter()
        .filter(|l| text(l).contains("accept Accept(") && l.contains(": slots "))
        .count();
    assert!(accepts >= 12, "per-write accepts missing: {steady:#?}");
    assert!(!lines.iter().any(|l| l.starts_with("narration: ")));
}
