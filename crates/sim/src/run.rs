//! Running a simulation: scheduling actions and stepping the one time-ordered queue
//! of deliveries, timer firings, faults, client commands and disk syncs.

use crate::invariants::Violation;
use crate::{Action, Fate, Pending, Simulation};
use protocols::{Input, Protocol, Time};
use std::cmp::Reverse;
use std::fmt::Write as _;
use std::time::Duration;

impl<P: Protocol> Simulation<P> {
    /// Schedules `action` at time `at` (or now, if `at` is in the past).
    pub fn schedule(&mut self, at: Time, action: Action) {
        self.push(at.max(self.now), Pending::Act(action));
    }

    /// Carries out `action` now.
    pub fn act(&mut self, action: Action) -> Result<(), Violation> {
        self.apply_action(action)
    }

    /// Starts every node now.
    pub fn start_all(&mut self) -> Result<(), Violation> {
        for id in self.ids() {
            self.apply_action(Action::Start(id))?;
        }
        Ok(())
    }

    /// Runs until virtual time `until` or until nothing is left to do.
    pub fn run_until(&mut self, until: Time) -> Result<(), Violation> {
        while let Some(&Reverse((at, _))) = self.queue.peek() {
            if at > until {
                break;
            }
            self.step()?;
        }
        self.now = self.now.max(until);
        Ok(())
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> Result<(), Violation> {
        self.run_until(self.now.plus(d))
    }

    /// Runs until `pred` holds (checked after every step) or `limit` passes; returns
    /// whether it held.
    pub fn run_until_true(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&Simulation<P>) -> bool,
    ) -> Result<bool, Violation> {
        let until = self.now.plus(limit);
        while !pred(self) {
            match self.queue.peek() {
                Some(&Reverse((at, _))) if at <= until => {
                    self.step()?;
                }
                _ => {
                    self.now = self.now.max(until);
                    return Ok(pred(self));
                }
            }
        }
        Ok(true)
    }

    /// Processes the next queued happening. Returns false when the queue is empty.
    pub fn step(&mut self) -> Result<bool, Violation> {
        let Some(Reverse((at, seq))) = self.queue.pop() else {
            return Ok(false);
        };
        self.now = at;
        let Some(p) = self.pending.remove(&seq) else {
            return Ok(true);
        };
        match p {
            Pending::Deliver {
                from,
                to,
                incarnation,
                msg,
                ..
            } => {
                match self.fate(from, to, incarnation, &msg) {
                    // Lost at the door: the receiver is down or restarted since.
                    Fate::TargetDown => {}
                    // Partitioned while in flight, or the link cut one way.
                    Fate::Partitioned => {
                        if self.network.connected(from, to) {
                            self.fault_stats.one_way_drops += 1;
                        }
                    }
                    Fate::Dropped => {
                        self.fault_stats.kind_drops += 1;
                        if self.config.trace {
                            let text = P::message_text(&msg, &crate::command_text);
                            self.note(format!("n{from} -> n{to}: dropped {text}"));
                        }
                    }
                    Fate::Delivered => {
                        if self.config.trace {
                            let text = P::message_text(&msg, &crate::command_text);
                            self.note(format!("n{from} -> n{to}: {text}"));
                        }
                        self.input(to, Input::Message { from, msg })?;
                    }
                }
            }
            Pending::Timer {
                node,
                timer,
                incarnation,
                generation,
            } => {
                if self.timer_is_live(node, &timer, incarnation, generation) {
                    if let Some(n) = self.nodes.get_mut(&node) {
                        n.timers.remove(&timer);
                    }
                    if self.config.trace {
                        let name = P::timer_text(&timer);
                        self.note(format!("n{node}: timer fires: {name}"));
                    }
                    self.input(node, Input::Timer(timer))?;
                }
            }
            Pending::Act(action) => self.apply_action(action)?,
            Pending::Synced {
                node,
                incarnation,
                batch,
            } => self.synced(node, incarnation, batch)?,
        }
        Ok(true)
    }

    pub(crate) fn push(&mut self, at: Time, p: Pending<P>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Reverse((at, seq)));
        self.pending.insert(seq, p);
    }

    pub(crate) fn note(&mut self, line: String) {
        let mut s = String::with_capacity(line.len() + 16);
        let _ = write!(s, "[{:>10}] {line}", self.now.to_string());
        self.trace.push(s);
    }
}
