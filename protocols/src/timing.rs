//! The one timing vocabulary shared by all protocols.
//!
//! A run sets a heartbeat interval and a failure-detection timeout range once; each
//! protocol maps them onto its own timers, so that a comparison varies the protocol and
//! nothing else (docs/DESIGN.md, "Fair comparison rules"). The mapping:
//!
//! | setting | Raft (§5.2) | ZAB | Paxos |
//! |---|---|---|---|
//! | `heartbeat` | leader's empty AppendEntries interval | `tickTime`: PING interval | leader heartbeat interval |
//! | `election_timeout_min..=max` | election timeout, re-drawn uniformly on every reset | `syncLimit` = ceil(min / tick) ticks of silence before a follower (or a leader short of a quorum) gives up | leader-failure timeout, drawn uniformly; also the back-off range after a lost ballot |
//! | `finalize_wait` | unused | FastLeaderElection's finalize wait (ZooKeeper: 200 ms) | unused |
//! | `raft_timer_reset` | whether a higher term restarts a follower's election timeout ([`RaftTimerReset`]) | unused | unused |
//! | `pre_vote` | PreVote before a real election, and the lease guard on votes (thesis §9.6) | unused | unused |
//! | `reads` | [`crate::read`]: `log`, ReadIndex (§6.4) or lease (§6.4.1) | `log`, local or `sync` | `log` or lease |
//! | `check_quorum` | a leader not heard from by a majority within `election_timeout_min` steps down (thesis §9.6) | unused (`syncLimit` already does it) | a leader without a majority of heartbeat replies within `election_timeout_min` steps down |

use crate::read::ReadPath;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use thiserror::Error;

/// Timer settings for a run. Durations are serialized as milliseconds in configs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// How often a leader proves it is alive.
    #[serde(with = "millis")]
    pub heartbeat: Duration,
    /// Lower end of the failure-detection (election) timeout range.
    #[serde(with = "millis")]
    pub election_timeout_min: Duration,
    /// Upper end of the failure-detection (election) timeout range.
    #[serde(with = "millis")]
    pub election_timeout_max: Duration,
    /// ZAB's FastLeaderElection finalize wait.
    #[serde(with = "millis")]
    pub finalize_wait: Duration,
    /// Raft: whether a message with a higher term restarts the election timeout.
    #[serde(default)]
    pub raft_timer_reset: RaftTimerReset,
    /// Raft: run a pre-vote round (thesis §9.6) before incrementing the term, and
    /// refuse pre-votes while a leader was heard within `election_timeout_min`. On by
    /// default, as etcd runs it.
    #[serde(default = "on")]
    pub pre_vote: bool,
    /// Raft and Paxos: a leader that has not heard from a majority (itself included)
    /// within `election_timeout_min` steps down (thesis §9.6); Raft followers also
    /// ignore RequestVotes while they heard from a leader that recently (etcd's
    /// `inLease`). On by default, as etcd runs it.
    #[serde(default = "on")]
    pub check_quorum: bool,
    /// How read-only client commands are served ([`crate::read`]): through the log
    /// (the default) or one of the protocol's shorter read paths.
    #[serde(default)]
    pub reads: ReadPath,
    /// ZAB: FastLeaderElection's `maxNotificationInterval`, the cap of the notification
    /// timeout that doubles while no vote arrives. `None`:
    /// [`crate::zab::MAX_NOTIFICATION_BACKOFF`] times the finalize wait.
    #[serde(default, with = "opt_millis")]
    pub max_notification_interval: Option<Duration>,
    /// Paxos: how many lost campaigns in a row double the next campaign's timeout at
    /// most (0: never grow it). `None`: [`crate::paxos::MAX_CONTENTION_DOUBLINGS`].
    #[serde(default)]
    pub contention_doublings: Option<u32>,
    /// Entries applied between two snapshots of the state machine, after which the log
    /// prefix they cover is dropped ([`crate::snapshot`]); 0 (the default) takes none.
    /// All three protocols compact.
    #[serde(default)]
    pub snapshot_every: u64,
    /// Bytes of the state machine image one snapshot message carries at most: Raft's
    /// InstallSnapshot chunk (the extended paper's Figure 13), ZAB's SNAP chunk (and
    /// the proposals' bytes in one DIFF), Paxos's piece. Far below the transport's
    /// frame limit, so that an image of any size can be sent.
    #[serde(default = "default_snapshot_chunk_bytes")]
    pub snapshot_chunk_bytes: u64,
    /// The largest image a lagging node accepts (Raft, ZAB, Paxos). A transfer that
    /// declares or accumulates more is refused rather than buffered without bound.
    #[serde(default = "default_snapshot_max_bytes")]
    pub snapshot_max_bytes: u64,
}

/// Default of [`Timing::snapshot_chunk_bytes`]: 1 MiB (the transport's frames carry
/// up to 16 MiB).
pub const DEFAULT_SNAPSHOT_CHUNK_BYTES: u64 = 1 << 20;
/// Default of [`Timing::snapshot_max_bytes`]: 1 GiB.
pub const DEFAULT_SNAPSHOT_MAX_BYTES: u64 = 1 << 30;

fn default_snapshot_chunk_bytes() -> u64 {
    DEFAULT_SNAPSHOT_CHUNK_BYTES
}

fn default_snapshot_max_bytes() -> u64 {
    DEFAULT_SNAPSHOT_MAX_BYTES
}

/// Serde default of the settings that are on unless a file says otherwise.
fn on() -> bool {
    true
}

/// When a Raft follower restarts its election timeout.
///
/// Figure 2 of the Raft paper ("Rules for Servers", Followers): "If election timeout
/// elapses without receiving AppendEntries RPC from current leader or granting vote to
/// candidate: convert to candidate." A message with a higher term converts a server to
/// follower (§5.1) but is neither of those two, so it leaves the timer running: a
/// candidate whose log is behind, and which can never win, cannot keep pushing back the
/// timeouts of the servers that could. etcd's raft instead restarts the timer in
/// `becomeFollower` on every higher term (one reason it also runs PreVote); that
/// behaviour is kept as [`RaftTimerReset::Etcd`] for comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RaftTimerReset {
    /// The paper's rule (the default): only AppendEntries from the current leader and
    /// a granted vote restart the timer; a leader stepping down arms a fresh one.
    #[default]
    Figure2,
    /// etcd's rule: every step down to follower, including one caused by a higher
    /// term in a refused RequestVote, restarts the timer.
    Etcd,
}

impl RaftTimerReset {
    /// The name used in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            RaftTimerReset::Figure2 => "figure2",
            RaftTimerReset::Etcd => "etcd",
        }
    }
}

impl Default for Timing {
    /// Raft's paper defaults (150-300 ms, §9.3), a 50 ms heartbeat, ZooKeeper's
    /// 200 ms finalize wait, and PreVote and CheckQuorum on (as etcd runs Raft).
    fn default() -> Timing {
        Timing {
            heartbeat: Duration::from_millis(50),
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            finalize_wait: Duration::from_millis(200),
            raft_timer_reset: RaftTimerReset::Figure2,
            pre_vote: true,
            check_quorum: true,
            reads: ReadPath::Log,
            max_notification_interval: None,
            contention_doublings: None,
            snapshot_every: 0,
            snapshot_chunk_bytes: DEFAULT_SNAPSHOT_CHUNK_BYTES,
            snapshot_max_bytes: DEFAULT_SNAPSHOT_MAX_BYTES,
        }
    }
}

/// Why a [`Timing`] cannot run.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TimingError {
    /// The range is upside down.
    #[error("election timeout min ({min:?}) is greater than max ({max:?})")]
    InvertedRange { min: Duration, max: Duration },
    /// A zero duration would spin (or a zero chunk size never send anything).
    #[error("{0} must be greater than zero")]
    Zero(&'static str),

    /// A leader could never keep its followers.
    #[error("heartbeat ({heartbeat:?}) must be shorter than the election timeout min ({min:?})")]
    HeartbeatTooSlow { heartbeat: Duration, min: Duration },
    /// Raft's lease holds only because followers that heard the leader ignore
    /// RequestVotes (CheckQuorum's guard); lease reads are refused without it.
    #[error("lease reads need check_quorum on (followers must ignore votes while the lease runs)")]
    LeaseWithoutCheckQuorum,
    /// More doublings than the limit (each multiplies the timeout by two).
    #[error("contention doublings ({0}) must be at most {MAX_CONTENTION_DOUBLINGS}")]
    TooManyDoublings(u32),
    /// Past any sane setting (and near the end of what a clock can add).
    #[error("{name} ({value:?}) is longer than {max:?}")]
    TooLong {
        name: &'static str,
        value: Duration,
        max: Duration,
    },
}

/// The most doublings [`Timing::contention_doublings`] may ask for (a timeout range
/// times 1024).
pub const MAX_CONTENTION_DOUBLINGS: u32 = 10;

/// The longest any timer setting may be: an hour.
pub const MAX_SETTING: Duration = Duration::from_secs(3600);

impl Timing {
    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), TimingError> {
        for (name, value) in [
            ("heartbeat", self.heartbeat),
            ("election timeout max", self.election_timeout_max),
            ("election timeout min", self.election_timeout_min),
            ("finalize wait", self.finalize_wait),
            (
                "max notification interval",
                self.max_notification_interval.unwrap_or_default(),
            ),
        ] {
            if value > MAX_SETTING {
                return Err(TimingError::TooLong {
                    name,
                    value,
                    max: MAX_SETTING,
                });
            }
        }
        if self.heartbeat.is_zero() {
            return Err(TimingError::Zero("heartbeat"));
        }
        if self.snapshot_chunk_bytes == 0 {
            return Err(TimingError::Zero("snapshot chunk bytes"));
        }
        if self.election_timeout_min.is_zero() {
            return Err(TimingError::Zero("election timeout min"));
        }
        if self.election_timeout_min > self.election_timeout_max {
            return Err(TimingError::InvertedRange {
                min: self.election_timeout_min,
                max: self.election_timeout_max,
            });
        }
        if self.max_notification_interval.is_some_and(|d| d.is_zero()) {
            return Err(TimingError::Zero("max notification interval"));
        }
        if let Some(n) = self.contention_doublings {
            if n > MAX_CONTENTION_DOUBLINGS {
                return Err(TimingError::TooManyDoublings(n));
            }
        }
        if self.reads == ReadPath::Lease && !self.check_quorum {
            return Err(TimingError::LeaseWithoutCheckQuorum);
        }
        if self.heartbeat >= self.election_timeout_min {
            return Err(TimingError::HeartbeatTooSlow {
                heartbeat: self.heartbeat,
                min: self.election_timeout_min,
            });
        }
        Ok(())
    }
}

/// Serde helper: a [`Duration`] as whole milliseconds.
pub mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `d` as milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    /// Reads milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Serde helper: an optional [`Duration`] as whole milliseconds.
pub mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `d` as milliseconds, or nothing.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    /// Reads optional milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(Timing::default().validate(), Ok(()));
    }

    #[test]
    fn settings_over_an_hour_are_rejected() {
        // 2^64-1 ms used to be accepted; a deadline that far ahead overflows a clock.
        let t = Timing {
            election_timeout_max: Duration::from_millis(u64::MAX),
            ..Timing::default()
        };
        assert!(matches!(
            t.validate(),
            Err(TimingError::TooLong {
                name: "election timeout max",
                ..
            })
        ));
        let t = Timing {
            finalize_wait: MAX_SETTING + Duration::from_millis(1),
            ..Timing::default()
        };
        assert!(matches!(t.validate(), Err(TimingError::TooLong { .. })));
    }

    #[test]
    fn inverted_range_is_rejected() {
        let t = Timing {
            election_timeout_min: Duration::from_millis(300),
            election_timeout_max: Duration::from_millis(150),
            ..Timing::default()
        };
        assert!(matches!(
            t.validate(),
            Err(TimingError::InvertedRange { .. })
        ));
    }
}
