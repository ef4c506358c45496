//! The TCP transport on real loopback sockets (port 0, never fixed ports): exchange,
//! loss and restart of peers, the fault filter, queueing before a connection is up.
//! Tests wait on events with a generous timeout; no sleep is ever an assertion.

mod common;

use common::*;
use protocols::NodeId;
use runtime::transport::Faults;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

#[tokio::test]
async fn two_nodes_exchange_messages_both_ways_in_order() {
    init_tracing();
    let (mut nodes, _) = cluster(&[1, 2], |_| Faults::default()).await;
    for i in 0..100 {
        node(&mut nodes, 1).transport.send(2, &Msg::Ping(i));
        node(&mut nodes, 2)
            .transport
            .send(1, &Msg::Text(format!("pong {i}")));
    }
    for i in 0..100 {
        assert_eq!(next_message(node(&mut nodes, 2)).await, (1, Msg::Ping(i)));
        assert_eq!(
            next_message(node(&mut nodes, 1)).await,
            (2, Msg::Text(format!("pong {i}")))
        );
    }
    let stats = node(&mut nodes, 2).transport.stats();
    assert_eq!(stats[&1].messages_received, 100);
}

#[tokio::test]
async fn three_nodes_every_pair_broadcast_and_self() {
    init_tracing();
    let (mut nodes, _) = cluster(&[1, 2, 3], |_| Faults::default()).await;
    for from in [1, 2, 3] {
        for to in [1, 2, 3] {
            node(&mut nodes, from)
                .transport
                .send(to, &Msg::Ping(from * 10 + to));
        }
    }
    for to in [1, 2, 3] {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(next_message(node(&mut nodes, to)).await);
        }
        got.sort_by_key(|(from, _)| *from);
        let want: Vec<_> = [1, 2, 3]
            .iter()
            .map(|from| (*from, Msg::Ping(from * 10 + to)))
            .collect();
        assert_eq!(got, want, "node {to}");
    }
}

#[tokio::test]
async fn killed_dialer_is_lost_then_reconnects_from_a_new_address() {
    init_tracing();
    let (mut nodes, mut addrs) = cluster(&[1, 2, 3], |_| Faults::default()).await;

    // Node 1 (the dialer of both others) dies and comes back on a different port.
    nodes.remove(&1).unwrap().transport.shutdown();
    lost(node(&mut nodes, 2), 1).await;
    lost(node(&mut nodes, 3), 1).await;
    let listener = bind().await;
    addrs.insert(1, listener.local_addr().unwrap());
    nodes.insert(1, start(1, &addrs, listener, Faults::default()));
    for id in [2, 3] {
        connected(node(&mut nodes, id), 1).await;
    }
    connected_all(node(&mut nodes, 1), &[2, 3]).await;

    node(&mut nodes, 1).transport.send(3, &Msg::Ping(13));
    node(&mut nodes, 3).transport.send(1, &Msg::Ping(31));
    assert_eq!(next_message(node(&mut nodes, 3)).await, (1, Msg::Ping(13)));
    assert_eq!(next_message(node(&mut nodes, 1)).await, (3, Msg::Ping(31)));
}

#[tokio::test]
async fn restarted_peer_rebinding_the_same_address_is_redialed() {
    init_tracing();
    let (mut nodes, addrs) = cluster(&[1, 2], |_| Faults::default()).await;
    nodes.remove(&2).unwrap().transport.close().await;
    lost(node(&mut nodes, 1), 2).await;
    let listener = TcpListener::bind(addrs[&2])
        .await
        .expect("the closed transport freed its port");
    nodes.insert(2, start(2, &addrs, listener, Faults::default()));
    connected(node(&mut nodes, 1), 2).await;
    connected(node(&mut nodes, 2), 1).await;
    node(&mut nodes, 2).transport.send(1, &Msg::Ping(7));
    assert_eq!(next_message(node(&mut nodes, 1)).await, (2, Msg::Ping(7)));
}

#[tokio::test]
async fn isolation_drops_both_ways_silently_and_heal_restores() {
    init_tracing();
    let faults = Faults::default();
    let (mut nodes, _) = cluster(&[1, 2, 3], |_| faults.clone()).await;
    faults.isolate(2);
    node(&mut nodes, 1).transport.send(2, &Msg::Ping(1));
    node(&mut nodes, 2).transport.send(1, &Msg::Ping(2));
    node(&mut nodes, 1).transport.send(3, &Msg::Ping(3));
    assert_eq!(
        next_message(node(&mut nodes, 3)).await,
        (1, Msg::Ping(3)),
        "others still talk"
    );
    assert!(
        node(&mut nodes, 1).transport.is_connected(2),
        "sockets stay up"
    );
    faults.heal();
    // Per-link FIFO: if the isolated messages had gone out, they would arrive first.
    node(&mut nodes, 1)
        .transport
        .send(2, &Msg::Text("after heal".into()));
    node(&mut nodes, 2)
        .transport
        .send(1, &Msg::Text("after heal".into()));
    assert_eq!(
        next_message(node(&mut nodes, 2)).await,
        (1, Msg::Text("after heal".into()))
    );
    assert_eq!(
        next_message(node(&mut nodes, 1)).await,
        (2, Msg::Text("after heal".into()))
    );
    assert_eq!(
        node(&mut nodes, 1).transport.stats()[&2].dropped_by_faults,
        1
    );
    assert_eq!(
        node(&mut nodes, 2).transport.stats()[&1].dropped_by_faults,
        1
    );
}

#[tokio::test]
async fn a_node_isolated_by_its_own_filter_drops_what_it_receives() {
    init_tracing();
    // Multi-process style: each node has its own filter; only node 2's isolates it.
    let faults: BTreeMap<NodeId, Faults> = [1, 2]
        .into_iter()
        .map(|id| (id, Faults::default()))
        .collect();
    let (mut nodes, _) = cluster(&[1, 2], |id| faults[&id].clone()).await;
    faults[&2].isolate(2);
    node(&mut nodes, 1).transport.send(2, &Msg::Ping(1));
    let receiver = &node(&mut nodes, 2).transport;
    eventually("node 2 drops the message on arrival", || {
        receiver.stats()[&1].dropped_by_faults == 1
    })
    .await;
    faults[&2].heal();
    node(&mut nodes, 1).transport.send(2, &Msg::Ping(2));
    assert_eq!(next_message(node(&mut nodes, 2)).await, (1, Msg::Ping(2)));
}

#[tokio::test]
async fn partition_separates_groups_until_healed() {
    init_tracing();
    let faults = Faults::default();
    let (mut nodes, _) = cluster(&[1, 2, 3], |_| faults.clone()).await;
    faults.partition(vec![vec![1, 2], vec![3]]);
    for from in [1, 2] {
        node(&mut nodes, from).transport.send(3, &Msg::Ping(from));
        node(&mut nodes, 3)
            .transport
            .send(from, &Msg::Ping(30 + from));
    }
    node(&mut nodes, 1).transport.send(2, &Msg::Ping(12));
    assert_eq!(
        next_message(node(&mut nodes, 2)).await,
        (1, Msg::Ping(12)),
        "same side talks"
    );
    faults.heal();
    for from in [1, 2] {
        node(&mut nodes, from)
            .transport
            .send(3, &Msg::Text("healed".into()));
        node(&mut nodes, 3)
            .transport
            .send(from, &Msg::Text("healed".into()));
        assert_eq!(
            next_message(node(&mut nodes, from)).await,
            (3, Msg::Text("healed".into()))
        );
    }
    let mut at_3 = vec![
        next_message(node(&mut nodes, 3)).await,
        next_message(node(&mut nodes, 3)).await,
    ];
    at_3.sort_by_key(|(from, _)| *from);
    assert_eq!(
        at_3,
        vec![
            (1, Msg::Text("healed".into())),
            (2, Msg::Text("healed".into()))
        ]
    );
}

#[tokio::test]
async fn drop_rate_one_drops_everything_and_delay_keeps_order() {
    init_tracing();
    let faults = Faults::with_seed(5);
    let (mut nodes, _) = cluster(&[1, 2], |_| faults.clone()).await;
    faults.set_drop_rate(1.0);
    for i in 0..50 {
        node(&mut nodes, 1).transport.send(2, &Msg::Ping(i));
    }
    faults.set_drop_rate(0.0);
    faults.set_delay(Duration::from_millis(30));
    for i in 100..110 {
        node(&mut nodes, 1).transport.send(2, &Msg::Ping(i));
    }
    // Undelayed messages queued behind delayed ones wait their turn.
    faults.set_delay(Duration::ZERO);
    for i in 110..120 {
        node(&mut nodes, 1).transport.send(2, &Msg::Ping(i));
    }
    for i in 100..120 {
        assert_eq!(next_message(node(&mut nodes, 2)).await, (1, Msg::Ping(i)));
    }
    assert_eq!(
        node(&mut nodes, 1).transport.stats()[&2].dropped_by_faults,
        50
    );
}

/// Writes `bytes` to a raw connection and waits until the node closes it.

#[tokio::test]
async fn messages_sent_before_the_connection_is_up_are_queued() {
    init_tracing();
    let listeners = [bind().await, bind().await];
    let addrs: BTreeMap<NodeId, SocketAddr> = [
        (1, listeners[0].local_addr().unwrap()),
        (2, listeners[1].local_addr().unwrap()),
    ]
    .into();
    let [l1, l2] = listeners;
    let mut n1 = start(1, &addrs, l1, Faults::default());
    n1.transport.send(2, &Msg::Ping(1));
    let mut n2 = start(2, &addrs, l2, Faults::default());
    n2.transport.send(1, &Msg::Ping(2));
    assert_eq!(next_message(&mut n2).await, (1, Msg::Ping(1)));
    assert_eq!(next_message(&mut n1).await, (2, Msg::Ping(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_small_messages_all_arrive_in_order() {
    init_tracing();
    let (mut nodes, _) = cluster(&[1, 2], |_| Faults::default()).await;
    const N: u64 = 100_000;
    let started = std::time::Instant::now();
    let receiver = tokio::spawn({
        let mut receiver = nodes.remove(&2).unwrap();
        async move {
            for i in 0..N {
                assert_eq!(next_message(&mut receiver).await, (1, Msg::Ping(i)));
            }
            receiver
        }
    });
    for i in 0..N {
        node(&mut nodes, 1).transport.send(2, &Msg::Ping(i));
        if i % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let receiver = receiver.await.expect("receiver task");
    let elapsed = started.elapsed();
    eprintln!(
        "{N} messages in {elapsed:?}: {:.0} msg/s",
        N as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(receiver.transport.stats()[&1].messages_received, N);
}

fn kind(msg: &Msg) -> &'static str {
    match msg {
        Msg::Ping(_) => "Ping",
        Msg::Text(_) => "Text",
    }
}

#[tokio::test]
async fn a_dropped_kind_is_lost_other_kinds_pass_and_a_delayed_kind_keeps_link_order() {
    init_tracing();
    let faults = Faults::with_seed(7);
    let (mut nodes, _) = cluster(&[1, 2], |_| faults.clone()).await;
    for id in [1, 2] {
        node(&mut nodes, id).transport.set_message_kind(kind);
    }
    // Pings from 1 to 2 are lost (kinds compared ignoring case), texts pass, and so
    // do pings the other way; deferred sends meet the same rules.
    faults.drop_kind(1, 2, "PING");
    {
        let t = &mut node(&mut nodes, 1).transport;
        t.send(2, &Msg::Ping(0));
        t.send(2, &Msg::Text("a".into()));
        assert_eq!(t.send_deferred(2, &Msg::Ping(1), false), None);
        assert!(t.send_deferred(2, &Msg::Text("b".into()), false).is_some());
        t.flush();
    }
    node(&mut nodes, 2).transport.send(1, &Msg::Ping(2));
    // The link is first in, first out: had a ping got through, it would come first.
    assert_eq!(
        next_message(node(&mut nodes, 2)).await,
        (1, Msg::Text("a".into()))
    );
    assert_eq!(
        next_message(node(&mut nodes, 2)).await,
        (1, Msg::Text("b".into()))
    );
    assert_eq!(next_message(node(&mut nodes, 1)).await, (2, Msg::Ping(2)));
    assert_eq!(
        node(&mut nodes, 1).transport.stats()[&2].dropped_by_faults,
        2
    );
    // Texts held back: the pings sent after them, deferred or not, wait behind them.
    faults.stop_dropping(1, 2, None);
    faults.delay_kind("text", Duration::from_millis(40));
    {
        let t = &mut node(&mut nodes, 1).transport;
        t.send_deferred(2, &Msg::Ping(10), false);
        t.send_deferred(2, &Msg::Text("slow".into()), false);
        t.send_deferred(2, &Msg::Ping(11), false);
        t.flush();
        t.send(2, &Msg::Ping(12));
        t.send(2, &Msg::Text("slow too".into()));
        t.send(2, &Msg::Ping(13));
    }
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(next_message(node(&mut nodes, 2)).await.1);
    }
    assert_eq!(
        got,
        vec![
            Msg::Ping(10),
            Msg::Text("slow".into()),
            Msg::Ping(11),
            Msg::Ping(12),
            Msg::Text("slow too".into()),
            Msg::Ping(13),
        ]
    );
}
