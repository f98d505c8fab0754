//! Decoding shipper lines (JSON, InfluxDB line protocol, syslog, text, ECS)
//! into Arrow batches: the ingest hot path.
//!
//! `cargo bench -p tocsin-ingest --bench decode` — throughput is reported per record and per
//! byte, on one core (criterion runs single-threaded).

/// The allocator of the `tocsin` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use arrow::array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tocsin_ingest::simulator::{Simulator, SimulatorConfig};
use tocsin_ingest::{
    DecodeLimits, Decoder, Lineage, Table, TableBuilder, decode_message, decoder_for,
};

/// Realistic lines from the simulator: the tocsin envelope with attributes.
fn simulator_lines(table: Table, n: usize) -> Vec<Vec<u8>> {
    let cfg = SimulatorConfig {
        enabled: true,
        log_lines_per_sec: 2000.0,
        metrics_interval: std::time::Duration::from_millis(100),
        ..Default::default()
    };
    // Start at a real date: the timestamps are nanoseconds since the epoch,
    // and the decoder tells units apart by magnitude.
    let start = 1_795_681_800_000_000_000;
    let mut sim = Simulator::new(cfg, start);
    let mut out = Vec::new();
    let mut t = start;
    while out.len() < n {
        t += 100_000_000;
        out.extend(
            sim.tick(t)
                .into_iter()
                .filter(|l| l.table == table)
                .map(|l| l.line),
        );
    }
    out.truncate(n);
    out
}

/// What Vector's kafka sink writes for a file source with `codec = "json"`.
fn vector_lines(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"file":"/var/log/app/checkout.log","host":"web-{}","message":"GET /api/cart/{} 200 in {}ms","source_type":"file","timestamp":"2026-11-26T08:30:{:02}.{:09}Z","service":"checkout","level":"info"}}"#,
                i % 16,
                i,
                i % 900,
                i % 60,
                i
            )
            .into_bytes()
        })
        .collect()
}

/// What Telegraf's kafka output writes with `data_format = "influx"`: the
/// `cpu` input's line (10 fields, 2 tags), realistic for a host agent.
fn influx_lines(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                "cpu,cpu=cpu{},host=web-{} usage_user={}.25,usage_system=1.5,usage_idle=90.125,usage_iowait=0,usage_irq=0,usage_softirq=0.1,usage_steal=0,usage_guest=0,usage_guest_nice=0,usage_nice=0 {}",
                i % 8,
                i % 16,
                i % 100,
                1_795_681_800_000_000_000i64 + i as i64 * 10_000_000_000
            )
            .into_bytes()
        })
        .collect()
}

/// Short line-protocol lines (one field, three tags), as from `statsd`-like inputs.
fn influx_short_lines(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                "http_requests,host=web-{},route=/api/cart,code=200 value={}i {}",
                i % 16,
                i,
                1_795_681_800_000_000_000i64 + i as i64
            )
            .into_bytes()
        })
        .collect()
}

/// rsyslog's RFC 5424 output (`RSYSLOG_SyslogProtocol23Format`).
fn syslog_lines(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                "<{}>1 2026-11-26T08:30:{:02}.{:06}Z web-{} checkout {} - [meta@32473 route=\"/api/cart\" status=\"200\"] GET /api/cart/{} 200 in {}ms",
                128 + 6 + (i % 2) as u8,
                i % 60,
                i % 1_000_000,
                i % 16,
                1000 + i % 50,
                i,
                i % 900
            )
            .into_bytes()
        })
        .collect()
}

/// Plain application log lines.
fn text_lines(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let level = ["INFO", "[warn]", "ERROR:", "debug"][i % 4];
            format!(
                "{level} GET /api/cart/{i} 200 in {}ms user=u{}",
                i % 900,
                i % 97
            )
            .into_bytes()
        })
        .collect()
}

/// Filebeat 8 `output.kafka` with `codec.json`.
fn filebeat_lines(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"@timestamp":"2026-11-26T08:30:{:02}.{:03}Z","@metadata":{{"beat":"filebeat","type":"_doc","version":"8.11.0"}},"log":{{"offset":{},"file":{{"path":"/var/log/app/checkout.log"}}}},"message":"GET /api/cart/{} 200 in {}ms","input":{{"type":"filestream"}},"ecs":{{"version":"8.0.0"}},"host":{{"name":"web-{}"}},"agent":{{"type":"filebeat","version":"8.11.0"}}}}"#,
                i % 60,
                i % 1000,
                i * 120,
                i,
                i % 900,
                i % 16
            )
            .into_bytes()
        })
        .collect()
}

/// Samples as prometheus-kafka-adapter publishes them.
fn prometheus_adapter_lines(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"timestamp":"2026-11-26T08:30:{:02}Z","value":"{}","name":"http_requests_total","labels":{{"__name__":"http_requests_total","job":"checkout","instance":"10.0.0.{}:9100","code":"200","method":"GET"}}}}"#,
                i % 60,
                i * 7,
                i % 32
            )
            .into_bytes()
        })
        .collect()
}

/// Telegraf `data_format = "json"` metrics (one per line, four fields).
fn telegraf_json_lines(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"fields":{{"usage_user":{}.5,"usage_system":1.25,"usage_idle":{}.0,"usage_iowait":0.1}},"name":"cpu","tags":{{"cpu":"cpu{}","host":"web-{}"}},"timestamp":{}}}"#,
                i % 90,
                99 - i % 90,
                i % 8,
                i % 16,
                1_795_681_800 + i as i64
            )
            .into_bytes()
        })
        .collect()
}

/// Decodes every line into one batch, as the pipeline does; returns the
/// batch and how many lines failed.
fn decode_all(decoder: &dyn Decoder, table: Table, lines: &[Vec<u8>]) -> (RecordBatch, usize) {
    let limits = DecodeLimits::default();
    let mut builder = TableBuilder::for_table(table).expect("ingest table");
    let mut failed = 0;
    for (i, line) in lines.iter().enumerate() {
        let lineage = Lineage {
            topic: "tocsin.logs",
            partition: 0,
            offset: i as i64,
            received_ns: 0,
        };
        failed +=
            usize::from(decode_message(decoder, line, &lineage, &limits, &mut builder).is_err());
    }
    (builder.finish().expect("batch"), failed)
}

fn bench_table(c: &mut Criterion, name: &str, table: Table, lines: &[Vec<u8>]) {
    bench_format(c, name, table, "json", lines);
}

fn bench_format(c: &mut Criterion, name: &str, table: Table, format: &str, lines: &[Vec<u8>]) {
    let limits = DecodeLimits::default();
    let decoder = decoder_for(table, format, limits).expect("decoder is registered");
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group(name);
    for (label, throughput) in [
        ("records", Throughput::Elements(lines.len() as u64)),
        ("bytes", Throughput::Bytes(bytes as u64)),
    ] {
        group.throughput(throughput);
        group.bench_function(label, |b| {
            b.iter(|| {
                let (batch, failed) = decode_all(decoder.as_ref(), table, lines);
                // Every line is valid: the bench measures the success path.
                assert_eq!(failed, 0, "bench input does not decode");
                black_box(batch)
            })
        });
    }
    group.finish();
}

/// One line in ten cut short: the dead-letter path, where a failed message
/// is rolled back out of the builder.
fn bench_malformed(c: &mut Criterion, lines: &[Vec<u8>]) {
    let limits = DecodeLimits::default();
    let decoder = decoder_for(Table::Logs, "json", limits).expect("json decoder is registered");
    let lines: Vec<Vec<u8>> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i % 10 == 0 {
                l[..l.len() / 2].to_vec()
            } else {
                l.clone()
            }
        })
        .collect();
    let expected_bad = lines.len().div_ceil(10);
    let mut group = c.benchmark_group("decode_logs_10pct_malformed");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("records", |b| {
        b.iter(|| {
            let (batch, bad) = decode_all(decoder.as_ref(), Table::Logs, &lines);
            assert_eq!(bad, expected_bad);
            black_box(batch)
        })
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let logs = simulator_lines(Table::Logs, 8192);
    bench_table(c, "decode_logs_tocsin_json", Table::Logs, &logs);
    bench_malformed(c, &logs);
    bench_table(
        c,
        "decode_logs_vector_json",
        Table::Logs,
        &vector_lines(8192),
    );
    bench_table(
        c,
        "decode_metrics_tocsin_json",
        Table::Metrics,
        &simulator_lines(Table::Metrics, 8192),
    );
    bench_format(
        c,
        "decode_metrics_influx_cpu",
        Table::Metrics,
        "influx",
        &influx_lines(8192),
    );
    bench_format(
        c,
        "decode_metrics_influx_short",
        Table::Metrics,
        "influx",
        &influx_short_lines(8192),
    );
    bench_format(
        c,
        "decode_metrics_prometheus_adapter",
        Table::Metrics,
        "prometheus",
        &prometheus_adapter_lines(8192),
    );
    bench_format(
        c,
        "decode_metrics_telegraf_json",
        Table::Metrics,
        "telegraf_json",
        &telegraf_json_lines(8192),
    );
    bench_format(
        c,
        "decode_logs_syslog_5424",
        Table::Logs,
        "syslog",
        &syslog_lines(8192),
    );
    bench_format(
        c,
        "decode_logs_text",
        Table::Logs,
        "text",
        &text_lines(8192),
    );
    bench_format(
        c,
        "decode_logs_filebeat_ecs",
        Table::Logs,
        "filebeat",
        &filebeat_lines(8192),
    );
}

criterion_group!(benches, decode);
criterion_main!(benches);
