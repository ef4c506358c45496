//! Multi-process mode: each node is its own `cwb node` OS process, configured by one
//! cluster.toml; killing a process (SIGKILL) is a crash; a restarted process recovers
//! from its data directory. Also: the CLI refuses bad configuration before starting.

use bytes::Bytes;
use runtime::client::{status, Client};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CWB: &str = env!("CARGO_BIN_EXE_cwb");

/// Child processes killed when the test ends, whatever happens.
struct Nodes(BTreeMap<u64, Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in self.0.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Free loopback ports, found by binding port 0 (the OS picks), then released.
fn free_ports(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr"))
        .collect()
}

fn write_config(
    dir: &Path,
    protocol: &str,
    n: u64,
) -> (std::path::PathBuf, BTreeMap<u64, SocketAddr>) {
    let ports = free_ports(2 * n as usize);
    let mut text = format!(
        "protocol = \"{protocol}\"\nfsync = \"batch\"\ndata_dir = {:?}\n\
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
    (path, clients)
}

/// Starts node `id`; `bootstrap` on its first start (an empty data directory).
fn spawn_node(config: &Path, id: u64, bootstrap: bool) -> Child {
    Command::new(CWB)
        .args(["node", "--config"])
        .arg(config)
        .args(["--id", &id.to_string()])
        .args(bootstrap.then_some("--bootstrap"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cwb node")
}

async fn leader(clients: &BTreeMap<u64, SocketAddr>) -> Option<u64> {
    for _ in 0..400 {
        for addr in clients.values() {
            if let Ok(s) = status(*addr, Duration::from_millis(500)).await {
                if s.status.role.is_leader() {
                    return Some(s.id);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn sigkill_leader_and_keep_writing(protocol: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, clients) = write_config(dir.path(), protocol, 3);
    let mut nodes = Nodes(
        (1..=3)
            .map(|id| (id, spawn_node(&config, id, true)))
            .collect(),
    );
    let mut client = Client::new(clients.clone());
    client.deadline = Duration::from_secs(20);
    for i in 0..10 {
        client
            .put(Bytes::from(format!("k{i}")), Bytes::from(format!("v{i}")))
            .await
            .expect("put");
    }
    let old = leader(&clients).await.expect("a leader");
    let mut victim = nodes.0.remove(&old).expect("leader process");
    victim.kill().expect("SIGKILL");
    victim.wait().expect("reaped");
    for i in 10..20 {
        client
            .put(Bytes::from(format!("k{i}")), Bytes::from(format!("v{i}")))
            .await
            .expect("put after the kill");
    }
    let new = leader(&clients).await.expect("a new leader");
    assert_ne!(new, old);
    for i in 0..20 {
        let v = client.get(Bytes::from(format!("k{i}"))).await.expect("get");
        assert_eq!(
            v,
            Some(Bytes::from(format!("v{i}"))),
            "acknowledged write {i} survives"
        );
    }
    // The killed process restarts from its data directory and catches up.
    nodes.0.insert(old, spawn_node(&config, old, false));
    let mut caught_up = false;
    for _ in 0..200 {
        if let Ok(s) = status(clients[&old], Duration::from_millis(500)).await {
            if s.applied >= 40 {
                caught_up = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        caught_up,
        "restarted node {old} applied every committed command"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_processes_survive_a_sigkilled_leader() {
    sigkill_leader_and_keep_writing("raft").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zab_processes_survive_a_sigkilled_leader() {
    sigkill_leader_and_keep_writing("zab").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paxos_processes_survive_a_sigkilled_leader() {
    sigkill_leader_and_keep_writing("paxos").await;
}

#[test]
fn bad_configs_fail_before_starting_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("protocol = \"raft\"\n[[node]]\nid = 1\npeer = \"127.0.0.1:1\"\nclient = \"127.0.0.1:2\"\n[[node]]\nid = 1\npeer = \"127.0.0.1:3\"\nclient = \"127.0.0.1:4\"\n", "duplicate node id 1"),
        ("protocol = \"raft\"\n[[node]]\nid = 1\npeer = \"127.0.0.1:1\"\nclient = \"127.0.0.1:1\"\n", "is used twice"),
        ("protocol = \"vr\"\n[[node]]\nid = 1\npeer = \"127.0.0.1:1\"\nclient = \"127.0.0.1:2\"\n", "unknown protocol"),
        ("protocol = \"raft\"\n[timing]\nheartbeat_ms = 50\nelection_timeout_min_ms = 300\nelection_timeout_max_ms = 150\nfinalize_wait_ms = 200\n[[node]]\nid = 1\npeer = \"127.0.0.1:1\"\nclient = \"127.0.0.1:2\"\n", "greater than max"),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).expect("write");
        let out = Command::new(CWB)
            .args(["node", "--config"])
            .arg(&path)
            .args(["--id", "1"])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {i} must fail");
        assert!(
            stderr.contains(expected),
            "case {i}: expected {expected:?} in {stderr}"
        );
    }
    let out = Command::new(CWB)
        .args(["node", "--config", "/nonexistent/cluster.toml", "--id", "1"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/cluster.toml"));
    let out = Command::new(CWB)
        .args(["cluster", "--election-timeout", "300-150"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("greater than max"));
}

#[test]
fn a_simulation_seed_replays_from_the_cli() {
    for protocol in ["raft", "zab", "paxos"] {
        let out = Command::new(CWB)
            .args([
                "sim",
                "--protocol",
                protocol,
                "--seed",
                "3",
                "--quiet",
                "--faulty-secs",
                "1",
            ])
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("seed 3 OK"), "{protocol}: {stdout}");
    }
}

#[test]
fn sim_bug_lists_the_known_bugs_replays_one_and_refuses_another_protocols() {
    let run = |args: &[&str]| Command::new(CWB).args(args).output().expect("run");
    let help = run(&["sim", "--bug", "help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{text}");
    for bug in protocols::Bug::ALL {
        let line = text
            .lines()
            .find(|l| l.starts_with(bug.name()))
            .unwrap_or_else(|| panic!("{bug} missing from:\n{text}"));
        assert!(line.contains(&bug.caught_by().to_string()), "{line}");
    }
    // A bug's catalogued seed fails with it, naming the bug in its replay command.
    let caught = run(&[
        "sim",
        "--protocol",
        "raft",
        "--seed",
        "3",
        "--quiet",
        "--bug",
        "raft-no-up-to-date-check",
    ]);
    let err = String::from_utf8_lossy(&caught.stderr);
    assert!(!caught.status.success(), "{err}");
    assert!(
        err.contains("--bug raft-no-up-to-date-check --seed 3"),
        "{err}"
    );
    // A scenario with its bug fails; another protocol's bug, or an unknown one, is refused.
    let scenario = run(&[
        "sim",
        "--scenario",
        "scenarios/raft-undurable-leader-copy.toml",
        "--quiet",
        "--bug",
        "raft-count-own-copy-early",
    ]);
    assert!(
        String::from_utf8_lossy(&scenario.stdout).contains("safety violation"),
        "{}",
        String::from_utf8_lossy(&scenario.stdout)
    );
    let refused = run(&["sim", "--protocol", "zab", "--bug", "raft-commit-old-terms"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        err.contains("is a bug of raft, but this run is zab"),
        "{err}"
    );
    let unknown = run(&["sim", "--bug", "raft-everything"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown bug"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_cluster_kills_restarts_isolates_and_heals_through_the_shared_trait() {
    use drivers::cluster::ClusterOptions;
    use drivers::measure::Cluster;
    use drivers::process_cluster::ProcessCluster;
    use protocols::Event;
    use runtime::config::ProtocolKind;

    let wait = Duration::from_secs(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ClusterOptions::new(3, dir.path().join("cluster"));
    let mut cluster = ProcessCluster::start(Path::new(CWB), ProtocolKind::Raft, &opts)
        .await
        .expect("start three node processes");
    assert!(cluster.config_path().exists());
    let first = cluster
        .wait_ready(0, None, 0, wait)
        .await
        .expect("a leader");
    assert!(first.at >= cluster.started(), "stamps map onto our clock");
    let Event::LeaderReady { term } = first.event else {
        unreachable!("wait_ready returns a LeaderReady event")
    };
    let rss = cluster.resident_kb();
    assert_eq!(rss.len(), 3, "{rss:?}");

    let old = first.node;
    let old_addr = cluster.client_addrs()[&old];
    let cursor = cluster.bus().len();
    cluster.kill(old).await.expect("SIGKILL");
    assert!(!cluster.running().contains(&old));
    assert!(tokio::net::TcpStream::connect(old_addr).await.is_err());
    let second = cluster
        .wait_ready(cursor, Some(old), term, wait)
        .await
        .expect("a new leader");

    // The restarted process reports its events again, recovers and catches up.
    let cursor = cluster.bus().len();
    cluster.restart(old).await.expect("restart");
    cluster
        .bus()
        .wait_for(cursor, wait, |s| s.node == old)
        .await
        .expect("the restarted node's events reach the bus");
    let mut client = cluster.client();
    client.deadline = wait;
    for i in 0..5 {
        client
            .put(Bytes::from(format!("k{i}")), Bytes::from("v"))
            .await
            .expect("put");
    }
    let leader_addr = cluster.client_addrs()[&second.node];
    let target = status(leader_addr, Duration::from_secs(2))
        .await
        .expect("leader status")
        .applied;
    assert!(target >= 5);
    let mut applied = 0;
    for _ in 0..200 {
        applied = status(old_addr, Duration::from_millis(500))
            .await
            .map_or(0, |s| s.applied);
        if applied >= target {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        applied >= target,
        "restarted node {old} caught up: {applied} of {target}"
    );

    cluster.isolate(second.node).await.expect("isolate");
    cluster.heal().await.expect("heal");
    cluster.shutdown().await;
}

#[test]
fn a_node_exits_when_its_parent_closes_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, _) = write_config(dir.path(), "raft", 1);
    let mut child = Command::new(CWB)
        .args(["node", "--config"])
        .arg(&config)
        .args([
            "--id",
            "1",
            "--bootstrap",
            "--events-json",
            "--exit-on-stdin-close",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cwb node");
    drop(child.stdin.take());
    // Generous bound: this checks that it exits, not how fast.
    let mut status = None;
    for _ in 0..600 {
        status = child.try_wait().expect("try_wait");
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "node exits cleanly: {status:?}"
    );
}

#[test]
fn a_node_refuses_the_data_directory_of_another_cluster() {
    // A config of another cluster pointing at our data directory (a copy-paste of
    // data_dir): before, the node would have run on our node's votes and log.
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, _) = write_config(dir.path(), "raft", 1);
    let run = |config: &Path| {
        let mut child = Command::new(CWB)
            .args(["node", "--config"])
            .arg(config)
            .args(["--id", "1", "--bootstrap", "--exit-on-stdin-close"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cwb node");
        // Let it start (or fail), then ask it to exit.
        std::thread::sleep(Duration::from_millis(500));
        drop(child.stdin.take());
        child.wait_with_output().expect("node ends")
    };
    let first = run(&config);
    assert!(first.status.success(), "the owner runs: {first:?}");
    let text = std::fs::read_to_string(&config).expect("read config");
    let foreign = dir.path().join("foreign.toml");
    std::fs::write(&foreign, text.replace(&"5e".repeat(16), &"a7".repeat(16))).expect("write");
    let second = run(&foreign);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "a foreign node ran on our directory"
    );
    assert!(stderr.contains("belongs to cluster 5e5e"), "{stderr}");
}

/// The short nemesis run of the default suite: a leader kill, a leader pause, the
/// leader stranded in a minority and a minority of followers cut off, under four
/// retrying clients (reads, writes, compare-and-sets), per protocol, with the history
/// checked. The long run
/// (`--faults 100 --kinds kill-leader`) is documented in the README.
#[test]
fn a_short_nemesis_run_keeps_every_protocol_linearizable() {
    for protocol in ["raft", "zab", "paxos"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let history = dir.path().join("history.jsonl");
        let out = Command::new(CWB)
            .args(["nemesis", "--protocol", protocol, "--faults", "4"])
            .args([
                "--kinds",
                "kill-leader,pause-leader,partition-minority,partition-majority",
            ])
            .args(["--hold-ms", "600"])
            .args(["--gap-ms", "300", "--out"])
            .arg(&history)
            .output()
            .expect("run cwb nemesis");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{protocol}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("verdict: linearizable"), "{stdout}");
        assert!(stdout.contains("acknowledged writes lost: 0"), "{stdout}");
        assert!(stdout.contains("fault 4/4"), "every fault ran: {stdout}");
        // The saved history is one `cwb lincheck` reads and judges the same way.
        let check = Command::new(CWB)
            .arg("lincheck")
            .arg(&history)
            .output()
            .expect("run cwb lincheck");
        assert_eq!(check.status.code(), Some(0), "{protocol}: {check:?}");
    }
}
