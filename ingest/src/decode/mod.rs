//! Wire-format decoders: bytes from a shipper into rows of a table.
//!
//! One [`Decoder`] per (table, format); [`decoder_for`] is the single place
//! where formats are registered. A decoder is all-or-nothing per message: when
//! any record of a message is malformed, every row it appended is taken back
//! and the caller dead-letters the message with the returned [`DecodeError`].

mod alertmanager;
mod changes;
mod document;
mod ecs;
mod es_bulk;
mod influx;
mod json;
mod json_alerts;
mod json_logs;
mod json_metrics;
mod metric_adapters;
mod otlp;
mod remote_write;
mod syslog;
#[cfg(test)]
mod test_support;
mod text;
mod time;
mod vulnerabilities;

use std::fmt;

use crate::builders::{Lineage, TableBuilder};
use crate::catalog::Table;

pub use json_alerts::label_fingerprint;
pub use remote_write::{
    Label as RemoteWriteLabel, Sample as RemoteWriteSample, TimeSeries as RemoteWriteSeries,
    WriteRequest as RemoteWriteRequest,
};
pub use time::parse_timestamp_str;

/// Why a message was rejected; the label under which `/metrics` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeReason {
    /// Not well-formed JSON (includes invalid UTF-8 inside strings).
    InvalidJson,
    /// A field has the wrong JSON type.
    InvalidType,
    /// A field has a value outside what it allows.
    InvalidValue,
    /// A required field is absent.
    MissingField,
    /// A timestamp could not be parsed or is out of range.
    InvalidTimestamp,
    /// The message is larger than the configured limit.
    TooLarge,
    /// A record has more fields than the configured limit.
    TooManyFields,
    /// The message holds no record.
    Empty,
    /// A text format (line protocol, syslog) is not well-formed.
    InvalidSyntax,
    /// A text format holds bytes that are not UTF-8.
    InvalidUtf8,
    /// A string (message, label, attribute) is longer than the limit.
    TooLong,
    /// Values are nested deeper than the limit.
    TooDeep,
    /// An event time is further in the past or future than the limits allow.
    TimestampOutOfRange,
    /// A protobuf message is truncated, mistyped or otherwise malformed.
    InvalidProtobuf,
    /// A compressed body (snappy) does not decompress, or expands past the limit.
    InvalidCompression,
}

impl DecodeReason {
    /// The short name used in metrics labels and dead-letter headers.
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeReason::InvalidJson => "invalid_json",
            DecodeReason::InvalidType => "invalid_type",
            DecodeReason::InvalidValue => "invalid_value",
            DecodeReason::MissingField => "missing_field",
            DecodeReason::InvalidTimestamp => "invalid_timestamp",
            DecodeReason::TooLarge => "too_large",
            DecodeReason::TooManyFields => "too_many_fields",
            DecodeReason::Empty => "empty",
            DecodeReason::InvalidSyntax => "invalid_syntax",
            DecodeReason::InvalidUtf8 => "invalid_utf8",
            DecodeReason::TooLong => "too_long",
            DecodeReason::TooDeep => "too_deep",
            DecodeReason::TimestampOutOfRange => "timestamp_out_of_range",
            DecodeReason::InvalidProtobuf => "invalid_protobuf",
            DecodeReason::InvalidCompression => "invalid_compression",
        }
    }
}

/// A message that could not be decoded, with the reason and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct DecodeError {
    /// The category of the failure.
    pub reason: DecodeReason,
    /// What exactly was wrong.
    pub detail: String,
    /// 1-based line within the message, for multi-line messages.
    pub line: Option<usize>,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{} at line {l}: {}", self.reason.as_str(), self.detail),
            None => write!(f, "{}: {}", self.reason.as_str(), self.detail),
        }
    }
}

impl DecodeError {
    /// A new error without a line number.
    pub fn new(reason: DecodeReason, detail: impl Into<String>) -> Self {
        DecodeError {
            reason,
            detail: detail.into(),
            line: None,
        }
    }

    fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }
}

/// Bounds on what one message may hold; anything beyond is dead-lettered.
///
/// The event-time window is off here and set by the pipeline's
/// configuration, because it is relative to the receive time and unit
/// tests and offline tools decode old data on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Largest body a compressed message (remote_write's snappy) may
    /// expand to, in bytes.
    pub max_decompressed_bytes: usize,
    /// Most labels/attributes kept per row.
    pub max_fields_per_row: usize,
    /// Longest string (message, label or attribute key or value), in bytes.
    pub max_string_bytes: usize,
    /// Deepest nesting of values that are flattened (ECS objects) or
    /// rendered (OTLP attribute arrays and maps). JSON deeper than 128
    /// levels is refused by the parser whatever this says.
    pub max_depth: usize,
    /// Event times older than the receive time by more than this are refused.
    pub max_past: Option<std::time::Duration>,
    /// Event times newer than the receive time by more than this are refused.
    pub max_future: Option<std::time::Duration>,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_message_bytes: 1024 * 1024,
            max_decompressed_bytes: 32 * 1024 * 1024,
            max_fields_per_row: 256,
            max_string_bytes: 64 * 1024,
            max_depth: 32,
            max_past: None,
            max_future: None,
        }
    }
}

impl DecodeLimits {
    /// Refuses `what` (a row's labels, a series, a tag set) when it holds
    /// more than `max_fields_per_row` entries.
    pub(crate) fn check_fields(&self, what: &str, n: usize) -> Result<(), DecodeError> {
        if n > self.max_fields_per_row {
            return Err(DecodeError::new(
                DecodeReason::TooManyFields,
                format!(
                    "{what} has {n} entries; the limit is {}",
                    self.max_fields_per_row
                ),
            ));
        }
        Ok(())
    }

    /// Checks the rows a message appended from row `mark` on against the
    /// string-length and event-time limits.
    fn check_rows(
        &self,
        out: &TableBuilder,
        mark: usize,
        received_ns: i64,
        strings_may_exceed: bool,
    ) -> Result<(), DecodeError> {
        if strings_may_exceed {
            let longest = out.longest_string_since(mark);
            if longest > self.max_string_bytes {
                return Err(DecodeError::new(
                    DecodeReason::TooLong,
                    format!(
                        "a string of {longest} bytes exceeds the limit of {} bytes",
                        self.max_string_bytes
                    ),
                ));
            }
        }
        if self.max_past.is_none() && self.max_future.is_none() {
            return Ok(());
        }
        let window = |d: Option<std::time::Duration>| {
            d.map_or(i64::MAX, |d| {
                i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
            })
        };
        let earliest = received_ns.saturating_sub(window(self.max_past));
        let latest = received_ns.saturating_add(window(self.max_future));
        if let Some(&ts) = out
            .ts_since(mark)
            .iter()
            .find(|&&t| t < earliest || t > latest)
        {
            let (dir, limit) = if ts < earliest {
                ("before", self.max_past)
            } else {
                ("after", self.max_future)
            };
            let by = std::time::Duration::from_nanos(ts.abs_diff(received_ns));
            return Err(DecodeError::new(
                DecodeReason::TimestampOutOfRange,
                format!(
                    "event time {} is {} {dir} the receive time (limit {})",
                    time::format_ns(ts),
                    humantime::format_duration(std::time::Duration::from_secs(by.as_secs())),
                    humantime::format_duration(limit.unwrap_or_default()),
                ),
            ));
        }
        Ok(())
    }
}

/// Decodes one wire format into one table.
pub trait Decoder: Send + Sync {
    /// The table rows go to.
    fn table(&self) -> Table;

    /// The format's name as written in the configuration.
    fn format(&self) -> &'static str;

    /// Whether a message is one document (a pretty-printed webhook body or
    /// scanner report) rather than newline-separated records.
    fn whole_message(&self) -> bool {
        false
    }

    /// Whether the rows can hold strings longer than the message itself
    /// (compressed or binary formats), so that string lengths must be
    /// checked whatever the message's size.
    fn expands(&self) -> bool {
        false
    }

    /// Decodes one record (one line, or the whole message when
    /// [`Decoder::whole_message`]) into `out`.
    ///
    /// On error the builder may hold a partial row; [`decode_message`] rolls
    /// it back.
    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError>;
}

/// Decodes a message of newline-separated records, all or nothing.
///
/// Returns the number of rows appended to `out`.
pub fn decode_message(
    decoder: &dyn Decoder,
    payload: &[u8],
    lineage: &Lineage<'_>,
    limits: &DecodeLimits,
    out: &mut TableBuilder,
) -> Result<usize, DecodeError> {
    if payload.len() > limits.max_message_bytes {
        return Err(DecodeError::new(
            DecodeReason::TooLarge,
            format!(
                "message of {} bytes exceeds the limit of {} bytes",
                payload.len(),
                limits.max_message_bytes
            ),
        ));
    }
    let mark = out.len();
    if decoder.whole_message() {
        if payload.iter().all(u8::is_ascii_whitespace) {
            return Err(DecodeError::new(
                DecodeReason::Empty,
                "message holds no record",
            ));
        }
        let checked = decoder.decode_record(payload, lineage, out).and_then(|()| {
            limits.check_rows(
                out,
                mark,
                lineage.received_ns,
                strings_may_exceed(decoder, payload, limits),
            )
        });
        if let Err(e) = checked {
            out.truncate(mark);
            return Err(e);
        }
        return Ok(out.len() - mark);
    }
    let mut records = 0;
    // memchr finds the line ends a word at a time; a byte-wise split was a
    // tenth of the time of decoding a Filebeat record.
    let mut rest = Some(payload);
    let lines = std::iter::from_fn(|| {
        let r = rest?;
        match memchr::memchr(b'\n', r) {
            Some(n) => {
                rest = r.get(n + 1..);
                r.get(..n)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    });
    for (i, line) in lines.enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        records += 1;
        if let Err(e) = decoder.decode_record(line, lineage, out) {
            out.truncate(mark);
            let multi_line = payload.trim_ascii_end().contains(&b'\n');
            return Err(if multi_line { e.at_line(i + 1) } else { e });
        }
    }
    if records == 0 {
        return Err(DecodeError::new(
            DecodeReason::Empty,
            "message holds no record",
        ));
    }
    if let Err(e) = limits.check_rows(
        out,
        mark,
        lineage.received_ns,
        strings_may_exceed(decoder, payload, limits),
    ) {
        out.truncate(mark);
        return Err(e);
    }
    Ok(out.len() - mark)
}

/// Whether a decoded string could be longer than the limit. A text string
/// is at most as long as the message that held it; rendering numbers
/// (OTLP arrays of doubles) can grow it about 3x, hence the margin. Only
/// then are the rows scanned, so small messages cost nothing.
fn strings_may_exceed(decoder: &dyn Decoder, payload: &[u8], limits: &DecodeLimits) -> bool {
    decoder.expands() || payload.len().saturating_mul(4) > limits.max_string_bytes
}

/// The formats a table can be decoded from, for error messages and docs.
pub fn formats_for(table: Table) -> &'static [&'static str] {
    match table {
        Table::Logs => &[
            "json",
            "vector",
            "ecs",
            "filebeat",
            "fluentbit",
            "syslog",
            "text",
            "es_bulk",
            "otlp_proto",
            "otlp_json",
        ],
        Table::Metrics => &[
            "json",
            "vector",
            "influx",
            "prometheus",
            "telegraf_json",
            "remote_write",
            "otlp_proto",
            "otlp_json",
        ],
        Table::Alerts => &["json", "vector", "alertmanager", "grafana"],
        Table::Changes => &["json", "cloudevents", "github"],
        Table::Vulnerabilities => &["trivy", "grype"],
        Table::Decisions | Table::DeadLetter | Table::LogPatterns | Table::Incidents => &[],
    }
}

/// The decoder of `format` for `table`, configured with `limits`.
///
/// This is the one registry of formats: add new decoders here.
pub fn decoder_for(
    table: Table,
    format: &str,
    limits: DecodeLimits,
) -> Result<Box<dyn Decoder>, String> {
    let decoder: Box<dyn Decoder> = match (table, format) {
        // tocsin's envelope and Vector's JSON encoding share field names
        // enough that one decoder reads both; `vector` is kept as an alias so
        // configs can say what they mean.
        (Table::Logs, "json" | "vector") => Box::new(json_logs::JsonLogsDecoder::new(limits)),
        (Table::Metrics, "json" | "vector") => {
            Box::new(json_metrics::JsonMetricsDecoder::new(limits))
        }
        (Table::Alerts, "json" | "vector") => Box::new(json_alerts::JsonAlertsDecoder::new(limits)),
        // Filebeat writes ECS; Fluent Bit's JSON differs only in `date`/`log`,
        // which the same decoder reads.
        (Table::Logs, "ecs" | "filebeat" | "fluentbit") => {
            Box::new(ecs::EcsLogsDecoder::new(limits))
        }
        (Table::Logs, "es_bulk") => Box::new(es_bulk::EsBulkDecoder::new(limits)),
        (Table::Logs, "syslog") => Box::new(syslog::SyslogDecoder::new(limits)),
        (Table::Logs, "text") => Box::new(text::TextLogsDecoder::new()),
        (Table::Metrics, "influx") => Box::new(influx::InfluxDecoder::new(limits)),
        (Table::Metrics, "prometheus") => Box::new(metric_adapters::MetricAdapterDecoder::new(
            limits,
            metric_adapters::Bridge::PrometheusAdapter,
        )),
        (Table::Metrics, "telegraf_json") => Box::new(metric_adapters::MetricAdapterDecoder::new(
            limits,
            metric_adapters::Bridge::Telegraf,
        )),
        (Table::Metrics, "remote_write") => Box::new(remote_write::RemoteWriteDecoder::new(limits)),
        (Table::Logs | Table::Metrics, "otlp_proto" | "otlp_json") => {
            let signal = if table == Table::Logs {
                otlp::Signal::Logs
            } else {
                otlp::Signal::Metrics
            };
            let encoding = if format == "otlp_proto" {
                otlp::Encoding::Proto
            } else {
                otlp::Encoding::Json
            };
            Box::new(otlp::OtlpDecoder::new(limits, signal, encoding))
        }
        // Grafana's webhook is Alertmanager's with extra fields per alert.
        (Table::Alerts, "alertmanager") => Box::new(alertmanager::AlertmanagerWebhookDecoder::new(
            limits,
            alertmanager::Flavor::Alertmanager,
        )),
        (Table::Alerts, "grafana") => Box::new(alertmanager::AlertmanagerWebhookDecoder::new(
            limits,
            alertmanager::Flavor::Grafana,
        )),
        (Table::Changes, "json") => Box::new(changes::ChangesDecoder::new(changes::Flavor::Json)),
        (Table::Changes, "cloudevents") => {
            Box::new(changes::ChangesDecoder::new(changes::Flavor::CloudEvents))
        }
        (Table::Changes, "github") => {
            Box::new(changes::ChangesDecoder::new(changes::Flavor::GitHub))
        }
        (Table::Vulnerabilities, "trivy") => Box::new(vulnerabilities::ScanReportDecoder::new(
            limits,
            vulnerabilities::Scanner::Trivy,
        )),
        (Table::Vulnerabilities, "grype") => Box::new(vulnerabilities::ScanReportDecoder::new(
            limits,
            vulnerabilities::Scanner::Grype,
        )),
        _ => {
            let known = formats_for(table);
            return Err(if known.is_empty() {
                format!("table `{table}` is not ingested from a wire format")
            } else {
                format!(
                    "unknown format `{format}` for table `{table}` (expected one of: {})",
                    known.join(", ")
                )
            });
        }
    };
    Ok(decoder)
}

/// Property-test check shared by every decoder: decoding `input` either
/// appends exactly the rows it reports or, on error, none at all, and the
/// builder still yields a valid batch.
#[cfg(test)]
pub(crate) fn all_or_nothing(
    decoder: &dyn Decoder,
    input: &[u8],
    lineage: &Lineage<'_>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    use proptest::{prop_assert, prop_assert_eq};
    let Some(mut b) = TableBuilder::for_table(decoder.table()) else {
        return Err(proptest::test_runner::TestCaseError::fail(
            "not an ingest table",
        ));
    };
    match decode_message(decoder, input, lineage, &DecodeLimits::default(), &mut b) {
        Ok(n) => prop_assert_eq!(n, b.len()),
        Err(_) => prop_assert_eq!(b.len(), 0),
    }
    prop_assert!(b.finish().is_ok());
    Ok(())
}
