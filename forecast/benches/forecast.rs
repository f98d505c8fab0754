//! Forecast throughput on 700-point hourly-like histories with a 48-step horizon.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tocsin_forecast::{ForecastConfig, forecast, m4, season_candidates_for_step};

/// Daily cycle, slow trend, noise and occasional spikes, like a busy host's CPU.
fn series(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|t| {
            let day = (2.0 * std::f64::consts::PI * (t % 24) as f64 / 24.0).sin();
            let spike = if rng.random::<f64>() < 0.02 {
                30.0
            } else {
                0.0
            };
            40.0 + 0.01 * t as f64 + 15.0 * day + rng.random::<f64>() * 5.0 + spike
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let histories: Vec<Vec<f64>> = (0..32).map(|s| series(s, 700)).collect();
    let config = ForecastConfig {
        horizon: 48,
        season_candidates: season_candidates_for_step(3600),
        ..ForecastConfig::default()
    };
    let mut g = c.benchmark_group("forecast_700x48");
    g.throughput(Throughput::Elements(histories.len() as u64));
    g.bench_function("tocsin_auto", |b| {
        b.iter(|| {
            for h in &histories {
                black_box(forecast(black_box(h), &config).ok());
            }
        })
    });
    g.bench_function("m4_theta", |b| {
        b.iter(|| {
            for h in &histories {
                black_box(m4::theta_classic(black_box(h), 48, 24));
            }
        })
    });
    g.bench_function("m4_naive2", |b| {
        b.iter(|| {
            for h in &histories {
                black_box(m4::naive2(black_box(h), 48, 24));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
