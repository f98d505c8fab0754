//! Exponential smoothing and Theta models on a (deseasonalised) series.
//!
//! Every fitted model keeps its state after each observation, so the forecast
//! from any in-sample origin is a closed form. The forecaster uses that to
//! score candidates on many rolling origins and to derive interval widths
//! from real multi-step errors without refitting.

/// Model family of one smoothing candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Simple exponential smoothing (level only).
    Ses,
    /// Holt's linear trend.
    Holt,
    /// Holt with a damped trend.
    Damped,
    /// Standard Theta: SES plus half the regression slope as drift.
    Theta,
}

impl Method {
    /// Short lowercase name used in model strings.
    pub fn name(self) -> &'static str {
        match self {
            Method::Ses => "ses",
            Method::Holt => "holt",
            Method::Damped => "damped",
            Method::Theta => "theta",
        }
    }
}

/// A fitted model with its level/trend after every observation.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// Family.
    pub method: Method,
    /// Level smoothing.
    pub alpha: f64,
    /// Trend smoothing (0 for level-only models).
    pub beta: f64,
    /// Trend damping (1 for an undamped trend).
    pub phi: f64,
    /// Theta drift per step (half the OLS slope); 0 for other families.
    drift: f64,
    levels: Vec<f64>,
    trends: Vec<f64>,
}

impl Fitted {
    /// Forecast `k ≥ 1` steps after the state at origin `t` (after observing `z[t]`).
    #[inline]
    pub fn forecast_from(&self, t: usize, k: usize) -> f64 {
        let l = self.levels[t];
        match self.method {
            Method::Ses => l,
            Method::Holt => l + k as f64 * self.trends[t],
            Method::Damped => l + damp_sum(self.phi, k) * self.trends[t],
            Method::Theta => {
                let a = self.alpha;
                let seen = (t + 1) as f64;
                l + self.drift * ((k - 1) as f64 + (1.0 - (1.0 - a).powf(seen)) / a)
            }
        }
    }

    /// Index of the last observation (the origin for out-of-sample forecasts).
    pub fn last(&self) -> usize {
        self.levels.len() - 1
    }
}

/// `φ + φ² + … + φ^k`.
#[inline]
fn damp_sum(phi: f64, k: usize) -> f64 {
    if (phi - 1.0).abs() < 1e-12 {
        k as f64
    } else {
        phi * (1.0 - phi.powi(k as i32)) / (1.0 - phi)
    }
}

/// Starting level and slope from the first points, so the first errors are
/// not dominated by an arbitrary initial state.
fn initial_state(z: &[f64]) -> (f64, f64) {
    let k = (z.len() / 2).clamp(1, 12);
    let first = z[..k].iter().sum::<f64>() / k as f64;
    let slope = if z.len() >= 2 * k {
        let second = z[k..2 * k].iter().sum::<f64>() / k as f64;
        (second - first) / k as f64
    } else {
        0.0
    };
    // The mean of the first k points sits at their centre; move it to t=0.
    (first - slope * (k as f64 - 1.0) / 2.0, slope)
}

/// One-step sum of squared errors of damped-trend smoothing (`beta = 0`,
/// `b0 = 0` gives SES; `phi = 1` gives Holt).
fn sse(z: &[f64], alpha: f64, beta: f64, phi: f64, init: (f64, f64)) -> f64 {
    let (mut l, mut b) = init;
    let mut total = 0.0;
    for &v in z {
        let pred = l + phi * b;
        let e = v - pred;
        total += e * e;
        let nl = pred + alpha * e;
        b = beta * (nl - l) + (1.0 - beta) * phi * b;
        l = nl;
    }
    total
}

fn run(z: &[f64], alpha: f64, beta: f64, phi: f64, init: (f64, f64)) -> (Vec<f64>, Vec<f64>) {
    let (mut l, mut b) = init;
    let mut levels = Vec::with_capacity(z.len());
    let mut trends = Vec::with_capacity(z.len());
    for &v in z {
        let pred = l + phi * b;
        let nl = pred + alpha * (v - pred);
        b = beta * (nl - l) + (1.0 - beta) * phi * b;
        l = nl;
        levels.push(l);
        trends.push(b);
    }
    (levels, trends)
}

/// Golden-section minimisation of `f` on `[lo, hi]`.
fn golden(mut f: impl FnMut(f64) -> f64, lo: f64, hi: f64, iters: usize) -> (f64, f64) {
    const R: f64 = 0.618_033_988_749_895;
    let (mut a, mut b) = (lo, hi);
    let mut c = b - R * (b - a);
    let mut d = a + R * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..iters {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - R * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + R * (b - a);
            fd = f(d);
        }
    }
    // Endpoints matter: random walks want alpha = 1 exactly.
    let (fl, fh) = (f(lo), f(hi));
    let mut best = if fc < fd { (c, fc) } else { (d, fd) };
    if fl < best.1 {
        best = (lo, fl);
    }
    if fh < best.1 {
        best = (hi, fh);
    }
    best
}

const ALPHA_LO: f64 = 0.001;
const GOLDEN_ITERS: usize = 11;

/// Fits one family to `z` by minimising the one-step squared error.
///
/// `z` must hold at least two finite values (the caller checks).
pub fn fit(z: &[f64], method: Method) -> Fitted {
    let init = initial_state(z);
    match method {
        Method::Ses | Method::Theta => {
            let l0 = (init.0, 0.0);
            let (alpha, _) = golden(|a| sse(z, a, 0.0, 1.0, l0), ALPHA_LO, 1.0, GOLDEN_ITERS);
            let (levels, trends) = run(z, alpha, 0.0, 1.0, l0);
            let drift = if method == Method::Theta {
                ols_slope(z) / 2.0
            } else {
                0.0
            };
            Fitted {
                method,
                alpha,
                beta: 0.0,
                phi: 1.0,
                drift,
                levels,
                trends,
            }
        }
        Method::Holt | Method::Damped => {
            let damped = method == Method::Damped;
            let (mut beta, mut phi) = (0.05, if damped { 0.95 } else { 1.0 });
            let mut alpha;
            // Coordinate descent (alpha, beta, phi, then alpha again): 1-D golden
            // searches on a smooth 2–3 parameter surface, at a fraction of
            // Nelder–Mead's cost.
            alpha = golden(|a| sse(z, a, beta, phi, init), ALPHA_LO, 1.0, GOLDEN_ITERS).0;
            beta = golden(|b| sse(z, alpha, b, phi, init), 0.0, 1.0, GOLDEN_ITERS).0;
            if damped {
                phi = golden(|p| sse(z, alpha, beta, p, init), 0.8, 0.98, 6).0;
            }
            alpha = golden(|a| sse(z, a, beta, phi, init), ALPHA_LO, 1.0, GOLDEN_ITERS).0;
            let (levels, trends) = run(z, alpha, beta, phi, init);
            Fitted {
                method,
                alpha,
                beta,
                phi,
                drift: 0.0,
                levels,
                trends,
            }
        }
    }
}

/// Fits the forecaster's pool: SES, damped Holt and Theta, sharing the SES
/// fit with Theta (Theta is SES plus a fixed drift, so its smoothing
/// parameter is the same). Undamped Holt is left out: over long horizons its
/// trend extrapolation is the worst failure mode of the family (M3/M4).
pub fn fit_pool(z: &[f64]) -> [Fitted; 3] {
    let ses = fit(z, Method::Ses);
    let theta = Fitted {
        method: Method::Theta,
        drift: ols_slope(z) / 2.0,
        ..ses.clone()
    };
    [ses, fit(z, Method::Damped), theta]
}

/// Least-squares slope of `z` against time.
pub fn ols_slope(z: &[f64]) -> f64 {
    let n = z.len() as f64;
    if z.len() < 2 {
        return 0.0;
    }
    let tm = (n - 1.0) / 2.0;
    let zm = z.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (t, &v) in z.iter().enumerate() {
        let dt = t as f64 - tm;
        num += dt * (v - zm);
        den += dt * dt;
    }
    if den > 0.0 { num / den } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ses_on_constant_is_exact() {
        let z = vec![4.0; 50];
        let f = fit(&z, Method::Ses);
        assert!((f.forecast_from(f.last(), 10) - 4.0).abs() < 1e-9);
    }

    #[test]
    fn holt_follows_a_line() {
        let z: Vec<f64> = (0..60).map(|t| 3.0 + 2.0 * t as f64).collect();
        let f = fit(&z, Method::Holt);
        let pred = f.forecast_from(f.last(), 5);
        assert!((pred - (3.0 + 2.0 * 64.0)).abs() < 1e-6, "{pred}");
    }

    #[test]
    fn damped_trend_flattens() {
        let z: Vec<f64> = (0..60).map(|t| t as f64).collect();
        let f = fit(&z, Method::Damped);
        let step = |k| f.forecast_from(f.last(), k + 1) - f.forecast_from(f.last(), k);
        assert!(step(1) > step(20));
        assert!(f.phi < 1.0);
    }

    #[test]
    fn theta_drift_is_half_slope() {
        let z: Vec<f64> = (0..100).map(|t| 10.0 + 0.5 * t as f64).collect();
        let f = fit(&z, Method::Theta);
        let d = f.forecast_from(f.last(), 11) - f.forecast_from(f.last(), 10);
        assert!((d - 0.25).abs() < 1e-12, "{d}");
    }

    #[test]
    fn random_walk_gets_large_alpha() {
        // Deterministic zig-zag walk: the best SES is close to naive.
        let mut v = 0.0;
        let z: Vec<f64> = (0..200)
            .map(|t| {
                v += if (t * 7919) % 13 < 6 { 1.0 } else { -1.0 };
                v
            })
            .collect();
        let f = fit(&z, Method::Ses);
        assert!(f.alpha > 0.8, "{}", f.alpha);
    }

    #[test]
    fn slope_hand_computed() {
        assert!((ols_slope(&[1.0, 3.0, 5.0]) - 2.0).abs() < 1e-12);
        assert_eq!(ols_slope(&[1.0]), 0.0);
    }
}
