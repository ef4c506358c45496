//! Micro-benchmarks of the hot paths every message, commit and vote goes through:
//!
//! - `codec/*`: the postcard codec shared by all protocols
//!   ([`runtime::transport::codec`]): encode and decode of a Raft AppendEntries carrying
//!   64 entries of 256-byte commands (Raft §5.3, a full replication batch) and of a ZAB
//!   PROPOSAL of one 256-byte transaction (Zab §IV-C, Broadcast). `decode_shared` is
//!   the decode a peer connection makes: the commands stay slices of the received
//!   frame ([`protocols::wire`]) instead of one copy each.
//! - `wal_record/*`: encoding a log record for an inline WAL (`fsync = never`), a Raft
//!   entries record of one 256-byte command, into a fresh `Vec` per record
//!   (`encode_record`) or into one reused buffer (`encode_record_into`).
//! - `wal/*`: [`storage::Wal`] append + sync of 256-byte records in batches of
//!   64 per sync (the runtime's group commit), under `fsync = never` (one `write` per
//!   batch) and `fsync = batch` (one `write` + one `fdatasync` per batch), in a
//!   temporary directory that is replaced every [`WAL_BATCHES_PER_DIR`] batches so the
//!   benchmark never holds more than a few megabytes on disk.
//! - `vote/*`: ZooKeeper's `totalOrderPredicate` ([`protocols::zab::total_order_predicate`],
//!   one pair of votes per deciding rule: epoch, zxid, sid) and Raft's "at least as up
//!   to date" check (§5.4.1, [`protocols::raft::log::RaftLog::candidate_is_up_to_date`]).
//! - `lincheck/*`: the linearizability checker ([`lincheck::check`]) on a
//!   10,000-operation history of a simulated linearizable key-value store (8 clients,
//!   16 keys, overlapping get/put/append/cas, 1% unknown and 1% failed outcomes): the
//!   whole verdict, per-key partitioning and the Wing-Gong/Lowe search of every key.
//! - `kv/apply_put_256B`: the state machine's apply of a committed put into a
//!   64k-key store ([`kv::KvStore::apply`]), which every node makes for every command:
//!   the top entry of a profile of `cwb bench --fsync never` (docs/METHOD.md,
//!   "Profiling").
//! - `handshake/*`: what authenticating peers costs. `proofs`: the CPU work of one
//!   peer handshake on both ends (two nonces from the OS, the acceptor's and the
//!   dialer's HMAC-SHA256 proofs made and checked); `connect`: a whole peer connection
//!   on loopback, from two transports starting to both reporting the peer connected
//!   (TCP connect + the three handshake messages), `connect_tls` the same inside mutual
//!   TLS 1.3 (both certificates checked against the cluster CA), against `tcp_connect`, a bare TCP
//!   connect and accept on the same runtime. Messages after the handshake carry no MAC,
//!   so authentication costs nothing per message.

/// The allocator `cwb` runs with (src/main.rs), so both measure the same hot path.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lincheck::generate::{simulate, Simulation};
use lincheck::{check, Limits, Verdict};
use protocols::raft::log::{Entry, RaftLog};
use protocols::raft::RaftMessage;
use protocols::zab::{PeerMessage, Txn, Vote, ZabMessage, Zxid};
use protocols::{Command, Membership, RequestId};
use runtime::transport::codec::{decode, decode_shared, encode};
use runtime::transport::handshake::{nonce, ClusterKey};
use runtime::transport::{Faults, Transport, TransportConfig, TransportEvent};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};
use storage::{FsyncPolicy, Wal};

/// Size of every command payload and WAL record, in bytes.
const PAYLOAD_BYTES: usize = 256;
/// Entries in the AppendEntries batch.
const ENTRIES: usize = 64;
/// WAL records appended between two syncs.
const WAL_BATCH: u64 = 64;
/// WAL batches written to one directory before it is replaced (about 17 MB).
const WAL_BATCHES_PER_DIR: u64 = 1024;

fn command(seq: u64) -> Command {
    Command {
        id: RequestId { origin: 1, seq },
        data: Bytes::from(vec![b'x'; PAYLOAD_BYTES]),
    }
}

/// A leader's full replication batch: 64 entries of the current term.
fn append_entries() -> RaftMessage {
    RaftMessage::AppendEntries {
        term: 7,
        prev_log_index: 10_000,
        prev_log_term: 7,
        entries: (0..ENTRIES as u64)
            .map(|i| Entry {
                term: 7,
                command: Some(command(10_001 + i)),
            })
            .collect(),
        leader_commit: 9_990,
    }
}

/// A ZAB leader's PROPOSAL of one transaction, inside its learner session.
fn proposal() -> ZabMessage {
    ZabMessage::Peer {
        session: 0x5eed_cafe_f00d,
        seq: 10_000,
        body: PeerMessage::Proposal {
            txn: Txn {
                zxid: Zxid::new(3, 10_000),
                command: command(10_000),
            },
        },
    }
}

/// Encode and decode of one message type; throughput in encoded bytes.
fn bench_codec<M>(c: &mut Criterion, name: &str, msg: &M)
where
    M: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut encoded = BytesMut::new();
    if let Err(e) = encode(msg, &mut encoded) {
        panic!("{name}: encode failed: {e}");
    }
    match decode::<M>(&encoded) {
        Ok(back) => assert_eq!(&back, msg, "{name}: codec round trip"),
        Err(e) => panic!("{name}: decode failed: {e}"),
    }
    let encoded = encoded.freeze();
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    let mut out = BytesMut::with_capacity(encoded.len());
    group.bench_function(BenchmarkId::new("encode", name), |b| {
        b.iter(|| {
            out.clear();
            encode(black_box(msg), &mut out).is_ok()
        })
    });
    group.bench_function(BenchmarkId::new("decode", name), |b| {
        b.iter(|| decode::<M>(black_box(&encoded)).is_ok())
    });
    group.bench_function(BenchmarkId::new("decode_shared", name), |b| {
        b.iter(|| decode_shared::<M>(black_box(&encoded)).is_ok())
    });
    group.finish();
}

/// A Raft leader's WAL record for one command, encoded per record as an inline log does.
fn wal_record(c: &mut Criterion) {
    let record = protocols::raft::RaftRecord::Entries {
        first_index: 10_001,
        entries: vec![Entry {
            term: 7,
            command: Some(command(10_001)),
        }],
    };
    let mut group = c.benchmark_group("wal_record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_record", |b| {
        b.iter(|| storage::encode_record(black_box(&record)).map(|v| v.len()))
    });
    let mut buf = Vec::new();
    group.bench_function("encode_record_into", |b| {
        b.iter(|| storage::encode_record_into(black_box(&record), &mut buf).map(|()| buf.len()))
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_codec(c, "raft_append_entries_64x256B", &append_entries());
    bench_codec(c, "zab_proposal_256B", &proposal());
}

/// `iters` batches of [`WAL_BATCH`] appends + one sync under `policy`; only the appends
/// and syncs are timed, not opening and removing the directories.
fn wal_batches(policy: FsyncPolicy, iters: u64) -> Duration {
    let payload = vec![b'r'; PAYLOAD_BYTES];
    let mut measured = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let chunk = left.min(WAL_BATCHES_PER_DIR);
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("temporary directory: {e}"),
        };
        let mut wal = match Wal::open(dir.path(), policy) {
            Ok((wal, _)) => wal,
            Err(e) => panic!("WAL open: {e}"),
        };
        let start = Instant::now();
        for _ in 0..chunk {
            for _ in 0..WAL_BATCH {
                if let Err(e) = wal.append(black_box(&payload)) {
                    panic!("WAL append: {e}");
                }
            }
            if let Err(e) = wal.sync() {
                panic!("WAL sync: {e}");
            }
        }
        measured += start.elapsed();
        left -= chunk;
    }
    measured
}

fn wal(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("wal/append_sync_{PAYLOAD_BYTES}B"));
    group.throughput(Throughput::Elements(WAL_BATCH));
    // An fdatasync costs milliseconds: fewer samples keep the group short.
    group.sample_size(20);
    for policy in [FsyncPolicy::Never, FsyncPolicy::Batch] {
        group.bench_function(BenchmarkId::new(policy.as_str(), WAL_BATCH), |b| {
            b.iter_custom(|iters| wal_batches(policy, iters))
        });
    }
    group.finish();
}

fn vote(seq: u64, zxid: Zxid, peer_epoch: u32) -> Vote {
    Vote {
        leader: seq,
        zxid,
        peer_epoch,
    }
}

fn votes(c: &mut Criterion) {
    let membership = Membership::voters([1, 2, 3, 4, 5]);
    let pairs = [
        // (deciding rule, new, current)
        (
            "epoch",
            vote(1, Zxid::new(2, 1), 3),
            vote(5, Zxid::new(2, 9), 2),
        ),
        (
            "zxid",
            vote(2, Zxid::new(3, 12), 3),
            vote(4, Zxid::new(3, 11), 3),
        ),
        (
            "sid",
            vote(5, Zxid::new(3, 12), 3),
            vote(4, Zxid::new(3, 12), 3),
        ),
    ];
    let mut group = c.benchmark_group("vote/zab_total_order_predicate");
    for (rule, new, current) in pairs {
        group.bench_function(rule, |b| {
            b.iter(|| {
                protocols::zab::total_order_predicate(
                    black_box(&new),
                    black_box(&current),
                    &membership,
                )
            })
        });
    }
    group.finish();

    // A follower's log of 1024 entries over 8 terms; the candidates differ in how the
    // comparison is decided.
    let mut log = RaftLog::new();
    for i in 0..1024u64 {
        log.push(Entry {
            term: 1 + i / 128,
            command: None,
        });
    }
    let (term, index) = (log.last_term(), log.last_index());
    let candidates = [
        ("higher_term", term + 1, 10),
        ("same_term_longer", term, index + 1),
        ("same_term_shorter", term, index - 1),
        ("lower_term", term - 1, index + 100),
    ];
    let mut group = c.benchmark_group("vote/raft_candidate_is_up_to_date");
    for (case, last_term, last_index) in candidates {
        group.bench_function(case, |b| {
            b.iter(|| log.candidate_is_up_to_date(black_box(last_term), black_box(last_index)))
        });
    }
    group.finish();
}

/// The whole verdict on a simulated history (generated once, outside the timing).
fn lincheck(c: &mut Criterion) {
    let sim = Simulation::default();
    let history = simulate(&sim);
    let verdict = check(&history, Limits::default());
    assert_eq!(
        verdict,
        Verdict::Linearizable,
        "a simulated history is linearizable"
    );
    let mut group = c.benchmark_group("lincheck");
    group.throughput(Throughput::Elements(history.len() as u64));
    group.bench_function(
        BenchmarkId::new(
            "check_kv",
            format!(
                "{}ops_{}clients_{}keys",
                sim.operations, sim.clients, sim.keys
            ),
        ),
        |b| b.iter(|| check(black_box(&history), Limits::default())),
    );
    group.finish();
}

fn handshake(c: &mut Criterion) {
    let key = ClusterKey {
        id: [7; 16],
        secret: std::sync::Arc::from(&b"a benchmark secret of some length"[..]),
    };
    c.bench_function("handshake/proofs", |b| {
        b.iter(|| {
            let (nd, na) = (nonce().expect("nonce"), nonce().expect("nonce"));
            let welcome = key.welcome_proof(2, 1, &nd, &na);
            assert!(key.verify_welcome(2, 1, &nd, &na, &welcome));
            let hello = key.hello_proof(1, 2, &na, &nd);
            assert!(key.verify_hello(1, 2, &na, &nd, &hello));
        })
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    c.bench_function("handshake/connect", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += connect_pair(&key).await;
                }
                total
            })
        })
    });
    let tls = runtime::tls::LoopbackTls::generate().expect("a loopback CA");
    c.bench_function("handshake/connect_tls", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += connect_pair_with(&key, Some(&tls.node)).await;
                }
                total
            })
        })
    });
    c.bench_function("handshake/tcp_connect", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind");
                    let addr = listener.local_addr().expect("addr");
                    let t0 = Instant::now();
                    let (dialed, accepted) =
                        tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
                    total += t0.elapsed();
                    drop((dialed, accepted));
                }
                total
            })
        })
    });
}

/// Starts two transports on loopback and returns how long until both saw the other
/// connect (node 1 dials node 2 and proves the secret; node 2 proves it back).
async fn connect_pair(key: &ClusterKey) -> Duration {
    connect_pair_with(key, None).await
}

/// [`connect_pair`], over mutual TLS when `tls` is given (the handshake then runs
/// inside it).
async fn connect_pair_with(key: &ClusterKey, tls: Option<&runtime::tls::NodeTls>) -> Duration {
    let mut listeners = Vec::new();
    for _ in 0..2 {
        listeners.push(
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        );
    }
    let addrs: BTreeMap<u64, std::net::SocketAddr> = listeners
        .iter()
        .zip(1..)
        .map(|(l, id)| (id, l.local_addr().expect("addr")))
        .collect();
    let t0 = Instant::now();
    let mut nodes = Vec::new();
    for (listener, id) in listeners.into_iter().zip(1..) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<TransportEvent<u8>>();
        let transport = Transport::<u8>::start(
            TransportConfig {
                key: key.clone(),
                tls: tls.cloned(),
                ..TransportConfig::new(id, addrs.clone())
            },
            listener,
            Faults::default(),
            tx,
        )
        .expect("transport starts");
        nodes.push((transport, rx));
    }
    for (_, rx) in &mut nodes {
        while let Some(event) = rx.recv().await {
            if matches!(event, TransportEvent::PeerConnected(_)) {
                break;
            }
        }
    }
    let elapsed = t0.elapsed();
    for (transport, _) in &nodes {
        transport.close().await;
    }
    elapsed
}

/// Short times so the whole suite stays within minutes on a 2-core machine;
/// command-line flags such as `--measurement-time` or `--quick` override them.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

/// Keys in the `kv/apply` store: the bench workload's key space at 64 clients
/// (`drivers::workload::key`), so the table is as large as in `cwb bench`.
const KV_KEYS: u64 = 65_536;

/// The state machine's apply of a committed put, which every node makes for every
/// command: the top entry of a `perf` profile of `cwb bench --fsync never` at 64
/// clients (hash-table insert into a 64k-key table, and the release of the value it
/// replaces). The commands are encoded beforehand, as the log holds them; 64 clients
/// each with its own session, keys cycling through the whole table.
fn kv_apply(c: &mut Criterion) {
    let value = Bytes::from(vec![b'x'; PAYLOAD_BYTES]);
    let commands: Vec<Bytes> = (0..2 * KV_KEYS)
        .map(|n| {
            let client = (n % 64) as u32;
            kv::KvCommand {
                session: kv::Session {
                    client: u64::from(client) + 1,
                    seq: n / 64 + 1,
                },
                op: kv::KvOp::Put {
                    key: drivers::workload::key(client, n / 64),
                    value: value.clone(),
                },
            }
            .encode()
        })
        .collect();
    // A store holding every key once; sessions only move forward, so once the
    // commands run out the store is rebuilt, outside the measured time.
    let fresh = || {
        let mut store = kv::KvStore::new();
        for cmd in &commands[..KV_KEYS as usize] {
            store.apply(cmd);
        }
        store
    };
    let mut store = fresh();
    let mut next = KV_KEYS as usize;
    let mut group = c.benchmark_group(format!("kv/apply_put_{PAYLOAD_BYTES}B"));
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("keys", KV_KEYS), |b| {
        b.iter_custom(|iters| {
            let mut measured = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                if next == commands.len() {
                    store = fresh();
                    next = KV_KEYS as usize;
                }
                let chunk = left.min((commands.len() - next) as u64) as usize;
                let start = Instant::now();
                for cmd in &commands[next..next + chunk] {
                    std::hint::black_box(store.apply(cmd));
                }
                measured += start.elapsed();
                next += chunk;
                left -= chunk as u64;
            }
            measured
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = codec, wal_record, wal, votes, lincheck, handshake, kv_apply
}
criterion_main!(benches);
