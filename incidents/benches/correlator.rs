//! Correlator throughput on a generated scenario (one thread): signals and
//! changes in, incident events out, `advance` at every new timestamp.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tocsin_incidents::dedup::Dedup;
use tocsin_incidents::scenario::{ScenarioConfig, generate};
use tocsin_incidents::{AlertSignal, Correlator, CorrelatorConfig};

fn bench(c: &mut Criterion) {
    let sc = generate(&ScenarioConfig {
        seed: 1,
        hours: 72.0,
        ..ScenarioConfig::default()
    });
    let mut d = Dedup::new();
    let signals: Vec<AlertSignal> = sc.alerts.iter().filter_map(|l| d.push(l)).collect();
    let cfg = CorrelatorConfig {
        topology: sc.topology.clone(),
        ..CorrelatorConfig::default()
    };
    let mut g = c.benchmark_group("correlator");
    g.throughput(Throughput::Elements(signals.len() as u64));
    g.bench_function("observe_advance_72h", |b| {
        b.iter(|| {
            let mut corr = Correlator::new(cfg.clone());
            let mut ch = sc.changes.iter().peekable();
            let mut n = 0usize;
            let mut last = i64::MIN;
            for s in &signals {
                while let Some(c) = ch.next_if(|c| c.ts_ns <= s.ts_ns) {
                    corr.observe_change(c);
                }
                if s.ts_ns != last {
                    n += corr.advance(s.ts_ns).len();
                    last = s.ts_ns;
                }
                corr.observe_alert(s);
            }
            n + corr.advance(i64::MAX / 2).len()
        })
    });
    g.finish();
    let mut g = c.benchmark_group("dedup");
    g.throughput(Throughput::Elements(sc.alerts.len() as u64));
    g.bench_function("lines_72h", |b| {
        b.iter(|| {
            let mut d = Dedup::new();
            sc.alerts.iter().filter_map(|l| d.push(l)).count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
