//! Detector configuration.

use serde::{Deserialize, Serialize};

/// Tunables of [`crate::SeriesDetector`]. Every field has a default, so an
/// empty JSON object is a valid configuration; unknown fields are rejected so a
/// typo does not silently fall back to a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Global sensitivity: tail probabilities are divided by it, so 2.0 makes
    /// every point look twice as unlikely (higher scores), 0.5 the opposite.
    pub sensitivity: f64,
    /// Points at the start of a series that always score 0 while statistics warm up.
    pub warmup: u32,
    /// Smoothing of the robust level.
    pub alpha_level: f64,
    /// Smoothing of the robust spread (mean absolute residual).
    pub alpha_spread: f64,
    /// Residuals beyond this many spreads are clipped before updating level and
    /// spread, which is what makes the estimates outlier resistant.
    pub clip: f64,
    /// Window (samples, at most 65,535) of each tail model's histogram.
    pub tail_history: usize,
    /// Tail models re-read their threshold quantile every this many points.
    pub tail_refit: u32,
    /// Quantile above which the exponential tail is fitted.
    pub tail_quantile: f64,
    /// Per-exceedance smoothing of the tail models' excess moments.
    pub tail_alpha_excess: f64,
    /// Samples over which a (re)started tail model's evidence ramps up to full
    /// strength (p-values are raised to `seen/ramp` before that).
    pub tail_ramp: u32,
    /// Largest generalised Pareto shape the tail models may fit.
    pub tail_max_shape: f64,
    /// Soft cap of the point statistic |z| (in spreads): above it only
    /// `ln(|z|/z_cap)` is added.
    pub z_cap: f64,
    /// Point statistics down to this much below the current one count as
    /// seen before (empirical floor of the tail model); `ln 2` means within
    /// a factor of two once above the soft cap.
    pub point_tolerance: f64,
    /// Multiplier (>= 1 discounts) of the point statistic's tail probability.
    pub point_penalty: f64,
    /// Uses the point-outlier statistic (|z|).
    pub use_point: bool,
    /// Uses the CUSUM level-shift statistic.
    pub use_shift: bool,
    /// Uses the variance-change statistic.
    pub use_variance: bool,
    /// Uses the slow-drift statistic.
    pub use_drift: bool,
    /// Enables the seasonal baselines.
    pub seasonal: bool,
    /// Phase bins of the daily profile.
    pub daily_bins: usize,
    /// Phase bins of the weekly profile.
    pub weekly_bins: usize,
    /// Past periods each seasonal phase bin remembers (median taken over
    /// them; at most 4).
    pub season_depth: usize,
    /// Ignored since the coarse (30-minute) profiles; kept so existing
    /// configuration files still load.
    pub phase_tolerance: usize,
    /// Multiplier of a seasonal phase bin's own scatter when used as the
    /// residual scale.
    pub bin_dev_weight: f64,
    /// The residual scale under a seasonal baseline never drops below this
    /// fraction of the global robust spread.
    pub bin_dev_floor: f64,
    /// Minimum autocorrelation at the period lag for a period to count as present.
    pub acf_threshold: f64,
    /// A seasonal model is used only when its mean absolute error is below this
    /// fraction of the non-seasonal one.
    pub seasonal_gain: f64,
    /// CUSUM slack in spreads: drift per point that the CUSUM ignores, half
    /// the smallest level shift it is meant to catch (1.5 targets shifts of
    /// about three spreads; 0.5 let ordinary wander build up and cost ~3
    /// NAB points).
    pub cusum_k: f64,
    /// CUSUM level (in spreads) at which a level shift is confirmed and the
    /// baselines are moved to the new level.
    pub cusum_reset: f64,
    /// Smoothing of the slow drift statistic.
    pub drift_alpha: f64,
    /// Smoothing of the short-term residual magnitude (variance change).
    pub var_alpha_fast: f64,
    /// Smoothing of the long-term residual magnitude (variance change).
    pub var_alpha_slow: f64,
    /// Score = L / (L + `score_half`) with L = log10(1/p): the number of
    /// decades of improbability that maps to a score of 0.5.
    pub score_half: f64,
    /// Per-point linear decay of the episode envelope (0 disables episode
    /// suppression); see [`crate::SeriesDetector`].
    pub episode_decay: f64,
    /// Margin by which a score must beat the previous episode high to pass.
    pub episode_margin: f64,
    /// Multiplier of scores that do not exceed the episode envelope.
    pub episode_damp: f64,
    /// Weight of the anomaly likelihood in the reported score (0 reports the
    /// raw tail-probability score, 1 only the likelihood).
    pub likelihood_weight: f64,
    /// Window (points) of the long-run mean/variance of raw scores.
    pub likelihood_long: f64,
    /// Window (points) of the short-run mean of raw scores.
    pub likelihood_short: f64,
    /// Raw scores folded in before the likelihood reports anything.
    pub likelihood_learn: u32,
    /// Decades of `-log10 Q` that map to a likelihood score of 1.
    pub likelihood_decades: f64,
    /// Ignored: the learned (linfa regression) baseline was removed; kept so
    /// existing configuration files still load.
    pub learned: bool,
    /// Uses the level-transition novelty member ([`crate::novelty`]).
    pub novelty: bool,
    /// Score of a never-seen level transition (the member's raw score is
    /// scaled by it): 0.5 puts it level with a one-in-a-million tail event
    /// of the residual statistics at the default `score_half`.
    pub novelty_weight: f64,
    /// Points silenced after a loud novelty score (one alert per episode).
    pub novelty_rest: u32,
    /// Points from which the novelty member learns the value range when
    /// `value_range` is not declared; it scores nothing until then. 0 (the
    /// default) learns none: the member only runs on declared ranges,
    /// because a range learned from the first points is often too narrow
    /// and costs false alarms (NAB: standard 53.5 → 61.7 but
    /// reward_low_FP 49.8 → 44.6 with 600; BENCHMARKS.md).
    pub novelty_learn_points: u32,
    /// The metric's value range `[min, max]` when known (CPU 0–100 %, a
    /// pool's size): the novelty member uses it from the first point
    /// instead of learning one. Values outside it are still scored.
    pub value_range: Option<[f64; 2]>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            sensitivity: 1.0,
            warmup: 150,
            alpha_level: 0.02,
            alpha_spread: 0.02,
            clip: 3.0,
            tail_history: 1024,
            tail_refit: 128,
            tail_quantile: 0.9,
            tail_alpha_excess: 0.01,
            tail_max_shape: 0.45,
            tail_ramp: 1000,
            z_cap: 50.0,
            point_tolerance: std::f64::consts::LN_2,
            point_penalty: 1.0,
            use_point: true,
            use_shift: true,
            use_variance: true,
            use_drift: true,
            seasonal: true,
            daily_bins: 48,
            weekly_bins: 56,
            season_depth: 4,
            phase_tolerance: 0,
            bin_dev_weight: 1.0,
            bin_dev_floor: 0.5,
            acf_threshold: 0.3,
            seasonal_gain: 0.85,
            cusum_k: 1.5,
            cusum_reset: 60.0,
            drift_alpha: 0.01,
            var_alpha_fast: 0.1,
            var_alpha_slow: 0.005,
            score_half: 6.0,
            episode_decay: 0.002,
            episode_damp: 0.5,
            episode_margin: 0.05,
            likelihood_weight: 0.0,
            likelihood_long: 2000.0,
            likelihood_short: 10.0,
            likelihood_learn: 300,
            likelihood_decades: 10.0,
            learned: false,
            novelty: true,
            novelty_weight: 0.5,
            novelty_rest: 120,
            novelty_learn_points: 0,
            value_range: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_json_is_default_and_unknown_rejected() {
        let c: DetectorConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, DetectorConfig::default());
        let c: DetectorConfig = serde_json::from_str(r#"{"sensitivity": 2.0}"#).unwrap();
        assert_eq!(c.sensitivity, 2.0);
        assert!(serde_json::from_str::<DetectorConfig>(r#"{"sensitivty": 2.0}"#).is_err());
        let c: DetectorConfig = serde_json::from_str(r#"{"value_range": [0, 100]}"#).unwrap();
        assert_eq!(c.value_range, Some([0.0, 100.0]));
    }
}
