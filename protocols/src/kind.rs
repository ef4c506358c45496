//! Which protocol a run uses, named the same way in configuration files, scenario files,
//! command lines and results files.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The protocols the workbench runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ProtocolKind {
    /// Raft with randomized election timeouts.
    Raft,
    /// ZooKeeper's Zab with FastLeaderElection.
    Zab,
    /// Basic-Paxos leader election with Multi-Paxos commits.
    Paxos,
    /// Redis Cluster's failover over asynchronous replication (not a consensus
    /// protocol: the contrast).
    Redis,
}

/// A protocol name that is none of `raft`, `zab`, `paxos`, `redis`.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown protocol {0:?}: expected one of raft, zab, paxos, redis")]
pub struct UnknownProtocol(pub String);

impl ProtocolKind {
    /// The three consensus protocols, in report order: every part of the workbench
    /// runs them (comparisons, benches, known bugs, scenarios).
    pub const ALL: [ProtocolKind; 3] = [ProtocolKind::Raft, ProtocolKind::Zab, ProtocolKind::Paxos];

    /// Every protocol the command line names: the consensus protocols and Redis
    /// Cluster, which runs where [`ProtocolKind::is_consensus`] is not required.
    pub const NAMED: [ProtocolKind; 4] = [
        ProtocolKind::Raft,
        ProtocolKind::Zab,
        ProtocolKind::Paxos,
        ProtocolKind::Redis,
    ];

    /// Whether every node applies one agreed sequence of commands (false for Redis
    /// Cluster, whose masters replicate asynchronously, each over its own slots).
    pub fn is_consensus(self) -> bool {
        self != ProtocolKind::Redis
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolKind::Raft => "raft",
            ProtocolKind::Zab => "zab",
            ProtocolKind::Paxos => "paxos",
            ProtocolKind::Redis => "redis",
        }
    }
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProtocolKind {
    type Err = UnknownProtocol;
    fn from_str(s: &str) -> Result<ProtocolKind, UnknownProtocol> {
        ProtocolKind::NAMED
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProtocol(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for kind in ProtocolKind::NAMED {
            assert_eq!(kind.as_str().parse(), Ok(kind));
            assert_eq!(kind.as_str().to_uppercase().parse(), Ok(kind));
        }
        assert_eq!(
            "multipaxos".parse::<ProtocolKind>(),
            Err(UnknownProtocol("multipaxos".into()))
        );
        assert!(!ProtocolKind::Redis.is_consensus());
        assert!(ProtocolKind::ALL.iter().all(|k| k.is_consensus()));
    }
}
