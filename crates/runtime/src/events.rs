//! The event bus every node of a cluster reports its protocol events on, stamped with
//! the harness clock as the runtime carries out the node's effects, and the latency
//! recorder the measures and the timer-lateness figure share.

use hdrhistogram::Histogram;
use protocols::{Event, NodeId};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, Notify};

/// One event as the harness saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stamped {
    /// When the harness carried out the effect.
    pub at: Instant,
    /// Which node emitted it.
    pub node: NodeId,
    /// What happened.
    pub event: Event,
}

/// A timer armed this long or longer ahead is a protocol's wait (an election timeout,
/// a heartbeat, a finalize wait), whose lateness the bus records.
pub const TIMED_WAIT: Duration = Duration::from_millis(1);

/// Where every node of a cluster reports its events; tests and benches wait on it.
#[derive(Clone, Default)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    events: Mutex<History>,
    notify: Notify,
    /// How late the nodes' timers fired (see [`EventBus::record_timer_lateness`]).
    timer_lateness: Mutex<Latencies>,
    /// Live copies of every event for the client port's event streams
    /// ([`EventBus::subscribe`]): a ring of [`LIVE_EVENTS`]; a receiver that falls
    /// that far behind loses the oldest and is told how many. Sent under the `events`
    /// lock, so a subscription taken under it misses nothing and sees nothing twice.
    live: broadcast::Sender<Stamped>,
}

/// How many events a followed bus keeps ([`EventBus::keeping`]) in the long-running
/// commands (`cwb node`, `cwb cluster`, `cwb serve`): far more than a display reads
/// between two looks at it.
pub const KEEP_FOLLOWED: usize = 65_536;

/// The events a bus keeps, and what it needs of those it let go.
#[derive(Default)]
struct History {
    /// The events kept, the oldest first: position `dropped + i` is `events[i]`.
    events: VecDeque<Stamped>,
    /// Events let go from the front ([`EventBus::keeping`]).
    dropped: usize,
    /// Keep this many of the latest events (`None`: every event).
    keep: Option<usize>,
    /// Each node's standing ([`EventBus::subscribe`]): its last `RoleChanged` and, in a
    /// leader role, the `LeaderElected` and `LeaderReady` that followed it.
    standing: BTreeMap<NodeId, Vec<Event>>,
}

impl History {
    /// Position of the next event.
    fn end(&self) -> usize {
        self.dropped + self.events.len()
    }

    /// The kept events from position `from` on.
    fn from(&self, from: usize) -> impl Iterator<Item = &Stamped> {
        let start = from.saturating_sub(self.dropped).min(self.events.len());
        self.events.range(start..)
    }

    fn push(&mut self, stamped: Stamped) {
        match stamped.event {
            Event::RoleChanged { .. } => {
                self.standing
                    .insert(stamped.node, vec![stamped.event.clone()]);
            }
            Event::LeaderElected { .. } | Event::LeaderReady { .. } => {
                if let Some(standing) = self.standing.get_mut(&stamped.node) {
                    if matches!(standing.first(), Some(Event::RoleChanged { role, .. }) if role.is_leader())
                    {
                        standing.push(stamped.event.clone());
                    }
                }
            }
            _ => {}
        }
        self.events.push_back(stamped);
        if self
            .keep
            .is_some_and(|keep| self.events.len() > keep.max(1))
        {
            self.events.pop_front();
            self.dropped += 1;
        }
    }
}

/// Events a live subscriber may fall behind before it loses the oldest
/// ([`EventBus::subscribe`]).
pub const LIVE_EVENTS: usize = 1024;

impl Default for BusInner {
    fn default() -> BusInner {
        BusInner {
            events: Mutex::default(),
            notify: Notify::new(),
            timer_lateness: Mutex::default(),
            live: broadcast::channel(LIVE_EVENTS).0,
        }
    }
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> EventBus {
        EventBus::default()
    }

    /// A bus for a process that runs for as long as it is needed (`cwb node`, `cwb
    /// cluster`, the web page's clusters): it keeps the latest `keep` events
    /// and lets older ones go, so memory stays bounded however many are published (a
    /// narrating node publishes several per command). Positions keep counting every
    /// event ever published; [`EventBus::read_new`] follows such a bus.
    pub fn keeping(keep: usize) -> EventBus {
        let bus = EventBus::default();
        bus.lock().keep = Some(keep);
        bus
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        // A panic while holding this lock cannot leave the history inconsistent.
        self.inner.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event (called by the runtime).
    pub fn publish(&self, node: NodeId, event: Event) {
        self.publish_at(Instant::now(), node, event);
    }

    /// Records an event stamped elsewhere: when a node's protocol produced it (an
    /// event held behind an fsync is published after it), or a node process's event,
    /// its wall-clock stamp already converted to this process's [`Instant`]
    /// (multi-process mode). Events are kept in arrival order, which may differ
    /// slightly from `at` order; the measures take the earliest stamp.
    pub fn publish_at(&self, at: Instant, node: NodeId, event: Event) {
        let stamped = Stamped { at, node, event };
        let mut events = self.lock();
        if self.inner.live.receiver_count() > 0 {
            // Never blocks: a full ring drops its oldest event for a slow receiver.
            let _ = self.inner.live.send(stamped.clone());
        }
        events.push(stamped);
        drop(events);
        self.inner.notify.notify_waiters();
    }

    /// A live stream of every event published from now on (all nodes of the bus),
    /// and node `node`'s current standing as its latest events: its last
    /// `RoleChanged`, and when that made it a leader, the `LeaderElected` and
    /// `LeaderReady` that followed it. Nothing between the two is missed
    /// or repeated. The stream is bounded ([`LIVE_EVENTS`]): a receiver that falls
    /// behind gets `RecvError::Lagged` with the number it lost; publishing never waits.
    pub fn subscribe(&self, node: NodeId) -> (Vec<Event>, broadcast::Receiver<Stamped>) {
        // Kept as events are published (what followed a leader's `RoleChanged` in the
        // same role is this leadership's: ZAB's epoch may differ from the one it
        // started Leading in), so it survives the events a bounded bus lets go.
        let events = self.lock();
        let live = self.inner.live.subscribe();
        let standing = events.standing.get(&node).cloned().unwrap_or_default();
        (standing, live)
    }

    fn lateness(&self) -> MutexGuard<'_, Latencies> {
        // A panic while holding this lock cannot leave the recorder inconsistent.
        self.inner
            .timer_lateness
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Records how long after its deadline a node's timer fired (called by the
    /// runtime, for timers that waited at least [`TIMED_WAIT`]: a protocol's
    /// zero-delay flushes are not waits). This is time the harness adds to the
    /// protocol's own timers; 1 us or less reads as 1 us.
    pub fn record_timer_lateness(&self, late: Duration) {
        self.lateness().record_summary_only(late);
    }

    /// Records timer lateness measured in a node process, as it reported it
    /// ([`Latencies::buckets_since`]).
    pub fn record_timer_lateness_buckets(&self, buckets: &[(u64, u64)]) {
        self.lateness().record_buckets(buckets);
    }

    /// The timer lateness recorded on this bus since `reported` (a copy this method
    /// keeps up to date), as buckets ([`Latencies::buckets_since`]); nothing is copied
    /// when nothing new was recorded.
    pub fn timer_lateness_since(&self, reported: &mut Latencies) -> Vec<(u64, u64)> {
        let now = self.lateness();
        if now.count() == reported.count() {
            return Vec::new();
        }
        let fresh = now.buckets_since(reported);
        *reported = now.clone();
        fresh
    }

    /// Every timer lateness recorded on this bus (all nodes, since it was made).
    pub fn timer_lateness(&self) -> Latencies {
        self.lateness().clone()
    }

    /// A copy of every event so far (of a [`EventBus::keeping`] bus: every event kept).
    pub fn snapshot(&self) -> Vec<Stamped> {
        self.lock().events.iter().cloned().collect()
    }

    /// The events from position `from` on (a display's cursor), without copying the
    /// ones before it (of a [`EventBus::keeping`] bus: those still kept).
    pub fn since(&self, from: usize) -> Vec<Stamped> {
        self.lock().from(from).cloned().collect()
    }

    /// The events published since `cursor` that are still kept, moving `cursor` past
    /// every event published so far: how a display follows a bus (a reader that fell
    /// behind a [`EventBus::keeping`] bus skips what it let go).
    pub fn read_new(&self, cursor: &mut usize) -> Vec<Stamped> {
        let history = self.lock();
        let fresh = history.from(*cursor).cloned().collect();
        *cursor = history.end();
        fresh
    }

    /// Waits up to `timeout` for events published since `cursor`, then reads them as
    /// [`EventBus::read_new`] does; empty if none came: how a display follows a bus.
    pub async fn wait_new(&self, cursor: &mut usize, timeout: Duration) -> Vec<Stamped> {
        if self.wait_for(*cursor, timeout, |_| true).await.is_none() {
            return Vec::new();
        }
        self.read_new(cursor)
    }

    /// Number of events so far, including any a [`EventBus::keeping`] bus let go (use
    /// as a cursor for [`EventBus::wait_for`]).
    pub fn len(&self) -> usize {
        self.lock().end()
    }

    /// Whether no event arrived yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until an event at position >= `from` matches `pred`, or `timeout` passes.
    pub async fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        mut pred: impl FnMut(&Stamped) -> bool,
    ) -> Option<Stamped> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = self.lock().from(from).find(|s| pred(s)).cloned() {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

/// A latency recorder: microsecond resolution, 1 us .. 1 hour, 3 significant digits.
#[derive(Clone, Debug)]
pub struct Latencies {
    hist: Histogram<u64>,
    samples: Vec<Duration>,
}

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies::new()
    }
}

impl Latencies {
    /// An empty recorder.
    pub fn new() -> Latencies {
        let hist =
            Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid");
        Latencies {
            hist,
            samples: Vec::new(),
        }
    }

    /// Records one sample (kept raw as well, for CDFs).
    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 3_600_000_000);
        let _ = self.hist.record(us);
        self.samples.push(d);
    }

    /// Records without keeping the raw sample (for millions of commit latencies).
    pub fn record_summary_only(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 3_600_000_000);
        let _ = self.hist.record(us);
    }

    /// Adds another recorder's samples.
    pub fn merge(&mut self, other: &Latencies) {
        let _ = self.hist.add(&other.hist);
        self.samples.extend_from_slice(&other.samples);
    }

    /// What was recorded here since `earlier` (an earlier copy of this recorder), as
    /// (microseconds, count) pairs, one per histogram bucket: the form in which a node
    /// process reports its timer lateness (`cwb node --events-json`).
    pub fn buckets_since(&self, earlier: &Latencies) -> Vec<(u64, u64)> {
        let mut fresh = self.hist.clone();
        // Subtracting fails only if `earlier` holds more than this recorder; then
        // `earlier` was not a copy of it and everything counts as fresh.
        if fresh.subtract(&earlier.hist).is_err() {
            fresh = self.hist.clone();
        }
        fresh
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// Records `count` samples of `us` microseconds for each pair (summary only): the
    /// inverse of [`Latencies::buckets_since`], exact to the histogram's precision.
    pub fn record_buckets(&mut self, buckets: &[(u64, u64)]) {
        for &(us, count) in buckets {
            let _ = self.hist.record_n(us.clamp(1, 3_600_000_000), count);
        }
    }

    /// The histogram (microseconds).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The raw samples kept.
    pub fn samples(&self) -> &[Duration] {
        &self.samples
    }

    /// The value at quantile `q` (0.0..=1.0).
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.hist.value_at_quantile(q))
    }

    /// Smallest sample.
    pub fn min(&self) -> Duration {
        Duration::from_micros(self.hist.min())
    }

    /// Largest sample.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.hist.max())
    }

    /// Mean.
    pub fn mean(&self) -> Duration {
        Duration::from_micros(self.hist.mean() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_report_quantiles() {
        let mut l = Latencies::new();
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.count(), 100);
        let p50 = l.quantile(0.5).as_millis();
        assert!((49..=51).contains(&p50), "{p50}");
        assert_eq!(l.samples().len(), 100);
    }

    #[tokio::test]
    async fn waiting_on_the_bus_sees_later_events() {
        let bus = EventBus::new();
        let b = bus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            b.publish(3, Event::LeaderElected { term: 1 });
        });
        let got = bus
            .wait_for(0, Duration::from_secs(10), |s| {
                matches!(s.event, Event::LeaderElected { .. })
            })
            .await;
        assert_eq!(got.map(|s| s.node), Some(3));
    }

    #[test]
    fn a_keeping_bus_lets_old_events_go_but_counts_them_and_keeps_each_standing() {
        let bus = EventBus::keeping(10);
        let narrate = |i: usize| Event::Narrate(format!("step {i}"));
        bus.publish(
            1,
            Event::RoleChanged {
                role: protocols::Role::Leader,
                term: 4,
            },
        );
        bus.publish(1, Event::LeaderElected { term: 4 });
        let mut cursor = 0;
        assert_eq!(bus.read_new(&mut cursor).len(), 2);
        assert_eq!(cursor, 2);
        for i in 0..1000 {
            bus.publish(2, narrate(i));
        }
        // Memory stays bounded; positions count every event published.
        assert_eq!(bus.snapshot().len(), 10);
        assert_eq!(bus.len(), 1002);
        // A reader that fell behind gets what is kept, the newest last, and moves to
        // the end.
        let fresh = bus.read_new(&mut cursor);
        assert_eq!(fresh.len(), 10);
        assert_eq!(fresh.last().map(|s| &s.event), Some(&narrate(999)));
        assert_eq!(cursor, 1002);
        assert!(bus.read_new(&mut cursor).is_empty());
        assert_eq!(bus.since(1001).len(), 1);
        // The standing outlives the events it was read from.
        let (standing, _) = bus.subscribe(1);
        assert_eq!(
            standing,
            vec![
                Event::RoleChanged {
                    role: protocols::Role::Leader,
                    term: 4
                },
                Event::LeaderElected { term: 4 }
            ]
        );
    }

    #[tokio::test]
    async fn waiting_on_a_keeping_bus_uses_positions_of_every_event() {
        let bus = EventBus::keeping(2);
        for term in 0..10 {
            bus.publish(1, Event::LeaderElected { term });
        }
        let got = bus
            .wait_for(8, Duration::from_millis(10), |_| true)
            .await
            .map(|s| s.event);
        assert_eq!(got, Some(Event::LeaderElected { term: 8 }));
        let none = bus.wait_for(10, Duration::from_millis(10), |_| true).await;
        assert_eq!(none, None);
    }
}
