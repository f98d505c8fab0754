//! The per-series streaming detector: an ensemble of a robust level/spread
//! model, automatically detected daily/weekly seasonal baselines, change-point
//! statistics (CUSUM level shifts, variance change, slow drift) and a combiner
//! that turns every statistic into a tail probability.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::DetectorConfig;
use crate::likelihood::Likelihood;
use crate::novelty::LevelNovelty;
use crate::seasonal::{DAY_NS, SeasonalProfile, WEEK_NS};
use crate::stats::{Ewma, Spread, TailModel};

/// Direction of a deviation from the expected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Above the expected value.
    Up,
    /// Below the expected value.
    Down,
    /// No deviation, or one without a sign (variance change).
    None,
}

/// Result of one [`SeriesDetector::update`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Anomaly score in [0, 1): `L/(L + score_half)` with `L = log10(1/p)` of
    /// the combined tail probability `p`, so 0.5 means `p = 1e-6` by default.
    pub score: f64,
    /// Sign of the deviation that drove the score.
    pub direction: Direction,
    /// Value the baseline expected at this timestamp.
    pub expected: f64,
}

/// Snapshot of internals returned by [`SeriesDetector::diagnostics`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diagnostics {
    /// Baseline in use: `flat`, `daily` or `weekly`.
    pub baseline: &'static str,
    /// Last autocorrelation at the daily lag.
    pub acf_daily: f64,
    /// Last autocorrelation at the weekly lag.
    pub acf_weekly: f64,
    /// Robust spread of the residuals of the baseline in use.
    pub spread: f64,
    /// Tail probabilities of the last point: point, shift, variance, drift.
    pub p_values: [f64; 4],
    /// Ensemble statistics of the last point: |z|, CUSUM, variance ratio, drift.
    pub stats: [f64; 4],
    /// (shape, scale) of the tail fit of the point statistic.
    pub point_tail: (f64, f64),
}

/// Which baseline is currently used for residuals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Baseline {
    Flat,
    Daily,
    Weekly,
}

/// Statistic indices of the ensemble.
const POINT: usize = 0;
const SHIFT: usize = 1;
const DRIFT: usize = 3;
const N_STATS: usize = 4;

/// Clip (in spreads) of the residual fed to the change statistics: one wild
/// point must not fake a level shift, but a real shift of several spreads
/// should reach the CUSUM at nearly full size so it is flagged within a few
/// points (NAB, mean over tail windows 768/1024/1536: clip 3 → 49.1,
/// 4 → 53.2, 5 → 53.6, 6 → 54.4, 7 → 51.5, 8 → 51.5; 5 sits mid-plateau).
const CHANGE_CLIP: f64 = 5.0;

/// Floors of the tail scale per statistic, in the statistic's own units.
const MIN_SCALE: [f64; N_STATS] = [0.02, 0.02, 0.01, 0.02];

/// Streaming anomaly detector for one metric series.
///
/// Per point:
/// 1. **Baselines.** A flat robust level (Huber-clipped EWMA) and a daily and
///    a weekly seasonal profile (per coarse phase bin, the median of the last
///    `season_depth` periods plus a deseasonalised level). Periods are
///    switched on by a streaming autocorrelation of the profile's bucket
///    means at the period lag (and only if it beats the half-period lag,
///    which rules out trends); the baseline
///    in use is the eligible one with the lowest long-run absolute error, with
///    hysteresis.
/// 2. **Statistics** on the standardised residual `z` (robust spread, or the
///    seasonal bin's own scatter): point outlier `|z|` (soft-capped), two-sided
///    CUSUM (level shifts; a confirmed shift re-bases the active baseline),
///    short/long residual magnitude ratio (variance change) and a slow EWMA of
///    `z` (drift).
/// 3. **Combiner.** Each statistic has a [`crate::stats::TailModel`] (GPD
///    tail above a running quantile, floored by how often the history itself
///    reached the value); the smallest tail probability times the number of
///    statistics (Bonferroni) is mapped to `L/(L + score_half)` with
///    `L = log10(1/p)`.
/// 4. **Episode suppression.** Only a new high of a decaying score envelope is
///    passed at full strength, so an episode yields one strong score.
///
/// Work per point is O(1) (tail quantiles re-read every `tail_refit` points,
/// period checks once per day) and memory is bounded by the configuration:
/// about 3.7 KB with defaults (see [`Self::state_size_bytes`]), because the
/// tail models are two 32-bin `u16` window histograms and the profiles hold
/// `bins × season_depth` `f32`. Overflowing inputs that would poison the
/// state with non-finite numbers restart it instead. The whole state is serialisable, so a
/// detector can be checkpointed as JSON and restored bit-exactly.
///
/// The configuration is shared (one per rule, not one per series) and is not
/// part of the serialised state: a deserialised detector runs with the
/// defaults until [`Self::set_config`] attaches the configuration it belongs
/// to. That keeps 100,000 series from carrying 100,000 copies of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesDetector {
    #[serde(skip)]
    cfg: Arc<DetectorConfig>,
    n: u64,
    level: f64,
    scale: Ewma,
    spreads: [Spread; 3],
    daily: SeasonalProfile,
    weekly: SeasonalProfile,
    baseline: Baseline,
    last_day_check: u64,
    cusum_pos: f64,
    cusum_neg: f64,
    shift_resid: Ewma,
    var_fast: Ewma,
    var_slow: Ewma,
    drift: Ewma,
    tails: [TailModel; N_STATS],
    refractory_floor: f64,
    likelihood: Likelihood,
    last_p: [f64; N_STATS],
    last_stats: [f64; N_STATS],
    #[serde(default)]
    novelty: LevelNovelty,
}

impl SeriesDetector {
    /// Creates a detector with the given configuration.
    pub fn new(cfg: &DetectorConfig) -> Self {
        Self::with_shared_config(Arc::new(cfg.clone()))
    }

    /// Creates a detector with a configuration shared with other detectors.
    pub fn with_shared_config(shared: Arc<DetectorConfig>) -> Self {
        let cfg = &*shared;
        let tails = new_tails(cfg);
        Self {
            n: 0,
            level: 0.0,
            scale: Ewma::new(0.01),
            spreads: [Spread::new(); 3],
            daily: SeasonalProfile::new(DAY_NS, cfg.daily_bins, cfg.season_depth),
            weekly: SeasonalProfile::new(WEEK_NS, cfg.weekly_bins, cfg.season_depth),
            baseline: Baseline::Flat,
            last_day_check: 0,
            cusum_pos: 0.0,
            cusum_neg: 0.0,
            shift_resid: Ewma::new(0.1),
            var_fast: Ewma::new(cfg.var_alpha_fast),
            var_slow: Ewma::new(cfg.var_alpha_slow),
            drift: Ewma::new(cfg.drift_alpha),
            tails,
            refractory_floor: 0.0,
            likelihood: Likelihood::default(),
            last_p: [1.0; N_STATS],
            last_stats: [0.0; N_STATS],
            novelty: LevelNovelty::new(cfg.value_range),
            cfg: shared.clone(),
        }
    }

    /// Attaches the configuration of a deserialised detector. The state's
    /// sizes (tail windows, phase bins) stay as they were built: a changed
    /// size takes effect for new series.
    pub fn set_config(&mut self, cfg: Arc<DetectorConfig>) {
        self.novelty.declare(cfg.value_range);
        self.cfg = cfg;
    }

    /// The configuration this detector runs with.
    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// Internal state useful to explain a score: the baseline in use, the
    /// autocorrelation at the daily and weekly lags, and the current spread.
    pub fn diagnostics(&self) -> Diagnostics {
        Diagnostics {
            baseline: match self.baseline {
                Baseline::Flat => "flat",
                Baseline::Daily => "daily",
                Baseline::Weekly => "weekly",
            },
            acf_daily: self.daily.acf,
            acf_weekly: self.weekly.acf,
            spread: self.spreads[self.baseline as usize].s,
            p_values: self.last_p,
            stats: self.last_stats,
            point_tail: self.tails[POINT].gpd(),
        }
    }

    /// Number of finite points seen.
    pub fn points_seen(&self) -> u64 {
        self.n
    }

    fn expected_at(&self, ts_ns: i64, b: Baseline) -> f64 {
        match b {
            Baseline::Flat => self.level,
            Baseline::Daily => self.daily.expected(ts_ns),
            Baseline::Weekly => self.weekly.expected(ts_ns),
        }
    }

    fn spread_floor(&self) -> f64 {
        (1e-3 * self.scale.value.abs()).max(1e-9)
    }

    /// Feeds one point and returns its anomaly score. Non-finite values are
    /// ignored (score 0) and leave the state untouched.
    pub fn update(&mut self, ts_ns: i64, value: f64) -> Score {
        if !value.is_finite() {
            return Score {
                score: 0.0,
                direction: Direction::None,
                expected: self.expected_at(ts_ns, self.baseline),
            };
        }
        let x = value;
        let mut s = self.score_point(ts_ns, x);
        if self.cfg.novelty {
            let cfg = &self.cfg;
            let novel = cfg.novelty_weight
                * self
                    .novelty
                    .update(x, cfg.novelty_learn_points, cfg.novelty_rest);
            if novel > s.score {
                // The member has no sign of its own; the side of the
                // baseline the value is on lets direction filters apply.
                s.score = novel;
                s.direction = if x >= s.expected {
                    Direction::Up
                } else {
                    Direction::Down
                };
            }
        }
        if !self.is_sane() {
            // Overflowing inputs (or a hand-edited checkpoint) poisoned the
            // state with non-finite numbers; relearning beats emitting
            // garbage forever.
            *self = Self::with_shared_config(self.cfg.clone());
            return Score {
                score: 0.0,
                direction: Direction::None,
                expected: if s.expected.is_finite() {
                    s.expected
                } else {
                    x
                },
            };
        }
        s
    }

    fn is_sane(&self) -> bool {
        self.level.is_finite()
            && self.scale.value.is_finite()
            && self
                .spreads
                .iter()
                .all(|s| s.s.is_finite() && s.mae.value.is_finite())
            && self.daily.is_finite()
            && self.weekly.is_finite()
            && self.refractory_floor.is_finite()
    }

    /// Bytes this detector occupies in memory (struct plus heap buffers).
    pub fn state_size_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.daily.heap_bytes()
            + self.weekly.heap_bytes()
            + self.novelty.heap_bytes()
    }

    fn score_point(&mut self, ts_ns: i64, x: f64) -> Score {
        if self.n == 0 {
            self.level = x;
        }
        self.n = self.n.saturating_add(1);
        self.scale.update(x);

        let (od, dd) = self.daily.offset_with_dev(ts_ns);
        let (ow, dw) = self.weekly.offset_with_dev(ts_ns);
        // Immature profiles cannot be selected; their error tracking sees
        // the flat level until then.
        let exp = [
            self.level,
            if self.daily.is_mature(ts_ns) {
                self.daily.level + od
            } else {
                self.level
            },
            if self.weekly.is_mature(ts_ns) {
                self.weekly.level + ow
            } else {
                self.level
            },
        ];
        let hints = [od, ow];
        let active = self.baseline as usize;
        let expected = exp[active];
        let e = x - expected;
        let mut s = self.spreads[active].s.max(self.spread_floor());
        let bin_dev = match self.baseline {
            Baseline::Flat => None,
            Baseline::Daily => dd,
            Baseline::Weekly => dw,
        };
        if let Some(d) = bin_dev {
            // The phase's own scatter, floored by part of the global spread
            // because a few periods can agree by chance.
            s = (d * self.cfg.bin_dev_weight).max(self.cfg.bin_dev_floor * s);
        }
        let z = e / s;

        // Change statistics on the standardised residual.
        let zc = z.clamp(-CHANGE_CLIP, CHANGE_CLIP);
        let k = self.cfg.cusum_k;
        self.cusum_pos = (self.cusum_pos + zc - k).max(0.0);
        self.cusum_neg = (self.cusum_neg - zc - k).max(0.0);
        self.shift_resid.update(e);
        let vf = self.var_fast.update(zc.abs());
        let vs = self.var_slow.update(zc.abs());
        let var_stat = ((vf + 0.05) / (vs + 0.05)).ln().abs();
        let d = self.drift.update(zc);
        let a = self.cfg.drift_alpha;
        let drift_stat = d.abs() * ((2.0 - a) / a).sqrt();
        let stats = [
            // Soft-capped: beyond a few dozen spreads the size of a deviation
            // says little (the spread may sit at its floor), so it only counts
            // logarithmically; with the tail model's empirical tolerance a
            // recurring "huge" spike is then recognised as recurring, while one
            // several times larger than any before still stands out.
            soft_cap(z.abs(), self.cfg.z_cap),
            self.cusum_pos.max(self.cusum_neg),
            var_stat,
            drift_stat,
        ];

        self.last_stats = stats;
        let mut p_min = 1.0f64;
        let mut which = POINT;
        let enabled = [
            self.cfg.use_point,
            self.cfg.use_shift,
            self.cfg.use_variance,
            self.cfg.use_drift,
        ];
        for (i, (t, &st)) in self.tails.iter_mut().zip(stats.iter()).enumerate() {
            let p = if enabled[i] { t.p_value(st) } else { 1.0 };
            // Single-point outliers are the commonest false alarm; their
            // evidence can be discounted against the sustained statistics.
            let p = if i == POINT {
                (p * self.cfg.point_penalty).min(1.0)
            } else {
                p
            };
            self.last_p[i] = p;
            if p < p_min {
                p_min = p;
                which = i;
            }
            t.push(st);
        }
        let direction = match which {
            POINT => sign_dir(e),
            SHIFT => {
                if self.cusum_pos >= self.cusum_neg {
                    Direction::Up
                } else {
                    Direction::Down
                }
            }
            DRIFT => sign_dir(d),
            // A variance jump caused by a shift still has a side; the recent
            // residual mean tells which.
            _ => sign_dir(self.shift_resid.value),
        };

        self.update_baselines(ts_ns, x, &exp, hints);

        if self.cusum_pos.max(self.cusum_neg) > self.cfg.cusum_reset {
            // A confirmed level shift: move every baseline to the new level
            // instead of letting the clipped updates crawl there.
            // Only the baseline whose residuals confirmed the shift moves:
            // the others have different residuals (a flat baseline on a
            // seasonal series "shifts" at every seasonal edge).
            let delta = self.shift_resid.value;
            match self.baseline {
                Baseline::Flat => self.level += delta,
                Baseline::Daily => self.daily.rebase(delta),
                Baseline::Weekly => self.weekly.rebase(delta),
            }
            self.cusum_pos = 0.0;
            self.cusum_neg = 0.0;
        }

        let k = enabled.iter().filter(|e| **e).count().max(1) as f64;
        let p = (p_min * k / self.cfg.sensitivity.max(1e-9)).clamp(1e-300, 1.0);
        // A saturating map rather than a clamp: a clamp makes every extreme
        // point tie at 1.0, which leaves no way to rank them.
        let l = -p.log10();
        let raw = (l / (l + self.cfg.score_half)).clamp(0.0, 1.0);
        let w = self.cfg.likelihood_weight.clamp(0.0, 1.0);
        let mut score = if w > 0.0 {
            let lik = self.likelihood.update(
                raw,
                self.cfg.likelihood_long,
                self.cfg.likelihood_short,
                self.cfg.likelihood_learn,
            );
            let lik = (lik / self.cfg.likelihood_decades.max(1e-9)).clamp(0.0, 1.0);
            (1.0 - w) * raw + w * lik
        } else {
            raw
        };
        if !score.is_finite() {
            score = 0.0;
        }
        if self.n <= u64::from(self.cfg.warmup) {
            score = 0.0;
        }
        score = self.apply_refractory(score);
        let direction = if score > 0.0 {
            direction
        } else {
            Direction::None
        };
        Score {
            score,
            direction,
            expected,
        }
    }

    /// Episode suppression: only a new high of the recent score envelope is
    /// reported at full strength. The envelope decays linearly by
    /// `episode_decay` per point; scores below it are multiplied by
    /// `episode_damp`. An anomaly episode thus yields one strong score at its
    /// onset instead of a run, which is what matters for alerting (one alert
    /// per episode) and for NAB (only the earliest detection counts, later
    /// ones outside the window are false positives).
    fn apply_refractory(&mut self, score: f64) -> f64 {
        if self.cfg.episode_decay <= 0.0 {
            return score;
        }
        let envelope = self.refractory_floor;
        if score > envelope {
            // A new high must beat this one by a margin, so a slowly rising
            // run of scores does not pass point after point.
            self.refractory_floor = score + self.cfg.episode_margin;
            score
        } else {
            self.refractory_floor = (envelope - self.cfg.episode_decay).max(0.0);
            score * self.cfg.episode_damp
        }
    }

    fn update_baselines(&mut self, ts_ns: i64, x: f64, exp: &[f64; 3], hints: [f64; 2]) {
        let alpha = self.cfg.alpha_level;
        let clip = self.cfg.clip;
        let floor = self.spread_floor();
        for (i, &ex) in exp.iter().enumerate() {
            self.spreads[i].update(x - ex, self.cfg.alpha_spread, clip);
        }
        let s0 = self.spreads[0].s.max(floor);
        let e0 = (x - self.level).clamp(-clip * s0, clip * s0);
        self.level += alpha * e0;
        if !self.cfg.seasonal {
            return;
        }
        let sd = self.spreads[1].s.max(floor) * clip;
        self.daily.update(ts_ns, x, alpha, sd, hints[0]);
        let sw = self.spreads[2].s.max(floor) * clip;
        self.weekly.update(ts_ns, x, alpha, sw, hints[1]);
        let closed = self.daily.closed();
        if closed >= self.last_day_check.saturating_add(48) {
            self.last_day_check = closed;
            self.check_periods();
        }
        self.choose_baseline(ts_ns);
    }

    fn check_periods(&mut self) {
        let thr = self.cfg.acf_threshold;
        for prof in [&mut self.daily, &mut self.weekly] {
            let Some((full, half)) = prof.acf_pair() else {
                prof.detected = false;
                continue;
            };
            prof.acf = full;
            // A trend or random walk also has a high autocorrelation at the
            // period lag, but then it is even higher at half the lag.
            prof.detected = full >= thr && full > half;
        }
    }

    fn choose_baseline(&mut self, ts_ns: i64) {
        let eligible = |b: Baseline| match b {
            Baseline::Flat => true,
            Baseline::Daily => self.daily.detected && self.daily.is_mature(ts_ns),
            Baseline::Weekly => self.weekly.detected && self.weekly.is_mature(ts_ns),
        };
        let err = |b: Baseline| self.spreads[b as usize].mae.value;
        let mut cur = self.baseline;
        if !eligible(cur) {
            cur = Baseline::Flat;
        }
        // Hysteresis: switching needs a clear gain, so the baseline does not
        // flap while an anomaly inflates one model's error.
        let mut best = cur;
        let mut best_err = err(cur) * self.cfg.seasonal_gain;
        for b in [Baseline::Flat, Baseline::Daily, Baseline::Weekly] {
            if b != cur && eligible(b) && err(b) < best_err {
                best = b;
                best_err = err(b);
            }
        }
        if best != self.baseline {
            self.baseline = best;
            // The residuals of a different baseline follow a different law;
            // tails learned on the old one would misjudge them.
            self.reset_statistics();
        }
    }

    fn reset_statistics(&mut self) {
        let cfg = &self.cfg;
        self.tails = new_tails(cfg);
        self.cusum_pos = 0.0;
        self.cusum_neg = 0.0;
        self.shift_resid = Ewma::new(0.1);
        self.var_fast = Ewma::new(cfg.var_alpha_fast);
        self.var_slow = Ewma::new(cfg.var_alpha_slow);
        self.drift = Ewma::new(cfg.drift_alpha);
    }
}

fn new_tails(cfg: &DetectorConfig) -> [TailModel; N_STATS] {
    std::array::from_fn(|i| {
        let t = TailModel::new(
            cfg.tail_history,
            cfg.tail_refit,
            cfg.tail_quantile,
            MIN_SCALE[i],
        )
        .with_alpha_excess(cfg.tail_alpha_excess)
        .with_max_shape(cfg.tail_max_shape)
        .with_ramp(cfg.tail_ramp);
        if i == POINT {
            t.with_tolerance(cfg.point_tolerance)
        } else {
            t
        }
    })
}

/// Identity up to `cap`, then `cap + ln(v / cap)`.
fn soft_cap(v: f64, cap: f64) -> f64 {
    if v <= cap || cap <= 0.0 {
        v
    } else {
        cap + (v / cap).ln()
    }
}

fn sign_dir(v: f64) -> Direction {
    if v > 0.0 {
        Direction::Up
    } else if v < 0.0 {
        Direction::Down
    } else {
        Direction::None
    }
}

#[cfg(test)]
#[path = "detector_tests.rs"]
mod tests;
