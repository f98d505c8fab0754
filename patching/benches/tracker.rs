//! Findings/s through `PatchTracker` (ingest + scan closing + escalation).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tocsin_patching::generator::{GenConfig, Item, generate};
use tocsin_patching::{Exposure, PatchTracker};
use tocsin_patching::{Kev, PatchConfig, Prioritizer, Severity, Signals};

fn tracker(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracker");
    group.sample_size(10);
    for targets in [100usize, 400] {
        let s = generate(&GenConfig {
            targets,
            days: 30,
            ..GenConfig::default()
        });
        group.throughput(Throughput::Elements(s.rows as u64));
        group.bench_with_input(BenchmarkId::new("replay_30d", targets), &s, |b, s| {
            b.iter(|| {
                let mut t = PatchTracker::new(s.config.clone(), s.kev.clone()).unwrap();
                let mut out = Vec::new();
                for item in &s.items {
                    match item {
                        Item::Row(r) => t.ingest(&r.as_finding(), &mut out),
                        Item::Watermark(w) => t.on_watermark(*w, &mut out),
                    }
                }
                t.flush(&mut out);
                out.len()
            })
        });
    }
    group.finish();
}

fn assess(c: &mut Criterion) {
    let cfg = PatchConfig::default();
    let p = Prioritizer {
        epss_threshold: cfg.epss_threshold,
        exposure: Exposure::new(&["*/public/*".to_string(), "checkout".to_string()]).unwrap(),
        kev: Kev::from_ids((0..1500).map(|i| format!("CVE-2024-{i:05}"))),
    };
    let sig = Signals {
        target: "registry.example/public/svc1:v1",
        service: Some("svc1"),
        cve: "CVE-2024-00042",
        cvss: Some(8.1),
        severity: Severity::High,
        known_exploited: false,
        epss: Some(0.3),
    };
    c.bench_function("assess", |b| {
        b.iter(|| p.assess(std::hint::black_box(&sig)))
    });
}

criterion_group!(benches, tracker, assess);
criterion_main!(benches);
