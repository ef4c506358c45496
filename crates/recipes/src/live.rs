//! The checks of recipe clients run against real node processes (`cwb nemesis
//! --workload recipes`), where no replica's tree can be looked into: only what the
//! clients saw, each on its own monotonic clock reading of one shared origin.
//!
//! - [`check_holds`], mutual exclusion from what clients saw. A holding is *verified*
//!   when its client later gave the lock back with a delete the cluster answered `Ok`:
//!   its node then existed from its creation to that delete (a node is deleted once,
//!   by its owner or by its session's expiry, and never made again), so through the
//!   whole interval from the moment the client read its grant to the moment it sent
//!   the delete, and since no node sorts before an existing one later, it was the
//!   lowest of its queue through that interval. Checked, per lock: no two verified
//!   intervals of different clients overlap, and along them, in grant order, fencing
//!   tokens strictly increase. A holding whose node vanished under it (its session
//!   expired while it was paused or cut off) has no verified end: what it did is left
//!   to the fence ([`crate::check::Resource`], [`crate::check::check_actions`]).
//! - [`check_watches`], no missed watch event. For every exists watch left on a node
//!   that existed (the answer was `Exists(Some)`), on one connection: it fires at most
//!   once; and once any client was answered something that shows the node gone (its
//!   owner's delete answered `Ok`, a listing of its parent without it, `Exists(None)`,
//!   `NoNode`), every answer on that connection to a command sent after that moment
//!   comes after the event. The node that holds the watch applies the deletion before
//!   that later command (the log orders them; linearizability orders the two clients'
//!   moments), and it sends notifications in order with answers, so an answer first
//!   means the event was lost. A connection that broke, or a session that expired,
//!   ends the watch.
//! - [`check_progress`], liveness after the faults: every client got what it queued
//!   for at least once after the last repair (a client whose watch was never set or
//!   never fired waits forever with the lock free).

use std::collections::HashMap;

/// One holding of a lock, as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The client.
    pub client: usize,
    /// Which lock (its parent path).
    pub lock: String,
    /// Its node.
    pub node: String,
    /// Its fencing token (its node's creation index).
    pub token: u64,
    /// When the client read its grant (ns since the run's origin).
    pub granted: u64,
    /// When the client sent a delete of its node that the cluster answered `Ok` (ns
    /// since the origin); `None`: not verified (its node vanished under it, or the
    /// run ended first).
    pub released: Option<u64>,
}

/// What [`check_holds`] looked at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HoldStats {
    /// Holdings in all.
    pub holds: usize,
    /// Of which verified (released with an `Ok` delete).
    pub verified: usize,
    /// Pairs of verified holdings of one lock compared.
    pub pairs: usize,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Mutual exclusion and growing tokens over the verified holdings (module docs).
pub fn check_holds(holds: &[Hold]) -> Result<HoldStats, String> {
    let mut stats = HoldStats {
        holds: holds.len(),
        ..HoldStats::default()
    };
    let mut verified: Vec<(&Hold, u64)> = holds
        .iter()
        .filter_map(|h| h.released.map(|r| (h, r)))
        .collect();
    stats.verified = verified.len();
    verified.sort_by_key(|(h, _)| h.granted);
    for (i, (a, a_end)) in verified.iter().enumerate() {
        for (b, _) in &verified[i + 1..] {
            if a.lock != b.lock || a.client == b.client && a.token == b.token {
                continue;
            }
            stats.pairs += 1;
            if b.granted <= *a_end {
                return Err(format!(
                    "two holders of {}: client {} held {} (token {}) from {:.1} ms until it released at {:.1} ms, \
                     but client {} was granted {} (token {}) at {:.1} ms",
                    a.lock, a.client, a.node, a.token, ms(a.granted), ms(*a_end),
                    b.client, b.node, b.token, ms(b.granted)
                ));
            }
            if b.token <= a.token {
                return Err(format!(
                    "fencing: client {} was granted {} with token {} at {:.1} ms, after client {} held token {}",
                    b.client, b.lock, b.token, ms(b.granted), a.client, a.token
                ));
            }
        }
    }
    Ok(stats)
}

/// One thing a client saw on one of its connections, in the order it saw them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// An exists watch left on `path`, which existed (answer `Exists(Some)`).
    WatchSet {
        /// The watched node.
        path: String,
    },
    /// A watch event for `path` arrived.
    Fired {
        /// The node.
        path: String,
        /// The log index of the entry that fired it.
        index: u64,
    },
    /// The answer to a command sent at `sent` (ns since the origin).
    Answer {
        /// When the command was sent.
        sent: u64,
    },
    /// The session ended (an expiry event or a session-expired answer): every watch
    /// of it is gone.
    Expired,
}

/// [`Seen`] with where and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    /// The client.
    pub client: usize,
    /// Its connection (a number that grows with every new connection it opens).
    pub conn: u64,
    /// What.
    pub what: Seen,
}

/// What [`check_watches`] looked at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchStats {
    /// Watches set on nodes that existed.
    pub set: usize,
    /// Of which fired.
    pub fired: usize,
    /// Watches whose node was seen gone while their connection lasted, and whose
    /// event was therefore due before a later answer (checked).
    pub due: usize,
}

/// No missed and no doubled watch event (module docs). `sightings` are in the order
/// each client saw them (clients interleaved in any way); `gone` maps a node to the
/// earliest moment (ns since the origin) any client read an answer showing it gone.
pub fn check_watches(
    sightings: &[Sighting],
    gone: &HashMap<String, u64>,
) -> Result<WatchStats, String> {
    let mut stats = WatchStats::default();
    // Open watches per (client, connection): path -> fired already.
    let mut open: HashMap<(usize, u64), HashMap<&str, bool>> = HashMap::new();
    for s in sightings {
        let watches = open.entry((s.client, s.conn)).or_default();
        match &s.what {
            Seen::WatchSet { path } => {
                stats.set += 1;
                watches.insert(path, false);
            }
            Seen::Fired { path, index } => match watches.get_mut(path.as_str()) {
                Some(fired) if *fired => {
                    return Err(format!(
                        "watch fired twice: client {} (connection {}) got a second event for {path} (index {index}) from one watch",
                        s.client, s.conn
                    ))
                }
                Some(fired) => {
                    *fired = true;
                    stats.fired += 1;
                }
                // A watch left by a read this check does not follow (a listing's).
                None => {}
            },
            Seen::Answer { sent } => {
                for (path, fired) in watches.iter() {
                    let Some(&gone_at) = gone.get(*path) else {
                        continue;
                    };
                    if *sent > gone_at && !*fired {
                        return Err(format!(
                            "missed watch: client {} (connection {}) watched {path}, which a client saw gone at {:.1} ms; \
                             it was answered a command sent at {:.1} ms before any event for it",
                            s.client, s.conn, ms(gone_at), ms(*sent)
                        ));
                    }
                }
                let gone_before = |path: &&str| gone.get(*path).is_some_and(|&g| *sent > g);
                // Checked and done: drop them (each counted once).
                let before = watches.len();
                watches.retain(|path, _| !gone_before(path));
                stats.due += before - watches.len();
            }
            Seen::Expired => watches.clear(),
        }
    }
    Ok(stats)
}

/// Every client in `clients` holds at least once at or after `since` (ns since the
/// origin); the ones that did not, otherwise.
pub fn check_progress(holds: &[Hold], clients: usize, since: u64) -> Result<(), Vec<usize>> {
    let stuck: Vec<usize> = (0..clients)
        .filter(|&c| !holds.iter().any(|h| h.client == c && h.granted >= since))
        .collect();
    if stuck.is_empty() {
        Ok(())
    } else {
        Err(stuck)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(client: usize, token: u64, granted: u64, released: Option<u64>) -> Hold {
        Hold {
            client,
            lock: "/lock".into(),
            node: format!("/lock/n-{token:010}"),
            token,
            granted,
            released,
        }
    }

    #[test]
    fn verified_holdings_must_not_overlap_and_tokens_must_grow() {
        let ok = [
            hold(0, 5, 10, Some(20)),
            hold(1, 7, 25, Some(40)),
            // Its session expired: not verified, left to the fence.
            hold(2, 6, 30, None),
        ];
        let stats = check_holds(&ok).expect("disjoint, growing");
        assert_eq!((stats.holds, stats.verified, stats.pairs), (3, 2, 1));
        let overlap = [hold(0, 5, 10, Some(30)), hold(1, 9, 20, Some(40))];
        let err = check_holds(&overlap).expect_err("both held at 25");
        assert!(err.starts_with("two holders of /lock"), "{err}");
        let shrinking = [hold(0, 9, 10, Some(20)), hold(1, 5, 25, Some(40))];
        let err = check_holds(&shrinking).expect_err("5 after 9");
        assert!(err.starts_with("fencing"), "{err}");
    }

    fn saw(client: usize, conn: u64, what: Seen) -> Sighting {
        Sighting { client, conn, what }
    }

    #[test]
    fn an_answer_after_the_deletion_without_the_event_is_a_missed_watch() {
        let set = || Seen::WatchSet {
            path: "/lock/n-1".into(),
        };
        let fired = || Seen::Fired {
            path: "/lock/n-1".into(),
            index: 9,
        };
        let gone = HashMap::from([("/lock/n-1".to_string(), 100u64)]);
        // The event, then the answer to a later command: fine.
        let ok = [
            saw(0, 1, set()),
            saw(0, 1, Seen::Answer { sent: 50 }),
            saw(0, 1, fired()),
            saw(0, 1, Seen::Answer { sent: 150 }),
        ];
        let stats = check_watches(&ok, &gone).expect("in order");
        assert_eq!((stats.set, stats.fired, stats.due), (1, 1, 1));
        // The answer first: missed.
        let missed = [saw(0, 1, set()), saw(0, 1, Seen::Answer { sent: 150 })];
        let err = check_watches(&missed, &gone).expect_err("missed");
        assert!(err.starts_with("missed watch"), "{err}");
        // On another connection (it moved), or after its session ended: no longer due.
        let moved = [saw(0, 1, set()), saw(0, 2, Seen::Answer { sent: 150 })];
        assert!(check_watches(&moved, &gone).is_ok());
        let expired = [
            saw(0, 1, set()),
            saw(0, 1, Seen::Expired),
            saw(0, 1, Seen::Answer { sent: 150 }),
        ];
        assert!(check_watches(&expired, &gone).is_ok());
        // Twice from one watch.
        let twice = [saw(0, 1, set()), saw(0, 1, fired()), saw(0, 1, fired())];
        let err = check_watches(&twice, &gone).expect_err("one-shot");
        assert!(err.starts_with("watch fired twice"), "{err}");
    }

    #[test]
    fn a_client_without_a_grant_after_the_repair_is_stuck() {
        let holds = [hold(0, 5, 10, Some(20)), hold(1, 7, 300, Some(400))];
        assert_eq!(check_progress(&holds, 2, 100), Err(vec![0]));
        assert_eq!(check_progress(&holds, 2, 5), Ok(()));
    }
}
