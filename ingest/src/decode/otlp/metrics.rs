//! `ExportMetricsServiceRequest` into Prometheus-style `metrics` rows.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint,
    SummaryDataPoint, metric::Data, number_data_point,
};

use super::attributes::{Attribute, ResourceColumns};
use super::event_time;
use crate::builders::{Lineage, MetricRow, MetricsBuilder};
use crate::decode::{DecodeError, DecodeLimits, DecodeReason};

/// OTLP's `DataPointFlags.NO_RECORDED_VALUE`: the point marks a gap.
const NO_RECORDED_VALUE: u32 = 1;

/// Writes the rows of one data point: shared labels once rendered.
struct PointWriter<'r, 'a, 'l> {
    res: &'r ResourceColumns<'a>,
    labels: Vec<(&'r str, std::borrow::Cow<'r, str>)>,
    ts: i64,
    lineage: &'r Lineage<'l>,
}

impl PointWriter<'_, '_, '_> {
    fn row(
        &self,
        b: &mut MetricsBuilder,
        name: &str,
        value: f64,
        kind: &str,
        extra: Option<(&str, &str)>,
    ) {
        for (k, v) in &self.res.rest {
            b.labels.push_entry(k, v);
        }
        for (k, v) in &self.labels {
            b.labels.push_entry(k, v);
        }
        if let Some((k, v)) = extra {
            b.labels.push_entry(k, v);
        }
        let row = MetricRow {
            ts: self.ts,
            name,
            value,
            kind,
            service: self.res.service.as_deref(),
            host: self.res.host.as_deref(),
            env: self.res.env.as_deref(),
            version: self.res.version.as_deref(),
        };
        b.push(&row, self.lineage);
    }

    /// The `<name>_count` and `<name>_sum` rows of a histogram or summary.
    fn totals(&self, b: &mut MetricsBuilder, name: &str, count: u64, sum: Option<f64>, kind: &str) {
        self.row(b, &format!("{name}_count"), count as f64, kind, None);
        if let Some(sum) = sum {
            self.row(b, &format!("{name}_sum"), sum, kind, None);
        }
    }
}

/// Appends the rows of every data point of `req`.
pub(super) fn append(
    req: &ExportMetricsServiceRequest,
    limits: &DecodeLimits,
    lineage: &Lineage<'_>,
    b: &mut MetricsBuilder,
) -> Result<(), DecodeError> {
    for rm in &req.resource_metrics {
        let attrs = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let res = ResourceColumns::from_attributes(attrs, limits)?;
        let ctx = Ctx {
            res: &res,
            limits,
            lineage,
        };
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                check_name(&m.name)?;
                ctx.metric(b, &m.name, m.data.as_ref())?;
            }
        }
    }
    Ok(())
}

/// Refuses a metric without a name.
pub(super) fn check_name(name: &str) -> Result<(), DecodeError> {
    if name.is_empty() {
        return Err(DecodeError::new(
            DecodeReason::MissingField,
            "a metric has no name",
        ));
    }
    Ok(())
}

/// `sum` rows are counters when monotonic.
pub(super) fn sum_kind(is_monotonic: bool) -> &'static str {
    if is_monotonic { "counter" } else { "gauge" }
}

/// The `le` label of each explicit bound, formatted once per metric: the
/// points of one histogram nearly always share their bounds, and
/// formatting floats was a tenth of the decoding time.
#[derive(Default)]
struct BoundLabels {
    bounds: Vec<f64>,
    labels: Vec<String>,
}

impl BoundLabels {
    fn for_bounds(&mut self, bounds: &[f64]) -> &[String] {
        if self.bounds != bounds {
            self.bounds = bounds.to_vec();
            self.labels = bounds.iter().map(f64::to_string).collect();
        }
        &self.labels
    }
}

pub(super) fn is_delta(temporality: i32) -> bool {
    temporality == AggregationTemporality::Delta as i32
}

/// A gauge or sum data point, borrowed from either wire format.
pub(super) struct NumberPoint<'r, A> {
    pub attributes: &'r [A],
    pub time_unix_nano: u64,
    pub start_time_unix_nano: u64,
    pub flags: u32,
    /// `None` when the point carries no value.
    pub value: Option<f64>,
}

/// What every row of a resource shares.
pub(super) struct Ctx<'r, 'a, 'l> {
    pub res: &'r ResourceColumns<'a>,
    pub limits: &'r DecodeLimits,
    pub lineage: &'r Lineage<'l>,
}

impl<'r> Ctx<'r, '_, '_> {
    /// Appends the rows of one metric's data.
    pub fn metric(
        &self,
        b: &mut MetricsBuilder,
        name: &str,
        data: Option<&'r Data>,
    ) -> Result<(), DecodeError> {
        // Refused rather than skipped: a metric whose data is missing (or,
        // in JSON, of a kind this version does not know) would otherwise
        // be lost without a trace.
        let Some(data) = data else {
            return Err(DecodeError::new(
                DecodeReason::MissingField,
                format!(
                    "metric `{name}` has no gauge, sum, histogram, exponentialHistogram or summary"
                ),
            ));
        };
        match data {
            Data::Gauge(g) => {
                for p in &g.data_points {
                    self.number(b, name, p, "gauge", false)?;
                }
            }
            Data::Sum(s) => {
                let kind = sum_kind(s.is_monotonic);
                let delta = is_delta(s.aggregation_temporality);
                for p in &s.data_points {
                    self.number(b, name, p, kind, delta)?;
                }
            }
            Data::Histogram(h) => {
                let delta = is_delta(h.aggregation_temporality);
                let mut les = BoundLabels::default();
                for p in &h.data_points {
                    self.histogram(b, name, p, delta, &mut les)?;
                }
            }
            Data::ExponentialHistogram(h) => {
                let delta = is_delta(h.aggregation_temporality);
                for p in &h.data_points {
                    self.exponential(b, name, p, delta)?;
                }
            }
            Data::Summary(s) => {
                for p in &s.data_points {
                    self.summary(b, name, p)?;
                }
            }
        }
        Ok(())
    }

    fn writer<A: Attribute>(
        &self,
        attrs: &'r [A],
        time: u64,
        start: u64,
        delta: bool,
        extra_labels: usize,
    ) -> Result<PointWriter<'r, '_, '_>, DecodeError> {
        let total = self.res.rest.len() + attrs.len() + usize::from(delta) + extra_labels;
        self.limits.check_fields("a data point's labels", total)?;
        let mut labels = Vec::with_capacity(attrs.len() + usize::from(delta));
        for kv in attrs {
            labels.push((kv.key(), kv.text(self.limits)?));
        }
        if delta {
            labels.push(("temporality", "delta".into()));
        }
        Ok(PointWriter {
            res: self.res,
            labels,
            ts: event_time(time, start, self.lineage)?,
            lineage: self.lineage,
        })
    }

    fn number(
        &self,
        b: &mut MetricsBuilder,
        name: &str,
        p: &'r NumberDataPoint,
        kind: &str,
        delta: bool,
    ) -> Result<(), DecodeError> {
        let value = match p.value {
            Some(number_data_point::Value::AsDouble(d)) => Some(d),
            Some(number_data_point::Value::AsInt(i)) => Some(i as f64),
            None => None,
        };
        let p = NumberPoint {
            attributes: &p.attributes,
            time_unix_nano: p.time_unix_nano,
            start_time_unix_nano: p.start_time_unix_nano,
            flags: p.flags,
            value,
        };
        self.number_point(b, name, &p, kind, delta)
    }

    /// Appends the row of a gauge or sum data point, whichever wire format
    /// it came in.
    pub fn number_point<A: Attribute>(
        &self,
        b: &mut MetricsBuilder,
        name: &str,
        p: &NumberPoint<'r, A>,
        kind: &str,
        delta: bool,
    ) -> Result<(), DecodeError> {
        if p.flags & NO_RECORDED_VALUE != 0 {
            return Ok(());
        }
        let Some(value) = p.value else {
            return Ok(());
        };
        let w = self.writer(
            p.attributes,
            p.time_unix_nano,
            p.start_time_unix_nano,
            delta,
            0,
        )?;
        w.row(b, name, value, kind, None);
        Ok(())
    }

    fn histogram(
        &self,
        b: &mut MetricsBuilder,
        name: &str,
        p: &'r HistogramDataPoint,
        delta: bool,
        les: &mut BoundLabels,
    ) -> Result<(), DecodeError> {
        if p.flags & NO_RECORDED_VALUE != 0 {
            return Ok(());
        }
        if !p.bucket_counts.is_empty() && p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
            return Err(DecodeError::new(
                DecodeReason::InvalidValue,
                format!(
                    "histogram `{name}` has {} bucket counts for {} bounds; expected bounds + 1",
                    p.bucket_counts.len(),
                    p.explicit_bounds.len()
                ),
            ));
        }
        let w = self.writer(
            &p.attributes,
            p.time_unix_nano,
            p.start_time_unix_nano,
            delta,
            1,
        )?;
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (count, le) in p
            .bucket_counts
            .iter()
            .zip(les.for_bounds(&p.explicit_bounds))
        {
            cumulative = cumulative.saturating_add(*count);
            w.row(b, &bucket, cumulative as f64, "histogram", Some(("le", le)));
        }
        if !p.bucket_counts.is_empty() {
            w.row(
                b,
                &bucket,
                p.count as f64,
                "histogram",
                Some(("le", "+Inf")),
            );
        }
        w.totals(b, name, p.count, p.sum, "histogram");
        Ok(())
    }

    /// Buckets of an exponential histogram as cumulative `le` buckets:
    /// bucket `i` of scale `s` covers `(base^i, base^(i+1)]` with
    /// `base = 2^(2^-s)`, negatives mirrored, the zero bucket between.
    fn exponential(
        &self,
        b: &mut MetricsBuilder,
        name: &str,
        p: &'r ExponentialHistogramDataPoint,
        delta: bool,
    ) -> Result<(), DecodeError> {
        if p.flags & NO_RECORDED_VALUE != 0 {
            return Ok(());
        }
        if !(-10..=20).contains(&p.scale) {
            return Err(DecodeError::new(
                DecodeReason::InvalidValue,
                format!(
                    "exponential histogram `{name}` has scale {}; OTLP allows -10 to 20",
                    p.scale
                ),
            ));
        }
        let w = self.writer(
            &p.attributes,
            p.time_unix_nano,
            p.start_time_unix_nano,
            delta,
            1,
        )?;
        let step = (-f64::from(p.scale)).exp2();
        let bound = |index: i64| (index as f64 * step).exp2();
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        let mut emit = |b: &mut MetricsBuilder, le: f64, count: u64| {
            cumulative = cumulative.saturating_add(count);
            let le = le.to_string();
            w.row(
                b,
                &bucket,
                cumulative as f64,
                "histogram",
                Some(("le", &le)),
            );
        };
        if let Some(neg) = &p.negative {
            for (i, count) in neg.bucket_counts.iter().enumerate().rev() {
                emit(b, -bound(i64::from(neg.offset) + i as i64), *count);
            }
        }
        emit(b, p.zero_threshold, p.zero_count);
        if let Some(pos) = &p.positive {
            for (i, count) in pos.bucket_counts.iter().enumerate() {
                emit(b, bound(i64::from(pos.offset) + i as i64 + 1), *count);
            }
        }
        w.row(
            b,
            &bucket,
            p.count as f64,
            "histogram",
            Some(("le", "+Inf")),
        );
        w.totals(b, name, p.count, p.sum, "histogram");
        Ok(())
    }

    fn summary(
        &self,
        b: &mut MetricsBuilder,
        name: &str,
        p: &'r SummaryDataPoint,
    ) -> Result<(), DecodeError> {
        if p.flags & NO_RECORDED_VALUE != 0 {
            return Ok(());
        }
        let w = self.writer(
            &p.attributes,
            p.time_unix_nano,
            p.start_time_unix_nano,
            false,
            1,
        )?;
        for q in &p.quantile_values {
            let ql = q.quantile.to_string();
            w.row(b, name, q.value, "summary", Some(("quantile", &ql)));
        }
        w.totals(b, name, p.count, Some(p.sum), "summary");
        Ok(())
    }
}
