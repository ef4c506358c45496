//! `cwb sim --recipes --seed N`: replays one seed of the recipe chaos sweep
//! (`recipes::chaos`): the seed's protocol faults, recipe clients with pauses and
//! crashes, the clients' narration, then the checks' verdict. A failing seed of the
//! sweep prints the command that lands here.

use anyhow::bail;
use drivers::with_protocol;
use protocols::ProtocolKind;
use recipes::broken::RecipeBug;
use recipes::chaos::{run_seed_narrated, RecipeChaosConfig};
use std::time::Duration;

/// Replays `seed` of the recipe chaos run on `protocol` with `nodes` voters.
pub fn replay(
    protocol: ProtocolKind,
    nodes: u64,
    faulty_secs: f64,
    seed: u64,
    bug: Option<&str>,
) -> anyhow::Result<()> {
    if protocol == ProtocolKind::Redis {
        bail!("the recipes run on the znode tree of a consensus protocol: pass --protocol raft|zab|paxos");
    }
    let bug: Option<RecipeBug> = bug
        .map(str::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let mut cfg = RecipeChaosConfig {
        bug,
        ..RecipeChaosConfig::default()
    };
    cfg.chaos.voters = nodes;
    if faulty_secs.is_finite() && faulty_secs > 0.0 {
        cfg.chaos.faulty = Duration::from_secs_f64(faulty_secs);
    }
    let (narration, result) = with_protocol!(protocol, P => run_seed_narrated::<P>(seed, &cfg));
    for line in &narration {
        println!("{line}");
    }
    match result {
        Ok(r) => {
            println!(
                "checked: {} grants, {} resource actions ({} stale ones fenced off), {} notifications; \
                 {} faults, {} client pauses, {} client crashes, {} sessions lost",
                r.grants, r.actions, r.refused, r.notifications, r.faults, r.pauses, r.client_crashes, r.sessions_lost
            );
            Ok(())
        }
        Err(failure) => bail!("{failure}"),
    }
}
