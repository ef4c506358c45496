//! The shipped teaching scenarios (scenarios/*.toml) run in the harness simulator.
//!
//! Every file parses and runs with its expectations met (the cross-protocol ones with
//! all three protocols). docs/PROTOCOLS.md's scenarios A, A' and B are pinned exactly: the
//! leader, and every server's final role, epoch, leader and delivered sequence. The
//! narrated rules the teaching story depends on appear in the timeline, and the Lamport
//! diagram is well-formed XML with one arrow per shown message.

use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::{Event, NodeId, RequestId, Role};
use std::path::PathBuf;
use teaching::lamport::{render_svg, SvgOptions};
use teaching::scenario::run::Fate;
use teaching::scenario::{self, ItemKind, NodeSummary, Outcome, Scenario, Scripted};
use teaching::scenario::{TextOptions, Verdict};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn load(name: &str) -> Scenario {
    let path = dir().join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run<P: Scripted>(s: &Scenario) -> Outcome<P> {
    let outcome = scenario::run::<P>(s).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    if !outcome.passed() {
        panic!(
            "{} with {} failed:\n{}",
            s.name,
            P::NAME,
            scenario::render(s, &outcome, TextOptions::default())
        );
    }
    outcome
}

fn narration<P: protocols::Protocol>(o: &Outcome<P>) -> Vec<&str> {
    o.timeline
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::Narration(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// (role, epoch, leader, delivered) of a running node; `None` for a node that is down.
type Final = Option<(Role, u64, Option<NodeId>, Vec<Option<RequestId>>)>;

fn finals(summary: &[NodeSummary]) -> Vec<Final> {
    summary
        .iter()
        .map(|n| {
            n.status
                .as_ref()
                .map(|s| (s.role, s.term, s.leader, n.delivered.clone()))
        })
        .collect()
}

fn put(origin: NodeId, seq: u64) -> Option<RequestId> {
    Some(RequestId { origin, seq })
}

/// Compares a scenario's narrated timeline with its pinned copy in
/// `scenarios/golden/STEM.PROTOCOL.txt`, or rewrites the copy when `CWB_REWRITE=1`:
/// a protocol change then shows exactly which message moved, in the diff.
fn golden<P: Scripted>(stem: &str, s: &Scenario) {
    let outcome = run::<P>(s);
    let text = scenario::render(s, &outcome, TextOptions::default());
    let path = dir().join("golden").join(format!("{stem}.{}.txt", P::NAME));
    if std::env::var_os("CWB_REWRITE").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(dir().join("golden")).expect("scenarios/golden is writable");
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let pinned = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with CWB_REWRITE=1 cargo nextest run -p teaching --test scenarios",
            path.display()
        )
    });
    if pinned != text {
        let first = pinned
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| pinned.lines().count().min(text.lines().count()));
        panic!(
            "{} changed at line {}:\n  pinned: {}\n  now:    {}\n\
             If the change is intended, rewrite the transcripts with \
             CWB_REWRITE=1 cargo nextest run -p teaching --test scenarios and review the diff.",
            path.display(),
            first + 1,
            pinned.lines().nth(first).unwrap_or("<end of file>"),
            text.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn every_shipped_scenario_runs_and_matches_its_golden_transcripts() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("scenarios/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "shipped scenarios: {files:?}");
    for path in files {
        let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 file name");
        // Every file runs with all three protocols, each with expectations of its own
        // where the outcomes differ (`[[expect]] protocol = "zab"`).
        for kind in protocols::ProtocolKind::ALL {
            assert!(
                s.expects_for(kind) > 0,
                "{stem}: no expectation is checked with {kind}"
            );
        }
        golden::<Raft>(stem, &s);
        golden::<Zab>(stem, &s);
        golden::<Paxos>(stem, &s);
        // A file written for Redis Cluster is pinned with it too.
        if s.protocol == Some(protocols::ProtocolKind::Redis) {
            assert!(s.expects_for(protocols::ProtocolKind::Redis) > 0, "{stem}");
            golden::<protocols::redis::Redis>(stem, &s);
        }
    }
}

#[test]
fn redis_loses_a_write_its_master_acknowledged_and_the_consensus_protocols_do_not() {
    let s = load("redis-acknowledged-write-lost.toml");
    // The file's expectations: the master acknowledged `lost=v2` (delivered 2), its
    // replica had only `kept=v1` when the master died, was promoted at configEpoch 4
    // and still has only `kept=v1`.
    let redis = run::<protocols::redis::Redis>(&s);
    assert!(redis.passed(), "{:#?}", redis.checks);
    assert!(redis.checks.len() >= 3, "{:#?}", redis.checks);
    let raft = run::<Raft>(&s);
    assert!(raft.passed(), "{:#?}", raft.checks);
}

#[test]
fn a_scenario_run_is_the_same_every_time() {
    // The golden transcripts rely on it: same file, same seed, same text.
    let s = load("leader-isolation.toml");
    let once = scenario::render(&s, &run::<Zab>(&s), TextOptions::default());
    let again = scenario::render(&s, &run::<Zab>(&s), TextOptions::default());
    assert_eq!(once, again);
}

#[test]
fn scenario_a_five_servers_in_order_three_leads() {
    let o = run::<Zab>(&load("zab-a.toml"));
    let following = |d| Some((Role::Following, 1, Some(3), d));
    let k1 = vec![put(5, 1)];
    assert_eq!(
        finals(&o.summary()),
        vec![
            following(k1.clone()),
            following(k1.clone()),
            Some((Role::Leading, 1, Some(3), k1.clone())),
            following(k1.clone()),
            following(k1),
        ]
    );
    let n = narration(&o);
    assert!(n.contains(&"n1: vote for 2: same round 1, epoch and zxid equal, sid 2 > 1"));
    assert!(
        n.contains(&"n4: a quorum of round 1 reports leader 3"),
        "{n:#?}"
    );
    // Only server 3 was ever elected.
    let elected: Vec<NodeId> = o
        .sim
        .events()
        .iter()
        .filter(|e| matches!(e.event, Event::LeaderElected { .. }))
        .map(|e| e.node)
        .collect();
    assert_eq!(elected, vec![3]);
    // The timeline attaches the same events (not as narration text) at their instants.
    let in_timeline = o
        .timeline
        .iter()
        .filter(|i| {
            matches!(
                &i.kind,
                ItemKind::Event {
                    node: 3,
                    event: Event::LeaderElected { term: 1 }
                }
            )
        })
        .count();
    assert_eq!(in_timeline, 1);
    assert!(
        !n.iter().any(|t| t.contains("RoleChanged")),
        "events leaked into narration"
    );
}

#[test]
fn scenario_a_prime_three_servers_two_leads() {
    let o = run::<Zab>(&load("zab-a-prime.toml"));
    let k1 = vec![put(3, 1)];
    assert_eq!(
        finals(&o.summary()),
        vec![
            Some((Role::Following, 1, Some(2), k1.clone())),
            Some((Role::Leading, 1, Some(2), k1.clone())),
            Some((Role::Following, 1, Some(2), k1)),
        ]
    );
}

#[test]
fn scenario_b_three_is_elected_by_three_of_five_on_its_higher_zxid() {
    let o = run::<Zab>(&load("zab-b.toml"));
    // The preloaded transaction 0x100000001, then the nine puts sent to server 2.
    let mut delivered = vec![Some(RequestId {
        origin: 0,
        seq: 1 << 32 | 1,
    })];
    delivered.extend((1..=9).map(|seq| put(2, seq)));
    assert_eq!(
        finals(&o.summary()),
        vec![
            None,
            None,
            Some((Role::Leading, 3, Some(3), delivered.clone())),
            Some((Role::Following, 3, Some(3), delivered.clone())),
            Some((Role::Following, 3, Some(3), delivered)),
        ]
    );
    let n = narration(&o);
    for voter in [4, 5] {
        let rule = format!(
            "n{voter}: vote for 3: same round 2, epoch equal (2), zxid 0x200000009 > 0x200000008"
        );
        assert!(n.contains(&rule.as_str()), "missing {rule:?}");
    }
    assert!(n.contains(&"n3: quorum [3, 4, 5] agrees on 3: wait 200ms for a better vote"));
    // Leaders by epoch: 2 led epoch 2, 3 leads epoch 3.
    let leaders: Vec<(u64, NodeId)> = o
        .sim
        .checker()
        .leaders()
        .iter()
        .map(|(t, n)| (*t, *n))
        .collect();
    assert_eq!(leaders, vec![(2, 2), (3, 3)]);
}

#[test]
fn raft_split_vote_has_no_leader_in_term_one() {
    let o = run::<Raft>(&load("raft-split-vote.toml"));
    let candidates_in_term_1 = o
        .sim
        .events()
        .iter()
        .filter(|e| {
            e.event
                == Event::RoleChanged {
                    role: Role::Candidate,
                    term: 1,
                }
        })
        .count();
    assert!(candidates_in_term_1 >= 2, "a split needs two candidates");
    assert!(!o.sim.checker().leaders().contains_key(&1));
    assert!(o.sim.checker().leaders().contains_key(&2));
}

fn at(ms: u64) -> protocols::Time {
    protocols::Time::ZERO.plus(std::time::Duration::from_millis(ms))
}

/// The terms of node `id`'s log, index 1 first.
fn raft_terms(o: &Outcome<Raft>, id: NodeId) -> Vec<u64> {
    let log = o.sim.node(id).expect("node runs").log();
    (1..=log.last_index())
        .filter_map(|i| log.term_at(i))
        .collect()
}

#[test]
fn raft_figure_8_an_earlier_term_on_a_majority_is_not_committed_then_is_overwritten() {
    let full = load("raft-figure-8.toml");
    // Up to (c), the third check: node 1 leads term 4.
    let mut c = full.clone();
    c.steps.retain(|s| s.at < at(1100));
    c.expects.retain(|e| e.at <= at(1100));
    c.end = at(1100);
    let o = run::<Raft>(&c);
    let (&put, _) = o
        .commands
        .iter()
        .find(|(_, name)| *name == "put x=term2")
        .expect("the term-2 put was sent");
    let holds_it = |id: NodeId| {
        o.sim.node(id).is_some_and(|r| {
            r.log()
                .get(3)
                .is_some_and(|e| e.term == 2 && e.command.as_ref().map(|c| c.id) == Some(put))
        })
    };
    let holders: Vec<NodeId> = (1..=5).filter(|&id| holds_it(id)).collect();
    assert_eq!(holders, [1, 2, 3], "the term-2 put is on a majority");
    let leader = o.sim.node(1).expect("node 1 runs");
    assert_eq!((leader.term(), raft_terms(&o, 1)), (4, vec![1, 2, 2, 4]));
    assert_eq!(
        leader.commit_index(),
        0,
        "§5.4.2: not committed by counting"
    );
    // (d): node 5 leads term 5 and index 2 on is its own everywhere.
    let o = run::<Raft>(&full);
    for id in 1..=5 {
        assert_eq!(raft_terms(&o, id), [1, 3, 5, 5], "node {id}'s log");
    }
    assert!(!(1..=5).any(|id| o.sim.applied(id).contains(&Some(put))));
}

#[test]
fn a_drop_of_a_kind_the_protocol_never_sends_fails_the_run() {
    let s = Scenario::parse(
        r#"
name = "typo"
protocol = "raft"
nodes = 3
end_ms = 1000
[[step]]
at_ms = 0
action = "start"
nodes = [1, 2, 3]
[[step]]
at_ms = 0
action = "drop"
from = 1
to = 2
kind = "AppendEntry"
"#,
    )
    .expect("valid");
    let o = scenario::run::<Raft>(&s).expect("runs");
    assert!(!o.passed());
    let problem = o.problems.join("\n");
    assert!(
        problem.contains("\"AppendEntry\"") && problem.contains("AppendEntries, "),
        "{problem}"
    );
}

#[test]
fn paxos_duel_pre_empts_ballots() {
    let o = run::<Paxos>(&load("paxos-duel.toml"));
    let duels: u64 = o
        .sim
        .running()
        .into_iter()
        .filter_map(|id| o.sim.node(id).map(Paxos::duels))
        .sum();
    assert!(duels >= 2, "duels: {duels}");
}

/// Well-formedness: every element closed in order, exactly one root.
fn check_xml(svg: &str) -> usize {
    use quick_xml::events::Event as Xml;
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut roots = 0;
    let mut elements = 0;
    loop {
        match reader.read_event() {
            Ok(Xml::Start(e)) => {
                if stack.is_empty() {
                    roots += 1;
                }
                elements += 1;
                stack.push(e.name().as_ref().to_vec());
            }
            Ok(Xml::Empty(_)) => elements += 1,
            Ok(Xml::End(e)) => {
                assert_eq!(stack.pop().as_deref(), Some(e.name().as_ref()));
            }
            Ok(Xml::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "SVG is not well-formed at {}: {e}",
                reader.buffer_position()
            ),
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1);
    elements
}

#[test]
fn lamport_svg_is_well_formed_with_one_arrow_per_shown_message() {
    let s = load("zab-b.toml");
    let o = run::<Zab>(&s);
    for verbose in [false, true] {
        let svg = render_svg(
            "B <&> \"quotes\"",
            &o.sim.ids(),
            &o.vocabulary,
            &o.timeline,
            &o.checks,
            SvgOptions {
                verbose,
                ..SvgOptions::default()
            },
        );
        assert!(check_xml(&svg) > 100);
        let shown = o
            .timeline
            .iter()
            .filter(|i| match &i.kind {
                ItemKind::Message(m) => verbose || (!m.routine && m.fate == Fate::Delivered),
                _ => false,
            })
            .count();
        assert_eq!(svg.matches(r#"<g class="msg">"#).count(), shown);
        assert_eq!(svg.matches(r#"<g class="check">"#).count(), o.checks.len());
        assert!(svg.contains("B &lt;&amp;&gt; &quot;quotes&quot;"));
    }
    let paxos = run::<Paxos>(&load("leader-isolation.toml"));
    let svg = render_svg(
        "isolation",
        &paxos.sim.ids(),
        &paxos.vocabulary,
        &paxos.timeline,
        &paxos.checks,
        SvgOptions::default(),
    );
    check_xml(&svg);
    assert!(svg.contains("LEADING") || svg.contains("leader 1.5"));
}

const SMALL: &str = r#"
name = "small"
protocol = "zab"
nodes = 3
[[step]]
at_ms = 0
action = "start"
nodes = [1, 2, 3]
"#;

fn parse_err(extra: &str) -> String {
    match Scenario::parse(&format!("{SMALL}{extra}")) {
        Ok(_) => panic!("accepted: {extra}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_files_are_refused_with_the_place_named() {
    let e = parse_err("[[step]]\nat_ms = 5\naction = \"explode\"\nnode = 1\n");
    assert!(e.contains("step 2") && e.contains("unknown action"), "{e}");
    let e = parse_err("[[step]]\nat_ms = 5\naction = \"crash\"\nnode = 4\n");
    assert!(e.contains("node 4 is not in the cluster"), "{e}");
    let e = parse_err("[[step]]\nat_ms = 5\naction = \"heal\"\nnode = 1\n");
    assert!(e.contains("`node` means nothing"), "{e}");
    let e = parse_err("[[step]]\nat_ms = 5\naction = \"start\"\nnode = \"leader\"\n");
    assert!(e.contains("cannot be the leader"), "{e}");
    let e = parse_err("[[expect]]\nat_ms = 5\nstates = { 1 = \"sleepy\" }\n");
    assert!(e.contains("expect 1") && e.contains("sleepy"), "{e}");
    let e = parse_err("[[history]]\nnode = 1\nentries = [[2, 1], [1, 1]]\n");
    assert!(
        e.contains("history 1") && e.contains("does not follow"),
        "{e}"
    );
    let drop = "[[step]]\nat_ms = 5\naction = \"drop\"\n";
    let e = parse_err(&format!("{drop}from = 1\nto = 2\n"));
    assert!(
        e.contains("step 2") && e.contains("drop needs `kind`"),
        "{e}"
    );
    let e = parse_err(&format!("{drop}from = 1\nto = [2, 9]\nkind = \"ACK\"\n"));
    assert!(e.contains("node 9 is not in the cluster"), "{e}");
    let e = parse_err(&format!(
        "{drop}from = 1\nto = 2\nkind = \"ACK\"\nuntil_ms = 5\n"
    ));
    assert!(e.contains("until_ms = 5 is not after"), "{e}");
    let e = parse_err(&format!("{drop}from = 1\nto = 1\nkind = \"ACK\"\n"));
    assert!(e.contains("no link"), "{e}");
    let e = parse_err("[[step]]\nat_ms = 5\naction = \"put\"\nnode = 1\nkind = \"ACK\"\n");
    assert!(e.contains("`kind` means nothing"), "{e}");
    let e = parse_err("[timing]\nelection_timeout_min_ms = 300\nelection_timeout_max_ms = 100\n");
    assert!(e.contains("[timing]"), "{e}");
    // Top-level keys go before SMALL's tables.
    for (top, says) in [("end_ms = 99999999", "virtual time"), ("typo = 1", "typo")] {
        match Scenario::parse(&format!("{top}\n{SMALL}")) {
            Ok(_) => panic!("accepted {top}"),
            Err(e) => assert!(e.to_string().contains(says), "{e}"),
        }
    }
    assert!(Scenario::load(&dir().join("no-such-file.toml")).is_err());
}

#[test]
fn failed_expectations_and_impossible_steps_fail_the_run() {
    let s = Scenario::parse(&format!(
        "{SMALL}[[expect]]\nat_ms = 100\nleader = \"any\"\n\
         [[step]]\nat_ms = 100\naction = \"crash\"\nnode = \"leader\"\n\
         [[expect]]\nat_ms = 2000\nleader = 1\nstates = {{ 3 = \"down\" }}\n"
    ))
    .expect("valid");
    let o = scenario::run::<Zab>(&s).expect("runs");
    // Before the finalize wait ends nobody leads, so crashing "leader" is impossible.
    assert!(!o.checks[0].passed());
    assert_eq!(o.problems.len(), 1, "{:?}", o.problems);
    assert!(!o.checks[1].passed());
    assert!(o.checks[1]
        .lines
        .iter()
        .any(|l| l.verdict == Verdict::Fail && l.text.contains("expected node 1 to lead")));
    assert!(!o.passed());
}

/// Runs the stale-candidate scenario over `seeds` with `reset` and returns how many
/// seeds elected an up-to-date leader by the file's check (one timeout range after
/// nodes 1 and 3 started), and the instant of each seed's first election in ms.
fn stale_candidate_over_seeds(
    reset: protocols::RaftTimerReset,
    pre_vote: bool,
    seeds: u64,
) -> (u64, Vec<f64>) {
    let mut s = load("raft-stale-candidate.toml");
    s.timing.raft_timer_reset = reset;
    s.timing.pre_vote = pre_vote;
    let mut passed = 0;
    let mut elected_at = Vec::new();
    for seed in 0..seeds {
        s.seed = seed;
        let o = scenario::run::<Raft>(&s).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(o.problems.is_empty(), "seed {seed}: {:?}", o.problems);
        if o.passed() {
            passed += 1;
        }
        if let Some(e) = o
            .sim
            .events()
            .iter()
            .find(|e| matches!(e.event, Event::LeaderElected { .. }))
        {
            assert_ne!(e.node, 2, "seed {seed}: the node with the shorter log won");
            elected_at.push(e.at.as_nanos() as f64 / 1e6);
        }
    }
    (passed, elected_at)
}

#[test]
fn a_stale_candidate_does_not_delay_the_up_to_date_leader_on_200_seeds() {
    // Raft Figure 2: a higher term in a refused RequestVote does not restart a follower's
    // election timeout, so node 1 or 3 leads within one timeout range of their start.
    let (figure2, at) = stale_candidate_over_seeds(protocols::RaftTimerReset::Figure2, false, 200);
    // etcd's rule restarts it, and node 2's refused candidacies hold them back.
    let (etcd, etcd_at) = stale_candidate_over_seeds(protocols::RaftTimerReset::Etcd, false, 200);
    // With PreVote (thesis §9.6, as etcd runs it) node 2's pre-votes are refused, its
    // term never rises, and etcd's rule has nothing to restart the timers with.
    let (pre_vote, _) = stale_candidate_over_seeds(protocols::RaftTimerReset::Etcd, true, 200);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    eprintln!(
        "leader within one timeout range: figure2 {figure2}/200 (median first election {:.0} ms), \
         etcd {etcd}/200 (median {:.0} ms)",
        median(at),
        median(etcd_at)
    );
    assert!(figure2 >= 194, "figure2: only {figure2} of 200 seeds");
    assert!(etcd < figure2, "etcd {etcd} >= figure2 {figure2}");
    eprintln!("etcd's rule with PreVote: {pre_vote}/200");
    assert!(
        pre_vote >= 194,
        "etcd with PreVote: only {pre_vote} of 200 seeds"
    );
}

#[test]
fn timelines_tell_each_writes_fate() {
    // Figure 8 (§5.4.2): the term-5 leader commits by counting its own term's entries,
    // and the followers holding the term-2 entries drop them, naming the conflict.
    let s = load("raft-figure-8.toml");
    let o = run::<Raft>(&s);
    let text = scenario::render(&s, &o, TextOptions::default());
    assert!(
        text.contains("n5: commits indexes 1..=3: 3 is stored on 5, 2, 3"),
        "no commit line naming the holders:\n{text}"
    );
    assert!(
        text.contains("n2: drops entries 2@2 3@2: entry 2 (term 2) conflicts with leader 5's entry 2 (term 3)"),
        "no truncation line:\n{text}"
    );
    assert!(
        text.contains("client gets no answer for put x=term2: n1 crashed before answering"),
        "no line for the put the crash orphaned:\n{text}"
    );
    assert!(
        text.contains("n5 answers client: put y=term5 acknowledged (applied at index 4)"),
        "{text}"
    );
    // The legend once at the top, and every node's log at every check: after the
    // overwrite, all five hold the term-5 leader's log, committed.
    assert_eq!(text.matches("logs at checks:").count(), 1);
    assert!(text.contains("log  n1: [1@1 2@3 3..4@5]"), "{text}");

    // A put sent to a follower: Raft and Paxos refuse it, naming the leader; ZAB's
    // follower forwards it and answers once it is delivered.
    let s = load("raft-leader-crash.toml");
    let refused = "n5 refuses client: put k6=v6: not the leader (try node 4)";
    for text in [
        scenario::render(&s, &run::<Raft>(&s), TextOptions::default()),
        scenario::render(&s, &run::<Paxos>(&s), TextOptions::default()),
    ] {
        assert!(text.contains(refused), "{text}");
    }
    let text = scenario::render(&s, &run::<Zab>(&s), TextOptions::default());
    assert!(
        text.contains("n5 answers client: put k6=v6 acknowledged"),
        "{text}"
    );
    // Quiet timelines keep the fates: they are decisions, not messages.
    let quiet = TextOptions {
        quiet: true,
        ..TextOptions::default()
    };
    let text = scenario::render(&s, &run::<Raft>(&s), quiet);
    assert!(
        text.contains(refused) && text.contains("n4: commits index"),
        "{text}"
    );
}

#[test]
fn the_diagram_marks_leader_commits_and_client_outcomes() {
    let s = load("raft-leader-crash.toml");
    let o = run::<Raft>(&s);
    let svg = render_svg(
        &s.name,
        &o.sim.ids(),
        &o.vocabulary,
        &o.timeline,
        &o.checks,
        SvgOptions::default(),
    );
    check_xml(&svg);
    // Commits 1..=4 by n5 and 5..=7 by n4, one mark per advance of a leader.
    assert_eq!(svg.matches(r#"<g class="commit">"#).count(), 7, "{svg}");
    // Five acknowledged puts and the refused one.
    assert_eq!(svg.matches(r#"<g class="reply">"#).count(), 6);
    assert!(svg.contains("✗ put k6=v6"));
    assert!(svg.contains("n5 refused put k6=v6: not the leader (try node 4)"));
}

#[test]
fn steps_and_expectations_may_name_their_protocols() {
    let s = Scenario::parse(&format!(
        "{SMALL}
[[step]]
protocol = \"raft\"
at_ms = 10
action = \"drop\"
from = 1
to = 2
kind = \"AppendEntries\"
[[expect]]
at_ms = 900
leader = \"any\"
[[expect]]
protocol = \"zab\"
at_ms = 900
leader = 3
[[expect]]
protocol = [\"raft\", \"paxos\"]
at_ms = 900
others_follow = true
"
    ))
    .expect("valid");
    use protocols::ProtocolKind::{Paxos as P, Raft as R, Zab as Z};
    assert_eq!(
        (s.expects_for(R), s.expects_for(Z), s.expects_for(P)),
        (2, 2, 2)
    );
    assert_eq!(s.for_protocol(R).steps.len(), 2, "the drop runs with Raft");
    assert_eq!(s.for_protocol(Z).steps.len(), 1, "and only with Raft");
    assert_eq!(
        s.for_protocol(Z).expects[1].leader,
        Some(scenario::spec::LeaderIs::Node(3))
    );
    // ZAB elects the highest sid of equal zxids; its own expectation holds.
    assert!(run::<Zab>(&s).passed());
    let e = parse_err("[[expect]]\nprotocol = \"multipaxos\"\nat_ms = 5\nleader = 1\n");
    assert!(
        e.contains("expect 1") && e.contains("unknown protocol"),
        "{e}"
    );
    let e = parse_err("[[step]]\nprotocol = []\nat_ms = 5\naction = \"heal\"\n");
    assert!(
        e.contains("step 2") && e.contains("name at least one protocol"),
        "{e}"
    );
}

#[test]
fn a_history_on_some_nodes_starts_the_others_in_its_generation() {
    // Node 2 alone holds an entry of term 1. Before, the others started in term 0, one
    // of them won term 1 and wrote another entry at index 1: a "violation" from a start
    // no run can reach. Now every node starts in term 1, the winner takes term 2, and
    // node 2's uncommitted entry is replaced, safely.
    let s = load("zab-b.toml");
    let o = run::<Raft>(&s);
    assert!(o.problems.is_empty(), "{:?}", o.problems);
    let first_terms: Vec<u64> = o
        .sim
        .events()
        .iter()
        .filter_map(|e| match e.event {
            Event::LeaderElected { term } => Some(term),
            _ => None,
        })
        .collect();
    assert_eq!(first_terms.first(), Some(&2), "{first_terms:?}");
    let text = scenario::render(&s, &o, TextOptions::default());
    assert!(text.contains("n1 is follower (term 1)"), "{text}");
    assert!(
        text.contains("drops entry 1 (term 1): conflicts with leader"),
        "{text}"
    );
}

#[test]
fn paxos_without_back_off_livelocks_and_with_it_elects() {
    let s = load("paxos-livelock.toml");
    assert!(!s.backoff, "the file switches back-off off");
    let duels = |o: &Outcome<Paxos>| -> u64 {
        o.sim
            .running()
            .into_iter()
            .filter_map(|id| o.sim.node(id).map(Paxos::duels))
            .sum()
    };
    let o = run::<Paxos>(&s);
    assert!(o.sim.checker().leaders().is_empty(), "nobody was elected");
    assert!(duels(&o) >= 20, "duels: {}", duels(&o));
    assert!(narration(&o)
        .iter()
        .any(|l| l.contains("back-off is off, retry at once")));
    // The same start with the back-off: one duel, then a leader.
    let mut on = s.clone();
    on.backoff = true;
    on.expects.clear();
    let o = scenario::run::<Paxos>(&on).expect("runs");
    assert_eq!(o.sim.checker().leaders().len(), 1);
    assert!(duels(&o) <= 2, "duels: {}", duels(&o));
}
