//! Log records as JSON: tocsin's envelope and Vector's JSON encoding of log
//! events (`timestamp`, `message`, `host`, `source_type`, and the
//! `{"log": {...}}` wrapper of its `native_json` codec).
//!
//! Known fields go to columns under any of their common spellings; every
//! other field is kept in `attributes`, rendered as a string.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::json::{
    AnyAsStr, RawTs, Str, StringMapSeed, normalize_level, parse_record, wrong_builder,
};
use super::time::parse_raw_ts;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, LogRow, LogsBuilder, TableBuilder};
use crate::catalog::Table;
use crate::columns::StringMapColumn;

/// Decodes JSON log records.
#[derive(Debug, Clone)]
pub struct JsonLogsDecoder {
    limits: DecodeLimits,
}

impl JsonLogsDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Self {
        JsonLogsDecoder { limits }
    }
}

#[derive(Default)]
pub(super) struct LogFields<'a> {
    pub(super) ts: Option<RawTs<'a>>,
    pub(super) service: Option<Cow<'a, str>>,
    pub(super) host: Option<Cow<'a, str>>,
    pub(super) env: Option<Cow<'a, str>>,
    pub(super) version: Option<Cow<'a, str>>,
    pub(super) level: Option<Cow<'a, str>>,
    pub(super) message: Option<Cow<'a, str>>,
    pub(super) trace_id: Option<Cow<'a, str>>,
    pub(super) too_many_fields: bool,
}

/// Appends the row of a visited log record (shared by every JSON log
/// format): refuses it when it had too many attributes, otherwise fills the
/// columns, with `info` as the level and an empty message when absent.
pub(super) fn push_log_row(
    fields: &LogFields<'_>,
    ts: i64,
    max_fields: usize,
    lineage: &Lineage<'_>,
    b: &mut LogsBuilder,
) -> Result<(), DecodeError> {
    if fields.too_many_fields {
        return Err(DecodeError::new(
            DecodeReason::TooManyFields,
            format!("record has more than {max_fields} attributes"),
        ));
    }
    let row = LogRow {
        ts,
        service: fields.service.as_deref(),
        host: fields.host.as_deref(),
        env: fields.env.as_deref(),
        version: fields.version.as_deref(),
        level: fields.level.as_deref().map_or("info", normalize_level),
        message: fields.message.as_deref().unwrap_or(""),
        trace_id: fields.trace_id.as_deref(),
    };
    b.push(&row, lineage);
    Ok(())
}

enum Key {
    Ts,
    Service,
    Host,
    Env,
    Version,
    Level,
    Message,
    TraceId,
    Attributes,
    Wrapper,
    Other,
}

fn classify(key: &str) -> Key {
    match key {
        "ts" | "timestamp" | "@timestamp" | "time" => Key::Ts,
        "service" | "service.name" | "service_name" => Key::Service,
        "host" | "hostname" | "host.name" => Key::Host,
        "env" | "environment" | "deployment.environment" => Key::Env,
        "version" | "service.version" => Key::Version,
        "level" | "severity" | "log.level" | "lvl" => Key::Level,
        "message" | "msg" => Key::Message,
        "trace_id" | "traceId" | "trace.id" => Key::TraceId,
        "attributes" => Key::Attributes,
        "log" => Key::Wrapper,
        _ => Key::Other,
    }
}

/// Reads one JSON object, filling `fields` and pushing unknown entries.
struct LogObjectSeed<'f, 'a, 'm> {
    fields: &'f mut LogFields<'a>,
    attrs: &'m mut StringMapColumn,
    max_fields: usize,
}

impl<'de, 'f, 'm> DeserializeSeed<'de> for LogObjectSeed<'f, 'de, 'm> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'f, 'm> Visitor<'de> for LogObjectSeed<'f, 'de, 'm> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (one log record)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let LogObjectSeed {
            fields,
            attrs,
            max_fields,
        } = self;
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            match classify(&key) {
                Key::Ts => fields.ts = Some(map.next_value()?),
                Key::Service => fields.service = map.next_value::<AnyAsStr<'de>>()?.0,
                Key::Host => fields.host = map.next_value::<AnyAsStr<'de>>()?.0,
                Key::Env => fields.env = map.next_value::<AnyAsStr<'de>>()?.0,
                Key::Version => fields.version = map.next_value::<AnyAsStr<'de>>()?.0,
                Key::Level => fields.level = map.next_value::<AnyAsStr<'de>>()?.0,
                Key::Message => fields.message = map.next_value::<AnyAsStr<'de>>()?.0,
                Key::TraceId => fields.trace_id = map.next_value::<AnyAsStr<'de>>()?.0,
                Key::Attributes => {
                    let attrs = &mut *attrs;
                    let within = map.next_value_seed(StringMapSeed {
                        sink: |k: Cow<'de, str>, v: Cow<'de, str>| {
                            push_attr(attrs, &k, &v, max_fields)
                        },
                    })?;
                    fields.too_many_fields |= !within;
                }
                Key::Wrapper => {
                    // Vector's native_json wraps the event: {"log": {...}}.
                    // A plain string `log` field is an ordinary attribute.
                    let value: &'de serde_json::value::RawValue = map.next_value()?;
                    if value.get().trim_start().starts_with('{') {
                        let mut de = serde_json::Deserializer::from_str(value.get());
                        LogObjectSeed {
                            fields: &mut *fields,
                            attrs: &mut *attrs,
                            max_fields,
                        }
                        .deserialize(&mut de)
                        .map_err(de::Error::custom)?;
                    } else {
                        let AnyAsStr(v) =
                            serde_json::from_str(value.get()).map_err(de::Error::custom)?;
                        if let Some(v) = v {
                            fields.too_many_fields |= !push_attr(attrs, "log", &v, max_fields);
                        }
                    }
                }
                Key::Other => {
                    let AnyAsStr(v) = map.next_value()?;
                    if let Some(v) = v {
                        fields.too_many_fields |= !push_attr(attrs, &key, &v, max_fields);
                    }
                }
            }
        }
        Ok(())
    }
}

fn push_attr(attrs: &mut StringMapColumn, key: &str, value: &str, max: usize) -> bool {
    if attrs.open_entries() >= max {
        return false;
    }
    attrs.push_entry(key, value);
    true
}

impl Decoder for JsonLogsDecoder {
    fn table(&self) -> Table {
        Table::Logs
    }

    fn format(&self) -> &'static str {
        "json"
    }

    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError> {
        let TableBuilder::Logs(b) = out else {
            return Err(wrong_builder("logs"));
        };
        decode_log(record, lineage, self.limits.max_fields_per_row, b)
    }
}

fn decode_log(
    record: &[u8],
    lineage: &Lineage<'_>,
    max_fields: usize,
    b: &mut LogsBuilder,
) -> Result<(), DecodeError> {
    let mut fields = LogFields::default();
    parse_record(
        record,
        LogObjectSeed {
            fields: &mut fields,
            attrs: &mut b.attributes,
            max_fields,
        },
    )?;
    let ts = match &fields.ts {
        Some(raw) => parse_raw_ts(raw)?,
        None => lineage.received_ns,
    };
    push_log_row(&fields, ts, max_fields, lineage, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_message;
    use arrow::array::{Array, AsArray, RecordBatch};
    use proptest::prelude::*;

    const T: i64 = 1_795_681_800_000_000_000;

    fn lineage() -> Lineage<'static> {
        Lineage {
            topic: "tocsin.logs",
            partition: 2,
            offset: 41,
            received_ns: 7,
        }
    }

    fn decode(input: &str) -> Result<RecordBatch, DecodeError> {
        let mut b = TableBuilder::for_table(Table::Logs).unwrap();
        let d = JsonLogsDecoder::new(DecodeLimits::default());
        decode_message(
            &d,
            input.as_bytes(),
            &lineage(),
            &DecodeLimits::default(),
            &mut b,
        )?;
        Ok(b.finish().unwrap())
    }

    fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a arrow::array::StringArray {
        b.column_by_name(name).unwrap().as_string::<i32>()
    }

    fn attrs(b: &RecordBatch, row: usize) -> Vec<(String, String)> {
        let m = b.column_by_name("attributes").unwrap().as_map();
        let entries = m.value(row);
        let k = entries.column(0).as_string::<i32>();
        let v = entries.column(1).as_string::<i32>();
        (0..k.len())
            .map(|i| (k.value(i).to_string(), v.value(i).to_string()))
            .collect()
    }

    #[test]
    fn tocsin_envelope() {
        let b = decode(
            r#"{"ts":"2026-11-26T08:30:00Z","service":"checkout","host":"h1","env":"prod","version":"1.4.2","level":"ERROR","message":"payment failed","trace_id":"abc","attributes":{"user":"u1","retries":3},"region":"eu"}"#,
        )
        .unwrap();
        assert_eq!(b.num_rows(), 1);
        let ts = b
            .column(0)
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
        assert_eq!(ts.value(0), T);
        assert_eq!(col(&b, "service").value(0), "checkout");
        assert_eq!(col(&b, "level").value(0), "error");
        assert_eq!(col(&b, "message").value(0), "payment failed");
        assert_eq!(col(&b, "trace_id").value(0), "abc");
        assert_eq!(col(&b, "_topic").value(0), "tocsin.logs");
        assert!(col(&b, "pattern_id").is_null(0));
        assert_eq!(
            attrs(&b, 0),
            vec![
                ("user".into(), "u1".into()),
                ("retries".into(), "3".into()),
                ("region".into(), "eu".into())
            ]
        );
    }

    #[test]
    fn vector_json_log_event() {
        // What Vector's kafka sink writes with `encoding.codec = "json"`.
        let b = decode(
            r#"{"host":"web-7","message":"GET /cart 500","source_type":"file","file":"/var/log/app.log","timestamp":"2026-11-26T08:30:00.000000001Z","service":"frontend","level":"warning"}"#,
        )
        .unwrap();
        let ts = b
            .column(0)
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
        assert_eq!(ts.value(0), T + 1);
        assert_eq!(col(&b, "host").value(0), "web-7");
        assert_eq!(col(&b, "level").value(0), "warn");
        assert!(attrs(&b, 0).contains(&("source_type".into(), "file".into())));
    }

    #[test]
    fn vector_native_json_wrapper() {
        let b = decode(r#"{"log":{"message":"hi","timestamp":"2026-11-26T08:30:00Z"}}"#).unwrap();
        assert_eq!(col(&b, "message").value(0), "hi");
        let b = decode(r#"{"log":"a plain field","message":"m"}"#).unwrap();
        assert_eq!(attrs(&b, 0), vec![("log".into(), "a plain field".into())]);
    }

    #[test]
    fn missing_timestamp_uses_receive_time_and_escapes_decode() {
        let b = decode(r#"{"message":"tab\there \u00e9"}"#).unwrap();
        let ts = b
            .column(0)
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
        assert_eq!(ts.value(0), 7);
        assert_eq!(col(&b, "message").value(0), "tab\there é");
        assert_eq!(col(&b, "level").value(0), "info");
    }

    #[test]
    fn multi_line_message_is_all_or_nothing() {
        let err = decode("{\"message\":\"a\"}\n{\"message\":\"b\"}\n{\"message\":\n").unwrap_err();
        assert_eq!(err.reason, DecodeReason::InvalidJson);
        assert_eq!(err.line, Some(3));
        let b = decode("{\"message\":\"a\"}\n\n{\"message\":\"b\"}\n").unwrap();
        assert_eq!(b.num_rows(), 2);
    }

    #[test]
    fn malformed_inputs_have_specific_reasons() {
        let cases = [
            ("", DecodeReason::Empty),
            ("   \n  ", DecodeReason::Empty),
            ("not json", DecodeReason::InvalidJson),
            ("[1,2]", DecodeReason::InvalidType),
            ("{\"message\": \"x\"} trailing", DecodeReason::InvalidJson),
            ("{\"ts\": \"soon\"}", DecodeReason::InvalidTimestamp),
            ("{\"ts\": true}", DecodeReason::InvalidType),
            ("{\"message\": \"\\ud800\"}", DecodeReason::InvalidJson),
        ];
        for (input, reason) in cases {
            let err = decode(input).expect_err(input);
            assert_eq!(err.reason, reason, "{input}: {err}");
        }
        let mut b = TableBuilder::for_table(Table::Logs).unwrap();
        let d = JsonLogsDecoder::new(DecodeLimits::default());
        let bad_utf8 = b"{\"message\": \"\xff\xfe\"}";
        let err =
            decode_message(&d, bad_utf8, &lineage(), &DecodeLimits::default(), &mut b).unwrap_err();
        assert_eq!(err.reason, DecodeReason::InvalidJson);
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn limits_are_enforced() {
        let limits = DecodeLimits {
            max_message_bytes: 64,
            max_fields_per_row: 2,
            ..DecodeLimits::default()
        };
        let d = JsonLogsDecoder::new(limits);
        let mut b = TableBuilder::for_table(Table::Logs).unwrap();
        let big = format!("{{\"message\":\"{}\"}}", "x".repeat(100));
        let err = decode_message(&d, big.as_bytes(), &lineage(), &limits, &mut b).unwrap_err();
        assert_eq!(err.reason, DecodeReason::TooLarge);
        let wide = br#"{"a":1,"b":2,"c":3}"#;
        let err = decode_message(&d, wide, &lineage(), &limits, &mut b).unwrap_err();
        assert_eq!(err.reason, DecodeReason::TooManyFields);
        assert_eq!(b.len(), 0);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_leave_partial_rows(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            crate::decode::all_or_nothing(&JsonLogsDecoder::new(DecodeLimits::default()), &bytes, &lineage())?;
        }

        #[test]
        fn generated_records_round_trip(
            service in "[a-z]{1,12}",
            message in "\\PC{0,80}",
            level in prop::sample::select(vec!["debug", "info", "warn", "error", "fatal"]),
            secs in 0i64..4_000_000_000,
            extra in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,16}", 0..6),
        ) {
            let mut obj = serde_json::Map::new();
            obj.insert("ts".into(), secs.into());
            obj.insert("service".into(), service.clone().into());
            obj.insert("level".into(), level.into());
            obj.insert("message".into(), message.clone().into());
            let extra: std::collections::BTreeMap<String, String> = extra
                .into_iter()
                .filter(|(k, _)| !matches!(classify(k), Key::Ts | Key::Service | Key::Level | Key::Message | Key::Host | Key::Env | Key::Version | Key::TraceId | Key::Attributes | Key::Wrapper))
                .collect();
            for (k, v) in &extra {
                obj.insert(k.clone(), v.clone().into());
            }
            let line = serde_json::Value::Object(obj).to_string();
            let b = decode(&line).unwrap();
            let ts = b.column(0).as_primitive::<arrow::datatypes::TimestampNanosecondType>();
            prop_assert_eq!(ts.value(0), secs * 1_000_000_000);
            prop_assert_eq!(col(&b, "service").value(0), service.as_str());
            prop_assert_eq!(col(&b, "message").value(0), message.as_str());
            prop_assert_eq!(col(&b, "level").value(0), level);
            let mut got = attrs(&b, 0);
            got.sort();
            let want: Vec<(String, String)> = extra.into_iter().collect();
            prop_assert_eq!(got, want);
        }
    }
}
