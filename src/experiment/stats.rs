//! Summary figures of one setting's trials: nearest-rank percentiles over the sorted
//! samples, and the empirical CDF the plots draw.

/// One setting's downtimes (ms), sorted.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    sorted: Vec<f64>,
    /// Trials that had not elected a leader when the trial's time limit ran out; their
    /// downtime is counted as the limit (so the figures are lower bounds).
    pub censored: u32,
    /// Trials that never had a leader to crash (see `fig16::setting`).
    pub no_first_leader: u32,
    /// The trials' time limit, in seconds (a censored trial counts as this).
    pub limit_s: f64,
}

impl Samples {
    /// Sorts `values`; `censored` of them are time limits, not elections.
    pub fn new(mut values: Vec<f64>, censored: u32) -> Samples {
        values.retain(|v| v.is_finite());
        values.sort_by(f64::total_cmp);
        Samples {
            sorted: values,
            censored,
            no_first_leader: 0,
            limit_s: 100.0,
        }
    }

    /// How many trials.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The nearest-rank `p`-th percentile (0 < p <= 100); 0 with no samples.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    /// The median.
    pub fn median(&self) -> f64 {
        self.percentile(50.0)
    }

    /// The mean; 0 with no samples.
    pub fn mean(&self) -> f64 {
        if self.sorted.is_empty() {
            return 0.0;
        }
        self.sorted.iter().sum::<f64>() / self.sorted.len() as f64
    }

    /// The largest.
    pub fn max(&self) -> f64 {
        self.sorted.last().copied().unwrap_or(0.0)
    }

    /// The sorted values.
    pub fn sorted(&self) -> &[f64] {
        &self.sorted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_figures() {
        let s = Samples::new((1..=100).rev().map(f64::from).collect(), 0);
        assert_eq!(s.median(), 50.0);
        assert_eq!(s.percentile(99.0), 99.0);
        assert_eq!(s.max(), 100.0);
        assert_eq!(s.mean(), 50.5);
        let empty = Samples::new(Vec::new(), 0);
        assert_eq!((empty.median(), empty.mean(), empty.max()), (0.0, 0.0, 0.0));
    }
}
