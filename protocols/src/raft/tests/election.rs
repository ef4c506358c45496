//! Leader election (§5.1, §5.2, §5.4.1) and the election timer (Figure 2).

use super::*;

#[test]
fn start_arms_a_randomized_election_timer_in_range() {
    // §5.2: "election timeouts are chosen randomly from a fixed interval (e.g. 150-300ms)".
    let mut r = node(1, 3, vec![]);
    let out = start(&mut r);
    let after = out
        .iter()
        .find_map(|e| match e {
            Effect::SetTimer {
                timer: RaftTimer::Election,
                after,
            } => Some(*after),
            _ => None,
        })
        .expect("election timer armed");
    let t = Timing::default();
    assert!(after >= t.election_timeout_min && after <= t.election_timeout_max);
}

#[test]
fn timeout_makes_a_candidate_that_votes_for_itself_durably_before_asking() {
    // §5.2: "increments its current term ... votes for itself ... issues RequestVote RPCs".
    let mut r = node(1, 3, vec![]);
    start(&mut r);
    let out = step(&mut r, Input::Timer(RaftTimer::Election));
    assert_eq!(r.role(), Role::Candidate);
    assert_eq!(r.term(), 1);
    let persisted = pos(&out, |e| {
        matches!(
            e,
            Effect::Persist(RaftRecord::HardState {
                term: 1,
                voted_for: Some(1)
            })
        )
    });
    let first_send = pos(&out, |e| matches!(e, Effect::Send { .. }));
    assert!(
        persisted < first_send,
        "vote for self is durable before any RequestVote leaves"
    );
    let asked: Vec<NodeId> = sends(&out).iter().map(|(to, _)| *to).collect();
    assert_eq!(asked, vec![2, 3]);
}

#[test]
fn one_vote_per_term_first_come_first_served() {
    // §5.2: "each server will vote for at most one candidate in a given term".
    let mut r = node(3, 3, vec![]);
    start(&mut r);
    let rv = RaftMessage::RequestVote {
        term: 1,
        last_log_index: 0,
        last_log_term: 0,
    };
    let out = step(&mut r, msg(1, rv.clone()));
    let p = pos(&out, |e| {
        matches!(
            e,
            Effect::Persist(RaftRecord::HardState {
                term: 1,
                voted_for: Some(1)
            })
        )
    });
    let s = pos(&out, |e| matches!(e, Effect::Send { .. }));
    assert!(p < s, "vote persisted before it is sent");
    assert_eq!(
        sends(&out),
        vec![(
            1,
            RaftMessage::RequestVoteResponse {
                term: 1,
                granted: true
            }
        )]
    );
    let out = step(&mut r, msg(2, rv.clone()));
    assert_eq!(
        sends(&out),
        vec![(
            2,
            RaftMessage::RequestVoteResponse {
                term: 1,
                granted: false
            }
        )]
    );
    // The same candidate asking again (a retransmission) gets the same answer.
    let out = step(&mut r, msg(1, rv));
    assert_eq!(
        sends(&out),
        vec![(
            1,
            RaftMessage::RequestVoteResponse {
                term: 1,
                granted: true
            }
        )]
    );
}

#[test]
fn vote_refused_to_a_candidate_with_a_stale_log() {
    // §5.4.1: "the voter denies its vote if its own log is more up-to-date".
    let records = vec![
        RaftRecord::HardState {
            term: 2,
            voted_for: None,
        },
        RaftRecord::Entries {
            first_index: 1,
            entries: vec![Entry {
                term: 2,
                command: None,
            }],
        },
    ];
    let mut r = node(3, 3, records);
    start(&mut r);
    let out = step(
        &mut r,
        msg(
            1,
            RaftMessage::RequestVote {
                term: 3,
                last_log_index: 5,
                last_log_term: 1,
            },
        ),
    );
    assert_eq!(
        sends(&out),
        vec![(
            1,
            RaftMessage::RequestVoteResponse {
                term: 3,
                granted: false
            }
        )]
    );
    assert_eq!(r.term(), 3, "the higher term is still adopted");
}

#[test]
fn majority_makes_a_leader_that_appends_a_noop_and_replicates_it() {
    let mut r = node(1, 3, vec![]);
    start(&mut r);
    step(&mut r, Input::Timer(RaftTimer::Election));
    let out = step(
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
    assert!(out.contains(&Effect::Event(Event::LeaderElected { term: 1 })));
    let noop = Entry {
        term: 1,
        command: None,
    };
    let p = pos(&out, |e| {
        matches!(
            e,
            Effect::Persist(RaftRecord::Entries { first_index: 1, .. })
        )
    });
    // Thesis §10.2.1: the no-op is written and sent in parallel; the leader asks to
    // hear when its own copy is durable.
    let s = pos(&out, |e| matches!(e, Effect::SendAhead { .. }));
    let d = pos(&out, |e| matches!(e, Effect::SignalWhenDurable(_)));
    assert!(p < d && p < s);
    let ae = RaftMessage::AppendEntries {
        term: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![noop],
        leader_commit: 0,
    };
    assert_eq!(sends(&out), vec![(2, ae.clone()), (3, ae)]);
}

#[test]
fn higher_term_makes_leader_step_down() {
    // §5.1: "If a candidate or leader discovers that its term is out of date, it
    // immediately reverts to follower state."
    let mut r = leader(3);
    let out = step(
        &mut r,
        msg(
            2,
            RaftMessage::AppendEntriesResponse {
                term: 7,
                success: false,
                index: 1,
                rejected: 0,
            },
        ),
    );
    assert_eq!(r.role(), Role::Follower);
    assert_eq!(r.term(), 7);
    assert!(out.contains(&Effect::Persist(RaftRecord::HardState {
        term: 7,
        voted_for: None
    })));
    assert!(out.contains(&Effect::CancelTimer(RaftTimer::Heartbeat)));
    // A leader has no election timer; as a follower it needs one to ever campaign.
    assert!(election_timer_set(&out));
}

#[test]
fn a_refused_candidate_with_a_higher_term_does_not_restart_the_followers_timeout() {
    // Figure 2, Rules for Servers, Followers: "If election timeout elapses without
    // receiving AppendEntries RPC from current leader or granting vote to candidate:
    // convert to candidate." A higher term converts to follower (§5.1), but refusing the
    // vote is neither event, so the timer keeps running.
    let mut r = node_with_reset(1, RaftTimerReset::Figure2);
    start(&mut r);
    let out = step(&mut r, stale_candidacy());
    assert_eq!(r.term(), 2);
    assert_eq!(r.role(), Role::Follower);
    assert!(out.contains(&Effect::Persist(RaftRecord::HardState {
        term: 2,
        voted_for: None
    })));
    assert_eq!(
        sends(&out),
        vec![(
            2,
            RaftMessage::RequestVoteResponse {
                term: 2,
                granted: false
            }
        )]
    );
    assert!(
        !election_timer_set(&out),
        "a refused stale candidate restarted the timeout: {out:?}"
    );
}

#[test]
fn etcd_rule_restarts_the_timeout_on_any_higher_term() {
    // etcd's becomeFollower resets the randomized timeout on every higher term.
    let mut r = node_with_reset(1, RaftTimerReset::Etcd);
    start(&mut r);
    let out = step(&mut r, stale_candidacy());
    assert_eq!(r.term(), 2);
    assert!(election_timer_set(&out));
}

#[test]
fn a_candidate_stepping_down_on_a_higher_term_keeps_its_timer() {
    // §5.1 reverts the candidate to follower; its election timer, armed when it
    // campaigned, is still the one Figure 2 lets elapse.
    let mut r = node_with_reset(1, RaftTimerReset::Figure2);
    start(&mut r);
    step(&mut r, Input::Timer(RaftTimer::Election)); // candidate of term 2
    let out = step(
        &mut r,
        msg(
            3,
            RaftMessage::RequestVote {
                term: 3,
                last_log_index: 4,
                last_log_term: 1,
            },
        ),
    );
    assert_eq!((r.role(), r.term()), (Role::Follower, 3));
    assert!(!election_timer_set(&out));
}

#[test]
fn granting_a_vote_still_restarts_the_timeout() {
    // Figure 2: "... or granting vote to candidate".
    let mut r = node_with_reset(1, RaftTimerReset::Figure2);
    start(&mut r);
    let out = step(
        &mut r,
        msg(
            3,
            RaftMessage::RequestVote {
                term: 2,
                last_log_index: 5,
                last_log_term: 1,
            },
        ),
    );
    assert!(sends(&out).contains(&(
        3,
        RaftMessage::RequestVoteResponse {
            term: 2,
            granted: true
        }
    )));
    assert!(election_timer_set(&out));
}

#[test]
fn a_message_with_the_last_term_is_refused_and_terms_never_wrap() {
    // A forged RequestVote with term u64::MAX used to be adopted; the next campaign's
    // `term += 1` then wrapped to 0 and no leader was elected again.
    let mut r = node(1, 3, vec![]);
    start(&mut r);
    let out = step(
        &mut r,
        msg(
            2,
            RaftMessage::RequestVote {
                term: Term::MAX,
                last_log_index: 0,
                last_log_term: 0,
            },
        ),
    );
    assert_eq!(r.term(), 0);
    assert!(sends(&out).is_empty());
    // One below the maximum is a valid term, but campaigning past it is refused.
    step(
        &mut r,
        msg(
            2,
            RaftMessage::RequestVote {
                term: Term::MAX - 1,
                last_log_index: 0,
                last_log_term: 0,
            },
        ),
    );
    assert_eq!(r.term(), Term::MAX - 1);
    let out = step(&mut r, Input::Timer(RaftTimer::Election));
    assert_eq!(r.term(), Term::MAX - 1);
    assert_eq!(r.role(), Role::Follower);
    assert!(sends(&out).is_empty());
}
