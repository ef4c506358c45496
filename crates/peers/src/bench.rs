//! [`Peers`]: real ZooKeeper and etcd as extra systems of a `cwb bench` run
//! (`drivers::bench::ExtraSystems`). Their kill-the-leader trials run after the
//! protocols' trials, their throughput points at the end of each of the bench's
//! rounds (so they are interleaved with the protocols'), each point and each trial on
//! a fresh ensemble, as the protocols' are on fresh clusters. Each system and size
//! becomes one more row of the results (`protocol` "zookeeper" or "etcd"), its
//! version and settings land beside the protocols' timing parameters.

use crate::drive::{self, FailoverSample, PeerSample};
use crate::ensemble::{Ensemble, PeerKind, START_TIMEOUT};
use drivers::bench::{ExtraSettings, ExtraSystems, Measure, Plan, Progress, StepFuture};
use drivers::workload::Workload;
use reports::results as r;
use reports::Summary;
use std::collections::BTreeMap;

/// The systems to measure and what they measured so far.
pub struct Peers {
    /// Installed systems, in the order asked.
    systems: Vec<PeerKind>,
    /// Lines to show once the run starts (systems skipped, settings that differ).
    notes: Vec<String>,
    /// Throughput samples per (system, nodes, clients), one per successful round.
    points: BTreeMap<(PeerKind, u64, u32), Vec<PeerSample>>,
    /// Failover trials per (system, nodes), and the trials that failed.
    failovers: BTreeMap<(PeerKind, u64), (Vec<FailoverSample>, u32)>,
    /// Settings per system, from its last ensemble.
    settings: BTreeMap<PeerKind, ExtraSettings>,
}

impl Peers {
    /// The systems asked for; those not installed are left out with a note naming
    /// the Debian package to install.
    pub fn new(asked: &[PeerKind]) -> Peers {
        let mut systems = Vec::new();
        let mut notes = Vec::new();
        for &kind in asked {
            if systems.contains(&kind) {
                continue;
            }
            match kind.check_installed() {
                Ok(()) => systems.push(kind),
                Err(e) => notes.push(e.to_string()),
            }
        }
        Peers {
            systems,
            notes,
            points: BTreeMap::new(),
            failovers: BTreeMap::new(),
            settings: BTreeMap::new(),
        }
    }

    /// The systems that will run.
    pub fn systems(&self) -> &[PeerKind] {
        &self.systems
    }

    /// Lines to show the user before the run (skipped systems).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn measures_throughput(plan: &Plan) -> bool {
        plan.measure.contains(&Measure::Throughput) && plan.read_percent == 0
    }

    async fn start(
        &mut self,
        kind: PeerKind,
        nodes: u64,
        plan: &Plan,
    ) -> Result<(Ensemble, usize), crate::PeerError> {
        let n = usize::try_from(nodes).unwrap_or(3);
        let mut ensemble = Ensemble::start(kind, n, &plan.timing).await?;
        let leader = ensemble.leader(START_TIMEOUT).await?;
        self.settings.insert(kind, ensemble.settings.clone());
        Ok((ensemble, leader))
    }

    async fn run_trials(&mut self, plan: &Plan, progress: &mut dyn Progress) {
        for note in std::mem::take(&mut self.notes) {
            progress.note(note);
        }
        if plan.measure.contains(&Measure::Throughput) && plan.read_percent > 0 {
            progress.note("zookeeper and etcd are measured with writes only: their throughput is left out of a run with --read-ratio".into());
        }
        if !plan.measure.contains(&Measure::Kill) {
            return;
        }
        for kind in self.systems.clone() {
            for &nodes in &plan.nodes {
                for trial in 1..=plan.trials {
                    progress.doing(format!("{kind} n={nodes} kill #{trial}"));
                    let sample = match self.start(kind, nodes, plan).await {
                        Ok((mut ensemble, leader)) => {
                            drive::failover(&mut ensemble, leader, plan.value_bytes).await
                        }
                        Err(e) => Err(e),
                    };
                    let entry = self.failovers.entry((kind, nodes)).or_default();
                    match sample {
                        Ok(s) => entry.0.push(s),
                        Err(e) => {
                            entry.1 += 1;
                            progress.note(format!("{kind} n={nodes} kill #{trial} failed: {e}"));
                        }
                    }
                    progress.step_done();
                }
            }
        }
    }

    async fn run_round(&mut self, plan: &Plan, round: u32, progress: &mut dyn Progress) {
        if !Self::measures_throughput(plan) {
            return;
        }
        for kind in self.systems.clone() {
            for &nodes in &plan.nodes {
                for &clients in &plan.clients {
                    progress.doing(format!(
                        "{kind} n={nodes} throughput c={clients} round {round}/{}",
                        plan.rounds
                    ));
                    let w = Workload {
                        clients,
                        value_bytes: plan.value_bytes,
                        warmup: plan.warmup,
                        duration: plan.duration,
                        read_percent: 0,
                        clients_per_connection: 1,
                        read_from_every_node: false,
                    };
                    let sample = match self.start(kind, nodes, plan).await {
                        Ok((ensemble, leader)) => drive::throughput(&ensemble, leader, &w).await,
                        Err(e) => Err(e),
                    };
                    match sample {
                        Ok(s) => self
                            .points
                            .entry((kind, nodes, clients))
                            .or_default()
                            .push(s),
                        Err(e) => progress.note(format!(
                            "{kind} n={nodes} throughput c={clients} round {round} failed: {e}"
                        )),
                    }
                    progress.step_done();
                }
            }
        }
    }

    fn rows(&mut self, plan: &Plan) -> Vec<r::ProtocolRun> {
        let mut runs = Vec::new();
        for &kind in &self.systems {
            for &nodes in &plan.nodes {
                let mut run = empty_run(kind, nodes);
                if let Some((samples, failed)) = self.failovers.remove(&(kind, nodes)) {
                    run.failover_kill = Some(failover_measure(&samples, failed));
                }
                for &clients in &plan.clients {
                    if let Some(rounds) = self.points.remove(&(kind, nodes, clients)) {
                        if let Some(point) = throughput_point(plan, clients, rounds) {
                            run.throughput.push(point);
                        }
                    }
                }
                if run.failover_kill.is_some() || !run.throughput.is_empty() {
                    runs.push(run);
                }
            }
        }
        runs
    }
}

fn empty_run(kind: PeerKind, nodes: u64) -> r::ProtocolRun {
    r::ProtocolRun::new(kind.as_str(), usize::try_from(nodes).unwrap_or(0))
}

/// The failover row: only the client-observed total and unavailability are
/// measured; the phases inside the servers are not (left empty, "not measured").
pub fn failover_measure(samples: &[FailoverSample], failed: u32) -> r::Failover {
    let none = || r::Measure::from_ms(Vec::new());
    r::Failover {
        detection: none(),
        election: none(),
        recovery: none(),
        first_commit: none(),
        total: r::Measure::from_ms(samples.iter().map(|s| s.total_ms).collect()),
        unavailability: r::Measure::from_ms(samples.iter().map(|s| s.unavailability_ms).collect()),
        extra_rounds: None,
        trials_discarded: failed,
    }
}

/// The median round of one throughput point, with every round's ops/s, as the
/// protocols' points are recorded.
fn throughput_point(
    plan: &Plan,
    clients: u32,
    mut rounds: Vec<PeerSample>,
) -> Option<r::ThroughputPoint> {
    if rounds.is_empty() {
        return None;
    }
    rounds.sort_by(|a, b| a.result.ops_per_sec().total_cmp(&b.result.ops_per_sec()));
    let all: Vec<f64> = rounds.iter().map(|s| s.result.ops_per_sec()).collect();
    let median = rounds.swap_remove((rounds.len() - 1) / 2);
    let t = &median.result;
    let (cpu_us_per_op, cpu_system_us_per_op) = drivers::cpu::CpuTime::per_op_us(median.cpu, t.ops);
    Some(r::ThroughputPoint {
        clients,
        value_bytes: plan.value_bytes as u64,
        // Both systems sync their log before acknowledging, a batch of writes per
        // sync under load: the protocols' `batch` policy.
        fsync: "batch".to_string(),
        duration_ms: t.elapsed.as_secs_f64() * 1000.0,
        ops: t.ops,
        ops_per_sec: t.ops_per_sec(),
        latency_us: Summary::from_histogram(t.latency.histogram(), 1.0),
        errors: t.errors,
        rounds_ops_per_sec: all,
        cpu_us_per_op,
        cpu_system_us_per_op,
        reads: 0,
        read_latency_us: None,
        write_latency_us: None,
    })
}

impl ExtraSystems for Peers {
    fn steps(&self, plan: &Plan) -> u64 {
        let per_size = if plan.measure.contains(&Measure::Kill) {
            u64::from(plan.trials)
        } else {
            0
        } + if Self::measures_throughput(plan) {
            plan.clients.len() as u64 * u64::from(plan.rounds)
        } else {
            0
        };
        self.systems.len() as u64 * plan.nodes.len() as u64 * per_size
    }

    fn trials<'a>(&'a mut self, plan: &'a Plan, progress: &'a mut dyn Progress) -> StepFuture<'a> {
        Box::pin(self.run_trials(plan, progress))
    }

    fn throughput_round<'a>(
        &'a mut self,
        plan: &'a Plan,
        round: u32,
        progress: &'a mut dyn Progress,
    ) -> StepFuture<'a> {
        Box::pin(self.run_round(plan, round, progress))
    }

    fn finish(&mut self, plan: &Plan) -> (Vec<r::ProtocolRun>, BTreeMap<String, ExtraSettings>) {
        let runs = self.rows(plan);
        let settings = self
            .settings
            .iter()
            .map(|(k, s)| (k.as_str().to_string(), s.clone()))
            .collect();
        (runs, settings)
    }
}
