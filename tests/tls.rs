//! TLS end to end: a config with `[tls]` and generated certificates (what
//! `cwb config --tls` writes), three `cwb node` processes, and the CLI's clients
//! (`cwb put`, `get`, `status`, `isolate`, `heal`, `transfer`) picking up the CA from
//! the config.

use runtime::config::{ClusterConfig, ProtocolKind};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// A 3-node Raft config on free ports with generated TLS files, in `dir`.
fn write_tls_config(dir: &Path) -> PathBuf {
    let mut cfg = ClusterConfig::loopback(ProtocolKind::Raft, 3, 7000).expect("fits");
    let ports = free_ports(6);
    for (node, pair) in cfg.nodes.iter_mut().zip(ports.chunks_exact(2)) {
        node.peer = pair[0];
        node.client = pair[1];
    }
    cfg.data_dir = dir.join("data");
    let cfg = cfg
        .with_new_tls(dir, Path::new("cluster-tls"))
        .expect("certificates written");
    let path = dir.join("cluster.toml");
    std::fs::write(&path, toml::to_string(&cfg).expect("serializes")).expect("write config");
    path
}

fn cwb(args: &[&str], config: &Path) -> Output {
    Command::new(CWB)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run cwb")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_tls_process_cluster_serves_the_cli_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_tls_config(dir.path());
    let _nodes = Nodes(
        (1..=3)
            .map(|id| {
                Command::new(CWB)
                    .args(["node", "--bootstrap", "--id", &id.to_string(), "--config"])
                    .arg(&config)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn cwb node")
            })
            .collect(),
    );
    // `cwb put` retries until a leader answers (its own deadline, 10 s).
    let put = cwb(&["put", "greeting", "hello"], &config);
    assert!(put.status.success(), "{}", text(&put));
    let get = cwb(&["get", "greeting"], &config);
    assert!(text(&get).contains("greeting = hello"), "{}", text(&get));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = cwb(&["status"], &config);
        let out = text(&status);
        if out.matches("raft").count() == 3 && out.contains("leader ") {
            break;
        }
        assert!(Instant::now() < deadline, "status never saw 3 nodes: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let isolate = cwb(&["isolate", "--id", "2"], &config);
    assert!(isolate.status.success(), "{}", text(&isolate));
    let heal = cwb(&["heal"], &config);
    assert_eq!(text(&heal).matches("healed").count(), 3, "{}", text(&heal));
    // A planned failover to a follower, named by `cwb status`.
    let status = text(&cwb(&["status"], &config));
    let target: u64 = status
        .lines()
        .find(|l| l.contains(" follower "))
        .and_then(|l| l.strip_prefix("node "))
        .and_then(|l| l.split(' ').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a follower in {status}"));
    let transfer = cwb(
        &[
            "transfer",
            "--to",
            &target.to_string(),
            "--wait-ms",
            "10000",
        ],
        &config,
    );
    assert!(transfer.status.success(), "{}", text(&transfer));
    assert!(
        text(&transfer).contains(&format!("node {target} leads (term ")),
        "{}",
        text(&transfer)
    );
    // The same config with another cluster's CA: a clear TLS error, not a timeout.
    let other = tempfile::tempdir().expect("tempdir");
    write_tls_config(other.path());
    std::fs::copy(
        other.path().join("cluster-tls/ca.pem"),
        dir.path().join("cluster-tls/ca.pem"),
    )
    .expect("swap the CA");
    let started = Instant::now();
    let refused = cwb(&["get", "greeting"], &config);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("invalid peer certificate"),
        "{}",
        text(&refused)
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "no retry until the deadline"
    );
}

#[test]
fn a_node_without_its_key_refuses_to_start_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_tls_config(dir.path());
    let key = dir.path().join("cluster-tls/node-1.key");
    std::fs::remove_file(&key).expect("remove the key");
    let out = Command::new(CWB)
        .args(["node", "--bootstrap", "--id", "1", "--config"])
        .arg(&config)
        .output()
        .expect("run cwb node");
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&*key.to_string_lossy()),
        "{}",
        text(&out)
    );
    // `cwb config --tls` needs --out (it writes files next to the config).
    let no_out = Command::new(CWB)
        .args(["config", "--tls"])
        .output()
        .expect("run cwb config");
    assert!(!no_out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_cluster_of_the_drivers_runs_over_tls() {
    use drivers::cluster::ClusterOptions;
    use drivers::measure::Cluster;
    use drivers::process_cluster::ProcessCluster;

    let wait = Duration::from_secs(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ClusterOptions {
        tls: Some(runtime::tls::LoopbackTls::generate().expect("a CA")),
        ..ClusterOptions::new(3, dir.path().join("cluster"))
    };
    let mut cluster = ProcessCluster::start(Path::new(CWB), ProtocolKind::Raft, &opts)
        .await
        .expect("start three node processes");
    let config = std::fs::read_to_string(cluster.config_path()).expect("config");
    assert!(config.contains("[tls]"), "{config}");
    let ready = cluster
        .wait_ready(0, None, 0, wait)
        .await
        .expect("a leader");
    let mut client = cluster.client();
    client.deadline = wait;
    client
        .put(
            bytes::Bytes::from_static(b"k"),
            bytes::Bytes::from_static(b"v"),
        )
        .await
        .expect("put over TLS");
    // Fault commands go over TLS too.
    cluster.isolate(ready.node).await.expect("isolate over TLS");
    cluster.heal().await.expect("heal over TLS");
    cluster.shutdown().await;
}
