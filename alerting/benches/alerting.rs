//! Throughput of the alert pipeline (Lifecycle + Dispatcher) and its hot paths on a
//! realistic config: route tree depth 3, 10 inhibit rules, 20 silences, over a
//! generated stream of 100k alerts from 1k distinct fingerprints.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tocsin_alerting::synth::{SynthConfig, generate};
use tocsin_alerting::{
    AlertEvent, AlertmanagerConfig, Lifecycle, LifecycleConfig, Pipeline, Router, Silence,
    Silences, parse_matchers,
};

const AM_YML: &str = include_str!("../bench/am.yml");

fn silences(start: i64) -> Silences {
    let mut s = Silences::new();
    let services = [
        "checkout", "cart", "payments", "search", "catalog", "auth", "users", "orders",
    ];
    for i in 0..20usize {
        let m = match i % 4 {
            0 => format!(
                r#"{{service="{}", severity="info"}}"#,
                services[i % services.len()]
            ),
            1 => format!(
                r#"{{alertname="CertExpiry", cluster="{}"}}"#,
                ["eu-1", "us-1", "ap-1"][i % 3]
            ),
            2 => format!(
                r#"{{instance=~"{}-.*", env="staging"}}"#,
                services[i % services.len()]
            ),
            _ => format!(
                r#"{{team="infra", alertname!~"InstanceDown|DiskFull", service="{}"}}"#,
                services[i % services.len()]
            ),
        };
        let matchers = parse_matchers(&m).unwrap_or_default();
        // Half active across the stream, half expired or later, as in a real store.
        let (a, b) = if i % 2 == 0 {
            (start, start + 24 * 3600 * 1_000_000_000)
        } else {
            (
                start + 3600 * 1_000_000_000,
                start + 2 * 3600 * 1_000_000_000,
            )
        };
        let _ = s.create(Silence {
            id: String::new(),
            matchers,
            starts_at_ns: a,
            ends_at_ns: b,
            created_by: "bench".into(),
            comment: format!("silence {i}"),
        });
    }
    s
}

fn run_pipeline(cfg: &AlertmanagerConfig, sil: &Silences, evs: &[AlertEvent]) -> usize {
    let mut p = Pipeline::new(LifecycleConfig::default(), cfg.clone());
    p.dispatcher.set_silences(sil.clone());
    let mut n = 0;
    for e in evs {
        n += p.push(e).len();
    }
    let last = evs.last().map_or(0, |e| e.ts_ns);
    n + p.advance(last + 3600 * 1_000_000_000).len()
}

fn bench(c: &mut Criterion) {
    let evs = generate(&SynthConfig::default());
    let cfg = AlertmanagerConfig::from_yaml(AM_YML).unwrap_or_else(|e| panic!("bench config: {e}"));
    let sil = silences(evs.first().map_or(0, |e| e.ts_ns));
    let mut g = c.benchmark_group("alerting");
    g.sample_size(10);
    g.throughput(Throughput::Elements(evs.len() as u64));
    g.bench_function("pipeline_100k_alerts_1k_fp", |b| {
        b.iter(|| black_box(run_pipeline(&cfg, &sil, black_box(&evs))))
    });
    g.bench_function("lifecycle_only_100k", |b| {
        b.iter(|| {
            let mut lc = Lifecycle::new(LifecycleConfig::default());
            let mut n = 0;
            for e in &evs {
                n += lc.advance(e.ts_ns).len();
                n += lc.observe(e).len();
            }
            black_box(n)
        })
    });
    let router = Router::new(&cfg.route);
    g.bench_function("route_100k", |b| {
        let mut buf = Vec::new();
        b.iter(|| {
            let mut n = 0;
            for e in &evs {
                buf.clear();
                router.route_indices(&e.labels, &mut buf);
                n += buf.len();
            }
            black_box(n)
        })
    });
    g.bench_function("is_silenced_100k", |b| {
        b.iter(|| {
            let mut n = 0;
            for e in &evs {
                n += usize::from(sil.is_silenced(&e.labels, e.ts_ns).is_some());
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
