//! Cluster configuration files (`cluster.toml`) and their validation.
//!
//! One file describes the whole cluster; the same file on several hosts makes a LAN
//! cluster, each host running `cwb node --config cluster.toml --id N`. Everything is
//! checked before anything starts: duplicate ids, clashing addresses, an unknown
//! protocol or fsync policy, an impossible timing range, client-port bounds out of
//! range, a missing file. Files are read up to a bound ([`MAX_CONFIG_BYTES`],
//! [`MAX_SECRET_FILE_BYTES`]), never whole whatever their size.
//!
//! ```toml
//! protocol = "raft"          # raft | zab | paxos
//! fsync = "batch"            # always | batch | never
//! data_dir = "cwb-data"      # node N keeps its log in data_dir/node-N
//! [timing]
//! heartbeat_ms = 50
//! election_timeout_min_ms = 150
//! election_timeout_max_ms = 300
//! finalize_wait_ms = 200
//! # pre_vote = true          # Raft PreVote (thesis §9.6)
//! # check_quorum = true      # Raft/Paxos leaders step down without a quorum
//! # reads = "log"            # log | index | lease | local | sync (per protocol)
//! # snapshot_every = 10000   # Raft, ZAB, Paxos: snapshot and compact the log every N applied entries (0: never)
//! # snapshot_chunk_bytes = 1048576   # image bytes per snapshot message (Raft InstallSnapshot, ZAB SNAP, Paxos piece)
//! # snapshot_max_bytes = 1073741824  # the largest image a lagging node accepts
//! [[node]]
//! id = 1
//! peer = "127.0.0.1:7001"    # node-to-node port
//! client = "127.0.0.1:7101"  # client port (put/get/status)
//! # observer = true          # ZAB observers: receive commits, never vote
//! # tls_cert = "cluster-tls/node-1.pem"   # with [tls]: this node's certificate
//! # tls_key = "cluster-tls/node-1.key"    # and its private key (mode 0600)
//! # [tls]                    # optional: TLS on both ports (see `crate::tls`)
//! # ca = "cluster-tls/ca.pem"
//! ```
//!
//! Paths under `[tls]` and in `tls_cert`/`tls_key` are relative to the config file's
//! directory. Loading checks the CA and that every node names its certificate and
//! key; a node reads and checks its own pair when it starts
//! ([`Validated::node_tls`]), before binding anything, so that a host need hold only
//! its own node's key.

mod limits;

use crate::tls::{ClientTls, ClusterCa, NodeTls, TlsError};
use crate::transport::handshake::{hex, unhex, ClusterKey};
use limits::read_bounded;
pub use limits::{MAX_CLIENT_LIMIT, MAX_CONFIG_BYTES, MAX_IDLE_TIMEOUT_MS, MAX_SECRET_FILE_BYTES};
pub use protocols::ProtocolKind;
use protocols::{Membership, NodeId, RaftTimerReset, ReadPath, Timing};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use storage::FsyncPolicy;
use thiserror::Error;

/// Timer settings as written in a config file (milliseconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingConfig {
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// Failure-detection (election) timeout, lower end.
    pub election_timeout_min_ms: u64,
    /// Failure-detection (election) timeout, upper end.
    pub election_timeout_max_ms: u64,
    /// ZAB's finalize wait.
    pub finalize_wait_ms: u64,
    /// Raft: whether a higher term restarts the election timeout (`figure2`, the
    /// default, or `etcd`).
    #[serde(default)]
    pub raft_timer_reset: RaftTimerReset,
    /// Raft: PreVote (thesis §9.6); on unless the file says `false`.
    #[serde(default = "on")]
    pub pre_vote: bool,
    /// Raft and Paxos: a leader without a majority within the election timeout steps
    /// down (thesis §9.6); on unless the file says `false`.
    #[serde(default = "on")]
    pub check_quorum: bool,
    /// How reads are served (`log`, the default; `index` and `lease` for Raft, `lease`
    /// for Paxos, `local` and `sync` for ZAB, `local` for every protocol).
    #[serde(default)]
    pub reads: ReadPath,
    /// ZAB: FastLeaderElection's `maxNotificationInterval` (default: 8 finalize waits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_notification_interval_ms: Option<u64>,
    /// Paxos: how many lost campaigns in a row double the next campaign's timeout at
    /// most (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contention_doublings: Option<u32>,
    /// Entries applied between two snapshots, after which the log they cover is
    /// compacted (Raft, ZAB, Paxos); 0, the default, takes none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub snapshot_every: u64,
    /// The most image bytes one snapshot message carries (Raft's InstallSnapshot
    /// chunk, ZAB's SNAP chunk, Paxos's piece; default 1 MiB).
    #[serde(
        default = "default_chunk_bytes",
        skip_serializing_if = "is_default_chunk_bytes"
    )]
    pub snapshot_chunk_bytes: u64,
    /// Raft: the largest image a follower accepts from a leader (default 1 GiB).
    #[serde(
        default = "default_max_bytes",
        skip_serializing_if = "is_default_max_bytes"
    )]
    pub snapshot_max_bytes: u64,
}

fn default_chunk_bytes() -> u64 {
    protocols::timing::DEFAULT_SNAPSHOT_CHUNK_BYTES
}

fn is_default_chunk_bytes(n: &u64) -> bool {
    *n == default_chunk_bytes()
}

fn default_max_bytes() -> u64 {
    protocols::timing::DEFAULT_SNAPSHOT_MAX_BYTES
}

fn is_default_max_bytes(n: &u64) -> bool {
    *n == default_max_bytes()
}

fn on() -> bool {
    true
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for TimingConfig {
    fn default() -> TimingConfig {
        TimingConfig::from(&Timing::default())
    }
}

impl From<&Timing> for TimingConfig {
    fn from(t: &Timing) -> TimingConfig {
        TimingConfig {
            heartbeat_ms: t.heartbeat.as_millis() as u64,
            election_timeout_min_ms: t.election_timeout_min.as_millis() as u64,
            election_timeout_max_ms: t.election_timeout_max.as_millis() as u64,
            finalize_wait_ms: t.finalize_wait.as_millis() as u64,
            raft_timer_reset: t.raft_timer_reset,
            pre_vote: t.pre_vote,
            check_quorum: t.check_quorum,
            reads: t.reads,
            max_notification_interval_ms: t.max_notification_interval.map(|d| d.as_millis() as u64),
            contention_doublings: t.contention_doublings,
            snapshot_every: t.snapshot_every,
            snapshot_chunk_bytes: t.snapshot_chunk_bytes,
            snapshot_max_bytes: t.snapshot_max_bytes,
        }
    }
}

impl TimingConfig {
    /// The protocol-facing timing.
    pub fn to_timing(&self) -> Timing {
        Timing {
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            election_timeout_min: Duration::from_millis(self.election_timeout_min_ms),
            election_timeout_max: Duration::from_millis(self.election_timeout_max_ms),
            finalize_wait: Duration::from_millis(self.finalize_wait_ms),
            raft_timer_reset: self.raft_timer_reset,
            pre_vote: self.pre_vote,
            check_quorum: self.check_quorum,
            reads: self.reads,
            max_notification_interval: self.max_notification_interval_ms.map(Duration::from_millis),
            contention_doublings: self.contention_doublings,
            snapshot_every: self.snapshot_every,
            snapshot_chunk_bytes: self.snapshot_chunk_bytes,
            snapshot_max_bytes: self.snapshot_max_bytes,
        }
    }
}

/// One node's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// The node's id (> 0, unique; ZooKeeper's myid).
    pub id: NodeId,
    /// Address for node-to-node traffic.
    pub peer: SocketAddr,
    /// Address for clients.
    pub client: SocketAddr,
    /// A non-voting observer (ZAB).
    #[serde(default)]
    pub observer: bool,
    /// With `[tls]`: this node's certificate (PEM), signed by the cluster's CA, naming
    /// the node's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// With `[tls]`: the private key of `tls_cert` (PEM; keep it mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

/// `[tls]`: TLS on both ports, checked against the cluster's own CA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The cluster CA's certificate (PEM), which every node's certificate is checked
    /// against, by peers and clients.
    pub ca: PathBuf,
}

/// A whole cluster file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Which protocol every node runs.
    pub protocol: String,
    /// WAL durability policy.
    #[serde(default = "default_fsync")]
    pub fsync: String,
    /// Parent of the per-node data directories.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Seed for the nodes' random sources (election timeouts, back-off).
    #[serde(default)]
    pub seed: u64,
    /// Names the cluster (32 hex digits): a node of another cluster is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// The secret every node proves it holds on every peer connection and every fault
    /// command (64 hex digits). `cwb config` generates one; keep the file private.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Or: a file holding the secret (hex), instead of `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Timers.
    #[serde(default)]
    pub timing: TimingConfig,
    /// Bounds on client connections (`[client_port]`: `max_connections`,
    /// `idle_timeout_ms`, `max_in_flight`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub client_port: crate::host::ClientLimits,
    /// TLS on both ports (absent: plain TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSection>,
    /// The replicated state machine: `"kv"` (the default) or `"znode"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine: Option<String>,
    /// The members.
    #[serde(rename = "node")]
    pub nodes: Vec<NodeEntry>,
}

fn is_default(limits: &crate::host::ClientLimits) -> bool {
    *limits == crate::host::ClientLimits::default()
}

fn default_fsync() -> String {
    "batch".into()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("cwb-data")
}

/// A configuration that cannot run, said plainly.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a cluster.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        message: String,
    },
    /// Not raft, zab or paxos.
    #[error(transparent)]
    UnknownProtocol(#[from] protocols::UnknownProtocol),
    /// Not kv or znode.
    #[error("{0}")]
    UnknownStateMachine(String),
    /// Not always, batch or never.
    #[error("unknown fsync policy {0:?}: expected one of always, batch, never")]
    UnknownFsync(String),
    /// Two nodes share an id.
    #[error("duplicate node id {0}")]
    DuplicateId(NodeId),
    /// Id 0 is reserved.
    #[error("node id 0 is not allowed (ids start at 1)")]
    ZeroId,
    /// Two ports collide.
    #[error("address {addr} is used twice ({first} and {second})")]
    PortClash {
        /// The address.
        addr: SocketAddr,
        /// Its first use.
        first: String,
        /// Its second use.
        second: String,
    },
    /// Nobody votes.
    #[error("the cluster has no voting nodes")]
    NoVoters,
    /// No cluster identity or secret.
    #[error("the config names no cluster_id and secret (or secret_file): peers could not prove they belong to the cluster. `cwb config` writes both")]
    NoKey,
    /// A cluster id or secret that is not what it should be.
    #[error("{0}")]
    BadKey(String),
    /// Port 0 would make the system pick a port nobody else knows.
    #[error("{0} has port 0: every node needs a fixed port its peers can reach")]
    ZeroPort(String),
    /// Consecutive ports from a base run past 65535.
    #[error("base port {base_port} leaves no room for {nodes} nodes (peers at base+id, clients at base+100+id, all at most 65535)")]
    PortOutOfRange {
        /// The base asked for.
        base_port: u16,
        /// The number of nodes.
        nodes: u64,
    },
    /// A bad timing range.
    #[error("invalid timing: {0}")]
    Timing(#[from] protocols::timing::TimingError),
    /// A read path the protocol does not have.
    #[error("{protocol} has no {reads:?} read path (it has: {})", ReadPath::for_protocol(*protocol).iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "))]
    ReadPath {
        /// The protocol.
        protocol: ProtocolKind,
        /// The path asked for.
        reads: String,
    },
    /// `--id` names no node.
    #[error("node {0} is not in the config file")]
    UnknownNode(NodeId),
    /// A `[client_port]` bound the node could not run with.
    #[error("[client_port] {name} = {value} is out of range: it must be {min} to {max}")]
    ClientLimit {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: u64,
        /// The smallest accepted.
        min: u64,
        /// The largest accepted.
        max: u64,
    },
    /// A TLS file is missing, unreadable or not what it should be.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// `[tls]` and the nodes' `tls_cert`/`tls_key` do not go together.
    #[error("{0}")]
    TlsIncomplete(String),
    /// A file (the config or the secret) is far larger than such a file can be.
    #[error("{path} is larger than {max} bytes: not a {what}")]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// What it should have been.
        what: &'static str,
        /// The largest accepted, in bytes.
        max: u64,
    },
}

/// A checked configuration, ready to run.
#[derive(Clone, Debug)]
pub struct Validated {
    /// The protocol.
    pub protocol: ProtocolKind,
    /// The WAL policy.
    pub fsync: FsyncPolicy,
    /// Timers.
    pub timing: Timing,
    /// Voters and observers.
    pub membership: Membership,
    /// Node-to-node addresses.
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Client addresses.
    pub clients: BTreeMap<NodeId, SocketAddr>,
    /// Parent of the data directories.
    pub data_dir: PathBuf,
    /// Seed.
    pub seed: u64,
    /// Bounds on client connections.
    pub client_limits: crate::host::ClientLimits,
    /// The cluster's identity and secret.
    pub key: ClusterKey,
    /// TLS, if `[tls]` is set.
    pub tls: Option<ValidatedTls>,
    /// The replicated state machine.
    pub state_machine: kv::StateMachineKind,
}

/// A checked `[tls]`: the CA loaded, every node's certificate and key named.
#[derive(Clone, Debug)]
pub struct ValidatedTls {
    /// The cluster's CA.
    pub ca: ClusterCa,
    /// What clients use: the CA, no client certificate.
    pub client: ClientTls,
    /// Each node's certificate and key files (resolved paths).
    pub nodes: BTreeMap<NodeId, (PathBuf, PathBuf)>,
}

impl Validated {
    /// Node `id`'s data directory.
    pub fn node_dir(&self, id: NodeId) -> PathBuf {
        self.data_dir.join(format!("node-{id}"))
    }

    /// What a client of this cluster dials with: TLS checked against the CA, or
    /// `None` for plain TCP.
    pub fn client_tls(&self) -> Option<ClientTls> {
        self.tls.as_ref().map(|t| t.client.clone())
    }

    /// Node `id`'s TLS (its certificate and key read and checked against each other),
    /// or `None` without `[tls]`. An unreadable or bad file is an error naming it.
    pub fn node_tls(&self, id: NodeId) -> Result<Option<NodeTls>, ConfigError> {
        let Some(tls) = &self.tls else {
            return Ok(None);
        };
        let (cert, key) = tls.nodes.get(&id).ok_or(ConfigError::UnknownNode(id))?;
        Ok(Some(tls.ca.node(cert, key)?))
    }
}

impl ClusterConfig {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Validated, ConfigError> {
        let text = read_bounded(path, MAX_CONFIG_BYTES, "cluster config")?;
        let dir = path.parent().unwrap_or(Path::new(""));
        ClusterConfig::parse(&text, path)?.validate_in(dir)
    }

    /// Parses TOML text (`path` only names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<ClusterConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// Checks everything that can be checked before starting; relative TLS paths are
    /// taken from the current directory.
    pub fn validate(&self) -> Result<Validated, ConfigError> {
        self.validate_in(Path::new(""))
    }

    /// [`ClusterConfig::validate`], with relative TLS paths taken from `dir` (the
    /// config file's directory).
    pub fn validate_in(&self, dir: &Path) -> Result<Validated, ConfigError> {
        let protocol: ProtocolKind = self.protocol.parse()?;
        let fsync: FsyncPolicy = self
            .fsync
            .parse()
            .map_err(|_| ConfigError::UnknownFsync(self.fsync.clone()))?;
        let timing = self.timing.to_timing();
        timing.validate()?;
        if !timing.reads.supported_by(protocol) {
            return Err(ConfigError::ReadPath {
                protocol,
                reads: timing.reads.to_string(),
            });
        }
        let mut ids = HashSet::new();
        let mut addrs: BTreeMap<SocketAddr, String> = BTreeMap::new();
        for n in &self.nodes {
            if n.id == 0 {
                return Err(ConfigError::ZeroId);
            }
            if !ids.insert(n.id) {
                return Err(ConfigError::DuplicateId(n.id));
            }
            for (addr, what) in [
                (n.peer, format!("node {} peer", n.id)),
                (n.client, format!("node {} client", n.id)),
            ] {
                if addr.port() == 0 {
                    return Err(ConfigError::ZeroPort(what));
                }
                if let Some(first) = addrs.get(&addr) {
                    return Err(ConfigError::PortClash {
                        addr,
                        first: first.clone(),
                        second: what,
                    });
                }
                addrs.insert(addr, what);
            }
        }
        let voters: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|n| !n.observer)
            .map(|n| n.id)
            .collect();
        if voters.is_empty() {
            return Err(ConfigError::NoVoters);
        }
        limits::check_client_limits(&self.client_port)?;
        let observers = self.nodes.iter().filter(|n| n.observer).map(|n| n.id);
        Ok(Validated {
            protocol,
            fsync,
            timing,
            membership: Membership::new(voters, observers),
            peers: self.nodes.iter().map(|n| (n.id, n.peer)).collect(),
            clients: self.nodes.iter().map(|n| (n.id, n.client)).collect(),
            data_dir: self.data_dir.clone(),
            seed: self.seed,
            client_limits: self.client_port,
            key: self.key()?,
            tls: self.tls(dir)?,
            state_machine: match &self.state_machine {
                None => kv::StateMachineKind::Kv,
                Some(name) => name.parse().map_err(ConfigError::UnknownStateMachine)?,
            },
        })
    }

    /// `[tls]`: the CA read and checked, every node's certificate and key named.
    fn tls(&self, dir: &Path) -> Result<Option<ValidatedTls>, ConfigError> {
        let Some(section) = &self.tls else {
            if let Some(n) = self
                .nodes
                .iter()
                .find(|n| n.tls_cert.is_some() || n.tls_key.is_some())
            {
                return Err(ConfigError::TlsIncomplete(format!(
                    "node {} names a TLS certificate or key but the config has no [tls] section (with ca = \"...\")",
                    n.id
                )));
            }
            return Ok(None);
        };
        let ca = ClusterCa::load(&dir.join(&section.ca))?;
        let mut nodes = BTreeMap::new();
        for n in &self.nodes {
            let (Some(cert), Some(key)) = (&n.tls_cert, &n.tls_key) else {
                return Err(ConfigError::TlsIncomplete(format!(
                    "[tls] is set but node {} lacks tls_cert or tls_key: every node needs both",
                    n.id
                )));
            };
            nodes.insert(n.id, (dir.join(cert), dir.join(key)));
        }
        let client = ca.client()?;
        Ok(Some(ValidatedTls { ca, client, nodes }))
    }

    /// The cluster's identity and secret from `cluster_id` and `secret`/`secret_file`.
    fn key(&self) -> Result<ClusterKey, ConfigError> {
        let Some(id) = &self.cluster_id else {
            return Err(ConfigError::NoKey);
        };
        let id: [u8; 16] = unhex(id)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ConfigError::BadKey("cluster_id must be 32 hex digits".into()))?;
        let secret_text = match (&self.secret, &self.secret_file) {
            (Some(s), None) => s.clone(),
            (None, Some(path)) => read_bounded(path, MAX_SECRET_FILE_BYTES, "secret file")?,
            (None, None) => return Err(ConfigError::NoKey),
            (Some(_), Some(_)) => {
                return Err(ConfigError::BadKey(
                    "give secret or secret_file, not both".into(),
                ))
            }
        };
        let secret = unhex(secret_text.trim())
            .filter(|s| s.len() >= 16)
            .ok_or_else(|| {
                ConfigError::BadKey("the secret must be at least 32 hex digits (16 bytes)".into())
            })?;
        Ok(ClusterKey {
            id,
            secret: secret.into(),
        })
    }

    /// A loopback config for `n` nodes on consecutive ports from `base_port`
    /// (peers at base+i, clients at base+100+i), e.g. for `cwb config`. Refuses ports
    /// past 65535 (they would wrap to 0, 1, 2 ...).
    pub fn loopback(
        protocol: ProtocolKind,
        n: u64,
        base_port: u16,
    ) -> Result<ClusterConfig, ConfigError> {
        let port = |offset: u64| {
            u64::from(base_port)
                .checked_add(offset)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or(ConfigError::PortOutOfRange {
                    base_port,
                    nodes: n,
                })
        };
        let nodes = (1..=n)
            .map(|id| {
                Ok(NodeEntry {
                    id,
                    peer: SocketAddr::from(([127, 0, 0, 1], port(id)?)),
                    client: SocketAddr::from(([127, 0, 0, 1], port(id.saturating_add(100))?)),
                    observer: false,
                    tls_cert: None,
                    tls_key: None,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        let key = ClusterKey::generate()
            .map_err(|e| ConfigError::BadKey(format!("no randomness for a secret: {e}")))?;
        Ok(ClusterConfig {
            protocol: protocol.to_string(),
            fsync: default_fsync(),
            data_dir: default_data_dir(),
            seed: 0,
            cluster_id: None,
            secret: None,
            secret_file: None,
            timing: TimingConfig::default(),
            client_port: Default::default(),
            tls: None,
            state_machine: None,
            nodes,
        }
        .with_key(&key))
    }

    /// This config with TLS: makes a self-signed cluster CA and one certificate per
    /// node (naming the node's IP addresses, `node-<id>.cwb` and, on loopback,
    /// `localhost`) in `config_dir/tls_dir`, which is created; keys are written mode
    /// 0600 and never over existing files. The config refers to them relative to
    /// `config_dir`, where the config file is to be written.
    pub fn with_new_tls(
        mut self,
        config_dir: &Path,
        tls_dir: &Path,
    ) -> Result<ClusterConfig, ConfigError> {
        use crate::tls::{write_new, CertAuthority};
        let dir = config_dir.join(tls_dir);
        std::fs::create_dir_all(&dir).map_err(|source| TlsError::Write {
            path: dir.clone(),
            source,
        })?;
        let name = self.cluster_id.clone().unwrap_or_default();
        let ca = CertAuthority::generate(&name)?;
        write_new(&dir.join("ca.pem"), ca.cert_pem(), false)?;
        write_new(&dir.join("ca.key"), ca.key_pem(), true)?;
        for n in &mut self.nodes {
            let issued = ca.issue(n.id, &[n.peer.ip(), n.client.ip()])?;
            let cert = tls_dir.join(format!("node-{}.pem", n.id));
            let key = tls_dir.join(format!("node-{}.key", n.id));
            write_new(&config_dir.join(&cert), &issued.cert_pem, false)?;
            write_new(&config_dir.join(&key), &issued.key_pem, true)?;
            n.tls_cert = Some(cert);
            n.tls_key = Some(key);
        }
        self.tls = Some(TlsSection {
            ca: tls_dir.join("ca.pem"),
        });
        Ok(self)
    }

    /// This config with `key` written in as `cluster_id` and `secret`.
    pub fn with_key(mut self, key: &ClusterKey) -> ClusterConfig {
        self.cluster_id = Some(hex(&key.id));
        self.secret = Some(hex(&key.secret));
        self.secret_file = None;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Validated, ConfigError> {
        ClusterConfig::parse(text, Path::new("test.toml"))?.validate()
    }

    const GOOD: &str = r#"
cluster_id = "00112233445566778899aabbccddeeff"
secret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
protocol = "raft"
[[node]]
id = 1
peer = "127.0.0.1:7001"
client = "127.0.0.1:7101"
[[node]]
id = 2
peer = "127.0.0.1:7002"
client = "127.0.0.1:7102"
[[node]]
id = 3
peer = "127.0.0.1:7003"
client = "127.0.0.1:7103"
observer = true
"#;

    #[test]
    fn a_good_file_validates() {
        let v = parse(GOOD).expect("valid");
        assert_eq!(v.protocol, ProtocolKind::Raft);
        assert_eq!(v.fsync, FsyncPolicy::Batch);
        assert_eq!(v.membership.voter_ids(), &[1, 2]);
        assert_eq!(v.membership.observer_ids(), &[3]);
        assert_eq!(v.timing, Timing::default());
    }

    #[test]
    fn the_read_path_defaults_to_the_log_and_must_be_the_protocols() {
        let file = |protocol: &str, reads: &str| {
            format!(
                "protocol = \"{protocol}\"\nfsync = \"never\"\ndata_dir = \"d\"\n\
                 cluster_id = \"00112233445566778899aabbccddeeff\"\n\
                 secret = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"\n[timing]\n\
                 heartbeat_ms = 50\nelection_timeout_min_ms = 150\nelection_timeout_max_ms = 300\n\
                 finalize_wait_ms = 200\n{reads}\n[[node]]\nid = 1\n\
                 peer = \"127.0.0.1:7001\"\nclient = \"127.0.0.1:7101\"\n"
            )
        };
        let parse = |text: String| -> ClusterConfig { toml::from_str(&text).expect("parses") };
        let v = parse(file("raft", "")).validate().expect("valid");
        assert_eq!(v.timing.reads, ReadPath::Log);
        let v = parse(file("raft", "reads = \"index\""))
            .validate()
            .expect("valid");
        assert_eq!(v.timing.reads, ReadPath::Index);
        let err = parse(file("zab", "reads = \"index\""))
            .validate()
            .expect_err("zab has no ReadIndex");
        assert!(err.to_string().contains("log, local, sync"), "{err}");
    }

    #[test]
    fn snapshot_every_defaults_to_off_and_is_read_from_the_file() {
        let v = parse(GOOD).expect("valid");
        assert_eq!(v.timing.snapshot_every, 0);
        let on = GOOD.replace(
            "[[node]]\nid = 1\n",
            "[timing]\nheartbeat_ms = 50\nelection_timeout_min_ms = 150\n\
             election_timeout_max_ms = 300\nfinalize_wait_ms = 200\n\
             snapshot_every = 500\n[[node]]\nid = 1\n",
        );
        assert_ne!(on, GOOD);
        let v = parse(&on).expect("valid");
        assert_eq!(v.timing.snapshot_every, 500);
    }

    #[test]
    fn pre_vote_and_check_quorum_default_on_and_can_be_turned_off() {
        // A file written before the settings existed runs them on, as etcd does.
        let v = parse(GOOD).expect("valid");
        assert!(v.timing.pre_vote && v.timing.check_quorum);
        let off = GOOD.replace(
            "[[node]]\nid = 1\n",
            "[timing]\nheartbeat_ms = 50\nelection_timeout_min_ms = 150\n\
             election_timeout_max_ms = 300\nfinalize_wait_ms = 200\n\
             pre_vote = false\ncheck_quorum = false\n[[node]]\nid = 1\n",
        );
        assert_ne!(off, GOOD);
        let v = parse(&off).expect("valid");
        assert!(!v.timing.pre_vote && !v.timing.check_quorum);
    }

    #[test]
    fn generated_loopback_config_round_trips() {
        let c = ClusterConfig::loopback(ProtocolKind::Zab, 5, 7000).expect("ports fit");
        let text = toml::to_string(&c).expect("serializes");
        let v = parse(&text).expect("valid");
        assert_eq!(v.membership.voter_ids().len(), 5);
    }

    #[test]
    fn bad_configs_are_clear_errors() {
        let dup = GOOD.replace("id = 2", "id = 1");
        assert!(matches!(parse(&dup), Err(ConfigError::DuplicateId(1))));
        let clash = GOOD.replace("127.0.0.1:7102", "127.0.0.1:7001");
        let err = parse(&clash).expect_err("clash");
        assert!(
            err.to_string().contains("127.0.0.1:7001 is used twice"),
            "{err}"
        );
        let unknown = GOOD.replace("\"raft\"", "\"viewstamped\"");
        assert!(parse(&unknown)
            .expect_err("unknown")
            .to_string()
            .contains("unknown protocol \"viewstamped\""));
        let inverted = GOOD.replace(
            "protocol = \"raft\"\n",
            "protocol = \"raft\"\n[timing]\nheartbeat_ms = 50\nelection_timeout_min_ms = 300\n\
             election_timeout_max_ms = 150\nfinalize_wait_ms = 200\n",
        );
        assert!(parse(&inverted)
            .expect_err("inverted")
            .to_string()
            .contains("greater than max"));
        let fsync = GOOD.replace(
            "protocol = \"raft\"",
            "protocol = \"raft\"\nfsync = \"sometimes\"",
        );
        assert!(matches!(parse(&fsync), Err(ConfigError::UnknownFsync(_))));
        let zero = GOOD.replace("127.0.0.1:7102", "127.0.0.1:0");
        assert!(matches!(parse(&zero), Err(ConfigError::ZeroPort(_))));
        let forever = GOOD.replace(
            "protocol = \"raft\"\n",
            "protocol = \"raft\"\n[timing]\nheartbeat_ms = 50\nelection_timeout_min_ms = 150\n\
             election_timeout_max_ms = 18446744073709551615\nfinalize_wait_ms = 200\n",
        );
        assert!(parse(&forever)
            .expect_err("absurd timing")
            .to_string()
            .contains("longer than"));
    }

    #[test]
    fn a_config_without_a_key_or_with_a_bad_one_is_refused() {
        let no_key = GOOD.replace("cluster_id = \"00112233445566778899aabbccddeeff\"\n", "");
        assert!(matches!(parse(&no_key), Err(ConfigError::NoKey)));
        let short = GOOD.replace(
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "0001",
        );
        assert!(matches!(parse(&short), Err(ConfigError::BadKey(_))));
        let not_hex = GOOD.replace(
            "00112233445566778899aabbccddeeff",
            "zz112233445566778899aabbccddeeff",
        );
        assert!(matches!(parse(&not_hex), Err(ConfigError::BadKey(_))));
        let v = parse(GOOD).expect("valid");
        assert_eq!(v.key.id[0..2], [0x00, 0x11]);
        assert_eq!(v.key.secret.len(), 32);
        // Generated configs carry a fresh key each.
        let a = ClusterConfig::loopback(ProtocolKind::Raft, 3, 7000).expect("fits");
        let b = ClusterConfig::loopback(ProtocolKind::Raft, 3, 7000).expect("fits");
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.cluster_id, b.cluster_id);
    }

    #[test]
    fn a_base_port_near_the_top_is_refused_instead_of_wrapping() {
        // `cwb config --base-port 65535` used to write ports 0, 1, 2 (and 100, ...).
        let err = ClusterConfig::loopback(ProtocolKind::Raft, 3, 65535).expect_err("wraps");
        assert!(matches!(
            err,
            ConfigError::PortOutOfRange {
                base_port: 65535,
                nodes: 3
            }
        ));
        // The last base that fits 3 nodes: clients end at base + 103 = 65535.
        let top = ClusterConfig::loopback(ProtocolKind::Raft, 3, 65432).expect("fits");
        assert_eq!(top.nodes[2].client.port(), 65535);
        assert!(ClusterConfig::loopback(ProtocolKind::Raft, 3, 65433).is_err());
    }

    /// A loopback config with generated TLS files in a temporary directory, written
    /// as `cluster.toml` there.
    fn tls_config() -> (tempfile::TempDir, PathBuf, ClusterConfig) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = ClusterConfig::loopback(ProtocolKind::Raft, 3, 7000)
            .expect("fits")
            .with_new_tls(dir.path(), Path::new("cluster-tls"))
            .expect("certificates written");
        let path = dir.path().join("cluster.toml");
        std::fs::write(&path, toml::to_string(&cfg).expect("serializes")).expect("write");
        (dir, path, cfg)
    }

    #[test]
    fn a_generated_tls_config_loads_and_every_node_s_pair_loads() {
        let (dir, path, cfg) = tls_config();
        assert_eq!(
            cfg.tls.as_ref().map(|t| t.ca.clone()),
            Some(PathBuf::from("cluster-tls/ca.pem"))
        );
        // Loaded from another directory: paths are the config file's.
        let v = ClusterConfig::load(&path).expect("valid");
        assert!(v.client_tls().is_some());
        for id in 1..=3 {
            assert!(v.node_tls(id).expect("loads").is_some());
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in ["ca.key", "node-1.key", "node-2.key", "node-3.key"] {
                let mode = std::fs::metadata(dir.path().join("cluster-tls").join(key))
                    .expect("key exists")
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{key}");
            }
        }
        // Without [tls], nothing changes.
        let plain = parse(GOOD).expect("valid");
        assert!(plain.tls.is_none() && plain.client_tls().is_none());
        assert!(plain.node_tls(1).expect("no TLS").is_none());
    }

    #[test]
    fn missing_or_incomplete_tls_files_are_refused_naming_the_path() {
        let (dir, path, cfg) = tls_config();
        let ca = dir.path().join("cluster-tls/ca.pem");
        std::fs::remove_file(&ca).expect("remove the CA");
        let err = ClusterConfig::load(&path).expect_err("no CA");
        assert!(matches!(err, ConfigError::Tls(_)), "{err:?}");
        assert!(err.to_string().contains(&*ca.to_string_lossy()), "{err}");
        std::fs::write(&ca, "not a certificate").expect("write");
        let err = ClusterConfig::load(&path).expect_err("garbage CA");
        assert!(err.to_string().contains("CA certificate"), "{err}");
        assert!(err.to_string().contains(&*ca.to_string_lossy()), "{err}");
        // A node's key is read when that node starts, before it binds anything.
        let (dir, path, _) = tls_config();
        let key = dir.path().join("cluster-tls/node-2.key");
        std::fs::remove_file(&key).expect("remove the key");
        let v = ClusterConfig::load(&path).expect("valid without node 2's key");
        assert!(v.node_tls(1).is_ok());
        let err = v.node_tls(2).expect_err("no key");
        assert!(err.to_string().contains(&*key.to_string_lossy()), "{err}");
        // A node without its pair, or a pair without [tls].
        let mut half = cfg.clone();
        half.nodes[1].tls_key = None;
        let err = half.validate_in(dir.path()).expect_err("incomplete");
        assert!(err.to_string().contains("node 2 lacks"), "{err}");
        let mut orphan = cfg.clone();
        orphan.tls = None;
        assert!(matches!(
            orphan.validate_in(dir.path()),
            Err(ConfigError::TlsIncomplete(_))
        ));
        // Existing keys are never overwritten.
        let again = ClusterConfig::loopback(ProtocolKind::Raft, 3, 7000)
            .expect("fits")
            .with_new_tls(dir.path(), Path::new("cluster-tls"));
        assert!(
            matches!(again, Err(ConfigError::Tls(TlsError::Exists(_)))),
            "{again:?}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = ClusterConfig::load(Path::new("/nonexistent/cluster.toml")).expect_err("missing");
        assert!(
            err.to_string().contains("/nonexistent/cluster.toml"),
            "{err}"
        );
    }
}
