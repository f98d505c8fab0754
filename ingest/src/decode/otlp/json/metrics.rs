//! OTLP/JSON metrics requests.

use opentelemetry_proto::tonic::metrics::v1 as metrics;
use serde::Deserialize;
use serde::de;

use super::{Double, Int, JsonResource, KeyValue, Text, invalid, key_values, parse};
use crate::builders::{Lineage, MetricsBuilder};
use crate::decode::otlp::attributes::ResourceColumns;
use crate::decode::otlp::metrics::{self as rows, Ctx, check_name, is_delta, sum_kind};
use crate::decode::{DecodeError, DecodeLimits};

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

/// The data of a histogram, exponential histogram or summary metric in
/// the protobuf types (gauges and sums never come here: `append_metrics`
/// writes their rows directly).
fn distribution_data<E: de::Error>(m: Metric<'_>) -> Result<Option<metrics::metric::Data>, E> {
    use metrics::metric::Data;
    Ok(if let Some(h) = m.histogram {
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

/// Appends the rows of an OTLP/JSON `ExportMetricsServiceRequest`. Gauge
/// and sum points, nearly all of what senders write, go straight from the
/// JSON into rows; histograms and summaries through the protobuf types.
pub(in crate::decode::otlp) fn append_metrics(
    record: &[u8],
    limits: &DecodeLimits,
    lineage: &Lineage<'_>,
    b: &mut MetricsBuilder,
) -> Result<(), DecodeError> {
    let req: MetricsRequest<'_> = parse(record, Ok)?;
    for rm in req.resource_metrics {
        let attrs = rm.resource.map(|r| r.attributes).unwrap_or_default();
        let res = ResourceColumns::from_attributes(&attrs, limits)?;
        let ctx = Ctx {
            res: &res,
            limits,
            lineage,
        };
        for sm in rm.scope_metrics {
            for m in sm.metrics {
                let name = m.name.clone();
                check_name(&name)?;
                let (points, kind, delta) = match (&m.gauge, &m.sum) {
                    (Some(g), _) => (&g.data_points, "gauge", false),
                    (None, Some(s)) => (
                        &s.data_points,
                        sum_kind(s.is_monotonic),
                        is_delta(s.aggregation_temporality),
                    ),
                    (None, None) => {
                        let data = distribution_data::<serde_json::Error>(m).map_err(invalid)?;
                        ctx.metric(b, &name, data.as_ref())?;
                        continue;
                    }
                };
                for p in points {
                    let value = match (p.as_double, p.as_int) {
                        (Some(d), _) => Some(d.0),
                        (None, Some(i)) => {
                            Some(i.i64::<serde_json::Error>().map_err(invalid)? as f64)
                        }
                        (None, None) => None,
                    };
                    let point = rows::NumberPoint {
                        attributes: &p.attributes,
                        time_unix_nano: p
                            .time_unix_nano
                            .u64::<serde_json::Error>()
                            .map_err(invalid)?,
                        start_time_unix_nano: p
                            .start_time_unix_nano
                            .u64::<serde_json::Error>()
                            .map_err(invalid)?,
                        flags: p.flags,
                        value,
                    };
                    ctx.number_point(b, &name, &point, kind, delta)?;
                }
            }
        }
    }
    Ok(())
}
