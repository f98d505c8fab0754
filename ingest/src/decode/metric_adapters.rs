//! Metric samples as JSON from two common bridges:
//!
//! - `prometheus`: what prometheus-kafka-adapter publishes for each sample
//!   Prometheus remote-writes to it:
//!   `{"timestamp":"2026-11-26T08:30:00Z","value":"42","name":"up","labels":{"__name__":"up","job":"api","instance":"10.0.0.7:9100"}}`.
//!   The value is a string (`"NaN"`, `"+Inf"` included) or a number. The
//!   label `service` (else `job`) fills the `service` column and `instance`
//!   the `host` column; all labels but `__name__` and `service` stay labels.
//!   The adapter carries no metric type, so the kind follows Prometheus's
//!   naming conventions: `_total` → `counter`; `_bucket`, `_count`, `_sum` →
//!   `histogram`; anything else `gauge`.
//! - `telegraf_json`: Telegraf's `data_format = "json"`:
//!   `{"fields":{"usage_idle":99.1},"name":"cpu","tags":{"host":"web-1"},"timestamp":1795681800}`,
//!   or a batch `{"metrics":[...]}`. Each numeric or boolean field becomes a
//!   `gauge` row named `<name>_<field>` (a field called `value` gives just
//!   `<name>`), as the Influx decoder names them; string fields are skipped;
//!   tags are labels except `host` and `service`, which fill their columns.
//!   The timestamp's unit is read from its magnitude (Telegraf's
//!   `json_timestamp_units` defaults to seconds).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::json::{AnyAsStr, RawTs, Str, parse_record, wrong_builder};
use super::time::parse_raw_ts;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, MetricRow, MetricsBuilder, TableBuilder};
use crate::catalog::Table;

/// Which bridge wrote the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bridge {
    /// prometheus-kafka-adapter's JSON.
    PrometheusAdapter,
    /// Telegraf's JSON serializer.
    Telegraf,
}

/// Decodes JSON metric samples written by a bridge.
#[derive(Debug, Clone)]
pub struct MetricAdapterDecoder {
    limits: DecodeLimits,
    bridge: Bridge,
}

impl MetricAdapterDecoder {
    /// A decoder for `bridge` with the given limits.
    pub fn new(limits: DecodeLimits, bridge: Bridge) -> Self {
        MetricAdapterDecoder { limits, bridge }
    }
}

fn invalid(reason: DecodeReason, msg: String) -> DecodeError {
    DecodeError::new(reason, msg)
}

/// Labels or tags, in order, strings borrowed from the input; nulls dropped,
/// other values rendered as JSON writes them.
#[derive(Default)]
struct Labels<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Labels<'a> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Labels<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Labels<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of labels")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Labels::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Str(k)) = map.next_key::<Str<'de>>()? {
                    if let AnyAsStr(Some(v)) = map.next_value()? {
                        out.push((k, v));
                    }
                }
                Ok(Labels(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A Prometheus sample value: a number, or a string Go's strconv wrote.
enum SampleValue<'a> {
    Number(f64),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for SampleValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SampleValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`value` as a number or a string")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(SampleValue::Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(SampleValue::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(SampleValue::Number(v as f64))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(SampleValue::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(SampleValue::Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_any(V)
    }
}

impl SampleValue<'_> {
    fn to_f64(&self) -> Result<f64, DecodeError> {
        match self {
            SampleValue::Number(n) => Ok(*n),
            SampleValue::Text(s) => match s.trim() {
                "+Inf" | "Inf" => Ok(f64::INFINITY),
                "-Inf" => Ok(f64::NEG_INFINITY),
                "NaN" => Ok(f64::NAN),
                t => t.parse().map_err(|_| {
                    invalid(
                        DecodeReason::InvalidValue,
                        format!(
                            "`value` \"{}\" is not a number",
                            t.chars().take(40).collect::<String>()
                        ),
                    )
                }),
            },
        }
    }
}

/// The metric kind Prometheus's naming conventions imply.
pub(super) fn kind_by_name(name: &str) -> &'static str {
    if name.ends_with("_total") {
        "counter"
    } else if name.ends_with("_bucket") || name.ends_with("_count") || name.ends_with("_sum") {
        "histogram"
    } else {
        "gauge"
    }
}

fn push(
    b: &mut MetricsBuilder,
    row: &MetricRow<'_>,
    labels: &Labels<'_>,
    skip: &[&str],
    lineage: &Lineage<'_>,
) {
    for (k, v) in &labels.0 {
        if !skip.contains(&k.as_ref()) {
            b.labels.push_entry(k, v);
        }
    }
    b.push(row, lineage);
}

/// Derived structs also accept a JSON array (fields by position); these
/// formats are objects, so anything else is refused up front.
fn require_object(record: &[u8], what: &str) -> Result<(), DecodeError> {
    match record.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => Ok(()),
        Some(_) => Err(invalid(
            DecodeReason::InvalidType,
            format!("{what} must be a JSON object"),
        )),
    }
}

fn event_time(ts: Option<&RawTs<'_>>, lineage: &Lineage<'_>) -> Result<i64, DecodeError> {
    ts.map_or(Ok(lineage.received_ns), parse_raw_ts)
}

/// One sample of prometheus-kafka-adapter.
#[derive(Deserialize)]
struct AdapterSample<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    value: Option<SampleValue<'a>>,
    #[serde(borrow)]
    timestamp: Option<RawTs<'a>>,
    #[serde(borrow, default)]
    labels: Labels<'a>,
}

fn decode_prometheus(
    record: &[u8],
    limits: &DecodeLimits,
    lineage: &Lineage<'_>,
    b: &mut MetricsBuilder,
) -> Result<(), DecodeError> {
    require_object(record, "a prometheus-kafka-adapter sample")?;
    let doc: AdapterSample<'_> = parse_record(record, PhantomData)?;
    limits.check_fields("`labels`", doc.labels.0.len())?;
    let labels = &doc.labels;
    let name = doc
        .name
        .as_ref()
        .map(|Str(s)| s.as_ref())
        .filter(|s| !s.is_empty())
        .or_else(|| labels.get("__name__"))
        .ok_or_else(|| {
            invalid(
                DecodeReason::MissingField,
                "the sample has no `name` (nor a `__name__` label)".into(),
            )
        })?;
    let value = doc
        .value
        .as_ref()
        .ok_or_else(|| {
            invalid(
                DecodeReason::MissingField,
                "the sample has no `value`".into(),
            )
        })?
        .to_f64()?;
    let ts = event_time(doc.timestamp.as_ref(), lineage)?;
    let row = MetricRow {
        ts,
        name,
        value,
        kind: kind_by_name(name),
        service: labels.get("service").or_else(|| labels.get("job")),
        host: labels.get("instance"),
        env: labels.get("env").or_else(|| labels.get("environment")),
        version: labels.get("version"),
    };
    push(b, &row, labels, &["__name__", "service"], lineage);
    Ok(())
}

/// A Telegraf field: numbers and booleans are values; strings and anything
/// else are skipped (Telegraf's Prometheus output does the same).
struct FieldValue(Option<f64>);

impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field value")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<FieldValue, E> {
                Ok(FieldValue(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FieldValue, E> {
                Ok(FieldValue(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FieldValue, E> {
                Ok(FieldValue(Some(v as f64)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<FieldValue, E> {
                Ok(FieldValue(Some(if v { 1.0 } else { 0.0 })))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<FieldValue, E> {
                Ok(FieldValue(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<FieldValue, E> {
                Ok(FieldValue(None))
            }
            // Skipped, but read as values: serde_json's recursion limit
            // then refuses hostile nesting (IgnoredAny would not).
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldValue, A::Error> {
                serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(FieldValue(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<FieldValue, A::Error> {
                serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(FieldValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Telegraf's fields, in order.
struct Fields<'a>(Vec<(Cow<'a, str>, Option<f64>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`fields` as an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Str(k)) = map.next_key::<Str<'de>>()? {
                    let FieldValue(v) = map.next_value()?;
                    out.push((k, v));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// One Telegraf metric, or a batch of them under `metrics`.
#[derive(Deserialize)]
struct TelegrafMetric<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    fields: Option<Fields<'a>>,
    #[serde(borrow, default)]
    tags: Labels<'a>,
    #[serde(borrow)]
    timestamp: Option<RawTs<'a>>,
    #[serde(borrow)]
    metrics: Option<Vec<TelegrafMetric<'a>>>,
}

fn decode_telegraf_metric(
    m: &TelegrafMetric<'_>,
    limits: &DecodeLimits,
    lineage: &Lineage<'_>,
    b: &mut MetricsBuilder,
) -> Result<usize, DecodeError> {
    let name = m
        .name
        .as_ref()
        .map(|Str(s)| s.as_ref())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            invalid(
                DecodeReason::MissingField,
                "the metric has no `name`".into(),
            )
        })?;
    let Some(fields) = &m.fields else {
        return Err(invalid(
            DecodeReason::MissingField,
            format!("metric `{name}` has no `fields`"),
        ));
    };
    limits.check_fields("`tags`", m.tags.0.len())?;
    let ts = event_time(m.timestamp.as_ref(), lineage)?;
    let mut rows = 0;
    let mut full = String::with_capacity(name.len() + 16);
    for (field, value) in &fields.0 {
        let Some(value) = *value else { continue };
        full.clear();
        full.push_str(name);
        if field != "value" {
            full.push('_');
            full.push_str(field);
        }
        let row = MetricRow {
            ts,
            name: &full,
            value,
            kind: "gauge",
            service: m.tags.get("service"),
            host: m.tags.get("host"),
            env: None,
            version: None,
        };
        push(b, &row, &m.tags, &["host", "service"], lineage);
        rows += 1;
    }
    Ok(rows)
}

impl Decoder for MetricAdapterDecoder {
    fn table(&self) -> Table {
        Table::Metrics
    }

    fn format(&self) -> &'static str {
        match self.bridge {
            Bridge::PrometheusAdapter => "prometheus",
            Bridge::Telegraf => "telegraf_json",
        }
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
        let limits = &self.limits;
        match self.bridge {
            Bridge::PrometheusAdapter => decode_prometheus(record, limits, lineage, b),
            Bridge::Telegraf => {
                require_object(record, "a Telegraf metric")?;
                let doc: TelegrafMetric<'_> = parse_record(record, PhantomData)?;
                match &doc.metrics {
                    Some(batch) => {
                        for m in batch {
                            decode_telegraf_metric(m, limits, lineage, b)?;
                        }
                    }
                    None => {
                        decode_telegraf_metric(&doc, limits, lineage, b)?;
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
