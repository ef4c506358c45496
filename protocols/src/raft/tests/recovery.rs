//! Recovery from persisted records, and inputs no honest peer sends.

use super::*;

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
    let mut r = node(1, 3, records);
    start(&mut r);
    assert_eq!(r.term(), 4);
    assert_eq!(r.log().last_index(), 2);
    assert_eq!(r.log().term_at(2), Some(4));
    // The recovered vote still binds: another candidate of term 4 is refused.
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
        rng: crate::DetRng::new(1),
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

mod extreme_inputs {
    //! Random messages with extreme field values (0, 1, max - 1, max) from any peer:
    //! `step` must neither panic nor let the term wrap (it only grows, below max).
    use super::*;
    use proptest::prelude::*;

    use crate::pump::extreme_u64 as extreme;

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
            (extreme(), extreme(), extreme()).prop_map(|(term, last_log_index, last_log_term)| {
                RaftMessage::PreVote {
                    term,
                    last_log_index,
                    last_log_term,
                }
            }),
            (extreme(), any::<bool>())
                .prop_map(|(term, granted)| RaftMessage::PreVoteResponse { term, granted }),
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
            (extreme(), any::<bool>(), extreme(), extreme()).prop_map(
                |(term, success, index, rejected)| RaftMessage::AppendEntriesResponse {
                    term,
                    success,
                    index,
                    rejected,
                }
            ),
            // Chunks that never complete an image (a complete one would need an image
            // the pump made): any declared size, offset and term.
            (
                extreme(),
                extreme(),
                extreme(),
                extreme(),
                extreme(),
                0usize..8
            )
                .prop_map(|(term, last_index, last_term, size, offset, len)| {
                    RaftMessage::InstallSnapshot {
                        term,
                        last_index,
                        last_term,
                        size,
                        offset,
                        data: Bytes::from(vec![7; len]),
                        done: false,
                    }
                }),
            (extreme(), extreme(), extreme(), any::<bool>()).prop_map(
                |(term, last_index, next_offset, done)| RaftMessage::InstallSnapshotResponse {
                    term,
                    last_index,
                    next_offset,
                    done,
                }
            ),
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
        #![proptest_config(crate::pump::proptest_config(512))]
        #[test]
        fn step_neither_panics_nor_wraps_the_term(
            as_leader in any::<bool>(),
            etcd in any::<bool>(),
            inputs in prop::collection::vec((input(), any::<bool>()), 1..40),
        ) {
            // The paper's rules, or PreVote and CheckQuorum on (the defaults).
            let mut r = if as_leader && !etcd {
                leader(3)
            } else {
                let timing = if etcd { Timing::default() } else { paper() };
                let mut r = node_with(timing, 1, 3, vec![]);
                start(&mut r);
                if as_leader {
                    step(&mut r, Input::Timer(RaftTimer::Election));
                    for (from, m) in [
                        (2, RaftMessage::PreVoteResponse { term: 1, granted: true }),
                        (2, RaftMessage::RequestVoteResponse { term: 1, granted: true }),
                    ] {
                        step(&mut r, Input::Message { from, msg: m });
                    }
                    prop_assert_eq!(r.role(), Role::Leader);
                }
                r
            };
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
