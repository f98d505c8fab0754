//! Throughput of `PatternMiner::observe` (masking included) over the labelled
//! corpus, and of the masker alone.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tocsin_patterns::{MinerConfig, PatternMiner, corpus};

fn observe(c: &mut Criterion) {
    let lines = corpus::generate(42, 200_000);
    let mut g = c.benchmark_group("miner");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.sample_size(10);
    // Warm miner: the steady state of a long-running stream.
    let mut warm = PatternMiner::new(MinerConfig::default()).unwrap();
    for l in &lines {
        warm.observe(l.namespace, 0, &l.line);
    }
    g.bench_function("observe_warm_200k", |b| {
        b.iter(|| {
            for (i, l) in lines.iter().enumerate() {
                black_box(warm.observe(l.namespace, i as i64, &l.line));
            }
        })
    });
    g.bench_function("observe_cold_200k", |b| {
        b.iter(|| {
            let mut m = PatternMiner::new(MinerConfig::default()).unwrap();
            for (i, l) in lines.iter().enumerate() {
                black_box(m.observe(l.namespace, i as i64, &l.line));
            }
            m.len()
        })
    });
    g.finish();
}

criterion_group!(benches, observe);
criterion_main!(benches);
