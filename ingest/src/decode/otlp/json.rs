//! OTLP/JSON read with serde derives over borrowed strings, then moved
//! into the protobuf types the rest of the decoder reads.
//!
//! `opentelemetry-proto`'s own serde mapping buffers every oneof (`data`,
//! `value`) through serde's `flatten`, which cost about half of the decoding
//! time. Here each oneof is a set of optional fields instead. The mapping is
//! OTLP/JSON's: lowerCamelCase keys, 64-bit integers as strings or numbers,
//! enums as integers, trace and span ids as hex, bytes as base64, and
//! `NaN`/`Infinity` as strings where a double is expected.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::metrics::v1 as metrics;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::decode::{DecodeError, DecodeReason};

/// A 64-bit integer as OTLP/JSON writes it: a string, or a number.
#[derive(Default, Clone, Copy)]
struct Int(i128);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, as a number or a decimal string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                // Nearly every string integer is an unsigned timestamp, and
                // parsing as u64 is several times cheaper than as i128.
                if let Ok(u) = v.parse::<u64>() {
                    return Ok(Int(u.into()));
                }
                v.parse()
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &"a decimal integer"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Int {
    fn u64<E: de::Error>(self) -> Result<u64, E> {
        u64::try_from(self.0)
            .map_err(|_| E::custom(format!("{} is not an unsigned 64-bit integer", self.0)))
    }
    fn i64<E: de::Error>(self) -> Result<i64, E> {
        i64::try_from(self.0).map_err(|_| E::custom(format!("{} is not a 64-bit integer", self.0)))
    }
}

/// A double: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
#[derive(Default, Clone, Copy)]
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Double;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Double, E> {
                Ok(Double(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Double, E> {
                match v {
                    "NaN" => Ok(Double(f64::NAN)),
                    "Infinity" => Ok(Double(f64::INFINITY)),
                    "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                    _ => v
                        .parse()
                        .map(Double)
                        .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &"a number")),
                }
            }
        }
        d.deserialize_any(V)
    }
}

type Text<'a> = Cow<'a, str>;

/// Text borrowed from the input unless it had escapes.
struct CowText<'a>(Text<'a>);

impl<'de> Deserialize<'de> for CowText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<CowText<'de>, E> {
                Ok(CowText(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CowText<'de>, E> {
                Ok(CowText(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<CowText<'de>, E> {
                Ok(CowText(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// OTLP's `AnyValue` oneof. An enum rather than a struct of optional
/// fields: attribute values are moved several times while a request is
/// read, and the struct's size made those moves a fifth of the time. The
/// first value key present wins; unknown keys are skipped.
#[derive(Default)]
enum AnyValue<'a> {
    #[default]
    Empty,
    String(Text<'a>),
    Bool(bool),
    Int(Int),
    Double(Double),
    Array(Vec<AnyValue<'a>>),
    Kvlist(Vec<KeyValue<'a>>),
    Bytes(Text<'a>),
}

impl<'de: 'a, 'a> Deserialize<'de> for AnyValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AnyValue object")
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<AnyValue<'de>, A::Error> {
                let mut out = AnyValue::Empty;
                while let Some(key) = map.next_key::<CowText<'de>>()? {
                    if !matches!(out, AnyValue::Empty) {
                        map.next_value::<de::IgnoredAny>()?;
                        continue;
                    }
                    out = match key.0.as_ref() {
                        "stringValue" => map
                            .next_value::<Option<CowText<'de>>>()?
                            .map_or(AnyValue::Empty, |t| AnyValue::String(t.0)),
                        "boolValue" => map
                            .next_value::<Option<bool>>()?
                            .map_or(AnyValue::Empty, AnyValue::Bool),
                        "intValue" => map
                            .next_value::<Option<Int>>()?
                            .map_or(AnyValue::Empty, AnyValue::Int),
                        "doubleValue" => map
                            .next_value::<Option<Double>>()?
                            .map_or(AnyValue::Empty, AnyValue::Double),
                        "arrayValue" => map
                            .next_value::<Option<Values<'de>>>()?
                            .map_or(AnyValue::Empty, |v| AnyValue::Array(v.values)),
                        "kvlistValue" => map
                            .next_value::<Option<KeyValues<'de>>>()?
                            .map_or(AnyValue::Empty, |v| AnyValue::Kvlist(v.values)),
                        "bytesValue" => map
                            .next_value::<Option<CowText<'de>>>()?
                            .map_or(AnyValue::Empty, |t| AnyValue::Bytes(t.0)),
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                            AnyValue::Empty
                        }
                    };
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Values<'a> {
    #[serde(borrow)]
    values: Vec<AnyValue<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyValues<'a> {
    #[serde(borrow)]
    values: Vec<KeyValue<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyValue<'a> {
    #[serde(borrow)]
    key: Text<'a>,
    #[serde(borrow)]
    value: Option<AnyValue<'a>>,
}

fn any_value<E: de::Error>(v: AnyValue<'_>) -> Result<common::AnyValue, E> {
    use common::any_value::Value;
    let value = match v {
        AnyValue::Empty => None,
        AnyValue::String(s) => Some(Value::StringValue(s.into_owned())),
        AnyValue::Bool(b) => Some(Value::BoolValue(b)),
        AnyValue::Int(i) => Some(Value::IntValue(i.i64()?)),
        AnyValue::Double(d) => Some(Value::DoubleValue(d.0)),
        AnyValue::Array(a) => Some(Value::ArrayValue(common::ArrayValue {
            values: a.into_iter().map(any_value).collect::<Result<_, _>>()?,
        })),
        AnyValue::Kvlist(kv) => Some(Value::KvlistValue(common::KeyValueList {
            values: key_values(kv)?,
        })),
        AnyValue::Bytes(b) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| E::custom(format!("bytesValue is not base64: {e}")))?;
            Some(Value::BytesValue(bytes))
        }
    };
    Ok(common::AnyValue { value })
}

fn key_values<E: de::Error>(kvs: Vec<KeyValue<'_>>) -> Result<Vec<common::KeyValue>, E> {
    kvs.into_iter()
        .map(|kv| {
            Ok(common::KeyValue {
                key: kv.key.into_owned(),
                value: kv.value.map(any_value).transpose()?,
                ..Default::default()
            })
        })
        .collect()
}

fn hex_bytes<E: de::Error>(s: Option<Text<'_>>, what: &str) -> Result<Vec<u8>, E> {
    match s {
        None => Ok(Vec::new()),
        Some(s) => {
            hex::decode(s.as_bytes()).map_err(|e| E::custom(format!("{what} is not hex: {e}")))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonResource<'a> {
    #[serde(borrow)]
    attributes: Vec<KeyValue<'a>>,
}

fn resource<E: de::Error>(r: Option<JsonResource<'_>>) -> Result<Option<Resource>, E> {
    r.map(|r| {
        Ok(Resource {
            attributes: key_values(r.attributes)?,
            ..Default::default()
        })
    })
    .transpose()
}

// ---- logs ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsRequest<'a> {
    #[serde(borrow)]
    resource_logs: Vec<ResourceLogs<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ResourceLogs<'a> {
    #[serde(borrow)]
    resource: Option<JsonResource<'a>>,
    #[serde(borrow)]
    scope_logs: Vec<ScopeLogs<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ScopeLogs<'a> {
    #[serde(borrow)]
    log_records: Vec<LogRecord<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LogRecord<'a> {
    time_unix_nano: Int,
    observed_time_unix_nano: Int,
    severity_number: i32,
    #[serde(borrow)]
    severity_text: Text<'a>,
    #[serde(borrow)]
    body: Option<AnyValue<'a>>,
    #[serde(borrow)]
    attributes: Vec<KeyValue<'a>>,
    #[serde(borrow)]
    trace_id: Option<Text<'a>>,
    #[serde(borrow)]
    span_id: Option<Text<'a>>,
    #[serde(borrow)]
    event_name: Text<'a>,
    flags: u32,
}

fn convert_logs<E: de::Error>(req: LogsRequest<'_>) -> Result<ExportLogsServiceRequest, E> {
    let mut out = ExportLogsServiceRequest::default();
    for rl in req.resource_logs {
        let mut scope_logs = Vec::with_capacity(rl.scope_logs.len());
        for sl in rl.scope_logs {
            let mut log_records = Vec::with_capacity(sl.log_records.len());
            for r in sl.log_records {
                log_records.push(logs::LogRecord {
                    time_unix_nano: r.time_unix_nano.u64()?,
                    observed_time_unix_nano: r.observed_time_unix_nano.u64()?,
                    severity_number: r.severity_number,
                    severity_text: r.severity_text.into_owned(),
                    body: r.body.map(any_value).transpose()?,
                    attributes: key_values(r.attributes)?,
                    trace_id: hex_bytes(r.trace_id, "traceId")?,
                    span_id: hex_bytes(r.span_id, "spanId")?,
                    event_name: r.event_name.into_owned(),
                    flags: r.flags,
                    ..Default::default()
                });
            }
            scope_logs.push(logs::ScopeLogs {
                log_records,
                ..Default::default()
            });
        }
        out.resource_logs.push(logs::ResourceLogs {
            resource: resource(rl.resource)?,
            scope_logs,
            ..Default::default()
        });
    }
    Ok(out)
}

// ---- metrics ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricsRequest<'a> {
    #[serde(borrow)]
    resource_metrics: Vec<ResourceMetrics<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ResourceMetrics<'a> {
    #[serde(borrow)]
    resource: Option<JsonResource<'a>>,
    #[serde(borrow)]
    scope_metrics: Vec<ScopeMetrics<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ScopeMetrics<'a> {
    #[serde(borrow)]
    metrics: Vec<Metric<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Metric<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    gauge: Option<Points<NumberPoint<'a>>>,
    #[serde(borrow)]
    sum: Option<Points<NumberPoint<'a>>>,
    #[serde(borrow)]
    histogram: Option<Points<HistogramPoint<'a>>>,
    #[serde(borrow)]
    exponential_histogram: Option<Points<ExponentialPoint<'a>>>,
    #[serde(borrow)]
    summary: Option<Points<SummaryPoint<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Points<P> {
    #[serde(default = "Vec::new")]
    data_points: Vec<P>,
    #[serde(default)]
    aggregation_temporality: i32,
    #[serde(default)]
    is_monotonic: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct NumberPoint<'a> {
    #[serde(borrow)]
    attributes: Vec<KeyValue<'a>>,
    start_time_unix_nano: Int,
    time_unix_nano: Int,
    as_double: Option<Double>,
    as_int: Option<Int>,
    flags: u32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct HistogramPoint<'a> {
    #[serde(borrow)]
    attributes: Vec<KeyValue<'a>>,
    start_time_unix_nano: Int,
    time_unix_nano: Int,
    count: Int,
    sum: Option<Double>,
    bucket_counts: Vec<Int>,
    explicit_bounds: Vec<Double>,
    flags: u32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Buckets {
    offset: i32,
    bucket_counts: Vec<Int>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ExponentialPoint<'a> {
    #[serde(borrow)]
    attributes: Vec<KeyValue<'a>>,
    start_time_unix_nano: Int,
    time_unix_nano: Int,
    count: Int,
    sum: Option<Double>,
    scale: i32,
    zero_count: Int,
    positive: Option<Buckets>,
    negative: Option<Buckets>,
    flags: u32,
    zero_threshold: Double,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Quantile {
    quantile: Double,
    value: Double,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SummaryPoint<'a> {
    #[serde(borrow)]
    attributes: Vec<KeyValue<'a>>,
    start_time_unix_nano: Int,
    time_unix_nano: Int,
    count: Int,
    sum: Double,
    quantile_values: Vec<Quantile>,
    flags: u32,
}

fn counts<E: de::Error>(v: Vec<Int>) -> Result<Vec<u64>, E> {
    v.into_iter().map(Int::u64).collect()
}

fn buckets<E: de::Error>(
    b: Option<Buckets>,
) -> Result<Option<metrics::exponential_histogram_data_point::Buckets>, E> {
    b.map(|b| {
        Ok(metrics::exponential_histogram_data_point::Buckets {
            offset: b.offset,
            bucket_counts: counts(b.bucket_counts)?,
        })
    })
    .transpose()
}

fn number_points<E: de::Error>(
    points: Vec<NumberPoint<'_>>,
) -> Result<Vec<metrics::NumberDataPoint>, E> {
    use metrics::number_data_point::Value;
    points
        .into_iter()
        .map(|p| {
            let value = match (p.as_double, p.as_int) {
                (Some(d), _) => Some(Value::AsDouble(d.0)),
                (None, Some(i)) => Some(Value::AsInt(i.i64()?)),
                (None, None) => None,
            };
            Ok(metrics::NumberDataPoint {
                attributes: key_values(p.attributes)?,
                start_time_unix_nano: p.start_time_unix_nano.u64()?,
                time_unix_nano: p.time_unix_nano.u64()?,
                flags: p.flags,
                value,
                ..Default::default()
            })
        })
        .collect()
}

fn metric_data<E: de::Error>(m: Metric<'_>) -> Result<Option<metrics::metric::Data>, E> {
    use metrics::metric::Data;
    Ok(if let Some(g) = m.gauge {
        Some(Data::Gauge(metrics::Gauge {
            data_points: number_points(g.data_points)?,
        }))
    } else if let Some(s) = m.sum {
        Some(Data::Sum(metrics::Sum {
            data_points: number_points(s.data_points)?,
            aggregation_temporality: s.aggregation_temporality,
            is_monotonic: s.is_monotonic,
        }))
    } else if let Some(h) = m.histogram {
        let data_points = h
            .data_points
            .into_iter()
            .map(|p| {
                Ok(metrics::HistogramDataPoint {
                    attributes: key_values(p.attributes)?,
                    start_time_unix_nano: p.start_time_unix_nano.u64()?,
                    time_unix_nano: p.time_unix_nano.u64()?,
                    count: p.count.u64()?,
                    sum: p.sum.map(|d| d.0),
                    bucket_counts: counts(p.bucket_counts)?,
                    explicit_bounds: p.explicit_bounds.into_iter().map(|d| d.0).collect(),
                    flags: p.flags,
                    ..Default::default()
                })
            })
            .collect::<Result<_, E>>()?;
        Some(Data::Histogram(metrics::Histogram {
            data_points,
            aggregation_temporality: h.aggregation_temporality,
        }))
    } else if let Some(h) = m.exponential_histogram {
        let data_points = h
            .data_points
            .into_iter()
            .map(|p| {
                Ok(metrics::ExponentialHistogramDataPoint {
                    attributes: key_values(p.attributes)?,
                    start_time_unix_nano: p.start_time_unix_nano.u64()?,
                    time_unix_nano: p.time_unix_nano.u64()?,
                    count: p.count.u64()?,
                    sum: p.sum.map(|d| d.0),
                    scale: p.scale,
                    zero_count: p.zero_count.u64()?,
                    positive: buckets(p.positive)?,
                    negative: buckets(p.negative)?,
                    flags: p.flags,
                    zero_threshold: p.zero_threshold.0,
                    ..Default::default()
                })
            })
            .collect::<Result<_, E>>()?;
        Some(Data::ExponentialHistogram(metrics::ExponentialHistogram {
            data_points,
            aggregation_temporality: h.aggregation_temporality,
        }))
    } else if let Some(s) = m.summary {
        let data_points = s
            .data_points
            .into_iter()
            .map(|p| {
                Ok(metrics::SummaryDataPoint {
                    attributes: key_values(p.attributes)?,
                    start_time_unix_nano: p.start_time_unix_nano.u64()?,
                    time_unix_nano: p.time_unix_nano.u64()?,
                    count: p.count.u64()?,
                    sum: p.sum.0,
                    quantile_values: p
                        .quantile_values
                        .into_iter()
                        .map(|q| metrics::summary_data_point::ValueAtQuantile {
                            quantile: q.quantile.0,
                            value: q.value.0,
                        })
                        .collect(),
                    flags: p.flags,
                })
            })
            .collect::<Result<_, E>>()?;
        Some(Data::Summary(metrics::Summary { data_points }))
    } else {
        None
    })
}

fn convert_metrics<E: de::Error>(
    req: MetricsRequest<'_>,
) -> Result<ExportMetricsServiceRequest, E> {
    let mut out = ExportMetricsServiceRequest::default();
    for rm in req.resource_metrics {
        let mut scope_metrics = Vec::with_capacity(rm.scope_metrics.len());
        for sm in rm.scope_metrics {
            let mut metrics_out = Vec::with_capacity(sm.metrics.len());
            for m in sm.metrics {
                let name = m.name.clone().into_owned();
                metrics_out.push(metrics::Metric {
                    name,
                    data: metric_data(m)?,
                    ..Default::default()
                });
            }
            scope_metrics.push(metrics::ScopeMetrics {
                metrics: metrics_out,
                ..Default::default()
            });
        }
        out.resource_metrics.push(metrics::ResourceMetrics {
            resource: resource(rm.resource)?,
            scope_metrics,
            ..Default::default()
        });
    }
    Ok(out)
}

fn parse<'a, T: Deserialize<'a>, R>(
    record: &'a [u8],
    convert: impl FnOnce(T) -> Result<R, serde_json::Error>,
) -> Result<R, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(record);
    let parsed = T::deserialize(&mut de).map_err(super::super::json::json_error)?;
    de.end().map_err(super::super::json::json_error)?;
    convert(parsed).map_err(|e| DecodeError::new(DecodeReason::InvalidValue, e.to_string()))
}

/// Parses an OTLP/JSON `ExportLogsServiceRequest`.
pub(super) fn logs_request(record: &[u8]) -> Result<ExportLogsServiceRequest, DecodeError> {
    parse(record, convert_logs::<serde_json::Error>)
}

/// Parses an OTLP/JSON `ExportMetricsServiceRequest`.
pub(super) fn metrics_request(record: &[u8]) -> Result<ExportMetricsServiceRequest, DecodeError> {
    parse(record, convert_metrics::<serde_json::Error>)
}
