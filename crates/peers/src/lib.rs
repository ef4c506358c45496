//! Real ZooKeeper and etcd, measured beside the protocols in the same `cwb bench` run
//! (`cwb bench --peers zookeeper,etcd`, cargo feature `peers` of the `cwb` binary).
//!
//! Each system runs as a 3-node (or `--nodes`) ensemble on loopback from its installed
//! binaries (Debian's `zookeeper` and `etcd-server` packages), in a temporary
//! directory, on free ports, with its log synced to disk before it acknowledges a
//! write. The same closed-loop workload as the protocols' (clients, value size, keys)
//! drives it through its own client protocol, one connection per client, and its
//! leader is killed (`SIGKILL`) to time a failover from the kill to the first
//! acknowledged write. docs/METHOD.md ("Real ZooKeeper and etcd") says what is equal
//! between the systems and what is not.
//!
//! # Layout
//! - [`error`]: [`PeerError`], why a peer system failed.
//! - [`jute`]: ZooKeeper's wire encoding (jute records in length-prefixed frames):
//!   the connect handshake, create, setData, ping and their replies.
//! - [`zk`]: a minimal ZooKeeper client over [`jute`] (one session per connection,
//!   one request in flight), and the `srvr` four-letter word for a server's role.
//! - [`http`]: a minimal HTTP/1.1 client (keep-alive, `Content-Length` bodies) and
//!   base64, for etcd's JSON gateway.
//! - [`etcd`]: `put` and `status` over etcd v3's JSON gateway.
//! - [`ensemble`]: starting, watching and killing a loopback ensemble of either system.
//! - [`drive`]: the closed-loop workload and the kill-the-leader failover against an
//!   ensemble.
//! - [`bench`]: [`Peers`], the `drivers::bench::ExtraSystems` that puts both into the
//!   bench's trials, rounds and results.

pub mod bench;
pub mod drive;
pub mod ensemble;
pub mod error;
pub mod etcd;
pub mod http;
pub mod jute;
pub mod zk;

pub use bench::Peers;
pub use ensemble::{Ensemble, PeerKind};
pub use error::PeerError;
