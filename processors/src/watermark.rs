//! Event-time progress.

/// Tracks how far event time has progressed: the largest event time seen,
/// minus the allowed lateness. Never moves backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    max_event_ns: Option<i64>,
    lateness_ns: i64,
}

impl Watermark {
    /// A watermark that waits `lateness_ns` for out-of-order events.
    pub fn new(lateness_ns: i64) -> Self {
        Watermark {
            max_event_ns: None,
            lateness_ns: lateness_ns.max(0),
        }
    }

    /// Records that events up to `max_event_ns` were seen.
    pub fn observe(&mut self, max_event_ns: i64) {
        self.max_event_ns = Some(
            self.max_event_ns
                .map_or(max_event_ns, |m| m.max(max_event_ns)),
        );
    }

    /// The current watermark, or `None` before any event.
    pub fn current(&self) -> Option<i64> {
        self.max_event_ns
            .map(|m| m.saturating_sub(self.lateness_ns))
    }

    /// Restores the largest event time seen (from a checkpoint).
    pub fn restore(&mut self, max_event_ns: Option<i64>) {
        self.max_event_ns = max_event_ns;
    }

    /// The largest event time seen.
    pub fn max_event_ns(&self) -> Option<i64> {
        self.max_event_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_lagging_by_lateness() {
        let mut w = Watermark::new(5);
        assert_eq!(w.current(), None);
        w.observe(100);
        assert_eq!(w.current(), Some(95));
        w.observe(50);
        assert_eq!(w.current(), Some(95));
        w.observe(200);
        assert_eq!(w.current(), Some(195));
    }
}
