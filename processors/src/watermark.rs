//! Event-time progress.
//!
//! Each source partition (a Kafka partition, an HTTP receiver, the
//! simulator) is ordered in itself, but partitions are not ordered with
//! respect to each other: after a crash or an outage the consumer reads a
//! backlog, and the client fetches a large run of one partition before the
//! next. If the largest event time seen anywhere drove the watermark, the
//! rows of the partitions read later would all be late, and a replay would
//! decide differently from the live run. So, as in Flink and Beam, the
//! watermark follows the slowest active partition: the minimum over source
//! partitions of the largest event time each has delivered. A partition
//! that has delivered nothing for the idle timeout stops holding it back
//! (otherwise one quiet service would stall every window).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The event-time clock of one source partition.
#[derive(Debug, Clone, Copy)]
struct SourceClock {
    /// `None` for a source known to have data coming (from a checkpoint)
    /// that has delivered nothing yet: it holds the watermark where it is.
    max_event_ns: Option<i64>,
    last_seen: Instant,
}

/// Tracks how far event time has progressed: the smallest, over active
/// source partitions, of the largest event time each has delivered, minus
/// the allowed lateness. Never moves backwards.
#[derive(Debug, Clone)]
pub struct Watermark {
    lateness_ns: i64,
    idle_after: Duration,
    sources: BTreeMap<(String, i32), SourceClock>,
    /// The largest event time seen on any source.
    max_event_ns: Option<i64>,
    /// The watermark last returned (it never moves backwards).
    current: Option<i64>,
}

impl Watermark {
    /// A watermark that waits `lateness_ns` for out-of-order events and
    /// stops waiting for a source partition silent for `idle_after`.
    pub fn new(lateness_ns: i64, idle_after: Duration) -> Self {
        Watermark {
            lateness_ns: lateness_ns.max(0),
            idle_after,
            sources: BTreeMap::new(),
            max_event_ns: None,
            current: None,
        }
    }

    /// Records that `source` delivered events up to `max_event_ns` at `now`,
    /// and returns the watermark.
    pub fn observe(&mut self, source: (&str, i32), max_event_ns: i64, now: Instant) -> Option<i64> {
        self.max_event_ns = Some(
            self.max_event_ns
                .map_or(max_event_ns, |m| m.max(max_event_ns)),
        );
        // A batch, not a row, comes through here: the key's allocation is
        // noise next to the batch.
        let clock = self
            .sources
            .entry((source.0.to_owned(), source.1))
            .or_insert(SourceClock {
                max_event_ns: None,
                last_seen: now,
            });
        clock.max_event_ns = Some(
            clock
                .max_event_ns
                .map_or(max_event_ns, |m| m.max(max_event_ns)),
        );
        clock.last_seen = now;
        self.advance(now)
    }

    /// Registers a source that has data coming (a partition the checkpoint
    /// resumes): until it delivers, or goes idle, the watermark waits for
    /// it, so the first partition read after a restart does not make the
    /// others late.
    pub fn expect(&mut self, source: (&str, i32), now: Instant) {
        self.sources
            .entry((source.0.to_owned(), source.1))
            .or_insert(SourceClock {
                max_event_ns: None,
                last_seen: now,
            });
    }

    /// The watermark at `now`: sources that went idle since the last call
    /// no longer hold it back. `None` before any event.
    pub fn advance(&mut self, now: Instant) -> Option<i64> {
        let mut active = self
            .sources
            .values()
            .filter(|c| now.saturating_duration_since(c.last_seen) < self.idle_after)
            .peekable();
        let furthest = if active.peek().is_some() {
            // `None` orders first: an expected source that has delivered
            // nothing yet holds the watermark where it is.
            active.map(|c| c.max_event_ns).min().flatten()
        } else {
            // With every source idle, nothing more is coming: event time
            // is as far as the furthest source got.
            self.max_event_ns
        };
        if let Some(m) = furthest {
            let candidate = m.saturating_sub(self.lateness_ns);
            self.current = Some(self.current.map_or(candidate, |c| c.max(candidate)));
        }
        self.current
    }

    /// The watermark last computed, or `None` before any event.
    pub fn current(&self) -> Option<i64> {
        self.current
    }

    /// Restores from a checkpoint: the largest event time seen and the
    /// watermark then. Source clocks start afresh (positions may have moved
    /// to other instances meanwhile); the watermark does not go back.
    pub fn restore(&mut self, max_event_ns: Option<i64>, watermark: Option<i64>) {
        self.max_event_ns = max_event_ns;
        // Checkpoints from before per-source clocks carry no watermark: the
        // one they implied was the largest event time minus the lateness.
        self.current = watermark.or(max_event_ns.map(|m| m.saturating_sub(self.lateness_ns)));
        self.sources.clear();
    }

    /// The largest event time seen on any source.
    pub fn max_event_ns(&self) -> Option<i64> {
        self.max_event_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(10);

    #[test]
    fn monotonic_and_lagging_by_lateness() {
        let t = Instant::now();
        let mut w = Watermark::new(5, IDLE);
        assert_eq!(w.current(), None);
        assert_eq!(w.observe(("a", 0), 100, t), Some(95));
        assert_eq!(w.observe(("a", 0), 50, t), Some(95));
        assert_eq!(w.observe(("a", 0), 200, t), Some(195));
        assert_eq!(w.max_event_ns(), Some(200));
    }

    #[test]
    fn follows_the_slowest_active_partition() {
        let t = Instant::now();
        let mut w = Watermark::new(0, IDLE);
        w.observe(("logs", 0), 1_000, t);
        // Partition 1 is read later (a backlog): its rows are not late.
        assert_eq!(w.observe(("logs", 1), 10, t), Some(1_000));
        // The minimum cannot go back below what was already returned...
        assert_eq!(w.current(), Some(1_000));
        // ...and partition 1 now holds it until it catches up.
        assert_eq!(w.observe(("logs", 0), 5_000, t), Some(1_000));
        assert_eq!(w.observe(("logs", 1), 3_000, t), Some(3_000));
        assert_eq!(w.observe(("logs", 1), 9_000, t), Some(5_000));
    }

    #[test]
    fn an_idle_partition_stops_holding_it_back() {
        let t = Instant::now();
        let mut w = Watermark::new(0, IDLE);
        w.observe(("logs", 0), 100, t);
        w.observe(("logs", 1), 500, t);
        assert_eq!(w.current(), Some(100));
        // Partition 0 says nothing for longer than the idle timeout.
        assert_eq!(w.observe(("logs", 1), 900, t + IDLE), Some(900));
        // When every partition is idle, the furthest one counts.
        assert_eq!(w.advance(t + 3 * IDLE), Some(900));
    }

    #[test]
    fn an_expected_partition_holds_it_until_it_delivers_or_idles() {
        let t = Instant::now();
        let mut w = Watermark::new(0, IDLE);
        w.restore(Some(100), Some(100));
        w.expect(("logs", 0), t);
        w.expect(("logs", 1), t);
        // Partition 0's backlog comes first: partition 1 may be behind it.
        assert_eq!(w.observe(("logs", 0), 5_000, t), Some(100));
        assert_eq!(w.observe(("logs", 1), 300, t), Some(300));
        // An expected partition with nothing to deliver stops holding it.
        let mut w = Watermark::new(0, IDLE);
        w.expect(("logs", 1), t);
        assert_eq!(w.observe(("logs", 0), 5_000, t), None);
        assert_eq!(w.observe(("logs", 0), 6_000, t + IDLE), Some(6_000));
    }

    #[test]
    fn restores_without_going_back() {
        let t = Instant::now();
        let mut w = Watermark::new(5, IDLE);
        w.restore(Some(1_000), Some(700));
        assert_eq!(w.current(), Some(700));
        assert_eq!(w.observe(("logs", 0), 600, t), Some(700));
        assert_eq!(w.observe(("logs", 0), 900, t), Some(895));
        let mut old = Watermark::new(5, IDLE);
        old.restore(Some(1_000), None);
        assert_eq!(old.current(), Some(995));
    }
}
