//! The seeded random source handed to protocols.
//!
//! Protocols need randomness for exactly one purpose: breaking symmetry between nodes
//! (Raft's randomized election timeouts, Paxos's back-off). It must be reproducible so
//! that a simulated run replays from its seed, so protocols never use a global or
//! OS-seeded generator: the harness hands each node a [`DetRng`] seeded from the run's
//! seed and the node id.

use std::time::Duration;

/// A small, fast, seedable generator (SplitMix64; Steele, Lea & Flood, OOPSLA 2014).
/// Not cryptographic; it only has to spread timeouts.
#[derive(Clone, Debug)]
pub struct DetRng {
    state: u64,
}

impl DetRng {
    /// A generator whose whole future output is fixed by `seed`.
    pub fn new(seed: u64) -> DetRng {
        DetRng { state: seed }
    }

    /// A generator for node `node` of a run seeded with `seed`: different nodes get
    /// independent streams.
    pub fn for_node(seed: u64, node: u64) -> DetRng {
        let mut mix = DetRng::new(seed ^ node.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        DetRng::new(mix.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `lo..=hi` (returns `lo` when `hi <= lo`).
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo + 1;
        // Lemire's multiply-shift: unbiased enough for timeouts, no division.
        lo + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64
    }

    /// A uniform duration in `lo..=hi`, at microsecond granularity.
    pub fn duration_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let us = self.range_inclusive(lo.as_micros() as u64, hi.as_micros() as u64);
        Duration::from_micros(us)
    }

    /// True with probability `p` (0.0..=1.0).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = DetRng::new(42);
        let mut b = DetRng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn nodes_get_different_streams() {
        assert_ne!(
            DetRng::for_node(1, 1).next_u64(),
            DetRng::for_node(1, 2).next_u64()
        );
    }

    #[test]
    fn range_stays_inside_and_covers_both_ends() {
        let mut r = DetRng::new(3);
        let (mut saw_lo, mut saw_hi) = (false, false);
        for _ in 0..10_000 {
            let v = r.range_inclusive(150, 155);
            assert!((150..=155).contains(&v));
            saw_lo |= v == 150;
            saw_hi |= v == 155;
        }
        assert!(saw_lo && saw_hi);
        assert_eq!(r.range_inclusive(9, 9), 9);
        assert_eq!(r.range_inclusive(9, 3), 9);
    }
}
