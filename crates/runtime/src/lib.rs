//! The runtime: hosts one protocol node on tokio, with the real network, the real
//! write-ahead log and the client port, the same for every protocol.
//!
//! # Layout
//! - [`host`]: the node loop (etcd's Ready cycle): timers, transport, WAL writer,
//!   client port, and the effect interpreter shared with the simulator
//!   ([`protocols::DurabilityGate`]).
//! - [`transport`]: node-to-node TCP (framing, codec, authenticated handshake, one
//!   connection per pair, reconnect with back-off) and the fault filter (isolate,
//!   partition, delay, loss).
//! - [`client`]: the client port's wire format and a leader-finding client.
//! - [`config`]: `cluster.toml` files and their validation.
//! - [`event_lines`]: the JSON lines a node process prints its events as.
//! - [`events`]: the event bus the nodes report their protocol events on, stamped with
//!   the harness clock, and the latency recorder.
//! - [`tls`]: optional TLS on both ports (`[tls]` in `cluster.toml`) and the
//!   self-signed cluster CA `cwb config --tls` makes.
//! - [`warn_limit`]: rate-limited warnings for what peers and clients get wrong.
//!
//! The write-ahead log itself is the `storage` crate and the replicated state machine
//! the `kv` crate; neither needs an async runtime, so the simulator uses them too.

pub mod client;
pub mod config;
pub mod event_lines;
pub mod events;
pub mod host;
pub mod io_count;
pub mod tls;
pub mod transport;
pub mod warn_limit;
