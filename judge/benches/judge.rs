//! Criterion benches of the judge's hot paths: `observe_request` throughput and
//! the cost of an `advance` that closes a window and judges a rollout.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tocsin_judge::RolloutJudge;
use tocsin_judge::config::{ChangeKind, DeployEvent, JudgeConfig, NS_PER_SEC, Strategy};
use tocsin_judge::slo::{Slo, SloConfig, SloKind, SloTracker};

const T0: i64 = 1_700_000_040 * NS_PER_SEC;

fn deploy() -> DeployEvent {
    DeployEvent {
        ts_ns: T0,
        service: "checkout".into(),
        version: "v2".into(),
        baseline_version: "v1".into(),
        strategy: Strategy::Canary,
        traffic_weight: 0.1,
        change_id: "d1".into(),
        kind: ChangeKind::Deploy,
    }
}

/// Deterministic latency stream (roughly lognormal) without an RNG in the loop.
fn latencies(n: usize) -> Vec<f64> {
    let mut x = 0x1234_5678_u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            80.0 * (1.5 * (u - 0.5)).exp()
        })
        .collect()
}

fn bench_observe(c: &mut Criterion) {
    let lat = latencies(100_000);
    let mut g = c.benchmark_group("observe_request");
    g.throughput(Throughput::Elements(lat.len() as u64));
    g.bench_function("100k_requests_2_versions", |b| {
        let mut j = RolloutJudge::new(JudgeConfig::default()).unwrap();
        j.observe_deploy(deploy());
        let mut t = T0;
        b.iter(|| {
            for (i, &l) in lat.iter().enumerate() {
                t += 1_000_000;
                let v = if i % 10 == 0 { "v2" } else { "v1" };
                j.observe_request("checkout", v, t, l, i % 97 == 0);
            }
            black_box(&j);
        })
    });
    g.finish();
}

fn bench_advance(c: &mut Criterion) {
    let lat = latencies(60_000);
    // One closed 60 s window with 1000 req/s (10 % canary) plus history: the
    // cost of judging it (merge, MWU, HL, Fisher, tail tests, verdict, SQL).
    let mut j = RolloutJudge::new(JudgeConfig::default()).unwrap();
    for (i, &l) in lat.iter().enumerate() {
        j.observe_request(
            "checkout",
            "v1",
            T0 - 60 * NS_PER_SEC + i as i64 * 1_000_000,
            l,
            i % 97 == 0,
        );
    }
    j.observe_deploy(deploy());
    for (i, &l) in lat.iter().enumerate() {
        let v = if i % 10 == 0 { "v2" } else { "v1" };
        j.observe_request("checkout", v, T0 + i as i64 * 1_000_000, l, i % 97 == 0);
    }
    c.bench_function("advance_close_window_1000rps", |b| {
        b.iter_batched(
            || j.clone(),
            |mut j| black_box(j.advance(T0 + 61 * NS_PER_SEC)),
            BatchSize::LargeInput,
        )
    });
    c.bench_function("advance_no_window_closed", |b| {
        let mut j = j.clone();
        b.iter(|| black_box(j.advance(T0 + 30 * NS_PER_SEC)))
    });
}

fn bench_slo(c: &mut Criterion) {
    let slos = vec![Slo {
        name: "a".into(),
        service: "s".into(),
        objective: 0.999,
        kind: SloKind::Availability,
    }];
    let mut t = SloTracker::new(SloConfig::new(slos)).unwrap();
    let mut now = 0i64;
    c.bench_function("slo_advance_one_minute", |b| {
        b.iter(|| {
            t.observe("a", now, 999, 1000);
            now += 60 * NS_PER_SEC;
            black_box(t.advance(now))
        })
    });
}

criterion_group!(benches, bench_observe, bench_advance, bench_slo);
criterion_main!(benches);
