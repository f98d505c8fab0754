//! Binary wire formats: Prometheus remote_write and OTLP (protobuf and
//! JSON), in batches shaped like what their senders write — remote_write
//! requests of 500 series with one sample each (Prometheus's default
//! `max_samples_per_send`), OTLP requests of 500 data points or log records
//! under one resource. Throughput is in samples, data points or records.

/// The allocator of the `tocsin` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use tocsin_ingest::decode::{
    DecodeLimits, RemoteWriteLabel, RemoteWriteRequest, RemoteWriteSample, RemoteWriteSeries,
    decode_message, decoder_for,
};
use tocsin_ingest::{Lineage, Table, TableBuilder};

const REQUESTS: usize = 16;
const PER_REQUEST: usize = 500;
const T0: u64 = 1_795_681_800_000_000_000;

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn resource(i: usize) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", &format!("svc-{}", i % 8)),
            kv("service.version", "1.4.2"),
            kv("deployment.environment", "prod"),
            kv("host.name", &format!("web-{i}")),
            kv("telemetry.sdk.language", "go"),
        ],
        ..Default::default()
    })
}

fn remote_write_bodies() -> Vec<Vec<u8>> {
    (0..REQUESTS)
        .map(|r| {
            let timeseries = (0..PER_REQUEST)
                .map(|i| {
                    let label = |n: &str, v: String| RemoteWriteLabel {
                        name: Bytes::copy_from_slice(n.as_bytes()),
                        value: Bytes::from(v.into_bytes()),
                    };
                    RemoteWriteSeries {
                        labels: vec![
                            label("__name__", format!("http_requests_{}_total", i % 40)),
                            label("code", ["200", "404", "500"][i % 3].to_owned()),
                            label("handler", format!("/api/v{}/items", i % 5)),
                            label("instance", format!("10.0.{}.{}:9100", r, i % 250)),
                            label("job", format!("svc-{}", i % 8)),
                            label("method", ["GET", "POST"][i % 2].to_owned()),
                        ],
                        samples: vec![RemoteWriteSample {
                            value: i as f64 * 1.5,
                            timestamp: 1_795_681_800_000 + r as i64 * 15_000,
                        }],
                        histograms: Vec::new(),
                    }
                })
                .collect();
            let req = RemoteWriteRequest {
                timeseries,
                metadata: Vec::new(),
            };
            snap::raw::Encoder::new()
                .compress_vec(&req.encode_to_vec())
                .expect("snappy")
        })
        .collect()
}

fn number(i: usize, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![
            kv("http.route", &format!("/api/v{}/items", i % 5)),
            kv("http.request.method", ["GET", "POST"][i % 2]),
            kv("http.response.status_code", ["200", "404", "500"][i % 3]),
        ],
        time_unix_nano: T0 + i as u64,
        start_time_unix_nano: T0 - 60_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn otlp_metric_requests() -> Vec<ExportMetricsServiceRequest> {
    (0..REQUESTS)
        .map(|r| {
            // 50 metrics × 10 points, half gauges, half monotonic sums.
            let metrics = (0..50)
                .map(|m| {
                    let points: Vec<NumberDataPoint> =
                        (0..10).map(|p| number(m * 10 + p, p as f64)).collect();
                    let data = if m % 2 == 0 {
                        Data::Gauge(Gauge {
                            data_points: points,
                        })
                    } else {
                        Data::Sum(Sum {
                            data_points: points,
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })
                    };
                    Metric {
                        name: format!("app.metric.{m}"),
                        data: Some(data),
                        ..Default::default()
                    }
                })
                .collect();
            ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource: resource(r),
                    scope_metrics: vec![ScopeMetrics {
                        metrics,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
        })
        .collect()
}

fn otlp_histogram_requests() -> Vec<ExportMetricsServiceRequest> {
    (0..REQUESTS)
        .map(|r| {
            let points = (0..PER_REQUEST)
                .map(|i| HistogramDataPoint {
                    attributes: number(i, 0.0).attributes,
                    time_unix_nano: T0,
                    count: 100,
                    sum: Some(1234.5),
                    bucket_counts: vec![5; 16],
                    explicit_bounds: vec![
                        0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0,
                        2500.0, 5000.0, 7500.0, 10000.0,
                    ],
                    ..Default::default()
                })
                .collect();
            ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource: resource(r),
                    scope_metrics: vec![ScopeMetrics {
                        metrics: vec![Metric {
                            name: "http.server.duration".into(),
                            data: Some(Data::Histogram(Histogram {
                                data_points: points,
                                aggregation_temporality: 2,
                            })),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
        })
        .collect()
}

fn otlp_log_requests() -> Vec<ExportLogsServiceRequest> {
    (0..REQUESTS)
        .map(|r| {
            let records = (0..PER_REQUEST)
                .map(|i| LogRecord {
                    time_unix_nano: T0 + i as u64,
                    severity_number: [9, 13, 17][i % 3],
                    body: Some(AnyValue {
                        value: Some(Value::StringValue(format!(
                            "request {i} to /api/v{}/items completed in {} ms",
                            i % 5,
                            i % 97
                        ))),
                    }),
                    attributes: number(i, 0.0).attributes,
                    trace_id: vec![(i % 251) as u8; 16],
                    span_id: vec![(i % 13) as u8 + 1; 8],
                    ..Default::default()
                })
                .collect();
            ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    resource: resource(r),
                    scope_logs: vec![ScopeLogs {
                        log_records: records,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
        })
        .collect()
}

fn bench(
    c: &mut Criterion,
    name: &str,
    table: Table,
    format: &str,
    bodies: &[Vec<u8>],
    elements: usize,
) {
    let limits = DecodeLimits::default();
    let decoder = decoder_for(table, format, limits).expect("registered");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(elements as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut builder = TableBuilder::for_table(table).expect("ingest table");
            for (i, body) in bodies.iter().enumerate() {
                let lineage = Lineage {
                    topic: "bench",
                    partition: 0,
                    offset: i as i64,
                    received_ns: 0,
                };
                decode_message(decoder.as_ref(), body, &lineage, &limits, &mut builder)
                    .expect("bench input decodes");
            }
            black_box(builder.finish().expect("batch"))
        })
    });
    group.finish();
}

fn decode_binary(c: &mut Criterion) {
    let n = REQUESTS * PER_REQUEST;
    bench(
        c,
        "decode_remote_write_samples",
        Table::Metrics,
        "remote_write",
        &remote_write_bodies(),
        n,
    );
    let metrics = otlp_metric_requests();
    let proto: Vec<Vec<u8>> = metrics.iter().map(Message::encode_to_vec).collect();
    let json: Vec<Vec<u8>> = metrics
        .iter()
        .map(|m| serde_json::to_vec(m).expect("json"))
        .collect();
    bench(
        c,
        "decode_otlp_proto_number_points",
        Table::Metrics,
        "otlp_proto",
        &proto,
        n,
    );
    bench(
        c,
        "decode_otlp_json_number_points",
        Table::Metrics,
        "otlp_json",
        &json,
        n,
    );
    let hist: Vec<Vec<u8>> = otlp_histogram_requests()
        .iter()
        .map(Message::encode_to_vec)
        .collect();
    bench(
        c,
        "decode_otlp_proto_histogram_points",
        Table::Metrics,
        "otlp_proto",
        &hist,
        n,
    );
    let logs: Vec<Vec<u8>> = otlp_log_requests()
        .iter()
        .map(Message::encode_to_vec)
        .collect();
    bench(
        c,
        "decode_otlp_proto_log_records",
        Table::Logs,
        "otlp_proto",
        &logs,
        n,
    );
}

criterion_group!(benches, decode_binary);
criterion_main!(benches);
