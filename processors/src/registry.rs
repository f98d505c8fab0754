//! The one place processors are registered and configured.

use serde::Deserialize;

use crate::Processor;
use crate::error_rate::{ErrorRateConfig, ErrorRateProcessor};

/// Configuration of every processor (`[processors]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorsConfig {
    /// `[processors.error_rate]`
    pub error_rate: ErrorRateConfig,
}

impl ProcessorsConfig {
    /// Checks every processor's configuration; the error names the section.
    pub fn validate(&self) -> Result<(), String> {
        self.error_rate
            .validate()
            .map_err(|e| format!("[processors.error_rate]: {e}"))
    }
}

/// Builds the enabled processors, in a fixed order (decisions are emitted in
/// that order, which keeps replays deterministic).
pub fn build(cfg: &ProcessorsConfig) -> Vec<Box<dyn Processor>> {
    let mut out: Vec<Box<dyn Processor>> = Vec::new();
    if cfg.error_rate.enabled {
        out.push(Box::new(ErrorRateProcessor::new(cfg.error_rate.clone())));
    }
    out
}
