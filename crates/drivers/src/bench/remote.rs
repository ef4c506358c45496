//! A run on a cluster started elsewhere (`cwb bench --config`): what it may measure,
//! and what its results file records of the cluster.

use super::{BenchError, Measure, Plan};
use crate::remote_cluster::RemoteSpec;
use reports::results as r;

/// The measures a cluster this program does not start can take: failovers after a
/// crash, an isolation or a transfer, and throughput. Cold-start elections and sweeps
/// need fresh clusters; the others need in-process clusters.
pub const REMOTE_MEASURES: [Measure; 4] = [
    Measure::Kill,
    Measure::Isolate,
    Measure::Transfer,
    Measure::Throughput,
];

/// Refuses a plan that does not fit the running cluster `spec`: options that cannot
/// apply to nodes started elsewhere, and a protocol, size, fsync or timers that are
/// not the ones its config says they run with.
pub fn check(plan: &Plan, spec: &RemoteSpec) -> Result<(), BenchError> {
    let refuse = |what: &str| {
        Err(BenchError::Syntax(format!(
            "{what} does not apply to a cluster started elsewhere (--config {})",
            spec.config.display()
        )))
    };
    if plan.processes.is_some() || plan.namespaces {
        return refuse("--processes (or --netns): its nodes already run;");
    }
    if plan.net.is_some() {
        return refuse("--net: its network is the one between its hosts;");
    }
    if plan.tls.is_some() {
        return refuse("--tls: TLS is its config's [tls] section;");
    }
    if plan.sweep.is_some() {
        return refuse("--sweep: its timers are the ones its nodes were started with;");
    }
    if let Some(m) = plan.measure.iter().find(|m| !REMOTE_MEASURES.contains(m)) {
        return Err(BenchError::Syntax(format!(
            "--measure {}: not on a cluster started elsewhere (it can measure kill, isolate, transfer, throughput)",
            format!("{m:?}").to_lowercase()
        )));
    }
    let mismatch = |what: &str, asked: String, config: String| {
        Err(BenchError::Syntax(format!(
            "{what} {asked} does not match {} ({config}): a remote run measures the cluster as its nodes were started",
            spec.config.display()
        )))
    };
    if plan.protocols != [spec.protocol] {
        let asked: Vec<String> = plan.protocols.iter().map(|p| p.to_string()).collect();
        return mismatch("--protocols", asked.join(","), spec.protocol.to_string());
    }
    let size = spec.clients.len() as u64;
    if plan.nodes != [size] {
        let asked: Vec<String> = plan.nodes.iter().map(|n| n.to_string()).collect();
        return mismatch("--nodes", asked.join(","), format!("{size} nodes"));
    }
    if spec.voters != size {
        return Err(BenchError::Syntax(format!(
            "{} has observers: a remote run measures clusters of voters only",
            spec.config.display()
        )));
    }
    if plan.fsync != spec.fsync {
        return mismatch(
            "--fsync",
            plan.fsync.to_string(),
            format!("fsync = {}", spec.fsync),
        );
    }
    if plan.timing != spec.timing {
        return mismatch(
            "the timer options",
            format!("{:?}", plan.timing),
            format!("{:?}", spec.timing),
        );
    }
    Ok(())
}

/// What the results file records of the cluster and of its crashes.
pub fn record(spec: &RemoteSpec) -> r::Remote {
    r::Remote {
        config: spec.config.display().to_string(),
        nodes: spec
            .clients
            .iter()
            .map(|(id, addr)| (id.to_string(), addr.to_string()))
            .collect(),
        clock: "events stamped on arrival with the measuring host's monotonic clock; \
                every duration read on that one clock, the nodes' clocks never read \
                (an event's stamp is late by its one-way trip from its node)"
            .into(),
        crashes: spec
            .crashes()
            .into_iter()
            .map(|c| r::RemoteCrash {
                node: c.node,
                exited: c.exited,
                restarted: c
                    .incarnation_after
                    .is_some_and(|after| after != c.incarnation_before),
                back_after_ms: c.back_after.map(super::ms),
            })
            .collect(),
        events_lost: spec.events_lost(),
    }
}
