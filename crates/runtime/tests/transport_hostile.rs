//! Hostile peers against the TCP transport on loopback: garbage, truncated and
//! oversized frames on the listening port and on established connections, an impostor
//! without the cluster secret, and a node of another cluster naming our address.

mod common;

use bytes::{BufMut, BytesMut};
use common::*;
use protocols::NodeId;
use runtime::transport::handshake::{ClusterKey, Handshake, HandshakeKind};
use runtime::transport::{read_frame, write_frame, Faults, TransportEvent, FRAME_VERSION};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

async fn assert_closed_after(stream: &mut TcpStream, bytes: &[u8], what: &str) {
    stream.write_all(bytes).await.expect("write the bad bytes");
    let mut sink = Vec::new();
    // Ok(_) is end of stream, Err is a reset: either way the node closed it.
    let closed = timeout(PATIENCE, stream.read_to_end(&mut sink)).await;
    assert!(closed.is_ok(), "{what}: the connection was not closed");
}

fn frame(payload: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    write_frame(payload, &mut out).unwrap();
    out
}

fn hello(from: NodeId, to: NodeId) -> BytesMut {
    hello_of(from, to, key().id)
}

fn hello_of(from: NodeId, to: NodeId, cluster: [u8; 16]) -> BytesMut {
    handshake(HandshakeKind::Hello, from, to, cluster)
}

/// A handshake frame whose nonce and proof are made up (an attacker without the secret).
fn handshake(kind: HandshakeKind, from: NodeId, to: NodeId, cluster: [u8; 16]) -> BytesMut {
    let mut payload = BytesMut::new();
    Handshake {
        kind,
        from,
        to,
        cluster,
        nonce: [7; 32],
        proof: [9; 32],
    }
    .encode(&mut payload);
    frame(&payload)
}

#[tokio::test]
async fn hostile_bytes_on_the_listening_port_close_only_that_connection() {
    init_tracing();
    let (mut nodes, addrs) = cluster(&[1, 2], |_| Faults::default()).await;
    let mut oversized = BytesMut::new();
    oversized.put_u32_le(u32::MAX);
    oversized.put_u8(FRAME_VERSION);
    let mut bad_version = BytesMut::new();
    bad_version.put_u32_le(3);
    bad_version.put_u8(FRAME_VERSION + 1);
    bad_version.put_slice(b"abc");
    let mut bad_magic = hello(1, 2);
    bad_magic[6] ^= 0xff;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("oversized length", oversized.to_vec()),
        ("bad version", bad_version.to_vec()),
        ("bad magic", bad_magic.to_vec()),
        ("unknown node id", hello(9, 2).to_vec()),
        ("another cluster", hello_of(1, 2, [0x13; 16]).to_vec()),
        (
            "a hello with a made-up proof",
            [hello(1, 2), handshake(HandshakeKind::Proof, 1, 2, key().id)].concat(),
        ),
        ("hello meant for another node", hello(1, 3).to_vec()),
        ("higher id dialing", hello(3, 2).to_vec()),
        ("truncated frame", frame(b"0123456789")[..8].to_vec()),
    ];
    for (round, (what, bytes)) in cases.into_iter().enumerate() {
        let mut raw = TcpStream::connect(addrs[&2]).await.unwrap();
        if what == "truncated frame" {
            raw.write_all(&bytes).await.unwrap();
            raw.shutdown().await.unwrap();
            assert_closed_after(&mut raw, &[], what).await;
        } else {
            assert_closed_after(&mut raw, &bytes, what).await;
        }
        // The legitimate peer is untouched and keeps exchanging.
        node(&mut nodes, 1)
            .transport
            .send(2, &Msg::Ping(round as u64));
        node(&mut nodes, 2)
            .transport
            .send(1, &Msg::Ping(round as u64));
        assert_eq!(
            next_message(node(&mut nodes, 2)).await,
            (1, Msg::Ping(round as u64)),
            "{what}"
        );
        assert_eq!(
            next_message(node(&mut nodes, 1)).await,
            (2, Msg::Ping(round as u64)),
            "{what}"
        );
    }
    assert!(node(&mut nodes, 1).transport.is_connected(2));
}

#[tokio::test]
async fn hostile_bytes_on_an_established_connection_close_it_with_peer_lost() {
    init_tracing();
    // Node 1 is configured but never started: a raw socket plays it, while 2 and 3 talk.
    let mut listeners = BTreeMap::new();
    for id in [1, 2, 3] {
        listeners.insert(id, bind().await);
    }
    let addrs: BTreeMap<_, _> = listeners
        .iter()
        .map(|(id, l)| (*id, l.local_addr().unwrap()))
        .collect();
    let mut nodes: BTreeMap<_, _> = listeners
        .into_iter()
        .filter(|(id, _)| *id != 1)
        .map(|(id, l)| (id, start(id, &addrs, l, Faults::default())))
        .collect();
    connected(node(&mut nodes, 2), 3).await;

    let undecodable = frame(&[0xff, 0xff]);
    let oversized = {
        let mut b = BytesMut::new();
        b.put_u32_le(64 * 1024 * 1024);
        b.put_u8(FRAME_VERSION);
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("undecodable message", undecodable.to_vec()),
        ("garbage", b"\x02\x00\x00\x00\x09zz".to_vec()),
        ("oversized length", oversized.to_vec()),
        ("trailing bytes", frame(&[0, 1, 0]).to_vec()),
    ];
    for (round, (what, bytes)) in cases.into_iter().enumerate() {
        let mut raw = TcpStream::connect(addrs[&3]).await.unwrap();
        raw.write_all(&hello(1, 3)).await.unwrap();
        let mut buf = BytesMut::new();
        let welcome = timeout(PATIENCE, read_frame(&mut raw, 256, &mut buf))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let welcome = Handshake::decode(&welcome).unwrap();
        assert_eq!(welcome.kind, HandshakeKind::Welcome);
        // This test plays a node that holds the secret: it proves it.
        let mut payload = BytesMut::new();
        Handshake {
            kind: HandshakeKind::Proof,
            from: 1,
            to: 3,
            cluster: key().id,
            nonce: [0; 32],
            proof: key().hello_proof(1, 3, &welcome.nonce, &[7; 32]),
        }
        .encode(&mut payload);
        raw.write_all(&frame(&payload)).await.unwrap();
        connected(node(&mut nodes, 3), 1).await;
        // A well-formed message first: it is delivered.
        let mut good = BytesMut::new();
        runtime::transport::encode_frame(&Msg::Ping(99), 1024, &mut good).unwrap();
        raw.write_all(&good).await.unwrap();
        assert_eq!(next_message(node(&mut nodes, 3)).await, (1, Msg::Ping(99)));
        assert_closed_after(&mut raw, &bytes, what).await;
        lost(node(&mut nodes, 3), 1).await;
        node(&mut nodes, 2)
            .transport
            .send(3, &Msg::Ping(round as u64));
        assert_eq!(
            next_message(node(&mut nodes, 3)).await,
            (2, Msg::Ping(round as u64)),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_without_the_secret_never_replaces_the_real_connection() {
    // The attack: a process claiming to be node 1 re-sends hellos. Before, each one
    // replaced node 1's live connection (commits fell by 94-100% while it went on).
    init_tracing();
    let (mut nodes, addrs) = cluster(&[1, 2], |_| Faults::default()).await;
    for round in 0..20u64 {
        let mut impostor = TcpStream::connect(addrs[&2]).await.unwrap();
        let forged = [hello(1, 2), handshake(HandshakeKind::Proof, 1, 2, key().id)].concat();
        assert_closed_after(&mut impostor, &forged, "impostor").await;
        // The real connection was never dropped: messages flow on it, and neither end
        // saw it lost.
        node(&mut nodes, 1).transport.send(2, &Msg::Ping(round));
        assert_eq!(
            next_message(node(&mut nodes, 2)).await,
            (1, Msg::Ping(round))
        );
    }
    for id in [1, 2] {
        while let Ok(ev) = node(&mut nodes, id).events.try_recv() {
            assert!(
                !matches!(ev, TransportEvent::PeerLost(_)),
                "node {id} lost its peer to an impostor"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_cluster_naming_our_address_is_never_admitted() {
    // The attack: another cluster's node 1, configured with our node 2's address. Before,
    // it was admitted as our node 1 (with Raft, half the acknowledged writes were lost).
    init_tracing();
    let listeners = [bind().await, bind().await];
    let addrs: BTreeMap<NodeId, SocketAddr> = [
        (1, listeners[0].local_addr().unwrap()),
        (2, listeners[1].local_addr().unwrap()),
    ]
    .into();
    let [l1, l2] = listeners;
    let foreign = ClusterKey {
        id: [0x13; 16],
        ..key()
    };
    let mut ours = start(2, &addrs, l2, Faults::default());
    let _theirs = start_keyed(1, &addrs, l1, Faults::default(), foreign);
    // It redials every few milliseconds; in half a second none of its tries is admitted.
    let admitted = timeout(Duration::from_millis(500), async {
        loop {
            match ours.events.recv().await {
                Some(TransportEvent::PeerConnected(_)) | None => return,
                Some(_) => {}
            }
        }
    })
    .await;
    assert!(admitted.is_err(), "a node of another cluster was admitted");
}
