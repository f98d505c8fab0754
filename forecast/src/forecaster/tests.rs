use super::*;

fn cfg(h: usize, seasons: Vec<usize>) -> ForecastConfig {
    ForecastConfig {
        horizon: h,
        season_candidates: seasons,
        ..ForecastConfig::default()
    }
}

/// Deterministic pseudo-noise in [-0.5, 0.5).
fn noise(i: usize) -> f64 {
    let x = (i as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    ((x >> 33) as f64 / (1u64 << 31) as f64) - 0.5
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let c = cfg(4, vec![]);
    assert_eq!(forecast(&[], &c), Err(ForecastError::Empty));
    assert_eq!(
        forecast(&[1.0, 2.0], &c),
        Err(ForecastError::TooShort {
            len: 2,
            min: MIN_HISTORY
        })
    );
    let mut y = vec![1.0; 20];
    y[7] = f64::NAN;
    assert!(matches!(
        forecast(&y, &c),
        Err(ForecastError::NonFinite { index: 7, .. })
    ));
    y[7] = f64::INFINITY;
    assert!(matches!(
        forecast(&y, &c),
        Err(ForecastError::NonFinite { index: 7, .. })
    ));
    let y = vec![1.0; 20];
    assert!(matches!(
        forecast(&y, &cfg(0, vec![])),
        Err(ForecastError::InvalidConfig(_))
    ));
    let bad_level = ForecastConfig { level: 1.0, ..c };
    assert!(matches!(
        forecast(&y, &bad_level),
        Err(ForecastError::InvalidConfig(_))
    ));
}

#[test]
fn shapes_and_ordering_hold_on_short_and_flat_input() {
    for n in [MIN_HISTORY, 9, 15, 30] {
        let y: Vec<f64> = (0..n).map(|i| 5.0 + noise(i)).collect();
        let f = forecast(&y, &cfg(6, vec![24])).unwrap();
        assert_eq!(f.point.len(), 6);
        for k in 0..6 {
            assert!(
                f.lower[k] <= f.point[k] && f.point[k] <= f.upper[k],
                "{f:?}"
            );
            assert!(f.point[k].is_finite());
        }
    }
    let flat = forecast(&[3.0; 50], &cfg(5, vec![7])).unwrap();
    assert!(
        flat.point.iter().all(|v| (v - 3.0).abs() < 1e-9),
        "{flat:?}"
    );
}

#[test]
fn seasonal_pattern_is_detected_and_continued() {
    let m = 24;
    let y: Vec<f64> = (0..24 * 14)
        .map(|t| {
            50.0 + 20.0 * (2.0 * std::f64::consts::PI * (t % m) as f64 / m as f64).sin() + noise(t)
        })
        .collect();
    let f = forecast(&y, &cfg(48, vec![24, 168])).unwrap();
    assert_eq!(f.season, Some(24));
    let n = y.len();
    let err: f64 = (0..48)
        .map(|k| {
            let t = n + k;
            let truth =
                50.0 + 20.0 * (2.0 * std::f64::consts::PI * (t % m) as f64 / m as f64).sin();
            (f.point[k] - truth).abs()
        })
        .sum::<f64>()
        / 48.0;
    // Noise is uniform ±0.5, so a good fit is well under 1.
    assert!(err < 1.0, "mean abs err {err}, model {}", f.model);
    // Intervals widen (weakly) with the horizon and cover the noise.
    assert!(f.upper[47] - f.lower[47] >= f.upper[0] - f.lower[0]);
    assert!(f.upper[0] - f.point[0] > 0.2);
}

#[test]
fn trend_is_followed() {
    let y: Vec<f64> = (0..200).map(|t| 10.0 + 0.5 * t as f64 + noise(t)).collect();
    let f = forecast(&y, &cfg(10, vec![])).unwrap();
    assert_eq!(f.season, None);
    let truth = 10.0 + 0.5 * 209.0;
    assert!(
        (f.point[9] - truth).abs() < 2.0,
        "{} vs {truth} ({})",
        f.point[9],
        f.model
    );
}

#[test]
fn non_negative_series_stay_non_negative() {
    let y: Vec<f64> = (0..100).map(|t| (100 - t) as f64 * 0.1).collect();
    let f = forecast(&y, &cfg(48, vec![])).unwrap();
    assert!(f.lower.iter().chain(&f.point).all(|&v| v >= 0.0));
    let off = ForecastConfig {
        non_negative: false,
        ..cfg(48, vec![])
    };
    let g = forecast(&y, &off).unwrap();
    assert!(g.point.iter().any(|&v| v < 0.0));
}

proptest::proptest! {
    #[test]
    fn never_panics_and_orders_bounds(
        y in proptest::collection::vec(-1e6f64..1e6, 0..120),
        h in 1usize..30,
        m in 0usize..30,
    ) {
        if let Ok(f) = forecast(&y, &cfg(h, vec![m])) {
            proptest::prop_assert_eq!(f.point.len(), h);
            for k in 0..h {
                proptest::prop_assert!(f.point[k].is_finite());
                proptest::prop_assert!(f.lower[k] <= f.point[k] + 1e-9);
                proptest::prop_assert!(f.point[k] <= f.upper[k] + 1e-9);
            }
        }
    }
}
