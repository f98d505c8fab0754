use super::*;
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const STEP: i64 = 300_000_000_000; // 5 minutes

fn noisy(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| 10.0 + rng.random::<f64>() - 0.5).collect()
}

#[test]
fn snapshot_restore_gives_identical_scores() {
    let cfg = DetectorConfig::default();
    let mut rng = SmallRng::seed_from_u64(7);
    let data: Vec<f64> = (0..6000)
        .map(|i| {
            let day = (2.0 * std::f64::consts::PI * i as f64 / 288.0).sin() * 5.0;
            let jump = if i > 4000 { 8.0 } else { 0.0 };
            20.0 + day + jump + rng.random::<f64>()
        })
        .collect();
    let mut a = SeriesDetector::new(&cfg);
    for (i, &x) in data[..3500].iter().enumerate() {
        a.update(i as i64 * STEP, x);
    }
    let json = serde_json::to_string(&a).unwrap();
    let mut b: SeriesDetector = serde_json::from_str(&json).unwrap();
    let mut c = a.clone();
    for (i, &x) in data.iter().enumerate().skip(3500) {
        let t = i as i64 * STEP;
        let sa = a.update(t, x);
        let sb = b.update(t, x);
        let sc = c.update(t, x);
        assert_eq!(sa, sb, "restored detector diverged at {i}");
        assert_eq!(sa, sc, "cloned detector diverged at {i}");
    }
}

#[test]
fn spike_scores_high_and_points_up() {
    let mut d = SeriesDetector::new(&DetectorConfig::default());
    let data = noisy(1, 2000);
    let mut max_normal: f64 = 0.0;
    for (i, &x) in data.iter().enumerate() {
        let s = d.update(i as i64 * STEP, x);
        if i > 500 {
            max_normal = max_normal.max(s.score);
        }
    }
    let s = d.update(2000 * STEP, 30.0);
    assert!(s.score > max_normal + 0.1, "{} vs {max_normal}", s.score);
    assert!(s.score > 0.3);
    assert_eq!(s.direction, Direction::Up);
    assert!((s.expected - 10.0).abs() < 0.3);
}

#[test]
fn level_drop_detected_down() {
    let mut d = SeriesDetector::new(&DetectorConfig::default());
    let data = noisy(2, 2000);
    for (i, &x) in data.iter().enumerate() {
        d.update(i as i64 * STEP, x);
    }
    let mut best = (0.0, Direction::None);
    for i in 0..20 {
        let s = d.update((2000 + i) * STEP, 7.0 + 0.1 * (i % 3) as f64);
        if s.score > best.0 {
            best = (s.score, s.direction);
        }
    }
    assert!(best.0 > 0.3, "{best:?}");
    assert_eq!(best.1, Direction::Down);
}

#[test]
fn daily_season_is_learned_and_used() {
    let mut d = SeriesDetector::new(&DetectorConfig::default());
    let mut rng = SmallRng::seed_from_u64(3);
    // The edge sits on a 30-minute phase-bin boundary (96 × 5 min); an edge
    // inside a bin raises that bin's normal scores (known limitation of the
    // coarse profile, see the crate report).
    let f = |i: usize| if (i % 288) < 96 { 50.0 } else { 10.0 };
    let mut late_max: f64 = 0.0;
    for i in 0..(288 * 10) {
        let s = d.update(i as i64 * STEP, f(i) + rng.random::<f64>());
        if i > 288 * 7 {
            late_max = late_max.max(s.score);
        }
    }
    assert_eq!(d.baseline, Baseline::Daily);
    assert!(late_max < 0.4, "{late_max}");
    // The expected value follows the square wave.
    let s = d.update(288 * 10 * STEP, 50.5);
    // 30-minute phase bins: the bin mean lags a sharp edge a little.
    assert!((s.expected - 50.5).abs() < 3.0, "{:?}", s);
    // Missing the daily rise is an anomaly only the seasonal baseline sees.
    let mut best: f64 = 0.0;
    for i in 1..40 {
        let s = d.update((288 * 10 + i) * STEP, 10.5);
        best = best.max(s.score);
    }
    assert!(best > late_max + 0.1, "{best} vs {late_max}");
}

#[test]
fn non_finite_values_are_ignored() {
    let mut d = SeriesDetector::new(&DetectorConfig::default());
    for i in 0..300 {
        d.update(i * STEP, 1.0 + (i % 5) as f64);
    }
    let before = serde_json::to_string(&d).unwrap();
    let s = d.update(300 * STEP, f64::NAN);
    assert_eq!(s.score, 0.0);
    assert_eq!(serde_json::to_string(&d).unwrap(), before);
}

#[test]
fn warmup_scores_zero() {
    let cfg = DetectorConfig::default();
    let mut d = SeriesDetector::new(&cfg);
    for i in 0..cfg.warmup as i64 {
        let x = if i == 100 { 1e6 } else { 1.0 };
        assert_eq!(d.update(i * STEP, x).score, 0.0);
    }
}

#[test]
fn state_stays_under_four_kilobytes() {
    // Four weeks of a daily-seasonal series with spikes: every profile bin
    // and tail histogram is populated, so this is the steady-state size;
    // with a declared range the novelty member's tables are in it too.
    for range in [None, Some([0.0, 60.0])] {
        let cfg = DetectorConfig {
            value_range: range,
            ..DetectorConfig::default()
        };
        let mut d = SeriesDetector::new(&cfg);
        let mut rng = SmallRng::seed_from_u64(11);
        for i in 0..(288 * 28) {
            let day = (2.0 * std::f64::consts::PI * i as f64 / 288.0).sin() * 5.0;
            let spike = if rng.random::<f64>() < 0.002 {
                30.0
            } else {
                0.0
            };
            d.update(i as i64 * STEP, 20.0 + day + spike + rng.random::<f64>());
        }
        eprintln!("baseline {}", d.diagnostics().baseline);
        let mem = d.state_size_bytes();
        let json = serde_json::to_string(&d).unwrap().len();
        eprintln!("range {range:?}: {mem} bytes in memory, {json} bytes as JSON");
        assert!(mem <= 4096, "in-memory state {mem} bytes");
        assert!(json <= 12 * 1024, "JSON state {json} bytes");
    }
}

/// Replaces numbers in a JSON tree by values drawn from `picks`, cycling.
fn mutate(v: &mut serde_json::Value, picks: &[f64], k: &mut usize, every: usize) {
    match v {
        serde_json::Value::Number(_) => {
            *k += 1;
            if (*k).is_multiple_of(every) {
                let x = picks[*k % picks.len()];
                if let Some(n) = serde_json::Number::from_f64(x) {
                    *v = serde_json::Value::Number(n);
                }
            }
        }
        serde_json::Value::Array(a) => {
            if *k % 7 == 3 {
                a.truncate(a.len() / 2);
            }
            for x in a {
                mutate(x, picks, k, every);
            }
        }
        serde_json::Value::Object(o) => {
            for (_, x) in o.iter_mut() {
                mutate(x, picks, k, every);
            }
        }
        _ => {}
    }
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e3f64..1e3,
        1 => proptest::num::f64::ANY,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::MAX),
        1 => Just(-f64::MAX),
        1 => Just(0.0),
    ]
}

fn any_step() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => Just(STEP),
        1 => Just(0i64),
        1 => -STEP * 50..STEP * 50,
        1 => Just(i64::MAX / 3),
        1 => Just(i64::MIN / 3),
        1 => Just(i64::MAX),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn scores_stay_in_unit_interval(values in proptest::collection::vec(-1e12f64..1e12, 1..400)) {
        let mut d = SeriesDetector::new(&DetectorConfig { warmup: 0, ..DetectorConfig::default() });
        for (i, v) in values.iter().enumerate() {
            let s = d.update(i as i64 * STEP, *v);
            prop_assert!((0.0..=1.0).contains(&s.score));
            prop_assert!(s.expected.is_finite());
        }
    }

    #[test]
    fn arbitrary_values_and_timestamps_never_panic(
        points in proptest::collection::vec((any_step(), any_value()), 1..600),
        start in proptest::num::i64::ANY,
    ) {
        let cfg = DetectorConfig { warmup: 0, tail_history: 64, ..DetectorConfig::default() };
        let mut d = SeriesDetector::new(&cfg);
        let mut t = start;
        for (step, v) in points {
            t = t.wrapping_add(step);
            let s = d.update(t, v);
            prop_assert!((0.0..=1.0).contains(&s.score), "{s:?}");
        }
        // The state still round-trips through JSON.
        let json = serde_json::to_string(&d).unwrap();
        let mut back: SeriesDetector = serde_json::from_str(&json).unwrap();
        prop_assert!((0.0..=1.0).contains(&back.update(t, 1.0).score));
    }

    #[test]
    fn restored_arbitrary_state_never_panics(
        picks in proptest::collection::vec(any_value(), 1..16),
        every in 1usize..40,
        values in proptest::collection::vec(any_value(), 1..200),
    ) {
        // A realistic checkpoint (seasonal profiles and tails populated),
        // then numbers and array lengths corrupted; whatever still
        // deserialises must run without panicking.
        let mut d = SeriesDetector::new(&DetectorConfig::default());
        for i in 0..(288 * 3) {
            d.update(i as i64 * STEP, 10.0 + ((i % 288) as f64 / 30.0).sin());
        }
        let mut tree = serde_json::to_value(&d).unwrap();
        let mut k = 0;
        mutate(&mut tree, &picks, &mut k, every);
        if let Ok(mut r) = serde_json::from_value::<SeriesDetector>(tree) {
            for (i, v) in values.iter().enumerate() {
                let s = r.update((288 * 3 + i) as i64 * STEP, *v);
                prop_assert!((0.0..=1.0).contains(&s.score), "{s:?}");
            }
        }
    }
}

#[test]
fn snapshot_restore_gives_identical_scores_with_the_novelty_member() {
    let cfg = Arc::new(DetectorConfig {
        value_range: Some([0.0, 60.0]),
        ..DetectorConfig::default()
    });
    let mut rng = SmallRng::seed_from_u64(9);
    let data: Vec<f64> = (0..3000)
        .map(|i| {
            // Bursts to one level before the snapshot, to a higher one after.
            let burst = match i {
                650 | 1350 => 35.0,
                2200 => 45.0,
                _ => 0.0,
            };
            10.0 + burst + 5.0 * rng.random::<f64>()
        })
        .collect();
    let mut a = SeriesDetector::with_shared_config(cfg.clone());
    for (i, &x) in data[..1500].iter().enumerate() {
        a.update(i as i64 * STEP, x);
    }
    let json = serde_json::to_string(&a).unwrap();
    let mut b: SeriesDetector = serde_json::from_str(&json).unwrap();
    b.set_config(cfg);
    let mut loud = 0;
    for (i, &x) in data.iter().enumerate().skip(1500) {
        let t = i as i64 * STEP;
        let sa = a.update(t, x);
        assert_eq!(sa, b.update(t, x), "restored detector diverged at {i}");
        loud += usize::from(sa.score >= 0.45);
    }
    assert!(loud > 0, "the burst to a new level scores");
}
