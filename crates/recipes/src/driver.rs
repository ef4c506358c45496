//! Simulated clients running recipes against a simulated cluster of any protocol.
//!
//! Each client opens a session (`OpenSession`, its id is the session id), then runs
//! its recipe one operation at a time. It talks to the node that leads (the protocols
//! take commands only there, so its watches live there): when that node is down or no
//! longer leads, or an answer is overdue, it moves to the leader it finds and resends
//! its outstanding command with the same number (answered from the session's memory
//! if it committed already), and tells the recipe, which checks again what its lost
//! watches were waiting for. It sends a heartbeat every third of its session timeout.
//! A crashed client falls silent: the leader expires its session and the expiry
//! deletes its ephemeral nodes, which hands its lock on. A paused client (a long
//! garbage-collection pause, a stopped process) falls silent for a while and then
//! carries on from where it was, before it reads what arrived meanwhile: it may still
//! believe it holds a lock its expired session lost (what fencing tokens are for).

use crate::check::{Checker, Grant};
use bytes::Bytes;
use kv::{Session, StateMachineKind};
use protocols::{NodeId, Protocol, RequestId, Time};
use sim::{Delivered, SimConfig, Simulation};
use std::collections::VecDeque;
use std::time::Duration;
use znode::recipes::{Next, Recipe, Standing};
use znode::{WatchEvent, ZAnswer, ZCommand, ZOp};

/// How often the driver looks at the clients (virtual time).
pub const TICK: Duration = Duration::from_millis(5);

/// An answer later than this is given up on: the client moves or resends.
pub const OVERDUE: Duration = Duration::from_millis(300);

/// A command a client waits for.
#[derive(Debug, Clone)]
struct Outstanding {
    id: RequestId,
    node: NodeId,
    data: Bytes,
    sent: Time,
}

/// One simulated client.
pub struct Client {
    /// Its session id (also its client id).
    pub session: u64,
    /// Its name in narration.
    pub name: String,
    seq: u64,
    node: Option<NodeId>,
    /// The incarnation of `node` it connected to: a restart there broke the
    /// connection (and lost its watches), as a move does.
    incarnation: Option<u64>,
    recipe: Box<dyn Recipe>,
    opened: bool,
    outstanding: Option<Outstanding>,
    queue: VecDeque<ZOp>,
    crashed: bool,
    last_touch: Time,
    /// How long it holds before releasing (`None`: until it crashes).
    hold: Option<Duration>,
    /// When it got what it asked for.
    pub held_since: Option<Time>,
    /// When it released it.
    pub released_at: Option<Time>,
    /// The node it watched last (narration).
    watched: Option<String>,
    /// Paused: it sends nothing, and what reaches it waits in `inbox`.
    paused: bool,
    inbox: Vec<sim::Delivery>,
    /// Sessions it opened before this one.
    generation: u64,
}

/// A simulated cluster with recipe clients ([`Clients`]) on it.
pub struct Driver<P: Protocol> {
    /// The simulated cluster (running the znode tree).
    pub sim: Simulation<P>,
    /// The clients and their checks.
    pub state: Clients,
}

impl<P: Protocol> std::ops::Deref for Driver<P> {
    type Target = Clients;
    fn deref(&self) -> &Clients {
        &self.state
    }
}

impl<P: Protocol> std::ops::DerefMut for Driver<P> {
    fn deref_mut(&mut self) -> &mut Clients {
        &mut self.state
    }
}

/// The recipe clients, the checks, the narration: everything but the cluster, so that
/// another host of a simulation (a teaching scenario) can drive them
/// ([`Clients::tick`] every [`TICK`]).
pub struct Clients {
    /// The clients, by index.
    pub clients: Vec<Client>,
    /// Session timeout of every client.
    pub timeout_ms: u32,
    /// The checks of every grant.
    pub checker: Checker,
    /// Narration: one line per thing a person would want to see.
    pub narration: Vec<String>,
    /// Watch notifications delivered to live clients.
    pub notifications: u64,
    /// Notifications delivered to each client.
    pub notified: Vec<u64>,
    /// The narration with each line's time apart (for a host's own timeline).
    pub log: Vec<(Time, String)>,
    /// The node whose `LeaderReady` came last, and how many of the simulation's
    /// events were read to know it ([`Clients::serving_leader`]).
    ready: Option<NodeId>,
    events_read: usize,
}

impl Client {
    /// The node it watches now (predecessor recipes), if any.
    pub fn node_watched(&self) -> Option<&str> {
        self.watched.as_deref()
    }

    /// Whether its recipe holds, or waits with nothing left to send (it queued and
    /// set its watch).
    pub fn queued(&self) -> bool {
        self.opened && self.outstanding.is_none() && self.queue.is_empty()
    }

    /// Whether it is paused ([`Driver::pause_client`]).
    pub fn paused(&self) -> bool {
        self.paused
    }
}

impl<P: Protocol> Driver<P> {
    /// A cluster from `config` running the znode tree, started, with a leader ready.
    pub fn new(config: SimConfig, timeout_ms: u32) -> Result<Driver<P>, String> {
        let mut sim = Simulation::<P>::new(config);
        sim.set_state_machine(StateMachineKind::Znode);
        sim.start_all().map_err(|v| v.to_string())?;
        sim.run_until_ready(Duration::from_secs(30))
            .map_err(|v| v.to_string())?
            .ok_or("no leader within 30 s")?;
        Ok(Driver::over(sim, timeout_ms))
    }

    /// Clients over `sim` as it is (the caller set the znode tree, scheduled faults
    /// and started the nodes).
    pub fn over(sim: Simulation<P>, timeout_ms: u32) -> Driver<P> {
        Driver {
            sim,
            state: Clients::new(timeout_ms),
        }
    }

    /// Runs for `d`, driving the clients every [`TICK`].
    pub fn run_for(&mut self, d: Duration) -> Result<(), String> {
        let until = self.sim.now().plus(d);
        while self.sim.now() < until {
            self.sim.run_for(TICK).map_err(|v| v.to_string())?;
            self.state.tick(&mut self.sim)?;
        }
        Ok(())
    }

    /// Runs until `pred` holds or `limit` passes; whether it held.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&Driver<P>) -> bool,
    ) -> Result<bool, String> {
        let until = self.sim.now().plus(limit);
        while self.sim.now() < until {
            if pred(self) {
                return Ok(true);
            }
            self.run_for(TICK)?;
        }
        Ok(pred(self))
    }

    /// See [`Clients::add`].
    pub fn add(&mut self, name: &str, recipe: Box<dyn Recipe>, hold: Option<Duration>) -> usize {
        self.state.add(&mut self.sim, name, recipe, hold)
    }

    /// See [`Clients::restart_client`].
    pub fn restart_client(&mut self, i: usize, recipe: Box<dyn Recipe>) {
        self.state.restart_client(&mut self.sim, i, recipe)
    }

    /// See [`Clients::pause_client`].
    pub fn pause_client(&mut self, i: usize) {
        self.state.pause_client(&mut self.sim, i)
    }

    /// See [`Clients::resume_client`].
    pub fn resume_client(&mut self, i: usize) -> Result<(), String> {
        self.state.resume_client(&mut self.sim, i)
    }

    /// See [`Clients::crash_client`].
    pub fn crash_client(&mut self, i: usize) {
        self.state.crash_client(&mut self.sim, i)
    }

    /// See [`Clients::release_now`].
    pub fn release_now(&mut self, i: usize) {
        self.state.release_now(&mut self.sim, i)
    }

    /// See [`Clients::crash_leader`].
    pub fn crash_leader(&mut self) -> Result<Option<NodeId>, String> {
        self.state.crash_leader(&mut self.sim)
    }

    /// See [`Clients::leader`].
    pub fn leader(&self) -> Option<NodeId> {
        self.state.leader(&self.sim)
    }

    /// See [`Clients::note_watch`].
    pub fn note_watch(&mut self, i: usize, watched: Option<String>) {
        self.state.note_watch(&mut self.sim, i, watched)
    }
}

impl Clients {
    /// No clients yet; every session will time out after `timeout_ms`.
    pub fn new(timeout_ms: u32) -> Clients {
        Clients {
            clients: Vec::new(),
            timeout_ms,
            checker: Checker::default(),
            narration: Vec::new(),
            notifications: 0,
            notified: Vec::new(),
            log: Vec::new(),
            ready: None,
            events_read: 0,
        }
    }

    /// One look at every client: hand it what arrived, then let it send.
    pub fn tick<P: Protocol>(&mut self, sim: &mut Simulation<P>) -> Result<(), String> {
        let events = sim.events();
        if let Some(e) = events
            .get(self.events_read..)
            .unwrap_or_default()
            .iter()
            .rev()
            .find(|e| matches!(e.event, protocols::Event::LeaderReady { .. }))
        {
            self.ready = Some(e.node);
        }
        self.events_read = events.len();
        self.take_deliveries(sim)?;
        for i in 0..self.clients.len() {
            self.drive(sim, i)?;
        }
        Ok(())
    }

    /// Adds a client running `recipe`, holding what it gets for `hold` (`None`: until
    /// it crashes); returns its index.
    pub fn add<P: Protocol>(
        &mut self,
        sim: &mut Simulation<P>,
        name: &str,
        recipe: Box<dyn Recipe>,
        hold: Option<Duration>,
    ) -> usize {
        let i = self.clients.len();
        let mut queue = VecDeque::new();
        queue.push_back(ZOp::OpenSession {
            timeout_ms: self.timeout_ms,
        });
        self.clients.push(Client {
            session: 0x5e55_0000 + i as u64 + 1,
            name: name.into(),
            seq: 0,
            node: None,
            incarnation: None,
            recipe,
            opened: false,
            outstanding: None,
            queue,
            crashed: false,
            last_touch: sim.now(),
            hold,
            held_since: None,
            released_at: None,
            watched: None,
            paused: false,
            inbox: Vec::new(),
            generation: 0,
        });
        self.notified.push(0);
        i
    }

    /// Client `i` starts over with a new session running `recipe` (after its session
    /// ended, or to take the lock again after releasing it).
    pub fn restart_client<P: Protocol>(
        &mut self,
        sim: &mut Simulation<P>,
        i: usize,
        recipe: Box<dyn Recipe>,
    ) {
        let now = sim.now();
        let timeout_ms = self.timeout_ms;
        let c = &mut self.clients[i];
        c.generation += 1;
        c.session = 0x5e55_0000 + (c.generation << 16) + i as u64 + 1;
        c.seq = 0;
        c.recipe = recipe;
        c.opened = false;
        c.outstanding = None;
        c.queue = VecDeque::from([ZOp::OpenSession { timeout_ms }]);
        c.last_touch = now;
        c.held_since = None;
        c.released_at = None;
        c.watched = None;
        c.inbox.clear();
        let line = format!("{} starts over with a new session", c.name);
        self.say(sim, line);
    }

    /// Client `i` pauses: it sends nothing (no heartbeats either) and reads nothing
    /// until [`Self::resume_client`].
    pub fn pause_client<P: Protocol>(&mut self, sim: &mut Simulation<P>, i: usize) {
        if let Some(c) = self.clients.get_mut(i) {
            c.paused = true;
            let line = format!("{} pauses", c.name);
            self.say(sim, line);
        }
    }

    /// Client `i` carries on: first it reads what reached it meanwhile.
    pub fn resume_client<P: Protocol>(
        &mut self,
        sim: &mut Simulation<P>,
        i: usize,
    ) -> Result<(), String> {
        let Some(c) = self.clients.get_mut(i) else {
            return Ok(());
        };
        c.paused = false;
        let inbox = std::mem::take(&mut c.inbox);
        let line = format!("{} resumes", c.name);
        self.say(sim, line);
        for d in inbox {
            self.deliver(sim, d)?;
        }
        Ok(())
    }

    /// Client `i` crashes: it sends nothing more.
    pub fn crash_client<P: Protocol>(&mut self, sim: &mut Simulation<P>, i: usize) {
        if let Some(c) = self.clients.get_mut(i) {
            c.crashed = true;
            let line = format!("{} crashes (its session will expire)", c.name);
            self.say(sim, line);
        }
    }

    /// Client `i` gives back what it holds now (if it holds anything).
    pub fn release_now<P: Protocol>(&mut self, sim: &mut Simulation<P>, i: usize) {
        let now = sim.now();
        let c = &mut self.clients[i];
        if let Some(op) = c.recipe.release() {
            c.released_at = Some(now);
            c.queue.push_back(op);
            let name = c.name.clone();
            self.checker.on_release(i);
            self.say(sim, format!("{name} releases"));
        }
    }

    /// Crashes the consensus leader node now; returns it.
    pub fn crash_leader<P: Protocol>(
        &mut self,
        sim: &mut Simulation<P>,
    ) -> Result<Option<NodeId>, String> {
        let Some(l) = self.leader(sim) else {
            return Ok(None);
        };
        sim.act(sim::Action::Crash(l)).map_err(|v| v.to_string())?;
        self.say(sim, format!("the consensus leader n{l} crashes"));
        Ok(Some(l))
    }

    /// The node that leads now and runs, if any.
    pub fn leader<P: Protocol>(&self, sim: &Simulation<P>) -> Option<NodeId> {
        sim.running()
            .into_iter()
            .find(|&id| sim.node(id).is_some_and(|p| p.status().role.is_leader()))
    }

    /// The node a client moves to: the leader that became ready to commit last (its
    /// `LeaderReady`), if it still runs and leads. A node leads before it can take
    /// commands (ZAB: from the FastLeaderElection decision until Discovery and
    /// Synchronization establish it); a command sent to it then is refused, the
    /// simulator hands refusals to no client, and the client would wait [`OVERDUE`]
    /// for nothing: a fixed 300 ms that measured nothing of the protocol.
    pub fn serving_leader<P: Protocol>(&self, sim: &Simulation<P>) -> Option<NodeId> {
        let l = self.ready?;
        let leads = sim.node(l).is_some_and(|p| p.status().role.is_leader());
        (leads && sim.running().contains(&l)).then_some(l)
    }

    fn say<P: Protocol>(&mut self, sim: &mut Simulation<P>, line: String) {
        let at = sim.now();
        self.narration
            .push(format!("[{:>10}] {line}", at.to_string()));
        self.log.push((at, line));
    }

    /// Hands every answer and notification to its client.
    fn take_deliveries<P: Protocol>(&mut self, sim: &mut Simulation<P>) -> Result<(), String> {
        for d in sim.take_deliveries() {
            self.deliver(sim, d)?;
        }
        Ok(())
    }

    /// Hands one answer or notification to its client (into its inbox if paused).
    fn deliver<P: Protocol>(
        &mut self,
        sim: &mut Simulation<P>,
        d: sim::Delivery,
    ) -> Result<(), String> {
        match &d.what {
            Delivered::Answer { id, answer } => {
                let Some(i) = self
                    .clients
                    .iter()
                    .position(|c| c.outstanding.as_ref().is_some_and(|o| o.id == *id))
                else {
                    return Ok(());
                };
                if self.clients[i].paused {
                    self.clients[i].inbox.push(d);
                    return Ok(());
                }
                self.clients[i].outstanding = None;
                let Some(answer) = answer.as_deref().and_then(ZAnswer::decode) else {
                    return Ok(());
                };
                self.on_answer(sim, i, &answer)?;
            }
            Delivered::Notification { client, data } => {
                let Some(i) = self
                    .clients
                    .iter()
                    .position(|c| c.session == *client && !c.crashed && c.node == Some(d.node))
                else {
                    return Ok(());
                };
                if self.clients[i].paused {
                    self.clients[i].inbox.push(d);
                    return Ok(());
                }
                let Some(event) = WatchEvent::decode(data) else {
                    return Ok(());
                };
                self.notifications += 1;
                self.notified[i] += 1;
                let line = format!(
                    "{} is notified: {:?} {}",
                    self.clients[i].name, event.kind, event.path
                );
                self.say(sim, line);
                let next = self.clients[i].recipe.on_event(&event);
                self.follow(sim, i, next)?;
            }
        }
        Ok(())
    }

    fn on_answer<P: Protocol>(
        &mut self,
        sim: &mut Simulation<P>,
        i: usize,
        answer: &ZAnswer,
    ) -> Result<(), String> {
        let c = &mut self.clients[i];
        if !c.opened {
            c.opened = true;
            let op = c.recipe.start();
            c.queue.push_back(op);
            let line = format!("{} opened session {:#x}", c.name, c.session);
            self.say(sim, line);
            return Ok(());
        }
        if let ZAnswer::Created { path, stat } = answer {
            let kind = if stat.ephemeral_owner != 0 {
                "ephemeral node"
            } else {
                "node"
            };
            let line = format!(
                "{} created {kind} {path} (creation index {})",
                self.clients[i].name, stat.czxid
            );
            self.say(sim, line);
        }
        if let ZAnswer::Children { children, .. } = answer {
            let shown = if children.is_empty() {
                "nothing".to_string()
            } else {
                children.join(", ")
            };
            let line = format!("{} lists {shown}", self.clients[i].name);
            self.say(sim, line);
        }
        let c = &mut self.clients[i];
        let next = c.recipe.on_answer(answer);
        self.follow(sim, i, next)
    }

    /// Queues what the recipe asked for and notes what changed.
    fn follow<P: Protocol>(
        &mut self,
        sim: &mut Simulation<P>,
        i: usize,
        next: Next,
    ) -> Result<(), String> {
        if let Next::Send(op) = next {
            self.clients[i].queue.push_back(op);
        }
        let watched = self.clients[i].recipe.watched();
        self.note_watch(sim, i, watched);
        let standing = self.clients[i].recipe.standing();
        if let (Standing::Held { token, node }, None) = (&standing, self.clients[i].held_since) {
            let at = sim.now();
            self.clients[i].held_since = Some(at);
            // Checked against the replica that applied the most: what the cluster
            // committed by now, whichever replica answered (an answer read late, after
            // a pause, or a lagging replica's tree would hide what changed since).
            let on = sim
                .running()
                .into_iter()
                .max_by_key(|&id| sim.applied(id).len())
                .unwrap_or_default();
            let name = &self.clients[i].name;
            let line = if znode::path::name(node).starts_with("instance-") {
                format!("{name} is registered as {node}")
            } else {
                format!("{name} holds {node} (fencing token {token})")
            };
            self.say(sim, line);
            let grant = Grant {
                client: i,
                token: *token,
                node: node.clone(),
                at,
            };
            let tree = sim.state_machine(on);
            self.checker.on_grant(grant, tree)?;
        }
        Ok(())
    }

    /// One look at client `i`: follow the leader, heartbeat, release, send.
    fn drive<P: Protocol>(&mut self, sim: &mut Simulation<P>, i: usize) -> Result<(), String> {
        let now = sim.now();
        let leader = self.serving_leader(sim);
        let c = &mut self.clients[i];
        if c.crashed || c.paused {
            return Ok(());
        }
        // Move to the leader if the node it talks to is not it, or an answer is
        // overdue.
        let overdue = c.outstanding.as_ref().is_some_and(|o| {
            now.as_nanos().saturating_sub(o.sent.as_nanos()) > OVERDUE.as_nanos() as u64
        });
        if let Some(l) = leader {
            let restarted = c.node == Some(l) && c.incarnation != sim.incarnation(l);
            if c.node != Some(l) || overdue || restarted {
                let moved = c.node.is_some() && (c.node != Some(l) || restarted);
                c.node = Some(l);
                c.incarnation = sim.incarnation(l);
                if let Some(o) = c.outstanding.as_mut() {
                    // The same command, the same number.
                    o.id = sim.submit(l, o.data.clone()).map_err(|v| v.to_string())?;
                    o.node = l;
                    o.sent = now;
                } else if moved && c.opened {
                    let next = c.recipe.on_reconnect();
                    let name = c.name.clone();
                    self.say(sim, format!("{name} moves to n{l}"));
                    self.follow(sim, i, next)?;
                }
            }
        }
        let c = &mut self.clients[i];
        let Some(node) = c.node else {
            return Ok(());
        };
        if c.opened
            && now.as_nanos().saturating_sub(c.last_touch.as_nanos())
                >= u64::from(self.timeout_ms / 3) * 1_000_000
        {
            c.last_touch = now;
            let touch = ZCommand {
                session: Session {
                    client: c.session,
                    seq: 0,
                },
                op: ZOp::Touch,
            };
            sim.submit(node, touch.encode())
                .map_err(|v| v.to_string())?;
        }
        let c = &mut self.clients[i];
        if let (Some(since), Some(hold), None) = (c.held_since, c.hold, c.released_at) {
            if now.as_nanos() >= since.plus(hold).as_nanos() {
                if let Some(op) = c.recipe.release() {
                    c.released_at = Some(now);
                    c.queue.push_back(op);
                    let name = c.name.clone();
                    self.checker.on_release(i);
                    self.say(sim, format!("{name} releases"));
                }
            }
        }
        let c = &mut self.clients[i];
        if c.outstanding.is_none() {
            if let Some(op) = c.queue.pop_front() {
                c.seq += 1;
                let data = ZCommand {
                    session: Session {
                        client: c.session,
                        seq: c.seq,
                    },
                    op,
                }
                .encode();
                let id = sim.submit(node, data.clone()).map_err(|v| v.to_string())?;
                let c = &mut self.clients[i];
                c.last_touch = now;
                c.outstanding = Some(Outstanding {
                    id,
                    node,
                    data,
                    sent: now,
                });
            }
        }
        Ok(())
    }

    /// Notes the node client `i` now watches, if it changed (narration of the
    /// predecessor recipes).
    pub fn note_watch<P: Protocol>(
        &mut self,
        sim: &mut Simulation<P>,
        i: usize,
        watched: Option<String>,
    ) {
        if self.clients[i].watched != watched {
            if let Some(w) = &watched {
                let why = if znode::recipes::sequence_of(znode::path::name(w)).is_some() {
                    "the node before its own"
                } else {
                    "the node everyone races to create"
                };
                let line = format!("{} watches {w}, {why}", self.clients[i].name);
                self.say(sim, line);
            }
            self.clients[i].watched = watched;
        }
    }

    /// Where client `i`'s recipe stands.
    pub fn standing(&self, i: usize) -> Standing {
        self.clients[i].recipe.standing()
    }

    /// What client `i`'s recipe knows of others (a discovery's instances).
    pub fn view(&self, i: usize) -> Vec<String> {
        self.clients[i].recipe.view()
    }

    /// Whether client `i` crashed.
    pub fn crashed(&self, i: usize) -> bool {
        self.clients[i].crashed
    }
}
