//! Commit latency by leader placement (`cwb bench --measure placement`): on one
//! cluster, each node in turn is made the leader by a planned leadership transfer
//! (Raft's TimeoutNow, ZAB's designated leader, Paxos's takeover), and one closed-loop
//! client writing to that leader measures commit latency.
//!
//! On a uniform network every placement costs the same. On a network model with
//! regions (the `wan` profile) a commit waits for the leader's nearest quorum, so the
//! leader's region sets the latency: with three regions whose round trips are 65, 75
//! and 140 ms, a leader in the region with the two short links commits in about one
//! short round trip plus local work, and the protocols differ by how many trips their
//! commit takes (ZAB's separate COMMIT does not delay the leader's answer; a follower
//! forwarding a write would add its own trip, which this client avoids by writing to
//! the leader).

use crate::measure::{latest_ready, Cluster, MeasureError};
use crate::workload::{self, Workload, WorkloadResult};
use protocols::NodeId;
use std::time::Duration;

/// The commit latency measured with one node leading.
#[derive(Clone, Debug)]
pub struct PlacementSample {
    /// The node that led while the client wrote.
    pub leader: NodeId,
    /// What the client measured.
    pub result: WorkloadResult,
}

/// Transfers attempted per node before it is given up (a transfer may be refused, or
/// end with another node leading, e.g. when the target was behind).
const TRANSFER_TRIES: u32 = 3;

/// Makes each node of `cluster` the leader in turn (by id) and runs `workload` (one
/// client, normally) against it. A node that could not be made the leader after
/// [`TRANSFER_TRIES`] transfers is skipped (it has no sample); the caller stops the
/// cluster.
pub async fn placement_on<C: Cluster>(
    cluster: &mut C,
    workload: &Workload,
    timeout: Duration,
) -> Result<Vec<PlacementSample>, MeasureError> {
    let first = cluster
        .wait_ready(0, None, 0, timeout)
        .await
        .ok_or(MeasureError::Timeout(timeout, "a first leader"))?;
    let mut leader = latest_ready(&cluster.bus().snapshot()).unwrap_or((first.node, 0));
    let ids: Vec<NodeId> = cluster.client_addrs().keys().copied().collect();
    let tls = cluster.client_tls();
    let mut samples = Vec::new();
    for id in ids {
        let mut tries = 0;
        while leader.0 != id && tries < TRANSFER_TRIES {
            tries += 1;
            let cursor = cluster.bus().len();
            if cluster.transfer(leader.0, id).await.is_ok() {
                let _ = cluster
                    .wait_ready(cursor, Some(leader.0), leader.1, timeout)
                    .await;
            }
            // Whoever leads now (the transfer may have been refused, or have ended
            // with another node leading): the newest ready leader.
            leader = latest_ready(&cluster.bus().snapshot()).unwrap_or(leader);
        }
        if leader.0 != id {
            continue;
        }
        let result = workload::run_with(cluster.client_addrs(), tls.as_ref(), id, workload).await;
        samples.push(PlacementSample { leader: id, result });
    }
    Ok(samples)
}
