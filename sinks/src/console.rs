//! The console sink: one line per decision on standard output, for the
//! quickstart and for people watching a terminal.

use async_trait::async_trait;
use serde::Deserialize;
use std::io::Write;
use tocsin_processors::Decision;

use crate::delivery::{DeliveryError, Sink};

/// Configuration of the console sink (`[sinks.console]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Whether decisions are printed.
    pub enabled: bool,
}

/// Prints decisions.
#[derive(Debug, Default)]
pub struct ConsoleSink;

/// The line printed for a decision.
pub fn format_decision(d: &Decision) -> String {
    format!(
        "DECISION {} {} {} [{}] {} (dedup_key={}, confidence={:.2})",
        d.kind.as_str(),
        d.action.as_str(),
        d.target,
        d.severity.as_str(),
        d.reason,
        d.dedup_key,
        d.confidence
    )
}

#[async_trait]
impl Sink for ConsoleSink {
    fn name(&self) -> &str {
        "console"
    }

    async fn deliver(&self, d: &Decision) -> Result<(), DeliveryError> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", format_decision(d))
            .and_then(|_| out.flush())
            .map_err(|e| DeliveryError::Retryable {
                reason: format!("stdout: {e}"),
                retry_after: None,
            })
    }
}
