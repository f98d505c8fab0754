//! OTLP/JSON logs requests.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1 as logs;
use serde::Deserialize;
use serde::de;

use super::{
    AnyValue, Int, JsonResource, KeyValue, Text, any_value, hex_bytes, key_values, parse, resource,
};
use crate::decode::DecodeError;

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

/// Parses an OTLP/JSON `ExportLogsServiceRequest`.
pub(in crate::decode::otlp) fn logs_request(
    record: &[u8],
) -> Result<ExportLogsServiceRequest, DecodeError> {
    parse(record, convert_logs::<serde_json::Error>)
}
