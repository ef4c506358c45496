//! The recipe clients of `cwb nemesis --workload recipes` (the run itself is
//! [`super::recipe_run`]): ZooKeeper's exclusive lock (`/lock`) and fair
//! election (`/election`) run by real clients against `cwb node` processes running the
//! znode tree, while the same nemesis as the key-value run kills, stops, isolates and
//! partitions them (`drivers::nemesis::inject_faults`).
//!
//! Each client opens a session ([`ZkSession`], the one `cwb zk` uses), queues for its
//! lock with the predecessor-watch recipe (`znode::recipes::queue`), and while it
//! believes it holds acts on the resource the lock guards with its fencing token
//! ([`recipes::check::Resource`], fenced); it gives the lock back after 20 to 150 ms
//! and queues again. A command left unanswered (the leader died, stopped or was cut
//! off) is sent again, with the same number, to the node that leads now; an idle client
//! whose connection broke moves there too and checks again what its lost watch was
//! waiting for. While the faults run, a client sometimes pauses (no heartbeats, reads
//! nothing) for 2.5 session timeouts right after it was granted the lock or set its
//! watch: its session expires under it, and when it wakes it acts once on what it
//! still believes before reading what arrived meanwhile.
//!
//! Recorded: every holding (token, node, when granted, when a release the cluster
//! acknowledged was sent), every watch set and fired and every answer per connection,
//! the moments nodes were seen gone, and every action on the resources. Checked with
//! `recipes::live` (verified holdings never overlap and their tokens grow; no watch
//! event missed or doubled; every client holds again after the last repair) and
//! `recipes::check::check_actions` (no stale token acts after a newer one at the
//! resource).

use crate::cmd::zk_session::ZkSession;
use bytes::Bytes;
use protocols::{DetRng, Time};
use recipes::broken::RecipeBug;
use recipes::check::{Action, Resource};
use recipes::live::{Hold, Seen, Sighting};
use runtime::tls::ClientTls;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use znode::recipes::queue::{Access, QueueLock};
use znode::recipes::{Next, Recipe, Standing, Waiting};
use znode::{WatchEvent, WatchKind, ZAnswer, ZError, ZOp};

/// The locks the clients queue for, in turn: client `i` queues for `LOCKS[i % 2]`.
pub(super) const LOCKS: [&str; 2] = ["/lock", "/election"];

/// Longest wait for one answer before the client moves on.
const ANSWER_LIMIT: Duration = Duration::from_millis(500);

/// How long an idle client waits for a notification before it looks around again.
const IDLE_POLL: Duration = Duration::from_millis(10);

/// Everything the clients recorded.
#[derive(Default)]
pub(super) struct Log {
    pub(super) holds: Vec<Hold>,
    pub(super) sightings: Vec<Sighting>,
    /// Node -> earliest moment a client read an answer showing it gone.
    pub(super) gone: HashMap<String, u64>,
    /// Node -> earliest moment a client read an answer showing it exists.
    pub(super) seen: HashMap<String, u64>,
    /// One resource per lock.
    pub(super) resources: Vec<Resource>,
    pub(super) sessions: u64,
    pub(super) sessions_lost: u64,
    pub(super) pauses: u64,
    pub(super) moves: u64,
    pub(super) notifications: u64,
}

impl Log {
    fn gone(&mut self, path: &str, at: u64) {
        let e = self.gone.entry(path.to_string()).or_insert(at);
        *e = (*e).min(at);
    }
}

/// What every client shares.
pub(super) struct Shared {
    pub(super) origin: Instant,
    pub(super) stop: AtomicBool,
    /// Clients pause only while the faults run.
    pub(super) faulty: AtomicBool,
    /// Clients paused now.
    pub(super) paused: AtomicUsize,
    pub(super) log: Mutex<Log>,
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) tls: Option<ClientTls>,
    pub(super) bug: Option<RecipeBug>,
    pub(super) timeout: Duration,
    pub(super) pause_chance: f64,
}

impl Shared {
    pub(super) fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub(super) fn log(&self) -> MutexGuard<'_, Log> {
        // Each critical section is a few pushes: a panic cannot leave it half done.
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// How a session ended.
enum End {
    /// The run stopped.
    Stopped,
    /// The session expired (or no leader was found to carry it on).
    Lost,
}

/// One client's one session.
struct Client<'a> {
    sh: &'a Shared,
    i: usize,
    lock: usize,
    s: ZkSession,
    recipe: Box<dyn Recipe + Send>,
    queue: VecDeque<ZOp>,
    /// Index of its current holding in the log, and when it gives it back.
    hold: Option<(usize, Instant)>,
    last_beat: Instant,
    rng: DetRng,
    /// Connections of its earlier sessions (connection numbers run on across them).
    conn_base: u64,
}

impl Client<'_> {
    fn fresh_recipe(&self) -> Box<dyn Recipe + Send> {
        recipe_for(self.sh.bug, self.i)
    }

    fn sight(&self, log: &mut Log, what: Seen) {
        log.sightings.push(Sighting {
            client: self.i,
            conn: self.conn_base + self.s.connections,
            what,
        });
    }

    /// Sends `data` (the encoded `op`); on no answer, moves to the leader and sends
    /// the same bytes there. `None`: no leader carried the session on.
    async fn exchange(&mut self, data: Bytes) -> Option<(u64, ZAnswer)> {
        let sent = self.sh.now();
        match self.s.send(data.clone()).await {
            Ok(a) => Some((sent, a)),
            Err(_) => {
                let sent = self.sh.now();
                let a = self
                    .s
                    .reconnect(&self.sh.addrs, self.sh.tls.as_ref(), data)
                    .await
                    .ok()?;
                self.sh.log().moves += 1;
                Some((sent, a))
            }
        }
    }

    /// Records and hands the recipe every notification kept; whether the session
    /// ended.
    fn take_events(&mut self) -> bool {
        let events = std::mem::take(&mut self.s.events);
        let mut ended = false;
        for ev in events {
            ended |= self.on_event(&ev);
        }
        ended
    }

    fn on_event(&mut self, ev: &WatchEvent) -> bool {
        let now = self.sh.now();
        {
            let mut log = self.sh.log();
            log.notifications += 1;
            if ev.kind == WatchKind::SessionExpired {
                self.sight(&mut log, Seen::Expired);
            } else {
                self.sight(
                    &mut log,
                    Seen::Fired {
                        path: ev.path.clone(),
                        index: ev.index,
                    },
                );
            }
            if ev.kind == WatchKind::NodeDeleted {
                log.gone(&ev.path, now);
            }
        }
        let next = self.recipe.on_event(ev);
        self.follow(next);
        ev.kind == WatchKind::SessionExpired
    }

    fn follow(&mut self, next: Next) {
        if let Next::Send(op) = next {
            self.queue.push_back(op);
        }
    }

    /// Records an answer to `op` sent at `sent` and what it shows; whether the
    /// session ended.
    fn on_answer(&mut self, op: &ZOp, sent: u64, answer: &ZAnswer) -> bool {
        let now = self.sh.now();
        let expired = matches!(answer, ZAnswer::Error(ZError::SessionExpired(_)));
        {
            let mut log = self.sh.log();
            if let (ZOp::Exists { path, watch: true }, ZAnswer::Exists(Some(_))) = (op, answer) {
                self.sight(&mut log, Seen::WatchSet { path: path.clone() });
            }
            // "Session expired" says the session ended before this command applied,
            // and its watches with it.
            if expired {
                self.sight(&mut log, Seen::Expired);
            }
            self.sight(&mut log, Seen::Answer { sent });
            match (op, answer) {
                (ZOp::Delete { path, .. }, ZAnswer::Ok)
                | (ZOp::Delete { path, .. }, ZAnswer::Error(ZError::NoNode(_)))
                | (ZOp::Exists { path, .. }, ZAnswer::Exists(None)) => log.gone(path, now),
                (ZOp::Exists { path, .. }, ZAnswer::Exists(Some(_))) => {
                    log.seen.entry(path.clone()).or_insert(now);
                }
                (_, ZAnswer::Created { path, .. }) => {
                    log.seen.entry(path.clone()).or_insert(now);
                }
                (ZOp::GetChildren { path: parent, .. }, ZAnswer::Children { children, .. }) => {
                    // A node some client saw before this listing was sent, missing
                    // from it, was gone by the time it was read.
                    let missing: Vec<String> = log
                        .seen
                        .iter()
                        .filter(|(node, &at)| {
                            at < sent
                                && znode::path::parent(node) == parent.as_str()
                                && !children.iter().any(|c| c == znode::path::name(node))
                        })
                        .map(|(node, _)| node.clone())
                        .collect();
                    for node in missing {
                        log.gone(&node, now);
                    }
                    for c in children {
                        log.seen.entry(znode::path::join(parent, c)).or_insert(now);
                    }
                }
                _ => {}
            }
        }
        if expired {
            return true;
        }
        if *op == ZOp::Touch {
            // A heartbeat's answer is nothing the recipe asked for.
            return false;
        }
        let next = self.recipe.on_answer(answer);
        self.follow(next);
        false
    }

    /// Acts on the lock's resource with its token, if it believes it holds.
    fn act(&self) {
        if self.hold.is_none() {
            return;
        }
        if let Standing::Held { token, .. } = self.recipe.standing() {
            let at = Time(self.sh.now());
            self.sh.log().resources[self.lock].act(Action {
                client: self.i,
                token,
                write: true,
                at,
            });
        }
    }

    /// A pause (a long garbage collection, a stopped process): nothing sent or read.
    async fn maybe_pause(&mut self, chance: f64) {
        if !self.sh.faulty.load(Ordering::Relaxed) || !self.rng.chance(chance) {
            return;
        }
        self.sh.log().pauses += 1;
        if std::env::var_os("CWB_RECIPE_TRACE").is_some() {
            eprintln!("client {} pauses at {:.1} ms", self.i, ms(self.sh.now()));
        }
        self.sh.paused.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.sh.timeout.mul_f64(2.5)).await;
        self.sh.paused.fetch_sub(1, Ordering::Relaxed);
        // It wakes up where it was: if it held, it acts at once.
        self.act();
    }

    /// Records a grant the recipe just took (after an answer, or on a watch event for
    /// a recipe that trusts one); whether there was one.
    fn record_grant(&mut self) -> bool {
        let (Standing::Held { token, node }, None) = (self.recipe.standing(), &self.hold) else {
            return false;
        };
        let granted = self.sh.now();
        let index = {
            let mut log = self.sh.log();
            log.holds.push(Hold {
                client: self.i,
                lock: LOCKS[self.lock].to_string(),
                node,
                token,
                granted,
                released: None,
            });
            log.holds.len() - 1
        };
        let hold = self
            .rng
            .duration_between(Duration::from_millis(20), Duration::from_millis(150));
        self.hold = Some((index, Instant::now() + hold));
        true
    }

    /// After an answer: a grant (maybe a pause right after it), or a watch just set
    /// (maybe a pause while waiting).
    async fn after_step(&mut self, was_watching: bool) {
        if self.record_grant() {
            self.maybe_pause(self.sh.pause_chance).await;
        } else if !was_watching && self.recipe.watched().is_some() && self.queue.is_empty() {
            self.maybe_pause(self.sh.pause_chance / 2.0).await;
        }
    }

    /// Runs acquisitions in this session until the run stops or the session ends.
    async fn run(&mut self) -> End {
        loop {
            if self.take_events() {
                return End::Lost;
            }
            if self.record_grant() {
                self.maybe_pause(self.sh.pause_chance).await;
            }
            self.act();
            let stopping = self.sh.stopped();
            // Give the lock back when its time is up (or the run stops).
            if let Some((index, until)) = self.hold {
                if matches!(self.recipe.standing(), Standing::Held { .. })
                    && (stopping || Instant::now() >= until)
                {
                    if let Some(op) = self.recipe.release() {
                        let data = self.s.number(op.clone());
                        let Some((sent, answer)) = self.exchange(data).await else {
                            return End::Lost;
                        };
                        if answer == ZAnswer::Ok {
                            self.sh.log().holds[index].released = Some(sent);
                        }
                        if self.take_events() || self.on_answer(&op, sent, &answer) {
                            return End::Lost;
                        }
                    }
                }
            }
            match self.recipe.standing() {
                Standing::Lost => return End::Lost,
                Standing::Released => {
                    if stopping {
                        return End::Stopped;
                    }
                    // Queue again after a short gap, in the same session.
                    let gap = self
                        .rng
                        .duration_between(Duration::from_millis(10), Duration::from_millis(80));
                    tokio::time::sleep(gap).await;
                    self.hold = None;
                    self.recipe = self.fresh_recipe();
                    self.queue = VecDeque::from([self.recipe.start()]);
                    continue;
                }
                Standing::Waiting if stopping => return End::Stopped,
                _ => {}
            }
            if let Some(op) = self.queue.pop_front() {
                let was_watching = self.recipe.watched().is_some() && self.queue.is_empty();
                let data = self.s.number(op.clone());
                let Some((sent, answer)) = self.exchange(data).await else {
                    return End::Lost;
                };
                self.last_beat = Instant::now();
                if self.take_events() || self.on_answer(&op, sent, &answer) {
                    return End::Lost;
                }
                self.after_step(was_watching).await;
                continue;
            }
            // Idle: wait for a notification, send heartbeats.
            match self.s.poll_event(IDLE_POLL).await {
                Ok(Some(ev)) => {
                    if self.on_event(&ev) {
                        return End::Lost;
                    }
                    continue;
                }
                Ok(None) if self.last_beat.elapsed() < self.sh.timeout / 3 => continue,
                Ok(None) => {
                    self.last_beat = Instant::now();
                    let sent = self.sh.now();
                    if let Ok(answer) = self.s.touch().await {
                        if self.take_events() || self.on_answer(&ZOp::Touch, sent, &answer) {
                            return End::Lost;
                        }
                        continue;
                    }
                }
                Err(_) => {}
            }
            // The connection broke or the node stopped answering: move to the leader
            // (a heartbeat there first), then check again what the lost watches were
            // waiting for.
            let beat = self.s.heartbeat();
            let sent = self.sh.now();
            let Ok(answer) = self
                .s
                .reconnect(&self.sh.addrs, self.sh.tls.as_ref(), beat)
                .await
            else {
                return End::Lost;
            };
            self.sh.log().moves += 1;
            self.last_beat = Instant::now();
            if self.take_events() || self.on_answer(&ZOp::Touch, sent, &answer) {
                return End::Lost;
            }
            let next = self.recipe.on_reconnect();
            self.follow(next);
        }
    }
}

/// Client `i`'s lock client (broken as `bug` says).
fn recipe_for(bug: Option<RecipeBug>, i: usize) -> Box<dyn Recipe + Send> {
    let name = format!("client {i}");
    RecipeBug::wrap(
        bug,
        QueueLock::new(
            LOCKS[i % LOCKS.len()],
            Access::Exclusive,
            Waiting::Predecessor,
            name.as_bytes(),
        ),
    )
}

/// One client until the run stops: a session after another.
pub(super) async fn client_task(sh: Arc<Shared>, i: usize, seed: u64) {
    let mut rng = DetRng::new(seed);
    let mut conn_base = 0;
    while !sh.stopped() {
        let opened = ZkSession::open(&sh.addrs, sh.tls.as_ref(), sh.timeout, Some(ANSWER_LIMIT));
        let Ok(s) = opened.await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        sh.log().sessions += 1;
        let mut c = Client {
            sh: &sh,
            i,
            lock: i % LOCKS.len(),
            s,
            recipe: recipe_for(sh.bug, i),
            queue: VecDeque::new(),
            hold: None,
            last_beat: Instant::now(),
            rng: DetRng::new(rng.next_u64()),
            conn_base,
        };
        c.queue.push_back(c.recipe.start());
        match c.run().await {
            End::Stopped => {
                // Closing deletes its node at once (rather than at expiry).
                let _ = c.s.call(ZOp::CloseSession).await;
            }
            End::Lost => sh.log().sessions_lost += 1,
        }
        conn_base += c.s.connections;
    }
}

pub(super) fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}
