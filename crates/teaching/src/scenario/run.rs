//! Running a scenario: drive the simulator through the steps, record a structured
//! timeline (messages, timers, narrated decisions, protocol events, steps) and check the
//! expectations at their instants.
//!
//! The runner sits inside the simulator module so that it can watch each queued
//! happening before the simulator carries it out: which message is about to arrive (and
//! whether it will: the target may be down or cut off), when it was sent, which timer
//! fires. Narration comes from the protocols themselves (`Event::Narrate`, enabled by
//! `SimConfig::trace`); the runner only attaches it to the right instant.

use super::describe::{Scripted, Vocabulary};
use super::expect::CheckReport;
use super::spec::RecipeKind;
use super::spec::{Scenario, ScenarioError, Step};
use super::spec::{StepAction, Target};
use kv::{KvCommand, KvOp, Session};
use protocols::{Event, Membership, NodeId, Protocol, ProtocolKind, RequestId, Status, Time};
use recipes::driver::{Clients, TICK};
use sim::invariants::Violation;
use sim::{Action, DiskConfig, SimConfig, Simulation};
use std::collections::{BTreeMap, HashMap};
use znode::recipes::queue::{Access, QueueLock};
use znode::recipes::race::RaceLock;
use znode::recipes::registry::{Discovery, Registration};
use znode::recipes::{Recipe, Standing, Waiting};

/// Session timeout of a scenario's recipe clients.
pub const CLIENT_SESSION_MS: u32 = 1500;

pub use sim::{Fate, ReplyOutcome};

/// One message the network carried to its target's door.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// When it was sent.
    pub sent: Time,
    /// When it arrived at the receiver.
    pub received: Time,
    /// The protocol's name for its type.
    pub kind: &'static str,
    /// What a diagram writes on its arrow: the kind, with what sets this one apart
    /// (`vote ✗`, `vote 3 r2`, `Prepare 1.3`; `protocols::Describe::arrow_label`).
    pub label: String,
    /// Its short readable form.
    pub text: String,
    /// A heartbeat or routine acknowledgement.
    pub routine: bool,
    /// Whether it was handled.
    pub fate: Fate,
    /// What a scenario step did to it on the way (`delayed 40 ms by the scenario`).
    pub note: Option<String>,
}

impl Message {
    /// The message the simulator is about to deliver at `at`, in the protocol's words.
    pub(crate) fn upcoming<P: Scripted>(
        at: Time,
        (from, to, sent): (NodeId, NodeId, Time),
        msg: &P::Message,
        fate: Fate,
        note: Option<String>,
    ) -> Message {
        Message {
            from,
            to,
            sent,
            received: at,
            kind: P::message_kind(msg),
            label: P::arrow_label(msg).unwrap_or_else(|| P::message_kind(msg).to_string()),
            text: P::text(msg),
            routine: P::routine(msg),
            fate,
            note,
        }
    }
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// A scenario step, carried out as this simulator action.
    Step {
        /// What the step did, in words.
        text: String,
        /// The action.
        action: Action,
    },
    /// A scenario step the runner carries out on one directed link (`delay`, `hold`
    /// and their ends, `scenario/links.rs`), not the simulator.
    LinkRule {
        /// What the step did, in words.
        text: String,
        /// Sender side of the link.
        from: NodeId,
        /// Receiver side.
        to: NodeId,
    },
    /// A message arrived (or was lost at the door).
    Message(Message),
    /// A protocol timer fired.
    Timer {
        /// Whose.
        node: NodeId,
        /// Which.
        name: String,
    },
    /// A protocol's explanation of a decision.
    Narration(String),
    /// A protocol event (role change, election, readiness, commit).
    Event {
        /// Whose.
        node: NodeId,
        /// What.
        event: Event,
    },
    /// What node `node` told the client of command `id` (applied and answered, or
    /// refused; a lost leadership leaves it unanswered for now).
    Reply {
        /// The node the client sent it to.
        node: NodeId,
        /// The command.
        id: RequestId,
        /// The command in words (`put k1=v1`).
        put: String,
        /// What the client got.
        outcome: ReplyOutcome,
    },
    /// The client of command `id`, sent to `node`, will get no answer: `why`.
    NoAnswer {
        /// The node the client sent it to.
        node: NodeId,
        /// The command.
        id: RequestId,
        /// The command in words (`put k1=v1`).
        put: String,
        /// Why (the node crashed).
        why: String,
    },
    /// Expectation number `.0` (index into [`Outcome::checks`]) was checked.
    Check(usize),
    /// A step could not be carried out, or the run stopped.
    Problem(String),
}

/// A timeline entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// Virtual time.
    pub at: Time,
    /// What happened.
    pub kind: ItemKind,
}

/// A node at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSummary {
    /// The node.
    pub node: NodeId,
    /// Its status, `None` when it is down.
    pub status: Option<Status>,
    /// What its latest incarnation delivered, by index (`None`: a protocol no-op).
    pub delivered: Vec<Option<RequestId>>,
}

/// Everything a run produced.
pub struct Outcome<P: Protocol> {
    /// The simulation, in its final state.
    pub sim: Simulation<P>,
    /// The protocol's names for its things.
    pub vocabulary: Vocabulary,
    /// What happened, in order.
    pub timeline: Vec<Item>,
    /// One report per expectation, in time order.
    pub checks: Vec<CheckReport>,
    /// Steps that could not run and safety violations.
    pub problems: Vec<String>,
    /// Readable names of client commands (`put k=v`, `get k`).
    pub commands: HashMap<RequestId, String>,
    /// Scripted puts that had no answer when the run ended, with the node each was
    /// sent to.
    pub unanswered: BTreeMap<RequestId, NodeId>,
}

impl<P: Protocol> Outcome<P> {
    /// Whether every expectation held and nothing went wrong.
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.checks.iter().all(CheckReport::passed)
    }

    /// Every node's final state.
    pub fn summary(&self) -> Vec<NodeSummary> {
        self.sim
            .ids()
            .into_iter()
            .map(|node| NodeSummary {
                node,
                status: self.sim.node(node).map(Protocol::status),
                delivered: self.sim.applied(node).to_vec(),
            })
            .collect()
    }

    /// `put k1=v1` or `get k1`: a scripted command in words.
    pub fn put_name(&self, id: &RequestId) -> String {
        match self.commands.get(id) {
            Some(words) => words.clone(),
            None => format!("command {}#{}", id.origin, id.seq),
        }
    }

    /// A readable name for a delivered entry.
    pub fn command_name(&self, entry: &Option<RequestId>) -> String {
        match entry {
            None => "no-op".into(),
            Some(id) if id.origin == 0 => format!("pre{}:{}", id.seq >> 32, id.seq & 0xffff_ffff),
            Some(id) => self
                .commands
                .get(id)
                .map(|words| words.strip_prefix("put ").unwrap_or(words).to_string())
                .unwrap_or_else(|| format!("{}#{}", id.origin, id.seq)),
        }
    }
}

/// Runs `scenario` with protocol `P`.
pub fn run<P: Scripted>(scenario: &Scenario) -> Result<Outcome<P>, ScenarioError> {
    run_with_bug(scenario, None)
}

/// Runs `scenario` with protocol `P`, every node running the known bug `bug`
/// ([`protocols::Bug`]; `cwb sim --scenario F --bug NAME`). A bug of another protocol
/// is refused.
pub fn run_with_bug<P: Scripted>(
    scenario: &Scenario,
    bug: Option<protocols::Bug>,
) -> Result<Outcome<P>, ScenarioError> {
    let scenario = &scenario.for_protocol(kind_of::<P>()?);
    let config = SimConfig {
        membership: Membership::voters(scenario.ids()),
        timing: scenario.timing.clone(),
        seed: scenario.seed,
        net: scenario.net.clone(),
        trace: true,
        disk: Default::default(),
    };
    let mut sim = Simulation::<P>::new(config);
    let clients = scenario.has_clients().then(|| {
        sim.set_state_machine(kv::StateMachineKind::Znode);
        Clients::new(CLIENT_SESSION_MS)
    });
    sim.set_max_batch(scenario.max_batch);
    sim.set_backoff(scenario.backoff);
    sim.set_bug(bug).map_err(|bug| {
        ScenarioError::Invalid(format!(
            "{bug} is a bug of {}, not of {}",
            bug.protocol(),
            P::NAME
        ))
    })?;
    // One history per member: each protocol records what the others imply for a node
    // (`Preload::preload_among`), so the start is one a real run could reach.
    let cluster: Vec<&[(u64, u64)]> = scenario
        .ids()
        .map(|id| scenario.histories.get(&id).map_or(&[][..], Vec::as_slice))
        .collect();
    for (node, history) in scenario.ids().zip(cluster.iter().copied()) {
        let records = P::preload_among(history, &cluster)
            .map_err(|source| ScenarioError::Preload { node, source })?;
        if !records.is_empty() {
            sim.preload(node, records)
                .map_err(|v| ScenarioError::Invalid(format!("history of node {node}: {v}")))?;
        }
    }
    let mut runner = Runner {
        outcome: Outcome {
            sim,
            vocabulary: P::vocabulary(),
            timeline: Vec::new(),
            checks: Vec::new(),
            problems: Vec::new(),
            commands: HashMap::new(),
            unanswered: BTreeMap::new(),
        },
        last_leader: None,
        links: super::links::Links::new(scenario.fifo),
        clients,
        next_tick: Time::ZERO,
        logged: 0,
    };
    let mut steps = scenario.steps.iter().peekable();
    let mut expects = scenario.expects.iter().peekable();
    let mut stopped = false;
    loop {
        // At one instant, expectations see the state before that instant's steps.
        let expect_next = match (steps.peek(), expects.peek()) {
            (None, None) => break,
            (Some(s), Some(e)) => e.at <= s.at,
            (None, Some(_)) => true,
            (Some(_), None) => false,
        };
        if expect_next {
            let Some(e) = expects.next() else { break };
            if stopped || runner.advance(e.at).is_err() {
                stopped = true;
                runner.unchecked(e);
                continue;
            }
            runner.check(e);
        } else {
            let Some(s) = steps.next() else { break };
            if stopped {
                continue;
            }
            stopped = runner.advance(s.at).is_err() || runner.step(s).is_err();
        }
    }
    if !stopped {
        let _ = runner.advance(scenario.end);
    }
    let held = runner.links.still_held();
    if !held.is_empty() {
        runner.push(ItemKind::Narration(format!(
            "still held by the scenario at the end (never released): {}",
            held.join(", ")
        )));
    }
    runner.check_drop_kinds(scenario);
    Ok(runner.outcome)
}

/// What the next queued happening is, seen before the simulator handles it.
enum Upcoming {
    /// A message arrives.
    Message(Message),
    /// A live timer fires.
    Timer { node: NodeId, name: String },
    /// Anything else (a stale timer; a scheduled action).
    Other,
}

/// Positions in the simulator's logs before a step, to find what the step added.
struct Mark {
    trace: usize,
    events: usize,
    replies: usize,
}

pub(super) struct Runner<P: Protocol> {
    pub(super) outcome: Outcome<P>,
    /// The leader found by the latest expectation that found one.
    pub(super) last_leader: Option<NodeId>,
    /// The scenario's delay, hold and fifo rules ([`super::links`]).
    pub(super) links: super::links::Links<P>,
    /// Recipe clients, if the scenario has any: driven every [`TICK`].
    clients: Option<Clients>,
    /// When they are driven next.
    next_tick: Time,
    /// Lines of their narration already in the timeline.
    logged: usize,
}

impl<P: Scripted> Runner<P> {
    pub(super) fn sim(&self) -> &Simulation<P> {
        &self.outcome.sim
    }

    pub(super) fn push(&mut self, kind: ItemKind) {
        let at = self.outcome.sim.now();
        self.outcome.timeline.push(Item { at, kind });
    }

    fn mark(&self) -> Mark {
        Mark {
            trace: self.sim().trace().len(),
            events: self.sim().events().len(),
            replies: self.sim().replies().len(),
        }
    }

    fn stop(&mut self, v: Violation) -> Violation {
        let text = format!("safety violation {v}; the run stops here");
        self.outcome.problems.push(text.clone());
        self.push(ItemKind::Problem(text));
        v
    }

    /// Runs the simulator through every happening up to `until`, recording each, and
    /// drives the recipe clients every [`TICK`] on the way.
    fn advance(&mut self, until: Time) -> Result<(), Violation> {
        if self.clients.is_none() {
            return self.advance_nodes(until);
        }
        while self.next_tick <= until {
            let tick = self.next_tick;
            self.advance_nodes(tick)?;
            self.next_tick = tick.plus(TICK);
            let Some(clients) = self.clients.as_mut() else {
                break;
            };
            let result = clients.tick(&mut self.outcome.sim);
            self.absorb_clients();
            if let Err(what) = result {
                let v = Violation::new(tick, format!("recipe check: {what}"));
                return Err(self.stop(v));
            }
        }
        self.advance_nodes(until)
    }

    /// Moves the recipe clients' new narration into the timeline.
    fn absorb_clients(&mut self) {
        let Some(clients) = &self.clients else {
            return;
        };
        let fresh: Vec<Item> = clients.log[self.logged..]
            .iter()
            .map(|(at, line)| Item {
                at: *at,
                kind: ItemKind::Narration(line.clone()),
            })
            .collect();
        self.logged = clients.log.len();
        self.outcome.timeline.extend(fresh);
    }

    /// The recipe clients that hold, lead or are registered now, by name.
    pub(super) fn holders(&self) -> Vec<String> {
        let Some(clients) = &self.clients else {
            return Vec::new();
        };
        (0..clients.clients.len())
            .filter(|&i| {
                let c = &clients.clients[i];
                !clients.crashed(i)
                    && c.released_at.is_none()
                    && matches!(clients.standing(i), Standing::Held { .. })
            })
            .map(|i| clients.clients[i].name.clone())
            .collect()
    }

    /// A recipe step: a client joins, crashes or releases.
    fn client_step(&mut self, step: &StepAction) {
        let Some(clients) = self.clients.as_mut() else {
            return;
        };
        let sim = &mut self.outcome.sim;
        let find =
            |clients: &Clients, name: &str| clients.clients.iter().position(|c| c.name == name);
        match step {
            StepAction::Client {
                name,
                recipe,
                path,
                hold,
            } => {
                clients.add(sim, name, recipe_client(*recipe, path, name), *hold);
            }
            StepAction::CrashClient(name) => match find(clients, name) {
                Some(i) => clients.crash_client(sim, i),
                None => {
                    let text = format!("no client named {name:?} to crash");
                    self.outcome.problems.push(text.clone());
                    self.push(ItemKind::Problem(text));
                }
            },
            StepAction::ReleaseClient(name) => match find(clients, name) {
                Some(i) => clients.release_now(sim, i),
                None => {
                    let text = format!("no client named {name:?} to release");
                    self.outcome.problems.push(text.clone());
                    self.push(ItemKind::Problem(text));
                }
            },
            _ => {}
        }
        self.absorb_clients();
    }

    fn advance_nodes(&mut self, until: Time) -> Result<(), Violation> {
        while let Some((at, _)) = self.sim().upcoming() {
            if at > until {
                break;
            }
            if self.intercept() {
                continue;
            }
            let Some((at, next)) = self.sim().upcoming() else {
                break;
            };
            let upcoming = self.classify(at, next);
            let mark = self.mark();
            let result = self.outcome.sim.step();
            self.absorb(mark, upcoming);
            result.map_err(|v| self.stop(v))?;
        }
        // Nothing is queued before `until`: this only moves the clock.
        self.outcome.sim.run_until(until).map_err(|v| self.stop(v))
    }

    fn classify(&self, at: Time, next: sim::Upcoming<'_, P>) -> Upcoming {
        match next {
            sim::Upcoming::Message {
                from,
                to,
                sent,
                msg,
                fate,
            } => Upcoming::Message(Message::upcoming::<P>(
                at,
                (from, to, sent),
                msg,
                fate,
                self.links.note(self.sim().upcoming_seq()),
            )),
            sim::Upcoming::Timer { node, timer } => Upcoming::Timer {
                node,
                name: P::timer_text(timer),
            },
            sim::Upcoming::Action(_) | sim::Upcoming::Other => Upcoming::Other,
        }
    }

    /// Records what the last simulator step did: the happening itself, then the
    /// narration and events it caused, in the order the protocol produced them.
    fn absorb(&mut self, mark: Mark, upcoming: Upcoming) {
        // The simulator notes the delivery or timer first; the runner has it already.
        let mut skip = match &upcoming {
            Upcoming::Message(m) => usize::from(matches!(m.fate, Fate::Delivered | Fate::Dropped)),
            Upcoming::Timer { .. } => 1,
            Upcoming::Other => 0,
        };
        match upcoming {
            Upcoming::Message(m) => self.push(ItemKind::Message(m)),
            Upcoming::Timer { node, name } => self.push(ItemKind::Timer { node, name }),
            Upcoming::Other => {}
        }
        if self
            .sim()
            .trace()
            .get(mark.trace)
            .is_some_and(|l| strip_time(l).starts_with("** "))
        {
            skip = skip.max(1);
        }
        self.absorb_effects(mark.trace + skip, mark.events);
        self.absorb_replies(mark.replies);
    }

    /// Records what nodes told the clients of scripted puts since `from`.
    fn absorb_replies(&mut self, from: usize) {
        let replies: Vec<sim::Reply> = self
            .sim()
            .replies()
            .get(from..)
            .unwrap_or_default()
            .to_vec();
        for r in replies {
            if !self.outcome.commands.contains_key(&r.id) {
                continue;
            }
            let answered = !matches!(
                r.outcome,
                ReplyOutcome::Refused(protocols::ClientError::LeadershipLost)
            );
            if answered {
                self.outcome.unanswered.remove(&r.id);
            }
            let put = self.outcome.put_name(&r.id);
            self.push(ItemKind::Reply {
                node: r.node,
                id: r.id,
                put,
                outcome: r.outcome,
            });
        }
    }

    /// Node `node` went down: the clients of the puts it still owed an answer get none.
    fn orphan_puts(&mut self, node: NodeId) {
        let lost: Vec<RequestId> = self
            .outcome
            .unanswered
            .iter()
            .filter(|(_, &n)| n == node)
            .map(|(&id, _)| id)
            .collect();
        for id in lost {
            self.outcome.unanswered.remove(&id);
            let put = self.outcome.put_name(&id);
            self.push(ItemKind::NoAnswer {
                node,
                id,
                put,
                why: format!("n{node} crashed before answering"),
            });
        }
    }

    /// Turns the trace lines from `trace` on into events (matched against the new
    /// entries of the simulator's event log) and narration.
    fn absorb_effects(&mut self, trace: usize, events: usize) {
        let lines: Vec<String> = self
            .sim()
            .trace()
            .get(trace..)
            .unwrap_or_default()
            .iter()
            .map(|l| strip_time(l).to_string())
            .collect();
        let new_events: Vec<(NodeId, Event)> = self
            .sim()
            .events()
            .get(events..)
            .unwrap_or_default()
            .iter()
            .map(|e| (e.node, e.event.clone()))
            .collect();
        let mut next_event = new_events.iter().peekable();
        for line in lines {
            match next_event.peek() {
                Some((node, event))
                    if line
                        == protocols::narration_line(
                            *node,
                            &protocols::event_text_of::<P>(event),
                        ) =>
                {
                    self.push(ItemKind::Event {
                        node: *node,
                        event: event.clone(),
                    });
                    next_event.next();
                }
                _ => self.push(ItemKind::Narration(line)),
            }
        }
        for (node, event) in next_event {
            self.push(ItemKind::Event {
                node: *node,
                event: event.clone(),
            });
        }
    }

    /// Records a link rule the runner carries out itself.
    fn note_link(&mut self, from: NodeId, to: NodeId, text: String) {
        self.push(ItemKind::LinkRule { text, from, to });
    }

    /// Carries out one simulator action now and records it.
    fn act(&mut self, text: String, action: Action) -> Result<(), Violation> {
        let mark = self.mark();
        self.push(ItemKind::Step {
            text,
            action: action.clone(),
        });
        let result = self.outcome.sim.act(action);
        self.absorb(mark, Upcoming::Other);
        result.map_err(|v| self.stop(v))
    }

    /// The running node that leads the highest term, with its status.
    pub(super) fn leader(&self) -> Option<(NodeId, Status)> {
        self.sim()
            .running()
            .into_iter()
            .filter_map(|id| self.sim().node(id).map(|p| (id, p.status())))
            .filter(|(_, s)| s.role.is_leader())
            .max_by_key(|(id, s)| (s.term, *id))
    }

    fn resolve(&mut self, target: Target, verb: &str) -> Option<(NodeId, &'static str)> {
        match target {
            Target::Node(id) => Some((id, "")),
            Target::Leader => match self.leader() {
                Some((id, _)) => Some((id, " (the leader)")),
                None => {
                    let text = format!("cannot {verb} \"leader\": no node leads now; step skipped");
                    self.outcome.problems.push(text.clone());
                    self.push(ItemKind::Problem(text));
                    None
                }
            },
        }
    }

    fn step(&mut self, step: &Step) -> Result<(), Violation> {
        match &step.action {
            StepAction::Start(ids) => {
                for &id in ids {
                    let how = if self.sim().has_history(id) {
                        " from its durable records"
                    } else {
                        ""
                    };
                    self.act(format!("start node {id}{how}"), Action::Start(id))?;
                }
            }
            StepAction::Crash(targets) | StepAction::Restart(targets) => {
                let restart = matches!(step.action, StepAction::Restart(_));
                for &t in targets {
                    let Some((id, who)) = self.resolve(t, "crash") else {
                        continue;
                    };
                    self.act(format!("crash node {id}{who}"), Action::Crash(id))?;
                    self.orphan_puts(id);
                    if restart {
                        self.act(
                            format!("restart node {id} from its durable records"),
                            Action::Start(id),
                        )?;
                    }
                }
            }
            StepAction::Isolate(t) => {
                if let Some((id, who)) = self.resolve(*t, "isolate") {
                    self.act(
                        format!("isolate node {id}{who}: its messages are silently dropped"),
                        Action::Isolate(id),
                    )?;
                }
            }
            StepAction::SlowDisk { node, sync } => {
                if let Some((id, who)) = self.resolve(*node, "slow the disk of") {
                    self.act(
                        format!(
                            "node {id}{who}: its disk now takes {} ms per sync",
                            sync.as_secs_f64() * 1000.0
                        ),
                        Action::SetDisk {
                            node: id,
                            disk: DiskConfig::fixed(*sync),
                        },
                    )?;
                }
            }
            StepAction::Partition(groups) => {
                let shown: Vec<String> = groups
                    .iter()
                    .map(|g| {
                        let ids: Vec<String> = g.iter().map(|id| id.to_string()).collect();
                        format!("{{{}}}", ids.join(","))
                    })
                    .collect();
                self.act(
                    format!("partition the network: {}", shown.join(" | ")),
                    Action::Partition(groups.clone()),
                )?;
            }
            StepAction::Heal => self.act("heal the network".into(), Action::Heal)?,
            StepAction::Transfer { to } => self.act(
                format!("ask the leader to hand its leadership to node {to} (a planned failover)"),
                Action::TransferLeadership { to: *to },
            )?,
            StepAction::Client { .. }
            | StepAction::CrashClient(_)
            | StepAction::ReleaseClient(_) => self.client_step(&step.action),
            StepAction::SetLoss(p) => self.act(
                format!("the network now loses {:.0}% of messages", p * 100.0),
                Action::SetLoss(*p),
            )?,
            StepAction::Drop { from, to, kind } => self.act(
                format!("from now on node {from}'s {kind} messages to node {to} are dropped"),
                Action::DropKind {
                    from: *from,
                    to: *to,
                    kind: Some(kind.clone()),
                },
            )?,
            StepAction::StopDrop { from, to, kind } => self.act(
                match kind {
                    Some(kind) => {
                        format!("node {from}'s {kind} messages to node {to} arrive again")
                    }
                    None => format!("node {from}'s messages to node {to} are no longer dropped"),
                },
                Action::StopDropKind {
                    from: *from,
                    to: *to,
                    kind: kind.clone(),
                },
            )?,
            StepAction::Delay {
                from,
                to,
                kind,
                extra,
            } => {
                self.add_delay(*from, *to, kind, *extra);
                self.note_link(
                    *from,
                    *to,
                    format!(
                        "from now on node {from}'s {kind} messages to node {to} arrive {} ms late",
                        extra.as_secs_f64() * 1000.0
                    ),
                );
            }
            StepAction::StopDelay { from, to, kind } => {
                self.stop_delay(*from, *to, kind.as_deref());
                self.note_link(
                    *from,
                    *to,
                    match kind {
                        Some(kind) => format!(
                            "node {from}'s {kind} messages to node {to} are no longer delayed"
                        ),
                        None => {
                            format!("node {from}'s messages to node {to} are no longer delayed")
                        }
                    },
                );
            }
            StepAction::Hold {
                from,
                to,
                kind,
                count,
            } => {
                self.add_hold(*from, *to, kind, *count);
                let which = match count {
                    Some(1) => format!("the next {kind} message"),
                    Some(n) => format!("the next {n} {kind} messages"),
                    None => format!("{kind} messages"),
                };
                self.note_link(*from, *to, format!(
                    "from now on {which} from node {from} to node {to} are held off the network until released"
                ));
            }
            StepAction::Release { from, to, kind } => {
                let n = self.release(*from, *to, kind.as_deref());
                let kind = kind.as_deref().map_or(String::new(), |k| format!("{k} "));
                self.note_link(
                    *from,
                    *to,
                    format!(
                    "release node {from}'s held {kind}messages to node {to}: {n} now on their way"
                ),
                );
            }
            StepAction::Put { node, key, value } => {
                let op = KvOp::Put {
                    key: key.clone().into(),
                    value: value.clone().into(),
                };
                self.client_command(*node, format!("put {key}={value}"), op)?;
            }
            StepAction::Get { node, key } => {
                let op = KvOp::Get {
                    key: key.clone().into(),
                };
                self.client_command(*node, format!("get {key}"), op)?;
            }
        }
        Ok(())
    }
}

impl<P: Scripted> Runner<P> {
    /// A client sends one key-value command (`words` names it in the timeline) to
    /// `node`; it enters the clients' history.
    fn client_command(&mut self, node: Target, words: String, op: KvOp) -> Result<(), Violation> {
        let verb = format!("send a {} to", words.split(' ').next().unwrap_or("command"));
        let Some((id, who)) = self.resolve(node, &verb) else {
            return Ok(());
        };
        // A scripted command has no client session (the simulator's clients never
        // retry).
        let data = KvCommand {
            session: Session::NONE,
            op,
        }
        .encode();
        let down = if self.sim().node(id).is_none() {
            " (it is down: the request is lost)"
        } else {
            ""
        };
        let seq = self.sim().next_request_seq();
        let req = RequestId { origin: id, seq };
        // Named before it runs: the node may answer (or refuse) at once.
        self.outcome.commands.insert(req, words.clone());
        if down.is_empty() {
            self.outcome.unanswered.insert(req, id);
        }
        self.act(
            format!("client sends {words} to node {id}{who}{down}"),
            Action::Submit { node: id, data },
        )
    }
}

impl<P: Scripted> Runner<P> {
    /// A `drop` naming a kind the protocol never sent in the whole run dropped nothing:
    /// most likely a typo, or a file written for another protocol. It fails the run,
    /// naming the kinds that were sent.
    fn check_drop_kinds(&mut self, scenario: &Scenario) {
        let sent = self.sim().kinds_sent();
        let mut unknown: Vec<&str> = scenario
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                StepAction::Drop { kind, .. }
                | StepAction::Delay { kind, .. }
                | StepAction::Hold { kind, .. } => Some(kind.as_str()),
                _ => None,
            })
            .filter(|k| !sent.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        for kind in unknown {
            let names: Vec<&str> = sent.iter().copied().collect();
            let text = format!(
                "drop/delay/hold: {} sent no message of kind {kind:?} in this run (it sent {})",
                P::NAME,
                names.join(", ")
            );
            self.outcome.problems.push(text.clone());
            self.push(ItemKind::Problem(text));
        }
    }
}

/// The [`ProtocolKind`] of `P`, by its name.
pub fn kind_of<P: Protocol>() -> Result<ProtocolKind, ScenarioError> {
    P::NAME
        .parse()
        .map_err(|e: protocols::UnknownProtocol| ScenarioError::Invalid(e.to_string()))
}

/// A trace line without its `[   1.234ms] ` prefix.
fn strip_time(line: &str) -> &str {
    match line.split_once("] ") {
        Some((_, rest)) if line.starts_with('[') => rest,
        _ => line,
    }
}

/// The client a scenario's `client` step starts.
fn recipe_client(kind: RecipeKind, path: &str, name: &str) -> Box<dyn Recipe> {
    let queue = |access, waiting| Box::new(QueueLock::new(path, access, waiting, name.as_bytes()));
    match kind {
        RecipeKind::Lock | RecipeKind::FairElection => {
            queue(Access::Exclusive, Waiting::Predecessor)
        }
        RecipeKind::HerdLock => queue(Access::Exclusive, Waiting::Herd),
        RecipeKind::Read => queue(Access::Read, Waiting::Predecessor),
        RecipeKind::Write => queue(Access::Write, Waiting::Predecessor),
        RecipeKind::UnfairElection => Box::new(RaceLock::new(path, name.as_bytes())),
        RecipeKind::Register => Box::new(Registration::new(path, name.as_bytes())),
        RecipeKind::Discover => Box::new(Discovery::new(path)),
    }
}
