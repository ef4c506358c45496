//! What a `cwb node --events-json` process prints on its standard output, one JSON
//! object per line, so that a cluster of node processes is measured from the same
//! stamped events as an in-process one: [`EventLine`] per protocol event and
//! [`TimerLatenessLine`] with the timer lateness recorded since the previous one; and
//! [`ClockReference`], which turns their wall-clock stamps into [`Instant`]s of the
//! reading process.

use protocols::{Event, NodeId};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One protocol event as a `cwb node --events-json` process prints it (one JSON
/// object per line on its standard output).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// When the node's runtime carried out the effect, wall clock, unix nanoseconds.
    pub unix_nanos: u64,
    /// The node that emitted it.
    pub node: NodeId,
    /// What happened.
    pub event: Event,
}

/// Timer lateness a `cwb node --events-json` process measured since its previous
/// such line, as (microseconds, count) pairs ([`Latencies::buckets_since`]). A node
/// prints one before the events of the same moment, so a measure that waits for an
/// event also has the lateness of the timer that led to it.
///
/// [`Latencies::buckets_since`]: runtime::events::Latencies::buckets_since
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerLatenessLine {
    /// The node whose timers these are.
    pub node: NodeId,
    /// (lateness in microseconds, how many timers) pairs.
    pub timer_lateness_us: Vec<(u64, u64)>,
}

/// One simultaneous reading of the monotonic and the wall clock, to convert stamps
/// between processes of one machine (see the module doc for the caveat).
#[derive(Clone, Copy, Debug)]
pub struct ClockReference {
    /// The monotonic reading.
    pub instant: Instant,
    /// The wall-clock reading, unix nanoseconds.
    pub unix_nanos: u64,
}

impl ClockReference {
    /// Reads both clocks now. A thread preempted between the two readings would skew
    /// every conversion by the pause, so the wall clock is read between two monotonic
    /// readings, a few times, and the tightest pair is kept (its monotonic midpoint).
    pub fn now() -> ClockReference {
        let unix = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        };
        let mut best: Option<(Duration, ClockReference)> = None;
        for _ in 0..5 {
            let before = Instant::now();
            let unix_nanos = unix();
            let after = Instant::now();
            let gap = after.duration_since(before);
            if best.as_ref().is_none_or(|(g, _)| gap < *g) {
                let reference = ClockReference {
                    instant: before + gap / 2,
                    unix_nanos,
                };
                best = Some((gap, reference));
            }
        }
        best.map_or_else(
            || ClockReference {
                instant: Instant::now(),
                unix_nanos: unix(),
            },
            |(_, reference)| reference,
        )
    }

    /// The wall-clock time, unix nanoseconds, of the monotonic instant `at`.
    pub fn unix_nanos_at(&self, at: Instant) -> u64 {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        match at.checked_duration_since(self.instant) {
            Some(after) => self.unix_nanos.saturating_add(nanos(after)),
            None => self
                .unix_nanos
                .saturating_sub(nanos(self.instant.duration_since(at))),
        }
    }

    /// The monotonic instant of wall-clock time `unix_nanos`; `None` when it cannot
    /// be represented (a stamp absurdly far from the reference).
    pub fn instant_at(&self, unix_nanos: u64) -> Option<Instant> {
        if unix_nanos >= self.unix_nanos {
            self.instant
                .checked_add(Duration::from_nanos(unix_nanos - self.unix_nanos))
        } else {
            self.instant
                .checked_sub(Duration::from_nanos(self.unix_nanos - unix_nanos))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reference_converts_both_ways() {
        let r = ClockReference::now();
        let later = r.instant + Duration::from_millis(250);
        let unix = r.unix_nanos_at(later);
        assert_eq!(unix, r.unix_nanos + 250_000_000);
        assert_eq!(r.instant_at(unix), Some(later));
        let earlier = r.instant_at(r.unix_nanos - 1_000);
        assert_eq!(
            earlier.map(|e| r.instant.duration_since(e)),
            Some(Duration::from_micros(1))
        );
    }

    #[test]
    fn event_lines_round_trip_as_json() {
        let line = EventLine {
            unix_nanos: 1_700_000_000_123_456_789,
            node: 2,
            event: Event::LeaderReady { term: 7 },
        };
        let text = serde_json::to_string(&line).expect("serializes");
        assert!(
            text.contains("\"unix_nanos\":1700000000123456789"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<EventLine>(&text).ok(), Some(line));
    }
}
