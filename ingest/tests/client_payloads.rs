//! Payloads captured from real clients (see `tests/fixtures/README.md`):
//! Prometheus 2.42's remote_write and the OpenTelemetry Python SDK 1.45's
//! OTLP/HTTP exporter. Each must decode to exactly what the client sent.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use tocsin_ingest::decode::{DecodeLimits, decode_message, decoder_for};
use tocsin_ingest::{Lineage, Table, TableBuilder};

mod common;

fn decode(table: Table, format: &str, file: &str) -> RecordBatch {
    let raw = std::fs::read(common::crate_path("tests/fixtures").join(file)).unwrap();
    let d = decoder_for(table, format, DecodeLimits::default()).unwrap();
    let mut b = TableBuilder::for_table(table).unwrap();
    let lineage = Lineage {
        topic: "fixture",
        partition: 0,
        offset: 0,
        received_ns: 1,
    };
    decode_message(d.as_ref(), &raw, &lineage, &DecodeLimits::default(), &mut b).unwrap();
    b.finish().unwrap()
}

fn text(b: &RecordBatch, col: &str, row: usize) -> Option<String> {
    let c = b.column_by_name(col).unwrap().as_string::<i32>();
    (!c.is_null(row)).then(|| c.value(row).to_owned())
}

fn labels(b: &RecordBatch, col: &str, row: usize) -> Vec<(String, String)> {
    let entries = b.column_by_name(col).unwrap().as_map().value(row);
    let k = entries.column(0).as_string::<i32>();
    let v = entries.column(1).as_string::<i32>();
    (0..entries.len())
        .map(|i| (k.value(i).to_owned(), v.value(i).to_owned()))
        .collect()
}

fn value(b: &RecordBatch, row: usize) -> f64 {
    b.column_by_name("value")
        .unwrap()
        .as_primitive::<Float64Type>()
        .value(row)
}

fn ts(b: &RecordBatch, row: usize) -> i64 {
    b.column_by_name("ts")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>()
        .value(row)
}

/// Rows whose name is `name` and whose labels include all of `want`.
fn find(b: &RecordBatch, name: &str, want: &[(&str, &str)]) -> Vec<usize> {
    (0..b.num_rows())
        .filter(|&i| text(b, "name", i).as_deref() == Some(name))
        .filter(|&i| {
            let l = labels(b, "labels", i);
            want.iter()
                .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .collect()
}

#[test]
fn prometheus_remote_write_request_decodes_every_sample() {
    let b = decode(
        Table::Metrics,
        "remote_write",
        "remote_write_prometheus.bin",
    );
    assert_eq!(b.num_rows(), 377, "one row per series (one sample each)");
    assert!((0..b.num_rows()).all(|i| ts(&b, i) == 1_795_716_793_741_000_000));
    assert!((0..b.num_rows()).all(|i| text(&b, "service", i).as_deref() == Some("prometheus")));
    assert!((0..b.num_rows()).all(|i| text(&b, "host", i).as_deref() == Some("127.0.0.1:52571")));
    let nan = (0..b.num_rows()).filter(|&i| value(&b, i).is_nan()).count();
    assert_eq!(nan, 26);
    for (name, extra, want) in [
        ("up", vec![], 1.0),
        ("scrape_samples_scraped", vec![], 372.0),
        ("go_goroutines", vec![], 35.0),
        ("go_gc_duration_seconds_count", vec![], 4.0),
        ("process_max_fds", vec![], 20000.0),
        (
            "prometheus_http_requests_total",
            vec![("code", "200"), ("handler", "/-/ready")],
            1.0,
        ),
        (
            "prometheus_http_request_duration_seconds_bucket",
            vec![("handler", "/-/ready"), ("le", "+Inf")],
            1.0,
        ),
        (
            "prometheus_build_info",
            vec![("version", "2.42.0+ds"), ("goarch", "amd64")],
            1.0,
        ),
    ] {
        let rows = find(&b, name, &extra);
        assert_eq!(rows.len(), 1, "{name} {extra:?}");
        assert_eq!(value(&b, rows[0]), want, "{name}");
    }
    let total = find(&b, "prometheus_http_requests_total", &[]);
    assert!(
        total
            .iter()
            .all(|&i| text(&b, "kind", i).as_deref() == Some("counter"))
    );
    let bucket = find(&b, "prometheus_http_request_duration_seconds_bucket", &[]);
    assert!(
        bucket
            .iter()
            .all(|&i| text(&b, "kind", i).as_deref() == Some("histogram"))
    );
}

#[test]
fn prometheus_metadata_only_request_is_accepted_with_no_rows() {
    let b = decode(
        Table::Metrics,
        "remote_write",
        "remote_write_prometheus_metadata.bin",
    );
    assert_eq!(b.num_rows(), 0);
}

fn check_sdk_logs(b: &RecordBatch) {
    assert_eq!(b.num_rows(), 4);
    let levels: Vec<_> = (0..4).map(|i| text(b, "level", i).unwrap()).collect();
    assert_eq!(levels, ["debug", "info", "warn", "error"]);
    let messages: Vec<_> = (0..4).map(|i| text(b, "message", i).unwrap()).collect();
    assert_eq!(
        messages,
        [
            "cache miss",
            "order placed",
            "payment retry",
            "payment failed"
        ]
    );
    for i in 0..4 {
        assert_eq!(text(b, "service", i).as_deref(), Some("checkout"));
        assert_eq!(text(b, "version", i).as_deref(), Some("1.4.2"));
        assert_eq!(text(b, "env", i).as_deref(), Some("prod"));
    }
    assert_eq!(ts(b, 0), 1_795_716_970_805_760_512);
    assert_eq!(
        text(b, "trace_id", 3).as_deref(),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(text(b, "trace_id", 0), None);
    let attrs = labels(b, "attributes", 1);
    for (k, v) in [
        ("order.id", "A-1001"),
        ("order.amount", "42.5"),
        ("order.items", "3"),
        ("telemetry.sdk.language", "python"),
    ] {
        assert!(
            attrs.iter().any(|(ak, av)| ak == k && av == v),
            "{k}={v} missing from {attrs:?}"
        );
    }
    assert!(
        labels(b, "attributes", 3)
            .iter()
            .any(|(k, v)| k == "span_id" && v == "eee19b7ec3c1b174")
    );
}

#[test]
fn sdk_logs_decode_from_protobuf_and_json_alike() {
    check_sdk_logs(&decode(Table::Logs, "otlp_proto", "otlp_logs.pb"));
    check_sdk_logs(&decode(Table::Logs, "otlp_json", "otlp_logs.json"));
}

fn check_sdk_metrics(b: &RecordBatch) {
    let one = |name: &str, l: &[(&str, &str)]| {
        let rows = find(b, name, l);
        assert_eq!(rows.len(), 1, "{name} {l:?}");
        rows[0]
    };
    let card = one("app.orders.processed", &[("payment.method", "card")]);
    assert_eq!(value(b, card), 3.0);
    assert_eq!(text(b, "kind", card).as_deref(), Some("counter"));
    assert_eq!(
        value(
            b,
            one("app.orders.processed", &[("payment.method", "paypal")])
        ),
        4.0
    );
    let depth = one("app.queue.depth", &[("queue", "payments")]);
    assert_eq!(value(b, depth), 3.0);
    assert_eq!(text(b, "kind", depth).as_deref(), Some("gauge"));
    assert_eq!(
        value(b, one("app.cache.hit_ratio", &[("cache", "sessions")])),
        0.75
    );
    let route = [("http.route", "/cart")];
    assert_eq!(value(b, one("http.server.duration_count", &route)), 5.0);
    assert_eq!(value(b, one("http.server.duration_sum", &route)), 1522.0);
    // Recorded 12, 40, 40, 230, 1200 against the SDK's default bounds.
    for (le, want) in [
        ("10", 0.0),
        ("25", 1.0),
        ("50", 3.0),
        ("250", 4.0),
        ("2500", 5.0),
        ("+Inf", 5.0),
    ] {
        let row = one(
            "http.server.duration_bucket",
            &[("http.route", "/cart"), ("le", le)],
        );
        assert_eq!(value(b, row), want, "le={le}");
    }
    assert_eq!(find(b, "http.server.duration_bucket", &[]).len(), 16);
    assert!((0..b.num_rows()).all(|i| text(b, "service", i).as_deref() == Some("checkout")));
    assert!((0..b.num_rows()).all(|i| ts(b, i) == 1_795_716_970_818_584_385));
}

#[test]
fn sdk_metrics_decode_from_protobuf_and_json_alike() {
    check_sdk_metrics(&decode(Table::Metrics, "otlp_proto", "otlp_metrics.pb"));
    check_sdk_metrics(&decode(Table::Metrics, "otlp_json", "otlp_metrics.json"));
}
