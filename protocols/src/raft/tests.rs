//! Handler tests, each tied to a sentence of the Raft paper (in the manner of
//! etcd-io/raft's raft_paper_test.go): one input, the exact effects asserted.

use super::log::Entry;
use super::*;
use crate::rng::DetRng;
use crate::timing::{RaftTimerReset, Timing};
use crate::types::{Command, RequestId};
use crate::Membership;
use bytes::Bytes;

type Out = Effects<Raft>;

fn node(id: NodeId, n: u64, records: Vec<RaftRecord>) -> Raft {
    let setup = Setup {
        id,
        membership: Membership::voters(1..=n),
        timing: Timing::default(),
        rng: DetRng::for_node(1, id),
        narrate: false,
    };
    Raft::recover(setup, records).expect("valid records")
}

fn step(r: &mut Raft, input: InputOf<Raft>) -> Out {
    let mut out = Vec::new();
    r.step(Time::ZERO, input, &mut out);
    out
}

/// The host has stepped every queued input (etcd's Ready boundary).
fn end_batch(r: &mut Raft) -> Out {
    let mut out = Vec::new();
    r.end_of_batch(Time::ZERO, &mut out);
    out
}

fn msg(from: NodeId, msg: RaftMessage) -> InputOf<Raft> {
    Input::Message { from, msg }
}

fn sends(out: &Out) -> Vec<(NodeId, RaftMessage)> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } | Effect::SendAhead { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn cmd(seq: u64) -> Command {
    Command {
        id: RequestId { origin: 1, seq },
        data: Bytes::from_static(b"x"),
    }
}

/// Index of the first effect matching `f`.
fn pos(out: &Out, f: impl Fn(&Effect<RaftMessage, RaftRecord, RaftTimer>) -> bool) -> usize {
    out.iter().position(f).expect("effect present")
}

/// Makes node 1 of `n` the leader of term 1 with every vote in.
fn leader(n: u64) -> Raft {
    let mut r = node(1, n, vec![]);
    step(&mut r, Input::Start);
    step(&mut r, Input::Timer(RaftTimer::Election));
    for v in 2..=n {
        step(
            &mut r,
            msg(
                v,
                RaftMessage::RequestVoteResponse {
                    term: 1,
                    granted: true,
                },
            ),
        );
    }
    assert_eq!(r.role(), Role::Leader);
    r
}

#[test]
fn start_arms_a_randomized_election_timer_in_range() {
    // §5.2: "election timeouts are chosen randomly from a fixed interval (e.g. 150-300ms)".
    let mut r = node(1, 3, vec![]);
    let out = step(&mut r, Input::Start);
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
    step(&mut r, Input::Start);
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
    step(&mut r, Input::Start);
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
    step(&mut r, Input::Start);
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
    step(&mut r, Input::Start);
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

/// Reports everything the node has written so far durable.
fn all_durable(r: &mut Raft) -> Out {
    step(r, Input::Durable(u64::MAX))
}

#[test]
fn leader_is_ready_when_its_noop_commits_on_a_majority() {
    let mut r = leader(3);
    let out = step(
        &mut r,
        msg(
            2,
            RaftMessage::AppendEntriesResponse {
                term: 1,
                success: true,
                index: 1,
            },
        ),
    );
    // Thesis §10.2.1: the leader counts its own copy only once it is durable.
    assert_eq!(
        r.commit_index(),
        0,
        "the leader's own no-op is not durable yet"
    );
    assert!(!out.iter().any(|e| matches!(e, Effect::Apply { .. })));
    let out = all_durable(&mut r);
    assert_eq!(r.commit_index(), 1);
    assert!(out.contains(&Effect::Apply {
        index: 1,
        command: None
    }));
    assert!(out.contains(&Effect::Event(Event::LeaderReady { term: 1 })));
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

fn election_timer_set(out: &Out) -> bool {
    out.iter().any(|e| {
        matches!(
            e,
            Effect::SetTimer {
                timer: RaftTimer::Election,
                ..
            }
        )
    })
}

fn node_with_reset(id: NodeId, reset: RaftTimerReset) -> Raft {
    let setup = Setup {
        id,
        membership: Membership::voters(1..=3),
        timing: Timing {
            raft_timer_reset: reset,
            ..Timing::default()
        },
        rng: DetRng::for_node(1, id),
        narrate: false,
    };
    // Five entries of term 1: more up to date than a candidate with four.
    let entries = (0..5)
        .map(|_| Entry {
            term: 1,
            command: None,
        })
        .collect();
    let records = vec![
        RaftRecord::HardState {
            term: 1,
            voted_for: None,
        },
        RaftRecord::Entries {
            first_index: 1,
            entries,
        },
    ];
    Raft::recover(setup, records).expect("valid records")
}

/// A RequestVote of term 2 from a candidate whose log (four entries of term 1) is
/// behind ours.
fn stale_candidacy() -> InputOf<Raft> {
    msg(
        2,
        RaftMessage::RequestVote {
            term: 2,
            last_log_index: 4,
            last_log_term: 1,
        },
    )
}

#[test]
fn a_refused_candidate_with_a_higher_term_does_not_restart_the_followers_timeout() {
    // Figure 2, Rules for Servers, Followers: "If election timeout elapses without
    // receiving AppendEntries RPC from current leader or granting vote to candidate:
    // convert to candidate." A higher term converts to follower (§5.1), but refusing the
    // vote is neither event, so the timer keeps running.
    let mut r = node_with_reset(1, RaftTimerReset::Figure2);
    step(&mut r, Input::Start);
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
    step(&mut r, Input::Start);
    let out = step(&mut r, stale_candidacy());
    assert_eq!(r.term(), 2);
    assert!(election_timer_set(&out));
}

#[test]
fn a_candidate_stepping_down_on_a_higher_term_keeps_its_timer() {
    // §5.1 reverts the candidate to follower; its election timer, armed when it
    // campaigned, is still the one Figure 2 lets elapse.
    let mut r = node_with_reset(1, RaftTimerReset::Figure2);
    step(&mut r, Input::Start);
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
    step(&mut r, Input::Start);
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
fn follower_redirects_clients_to_the_leader() {
    let mut r = node(2, 3, vec![]);
    step(&mut r, Input::Start);
    let hb = RaftMessage::AppendEntries {
        term: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![],
        leader_commit: 0,
    };
    step(&mut r, msg(1, hb));
    let out = step(&mut r, Input::Client(cmd(1)));
    assert_eq!(
        out,
        vec![Effect::Reject {
            id: cmd(1).id,
            error: crate::ClientError::NotLeader { leader: Some(1) }
        }]
    );
}

#[test]
fn only_current_term_entries_commit_by_counting_replicas() {
    // §5.4.2 / Figure 8: an entry from an earlier term is not committed by counting.
    let records = vec![
        RaftRecord::HardState {
            term: 2,
            voted_for: Some(1),
        },
        RaftRecord::Entries {
            first_index: 1,
            entries: vec![
                Entry {
                    term: 1,
                    command: None,
                },
                Entry {
                    term: 2,
                    command: None,
                },
            ],
        },
    ];
    let mut r = node(1, 3, records);
    step(&mut r, Input::Start);
    step(&mut r, Input::Timer(RaftTimer::Election)); // term 3
    step(
        &mut r,
        msg(
            2,
            RaftMessage::RequestVoteResponse {
                term: 3,
                granted: true,
            },
        ),
    );
    assert_eq!(r.log().last_index(), 3, "no-op of term 3 appended at 3");
    all_durable(&mut r);
    // Follower 2 acknowledges only index 2 (an entry of term 2): nothing commits.
    step(
        &mut r,
        msg(
            2,
            RaftMessage::AppendEntriesResponse {
                term: 3,
                success: true,
                index: 2,
            },
        ),
    );
    assert_eq!(r.commit_index(), 0);
    // Once the term-3 no-op is on a majority, everything up to it commits.
    let out = step(
        &mut r,
        msg(
            2,
            RaftMessage::AppendEntriesResponse {
                term: 3,
                success: true,
                index: 3,
            },
        ),
    );
    assert_eq!(r.commit_index(), 3);
    let applied: Vec<u64> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Apply { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(applied, vec![1, 2, 3]);
}

#[test]
fn follower_truncates_a_conflicting_suffix_and_persists_the_replacement() {
    let records = vec![
        RaftRecord::HardState {
            term: 1,
            voted_for: None,
        },
        RaftRecord::Entries {
            first_index: 1,
            entries: vec![
                Entry {
                    term: 1,
                    command: None,
                },
                Entry {
                    term: 1,
                    command: Some(cmd(9)),
                },
            ],
        },
    ];
    let mut r = node(2, 3, records);
    step(&mut r, Input::Start);
    let new = Entry {
        term: 2,
        command: Some(cmd(5)),
    };
    let out = step(
        &mut r,
        msg(
            3,
            RaftMessage::AppendEntries {
                term: 2,
                prev_log_index: 1,
                prev_log_term: 1,
                entries: vec![new.clone()],
                leader_commit: 0,
            },
        ),
    );
    assert!(out.contains(&Effect::Persist(RaftRecord::Entries {
        first_index: 2,
        entries: vec![new]
    })));
    assert_eq!(r.log().term_at(2), Some(2));
    assert_eq!(
        sends(&out),
        vec![(
            3,
            RaftMessage::AppendEntriesResponse {
                term: 2,
                success: true,
                index: 2
            }
        )]
    );
}

#[test]
fn leader_backs_up_next_index_after_a_rejection() {
    let mut r = leader(3);
    step(&mut r, Input::Client(cmd(1))); // index 2
    let out = step(
        &mut r,
        msg(
            2,
            RaftMessage::AppendEntriesResponse {
                term: 1,
                success: false,
                index: 1,
            },
        ),
    );
    let resent = sends(&out);
    assert_eq!(resent.len(), 1);
    match &resent[0].1 {
        RaftMessage::AppendEntries {
            prev_log_index: 0,
            entries,
            ..
        } => assert_eq!(entries.len(), 2),
        other => panic!("expected a resend from index 1, got {other:?}"),
    }
}

#[test]
fn recovery_restores_term_vote_and_log() {
    let records = vec![
        RaftRecord::HardState {
            term: 4,
            voted_for: Some(2),
        },
        RaftRecord::Entries {
            first_index: 1,
            entries: vec![
                Entry {
                    term: 3,
                    command: None
                };
                3
            ],
        },
        RaftRecord::Entries {
            first_index: 2,
            entries: vec![Entry {
                term: 4,
                command: None,
            }],
        },
    ];
    let r = node(1, 3, records);
    assert_eq!(r.term(), 4);
    assert_eq!(r.log().last_index(), 2);
    assert_eq!(r.log().term_at(2), Some(4));
    // The recovered vote still binds: another candidate of term 4 is refused.
    let mut r = r;
    let out = step(
        &mut r,
        msg(
            3,
            RaftMessage::RequestVote {
                term: 4,
                last_log_index: 9,
                last_log_term: 4,
            },
        ),
    );
    assert_eq!(
        sends(&out),
        vec![(
            3,
            RaftMessage::RequestVoteResponse {
                term: 4,
                granted: false
            }
        )]
    );
}

#[test]
fn recovery_rejects_a_gap_in_the_log() {
    let setup = Setup {
        id: 1,
        membership: Membership::voters([1, 2, 3]),
        timing: Timing::default(),
        rng: DetRng::new(1),
        narrate: false,
    };
    let gap = vec![RaftRecord::Entries {
        first_index: 5,
        entries: vec![],
    }];
    assert!(matches!(
        Raft::recover(setup, gap),
        Err(RecoveryError::Inconsistent { record: 0, .. })
    ));
}

#[test]
fn single_node_cluster_elects_itself_and_commits() {
    let mut r = node(1, 1, vec![]);
    step(&mut r, Input::Start);
    step(&mut r, Input::Timer(RaftTimer::Election));
    // Its own durable copy is a majority of one.
    let out = all_durable(&mut r);
    assert!(out.contains(&Effect::Event(Event::LeaderReady { term: 1 })));
    step(&mut r, Input::Client(cmd(1)));
    let out = end_batch(&mut r);
    assert!(!out.iter().any(|e| matches!(e, Effect::Apply { .. })));
    let out = all_durable(&mut r);
    assert!(out.contains(&Effect::Apply {
        index: 2,
        command: Some(cmd(1))
    }));
}

#[test]
fn a_burst_of_commands_is_persisted_at_once_and_replicated_at_the_end_of_the_batch() {
    let mut r = leader(3);
    // Acknowledge the no-op so the window is empty.
    for peer in [2, 3] {
        step(
            &mut r,
            msg(
                peer,
                RaftMessage::AppendEntriesResponse {
                    term: 1,
                    success: true,
                    index: 1,
                },
            ),
        );
    }
    for seq in [1, 2] {
        let out = step(&mut r, Input::Client(cmd(seq)));
        assert!(
            sends(&out).is_empty(),
            "nothing is sent before the end of the batch"
        );
        assert!(matches!(
            out.as_slice(),
            [Effect::Persist(RaftRecord::Entries { .. })]
        ));
    }
    let out = end_batch(&mut r);
    let appends: Vec<(NodeId, usize)> = sends(&out)
        .into_iter()
        .map(|(to, m)| match m {
            RaftMessage::AppendEntries { entries, .. } => (to, entries.len()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(appends, vec![(2, 2), (3, 2)]);
}

#[test]
fn leader_repairs_a_follower_that_restarted_with_less_log_than_it_acknowledged() {
    // A follower acknowledged entries 1..=3, then restarted without them (its unsynced
    // tail lost). Figure 2's consistency check makes it refuse the next AppendEntries
    // with a hint at its real end; the leader must resend from there, not from the
    // acknowledged index it remembered (which would be refused forever).
    let mut r = leader(3);
    step(&mut r, Input::Client(cmd(1)));
    step(&mut r, Input::Client(cmd(2))); // log: no-op, 2, 3
    step(
        &mut r,
        msg(
            2,
            RaftMessage::AppendEntriesResponse {
                term: 1,
                success: true,
                index: 3,
            },
        ),
    );
    let out = step(
        &mut r,
        msg(
            2,
            RaftMessage::AppendEntriesResponse {
                term: 1,
                success: false,
                index: 1,
            },
        ),
    );
    match sends(&out).as_slice() {
        [(
            2,
            RaftMessage::AppendEntries {
                prev_log_index: 0,
                entries,
                ..
            },
        )] => assert_eq!(entries.len(), 3),
        other => panic!("expected a resend of the whole log to node 2, got {other:?}"),
    }
}

#[test]
fn a_message_with_the_last_term_is_refused_and_terms_never_wrap() {
    // A forged RequestVote with term u64::MAX used to be adopted; the next campaign's
    // `term += 1` then wrapped to 0 and no leader was elected again.
    let mut r = node(1, 3, vec![]);
    step(&mut r, Input::Start);
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

mod extreme_inputs {
    //! Random messages with extreme field values (0, 1, max - 1, max) from any peer:
    //! `step` must neither panic nor let the term wrap (it only grows, below max).
    use super::*;
    use proptest::prelude::*;

    fn extreme() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(2),
            Just(u64::MAX - 1),
            Just(u64::MAX),
            any::<u64>(),
            0u64..8,
        ]
    }

    fn message() -> impl Strategy<Value = RaftMessage> {
        prop_oneof![
            (extreme(), extreme(), extreme()).prop_map(|(term, last_log_index, last_log_term)| {
                RaftMessage::RequestVote {
                    term,
                    last_log_index,
                    last_log_term,
                }
            }),
            (extreme(), any::<bool>())
                .prop_map(|(term, granted)| RaftMessage::RequestVoteResponse { term, granted }),
            (
                extreme(),
                extreme(),
                extreme(),
                prop::collection::vec(extreme(), 0..3),
                extreme()
            )
                .prop_map(
                    |(term, prev_log_index, prev_log_term, terms, leader_commit)| {
                        RaftMessage::AppendEntries {
                            term,
                            prev_log_index,
                            prev_log_term,
                            entries: terms
                                .into_iter()
                                .map(|term| Entry {
                                    term,
                                    command: None,
                                })
                                .collect(),
                            leader_commit,
                        }
                    }
                ),
            (extreme(), any::<bool>(), extreme()).prop_map(|(term, success, index)| {
                RaftMessage::AppendEntriesResponse {
                    term,
                    success,
                    index,
                }
            }),
        ]
    }

    fn input() -> impl Strategy<Value = InputOf<Raft>> {
        prop_oneof![
            8 => (1u64..=4, message()).prop_map(|(from, msg)| Input::Message { from, msg }),
            1 => Just(Input::Timer(RaftTimer::Election)),
            1 => Just(Input::Timer(RaftTimer::Heartbeat)),
            1 => (0u64..4).prop_map(|seq| Input::Client(cmd(seq))),
            1 => extreme().prop_map(Input::Durable),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn step_neither_panics_nor_wraps_the_term(
            as_leader in any::<bool>(),
            inputs in prop::collection::vec((input(), any::<bool>()), 1..40),
        ) {
            let mut r = if as_leader { leader(3) } else { node(1, 3, vec![]) };
            let mut last_term = r.term();
            for (input, ends_batch) in inputs {
                step(&mut r, input);
                if ends_batch {
                    end_batch(&mut r);
                }
                prop_assert!(r.term() >= last_term, "term went back");
                prop_assert!(r.term() < Term::MAX, "term reached the maximum");
                prop_assert!(r.commit_index() <= r.log().last_index());
                last_term = r.term();
            }
        }
    }
}
