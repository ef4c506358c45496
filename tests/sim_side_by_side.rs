//! `cwb sim --scenario F --protocol all --html OUT.html`: the three protocols' runs of one
//! scenario on one self-contained page.

use std::process::Command;

#[test]
fn protocol_all_writes_one_page_with_three_timelines_and_three_diagrams() {
    let dir = std::env::temp_dir().join(format!("cwb-side-by-side-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let html = dir.join("page.html");
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/leader-isolation.toml"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_cwb"))
        .args(["sim", "--scenario", scenario, "--protocol", "all", "--html"])
        .arg(&html)
        .output()
        .expect("cwb runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The three timelines, one after the other, on stdout.
    for p in ["raft, 5 nodes", "zab, 5 nodes", "paxos, 5 nodes"] {
        assert!(stdout.contains(p), "{p} missing");
    }
    let page = std::fs::read_to_string(&html).expect("the page was written");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg ").count(), 3, "one diagram per protocol");
    assert_eq!(page.matches("<span class=\"proto\">").count(), 3);
    // Self-contained: no script, nothing fetched.
    assert!(!page.contains("<script"));
    assert!(!page.contains("src=") && !page.contains("href="));
    // The isolation step heads one row shared by the three columns.
    let row = page
        .split("<tr>")
        .find(|r| r.contains("isolate node"))
        .expect("a row for the isolation");
    assert_eq!(row.matches("isolate node").count(), 3, "{row}");
    // --html needs all three.
    let refused = Command::new(env!("CARGO_BIN_EXE_cwb"))
        .args([
            "sim",
            "--scenario",
            scenario,
            "--protocol",
            "raft",
            "--html",
        ])
        .arg(dir.join("no.html"))
        .output()
        .expect("cwb runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--protocol all"));
    let _ = std::fs::remove_dir_all(&dir);
}
