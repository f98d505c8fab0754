//! Delivering decisions: the [`Sink`] trait every destination implements and
//! the engine around it.
//!
//! A sink delivers one decision once and says how it went
//! ([`DeliveryError`]). Everything else is the [`engine`]'s: reading the
//! outbox from the sink's own position ([`cursor`]), order per `dedup_key`,
//! retries with backoff and `Retry-After`, rate limits and the circuit
//! breaker ([`guards`], [`policy`]), parking refusals in the dead-letter path,
//! and the counters in [`stats`].

pub mod cursor;
pub mod engine;
pub mod guards;
pub mod policy;
pub mod stats;

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use std::time::Duration;
use tocsin_processors::Decision;

pub use cursor::{Cursor, Position, StateFile};
pub use engine::{DeliveryEngine, EngineParts, OutboxEntry, Parked};
pub use policy::{DeliveryConfig, DeliveryDefaults, EffectiveDelivery, RateLimit, RetryPolicy};
pub use stats::DeliveryStats;

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying (timeouts, 5xx, 429); `retry_after` is the target's hint.
    #[error("retryable: {reason}")]
    Retryable {
        /// What went wrong.
        reason: String,
        /// The target's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (400 and similar); the decision is parked in the
    /// dead-letter path with this reason, which includes the response.
    #[error("permanent: {reason}")]
    Permanent {
        /// What went wrong, with the target's response.
        reason: String,
    },
    /// The pipeline is shutting down; the decision stays undelivered.
    #[error("delivery cancelled by shutdown")]
    Cancelled,
}

/// A destination for decisions (webhook, paging and chat services, tickets,
/// actions...).
#[async_trait]
pub trait Sink: Send + Sync {
    /// The sink's configured name (used in routing, metrics and state files).
    fn name(&self) -> &str;

    /// Whether this sink acts on `decision` at all. Decisions it does not
    /// accept count as done without a request (an action sink only acts on
    /// `rollback`/`flag_disable` opens, a ticket sink on `patch`).
    fn accepts(&self, _decision: &Decision) -> bool {
        true
    }

    /// Delivers one decision, once. Retrying is the engine's job.
    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError>;

    /// The pacing this sink type needs unless configured otherwise (for
    /// example PagerDuty's documented rate limit).
    fn delivery_defaults(&self) -> DeliveryDefaults {
        DeliveryDefaults::default()
    }

    /// State the sink must keep across restarts (for example the ticket
    /// created for each `dedup_key`); saved with its outbox position.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restores what [`Sink::state`] returned in an earlier run.
    fn restore_state(&self, _state: serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}

/// Resolves once `shutdown` is set (or its sender is gone).
///
/// Wraps `watch::Receiver::wait_for` so that no borrow of the value is held
/// in the caller's future, which keeps those futures `Send`.
pub async fn wait_for_shutdown(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
