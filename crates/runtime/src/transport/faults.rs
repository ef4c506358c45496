//! Fault filter: silent network faults injected into the real TCP transport.
//!
//! Concern: the "isolate" kind of leader failure of docs/DESIGN.md (packets dropped, sockets
//! stay up), partitions, message loss and delay, on real sockets. The vocabulary follows
//! tikv/raft-rs's test `Network` (`isolate`, `cut`, `recover`) and Jepsen's partition
//! nemesis (a list of groups).
//!
//! Where each fault applies:
//! - isolation and partitions are checked on BOTH the sending and the receiving side, so
//!   a process's own filter can cut it off from peers that share no filter with it
//!   (multi-process mode);
//! - the drop rate and the delay apply once, on the sending side;
//! - dropping is silent: connections stay up, no `PeerLost` is emitted.
//!
//! Drop decisions are reproducible: each directed link `from -> to` draws from its own
//! [`DetRng`] stream derived from the filter's seed, so the k-th message on a link gets
//! the same verdict whatever the interleaving of other links' traffic.
//!
//! A network model ([`Faults::set_network`], a `netmodel` profile or file) applies the
//! simulator's semantics on the sending side: per directed link a sampled one-way delay,
//! loss, a bandwidth queue and static one-way cuts, FIFO on each link (a message is never
//! held for less than the one before it on the same link: the peer's queue sends frames
//! in order, and the model's arrival times never decrease). The delay is added on top
//! of the real loopback's own.
//!
//! Rules by message kind are the simulator's too: one [`netmodel::KindRules`], asked on
//! the sending side. [`Faults::drop_kind`] loses the messages of one kind on one
//! directed link (others pass); [`Faults::delay_kind`] holds every message of one kind
//! back by an extra time on every link, and [`Faults::delay_kind_after_write`] only
//! those its sender sent after a write (the host says which: what its durability gate
//! released behind a write); the link stays first in, first out (the peer's queue holds
//! later frames behind a delayed one). The filter knows a message's kind only when its
//! sender names it (the transport asks the kind function it was given, and only while
//! a kind rule or a watch is in force).
//!
//! The filter can also watch for one kind: [`Faults::watch_kind`] reports each time a
//! node sends a message of that kind (a leader's heartbeat broadcast, say), so an
//! experiment can time a fault from the sender's own rhythm, as the simulator's trials
//! do from its clock.

use netmodel::{KindRules, NetModel, Wire};
use protocols::{DetRng, NodeId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the filter decides for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Put the message on the wire after `delay` (zero: at once). Messages on one link
    /// keep their order whatever their delays.
    Deliver {
        /// How long to hold the message back before sending it.
        delay: Duration,
    },
    /// Lose the message silently.
    Drop,
}

/// The network fault filter. Cheap to clone: clones share one state, so one `Faults`
/// handed to every node of an in-process cluster controls the whole network; in
/// multi-process mode each process has its own.
///
/// `Faults::default()` delivers everything at once and seeds drop decisions with 0.
#[derive(Clone, Default)]
pub struct Faults {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// False while no fault is configured: the hot path then skips the lock.
    active: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    seed: u64,
    isolated: BTreeSet<NodeId>,
    /// Node -> group index; `None` when the network is not partitioned.
    groups: Option<BTreeMap<NodeId, usize>>,
    delay: Duration,
    drop_rate: f64,
    link_rngs: HashMap<(NodeId, NodeId), DetRng>,
    /// The network model and its per-link queues, with the instant its clock starts.
    network: Option<(Wire, Instant)>,
    /// Kinds lost on a directed link, and held back on every link.
    kinds: KindRules,
    /// The id of the next [`Faults::watch_kind`].
    next_watch: u64,
    /// Sends of a kind by a node that someone waits to see ([`Faults::watch_kind`]).
    watches: Vec<KindWatchRule>,
}

/// One [`Faults::watch_kind`]: its sender, its kind and where the sends are reported.
struct KindWatchRule {
    id: u64,
    from: NodeId,
    kind: String,
    sent: tokio::sync::watch::Sender<Option<Instant>>,
}

/// The sends of one kind by one node, seen by the fault filter
/// ([`Faults::watch_kind`]). Dropping it ends the watch.
pub struct KindWatch {
    id: u64,
    faults: Faults,
    sent: tokio::sync::watch::Receiver<Option<Instant>>,
}

impl Drop for KindWatch {
    fn drop(&mut self) {
        let id = self.id;
        self.faults.update(|s| s.watches.retain(|w| w.id != id));
    }
}

impl KindWatch {
    /// When a message of the watched kind left its sender (the instant the transport
    /// handed it to the filter) since the watch was made or last reported one (the
    /// latest, if several did: a broadcast to four peers is four sends, microseconds
    /// apart), waiting up to `limit` for one; `None` if none came.
    pub async fn next(&mut self, limit: Duration) -> Option<Instant> {
        match tokio::time::timeout(limit, self.sent.changed()).await {
            Ok(Ok(())) => *self.sent.borrow_and_update(),
            _ => None,
        }
    }
}

/// The group of nodes not named in a partition.
const REST_GROUP: usize = usize::MAX;

impl State {
    fn any_fault(&self) -> bool {
        !self.isolated.is_empty()
            || self.groups.is_some()
            || !self.delay.is_zero()
            || self.drop_rate > 0.0
            || self.network.is_some()
            || !self.kinds.is_empty()
            || !self.watches.is_empty()
    }

    fn can_talk(&self, from: NodeId, to: NodeId) -> bool {
        if from == to {
            return true;
        }
        if self.isolated.contains(&from) || self.isolated.contains(&to) {
            return false;
        }
        match &self.groups {
            None => true,
            Some(groups) => {
                let group_of = |n: NodeId| groups.get(&n).copied().unwrap_or(REST_GROUP);
                group_of(from) == group_of(to)
            }
        }
    }
}

impl Faults {
    /// A filter with no faults whose drop decisions are seeded with `seed`.
    pub fn with_seed(seed: u64) -> Faults {
        let faults = Faults::default();
        faults.lock().seed = seed;
        faults
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent (every
        // update is a single assignment), so a poisoned lock is still usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        let mut state = self.lock();
        change(&mut state);
        self.shared
            .active
            .store(state.any_fault(), Ordering::Release);
    }

    /// Cuts `node` off from every other node, both ways, until [`Faults::rejoin`] or
    /// [`Faults::heal`].
    pub fn isolate(&self, node: NodeId) {
        self.update(|s| {
            s.isolated.insert(node);
        });
    }

    /// Undoes [`Faults::isolate`] for `node` (partitions and other faults stay).
    pub fn rejoin(&self, node: NodeId) {
        self.update(|s| {
            s.isolated.remove(&node);
        });
    }

    /// Splits the network: nodes in different groups cannot talk. Nodes named in no
    /// group form one more group together ("the rest"), so `partition(vec![vec![1]])`
    /// separates node 1 from everyone else. A node named in several groups belongs to
    /// the last one. Replaces any earlier partition; isolation is kept.
    pub fn partition(&self, groups: Vec<Vec<NodeId>>) {
        let mut group_of = BTreeMap::new();
        for (index, group) in groups.into_iter().enumerate() {
            for node in group {
                group_of.insert(node, index);
            }
        }
        self.update(|s| s.groups = Some(group_of));
    }

    /// Holds every message back by `delay` on the sending side (zero: no delay).
    pub fn set_delay(&self, delay: Duration) {
        self.update(|s| s.delay = delay);
    }

    /// Loses each message with probability `rate`, clamped to `0.0..=1.0` (NaN: 0).
    pub fn set_drop_rate(&self, rate: f64) {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self.update(|s| s.drop_rate = rate);
    }

    /// Applies `model` to every message sent from now on (`None`, or a transparent
    /// model such as `loopback`: no model). Kept by [`Faults::heal`]: it is the network,
    /// not a fault.
    pub fn set_network(&self, model: Option<NetModel>) {
        let model = model.filter(|m| !m.is_transparent());
        self.update(|s| s.network = model.map(|m| (Wire::new(m), Instant::now())));
    }

    /// Whether the model in force times messages by their size (a bandwidth cap).
    pub fn needs_sizes(&self) -> bool {
        self.shared.active.load(Ordering::Acquire)
            && self
                .lock()
                .network
                .as_ref()
                .is_some_and(|(w, _)| w.model().needs_sizes())
    }

    /// The network model in force, if any.
    pub fn network(&self) -> Option<NetModel> {
        self.lock().network.as_ref().map(|(w, _)| w.model().clone())
    }

    /// Loses the messages of `kind` (compared ignoring ASCII case) sent from `from` to
    /// `to` from now on; other kinds, and the other direction, still pass. Kept until
    /// [`Faults::stop_dropping`] or [`Faults::heal`].
    pub fn drop_kind(&self, from: NodeId, to: NodeId, kind: &str) {
        self.update(|s| s.kinds.drop_kind(from, to, kind));
    }

    /// Stops dropping `kind` (every kind, if `None`) on the link from `from` to `to`.
    pub fn stop_dropping(&self, from: NodeId, to: NodeId, kind: Option<&str>) {
        self.update(|s| s.kinds.stop_dropping(from, to, kind));
    }

    /// Holds every message of `kind` (compared ignoring ASCII case) back by `extra` on
    /// every link, on top of any other delay: a node's disk write before it answers,
    /// say. The link stays first in, first out: a message sent after a delayed one on
    /// the same link is not written before it. Replaces an earlier setting for `kind`;
    /// zero removes it. Kept by [`Faults::heal`], like the network model.
    pub fn delay_kind(&self, kind: &str, extra: Duration) {
        self.update(|s| s.kinds.delay_kind(kind, extra, false));
    }

    /// Like [`Faults::delay_kind`], but only for a message sent after its sender's write
    /// (the `after_write` of [`Faults::verdict_of`]): a disk slower than the host's own,
    /// paid only by an answer that had something to record, as the simulator's
    /// `delay_kind_after_write` does.
    pub fn delay_kind_after_write(&self, kind: &str, extra: Duration) {
        self.update(|s| s.kinds.delay_kind(kind, extra, true));
    }

    /// Sets one delay rule: [`Faults::delay_kind`] or, with `after_write`,
    /// [`Faults::delay_kind_after_write`].
    pub fn set_kind_delay(&self, rule: &netmodel::KindDelay) {
        self.update(|s| s.kinds.delay_kind(&rule.kind, rule.extra, rule.after_write));
    }

    /// Reports every message of `kind` (compared ignoring ASCII case) that `from` sends
    /// from now on, to any node, until the returned watch is dropped. A message is
    /// reported when the sender hands it to the filter, whether or not a kind rule or
    /// the loss rate then drops it (the sender sent it); not on a link that isolation
    /// or a partition has cut. The transport names a message's kind only if it was
    /// given a kind function (the in-process clusters give one).
    pub fn watch_kind(&self, from: NodeId, kind: &str) -> KindWatch {
        let (sent, seen) = tokio::sync::watch::channel(None);
        let mut id = 0;
        self.update(|s| {
            id = s.next_watch;
            s.next_watch += 1;
            s.watches.push(KindWatchRule {
                id,
                from,
                kind: kind.to_string(),
                sent,
            });
        });
        KindWatch {
            id,
            faults: self.clone(),
            sent: seen,
        }
    }

    /// Whether some rule names a message kind (the tests' view: senders need not ask,
    /// since [`Faults::verdict_of`] asks for a kind only while one, or a watch, is in force).
    #[cfg(test)]
    fn has_kind_rules(&self) -> bool {
        self.shared.active.load(Ordering::Acquire) && !self.lock().kinds.is_empty()
    }

    /// Removes every fault: isolation, partition, delay, drop rate and kind drops (kind
    /// delays stay, like the network model). The drop decision streams continue where
    /// they were (they are not reseeded).
    pub fn heal(&self) {
        self.update(|s| {
            s.isolated.clear();
            s.groups = None;
            s.delay = Duration::ZERO;
            s.drop_rate = 0.0;
            s.kinds.clear_drops();
        });
    }

    /// True if `node` is isolated.
    pub fn is_isolated(&self, node: NodeId) -> bool {
        self.shared.active.load(Ordering::Acquire) && self.lock().isolated.contains(&node)
    }

    /// True if isolation and partitions let `from` reach `to`. The receiving side's
    /// check: it draws no random number and ignores delay.
    pub fn can_talk(&self, from: NodeId, to: NodeId) -> bool {
        !self.shared.active.load(Ordering::Acquire) || self.lock().can_talk(from, to)
    }

    /// The sending side's decision for the next message from `from` to `to`:
    /// isolation and partitions first, then the seeded drop rate, then the delay.
    pub fn verdict(&self, from: NodeId, to: NodeId) -> Verdict {
        self.verdict_sized(from, to, 0)
    }

    /// [`Faults::verdict`] for a message of `bytes` (timed by the model's bandwidth cap,
    /// if it has one).
    pub fn verdict_sized(&self, from: NodeId, to: NodeId, bytes: usize) -> Verdict {
        self.verdict_of(from, to, bytes, false, || None)
    }

    /// [`Faults::verdict_sized`] for a message whose kind `kind()` names (`None`: not
    /// known, so no kind rule applies), sent after its sender's write if `after_write`.
    /// `kind` is only called while a kind rule or a watch ([`Faults::watch_kind`]) is in
    /// force. Isolation and partitions
    /// first, then kind drops (which draw no random number, so the link's loss stream
    /// is the same with or without them), then the drop rate, then the delays: the
    /// kind's extra delay comes first, the network model timing the message from when
    /// it leaves (as the simulator's `delay_kind` does).
    pub fn verdict_of(
        &self,
        from: NodeId,
        to: NodeId,
        bytes: usize,
        after_write: bool,
        kind: impl FnOnce() -> Option<&'static str>,
    ) -> Verdict {
        if !self.shared.active.load(Ordering::Acquire) {
            return Verdict::Deliver {
                delay: Duration::ZERO,
            };
        }
        let mut state = self.lock();
        if !state.can_talk(from, to) {
            return Verdict::Drop;
        }
        let mut extra = Duration::ZERO;
        if !state.kinds.is_empty() || !state.watches.is_empty() {
            if let Some(kind) = kind() {
                for w in state
                    .watches
                    .iter()
                    .filter(|w| w.from == from && w.kind.eq_ignore_ascii_case(kind))
                {
                    // Its receiver is dropped only with the watch, which removes it.
                    let _ = w.sent.send(Some(Instant::now()));
                }
                if state.kinds.drops(from, to, kind) {
                    return Verdict::Drop;
                }
                extra = state.kinds.delay(kind, after_write);
            }
        }
        let seed = state.seed;
        let State {
            link_rngs,
            network,
            drop_rate,
            delay,
            ..
        } = &mut *state;
        let rng = link_rngs
            .entry((from, to))
            .or_insert_with(|| link_rng(seed, from, to));
        if *drop_rate > 0.0 && rng.chance(*drop_rate) {
            return Verdict::Drop;
        }
        let mut delay = *delay + extra;
        if let Some((wire, origin)) = network {
            let mut bits = || rng.next_u64();
            if wire.lose(from, to, &mut bits).is_some() {
                return Verdict::Drop;
            }
            let now = origin.elapsed();
            let arrival = wire.arrival(from, to, now + extra, bytes as u64, &mut bits);
            delay += arrival.saturating_sub(now + extra);
        }
        Verdict::Deliver { delay }
    }
}

/// The independent drop-decision stream of the directed link `from -> to`.
fn link_rng(seed: u64, from: NodeId, to: NodeId) -> DetRng {
    let mut per_sender = DetRng::for_node(seed, from);
    DetRng::for_node(per_sender.next_u64(), to)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELIVER: Verdict = Verdict::Deliver {
        delay: Duration::ZERO,
    };

    #[test]
    fn default_delivers_everything_at_once() {
        let f = Faults::default();
        assert_eq!(f.verdict(1, 2), DELIVER);
        assert!(f.can_talk(2, 1));
    }

    #[test]
    fn isolation_cuts_both_ways_and_rejoin_or_heal_restores() {
        let f = Faults::default();
        f.isolate(2);
        assert_eq!(f.verdict(1, 2), Verdict::Drop);
        assert_eq!(f.verdict(2, 3), Verdict::Drop);
        assert!(!f.can_talk(3, 2));
        assert_eq!(f.verdict(1, 3), DELIVER);
        assert!(f.is_isolated(2));
        f.rejoin(2);
        assert_eq!(f.verdict(1, 2), DELIVER);
        f.isolate(2);
        f.heal();
        assert_eq!(f.verdict(2, 1), DELIVER);
    }

    #[test]
    fn partition_groups_and_unlisted_nodes_form_the_rest() {
        let f = Faults::default();
        f.partition(vec![vec![1, 2], vec![3]]);
        assert_eq!(f.verdict(1, 2), DELIVER);
        assert_eq!(f.verdict(1, 3), Verdict::Drop);
        assert_eq!(f.verdict(3, 2), Verdict::Drop);
        // 4 and 5 are in no group: together, apart from everyone named.
        assert_eq!(f.verdict(4, 5), DELIVER);
        assert_eq!(f.verdict(4, 1), Verdict::Drop);
        assert_eq!(f.verdict(3, 4), Verdict::Drop);
        f.partition(vec![vec![1]]);
        assert_eq!(f.verdict(2, 3), DELIVER);
        assert_eq!(f.verdict(2, 1), Verdict::Drop);
        f.heal();
        assert_eq!(f.verdict(1, 3), DELIVER);
    }

    #[test]
    fn clones_share_state() {
        let f = Faults::default();
        let g = f.clone();
        g.isolate(1);
        assert_eq!(f.verdict(1, 2), Verdict::Drop);
    }

    #[test]
    fn drop_rate_extremes_and_delay() {
        let f = Faults::default();
        f.set_drop_rate(1.0);
        assert!((0..100).all(|_| f.verdict(1, 2) == Verdict::Drop));
        f.set_drop_rate(0.0);
        f.set_delay(Duration::from_millis(5));
        assert_eq!(
            f.verdict(1, 2),
            Verdict::Deliver {
                delay: Duration::from_millis(5)
            }
        );
        f.set_drop_rate(f64::NAN);
        assert_eq!(
            f.verdict(1, 2),
            Verdict::Deliver {
                delay: Duration::from_millis(5)
            }
        );
    }

    #[test]
    fn a_network_model_delays_per_link_keeps_fifo_and_survives_heal() {
        let f = Faults::with_seed(1);
        let mut model = netmodel::NetModel::uniform(
            "t",
            netmodel::LinkSpec::fixed(5.0)
                .with_jitter(netmodel::Jitter::Uniform { width_ms: 40.0 }),
        );
        model.cuts.insert((3, 1));
        f.set_network(Some(model));
        f.heal();
        assert!(f.network().is_some());
        assert_eq!(f.verdict(3, 1), Verdict::Drop);
        for _ in 0..200 {
            let Verdict::Deliver { delay } = f.verdict_sized(1, 2, 100) else {
                panic!("a lossless link dropped");
            };
            assert!(delay >= Duration::from_millis(5));
        }
        f.set_network(netmodel::profiles::named("loopback"));
        assert!(f.network().is_none());
        assert_eq!(f.verdict(1, 2), DELIVER);
    }

    #[test]
    fn drop_decisions_replay_per_link_whatever_the_interleaving() {
        let pattern = |f: &Faults, noise: bool| {
            f.set_drop_rate(0.5);
            (0..200)
                .map(|_| {
                    if noise {
                        f.verdict(3, 1);
                    }
                    f.verdict(1, 2) == Verdict::Drop
                })
                .collect::<Vec<_>>()
        };
        let quiet = pattern(&Faults::with_seed(9), false);
        let noisy = pattern(&Faults::with_seed(9), true);
        assert_eq!(quiet, noisy);
        assert!(quiet.iter().any(|d| *d) && quiet.iter().any(|d| !*d));
        assert_ne!(quiet, pattern(&Faults::with_seed(10), false));
    }

    #[test]
    fn a_kind_drop_loses_that_kind_on_that_link_only() {
        let f = Faults::default();
        f.drop_kind(1, 2, "AppendEntries");
        let of = |from, to, kind: &'static str| f.verdict_of(from, to, 0, false, || Some(kind));
        assert_eq!(of(1, 2, "appendentries"), Verdict::Drop);
        assert_eq!(of(1, 2, "Heartbeat"), DELIVER);
        assert_eq!(of(2, 1, "AppendEntries"), DELIVER);
        assert_eq!(of(1, 3, "AppendEntries"), DELIVER);
        // A message whose kind the sender does not name meets no kind rule.
        assert_eq!(f.verdict(1, 2), DELIVER);
        assert!(f.can_talk(1, 2));
        f.drop_kind(1, 3, "AppendEntries");
        f.stop_dropping(1, 2, Some("APPENDENTRIES"));
        assert_eq!(of(1, 2, "AppendEntries"), DELIVER);
        assert_eq!(of(1, 3, "AppendEntries"), Verdict::Drop);
        f.heal();
        assert_eq!(of(1, 3, "AppendEntries"), DELIVER);
        assert!(!f.has_kind_rules());
    }

    #[test]
    fn a_kind_delay_holds_that_kind_on_every_link_and_survives_heal() {
        let f = Faults::default();
        let ms = Duration::from_millis;
        f.delay_kind("RequestVoteResponse", ms(15));
        let of = |kind: &'static str| f.verdict_of(3, 1, 0, false, || Some(kind));
        assert_eq!(
            of("requestvoteresponse"),
            Verdict::Deliver { delay: ms(15) }
        );
        assert_eq!(of("RequestVote"), DELIVER);
        f.set_delay(ms(2));
        assert_eq!(
            of("RequestVoteResponse"),
            Verdict::Deliver { delay: ms(17) }
        );
        f.heal();
        assert_eq!(
            of("RequestVoteResponse"),
            Verdict::Deliver { delay: ms(15) }
        );
        f.delay_kind("RequestVoteResponse", ms(4));
        assert_eq!(of("RequestVoteResponse"), Verdict::Deliver { delay: ms(4) });
        f.delay_kind("REQUESTVOTERESPONSE", Duration::ZERO);
        assert!(!f.has_kind_rules());
        assert_eq!(of("RequestVoteResponse"), DELIVER);
    }

    #[tokio::test]
    async fn a_kind_watch_reports_the_senders_next_message_of_that_kind() {
        let f = Faults::default();
        let mut beats = f.watch_kind(1, "heartbeat");
        // Watching is not a fault: every message still passes at once.
        f.drop_kind(1, 3, "Heartbeat");
        let before = Instant::now();
        assert_eq!(f.verdict_of(2, 1, 0, false, || Some("Heartbeat")), DELIVER);
        assert_eq!(
            f.verdict_of(1, 2, 0, false, || Some("AppendEntries")),
            DELIVER
        );
        // Another sender's heartbeat and another kind are not reported.
        assert_eq!(beats.next(Duration::from_millis(20)).await, None);
        // A heartbeat that a kind rule then drops is reported: the leader sent it.
        assert_eq!(
            f.verdict_of(1, 3, 0, false, || Some("Heartbeat")),
            Verdict::Drop
        );
        let sent = beats.next(Duration::from_millis(20)).await;
        // Each send is reported once.
        assert_eq!(beats.next(Duration::from_millis(20)).await, None);
        assert!(sent.is_some_and(|at| at >= before), "{sent:?}");
        // Dropping the watch removes it: with no other rule the filter is idle again.
        drop(beats);
        f.stop_dropping(1, 3, None);
        assert!(f.lock().watches.is_empty());
        assert!(!f.shared.active.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn a_kind_watch_alone_makes_the_filter_ask_for_kinds_and_skips_cut_links() {
        let f = Faults::default();
        let mut pings = f.watch_kind(2, "PING");
        // No kind rule is in force: the watch alone makes the filter ask the kind.
        let mut asked = false;
        let verdict = f.verdict_of(2, 1, 0, false, || {
            asked = true;
            Some("PING")
        });
        assert_eq!(verdict, DELIVER);
        assert!(asked);
        assert!(pings.next(Duration::from_millis(20)).await.is_some());
        // A message on a link that isolation cut never left for the filter's purposes.
        f.isolate(1);
        assert_eq!(f.verdict_of(2, 1, 0, false, || Some("PING")), Verdict::Drop);
        assert_eq!(pings.next(Duration::from_millis(20)).await, None);
    }

    #[test]
    fn an_after_write_delay_holds_only_what_followed_a_write() {
        let f = Faults::default();
        let ms = Duration::from_millis;
        f.delay_kind_after_write("Promise", ms(15));
        let of = |wrote| f.verdict_of(2, 1, 0, wrote, || Some("Promise"));
        assert_eq!(of(true), Verdict::Deliver { delay: ms(15) });
        assert_eq!(
            of(false),
            DELIVER,
            "an answer that recorded nothing leaves at once"
        );
        f.delay_kind("Promise", ms(15));
        assert_eq!(
            of(false),
            Verdict::Deliver { delay: ms(15) },
            "a plain delay holds all"
        );
    }

    #[test]
    fn the_kind_is_asked_only_while_a_kind_rule_is_in_force() {
        let f = Faults::default();
        let asked = std::cell::Cell::new(0);
        let kind = || {
            asked.set(asked.get() + 1);
            Some("AppendEntries")
        };
        assert_eq!(f.verdict_of(1, 2, 0, false, kind), DELIVER);
        f.set_drop_rate(0.0);
        f.set_delay(Duration::from_millis(1));
        let _ = f.verdict_of(1, 2, 0, false, kind);
        assert_eq!(asked.get(), 0);
        f.drop_kind(1, 2, "AppendEntries");
        assert_eq!(f.verdict_of(1, 2, 0, false, kind), Verdict::Drop);
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn a_kind_delay_is_timed_before_the_network_model() {
        let f = Faults::with_seed(3);
        f.set_network(Some(netmodel::NetModel::uniform(
            "t",
            netmodel::LinkSpec::fixed(5.0),
        )));
        f.delay_kind("Promise", Duration::from_secs(100));
        assert_eq!(
            f.verdict_of(2, 1, 0, false, || Some("Promise")),
            Verdict::Deliver {
                delay: Duration::from_millis(100_005)
            }
        );
        // The model's arrivals never decrease on a link: the next message, of a kind
        // with no delay, is held behind the delayed one.
        let Verdict::Deliver { delay } = f.verdict_of(2, 1, 0, false, || Some("Accept")) else {
            panic!("a lossless link dropped");
        };
        assert!(delay > Duration::from_secs(50), "{delay:?}");
    }
}
