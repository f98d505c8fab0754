//! Forecast configuration, output and errors.

use serde::{Deserialize, Serialize};

/// Settings of one forecast call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForecastConfig {
    /// Number of steps to forecast.
    pub horizon: usize,
    /// Seasonal periods (in steps) to test; empty means derive them from
    /// `step_seconds`, or no seasonality when that is unset too.
    pub season_candidates: Vec<usize>,
    /// Sampling step of the series, used only when `season_candidates` is empty.
    pub step_seconds: Option<u64>,
    /// Central coverage of the prediction interval, in (0, 1).
    pub level: f64,
    /// How many in-sample origins, spread over the last three horizons of the
    /// history, score the candidate models and calibrate the intervals;
    /// `0` means the default (72).
    pub eval_origins: usize,
    /// Clamp forecasts at zero when the history never goes below zero
    /// (utilisation, byte and request counts cannot be negative).
    pub non_negative: bool,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        Self {
            horizon: 48,
            season_candidates: Vec::new(),
            step_seconds: None,
            level: 0.95,
            eval_origins: 0,
            non_negative: true,
        }
    }
}

impl ForecastConfig {
    /// Seasonal periods to test, after applying the `step_seconds` fallback.
    pub fn seasons(&self) -> Vec<usize> {
        let mut s = if self.season_candidates.is_empty() {
            self.step_seconds
                .map(season_candidates_for_step)
                .unwrap_or_default()
        } else {
            self.season_candidates.clone()
        };
        s.retain(|&m| m >= 2);
        s.sort_unstable();
        s.dedup();
        s
    }
}

/// Daily and weekly periods (in steps) for a sampling step: hourly data gives
/// `[24, 168]`, 5-minute data `[288, 2016]`, daily data `[7]`. Periods that
/// are not a whole number of steps, or shorter than two steps, are left out.
pub fn season_candidates_for_step(step_seconds: u64) -> Vec<usize> {
    const DAY: u64 = 86_400;
    const WEEK: u64 = 7 * DAY;
    if step_seconds == 0 {
        return Vec::new();
    }
    [DAY, WEEK]
        .iter()
        .filter(|&&p| p % step_seconds == 0 && p / step_seconds >= 2)
        .filter_map(|&p| usize::try_from(p / step_seconds).ok())
        .collect()
}

/// A point forecast with its prediction interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Point forecast, one value per step.
    pub point: Vec<f64>,
    /// Lower interval bound per step.
    pub lower: Vec<f64>,
    /// Upper interval bound per step.
    pub upper: Vec<f64>,
    /// Human-readable description of the chosen model.
    pub model: String,
    /// Seasonal period used, if any.
    pub season: Option<usize>,
}

/// Why a forecast could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// The history holds no values.
    #[error("history is empty")]
    Empty,
    /// The history is shorter than the method needs.
    #[error("history has {len} points, at least {min} are needed")]
    TooShort {
        /// Points given.
        len: usize,
        /// Points needed.
        min: usize,
    },
    /// A value is NaN or infinite.
    #[error("history value at index {index} is not finite ({value})")]
    NonFinite {
        /// Position of the offending value.
        index: usize,
        /// The value itself.
        value: f64,
    },
    /// A configuration value is out of range.
    #[error("invalid forecast configuration: {0}")]
    InvalidConfig(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_for_common_steps() {
        assert_eq!(season_candidates_for_step(3600), vec![24, 168]);
        assert_eq!(season_candidates_for_step(300), vec![288, 2016]);
        assert_eq!(season_candidates_for_step(86_400), vec![7]);
        assert_eq!(season_candidates_for_step(7 * 86_400), Vec::<usize>::new());
        assert_eq!(season_candidates_for_step(0), Vec::<usize>::new());
        // 7 minutes divides a week but not a day.
        assert_eq!(season_candidates_for_step(420), vec![1440]);
    }

    #[test]
    fn config_deserialises_with_defaults_and_rejects_unknown() {
        let c: ForecastConfig =
            serde_json::from_str(r#"{"horizon": 12, "step_seconds": 3600}"#).unwrap();
        assert_eq!(c.horizon, 12);
        assert_eq!(c.level, 0.95);
        assert_eq!(c.seasons(), vec![24, 168]);
        let bad = serde_json::from_str::<ForecastConfig>(r#"{"horizn": 12}"#);
        assert!(bad.is_err());
        let explicit = ForecastConfig {
            season_candidates: vec![168, 24, 24, 1],
            step_seconds: Some(300),
            ..ForecastConfig::default()
        };
        assert_eq!(explicit.seasons(), vec![24, 168]);
    }
}
