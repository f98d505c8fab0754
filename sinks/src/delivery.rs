//! Delivering decisions to a sink: the [`Sink`] trait, retries with
//! exponential backoff and jitter, and per-sink counters.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use tocsin_processors::Decision;

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
    /// Retrying cannot help (400 and similar); the decision is parked.
    #[error("permanent: {reason}")]
    Permanent {
        /// What went wrong, with the target's response.
        reason: String,
    },
    /// The pipeline is shutting down; the decision stays undelivered.
    #[error("delivery cancelled by shutdown")]
    Cancelled,
}

/// A destination for decisions (webhook, console, paging services...).
#[async_trait]
pub trait Sink: Send + Sync {
    /// The sink's configured name (used in metrics and consumer groups).
    fn name(&self) -> &str;

    /// Delivers one decision, once. Retrying is the caller's job.
    async fn deliver(&self, decision: &Decision) -> Result<(), DeliveryError>;
}

/// How retries are spaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Longest delay between retries.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based): exponential, capped,
    /// with full jitter in its upper half so that many senders spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max);
        let half = exp / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

/// Counters of one sink, read by `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Decisions delivered.
    pub delivered: AtomicU64,
    /// Attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Decisions given up on (permanent failures).
    pub failed: AtomicU64,
    /// Decisions skipped because they were already delivered.
    pub duplicates: AtomicU64,
}

/// Remembers recently delivered decision ids so a replayed decision is not
/// delivered twice by the same process.
#[derive(Debug)]
pub struct RecentIds {
    set: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl RecentIds {
    /// Remembers up to `cap` ids.
    pub fn new(cap: usize) -> Self {
        RecentIds {
            set: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Whether `id` was seen.
    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// Records `id`, forgetting the oldest beyond the cap.
    pub fn insert(&mut self, id: &str) {
        if self.set.insert(id.to_owned()) {
            self.order.push_back(id.to_owned());
            if self.order.len() > self.cap
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

/// Resolves once `shutdown` is set (or its sender is gone).
///
/// Wraps `watch::Receiver::wait_for` so that no borrow of the value is held
/// in the caller's future, which keeps those futures `Send`.
pub async fn wait_for_shutdown(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Delivers `decision`, retrying retryable failures until it succeeds, fails
/// permanently, or `shutdown` resolves.
pub async fn deliver_with_retry(
    sink: &dyn Sink,
    decision: &Decision,
    policy: RetryPolicy,
    stats: &DeliveryStats,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), DeliveryError> {
    let mut attempt = 0u32;
    loop {
        if *shutdown.borrow() {
            return Err(DeliveryError::Cancelled);
        }
        match sink.deliver(decision).await {
            Ok(()) => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(DeliveryError::Retryable {
                reason,
                retry_after,
            }) => {
                stats.retried.fetch_add(1, Ordering::Relaxed);
                let delay = retry_after
                    .unwrap_or_else(|| policy.delay(attempt))
                    .min(Duration::from_secs(300));
                tracing::warn!(sink = sink.name(), id = %decision.id, %reason, ?delay, "delivery failed; retrying");
                attempt = attempt.saturating_add(1);
                let mut sd = shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = wait_for_shutdown(&mut sd) => return Err(DeliveryError::Cancelled),
                }
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(sink = sink.name(), id = %decision.id, error = %e, "delivery failed permanently");
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    struct Flaky {
        fail_first: usize,
        calls: AtomicUsize,
        permanent: bool,
        seen: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Sink for Flaky {
        fn name(&self) -> &str {
            "flaky"
        }
        async fn deliver(&self, d: &Decision) -> Result<(), DeliveryError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.fail_first {
                return Err(if self.permanent {
                    DeliveryError::Permanent {
                        reason: "400".into(),
                    }
                } else {
                    DeliveryError::Retryable {
                        reason: "503".into(),
                        retry_after: None,
                    }
                });
            }
            self.seen.lock().unwrap().push(d.id.clone());
            Ok(())
        }
    }

    fn decision() -> Decision {
        serde_json::from_value(serde_json::json!({
            "ts": "2026-11-26T08:30:00Z", "id": "k#open", "kind": "incident", "action": "open",
            "target": "s", "severity": "error", "reason": "r", "evidence": {}, "evidence_sql": "",
            "dedup_key": "k", "confidence": 1.0, "processor": "p"
        }))
        .unwrap()
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(4),
        }
    }

    #[tokio::test]
    async fn retries_until_delivered() {
        let sink = Flaky {
            fail_first: 3,
            calls: AtomicUsize::new(0),
            permanent: false,
            seen: Mutex::new(vec![]),
        };
        let stats = DeliveryStats::default();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        deliver_with_retry(&sink, &decision(), fast(), &stats, &rx)
            .await
            .unwrap();
        assert_eq!(stats.retried.load(Ordering::Relaxed), 3);
        assert_eq!(stats.delivered.load(Ordering::Relaxed), 1);
        assert_eq!(sink.seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried_and_shutdown_cancels() {
        let sink = Flaky {
            fail_first: 1,
            calls: AtomicUsize::new(0),
            permanent: true,
            seen: Mutex::new(vec![]),
        };
        let stats = DeliveryStats::default();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let e = deliver_with_retry(&sink, &decision(), fast(), &stats, &rx).await;
        assert!(matches!(e, Err(DeliveryError::Permanent { .. })));
        assert_eq!(stats.failed.load(Ordering::Relaxed), 1);

        let sink = Flaky {
            fail_first: usize::MAX,
            calls: AtomicUsize::new(0),
            permanent: false,
            seen: Mutex::new(vec![]),
        };
        tx.send(true).unwrap();
        let e = deliver_with_retry(&sink, &decision(), fast(), &stats, &rx).await;
        assert_eq!(e, Err(DeliveryError::Cancelled));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for attempt in 0..40 {
            let d = p.delay(attempt);
            assert!(d <= p.max, "{d:?}");
        }
        assert!(p.delay(0) <= p.initial);
        assert!(p.delay(5) >= p.initial * 16);
    }

    #[test]
    fn recent_ids_are_bounded() {
        let mut r = RecentIds::new(2);
        r.insert("a");
        r.insert("b");
        r.insert("c");
        assert!(!r.contains("a"));
        assert!(r.contains("b") && r.contains("c"));
    }
}
