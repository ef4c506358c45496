//! Consensus protocols as pure, deterministic state machines.
//!
//! Every protocol in this crate is *sans-IO*: it never touches a socket, a file, a
//! clock, a thread or a global random source. It is driven by [`Input`]s (start, a
//! peer message, a timer firing, a client command, a lost peer connection) and answers
//! with [`Effect`]s (send a message, persist a record, set or cancel a timer, apply a
//! committed command, reply to a client, report a protocol event). The current time
//! ([`Time`]) and a seeded random source ([`DetRng`]) are inputs too. The same code
//! therefore runs unchanged on the real TCP runtime, in the deterministic simulator and
//! in the benches of the `harness` crate.
//!
//! # Layout
//! - [`node`]: the [`Protocol`] trait every protocol implements, and [`Input`];
//!   [`Protocol::step`] derives `RoleChanged` for all of them.
//! - [`effect`]: [`Effect`] and the observable [`Event`]s the metrics layer timestamps;
//!   [`narration_line`], the one display format of a node's narration.
//! - [`output`]: [`Output`], the one way protocols write their effects.
//! - [`gate`]: [`DurabilityGate`], the effect-ordering contract every host carries out.
//! - [`bugs`]: [`Bug`], known-buggy variants the simulator can switch on for teaching
//!   (off by default; only `cwb sim --bug` reaches them).
//! - [`describe`]: [`Describe`], each protocol's readable forms of its own messages.
//! - [`durable`]: [`DurableMarks`], for a leader that counts its own copy only once it
//!   is durable.
//! - [`types`]: identifiers shared by all protocols ([`NodeId`], [`RequestId`],
//!   [`Command`], [`Time`]).
//! - [`quorum`]: majority arithmetic over a membership of voters and observers.
//! - [`timing`]: the one timing vocabulary (heartbeat, failure-detection timeout) that
//!   each protocol maps onto its own timers.
//! - [`kind`]: [`ProtocolKind`], the protocol names of config, scenario and results files.
//! - [`rng`]: the small seeded random source handed to protocols.
//! - [`wire`]: decoding a received message whose commands share the frame's bytes.
//! - [`raft`]: Raft (Ongaro & Ousterhout, 2014), randomized election timeouts.
//! - [`paxos`]: a Basic-Paxos leader election with Multi-Paxos commits (Lamport, "Paxos
//!   Made Simple", 2001).
//! - [`redis`]: Redis Cluster's failover over asynchronous replication (Redis Cluster
//!   Specification): the non-consensus contrast.
//! - [`zab`]: ZAB with FastLeaderElection (Junqueira, Reed & Serafini, DSN 2011; ZooKeeper).
//! - [`preload`]: initial durable state for teaching scenarios, written once and turned
//!   into each protocol's own records.
//! - `pump` (unit tests only): `Pump`, the one deterministic in-memory network the three
//!   protocols' unit tests run on.
//!
//! # Example
//! ```
//! use protocols::{raft::Raft, DetRng, Effect, Event, Input, Membership, Protocol, Role};
//! use protocols::{Setup, Time, Timing};
//! let setup = Setup {
//!     id: 1,
//!     membership: Membership::voters([1, 2, 3]),
//!     timing: Timing::default(),
//!     rng: DetRng::for_node(7, 1),
//!     narrate: false,
//! };
//! let mut node = Raft::recover(setup, Vec::new()).expect("an empty log always recovers");
//! let mut effects = Vec::new();
//! node.step(Time::ZERO, Input::Start, &mut effects);
//! // It reports the role it starts in, arms its randomized election timer and waits.
//! assert_eq!(
//!     effects[0],
//!     Effect::Event(Event::RoleChanged { role: Role::Follower, term: 0 })
//! );
//! assert!(matches!(effects[1], Effect::SetTimer { .. }));
//! ```

pub mod bugs;
pub mod describe;
pub mod durable;
pub mod effect;
pub mod gate;
pub mod kind;
pub mod node;
pub mod output;
pub mod paxos;
pub mod preload;
#[cfg(test)]
pub mod pump;
pub mod quorum;
pub mod raft;
pub mod read;
pub mod redis;
pub mod rng;
pub mod snapshot;
pub mod timing;
pub mod types;
pub mod wire;
pub mod zab;

pub use bugs::{Bug, CaughtBy, UnknownBug};
pub use describe::{event_text, event_text_of, Describe, LogEntry, Narration, Vocabulary};
pub use durable::DurableMarks;
pub use effect::{narration_line, ClientError, Effect, Event, Role};
pub use gate::DurabilityGate;
pub use kind::{ProtocolKind, UnknownProtocol};
pub use node::{Effects, Input, InputOf, Protocol, RecoveryError, Setup, Status};
pub use output::Output;
pub use quorum::Membership;
pub use read::{ReadPath, LEASE_DRIFT_PERCENT};
pub use rng::DetRng;
pub use snapshot::Snapshot;
pub use timing::{RaftTimerReset, Timing};
pub use types::{entry_text, Command, NodeId, RequestId, Time};
