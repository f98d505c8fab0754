//! How a sink's deliveries are paced: retry backoff, rate limit, folding of
//! updates, circuit breaker and concurrency, as configured per sink in its
//! `delivery` table.

use std::time::Duration;

use rand::Rng;
use serde::Deserialize;

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

/// At most `events` requests in any window of `per` (a sliding window, so
/// the target's own limit is never exceeded, unlike a token bucket that
/// allows a burst on top of the refill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub events: u32,
    /// The window.
    pub per: Duration,
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    /// Parses `"<events>/<duration>"`, e.g. `"120/1m"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (n, per) = s.split_once('/').ok_or_else(|| {
            format!("rate limit `{s}`: expected `<events>/<duration>`, e.g. `120/1m`")
        })?;
        let events: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("rate limit `{s}`: `{n}` is not a count"))?;
        let per =
            humantime::parse_duration(per.trim()).map_err(|e| format!("rate limit `{s}`: {e}"))?;
        if events == 0 || per.is_zero() {
            return Err(format!(
                "rate limit `{s}`: events and window must be positive"
            ));
        }
        Ok(RateLimit { events, per })
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A sink's `delivery` table. Every field is optional; unset fields take the
/// sink type's defaults ([`DeliveryDefaults`]), then the engine's.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Requests in flight at once. Decisions with the same `dedup_key` always
    /// go through the same lane, so their order is kept (open before
    /// resolve). Default 8.
    pub concurrency: Option<usize>,
    /// At most this many requests per window, e.g. `"120/1m"` (PagerDuty's
    /// per-routing-key limit is the PagerDuty sink's default).
    pub rate_limit: Option<RateLimit>,
    /// When several `update`s of one `dedup_key` are waiting, send only the
    /// newest: the receiver would overwrite the older ones anyway, and under
    /// a rate limit they would crowd out other incidents. Default on for
    /// paging and chat sinks, off for webhooks and actions.
    pub fold_updates: Option<bool>,
    /// First retry delay (exponential backoff with jitter from here).
    #[serde(with = "humantime_serde::option")]
    pub retry_initial: Option<Duration>,
    /// Longest retry delay.
    #[serde(with = "humantime_serde::option")]
    pub retry_max: Option<Duration>,
    /// Consecutive failed attempts that open the circuit. Default 5.
    pub breaker_failures: Option<u32>,
    /// How long an open circuit waits before one probe request. Default 30s.
    #[serde(with = "humantime_serde::option")]
    pub breaker_open_for: Option<Duration>,
    /// Decisions taken from the outbox but not yet delivered, at most; the
    /// outbox reader waits beyond it (backpressure, not buffering). Default
    /// 10,000.
    pub max_in_flight: Option<usize>,
}

/// The defaults a sink type brings (see [`crate::Sink::delivery_defaults`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DeliveryDefaults {
    /// The target's documented rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// Whether waiting updates of one key are folded.
    pub fold_updates: bool,
}

impl DeliveryDefaults {
    /// A paging or chat target: at most `events` per `per` when it
    /// documents a limit, and waiting updates of one key folded into the
    /// newest (a page or a message is overwritten by its successor).
    pub fn paging(limit: Option<(u32, Duration)>) -> Self {
        DeliveryDefaults {
            rate_limit: limit.map(|(events, per)| RateLimit { events, per }),
            fold_updates: true,
        }
    }
}

/// The settings the engine runs with: configuration over sink defaults over
/// engine defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectiveDelivery {
    /// Lanes (requests in flight at once).
    pub concurrency: usize,
    /// Sliding-window limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// Fold waiting updates of one key.
    pub fold_updates: bool,
    /// Backoff.
    pub retry: RetryPolicy,
    /// Consecutive failures that open the circuit.
    pub breaker_failures: u32,
    /// How long the circuit stays open before a probe.
    pub breaker_open_for: Duration,
    /// Outbox entries held at most.
    pub max_in_flight: usize,
}

impl DeliveryConfig {
    /// Resolves the settings against a sink type's defaults.
    pub fn resolve(&self, defaults: DeliveryDefaults) -> EffectiveDelivery {
        let base = RetryPolicy::default();
        EffectiveDelivery {
            concurrency: self.concurrency.unwrap_or(8).clamp(1, 256),
            rate_limit: self.rate_limit.or(defaults.rate_limit),
            fold_updates: self.fold_updates.unwrap_or(defaults.fold_updates),
            retry: RetryPolicy {
                initial: self.retry_initial.unwrap_or(base.initial),
                max: self.retry_max.unwrap_or(base.max),
            },
            breaker_failures: self.breaker_failures.unwrap_or(5).max(1),
            breaker_open_for: self.breaker_open_for.unwrap_or(Duration::from_secs(30)),
            max_in_flight: self.max_in_flight.unwrap_or(10_000).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rate_limits_parse_with_clear_errors() {
        assert_eq!(
            "120/1m".parse::<RateLimit>().unwrap(),
            RateLimit {
                events: 120,
                per: Duration::from_secs(60)
            }
        );
        assert!("120".parse::<RateLimit>().unwrap_err().contains("120/1m"));
        assert!("x/1m".parse::<RateLimit>().is_err());
        assert!("0/1m".parse::<RateLimit>().is_err());
        assert!("5/soon".parse::<RateLimit>().is_err());
    }

    #[test]
    fn configuration_overrides_sink_defaults() {
        let d = DeliveryDefaults {
            rate_limit: Some("120/1m".parse().unwrap()),
            fold_updates: true,
        };
        let e = DeliveryConfig::default().resolve(d);
        assert_eq!(e.rate_limit, d.rate_limit);
        assert!(e.fold_updates);
        let c: DeliveryConfig = toml::from_str(
            "rate_limit = \"10/1s\"\nfold_updates = false\nconcurrency = 2\nretry_max = \"5s\"",
        )
        .unwrap();
        let e = c.resolve(d);
        assert_eq!(e.rate_limit.unwrap().events, 10);
        assert!(!e.fold_updates);
        assert_eq!(e.concurrency, 2);
        assert_eq!(e.retry.max, Duration::from_secs(5));
        assert!(toml::from_str::<DeliveryConfig>("bogus = 1").is_err());
    }
}
