//! Throughput of the full detector ensemble (level novelty included): one
//! series and many interleaved series.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use tocsin_anomaly::{DetectorConfig, SeriesDetector};

const STEP: i64 = 300_000_000_000;

fn series(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let day = (2.0 * std::f64::consts::PI * i as f64 / 288.0).sin() * 5.0;
            let spike = if rng.random::<f64>() < 0.002 {
                30.0
            } else {
                0.0
            };
            20.0 + day + spike + rng.random::<f64>()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    // A declared range switches the level-novelty member on: every member
    // of the ensemble runs. `one_series_no_range` is the same without it.
    let cfg = DetectorConfig {
        value_range: Some([0.0, 60.0]),
        ..DetectorConfig::default()
    };
    let mut g = c.benchmark_group("detector");
    let n = 20_000;
    let data = series(1, n);
    for (name, cfg) in [
        ("one_series", cfg.clone()),
        ("one_series_no_range", DetectorConfig::default()),
    ] {
        // Warm the detector first so the bench measures the steady state
        // (seasonal baselines active, tail models fitted).
        let mut warm = SeriesDetector::new(&cfg);
        for (i, &x) in data.iter().enumerate() {
            warm.update(i as i64 * STEP, x);
        }
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter_batched(
                || warm.clone(),
                |mut d| {
                    let base = n as i64 * STEP;
                    for (i, &x) in data.iter().enumerate() {
                        black_box(d.update(base + i as i64 * STEP, x));
                    }
                    d
                },
                criterion::BatchSize::LargeInput,
            );
        });
    }
    for n_series in [100usize, 1000] {
        let per = 200;
        let datas: Vec<Vec<f64>> = (0..n_series)
            .map(|s| series(s as u64, 2000 + per))
            .collect();
        let mut dets: Vec<SeriesDetector> =
            (0..n_series).map(|_| SeriesDetector::new(&cfg)).collect();
        for (d, xs) in dets.iter_mut().zip(&datas) {
            for (i, &x) in xs[..2000].iter().enumerate() {
                d.update(i as i64 * STEP, x);
            }
        }
        g.throughput(Throughput::Elements((n_series * per) as u64));
        g.bench_with_input(
            BenchmarkId::new("many_series", n_series),
            &n_series,
            |b, _| {
                b.iter_batched(
                    || dets.clone(),
                    |mut ds| {
                        // Round-robin, as points of many series arrive interleaved.
                        for i in 2000..2000 + per {
                            for (d, xs) in ds.iter_mut().zip(&datas) {
                                black_box(d.update(i as i64 * STEP, xs[i]));
                            }
                        }
                        ds
                    },
                    criterion::BatchSize::LargeInput,
                );
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
