//! Log replication and commitment (§5.3, §5.4.2, §8; thesis §10.2.1).

use super::*;

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
                rejected: 0,
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
fn follower_redirects_clients_to_the_leader() {
    let mut r = node(2, 3, vec![]);
    start(&mut r);
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
    start(&mut r);
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
                rejected: 0,
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
                rejected: 0,
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
    start(&mut r);
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
                index: 2,
                rejected: 0,
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
                rejected: 1,
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
fn single_node_cluster_elects_itself_and_commits() {
    let mut r = node(1, 1, vec![]);
    start(&mut r);
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
                    rejected: 0,
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
                rejected: 0,
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
                rejected: 3,
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
fn stale_refusals_of_pipelined_messages_do_not_resend_the_backlog() {
    // etcd-io/raft's probe state: after backing up, only the refusal of the probe (an
    // AppendEntries after `nextIndex - 1`) counts. The refusals of the messages that
    // were pipelined before the back-up are stale; each used to reset `nextIndex` and
    // send everything from the hint again.
    let mut r = leader(3);
    let refusal = |rejected: u64| {
        msg(
            2,
            RaftMessage::AppendEntriesResponse {
                term: 1,
                success: false,
                index: 1,
                rejected,
            },
        )
    };
    let appends = |out: &Out| -> Vec<(u64, usize)> {
        sends(out)
            .into_iter()
            .filter_map(|(to, m)| match m {
                RaftMessage::AppendEntries {
                    prev_log_index,
                    entries,
                    ..
                } if to == 2 => Some((prev_log_index, entries.len())),
                _ => None,
            })
            .collect()
    };
    for c in 1..=3 {
        step(&mut r, Input::Client(cmd(c))); // indexes 2, 3, 4 pipelined
    }
    // The first refusal backs up to the hint and probes from there: one message.
    let out = step(&mut r, refusal(1));
    assert_eq!(appends(&out), vec![(0, 4)], "one probe with the whole log");
    // The refusals of the messages sent after 2 and 3 before the back-up: stale.
    assert!(appends(&step(&mut r, refusal(2))).is_empty());
    assert!(appends(&step(&mut r, refusal(3))).is_empty());
    // No second probe while the first is unanswered, even with new commands.
    assert!(appends(&step(&mut r, Input::Client(cmd(4)))).is_empty());
    // The probe is accepted: replication pipelines again from there.
    let out = step(
        &mut r,
        msg(
            2,
            RaftMessage::AppendEntriesResponse {
                term: 1,
                success: true,
                index: 4,
                rejected: 0,
            },
        ),
    );
    assert_eq!(appends(&out), vec![(4, 1)], "the command that waited");
}

/// The narration lines among `out`.
fn narrations(out: &Out) -> Vec<String> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Event(Event::Narrate(text)) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_follower_narrates_the_entries_a_conflict_truncates() {
    // §5.3: "If an existing entry conflicts with a new one (same index but different
    // terms), delete the existing entry and all that follow it": a teaching timeline
    // names what was lost and why.
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
    let pump = Pump::new(Membership::voters(1..=3))
        .timing(paper())
        .narrate(true);
    let mut r = one(2, pump, records);
    start(&mut r);
    let out = step(
        &mut r,
        msg(
            3,
            RaftMessage::AppendEntries {
                term: 2,
                prev_log_index: 1,
                prev_log_term: 1,
                entries: vec![Entry {
                    term: 2,
                    command: Some(cmd(5)),
                }],
                leader_commit: 0,
            },
        ),
    );
    assert!(
        narrations(&out)
            .contains(&"drops entry 2 (term 1): conflicts with leader 3's entry 2 (term 2)".into()),
        "{:?}",
        narrations(&out)
    );
}

#[test]
fn a_leader_narrates_each_commit_with_the_nodes_that_hold_the_entry() {
    let pump = Pump::new(Membership::voters(1..=3))
        .timing(paper())
        .narrate(true);
    let mut r = one(1, pump, vec![]);
    start(&mut r);
    step(&mut r, Input::Timer(RaftTimer::Election));
    step(
        &mut r,
        msg(
            3,
            RaftMessage::RequestVoteResponse {
                term: 1,
                granted: true,
            },
        ),
    );
    let mut said = narrations(&step(
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
    ));
    // Not before the leader's own copy is durable (thesis §10.2.1).
    assert!(!said.iter().any(|l| l.starts_with("commits")), "{said:?}");
    said = narrations(&all_durable(&mut r));
    assert!(
        said.contains(&"commits index 1: stored on 1, 3".into()),
        "{said:?}"
    );
}
