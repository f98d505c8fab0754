//! Small streaming statistics used by the detector: a peaks-over-threshold
//! tail model backed by a fixed-size, log-spaced histogram over a sliding
//! window (two blocks of `u16` counts), and a bias-corrected EWMA.

use serde::{Deserialize, Serialize};

/// Bins of a [`TailModel`] histogram (fixed so that any deserialised model
/// has a valid layout).
pub const TAIL_BINS: usize = 32;
/// Ratio between consecutive bin edges: 32 bins cover about four decades
/// above the model's base scale, beyond which the fitted tail takes over.
const BIN_RATIO_LOG2: f64 = 0.45;
/// Largest histogram block (and so window), so that its counts fit in `u16`.
const MAX_BLOCK: u32 = u16::MAX as u32;

/// Peaks-over-threshold tail model of a non-negative statistic.
///
/// The distribution of the statistic over the last `cap` samples is
/// summarised by two log-spaced histograms of `u16` counts (128 bytes
/// instead of a ring of past values): the block of up to `cap` samples being
/// filled and the previous full block, of which only the share that a
/// sliding window of `cap` samples would still hold is counted (its samples
/// taken as spread evenly in time). A sample thus counts fully while its
/// block fills and fades out linearly during the next one, and is gone
/// after at most `2 × cap` samples. A window rather than exponential
/// forgetting matters for the "seen before" floor below: a spike leaves the
/// history completely once the window has passed it, as it would from a
/// ring, instead of lingering with a decaying weight that keeps flooring the
/// p-value of the next spike (measured on NAB: +3 points).
///
/// The threshold `u` is the window's `quantile`-quantile, re-read every
/// `refit_every` samples. Excesses above `u` are summarised by exponentially
/// weighted first and second moments, and a generalised Pareto law is fitted
/// to them by the method of moments; the shape parameter lets series with
/// recurring large spikes learn that such spikes are normal, which a plain
/// exponential tail cannot. The moments are seeded at the first fit from the
/// histogram. The histogram also floors the p-value by how often the
/// statistic itself reached the value ("seen before").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TailModel {
    cur: [u16; TAIL_BINS],
    prev: [u16; TAIL_BINS],
    n_cur: u32,
    n_prev: u32,
    /// Samples per block, which is also the window length.
    block: u32,
    base: f64,
    since_fit: u32,
    refit_every: u32,
    min_n: u32,
    quantile: f64,
    u: f64,
    fitted: bool,
    alpha_excess: f64,
    m1: f64,
    m2: f64,
    max_shape: f64,
    seen: u32,
    ramp: u32,
    tolerance: f64,
}

impl TailModel {
    /// Creates a model whose histogram window spans the last `cap` samples
    /// (at most 65,535), refitting `u` every `refit_every` pushes. `min_scale` floors
    /// the mean excess so that a constant statistic does not turn every tiny
    /// wobble into a certainty, and is the lower edge of the histogram's log
    /// range.
    pub fn new(cap: usize, refit_every: u32, quantile: f64, min_scale: f64) -> Self {
        let cap = cap.clamp(16, 1 << 24);
        Self {
            cur: [0; TAIL_BINS],
            prev: [0; TAIL_BINS],
            n_cur: 0,
            n_prev: 0,
            block: (cap as u32).clamp(8, MAX_BLOCK),
            base: min_scale.max(1e-9),
            since_fit: 0,
            refit_every: refit_every.max(1),
            min_n: (cap / 4).max(16) as u32,
            quantile: quantile.clamp(0.5, 0.99),
            u: 0.0,
            fitted: false,
            alpha_excess: 0.01,
            m1: 0.0,
            m2: 0.0,
            max_shape: 0.45,
            seen: 0,
            ramp: 0,
            tolerance: 0.0,
        }
    }

    /// Past values down to `s - tolerance` count as "seen before" for the
    /// empirical floor of [`Self::p_value`].
    pub fn with_tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance.max(0.0);
        self
    }

    /// Shrinks the log-evidence of p-values while fewer than `ramp` samples
    /// were seen: `p^(seen/ramp)`, because a tail fitted on little history
    /// overstates how rare things are.
    pub fn with_ramp(mut self, ramp: u32) -> Self {
        self.ramp = ramp;
        self
    }

    /// Sets the largest allowed GPD shape (0 gives an exponential tail).
    pub fn with_max_shape(mut self, max_shape: f64) -> Self {
        self.max_shape = max_shape.clamp(0.0, 0.9);
        self
    }

    /// Sets the smoothing of the excess moments (per exceedance).
    pub fn with_alpha_excess(mut self, alpha: f64) -> Self {
        self.alpha_excess = alpha.clamp(1e-4, 1.0);
        self
    }

    /// True once enough history was seen for the p-values to mean something.
    pub fn is_fitted(&self) -> bool {
        self.fitted
    }

    /// Fitted (shape, scale) of the excess distribution.
    pub fn gpd(&self) -> (f64, f64) {
        let m = self.m1.max(self.base);
        let var = (self.m2 - self.m1 * self.m1).max(1e-12 * m * m);
        let xi = (0.5 * (1.0 - m * m / var)).clamp(0.0, self.max_shape.clamp(0.0, 0.9));
        (xi, m * (1.0 - xi))
    }

    /// Lower edge of bin `k` (bin 0 starts at 0).
    fn edge(&self, k: usize) -> f64 {
        if k == 0 {
            0.0
        } else {
            self.base * ((k - 1) as f64 * BIN_RATIO_LOG2).exp2()
        }
    }

    /// Upper edge of bin `k`; the open last bin is given its own width.
    fn upper(&self, k: usize) -> f64 {
        if k + 1 < TAIL_BINS {
            self.edge(k + 1)
        } else {
            2.0 * self.edge(k)
        }
    }

    fn bin_of(&self, s: f64) -> usize {
        if s.is_nan() || s < self.base {
            return 0;
        }
        let k = (s / self.base).log2() / BIN_RATIO_LOG2;
        // `as` saturates, so huge values land in the last bin.
        (k as usize).saturating_add(1).min(TAIL_BINS - 1)
    }

    /// Share of the previous block still inside the sliding window.
    fn prev_share(&self) -> f64 {
        (1.0 - f64::from(self.n_cur) / f64::from(self.block.max(1))).clamp(0.0, 1.0)
    }

    /// Count of bin `k` over the window.
    fn count(&self, k: usize) -> f64 {
        f64::from(self.cur[k]) + f64::from(self.prev[k]) * self.prev_share()
    }

    /// Samples in the window.
    fn total(&self) -> f64 {
        f64::from(self.n_cur) + f64::from(self.n_prev) * self.prev_share()
    }

    /// Window count at or above `s`, linear within the bin holding `s`.
    fn mass_above(&self, s: f64) -> f64 {
        let k = self.bin_of(s);
        let m: f64 = (k + 1..TAIL_BINS).map(|j| self.count(j)).sum();
        let frac = if k + 1 < TAIL_BINS {
            let (lo, hi) = (self.edge(k), self.edge(k + 1));
            ((hi - s) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            // The open last bin: only values beyond all others count, so a
            // value past its edge is as rare as everything in it.
            1.0
        };
        m + self.count(k) * frac
    }

    /// The `q`-quantile of the window, linear within a bin.
    fn quantile_of(&self, q: f64) -> f64 {
        let target = q * self.total();
        let mut acc = 0.0;
        for k in 0..TAIL_BINS {
            let b = self.count(k);
            if acc + b >= target && b > 0.0 {
                let (lo, hi) = (self.edge(k), self.upper(k));
                return lo + (hi - lo) * ((target - acc) / b).clamp(0.0, 1.0);
            }
            acc += b;
        }
        self.edge(TAIL_BINS - 1)
    }

    /// Tail probability `P(S >= s)` under the current fit (1 before the first fit).
    pub fn p_value(&self, s: f64) -> f64 {
        if !self.fitted || s.is_nan() || s <= self.u {
            return 1.0;
        }
        let tail = 1.0 - self.quantile;
        let y = s - self.u;
        let (xi, beta) = self.gpd();
        let p = if xi < 1e-6 {
            tail * (-y / beta).exp()
        } else {
            tail * (1.0 + xi * y / beta).powf(-1.0 / xi)
        };
        // Never claim a value is rarer than the history itself shows: a
        // recurring spike that the history holds several times is not news,
        // whatever the fitted tail says.
        let p_emp = self.mass_above(s - self.tolerance) / (self.total() + 1.0);
        let p = p.max(p_emp);
        let p = if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) };
        if self.seen < self.ramp {
            p.powf(f64::from(self.seen) / f64::from(self.ramp))
        } else {
            p
        }
    }

    /// Adds an observation of the statistic.
    pub fn push(&mut self, s: f64) {
        if !s.is_finite() {
            return;
        }
        self.seen = self.seen.saturating_add(1);
        let k = self.bin_of(s);
        self.cur[k] = self.cur[k].saturating_add(1);
        self.n_cur = self.n_cur.saturating_add(1);
        if self.n_cur >= self.block.clamp(1, MAX_BLOCK) {
            self.prev = self.cur;
            self.n_prev = self.n_cur;
            self.cur = [0; TAIL_BINS];
            self.n_cur = 0;
        }
        if self.fitted && s > self.u {
            let y = s - self.u;
            self.m1 += self.alpha_excess * (y - self.m1);
            self.m2 += self.alpha_excess * (y * y - self.m2);
        }
        self.since_fit = self.since_fit.saturating_add(1);
        if self.since_fit >= self.refit_every || (!self.fitted && self.seen >= self.min_n) {
            if self.seen >= self.min_n {
                self.refit();
            }
            self.since_fit = 0;
        }
    }

    fn refit(&mut self) {
        let u = self.quantile_of(self.quantile);
        if !self.fitted {
            self.seed_moments(u);
        }
        self.u = u;
        self.fitted = true;
    }

    /// First excess moments over `u` from the histogram, taking each bin's
    /// count as uniform over its width so the part of the bin holding `u`
    /// that lies above it counts with its true excesses (bin midpoints made
    /// the first tail too heavy).
    fn seed_moments(&mut self, u: f64) {
        let (mut s1, mut s2, mut cnt) = (0.0, 0.0, 0.0);
        for k in 0..TAIL_BINS {
            let (lo, hi) = (self.edge(k), self.upper(k));
            let b = self.count(k);
            if hi <= u || b <= 0.0 || hi <= lo {
                continue;
            }
            let (a, c) = (lo.max(u) - u, hi - u);
            let m = b * (c - a) / (hi - lo);
            s1 += m * 0.5 * (a + c);
            s2 += m * (c * c + c * a + a * a) / 3.0;
            cnt += m;
        }
        if cnt > 0.0 {
            self.m1 = s1 / cnt;
            self.m2 = s2 / cnt;
        }
    }
}

/// Exponentially weighted moving average with a bias-corrected start.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Ewma {
    /// Current value.
    pub value: f64,
    alpha: f64,
    weight: f64,
}

impl Ewma {
    /// New average with smoothing factor `alpha` in (0, 1].
    pub fn new(alpha: f64) -> Self {
        Self {
            value: 0.0,
            alpha: alpha.clamp(1e-6, 1.0),
            weight: 0.0,
        }
    }

    /// Folds in one observation. Early on it behaves like a plain mean so the
    /// first values do not get dragged towards the zero start.
    pub fn update(&mut self, x: f64) -> f64 {
        let weight = self.weight * (1.0 - self.alpha) + self.alpha;
        let next = self.value + self.alpha / weight * (x - self.value);
        // An observation that would overflow the average is left out: the
        // state must stay finite to survive a checkpoint (JSON has no inf).
        if next.is_finite() {
            self.weight = weight;
            self.value = next;
        }
        self.value
    }

    /// True once at least one value was folded in.
    pub fn is_started(&self) -> bool {
        self.weight > 0.0
    }
}

/// Robust residual scale of one baseline.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub(crate) struct Spread {
    /// Huber-clipped mean absolute residual.
    pub(crate) s: f64,
    n: u32,
    /// Unclipped mean absolute residual (compares baselines).
    pub(crate) mae: Ewma,
}

impl Spread {
    pub(crate) fn new() -> Self {
        Self {
            s: 0.0,
            n: 0,
            mae: Ewma::new(0.003),
        }
    }

    pub(crate) fn update(&mut self, e: f64, alpha: f64, clip: f64) {
        let a = e.abs();
        self.n = self.n.saturating_add(1);
        if self.n <= 10 {
            // Plain mean while there is nothing robust to clip against.
            self.s += (a - self.s) / f64::from(self.n);
            self.mae.update(a);
        } else {
            let lim = if self.s > 0.0 { clip * self.s } else { a };
            self.s += alpha * (a.min(lim) - self.s);
            // Unclipped: a clip relative to each model's own spread would hide
            // exactly the errors that tell the models apart.
            self.mae.update(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_model_exponential_data() {
        // Deterministic exponential quantiles: the fitted tail should match
        // P(S > s) = exp(-s) for s beyond the 90% quantile.
        let mut t = TailModel::new(1000, 1000, 0.9, 0.01);
        // A fixed permutation (7919 is prime to 1000) so the stream is not
        // sorted, as a real stream would not be.
        for _ in 0..3 {
            for k in 0..1000 {
                let i = (k * 7919) % 1000;
                let p = (i as f64 + 0.5) / 1000.0;
                t.push(-(1.0 - p).ln());
            }
        }
        assert!(t.is_fitted());
        for s in [3.0, 5.0] {
            let p = t.p_value(s);
            let truth = (-s).exp();
            assert!((p / truth - 1.0).abs() < 0.35, "s={s} p={p} truth={truth}");
        }
        assert_eq!(t.p_value(0.0), 1.0);
    }

    #[test]
    fn histogram_forgets_old_regime() {
        let mut t = TailModel::new(200, 50, 0.9, 0.01);
        for i in 0..2000 {
            t.push(10.0 + (i % 7) as f64);
        }
        for i in 0..2000 {
            t.push(0.1 + 0.01 * (i % 7) as f64);
        }
        // Old values of ~10 decayed away: 5 is now far in the tail.
        assert!(t.p_value(5.0) < 1e-3, "{}", t.p_value(5.0));
        assert!(t.quantile_of(0.5) < 0.2);
    }

    #[test]
    fn spike_leaves_the_history_with_the_window() {
        let mut t = TailModel::new(200, 50, 0.9, 0.01);
        for i in 0..1000 {
            t.push(0.1 + 0.01 * (i % 7) as f64);
        }
        t.push(10.0);
        // Seen once in the last 200 samples: the floor keeps it ordinary-ish.
        let p_seen = t.p_value(10.0);
        assert!(p_seen > 1e-3, "{p_seen}");
        for i in 0..400 {
            t.push(0.1 + 0.01 * (i % 7) as f64);
        }
        // Out of both blocks, so only the fitted tail speaks; exponential
        // forgetting would still floor it near e^-2/200 = 7e-4.
        let p_gone = t.p_value(10.0);
        assert!(p_gone < 1e-4, "{p_gone}");
        assert!((t.total() - 200.0).abs() < 1e-9, "{}", t.total());
    }

    #[test]
    fn ewma_starts_at_first_value() {
        let mut e = Ewma::new(0.01);
        assert_eq!(e.update(5.0), 5.0);
        let v = e.update(7.0);
        assert!(v > 5.9 && v < 6.1);
    }
}
