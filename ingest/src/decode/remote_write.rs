//! Prometheus remote_write 1.0: a snappy-compressed (block format)
//! protobuf `WriteRequest`, as Prometheus, Grafana Agent/Alloy, VictoriaMetrics
//! agents and the OTel Collector's `prometheusremotewrite` exporter send it.
//!
//! Every sample becomes a row named by its `__name__` label; the label
//! `service` (else `job`) fills `service`, `instance` fills `host`,
//! `env`/`environment` and `version` fill theirs; all labels but
//! `__name__` and `service` stay labels. The kind comes from the request's
//! metadata when it carries any (Prometheus sends metadata in its own
//! requests, so usually it does not), else from the naming conventions
//! (`_total` counter, `_bucket`/`_count`/`_sum` histogram, else gauge).
//! Staleness markers (Prometheus's special NaN) mark a series' end and are
//! not stored. Native histograms (the optional field 4) are not decoded
//! yet: a series that carries only those dead-letters the request with
//! that reason rather than being dropped unseen.

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message;

use super::json::wrong_builder;
use super::metric_adapters::kind_by_name;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, MetricRow, TableBuilder};
use crate::catalog::Table;

/// `prometheus.WriteRequest` (only the fields tocsin reads), for senders
/// and tests; the decoder reads bodies with the zero-copy walk of `wire`.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// The series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric family metadata, when the sender includes it.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Labels, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histograms: recognised only to report them.
    #[prost(bytes = "bytes", repeated, tag = "4")]
    pub histograms: Vec<Bytes>,
}

/// `prometheus.Label`; kept as bytes so decoding borrows from the body
/// instead of allocating a string per label (UTF-8 is checked on use).
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    /// Label name.
    #[prost(bytes = "bytes", tag = "1")]
    pub name: Bytes,
    /// Label value.
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    /// `MetricType`: 1 counter, 2 gauge, 3 histogram, 4 gauge histogram,
    /// 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// The family's name (without `_bucket`, `_total`, ...).
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
}

/// The bit pattern Prometheus writes for a staleness marker.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Decodes remote_write 1.0 bodies.
#[derive(Debug, Clone)]
pub struct RemoteWriteDecoder {
    limits: DecodeLimits,
}

impl RemoteWriteDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Self {
        RemoteWriteDecoder { limits }
    }

    /// Snappy-decompresses a body, refusing decompression bombs before
    /// allocating.
    pub fn decompress(&self, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let invalid = |e: snap::Error| {
            DecodeError::new(
                DecodeReason::InvalidCompression,
                format!("the body is not snappy block-compressed: {e}"),
            )
        };
        let len = snap::raw::decompress_len(body).map_err(invalid)?;
        if len > self.limits.max_decompressed_bytes {
            return Err(DecodeError::new(
                DecodeReason::InvalidCompression,
                format!(
                    "the body expands to {len} bytes; the limit is {} bytes",
                    self.limits.max_decompressed_bytes
                ),
            ));
        }
        snap::raw::Decoder::new()
            .decompress_vec(body)
            .map_err(invalid)
    }
}

fn utf8<'a>(b: &'a [u8], what: &str) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(b).map_err(|_| {
        DecodeError::new(
            DecodeReason::InvalidUtf8,
            format!("a label {what} is not UTF-8"),
        )
    })
}

/// The kind metadata gives a series name: the family is the name itself or
/// the name less a Prometheus suffix.
fn kind_from_metadata<'m>(types: &HashMap<&str, &'m str>, name: &str) -> Option<&'m str> {
    if let Some(k) = types.get(name) {
        return Some(k);
    }
    ["_bucket", "_count", "_sum", "_total", "_created"]
        .iter()
        .find_map(|suffix| types.get(name.strip_suffix(suffix)?).copied())
}

impl Decoder for RemoteWriteDecoder {
    fn table(&self) -> Table {
        Table::Metrics
    }

    fn format(&self) -> &'static str {
        "remote_write"
    }

    fn whole_message(&self) -> bool {
        true
    }

    fn expands(&self) -> bool {
        true
    }

    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError> {
        let TableBuilder::Metrics(b) = out else {
            return Err(wrong_builder("remote_write"));
        };
        let raw = self.decompress(record)?;
        let req = wire::read_request(&raw)?;
        let mut types: HashMap<&str, &str> = HashMap::new();
        for (kind, family) in &req.metadata {
            let kind = match kind {
                1 => "counter",
                2 | 6 | 7 => "gauge",
                3 | 4 => "histogram",
                5 => "summary",
                _ => continue,
            };
            types.insert(utf8(family, "metadata family name")?, kind);
        }
        let mut series = wire::SeriesView {
            labels: Vec::new(),
            samples: Vec::new(),
            has_histograms: false,
        };
        let mut labels: Vec<(&str, &str)> = Vec::new();
        for encoded in &req.series {
            wire::read_series(encoded, &mut series)?;
            self.limits
                .check_fields("a series' labels", series.labels.len())?;
            labels.clear();
            for (name, value) in &series.labels {
                labels.push((utf8(name, "name")?, utf8(value, "value")?));
            }
            let label = |k: &str| labels.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
            let Some(name) = label("__name__").filter(|n| !n.is_empty()) else {
                return Err(DecodeError::new(
                    DecodeReason::MissingField,
                    "a series has no `__name__` label",
                ));
            };
            if series.samples.is_empty() && series.has_histograms {
                return Err(DecodeError::new(
                    DecodeReason::InvalidValue,
                    format!(
                        "series `{name}` carries native histograms, which tocsin does not decode yet"
                    ),
                ));
            }
            let kind = kind_from_metadata(&types, name).unwrap_or_else(|| kind_by_name(name));
            let service = label("service").or_else(|| label("job"));
            let host = label("instance");
            let env = label("env").or_else(|| label("environment"));
            let version = label("version");
            for &(value, ms) in &series.samples {
                if value.to_bits() == STALE_NAN {
                    continue;
                }
                let ts = ms.checked_mul(1_000_000).ok_or_else(|| {
                    DecodeError::new(
                        DecodeReason::InvalidTimestamp,
                        format!("sample timestamp {ms} ms is out of range"),
                    )
                })?;
                for (k, v) in &labels {
                    if *k != "__name__" && *k != "service" {
                        b.labels.push_entry(k, v);
                    }
                }
                let row = MetricRow {
                    ts,
                    name,
                    value,
                    kind,
                    service,
                    host,
                    env,
                    version,
                };
                b.push(&row, lineage);
            }
        }
        Ok(())
    }
}

mod wire;

#[cfg(test)]
mod tests;
