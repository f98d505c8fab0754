//! Small statistics helpers.

/// The standard normal CDF, via the Abramowitz–Stegun 7.1.26 approximation of
/// erf (absolute error below 1.5e-7, ample for a confidence figure).
pub(crate) fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Confidence that a proportion observed as `p` over `n` trials is truly
/// above `threshold` (normal approximation to the binomial).
pub(crate) fn confidence_above(p: f64, n: f64, threshold: f64) -> f64 {
    if n <= 0.0 {
        return 0.0;
    }
    let t = threshold.clamp(1e-6, 1.0 - 1e-6);
    let se = (t * (1.0 - t) / n).sqrt();
    normal_cdf((p - t) / se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_known_points() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.959_964) - 0.025).abs() < 1e-6);
    }

    #[test]
    fn confidence_grows_with_samples() {
        let small = confidence_above(0.2, 20.0, 0.1);
        let large = confidence_above(0.2, 2000.0, 0.1);
        assert!(small < large && large > 0.999);
        assert!(confidence_above(0.05, 100.0, 0.1) < 0.5);
    }
}
