//! A loopback ensemble of real ZooKeeper or etcd servers, started from their installed
//! binaries in a temporary directory on free ports, with their logs synced to disk
//! before a write is acknowledged (ZooKeeper's `forceSync=yes`, etcd's only mode).
//! Their timers follow the run's shared timing (see [`Ensemble::settings`]). Every
//! server is killed and the directory removed when the ensemble is dropped; each
//! server also gets `SIGKILL` if the thread that started it ends (`PR_SET_PDEATHSIG`),
//! and runs in its own process group, so a Ctrl-C reaches the bench, which drops the
//! ensemble, rather than the servers.

use crate::{etcd, zk, PeerError};
use protocols::Timing;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The ZooKeeper server jar of Debian's `zookeeper` package.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// The Java heap each ZooKeeper server gets.
pub const ZOOKEEPER_HEAP: &str = "256m";
/// How long an ensemble may take to elect its first leader.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A system measured beside the protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerKind {
    /// Apache ZooKeeper (ZAB), from Debian's `zookeeper` package.
    Zookeeper,
    /// etcd (Raft), from Debian's `etcd-server` package.
    Etcd,
}

impl PeerKind {
    /// The name used in results and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerKind::Zookeeper => "zookeeper",
            PeerKind::Etcd => "etcd",
        }
    }
    /// The Debian package that installs it.
    pub fn package(self) -> &'static str {
        match self {
            PeerKind::Zookeeper => "zookeeper",
            PeerKind::Etcd => "etcd-server",
        }
    }
    /// Checks the binaries are installed.
    pub fn check_installed(self) -> Result<(), PeerError> {
        let missing = |binary: &str| PeerError::Missing {
            system: self.as_str(),
            binary: binary.to_string(),
            package: self.package(),
        };
        match self {
            PeerKind::Zookeeper => {
                find_on_path("java").ok_or_else(|| missing("java"))?;
                if !Path::new(ZOOKEEPER_JAR).is_file() {
                    return Err(missing(ZOOKEEPER_JAR));
                }
            }
            PeerKind::Etcd => {
                find_on_path("etcd").ok_or_else(|| missing("etcd"))?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PeerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<PeerKind, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zookeeper" | "zk" => Ok(PeerKind::Zookeeper),
            "etcd" => Ok(PeerKind::Etcd),
            other => Err(format!(
                "unknown peer system {other:?}: expected zookeeper or etcd"
            )),
        }
    }
}

fn find_on_path(binary: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(binary))
        .find(|p| p.is_file())
}

/// One server of an ensemble.
pub struct Member {
    /// Where clients connect.
    pub client: SocketAddr,
    child: Option<Child>,
    log: PathBuf,
}

impl Member {
    /// Whether the server process is still running (not killed by the bench).
    pub fn is_alive(&self) -> bool {
        self.child.is_some()
    }
    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A running ensemble.
pub struct Ensemble {
    /// Which system.
    pub kind: PeerKind,
    /// Its servers, in id order (server `i + 1`).
    pub members: Vec<Member>,
    /// The version the servers report ("3.8.0", "3.4.23"); empty until ready.
    pub version: String,
    /// Its settings as `name -> value`, for the results.
    pub settings: BTreeMap<String, String>,
    dir: tempfile::TempDir,
}

/// Free loopback ports, held until the servers are about to bind them.
fn free_ports(n: usize) -> Result<(Vec<u16>, Vec<TcpListener>), PeerError> {
    let mut ports = Vec::new();
    let mut held = Vec::new();
    for _ in 0..n {
        let l = TcpListener::bind("127.0.0.1:0").map_err(PeerError::io("finding a free port"))?;
        ports.push(
            l.local_addr()
                .map_err(PeerError::io("finding a free port"))?
                .port(),
        );
        held.push(l);
    }
    Ok((ports, held))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Ensemble {
    /// Starts `nodes` servers of `kind` with timers following `timing` and waits until
    /// they have elected a leader.
    pub async fn start(
        kind: PeerKind,
        nodes: usize,
        timing: &Timing,
    ) -> Result<Ensemble, PeerError> {
        kind.check_installed()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("cwb-{kind}-"))
            .tempdir()
            .map_err(PeerError::io("creating a temporary directory"))?;
        let per_node = match kind {
            PeerKind::Zookeeper => 3,
            PeerKind::Etcd => 2,
        };
        let (ports, held) = free_ports(nodes * per_node)?;
        let port =
            |node: usize, which: usize| ports.get(node * per_node + which).copied().unwrap_or(0);
        let mut settings = BTreeMap::new();
        let mut commands = Vec::new();
        match kind {
            PeerKind::Zookeeper => {
                // A follower gives up on a silent leader after syncLimit ticks: as close
                // to the protocols' shortest election timeout as ticks allow.
                let tick = ms(timing.heartbeat).max(1);
                let sync_limit = ms(timing.election_timeout_min).div_ceil(tick).max(2);
                let init_limit = sync_limit.saturating_mul(10);
                let servers: String = (0..nodes)
                    .map(|i| format!("server.{}=127.0.0.1:{}:{}\n", i + 1, port(i, 1), port(i, 2)))
                    .collect();
                for i in 0..nodes {
                    let data = dir.path().join(format!("node-{}", i + 1));
                    std::fs::create_dir_all(&data)
                        .map_err(PeerError::io("creating a data directory"))?;
                    std::fs::write(data.join("myid"), format!("{}\n", i + 1))
                        .map_err(PeerError::io("writing myid"))?;
                    let cfg = format!(
                        "tickTime={tick}\ninitLimit={init_limit}\nsyncLimit={sync_limit}\n\
                         dataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
                         maxClientCnxns=0\nmaxSessionTimeout=60000\nforceSync=yes\n\
                         admin.enableServer=false\n4lw.commands.whitelist=srvr\n{servers}",
                        data.display(),
                        port(i, 0),
                    );
                    let cfg_path = data.join("zoo.cfg");
                    std::fs::write(&cfg_path, cfg).map_err(PeerError::io("writing zoo.cfg"))?;
                    let mut c = Command::new("java");
                    c.arg(format!("-Xms{ZOOKEEPER_HEAP}"))
                        .arg(format!("-Xmx{ZOOKEEPER_HEAP}"))
                        .arg("-cp")
                        .arg(ZOOKEEPER_JAR)
                        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                        .arg(&cfg_path);
                    commands.push((c, data.join("server.log"), port(i, 0)));
                }
                settings.insert(
                    "tickTime".into(),
                    format!("{tick} ms (the run's heartbeat)"),
                );
                settings.insert(
                    "syncLimit".into(),
                    format!(
                        "{sync_limit} ticks = {} ms",
                        sync_limit.saturating_mul(tick)
                    ),
                );
                settings.insert("initLimit".into(), format!("{init_limit} ticks"));
                settings.insert(
                    "forceSync".into(),
                    "yes (fsync before acknowledging)".into(),
                );
                settings.insert(
                    "election".into(),
                    "FastLeaderElection, built-in 200 ms finalize wait".into(),
                );
                settings.insert("JVM heap".into(), ZOOKEEPER_HEAP.into());
            }
            PeerKind::Etcd => {
                // etcd refuses a heartbeat above a fifth of the election timeout; it
                // draws each timeout from [election-timeout, 2 x election-timeout).
                let election = ms(timing.election_timeout_min).max(5);
                let heartbeat = ms(timing.heartbeat).min(election / 5).max(1);
                let cluster: Vec<String> = (0..nodes)
                    .map(|i| format!("n{}=http://127.0.0.1:{}", i + 1, port(i, 1)))
                    .collect();
                let cluster = cluster.join(",");
                for i in 0..nodes {
                    let data = dir.path().join(format!("node-{}", i + 1));
                    let client = format!("http://127.0.0.1:{}", port(i, 0));
                    let peer = format!("http://127.0.0.1:{}", port(i, 1));
                    let mut c = Command::new("etcd");
                    c.arg("--name")
                        .arg(format!("n{}", i + 1))
                        .arg("--data-dir")
                        .arg(&data)
                        .args([
                            "--listen-client-urls",
                            &client,
                            "--advertise-client-urls",
                            &client,
                        ])
                        .args([
                            "--listen-peer-urls",
                            &peer,
                            "--initial-advertise-peer-urls",
                            &peer,
                        ])
                        .args([
                            "--initial-cluster",
                            &cluster,
                            "--initial-cluster-state",
                            "new",
                        ])
                        .args(["--initial-cluster-token", "cwb-bench"])
                        .arg(format!("--heartbeat-interval={heartbeat}"))
                        .arg(format!("--election-timeout={election}"))
                        .args(["--logger", "zap", "--log-level", "error"]);
                    commands.push((
                        c,
                        dir.path().join(format!("server-{}.log", i + 1)),
                        port(i, 0),
                    ));
                }
                settings.insert("heartbeat-interval".into(), format!("{heartbeat} ms"));
                settings.insert(
                    "election-timeout".into(),
                    format!(
                        "{election} ms (drawn from {election}-{} ms)",
                        election.saturating_mul(2)
                    ),
                );
                settings.insert(
                    "fsync".into(),
                    "WAL synced before acknowledging (always)".into(),
                );
                settings.insert("pre-vote".into(), "etcd's default (off in 3.4)".into());
                settings.insert(
                    "check-quorum".into(),
                    "on (always, in etcd's server)".into(),
                );
            }
        }
        settings.insert("nodes".into(), nodes.to_string());
        drop(held);
        let mut ensemble = Ensemble {
            kind,
            members: Vec::new(),
            version: String::new(),
            settings,
            dir,
        };
        for (mut command, log, client_port) in commands {
            let out =
                std::fs::File::create(&log).map_err(PeerError::io("creating a server log"))?;
            let err = out
                .try_clone()
                .map_err(PeerError::io("creating a server log"))?;
            command
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .process_group(0);
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
            unsafe {
                command.pre_exec(|| {
                    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                        .map_err(std::io::Error::from)
                });
            }
            let child = command
                .spawn()
                .map_err(PeerError::io(format!("starting a {kind} server")))?;
            ensemble.members.push(Member {
                client: SocketAddr::from(([127, 0, 0, 1], client_port)),
                child: Some(child),
                log,
            });
        }
        ensemble.leader(START_TIMEOUT).await?;
        let version = ensemble.version.clone();
        ensemble.settings.insert("version".into(), version);
        Ok(ensemble)
    }

    /// Waits until the running servers agree on one leader and returns its index.
    pub async fn leader(&mut self, timeout: Duration) -> Result<usize, PeerError> {
        let deadline = Instant::now() + timeout;
        let ask = Duration::from_millis(500);
        let mut last = String::from("no answer yet");
        loop {
            if let Some(i) = self.members.iter_mut().position(|m| {
                m.child
                    .as_mut()
                    .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
            }) {
                return Err(PeerError::NotReady {
                    system: self.kind.as_str(),
                    detail: format!("server {} exited: {}", i + 1, self.log_tail(i)),
                });
            }
            let mut leaders = Vec::new();
            let mut serving = 0;
            let mut live = 0;
            for (i, m) in self.members.iter().enumerate() {
                if !m.is_alive() {
                    continue;
                }
                live += 1;
                match self.kind {
                    PeerKind::Zookeeper => match zk::srvr(m.client, ask).await {
                        Ok(s) => {
                            if let Some(v) = s.version {
                                self.version = v;
                            }
                            match s.mode.as_deref() {
                                Some("leader") => {
                                    leaders.push(i);
                                    serving += 1;
                                }
                                Some("follower") => serving += 1,
                                other => last = format!("server {} mode {other:?}", i + 1),
                            }
                        }
                        Err(e) => last = e.to_string(),
                    },
                    PeerKind::Etcd => match etcd::status(m.client, ask).await {
                        Ok(s) => {
                            self.version = s.version.clone();
                            if s.leader != "0" {
                                serving += 1;
                            }
                            if s.is_leader() {
                                leaders.push(i);
                            }
                        }
                        Err(e) => last = e.to_string(),
                    },
                }
            }
            if let ([leader], true) = (leaders.as_slice(), serving == live) {
                return Ok(*leader);
            }
            if Instant::now() >= deadline {
                return Err(PeerError::NotReady {
                    system: self.kind.as_str(),
                    detail: format!("no single leader within {timeout:?} ({last})"),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills server `i` (`SIGKILL`: its connections reset, like the protocols' kill).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members.get_mut(i).and_then(|m| m.child.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The running servers' process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().filter_map(Member::pid).collect()
    }

    /// The client addresses of the running servers other than `except`.
    pub fn others(&self, except: usize) -> Vec<SocketAddr> {
        self.members
            .iter()
            .enumerate()
            .filter(|(i, m)| *i != except && m.is_alive())
            .map(|(_, m)| m.client)
            .collect()
    }

    /// The last lines of server `i`'s log, for an error message.
    pub fn log_tail(&self, i: usize) -> String {
        let Some(m) = self.members.get(i) else {
            return String::new();
        };
        let text = std::fs::read_to_string(&m.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// The temporary directory holding every server's data and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
