use super::*;
use crate::decode::{all_or_nothing, decode_message};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use proptest::prelude::*;

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "tocsin.metrics",
        partition: 0,
        offset: 3,
        received_ns: 17,
    }
}

fn decode(bridge: Bridge, input: &str) -> Result<RecordBatch, DecodeError> {
    let mut b = TableBuilder::for_table(Table::Metrics).unwrap();
    let d = MetricAdapterDecoder::new(DecodeLimits::default(), bridge);
    decode_message(
        &d,
        input.as_bytes(),
        &lineage(),
        &DecodeLimits::default(),
        &mut b,
    )?;
    Ok(b.finish().unwrap())
}

fn s(b: &RecordBatch, c: &str, row: usize) -> Option<String> {
    let col = b.column_by_name(c).unwrap().as_string::<i32>();
    (!col.is_null(row)).then(|| col.value(row).to_owned())
}

fn v(b: &RecordBatch, row: usize) -> f64 {
    b.column_by_name("value")
        .unwrap()
        .as_primitive::<Float64Type>()
        .value(row)
}

fn labels(b: &RecordBatch, row: usize) -> Vec<(String, String)> {
    let m = b.column_by_name("labels").unwrap().as_map();
    let entries = m.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let vals = entries.column(1).as_string::<i32>();
    (0..entries.len())
        .map(|i| (keys.value(i).to_owned(), vals.value(i).to_owned()))
        .collect()
}

#[test]
fn prometheus_adapter_samples_keep_names_labels_and_values() {
    let input = concat!(
        r#"{"timestamp":"2026-11-26T08:30:00Z","value":"0.25","name":"http_request_duration_seconds_bucket","labels":{"__name__":"http_request_duration_seconds_bucket","job":"checkout","instance":"10.0.0.7:9100","le":"0.5"}}"#,
        "\n",
        r#"{"timestamp":"2026-11-26T08:30:00Z","value":"+Inf","name":"up","labels":{"__name__":"up","service":"cart"}}"#,
        "\n",
        r#"{"timestamp":"2026-11-26T08:30:00Z","value":"NaN","labels":{"__name__":"http_requests_total"}}"#,
    );
    let b = decode(Bridge::PrometheusAdapter, input).unwrap();
    assert_eq!(b.num_rows(), 3);
    assert_eq!(
        s(&b, "name", 0).as_deref(),
        Some("http_request_duration_seconds_bucket")
    );
    assert_eq!(s(&b, "kind", 0).as_deref(), Some("histogram"));
    assert_eq!(s(&b, "service", 0).as_deref(), Some("checkout"));
    assert_eq!(s(&b, "host", 0).as_deref(), Some("10.0.0.7:9100"));
    assert_eq!(v(&b, 0), 0.25);
    let l = labels(&b, 0);
    assert!(
        l.contains(&("le".into(), "0.5".into())) && l.contains(&("job".into(), "checkout".into()))
    );
    assert!(!l.iter().any(|(k, _)| k == "__name__"));
    assert_eq!(v(&b, 1), f64::INFINITY);
    assert_eq!(s(&b, "service", 1).as_deref(), Some("cart"));
    assert!(!labels(&b, 1).iter().any(|(k, _)| k == "service"));
    assert_eq!(s(&b, "name", 2).as_deref(), Some("http_requests_total"));
    assert_eq!(s(&b, "kind", 2).as_deref(), Some("counter"));
    assert!(v(&b, 2).is_nan());
    let ts = b
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    assert_eq!(ts.value(0), 1_795_681_800_000_000_000);
}

#[test]
fn telegraf_json_single_and_batch() {
    let one = r#"{"fields":{"usage_idle":99.5,"usage_user":0.3,"ok":true,"note":"skip"},"name":"cpu","tags":{"cpu":"cpu0","host":"web-1"},"timestamp":1795681800}"#;
    let b = decode(Bridge::Telegraf, one).unwrap();
    assert_eq!(b.num_rows(), 3, "numbers and booleans, not strings");
    let names: Vec<String> = (0..3).map(|i| s(&b, "name", i).unwrap()).collect();
    assert!(names.contains(&"cpu_usage_idle".into()) && names.contains(&"cpu_ok".into()));
    assert_eq!(s(&b, "host", 0).as_deref(), Some("web-1"));
    assert_eq!(labels(&b, 0), vec![("cpu".to_owned(), "cpu0".to_owned())]);
    let ts = b
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    assert_eq!(ts.value(0), 1_795_681_800_000_000_000);
    let batch = r#"{"metrics":[{"fields":{"value":3},"name":"queue_depth","tags":{"service":"orders"},"timestamp":1795681800000},{"fields":{"used":1.5},"name":"mem","tags":{},"timestamp":1795681800}]}"#;
    let b = decode(Bridge::Telegraf, batch).unwrap();
    assert_eq!(b.num_rows(), 2);
    assert_eq!(s(&b, "name", 0).as_deref(), Some("queue_depth"));
    assert_eq!(s(&b, "service", 0).as_deref(), Some("orders"));
    assert_eq!(s(&b, "name", 1).as_deref(), Some("mem_used"));
}

#[test]
fn malformed_samples_say_why() {
    let cases = [
        (
            Bridge::PrometheusAdapter,
            r#"{"value":"1","labels":{}}"#,
            "name",
        ),
        (
            Bridge::PrometheusAdapter,
            r#"{"name":"up","value":"x1","labels":{}}"#,
            "not a number",
        ),
        (
            Bridge::PrometheusAdapter,
            r#"{"name":"up","labels":{}}"#,
            "value",
        ),
        (
            Bridge::PrometheusAdapter,
            r#"{"name":"up","value":1,"timestamp":"yesterday"}"#,
            "RFC 3339",
        ),
        (Bridge::PrometheusAdapter, r#"[1,2]"#, "object"),
        (Bridge::Telegraf, r#"{"name":"cpu","tags":{}}"#, "fields"),
        (Bridge::Telegraf, r#"{"fields":{"a":1}}"#, "name"),
        (
            Bridge::Telegraf,
            r#"{"fields":{"a":1},"name":"x","timestamp":[1]}"#,
            "a number since the epoch",
        ),
    ];
    for (bridge, input, needle) in cases.iter().copied().chain([
        // A float epoch is read as such, not clamped to the year 2262.
        (
            Bridge::PrometheusAdapter,
            r#"{"name":"up","value":1,"timestamp":1e30}"#,
            "out of range",
        ),
    ]) {
        let e = decode(bridge, input).unwrap_err();
        assert!(e.to_string().contains(needle), "{input}: {e}");
    }
}

#[test]
fn too_many_labels_are_refused() {
    let labels: Vec<String> = (0..300).map(|i| format!("\"l{i}\":\"v\"")).collect();
    let input = format!(
        r#"{{"name":"up","value":"1","labels":{{{}}}}}"#,
        labels.join(",")
    );
    let e = decode(Bridge::PrometheusAdapter, &input).unwrap_err();
    assert_eq!(e.reason, DecodeReason::TooManyFields, "{e}");
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_all_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for bridge in [Bridge::PrometheusAdapter, Bridge::Telegraf] {
            let d = MetricAdapterDecoder::new(DecodeLimits::default(), bridge);
            all_or_nothing(&d, &bytes, &lineage())?;
        }
    }
}
