//! The one place processors are registered and configured.

use serde::Deserialize;

use crate::Processor;
use crate::anomaly::{AnomalyConfig, AnomalyProcessor};
use crate::capacity::{CapacityConfig, CapacityProcessor};
use crate::error_rate::{ErrorRateConfig, ErrorRateProcessor};
use crate::incidents::{IncidentsConfig, IncidentsProcessor};
use crate::log_patterns::{LogPatternsConfig, LogPatternsProcessor};
use crate::patching::PatchingProcessor;
use crate::rollout::{RolloutConfig, RolloutProcessor};

/// Configuration of every processor (`[processors]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorsConfig {
    /// `[processors.error_rate]`
    pub error_rate: ErrorRateConfig,
    /// `[processors.anomaly]`
    pub anomaly: AnomalyConfig,
    /// `[processors.log_patterns]`
    pub log_patterns: LogPatternsConfig,
    /// `[processors.capacity]`
    pub capacity: CapacityConfig,
    /// `[processors.incidents]`
    pub incidents: IncidentsConfig,
    /// `[processors.rollout]`
    pub rollout: RolloutConfig,
    /// `[processors.patching]`: vulnerability findings into `patch`
    /// decisions.
    pub patching: tocsin_patching::PatchConfig,
}

impl ProcessorsConfig {
    /// Checks every processor's configuration; the error names the section.
    pub fn validate(&self) -> Result<(), String> {
        self.error_rate
            .validate()
            .map_err(|e| format!("[processors.error_rate]: {e}"))?;
        self.anomaly
            .validate()
            .map_err(|e| format!("[processors.anomaly]: {e}"))?;
        self.log_patterns
            .validate()
            .map_err(|e| format!("[processors.log_patterns]: {e}"))?;
        self.capacity
            .validate()
            .map_err(|e| format!("[processors.capacity]: {e}"))?;
        self.incidents
            .validate()
            .map_err(|e| format!("[processors.incidents]: {e}"))?;
        self.rollout
            .validate()
            .map_err(|e| format!("[processors.rollout]: {e}"))?;
        self.patching
            .validate()
            .map(|_| ())
            .map_err(|e| format!("[processors.patching]: {e}"))
    }
}

/// Builds the enabled processors, in a fixed order (what they emit comes in
/// that order, which keeps replays deterministic). Fails with the section
/// name when a configuration does not validate.
pub fn build(cfg: &ProcessorsConfig) -> Result<Vec<Box<dyn Processor>>, String> {
    cfg.validate()?;
    let mut out: Vec<Box<dyn Processor>> = Vec::new();
    if cfg.log_patterns.enabled {
        let p = LogPatternsProcessor::new(cfg.log_patterns.clone())
            .map_err(|e| format!("[processors.log_patterns]: {e}"))?;
        out.push(Box::new(p));
    }
    if cfg.error_rate.enabled {
        out.push(Box::new(ErrorRateProcessor::new(cfg.error_rate.clone())));
    }
    if cfg.anomaly.enabled {
        out.push(Box::new(AnomalyProcessor::new(cfg.anomaly.clone())));
    }
    if cfg.capacity.enabled && !cfg.capacity.resources.is_empty() {
        out.push(Box::new(CapacityProcessor::new(cfg.capacity.clone())));
    }
    if cfg.rollout.enabled {
        let p = RolloutProcessor::new(cfg.rollout.clone())
            .map_err(|e| format!("[processors.rollout]: {e}"))?;
        out.push(Box::new(p));
    }
    if cfg.patching.enabled {
        let p = PatchingProcessor::new(cfg.patching.clone())
            .map_err(|e| format!("[processors.patching]: {e}"))?;
        out.push(Box::new(p));
    }
    // Last: it reads the alerts the processors above raise.
    if cfg.incidents.enabled {
        let p = IncidentsProcessor::new(cfg.incidents.clone())
            .map_err(|e| format!("[processors.incidents]: {e}"))?;
        out.push(Box::new(p));
    }
    Ok(out)
}
