//! `cwb zk` against a real loopback cluster of `cwb node` processes running the znode
//! state machine (ports chosen by the OS, processes and directories cleaned up).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const CWB: &str = env!("CARGO_BIN_EXE_cwb");

/// Child processes killed when the test ends, whatever happens.
struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_ports(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr"))
        .collect()
}

fn write_config(dir: &Path, protocol: &str, n: u64) -> PathBuf {
    let ports = free_ports(2 * n as usize);
    let mut text = format!(
        "protocol = \"{protocol}\"\nstate_machine = \"znode\"\ndata_dir = {:?}\n\
         cluster_id = \"{}\"\nsecret = \"{}\"\n",
        dir.join("data").display().to_string(),
        "5e".repeat(16),
        "c0de".repeat(16),
    );
    let mut clients = BTreeMap::new();
    for id in 1..=n {
        let (peer, client) = (
            ports[2 * (id as usize - 1)],
            ports[2 * (id as usize - 1) + 1],
        );
        text.push_str(&format!(
            "[[node]]\nid = {id}\npeer = \"{peer}\"\nclient = \"{client}\"\n"
        ));
        clients.insert(id, client);
    }
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn zk(config: &Path, args: &[&str]) -> Output {
    Command::new(CWB)
        .args(["zk", "--config"])
        .arg(config)
        .args(args)
        .output()
        .expect("run cwb zk")
}

fn ok(config: &Path, args: &[&str]) -> String {
    let out = zk(config, args);
    assert!(
        out.status.success(),
        "cwb zk {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(config: &Path, args: &[&str]) -> String {
    let out = zk(config, args);
    assert!(!out.status.success(), "cwb zk {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn create_get_set_ls_stat_rm_and_watch_on_a_zab_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "zab", 3);
    let _nodes = Nodes(
        (1..=3)
            .map(|id| {
                Command::new(CWB)
                    .args(["node", "--bootstrap", "--config"])
                    .arg(&config)
                    .args(["--id", &id.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn cwb node")
            })
            .collect(),
    );
    // The first command waits for a leader (the session opens there).
    assert_eq!(ok(&config, &["create", "/app", "hello"]), "Created /app\n");
    assert_eq!(ok(&config, &["get", "/app"]), "hello\n");
    let set = ok(&config, &["set", "/app", "world", "-v", "0"]);
    assert!(set.contains("dataVersion = 1"), "{set}");
    let stale = refused(&config, &["set", "/app", "again", "-v", "0"]);
    assert!(stale.contains("bad version"), "{stale}");
    assert_eq!(
        ok(&config, &["create", "-s", "/app/n-", "x"]),
        "Created /app/n-0000000001\n"
    );
    assert_eq!(
        ok(&config, &["create", "-s", "/app/n-", "y"]),
        "Created /app/n-0000000002\n"
    );
    assert_eq!(
        ok(&config, &["ls", "/app"]),
        "[n-0000000001, n-0000000002]\n"
    );
    let stat = ok(&config, &["stat", "/app"]);
    assert!(
        stat.contains("numChildren = 2") && stat.contains("cversion = 2"),
        "{stat}"
    );
    // An ephemeral node dies with the session of the command that made it.
    ok(&config, &["create", "-e", "/app/e"]);
    assert_eq!(
        ok(&config, &["ls", "/app"]),
        "[n-0000000001, n-0000000002]\n"
    );
    let not_empty = refused(&config, &["rm", "/app"]);
    assert!(not_empty.contains("not empty"), "{not_empty}");
    let bad = refused(&config, &["create", "app"]);
    assert!(
        bad.contains("bad path") && bad.contains("start with /"),
        "{bad}"
    );
    let missing = refused(&config, &["get", "/nope"]);
    assert!(missing.contains("no node: /nope"), "{missing}");
    // A watch fires when another client creates the node.
    let watcher = Command::new(CWB)
        .args(["zk", "--config"])
        .arg(&config)
        .args(["watch", "/app/w", "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watcher");
    let mut watcher = Nodes(vec![watcher]);
    // It prints "watching" once its watch is left on the leader; then create.
    let mut stdout = std::io::BufReader::new(watcher.0[0].stdout.take().expect("piped"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).expect("watcher's first line");
    assert!(first.starts_with("watching"), "{first}");
    ok(&config, &["create", "/app/w", "v"]);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("watcher output");
    let status = watcher.0[0].wait().expect("watcher exits");
    assert!(status.success(), "the watcher failed");
    assert!(
        rest.contains("type:NodeCreated path:/app/w"),
        "watcher printed: {rest}"
    );
    ok(&config, &["rm", "/app/w"]);
}

#[test]
fn cwb_recipe_narrates_and_bench_measures_recipes() {
    let out = Command::new(CWB)
        .args(["recipe", "fair-election", "--protocol", "raft"])
        .output()
        .expect("run cwb recipe");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("client 3 watches /election/n-0000000002, the node before its own"),
        "{text}"
    );
    assert!(text.contains("checked: 2 grants"), "{text}");
    let bad = Command::new(CWB)
        .args(["recipe", "mutex"])
        .output()
        .expect("run cwb recipe");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown recipe"));

    let dir = tempfile::tempdir().expect("tempdir");
    let results = dir.path().join("results.json");
    let out = Command::new(CWB)
        .args([
            "bench",
            "--measure",
            "recipes",
            "--trials",
            "1",
            "--protocols",
            "paxos",
            "--out",
        ])
        .arg(&results)
        .output()
        .expect("run cwb bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("holder crash -> next holds") && text.contains("paxos"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("recipes.json")).expect("recipes.json"),
    )
    .expect("json");
    assert_eq!(json["protocols"][0]["protocol"], "paxos");
    assert_eq!(
        json["protocols"][0]["predecessor_notifications_per_handover"],
        1.0
    );
}
