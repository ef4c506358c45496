//! ZooKeeper's recipes ([`znode::recipes`]) run by simulated clients against a
//! simulated cluster of any protocol, with the checks and measures of the recipes.
//!
//! # Layout
//! - [`driver`]: [`driver::Driver`], clients with sessions on a [`sim::Simulation`]
//!   running the znode tree: each opens a session, keeps it alive with heartbeats,
//!   runs one recipe one operation at a time, follows the leader and retries, and can
//!   crash (falls silent: its session expires).
//! - [`check`]: the checks run on every grant: no two holders at once (an earlier
//!   holder's node is gone from the most advanced replica's tree), fencing tokens that only
//!   grow; and, at the end, no client left waiting with the lock free (no watch event
//!   missed).
//! - [`chaos`]: the recipes under the simulator's random faults and client pauses,
//!   over many seeds, with every check; [`broken`]: broken clients that show the
//!   checks catch what they claim to.
//! - [`live`]: the checks of recipe clients run on real node processes (`cwb nemesis
//!   --workload recipes`), from what the clients saw alone: verified holdings that never
//!   overlap and whose tokens grow, watch events never missed or doubled, progress
//!   after the faults.
//! - [`demo`]: a narrated run of each recipe (`cwb recipe NAME`).
//! - [`measure`]: the failover measures: lock holder's crash to the next holder
//!   (session-expiry path), consensus leader's crash to the next holder (sessions
//!   survive), and notifications per hand-over, herd against predecessor watch.

pub mod broken;
pub mod chaos;
pub mod check;
pub mod demo;
pub mod driver;
pub mod live;
pub mod measure;
