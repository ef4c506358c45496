//! Distribution summaries (count, min, percentiles, max, mean) computed with
//! HdrHistogram, the structure the design names for every latency in the workbench
//! (docs/DESIGN.md, "Fair comparison rules"). Percentiles are HdrHistogram's, with three
//! significant digits; count, min, max and mean are exact over the samples.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Significant decimal digits kept by the histograms behind every summary.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Summary of a distribution, in the unit of the samples it was computed from.
///
/// A summary with `count == 0` means "not measured": the report prints it as such and
/// never shows its (zero) fields as numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples summarised.
    pub count: u64,
    /// Smallest sample.
    pub min: f64,
    /// Median (50th percentile).
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Summary {
    /// Summarises `samples`. `unit_scale` is the number of histogram steps per sample
    /// unit, i.e. the resolution: for samples in milliseconds, `1000.0` records
    /// microseconds. Samples that are negative, NaN or infinite are skipped (no duration
    /// or count can be negative), so `count` may be smaller than `samples.len()`.
    pub fn from_samples(samples: &[f64], unit_scale: f64) -> Summary {
        let scale = if unit_scale.is_finite() && unit_scale > 0.0 {
            unit_scale
        } else {
            1.0
        };
        let valid: Vec<f64> = samples
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .collect();
        if valid.is_empty() {
            return Summary::default();
        }
        let mut histogram = match Histogram::<u64>::new(SIGNIFICANT_DIGITS) {
            Ok(h) => h,
            Err(_) => return Summary::default(),
        };
        for value in &valid {
            // Saturating float-to-int conversion: huge values land in the top bucket.
            let steps = (value * scale).round() as u64;
            // An auto-resizing histogram only refuses values beyond u64 range limits.
            let _ = histogram.record(steps);
        }
        let min = valid.iter().copied().fold(f64::INFINITY, f64::min);
        let max = valid.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = valid.iter().sum::<f64>() / valid.len() as f64;
        let at = |q: f64| (histogram.value_at_quantile(q) as f64 / scale).clamp(min, max);
        Summary {
            count: valid.len() as u64,
            min,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max,
            mean,
        }
    }

    /// Summarises a histogram that the caller filled directly (for runs with too many
    /// operations to keep every sample). `unit_scale` is the number of histogram steps
    /// per unit of the summary: a histogram of nanoseconds summarised in microseconds
    /// uses `1000.0`. Values come back within the histogram's precision (0.1%).
    pub fn from_histogram(histogram: &Histogram<u64>, unit_scale: f64) -> Summary {
        if histogram.is_empty() {
            return Summary::default();
        }
        let scale = if unit_scale.is_finite() && unit_scale > 0.0 {
            unit_scale
        } else {
            1.0
        };
        let to_unit = |steps: u64| steps as f64 / scale;
        Summary {
            count: histogram.len(),
            min: to_unit(histogram.min()),
            p50: to_unit(histogram.value_at_quantile(0.50)),
            p90: to_unit(histogram.value_at_quantile(0.90)),
            p99: to_unit(histogram.value_at_quantile(0.99)),
            p999: to_unit(histogram.value_at_quantile(0.999)),
            max: to_unit(histogram.max()),
            mean: histogram.mean() / scale,
        }
    }

    /// True when the summary holds at least one sample.
    pub fn is_measured(&self) -> bool {
        self.count > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_samples_give_an_unmeasured_summary() {
        let s = Summary::from_samples(&[], 1000.0);
        assert_eq!(s, Summary::default());
        assert!(!s.is_measured());
    }

    #[test]
    fn invalid_samples_are_skipped() {
        let s = Summary::from_samples(&[f64::NAN, -1.0, f64::INFINITY, 5.0], 1000.0);
        assert_eq!(s.count, 1);
        assert_eq!(s.min, 5.0);
        assert_eq!(s.max, 5.0);
        assert_eq!(s.p50, 5.0);
    }

    #[test]
    fn percentiles_of_one_to_a_thousand() {
        let samples: Vec<f64> = (1..=1000).map(f64::from).collect();
        let s = Summary::from_samples(&samples, 1.0);
        assert_eq!(s.count, 1000);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 1000.0);
        assert_eq!(s.mean, 500.5);
        assert_eq!(s.p50, 500.0);
        assert_eq!(s.p90, 900.0);
        assert_eq!(s.p99, 990.0);
        assert_eq!(s.p999, 999.0);
    }

    #[test]
    fn unit_scale_sets_the_resolution() {
        // 1.2345 ms at microsecond resolution keeps 1.235 (rounded), not 1.0.
        let s = Summary::from_samples(&[1.2345, 2.0], 1000.0);
        assert!((s.p50 - 1.235).abs() < 0.0015, "{s:?}");
        assert_eq!(s.min, 1.2345);
    }

    #[test]
    fn from_histogram_scales_back_to_the_unit() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for ns in [1_000u64, 2_000, 3_000] {
            h.record(ns).unwrap();
        }
        let s = Summary::from_histogram(&h, 1000.0);
        // A histogram keeps 3 significant digits: values come back within 0.1%.
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.001;
        assert_eq!(s.count, 3);
        assert!(close(s.min, 1.0), "{s:?}");
        assert!(close(s.p50, 2.0), "{s:?}");
        assert!(close(s.max, 3.0), "{s:?}");
        assert!(close(s.mean, 2.0), "{s:?}");
    }
}
