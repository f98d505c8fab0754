//! Metric samples as JSON: tocsin's envelope
//! (`{"ts","name","value","kind","service","labels":{...}}`) and Vector's JSON
//! encoding of metric events (`{"name","namespace","tags","timestamp","kind":
//! "absolute"|"incremental","counter":{"value":..}}` and the other value
//! shapes, optionally wrapped as `{"metric": {...}}`).
//!
//! Vector histograms and summaries become Prometheus-style rows
//! (`_bucket` with `le`, `_count`, `_sum`, quantiles with `quantile`).
//! Incremental (delta) samples carry the label `temporality="delta"`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::json::{AnyAsStr, RawTs, Str, parse_record, wrong_builder};
use super::time::parse_raw_ts;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, MetricRow, MetricsBuilder, TableBuilder};
use crate::catalog::Table;

/// Decodes JSON metric samples.
#[derive(Debug, Clone)]
pub struct JsonMetricsDecoder {
    limits: DecodeLimits,
}

impl JsonMetricsDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Self {
        JsonMetricsDecoder { limits }
    }
}

#[derive(Debug, Deserialize)]
struct SingleValue {
    value: f64,
}

#[derive(Debug, Deserialize)]
struct SetValue {
    values: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Sample {
    value: f64,
    #[serde(default = "one")]
    rate: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
struct Distribution {
    samples: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
struct Bucket {
    upper_limit: f64,
    count: f64,
}

#[derive(Debug, Deserialize)]
struct Histogram {
    buckets: Vec<Bucket>,
    count: f64,
    sum: f64,
}

#[derive(Debug, Deserialize)]
struct Quantile {
    quantile: f64,
    value: f64,
}

#[derive(Debug, Deserialize)]
struct Summary {
    quantiles: Vec<Quantile>,
    count: f64,
    sum: f64,
}

/// The value part of a record, in whichever shape it came.
#[derive(Debug)]
enum Value {
    Plain(f64),
    Counter(f64),
    Gauge(f64),
    Set(usize),
    Distribution(Distribution),
    Histogram(Histogram),
    Summary(Summary),
}

#[derive(Default)]
struct MetricFields<'a> {
    ts: Option<RawTs<'a>>,
    name: Option<Cow<'a, str>>,
    namespace: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    value: Option<Value>,
    service: Option<Cow<'a, str>>,
    host: Option<Cow<'a, str>>,
    env: Option<Cow<'a, str>>,
    version: Option<Cow<'a, str>>,
    labels: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> MetricFields<'a> {
    /// Columns are filled from labels of the same name when not given directly.
    fn take_label(&mut self, key: Cow<'a, str>, value: Cow<'a, str>) {
        let slot = match key.as_ref() {
            "service" | "service.name" | "service_name" | "job" => &mut self.service,
            "host" | "hostname" | "instance" => &mut self.host,
            "env" | "environment" => &mut self.env,
            "version" | "service.version" => &mut self.version,
            _ => {
                self.labels.push((key, value));
                return;
            }
        };
        if slot.is_none() {
            *slot = Some(value);
        } else {
            self.labels.push((key, value));
        }
    }
}

struct MetricObjectSeed<'f, 'a> {
    fields: &'f mut MetricFields<'a>,
}

impl<'de, 'f> DeserializeSeed<'de> for MetricObjectSeed<'f, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'f> Visitor<'de> for MetricObjectSeed<'f, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (one metric sample)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let fields = self.fields;
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            match key.as_ref() {
                "ts" | "timestamp" | "time" => fields.ts = Some(map.next_value()?),
                "name" => fields.name = Some(map.next_value::<Str<'de>>()?.0),
                "namespace" => fields.namespace = map.next_value::<AnyAsStr<'de>>()?.0,
                "kind" | "type" => fields.kind = Some(map.next_value::<Str<'de>>()?.0),
                "value" => fields.value = Some(Value::Plain(map.next_value()?)),
                "counter" => {
                    fields.value = Some(Value::Counter(map.next_value::<SingleValue>()?.value))
                }
                "gauge" => {
                    fields.value = Some(Value::Gauge(map.next_value::<SingleValue>()?.value))
                }
                "set" => {
                    fields.value = Some(Value::Set(map.next_value::<SetValue>()?.values.len()))
                }
                "distribution" => fields.value = Some(Value::Distribution(map.next_value()?)),
                "aggregated_histogram" => fields.value = Some(Value::Histogram(map.next_value()?)),
                "aggregated_summary" => fields.value = Some(Value::Summary(map.next_value()?)),
                "labels" | "tags" => {
                    let obj: Option<Vec<(Str<'de>, AnyAsStr<'de>)>> =
                        map.next_value::<Option<LabelList<'de>>>()?.map(|l| l.0);
                    for (Str(k), AnyAsStr(v)) in obj.into_iter().flatten() {
                        if let Some(v) = v {
                            fields.take_label(k, v);
                        }
                    }
                }
                "service" | "service.name" => fields.service = map.next_value::<AnyAsStr<'de>>()?.0,
                "host" | "hostname" => fields.host = map.next_value::<AnyAsStr<'de>>()?.0,
                "env" | "environment" => fields.env = map.next_value::<AnyAsStr<'de>>()?.0,
                "version" => fields.version = map.next_value::<AnyAsStr<'de>>()?.0,
                "metric" => {
                    // Vector's native_json: {"metric": {...}}.
                    map.next_value_seed(MetricObjectSeed {
                        fields: &mut *fields,
                    })?;
                }
                _ => {
                    let AnyAsStr(v) = map.next_value()?;
                    if let Some(v) = v {
                        fields.labels.push((key, v));
                    }
                }
            }
        }
        Ok(())
    }
}

/// An object read as an ordered list of entries.
struct LabelList<'a>(Vec<(Str<'a>, AnyAsStr<'a>)>);

impl<'de> Deserialize<'de> for LabelList<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LabelList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of labels")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Str<'de>>()? {
                    out.push((k, map.next_value()?));
                }
                Ok(LabelList(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Decoder for JsonMetricsDecoder {
    fn table(&self) -> Table {
        Table::Metrics
    }

    fn format(&self) -> &'static str {
        "json"
    }

    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError> {
        let TableBuilder::Metrics(b) = out else {
            return Err(wrong_builder("metrics"));
        };
        let mut fields = MetricFields::default();
        parse_record(
            record,
            MetricObjectSeed {
                fields: &mut fields,
            },
        )?;
        emit(fields, lineage, &self.limits, b)
    }
}

fn emit(
    mut f: MetricFields<'_>,
    lineage: &Lineage<'_>,
    limits: &DecodeLimits,
    b: &mut MetricsBuilder,
) -> Result<(), DecodeError> {
    if f.labels.len() > limits.max_fields_per_row {
        return Err(DecodeError::new(
            DecodeReason::TooManyFields,
            format!(
                "sample has {} labels, more than the limit of {}",
                f.labels.len(),
                limits.max_fields_per_row
            ),
        ));
    }
    let Some(base) = f.name.take() else {
        return Err(DecodeError::new(
            DecodeReason::MissingField,
            "missing `name`",
        ));
    };
    let name: Cow<'_, str> = match f.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => Cow::Owned(format!("{ns}_{base}")),
        _ => base,
    };
    let Some(value) = f.value.take() else {
        return Err(DecodeError::new(
            DecodeReason::MissingField,
            "missing a value (`value`, or Vector's `counter`/`gauge`/... object)",
        ));
    };
    let ts = match &f.ts {
        Some(raw) => parse_raw_ts(raw)?,
        None => lineage.received_ns,
    };
    let delta = match f.kind.as_deref() {
        Some("incremental") => true,
        Some("absolute") | None => false,
        Some("gauge" | "counter" | "histogram" | "summary") => false,
        Some(other) => {
            return Err(DecodeError::new(
                DecodeReason::InvalidValue,
                format!(
                    "`kind` is `{other}`; expected gauge, counter, histogram, summary, absolute or incremental"
                ),
            ));
        }
    };
    // Vector's `absolute`/`incremental` say nothing about the metric type.
    let plain_kind = match f.kind.as_deref() {
        Some("counter") => "counter",
        Some("histogram") => "histogram",
        Some("summary") => "summary",
        _ => "gauge",
    };
    let mut out = Emitter {
        f: &f,
        lineage,
        b,
        ts,
        delta,
    };
    match value {
        Value::Plain(v) => out.row(&name, v, plain_kind, None),
        Value::Counter(v) => out.row(&name, v, "counter", None),
        Value::Gauge(v) => out.row(&name, v, "gauge", None),
        Value::Set(n) => out.row(&name, n as f64, "gauge", None),
        Value::Distribution(d) => {
            let count: f64 = d.samples.iter().map(|s| s.rate).sum();
            let sum: f64 = d.samples.iter().map(|s| s.value * s.rate).sum();
            out.row(&format!("{name}_count"), count, "histogram", None);
            out.row(&format!("{name}_sum"), sum, "histogram", None);
        }
        Value::Histogram(h) => {
            let mut cumulative = 0.0;
            for bucket in &h.buckets {
                // Vector's buckets hold per-bucket counts; Prometheus's `le`
                // buckets are cumulative.
                cumulative += bucket.count;
                let le = bucket.upper_limit.to_string();
                out.row(
                    &format!("{name}_bucket"),
                    cumulative,
                    "histogram",
                    Some(("le", &le)),
                );
            }
            out.row(
                &format!("{name}_bucket"),
                h.count,
                "histogram",
                Some(("le", "+Inf")),
            );
            out.row(&format!("{name}_count"), h.count, "histogram", None);
            out.row(&format!("{name}_sum"), h.sum, "histogram", None);
        }
        Value::Summary(s) => {
            for q in &s.quantiles {
                let ql = q.quantile.to_string();
                out.row(&name, q.value, "summary", Some(("quantile", &ql)));
            }
            out.row(&format!("{name}_count"), s.count, "summary", None);
            out.row(&format!("{name}_sum"), s.sum, "summary", None);
        }
    }
    Ok(())
}

struct Emitter<'x, 'a> {
    f: &'x MetricFields<'a>,
    lineage: &'x Lineage<'x>,
    b: &'x mut MetricsBuilder,
    ts: i64,
    delta: bool,
}

impl Emitter<'_, '_> {
    fn row(&mut self, name: &str, value: f64, kind: &str, extra: Option<(&str, &str)>) {
        for (k, v) in &self.f.labels {
            self.b.labels.push_entry(k, v);
        }
        if let Some((k, v)) = extra {
            self.b.labels.push_entry(k, v);
        }
        if self.delta {
            self.b.labels.push_entry("temporality", "delta");
        }
        let row = MetricRow {
            ts: self.ts,
            name,
            value,
            kind,
            service: self.f.service.as_deref(),
            host: self.f.host.as_deref(),
            env: self.f.env.as_deref(),
            version: self.f.version.as_deref(),
        };
        self.b.push(&row, self.lineage);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_message;
    use arrow::array::{Array, AsArray, RecordBatch};
    use arrow::datatypes::Float64Type;
    use proptest::prelude::*;

    fn lineage() -> Lineage<'static> {
        Lineage {
            topic: "tocsin.metrics",
            partition: 0,
            offset: 1,
            received_ns: 99,
        }
    }

    fn decode(input: &str) -> Result<RecordBatch, DecodeError> {
        let mut b = TableBuilder::for_table(Table::Metrics).unwrap();
        let d = JsonMetricsDecoder::new(DecodeLimits::default());
        decode_message(
            &d,
            input.as_bytes(),
            &lineage(),
            &DecodeLimits::default(),
            &mut b,
        )?;
        Ok(b.finish().unwrap())
    }

    fn names(b: &RecordBatch) -> Vec<String> {
        let c = b.column_by_name("name").unwrap().as_string::<i32>();
        c.iter().map(|s| s.unwrap().to_string()).collect()
    }

    fn values(b: &RecordBatch) -> Vec<f64> {
        b.column_by_name("value")
            .unwrap()
            .as_primitive::<Float64Type>()
            .values()
            .to_vec()
    }

    #[test]
    fn tocsin_envelope() {
        let b = decode(
            r#"{"ts":1795681800,"name":"requests_total","value":42,"kind":"counter","service":"checkout","labels":{"route":"/pay","host":"h1"}}"#,
        )
        .unwrap();
        assert_eq!(names(&b), vec!["requests_total"]);
        assert_eq!(values(&b), vec![42.0]);
        let host = b.column_by_name("host").unwrap().as_string::<i32>();
        assert_eq!(host.value(0), "h1");
        let kind = b.column_by_name("kind").unwrap().as_string::<i32>();
        assert_eq!(kind.value(0), "counter");
    }

    #[test]
    fn vector_counter_and_gauge() {
        let b = decode(
            r#"{"name":"requests_total","namespace":"app","tags":{"service":"api","code":"500"},"timestamp":"2026-11-26T08:30:00Z","kind":"incremental","counter":{"value":3.0}}
{"metric":{"name":"cpu","tags":{"host":"n1"},"kind":"absolute","gauge":{"value":0.5}}}"#,
        )
        .unwrap();
        assert_eq!(names(&b), vec!["app_requests_total", "cpu"]);
        assert_eq!(values(&b), vec![3.0, 0.5]);
        let svc = b.column_by_name("service").unwrap().as_string::<i32>();
        assert_eq!(svc.value(0), "api");
        let labels = b.column_by_name("labels").unwrap().as_map();
        assert_eq!(labels.value(0).len(), 2); // code + temporality
    }

    #[test]
    fn vector_histogram_becomes_cumulative_buckets() {
        let b = decode(
            r#"{"name":"latency","kind":"absolute","aggregated_histogram":{"buckets":[{"upper_limit":0.1,"count":2},{"upper_limit":1.0,"count":3}],"count":6,"sum":4.5}}"#,
        )
        .unwrap();
        assert_eq!(
            names(&b),
            vec![
                "latency_bucket",
                "latency_bucket",
                "latency_bucket",
                "latency_count",
                "latency_sum"
            ]
        );
        assert_eq!(values(&b), vec![2.0, 5.0, 6.0, 6.0, 4.5]);
    }

    #[test]
    fn malformed_samples() {
        for (input, reason) in [
            (r#"{"value":1}"#, DecodeReason::MissingField),
            (r#"{"name":"x"}"#, DecodeReason::MissingField),
            (r#"{"name":"x","value":"one"}"#, DecodeReason::InvalidType),
            (
                r#"{"name":"x","value":1,"kind":"weird"}"#,
                DecodeReason::InvalidValue,
            ),
            (r#"{"name":"x","counter":{}}"#, DecodeReason::InvalidType),
            (
                r#"{"name":"x","value":1,"ts":"never"}"#,
                DecodeReason::InvalidTimestamp,
            ),
        ] {
            let err = decode(input).expect_err(input);
            assert_eq!(err.reason, reason, "{input}: {err}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut b = TableBuilder::for_table(Table::Metrics).unwrap();
            let d = JsonMetricsDecoder::new(DecodeLimits::default());
            if decode_message(&d, &bytes, &lineage(), &DecodeLimits::default(), &mut b).is_err() {
                prop_assert_eq!(b.len(), 0);
            }
            prop_assert!(b.finish().is_ok());
        }

        #[test]
        fn envelope_values_round_trip(v in -1e12f64..1e12, name in "[a-z_]{1,20}") {
            let line = serde_json::json!({"name": name, "value": v}).to_string();
            let b = decode(&line).unwrap();
            prop_assert_eq!(values(&b), vec![v]);
            prop_assert_eq!(names(&b), vec![name]);
        }
    }
}
