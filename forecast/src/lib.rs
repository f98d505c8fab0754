//! Capacity forecasting for resource series (CPU, network, disk, request
//! counts) and the decisions built on it.
//!
//! - [`forecast()`]: automatic per-series forecaster. The M4 90%
//!   autocorrelation test picks a seasonal period among candidates (daily and
//!   weekly for the sampling step, see [`season_candidates_for_step`]); the
//!   series is deseasonalised by classical decomposition (multiplicative for
//!   positive data, additive otherwise). A pool of members is built on the
//!   recent part of the history: SES, damped Holt and Theta on the
//!   deseasonalised series, naive (= Naive2 when seasonal), rolling medians
//!   (robust to the spikes of resource metrics), seasonal naive and a
//!   seasonal median. Every member's multi-step forecasts from many rolling
//!   in-sample origins come in closed form from its fitted states (no
//!   refits); a greedy ensemble selection (with replacement, up to three
//!   picks) minimises an in-sample M4-style criterion (sMAPE and MAE relative
//!   to the naive forecast). Prediction intervals are per-step empirical
//!   quantiles of the same rolling errors, widened monotonically with the
//!   horizon.
//! - [`m4`]: sMAPE, MASE, Naive2, the Theta benchmark and OWA as the M4
//!   competition defines them.
//! - [`capacity`]: time to exhaustion, recommended capacity, right-sizing and
//!   idle detection.
//! - [`io`]: long-format CSV input, forecast CSV output; [`plot`]: SVG charts.

pub mod capacity;
mod config;
pub mod decompose;
mod forecaster;
pub mod io;
pub mod m4;
pub mod plot;
pub mod smoothing;
pub mod windows;

pub use config::{Forecast, ForecastConfig, ForecastError, season_candidates_for_step};
pub use forecaster::{MIN_HISTORY, detect_season, forecast};
