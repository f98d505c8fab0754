//! Telemetry SQL functions the lake needs and SQL lacks:
//!
//! - `time_bucket(interval, ts)`: epoch-aligned buckets (`date_bin` under
//!   TimescaleDB's name);
//! - `rate(value, ts)`: per-second increase of a counter over the group,
//!   counter resets included (a drop to a lower value restarts the count, as
//!   in Prometheus, without its extrapolation to the window edges);
//! - `histogram_quantile(q, le, count)`: the q-quantile of a Prometheus-style
//!   cumulative histogram given as one row per bucket (`le` its upper bound,
//!   `+Inf` for the last), by linear interpolation inside the bucket, as
//!   Prometheus computes it; rows with the same `le` (several series) add up.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, ListArray};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

mod date_trunc;
mod map_access;

pub use date_trunc::UtcDateTrunc;
pub use map_access::{MapAccessPlanner, MapGetField};

/// Registers every telemetry function on `ctx`, and `date_trunc` with the
/// arithmetic path for UTC timestamps in place of DataFusion's.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
        UtcDateTrunc::new(),
    ));
    let date_bin = datafusion::functions::datetime::date_bin();
    ctx.register_udf(date_bin.as_ref().clone().with_aliases(["time_bucket"]));
    ctx.register_udaf(AggregateUDF::from(CounterRate::new()));
    ctx.register_udaf(AggregateUDF::from(HistogramQuantile::new()));
}

fn floats(a: &ArrayRef) -> Result<Float64Array> {
    Ok(arrow::compute::cast(a, &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone())
}

fn list_state(values: Vec<ScalarValue>, ty: &DataType) -> ScalarValue {
    ScalarValue::List(ScalarValue::new_list_nullable(&values, ty))
}

fn list_field(name: &str, ty: DataType) -> FieldRef {
    Arc::new(Field::new(
        name,
        DataType::List(Arc::new(Field::new_list_field(ty, true))),
        true,
    ))
}

/// `rate(value, ts)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CounterRate {
    signature: Signature,
}

impl CounterRate {
    /// The function.
    pub fn new() -> Self {
        CounterRate {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl Default for CounterRate {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for CounterRate {
    fn name(&self) -> &str {
        "rate"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<RateAccumulator>::default())
    }
    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            list_field("ts", DataType::Int64),
            list_field("value", DataType::Float64),
        ])
    }
}

/// The samples of one group, as (ns, value).
#[derive(Debug, Default)]
struct RateAccumulator {
    samples: Vec<(i64, f64)>,
}

impl RateAccumulator {
    fn push(&mut self, ts: &Int64Array, values: &Float64Array) {
        for i in 0..ts.len().min(values.len()) {
            if ts.is_valid(i) && values.is_valid(i) && values.value(i).is_finite() {
                self.samples.push((ts.value(i), values.value(i)));
            }
        }
    }
}

impl Accumulator for RateAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [v, t] = values else {
            return exec_err!("rate takes (value, ts)");
        };
        let ts = arrow::compute::cast(t, &DataType::Int64)?;
        self.push(ts.as_primitive::<Int64Type>(), &floats(v)?);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [t, v] = states else {
            return exec_err!("rate state is (ts, value)");
        };
        let (t, v): (&ListArray, &ListArray) = (t.as_list(), v.as_list());
        for i in 0..t.len() {
            if t.is_valid(i) && v.is_valid(i) {
                let ts = t.value(i);
                self.push(ts.as_primitive::<Int64Type>(), &floats(&v.value(i))?);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let ts = self
            .samples
            .iter()
            .map(|(t, _)| ScalarValue::Int64(Some(*t)))
            .collect();
        let vs = self
            .samples
            .iter()
            .map(|(_, v)| ScalarValue::Float64(Some(*v)))
            .collect();
        Ok(vec![
            list_state(ts, &DataType::Int64),
            list_state(vs, &DataType::Float64),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.samples
            .sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let (Some(first), Some(last)) = (self.samples.first(), self.samples.last()) else {
            return Ok(ScalarValue::Float64(None));
        };
        let span_s = (last.0 - first.0) as f64 / 1e9;
        if span_s <= 0.0 {
            return Ok(ScalarValue::Float64(None));
        }
        let increase: f64 = self
            .samples
            .windows(2)
            .map(|w| {
                if w[1].1 >= w[0].1 {
                    w[1].1 - w[0].1
                } else {
                    w[1].1
                }
            })
            .sum();
        Ok(ScalarValue::Float64(Some(increase / span_s)))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.samples.capacity() * std::mem::size_of::<(i64, f64)>()
    }
}

/// `histogram_quantile(q, le, count)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HistogramQuantile {
    signature: Signature,
}

impl HistogramQuantile {
    /// The function.
    pub fn new() -> Self {
        HistogramQuantile {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

impl Default for HistogramQuantile {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for HistogramQuantile {
    fn name(&self) -> &str {
        "histogram_quantile"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<QuantileAccumulator>::default())
    }
    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            list_field("q", DataType::Float64),
            list_field("le", DataType::Float64),
            list_field("count", DataType::Float64),
        ])
    }
}

/// The bucket rows of one group.
#[derive(Debug, Default)]
struct QuantileAccumulator {
    q: Option<f64>,
    buckets: Vec<(f64, f64)>,
}

/// A bucket bound: a number, or `+Inf` (any case) for the last bucket.
fn bound(a: &ArrayRef) -> Result<Float64Array> {
    if let Some(s) = a.as_string_opt::<i32>() {
        return Ok(s.iter().map(|v| v.and_then(parse_bound)).collect());
    }
    if let Some(s) = a.as_string_view_opt() {
        return Ok(s.iter().map(|v| v.and_then(parse_bound)).collect());
    }
    floats(a)
}

fn parse_bound(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("+inf") || s.eq_ignore_ascii_case("inf") {
        return Some(f64::INFINITY);
    }
    s.parse().ok()
}

impl QuantileAccumulator {
    fn push(&mut self, q: Option<&Float64Array>, le: &Float64Array, count: &Float64Array) {
        for i in 0..le.len().min(count.len()) {
            if let Some(q) = q.filter(|q| q.is_valid(i)) {
                self.q.get_or_insert(q.value(i));
            }
            if le.is_valid(i) && count.is_valid(i) && !le.value(i).is_nan() {
                self.buckets.push((le.value(i), count.value(i)));
            }
        }
    }
}

impl Accumulator for QuantileAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [q, le, count] = values else {
            return exec_err!("histogram_quantile takes (q, le, count)");
        };
        self.push(Some(&floats(q)?), &bound(le)?, &floats(count)?);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [q, le, count] = states else {
            return exec_err!("histogram_quantile state is (q, le, count)");
        };
        let (q, le, count): (&ListArray, &ListArray, &ListArray) =
            (q.as_list(), le.as_list(), count.as_list());
        for i in 0..le.len() {
            if q.is_valid(i) {
                let qs = floats(&q.value(i))?;
                if !qs.is_empty() && qs.is_valid(0) {
                    self.q.get_or_insert(qs.value(0));
                }
            }
            if le.is_valid(i) && count.is_valid(i) {
                self.push(None, &floats(&le.value(i))?, &floats(&count.value(i))?);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let q = self
            .q
            .map(|q| ScalarValue::Float64(Some(q)))
            .into_iter()
            .collect();
        let le = self
            .buckets
            .iter()
            .map(|(l, _)| ScalarValue::Float64(Some(*l)))
            .collect();
        let c = self
            .buckets
            .iter()
            .map(|(_, c)| ScalarValue::Float64(Some(*c)))
            .collect();
        Ok(vec![
            list_state(q, &DataType::Float64),
            list_state(le, &DataType::Float64),
            list_state(c, &DataType::Float64),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let Some(q) = self.q else {
            return Ok(ScalarValue::Float64(None));
        };
        // Same bound from several series: their counts add up.
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for &(le, c) in &self.buckets {
            match merged.last_mut() {
                Some(last) if last.0 == le => last.1 += c,
                _ => merged.push((le, c)),
            }
        }
        Ok(ScalarValue::Float64(prometheus_quantile(q, &merged)))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.buckets.capacity() * std::mem::size_of::<(f64, f64)>()
    }
}

/// Prometheus's `histogram_quantile` over sorted cumulative buckets.
fn prometheus_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    let &(last_le, total) = buckets.last()?;
    if buckets.len() < 2 || last_le != f64::INFINITY || total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let i = buckets.iter().position(|&(_, c)| c >= rank)?;
    if i == buckets.len() - 1 {
        return Some(buckets[buckets.len() - 2].0);
    }
    let (upper, count) = buckets[i];
    let (lower, below) = if i == 0 {
        (if upper > 0.0 { 0.0 } else { upper }, 0.0)
    } else {
        buckets[i - 1]
    };
    if count - below <= 0.0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / (count - below))
}

#[cfg(test)]
mod tests;
