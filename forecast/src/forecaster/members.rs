//! Pool members of the forecaster: each one's forecasts from every
//! evaluation origin (for selection and interval calibration) and from the
//! end of the history.

use crate::decompose::Seasonal;
use crate::smoothing;

/// The forecasts of one pool member from every evaluation origin, stored
/// flat as `[origin][step]`, plus its out-of-sample forecast.
pub(super) struct MemberPaths {
    pub name: String,
    pub in_sample: Vec<f64>,
    pub future: Vec<f64>,
}

/// Layout of the rolling-origin evaluation grid.
#[derive(Debug, Clone, Copy)]
pub(super) struct Grid {
    pub first_origin: usize,
    pub stride: usize,
    pub origins: usize,
    pub horizon: usize,
}

impl Grid {
    /// Up to `wanted` origins spaced `stride` apart, ending at `n − 2` (so each
    /// has at least one actual) and starting no earlier than `warm`.
    pub fn new(n: usize, horizon: usize, wanted: usize, warm: usize, stride: usize) -> Self {
        let last = n - 2;
        let stride = stride.max(1);
        let warm = warm.min(n / 2).min(last);
        let span = (wanted.max(1) - 1) * stride;
        let mut first = last.saturating_sub(span).max(warm);
        // Keep the last origin on the grid.
        first += (last - first) % stride;
        Grid {
            first_origin: first,
            stride,
            origins: (last - first) / stride + 1,
            horizon,
        }
    }

    /// The same origins for a series with `offset` more points in front.
    pub fn shifted(&self, offset: usize) -> Grid {
        Grid {
            first_origin: self.first_origin + offset,
            ..*self
        }
    }

    /// Absolute time of origin `o`.
    #[inline]
    pub fn origin(&self, o: usize) -> usize {
        self.first_origin + o * self.stride
    }

    /// Evaluation pairs `(slot, absolute time)` of origin index `o`.
    pub fn steps(&self, o: usize, n: usize) -> impl Iterator<Item = (usize, usize)> + use<> {
        let t = self.origin(o);
        let base = o * self.horizon;
        let max_k = self.horizon.min(n - 1 - t);
        (1..=max_k).map(move |k| (base + k - 1, t + k))
    }
}

pub(super) fn smoothing_member(
    fitted: &smoothing::Fitted,
    season: Option<&Seasonal>,
    grid: &Grid,
    n: usize,
) -> MemberPaths {
    let reseason = |t: usize, v: f64| season.map_or(v, |s| s.apply(t, v));
    let mut in_sample = vec![f64::NAN; grid.origins * grid.horizon];
    for o in 0..grid.origins {
        let t = grid.origin(o);
        for (slot, abs) in grid.steps(o, n) {
            in_sample[slot] = reseason(abs, fitted.forecast_from(t, abs - t));
        }
    }
    let last = fitted.last();
    let future = (1..=grid.horizon)
        .map(|k| reseason(last + k, fitted.forecast_from(last, k)))
        .collect();
    MemberPaths {
        name: fitted.method.name().into(),
        in_sample,
        future,
    }
}

/// Seasonal naive: the value one period before, repeated.
pub(super) fn snaive_member(y: &[f64], m: usize, grid: &Grid) -> MemberPaths {
    let n = y.len();
    let lookup = |t: usize, k: usize| {
        let back = m * k.div_ceil(m);
        // Before the first full period fall back to the last value.
        if t + k >= back { y[t + k - back] } else { y[t] }
    };
    let mut in_sample = vec![f64::NAN; grid.origins * grid.horizon];
    for o in 0..grid.origins {
        let t = grid.origin(o);
        for (slot, abs) in grid.steps(o, n) {
            in_sample[slot] = lookup(t, abs - t);
        }
    }
    let future = (1..=grid.horizon).map(|k| lookup(n - 1, k)).collect();
    MemberPaths {
        name: "snaive".into(),
        in_sample,
        future,
    }
}

fn median(buf: &mut [f64]) -> f64 {
    let n = buf.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = n / 2;
    let (_, &mut hi, _) = buf.select_nth_unstable_by(mid, f64::total_cmp);
    if n % 2 == 1 {
        hi
    } else {
        let lo = buf[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

/// Flat forecast at the median of the last `w` deseasonalised values,
/// reseasonalised: robust to the spikes of resource series, and exactly zero
/// on mostly idle ones.
pub(super) fn median_member(
    z: &[f64],
    season: Option<&Seasonal>,
    w: usize,
    grid: &Grid,
) -> MemberPaths {
    let n = z.len();
    let reseason = |t: usize, v: f64| season.map_or(v, |s| s.apply(t, v));
    let mut buf = Vec::with_capacity(w);
    let mut level_at = |t: usize| {
        buf.clear();
        buf.extend_from_slice(&z[(t + 1).saturating_sub(w)..=t]);
        median(&mut buf)
    };
    let mut in_sample = vec![f64::NAN; grid.origins * grid.horizon];
    for o in 0..grid.origins {
        let t = grid.origin(o);
        let level = level_at(t);
        for (slot, abs) in grid.steps(o, n) {
            in_sample[slot] = reseason(abs, level);
        }
    }
    let level = level_at(n - 1);
    let future = (1..=grid.horizon)
        .map(|k| reseason(n - 1 + k, level))
        .collect();
    MemberPaths {
        name: if w == 1 {
            "naive".into()
        } else {
            format!("median{w}")
        },
        in_sample,
        future,
    }
}

/// Median of the values at the same cycle position over the last `cycles`
/// periods: a seasonal naive that ignores one-off spikes.
pub(super) fn seasonal_median_member(
    y: &[f64],
    m: usize,
    cycles: usize,
    grid: &Grid,
) -> MemberPaths {
    let n = y.len();
    let mut buf = Vec::with_capacity(cycles);
    let mut at = |t: usize, k: usize| {
        buf.clear();
        let first_back = m * k.div_ceil(m);
        for j in 0..cycles {
            let back = first_back + j * m;
            if t + k >= back {
                buf.push(y[t + k - back]);
            }
        }
        if buf.is_empty() {
            y[t]
        } else {
            median(&mut buf)
        }
    };
    let mut in_sample = vec![f64::NAN; grid.origins * grid.horizon];
    for o in 0..grid.origins {
        let t = grid.origin(o);
        for (slot, abs) in grid.steps(o, n) {
            in_sample[slot] = at(t, abs - t);
        }
    }
    let future = (1..=grid.horizon).map(|k| at(n - 1, k)).collect();
    MemberPaths {
        name: "smedian".into(),
        in_sample,
        future,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_hand_computed() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn seasonal_median_ignores_a_spike() {
        // Period 2, values 1/5 with one spike of 100 in the last cycle.
        let mut y: Vec<f64> = (0..20)
            .map(|t| if t % 2 == 0 { 1.0 } else { 5.0 })
            .collect();
        y[19] = 100.0;
        let grid = Grid::new(y.len(), 2, 4, 4, 1);
        let m = seasonal_median_member(&y, 2, 3, &grid);
        assert_eq!(m.future, vec![1.0, 5.0]);
        let flat = median_member(&y, None, 4, &grid);
        assert_eq!(flat.future, vec![3.0, 3.0]);
    }
}
