//! `cwb bench --config`: a cluster of `cwb node` processes started by someone else
//! (here a small supervisor in the test that restarts a node whenever it exits, as
//! systemd's `Restart=always` does) is measured through its client ports: a kill is
//! a crash on command (a process exit, then the supervisor's restart), an isolation
//! a fault command. Also: the options that cannot apply to such a cluster are refused
//! before anything runs.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const CWB: &str = env!("CARGO_BIN_EXE_cwb");

/// The pause before a node that exited is started again (systemd's `RestartSec`,
/// 1 s in deploy/cwb-node@.service).
const RESTART_SEC: Duration = Duration::from_secs(1);

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

/// A cluster.toml for `n` nodes of `protocol` on free loopback ports.
fn write_config(dir: &Path, protocol: &str, n: u64) -> PathBuf {
    let ports = free_ports(2 * n as usize);
    let mut text = format!(
        "protocol = \"{protocol}\"\nfsync = \"batch\"\ndata_dir = {:?}\n\
         cluster_id = \"{}\"\nsecret = \"{}\"\n",
        dir.join("data").display().to_string(),
        "a7".repeat(16),
        "5eed".repeat(16),
    );
    for id in 1..=n {
        let (peer, client) = (ports[2 * (id as usize - 1)], ports[2 * id as usize - 1]);
        text.push_str(&format!(
            "[[node]]\nid = {id}\npeer = \"{peer}\"\nclient = \"{client}\"\n"
        ));
    }
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// One node under supervision: started, and started again after every exit (the
/// first start bootstraps its data directory), until the supervisor stops.
struct Supervisor {
    stop: Arc<AtomicBool>,
    /// Each node's exit codes, in order (`None`: ended by a signal).
    exits: Arc<Mutex<BTreeMap<u64, Vec<Option<i32>>>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Supervisor {
    fn start(config: &Path, ids: &[u64], logs: &Path) -> Supervisor {
        let stop = Arc::new(AtomicBool::new(false));
        let exits = Arc::new(Mutex::new(BTreeMap::new()));
        let threads = ids
            .iter()
            .map(|&id| {
                let (stop, exits) = (stop.clone(), exits.clone());
                let (config, log) = (config.to_path_buf(), logs.join(format!("node-{id}.log")));
                std::thread::spawn(move || supervise(id, &config, &log, &stop, &exits))
            })
            .collect();
        Supervisor {
            stop,
            exits,
            threads,
        }
    }

    /// Stops every node (SIGKILL) and its supervisor thread.
    fn stop(mut self) -> BTreeMap<u64, Vec<Option<i32>>> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.exits.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn spawn_node(config: &Path, id: u64, bootstrap: bool, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open node log");
    Command::new(CWB)
        .args(["node", "--config"])
        .arg(config)
        .args(["--id", &id.to_string()])
        .args(bootstrap.then_some("--bootstrap"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn cwb node")
}

/// Restart=always: run node `id`, and whenever it exits, wait [`RESTART_SEC`] and
/// run it again; on stop, SIGKILL it.
fn supervise(
    id: u64,
    config: &Path,
    log: &Path,
    stop: &AtomicBool,
    exits: &Mutex<BTreeMap<u64, Vec<Option<i32>>>>,
) {
    let mut child = spawn_node(config, id, true, log);
    loop {
        if stop.load(Ordering::SeqCst) {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                if let Ok(mut e) = exits.lock() {
                    e.entry(id).or_default().push(status.code());
                }
                let restart_at = std::time::Instant::now() + RESTART_SEC;
                while std::time::Instant::now() < restart_at {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                child = spawn_node(config, id, false, log);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return,
        }
    }
}

#[test]
fn a_cluster_started_elsewhere_is_measured_with_crashes_and_restarts_by_its_supervisor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "raft", 3);
    let nodes = Supervisor::start(&config, &[1, 2, 3], dir.path());
    let out = dir.path().join("results.json");
    let bench = Command::new(CWB)
        .args(["bench", "--config"])
        .arg(&config)
        .args(["--measure", "kill,isolate", "--trials", "2", "--out"])
        .arg(&out)
        .stdin(Stdio::null())
        .output()
        .expect("run cwb bench");
    let exits = nodes.stop();
    let logs: Vec<String> = (1..=3)
        .map(|id| {
            std::fs::read_to_string(dir.path().join(format!("node-{id}.log"))).unwrap_or_default()
        })
        .collect();
    assert!(
        bench.status.success(),
        "cwb bench failed: {}\n{}\nnode logs: {logs:?}",
        String::from_utf8_lossy(&bench.stdout),
        String::from_utf8_lossy(&bench.stderr)
    );
    let results = reports::results::load(&out).expect("results file");
    let s = &results.settings;
    assert_eq!(s.mode, reports::Mode::Remote);
    assert_eq!(s.protocols, vec!["raft".to_string()]);
    assert_eq!(s.cluster_sizes, vec![3]);
    let remote = s.remote.as_ref().expect("the remote cluster is recorded");
    assert_eq!(remote.nodes.len(), 3, "{remote:?}");
    assert!(remote.clock.contains("measuring host"), "{}", remote.clock);
    let run = &results.runs[0];
    let kill = run.failover_kill.as_ref().expect("kill measured");
    let isolate = run.failover_isolate.as_ref().expect("isolate measured");
    assert!(
        !kill.total.samples.is_empty() && !isolate.total.samples.is_empty(),
        "no failover measured: kill {:?}, isolate {:?}\n{}",
        kill.total.samples,
        isolate.total.samples,
        String::from_utf8_lossy(&bench.stderr)
    );
    // Every kill was a crash: the process exited, and came back as a new process.
    assert!(
        remote.crashes.len() >= kill.total.samples.len(),
        "{:?}",
        remote.crashes
    );
    for c in &remote.crashes {
        assert!(c.exited && c.restarted, "{c:?}");
    }
    // The supervisor saw each of them as an exit with the crash's code.
    let crash_exits = exits
        .values()
        .flatten()
        .filter(|&&code| code == Some(runtime::client::CRASH_EXIT_CODE))
        .count();
    assert_eq!(crash_exits, remote.crashes.len(), "exits: {exits:?}");
}

#[test]
fn options_that_cannot_apply_to_a_running_cluster_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "raft", 3);
    let refused = |extra: &[&str], expect: &str| {
        let out = Command::new(CWB)
            .args(["bench", "--config"])
            .arg(&config)
            .args(extra)
            .args(["--out"])
            .arg(dir.path().join("never.json"))
            .stdin(Stdio::null())
            .output()
            .expect("run cwb bench");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} was accepted");
        assert!(stderr.contains(expect), "{extra:?}: {stderr}");
    };
    refused(&["--nodes", "5"], "--nodes does not apply");
    refused(&["--protocols", "zab"], "its nodes run raft");
    refused(&["--fsync", "never"], "fsync = batch");
    refused(&["--heartbeat-ms", "20"], "timer options do not match");
    refused(
        &["--measure", "election"],
        "not on a cluster started elsewhere",
    );
    refused(&["--measure", "lost"], "not on a cluster started elsewhere");
    refused(&["--processes"], "cannot be used with");
    refused(&["--net", "lan"], "cannot be used with");
    refused(&["--tls"], "cannot be used with");
    assert!(!dir.path().join("never.json").exists());
}
