//! The timeline of a random-fault seed replay (`cwb sim --seed N --svg OUT.svg`), in
//! the form the Lamport diagram draws: each delivered message with its send time, each
//! fault the schedule injected, each node going down and coming up, and the protocol
//! events (role changes, elections, commits).
//!
//! The chaos run ([`sim::chaos::run_seed`]) calls its check after every step; the
//! recorder uses that call to note what the step did and to look at the next queued
//! happening before it is stepped ([`sim::Simulation::upcoming`]), as the scenario
//! runner does. Only the very first happening (stepped before the first call) is not
//! seen: its message, if it is one, has no arrow. Nodes going down and up are found by
//! comparing the running nodes after each step, so the restarts the replay makes
//! between its faulty and healed periods are drawn too.

use crate::scenario::run::{Item, ItemKind, Message};
use crate::scenario::Scripted;
use protocols::{Event, NodeId};
use sim::chaos::{ChaosConfig, ChaosFailure, ChaosReport};
use sim::{Action, Simulation};
use std::collections::BTreeSet;

/// A seed's run, with its timeline.
pub struct Recorded<P: protocols::Protocol> {
    /// The simulation in its final state (its trace is the narrated replay).
    pub sim: Simulation<P>,
    /// What the chaos run concluded.
    pub result: Result<ChaosReport, ChaosFailure>,
    /// Messages, faults, restarts and events, in time order.
    pub timeline: Vec<Item>,
}

struct Recorder {
    /// No step has been seen yet: the nodes found running were started at time zero.
    first: bool,
    timeline: Vec<Item>,
    next: Option<Item>,
    running: BTreeSet<NodeId>,
}

impl Recorder {
    fn after<P: Scripted>(&mut self, sim: &Simulation<P>) {
        if let Some(item) = self.next.take() {
            self.timeline.push(item);
        }
        let now: BTreeSet<NodeId> = sim.running().into_iter().collect();
        let before = std::mem::replace(&mut self.running, now.clone());
        for &id in now.difference(&before) {
            self.push_step(sim, format!("node {id} starts"), Action::Start(id));
        }
        for &id in before.difference(&now) {
            self.push_step(sim, format!("node {id} goes down"), Action::Crash(id));
        }
        self.first = false;
        self.next = match sim.upcoming() {
            Some((
                at,
                sim::Upcoming::Message {
                    from,
                    to,
                    sent,
                    msg,
                    fate,
                },
            )) => Some(Item {
                at,
                kind: ItemKind::Message(Message::upcoming::<P>(
                    at,
                    (from, to, sent),
                    msg,
                    fate,
                    None,
                )),
            }),
            // Starts and crashes are drawn from the running nodes, the rest as steps.
            Some((_, sim::Upcoming::Action(Action::Start(_) | Action::Crash(_))))
            | Some((_, sim::Upcoming::Action(Action::PowerFailure(_)))) => None,
            // A client's retry timer sends nothing itself: its Invoke is drawn.
            Some((_, sim::Upcoming::Action(Action::Retry { .. }))) => None,
            Some((at, sim::Upcoming::Action(action))) => Some(Item {
                at,
                kind: ItemKind::Step {
                    text: action.to_string(),
                    action: action.clone(),
                },
            }),
            _ => None,
        };
    }

    fn push_step<P: protocols::Protocol>(
        &mut self,
        sim: &Simulation<P>,
        text: String,
        action: Action,
    ) {
        let at = if self.first {
            protocols::Time::ZERO
        } else {
            sim.now()
        };
        self.timeline.push(Item {
            at,
            kind: ItemKind::Step { text, action },
        });
    }
}

/// Replays `seed` under `cfg` with the narrated trace on, recording its timeline.
pub fn run_seed<P: Scripted>(seed: u64, cfg: &ChaosConfig) -> Recorded<P> {
    let mut rec = Recorder {
        first: true,
        timeline: Vec::new(),
        next: None,
        running: BTreeSet::new(),
    };
    let (sim, result) = sim::chaos::run_seed::<P>(seed, cfg, true, |sim, _| {
        rec.after(sim);
        Ok(())
    });
    let mut timeline = rec.timeline;
    timeline.extend(
        sim.events()
            .iter()
            .filter(|e| !matches!(e.event, Event::Narrate(_)))
            .map(|e| Item {
                at: e.at,
                kind: ItemKind::Event {
                    node: e.node,
                    event: e.event.clone(),
                },
            }),
    );
    // Stable: at one instant, the happening stays before the events it caused.
    timeline.sort_by_key(|i| i.at);
    Recorded {
        sim,
        result,
        timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::run_seed;
    use crate::scenario::run::ItemKind;
    use protocols::raft::Raft;
    use sim::chaos::ChaosConfig;
    use std::time::Duration;

    #[test]
    fn a_replay_records_messages_faults_and_restarts() {
        let cfg = ChaosConfig {
            faulty: Duration::from_millis(1500),
            settle: Duration::from_millis(1500),
            ..ChaosConfig::default()
        };
        let r = run_seed::<Raft>(1, &cfg);
        assert!(r.result.is_ok());
        let count =
            |f: &dyn Fn(&ItemKind) -> bool| r.timeline.iter().filter(|i| f(&i.kind)).count();
        assert!(count(&|k| matches!(k, ItemKind::Message(_))) > 10);
        assert!(count(&|k| matches!(k, ItemKind::Event { .. })) > 0);
        // Every node starts at least once, and the timeline is in time order.
        assert!(
            count(&|k| matches!(
                k,
                ItemKind::Step {
                    action: sim::Action::Start(_),
                    ..
                }
            )) >= 5
        );
        assert!(r.timeline.windows(2).all(|w| w[0].at <= w[1].at));
        // Every delivered message arrives after it was sent.
        assert!(r.timeline.iter().all(|i| match &i.kind {
            ItemKind::Message(m) => m.sent <= m.received && m.received == i.at,
            _ => true,
        }));
    }
}
