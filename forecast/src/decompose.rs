//! Autocorrelation, the M4 seasonality test and classical decomposition.

/// Critical value of the one-sided 90% test M4 uses for seasonality.
const TCRIT_90: f64 = 1.645;

/// Sample autocorrelation of `y` at `lag` (the textbook estimator with the
/// full-sample variance in the denominator, as R's `acf` and M4 compute it).
///
/// Returns 0 for a constant series or a lag at or beyond the length.
pub fn acf(y: &[f64], lag: usize) -> f64 {
    let n = y.len();
    if lag >= n || n == 0 {
        return 0.0;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    acf_with_mean(y, lag, mean, variance_sum(y, mean))
}

fn variance_sum(y: &[f64], mean: f64) -> f64 {
    y.iter().map(|v| (v - mean) * (v - mean)).sum()
}

fn acf_with_mean(y: &[f64], lag: usize, mean: f64, denom: f64) -> f64 {
    if denom <= 0.0 || !denom.is_finite() {
        return 0.0;
    }
    let num: f64 = y[lag..]
        .iter()
        .zip(y)
        .map(|(a, b)| (a - mean) * (b - mean))
        .sum();
    num / denom
}

/// Result of the M4 seasonality test for one period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeasonalityTest {
    /// Autocorrelation at the seasonal lag.
    pub acf: f64,
    /// Bartlett limit the autocorrelation has to exceed.
    pub limit: f64,
    /// Whether the series counts as seasonal with this period.
    pub seasonal: bool,
}

/// The M4 seasonality test: the series is seasonal with period `m` when it has
/// at least `3m` points and `|r_m| > 1.645·sqrt((1 + 2·Σ_{k<m} r_k²)/n)`.
///
/// This follows the R reference implementation of the M4 benchmarks (sum of
/// *squared* autocorrelations; the Python port adds `r_1` unsquared, a slip we
/// do not copy). Periods below 2 are never seasonal.
pub fn seasonality_test(y: &[f64], m: usize) -> SeasonalityTest {
    let n = y.len();
    if m < 2 || n < 3 * m {
        return SeasonalityTest {
            acf: 0.0,
            limit: f64::INFINITY,
            seasonal: false,
        };
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let denom = variance_sum(y, mean);
    let mut sum_sq = 0.0;
    for k in 1..m {
        let r = acf_with_mean(y, k, mean, denom);
        sum_sq += r * r;
    }
    let r_m = acf_with_mean(y, m, mean, denom);
    let limit = TCRIT_90 * ((1.0 + 2.0 * sum_sq) / n as f64).sqrt();
    SeasonalityTest {
        acf: r_m,
        limit,
        seasonal: r_m.abs() > limit && r_m.is_finite(),
    }
}

/// How seasonal indices combine with the rest of the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeasonKind {
    /// `y = trend · season` (indices average to 1).
    Multiplicative,
    /// `y = trend + season` (indices average to 0).
    Additive,
}

/// Seasonal indices of a classical decomposition, one per position in the cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Seasonal {
    /// Period.
    pub period: usize,
    /// Combination rule.
    pub kind: SeasonKind,
    /// Index for cycle position `t % period`, where `t` counts from the first
    /// point of the history.
    pub indices: Vec<f64>,
}

impl Seasonal {
    /// Index applying to absolute time `t` (0 = first history point).
    #[inline]
    pub fn index(&self, t: usize) -> f64 {
        self.indices[t % self.period]
    }

    /// Removes the seasonal effect from the value observed at time `t`.
    #[inline]
    pub fn remove(&self, t: usize, v: f64) -> f64 {
        match self.kind {
            SeasonKind::Multiplicative => v / self.index(t),
            SeasonKind::Additive => v - self.index(t),
        }
    }

    /// Puts the seasonal effect back onto a deseasonalised value at time `t`.
    #[inline]
    pub fn apply(&self, t: usize, v: f64) -> f64 {
        match self.kind {
            SeasonKind::Multiplicative => v * self.index(t),
            SeasonKind::Additive => v + self.index(t),
        }
    }

    /// The same indices for a series that starts `offset` steps later.
    pub fn shifted(&self, offset: usize) -> Seasonal {
        let m = self.period;
        Seasonal {
            period: m,
            kind: self.kind,
            indices: (0..m).map(|p| self.indices[(p + offset) % m]).collect(),
        }
    }

    /// Deseasonalises a whole history.
    pub fn deseasonalise(&self, y: &[f64]) -> Vec<f64> {
        y.iter()
            .enumerate()
            .map(|(t, &v)| self.remove(t, v))
            .collect()
    }
}

/// Classical decomposition (R's `decompose`): a centred moving average of
/// order `m` (2×m for even `m`) gives the trend, the detrended values are
/// averaged per cycle position and normalised to mean 1 (multiplicative) or
/// 0 (additive).
///
/// Returns `None` when there are fewer than two full cycles or the indices are
/// not finite and positive (multiplicative on data with a zero trend).
pub fn classical(y: &[f64], m: usize, kind: SeasonKind) -> Option<Seasonal> {
    let n = y.len();
    if m < 2 || n < 2 * m {
        return None;
    }
    let half = m / 2;
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    // Rolling window sum keeps the moving average O(n) rather than O(n·m).
    let even = m.is_multiple_of(2);
    let width = if even { m + 1 } else { m };
    let mut window: f64 = y[..width].iter().sum();
    for c in half..(n - half) {
        let lo = c - half;
        if c > half {
            window += y[lo + width - 1] - y[lo - 1];
        }
        let trend = if even {
            (window - 0.5 * y[lo] - 0.5 * y[lo + width - 1]) / m as f64
        } else {
            window / m as f64
        };
        let detrended = match kind {
            SeasonKind::Multiplicative => y[c] / trend,
            SeasonKind::Additive => y[c] - trend,
        };
        if detrended.is_finite() {
            sums[c % m] += detrended;
            counts[c % m] += 1;
        }
    }
    if counts.contains(&0) {
        return None;
    }
    let mut indices: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| s / c as f64)
        .collect();
    let mean = indices.iter().sum::<f64>() / m as f64;
    match kind {
        SeasonKind::Multiplicative => {
            if !(mean.is_finite() && mean > 0.0) {
                return None;
            }
            indices.iter_mut().for_each(|v| *v /= mean);
            if indices.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                return None;
            }
        }
        SeasonKind::Additive => {
            if !mean.is_finite() {
                return None;
            }
            indices.iter_mut().for_each(|v| *v -= mean);
        }
    }
    Some(Seasonal {
        period: m,
        kind,
        indices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acf_hand_computed() {
        // mean 2.5, deviations -1.5 -0.5 0.5 1.5, denom 5.
        // lag 1: (-1.5*-0.5)+(-0.5*0.5)+(0.5*1.5) = 0.75-0.25+0.75 = 1.25 -> 0.25
        let y = [1.0, 2.0, 3.0, 4.0];
        assert!((acf(&y, 1) - 0.25).abs() < 1e-12);
        // lag 2: (-1.5*0.5)+(-0.5*1.5) = -1.5 -> -0.3
        assert!((acf(&y, 2) + 0.3).abs() < 1e-12);
        assert_eq!(acf(&[3.0, 3.0, 3.0], 1), 0.0);
        assert_eq!(acf(&y, 9), 0.0);
    }

    #[test]
    fn seasonal_series_passes_test_and_noise_like_does_not() {
        let y: Vec<f64> = (0..96).map(|t| [1.0, 5.0, 9.0, 5.0][t % 4]).collect();
        let t = seasonality_test(&y, 4);
        assert!(t.seasonal, "{t:?}");
        assert!((t.acf - acf(&y, 4)).abs() < 1e-12);
        // Too short: fewer than 3 cycles.
        assert!(!seasonality_test(&y[..11], 4).seasonal);
        // Pseudo-random noise has no period-4 effect.
        let mut x: u64 = 12345;
        let noise: Vec<f64> = (0..200)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (x >> 33) as f64
            })
            .collect();
        let t4 = seasonality_test(&noise, 4);
        assert!(!t4.seasonal, "{t4:?}");
        // M4 tests |r_m|: a strong negative lag-4 correlation (period-3 pattern
        // seen at lag 4 = lag 1) also counts as seasonal.
        let other: Vec<f64> = (0..60).map(|t| [0.0, 1.0, -1.0][t % 3]).collect();
        assert!(seasonality_test(&other, 4).seasonal);
    }

    #[test]
    fn classical_multiplicative_recovers_indices() {
        // Level 10 with indices 0.5, 1.5 (mean 1).
        let y: Vec<f64> = (0..20)
            .map(|t| if t % 2 == 0 { 5.0 } else { 15.0 })
            .collect();
        let s = classical(&y, 2, SeasonKind::Multiplicative).unwrap();
        assert!((s.indices[0] - 0.5).abs() < 1e-12, "{:?}", s.indices);
        assert!((s.indices[1] - 1.5).abs() < 1e-12);
        let d = s.deseasonalise(&y);
        assert!(d.iter().all(|v| (v - 10.0).abs() < 1e-12));
        assert!((s.apply(3, 10.0) - 15.0).abs() < 1e-12);
        let later = s.shifted(3);
        assert!((later.index(0) - s.index(3)).abs() < 1e-12);
        assert!((later.index(1) - s.index(4)).abs() < 1e-12);
    }

    #[test]
    fn classical_additive_odd_period() {
        let pattern = [-1.0, 0.0, 1.0];
        let y: Vec<f64> = (0..30).map(|t| 100.0 + t as f64 + pattern[t % 3]).collect();
        let s = classical(&y, 3, SeasonKind::Additive).unwrap();
        for (a, b) in s.indices.iter().zip(pattern) {
            assert!((a - b).abs() < 1e-9, "{:?}", s.indices);
        }
    }

    #[test]
    fn classical_rejects_short_or_degenerate() {
        assert!(classical(&[1.0, 2.0, 3.0], 2, SeasonKind::Additive).is_none());
        let zeros = vec![0.0; 20];
        assert!(classical(&zeros, 4, SeasonKind::Multiplicative).is_none());
    }
}
