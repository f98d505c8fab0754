//! Configuration and input events of the rollout judge.

use serde::{Deserialize, Serialize};

/// Nanoseconds per second, for configuration defaults.
pub const NS_PER_SEC: i64 = 1_000_000_000;

/// What a metric measures, which selects the comparison used for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricKind {
    /// Share of failed requests (two-proportion test on request counts).
    ErrorRate,
    /// Request latency distribution (Mann-Whitney U + Hodges-Lehmann, p95 tail test).
    Latency,
    /// A gauge fed through `observe_sample` under the metric's name (Mann-Whitney U).
    Saturation,
    /// New or surging log patterns of the new version (per-pattern rate tests).
    LogPatterns,
}

/// Which change of a metric is harmful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Higher is worse (errors, latency, CPU).
    Increase,
    /// Lower is worse (throughput, cache hit ratio).
    Decrease,
    /// Any significant change is harmful.
    Either,
}

/// One metric the judge compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// Metric name; for `Saturation` it is the name passed to `observe_sample`.
    pub name: String,
    /// Comparison family.
    pub kind: MetricKind,
    /// Harmful direction.
    pub direction: Direction,
    /// A failure of a critical metric fails the whole verdict.
    pub critical: bool,
    /// Minimum observations on each side before the metric can be judged.
    pub min_samples: u64,
    /// Relative effect allowed before a significant change counts as a failure
    /// (0.2 = 20 % of the baseline value).
    pub tolerance: f64,
    /// Absolute effect allowed (proportion units for error rates, 0.005 = 0.5 pp;
    /// metric units otherwise). Both tolerances must be exceeded to fail.
    pub abs_tolerance: f64,
    /// Family-wise significance level for this metric over the whole analysis
    /// (it is Bonferroni-split over the looks and sub-tests).
    pub alpha: f64,
}

impl MetricSpec {
    /// Error-rate metric: critical, ≥100 requests, fails on a significant rise of
    /// more than 0.5 pp and 50 % relative.
    pub fn error_rate() -> Self {
        Self {
            name: "error_rate".into(),
            kind: MetricKind::ErrorRate,
            direction: Direction::Increase,
            critical: true,
            min_samples: 100,
            tolerance: 0.5,
            abs_tolerance: 0.005,
            alpha: 0.005,
        }
    }

    /// Latency metric: critical, ≥100 requests, fails on a significant shift of
    /// more than 10 % of the baseline median or p95.
    pub fn latency() -> Self {
        Self {
            name: "latency".into(),
            kind: MetricKind::Latency,
            direction: Direction::Increase,
            critical: true,
            min_samples: 100,
            tolerance: 0.1,
            abs_tolerance: 0.0,
            alpha: 0.005,
        }
    }

    /// Saturation gauge (e.g. `cpu`), non-critical, fails on a significant 20 % rise.
    pub fn saturation(name: &str) -> Self {
        Self {
            name: name.into(),
            kind: MetricKind::Saturation,
            direction: Direction::Increase,
            critical: false,
            min_samples: 10,
            tolerance: 0.2,
            abs_tolerance: 0.0,
            alpha: 0.005,
        }
    }

    /// Log-pattern metric, non-critical: a pattern whose per-request rate on the
    /// new version is significantly above the baseline (or new) by 2× fails.
    pub fn log_patterns() -> Self {
        Self {
            name: "log_patterns".into(),
            kind: MetricKind::LogPatterns,
            direction: Direction::Increase,
            critical: false,
            min_samples: 5,
            tolerance: 1.0,
            abs_tolerance: 0.001,
            alpha: 0.005,
        }
    }
}

/// Judge configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeConfig {
    /// Analysis window length; a verdict is produced as each window closes.
    pub window_ns: i64,
    /// Offset of window boundaries from the epoch (aligns to a data source's buckets).
    pub window_offset_ns: i64,
    /// Windows analysed before the final promote / rollback / inconclusive call.
    pub num_windows: u32,
    /// Windows before a change used as the pre-deploy baseline (temporal mode
    /// and the post-promotion watch).
    pub baseline_windows: u32,
    /// Watch period after a promotion (default 30 min).
    pub watch_ns: i64,
    /// Windows pooled for each watch evaluation.
    pub watch_eval_windows: u32,
    /// Watch rule: error rate above the pre-deploy baseline by more than this (0.05 = 5 pp).
    pub watch_error_pp: f64,
    /// Watch rule: p95 latency worse than the pre-deploy baseline by more than this (0.2 = 20 %).
    pub watch_p95_ratio: f64,
    /// Minimum requests in a watch evaluation.
    pub watch_min_requests: u64,
    /// Significance for the watch rule's error-rate test.
    pub watch_alpha: f64,
    /// Metrics compared.
    pub metrics: Vec<MetricSpec>,
    /// Highest latency tracked, in microseconds (histogram range).
    pub max_latency_us: u64,
    /// Histogram precision (significant decimal digits, 1–5).
    pub latency_sigfig: u8,
    /// Cap on saturation samples kept per (service, version, window).
    pub max_samples_per_window: usize,
    /// Name of the per-request latency metric in the `metrics` table (evidence SQL).
    pub latency_metric_name: String,
    /// Name of the per-request error indicator metric in the `metrics` table (evidence SQL).
    pub error_metric_name: String,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        Self {
            window_ns: 60 * NS_PER_SEC,
            window_offset_ns: 0,
            num_windows: 10,
            baseline_windows: 10,
            watch_ns: 30 * 60 * NS_PER_SEC,
            watch_eval_windows: 5,
            watch_error_pp: 0.05,
            watch_p95_ratio: 0.2,
            watch_min_requests: 100,
            watch_alpha: 0.001,
            metrics: vec![MetricSpec::error_rate(), MetricSpec::latency()],
            max_latency_us: 3_600_000_000,
            latency_sigfig: 2,
            max_samples_per_window: 10_000,
            latency_metric_name: "request_latency_ms".into(),
            error_metric_name: "request_error".into(),
        }
    }
}

/// Alias kept for the vocabulary: a rollout is judged with one [`JudgeConfig`].
pub type RolloutConfig = JudgeConfig;

/// Rollout strategy of a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// A slice of traffic goes to the new version next to the baseline.
    Canary,
    /// Two full stacks; traffic is switched (weight 1.0 = switched over).
    BlueGreen,
    /// Instances are replaced progressively.
    Rolling,
}

/// Kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// A new version of the service.
    Deploy,
    /// A feature-flag change (same version; judged against the pre-change period).
    Flag,
}

/// A change to judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployEvent {
    /// Event time of the change.
    pub ts_ns: i64,
    /// Service changed.
    pub service: String,
    /// New version (for a flag change, the running version).
    pub version: String,
    /// Version the new one is compared with.
    pub baseline_version: String,
    /// Rollout strategy.
    pub strategy: Strategy,
    /// Share of traffic on the new version (0–1).
    pub traffic_weight: f64,
    /// Identifier of the change (deploy id, flag change id).
    pub change_id: String,
    /// Deploy or flag change.
    pub kind: ChangeKind,
}

impl DeployEvent {
    /// Whether the new version runs next to the baseline (compare the same
    /// windows) or replaces it (compare against the pre-change period).
    pub fn is_concurrent(&self) -> bool {
        self.kind == ChangeKind::Deploy
            && self.version != self.baseline_version
            && self.traffic_weight < 1.0
    }
}
