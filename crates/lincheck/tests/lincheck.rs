//! The linearizability checker against histories recorded by other tools, each with the
//! verdict Porcupine's own tests assert (tests/fixtures/linearizability, see its
//! README), and on malformed files.

use lincheck::formats::{self, Format, LoadError, ParseError};
use lincheck::{check, Limits, Verdict};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fixtures(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/linearizability")
        .join(folder)
}

/// `VERDICTS`: (file, linearizable?) per line.
fn verdicts(dir: &Path) -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(dir.join("VERDICTS")).expect("VERDICTS");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (file, verdict) = l.split_once(' ').expect("FILE VERDICT");
            let linearizable = match verdict.trim() {
                "linearizable" => true,
                "not-linearizable" => false,
                other => panic!("{file}: unknown verdict {other:?}"),
            };
            (file.to_string(), linearizable)
        })
        .collect()
}

/// Every file of `folder` listed in its VERDICTS gets its verdict; the folder holds
/// nothing else but the README.
fn check_folder(folder: &str, format: Format, extension: &str) {
    let dir = fixtures(folder);
    let expected = verdicts(&dir);
    let listed: BTreeSet<&str> = expected.iter().map(|(f, _)| f.as_str()).collect();
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("fixture folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(extension))
        .collect();
    let present: BTreeSet<&str> = present.iter().map(String::as_str).collect();
    assert_eq!(listed, present, "{folder}: VERDICTS and the files differ");
    // Generous: the verdict must not depend on the machine's speed.
    let limits = Limits {
        time: Some(Duration::from_secs(120)),
        steps: None,
        shrink_time: Duration::from_secs(1),
    };
    let mut wrong = Vec::new();
    for (file, linearizable) in &expected {
        let path = dir.join(file);
        let (history, guessed) = formats::load(&path, None).expect("loads");
        assert_eq!(
            guessed, format,
            "{file}: format guessed from its first line"
        );
        let start = Instant::now();
        let verdict = check(&history, limits);
        let took = start.elapsed();
        match (&verdict, linearizable) {
            (Verdict::Linearizable, true) => println!("{file}: linearizable ({took:?})"),
            (Verdict::NotLinearizable(anomaly), false) => {
                assert!(!anomaly.ops.is_empty());
                println!("{file}: not linearizable ({took:?}): {anomaly:#}");
            }
            _ => wrong.push(format!(
                "{file}: expected linearizable={linearizable}, got {verdict:?}"
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn lincheck_porcupine_kv_histories_get_their_verdicts() {
    check_folder("kv", Format::PorcupineKv, ".txt");
}

#[test]
fn lincheck_jepsen_etcd_register_histories_get_their_verdicts() {
    check_folder("jepsen-register", Format::JepsenRegister, ".log");
}

fn load_text(name: &str, text: &str) -> Result<Format, LoadError> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    formats::load(&path, None).map(|(_, format)| format)
}

#[test]
fn lincheck_refuses_a_malformed_file_naming_the_line() {
    let cases = [
        (
            "bad.jsonl",
            "{\"client\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\",\"time\":1}\n\n{\"client\":1,\"type\":\"okay\",\"time\":2}\n",
            3,
        ),
        (
            "bad.log",
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.core - noise\nINFO  jepsen.util - 0\t:ok\t:read\tfour\n",
            3,
        ),
        (
            "bad.txt",
            "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"1\", :value \"\"\n",
            2,
        ),
    ];
    for (name, text, line) in cases {
        match load_text(name, text) {
            Err(LoadError::Parse {
                source: ParseError::Line { line: at, .. },
                ..
            }) => {
                assert_eq!(at, line, "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
        let message = load_text(name, text).expect_err("refused").to_string();
        assert!(message.contains(&format!("line {line}: ")), "{message}");
    }
    // Not UTF-8: the line is named too.
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("binary");
    std::fs::write(&path, b"{\"client\":1}\n\xff\xfe\n").expect("write");
    let message = formats::load(&path, None).expect_err("refused").to_string();
    assert!(
        message.ends_with("line 2: not valid UTF-8 text"),
        "{message}"
    );
    // A missing file is an I/O error, naming the file.
    let message = formats::load(&dir.path().join("missing"), None)
        .expect_err("refused")
        .to_string();
    assert!(message.contains("missing"), "{message}");
}
