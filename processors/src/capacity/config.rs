//! The capacity processor's configuration: one struct for the processor,
//! one per watched resource.

use std::time::Duration;

use globset::Glob;
use serde::Deserialize;

/// One kind of resource to watch.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CapacityResource {
    /// Glob over the metric name (e.g. `disk_used_bytes`).
    pub metric: String,
    /// The value at which the resource is exhausted (100 for a percentage,
    /// the disk size for bytes used).
    pub limit: f64,
    /// Size provisioned now, in the units capacity is bought in (vCPUs,
    /// GiB); utilisation is value / limit of it.
    pub size: f64,
    /// Sizes come in multiples of this.
    pub granularity: f64,
    /// Never suggest less than this.
    pub min_size: f64,
    /// Cost of one unit per month, for the saving of a right-size.
    pub cost_per_unit: f64,
    /// Utilisation a right-sized resource should stay under at p95.
    pub target_utilisation: f64,
    /// p95 utilisation under which the resource is idle.
    pub idle_below: f64,
}

impl Default for CapacityResource {
    fn default() -> Self {
        CapacityResource {
            metric: String::new(),
            limit: 100.0,
            size: 1.0,
            granularity: 1.0,
            min_size: 1.0,
            cost_per_unit: 0.0,
            target_utilisation: 0.7,
            idle_below: 0.02,
        }
    }
}

/// Configuration of the capacity processor (`[processors.capacity]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CapacityConfig {
    /// Whether the processor runs (it does nothing without `resources`).
    pub enabled: bool,
    /// Width of a history bucket (values are averaged within it).
    #[serde(with = "humantime_serde")]
    pub step: Duration,
    /// Buckets kept per series.
    pub history: usize,
    /// Fewest buckets before a series is forecast.
    pub min_history: usize,
    /// How far ahead a crossing of the limit raises `scale`.
    #[serde(with = "humantime_serde")]
    pub lead_time: Duration,
    /// How often each series is evaluated (event time).
    #[serde(with = "humantime_serde")]
    pub evaluate_every: Duration,
    /// History a series needs before `rightsize` is considered (and the
    /// window its p95 is taken over).
    #[serde(with = "humantime_serde")]
    pub rightsize_after: Duration,
    /// How long a series must stay idle before `idle`.
    #[serde(with = "humantime_serde")]
    pub idle_after: Duration,
    /// Recommended capacity = peak upper bound × headroom.
    pub headroom: f64,
    /// Most series tracked; beyond it new series are ignored.
    pub max_series: usize,
    /// The resources, first matching glob wins.
    pub resources: Vec<CapacityResource>,
}

impl Default for CapacityConfig {
    fn default() -> Self {
        CapacityConfig {
            enabled: true,
            step: Duration::from_secs(3600),
            history: 720,
            min_history: 72,
            lead_time: Duration::from_secs(30 * 86_400),
            evaluate_every: Duration::from_secs(3600),
            rightsize_after: Duration::from_secs(7 * 86_400),
            idle_after: Duration::from_secs(86_400),
            headroom: 1.2,
            max_series: 10_000,
            resources: Vec::new(),
        }
    }
}

impl CapacityConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.step.is_zero() || self.evaluate_every.is_zero() {
            return Err("`step` and `evaluate_every` must be above zero".into());
        }
        if self.min_history < 8 || self.history < self.min_history {
            return Err("need 8 <= `min_history` <= `history`".into());
        }
        if self.headroom.is_nan() || self.headroom < 1.0 {
            return Err("`headroom` must be at least 1".into());
        }
        for (i, r) in self.resources.iter().enumerate() {
            Glob::new(&r.metric).map_err(|e| format!("resources[{i}].metric: {e}"))?;
            if !(r.limit > 0.0 && r.size > 0.0 && r.granularity > 0.0) {
                return Err(format!(
                    "resources[{i}]: `limit`, `size` and `granularity` must be above zero"
                ));
            }
            if !(r.target_utilisation > 0.0 && r.target_utilisation <= 1.0) {
                return Err(format!(
                    "resources[{i}]: `target_utilisation` must be in (0, 1]"
                ));
            }
        }
        Ok(())
    }

    pub(super) fn steps(&self, d: Duration) -> usize {
        (d.as_nanos() / self.step.as_nanos().max(1)) as usize
    }
}
