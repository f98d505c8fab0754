//! Level-transition novelty: has the series ever moved like this before?
//!
//! The residual statistics of [`crate::SeriesDetector`] judge a point by
//! how far it sits from the baseline in units of recent spread. They are
//! blind to a series that jumps to a value it has never held when the
//! spread around it is wide (bursty CPU, request counts), and they keep
//! alerting while a new regime settles. This member looks at the value
//! itself instead, coarsely:
//!
//! - the value range is cut into [`LEVELS`] levels (the range is declared
//!   per rule, or, when enabled, learned from the first points of the
//!   series; without either the member stays silent); values
//!   beyond it get [`OVERFLOW`] extra levels of the same width on each side;
//! - counts of levels and of level-to-level transitions are kept (`u8`,
//!   halved when one saturates, so old habits fade);
//! - a point whose level is not the one the counts predict scores
//!   `(1 - p + new) / 2`, where `p` is the mean share of the current level
//!   after the previous level and overall, and `new` is 1 when the
//!   transition was never seen;
//! - a raw score of [`LOUD`] or more silences the next `rest` points, so an
//!   episode yields one alert, not a stream of them.
//!
//! The scheme follows the quantise-then-count-contexts idea of Smirnov's
//! Contextual Anomaly Detector (CAD OSE, NAB standard score 69.9), cut down
//! to first-order transitions: the full context memory grew to 63,000
//! contexts on one NAB file and ran at 11,000 points/s, where this needs
//! 272 bytes and a few nanoseconds a point and scored the same on NAB
//! (BENCHMARKS.md).

use serde::{Deserialize, Serialize};

/// Levels across the value range.
pub const LEVELS: usize = 8;
/// Extra levels on each side of the range for values outside it.
pub const OVERFLOW: usize = 4;
/// Symbols in total.
const SYMBOLS: usize = LEVELS + 2 * OVERFLOW;
/// Raw score that silences the following `rest` points.
pub const LOUD: f64 = 0.75;

/// How the member knows the value range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum RangeState {
    /// Still learning: min and max of the `n` points so far (0 and 0 while
    /// `n` is 0; infinities would not survive a JSON checkpoint).
    Learning { min: f64, max: f64, n: u32 },
    /// Fixed: the bottom of level 0 and the width of a level.
    Fixed { min: f64, step: f64 },
}

/// Streaming level-transition novelty of one series (see the module docs).
/// The configuration lives with the detector's, so only counts are state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelNovelty {
    range: RangeState,
    /// Visits per level.
    levels: Vec<u8>,
    /// Transitions, `from * SYMBOLS + to`.
    transitions: Vec<u8>,
    prev: Option<u8>,
    /// Points since the last loud raw score (0 silences; starts silenced).
    since_loud: u32,
}

impl LevelNovelty {
    /// A member over a declared `[min, max]`, or one that learns the range
    /// from its first `learn_points` points (see [`Self::update`]) when
    /// `range` is `None`.
    pub fn new(range: Option<[f64; 2]>) -> Self {
        let range = match range {
            Some([lo, hi]) => fixed(lo, hi),
            None => RangeState::Learning {
                min: 0.0,
                max: 0.0,
                n: 0,
            },
        };
        let mut m = Self {
            range,
            levels: Vec::new(),
            transitions: Vec::new(),
            prev: None,
            since_loud: 0,
        };
        if m.is_scoring() {
            m.allocate();
        }
        m
    }

    /// The count tables exist only once a range is known, so the many
    /// series whose rule declares none carry no tables in memory or in
    /// checkpoints.
    fn allocate(&mut self) {
        self.levels = vec![0; SYMBOLS];
        self.transitions = vec![0; SYMBOLS * SYMBOLS];
    }

    /// Adopts a declared range if none is in use yet: a checkpoint written
    /// before the range was configured (or before this member existed)
    /// picks it up on restore.
    pub fn declare(&mut self, range: Option<[f64; 2]>) {
        if let (Some([lo, hi]), RangeState::Learning { .. }) = (range, self.range) {
            self.range = fixed(lo, hi);
            self.allocate();
        }
    }

    /// Heap bytes held (the count tables).
    pub fn heap_bytes(&self) -> usize {
        self.levels.capacity() + self.transitions.capacity()
    }

    /// Whether the range is known and points are being scored.
    pub fn is_scoring(&self) -> bool {
        matches!(self.range, RangeState::Fixed { .. })
    }

    /// Feeds a finite value; returns its novelty in [0, 1] (0 while the
    /// range is learned, for ever when it is neither declared nor learned
    /// (`learn_points` 0), and during the `rest` points after a loud score).
    pub fn update(&mut self, value: f64, learn_points: u32, rest: u32) -> f64 {
        let (min, step) = match &mut self.range {
            RangeState::Learning { .. } if learn_points == 0 => return 0.0,
            RangeState::Learning { min, max, n } => {
                if *n == 0 {
                    (*min, *max) = (value, value);
                }
                *min = min.min(value);
                *max = max.max(value);
                *n = n.saturating_add(1);
                if *n >= learn_points {
                    self.range = fixed(*min, *max);
                    self.allocate();
                    // Silent for the rest period again: the counts are empty.
                    self.since_loud = 0;
                }
                return 0.0;
            }
            RangeState::Fixed { min, step } => (*min, *step),
        };
        if self.levels.len() != SYMBOLS
            || self.transitions.len() != SYMBOLS * SYMBOLS
            || self.prev.is_some_and(|p| usize::from(p) >= SYMBOLS)
        {
            // A hand-edited or truncated checkpoint: start counting afresh.
            self.allocate();
            self.prev = None;
        }
        let top = (SYMBOLS - 1) as f64;
        let sym = (((value - min) / step).floor() + OVERFLOW as f64).clamp(0.0, top) as usize;
        let raw = self.raw_score(sym);
        self.count(sym);
        let silenced = self.since_loud < rest;
        if raw >= LOUD {
            self.since_loud = 0;
        } else {
            self.since_loud = self.since_loud.saturating_add(1);
        }
        if silenced { 0.0 } else { raw }
    }

    fn raw_score(&self, sym: usize) -> f64 {
        let after_prev = self
            .prev
            .map(|p| &self.transitions[usize::from(p) * SYMBOLS..(usize::from(p) + 1) * SYMBOLS]);
        let transition_new = after_prev.is_some_and(|row| row[sym] == 0);
        // Rows with data, most specific first: it predicts the next level.
        let mut rows = [after_prev, Some(&self.levels[..])]
            .into_iter()
            .flatten()
            .filter_map(|row| share_and_predicted(row, sym));
        let (mut share_sum, mut known) = (0.0, 0u32);
        if let Some((share, predicted)) = rows.next() {
            if predicted {
                return 0.0;
            }
            (share_sum, known) = (share, 1);
        }
        for (share, _) in rows {
            share_sum += share;
            known += 1;
        }
        let share = if known > 0 {
            share_sum / f64::from(known)
        } else {
            0.0
        };
        let new = if transition_new { 1.0 } else { 0.0 };
        (1.0 - share + new) / 2.0
    }

    fn count(&mut self, sym: usize) {
        bump(&mut self.levels, sym);
        if let Some(p) = self.prev {
            let row = usize::from(p) * SYMBOLS;
            bump(&mut self.transitions[row..row + SYMBOLS], sym);
        }
        self.prev = Some(sym as u8);
    }
}

/// Adds one to `row[i]`, halving the row first when that cell is full so the
/// shares stay right and old counts fade. Halving rounds up: a transition
/// seen once stays seen, or a level that merely became rare would count as
/// never seen and page.
fn bump(row: &mut [u8], i: usize) {
    if row[i] == u8::MAX {
        for c in row.iter_mut() {
            *c = c.div_ceil(2);
        }
    }
    row[i] += 1;
}

/// For a count row with any data: the share of `sym` in it, and whether
/// `sym` is its (or a tied) most frequent entry.
fn share_and_predicted(row: &[u8], sym: usize) -> Option<(f64, bool)> {
    let total: u32 = row.iter().map(|&c| u32::from(c)).sum();
    if total == 0 {
        return None;
    }
    let here = row[sym];
    let most = row.iter().copied().max().unwrap_or(0);
    Some((f64::from(here) / f64::from(total), here > 0 && here == most))
}

/// A fixed range of `LEVELS` levels whose top level holds exactly `hi`.
fn fixed(lo: f64, hi: f64) -> RangeState {
    let width = hi - lo;
    let step = if width > 0.0 && width.is_finite() {
        width / (LEVELS - 1) as f64
    } else {
        // A constant series: one level per unit around it, so any move is new.
        1.0
    };
    RangeState::Fixed { min: lo, step }
}

impl Default for LevelNovelty {
    /// A member with no range (what a checkpoint from before the member
    /// existed restores to).
    fn default() -> Self {
        Self::new(None)
    }
}

#[cfg(test)]
mod tests;
