//! Replay mode: a teaching scenario (or a seed's plain run) on the deterministic
//! simulator, stepped through on the page.
//!
//! The page holds a cursor, a virtual instant. The state at an instant is the state of
//! the scenario run up to it ([`teaching::scenario::run`] with every step after it
//! left out and the end moved to it): the simulator is deterministic, so going back is
//! running again to an earlier instant. A fault or a client write injected at the
//! paused instant is one more step of the scenario from then on; the run after it is
//! the run with that step. One scenario can run with one protocol or with all three,
//! side by side at the same instant.

use crate::access::{self, Access};
use crate::model::{self, NodeJson, Words};
use crate::ServeError;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use drivers::console::{self, Command};
use drivers::with_protocol;
use protocols::{Event, NodeId, ProtocolKind, Time};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use teaching::scenario::run::{Item, ItemKind};
use teaching::scenario::spec::{Step, StepAction, Target};
use teaching::scenario::{self, Scenario, ScenarioError, Scripted, TextOptions};

/// Timeline lines sent with a state (the newest).
pub const LINES: usize = 300;

/// Log entries shown per node.
pub const LOG_SHOWN: usize = 40;

/// How long past its last injected step a scenario runs at least (ns).
const AFTER_INJECTED_NS: u64 = 2_000_000_000;

/// What replay mode starts with.
pub struct ReplayOptions {
    /// The scenario.
    pub scenario: Scenario,
    /// Its file name, if it came from one.
    pub name: String,
    /// Where the page's scenario picker looks for more (`*.toml`).
    pub dir: Option<PathBuf>,
    /// The protocols to run it with, side by side.
    pub protocols: Vec<ProtocolKind>,
}

struct Replay {
    base: Scenario,
    name: String,
    dir: Option<PathBuf>,
    protocols: Vec<ProtocolKind>,
    injected: Vec<Step>,
}

type Shared = Arc<Mutex<Replay>>;

fn lock(r: &Shared) -> MutexGuard<'_, Replay> {
    // Every update is a single assignment or push: a poisoned lock is still consistent.
    r.lock().unwrap_or_else(|p| p.into_inner())
}

impl Replay {
    /// The scenario with the injected steps, run to `until` (or to its end).
    fn effective(&self, until: Option<Time>) -> Scenario {
        let mut s = self.base.clone();
        s.steps.extend(self.injected.iter().cloned());
        s.steps.sort_by_key(|step| step.at);
        match until {
            Some(t) => {
                s.steps.retain(|step| step.at <= t);
                s.expects.retain(|e| e.at <= t);
                s.end = t;
            }
            None => {
                if let Some(last) = self.injected.iter().map(|step| step.at).max() {
                    s.end = s.end.max(Time(last.0.saturating_add(AFTER_INJECTED_NS)));
                }
            }
        }
        s
    }

    fn scenarios(&self) -> Vec<String> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        names.sort();
        names
    }
}

/// One protocol's run to an instant, for the page.
fn panel<P: Scripted>(scenario: &Scenario, at: Option<Time>) -> Result<Value, ScenarioError> {
    let outcome = scenario::run::<P>(scenario)?;
    let v = P::vocabulary();
    let sim = &outcome.sim;
    let ids: Vec<NodeId> = sim.ids();
    let nodes: Vec<NodeJson> = ids
        .iter()
        .map(|&id| {
            let mut n = match sim.node(id) {
                Some(p) => {
                    let log = p.log_view();
                    model::node_json(
                        id,
                        &protocols::Protocol::status(p),
                        model::tail(&log, LOG_SHOWN),
                        log.len(),
                        p.vote(),
                        &v,
                    )
                }
                None => model::down_json(id),
            };
            n.isolated = ids.len() > 1
                && ids
                    .iter()
                    .all(|&o| o == id || !sim.network().connected(id, o));
            n
        })
        .collect();
    let opts = TextOptions::default();
    let lines: Vec<Value> = outcome
        .timeline
        .iter()
        .filter_map(|item| {
            scenario::item_text(&outcome, item, opts).map(|text| {
                json!({"at_ns": item.at.0, "text": format!("[{:>12}] {text}", item.at.to_string())})
            })
        })
        .collect();
    let lines = &lines[lines.len().saturating_sub(LINES)..];
    let arrivals: Vec<Value> = outcome
        .timeline
        .iter()
        .filter(|item| Some(item.at) == at)
        .filter_map(|item| match &item.kind {
            ItemKind::Message(m) => {
                Some(json!({"from": m.from, "to": m.to, "kind": m.kind, "count": 1}))
            }
            _ => None,
        })
        .collect();
    let leader = nodes
        .iter()
        .filter(|n| n.kind == "leader")
        .max_by_key(|n| n.term.clone())
        .map(|n| n.id);
    Ok(json!({
        "words": Words::of::<P>(),
        "nodes": nodes,
        "leader": leader,
        "lines": lines,
        "arrivals": arrivals,
        "problems": outcome.problems,
    }))
}

/// Every instant the timeline has something at, and the elections, of one full run.
fn instants<P: Scripted>(scenario: &Scenario) -> Result<(Vec<u64>, Vec<u64>), ScenarioError> {
    let outcome = scenario::run::<P>(scenario)?;
    let times = outcome.timeline.iter().map(|i: &Item| i.at.0).collect();
    let elections = outcome
        .timeline
        .iter()
        .filter(|i| {
            matches!(
                i.kind,
                ItemKind::Event {
                    event: Event::LeaderElected { .. },
                    ..
                }
            )
        })
        .map(|i| i.at.0)
        .collect();
    Ok((times, elections))
}

fn overview(r: &Replay) -> Result<Value, ScenarioError> {
    let s = r.effective(None);
    let mut times = BTreeSet::new();
    let mut elections = BTreeSet::new();
    for &kind in &r.protocols {
        let (t, e) = with_protocol!(kind, P => instants::<P>(&s))?;
        times.extend(t);
        elections.extend(e);
    }
    times.insert(0);
    let injected: Vec<Value> = r
        .injected
        .iter()
        .map(|step| json!({"at_ns": step.at.0, "text": format!("{:?}", step.action)}))
        .collect();
    Ok(json!({
        "mode": "replay",
        "name": r.name,
        "title": r.base.name,
        "description": r.base.description,
        "nodes": r.base.nodes,
        "protocols": r.protocols,
        "end_ns": s.end.0,
        "times": times.into_iter().collect::<Vec<_>>(),
        "elections": elections.into_iter().collect::<Vec<_>>(),
        "injected": injected,
        "scenarios": r.scenarios(),
    }))
}

fn at(r: &Replay, t: Time) -> Result<Value, ScenarioError> {
    let s = r.effective(Some(t));
    let mut panels = Vec::new();
    for &kind in &r.protocols {
        panels.push(with_protocol!(kind, P => panel::<P>(&s, Some(t)))?);
    }
    Ok(json!({"t_ns": t.0, "panels": panels}))
}

/// A page command as a scenario step at `t` (the commands the simulator can carry out).
fn step_of(cmd: Command, at: Time) -> Result<Step, String> {
    let action = match cmd {
        Command::Kill(id) => StepAction::Crash(vec![Target::Node(id)]),
        Command::KillLeader => StepAction::Crash(vec![Target::Leader]),
        Command::Restart(id) => StepAction::Start(vec![id]),
        Command::Isolate(id) => StepAction::Isolate(Target::Node(id)),
        Command::IsolateLeader => StepAction::Isolate(Target::Leader),
        Command::Partition(groups) => StepAction::Partition(groups),
        Command::Heal => StepAction::Heal,
        Command::Transfer(to) => StepAction::Transfer { to },
        Command::Loss(p) => StepAction::SetLoss(p),
        Command::Put(key, value) => StepAction::Put {
            node: Target::Leader,
            key,
            value,
        },
        other => return Err(format!("{other:?} cannot be injected into a simulation")),
    };
    Ok(Step {
        at,
        action,
        protocols: Vec::new(),
    })
}

fn bad(e: impl ToString) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"ok": false, "lines": [e.to_string()]})),
    )
        .into_response()
}

async fn blocking(r: Shared, f: fn(&Replay) -> Result<Value, ScenarioError>) -> Response {
    match tokio::task::spawn_blocking(move || f(&lock(&r))).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => bad(e),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn get_overview(State(r): State<Shared>) -> Response {
    blocking(r, overview).await
}

#[derive(Deserialize)]
struct AtQuery {
    t_ns: u64,
}

async fn get_at(State(r): State<Shared>, Query(q): Query<AtQuery>) -> Response {
    let t = Time(q.t_ns);
    match tokio::task::spawn_blocking(move || at(&lock(&r), t)).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => bad(e),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct InjectBody {
    command: String,
    t_ns: u64,
}

async fn inject(State(r): State<Shared>, Json(body): Json<InjectBody>) -> Response {
    let cmd = match console::parse(&body.command) {
        Ok(Some(cmd)) => cmd,
        Ok(None) => return bad("an empty command"),
        Err(usage) => return bad(usage),
    };
    match step_of(cmd, Time(body.t_ns)) {
        Ok(step) => {
            lock(&r).injected.push(step);
            Json(json!({"ok": true})).into_response()
        }
        Err(e) => bad(e),
    }
}

async fn reset(State(r): State<Shared>) -> Response {
    lock(&r).injected.clear();
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct LoadBody {
    name: String,
}

async fn load(State(r): State<Shared>, Json(body): Json<LoadBody>) -> Response {
    let path = {
        let g = lock(&r);
        // Only a name the picker listed: no path may leave the directory.
        if !g.scenarios().contains(&body.name) {
            return bad(format!("no scenario {:?} here", body.name));
        }
        g.dir.as_ref().map(|d| d.join(&body.name))
    };
    let Some(path) = path else {
        return bad("no scenario directory");
    };
    match tokio::task::spawn_blocking(move || Scenario::load(&path)).await {
        Ok(Ok(s)) => {
            let mut g = lock(&r);
            g.base = s;
            g.name = body.name;
            g.injected.clear();
            Json(json!({"ok": true})).into_response()
        }
        Ok(Err(e)) => bad(e),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct ProtocolsBody {
    protocols: Vec<ProtocolKind>,
}

async fn set_protocols(State(r): State<Shared>, Json(body): Json<ProtocolsBody>) -> Response {
    let mut kinds = body.protocols;
    kinds.dedup();
    if kinds.is_empty() || kinds.len() > 3 {
        return bad("one to three protocols");
    }
    lock(&r).protocols = kinds;
    Json(json!({"ok": true})).into_response()
}

/// A scenario that starts `nodes` voters at once and runs `end_ms` with `seed`: what
/// `cwb serve --sim --seed N` steps through.
pub fn seed_scenario(nodes: u64, seed: u64, end_ms: u64) -> Result<Scenario, ScenarioError> {
    let ids: Vec<String> = (1..=nodes).map(|i| i.to_string()).collect();
    Scenario::parse(&format!(
        "name = \"seed {seed}: {nodes} nodes started at once\"\nnodes = {nodes}\nseed = {seed}\nend_ms = {end_ms}\n\n[[step]]\nat_ms = 0\naction = \"start\"\nnodes = [{}]\n",
        ids.join(", ")
    ))
}

/// Serves the replay page on `listener`.
pub fn serve(
    opts: ReplayOptions,
    listener: tokio::net::TcpListener,
    access: Access,
) -> Result<crate::live::Server, ServeError> {
    let shared: Shared = Arc::new(Mutex::new(Replay {
        base: opts.scenario,
        name: opts.name,
        dir: opts.dir,
        protocols: opts.protocols,
        injected: Vec::new(),
    }));
    let router = Router::new()
        .route(
            "/api/mode",
            get(|| async { Json(json!({"mode": "replay"})) }),
        )
        .route("/api/replay", get(get_overview))
        .route("/api/replay/at", get(get_at))
        .route("/api/replay/inject", post(inject))
        .route("/api/replay/reset", post(reset))
        .route("/api/replay/load", post(load))
        .route("/api/replay/protocols", post(set_protocols))
        .layer(axum::middleware::from_fn(move |req, next| {
            access::require(access.clone(), req, next)
        }))
        .with_state(shared)
        .merge(crate::assets::routes());
    crate::live::spawn_server(listener, router, async {})
}
