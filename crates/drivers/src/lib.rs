//! Cluster drivers and the measures: everything that runs a whole cluster and times it.
//!
//! # Layout
//! - [`measure`]: the [`measure::Cluster`] trait the measures run on, and the measures
//!   (cold-start election, failover after a kill or an isolation, throughput).
//! - [`cluster`]: in-process loopback clusters: start, kill, restart, isolate, heal.
//! - [`console`]: the commands a person gives an in-process cluster (`cwb cluster`,
//!   `cwb serve`), parsed and carried out.
//! - [`process_cluster`]: the same with one `cwb node` OS process per node.
//! - [`remote_cluster`]: `cwb node` processes started elsewhere under a supervisor,
//!   measured through their client ports (crash, faults, event streams).
//! - [`metrics`]: election and failover decomposed from the nodes' stamped events.
//! - [`workload`]: closed-loop client workloads.
//! - [`loaded`]: failover under a load of writers: acknowledged writes lost, the
//!   clients' history checked, Redis Cluster's failover steps.
//! - [`nemesis`]: faults against a cluster of node processes under retrying clients,
//!   the clients' history checked for linearizability.
//! - [`baseline`]: the machine's loopback round trip and fsync latency.
//! - [`cpu`]: CPU time of this process and of node processes, for the cost per operation.
//! - [`bench`]: the benchmark matrix behind `cwb bench` and `cwb compare`.
//! - [`with_protocol!`]: from a [`protocols::ProtocolKind`] to its protocol type.

pub mod baseline;
pub mod bench;
pub mod cluster;
pub mod console;
pub mod cpu;
mod dispatch;
pub mod loaded;
pub mod measure;
pub mod metrics;
pub mod narration;
pub mod nemesis;
pub mod netns;
pub mod placement;
pub mod process_cluster;
pub mod remote_cluster;
pub mod workload;
