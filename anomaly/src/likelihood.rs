//! Anomaly likelihood (after Numenta): how unusual the recent average of the
//! raw anomaly score is compared with its long-run distribution. A single
//! high raw score on a noisy series barely moves it, while a sustained rise
//! of moderate raw scores (a regime change) does.

use serde::{Deserialize, Serialize};

/// Long-run mean/variance and short-run mean of a raw score stream.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Likelihood {
    n: u32,
    mean: f64,
    var: f64,
    short: f64,
}

impl Likelihood {
    /// Folds in one raw score and returns `-log10 Q(z)` of the short mean
    /// against the long-run law *before* this point (so the anomaly does not
    /// dilute its own reference), where `Q` is the normal upper tail.
    /// `long` and `short` are the window lengths (points) of the two means.
    pub(crate) fn update(&mut self, raw: f64, long: f64, short: f64, learn: u32) -> f64 {
        if !raw.is_finite() {
            return 0.0;
        }
        let a_short = 1.0 / short.max(1.0);
        self.short = if self.n == 0 {
            raw
        } else {
            self.short + a_short * (raw - self.short)
        };
        let ready = self.n >= learn;
        // The variance floor keeps a constant raw stream (a perfectly
        // predictable series) from making every wobble infinitely unlikely.
        let sd = self.var.max(0.0).sqrt().max(0.03);
        let z = (self.short - self.mean) / sd;
        self.n = self.n.saturating_add(1);
        let a_long = (1.0 / f64::from(self.n)).max(1.0 / long.max(1.0));
        let d = raw - self.mean;
        self.mean += a_long * d;
        self.var = (1.0 - a_long) * (self.var + a_long * d * d);
        if !(self.mean.is_finite() && self.var.is_finite() && self.short.is_finite()) {
            *self = Self::default();
            return 0.0;
        }
        if ready { neg_log10_q(z) } else { 0.0 }
    }
}

/// Numerical Recipes' Chebyshev fit of `erfc`: `erfc(x) ≈ t·exp(−x² + P(t))`
/// with `t = 1/(1 + x/2)` and `P` these coefficients, lowest power first.
const ERFC_FIT: [f64; 10] = [
    -1.265_512_23,
    1.000_023_68,
    0.374_091_96,
    0.096_784_18,
    -0.186_288_06,
    0.278_868_07,
    -1.135_203_98,
    1.488_515_87,
    -0.822_152_23,
    0.170_872_77,
];

/// `c[0] + t·(c[1] + t·(c[2] + …))`.
fn horner(t: f64, c: &[f64]) -> f64 {
    c.iter().rev().fold(0.0, |acc, &ci| acc * t + ci)
}

/// `-log10` of the standard normal upper tail `Q(z)`, accurate to about
/// 1e-7 relative (the `erfc` fit above), computed in log space so it stays
/// finite for any `z`.
pub(crate) fn neg_log10_q(z: f64) -> f64 {
    if z.is_nan() || z <= 0.0 {
        return if z > -40.0 {
            -(0.5 * erfc(z / std::f64::consts::SQRT_2)).log10()
        } else {
            0.0
        };
    }
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = ERFC_FIT[0] + t * horner(t, &ERFC_FIT[1..]);
    // ln Q = ln(0.5) + ln t − x² + poly
    let ln_q = std::f64::consts::LN_2.mul_add(-1.0, t.ln()) - x * x + poly;
    (-ln_q / std::f64::consts::LN_10).max(0.0)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * (-z * z + ERFC_FIT[0] + t * horner(t, &ERFC_FIT[1..])).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_matches_known_values() {
        // Q(0)=0.5, Q(1.96)=0.025, Q(5)=2.8665e-7, Q(10)=7.6199e-24.
        for (z, q) in [
            (0.0, 0.5),
            (1.96, 0.024_997_9),
            (5.0, 2.866_5e-7),
            (10.0, 7.619_9e-24),
        ] {
            let got = neg_log10_q(z);
            let want = -f64::log10(q);
            assert!(
                (got - want).abs() < 1e-3 * want.max(1.0),
                "z={z} {got} vs {want}"
            );
        }
        assert!(neg_log10_q(1e6).is_finite());
        assert!(neg_log10_q(-5.0) < 1e-6);
    }

    #[test]
    fn sustained_rise_is_unlikely_single_spike_is_not() {
        let mut l = Likelihood::default();
        let mut peak_spike: f64 = 0.0;
        for i in 0..3000 {
            let raw = if i == 2500 {
                0.6
            } else {
                0.1 + 0.05 * ((i * 7919) % 13) as f64 / 13.0
            };
            let v = l.update(raw, 2000.0, 10.0, 300);
            if i >= 2500 {
                peak_spike = peak_spike.max(v);
            }
        }
        let mut peak_run: f64 = 0.0;
        for _ in 0..20 {
            peak_run = peak_run.max(l.update(0.45, 2000.0, 10.0, 300));
        }
        assert!(peak_run > peak_spike + 2.0, "{peak_run} vs {peak_spike}");
    }
}
