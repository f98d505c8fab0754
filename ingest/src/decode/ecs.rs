//! Log records in Elastic Common Schema, as Filebeat's `codec.json` writes
//! them, and Fluent Bit's JSON (`Format json`).
//!
//! Nested objects are flattened into dotted keys, so `{"log":{"level":"x"}}`
//! and `{"log.level":"x"}` are the same field. Known keys fill columns:
//!
//! | column | keys |
//! |---|---|
//! | `ts` | `@timestamp`, `timestamp`, `time`, `ts`, Fluent Bit's `date` (epoch seconds as a float, or a string) |
//! | `message` | `message`, `msg`; else Fluent Bit's `log` when it is a string |
//! | `level` | `log.level`, `level`, `severity` |
//! | `service` | `service.name`, `service` (a string) |
//! | `version` | `service.version` |
//! | `env` | `service.environment`, `deployment.environment`, `env` |
//! | `host` | `host.name`, `host.hostname`, `hostname`, `host` (a string) |
//! | `trace_id` | `trace.id`, `trace_id` |
//!
//! Every other leaf (including `event.dataset`, `@metadata.*`, `agent.*`,
//! `log.file.path`, and a second spelling of a field already filled) goes to
//! `attributes` under its dotted key; arrays are kept as compact JSON, nulls
//! are dropped.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::json::{RawTs, Str, parse_record, wrong_builder};
use super::json_logs::{LogFields, push_log_row};
use super::time::parse_raw_ts;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, LogsBuilder, TableBuilder};
use crate::catalog::Table;
use crate::columns::StringMapColumn;

/// Decodes ECS (Filebeat) and Fluent Bit JSON log records.
#[derive(Debug, Clone)]
pub struct EcsLogsDecoder {
    limits: DecodeLimits,
}

impl EcsLogsDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Self {
        EcsLogsDecoder { limits }
    }
}

impl Decoder for EcsLogsDecoder {
    fn table(&self) -> Table {
        Table::Logs
    }

    fn format(&self) -> &'static str {
        "ecs"
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
        decode_ecs(record, lineage, self.limits.max_fields_per_row, b)
    }
}

/// A leaf of the JSON tree.
enum Leaf<'a> {
    Str(Cow<'a, str>),
    Int(i128),
    Float(f64),
    Bool(bool),
    /// An array, as compact JSON.
    Json(String),
}

impl<'a> Leaf<'a> {
    fn into_text(self) -> Cow<'a, str> {
        match self {
            Leaf::Str(s) => s,
            Leaf::Int(n) => Cow::Owned(n.to_string()),
            Leaf::Float(f) => Cow::Owned(f.to_string()),
            Leaf::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
            Leaf::Json(s) => Cow::Owned(s),
        }
    }
}

#[derive(Default)]
struct Fields<'a> {
    /// The columns, as every JSON log format fills them.
    row: LogFields<'a>,
    ts_is_bool: bool,
    /// Fluent Bit's `log`: the message when there is no `message`.
    log: Option<Cow<'a, str>>,
}

enum Slot {
    Ts,
    Message,
    Log,
    Level,
    Service,
    Version,
    Env,
    Host,
    TraceId,
    Other,
}

fn classify(key: &str) -> Slot {
    match key {
        "@timestamp" | "timestamp" | "time" | "ts" | "date" => Slot::Ts,
        "message" | "msg" => Slot::Message,
        "log" => Slot::Log,
        "log.level" | "level" | "severity" => Slot::Level,
        "service.name" | "service" => Slot::Service,
        "service.version" => Slot::Version,
        "service.environment" | "deployment.environment" | "env" => Slot::Env,
        "host.name" | "host.hostname" | "hostname" | "host" => Slot::Host,
        "trace.id" | "trace_id" => Slot::TraceId,
        _ => Slot::Other,
    }
}

struct Sink<'f, 'a, 'm> {
    fields: &'f mut Fields<'a>,
    attrs: &'m mut StringMapColumn,
    max_fields: usize,
}

impl<'a> Sink<'_, 'a, '_> {
    fn attr(&mut self, key: &str, value: &str) {
        if self.attrs.open_entries() >= self.max_fields {
            self.fields.row.too_many_fields = true;
            return;
        }
        self.attrs.push_entry(key, value);
    }

    fn leaf(&mut self, key: &str, leaf: Leaf<'a>) {
        let slot = match classify(key) {
            Slot::Ts => {
                if self.fields.row.ts.is_none() && !self.fields.ts_is_bool {
                    match leaf {
                        Leaf::Str(s) => self.fields.row.ts = Some(RawTs::Text(s)),
                        Leaf::Int(n) => self.fields.row.ts = Some(RawTs::Int(n)),
                        Leaf::Float(f) => self.fields.row.ts = Some(RawTs::Float(f)),
                        Leaf::Bool(_) | Leaf::Json(_) => self.fields.ts_is_bool = true,
                    }
                    return;
                }
                None
            }
            Slot::Message => Some(&mut self.fields.row.message),
            Slot::Log => match leaf {
                Leaf::Str(_) => Some(&mut self.fields.log),
                _ => None,
            },
            Slot::Level => Some(&mut self.fields.row.level),
            Slot::Service => Some(&mut self.fields.row.service),
            Slot::Version => Some(&mut self.fields.row.version),
            Slot::Env => Some(&mut self.fields.row.env),
            Slot::Host => Some(&mut self.fields.row.host),
            Slot::TraceId => Some(&mut self.fields.row.trace_id),
            Slot::Other => None,
        };
        match slot {
            Some(slot) if slot.is_none() => *slot = Some(leaf.into_text()),
            _ => self.attr(key, &leaf.into_text()),
        }
    }
}

/// Visits one JSON value under `prefix`, flattening objects.
struct Flatten<'s, 'f, 'a, 'm> {
    sink: &'s mut Sink<'f, 'a, 'm>,
    prefix: &'s mut String,
}

impl<'de> DeserializeSeed<'de> for Flatten<'_, '_, 'de, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_, '_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (one log record)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let base = self.prefix.len();
        while let Some(Str(k)) = map.next_key::<Str<'de>>()? {
            if base > 0 {
                self.prefix.push('.');
            }
            self.prefix.push_str(&k);
            map.next_value_seed(Flatten {
                sink: &mut *self.sink,
                prefix: &mut *self.prefix,
            })?;
            self.prefix.truncate(base);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        if self.prefix.is_empty() {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        let v: serde_json::Value =
            de::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        self.sink.leaf(self.prefix, Leaf::Json(v.to_string()));
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.scalar(Leaf::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(Leaf::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.scalar(Leaf::Str(Cow::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(Leaf::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(Leaf::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(Leaf::Int(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.scalar(Leaf::Float(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if self.prefix.is_empty() {
            return Err(de::Error::invalid_type(de::Unexpected::Unit, &self));
        }
        Ok(())
    }
}

impl<'a> Flatten<'_, '_, 'a, '_> {
    fn scalar<E: de::Error>(self, leaf: Leaf<'a>) -> Result<(), E> {
        if self.prefix.is_empty() {
            return Err(de::Error::invalid_type(
                de::Unexpected::Other("a scalar"),
                &"a JSON object (one log record)",
            ));
        }
        self.sink.leaf(self.prefix, leaf);
        Ok(())
    }
}

fn decode_ecs(
    record: &[u8],
    lineage: &Lineage<'_>,
    max_fields: usize,
    b: &mut LogsBuilder,
) -> Result<(), DecodeError> {
    let mut fields = Fields::default();
    let mut prefix = String::new();
    {
        let mut sink = Sink {
            fields: &mut fields,
            attrs: &mut b.attributes,
            max_fields,
        };
        parse_record(
            record,
            Flatten {
                sink: &mut sink,
                prefix: &mut prefix,
            },
        )?;
        // Fluent Bit's `log` is the message when there is no `message`.
        if sink.fields.row.message.is_none() {
            sink.fields.row.message = sink.fields.log.take();
        } else if let Some(log) = sink.fields.log.take() {
            sink.attr("log", &log);
        }
    }
    if fields.ts_is_bool {
        return Err(DecodeError::new(
            DecodeReason::InvalidType,
            "the timestamp is neither a string nor a number",
        ));
    }
    let ts = match &fields.row.ts {
        // Fluent Bit's `date` is seconds with microseconds; f64 cannot hold
        // nanoseconds since 1970, so round to the microsecond it meant.
        Some(RawTs::Float(f)) if f.is_finite() && f.abs() < 1e11 => {
            ((f * 1e6).round() as i64).saturating_mul(1000)
        }
        Some(raw) => parse_raw_ts(raw)?,
        None => lineage.received_ns,
    };
    push_log_row(&fields.row, ts, max_fields, lineage, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_message;
    use arrow::array::{Array, AsArray, RecordBatch};
    use arrow::datatypes::TimestampNanosecondType;
    use proptest::prelude::*;

    /// 2026-11-26T08:30:00Z
    const T: i64 = 1_795_681_800_000_000_000;

    fn lineage() -> Lineage<'static> {
        Lineage {
            topic: "filebeat",
            partition: 0,
            offset: 1,
            received_ns: 5,
        }
    }

    fn decode_with(input: &[u8], limits: DecodeLimits) -> Result<RecordBatch, DecodeError> {
        let mut b = TableBuilder::for_table(Table::Logs).unwrap();
        let d = EcsLogsDecoder::new(limits);
        let r = decode_message(&d, input, &lineage(), &limits, &mut b);
        if r.is_err() {
            assert_eq!(b.len(), 0, "partial rows left behind");
        }
        r?;
        Ok(b.finish().unwrap())
    }

    fn decode(input: &str) -> Result<RecordBatch, DecodeError> {
        decode_with(input.as_bytes(), DecodeLimits::default())
    }

    fn col(b: &RecordBatch, name: &str) -> Option<String> {
        let c = b.column_by_name(name).unwrap().as_string::<i32>();
        (!c.is_null(0)).then(|| c.value(0).to_string())
    }

    fn ts(b: &RecordBatch) -> i64 {
        b.column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampNanosecondType>()
            .value(0)
    }

    fn attrs(b: &RecordBatch) -> Vec<(String, String)> {
        let m = b.column_by_name("attributes").unwrap().as_map();
        let e = m.value(0);
        let k = e.column(0).as_string::<i32>();
        let v = e.column(1).as_string::<i32>();
        (0..k.len())
            .map(|i| (k.value(i).to_string(), v.value(i).to_string()))
            .collect()
    }

    fn attr(b: &RecordBatch, key: &str) -> Option<String> {
        attrs(b).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    #[test]
    fn filebeat_kafka_output() {
        // Filebeat 8 `output.kafka` with `codec.json`, an ECS-logging app line.
        let b = decode(
            r#"{"@timestamp":"2026-11-26T08:30:00.123Z","@metadata":{"beat":"filebeat","type":"_doc","version":"8.11.0"},"log":{"offset":1024,"file":{"path":"/var/log/app/checkout.log"},"level":"error","logger":"payments"},"message":"payment failed","service":{"name":"checkout","version":"1.4.2","environment":"prod"},"trace":{"id":"4bf92f3577b34da6"},"event":{"dataset":"checkout.log"},"input":{"type":"filestream"},"ecs":{"version":"8.0.0"},"host":{"name":"web-1","hostname":"web-1","ip":["10.0.0.1","fe80::1"]},"agent":{"type":"filebeat","version":"8.11.0"},"error":null}"#,
        )
        .unwrap();
        assert_eq!(ts(&b), T + 123_000_000);
        assert_eq!(col(&b, "message").as_deref(), Some("payment failed"));
        assert_eq!(col(&b, "level").as_deref(), Some("error"));
        assert_eq!(col(&b, "service").as_deref(), Some("checkout"));
        assert_eq!(col(&b, "version").as_deref(), Some("1.4.2"));
        assert_eq!(col(&b, "env").as_deref(), Some("prod"));
        assert_eq!(col(&b, "host").as_deref(), Some("web-1"));
        assert_eq!(col(&b, "trace_id").as_deref(), Some("4bf92f3577b34da6"));
        assert_eq!(attr(&b, "event.dataset").as_deref(), Some("checkout.log"));
        assert_eq!(attr(&b, "@metadata.beat").as_deref(), Some("filebeat"));
        assert_eq!(attr(&b, "log.offset").as_deref(), Some("1024"));
        assert_eq!(
            attr(&b, "log.file.path").as_deref(),
            Some("/var/log/app/checkout.log")
        );
        assert_eq!(attr(&b, "log.logger").as_deref(), Some("payments"));
        assert_eq!(attr(&b, "host.hostname").as_deref(), Some("web-1"));
        assert_eq!(
            attr(&b, "host.ip").as_deref(),
            Some(r#"["10.0.0.1","fe80::1"]"#)
        );
        assert_eq!(attr(&b, "error"), None);
        assert_eq!(attr(&b, "message"), None);
    }

    #[test]
    fn dotted_keys_as_ecs_logging_writes_them() {
        // ecs-logging libraries write dotted keys at the top level.
        let b = decode(
            r#"{"@timestamp":"2026-11-26T08:30:00Z","log.level":"WARN","message":"slow","ecs.version":"1.6.0","service.name":"api","event.dataset":"api.log","process.thread.name":"main"}"#,
        )
        .unwrap();
        assert_eq!(ts(&b), T);
        assert_eq!(col(&b, "level").as_deref(), Some("warn"));
        assert_eq!(col(&b, "service").as_deref(), Some("api"));
        assert_eq!(
            attrs(&b),
            vec![
                ("ecs.version".into(), "1.6.0".into()),
                ("event.dataset".into(), "api.log".into()),
                ("process.thread.name".into(), "main".into()),
            ]
        );
    }

    #[test]
    fn fluent_bit_json() {
        // Fluent Bit kafka output, `Format json`, tail input with the docker parser.
        let b = decode(
            r#"{"date":1795681800.25,"log":"GET /health 200\n","stream":"stdout","time":"2026-11-26T08:29:59.9Z","kubernetes":{"pod_name":"web-7","namespace_name":"shop","labels":{"app":"web"}}}"#,
        )
        .unwrap();
        assert_eq!(ts(&b), T + 250_000_000);
        assert_eq!(col(&b, "message").as_deref(), Some("GET /health 200\n"));
        assert_eq!(col(&b, "level").as_deref(), Some("info"));
        assert_eq!(attr(&b, "stream").as_deref(), Some("stdout"));
        assert_eq!(attr(&b, "time").as_deref(), Some("2026-11-26T08:29:59.9Z"));
        assert_eq!(attr(&b, "kubernetes.labels.app").as_deref(), Some("web"));
        // `date` as a string (json_date_format iso8601), and `message` beating `log`.
        let b = decode(
            r#"{"date":"2026-11-26T08:30:00.000000Z","message":"m","log":"raw","level":"debug"}"#,
        )
        .unwrap();
        assert_eq!(ts(&b), T);
        assert_eq!(col(&b, "message").as_deref(), Some("m"));
        assert_eq!(col(&b, "level").as_deref(), Some("debug"));
        assert_eq!(attrs(&b), vec![("log".into(), "raw".into())]);
        // No timestamp at all: the receive time.
        let b = decode(r#"{"log":"x"}"#).unwrap();
        assert_eq!(ts(&b), 5);
    }

    #[test]
    fn registered_under_every_alias() {
        for f in ["ecs", "filebeat", "fluentbit"] {
            let d = crate::decode::decoder_for(Table::Logs, f, DecodeLimits::default()).unwrap();
            assert_eq!(d.format(), "ecs");
            assert!(crate::decode::formats_for(Table::Logs).contains(&f));
        }
    }

    #[test]
    fn malformed_inputs_have_specific_reasons() {
        let cases: &[(&[u8], DecodeReason)] = &[
            (b"", DecodeReason::Empty),
            (b"not json", DecodeReason::InvalidJson),
            (b"[1,2]", DecodeReason::InvalidType),
            (b"\"a string\"", DecodeReason::InvalidType),
            (b"42", DecodeReason::InvalidType),
            (b"null", DecodeReason::InvalidType),
            (b"{\"message\":\"x\"} trailing", DecodeReason::InvalidJson),
            (b"{\"message\":", DecodeReason::InvalidJson),
            (b"{\"@timestamp\":\"soon\"}", DecodeReason::InvalidTimestamp),
            (b"{\"@timestamp\":true}", DecodeReason::InvalidType),
            (b"{\"date\":[1]}", DecodeReason::InvalidType),
            (b"{\"date\":1e300}", DecodeReason::InvalidTimestamp),
            (b"{\"message\":\"\xff\"}", DecodeReason::InvalidJson),
        ];
        for (input, reason) in cases {
            let err = decode_with(input, DecodeLimits::default())
                .expect_err(&String::from_utf8_lossy(input));
            assert_eq!(
                err.reason,
                *reason,
                "{:?}: {err}",
                String::from_utf8_lossy(input)
            );
        }
        let err = decode("{\"message\":\"a\"}\n{\"message\":1}\n{").unwrap_err();
        assert_eq!(err.line, Some(3));
        // Deep nesting is refused by serde_json's recursion limit, not a stack overflow.
        let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        assert_eq!(decode(&deep).unwrap_err().reason, DecodeReason::TooDeep);
    }

    #[test]
    fn limits_are_enforced() {
        let limits = DecodeLimits {
            max_message_bytes: 256,
            max_fields_per_row: 2,
            ..DecodeLimits::default()
        };
        assert!(decode_with(br#"{"message":"m","a":{"b":1,"c":2}}"#, limits).is_ok());
        let err = decode_with(br#"{"message":"m","a":{"b":1,"c":2,"d":3}}"#, limits).unwrap_err();
        assert_eq!(err.reason, DecodeReason::TooManyFields);
        // The displaced `log` counts too.
        let err = decode_with(br#"{"message":"m","a":1,"b":2,"log":"x"}"#, limits).unwrap_err();
        assert_eq!(err.reason, DecodeReason::TooManyFields);
        let big = format!("{{\"message\":\"{}\"}}", "x".repeat(300));
        let err = decode_with(big.as_bytes(), limits).unwrap_err();
        assert_eq!(err.reason, DecodeReason::TooLarge);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_leave_partial_rows(
            bytes in proptest::collection::vec(any::<u8>(), 0..512)
        ) {
            crate::decode::all_or_nothing(&EcsLogsDecoder::new(DecodeLimits::default()), &bytes, &lineage())?;
        }

        #[test]
        fn nested_and_dotted_spellings_agree(
            level in prop::sample::select(vec!["debug", "info", "warn", "error", "fatal"]),
            service in "[a-z]{1,10}",
            message in "\\PC{0,40}",
        ) {
            let nested = serde_json::json!({"log": {"level": level}, "service": {"name": service}, "message": message}).to_string();
            let dotted = serde_json::json!({"log.level": level, "service.name": service, "message": message}).to_string();
            for line in [nested, dotted] {
                let b = decode(&line).unwrap();
                prop_assert_eq!(col(&b, "level"), Some(level.to_string()));
                prop_assert_eq!(col(&b, "service"), Some(service.clone()));
                prop_assert_eq!(col(&b, "message"), Some(message.clone()));
                prop_assert!(attrs(&b).is_empty());
            }
        }
    }
}
