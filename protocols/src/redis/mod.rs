//! Redis Cluster's failover over asynchronous replication, after the Redis Cluster
//! Specification (redis.io, "Redis cluster specification"), as a fourth system on the
//! harness: the design most engineers meet first, and the contrast to the three
//! consensus protocols. Its failover is a Raft-like election among masters, but the data
//! it fails over is replicated asynchronously, so a write the master acknowledged and
//! had not yet sent to its replica is lost when that replica is promoted.
//!
//! What is implemented, by section of the specification:
//! - "Key distribution model", "Hash tags": 16384 hash slots, `CRC16(key) mod 16384`,
//!   masters serve slots and redirect other keys (`MOVED`, here
//!   [`crate::ClientError::NotLeader`] naming the owner) ([`slots`]).
//! - "Heartbeat and gossip messages", "Failure detection": every node pings every other
//!   node, marks it `PFAIL` when a ping waits longer than the node timeout, gossips the
//!   flag, and marks it `FAIL` (broadcasting a `FAIL` message) once a majority of the
//!   masters report it within twice the node timeout; `FAIL` is cleared when the node is
//!   reachable and is a replica, serves no slot, or stayed failed for long with no
//!   failover ([`gossip`]).
//! - "Replication" (PSYNC, from the replication docs): asynchronous, with replication
//!   ids and offsets; a replica continues partially when its history is a prefix of its
//!   master's and resynchronises fully otherwise; the `WAIT` command as an option
//!   (answer a client only once `N` replicas acknowledged its offset) ([`replication`]).
//! - "Cluster current epoch", "Configuration epoch", "Replica election and promotion":
//!   the election delay (500 ms + random 0-500 ms + rank * 1000 ms, rank by replication
//!   offset), `FAILOVER_AUTH_REQUEST` to every master after incrementing `currentEpoch`,
//!   the masters' voting rules, promotion with the won epoch as the new `configEpoch`
//!   ([`election`]).
//! - "Hash slots configuration propagation", "UPDATE messages", "Node resets" of a
//!   demoted master: slot claims in every ping/pong header, the higher `configEpoch`
//!   wins, `UPDATE` to a node whose claim is stale, a master that loses its last slot
//!   becomes a replica of the winner ([`config`]).
//! - "Manual failover" (`CLUSTER FAILOVER`): the master pauses its clients, the replica
//!   catches up to the master's offset and is elected without the delay, the masters
//!   voting even though the master is not failed ([`manual`]).
//!
//! Left out, and why: resharding and `ASK` redirects (slot migration, not failover);
//! replica migration (it moves replicas between masters, orthogonal to failover);
//! `configEpoch` collision handling (collisions come only from `TAKEOVER` and manual
//! resharding, which are not modelled; elections cannot produce one); the replica
//! validity factor (a replica too long disconnected refusing to fail over); gossip
//! sections sampled at random (a node's pings here carry its whole view, the cluster is
//! small); `nodes.conf` fields other than epochs, roles and slots.
//!
//! Mapping onto the harness: node ids in the membership, in order, are split into
//! `max(1, n / 2)` masters with equal shares of the slots and replicas spread over them
//! (six nodes: three masters, one replica each; a real cluster needs at least three
//! masters to fail over). `Timing::election_timeout_min` is the node timeout,
//! `Timing::heartbeat` the period of `clusterCron`. The replication offset counts
//! commands, not bytes. Every client command, reads included, goes through its
//! master's stream, so the harness's state machine answers it in stream order. The
//! data is kept as an append-only file that is not synced before the client is
//! answered (`appendfsync everysec` in spirit): [`crate::Effect::Apply`] answers at
//! once. A node's `Apply` indexes are its own stream's offsets
//! ([`crate::Protocol::SHARED_LOG`] is false). A master's `configEpoch` is the
//! generation its [`crate::Event::LeaderElected`] reports, so the simulator's "one
//! leader per term" check is the specification's "one master per configEpoch".

pub mod config;
mod describe;
pub mod election;
pub mod gossip;
pub mod manual;
mod preload;
pub mod replication;
pub mod slots;
#[cfg(test)]
mod tests;

use crate::effect::{ClientError, Event, Role};
use crate::node::{Effects, Input, InputOf, Protocol, RecoveryError, Setup, Status};
use crate::output::Output;
use crate::types::{Command, NodeId, Time};
use bytes::Bytes;
use election::Election;
use manual::{Manual, Pause};
use replication::Stream;
use serde::{Deserialize, Serialize};
use slots::{SlotMap, SlotRange};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// `currentEpoch` and `configEpoch` ("Cluster current epoch", "Configuration epoch").
pub type Epoch = u64;

/// What one node believes of another's health ("Failure detection").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// Answering pings.
    Ok,
    /// `PFAIL`: a ping of ours waited longer than the node timeout.
    PFail,
    /// `FAIL`: a majority of masters reported it failing (or a `FAIL` message said so).
    Fail,
}

/// The header of every ping and pong: the sender's configuration and a gossip section
/// ("Heartbeat and gossip messages").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The sender's `currentEpoch`.
    pub current_epoch: Epoch,
    /// The sender's `configEpoch` if a master, its master's (as it knows it) if a replica.
    pub config_epoch: Epoch,
    /// `None`: the sender is a master; else the master it replicates.
    pub master: Option<NodeId>,
    /// The slots the sender serves (a master), empty for a replica.
    pub slots: Vec<SlotRange>,
    /// The sender's replication offset.
    pub offset: u64,
    /// The sender, a master, paused its clients for a manual failover (`PAUSED` flag).
    pub mf_paused: bool,
    /// The sender's view of other nodes' health.
    pub gossip: Vec<(NodeId, Health)>,
}

/// Cluster bus and replication link messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedisMessage {
    /// `PING`: header and gossip; answered with a `PONG`.
    Ping(Header),
    /// `PONG`: the answer to a ping, also broadcast after a promotion.
    Pong(Header),
    /// `FAIL`: every receiver marks `node` failed.
    Fail {
        /// The failed node.
        node: NodeId,
    },
    /// `UPDATE`: the receiver's claim is stale; `node` serves `slots` at `config_epoch`.
    Update {
        /// The node whose configuration this is.
        node: NodeId,
        /// Its `configEpoch`.
        config_epoch: Epoch,
        /// The slots it serves.
        slots: Vec<SlotRange>,
    },
    /// `FAILOVER_AUTH_REQUEST`: a replica asks every master for its vote.
    AuthRequest {
        /// The replica's `currentEpoch`, just incremented.
        current_epoch: Epoch,
        /// Its failed master's `configEpoch`.
        config_epoch: Epoch,
        /// Its master.
        master: NodeId,
        /// The slots it claims (its master's).
        slots: Vec<SlotRange>,
        /// A manual failover: vote even though the master is not failed (`FORCEACK`).
        force: bool,
    },
    /// `FAILOVER_AUTH_ACK`: a master's vote.
    AuthAck {
        /// The voter's `currentEpoch` (the epoch it voted in).
        epoch: Epoch,
    },
    /// `MFSTART`: a replica asks its master to pause for a manual failover.
    MfStart,
    /// `PSYNC replid offset`: a replica asks to continue its master's stream.
    Psync {
        /// The replica's replication id.
        replid: u64,
        /// Its offset in that history.
        offset: u64,
    },
    /// `+FULLRESYNC`: the master's whole dataset (here: its whole stream).
    FullResync {
        /// The master's replication id.
        replid: u64,
        /// Every command of its stream.
        commands: Vec<Command>,
    },
    /// `+CONTINUE`: the answer to a PSYNC that continues the replica's history under
    /// the master's id; `commands` start at offset `from`.
    Continue {
        /// The master's replication id (the replica adopts it).
        replid: u64,
        /// Offset of the first command.
        from: u64,
        /// The commands.
        commands: Vec<Command>,
    },
    /// The replication stream: `commands` start at offset `from`.
    Stream {
        /// The master's replication id.
        replid: u64,
        /// Offset of the first command.
        from: u64,
        /// The commands.
        commands: Vec<Command>,
    },
    /// `REPLCONF ACK offset`: a replica processed its master's stream up to `offset`.
    ReplAck {
        /// The replica's offset.
        offset: u64,
    },
}

/// One node as `nodes.conf` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConf {
    /// The node.
    pub id: NodeId,
    /// `None`: a master; else its master.
    pub master: Option<NodeId>,
    /// Its `configEpoch`.
    pub config_epoch: Epoch,
}

/// What a node writes to its log: `nodes.conf` (saved before any vote or reply that
/// depends on it) and its append-only file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedisRecord {
    /// `nodes.conf`, rewritten whole.
    NodesConf {
        /// `currentEpoch`.
        current_epoch: Epoch,
        /// `lastVoteEpoch`.
        last_vote_epoch: Epoch,
        /// Every node's role and `configEpoch`.
        nodes: Vec<NodeConf>,
        /// Which master serves which slots.
        slots: Vec<(SlotRange, NodeId)>,
    },
    /// Commands appended to the stream, the first at offset `from`.
    Append {
        /// Offset of the first.
        from: u64,
        /// The commands.
        commands: Vec<Command>,
    },
    /// A full resynchronisation replaced the dataset.
    Reset {
        /// The new replication id.
        replid: u64,
        /// The master's stream.
        commands: Vec<Command>,
    },
    /// A promotion started a new history (PSYNC2: the old id is kept as the second).
    NewHistory {
        /// The new replication id.
        replid: u64,
        /// The previous one.
        replid2: u64,
        /// Where the previous history ends.
        replid2_offset: u64,
    },
}

/// Redis Cluster's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RedisTimer {
    /// `clusterCron`: pings, failure detection, replication and failover upkeep.
    Cron,
    /// A replica's election is due (its delay passed) or its vote round timed out.
    Election,
}

/// How a command's key is found: the harness's state machine encodes commands, the
/// protocol only needs the key to route it to a slot.
pub type KeyReader = fn(&Bytes) -> Option<Bytes>;

/// Redis Cluster settings beyond the shared [`crate::Timing`].
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// `WAIT`-like: answer a client only once this many replicas acknowledged its
    /// command (0: asynchronous, Redis's default).
    pub wait_replicas: usize,
    /// Reads a command's key ([`KeyReader`]); by default the whole command is the key.
    pub key_of: KeyReader,
    /// The fixed part of a replica's election delay (the specification: 500 ms).
    pub election_fixed: Duration,
    /// The random part, drawn in `0..=election_random` (500 ms).
    pub election_random: Duration,
    /// Added once per replica of the same master with a larger offset (1000 ms).
    pub rank_step: Duration,
    /// How long a manual failover may take (`CLUSTER_MF_TIMEOUT`, 5000 ms).
    pub manual_timeout: Duration,
}

fn whole_command(data: &Bytes) -> Option<Bytes> {
    Some(data.clone())
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            wait_replicas: 0,
            key_of: whole_command,
            election_fixed: Duration::from_millis(500),
            election_random: Duration::from_millis(500),
            rank_step: Duration::from_millis(1000),
            manual_timeout: Duration::from_millis(5000),
        }
    }
}

/// What a node knows of one node (itself included): its configuration from
/// `nodes.conf` and gossip, and the state of our link to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// `None`: a master; else the master it replicates.
    pub master: Option<NodeId>,
    /// Its `configEpoch` (for a master).
    pub config_epoch: Epoch,
    /// Its replication offset, as last announced.
    pub offset: u64,
    /// Its health in our eyes.
    pub health: Health,
    /// When we marked it `FAIL`.
    pub fail_since: Time,
    /// Our ping waiting for its pong, and when it was sent.
    pub ping_sent: Option<Time>,
    /// When its last pong reached us.
    pub pong_received: Time,
    /// Masters that reported it `PFAIL` or `FAIL`, and when.
    pub fail_reports: BTreeMap<NodeId, Time>,
    /// When we last voted for one of its replicas (masters only).
    pub voted_time: Option<Time>,
}

impl Peer {
    fn new(master: Option<NodeId>, config_epoch: Epoch) -> Peer {
        Peer {
            master,
            config_epoch,
            offset: 0,
            health: Health::Ok,
            fail_since: Time::ZERO,
            ping_sent: None,
            pong_received: Time::ZERO,
            fail_reports: BTreeMap::new(),
            voted_time: None,
        }
    }
}

/// One Redis Cluster node.
#[derive(Debug)]
pub struct Redis {
    /// Identity, membership, timing, randomness, narration flag.
    setup: Setup,
    /// Settings beyond the shared timing.
    settings: RedisSettings,
    /// The time of the input being handled.
    now: Time,
    /// `currentEpoch` (persistent).
    current_epoch: Epoch,
    /// The epoch of our last vote (persistent).
    last_vote_epoch: Epoch,
    /// Every node, ourselves included (roles and epochs persistent).
    nodes: BTreeMap<NodeId, Peer>,
    /// Which master serves which slot (persistent).
    slots: SlotMap,
    /// Our dataset's history (persistent: the append-only file).
    stream: Stream,
    /// Highest offset handed to the state machine.
    applied: u64,
    /// Master: each replica that asked to sync, and the offset it acknowledged.
    replicas: BTreeMap<NodeId, u64>,
    /// Master: the offset sent so far to each replica.
    sent: BTreeMap<NodeId, u64>,
    /// Replica: the master whose stream we receive (our PSYNC was answered).
    linked: Option<NodeId>,
    /// Replica: when our last PSYNC left.
    psync_sent: Option<Time>,
    /// Replica: when our master's replication stream last reached us (`repl-timeout`).
    repl_heard: Option<Time>,
    /// Master: when we last pinged our replicas over the replication stream.
    repl_pinged: Time,
    /// Starts after a crash recorded in our log (each gave a master a new history).
    restarts: u64,
    /// We were recovered from records (a restart, not a first start).
    recovered: bool,
    /// Replica: our election, if one is on.
    election: Option<Election>,
    /// Replica: our manual failover, if one is on.
    manual: Option<Manual>,
    /// Master: paused for a replica's manual failover.
    pause: Option<Pause>,
    /// Master: client commands held while paused.
    held: Vec<Command>,
    /// `nodes.conf` changed and must be saved at the end of this step.
    conf_dirty: bool,
    /// Replica: applied commands to acknowledge at the end of the batch.
    ack_due: bool,
    /// Master: stream commands to send at the end of the batch.
    unflushed: bool,
}

impl Redis {
    /// Our id.
    pub fn id(&self) -> NodeId {
        self.setup.id
    }

    /// The node timeout (`cluster-node-timeout`): `Timing::election_timeout_min`.
    pub fn node_timeout(&self) -> Duration {
        self.setup.timing.election_timeout_min
    }

    /// Replaces the settings (hosts call it right after [`Protocol::recover`]).
    pub fn set_settings(&mut self, settings: RedisSettings) {
        self.settings = settings;
    }

    /// The settings in force.
    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// `currentEpoch`.
    pub fn current_epoch(&self) -> Epoch {
        self.current_epoch
    }

    /// Our `configEpoch` (a replica's is its master's as it knows it).
    pub fn config_epoch(&self) -> Epoch {
        let me = self.me();
        match me.master {
            None => me.config_epoch,
            Some(m) => self.nodes.get(&m).map_or(0, |p| p.config_epoch),
        }
    }

    /// The master we replicate, `None` when we are a master.
    pub fn master(&self) -> Option<NodeId> {
        self.me().master
    }

    /// Whether we are a master.
    pub fn is_master(&self) -> bool {
        self.me().master.is_none()
    }

    /// Which master serves which slot, as we believe.
    pub fn slot_map(&self) -> &SlotMap {
        &self.slots
    }

    /// Our replication stream (the dataset's history).
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// What we believe of node `id`.
    pub fn peer(&self, id: NodeId) -> Option<&Peer> {
        self.nodes.get(&id)
    }

    /// The slot of a command, by the configured key reader.
    pub fn slot_of_command(&self, data: &Bytes) -> u16 {
        (self.settings.key_of)(data).map_or(0, |key| slots::slot_of(&key))
    }

    fn me(&self) -> &Peer {
        // Recovery puts every member, us included, into `nodes`.
        static MISSING: std::sync::OnceLock<Peer> = std::sync::OnceLock::new();
        self.nodes
            .get(&self.setup.id)
            .unwrap_or_else(|| MISSING.get_or_init(|| Peer::new(None, 0)))
    }

    fn me_mut(&mut self) -> &mut Peer {
        self.nodes
            .entry(self.setup.id)
            .or_insert_with(|| Peer::new(None, 0))
    }

    /// Masters serving at least one slot: the specification's cluster size.
    fn size(&self) -> usize {
        self.slots.masters().len()
    }

    /// A majority of the masters serving slots.
    fn quorum(&self) -> usize {
        self.size() / 2 + 1
    }

    fn others(&self) -> Vec<NodeId> {
        let me = self.id();
        self.nodes.keys().copied().filter(|&n| n != me).collect()
    }

    /// The initial layout of a new cluster (see the module docs).
    fn layout(setup: &Setup) -> (BTreeMap<NodeId, Peer>, SlotMap) {
        let ids: Vec<NodeId> = setup
            .membership
            .all()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let masters = (ids.len() / 2).max(1);
        let mut nodes = BTreeMap::new();
        let mut map = SlotMap::default();
        for (i, &id) in ids.iter().enumerate() {
            if i < masters {
                nodes.insert(id, Peer::new(None, i as u64 + 1));
                for s in slots::share(i, masters).slots() {
                    map.assign(s, id);
                }
            } else {
                nodes.insert(id, Peer::new(Some(ids[(i - masters) % masters]), 0));
            }
        }
        (nodes, map)
    }

    /// Marks `nodes.conf` for saving at the end of this step.
    fn save_conf(&mut self) {
        self.conf_dirty = true;
    }

    fn conf_record(&self) -> RedisRecord {
        RedisRecord::NodesConf {
            current_epoch: self.current_epoch,
            last_vote_epoch: self.last_vote_epoch,
            nodes: self
                .nodes
                .iter()
                .map(|(&id, p)| NodeConf {
                    id,
                    master: p.master,
                    config_epoch: p.config_epoch,
                })
                .collect(),
            slots: self.slots.all_ranges(),
        }
    }

    /// Adopts a higher `currentEpoch` seen in a message.
    fn observe_epoch(&mut self, epoch: Epoch) {
        if epoch > self.current_epoch {
            self.current_epoch = epoch;
            self.save_conf();
        }
    }

    /// `clusterUpdateState`: why the cluster is down in our eyes, if it is. It is down
    /// when a slot's master is `FAIL` (full coverage is required, Redis's default) or
    /// when we reach fewer than a majority of the masters: a master cut off in a
    /// minority stops taking writes once the node timeout marks the others `PFAIL`
    /// ("Availability" in the specification). (The reference implementation also waits
    /// a little before it rejoins; not modelled.)
    pub fn cluster_down(&self) -> Option<String> {
        let masters = self.slots.masters();
        if let Some(m) = masters
            .iter()
            .find(|m| self.nodes.get(m).is_some_and(|p| p.health == Health::Fail))
        {
            return Some(format!("n{m}'s slots are not covered (it is FAIL)"));
        }
        let me = self.id();
        let reachable = masters
            .iter()
            .filter(|&&m| m == me || self.nodes.get(&m).is_some_and(|p| p.health == Health::Ok))
            .count();
        (reachable < self.quorum()).then(|| {
            format!(
                "only {reachable} of {} masters are reachable, fewer than a majority",
                masters.len()
            )
        })
    }

    fn on_client(&mut self, cmd: Command, out: &mut Effects<Self>) {
        if let Some(why) = self.cluster_down() {
            // CLUSTERDOWN: no node is named, the client waits and retries.
            out.narrate(self.setup.narrate, || {
                format!("refuse {}: CLUSTERDOWN, {why}", cmd.id)
            });
            out.reject(cmd.id, ClientError::NotLeader { leader: None });
            return;
        }
        let slot = self.slot_of_command(&cmd.data);
        let owner = self.slots.owner(slot);
        if !self.is_master() || owner != Some(self.id()) {
            // MOVED: the client is told who serves the slot.
            out.reject(cmd.id, ClientError::NotLeader { leader: owner });
            return;
        }
        if self.pause.is_some() {
            self.held.push(cmd);
            return;
        }
        self.append(cmd, out);
    }

    /// A read on the `local` path (`ReadPath::Local`): Redis answers a read from the
    /// serving node's memory, replicated nothing and confirmed with nobody. The master
    /// of the key's slot answers it, and so does a replica of that master (a replica
    /// in READONLY mode, specification "Scaling reads using replica nodes"); any
    /// other node redirects (MOVED). Redis has no ReadIndex, lease or sync: hosts refuse
    /// those paths before a read gets here (`ReadPath::supported_by`), and a read that
    /// gets here on one anyway is run as a command.
    fn on_read(&mut self, cmd: Command, out: &mut Effects<Self>) {
        if self.setup.timing.reads != crate::ReadPath::Local {
            self.on_client(cmd, out);
            return;
        }
        let owner = self.slots.owner(self.slot_of_command(&cmd.data));
        let serves = owner.is_some() && (owner == Some(self.id()) || self.master() == owner);
        if serves && self.cluster_down().is_none() {
            out.serve_read(cmd.id);
        } else {
            out.reject(cmd.id, ClientError::NotLeader { leader: owner });
        }
    }
}

impl Protocol for Redis {
    const NAME: &'static str = "redis";
    const GENERATION: &'static str = "configEpoch";
    const SHARED_LOG: bool = false;
    type Message = RedisMessage;
    type Record = RedisRecord;
    type Timer = RedisTimer;

    fn route_by_key(&mut self, key_of: KeyReader) {
        self.settings.key_of = key_of;
    }

    fn acknowledge_after_replicas(&mut self, replicas: usize) {
        self.settings.wait_replicas = replicas;
    }

    fn recover(setup: Setup, records: Vec<RedisRecord>) -> Result<Redis, RecoveryError> {
        setup.ensure_member()?;
        let (nodes, slots) = Redis::layout(&setup);
        let current_epoch = nodes.values().map(|p| p.config_epoch).max().unwrap_or(0);
        let mut node = Redis {
            settings: RedisSettings::default(),
            now: Time::ZERO,
            current_epoch,
            last_vote_epoch: 0,
            nodes,
            slots,
            stream: Stream::new(0),
            applied: 0,
            replicas: BTreeMap::new(),
            sent: BTreeMap::new(),
            linked: None,
            psync_sent: None,
            repl_heard: None,
            repl_pinged: Time::ZERO,
            restarts: 0,
            recovered: !records.is_empty(),
            election: None,
            manual: None,
            pause: None,
            held: Vec::new(),
            conf_dirty: false,
            ack_due: false,
            unflushed: false,
            setup,
        };
        // A master's history starts with an id of its own.
        if node.is_master() {
            node.stream = Stream::new(replication::history_id(node.config_epoch(), node.id()));
        }
        for (i, record) in records.into_iter().enumerate() {
            let bad = |reason: String| RecoveryError::Inconsistent { record: i, reason };
            match record {
                RedisRecord::NodesConf {
                    current_epoch,
                    last_vote_epoch,
                    nodes,
                    slots,
                } => {
                    if current_epoch < node.current_epoch && i > 0 {
                        return Err(bad(format!(
                            "currentEpoch went back from {} to {current_epoch}",
                            node.current_epoch
                        )));
                    }
                    node.current_epoch = current_epoch;
                    node.last_vote_epoch = last_vote_epoch;
                    for n in nodes {
                        if let Some(p) = node.nodes.get_mut(&n.id) {
                            p.master = n.master;
                            p.config_epoch = n.config_epoch;
                        }
                    }
                    let mut map = SlotMap::default();
                    for (range, owner) in slots {
                        for s in range.slots() {
                            map.assign(s, owner);
                        }
                    }
                    node.slots = map;
                }
                RedisRecord::Append { from, commands } => {
                    if from != node.stream.offset() + 1 {
                        return Err(bad(format!(
                            "commands from offset {from} but the stream ends at {}",
                            node.stream.offset()
                        )));
                    }
                    node.stream.extend(commands);
                }
                RedisRecord::Reset { replid, commands } => {
                    node.stream = Stream::new(replid);
                    node.stream.extend(commands);
                }
                RedisRecord::NewHistory {
                    replid,
                    replid2,
                    replid2_offset,
                } => {
                    if replid2 == 0 {
                        node.restarts += 1;
                    }
                    node.stream.new_history(replid, replid2, replid2_offset)
                }
            }
        }
        Ok(node)
    }

    fn handle(&mut self, now: Time, input: InputOf<Self>, out: &mut Effects<Self>) {
        self.now = now;
        match input {
            Input::Start => self.on_start(out),
            Input::Timer(RedisTimer::Cron) => self.cron(out),
            Input::Timer(RedisTimer::Election) => self.election_cron(out),
            Input::Client(cmd) => self.on_client(cmd, out),
            Input::Read(cmd) => self.on_read(cmd, out),
            // Redis hands a master's slots over from the replica's side (`CLUSTER
            // FAILOVER` sent to the replica: `Redis::manual_failover`), not from the
            // leader's, so a transfer asked of a node is a narrated no-op.
            Input::TransferLeadership { to } => {
                out.narrate(self.setup.narrate, || {
                    format!("leadership transfer to n{to} ignored: Redis Cluster fails a master over with CLUSTER FAILOVER at its replica")
                });
            }
            Input::Message { from, msg } => {
                if from != self.id() && self.nodes.contains_key(&from) {
                    self.on_message(from, msg, out);
                }
            }
            // Failures are detected by timeouts; a dropped replication link is
            // reconnected (`replication.rs`).
            Input::PeerLost(peer) => self.on_link_lost(peer, out),
            Input::Durable(_) => {}
            // Redis Cluster replicates without the snapshots of `Timing::snapshot_every`.
            Input::SnapshotTaken(_) => {}
        }
        if std::mem::take(&mut self.conf_dirty) {
            out.persist(self.conf_record());
        }
    }

    fn handle_end_of_batch(&mut self, _now: Time, out: &mut Effects<Self>) {
        if std::mem::take(&mut self.unflushed) {
            self.flush_stream(out);
        }
        if std::mem::take(&mut self.ack_due) {
            if let Some(m) = self.linked {
                out.send(
                    m,
                    RedisMessage::ReplAck {
                        offset: self.stream.offset(),
                    },
                );
            }
        }
    }

    fn status(&self) -> Status {
        Status {
            role: if self.is_master() {
                Role::Leader
            } else {
                Role::Follower
            },
            term: self.current_epoch,
            leader: Some(self.master().unwrap_or(self.id())),
            commit_index: self.applied,
            last_index: self.stream.offset(),
        }
    }

    /// A master reports its `configEpoch`, a replica the `currentEpoch` it is at.
    fn role_term(&self) -> (Role, u64) {
        if self.is_master() {
            (Role::Leader, self.config_epoch())
        } else {
            (Role::Follower, self.current_epoch)
        }
    }

    fn timing_mapping(t: &crate::Timing) -> Vec<(String, String)> {
        let s = RedisSettings::default();
        vec![
            (
                "node timeout (cluster-node-timeout)".into(),
                format!("{} ms: a ping unanswered that long marks PFAIL", t.election_timeout_min.as_millis()),
            ),
            (
                "clusterCron".into(),
                format!("every {} ms: pings, PFAIL/FAIL upkeep, replication, failover", t.heartbeat.as_millis()),
            ),
            (
                "FAIL".into(),
                "once a majority of masters report PFAIL within 2 node timeouts".into(),
            ),
            (
                "replica election delay".into(),
                format!(
                    "{} ms + random 0-{} ms + rank * {} ms (rank by replication offset)",
                    s.election_fixed.as_millis(),
                    s.election_random.as_millis(),
                    s.rank_step.as_millis()
                ),
            ),
            (
                "vote round timeout".into(),
                format!(
                    "max(2 node timeouts, 2000 ms) = {} ms; retried after twice that",
                    election::auth_timeout(t.election_timeout_min).as_millis()
                ),
            ),
            (
                "replication".into(),
                "asynchronous: a master answers before its replicas have the write (WAIT-like option: after N replicas)".into(),
            ),
        ]
    }

    /// A failover's election phase contains the replica's election delay (500 ms fixed
    /// plus 0-500 ms random for the best-ranked replica) by design.
    fn election_phase_wait(_timing: &crate::Timing) -> Duration {
        let s = RedisSettings::default();
        s.election_fixed + s.election_random / 2
    }

    fn message_kind(msg: &RedisMessage) -> &'static str {
        match msg {
            RedisMessage::Ping(_) => "PING",
            RedisMessage::Pong(_) => "PONG",
            RedisMessage::Fail { .. } => "FAIL",
            RedisMessage::Update { .. } => "UPDATE",
            RedisMessage::AuthRequest { .. } => "FAILOVER_AUTH_REQUEST",
            RedisMessage::AuthAck { .. } => "FAILOVER_AUTH_ACK",
            RedisMessage::MfStart => "MFSTART",
            RedisMessage::Psync { .. } => "PSYNC",
            RedisMessage::FullResync { .. } => "FULLRESYNC",
            RedisMessage::Continue { .. } => "CONTINUE",
            RedisMessage::Stream { .. } => "STREAM",
            RedisMessage::ReplAck { .. } => "REPLCONF_ACK",
        }
    }
}

impl Redis {
    fn on_start(&mut self, out: &mut Effects<Self>) {
        // Hand the dataset we recovered to the (fresh) state machine.
        self.applied = 0;
        for (i, cmd) in self.stream.commands().iter().enumerate() {
            out.apply(i as u64 + 1, Some(cmd.clone()));
        }
        self.applied = self.stream.offset();
        if self.recovered && self.is_master() {
            self.restart_history(out);
        }
        if self.is_master() && self.slots.serves_any(self.id()) {
            let epoch = self.config_epoch();
            out.event(Event::LeaderElected { term: epoch });
            out.event(Event::LeaderReady { term: epoch });
        }
        let now = self.now;
        for p in self.nodes.values_mut() {
            p.pong_received = now;
        }
        out.set_timer(RedisTimer::Cron, self.setup.timing.heartbeat);
        self.cron(out);
    }

    /// `clusterCron`: re-armed every heartbeat.
    fn cron(&mut self, out: &mut Effects<Self>) {
        out.set_timer(RedisTimer::Cron, self.setup.timing.heartbeat);
        self.ping_cron(out);
        self.replication_cron(out);
        self.manual_cron(out);
        self.election_cron(out);
    }

    fn on_message(&mut self, from: NodeId, msg: RedisMessage, out: &mut Effects<Self>) {
        match msg {
            RedisMessage::Ping(h) => self.on_ping(from, h, out),
            RedisMessage::Pong(h) => self.on_pong(from, h, out),
            RedisMessage::Fail { node } => self.on_fail(from, node, out),
            RedisMessage::Update {
                node,
                config_epoch,
                slots,
            } => self.on_update(node, config_epoch, &slots, out),
            RedisMessage::AuthRequest {
                current_epoch,
                config_epoch,
                master,
                slots,
                force,
            } => self.on_auth_request(
                from,
                current_epoch,
                config_epoch,
                master,
                &slots,
                force,
                out,
            ),
            RedisMessage::AuthAck { epoch } => self.on_auth_ack(from, epoch, out),
            RedisMessage::MfStart => self.on_mf_start(from, out),
            RedisMessage::Psync { replid, offset } => self.on_psync(from, replid, offset, out),
            RedisMessage::FullResync { replid, commands } => {
                self.on_full_resync(from, replid, commands, out)
            }
            RedisMessage::Continue {
                replid,
                from: first,
                commands,
            } => self.on_continue(from, replid, first, commands, out),
            RedisMessage::Stream {
                replid,
                from: first,
                commands,
            } => self.on_stream(from, replid, first, commands, out),
            RedisMessage::ReplAck { offset } => self.on_repl_ack(from, offset, out),
        }
    }
}
