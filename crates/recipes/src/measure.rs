//! The recipes' failover, measured in the simulator (virtual time, so the figures are
//! the protocols' and the recipes' own, without this machine's scheduling noise).
//!
//! - Session-expiry path: client A holds the lock, client B waits behind it; A crashes.
//!   Measured: from A's crash to B holding (A's session timeout, the leader's next
//!   look at its sessions, the `Expire` entry committed, B's watch fired, B's listing
//!   committed).
//! - Leader-crash path: A holds, B waits; the consensus leader crashes and A releases
//!   at that moment. Measured: from the crash to B holding (the protocol's failover,
//!   A's release retried at the new leader, B moving there and checking again).
//!   Sessions survive: the new leader restarts every session's clock.
//! - Herd effect: `n` clients queue on one lock and each holds it briefly in turn.
//!   Counted: watch notifications delivered per hand-over, with the naive recipe
//!   (everyone watches the parent) and the predecessor-watch recipe.

use crate::driver::Driver;
use protocols::Protocol;
use sim::SimConfig;
use std::time::Duration;
use znode::recipes::queue::{Access, QueueLock};
use znode::recipes::{Standing, Waiting};

/// Session timeout of the measured clients (ZooKeeper's tick of 2 s times 2: its
/// smallest allowed timeout with the default tick is 4 s; 1 s keeps runs short and the
/// expiry path's share visible).
pub const SESSION_TIMEOUT_MS: u32 = 1000;

/// What one measured run found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Handover {
    /// From the failure to the next holder holding.
    pub elapsed: Duration,
    /// Watch notifications delivered in that interval.
    pub notifications: u64,
}

fn elapsed(from: protocols::Time, to: protocols::Time) -> Duration {
    Duration::from_nanos(to.as_nanos().saturating_sub(from.as_nanos()))
}

/// Two clients, A holding and B waiting (predecessor watch), on a 3-node cluster.
fn two_clients<P: Protocol>(seed: u64) -> Result<Driver<P>, String> {
    let mut d = Driver::<P>::new(SimConfig::voters(3, seed), SESSION_TIMEOUT_MS)?;
    let lock = |name: &str| {
        Box::new(QueueLock::new(
            "/lock",
            Access::Exclusive,
            Waiting::Predecessor,
            name.as_bytes(),
        ))
    };
    d.add("client A", lock("A"), None);
    d.run_until(Duration::from_secs(10), |d| {
        d.clients[0].held_since.is_some()
    })?;
    d.add("client B", lock("B"), None);
    let waiting = d.run_until(Duration::from_secs(10), |d| {
        d.clients[1].held_since.is_none() && d.clients[1].node_watched().is_some()
    })?;
    if !waiting {
        return Err(format!("seed {seed}: client B never queued behind A"));
    }
    Ok(d)
}

/// The session-expiry path (see the module docs).
pub fn expiry_handover<P: Protocol>(seed: u64) -> Result<Handover, String> {
    let mut d = two_clients::<P>(seed)?;
    let t0 = d.sim.now();
    let n0 = d.notifications;
    d.crash_client(0);
    let ok = d.run_until(Duration::from_secs(30), |d| {
        d.clients[1].held_since.is_some()
    })?;
    let at = d.clients[1]
        .held_since
        .filter(|_| ok)
        .ok_or(format!("seed {seed}: B never got the lock after A crashed"))?;
    Ok(Handover {
        elapsed: elapsed(t0, at),
        notifications: d.notifications - n0,
    })
}

/// The leader-crash path (see the module docs).
pub fn leader_crash_handover<P: Protocol>(seed: u64) -> Result<Handover, String> {
    let mut d = two_clients::<P>(seed)?;
    let t0 = d.sim.now();
    let n0 = d.notifications;
    d.crash_leader()?;
    d.release_now(0);
    let ok = d.run_until(Duration::from_secs(30), |d| {
        d.clients[1].held_since.is_some()
    })?;
    let at = d.clients[1].held_since.filter(|_| ok).ok_or(format!(
        "seed {seed}: B never got the lock after the leader crashed"
    ))?;
    if d.standing(1)
        != (Standing::Held {
            token: d.checker.grants.last().map_or(0, |g| g.token),
            node: d
                .checker
                .grants
                .last()
                .map_or(String::new(), |g| g.node.clone()),
        })
    {
        return Err(format!(
            "seed {seed}: B's standing disagrees with its grant"
        ));
    }
    Ok(Handover {
        elapsed: elapsed(t0, at),
        notifications: d.notifications - n0,
    })
}

/// `n` clients take the lock in turn, each holding it 20 ms; returns notifications
/// delivered per hand-over (`n - 1` hand-overs after the first grant).
pub fn notifications_per_handover<P: Protocol>(
    seed: u64,
    n: usize,
    waiting: Waiting,
) -> Result<f64, String> {
    let mut d = Driver::<P>::new(SimConfig::voters(3, seed), SESSION_TIMEOUT_MS)?;
    for i in 0..n {
        let lock = QueueLock::new("/lock", Access::Exclusive, waiting, &[i as u8]);
        d.add(&format!("client {}", i + 1), Box::new(lock), None);
    }
    // Everyone queues before the first holder lets go.
    let queued = d.run_until(Duration::from_secs(10), |d| {
        d.checker.grants.len() == 1 && d.clients.iter().all(|c| c.queued())
    })?;
    if !queued {
        return Err(format!("seed {seed}: the clients never all queued"));
    }
    let n0 = d.notifications;
    for _ in 0..n {
        let Some(holder) = d.checker.grants.last().map(|g| g.client) else {
            break;
        };
        let before = d.checker.grants.len();
        d.run_for(Duration::from_millis(20))?;
        d.release_now(holder);
        if before == n {
            break;
        }
        let next = d.run_until(Duration::from_secs(10), |d| d.checker.grants.len() > before)?;
        if !next {
            return Err(format!(
                "seed {seed}: the lock was not handed on after {before} grants"
            ));
        }
    }
    // Let the last release's notifications arrive.
    d.run_for(Duration::from_millis(200))?;
    Ok((d.notifications - n0) as f64 / (n - 1).max(1) as f64)
}

/// The median of some durations.
pub fn median(mut xs: Vec<Duration>) -> Option<Duration> {
    xs.sort();
    xs.get(xs.len() / 2).copied()
}

/// One protocol's recipe figures over some seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct RecipeFigures {
    /// The protocol.
    pub protocol: &'static str,
    /// Seeds run.
    pub seeds: u64,
    /// Session-expiry path: holder's crash to the next holder (min, median, max).
    pub expiry: [Duration; 3],
    /// Leader-crash path: consensus leader's crash to the next holder.
    pub leader_crash: [Duration; 3],
    /// Notifications per hand-over, naive (herd) recipe, mean over seeds.
    pub herd_notifications: f64,
    /// Notifications per hand-over, predecessor-watch recipe, mean over seeds.
    pub predecessor_notifications: f64,
    /// Clients queued in the notification measure.
    pub clients: usize,
}

fn spread(xs: Vec<Duration>) -> [Duration; 3] {
    let min = xs.iter().min().copied().unwrap_or_default();
    let max = xs.iter().max().copied().unwrap_or_default();
    [min, median(xs).unwrap_or_default(), max]
}

/// Every figure of protocol `P` over seeds `0..seeds`, with `clients` queued clients
/// in the notification measure.
pub fn figures<P: Protocol>(seeds: u64, clients: usize) -> Result<RecipeFigures, String> {
    let mut expiry = Vec::new();
    let mut leader = Vec::new();
    let (mut herd, mut pred) = (0.0, 0.0);
    for seed in 0..seeds {
        expiry.push(expiry_handover::<P>(seed)?.elapsed);
        leader.push(leader_crash_handover::<P>(seed)?.elapsed);
        herd += notifications_per_handover::<P>(seed, clients, Waiting::Herd)?;
        pred += notifications_per_handover::<P>(seed, clients, Waiting::Predecessor)?;
    }
    let n = seeds.max(1) as f64;
    Ok(RecipeFigures {
        protocol: P::NAME,
        seeds,
        expiry: spread(expiry),
        leader_crash: spread(leader),
        herd_notifications: herd / n,
        predecessor_notifications: pred / n,
        clients,
    })
}
