//! The `placement` measure of one protocol and size: one cluster, each node in turn
//! leading, one client writing to it ([`crate::placement`]).

use super::trials::{cluster_options, Hosting, TRIAL_TIMEOUT};
use super::{data_dir, BenchError, Plan, Progress};
use crate::cluster::LocalCluster;
use crate::measure::Cluster;
use crate::placement::{placement_on, PlacementSample};
use crate::process_cluster::ProcessCluster;
use crate::workload::{Workload, CLIENTS_PER_CONNECTION};
use protocols::Protocol;
use reports::results as r;
use reports::Summary;
use std::time::Duration;

/// Warm-up of each placement's client before it counts: the first writes to a new
/// leader open its connection.
const WARMUP: Duration = Duration::from_millis(200);

pub(super) async fn measure<P: Protocol>(
    plan: &Plan,
    hosting: &Hosting,
    nodes: u64,
    progress: &mut dyn Progress,
) -> Result<Vec<r::Placement>, BenchError> {
    progress.doing(format!("{} n={nodes} leader placement", P::NAME));
    let dir = data_dir()?;
    let opts = cluster_options(plan, &plan.timing, nodes, 1, &dir);
    let workload = Workload {
        clients: 1,
        value_bytes: plan.value_bytes,
        warmup: WARMUP,
        duration: plan.duration,
        read_percent: 0,
        clients_per_connection: CLIENTS_PER_CONNECTION,
        read_from_every_node: false,
    };
    let samples = match hosting {
        Hosting::InProcess => match LocalCluster::<P>::start(opts).await {
            Ok(mut cluster) => {
                let s = placement_on(&mut cluster, &workload, TRIAL_TIMEOUT).await;
                cluster.shutdown().await;
                s.map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        },
        Hosting::Remote(_) => Err("leader placement is not measured on a remote cluster".into()),
        Hosting::Processes { exe, protocol } => {
            match ProcessCluster::start(exe, *protocol, &opts).await {
                Ok(mut cluster) => {
                    let s = placement_on(&mut cluster, &workload, TRIAL_TIMEOUT).await;
                    cluster.shutdown().await;
                    s.map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            }
        }
    };
    progress.step_done();
    let samples = match samples {
        Ok(s) => s,
        Err(e) => {
            progress.note(format!(
                "{} n={nodes} leader placement failed: {e}",
                P::NAME
            ));
            return Ok(Vec::new());
        }
    };
    let ids: Vec<u64> = (1..=nodes).collect();
    for id in ids
        .iter()
        .filter(|id| !samples.iter().any(|s| s.leader == **id))
    {
        progress.note(format!(
            "{} n={nodes} leader placement: node {id} could not be made the leader",
            P::NAME
        ));
    }
    Ok(samples.into_iter().map(|s| point(plan, s)).collect())
}

fn point(plan: &Plan, s: PlacementSample) -> r::Placement {
    r::Placement {
        leader: s.leader,
        region: plan
            .net
            .as_ref()
            .and_then(|m| m.regions.as_ref())
            .map(|regions| regions.region_name(s.leader).to_string()),
        ops: s.result.ops,
        errors: s.result.errors,
        latency_us: Summary::from_histogram(s.result.latency.histogram(), 1.0),
    }
}
