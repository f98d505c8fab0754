//! M4 competition scoring: sMAPE, MASE, the Naive2 and Theta benchmarks and
//! OWA, defined as in Makridakis, Spiliotis & Assimakopoulos (2020) and the
//! competition's reference R code.

use crate::decompose::{self, SeasonKind, Seasonal};
use crate::smoothing::{self, Method};

/// Symmetric MAPE in percent (0–200): `200/h · Σ |y−f| / (|y|+|f|)`.
///
/// A step where both actual and forecast are zero is a perfect hit and adds 0
/// (M4 data has no zeros; resource series do). Returns NaN for empty input.
pub fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    let h = actual.len().min(forecast.len());
    if h == 0 {
        return f64::NAN;
    }
    let total: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(&y, &f)| {
            let d = y.abs() + f.abs();
            if d == 0.0 { 0.0 } else { (y - f).abs() / d }
        })
        .sum();
    200.0 * total / h as f64
}

/// Mean absolute error of the in-sample seasonal naive forecast at lag `m`
/// (lag 1 when the history is not longer than `m`), the MASE denominator.
pub fn mase_scale(insample: &[f64], m: usize) -> f64 {
    let lag = if m >= 1 && insample.len() > m { m } else { 1 };
    if insample.len() <= lag {
        return f64::NAN;
    }
    let total: f64 = insample[lag..]
        .iter()
        .zip(insample)
        .map(|(a, b)| (a - b).abs())
        .sum();
    total / (insample.len() - lag) as f64
}

/// Mean absolute scaled error: forecast MAE over [`mase_scale`].
///
/// `None` when the scale is zero or not finite (a flat history), because M4's
/// formula is then undefined and such windows cannot be averaged.
pub fn mase(insample: &[f64], actual: &[f64], forecast: &[f64], m: usize) -> Option<f64> {
    let scale = mase_scale(insample, m);
    let h = actual.len().min(forecast.len());
    if !(scale.is_finite() && scale > 0.0) || h == 0 {
        return None;
    }
    let mae: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(y, f)| (y - f).abs())
        .sum::<f64>()
        / h as f64;
    Some(mae / scale)
}

/// M4's deseasonalisation: multiplicative classical decomposition when the
/// 90% autocorrelation test passes at lag `m`, otherwise none. Also `None`
/// when the decomposition is undefined (non-positive data).
pub fn m4_seasonal(insample: &[f64], m: usize) -> Option<Seasonal> {
    if m > 1 && decompose::seasonality_test(insample, m).seasonal {
        decompose::classical(insample, m, SeasonKind::Multiplicative)
    } else {
        None
    }
}

/// The Naive2 benchmark: last deseasonalised value, reseasonalised.
pub fn naive2(insample: &[f64], h: usize, m: usize) -> Vec<f64> {
    let n = insample.len();
    let Some(&last) = insample.last() else {
        return vec![f64::NAN; h];
    };
    match m4_seasonal(insample, m) {
        Some(s) => {
            let level = s.remove(n - 1, last);
            (1..=h).map(|k| s.apply(n - 1 + k, level)).collect()
        }
        None => vec![last; h],
    }
}

/// The M4 "Theta" benchmark (`Theta.classic` of the reference code): on the
/// M4-deseasonalised series, the average of the extrapolated regression line
/// (θ=0) and SES on the θ=2 line, reseasonalised.
///
/// The SES initial level comes from the first points instead of being
/// optimised, a negligible difference for histories of hundreds of points.
pub fn theta_classic(insample: &[f64], h: usize, m: usize) -> Vec<f64> {
    let n = insample.len();
    if n < 2 {
        return vec![insample.last().copied().unwrap_or(f64::NAN); h];
    }
    let season = m4_seasonal(insample, m);
    let z = season
        .as_ref()
        .map_or_else(|| insample.to_vec(), |s| s.deseasonalise(insample));
    let slope = smoothing::ols_slope(&z);
    let mean = z.iter().sum::<f64>() / n as f64;
    let line = |t: f64| mean + slope * (t - (n as f64 - 1.0) / 2.0);
    let theta2: Vec<f64> = z
        .iter()
        .enumerate()
        .map(|(t, &v)| 2.0 * v - line(t as f64))
        .collect();
    let ses = smoothing::fit(&theta2, Method::Ses);
    let level = ses.forecast_from(ses.last(), 1);
    (1..=h)
        .map(|k| {
            let t = n - 1 + k;
            let v = 0.5 * level + 0.5 * line(t as f64);
            season.as_ref().map_or(v, |s| s.apply(t, v))
        })
        .collect()
}

/// Overall Weighted Average of M4: the mean of the method's relative sMAPE
/// and relative MASE, each relative to Naive2, on averages over all series.
pub fn owa(smape: f64, mase: f64, smape_naive2: f64, mase_naive2: f64) -> f64 {
    (smape / smape_naive2 + mase / mase_naive2) / 2.0
}

/// Running sMAPE/MASE averages of one method over many series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    smape_sum: f64,
    mase_sum: f64,
    /// Number of series scored.
    pub count: usize,
}

impl Scores {
    /// Adds one series' scores.
    pub fn add(&mut self, smape: f64, mase: f64) {
        self.smape_sum += smape;
        self.mase_sum += mase;
        self.count += 1;
    }

    /// Average sMAPE (NaN when empty).
    pub fn smape(&self) -> f64 {
        self.smape_sum / self.count as f64
    }

    /// Average MASE (NaN when empty).
    pub fn mase(&self) -> f64 {
        self.mase_sum / self.count as f64
    }

    /// OWA of these scores relative to Naive2's scores on the same series.
    pub fn owa(&self, naive2: &Scores) -> f64 {
        owa(self.smape(), self.mase(), naive2.smape(), naive2.mase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smape_hand_computed() {
        // |100-110|/210 = 0.047619..., |50-40|/90 = 0.111111...
        // 200/2 * (0.0476190 + 0.1111111) = 15.873015873
        let s = smape(&[100.0, 50.0], &[110.0, 40.0]);
        assert!((s - 15.873_015_873_015_873).abs() < 1e-9, "{s}");
        assert_eq!(smape(&[0.0, 1.0], &[0.0, 1.0]), 0.0);
        assert!((smape(&[1.0], &[0.0]) - 200.0).abs() < 1e-12);
        assert!(smape(&[], &[]).is_nan());
    }

    #[test]
    fn mase_hand_computed() {
        // In-sample 1,3,2,4,3,5 with m=2: diffs |2-1|,|4-3|,|3-2|,|5-4| = 1 each -> scale 1.
        let ins = [1.0, 3.0, 2.0, 4.0, 3.0, 5.0];
        assert!((mase_scale(&ins, 2) - 1.0).abs() < 1e-12);
        // Errors 1 and 3 -> MAE 2 -> MASE 2.
        let v = mase(&ins, &[4.0, 6.0], &[5.0, 3.0], 2).unwrap();
        assert!((v - 2.0).abs() < 1e-12);
        // Lag 1: diffs 2,1,2,1,2 -> 1.6.
        assert!((mase_scale(&ins, 1) - 1.6).abs() < 1e-12);
        // History not longer than m falls back to lag 1.
        assert!((mase_scale(&ins, 6) - 1.6).abs() < 1e-12);
        assert!(mase(&[2.0, 2.0, 2.0], &[1.0], &[1.0], 1).is_none());
    }

    #[test]
    fn naive2_without_seasonality_is_naive() {
        let ins = [3.0, 1.0, 4.0, 1.0, 5.0];
        assert_eq!(naive2(&ins, 3, 1), vec![5.0; 3]);
        // Period 4 needs 12 points for the test, so this stays naive too.
        assert_eq!(naive2(&ins, 2, 4), vec![5.0; 2]);
    }

    #[test]
    fn naive2_seasonal_hand_computed() {
        // Period 2, pattern 0.5/1.5 around a level of 10 (indices exact):
        // last value 15 at an odd position -> level 10; next steps 5, 15, 5.
        let ins: Vec<f64> = (0..24)
            .map(|t| if t % 2 == 0 { 5.0 } else { 15.0 })
            .collect();
        assert!(decompose::seasonality_test(&ins, 2).seasonal);
        let f = naive2(&ins, 3, 2);
        for (a, b) in f.iter().zip([5.0, 15.0, 5.0]) {
            assert!((a - b).abs() < 1e-9, "{f:?}");
        }
    }

    #[test]
    fn theta_on_a_line_extrapolates_it() {
        // On a straight line the θ=2 line equals the data, SES tracks its end
        // and the forecast is the mean of the line and the last level.
        let ins: Vec<f64> = (0..50).map(|t| 2.0 * t as f64).collect();
        let f = theta_classic(&ins, 2, 1);
        let line1 = 2.0 * 50.0;
        assert!(f[0] > 98.0 - 1e-6 && f[0] <= line1 + 1e-6, "{f:?}");
        assert!((f[1] - f[0] - 1.0).abs() < 1e-6, "{f:?}");
    }

    #[test]
    fn owa_hand_computed() {
        assert!((owa(10.0, 1.0, 20.0, 2.0) - 0.5).abs() < 1e-12);
        let mut a = Scores::default();
        a.add(10.0, 1.0);
        a.add(20.0, 3.0);
        let mut n = Scores::default();
        n.add(30.0, 2.0);
        n.add(30.0, 2.0);
        // sMAPE 15/30, MASE 2/2 -> (0.5 + 1)/2
        assert!((a.owa(&n) - 0.75).abs() < 1e-12);
        assert!((n.owa(&n) - 1.0).abs() < 1e-15);
    }
}
