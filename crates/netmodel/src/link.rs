//! One directed link: base one-way delay, jitter distribution, loss and bandwidth, and
//! the sampling of one message's fate on it.

use crate::unit;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest one jitter sample may be: a long-tailed distribution with a small
/// shape can draw absurd values (hours) now and then; one message held for more than
/// this is as good as lost for any protocol here, and the cap keeps runs finite.
pub const MAX_JITTER: Duration = Duration::from_secs(10);

/// The random part of a link's one-way delay, added to its base delay.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Jitter {
    /// No jitter: every message takes exactly the base delay.
    #[default]
    None,
    /// Uniform in `[0, width_ms]`, drawn at microsecond granularity.
    Uniform {
        /// Width of the range.
        width_ms: f64,
    },
    /// Normal with mean 0 and standard deviation `sd_ms`; a sample that would make the
    /// delay negative is cut to zero jitter below the base (the delay never goes below
    /// zero in total).
    Normal {
        /// Standard deviation.
        sd_ms: f64,
    },
    /// Lognormal: `median_ms * exp(sigma * Z)`, Z standard normal. Long-tailed for
    /// `sigma` around 1 (queueing delay in a busy network).
    Lognormal {
        /// The median of the jitter.
        median_ms: f64,
        /// The spread of its logarithm.
        sigma: f64,
    },
    /// Pareto type I: `scale_ms * U^(-1/shape)`, at least `scale_ms`; heavy-tailed
    /// (infinite variance for `shape <= 2`). `shape` must exceed 1 (finite mean).
    Pareto {
        /// The minimum jitter.
        scale_ms: f64,
        /// The tail index.
        shape: f64,
    },
}

/// What one directed link does to messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Fixed part of the one-way delay (propagation and switching), in ms.
    #[serde(default)]
    pub delay_ms: f64,
    /// Random part of the one-way delay.
    #[serde(default)]
    pub jitter: Jitter,
    /// Probability that a message is lost, in `[0, 1]`.
    #[serde(default)]
    pub loss: f64,
    /// Bandwidth cap in megabits per second; none: unlimited.
    #[serde(default)]
    pub bandwidth_mbps: Option<f64>,
}

impl Default for LinkSpec {
    /// A perfect link: no delay, no loss, no cap (loopback as the protocols see it).
    fn default() -> LinkSpec {
        LinkSpec::fixed(0.0)
    }
}

/// Milliseconds as a duration (negative or NaN: zero; validation refuses them first).
pub fn ms(value: f64) -> Duration {
    if value.is_finite() && value > 0.0 {
        Duration::from_secs_f64(value / 1000.0)
    } else {
        Duration::ZERO
    }
}

/// Milliseconds rounded to whole microseconds.
fn micros(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        (value * 1000.0).round() as u64
    } else {
        0
    }
}

/// A standard normal sample (Box-Muller), from two draws.
fn standard_normal(bits: &mut dyn FnMut() -> u64) -> f64 {
    // 1 - u is in (0, 1]: the logarithm is finite.
    let u1 = 1.0 - unit(bits());
    let u2 = unit(bits());
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl LinkSpec {
    /// A link with a fixed one-way delay and nothing else.
    pub fn fixed(delay_ms: f64) -> LinkSpec {
        LinkSpec {
            delay_ms,
            jitter: Jitter::None,
            loss: 0.0,
            bandwidth_mbps: None,
        }
    }

    /// The same link with `jitter`.
    pub fn with_jitter(mut self, jitter: Jitter) -> LinkSpec {
        self.jitter = jitter;
        self
    }

    /// Whether a message is lost: one draw, and none at all when `loss` is zero (so a
    /// lossless model consumes no randomness for it).
    pub fn lost(&self, bits: &mut dyn FnMut() -> u64) -> bool {
        if self.loss <= 0.0 {
            return false;
        }
        unit(bits()) < self.loss
    }

    /// One message's one-way delay: base plus jitter. A link without jitter draws no
    /// random number.
    pub fn sample_delay(&self, bits: &mut dyn FnMut() -> u64) -> Duration {
        let base = micros(self.delay_ms);
        let us = match &self.jitter {
            Jitter::None => base,
            Jitter::Uniform { width_ms } => {
                let span = micros(*width_ms);
                if span == 0 {
                    base
                } else {
                    // Uniform in base..=base+span (multiply-shift, as the simulator's
                    // random source draws a range).
                    let off = (u128::from(bits()) * u128::from(span + 1)) >> 64;
                    base.saturating_add(off as u64)
                }
            }
            Jitter::Normal { sd_ms } => {
                let z = standard_normal(bits);
                let total = self.delay_ms + sd_ms * z;
                micros(total.min(ms_of(MAX_JITTER) + self.delay_ms))
            }
            Jitter::Lognormal { median_ms, sigma } => {
                let z = standard_normal(bits);
                let j = (median_ms * (sigma * z).exp()).min(ms_of(MAX_JITTER));
                base.saturating_add(micros(j))
            }
            Jitter::Pareto { scale_ms, shape } => {
                let u = 1.0 - unit(bits());
                let j = (scale_ms * u.powf(-1.0 / shape)).min(ms_of(MAX_JITTER));
                base.saturating_add(micros(j))
            }
        };
        Duration::from_micros(us)
    }

    /// How long a message of `bytes` occupies the link (zero without a cap).
    pub fn transmission(&self, bytes: u64) -> Duration {
        match self.bandwidth_mbps {
            Some(rate) if rate > 0.0 && rate.is_finite() => {
                Duration::from_secs_f64(bytes as f64 * 8.0 / (rate * 1_000_000.0))
            }
            _ => Duration::ZERO,
        }
    }

    /// The mean one-way delay, for reports (jitter's mean added to the base).
    pub fn mean_delay_ms(&self) -> f64 {
        let jitter = match &self.jitter {
            Jitter::None => 0.0,
            Jitter::Uniform { width_ms } => width_ms / 2.0,
            Jitter::Normal { .. } => 0.0,
            Jitter::Lognormal { median_ms, sigma } => median_ms * (sigma * sigma / 2.0).exp(),
            Jitter::Pareto { scale_ms, shape } => scale_ms * shape / (shape - 1.0),
        };
        self.delay_ms + jitter
    }

    /// Why this link cannot exist, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let bad = |v: f64| !v.is_finite() || v < 0.0;
        if bad(self.delay_ms) {
            return Some(format!(
                "delay_ms must be a finite number >= 0, not {}",
                self.delay_ms
            ));
        }
        if !(0.0..=1.0).contains(&self.loss) {
            return Some(format!(
                "loss must be a probability in [0, 1], not {}",
                self.loss
            ));
        }
        if let Some(rate) = self.bandwidth_mbps {
            if !rate.is_finite() || rate <= 0.0 {
                return Some(format!("bandwidth_mbps must be > 0, not {rate}"));
            }
        }
        match &self.jitter {
            Jitter::None => None,
            Jitter::Uniform { width_ms } if bad(*width_ms) => {
                Some(format!("uniform jitter width_ms must be >= 0, not {width_ms}"))
            }
            Jitter::Normal { sd_ms } if bad(*sd_ms) => {
                Some(format!("normal jitter sd_ms must be >= 0, not {sd_ms}"))
            }
            Jitter::Lognormal { median_ms, sigma } if bad(*median_ms) || bad(*sigma) => Some(
                format!("lognormal jitter needs median_ms >= 0 and sigma >= 0, not {median_ms} and {sigma}"),
            ),
            Jitter::Pareto { scale_ms, shape } if bad(*scale_ms) || !(shape.is_finite() && *shape > 1.0) => Some(
                format!("pareto jitter needs scale_ms >= 0 and shape > 1 (a finite mean), not {scale_ms} and {shape}"),
            ),
            _ => None,
        }
    }
}

fn ms_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic bit source for tests (splitmix64).
    pub(crate) fn bits(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed;
        move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    fn samples(spec: &LinkSpec, n: usize) -> Vec<f64> {
        let mut b = bits(42);
        let mut v: Vec<f64> = (0..n)
            .map(|_| spec.sample_delay(&mut b).as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn fixed_delay_draws_nothing_and_is_exact() {
        let spec = LinkSpec::fixed(7.5);
        let mut calls = 0;
        let mut b = || {
            calls += 1;
            0
        };
        assert_eq!(spec.sample_delay(&mut b), Duration::from_micros(7500));
        assert!(!spec.lost(&mut b));
        assert_eq!(calls, 0);
    }

    #[test]
    fn uniform_stays_in_range_and_covers_it() {
        let v = samples(
            &LinkSpec::fixed(0.5).with_jitter(Jitter::Uniform { width_ms: 1.5 }),
            5000,
        );
        assert!(v[0] >= 0.5 && v[v.len() - 1] <= 2.0);
        assert!(v[0] < 0.55 && v[v.len() - 1] > 1.95);
        let median = v[v.len() / 2];
        assert!((median - 1.25).abs() < 0.05, "median {median}");
    }

    #[test]
    fn normal_has_its_mean_and_spread_and_never_goes_negative() {
        let v = samples(
            &LinkSpec::fixed(7.5).with_jitter(Jitter::Normal { sd_ms: 1.0 }),
            20000,
        );
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((mean - 7.5).abs() < 0.05, "mean {mean}");
        assert!((sd - 1.0).abs() < 0.05, "sd {sd}");
        let wide = samples(
            &LinkSpec::fixed(0.1).with_jitter(Jitter::Normal { sd_ms: 1.0 }),
            2000,
        );
        assert!(wide[0] >= 0.0);
    }

    #[test]
    fn long_tails_have_their_median_and_a_tail() {
        let v = samples(
            &LinkSpec::fixed(1.0).with_jitter(Jitter::Lognormal {
                median_ms: 2.0,
                sigma: 1.0,
            }),
            20000,
        );
        let median = v[v.len() / 2];
        assert!((median - 3.0).abs() < 0.1, "median {median}");
        // exp(2.326) * 2 + 1 ~ 21.5 ms at the 99th percentile.
        let p99 = v[v.len() * 99 / 100];
        assert!(p99 > 15.0 && p99 < 30.0, "p99 {p99}");
        let p = samples(
            &LinkSpec::fixed(0.0).with_jitter(Jitter::Pareto {
                scale_ms: 1.0,
                shape: 2.0,
            }),
            20000,
        );
        assert!(p[0] >= 1.0);
        // Median of Pareto(1, 2) is sqrt(2).
        assert!((p[p.len() / 2] - 2f64.sqrt()).abs() < 0.05);
        assert!(p[p.len() - 1] <= 10_000.0);
    }

    #[test]
    fn loss_rate_is_kept() {
        let spec = LinkSpec {
            loss: 0.2,
            ..LinkSpec::fixed(1.0)
        };
        let mut b = bits(3);
        let lost = (0..10000).filter(|_| spec.lost(&mut b)).count();
        assert!((1800..2200).contains(&lost), "lost {lost}");
    }

    #[test]
    fn bandwidth_sets_transmission_time() {
        let spec = LinkSpec {
            bandwidth_mbps: Some(8.0),
            ..LinkSpec::fixed(0.0)
        };
        assert_eq!(spec.transmission(1000), Duration::from_millis(1));
        assert_eq!(LinkSpec::fixed(0.0).transmission(1000), Duration::ZERO);
    }

    #[test]
    fn impossible_links_are_named() {
        let neg = LinkSpec::fixed(-1.0);
        assert!(neg.problem().expect("refused").contains("delay_ms"));
        let loss = LinkSpec {
            loss: 1.5,
            ..LinkSpec::fixed(1.0)
        };
        assert!(loss.problem().expect("refused").contains("loss"));
        let pareto = LinkSpec::fixed(1.0).with_jitter(Jitter::Pareto {
            scale_ms: 1.0,
            shape: 1.0,
        });
        assert!(pareto.problem().expect("refused").contains("shape"));
        let bw = LinkSpec {
            bandwidth_mbps: Some(0.0),
            ..LinkSpec::fixed(1.0)
        };
        assert!(bw.problem().is_some());
        assert!(LinkSpec::fixed(f64::NAN).problem().is_some());
        assert_eq!(LinkSpec::fixed(0.2).problem(), None);
    }
}
