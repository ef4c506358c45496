//! Redis Cluster under random faults in the deterministic simulator, over many seeds
//! (`sim::chaos::redis`): the consensus sweeps' faults and clients, judged by what
//! Redis Cluster promises (one master per configEpoch after every step, progress once
//! healed, one slot map everywhere and every replica holding its master's stream after
//! a quiet period). The acknowledged writes it loses and the checker's verdict are
//! counted, never failed. `CWB_SEEDS=N` sets the number of seeds (default 60).

use sim::chaos::redis::{config, run_seed};

#[test]
fn redis_cluster_keeps_its_promises_under_random_faults() {
    let n = sim::chaos::seeds(60);
    let cfg = config();
    let (mut acknowledged, mut lost, mut promotions, mut not_linearizable) = (0, 0, 0, 0);
    let (mut crashes, mut partitions, mut power) = (0, 0, 0);
    for seed in 0..n {
        let (_, result) = run_seed(seed, &cfg, false);
        let r = result.unwrap_or_else(|f| panic!("redis: {f}"));
        acknowledged += r.acknowledged;
        lost += r.lost;
        promotions += r.promotions;
        not_linearizable += usize::from(r.linearizable == Some(false));
        crashes += r.chaos.crashes;
        partitions += r.chaos.partitions;
        power += r.chaos.power_failures;
    }
    eprintln!(
        "{n} seeds: {crashes} crashes ({power} power failures), {partitions} partitions, \
         {promotions} promotions; {acknowledged} acknowledged writes, {lost} lost; \
         {not_linearizable} seeds not linearizable"
    );
    assert!(
        promotions as u64 >= n,
        "faults must force failovers: {promotions} promotions over {n} seeds"
    );
    assert!(acknowledged > 0 && lost < acknowledged);
}
