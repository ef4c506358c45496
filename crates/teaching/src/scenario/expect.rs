//! Checking a scenario's expectations (`[[expect]]`) against the running cluster.
//!
//! One vocabulary for all protocols: "the leader" is the running node in a leader role
//! with the highest term (a Raft leader cut off from its peers may still believe it
//! leads an older term; it is reported as stale, not as the leader); "follows" means a
//! follower role whose status names that leader; delivered counts exclude protocol
//! no-ops, so that the same expectation holds for Raft (whose leaders append one per
//! term), ZAB and Paxos.

use super::describe::Scripted;
use super::run::{ItemKind, Runner};
use super::spec::{DeliveredIs, Expect, LeaderIs, StateIs};
use protocols::{LogEntry, NodeId, Protocol, Role, Status, Time, Vocabulary};

/// The verdict on one line of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Holds.
    Pass,
    /// Does not hold.
    Fail,
    /// Information, not a condition.
    Note,
}

/// One checked condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckLine {
    /// Whether it held.
    pub verdict: Verdict,
    /// What was checked and seen.
    pub text: String,
}

/// The result of one `[[expect]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// When it was checked.
    pub at: Time,
    /// Every condition.
    pub lines: Vec<CheckLine>,
    /// Every node's log then, in the vocabulary's notation (see [`log_text`]); `None`
    /// for a node that is down.
    pub logs: Vec<(NodeId, Option<String>)>,
}

/// A node's log in one compact line: runs of consecutive entries of one generation
/// merged (`1..3@1`), the committed prefix in brackets (`[1..3@1 4@2] 5@2`), and an
/// entry known committed after an uncommitted one marked `*` (Paxos learns chosen slots
/// out of order). `-` for an empty log.
pub fn log_text(v: &Vocabulary, entries: &[LogEntry]) -> String {
    // Runs: (first, last, generation, committed).
    let mut runs: Vec<(u64, u64, u64, bool)> = Vec::new();
    for e in entries {
        match runs.last_mut() {
            Some(r) if r.1 + 1 == e.index && r.2 == e.generation && r.3 == e.committed => {
                r.1 = e.index;
            }
            _ => runs.push((e.index, e.index, e.generation, e.committed)),
        }
    }
    let prefix = runs.iter().take_while(|r| r.3).count();
    let mut parts: Vec<String> = Vec::new();
    for (i, &(first, last, generation, committed)) in runs.iter().enumerate() {
        let mut text = (v.show_entries)(first, last, generation);
        if i == 0 && prefix > 0 {
            text.insert(0, '[');
        }
        if prefix > 0 && i + 1 == prefix {
            text.push(']');
        }
        if committed && i >= prefix {
            text.push('*');
        }
        parts.push(text);
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

impl CheckReport {
    /// Whether every condition held.
    pub fn passed(&self) -> bool {
        self.lines.iter().all(|l| l.verdict != Verdict::Fail)
    }
}

impl<P: Scripted> Runner<P> {
    pub(super) fn unchecked(&mut self, e: &Expect) {
        self.outcome.checks.push(CheckReport {
            at: e.at,
            lines: vec![CheckLine {
                verdict: Verdict::Fail,
                text: "not checked: the run stopped before this instant".into(),
            }],
            logs: Vec::new(),
        });
    }

    pub(super) fn check(&mut self, e: &Expect) {
        let mut lines = Vec::new();
        let mut line = |ok: bool, text: String| {
            lines.push(CheckLine {
                verdict: if ok { Verdict::Pass } else { Verdict::Fail },
                text,
            })
        };
        let vocab = self.outcome.vocabulary;
        let show = |s: &Status| {
            format!(
                "{}, {} {}",
                s.role,
                vocab.generation,
                (vocab.show_term)(s.term)
            )
        };
        let leader = self.leader();
        let leader_text = match &leader {
            Some((id, s)) => format!("node {id} leads ({})", show(s)),
            None => "no node leads".to_string(),
        };
        match e.leader {
            None => {}
            Some(LeaderIs::Node(want)) => {
                let ok = leader.as_ref().is_some_and(|(id, _)| *id == want);
                line(
                    ok,
                    if ok {
                        leader_text.clone()
                    } else {
                        format!("expected node {want} to lead, but {leader_text}")
                    },
                );
            }
            Some(LeaderIs::Any) => line(leader.is_some(), leader_text.clone()),
            Some(LeaderIs::Nobody) => line(
                leader.is_none(),
                if leader.is_none() {
                    leader_text.clone()
                } else {
                    format!("expected no leader, but {leader_text}")
                },
            ),
            Some(LeaderIs::Changed) => match (&leader, self.last_leader) {
                (Some((id, _)), Some(before)) if *id == before => line(
                    false,
                    format!("expected a new leader, but node {id} still leads"),
                ),
                (Some(_), Some(before)) => {
                    line(true, format!("{leader_text}, replacing node {before}"))
                }
                (Some(_), None) => line(true, format!("{leader_text} (no earlier leader)")),
                (None, _) => line(false, format!("expected a new leader, but {leader_text}")),
            },
        }
        if let Some(want) = &e.term {
            match &leader {
                Some((_, s)) => {
                    let got = (vocab.show_term)(s.term);
                    line(
                        &got == want,
                        format!(
                            "the leader's {} is {got} (expected {want})",
                            vocab.generation
                        ),
                    );
                }
                None => line(
                    false,
                    format!("no leader, so no {} {want}", vocab.generation),
                ),
            }
        }
        let leader_id = leader.as_ref().map(|(id, _)| *id);
        let mut followers: Vec<NodeId> = e.following.clone();
        if e.others_follow {
            for id in self.sim().running() {
                if Some(id) != leader_id && !followers.contains(&id) {
                    followers.push(id);
                }
            }
        }
        for id in followers {
            let (ok, text) = self.follows(id, leader_id);
            line(ok, text);
        }
        for (&id, &want) in &e.states {
            let status = self.sim().node(id).map(Protocol::status);
            let ok = match (&status, want) {
                (None, StateIs::Down) => true,
                (None, _) | (Some(_), StateIs::Down) => false,
                (Some(_), StateIs::Up) => true,
                (Some(s), want) => role_is(s.role, want),
            };
            let seen = status.as_ref().map_or("down".to_string(), show);
            line(
                ok,
                format!("node {id} is {seen} (expected {})", state_name(want)),
            );
        }
        match &e.delivered {
            None => {}
            Some(DeliveredIs::All(n)) => {
                for id in self.sim().running() {
                    let got = self.delivered_commands(id);
                    line(
                        got == *n,
                        format!("node {id} delivered {} (expected {n})", entries(got)),
                    );
                }
            }
            Some(DeliveredIs::PerNode(per)) => {
                for (&id, n) in per {
                    if self.sim().node(id).is_none() {
                        line(
                            false,
                            format!("node {id} is down (expected {n} delivered entries)"),
                        );
                    } else {
                        let got = self.delivered_commands(id);
                        line(
                            got == *n,
                            format!("node {id} delivered {} (expected {n})", entries(got)),
                        );
                    }
                }
            }
        }
        if let Some(want) = e.linearizable {
            let (ok, text) = self.linearizability(want);
            line(ok, text);
        }
        if let Some(want) = &e.holders {
            let mut got = self.holders();
            got.sort();
            let mut want = want.clone();
            want.sort();
            let shown = |names: &[String]| {
                if names.is_empty() {
                    "nobody".to_string()
                } else {
                    names.join(", ")
                }
            };
            line(
                got == want,
                format!("holding: {} (expected {})", shown(&got), shown(&want)),
            );
        }
        for id in self.sim().running() {
            if let Some(p) = self.sim().node(id) {
                let s = p.status();
                if s.role.is_leader() && Some(id) != leader_id {
                    lines.push(CheckLine {
                        verdict: Verdict::Note,
                        text: format!("node {id} still believes it leads ({}): stale", show(&s)),
                    });
                }
            }
        }
        if leader_id.is_some() {
            self.last_leader = leader_id;
        }
        let vocab = self.outcome.vocabulary;
        let logs = self
            .sim()
            .ids()
            .into_iter()
            .map(|id| {
                let log = self.sim().node(id).map(|p| log_text(&vocab, &p.log_view()));
                (id, log)
            })
            .collect();
        self.outcome.checks.push(CheckReport {
            at: e.at,
            lines,
            logs,
        });
        let index = self.outcome.checks.len() - 1;
        self.push(ItemKind::Check(index));
    }

    fn follows(&self, id: NodeId, leader: Option<NodeId>) -> (bool, String) {
        let Some(s) = self.sim().node(id).map(Protocol::status) else {
            return (false, format!("node {id} is down, not following"));
        };
        let vocab = self.outcome.vocabulary;
        let role_ok = role_is(s.role, StateIs::Follower);
        match leader {
            Some(l) if role_ok && s.leader == Some(l) => (
                true,
                format!(
                    "node {id} follows node {l} ({}, {} {})",
                    s.role,
                    vocab.generation,
                    (vocab.show_term)(s.term)
                ),
            ),
            Some(l) => (
                false,
                format!(
                    "node {id} does not follow node {l}: it is {} and believes the leader is {}",
                    s.role,
                    s.leader
                        .map_or("unknown".to_string(), |x| format!("node {x}"))
                ),
            ),
            None => (
                false,
                format!("node {id} is {}: there is no leader to follow", s.role),
            ),
        }
    }

    /// Entries delivered by `id`'s current incarnation, protocol no-ops excluded.
    fn delivered_commands(&self, id: NodeId) -> u64 {
        self.sim()
            .applied(id)
            .iter()
            .filter(|e| e.is_some())
            .count() as u64
    }
}

/// "1 entry", "5 entries".
fn entries(n: u64) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

fn role_is(role: Role, want: StateIs) -> bool {
    match want {
        StateIs::Down => false,
        StateIs::Up => true,
        StateIs::Leader => matches!(role, Role::Leader | Role::Leading),
        StateIs::Follower => matches!(role, Role::Follower | Role::Following),
        StateIs::Electing => matches!(role, Role::Candidate | Role::Looking),
        StateIs::Observer => role == Role::Observing,
    }
}

fn state_name(s: StateIs) -> &'static str {
    match s {
        StateIs::Down => "down",
        StateIs::Up => "up",
        StateIs::Leader => "leader",
        StateIs::Follower => "follower",
        StateIs::Electing => "candidate/looking",
        StateIs::Observer => "observer",
    }
}

impl<P: Scripted> Runner<P> {
    /// Checks the clients' history so far (every scripted put and get, with what each
    /// got back) for a linearization, as the chaos sweeps do: whether the verdict is
    /// `want`, and the verdict in words (with the anomaly when there is none).
    fn linearizability(&self, want: bool) -> (bool, String) {
        let limits = lincheck::Limits {
            time: None,
            steps: Some(1_000_000),
            shrink_time: std::time::Duration::from_secs(1),
        };
        match lincheck::check(self.sim().history(), limits) {
            lincheck::Verdict::Linearizable => (
                want,
                "the clients' history is linearizable: every answer fits one order of the commands"
                    .into(),
            ),
            lincheck::Verdict::NotLinearizable(mut anomaly) => {
                // Times as the timeline shows them, from the run's start.
                anomaly.origin = 0;
                (
                    !want,
                    format!("the clients' history is NOT linearizable: {anomaly:#}"),
                )
            }
            lincheck::Verdict::Undecided(why) => (
                false,
                format!("the linearizability check gave no verdict: {why}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict;
    use crate::scenario::{run, Scenario};
    use protocols::raft::Raft;
    use protocols::zab::Zab;
    use protocols::ReadPath;

    fn stale_read_scenario() -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios/zab-stale-local-read.toml");
        Scenario::load(&path).expect("a shipped scenario loads")
    }

    /// The verdict line of the first check, and whether it held.
    fn first_verdict(checks: &[super::CheckReport]) -> (Verdict, String) {
        checks[0]
            .lines
            .iter()
            .find(|l| l.text.contains("linearizable"))
            .map(|l| (l.verdict, l.text.clone()))
            .expect("the first check has a linearizability line")
    }

    #[test]
    fn a_local_read_behind_the_leader_is_flagged_and_a_sync_read_is_not() {
        let s = stale_read_scenario();
        assert_eq!(s.timing.reads, ReadPath::Local);
        let local = run::<Zab>(&s).unwrap();
        assert!(local.passed(), "{:?}", local.checks);
        let (verdict, text) = first_verdict(&local.checks);
        assert_eq!(verdict, Verdict::Pass);
        assert!(
            text.contains("NOT linearizable") && text.contains("get [1.13 s .. 1.13 s] -> \"1\""),
            "{text}"
        );
        // ZooKeeper's `sync` then read: node 2 asks its leader how far to go and waits
        // for the held COMMIT, so no answer is stale and the expectation of a
        // violation fails.
        let mut synced = s.clone();
        synced.timing.reads = ReadPath::Sync;
        let (verdict, text) = first_verdict(&run::<Zab>(&synced).unwrap().checks);
        assert_eq!(verdict, Verdict::Fail, "{text}");
        assert!(text.contains("is linearizable"), "{text}");
    }

    #[test]
    fn a_raft_follower_refuses_a_read_through_the_log_or_readindex() {
        let mut s = stale_read_scenario();
        for reads in [ReadPath::Log, ReadPath::Index] {
            s.timing.reads = reads;
            let (verdict, text) = first_verdict(&run::<Raft>(&s).unwrap().checks);
            assert_eq!(verdict, Verdict::Fail, "{reads}: {text}");
        }
    }
}
