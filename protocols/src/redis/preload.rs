//! Preloaded history for teaching scenarios (see [`crate::preload`]): a node whose
//! append-only file holds `count` commands of each `(generation, count)`, oldest first,
//! as one replication stream. Roles, epochs and slots stay those of a new cluster.

use super::{Redis, RedisRecord};
use crate::preload::{preloaded_command, validate, Preload, PreloadError};

impl Preload for Redis {
    fn preload(history: &[(u64, u64)]) -> Result<Vec<RedisRecord>, PreloadError> {
        validate(history)?;
        let mut commands = Vec::new();
        for &(generation, count) in history {
            for _ in 0..count {
                let offset = commands.len() as u64 + 1;
                commands.push(preloaded_command(generation, offset));
            }
        }
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![RedisRecord::Append { from: 1, commands }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DetRng, Membership, Protocol, Setup, Timing};

    #[test]
    fn a_preloaded_node_recovers_its_stream() {
        let records = Redis::preload(&[(1, 3), (2, 2)]).expect("valid");
        let setup = Setup {
            id: 1,
            membership: Membership::voters(1..=6),
            timing: Timing::default(),
            rng: DetRng::new(1),
            narrate: false,
        };
        let node = Redis::recover(setup, records).expect("recovers");
        assert_eq!(node.stream().offset(), 5);
        assert!(Redis::preload(&[(0, 1)]).is_err());
    }
}
