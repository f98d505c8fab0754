//! `tocsin-judge`: judges rollouts (canary, blue-green, rolling, feature flags)
//! and tracks SLO burn.
//!
//! - [`stats`]: Mann-Whitney U, Hodges-Lehmann, two-proportion z.
//! - [`config`]: [`JudgeConfig`], [`MetricSpec`], [`DeployEvent`].
//! - [`store`]: per (service, version, window) aggregates with HDR latency histograms.
//! - [`compare`]: per-metric verdicts with effect sizes and p-values.
//! - [`judge`]: [`RolloutJudge`], the event-time state machine deciding promote /
//!   hold / rollback / flag_disable / inconclusive at each window close, plus the
//!   post-promotion watch window.
//! - [`verdict`]: [`Verdict`] with `dedup_key` and `evidence_sql`.
//! - [`slo`]: [`SloTracker`], multi-window multi-burn-rate alerts and error budget.
//! - [`experiment`]: seeded A/A and A/B rollout generator for the benchmark.
//! - [`petshop`]: reader for the PetShop dataset and its replay as rollouts.
//!
//! All time is event time (ns since the epoch) passed in by the caller; nothing
//! reads the wall clock, so a replay yields the same verdicts.

pub mod compare;
pub mod config;
mod decide;
pub mod experiment;
pub mod judge;
pub mod petshop;
pub mod slo;
pub mod stats;
pub mod store;
pub mod verdict;

#[cfg(test)]
mod tests;

pub use config::{
    ChangeKind, DeployEvent, Direction, JudgeConfig, MetricKind, MetricSpec, RolloutConfig,
    Strategy,
};
pub use judge::RolloutJudge;
pub use slo::{BurnAlert, Severity, Slo, SloKind, SloTracker};
pub use stats::{MwuResult, hodges_lehmann, mann_whitney_u, two_proportion_z};
pub use verdict::{Decision, MetricResult, MetricVerdict, Verdict};

/// Errors of the judge crate.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// Invalid configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Snapshot (de)serialisation failed.
    #[error("snapshot: {0}")]
    Snapshot(#[from] serde_json::Error),
    /// Reading a data file failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A CSV file could not be parsed.
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    /// A data file has an unexpected layout.
    #[error("data: {0}")]
    Data(String),
}
