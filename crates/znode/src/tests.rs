//! The tree's rules, one test each.

use crate::*;
use bytes::Bytes;
use kv::{ApplyContext, Session, StateMachine};

/// A tree and a client with an open session, numbering its commands.
struct Client {
    id: u64,
    seq: u64,
}

impl Client {
    fn new(tree: &mut ZnodeTree, id: u64) -> Client {
        let mut c = Client { id, seq: 0 };
        let opened = c.run(tree, ZOp::OpenSession { timeout_ms: 1000 });
        assert!(matches!(opened, ZAnswer::SessionOpened { session, .. } if session == id));
        c
    }

    fn command(&mut self, op: ZOp) -> Bytes {
        self.seq += 1;
        ZCommand {
            session: Session {
                client: self.id,
                seq: self.seq,
            },
            op,
        }
        .encode()
    }

    fn run(&mut self, tree: &mut ZnodeTree, op: ZOp) -> ZAnswer {
        let data = self.command(op);
        tree.apply(&data, local()).expect("an answer")
    }
}

fn local() -> ApplyContext {
    ApplyContext {
        now_ms: 0,
        local: true,
    }
}

fn create(path: &str, mode: CreateMode) -> ZOp {
    ZOp::Create {
        path: path.into(),
        data: Bytes::from_static(b"d"),
        mode,
    }
}

fn created(answer: ZAnswer) -> (String, Stat) {
    match answer {
        ZAnswer::Created { path, stat } => (path, stat),
        other => panic!("not created: {other:?}"),
    }
}

fn error(answer: ZAnswer) -> ZError {
    match answer {
        ZAnswer::Error(e) => e,
        other => panic!("not an error: {other:?}"),
    }
}

#[test]
fn create_needs_an_existing_parent_and_a_free_name() {
    let mut t = ZnodeTree::new();
    let mut c = Client::new(&mut t, 1);
    assert_eq!(
        error(c.run(&mut t, create("/a/b", CreateMode::Persistent))),
        ZError::NoNode("/a".into())
    );
    created(c.run(&mut t, create("/a", CreateMode::Persistent)));
    created(c.run(&mut t, create("/a/b", CreateMode::Persistent)));
    assert_eq!(
        error(c.run(&mut t, create("/a", CreateMode::Persistent))),
        ZError::NodeExists("/a".into())
    );
    assert_eq!(
        error(c.run(&mut t, create("/", CreateMode::Persistent))),
        ZError::NodeExists("/".into())
    );
    assert_eq!(t.children("/a"), Some(vec!["b".to_string()]));
}

#[test]
fn sequential_names_count_from_one_per_parent_in_ten_digits_never_reused() {
    let mut t = ZnodeTree::new();
    let mut c = Client::new(&mut t, 1);
    created(c.run(&mut t, create("/l", CreateMode::Persistent)));
    created(c.run(&mut t, create("/m", CreateMode::Persistent)));
    let (p1, _) = created(c.run(&mut t, create("/l/n-", CreateMode::EphemeralSequential)));
    let (p2, _) = created(c.run(&mut t, create("/l/n-", CreateMode::PersistentSequential)));
    assert_eq!(p1, "/l/n-0000000001");
    assert_eq!(p2, "/l/n-0000000002");
    // Another parent counts on its own; a trailing slash names the child by number.
    let (m1, _) = created(c.run(&mut t, create("/m/", CreateMode::PersistentSequential)));
    assert_eq!(m1, "/m/0000000001");
    c.run(
        &mut t,
        ZOp::Delete {
            path: p2,
            version: ANY_VERSION,
        },
    );
    let (p3, _) = created(c.run(&mut t, create("/l/n-", CreateMode::PersistentSequential)));
    assert_eq!(p3, "/l/n-0000000003", "not reused after a delete");
}

#[test]
fn stats_record_creation_modification_versions_owner_and_children() {
    let mut t = ZnodeTree::new();
    let mut c = Client::new(&mut t, 9); // index 1
    let (_, a) = created(c.run(&mut t, create("/a", CreateMode::Persistent))); // 2
    assert_eq!(
        (a.czxid, a.mzxid, a.version, a.ephemeral_owner),
        (2, 2, 0, 0)
    );
    let (_, e) = created(c.run(&mut t, create("/a/e", CreateMode::Ephemeral))); // 3
    assert_eq!(e.ephemeral_owner, 9);
    let set = c.run(
        &mut t,
        ZOp::SetData {
            path: "/a".into(),
            data: Bytes::from_static(b"xyz"),
            version: 0,
        },
    ); // 4
    let ZAnswer::Stat(s) = set else {
        panic!("{set:?}")
    };
    assert_eq!((s.czxid, s.mzxid, s.version, s.data_length), (2, 4, 1, 3));
    assert_eq!((s.cversion, s.num_children, s.pzxid), (1, 1, 3));
    let got = c.run(
        &mut t,
        ZOp::GetData {
            path: "/a".into(),
            watch: false,
        },
    );
    assert_eq!(
        got,
        ZAnswer::Data {
            data: Bytes::from_static(b"xyz"),
            stat: s
        }
    );
    assert_eq!(
        c.run(
            &mut t,
            ZOp::Exists {
                path: "/nope".into(),
                watch: false
            }
        ),
        ZAnswer::Exists(None)
    );
}

#[test]
fn delete_and_set_check_the_expected_version_and_delete_needs_no_children() {
    let mut t = ZnodeTree::new();
    let mut c = Client::new(&mut t, 1);
    created(c.run(&mut t, create("/a", CreateMode::Persistent)));
    created(c.run(&mut t, create("/a/b", CreateMode::Persistent)));
    let set = |version| ZOp::SetData {
        path: "/a".into(),
        data: Bytes::new(),
        version,
    };
    assert!(matches!(c.run(&mut t, set(0)), ZAnswer::Stat(s) if s.version == 1));
    assert_eq!(
        error(c.run(&mut t, set(0))),
        ZError::BadVersion {
            path: "/a".into(),
            actual: 1,
            expected: 0
        }
    );
    assert!(matches!(c.run(&mut t, set(ANY_VERSION)), ZAnswer::Stat(s) if s.version == 2));
    let delete = |path: &str, version| ZOp::Delete {
        path: path.into(),
        version,
    };
    assert_eq!(
        error(c.run(&mut t, delete("/a", 2))),
        ZError::NotEmpty("/a".into())
    );
    assert!(matches!(
        error(c.run(&mut t, delete("/a/b", 5))),
        ZError::BadVersion { .. }
    ));
    assert_eq!(c.run(&mut t, delete("/a/b", 0)), ZAnswer::Ok);
    assert_eq!(c.run(&mut t, delete("/a", 2)), ZAnswer::Ok);
    assert_eq!(
        error(c.run(&mut t, delete("/a", ANY_VERSION))),
        ZError::NoNode("/a".into())
    );
    assert!(matches!(
        error(c.run(&mut t, delete("/", ANY_VERSION))),
        ZError::BadPath(_)
    ));
    assert!(t.is_empty());
}

#[test]
fn data_over_one_megabyte_and_bad_paths_are_refused() {
    let mut t = ZnodeTree::new();
    let mut c = Client::new(&mut t, 1);
    let big = ZOp::Create {
        path: "/big".into(),
        data: Bytes::from(vec![0; MAX_DATA + 1]),
        mode: CreateMode::Persistent,
    };
    assert_eq!(
        error(c.run(&mut t, big)),
        ZError::DataTooLarge {
            len: MAX_DATA + 1,
            max: MAX_DATA
        }
    );
    let exactly = ZOp::Create {
        path: "/max".into(),
        data: Bytes::from(vec![0; MAX_DATA]),
        mode: CreateMode::Persistent,
    };
    created(c.run(&mut t, exactly));
    for bad in ["a", "/a/", "//", "/a/../b", "/x\u{1}"] {
        assert!(
            matches!(
                error(c.run(&mut t, create(bad, CreateMode::Persistent))),
                ZError::BadPath(_)
            ),
            "{bad:?}"
        );
    }
    assert_eq!(t.len(), 2);
}

#[test]
fn ephemerals_need_a_session_and_may_have_no_children() {
    let mut t = ZnodeTree::new();
    let no_session = ZCommand {
        session: Session::NONE,
        op: create("/e", CreateMode::Ephemeral),
    };
    assert_eq!(
        t.apply(&no_session.encode(), local()),
        Some(ZAnswer::Error(ZError::NoSession))
    );
    let mut c = Client::new(&mut t, 1);
    created(c.run(&mut t, create("/e", CreateMode::Ephemeral)));
    assert_eq!(
        error(c.run(&mut t, create("/e/x", CreateMode::Persistent))),
        ZError::NoChildrenForEphemerals("/e".into())
    );
}

#[test]
fn expiry_deletes_every_ephemeral_of_the_session_in_one_entry() {
    let mut t = ZnodeTree::new();
    let mut a = Client::new(&mut t, 1);
    let mut b = Client::new(&mut t, 2);
    created(a.run(&mut t, create("/l", CreateMode::Persistent)));
    for _ in 0..3 {
        created(a.run(&mut t, create("/l/n-", CreateMode::EphemeralSequential)));
    }
    created(b.run(&mut t, create("/l/n-", CreateMode::EphemeralSequential)));
    created(a.run(&mut t, create("/keep", CreateMode::Persistent)));
    let before = t.applied();
    let expire = ZCommand {
        session: Session::NONE,
        op: ZOp::Expire { sessions: vec![1] },
    };
    assert_eq!(t.apply(&expire.encode(), local()), Some(ZAnswer::Ok));
    assert_eq!(t.applied(), before + 1, "one entry");
    assert_eq!(t.children("/l"), Some(vec!["n-0000000004".to_string()]));
    assert!(t.peek("/keep").is_some(), "persistent nodes stay");
    // The expired session can do nothing any more, not even reopen.
    assert_eq!(error(a.run(&mut t, ZOp::Touch)), ZError::SessionExpired(1));
    assert_eq!(
        error(a.run(&mut t, ZOp::OpenSession { timeout_ms: 10 })),
        ZError::SessionExpired(1)
    );
    // Closing does the same for the other session.
    assert_eq!(b.run(&mut t, ZOp::CloseSession), ZAnswer::Ok);
    assert_eq!(t.children("/l"), Some(vec![]));
    assert_eq!(t.open_sessions().count(), 0);
}

#[test]
fn a_retry_is_answered_from_memory_and_not_applied_twice() {
    let mut t = ZnodeTree::new();
    let mut c = Client::new(&mut t, 1);
    let data = c.command(create("/s-", CreateMode::PersistentSequential));
    let first = t.apply(&data, local());
    let again = t.apply(&data, local());
    assert_eq!(first, again);
    assert_eq!(t.children("/"), Some(vec!["s-0000000001".to_string()]));
    assert_eq!(StateMachine::duplicates(&t), 1);
}

#[test]
fn the_leader_proposes_expiry_of_silent_sessions_and_replicas_agree() {
    let mut leader = ZnodeTree::new();
    let mut follower = ZnodeTree::new();
    let mut c = Client { id: 5, seq: 0 };
    let open = c.command(ZOp::OpenSession { timeout_ms: 100 });
    let eph = c.command(create("/e", CreateMode::Ephemeral));
    for t in [&mut leader, &mut follower] {
        for d in [&open, &eph] {
            t.apply(
                d,
                ApplyContext {
                    now_ms: 0,
                    local: false,
                },
            );
        }
    }
    assert!(leader.proposals(50, true).is_empty());
    let touch = c.command(ZOp::Touch);
    leader.apply(
        &touch,
        ApplyContext {
            now_ms: 90,
            local: false,
        },
    );
    assert!(leader.proposals(150, true).is_empty(), "touched at 90");
    let proposed = leader.proposals(190, true);
    assert_eq!(proposed.len(), 1);
    assert!(
        follower.proposals(1000, false).is_empty(),
        "followers never propose"
    );
    follower.apply(
        &touch,
        ApplyContext {
            now_ms: 90,
            local: false,
        },
    );
    for t in [&mut leader, &mut follower] {
        t.apply(
            &proposed[0],
            ApplyContext {
                now_ms: 200,
                local: false,
            },
        );
        assert!(t.peek("/e").is_none());
    }
    assert_eq!(leader.digest(), follower.digest());
}

#[test]
fn watches_fire_once_on_the_node_the_client_is_connected_to() {
    let mut here = ZnodeTree::new();
    let mut there = ZnodeTree::new();
    let mut w = Client::new(&mut here, 1);
    let mut m = Client { id: 2, seq: 0 };
    let open = m.command(ZOp::OpenSession { timeout_ms: 1000 });
    there.apply(&w.command(ZOp::Touch), ApplyContext::default());
    // Keep the two replicas in step: every command goes to both, local only on one.
    let mut both = |data: &Bytes, watcher_local: bool| {
        let a = here.apply(
            data,
            ApplyContext {
                now_ms: 0,
                local: watcher_local,
            },
        );
        there.apply(
            data,
            ApplyContext {
                now_ms: 0,
                local: !watcher_local,
            },
        );
        a
    };
    both(&open, false);
    let exists = w.command(ZOp::Exists {
        path: "/x".into(),
        watch: true,
    });
    both(&exists, true);
    let ls = w.command(ZOp::GetChildren {
        path: "/".into(),
        watch: true,
    });
    both(&ls, true);
    both(&m.command(create("/x", CreateMode::Persistent)), false);
    both(
        &m.command(ZOp::SetData {
            path: "/x".into(),
            data: Bytes::new(),
            version: ANY_VERSION,
        }),
        false,
    );
    let fired: Vec<(u64, WatchEvent)> = here
        .take_notifications()
        .into_iter()
        .map(|(s, b)| (s, WatchEvent::decode(&b).expect("an event")))
        .collect();
    let kinds: Vec<(u64, WatchKind, &str)> = fired
        .iter()
        .map(|(s, e)| (*s, e.kind, e.path.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (1, WatchKind::NodeCreated, "/x"),
            (1, WatchKind::NodeChildrenChanged, "/")
        ],
        "the data change fires nothing: the exists watch was used up"
    );
    assert!(
        there.take_notifications().is_empty(),
        "not registered there"
    );
}

#[test]
fn a_client_learns_its_session_expired() {
    let mut t = ZnodeTree::new();
    let mut c = Client::new(&mut t, 3);
    c.run(&mut t, ZOp::Touch);
    let expire = ZCommand {
        session: Session::NONE,
        op: ZOp::Expire { sessions: vec![3] },
    };
    t.apply(&expire.encode(), ApplyContext::default());
    let told = t.take_notifications();
    assert_eq!(told.len(), 1);
    assert_eq!(
        WatchEvent::decode(&told[0].1).map(|e| e.kind),
        Some(WatchKind::SessionExpired)
    );
}

#[test]
fn garbage_is_answered_malformed_and_changes_nothing() {
    let mut t = ZnodeTree::new();
    let answer = t.apply(&[0xff, 0xff, 0x01], ApplyContext::default());
    assert_eq!(answer, Some(ZAnswer::Error(ZError::Malformed)));
    assert!(t.is_empty());
    assert_eq!(t.applied(), 1);
}

#[test]
fn a_heartbeat_beside_an_outstanding_command_does_not_shadow_it() {
    let mut t = ZnodeTree::new();
    let mut c = Client::new(&mut t, 4);
    let create = c.command(create("/a", CreateMode::Persistent));
    // The heartbeat carries a later number but commits first.
    let touch = c.command(ZOp::Touch);
    assert_eq!(t.apply(&touch, local()), Some(ZAnswer::Ok));
    assert!(matches!(
        t.apply(&create, local()),
        Some(ZAnswer::Created { .. })
    ));
}

#[test]
fn a_retried_read_runs_again_and_leaves_its_watch_where_it_lands() {
    // The first attempt committed through a leader that then crashed; the retry
    // reaches another node, where the watch must be left.
    let mut old = ZnodeTree::new();
    let mut new = ZnodeTree::new();
    let mut c = Client { id: 6, seq: 0 };
    let mut m = Client { id: 7, seq: 0 };
    let opens = [
        c.command(ZOp::OpenSession { timeout_ms: 1000 }),
        m.command(ZOp::OpenSession { timeout_ms: 1000 }),
        m.command(create("/x", CreateMode::Persistent)),
    ];
    let exists = c.command(ZOp::Exists {
        path: "/x".into(),
        watch: true,
    });
    for d in opens.iter().chain([&exists]) {
        old.apply(d, local());
        new.apply(d, ApplyContext::default());
    }
    let again = new.apply(&exists, local());
    assert!(matches!(again, Some(ZAnswer::Exists(Some(_)))));
    assert_eq!(
        StateMachine::duplicates(&new),
        0,
        "run again, not a duplicate"
    );
    let delete = m.command(ZOp::Delete {
        path: "/x".into(),
        version: ANY_VERSION,
    });
    new.apply(&delete, ApplyContext::default());
    let fired = new.take_notifications();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].0, 6);
}
