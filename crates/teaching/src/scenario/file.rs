//! The scenario file format: TOML shapes, parsed and validated into a [`Scenario`].
//!
//! Everything is checked before anything runs, and every error names the table it comes
//! from ("step 3 (at 1000 ms, crash): node 7 is not in the cluster"), because scenario
//! files are written by hand, by students. Unknown fields are refused (a typo must not
//! silently change a scenario), and so are fields that mean nothing to a step's action.

mod drops;

use super::spec::{DeliveredIs, Expect, LeaderIs, Scenario, ScenarioError, StateIs, Step};
use super::spec::{RecipeKind, StepAction, Target, MAX_END_MS, MAX_PUT_COUNT};
use protocols::ProtocolKind;
use protocols::{NodeId, RaftTimerReset, Time, Timing};
use serde::Deserialize;
use sim::network::NetConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Parses and validates scenario TOML.
pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    let file: FileScenario =
        toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
    file.validate()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScenario {
    name: String,
    description: Option<String>,
    protocol: Option<String>,
    nodes: u64,
    seed: Option<u64>,
    end_ms: Option<u64>,
    max_batch: Option<usize>,
    backoff: Option<bool>,
    fifo: Option<bool>,
    timing: Option<FileTiming>,
    network: Option<FileNetwork>,
    #[serde(default)]
    history: Vec<FileHistory>,
    #[serde(default)]
    step: Vec<FileStep>,
    #[serde(default)]
    expect: Vec<FileExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTiming {
    heartbeat_ms: Option<u64>,
    election_timeout_min_ms: Option<u64>,
    election_timeout_max_ms: Option<u64>,
    finalize_wait_ms: Option<u64>,
    raft_timer_reset: Option<RaftTimerReset>,
    pre_vote: Option<bool>,
    check_quorum: Option<bool>,
    reads: Option<protocols::ReadPath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNetwork {
    delay_min_ms: Option<f64>,
    delay_max_ms: Option<f64>,
    loss: Option<f64>,
    duplicate: Option<f64>,
    /// A named network profile (or a network file) replacing the uniform delay.
    profile: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHistory {
    node: Option<NodeId>,
    nodes: Option<Vec<NodeId>>,
    entries: Vec<(u64, u64)>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FileTarget {
    Id(NodeId),
    Name(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStep {
    at_ms: u64,
    action: String,
    node: Option<FileTarget>,
    nodes: Option<Vec<FileTarget>>,
    groups: Option<Vec<Vec<NodeId>>>,
    loss: Option<f64>,
    key: Option<String>,
    value: Option<String>,
    count: Option<u64>,
    every_ms: Option<u64>,
    sync_ms: Option<f64>,
    from: Option<drops::FileIds>,
    to: Option<drops::FileIds>,
    kind: Option<String>,
    until_ms: Option<u64>,
    extra_ms: Option<f64>,
    client: Option<String>,
    recipe: Option<String>,
    path: Option<String>,
    hold_ms: Option<u64>,
    protocol: Option<FileProtocols>,
}

/// `protocol = "raft"` or `protocol = ["zab", "paxos"]` on a step or an expectation.
#[derive(Deserialize)]
#[serde(untagged)]
enum FileProtocols {
    One(String),
    Many(Vec<String>),
}

/// The protocols a step or expectation names (empty: all of them).
fn protocols_of(
    p: &Option<FileProtocols>,
    place: &str,
) -> Result<Vec<ProtocolKind>, ScenarioError> {
    let names: Vec<&String> = match p {
        None => return Ok(Vec::new()),
        Some(FileProtocols::One(name)) => vec![name],
        Some(FileProtocols::Many(names)) if !names.is_empty() => names.iter().collect(),
        Some(FileProtocols::Many(_)) => {
            return Err(ScenarioError::Invalid(format!(
                "{place}: protocol = []: name at least one protocol, or leave it out for all"
            )))
        }
    };
    let mut out = Vec::new();
    for name in names {
        let kind = name
            .parse::<ProtocolKind>()
            .map_err(|e| ScenarioError::Invalid(format!("{place}: {e}")))?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FileDelivered {
    All(u64),
    PerNode(BTreeMap<String, u64>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FileTerm {
    Number(u64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileExpect {
    at_ms: u64,
    leader: Option<FileTarget>,
    term: Option<FileTerm>,
    #[serde(default)]
    following: Vec<NodeId>,
    #[serde(default)]
    others_follow: bool,
    #[serde(default)]
    states: BTreeMap<String, String>,
    delivered: Option<FileDelivered>,
    holders: Option<Vec<String>>,
    linearizable: Option<bool>,
    protocol: Option<FileProtocols>,
}

fn ms(at: u64) -> Time {
    Time::ZERO.plus(Duration::from_millis(at))
}

impl FileScenario {
    fn validate(self) -> Result<Scenario, ScenarioError> {
        let invalid = |s: String| ScenarioError::Invalid(s);
        if !(1..=64).contains(&self.nodes) {
            return Err(invalid(format!(
                "nodes = {}: a scenario runs 1 to 64 nodes",
                self.nodes
            )));
        }
        let check_id = |id: NodeId, place: &str| {
            if (1..=self.nodes).contains(&id) {
                Ok(id)
            } else {
                Err(invalid(format!(
                    "{place}: node {id} is not in the cluster (ids are 1..={})",
                    self.nodes
                )))
            }
        };
        let protocol = match &self.protocol {
            Some(p) => Some(
                p.parse::<ProtocolKind>()
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            None => None,
        };
        let timing = self.timing.as_ref().map_or_else(Timing::default, |t| {
            let d = Timing::default();
            let or = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
            Timing {
                heartbeat: or(t.heartbeat_ms, d.heartbeat),
                election_timeout_min: or(t.election_timeout_min_ms, d.election_timeout_min),
                election_timeout_max: or(t.election_timeout_max_ms, d.election_timeout_max),
                finalize_wait: or(t.finalize_wait_ms, d.finalize_wait),
                raft_timer_reset: t.raft_timer_reset.unwrap_or(d.raft_timer_reset),
                pre_vote: t.pre_vote.unwrap_or(d.pre_vote),
                check_quorum: t.check_quorum.unwrap_or(d.check_quorum),
                reads: t.reads.unwrap_or(d.reads),
                ..d
            }
        });
        timing
            .validate()
            .map_err(|e| invalid(format!("[timing]: {e}")))?;
        let net = match &self.network {
            None => NetConfig::default(),
            Some(n) => network(n)?,
        };

        let mut histories = BTreeMap::new();
        for (i, h) in self.history.iter().enumerate() {
            let place = format!("history {}", i + 1);
            let ids: Vec<NodeId> = match (&h.node, &h.nodes) {
                (Some(id), None) => vec![*id],
                (None, Some(ids)) if !ids.is_empty() => ids.clone(),
                _ => {
                    return Err(invalid(format!(
                        "{place}: give exactly one of `node = N` or `nodes = [..]`"
                    )))
                }
            };
            protocols::preload::validate(&h.entries)
                .map_err(|e| invalid(format!("{place}: {e}")))?;
            for id in ids {
                check_id(id, &place)?;
                if histories.insert(id, h.entries.clone()).is_some() {
                    return Err(invalid(format!("{place}: node {id} already has a history")));
                }
            }
        }

        let mut steps = Vec::new();
        let mut puts = 0u64;
        for (i, s) in self.step.iter().enumerate() {
            let place = format!("step {} (at {} ms, {})", i + 1, s.at_ms, s.action);
            let protocols = protocols_of(&s.protocol, &place)?;
            for mut st in step(s, &place, &mut puts, &check_id)? {
                st.protocols.clone_from(&protocols);
                steps.push(st);
            }
        }
        steps.sort_by_key(|s| s.at);

        let mut expects = Vec::new();
        for (i, e) in self.expect.iter().enumerate() {
            let place = format!("expect {} (at {} ms)", i + 1, e.at_ms);
            expects.push(expect(e, &place, &check_id)?);
        }
        expects.sort_by_key(|e| e.at);

        let last = steps
            .iter()
            .map(|s| s.at)
            .chain(expects.iter().map(|e| e.at))
            .max()
            .unwrap_or(Time::ZERO);
        let end = self.end_ms.map_or(last, ms);
        if end > ms(MAX_END_MS) {
            return Err(invalid(format!(
                "the run would last {end}; scenarios stop within {MAX_END_MS} ms of virtual time"
            )));
        }
        if end < last {
            return Err(invalid(format!(
                "end_ms = {}: a step or expectation comes later, at {last}",
                self.end_ms.unwrap_or(0)
            )));
        }
        if self.max_batch == Some(0) {
            return Err(invalid(
                "max_batch = 0: a replication message carries at least one entry".into(),
            ));
        }
        Ok(Scenario {
            name: self.name,
            description: self.description,
            protocol,
            nodes: self.nodes,
            seed: self.seed.unwrap_or(0),
            max_batch: self.max_batch,
            backoff: self.backoff.unwrap_or(true),
            fifo: self.fifo.unwrap_or(false),
            timing,
            net,
            histories,
            steps,
            expects,
            end,
        })
    }
}

fn probability(p: f64, place: &str) -> Result<f64, ScenarioError> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(ScenarioError::Invalid(format!(
            "{place}: {p} is not a probability between 0 and 1"
        )))
    }
}

fn network(n: &FileNetwork) -> Result<NetConfig, ScenarioError> {
    let d = NetConfig::default();
    let delay = |v: Option<f64>, default: Duration, what: &str| match v {
        None => Ok(default),
        Some(ms) if ms.is_finite() && (0.0..=60_000.0).contains(&ms) => {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        Some(ms) => Err(ScenarioError::Invalid(format!(
            "[network]: {what} = {ms} is not between 0 and 60000 ms"
        ))),
    };
    let net = NetConfig {
        delay_min: delay(n.delay_min_ms, d.delay_min, "delay_min_ms")?,
        delay_max: delay(n.delay_max_ms, d.delay_max, "delay_max_ms")?,
        loss: probability(n.loss.unwrap_or(0.0), "[network] loss")?,
        duplicate: probability(n.duplicate.unwrap_or(0.0), "[network] duplicate")?,
        model: match &n.profile {
            None => None,
            Some(spec) => Some(
                netmodel::NetModel::parse_spec(spec)
                    .map_err(|e| ScenarioError::Invalid(format!("[network]: {e}")))?,
            ),
        },
        reorder: false,
    };
    if net.delay_min > net.delay_max {
        return Err(ScenarioError::Invalid(
            "[network]: delay_min_ms is greater than delay_max_ms".into(),
        ));
    }
    Ok(net)
}

fn target(
    t: &FileTarget,
    place: &str,
    check_id: &impl Fn(NodeId, &str) -> Result<NodeId, ScenarioError>,
) -> Result<Target, ScenarioError> {
    match t {
        FileTarget::Id(id) => Ok(Target::Node(check_id(*id, place)?)),
        FileTarget::Name(s) if s == "leader" => Ok(Target::Leader),
        FileTarget::Name(s) => Err(ScenarioError::Invalid(format!(
            "{place}: node {s:?} is neither a node id nor \"leader\""
        ))),
    }
}

fn step(
    s: &FileStep,
    place: &str,
    puts: &mut u64,
    check_id: &impl Fn(NodeId, &str) -> Result<NodeId, ScenarioError>,
) -> Result<Vec<Step>, ScenarioError> {
    let invalid = |what: String| ScenarioError::Invalid(format!("{place}: {what}"));
    let allowed: &[&str] = match s.action.as_str() {
        "start" | "crash" | "restart" => &["node", "nodes"],
        "isolate" => &["node"],
        "slow_disk" => &["node", "sync_ms"],
        "partition" => &["groups"],
        "heal" => &[],
        "transfer" => &["to"],
        "put" => &["node", "key", "value", "count", "every_ms"],
        "get" => &["node", "key"],
        "set_loss" => &["loss"],
        "drop" => &["from", "to", "kind", "until_ms"],
        "stop_drop" | "stop_delay" => &["from", "to", "kind"],
        // Releases held messages (`from`, `to`, `kind`) or a recipe client's lock
        // (`client`).
        "release" => &["from", "to", "kind", "client"],
        "delay" => &["from", "to", "kind", "extra_ms", "until_ms"],
        "hold" => &["from", "to", "kind", "count", "until_ms"],
        "client" => &["client", "recipe", "path", "hold_ms"],
        "crash_client" => &["client"],
        other => {
            return Err(invalid(format!(
                "unknown action {other:?} (start, crash, restart, isolate, slow_disk, partition, heal, transfer, put, get, set_loss, drop, stop_drop, delay, stop_delay, hold, release, client, crash_client)"
            )))
        }
    };
    let given = [
        ("node", s.node.is_some()),
        ("nodes", s.nodes.is_some()),
        ("groups", s.groups.is_some()),
        ("loss", s.loss.is_some()),
        ("key", s.key.is_some()),
        ("value", s.value.is_some()),
        ("count", s.count.is_some()),
        ("every_ms", s.every_ms.is_some()),
        ("sync_ms", s.sync_ms.is_some()),
        ("from", s.from.is_some()),
        ("to", s.to.is_some()),
        ("kind", s.kind.is_some()),
        ("until_ms", s.until_ms.is_some()),
        ("extra_ms", s.extra_ms.is_some()),
        ("client", s.client.is_some()),
        ("recipe", s.recipe.is_some()),
        ("path", s.path.is_some()),
        ("hold_ms", s.hold_ms.is_some()),
    ];
    for (field, set) in given {
        if set && !allowed.contains(&field) {
            return Err(invalid(format!("`{field}` means nothing to this action")));
        }
    }
    let targets = || -> Result<Vec<Target>, ScenarioError> {
        match (&s.node, &s.nodes) {
            (Some(t), None) => Ok(vec![target(t, place, check_id)?]),
            (None, Some(ts)) if !ts.is_empty() => {
                ts.iter().map(|t| target(t, place, check_id)).collect()
            }
            _ => Err(invalid(
                "give exactly one of `node = N` or `nodes = [..]`".into(),
            )),
        }
    };
    let at = ms(s.at_ms);
    let one = |action| {
        Ok(vec![Step {
            at,
            action,
            protocols: Vec::new(),
        }])
    };
    match s.action.as_str() {
        "start" => {
            let mut ids = Vec::new();
            for t in targets()? {
                match t {
                    Target::Node(id) => ids.push(id),
                    Target::Leader => {
                        return Err(invalid("a node that is down cannot be the leader".into()))
                    }
                }
            }
            one(StepAction::Start(ids))
        }
        "crash" => one(StepAction::Crash(targets()?)),
        "restart" => one(StepAction::Restart(targets()?)),
        "isolate" => match targets()?.as_slice() {
            [t] => one(StepAction::Isolate(*t)),
            _ => Err(invalid("isolate takes one `node`".into())),
        },
        "slow_disk" => match (targets()?.as_slice(), s.sync_ms) {
            ([node], Some(ms)) if ms.is_finite() && (0.0..=60_000.0).contains(&ms) => {
                one(StepAction::SlowDisk {
                    node: *node,
                    sync: Duration::from_secs_f64(ms / 1000.0),
                })
            }
            _ => Err(invalid(
                "slow_disk takes one `node` and `sync_ms` between 0 and 60000".into(),
            )),
        },
        "partition" => {
            let groups = s.groups.clone().unwrap_or_default();
            let mut seen = BTreeSet::new();
            for id in groups.iter().flatten() {
                check_id(*id, place)?;
                if !seen.insert(*id) {
                    return Err(invalid(format!("node {id} is in two groups")));
                }
            }
            if groups.len() < 2 {
                return Err(invalid(
                    "a partition needs `groups` with at least two groups".into(),
                ));
            }
            one(StepAction::Partition(groups))
        }
        "heal" => one(StepAction::Heal),
        "transfer" => match &s.to {
            Some(drops::FileIds::One(id)) => one(StepAction::Transfer {
                to: check_id(*id, place)?,
            }),
            _ => Err(invalid("transfer takes one node id: `to = N`".into())),
        },
        "set_loss" => match s.loss {
            Some(p) => one(StepAction::SetLoss(probability(p, place)?)),
            None => Err(invalid("set_loss needs `loss`".into())),
        },
        "drop" | "stop_drop" | "delay" | "stop_delay" | "hold" => drops::steps(s, place, check_id),
        "release" if s.client.is_none() => drops::steps(s, place, check_id),
        "client" | "crash_client" | "release" => {
            if s.from.is_some() || s.to.is_some() || s.kind.is_some() {
                return Err(invalid(
                    "release takes `client` (a recipe client's lock) or `from`/`to`/`kind` \
                     (held messages), not both"
                        .into(),
                ));
            }
            let Some(name) = s.client.clone().filter(|n| !n.is_empty()) else {
                return Err(invalid(format!("{} needs `client` (its name)", s.action)));
            };
            match s.action.as_str() {
                "crash_client" => one(StepAction::CrashClient(name)),
                "release" => one(StepAction::ReleaseClient(name)),
                _ => {
                    let names: Vec<&str> = RecipeKind::ALL.iter().map(|(n, _)| *n).collect();
                    let recipe = s
                        .recipe
                        .as_deref()
                        .and_then(|r| RecipeKind::ALL.iter().find(|(n, _)| *n == r))
                        .map(|(_, k)| *k)
                        .ok_or_else(|| {
                            invalid(format!(
                                "client needs `recipe`, one of {}",
                                names.join(", ")
                            ))
                        })?;
                    let path = s.path.clone().unwrap_or_else(|| "/lock".into());
                    if znode::path::validate(&path).is_err() {
                        return Err(invalid(format!("path {path:?} is not a znode path")));
                    }
                    one(StepAction::Client {
                        name,
                        recipe,
                        path,
                        hold: s.hold_ms.map(Duration::from_millis),
                    })
                }
            }
        }
        "get" => {
            let node = match &s.node {
                Some(t) => target(t, place, check_id)?,
                None => return Err(invalid("get needs `node` (an id or \"leader\")".into())),
            };
            let Some(key) = s.key.clone() else {
                return Err(invalid("get needs `key`".into()));
            };
            one(StepAction::Get { node, key })
        }
        _ => {
            let node = match &s.node {
                Some(t) => target(t, place, check_id)?,
                None => return Err(invalid("put needs `node` (an id or \"leader\")".into())),
            };
            let count = s.count.unwrap_or(1);
            if !(1..=MAX_PUT_COUNT).contains(&count) {
                return Err(invalid(format!("count must be 1..={MAX_PUT_COUNT}")));
            }
            let every = s.every_ms.unwrap_or(10);
            let key = s.key.as_deref().unwrap_or("k{n}");
            let value = s.value.as_deref().unwrap_or("v{n}");
            let mut out = Vec::new();
            for i in 0..count {
                *puts += 1;
                let n = puts.to_string();
                out.push(Step {
                    at: at.plus(Duration::from_millis(every.saturating_mul(i))),
                    action: StepAction::Put {
                        node,
                        key: key.replace("{n}", &n),
                        value: value.replace("{n}", &n),
                    },
                    protocols: Vec::new(),
                });
            }
            Ok(out)
        }
    }
}

fn state(name: &str) -> Option<StateIs> {
    Some(match name.to_ascii_lowercase().as_str() {
        "down" => StateIs::Down,
        "up" => StateIs::Up,
        "leader" | "leading" => StateIs::Leader,
        "follower" | "following" => StateIs::Follower,
        "candidate" | "looking" => StateIs::Electing,
        "observer" | "observing" => StateIs::Observer,
        _ => return None,
    })
}

fn expect(
    e: &FileExpect,
    place: &str,
    check_id: &impl Fn(NodeId, &str) -> Result<NodeId, ScenarioError>,
) -> Result<Expect, ScenarioError> {
    let invalid = |what: String| ScenarioError::Invalid(format!("{place}: {what}"));
    let node_key = |k: &str| -> Result<NodeId, ScenarioError> {
        let id = k
            .trim()
            .parse::<NodeId>()
            .map_err(|_| invalid(format!("{k:?} is not a node id")))?;
        check_id(id, place)
    };
    let leader = match &e.leader {
        None => None,
        Some(FileTarget::Id(id)) => Some(LeaderIs::Node(check_id(*id, place)?)),
        Some(FileTarget::Name(s)) => Some(match s.as_str() {
            "any" => LeaderIs::Any,
            "none" => LeaderIs::Nobody,
            "changed" => LeaderIs::Changed,
            other => {
                return Err(invalid(format!(
                    "leader = {other:?}: give a node id, \"any\", \"none\" or \"changed\""
                )))
            }
        }),
    };
    let mut states = BTreeMap::new();
    for (k, v) in &e.states {
        let s = state(v).ok_or_else(|| {
            invalid(format!(
                "state {v:?}: use down, up, leader, follower, candidate, looking, following, leading or observing"
            ))
        })?;
        states.insert(node_key(k)?, s);
    }
    let following = e
        .following
        .iter()
        .map(|&id| check_id(id, place))
        .collect::<Result<Vec<_>, _>>()?;
    let delivered = match &e.delivered {
        None => None,
        Some(FileDelivered::All(n)) => Some(DeliveredIs::All(*n)),
        Some(FileDelivered::PerNode(m)) => {
            let mut per = BTreeMap::new();
            for (k, n) in m {
                per.insert(node_key(k)?, *n);
            }
            Some(DeliveredIs::PerNode(per))
        }
    };
    let term = e.term.as_ref().map(|t| match t {
        FileTerm::Number(n) => n.to_string(),
        FileTerm::Text(s) => s.clone(),
    });
    if leader.is_none()
        && term.is_none()
        && following.is_empty()
        && !e.others_follow
        && states.is_empty()
        && delivered.is_none()
        && e.holders.is_none()
        && e.linearizable.is_none()
    {
        return Err(invalid("an expectation that checks nothing".into()));
    }
    Ok(Expect {
        at: ms(e.at_ms),
        leader,
        term,
        following,
        others_follow: e.others_follow,
        states,
        delivered,
        holders: e.holders.clone(),
        linearizable: e.linearizable,
        protocols: protocols_of(&e.protocol, place)?,
    })
}
