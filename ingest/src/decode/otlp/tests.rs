use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;

use super::*;
use crate::decode::test_support::{float, map, map_get, text, ts};
use crate::decode::{all_or_nothing, decode_message};
use arrow::array::RecordBatch;

const T0: u64 = 1_795_681_800_000_000_000; // 2026-11-26T08:30:00Z

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "otlp",
        partition: 0,
        offset: 1,
        received_ns: 42,
    }
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", s("checkout")),
            kv("service.version", s("1.4.2")),
            kv("deployment.environment", s("prod")),
            kv("host.name", s("web-1")),
            kv("cloud.region", s("eu-west-1")),
        ],
        ..Default::default()
    })
}

fn decode(
    signal: Signal,
    encoding: Encoding,
    body: &[u8],
    limits: DecodeLimits,
) -> Result<RecordBatch, DecodeError> {
    let table = match signal {
        Signal::Logs => Table::Logs,
        Signal::Metrics => Table::Metrics,
    };
    let mut b = TableBuilder::for_table(table).unwrap();
    let d = OtlpDecoder::new(limits, signal, encoding);
    decode_message(&d, body, &lineage(), &limits, &mut b)?;
    Ok(b.finish().unwrap())
}

fn logs_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metrics_request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn point(v: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: T0,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

#[test]
fn protobuf_log_records_fill_columns_from_resource_and_severity() {
    let req = logs_request(vec![
        LogRecord {
            time_unix_nano: T0,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(AnyValue {
                value: Some(s("payment declined")),
            }),
            attributes: vec![kv("http.status_code", Value::IntValue(502))],
            trace_id: (1..=16).collect(),
            span_id: vec![0xab; 8],
            ..Default::default()
        },
        LogRecord {
            observed_time_unix_nano: T0 + 5,
            severity_text: "warning".into(),
            body: Some(AnyValue {
                value: Some(Value::KvlistValue(KeyValueList {
                    values: vec![kv("order", Value::IntValue(7))],
                })),
            }),
            ..Default::default()
        },
        LogRecord::default(),
    ]);
    let b = decode(
        Signal::Logs,
        Encoding::Proto,
        &req.encode_to_vec(),
        DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(b.num_rows(), 3);
    assert_eq!(ts(&b, 0), T0 as i64);
    assert_eq!(text(&b, "service", 0).as_deref(), Some("checkout"));
    assert_eq!(text(&b, "version", 0).as_deref(), Some("1.4.2"));
    assert_eq!(text(&b, "env", 0).as_deref(), Some("prod"));
    assert_eq!(text(&b, "host", 0).as_deref(), Some("web-1"));
    assert_eq!(text(&b, "level", 0).as_deref(), Some("error"));
    assert_eq!(text(&b, "message", 0).as_deref(), Some("payment declined"));
    assert_eq!(
        text(&b, "trace_id", 0).as_deref(),
        Some("0102030405060708090a0b0c0d0e0f10")
    );
    assert_eq!(
        map(&b, "attributes", 0),
        vec![
            ("cloud.region".to_owned(), "eu-west-1".to_owned()),
            ("http.status_code".to_owned(), "502".to_owned()),
            ("span_id".to_owned(), "abababababababab".to_owned()),
        ]
    );
    // Observed time stands in for a missing event time; the text severity
    // is read when the number is absent; a map body is rendered as JSON.
    assert_eq!(ts(&b, 1), (T0 + 5) as i64);
    assert_eq!(text(&b, "level", 1).as_deref(), Some("warn"));
    assert_eq!(text(&b, "message", 1).as_deref(), Some(r#"{"order":7}"#));
    // Neither time: the receive time; no severity: info; no trace id: null.
    assert_eq!(ts(&b, 2), 42);
    assert_eq!(text(&b, "level", 2).as_deref(), Some("info"));
    assert_eq!(text(&b, "trace_id", 2), None);
}

#[test]
fn json_log_records_follow_the_otlp_json_mapping() {
    // As the OTLP/HTTP specification writes it: camelCase, 64-bit integers
    // as strings, ids in hex, enums as numbers.
    let body = r#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"cart"}},
        {"key":"deployment.environment.name","value":{"stringValue":"staging"}}]},
      "scopeLogs":[{"scope":{"name":"my.library"},"logRecords":[
        {"timeUnixNano":"1795681800000000000","severityNumber":10,"severityText":"Information",
         "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
         "body":{"stringValue":"Example log record"},
         "attributes":[{"key":"int.attribute","value":{"intValue":"10"}},
                       {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"doubleValue":2.5}]}}}]}]}]}]}"#;
    let b = decode(
        Signal::Logs,
        Encoding::Json,
        body.as_bytes(),
        DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(b.num_rows(), 1);
    assert_eq!(ts(&b, 0), T0 as i64);
    assert_eq!(text(&b, "service", 0).as_deref(), Some("cart"));
    assert_eq!(text(&b, "env", 0).as_deref(), Some("staging"));
    assert_eq!(text(&b, "level", 0).as_deref(), Some("info"));
    assert_eq!(
        text(&b, "trace_id", 0).as_deref(),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(
        map_get(&b, "attributes", 0, "int.attribute").as_deref(),
        Some("10")
    );
    assert_eq!(
        map_get(&b, "attributes", 0, "array.attribute").as_deref(),
        Some(r#"["many",2.5]"#)
    );
    assert_eq!(
        map_get(&b, "attributes", 0, "span_id").as_deref(),
        Some("eee19b7ec3c1b174")
    );
}

#[test]
fn json_attribute_values_of_every_kind_render_as_text() {
    let attrs = r#"[
        {"key":"s","value":{"stringValue":"caf\u00e9 \"x\""}},
        {"key":"b","value":{"boolValue":true}},
        {"key":"i","value":{"intValue":"-7"}},
        {"key":"n","value":{"intValue":42}},
        {"key":"d","value":{"doubleValue":"NaN"}},
        {"key":"bytes","value":{"bytesValue":"AQID"}},
        {"key":"kv","value":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":"1"}}]}}},
        {"key":"unknown","value":{"futureValue":1}},
        {"key":"null","value":{"stringValue":null}},
        {"key":"none","value":null},
        {"key":"first","value":{"stringValue":"kept","boolValue":false}}]"#;
    let body = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[
        {{"timeUnixNano":"1795681800000000000","body":{{"stringValue":"m"}},"attributes":{attrs}}}]}}]}}]}}"#
    );
    let b = decode(
        Signal::Logs,
        Encoding::Json,
        body.as_bytes(),
        DecodeLimits::default(),
    )
    .unwrap();
    let get = |k: &str| map_get(&b, "attributes", 0, k);
    assert_eq!(get("s").as_deref(), Some("café \"x\""));
    assert_eq!(get("b").as_deref(), Some("true"));
    assert_eq!(get("i").as_deref(), Some("-7"));
    assert_eq!(get("n").as_deref(), Some("42"));
    assert_eq!(get("d").as_deref(), Some("NaN"));
    assert_eq!(get("bytes").as_deref(), Some("010203"));
    assert_eq!(get("kv").as_deref(), Some(r#"{"a":1}"#));
    assert_eq!(get("unknown").as_deref(), Some(""));
    assert_eq!(get("null").as_deref(), Some(""));
    assert_eq!(get("none").as_deref(), Some(""));
    assert_eq!(get("first").as_deref(), Some("kept"));

    // A value that is not an object, or bytes that are not base64, refuse
    // the request.
    for bad in [
        r#"[{"key":"x","value":"plain"}]"#,
        r#"[{"key":"x","value":{"bytesValue":"%%%"}}]"#,
        r#"[{"key":"x","value":{"intValue":"1.5"}}]"#,
    ] {
        let body = format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[
            {{"timeUnixNano":"1795681800000000000","attributes":{bad}}}]}}]}}]}}"#
        );
        assert!(
            decode(
                Signal::Logs,
                Encoding::Json,
                body.as_bytes(),
                DecodeLimits::default()
            )
            .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn gauges_and_sums_become_one_row_per_point() {
    let req = metrics_request(vec![
        metric(
            "system.memory.usage",
            Data::Gauge(Gauge {
                data_points: vec![point(512.0, vec![kv("state", s("used"))])],
            }),
        ),
        metric(
            "http.server.requests",
            Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    time_unix_nano: T0,
                    value: Some(number_data_point::Value::AsInt(1200)),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        ),
        metric(
            "queue.depth.change",
            Data::Sum(Sum {
                data_points: vec![point(-3.0, vec![])],
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: false,
            }),
        ),
    ]);
    let b = decode(
        Signal::Metrics,
        Encoding::Proto,
        &req.encode_to_vec(),
        DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(b.num_rows(), 3);
    assert_eq!(text(&b, "name", 0).as_deref(), Some("system.memory.usage"));
    assert_eq!(text(&b, "kind", 0).as_deref(), Some("gauge"));
    assert_eq!(float(&b, "value", 0), 512.0);
    assert_eq!(text(&b, "service", 0).as_deref(), Some("checkout"));
    assert_eq!(map_get(&b, "labels", 0, "state").as_deref(), Some("used"));
    assert_eq!(
        map_get(&b, "labels", 0, "cloud.region").as_deref(),
        Some("eu-west-1")
    );
    assert_eq!(text(&b, "kind", 1).as_deref(), Some("counter"));
    assert_eq!(float(&b, "value", 1), 1200.0);
    assert_eq!(map_get(&b, "labels", 1, "temporality"), None);
    assert_eq!(text(&b, "kind", 2).as_deref(), Some("gauge"));
    assert_eq!(
        map_get(&b, "labels", 2, "temporality").as_deref(),
        Some("delta")
    );
}

#[test]
fn histograms_become_cumulative_le_buckets_count_and_sum() {
    let req = metrics_request(vec![metric(
        "http.server.duration",
        Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: T0,
                count: 6,
                sum: Some(14.5),
                bucket_counts: vec![2, 3, 1],
                explicit_bounds: vec![1.0, 5.0],
                attributes: vec![kv("route", s("/pay"))],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    )]);
    let b = decode(
        Signal::Metrics,
        Encoding::Proto,
        &req.encode_to_vec(),
        DecodeLimits::default(),
    )
    .unwrap();
    let rows: Vec<(String, Option<String>, f64)> = (0..b.num_rows())
        .map(|i| {
            (
                text(&b, "name", i).unwrap(),
                map_get(&b, "labels", i, "le"),
                float(&b, "value", i),
            )
        })
        .collect();
    let le = |s: &str| Some(s.to_owned());
    assert_eq!(
        rows,
        vec![
            ("http.server.duration_bucket".into(), le("1"), 2.0),
            ("http.server.duration_bucket".into(), le("5"), 5.0),
            ("http.server.duration_bucket".into(), le("+Inf"), 6.0),
            ("http.server.duration_count".into(), None, 6.0),
            ("http.server.duration_sum".into(), None, 14.5),
        ]
    );
    assert!(
        (0..b.num_rows()).all(|i| map_get(&b, "labels", i, "route").as_deref() == Some("/pay"))
    );
}

#[test]
fn exponential_histogram_buckets_follow_the_scale() {
    // Scale 0: base 2. Negative bucket 0 is [-2, -1), zero bucket holds 1,
    // positive buckets 0 and 1 are (1, 2] and (2, 4].
    let req = metrics_request(vec![metric(
        "rpc.latency",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                time_unix_nano: T0,
                count: 7,
                sum: Some(9.0),
                scale: 0,
                zero_count: 1,
                positive: Some(Buckets {
                    offset: 0,
                    bucket_counts: vec![2, 3],
                }),
                negative: Some(Buckets {
                    offset: 0,
                    bucket_counts: vec![1],
                }),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    )]);
    let b = decode(
        Signal::Metrics,
        Encoding::Proto,
        &req.encode_to_vec(),
        DecodeLimits::default(),
    )
    .unwrap();
    let buckets: Vec<(String, f64)> = (0..b.num_rows())
        .filter(|&i| text(&b, "name", i).as_deref() == Some("rpc.latency_bucket"))
        .map(|i| {
            (
                map_get(&b, "labels", i, "le").unwrap(),
                float(&b, "value", i),
            )
        })
        .collect();
    let want: Vec<(String, f64)> = [
        ("-1", 1.0),
        ("0", 2.0),
        ("2", 4.0),
        ("4", 7.0),
        ("+Inf", 7.0),
    ]
    .iter()
    .map(|(l, v)| ((*l).to_owned(), *v))
    .collect();
    assert_eq!(buckets, want);
}

#[test]
fn summaries_keep_quantiles() {
    let req = metrics_request(vec![metric(
        "gc.pause",
        Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                time_unix_nano: T0,
                count: 10,
                sum: 3.5,
                quantile_values: vec![
                    ValueAtQuantile {
                        quantile: 0.5,
                        value: 0.2,
                    },
                    ValueAtQuantile {
                        quantile: 0.99,
                        value: 1.1,
                    },
                ],
                ..Default::default()
            }],
        }),
    )]);
    let b = decode(
        Signal::Metrics,
        Encoding::Proto,
        &req.encode_to_vec(),
        DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(b.num_rows(), 4);
    assert_eq!(
        map_get(&b, "labels", 1, "quantile").as_deref(),
        Some("0.99")
    );
    assert_eq!(float(&b, "value", 1), 1.1);
    assert_eq!(text(&b, "kind", 1).as_deref(), Some("summary"));
    assert_eq!(text(&b, "name", 3).as_deref(), Some("gc.pause_sum"));
}

#[test]
fn json_metrics_decode_like_protobuf() {
    let body = r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
      "scopeMetrics":[{"metrics":[{"name":"my.counter","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,
        "dataPoints":[{"asInt":"5","timeUnixNano":"1795681800000000000","attributes":[{"key":"my.label","value":{"stringValue":"x"}}]}]}}]}]}]}"#;
    let b = decode(
        Signal::Metrics,
        Encoding::Json,
        body.as_bytes(),
        DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(b.num_rows(), 1);
    assert_eq!(text(&b, "name", 0).as_deref(), Some("my.counter"));
    assert_eq!(text(&b, "kind", 0).as_deref(), Some("counter"));
    assert_eq!(float(&b, "value", 0), 5.0);
    assert_eq!(ts(&b, 0), T0 as i64);
    assert_eq!(map_get(&b, "labels", 0, "my.label").as_deref(), Some("x"));
}

fn reason(r: Result<RecordBatch, DecodeError>) -> DecodeReason {
    r.expect_err("must be refused").reason
}

#[test]
fn malformed_requests_are_refused_with_their_reason() {
    let good = logs_request(vec![LogRecord {
        body: Some(AnyValue {
            value: Some(s("hello world")),
        }),
        ..Default::default()
    }])
    .encode_to_vec();
    let l = DecodeLimits::default();
    let truncated = &good[..good.len() - 3];
    assert_eq!(
        reason(decode(Signal::Logs, Encoding::Proto, truncated, l)),
        DecodeReason::InvalidProtobuf
    );
    let mut bad_utf8 = good.clone();
    let at = bad_utf8.windows(5).position(|w| w == b"hello").unwrap();
    bad_utf8[at] = 0xff;
    assert_eq!(
        reason(decode(Signal::Logs, Encoding::Proto, &bad_utf8, l)),
        DecodeReason::InvalidUtf8
    );
    assert_eq!(
        reason(decode(
            Signal::Logs,
            Encoding::Json,
            b"{\"resourceLogs\": [",
            l
        )),
        DecodeReason::InvalidJson
    );
    assert_eq!(
        reason(decode(
            Signal::Metrics,
            Encoding::Json,
            b"{\"resourceMetrics\": 3}",
            l
        )),
        DecodeReason::InvalidType
    );
    // Bucket counts that do not match the bounds.
    let req = metrics_request(vec![metric(
        "h",
        Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                bucket_counts: vec![1, 2],
                explicit_bounds: vec![1.0, 2.0],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        }),
    )]);
    assert_eq!(
        reason(decode(
            Signal::Metrics,
            Encoding::Proto,
            &req.encode_to_vec(),
            l
        )),
        DecodeReason::InvalidValue
    );
}

#[test]
fn limits_hold_for_attributes_nesting_and_strings() {
    let l = DecodeLimits::default();
    let many: Vec<KeyValue> = (0..300).map(|i| kv(&format!("k{i}"), s("v"))).collect();
    let req = logs_request(vec![LogRecord {
        attributes: many,
        ..Default::default()
    }]);
    assert_eq!(
        reason(decode(
            Signal::Logs,
            Encoding::Proto,
            &req.encode_to_vec(),
            l
        )),
        DecodeReason::TooManyFields
    );
    let mut deep = s("leaf");
    for _ in 0..40 {
        deep = Value::ArrayValue(ArrayValue {
            values: vec![AnyValue { value: Some(deep) }],
        });
    }
    let req = logs_request(vec![LogRecord {
        attributes: vec![kv("deep", deep)],
        ..Default::default()
    }]);
    assert_eq!(
        reason(decode(
            Signal::Logs,
            Encoding::Proto,
            &req.encode_to_vec(),
            l
        )),
        DecodeReason::TooDeep
    );
    let req = logs_request(vec![LogRecord {
        body: Some(AnyValue {
            value: Some(s(&"x".repeat(70_000))),
        }),
        ..Default::default()
    }]);
    assert_eq!(
        reason(decode(
            Signal::Logs,
            Encoding::Proto,
            &req.encode_to_vec(),
            l
        )),
        DecodeReason::TooLong
    );
}

#[test]
fn event_times_outside_the_window_are_refused() {
    let limits = DecodeLimits {
        max_past: Some(std::time::Duration::from_secs(3600)),
        max_future: Some(std::time::Duration::from_secs(60)),
        ..DecodeLimits::default()
    };
    let at = |ns: u64| {
        logs_request(vec![LogRecord {
            time_unix_nano: ns,
            ..Default::default()
        }])
        .encode_to_vec()
    };
    let decode_at = |ns: u64| {
        let mut b = TableBuilder::for_table(Table::Logs).unwrap();
        let d = OtlpDecoder::new(limits, Signal::Logs, Encoding::Proto);
        let l = Lineage {
            received_ns: T0 as i64,
            ..lineage()
        };
        decode_message(&d, &at(ns), &l, &limits, &mut b).map(|_| b.len())
    };
    assert_eq!(decode_at(T0 - 1_000_000_000), Ok(1));
    assert_eq!(
        decode_at(T0 - 7200 * 1_000_000_000).unwrap_err().reason,
        DecodeReason::TimestampOutOfRange
    );
    assert_eq!(
        decode_at(T0 + 120 * 1_000_000_000).unwrap_err().reason,
        DecodeReason::TimestampOutOfRange
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_all_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for signal in [Signal::Logs, Signal::Metrics] {
            for encoding in [Encoding::Proto, Encoding::Json] {
                all_or_nothing(&OtlpDecoder::new(DecodeLimits::default(), signal, encoding), &bytes, &lineage())?;
            }
        }
    }

    #[test]
    fn corrupted_requests_are_all_or_nothing(flip in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        let mut body = metrics_request(vec![metric(
            "m",
            Data::Gauge(Gauge { data_points: vec![point(1.0, vec![kv("a", s("b"))])] }),
        )])
        .encode_to_vec();
        let n = body.len();
        body[flip % n] = byte;
        body.truncate(n - cut % n);
        all_or_nothing(&OtlpDecoder::new(DecodeLimits::default(), Signal::Metrics, Encoding::Proto), &body, &lineage())?;
    }
}
