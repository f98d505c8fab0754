//! OpenTelemetry logs and metrics, as the Collector's `kafka` exporter and
//! OTLP/HTTP clients send them: `otlp_proto` (an
//! `Export{Logs,Metrics}ServiceRequest` in protobuf) and `otlp_json` (the
//! same request in OTLP/JSON: camelCase, 64-bit integers as strings, hex
//! trace ids).
//!
//! One message is one request. Resource attributes `service.name`,
//! `service.version`, `deployment.environment[.name]` and `host.name`
//! (else `k8s.pod.name`) fill the `service`, `version`, `env` and `host`
//! columns; every other resource attribute, and the record's or data
//! point's own attributes, are kept in `attributes`/`labels`.
//!
//! Metrics become Prometheus-style rows so that one set of queries serves
//! every source: a gauge or sum is one row per data point (a monotonic sum
//! is a `counter`); a histogram is `<name>_bucket` rows with cumulative
//! counts per `le`, plus `<name>_count` and `<name>_sum`; an exponential
//! histogram the same with its bucket boundaries computed from the scale;
//! a summary `<name>` rows per `quantile`. Delta temporality is kept as
//! the label `temporality = "delta"`, since `rate()` expects cumulative
//! counters.

mod attributes;
mod json;
mod logs;
mod metrics;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

use super::json::wrong_builder;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, TableBuilder};
use crate::catalog::Table;

/// Which OTLP signal a decoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `ExportLogsServiceRequest` into `logs`.
    Logs,
    /// `ExportMetricsServiceRequest` into `metrics`.
    Metrics,
}

/// How the request is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Protobuf (`application/x-protobuf`).
    Proto,
    /// OTLP/JSON (`application/json`).
    Json,
}

/// Decodes OTLP export requests.
#[derive(Debug, Clone)]
pub struct OtlpDecoder {
    limits: DecodeLimits,
    signal: Signal,
    encoding: Encoding,
}

impl OtlpDecoder {
    /// A decoder of `signal` requests in `encoding`.
    pub fn new(limits: DecodeLimits, signal: Signal, encoding: Encoding) -> Self {
        OtlpDecoder {
            limits,
            signal,
            encoding,
        }
    }
}

/// Classifies a prost error: bad UTF-8 in a string field has its own reason.
pub(crate) fn protobuf_error(e: prost::DecodeError) -> DecodeError {
    let text = e.to_string();
    let reason = if text.contains("UTF-8") {
        DecodeReason::InvalidUtf8
    } else if text.contains("recursion limit") {
        DecodeReason::TooDeep
    } else {
        DecodeReason::InvalidProtobuf
    };
    DecodeError::new(reason, text)
}

/// Event time of a record or point: its own, else `fallback`, else the
/// receive time (OTLP's 0 means "unknown").
fn event_time(own: u64, fallback: u64, lineage: &Lineage<'_>) -> Result<i64, DecodeError> {
    let ns = if own != 0 { own } else { fallback };
    if ns == 0 {
        return Ok(lineage.received_ns);
    }
    i64::try_from(ns).map_err(|_| {
        DecodeError::new(
            DecodeReason::InvalidTimestamp,
            format!("time_unix_nano {ns} is past the year 2262"),
        )
    })
}

impl Decoder for OtlpDecoder {
    fn table(&self) -> Table {
        match self.signal {
            Signal::Logs => Table::Logs,
            Signal::Metrics => Table::Metrics,
        }
    }

    fn format(&self) -> &'static str {
        match self.encoding {
            Encoding::Proto => "otlp_proto",
            Encoding::Json => "otlp_json",
        }
    }

    fn whole_message(&self) -> bool {
        true
    }

    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError> {
        match (self.signal, out) {
            (Signal::Logs, TableBuilder::Logs(b)) => {
                let req = match self.encoding {
                    Encoding::Proto => {
                        ExportLogsServiceRequest::decode(record).map_err(protobuf_error)?
                    }
                    Encoding::Json => json::logs_request(record)?,
                };
                logs::append(&req, &self.limits, lineage, b)
            }
            (Signal::Metrics, TableBuilder::Metrics(b)) => match self.encoding {
                Encoding::Proto => {
                    let req =
                        ExportMetricsServiceRequest::decode(record).map_err(protobuf_error)?;
                    metrics::append(&req, &self.limits, lineage, b)
                }
                Encoding::Json => json::append_metrics(record, &self.limits, lineage, b),
            },
            _ => Err(wrong_builder("otlp")),
        }
    }
}

#[cfg(test)]
mod tests;
