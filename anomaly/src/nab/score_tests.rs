use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const N: usize = 1000;

/// File of `N` rows with timestamps 0..N and windows given in rows.
fn file(windows: &[(i64, i64)], hits: &[(usize, f64)]) -> ScoredFile {
    let ts: Vec<i64> = (0..N as i64).collect();
    let mut scores = vec![0.0; N];
    for &(i, s) in hits {
        scores[i] = s;
    }
    ScoredFile::new("cat/f.csv", &ts, windows, scores)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn probation_and_sigmoid_basics() {
    assert_eq!(probation_rows(1000), 150);
    assert_eq!(probation_rows(10_000), 750);
    assert!(close(sigmoid(0.0), 0.0));
    assert!(sigmoid(-1.0) > 0.98 && sigmoid(1.0) < -0.98);
}

#[test]
fn perfect_detector_scores_exactly_100() {
    let f = file(&[(300, 399), (700, 799)], &[(300, 1.0), (700, 1.0)]);
    for p in PROFILES {
        let r = best_threshold(std::slice::from_ref(&f), &p);
        assert!(close(r.score(), 100.0), "{} {}", p.name, r.score());
        assert_eq!((r.total.tp, r.total.fn_, r.total.fp), (2, 0, 0));
    }
}

#[test]
fn null_detector_scores_0() {
    let f = file(&[(300, 399), (700, 799)], &[]);
    for p in PROFILES {
        let r = best_threshold(std::slice::from_ref(&f), &p);
        assert!(close(r.score(), 0.0), "{} {}", p.name, r.score());
        assert!(close(r.total.raw, -2.0 * p.a_fn));
    }
}

#[test]
fn left_edge_detection_earns_exactly_a_tp() {
    let f = file(&[(300, 399)], &[(300, 0.9)]);
    let o = f.evaluate(0.5, &STANDARD);
    assert!(close(o.raw, STANDARD.a_tp));
    // A later detection earns less, and only the earliest one counts.
    let g = file(&[(300, 399)], &[(350, 0.9), (380, 0.9)]);
    let o2 = g.evaluate(0.5, &STANDARD);
    let expect = sigmoid(-50.0 / 100.0) / sigmoid(-1.0);
    assert!(close(o2.raw, expect), "{} vs {expect}", o2.raw);
    assert_eq!((o2.tp, o2.fp), (1, 0));
    // The right edge still earns a little.
    let h = file(&[(300, 399)], &[(399, 0.9)]);
    let o3 = h.evaluate(0.5, &STANDARD);
    assert!(o3.raw > 0.0 && o3.raw < 0.1);
}

#[test]
fn fp_before_any_window_costs_a_fp() {
    for p in PROFILES {
        let f = file(&[(300, 399)], &[(200, 0.9), (300, 0.9)]);
        let o = f.evaluate(0.5, &p);
        assert!(close(o.raw, p.a_tp - p.a_fp), "{}", o.raw);
        assert_eq!(o.fp, 1);
    }
}

#[test]
fn detections_in_probation_are_ignored() {
    let f = file(&[(300, 399)], &[(100, 0.9), (300, 0.9)]);
    let o = f.evaluate(0.5, &STANDARD);
    assert!(close(o.raw, 1.0));
    assert_eq!(o.fp, 0);
}

#[test]
fn fp_after_window_is_sigmoid_weighted() {
    let w = 100.0;
    let mut prev = 0.0;
    for d in [1usize, 10, 50, 99, 300] {
        let f = file(&[(300, 399)], &[(300, 0.9), (399 + d, 0.9)]);
        let o = f.evaluate(0.5, &STANDARD);
        let fp_part = o.raw - 1.0;
        let expect = STANDARD.a_fp * sigmoid(d as f64 / (w - 1.0));
        assert!(close(fp_part, expect), "d={d}: {fp_part} vs {expect}");
        assert!(fp_part < prev && fp_part > -STANDARD.a_fp);
        prev = fp_part;
    }
    // Right after the window an FP costs almost nothing.
    let f = file(&[(300, 399)], &[(300, 0.9), (400, 0.9)]);
    assert!(f.evaluate(0.5, &STANDARD).raw > 1.0 - 0.01);
}

#[test]
fn missed_window_costs_a_fn() {
    let f = file(&[(300, 399), (700, 799)], &[(300, 0.9)]);
    let o = f.evaluate(0.5, &REWARD_LOW_FN);
    assert!(close(o.raw, 1.0 - 2.0));
    assert!(close(o.normalised().unwrap(), 100.0 * (-1.0 + 4.0) / 6.0));
}

#[test]
fn sweep_matches_brute_force() {
    let mut rng = SmallRng::seed_from_u64(11);
    let files: Vec<ScoredFile> = (0..4)
        .map(|k| {
            let hits: Vec<(usize, f64)> = (0..60)
                .map(|_| {
                    (
                        rng.random_range(0..N),
                        (rng.random_range(0..40) as f64) / 40.0,
                    )
                })
                .collect();
            let ws: &[(i64, i64)] = if k == 3 {
                &[]
            } else {
                &[(300, 399), (650, 720)]
            };
            file(ws, &hits)
        })
        .collect();
    for p in PROFILES {
        let best = best_threshold(&files, &p);
        let mut brute = f64::NEG_INFINITY;
        for t in 0..=41 {
            let r = evaluate_corpus(&files, t as f64 / 40.0, &p);
            brute = brute.max(r.total.raw);
        }
        brute = brute.max(evaluate_corpus(&files, f64::INFINITY, &p).total.raw);
        assert!(
            close(best.total.raw, brute),
            "{}: {} vs {brute}",
            p.name,
            best.total.raw
        );
    }
}
