//! Multi-process loopback clusters: one `cwb node` OS process per node, all started
//! from one generated `cluster.toml` (docs/DESIGN.md, cluster mode 2). `cwb bench
//! --processes` measures them with the same code as in-process clusters, through
//! [`Cluster`].
//!
//! How the measures see a process cluster:
//! - events: each node runs with `--events-json` and prints one [`EventLine`] per
//!   protocol event, stamped with the wall clock (unix nanoseconds) when its runtime
//!   carried out the effect. A reader thread per node converts each stamp to an
//!   [`Instant`] of this process through one [`ClockReference`] taken at cluster start
//!   and publishes it into the cluster's [`EventBus`], so the measures read the same
//!   stamps as in-process. Caveat: both ends use the realtime clock of the same
//!   machine, so the conversion is exact unless the clock is stepped (NTP, an admin)
//!   during a trial; a slewed clock skews durations by the slew rate (at most 500 ppm
//!   under Linux NTP discipline, 0.5 us per ms). Events reach the bus in arrival order,
//!   which may differ slightly from stamp order when several nodes report at once;
//! - kill: SIGKILL through [`Child::kill`], then the process is reaped: peers see
//!   connections reset, as in a crash;
//! - isolate: [`Fault::Isolate`] for the node itself (proved with the cluster key), sent to its client port: its
//!   own transport filter then drops everything to and from it, both ways (the client
//!   port stays open, so the measure can still ask it for its commit index);
//! - timer lateness: each node also prints a [`TimerLatenessLine`] with what its
//!   runtime recorded since its previous one, before the events of the same moment
//!   and at least every 500 ms, and the reader records it on the bus;
//! - message counts live in the node processes and are not collected: empty here;
//! - cold-start trigger ([`Cluster::started`]): just before the first process is
//!   spawned, so a cold election here includes process start-up (exec, runtime,
//!   opening the WAL), which in-process clusters do not pay.
//!
//! Nodes never outlive the cluster: dropping it kills every child, and each node runs
//! with `--exit-on-stdin-close`, so it also stops if this process dies unexpectedly.

use crate::cluster::ClusterOptions;
use crate::measure::Cluster;
use crate::netns::Namespaces;
use protocols::NodeId;
use runtime::client::{self, ClientError, Fault};
use runtime::config::{ClusterConfig, NodeEntry, ProtocolKind, TimingConfig};
use runtime::event_lines::{ClockReference, EventLine, TimerLatenessLine};
use runtime::events::EventBus;
use runtime::host::MessageCounts;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use storage::identity::Start;
use thiserror::Error;

/// How long a fault command to one node may take.
const FAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a started node may take to open its client port.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a process cluster operation failed.
#[derive(Debug, Error)]
pub enum ProcessClusterError {
    /// A file or port could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The config file could not be written as TOML.
    #[error("cannot write the cluster config: {0}")]
    Config(String),
    /// A node process exited on its own.
    #[error("node {id} exited ({status}); its log {log} ends with: {tail}")]
    NodeExited {
        /// The node.
        id: NodeId,
        /// How it ended.
        status: ExitStatus,
        /// Its standard-error log.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },
    /// A node did not open its client port in time.
    #[error("node {id} did not open its client port {addr} within {timeout:?}")]
    NotListening {
        /// The node.
        id: NodeId,
        /// Its client address.
        addr: SocketAddr,
        /// How long we waited.
        timeout: Duration,
    },
    /// A fault command (isolate, heal) failed.
    #[error("fault command to node {id} failed: {source}")]
    Fault {
        /// The node.
        id: NodeId,
        /// Why.
        source: ClientError,
    },
    /// No such node, or not running.
    #[error("node {0} is not running in the cluster")]
    UnknownNode(NodeId),
    /// The nodes' network namespaces could not be made.
    #[error(transparent)]
    Namespaces(crate::netns::NetnsError),
}

impl From<ProcessClusterError> for crate::measure::MeasureError {
    fn from(e: ProcessClusterError) -> crate::measure::MeasureError {
        crate::measure::MeasureError::Cluster(Box::new(e))
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ProcessClusterError {
    let what = what.into();
    move |source| ProcessClusterError::Io { what, source }
}

/// A running cluster of `cwb node` processes on loopback.
pub struct ProcessCluster {
    exe: PathBuf,
    config: PathBuf,
    base_dir: PathBuf,
    narrate: bool,
    clients: BTreeMap<NodeId, SocketAddr>,
    /// The cluster's key: fault commands are proved with it.
    key: runtime::transport::handshake::ClusterKey,
    /// TLS to the client ports, if the cluster runs with it.
    tls: Option<runtime::tls::ClientTls>,
    children: BTreeMap<NodeId, Child>,
    readers: Vec<JoinHandle<()>>,
    bus: EventBus,
    clock: ClockReference,
    /// The nodes' network namespaces, when they run in them (removed after the
    /// nodes are killed: fields drop after [`Drop::drop`] ran).
    namespaces: Option<Namespaces>,
}

/// The peer and client ports of every node in its own namespace: each node has an
/// address of its own, so all use the same two, as on real hosts.
const NAMESPACE_PORTS: (u16, u16) = (7100, 7101);

/// Free loopback addresses: bound on port 0 (the OS picks), then released for the
/// nodes to bind. Another program could take one in between; the node then fails to
/// start and [`ProcessCluster::start`] says so.
fn free_addrs(n: usize) -> Result<Vec<SocketAddr>, ProcessClusterError> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io("binding a free loopback port"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map_err(io("reading a bound port")))
        .collect()
}

impl ProcessCluster {
    /// Writes `cluster.toml` into `opts.base_dir` (node N keeps its data in
    /// `base_dir/node-N`, its standard error in `base_dir/node-N.log`), spawns
    /// `exe node --config .. --id N --events-json` for every node, and returns once
    /// every node listens on its client port. `exe` is the `cwb` binary.
    pub async fn start(
        exe: &Path,
        protocol: ProtocolKind,
        opts: &ClusterOptions,
    ) -> Result<ProcessCluster, ProcessClusterError> {
        let total = opts.voters + opts.observers;
        let ids: Vec<NodeId> = (1..=total).collect();
        let namespaces = if opts.namespaces {
            Some(Namespaces::create(&ids).map_err(ProcessClusterError::Namespaces)?)
        } else {
            None
        };
        let addrs = match &namespaces {
            Some(ns) => ids
                .iter()
                .flat_map(|&id| {
                    let ip = std::net::IpAddr::V4(ns.addr(id));
                    [
                        SocketAddr::new(ip, NAMESPACE_PORTS.0),
                        SocketAddr::new(ip, NAMESPACE_PORTS.1),
                    ]
                })
                .collect(),
            None => free_addrs(2 * total as usize)?,
        };
        let nodes: Vec<NodeEntry> = (1..=total)
            .zip(addrs.chunks_exact(2))
            .map(|(id, pair)| NodeEntry {
                id,
                peer: pair[0],
                client: pair[1],
                observer: id > opts.voters,
                tls_cert: None,
                tls_key: None,
            })
            .collect();
        let mut file = ClusterConfig {
            protocol: protocol.to_string(),
            fsync: opts.fsync.to_string(),
            data_dir: opts.base_dir.clone(),
            seed: opts.seed,
            timing: TimingConfig::from(&opts.timing),
            client_port: opts.client_limits,
            cluster_id: None,
            secret: None,
            secret_file: None,
            tls: None,
            state_machine: (opts.state_machine != kv::StateMachineKind::Kv)
                .then(|| opts.state_machine.to_string()),
            nodes,
        }
        .with_key(&opts.key);
        std::fs::create_dir_all(&opts.base_dir)
            .map_err(io(format!("creating {}", opts.base_dir.display())))?;
        if let Some(tls) = &opts.tls {
            // Every node shares one loopback certificate, read from files.
            let dir = opts.base_dir.join("tls");
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            let files = tls
                .write_files(&dir)
                .map_err(|e| ProcessClusterError::Config(e.to_string()))?;
            file.tls = Some(runtime::config::TlsSection { ca: files.ca });
            for node in &mut file.nodes {
                node.tls_cert = Some(files.cert.clone());
                node.tls_key = Some(files.key.clone());
            }
        }
        let config = opts.base_dir.join("cluster.toml");
        let text =
            toml::to_string(&file).map_err(|e| ProcessClusterError::Config(e.to_string()))?;
        std::fs::write(&config, text).map_err(io(format!("writing {}", config.display())))?;
        let mut cluster = ProcessCluster {
            exe: exe.to_path_buf(),
            config,
            base_dir: opts.base_dir.clone(),
            narrate: opts.narrate,
            clients: file.nodes.iter().map(|n| (n.id, n.client)).collect(),
            key: opts.key.clone(),
            tls: opts.tls.as_ref().map(|t| t.client.clone()),
            children: BTreeMap::new(),
            readers: Vec::new(),
            bus: EventBus::new(),
            clock: ClockReference::now(),
            namespaces,
        };
        for id in 1..=total {
            cluster.spawn_node(id, Start::Bootstrap)?;
        }
        let ids = cluster.running();
        cluster.wait_listening(&ids, LISTEN_TIMEOUT).await?;
        Ok(cluster)
    }

    fn log_path(&self, id: NodeId) -> PathBuf {
        self.base_dir.join(format!("node-{id}.log"))
    }

    fn spawn_node(&mut self, id: NodeId, start: Start) -> Result<(), ProcessClusterError> {
        let log_path = self.log_path(id);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(format!("opening {}", log_path.display())))?;
        let mut command = match &self.namespaces {
            Some(ns) => ns.command(id, &self.exe),
            None => Command::new(&self.exe),
        };
        command
            .arg("node")
            .arg("--config")
            .arg(&self.config)
            .args([
                "--id",
                &id.to_string(),
                "--events-json",
                "--exit-on-stdin-close",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        if self.narrate {
            command.arg("--narrate");
        }
        if start == Start::Bootstrap {
            command.arg("--bootstrap");
        }
        let mut child = command
            .spawn()
            .map_err(io(format!("spawning {} for node {id}", self.exe.display())))?;
        if let Some(stdout) = child.stdout.take() {
            let (bus, clock) = (self.bus.clone(), self.clock);
            let reader = std::thread::Builder::new()
                .name(format!("node-{id}-events"))
                .spawn(move || read_events(stdout, &bus, clock))
                .map_err(io("starting an event reader thread"))?;
            self.readers.push(reader);
        }
        self.children.insert(id, child);
        Ok(())
    }

    /// Waits until nodes `ids` accept connections on their client ports; fails at
    /// once if one exits (e.g. its port was taken).
    async fn wait_listening(
        &mut self,
        ids: &[NodeId],
        timeout: Duration,
    ) -> Result<(), ProcessClusterError> {
        let deadline = Instant::now() + timeout;
        for &id in ids {
            let addr = *self
                .clients
                .get(&id)
                .ok_or(ProcessClusterError::UnknownNode(id))?;
            loop {
                self.check_alive(id)?;
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(ProcessClusterError::NotListening { id, addr, timeout });
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Ok(())
    }

    fn check_alive(&mut self, id: NodeId) -> Result<(), ProcessClusterError> {
        let child = self
            .children
            .get_mut(&id)
            .ok_or(ProcessClusterError::UnknownNode(id))?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.children.remove(&id);
                let log = self.log_path(id);
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
                Err(ProcessClusterError::NodeExited {
                    id,
                    status,
                    log,
                    tail,
                })
            }
            Ok(None) => Ok(()),
            Err(e) => Err(io(format!("checking node {id}"))(e)),
        }
    }

    /// The nodes' network namespaces, when they run in them.
    pub fn namespaces(&self) -> Option<&Namespaces> {
        self.namespaces.as_ref()
    }

    /// The generated config file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Nodes currently running.
    pub fn running(&self) -> Vec<NodeId> {
        self.children.keys().copied().collect()
    }

    /// Splits the cluster into `groups` (see [`Fault::Partition`]): the command goes to
    /// every running node, each of which cuts its side of the links between groups,
    /// until [`Cluster::heal`]. A node restarted meanwhile starts without the cut.
    pub async fn partition(&mut self, groups: Vec<Vec<NodeId>>) -> Result<(), ProcessClusterError> {
        for id in self.running() {
            let addr = self.fault_addr(id)?;
            let fault = Fault::Partition {
                groups: groups.clone(),
            };
            client::fault_with(addr, self.tls.as_ref(), id, &self.key, fault, FAULT_TIMEOUT)
                .await
                .map_err(|source| ProcessClusterError::Fault { id, source })?;
        }
        Ok(())
    }

    /// A running node's OS process id.
    pub fn pid(&self, id: NodeId) -> Option<u32> {
        self.children.get(&id).map(Child::id)
    }

    /// Resident memory (VmRSS, kB) of every running node that reports it (Linux:
    /// `/proc/PID/status`; empty elsewhere).
    pub fn resident_kb(&self) -> BTreeMap<NodeId, u64> {
        self.children
            .iter()
            .filter_map(|(&id, child)| {
                let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
                Some((id, vm_rss_kb(&status.ok()?)?))
            })
            .collect()
    }

    fn fault_addr(&self, id: NodeId) -> Result<SocketAddr, ProcessClusterError> {
        if !self.children.contains_key(&id) {
            return Err(ProcessClusterError::UnknownNode(id));
        }
        self.clients
            .get(&id)
            .copied()
            .ok_or(ProcessClusterError::UnknownNode(id))
    }
}

/// The `VmRSS` line of a `/proc/PID/status` text, in kB.
pub fn vm_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

/// Publishes every event line and records every timer-lateness line a node prints,
/// until its standard output closes. Other lines are skipped.
fn read_events(stdout: ChildStdout, bus: &EventBus, clock: ClockReference) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Ok(e) = serde_json::from_str::<EventLine>(&line) {
            if let Some(at) = clock.instant_at(e.unix_nanos) {
                bus.publish_at(at, e.node, e.event);
            }
        } else if let Ok(l) = serde_json::from_str::<TimerLatenessLine>(&line) {
            bus.record_timer_lateness_buckets(&l.timer_lateness_us);
        }
    }
}

impl Cluster for ProcessCluster {
    type Error = ProcessClusterError;

    fn started(&self) -> Instant {
        self.clock.instant
    }

    fn bus(&self) -> &EventBus {
        &self.bus
    }

    fn client_addrs(&self) -> &BTreeMap<NodeId, SocketAddr> {
        &self.clients
    }

    fn client_tls(&self) -> Option<runtime::tls::ClientTls> {
        self.tls.clone()
    }

    /// SIGKILL, then reap the process.
    async fn kill(&mut self, id: NodeId) -> Result<Instant, ProcessClusterError> {
        let mut child = self
            .children
            .remove(&id)
            .ok_or(ProcessClusterError::UnknownNode(id))?;
        let t0 = Instant::now();
        // An error means the process already exited: it is gone either way.
        let _ = child.kill();
        let reaped = tokio::task::spawn_blocking(move || child.wait()).await;
        match reaped {
            Ok(Ok(_)) => Ok(t0),
            Ok(Err(e)) => Err(io(format!("reaping node {id}"))(e)),
            Err(e) => Err(io(format!("reaping node {id}"))(std::io::Error::other(e))),
        }
    }

    /// Spawns the node's process again with the same config: it recovers from its
    /// data directory. Does nothing if the node runs.
    async fn restart(&mut self, id: NodeId) -> Result<(), ProcessClusterError> {
        if self.children.contains_key(&id) {
            return Ok(());
        }
        if !self.clients.contains_key(&id) {
            return Err(ProcessClusterError::UnknownNode(id));
        }
        self.spawn_node(id, Start::Rejoin)?;
        self.wait_listening(&[id], LISTEN_TIMEOUT).await
    }

    /// Sends `Isolate { node: id }` to node `id` itself; the instant is taken just
    /// before the command is sent.
    async fn transfer(
        &mut self,
        leader: NodeId,
        to: NodeId,
    ) -> Result<Instant, ProcessClusterError> {
        let addr = self.fault_addr(leader)?;
        let t0 = Instant::now();
        client::fault_with(
            addr,
            self.tls.as_ref(),
            leader,
            &self.key,
            Fault::TransferLeadership { to },
            FAULT_TIMEOUT,
        )
        .await
        .map_err(|source| ProcessClusterError::Fault { id: leader, source })?;
        Ok(t0)
    }

    async fn isolate(&mut self, id: NodeId) -> Result<Instant, ProcessClusterError> {
        let addr = self.fault_addr(id)?;
        let t0 = Instant::now();
        client::fault_with(
            addr,
            self.tls.as_ref(),
            id,
            &self.key,
            Fault::Isolate { node: id },
            FAULT_TIMEOUT,
        )
        .await
        .map_err(|source| ProcessClusterError::Fault { id, source })?;
        Ok(t0)
    }

    /// Sends `Heal` to every running node.
    async fn heal(&mut self) -> Result<(), ProcessClusterError> {
        let mut first_error = None;
        for id in self.running() {
            let addr = self.fault_addr(id)?;
            if let Err(source) = client::fault_with(
                addr,
                self.tls.as_ref(),
                id,
                &self.key,
                Fault::Heal,
                FAULT_TIMEOUT,
            )
            .await
            {
                first_error.get_or_insert(ProcessClusterError::Fault { id, source });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Summed over the running node processes, from `/proc` (`None` if any cannot be
    /// read).
    fn node_process_cpu(&self) -> Option<crate::cpu::CpuTime> {
        self.children
            .values()
            .map(|child| crate::cpu::process(child.id()))
            .sum()
    }

    /// Not collected in multi-process mode: always empty.
    fn message_counts(&self) -> MessageCounts {
        MessageCounts::default()
    }

    async fn shutdown(mut self) {
        for id in self.running() {
            let _ = Cluster::kill(&mut self, id).await;
        }
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        }
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::events::Latencies;

    #[test]
    fn timer_lateness_lines_carry_exactly_what_was_recorded_since_the_last() {
        let mut node = Latencies::new();
        node.record_summary_only(Duration::from_micros(120));
        let reported = node.clone();
        for us in [80, 80, 2_500] {
            node.record_summary_only(Duration::from_micros(us));
        }
        let line = TimerLatenessLine {
            node: 3,
            timer_lateness_us: node.buckets_since(&reported),
        };
        let text = serde_json::to_string(&line).expect("serializes");
        // An event line is not mistaken for one, nor the other way round.
        assert!(serde_json::from_str::<EventLine>(&text).is_err());
        let read: TimerLatenessLine = serde_json::from_str(&text).expect("parses");
        let mut bus = Latencies::new();
        bus.record_buckets(&read.timer_lateness_us);
        assert_eq!(bus.count(), 3, "only what came after the earlier copy");
        assert_eq!(bus.quantile(0.5), Duration::from_micros(80));
        assert_eq!(
            bus.max().as_micros() / 10,
            250,
            "to the histogram's precision"
        );
    }

    #[test]
    fn resident_memory_is_read_from_proc_status() {
        let status = "Name:\tcwb\nVmPeak:\t  20000 kB\nVmRSS:\t    7124 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_kb(status), Some(7124));
        assert_eq!(vm_rss_kb("Name:\tcwb\n"), None);
        assert_eq!(vm_rss_kb("VmRSS:\tlots kB\n"), None);
    }
}
