//! Identifiers and values shared by every protocol.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A node's identity in the cluster (Raft's server id, ZooKeeper's `sid`/`myid`, the
/// node part of a Paxos ballot). Unique within a cluster; never 0 in configurations.
pub type NodeId = u64;

/// A point in time as the harness sees it: nanoseconds since an arbitrary origin (the
/// runtime's start, or the simulator's virtual zero). Protocols only compare and add
/// times; they never read a clock.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Time(pub u64);

impl Time {
    /// The origin.
    pub const ZERO: Time = Time(0);

    /// Nanoseconds since the origin.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// This time plus `d` (saturating).
    pub fn plus(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d.as_nanos() as u64))
    }

    /// The time elapsed since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:03}ms",
            self.0 / 1_000_000,
            (self.0 / 1_000) % 1_000
        )
    }
}

/// Identifies one client command across the cluster: the node that received it from a
/// client and that node's sequence number. The node named by `origin` answers the
/// client when the command is applied, so ids must be unique per origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// The node the client talked to.
    pub origin: NodeId,
    /// That node's counter.
    pub seq: u64,
}

/// `command 3#7`: the 7th command node 3 took from a client; origin 0 numbers the
/// entries of a preloaded history ([`crate::preload::preloaded_command`]), shown as
/// `preloaded entry 2:3` (the 3rd entry written in generation 2).
impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.origin == 0 {
            write!(
                f,
                "preloaded entry {}:{}",
                self.seq >> 32,
                self.seq & 0xffff_ffff
            )
        } else {
            write!(f, "command {}#{}", self.origin, self.seq)
        }
    }
}

/// An applied entry in words: a client command ([`RequestId`]'s form) or `a no-op`
/// (`None`: a protocol's own entry).
pub fn entry_text(entry: Option<RequestId>) -> String {
    entry.map_or_else(|| "a no-op".to_string(), |id| id.to_string())
}

/// A client command as the protocols replicate it: opaque bytes for the harness's state
/// machine, tagged with its [`RequestId`]. Protocols never look inside `data`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Who is waiting for the result.
    pub id: RequestId,
    /// The encoded state-machine operation. Decoded from a received frame, a slice of
    /// that frame rather than a copy ([`crate::wire`]).
    #[serde(deserialize_with = "crate::wire::deserialize_shared")]
    pub data: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_preloaded_entries_read_as_words() {
        assert_eq!(RequestId { origin: 3, seq: 7 }.to_string(), "command 3#7");
        let pre = crate::preload::preloaded_command(3, 2).id;
        assert_eq!(pre.to_string(), "preloaded entry 3:2");
        assert_eq!(entry_text(None), "a no-op");
    }
}
