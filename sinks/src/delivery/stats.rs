//! Counters of one sink, read by `/metrics`.

use std::sync::atomic::{AtomicI64, AtomicU64};

/// Counters of one sink's delivery engine.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Decisions delivered (including dry runs of action sinks).
    pub delivered: AtomicU64,
    /// Attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Decisions given up on (permanent failures), parked in the dead-letter
    /// path with the target's response.
    pub failed: AtomicU64,
    /// Outbox entries skipped because they were already done (a restart or
    /// a replayed outbox).
    pub duplicates: AtomicU64,
    /// Updates not sent because a newer update of the same key was waiting.
    pub folded: AtomicU64,
    /// Decisions this sink does not take (routing rules, or the sink's kind
    /// filter).
    pub skipped: AtomicU64,
    /// Times a lane waited for the rate limit or a `Retry-After` pause.
    pub rate_limited: AtomicU64,
    /// Decisions taken from the outbox and not yet done.
    pub in_flight: AtomicI64,
    /// 1 while the circuit is open or half-open.
    pub circuit_open: AtomicI64,
}
