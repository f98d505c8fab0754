//! `ExportLogsServiceRequest` into `logs` rows.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;

use super::attributes::{ResourceColumns, hex_id, render};
use super::event_time;
use crate::builders::{Lineage, LogRow, LogsBuilder};
use crate::decode::json::normalize_level;
use crate::decode::{DecodeError, DecodeLimits};

/// Appends one row per log record of `req`.
pub(super) fn append(
    req: &ExportLogsServiceRequest,
    limits: &DecodeLimits,
    lineage: &Lineage<'_>,
    b: &mut LogsBuilder,
) -> Result<(), DecodeError> {
    for rl in &req.resource_logs {
        let attrs = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let res = ResourceColumns::from_attributes(attrs, limits)?;
        for sl in &rl.scope_logs {
            for rec in &sl.log_records {
                append_record(rec, &res, limits, lineage, b)?;
            }
        }
    }
    Ok(())
}

fn append_record(
    rec: &LogRecord,
    res: &ResourceColumns<'_>,
    limits: &DecodeLimits,
    lineage: &Lineage<'_>,
    b: &mut LogsBuilder,
) -> Result<(), DecodeError> {
    let extra = usize::from(!rec.span_id.is_empty()) + usize::from(!rec.event_name.is_empty());
    limits.check_fields(
        "a log record's attributes",
        res.rest.len() + rec.attributes.len() + extra,
    )?;
    for (k, v) in &res.rest {
        b.attributes.push_entry(k, v);
    }
    for kv in &rec.attributes {
        b.attributes
            .push_entry(&kv.key, &render(kv.value.as_ref(), limits)?);
    }
    if let Some(span) = hex_id(&rec.span_id) {
        b.attributes.push_entry("span_id", &span);
    }
    if !rec.event_name.is_empty() {
        b.attributes.push_entry("event.name", &rec.event_name);
    }
    let message = render(rec.body.as_ref(), limits)?;
    let trace_id = hex_id(&rec.trace_id);
    let row = LogRow {
        ts: event_time(rec.time_unix_nano, rec.observed_time_unix_nano, lineage)?,
        service: res.service.as_deref(),
        host: res.host.as_deref(),
        env: res.env.as_deref(),
        version: res.version.as_deref(),
        level: level(rec.severity_number, &rec.severity_text),
        message: &message,
        trace_id: trace_id.as_deref(),
    };
    b.push(&row, lineage);
    Ok(())
}

/// OTLP severity numbers come in blocks of four per level (TRACE 1-4 ...
/// FATAL 21-24); without one, the text is read like any other shipper's.
fn level(number: i32, text: &str) -> &'static str {
    match number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ if !text.is_empty() => normalize_level(text),
        _ => "info",
    }
}
