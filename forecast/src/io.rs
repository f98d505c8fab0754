//! Offline CSV input and output: long-format series (`series_id,timestamp,value`),
//! two-column NAB files (`timestamp,value`) and forecast tables.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::config::Forecast;

/// One regularly sampled series read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Series identifier.
    pub id: String,
    /// Unix timestamps in seconds, strictly increasing.
    pub timestamps: Vec<i64>,
    /// Values, one per timestamp.
    pub values: Vec<f64>,
    /// Most common spacing between timestamps (`None` for a single point).
    pub step_seconds: Option<i64>,
}

/// Why a CSV could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The file has no header or the header lacks a needed column.
    #[error("bad header: {0}")]
    Header(String),
    /// A data row is malformed; `row` counts data rows from 1 (the header is row 0).
    #[error("row {row}: {reason}")]
    Row {
        /// Data row number.
        row: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The CSV layer failed (I/O or quoting).
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    /// Writing failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Parses an RFC 3339 timestamp or `YYYY-MM-DD HH:MM:SS` (taken as UTC) to Unix seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|dt| dt.and_utc().timestamp())
}

/// Formats Unix seconds as RFC 3339 UTC (`2014-02-14T14:30:00Z`).
pub fn format_timestamp(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ts.to_string())
}

/// Most common positive spacing of sorted timestamps (robust to a few gaps).
pub fn infer_step(timestamps: &[i64]) -> Option<i64> {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for w in timestamps.windows(2) {
        let d = w[1] - w[0];
        if d > 0 {
            *counts.entry(d).or_default() += 1;
        }
    }
    // Ties go to the smaller step: the finer sampling is the real one.
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(d, _)| d)
}

fn column(headers: &csv::StringRecord, name: &str) -> Result<usize, IoError> {
    headers
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
        .ok_or_else(|| IoError::Header(format!("missing column `{name}`")))
}

fn parse_value(row: usize, s: &str) -> Result<f64, IoError> {
    let v: f64 = s.trim().parse().map_err(|_| IoError::Row {
        row,
        reason: format!("value `{s}` is not a number"),
    })?;
    if !v.is_finite() {
        return Err(IoError::Row {
            row,
            reason: format!("value `{s}` is not finite"),
        });
    }
    Ok(v)
}

fn parse_ts(row: usize, s: &str) -> Result<i64, IoError> {
    parse_timestamp(s).ok_or_else(|| IoError::Row {
        row,
        reason: format!("timestamp `{s}` is neither RFC 3339 nor `YYYY-MM-DD HH:MM:SS`"),
    })
}

/// Sorts points by time, merges points sharing a timestamp by their mean
/// (exporters repeat a timestamp, e.g. across a DST change in local time)
/// and infers the step.
fn finish(id: String, mut points: Vec<(i64, f64)>) -> Series {
    points.sort_by_key(|p| p.0);
    let mut timestamps: Vec<i64> = Vec::with_capacity(points.len());
    let mut values: Vec<f64> = Vec::with_capacity(points.len());
    let mut dup = 1.0;
    for (t, v) in points {
        match (timestamps.last(), values.last_mut()) {
            (Some(&lt), Some(lv)) if lt == t => {
                dup += 1.0;
                *lv += (v - *lv) / dup;
            }
            _ => {
                dup = 1.0;
                timestamps.push(t);
                values.push(v);
            }
        }
    }
    let step_seconds = infer_step(&timestamps);
    Series {
        id,
        timestamps,
        values,
        step_seconds,
    }
}

/// Reads a long-format CSV with header `series_id,timestamp,value` (any
/// column order, extra columns ignored). Series come back sorted by id, each
/// sorted by time.
pub fn read_long_csv<R: Read>(reader: R) -> Result<Vec<Series>, IoError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let headers = rdr.headers()?.clone();
    let (ci, ct, cv) = (
        column(&headers, "series_id")?,
        column(&headers, "timestamp")?,
        column(&headers, "value")?,
    );
    let mut by_id: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 1;
        let rec = rec.map_err(|e| IoError::Row {
            row,
            reason: e.to_string(),
        })?;
        let field = |c: usize, name: &str| {
            rec.get(c).ok_or_else(|| IoError::Row {
                row,
                reason: format!("missing field `{name}`"),
            })
        };
        let id = field(ci, "series_id")?.trim();
        if id.is_empty() {
            return Err(IoError::Row {
                row,
                reason: "empty series_id".into(),
            });
        }
        let ts = parse_ts(row, field(ct, "timestamp")?)?;
        let v = parse_value(row, field(cv, "value")?)?;
        by_id.entry(id.to_string()).or_default().push((ts, v));
    }
    Ok(by_id.into_iter().map(|(id, pts)| finish(id, pts)).collect())
}

/// Reads a NAB-style two-column CSV (`timestamp,value` header) as series `id`.
pub fn read_series_csv<R: Read>(reader: R, id: &str) -> Result<Series, IoError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let headers = rdr.headers()?.clone();
    let (ct, cv) = (column(&headers, "timestamp")?, column(&headers, "value")?);
    let mut pts = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 1;
        let rec = rec.map_err(|e| IoError::Row {
            row,
            reason: e.to_string(),
        })?;
        let (Some(t), Some(v)) = (rec.get(ct), rec.get(cv)) else {
            return Err(IoError::Row {
                row,
                reason: "expected timestamp and value fields".into(),
            });
        };
        pts.push((parse_ts(row, t)?, parse_value(row, v)?));
    }
    Ok(finish(id.to_string(), pts))
}

/// Writes `series_id,timestamp,value` rows for the given series.
pub fn write_long_csv<W: Write>(writer: W, series: &[Series]) -> Result<(), IoError> {
    let mut w = csv::Writer::from_writer(writer);
    w.write_record(["series_id", "timestamp", "value"])?;
    for s in series {
        for (t, v) in s.timestamps.iter().zip(&s.values) {
            w.write_record([s.id.as_str(), &format_timestamp(*t), &v.to_string()])?;
        }
    }
    w.flush()?;
    Ok(())
}

/// One forecast to write: the series, the timestamp of its first forecast
/// step and the spacing of the steps.
#[derive(Debug, Clone, Copy)]
pub struct ForecastRecord<'a> {
    /// Series identifier.
    pub series_id: &'a str,
    /// Timestamp of step 1 (Unix seconds).
    pub start: i64,
    /// Seconds between steps.
    pub step_seconds: i64,
    /// The forecast.
    pub forecast: &'a Forecast,
}

/// Writes `series_id,timestamp,point,lower,upper,model` rows.
pub fn write_forecasts_csv<W: Write>(
    writer: W,
    records: &[ForecastRecord<'_>],
) -> Result<(), IoError> {
    let mut w = csv::Writer::from_writer(writer);
    w.write_record(["series_id", "timestamp", "point", "lower", "upper", "model"])?;
    for r in records {
        let f = r.forecast;
        for (k, ((p, lo), up)) in f.point.iter().zip(&f.lower).zip(&f.upper).enumerate() {
            let ts = r.start + k as i64 * r.step_seconds;
            w.write_record([
                r.series_id,
                &format_timestamp(ts),
                &p.to_string(),
                &lo.to_string(),
                &up.to_string(),
                &f.model,
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests;
