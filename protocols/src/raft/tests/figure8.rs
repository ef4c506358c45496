//! Raft's Figure 8 (§5.4.2), staged message by message on five real nodes: a leader
//! may not commit an entry of an earlier term by counting the servers that store it,
//! even when they are a majority; an entry of its own term commits it indirectly.
//!
//! The paper's sequence, with entries written `index@term`:
//! - (a) S1 leads term 2 and replicates 2@2 to S2 only.
//! - (b) S1 crashes; S5 is elected for term 3 with the votes of S3, S4 and itself and
//!   writes a different entry, 2@3, in its own log only.
//! - (c) S5 crashes; S1 restarts, is elected for term 4 and replicates 2@2 to S3: it is
//!   now on S1, S2 and S3, a majority, yet it must not be committed.
//! - (d) If S1 then crashes, S5 can be elected for term 5 and overwrite index 2 with its
//!   2@3 everywhere: had S1 committed 2@2 in (c), a committed entry would be lost.
//! - (e) If S1 instead replicates an entry of its own term (3@4) to a majority, that
//!   entry commits, and 2@2 with it: S5 can no longer win.
//!
//! Two details of this Raft shape the staging. The entries S1 and S5 write when they
//! take office are their no-ops (§8), so 2@2, 2@3 and 3@4 are no-ops. And a leader
//! sends its no-op right after the point where a follower's log matches; so that S3 can
//! hold 2@2 without 3@4, as in the figure, every node here sends one entry per
//! AppendEntries ([`Protocol::set_max_batch`](protocols::Protocol::set_max_batch)). S2 already holds 2@2, so the first message
//! of term 4 brings it 3@4: in (c), S1 knows 3@4 on S1 and S2 and 2@2 on S1, S2 and S3,
//! which is exactly the case the current-term rule exists for. Without the rule S1
//! commits index 2 here: the (c) and (d) tests below fail, as does
//! `replication::only_current_term_entries_commit_by_counting_replicas`. The simulator
//! sweeps and `scenarios/raft-figure-8.toml` pass without it, since with whole batches
//! a follower's acknowledgement covers the no-op too and the count never stops at an
//! earlier term's entry.

use super::*;

type Wire = crate::pump::Wire<Raft>;

/// Five voters that all hold 1@1 (a write committed in term 1) and send one entry per
/// AppendEntries.
fn five() -> Pump<Raft> {
    let mut pump = Pump::new(Membership::voters(1..=5))
        .timing(paper())
        .on_recover(|r: &mut Raft| r.set_max_batch(1));
    for id in 1..=5 {
        pump.disks.insert(
            id,
            vec![
                RaftRecord::HardState {
                    term: 1,
                    voted_for: None,
                },
                RaftRecord::Entries {
                    first_index: 1,
                    entries: vec![Entry {
                        term: 1,
                        command: Some(cmd(1)),
                    }],
                },
            ],
        );
    }
    pump.start_all();
    pump
}

fn link(from: NodeId, to: NodeId) -> impl Fn(&Wire) -> bool {
    move |(f, t, _)| (*f, *t) == (from, to)
}

fn is_vote((_, _, m): &Wire) -> bool {
    matches!(
        m,
        RaftMessage::RequestVote { .. } | RaftMessage::RequestVoteResponse { .. }
    )
}

/// `id` campaigns; the votes of `voters` (and their answers) are delivered, every other
/// RequestVote is lost.
fn campaign(p: &mut Pump<Raft>, id: NodeId, voters: &[NodeId]) {
    p.fire(id, RaftTimer::Election);
    let voters = voters.to_vec();
    p.deliver_while(move |w| is_vote(w) && (voters.contains(&w.1) || voters.contains(&w.0)));
    p.drop_where(is_vote);
}

/// The terms of node `id`'s log, index 1 first.
fn terms(p: &Pump<Raft>, id: NodeId) -> Vec<Term> {
    let log = p.node(id).log();
    (1..=log.last_index())
        .filter_map(|i| log.term_at(i))
        .collect()
}

/// Figure 8 up to (c): S1 leads term 4 and has just learned that S3 stores 2@2.
fn up_to_c() -> Pump<Raft> {
    let mut p = five();
    // (a) S1 leads term 2; its no-op 2@2 reaches S2 only.
    campaign(&mut p, 1, &[2, 3, 4, 5]);
    assert_eq!(p.leaders(), [1]);
    assert_eq!(p.node(1).term(), 2);
    p.deliver_while(|w| link(1, 2)(w) || link(2, 1)(w));
    p.crash(1);
    p.drop_where(|_| true);
    assert_eq!(terms(&p, 2), [1, 2]);

    // (b) S5 is elected for term 3 by S3, S4 and itself; 2@3 stays in its own log.
    campaign(&mut p, 5, &[3, 4]);
    assert_eq!(p.leaders(), [5]);
    assert_eq!((p.node(5).term(), terms(&p, 5)), (3, vec![1, 3]));
    p.crash(5);
    p.drop_where(|_| true);

    // (c) S1 restarts. Term 3 is taken (S3 and S4 voted for S5), so it wins term 4 on
    // its second try, with S2, S3 and S4.
    p.start(1);
    campaign(&mut p, 1, &[2, 3, 4]);
    assert!(p.leaders().is_empty(), "S1 cannot win term 3");
    campaign(&mut p, 1, &[2, 3, 4]);
    assert_eq!(p.leaders(), [1]);
    assert_eq!((p.node(1).term(), terms(&p, 1)), (4, vec![1, 2, 4]));
    // S2 gets the no-op 3@4 right after its 2@2 and acknowledges index 3.
    p.deliver_while(|w| link(1, 2)(w) || link(2, 1)(w));
    assert_eq!(terms(&p, 2), [1, 2, 4]);
    // S3 refuses 3@4 (it lacks index 2), gets 2@2 alone, and acknowledges index 2.
    for hop in [link(1, 3), link(3, 1), link(1, 3), link(3, 1)] {
        assert!(p.deliver_one(hop));
    }
    assert_eq!(terms(&p, 3), [1, 2]);
    p
}

#[test]
fn figure_8_c_an_earlier_term_entry_on_a_majority_is_not_committed_by_counting() {
    let p = up_to_c();
    // 2@2 is stored on S1, S2 and S3: three of five. S1 knows it (S2 acknowledged
    // index 3, S3 index 2), and 3@4 is on S1 and S2 only.
    for id in [1, 2, 3] {
        assert_eq!(p.node(id).log().term_at(2), Some(2), "S{id} holds 2@2");
    }
    // §5.4.2: "Raft never commits log entries from previous terms by counting replicas."
    assert!(
        p.node(1).commit_index() < 2,
        "S1 committed index {} by counting replicas of a term-2 entry",
        p.node(1).commit_index()
    );
    assert!(p.applied.values().all(Vec::is_empty), "nothing is applied");
    // S1's next message to S3 carries 3@4; it is still on its way.
    assert!(p.queue.iter().any(|w| link(1, 3)(w)
        && matches!(&w.2, RaftMessage::AppendEntries { entries, .. } if entries.len() == 1 && entries[0].term == 4)));
}

#[test]
fn figure_8_d_a_new_leader_overwrites_the_uncommitted_entry() {
    let mut p = up_to_c();
    // Whatever S1 committed must outlive it (State Machine Safety, §5.4.3).
    let committed = terms(&p, 1)[..p.node(1).commit_index() as usize].to_vec();
    // S1 crashes before 3@4 reaches S3. S5 restarts in term 3; term 4 is taken (its
    // voters voted for S1), and it wins term 5 with S3 and S4, whose last entries (2@2,
    // 1@1) are older than its own 2@3 (§5.4.1). S2 refuses: its log ends with 3@4.
    p.crash(1);
    p.drop_where(|_| true);
    p.start(5);
    campaign(&mut p, 5, &[2, 3, 4]);
    assert!(p.leaders().is_empty(), "S5 cannot win term 4");
    campaign(&mut p, 5, &[2, 3, 4]);
    assert_eq!(p.leaders(), [5]);
    assert_eq!(p.node(5).term(), 5);
    // It replicates its log, overwriting 2@2 where it was, and commits its no-op 3@5
    // and with it 2@3.
    p.deliver_all();
    assert_eq!(p.node(5).commit_index(), 3);
    for id in [2, 3, 4, 5] {
        assert_eq!(terms(&p, id), [1, 3, 5], "S{id}'s log");
    }
    // S1 comes back; the next heartbeats bring it in line and tell everyone the commit
    // index: every log agrees, every node applies 2@3 at index 2, and 2@2 is gone.
    p.start(1);
    p.fire(5, RaftTimer::Heartbeat);
    p.deliver_all();
    assert_eq!(
        terms(&p, 5)[..committed.len()],
        committed,
        "an entry S1 committed in term 4 was overwritten"
    );
    for id in 1..=5 {
        assert_eq!(terms(&p, id), [1, 3, 5], "S{id}'s log");
        assert_eq!(p.applied[&id], [Some(cmd(1)), None, None], "S{id} applied");
    }
}

#[test]
fn figure_8_e_an_entry_of_the_current_term_commits_the_earlier_one_with_it() {
    let mut p = up_to_c();
    // S1's next message brings 3@4 to S3: an entry of term 4 on a majority (S1, S2,
    // S3). It commits, and 2@2 before it (Log Matching, §5.3).
    assert!(p.deliver_one(link(1, 3)));
    assert!(p.deliver_one(link(3, 1)));
    assert_eq!(p.node(1).commit_index(), 3);
    assert_eq!(p.applied[&1], vec![Some(cmd(1)), None, None]);
    // S5 can no longer be elected: S2 and S3 hold an entry of term 4, newer than its
    // last, 2@3; only S4 (and itself) would vote for it.
    p.crash(1);
    p.drop_where(|_| true);
    p.start(5);
    for _ in 0..3 {
        campaign(&mut p, 5, &[2, 3, 4]);
        assert!(p.leaders().is_empty(), "S5 must not lead");
    }
    for id in [2, 3] {
        assert_eq!(
            terms(&p, id),
            [1, 2, 4],
            "S{id} keeps the committed entries"
        );
    }
}
