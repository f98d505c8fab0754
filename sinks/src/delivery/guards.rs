//! What stands between a lane and the target: a sliding-window rate limiter
//! (with a sink-wide pause for `Retry-After`) and a circuit breaker. Both are
//! shared by all lanes of one sink.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::policy::RateLimit;

/// Ensures at most `limit.events` requests start in any `limit.per` window,
/// and holds every lane while the target asked to wait (`Retry-After`).
#[derive(Debug)]
pub struct Limiter {
    limit: Option<RateLimit>,
    state: Mutex<LimiterState>,
}

#[derive(Debug, Default)]
struct LimiterState {
    /// Start times of the requests in the current window, oldest first.
    sent: VecDeque<Instant>,
    /// No request before this instant (from a `Retry-After`).
    paused_until: Option<Instant>,
}

impl Limiter {
    /// A limiter for `limit` (`None`: only `Retry-After` pauses apply).
    pub fn new(limit: Option<RateLimit>) -> Self {
        Limiter {
            limit,
            state: Mutex::new(LimiterState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Either reserves a slot now (`None`) or says how long to wait first.
    pub fn try_acquire(&self, now: Instant) -> Option<Duration> {
        let mut st = self.lock();
        if let Some(until) = st.paused_until {
            if until > now {
                return Some(until - now);
            }
            st.paused_until = None;
        }
        if let Some(limit) = self.limit {
            // The target counts arrivals, we count starts: a request that
            // starts exactly one window after the oldest can still arrive
            // inside the target's window when the oldest was slower on the
            // wire. A guard band of 2% of the window (at most 1 s) absorbs
            // that jitter.
            let window = limit.per + (limit.per / 50).min(Duration::from_secs(1));
            while st
                .sent
                .front()
                .is_some_and(|&t| now.duration_since(t) >= window)
            {
                st.sent.pop_front();
            }
            if st.sent.len() >= limit.events as usize {
                let oldest = st.sent.front().copied().unwrap_or(now);
                return Some((oldest + window).saturating_duration_since(now));
            }
            st.sent.push_back(now);
        }
        None
    }

    /// Holds every lane until `until` (the target's `Retry-After`).
    pub fn pause_until(&self, until: Instant) {
        let mut st = self.lock();
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
        }
    }
}

/// The breaker's answer to "may I send?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Send.
    Go,
    /// Send: this request is the probe of a half-open circuit.
    Probe,
    /// Do not send; ask again after this long.
    Wait(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// Stops hammering a target that keeps failing: after `threshold`
/// consecutive failed attempts the circuit opens for `open_for`, then one
/// probe decides whether it closes again.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<BreakerState>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a request may go now.
    pub fn permit(&self, now: Instant) -> Permit {
        let mut st = self.lock();
        match *st {
            BreakerState::Closed { .. } => Permit::Go,
            BreakerState::Open { until } if now < until => Permit::Wait(until - now),
            BreakerState::Open { .. } => {
                *st = BreakerState::HalfOpen { probing: true };
                Permit::Probe
            }
            BreakerState::HalfOpen { probing: true } => Permit::Wait(Duration::from_millis(100)),
            BreakerState::HalfOpen { probing: false } => {
                *st = BreakerState::HalfOpen { probing: true };
                Permit::Probe
            }
        }
    }

    /// The target answered (success, or a permanent refusal: it is up).
    pub fn on_success(&self) {
        *self.lock() = BreakerState::Closed { failures: 0 };
    }

    /// An attempt failed in a retryable way. Returns true when this opened
    /// the circuit.
    pub fn on_failure(&self, now: Instant) -> bool {
        let mut st = self.lock();
        match *st {
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                *st = BreakerState::Closed {
                    failures: failures + 1,
                };
                false
            }
            BreakerState::Open { .. } => false,
            _ => {
                *st = BreakerState::Open {
                    until: now + self.open_for,
                };
                true
            }
        }
    }

    /// Whether the circuit is open or half-open (for `/metrics`).
    pub fn is_open(&self) -> bool {
        !matches!(*self.lock(), BreakerState::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_never_exceeds_the_limit() {
        let limiter = Limiter::new(Some(RateLimit {
            events: 3,
            per: Duration::from_secs(60),
        }));
        let t0 = Instant::now();
        let mut starts = Vec::new();
        let mut now = t0;
        // Ask every second for 5 minutes; record every granted start.
        while now < t0 + Duration::from_secs(300) {
            if limiter.try_acquire(now).is_none() {
                starts.push(now);
            }
            now += Duration::from_secs(1);
        }
        for (i, s) in starts.iter().enumerate() {
            let in_window = starts[i..]
                .iter()
                .take_while(|t| t.duration_since(*s) < Duration::from_secs(60))
                .count();
            assert!(in_window <= 3, "window from {i} holds {in_window}");
        }
        assert_eq!(starts.len(), 15, "3 per minute for 5 minutes");
        // The wait it reports is exactly until the oldest slot frees.
        let l = Limiter::new(Some(RateLimit {
            events: 1,
            per: Duration::from_secs(10),
        }));
        assert_eq!(l.try_acquire(t0), None);
        // (plus the 2% guard band against network jitter)
        assert_eq!(
            l.try_acquire(t0 + Duration::from_secs(4)),
            Some(Duration::from_millis(6_200))
        );
    }

    #[test]
    fn retry_after_pauses_every_lane() {
        let l = Limiter::new(None);
        let t0 = Instant::now();
        l.pause_until(t0 + Duration::from_secs(7));
        assert_eq!(l.try_acquire(t0), Some(Duration::from_secs(7)));
        // A shorter pause does not cut a longer one short.
        l.pause_until(t0 + Duration::from_secs(1));
        assert_eq!(
            l.try_acquire(t0 + Duration::from_secs(2)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(l.try_acquire(t0 + Duration::from_secs(7)), None);
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let b = CircuitBreaker::new(3, Duration::from_secs(30));
        let t0 = Instant::now();
        assert!(!b.on_failure(t0));
        assert!(!b.on_failure(t0));
        assert_eq!(b.permit(t0), Permit::Go);
        assert!(b.on_failure(t0), "the third failure opens it");
        assert!(b.is_open());
        assert_eq!(
            b.permit(t0 + Duration::from_secs(10)),
            Permit::Wait(Duration::from_secs(20))
        );
        assert_eq!(b.permit(t0 + Duration::from_secs(30)), Permit::Probe);
        // Only one probe at a time.
        assert!(matches!(
            b.permit(t0 + Duration::from_secs(30)),
            Permit::Wait(_)
        ));
        // A failed probe opens it again for the full time.
        assert!(b.on_failure(t0 + Duration::from_secs(31)));
        assert!(matches!(
            b.permit(t0 + Duration::from_secs(40)),
            Permit::Wait(_)
        ));
        assert_eq!(b.permit(t0 + Duration::from_secs(61)), Permit::Probe);
        b.on_success();
        assert!(!b.is_open());
        assert_eq!(b.permit(t0 + Duration::from_secs(62)), Permit::Go);
    }
}
