//! The shared harness: everything the three protocols share, so that a comparison
//! measures the protocols and nothing else.
//!
//! # Layout
//! - [`transport`]: node-to-node TCP (framing, codec, one connection per pair,
//!   reconnect with back-off) and the fault filter (isolate, partition, delay, loss).
//! - [`storage`]: the write-ahead log (checksummed records, fsync policy, recovery).
//! - [`kv`]: the key-value state machine every protocol replicates.
//! - [`client`]: the client port's wire format and a leader-finding client.
//! - [`runtime`]: hosts one protocol node on tokio: timers, transport, WAL, client port.
//! - [`cluster`]: in-process loopback clusters: start, kill, restart, isolate, heal.
//! - [`process_cluster`]: the same with one `cwb node` OS process per node.
//! - [`config`]: `cluster.toml` files and their validation.
//! - [`metrics`]: harness-stamped protocol events; election and failover measures.
//! - [`sim`]: the deterministic simulator (virtual clock, seeded faults, safety checks).
//! - [`lincheck`]: the linearizability checker of client histories of the key-value
//!   store (Wing-Gong/Lowe search, per-key partitioning, anomalies in words).

pub mod baseline;
pub mod client;
pub mod cluster;
pub mod config;
pub mod kv;
pub mod lincheck;
pub mod measure;
pub mod metrics;
pub mod process_cluster;
pub mod runtime;
pub mod sim;
pub mod storage;
pub mod transport;
pub mod warn_limit;
pub mod workload;
