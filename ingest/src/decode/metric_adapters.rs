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

use serde_json::Value;

use super::document::{as_object, parse_document, type_name};
use super::json::wrong_builder;
use super::time::{parse_raw_ts, parse_timestamp_str};
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, MetricRow, MetricsBuilder, TableBuilder};
use crate::catalog::Table;
use crate::decode::json::RawTs;

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

fn labels_of<'v>(
    v: &'v Value,
    field: &str,
    max: usize,
) -> Result<Vec<(&'v str, String)>, DecodeError> {
    let Some(found) = v.get(field).filter(|x| !x.is_null()) else {
        return Ok(Vec::new());
    };
    let obj = as_object(found, &format!("`{field}`"))?;
    if obj.len() > max {
        return Err(invalid(
            DecodeReason::TooManyFields,
            format!("`{field}` has {} entries; the limit is {max}", obj.len()),
        ));
    }
    Ok(obj
        .iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            Value::String(s) => Some((k.as_str(), s.clone())),
            other => Some((k.as_str(), other.to_string())),
        })
        .collect())
}

/// A Prometheus sample value: a number, or a string Go's strconv wrote.
fn sample_value(v: Option<&Value>) -> Result<f64, DecodeError> {
    match v {
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| {
            invalid(
                DecodeReason::InvalidValue,
                format!("`value` {n} is not a float"),
            )
        }),
        Some(Value::String(s)) => match s.trim() {
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
        None | Some(Value::Null) => Err(invalid(
            DecodeReason::MissingField,
            "the sample has no `value`".into(),
        )),
        Some(other) => Err(invalid(
            DecodeReason::InvalidType,
            format!(
                "`value` must be a number or a string, found {}",
                type_name(other)
            ),
        )),
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
    labels: &[(&str, String)],
    skip: &[&str],
    lineage: &Lineage<'_>,
) {
    for (k, v) in labels {
        if !skip.contains(k) {
            b.labels.push_entry(k, v);
        }
    }
    b.push(row, lineage);
}

fn decode_prometheus(
    doc: &Value,
    max: usize,
    lineage: &Lineage<'_>,
    b: &mut MetricsBuilder,
) -> Result<(), DecodeError> {
    as_object(doc, "a prometheus-kafka-adapter sample")?;
    let labels = labels_of(doc, "labels", max)?;
    let label = |k: &str| {
        labels
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_str())
    };
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| label("__name__"))
        .ok_or_else(|| {
            invalid(
                DecodeReason::MissingField,
                "the sample has no `name` (nor a `__name__` label)".into(),
            )
        })?;
    let value = sample_value(doc.get("value"))?;
    let ts = match doc.get("timestamp") {
        Some(Value::String(s)) => parse_timestamp_str(s)?,
        Some(Value::Number(n)) => {
            parse_raw_ts(&RawTs::Int(n.as_i64().unwrap_or(i64::MAX) as i128))?
        }
        None | Some(Value::Null) => lineage.received_ns,
        Some(other) => {
            return Err(invalid(
                DecodeReason::InvalidType,
                format!("`timestamp` must be a string, found {}", type_name(other)),
            ));
        }
    };
    let service = label("service").or_else(|| label("job"));
    let row = MetricRow {
        ts,
        name,
        value,
        kind: kind_by_name(name),
        service,
        host: label("instance"),
        env: label("env").or_else(|| label("environment")),
        version: label("version"),
    };
    push(b, &row, &labels, &["__name__", "service"], lineage);
    Ok(())
}

fn decode_telegraf_metric(
    m: &Value,
    max: usize,
    lineage: &Lineage<'_>,
    b: &mut MetricsBuilder,
) -> Result<usize, DecodeError> {
    as_object(m, "a Telegraf metric")?;
    let name = m
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            invalid(
                DecodeReason::MissingField,
                "the metric has no `name`".into(),
            )
        })?;
    let fields = m.get("fields").ok_or_else(|| {
        invalid(
            DecodeReason::MissingField,
            format!("metric `{name}` has no `fields`"),
        )
    })?;
    let fields = as_object(fields, "`fields`")?;
    let tags = labels_of(m, "tags", max)?;
    let tag = |k: &str| tags.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    let ts = match m.get("timestamp") {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => parse_raw_ts(&RawTs::Int(i as i128))?,
            None => parse_raw_ts(&RawTs::Float(n.as_f64().unwrap_or(f64::NAN)))?,
        },
        Some(Value::String(s)) => parse_raw_ts(&RawTs::Text(s.as_str().into()))?,
        None | Some(Value::Null) => lineage.received_ns,
        Some(other) => {
            return Err(invalid(
                DecodeReason::InvalidType,
                format!("`timestamp` must be a number, found {}", type_name(other)),
            ));
        }
    };
    let mut rows = 0;
    for (field, v) in fields {
        let value = match v {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        };
        let Some(value) = value else { continue };
        let full = if field == "value" {
            name.to_owned()
        } else {
            format!("{name}_{field}")
        };
        let row = MetricRow {
            ts,
            name: &full,
            value,
            kind: "gauge",
            service: tag("service"),
            host: tag("host"),
            env: None,
            version: None,
        };
        push(b, &row, &tags, &["host", "service"], lineage);
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
        let doc = parse_document(record)?;
        let max = self.limits.max_fields_per_row;
        match self.bridge {
            Bridge::PrometheusAdapter => decode_prometheus(&doc, max, lineage, b),
            Bridge::Telegraf => {
                let batch = doc.get("metrics").and_then(Value::as_array);
                let metrics: Vec<&Value> = match batch {
                    Some(all) => all.iter().collect(),
                    None => vec![&doc],
                };
                for m in metrics {
                    decode_telegraf_metric(m, max, lineage, b)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
