//! Streaming anomaly detection for tocsin metric series.
//!
//! - [`SeriesDetector`]: per-series ensemble detector (robust level/spread,
//!   automatically detected daily/weekly seasonal baselines, CUSUM level
//!   shifts, variance change and slow drift, combined through tail-probability
//!   models) with O(1) amortised work and bounded, serialisable state.
//! - [`novelty`]: level-transition novelty, the ensemble member that looks at
//!   the value's coarse level rather than its residual.
//! - [`SignalTracker`]: hysteresis that turns a score stream into opened/closed
//!   signal events.
//! - [`nab`]: Numenta Anomaly Benchmark loader, detection runner and scorer
//!   (the `nab-score` binary drives it).
//! - [`seasonal`], [`stats`]: the building blocks (seasonal profiles with
//!   streaming period detection, histogram-backed tail models).

#![warn(missing_docs)]

mod config;
mod detector;
mod likelihood;
pub mod nab;
pub mod novelty;
pub mod seasonal;
mod signal;
pub mod stats;

pub use config::DetectorConfig;
pub use detector::{Diagnostics, Direction, Score, SeriesDetector};
pub use signal::{SignalConfig, SignalDirection, SignalEvent, SignalTracker};
