//! Histories of a simulated linearizable key-value store, for tests and benchmarks.
//!
//! Clients issue operations with overlapping lifetimes. Each operation takes effect on
//! one shared store at a single moment between its invocation and its completion (so
//! the history is linearizable by construction); some definitely fail (never applied)
//! and some end with no answer (applied or not, at random). Deterministic per seed.

use super::history::{Completion, History, Input, Output};
use std::collections::HashMap;

/// The shape of a simulated history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simulation {
    /// The seed of the pseudo-random choices.
    pub seed: u64,
    /// Concurrent clients, each with at most one operation in flight.
    pub clients: u64,
    /// Keys the operations spread over.
    pub keys: u64,
    /// Operations in all.
    pub operations: usize,
    /// Per mille of operations that end with no answer.
    pub unknown_per_mille: u64,
    /// Per mille of operations that definitely fail.
    pub failed_per_mille: u64,
}

impl Default for Simulation {
    /// 8 clients, 16 keys, 10,000 operations, 1% unknown and 1% failed outcomes.
    fn default() -> Simulation {
        Simulation {
            seed: 1,
            clients: 8,
            keys: 16,
            operations: 10_000,
            unknown_per_mille: 10,
            failed_per_mille: 10,
        }
    }
}

/// SplitMix64: small, fast, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Answered,
    Failed,
    Unknown,
}

/// An operation in flight.
struct Flight {
    key: String,
    input: Input,
    fate: Fate,
    /// The output, if it took effect.
    output: Option<Output>,
    /// Whether its moment to take effect has passed (taken or skipped).
    settled: bool,
}

fn apply(store: &mut HashMap<String, String>, key: &str, input: &Input) -> Output {
    let value = store.entry(key.to_string()).or_default();
    match input {
        Input::Get => Output::Value(value.clone()),
        Input::Put(v) => {
            *value = v.clone();
            Output::Done
        }
        Input::Append(v) => {
            value.push_str(v);
            Output::Done
        }
        Input::Cas { from, to } => {
            let swapped = value == from;
            if swapped {
                *value = to.clone();
            }
            Output::Cas(swapped)
        }
    }
}

/// A linearizable history shaped by `sim` (times in nanoseconds).
pub fn simulate(sim: &Simulation) -> History {
    let mut rng = Rng(sim.seed);
    let mut store: HashMap<String, String> = HashMap::new();
    let mut flights: HashMap<u64, Flight> = HashMap::new();
    let mut history = History::new();
    let mut time = 0u64;
    let mut issued = 0usize;
    let clients = sim.clients.max(1);
    while issued < sim.operations || !flights.is_empty() {
        time += 1 + rng.below(20_000);
        let client = rng.below(clients);
        match flights.remove(&client) {
            None if issued < sim.operations => {
                let key = format!("k{}", rng.below(sim.keys.max(1)));
                let n = issued;
                let input = match rng.below(100) {
                    0..=39 => Input::Get,
                    40..=64 => Input::Put(format!("p{client}.{n}")),
                    65..=84 => Input::Append(format!("{n},")),
                    _ => {
                        let current = store.get(&key).cloned().unwrap_or_default();
                        let from = if rng.below(2) == 0 {
                            current
                        } else {
                            format!("p{}.{}", rng.below(clients), rng.below(n as u64 + 1))
                        };
                        Input::Cas {
                            from,
                            to: format!("c{client}.{n}"),
                        }
                    }
                };
                let roll = rng.below(1000);
                let fate = if roll < sim.unknown_per_mille {
                    Fate::Unknown
                } else if roll < sim.unknown_per_mille + sim.failed_per_mille {
                    Fate::Failed
                } else {
                    Fate::Answered
                };
                // Every client is idle here: a fresh invocation cannot be refused.
                let _ = history.invoke(client, time, key.clone(), input.clone());
                issued += 1;
                flights.insert(
                    client,
                    Flight {
                        key,
                        input,
                        fate,
                        output: None,
                        settled: false,
                    },
                );
            }
            None => {}
            Some(mut flight) if !flight.settled => {
                let takes_effect = match flight.fate {
                    Fate::Answered => true,
                    Fate::Failed => false,
                    Fate::Unknown => rng.below(2) == 0,
                };
                if takes_effect {
                    flight.output = Some(apply(&mut store, &flight.key, &flight.input));
                }
                flight.settled = true;
                flights.insert(client, flight);
            }
            Some(flight) => {
                let completion = match (flight.fate, flight.output) {
                    (Fate::Answered, Some(output)) => Completion::Ok(output),
                    (Fate::Failed, _) => Completion::Failed,
                    _ => Completion::Unknown,
                };
                // The client's own pending operation, completed after its invocation.
                let _ = history.complete(client, time, completion);
            }
        }
    }
    history
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let sim = Simulation {
            operations: 300,
            ..Simulation::default()
        };
        let (a, b) = (simulate(&sim), simulate(&sim));
        assert_eq!(a.ops(), b.ops());
        assert_eq!(a.len(), 300);
        assert!(a.ops().iter().all(|op| op.completed.is_some()));
        let other = simulate(&Simulation { seed: 2, ..sim });
        assert_ne!(a.ops(), other.ops());
    }
}
