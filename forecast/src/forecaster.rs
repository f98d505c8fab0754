//! Automatic forecaster: seasonality test, decomposition, a pool of
//! smoothing/Theta/seasonal-naive members, selection of the best member or
//! small combination on rolling in-sample origins, and empirical intervals.

use crate::config::{Forecast, ForecastConfig, ForecastError};
use crate::decompose::{self, SeasonKind};
use crate::smoothing;

mod members;
use members::{
    Grid, MemberPaths, median_member, seasonal_median_member, smoothing_member, snaive_member,
};

/// Fewest history points accepted.
pub const MIN_HISTORY: usize = 8;

/// Trailing points used to fit the members (at least).
const FIT_WINDOW: usize = 480;
/// The rolling evaluation covers the last this-many horizons of the history.
const EVAL_SPAN_HORIZONS: usize = 3;
/// Default number of evaluation origins spread over that span.
const DEFAULT_EVAL_ORIGINS: usize = 72;

/// Checks the history and configuration.
fn validate(history: &[f64], config: &ForecastConfig) -> Result<(), ForecastError> {
    if history.is_empty() {
        return Err(ForecastError::Empty);
    }
    if let Some((index, &value)) = history.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(ForecastError::NonFinite { index, value });
    }
    if history.len() < MIN_HISTORY {
        return Err(ForecastError::TooShort {
            len: history.len(),
            min: MIN_HISTORY,
        });
    }
    if config.horizon == 0 {
        return Err(ForecastError::InvalidConfig(
            "horizon must be at least 1".into(),
        ));
    }
    if !(config.level > 0.0 && config.level < 1.0) {
        return Err(ForecastError::InvalidConfig(format!(
            "level must be in (0, 1), got {}",
            config.level
        )));
    }
    Ok(())
}

/// Picks the candidate period with the strongest autocorrelation among those
/// passing the M4 90% test.
pub fn detect_season(history: &[f64], candidates: &[usize]) -> Option<usize> {
    candidates
        .iter()
        .map(|&m| (m, decompose::seasonality_test(history, m)))
        .filter(|(_, t)| t.seasonal)
        .max_by(|a, b| a.1.acf.total_cmp(&b.1.acf))
        .map(|(m, _)| m)
}

/// Most members a combination may hold (with repetition, so weights are thirds).
const MAX_COMBINED: usize = 3;
/// Cycles the seasonal median looks back over.
const SEASONAL_MEDIAN_CYCLES: usize = 5;

/// In-sample accuracy relative to the naive forecast from the same origins,
/// M4-style: relative sMAPE plus relative MAE (MASE's numerator).
struct Criterion<'a> {
    y: &'a [f64],
    pairs: &'a [(usize, usize)],
    ref_smape: f64,
    ref_mae: f64,
}

impl<'a> Criterion<'a> {
    fn new(y: &'a [f64], grid: &Grid, pairs: &'a [(usize, usize)]) -> Self {
        let mut c = Criterion {
            y,
            pairs,
            ref_smape: 1.0,
            ref_mae: 1.0,
        };
        let (s, m) = c.raw(|slot| y[grid.origin(slot / grid.horizon)]);
        // A zero reference (perfectly naive-predictable history) must not divide.
        c.ref_smape = if s > 0.0 { s } else { 1.0 };
        c.ref_mae = if m > 0.0 { m } else { 1.0 };
        c
    }

    fn raw(&self, pred: impl Fn(usize) -> f64) -> (f64, f64) {
        let (mut smape, mut mae) = (0.0, 0.0);
        for &(slot, abs) in self.pairs {
            let (a, f) = (self.y[abs], pred(slot));
            let d = (a - f).abs();
            let denom = a.abs() + f.abs();
            if denom > 0.0 {
                smape += d / denom;
            }
            mae += d;
        }
        (smape, mae)
    }

    fn score(&self, pred: impl Fn(usize) -> f64) -> f64 {
        let (s, m) = self.raw(pred);
        let v = s / self.ref_smape + m / self.ref_mae;
        if v.is_finite() { v } else { f64::INFINITY }
    }
}

/// Greedy forward selection with replacement (Caruana-style ensemble
/// selection): start from the best single member, then add whichever member
/// most improves the in-sample criterion, up to [`MAX_COMBINED`] picks.
fn select(y: &[f64], grid: &Grid, pairs: &[(usize, usize)], members: &[MemberPaths]) -> Vec<usize> {
    let crit = Criterion::new(y, grid, pairs);
    let mut sum = vec![0.0; grid.origins * grid.horizon];
    let mut chosen: Vec<usize> = Vec::new();
    let mut best = f64::INFINITY;
    while chosen.len() < MAX_COMBINED {
        let c = (chosen.len() + 1) as f64;
        let round = members
            .iter()
            .enumerate()
            .map(|(i, m)| (i, crit.score(|slot| (sum[slot] + m.in_sample[slot]) / c)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match round {
            Some((i, score)) if score < best * (1.0 - 1e-6) => {
                best = score;
                chosen.push(i);
                sum.iter_mut()
                    .zip(&members[i].in_sample)
                    .for_each(|(s, v)| *s += v);
            }
            _ => break,
        }
    }
    if chosen.is_empty() {
        chosen.push(0);
    }
    chosen
}

/// Empirical quantile by linear interpolation of a sorted slice.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Forecasts `config.horizon` steps past the end of `history`.
///
/// See the crate documentation for the method. Errors on an empty, too short
/// or non-finite history and on an out-of-range configuration; never panics.
pub fn forecast(history: &[f64], config: &ForecastConfig) -> Result<Forecast, ForecastError> {
    validate(history, config)?;
    let y = history;
    let n = y.len();
    let h = config.horizon;
    let season_m = detect_season(y, &config.seasons());
    let season = season_m.and_then(|m| {
        let kind = if y.iter().all(|&v| v > 0.0) {
            SeasonKind::Multiplicative
        } else {
            SeasonKind::Additive
        };
        decompose::classical(y, m, kind)
    });
    // Parameters and members only need the recent past: fit on a trailing
    // window (long enough for the evaluation span plus warm-up) so long
    // high-frequency histories cost no more than short ones.
    let span = EVAL_SPAN_HORIZONS * h;
    let period = season.as_ref().map_or(0, |s| s.period);
    let cut = n.saturating_sub(FIT_WINDOW.max(span + 2 * period + 16));
    let full = y;
    let season = season.map(|s| s.shifted(cut));
    let y = &y[cut..];
    let n = y.len();
    let z = season
        .as_ref()
        .map_or_else(|| y.to_vec(), |s| s.deseasonalise(y));
    let origins = if config.eval_origins == 0 {
        DEFAULT_EVAL_ORIGINS
    } else {
        config.eval_origins
    };
    let stride = span.div_ceil(origins.max(1));
    let warm = period.max(10);
    let grid = Grid::new(n, h, origins, warm, stride);

    let mut members: Vec<MemberPaths> = smoothing::fit_pool(&z)
        .iter()
        .map(|f| smoothing_member(f, season.as_ref(), &grid, n))
        .collect();
    // Median windows: one cycle (or the shortest candidate cycle) and a quarter of it.
    let base_w = season
        .as_ref()
        .map(|s| s.period)
        .or_else(|| config.seasons().first().copied())
        .unwrap_or(12)
        .min(n);
    // Window 1 is the naive forecast (Naive2 when seasonal): the M4 reference
    // stays available when nothing beats it in-sample.
    members.push(median_member(&z, season.as_ref(), 1, &grid));
    members.push(median_member(&z, season.as_ref(), base_w, &grid));
    members.push(median_member(
        &z,
        season.as_ref(),
        (base_w / 4).max(3),
        &grid,
    ));
    if let Some(s) = &season {
        // Seasonal lookups reach further back than the fitting window.
        let full_grid = grid.shifted(cut);
        members.push(snaive_member(full, s.period, &full_grid));
        members.push(seasonal_median_member(
            full,
            s.period,
            SEASONAL_MEDIAN_CYCLES,
            &full_grid,
        ));
    }

    let pairs: Vec<(usize, usize)> = (0..grid.origins).flat_map(|o| grid.steps(o, n)).collect();
    let chosen = select(y, &grid, &pairs, &members);
    let k = chosen.len() as f64;
    let combined = |get: &dyn Fn(&MemberPaths) -> f64| {
        chosen.iter().map(|&i| get(&members[i])).sum::<f64>() / k
    };
    let mut point: Vec<f64> = (0..h).map(|s| combined(&|m| m.future[s])).collect();

    // Per-step error quantiles of the chosen forecaster, widened monotonically.
    let (q_lo, q_hi) = ((1.0 - config.level) / 2.0, (1.0 + config.level) / 2.0);
    let mut errs: Vec<Vec<f64>> = vec![Vec::new(); h];
    for &(slot, abs) in &pairs {
        let e = y[abs] - combined(&|m| m.in_sample[slot]);
        let step = slot % grid.horizon;
        if e.is_finite() {
            errs[step].push(e);
        }
    }
    let mut lower = Vec::with_capacity(h);
    let mut upper = Vec::with_capacity(h);
    let (mut lo_off, mut hi_off) = (0.0_f64, 0.0_f64);
    let mut last_k = 0usize;
    let min_count = grid.origins.clamp(2, 8);
    for (k, e) in errs.iter_mut().enumerate() {
        // Steps with too few in-sample errors extrapolate with sqrt(k) growth.
        if e.len() >= min_count {
            e.sort_by(f64::total_cmp);
            lo_off = lo_off.min(quantile(e, q_lo));
            hi_off = hi_off.max(quantile(e, q_hi));
            last_k = k + 1;
        }
        let grow = if last_k == 0 || last_k > k {
            1.0
        } else {
            ((k + 1) as f64 / last_k as f64).sqrt()
        };
        lower.push(point[k] + lo_off * grow);
        upper.push(point[k] + hi_off * grow);
    }
    if config.non_negative && y.iter().all(|&v| v >= 0.0) {
        for v in point
            .iter_mut()
            .chain(lower.iter_mut())
            .chain(upper.iter_mut())
        {
            *v = v.max(0.0);
        }
    }
    let names: Vec<&str> = chosen.iter().map(|&i| members[i].name.as_str()).collect();
    let season_label = match &season {
        Some(s) if s.kind == SeasonKind::Multiplicative => format!("/mul{}", s.period),
        Some(s) => format!("/add{}", s.period),
        None => String::new(),
    };
    Ok(Forecast {
        point,
        lower,
        upper,
        model: format!("{}{}", names.join("+"), season_label),
        season: season.as_ref().map(|s| s.period),
    })
}

#[cfg(test)]
mod tests;
