//! ZAB's primary order (Zab §3.2): each zxid is assigned once, by the one leader of its
//! epoch, so every server that logged a zxid logged the same transaction; and each
//! server's own state is ordered: current epoch at most the accepted one, zxids
//! increasing along the log (after its compacted base), delivery within the log and
//! never below the base.

use crate::Simulation;
use protocols::zab::{Zab, Zxid};
use protocols::RequestId;
use std::collections::BTreeMap;

/// Each zxid is assigned once, by the one leader of its epoch: every server that logged
/// it logged the same command.
pub fn zxids_name_one_transaction(sim: &Simulation<Zab>) -> Result<(), String> {
    let mut seen: BTreeMap<Zxid, (RequestId, u64)> = BTreeMap::new();
    for id in sim.running() {
        let Some(node) = sim.node(id) else { continue };
        for txn in &node.history().txns {
            match seen.get(&txn.zxid) {
                Some(&(other, holder)) if other != txn.command.id => {
                    return Err(format!(
                        "zxid {} is {other} on node {holder} but {} on node {id}",
                        txn.zxid, txn.command.id
                    ))
                }
                _ => {
                    seen.insert(txn.zxid, (txn.command.id, id));
                }
            }
        }
    }
    Ok(())
}

/// Local consistency of each server: epochs ordered, zxids increasing, delivery within
/// the log.
pub fn zab_local_order(sim: &Simulation<Zab>) -> Result<(), String> {
    for id in sim.running() {
        let Some(node) = sim.node(id) else { continue };
        let h = node.history();
        if h.current_epoch > h.accepted_epoch {
            return Err(format!(
                "node {id}: current epoch {} > accepted {}",
                h.current_epoch, h.accepted_epoch
            ));
        }
        let after_base = h.txns.first().is_none_or(|t| t.zxid > h.base_zxid);
        if h.delivered > h.len()
            || h.delivered < h.base
            || !after_base
            || h.txns.windows(2).any(|w| w[0].zxid >= w[1].zxid)
        {
            return Err(format!(
                "node {id}: log out of order or delivered beyond it"
            ));
        }
        if sim.applied(id).len() != h.delivered {
            return Err(format!(
                "node {id}: {} applied but {} delivered",
                sim.applied(id).len(),
                h.delivered
            ));
        }
    }
    Ok(())
}
