//! A per-key sliding-window rate limiter for the mock servers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `limit` requests per key in any `window`.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SlidingWindow {
    /// A limiter allowing `limit` requests per key per `window`.
    pub fn new(limit: usize, window: Duration) -> Self {
        SlidingWindow {
            limit,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request for `key` at `now` if it is within the limit. A
    /// refused request does not count, as with token-bucket services: the
    /// client is not punished further for being told to slow down.
    pub fn allow(&self, key: &str, now: Instant) -> bool {
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        let q = hits.entry(key.to_owned()).or_default();
        while q
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.limit {
            return false;
        }
        q.push_back(now);
        true
    }

    /// Seconds until `key` may send again (at least 1), for `Retry-After`.
    pub fn wait_secs(&self, key: &str, now: Instant) -> u64 {
        let hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        hits.get(key)
            .and_then(|q| q.front())
            .map(|t| {
                (self
                    .window
                    .saturating_sub(now.saturating_duration_since(*t)))
                .as_secs_f64()
                .ceil() as u64
            })
            .unwrap_or(1)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slides() {
        let l = SlidingWindow::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(l.allow("a", t0));
        assert!(l.allow("a", t0 + Duration::from_secs(1)));
        assert!(!l.allow("a", t0 + Duration::from_secs(2)));
        assert!(l.allow("b", t0 + Duration::from_secs(2)));
        assert_eq!(l.wait_secs("a", t0 + Duration::from_secs(2)), 8);
        assert!(l.allow("a", t0 + Duration::from_secs(10)));
        assert!(!l.allow("a", t0 + Duration::from_secs(10)));
    }
}
