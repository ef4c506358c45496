//! Scripted message control on directed links, in the scenario layer: `delay` (one kind
//! arrives later), `hold` (one kind is kept off the network until a `release`) and
//! `fifo = true` (no message overtakes one sent earlier on its link).
//!
//! The runner looks at each delivery before the simulator carries it out
//! ([`sim::Simulation::upcoming`]) and, when a rule applies, moves it later
//! ([`sim::Simulation::postpone_next_delivery`]) or takes it off the network
//! ([`sim::Simulation::hold_next_delivery`]). The simulator's own network is not
//! touched: without these steps a run is exactly what it would be.
//!
//! Only a message that would be delivered is acted on (one a drop rule or a partition
//! loses is lost as before). A message is delayed once, by the first rule that matches
//! when it would first arrive. Under `fifo`, a message that comes up while one sent
//! earlier on its link is still due later waits until just after it, so a delay holds
//! back the rest of its link, as on a TCP connection; a held message is off the link,
//! and later ones pass it.

use super::describe::Scripted;
use super::run::{ItemKind, Runner};
use protocols::{NodeId, Protocol, Time};
use sim::{Fate, HeldMessage, Simulation};
use std::collections::HashMap;
use std::time::Duration;

/// What the runner did to a delivery it moved, keyed by the delivery's queue number.
#[derive(Clone, Debug)]
struct Moved {
    /// Send order on its link: `(sent, original queue number)`.
    order: (Time, u64),
    /// A delay rule has acted on it (it is not delayed twice).
    delayed: bool,
    /// What the timeline says about it when it arrives.
    note: Option<String>,
}

/// A `hold` rule in force on one link.
#[derive(Clone, Debug)]
struct HoldRule {
    from: NodeId,
    to: NodeId,
    kind: String,
    /// Messages still to hold; `None`: every one until released.
    left: Option<u64>,
}

/// A message a `hold` took off the network.
struct Held<P: Protocol> {
    /// Its kind, as the rule named it.
    kind: String,
    /// Its send order on its link.
    order: (Time, u64),
    /// When it was taken off.
    since: Time,
    /// The message.
    msg: HeldMessage<P>,
}

/// The link rules in force and the messages held.
pub(super) struct Links<P: Protocol> {
    fifo: bool,
    delays: Vec<(NodeId, NodeId, String, Duration)>,
    holds: Vec<HoldRule>,
    held: Vec<Held<P>>,
    moved: HashMap<u64, Moved>,
}

impl<P: Protocol> Links<P> {
    pub(super) fn new(fifo: bool) -> Links<P> {
        Links {
            fifo,
            delays: Vec::new(),
            holds: Vec::new(),
            held: Vec::new(),
            moved: HashMap::new(),
        }
    }

    /// What the timeline adds to the message with queue number `seq` when it arrives.
    pub(super) fn note(&self, seq: Option<u64>) -> Option<String> {
        self.moved.get(&seq?)?.note.clone()
    }

    /// Messages still held, as `n1 -> n3 Accept` lines.
    pub(super) fn still_held(&self) -> Vec<String> {
        self.held
            .iter()
            .map(|h| format!("n{} -> n{} {}", h.msg.from, h.msg.to, h.kind))
            .collect()
    }
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn link_matches(
    rule: (NodeId, NodeId, &str),
    from: NodeId,
    to: NodeId,
    kind: Option<&str>,
) -> bool {
    rule.0 == from && rule.1 == to && kind.is_none_or(|k| same(rule.2, k))
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms.fract() == 0.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

impl<P: Scripted> Runner<P> {
    /// Applies the link rules to the next queued happening, if it is a delivery one of
    /// them acts on. Returns whether it moved something (the caller looks again).
    pub(super) fn intercept(&mut self) -> bool {
        let links = &self.links;
        if !links.fifo && links.delays.is_empty() && links.holds.is_empty() {
            return false;
        }
        let sim: &Simulation<P> = &self.outcome.sim;
        let Some((
            at,
            sim::Upcoming::Message {
                from,
                to,
                sent,
                msg,
                fate: Fate::Delivered,
            },
        )) = sim.upcoming()
        else {
            return false;
        };
        let Some(seq) = sim.upcoming_seq() else {
            return false;
        };
        let kind = P::message_kind(msg);
        let text = P::text(msg);
        let moved = links.moved.get(&seq).cloned().unwrap_or(Moved {
            order: (sent, seq),
            delayed: false,
            note: None,
        });

        if let Some(i) = links
            .holds
            .iter()
            .position(|h| link_matches((h.from, h.to, &h.kind), from, to, Some(kind)))
        {
            let Some(held) = self.outcome.sim.hold_next_delivery() else {
                return false;
            };
            self.links.moved.remove(&seq);
            let rule = &mut self.links.holds[i];
            if let Some(left) = rule.left.as_mut() {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    self.links.holds.remove(i);
                }
            }
            self.links.held.push(Held {
                kind: kind.to_string(),
                order: moved.order,
                since: at,
                msg: held,
            });
            self.push(ItemKind::Narration(format!(
                "n{from} -> n{to}: {text} is held by the scenario until released"
            )));
            return true;
        }

        if !moved.delayed {
            if let Some(&(_, _, _, extra)) = links
                .delays
                .iter()
                .find(|d| link_matches((d.0, d.1, &d.2), from, to, Some(kind)))
            {
                return self.postpone(
                    seq,
                    at.plus(extra),
                    Moved {
                        delayed: true,
                        note: Some(format!("delayed {} ms by the scenario", ms(extra))),
                        ..moved
                    },
                );
            }
        }

        if links.fifo {
            // The latest arrival among messages sent earlier on this link.
            let wait = sim
                .in_flight(from, to)
                .into_iter()
                .filter(|m| m.seq != seq)
                .filter(|m| {
                    let order = links
                        .moved
                        .get(&m.seq)
                        .map_or((m.sent, m.seq), |mv| mv.order);
                    order < moved.order
                })
                .map(|m| m.at)
                .max();
            if let Some(until) = wait.filter(|&w| w >= at) {
                let note = moved.note.clone().or_else(|| {
                    Some("waited for an earlier message on its link (fifo)".to_string())
                });
                return self.postpone(seq, until, Moved { note, ..moved });
            }
        }
        false
    }

    fn postpone(&mut self, seq: u64, until: Time, moved: Moved) -> bool {
        match self.outcome.sim.postpone_next_delivery(until) {
            Some(new) => {
                self.links.moved.remove(&seq);
                self.links.moved.insert(new, moved);
                true
            }
            None => false,
        }
    }

    /// `delay`: from now on `kind` from `from` to `to` arrives `extra` later.
    pub(super) fn add_delay(&mut self, from: NodeId, to: NodeId, kind: &str, extra: Duration) {
        self.stop_delay(from, to, Some(kind));
        self.links.delays.push((from, to, kind.to_string(), extra));
    }

    /// `stop_delay`: no more delays of `kind` (or of every kind) on the link.
    pub(super) fn stop_delay(&mut self, from: NodeId, to: NodeId, kind: Option<&str>) {
        self.links
            .delays
            .retain(|d| !link_matches((d.0, d.1, &d.2), from, to, kind));
    }

    /// `hold`: from now on take `kind` from `from` to `to` off the network.
    pub(super) fn add_hold(&mut self, from: NodeId, to: NodeId, kind: &str, count: Option<u64>) {
        self.links
            .holds
            .retain(|h| !link_matches((h.from, h.to, &h.kind), from, to, Some(kind)));
        self.links.holds.push(HoldRule {
            from,
            to,
            kind: kind.to_string(),
            left: count,
        });
    }

    /// `release`: stop holding `kind` (or every kind) on the link and put what was held
    /// back on the network, due now, in the order it was held. Returns how many.
    pub(super) fn release(&mut self, from: NodeId, to: NodeId, kind: Option<&str>) -> usize {
        self.links
            .holds
            .retain(|h| !link_matches((h.from, h.to, &h.kind), from, to, kind));
        let (go, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.links.held)
            .into_iter()
            .partition(|h| link_matches((h.msg.from, h.msg.to, &h.kind), from, to, kind));
        self.links.held = keep;
        let now = self.outcome.sim.now();
        let count = go.len();
        for Held {
            order, since, msg, ..
        } in go
        {
            let note = format!(
                "held {} ms by the scenario",
                ms(Duration::from_nanos(
                    now.as_nanos().saturating_sub(since.as_nanos())
                ))
            );
            let seq = self.outcome.sim.release(msg, now);
            self.links.moved.insert(
                seq,
                Moved {
                    order,
                    // A released message is not delayed on top.
                    delayed: true,
                    note: Some(note),
                },
            );
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::run::{Fate, ItemKind};
    use crate::scenario::spec::StepAction;
    use crate::scenario::{run, Scenario};
    use protocols::raft::Raft;

    fn shipped(name: &str) -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios")
            .join(name);
        Scenario::load(&path).expect("a shipped scenario loads")
    }

    fn without(mut s: Scenario, drop: impl Fn(&StepAction) -> bool) -> Scenario {
        let before = s.steps.len();
        s.steps.retain(|st| !drop(&st.action));
        assert!(s.steps.len() < before, "the scenario has such steps");
        s
    }

    #[test]
    fn a_delay_elects_another_leader_and_its_expectations_fail_without_it() {
        let s = shipped("slow-link-elects-another.toml");
        let with = run::<Raft>(&s).unwrap();
        assert!(with.passed(), "{:?}", with.checks);
        assert!(with.timeline.iter().any(|i| matches!(&i.kind,
            ItemKind::Message(m) if m.note.as_deref() == Some("delayed 400 ms by the scenario")
                && m.received.as_nanos() - m.sent.as_nanos() >= 400_000_000)));
        let plain = without(s, |a| {
            matches!(a, StepAction::Delay { .. } | StepAction::StopDelay { .. })
        });
        assert!(
            !run::<Raft>(&plain).unwrap().passed(),
            "node 1 leads without the delay"
        );
    }

    #[test]
    fn a_hold_keeps_a_follower_behind_until_released() {
        let s = shipped("follower-held-back.toml");
        let with = run::<Raft>(&s).unwrap();
        assert!(with.passed(), "{:?}", with.checks);
        let released = with
            .timeline
            .iter()
            .filter(|i| matches!(&i.kind, ItemKind::Message(m)
                if m.note.as_deref().is_some_and(|n| n.starts_with("held")) && m.fate == Fate::Delivered))
            .count();
        assert!(released > 0, "the held messages arrive after the release");
        let plain = without(s, |a| {
            matches!(a, StepAction::Hold { .. } | StepAction::Release { .. })
        });
        assert!(
            !run::<Raft>(&plain).unwrap().passed(),
            "node 2 delivers without the hold"
        );
    }

    const FIFO: &str = r#"
name = "fifo"
nodes = 3
seed = 3
fifo = FIFO
[network]
delay_min_ms = 0.5
delay_max_ms = 4.0
[[step]]
at_ms = 0
action = "start"
nodes = [1, 2, 3]
[[step]]
at_ms = 0
action = "delay"
from = [1, 2, 3]
to = [1, 2, 3]
kind = "Heartbeat"
extra_ms = 20
[[step]]
at_ms = 500
action = "put"
node = "leader"
count = 20
every_ms = 1
[[expect]]
at_ms = 1000
leader = "any"
"#;

    /// Delivered messages per directed link, in arrival order: (send time, note).
    type Link = Vec<(u64, Option<String>)>;
    type Arrivals = Vec<((u64, u64), Link)>;

    fn arrivals(fifo: bool) -> Arrivals {
        let s = Scenario::parse(&FIFO.replace("FIFO", &fifo.to_string())).unwrap();
        let o = run::<Raft>(&s).unwrap();
        assert!(o.passed());
        let mut links: std::collections::BTreeMap<(u64, u64), Link> = Default::default();
        for i in &o.timeline {
            if let ItemKind::Message(m) = &i.kind {
                if m.fate == Fate::Delivered {
                    links
                        .entry((m.from, m.to))
                        .or_default()
                        .push((m.sent.as_nanos(), m.note.clone()));
                }
            }
        }
        links.into_iter().collect()
    }

    #[test]
    fn under_fifo_no_message_overtakes_one_sent_earlier_on_its_link() {
        let fifo = arrivals(true);
        for (link, msgs) in &fifo {
            assert!(
                msgs.windows(2).all(|w| w[0].0 <= w[1].0),
                "link {link:?} reordered under fifo"
            );
        }
        let waited = |links: &Arrivals| {
            links
                .iter()
                .flat_map(|(_, m)| m)
                .filter(|(_, n)| n.as_deref().is_some_and(|n| n.contains("(fifo)")))
                .count()
        };
        // The delayed heartbeats hold back what follows them on their link.
        assert!(waited(&fifo) > 0);
        assert_eq!(waited(&arrivals(false)), 0);
    }
}
