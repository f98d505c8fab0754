//! Processors on Arrow batches, as the pipeline drives them: the template
//! miner filling `logs.pattern_id`, the anomaly detector over `metrics`,
//! and the anomaly detector's checkpoint (whole, and the changes after a
//! hundredth of the series moved).
//!
//! `cargo bench -p tocsin-processors --bench processors` — throughput per row,
//! on one core.

use std::hint::black_box;

use arrow::array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tocsin_ingest::builders::{Lineage, LogRow, LogsBuilder, MetricRow, MetricsBuilder};
use tocsin_ingest::{Table, TableBuilder};
use tocsin_processors::Processor;
use tocsin_processors::anomaly::{AnomalyConfig, AnomalyProcessor};
use tocsin_processors::log_patterns::{LogPatternsConfig, LogPatternsProcessor};
use tocsin_processors::output::Output;

const T0: i64 = 1_795_681_800_000_000_000;
const ROWS: usize = 8192;
const BATCHES: usize = 16;

fn lineage(offset: usize) -> Lineage<'static> {
    Lineage {
        topic: "bench",
        partition: 0,
        offset: offset as i64,
        received_ns: 0,
    }
}

/// Service log lines of a dozen templates with varying values.
fn log_batches() -> Vec<RecordBatch> {
    let services = ["frontend", "checkout", "payments", "catalog", "auth"];
    (0..BATCHES)
        .map(|b| {
            let mut builder = LogsBuilder::new();
            for r in 0..ROWS {
                let i = b * ROWS + r;
                let message = match i % 6 {
                    0 => format!("GET /api/items/{i} 200 in {}ms", i % 300),
                    1 => format!(
                        "user {} logged in from 10.0.{}.{}",
                        i % 9000,
                        i % 255,
                        i % 7
                    ),
                    2 => format!("cache hit for key {:x}", i * 7919),
                    3 => format!("processed order {i} in {}ms", i % 90),
                    4 => format!("connection pool stats: active={} idle={}", i % 20, i % 7),
                    _ => format!("payment provider timeout after {}ms", 1000 + i % 4000),
                };
                builder.push(
                    &LogRow {
                        ts: T0 + i as i64 * 1_000_000,
                        service: Some(services[i % services.len()]),
                        host: Some("h-1"),
                        env: None,
                        version: Some("1.4.2"),
                        level: if i % 6 == 5 { "error" } else { "info" },
                        message: &message,
                        trace_id: None,
                    },
                    &lineage(i),
                );
            }
            TableBuilder::Logs(builder).finish().expect("logs batch")
        })
        .collect()
}

/// One gauge sample for each of `series` series per 10 s step, batches
/// `first..first + BATCHES` of an endless stream.
fn metric_batches(series: usize, first: usize) -> Vec<RecordBatch> {
    (first..first + BATCHES)
        .map(|b| {
            let mut builder = MetricsBuilder::new();
            for r in 0..ROWS {
                let i = b * ROWS + r;
                let s = i % series;
                let step = (i / series) as i64;
                let host = format!("h-{s}");
                builder.labels.push_entry("route", "/pay");
                builder.push(
                    &MetricRow {
                        ts: T0 + step * 10_000_000_000,
                        name: "latency_p95_ms",
                        value: 50.0 + ((i * 7919) % 13) as f64,
                        kind: "gauge",
                        service: Some("checkout"),
                        host: Some(&host),
                        env: None,
                        version: None,
                    },
                    &lineage(i),
                );
            }
            TableBuilder::Metrics(builder)
                .finish()
                .expect("metrics batch")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let logs = log_batches();
    let mut g = c.benchmark_group("processors");
    g.throughput(Throughput::Elements((ROWS * BATCHES) as u64));
    g.bench_function("log_patterns_enrich", |b| {
        b.iter_batched(
            || LogPatternsProcessor::new(LogPatternsConfig::default()).expect("config"),
            |mut p| {
                let mut out = Output::default();
                for batch in &logs {
                    let enriched = p
                        .enrich(Table::Logs, batch.clone(), &mut out)
                        .expect("enrich");
                    black_box(enriched);
                }
                out
            },
            criterion::BatchSize::LargeInput,
        )
    });
    for series in [100usize, 1000] {
        // Past the detectors' warm-up: every series has seen 400 points.
        let mut warm = AnomalyProcessor::new(AnomalyConfig::default());
        let mut sink = Output::default();
        let warm_batches = 400 * series / ROWS + 1;
        for chunk in 0..warm_batches.div_ceil(BATCHES) {
            for batch in metric_batches(series, chunk * BATCHES) {
                warm.process(Table::Metrics, &batch, &mut sink)
                    .expect("warm up");
            }
        }
        let metrics = metric_batches(series, warm_batches.div_ceil(BATCHES) * BATCHES);
        g.bench_function(format!("anomaly_process/{series}_series"), |b| {
            b.iter_batched(
                || warm.clone(),
                |mut p| {
                    let mut out = Output::default();
                    for batch in &metrics {
                        p.process(Table::Metrics, batch, &mut out).expect("process");
                    }
                    out
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Counts what a checkpoint writes, as the state file does, and drops it.
struct Counted(u64);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A processor whose `series` series have each seen 400 points.
fn warmed_up(series: usize) -> AnomalyProcessor {
    let mut p = AnomalyProcessor::new(AnomalyConfig::default());
    let mut sink = Output::default();
    let batches = 400 * series / ROWS + 1;
    for chunk in 0..batches.div_ceil(BATCHES) {
        for batch in metric_batches(series, chunk * BATCHES) {
            p.process(Table::Metrics, &batch, &mut sink)
                .expect("warm up");
        }
    }
    p
}

fn checkpoint(c: &mut Criterion) {
    let series = 10_000;
    let mut warm = warmed_up(series);
    let mut whole = Counted(0);
    warm.snapshot(&mut whole).expect("snapshot");
    // One point for each of the first hundredth of the series.
    let moved = {
        let mut b = MetricsBuilder::new();
        for s in 0..series / 100 {
            let host = format!("h-{s}");
            b.labels.push_entry("route", "/pay");
            b.push(
                &MetricRow {
                    ts: T0 + 1_000_000 * 10_000_000_000,
                    name: "latency_p95_ms",
                    value: 51.0,
                    kind: "gauge",
                    service: Some("checkout"),
                    host: Some(&host),
                    env: None,
                    version: None,
                },
                &lineage(s),
            );
        }
        TableBuilder::Metrics(b).finish().expect("batch")
    };
    let mut changes = Counted(0);
    {
        let mut p = warm.clone();
        p.process(Table::Metrics, &moved, &mut Output::default())
            .expect("process");
        p.snapshot_changes(&mut changes).expect("changes");
    }
    eprintln!(
        "anomaly checkpoint of {series} series: whole {} bytes, changes after {} series moved {} bytes",
        whole.0,
        series / 100,
        changes.0
    );
    let mut g = c.benchmark_group("anomaly_checkpoint");
    g.throughput(Throughput::Elements(series as u64));
    g.sample_size(10);
    g.bench_function(format!("whole/{series}_series"), |b| {
        b.iter(|| {
            let mut out = Counted(0);
            warm.snapshot(&mut out).expect("snapshot");
            black_box(out.0)
        })
    });
    g.bench_function(format!("changes_of_a_hundredth/{series}_series"), |b| {
        b.iter_batched(
            || {
                let mut p = warm.clone();
                p.process(Table::Metrics, &moved, &mut Output::default())
                    .expect("process");
                p
            },
            |mut p| {
                let mut out = Counted(0);
                p.snapshot_changes(&mut out).expect("changes");
                black_box(out.0)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench, checkpoint);
criterion_main!(benches);
