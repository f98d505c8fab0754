//! Hysteresis on the score stream: turns per-point scores into opened/closed
//! signal events that later become alerts.

use serde::{Deserialize, Serialize};

use crate::detector::{Direction, Score};

/// Which deviations a signal reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SignalDirection {
    /// Only deviations above the expected value.
    Up,
    /// Only deviations below the expected value.
    Down,
    /// Any deviation (including unsigned variance changes).
    #[default]
    Both,
}

/// Hysteresis settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalConfig {
    /// Deviations that count.
    pub direction: SignalDirection,
    /// Score at or above which a signal starts (to open).
    pub threshold: f64,
    /// Score below which an open or pending signal ends; at most `threshold`.
    pub clear_threshold: f64,
    /// How long the score must stay at or above `clear_threshold` after first
    /// crossing `threshold` before the signal opens.
    pub min_duration_ns: i64,
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            direction: SignalDirection::Both,
            threshold: 0.5,
            clear_threshold: 0.3,
            min_duration_ns: 0,
        }
    }
}

/// A change of signal state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SignalEvent {
    /// The signal opened.
    Opened {
        /// Timestamp of the point that opened it.
        ts_ns: i64,
        /// Timestamp at which the score first crossed the threshold.
        since_ns: i64,
        /// Score of the opening point.
        score: f64,
        /// Direction of the opening point.
        direction: Direction,
    },
    /// The signal closed.
    Closed {
        /// Timestamp of the point that closed it.
        ts_ns: i64,
        /// Timestamp at which it had opened.
        opened_ns: i64,
        /// Highest score while open.
        peak_score: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum State {
    Idle,
    Pending { since_ns: i64 },
    Open { opened_ns: i64, peak: f64 },
}

/// Tracks one signal over a score stream. Serialisable for checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalTracker {
    cfg: SignalConfig,
    state: State,
}

impl SignalTracker {
    /// New idle tracker. A `clear_threshold` above `threshold` is lowered to it.
    pub fn new(cfg: &SignalConfig) -> Self {
        let mut cfg = cfg.clone();
        cfg.clear_threshold = cfg.clear_threshold.min(cfg.threshold);
        Self {
            cfg,
            state: State::Idle,
        }
    }

    /// True while the signal is open.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    fn effective(&self, s: &Score) -> f64 {
        let ok = match self.cfg.direction {
            SignalDirection::Both => true,
            SignalDirection::Up => s.direction == Direction::Up,
            SignalDirection::Down => s.direction == Direction::Down,
        };
        if ok && s.score.is_finite() {
            s.score
        } else {
            0.0
        }
    }

    /// Feeds one scored point; returns an event when the state changes.
    pub fn update(&mut self, ts_ns: i64, score: &Score) -> Option<SignalEvent> {
        let v = self.effective(score);
        match self.state {
            State::Idle => {
                if v >= self.cfg.threshold {
                    self.state = State::Pending { since_ns: ts_ns };
                    return self.try_open(ts_ns, ts_ns, v, score.direction);
                }
                None
            }
            State::Pending { since_ns } => {
                if v < self.cfg.clear_threshold {
                    self.state = State::Idle;
                    return None;
                }
                self.try_open(ts_ns, since_ns, v, score.direction)
            }
            State::Open { opened_ns, peak } => {
                if v < self.cfg.clear_threshold {
                    self.state = State::Idle;
                    return Some(SignalEvent::Closed {
                        ts_ns,
                        opened_ns,
                        peak_score: peak,
                    });
                }
                self.state = State::Open {
                    opened_ns,
                    peak: peak.max(v),
                };
                None
            }
        }
    }

    /// Ends the signal without a point, at `ts_ns`: for a series that
    /// stopped reporting. An open signal returns its `Closed` event; a
    /// pending one is dropped silently, as it never opened.
    pub fn close(&mut self, ts_ns: i64) -> Option<SignalEvent> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        match state {
            State::Open { opened_ns, peak } => Some(SignalEvent::Closed {
                ts_ns,
                opened_ns,
                peak_score: peak,
            }),
            State::Idle | State::Pending { .. } => None,
        }
    }

    fn try_open(
        &mut self,
        ts_ns: i64,
        since_ns: i64,
        v: f64,
        direction: Direction,
    ) -> Option<SignalEvent> {
        if ts_ns.saturating_sub(since_ns) >= self.cfg.min_duration_ns {
            self.state = State::Open {
                opened_ns: ts_ns,
                peak: v,
            };
            Some(SignalEvent::Opened {
                ts_ns,
                since_ns,
                score: v,
                direction,
            })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(score: f64, direction: Direction) -> Score {
        Score {
            score,
            direction,
            expected: 0.0,
        }
    }

    fn cfg(direction: SignalDirection, min_duration_ns: i64) -> SignalConfig {
        SignalConfig {
            direction,
            threshold: 0.6,
            clear_threshold: 0.3,
            min_duration_ns,
        }
    }

    #[test]
    fn close_ends_an_open_signal_and_drops_a_pending_one() {
        let mut t = SignalTracker::new(&cfg(SignalDirection::Both, 0));
        assert_eq!(t.close(5), None);
        t.update(1, &sc(0.7, Direction::Up));
        t.update(2, &sc(0.9, Direction::Up));
        assert_eq!(
            t.close(10),
            Some(SignalEvent::Closed {
                ts_ns: 10,
                opened_ns: 1,
                peak_score: 0.9
            })
        );
        assert!(!t.is_open());
        assert_eq!(t.close(11), None);
        // Pending (waiting out `min_duration`): nothing to close.
        let mut t = SignalTracker::new(&cfg(SignalDirection::Both, 100));
        assert_eq!(t.update(1, &sc(0.7, Direction::Up)), None);
        assert_eq!(t.close(5), None);
        assert_eq!(
            t.update(6, &sc(0.7, Direction::Up)),
            None,
            "pending again from 6"
        );
    }

    #[test]
    fn opens_and_closes_with_hysteresis() {
        let mut t = SignalTracker::new(&cfg(SignalDirection::Both, 0));
        assert_eq!(t.update(0, &sc(0.5, Direction::Up)), None);
        let e = t.update(1, &sc(0.7, Direction::Up));
        assert!(matches!(e, Some(SignalEvent::Opened { ts_ns: 1, .. })));
        // Between the two thresholds the signal stays open.
        assert_eq!(t.update(2, &sc(0.4, Direction::Up)), None);
        assert_eq!(t.update(3, &sc(0.9, Direction::Up)), None);
        assert!(t.is_open());
        let e = t.update(4, &sc(0.1, Direction::None));
        assert_eq!(
            e,
            Some(SignalEvent::Closed {
                ts_ns: 4,
                opened_ns: 1,
                peak_score: 0.9
            })
        );
        assert!(!t.is_open());
    }

    #[test]
    fn min_duration_delays_and_filters_blips() {
        let mut t = SignalTracker::new(&cfg(SignalDirection::Both, 10));
        assert_eq!(t.update(0, &sc(0.7, Direction::Up)), None);
        assert_eq!(t.update(5, &sc(0.2, Direction::Up)), None); // blip cleared
        assert_eq!(t.update(6, &sc(0.7, Direction::Up)), None);
        assert_eq!(t.update(12, &sc(0.5, Direction::Up)), None);
        let e = t.update(16, &sc(0.5, Direction::Up));
        assert!(matches!(
            e,
            Some(SignalEvent::Opened {
                ts_ns: 16,
                since_ns: 6,
                ..
            })
        ));
    }

    #[test]
    fn direction_filter() {
        let mut t = SignalTracker::new(&cfg(SignalDirection::Down, 0));
        assert_eq!(t.update(0, &sc(0.9, Direction::Up)), None);
        assert!(t.update(1, &sc(0.9, Direction::Down)).is_some());
        // An upward score counts as zero for a down signal and closes it.
        assert!(matches!(
            t.update(2, &sc(0.9, Direction::Up)),
            Some(SignalEvent::Closed { .. })
        ));
    }

    #[test]
    fn state_roundtrips_through_json() {
        let mut t = SignalTracker::new(&cfg(SignalDirection::Up, 0));
        t.update(0, &sc(0.9, Direction::Up));
        let j = serde_json::to_string(&t).unwrap();
        let mut u: SignalTracker = serde_json::from_str(&j).unwrap();
        assert_eq!(t, u);
        assert_eq!(
            t.update(1, &sc(0.0, Direction::Up)),
            u.update(1, &sc(0.0, Direction::Up))
        );
    }
}
