//! PreVote and CheckQuorum (thesis §9.6, as etcd-io/raft runs them): each rule as a
//! handler test, then the two scenarios they exist for, each with the setting off as
//! well to show the difference.

use super::*;
use std::time::Duration;

/// etcd's defaults: PreVote and CheckQuorum on (the workbench's defaults too).
fn etcd() -> Timing {
    Timing::default()
}

/// Node `id` of three voters running `timing`, narrating, started.
fn started(timing: Timing, id: NodeId) -> One {
    let pump = Pump::new(Membership::voters(1..=3))
        .timing(timing)
        .narrate(true);
    let mut r = one(id, pump, vec![]);
    start(&mut r);
    r
}

fn pre_vote(term: Term, last_log_index: u64, last_log_term: Term) -> RaftMessage {
    RaftMessage::PreVote {
        term,
        last_log_index,
        last_log_term,
    }
}

fn heartbeat(term: Term) -> RaftMessage {
    RaftMessage::AppendEntries {
        term,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: Vec::new(),
        leader_commit: 0,
    }
}

/// What the node has narrated, once its effects are released (end of batch, disk
/// synced).
fn narration(r: &mut One) -> Vec<String> {
    end_batch(r);
    all_durable(r);
    r.pump.narration(r.id)
}

fn persists(out: &Out) -> bool {
    out.iter().any(|e| matches!(e, Effect::Persist(_)))
}

/// Makes node 1 of three the leader of term 1 with PreVote and CheckQuorum on.
fn etcd_leader() -> One {
    let mut r = started(etcd(), 1);
    step(&mut r, Input::Timer(RaftTimer::Election));
    step(
        &mut r,
        msg(
            2,
            RaftMessage::PreVoteResponse {
                term: 1,
                granted: true,
            },
        ),
    );
    step(
        &mut r,
        msg(
            2,
            RaftMessage::RequestVoteResponse {
                term: 1,
                granted: true,
            },
        ),
    );
    assert_eq!(r.role(), Role::Leader);
    r
}

#[test]
fn a_timeout_asks_for_pre_votes_at_the_next_term_and_changes_nothing() {
    // §9.6: "a candidate would first ask other servers whether its log was up-to-date
    // enough to get their vote": the term is not incremented, nothing is persisted.
    let mut r = started(etcd(), 1);
    let out = step(&mut r, Input::Timer(RaftTimer::Election));
    assert_eq!(r.term(), 0);
    assert_eq!(r.role(), Role::Follower);
    assert!(!persists(&out), "a pre-vote writes nothing");
    assert_eq!(
        sends(&out),
        vec![(2, pre_vote(1, 0, 0)), (3, pre_vote(1, 0, 0))]
    );
    assert!(election_timer_set(&out), "a failed pre-vote retries later");
}

#[test]
fn a_majority_of_pre_votes_starts_the_real_election() {
    // §9.6: "Only if the candidate believed it could get votes from a majority of the
    // cluster would it increment its term and start a normal election."
    let mut r = started(etcd(), 1);
    step(&mut r, Input::Timer(RaftTimer::Election));
    let out = step(
        &mut r,
        msg(
            3,
            RaftMessage::PreVoteResponse {
                term: 1,
                granted: true,
            },
        ),
    );
    assert_eq!(r.role(), Role::Candidate);
    assert_eq!(r.term(), 1);
    assert!(persists(&out), "the real vote for itself is durable");
    let asked: Vec<NodeId> = sends(&out)
        .iter()
        .filter(|(_, m)| matches!(m, RaftMessage::RequestVote { term: 1, .. }))
        .map(|(to, _)| *to)
        .collect();
    assert_eq!(asked, vec![2, 3]);
}

#[test]
fn a_pre_vote_is_granted_without_adopting_its_term_recording_or_resetting_anything() {
    // etcd: "Never change our term in response to a PreVote"; the grant carries the
    // pre-vote's term.
    let mut r = started(etcd(), 2);
    let out = step(&mut r, msg(1, pre_vote(5, 0, 0)));
    assert_eq!(r.term(), 0);
    assert!(!persists(&out));
    assert!(
        !election_timer_set(&out),
        "a pre-vote is not a vote (Figure 2)"
    );
    assert_eq!(
        sends(&out),
        vec![(
            1,
            RaftMessage::PreVoteResponse {
                term: 5,
                granted: true
            }
        )]
    );
    assert!(narration(&mut r).iter().any(|l| l
        .starts_with("pre-vote granted to 1 for term 5: log up to date")
        && l.ends_with("no leader heard within the election timeout")));
}

#[test]
fn a_pre_vote_is_refused_while_a_leader_was_heard_within_the_election_timeout_min() {
    // §9.6: servers "disregard RequestVote RPCs when they believe a current leader exists".
    let mut r = started(etcd(), 2);
    step(&mut r, msg(1, heartbeat(1)));
    let out = step(&mut r, msg(3, pre_vote(2, 9, 1)));
    assert_eq!(
        sends(&out),
        vec![(
            3,
            RaftMessage::PreVoteResponse {
                term: 1,
                granted: false
            }
        )]
    );
    assert!(narration(&mut r)
        .iter()
        .any(|l| l.starts_with("refuse pre-vote to 3: heard from leader 1")));
    // Once the lease runs out, the same pre-vote is granted.
    r.pump.advance(etcd().election_timeout_min);
    let out = step(&mut r, msg(3, pre_vote(2, 9, 1)));
    assert_eq!(
        sends(&out),
        vec![(
            3,
            RaftMessage::PreVoteResponse {
                term: 2,
                granted: true
            }
        )]
    );
}

#[test]
fn a_leader_refuses_pre_votes() {
    let mut r = etcd_leader();
    let out = step(&mut r, msg(3, pre_vote(2, 9, 1)));
    assert_eq!(
        sends(&out),
        vec![(
            3,
            RaftMessage::PreVoteResponse {
                term: 1,
                granted: false
            }
        )]
    );
    assert_eq!(r.role(), Role::Leader);
}

#[test]
fn a_pre_vote_from_a_log_behind_ours_or_a_stale_term_is_refused() {
    // §5.4.1's up-to-date check applies to pre-votes as to votes.
    let mut r = node_with(
        etcd(),
        2,
        3,
        vec![
            RaftRecord::HardState {
                term: 3,
                voted_for: None,
            },
            RaftRecord::Entries {
                first_index: 1,
                entries: vec![Entry {
                    term: 3,
                    command: None,
                }],
            },
        ],
    );
    start(&mut r);
    let out = step(&mut r, msg(1, pre_vote(4, 1, 2)));
    assert_eq!(
        sends(&out),
        vec![(
            1,
            RaftMessage::PreVoteResponse {
                term: 3,
                granted: false
            }
        )]
    );
    let out = step(&mut r, msg(1, pre_vote(2, 5, 3)));
    assert_eq!(
        sends(&out),
        vec![(
            1,
            RaftMessage::PreVoteResponse {
                term: 3,
                granted: false
            }
        )],
        "a stale pre-candidate learns the current term"
    );
    assert_eq!(r.term(), 3);
}

#[test]
fn a_granted_pre_vote_answer_in_the_future_never_makes_anyone_step_down() {
    // etcd: a granted MsgPreVoteResp carries the pre-candidate's future term; only
    // a refusal's term is adopted.
    let mut r = etcd_leader();
    let out = step(
        &mut r,
        msg(
            2,
            RaftMessage::PreVoteResponse {
                term: 7,
                granted: true,
            },
        ),
    );
    assert_eq!((r.role(), r.term()), (Role::Leader, 1));
    assert!(!persists(&out));
    // A pre-candidate refused by a server at a higher term adopts it and follows.
    let mut p = started(etcd(), 1);
    step(&mut p, Input::Timer(RaftTimer::Election));
    step(
        &mut p,
        msg(
            2,
            RaftMessage::PreVoteResponse {
                term: 4,
                granted: false,
            },
        ),
    );
    assert_eq!((p.role(), p.term()), (Role::Follower, 4));
}

#[test]
fn a_pre_candidate_follows_a_leader_of_its_term() {
    let mut r = started(etcd(), 1);
    step(&mut r, Input::Timer(RaftTimer::Election));
    step(&mut r, msg(2, heartbeat(0)));
    // Its own pre-vote is over: a late grant starts no election.
    step(
        &mut r,
        msg(
            3,
            RaftMessage::PreVoteResponse {
                term: 1,
                granted: true,
            },
        ),
    );
    assert_eq!((r.role(), r.term()), (Role::Follower, 0));
    assert_eq!(r.status().leader, Some(2));
}

#[test]
fn with_check_quorum_a_request_vote_within_the_lease_is_ignored_term_and_all() {
    // etcd's inLease: with CheckQuorum a server that heard from a leader within the
    // election timeout min neither answers a higher-term RequestVote nor adopts its term.
    let rv = RaftMessage::RequestVote {
        term: 2,
        last_log_index: 5,
        last_log_term: 1,
    };
    let mut r = started(etcd(), 2);
    step(&mut r, msg(1, heartbeat(1)));
    let out = step(&mut r, msg(3, rv.clone()));
    assert!(sends(&out).is_empty());
    assert_eq!(r.term(), 1);
    assert!(narration(&mut r)
        .iter()
        .any(|l| l.starts_with("ignore RequestVote from 3 for term 2: heard from leader 1")));
    // A leader is its own lease.
    let mut l = etcd_leader();
    let out = step(&mut l, msg(3, rv.clone()));
    assert!(sends(&out).is_empty());
    assert_eq!((l.role(), l.term()), (Role::Leader, 1));
    // Without CheckQuorum the paper's §5.1 applies: the term is adopted, the vote given.
    let mut r = started(
        Timing {
            check_quorum: false,
            ..etcd()
        },
        2,
    );
    step(&mut r, msg(1, heartbeat(1)));
    let out = step(&mut r, msg(3, rv));
    assert_eq!(r.term(), 2);
    assert_eq!(
        sends(&out),
        vec![(
            3,
            RaftMessage::RequestVoteResponse {
                term: 2,
                granted: true
            }
        )]
    );
}

#[test]
fn check_quorum_steps_a_leader_down_when_a_majority_was_not_heard_within_the_timeout() {
    // §6.2/§9.6: "a leader steps down if an election timeout elapses without a
    // successful round of heartbeats to a majority of its cluster".
    let min = etcd().election_timeout_min;
    let mut r = etcd_leader();
    r.pump.advance(min);
    let out = step(&mut r, Input::Timer(RaftTimer::Heartbeat));
    assert_eq!((r.role(), r.term()), (Role::Follower, 1));
    assert!(sends(&out).is_empty(), "no heartbeats after stepping down");
    assert!(election_timer_set(&out));
    assert!(narration(&mut r)
        .iter()
        .any(|l| l.starts_with("step down in term 1: heard from only [1]")));
}

#[test]
fn check_quorum_keeps_a_leader_that_one_follower_of_two_answers() {
    let min = etcd().election_timeout_min;
    let mut r = etcd_leader();
    for _ in 0..5 {
        r.pump.advance(min / 2);
        step(
            &mut r,
            msg(
                3,
                RaftMessage::AppendEntriesResponse {
                    term: 1,
                    success: true,
                    index: 1,
                    rejected: 0,
                },
            ),
        );
        step(&mut r, Input::Timer(RaftTimer::Heartbeat));
        assert_eq!(r.role(), Role::Leader);
    }
}

#[test]
fn without_check_quorum_a_leader_nobody_answers_stays_leader() {
    let mut r = node_with(
        Timing {
            check_quorum: false,
            ..etcd()
        },
        1,
        3,
        vec![],
    );
    start(&mut r);
    step(&mut r, Input::Timer(RaftTimer::Election));
    for (from, m) in [
        (
            2,
            RaftMessage::PreVoteResponse {
                term: 1,
                granted: true,
            },
        ),
        (
            2,
            RaftMessage::RequestVoteResponse {
                term: 1,
                granted: true,
            },
        ),
    ] {
        step(&mut r, msg(from, m));
    }
    assert_eq!(r.role(), Role::Leader);
    r.pump.advance(Duration::from_secs(10));
    step(&mut r, Input::Timer(RaftTimer::Heartbeat));
    assert_eq!(r.role(), Role::Leader);
}

// Scenarios: three nodes in the pump.

/// Three voters running `timing`, node 1 elected leader of term 1 and its no-op
/// committed everywhere.
fn cluster(timing: Timing) -> Pump<Raft> {
    let mut p = Pump::new(Membership::voters(1..=3)).timing(timing);
    p.start_all();
    p.fire(1, RaftTimer::Election);
    p.deliver_all();
    assert_eq!(p.leaders(), vec![1]);
    p.fire(1, RaftTimer::Heartbeat);
    p.deliver_all();
    p
}

/// Node 3 is cut off for `timeouts` election timeouts while 1 leads and commits a
/// write; then the cut heals and 3's next timeout fires.
fn node_returns_from_a_partition(timing: Timing, timeouts: usize) -> Pump<Raft> {
    let mut p = cluster(timing.clone());
    p.partition(&[3]);
    for _ in 0..timeouts {
        for _ in 0..4 {
            p.advance(timing.heartbeat);
            p.fire(1, RaftTimer::Heartbeat);
            p.deliver_all();
        }
        p.fire(3, RaftTimer::Election);
        p.deliver_all();
    }
    p.write(1, "x");
    p.deliver_all();
    p.heal();
    p.fire(1, RaftTimer::Heartbeat);
    p.fire(3, RaftTimer::Election);
    p.deliver_all();
    p
}

#[test]
fn scenario_with_pre_vote_a_node_back_from_a_partition_neither_raises_the_term_nor_unseats_the_leader(
) {
    let p = node_returns_from_a_partition(etcd(), 5);
    assert_eq!(p.leaders(), vec![1]);
    for id in 1..=3 {
        assert_eq!(p.status(id).term, 1, "node {id}");
    }
    assert_eq!(
        p.status(3).leader,
        Some(1),
        "the returning node follows again"
    );
    assert_eq!(p.applied_data(3), ["x"]);
    // PreVote alone (CheckQuorum off) is enough for this.
    let p = node_returns_from_a_partition(
        Timing {
            check_quorum: false,
            ..etcd()
        },
        5,
    );
    assert_eq!(p.leaders(), vec![1]);
    assert_eq!(p.status(1).term, 1);
}

#[test]
fn scenario_without_pre_vote_a_node_back_from_a_partition_unseats_the_leader() {
    let p = node_returns_from_a_partition(paper(), 5);
    assert!(p.status(3).term >= 5, "each timeout raised 3's term");
    assert_ne!(
        p.status(1).role,
        Role::Leader,
        "the returning node's higher term deposed a healthy leader"
    );
    assert!(p.status(1).term >= 5);
}

/// Leader 1 is cut off from both followers; its heartbeat timer keeps firing. Returns
/// how long after the cut it stopped leading, if it did within `limit`.
fn isolated_leader_steps_down_after(timing: Timing, limit: Duration) -> Option<Duration> {
    let mut p = cluster(timing.clone());
    p.partition(&[1]);
    let cut = p.now();
    while p.now().since(cut) < limit {
        p.advance(timing.heartbeat);
        p.fire(1, RaftTimer::Heartbeat);
        p.deliver_all();
        if p.status(1).role != Role::Leader {
            return Some(p.now().since(cut));
        }
    }
    None
}

#[test]
fn scenario_with_check_quorum_an_isolated_leader_steps_down_within_an_election_timeout() {
    let t = etcd();
    let took = isolated_leader_steps_down_after(t.clone(), Duration::from_secs(5))
        .expect("the isolated leader steps down");
    assert!(
        took <= t.election_timeout_min + t.heartbeat + Duration::from_millis(10),
        "took {took:?}"
    );
    assert!(
        took >= t.election_timeout_min - t.heartbeat,
        "took {took:?}"
    );
}

#[test]
fn scenario_without_check_quorum_an_isolated_leader_stays_leader() {
    let t = Timing {
        check_quorum: false,
        ..etcd()
    };
    assert_eq!(
        isolated_leader_steps_down_after(t, Duration::from_secs(5)),
        None
    );
}
