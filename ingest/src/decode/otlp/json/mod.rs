//! OTLP/JSON read with serde derives over borrowed strings, then moved
//! into the protobuf types the rest of the decoder reads.
//!
//! `opentelemetry-proto`'s own serde mapping buffers every oneof (`data`,
//! `value`) through serde's `flatten`, which cost about half of the decoding
//! time. Here each oneof is a set of optional fields instead. The mapping is
//! OTLP/JSON's: lowerCamelCase keys, 64-bit integers as strings or numbers,
//! enums as integers, trace and span ids as hex, bytes as base64, and
//! `NaN`/`Infinity` as strings where a double is expected.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::attributes::{Attribute, number_text, render};
use crate::decode::{DecodeError, DecodeLimits, DecodeReason};

/// A 64-bit integer as OTLP/JSON writes it: a string, or a number.
#[derive(Default, Clone, Copy)]
struct Int(i128);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, as a number or a decimal string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                // Nearly every string integer is an unsigned timestamp, and
                // parsing as u64 is several times cheaper than as i128.
                if let Ok(u) = v.parse::<u64>() {
                    return Ok(Int(u.into()));
                }
                v.parse()
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &"a decimal integer"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Int {
    fn u64<E: de::Error>(self) -> Result<u64, E> {
        u64::try_from(self.0)
            .map_err(|_| E::custom(format!("{} is not an unsigned 64-bit integer", self.0)))
    }
    fn i64<E: de::Error>(self) -> Result<i64, E> {
        i64::try_from(self.0).map_err(|_| E::custom(format!("{} is not a 64-bit integer", self.0)))
    }
}

/// A double: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
#[derive(Default, Clone, Copy)]
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Double;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Double, E> {
                Ok(Double(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Double, E> {
                match v {
                    "NaN" => Ok(Double(f64::NAN)),
                    "Infinity" => Ok(Double(f64::INFINITY)),
                    "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                    _ => v
                        .parse()
                        .map(Double)
                        .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &"a number")),
                }
            }
        }
        d.deserialize_any(V)
    }
}

type Text<'a> = Cow<'a, str>;

/// Text borrowed from the input unless it had escapes.
struct CowText<'a>(Text<'a>);

impl<'de> Deserialize<'de> for CowText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<CowText<'de>, E> {
                Ok(CowText(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CowText<'de>, E> {
                Ok(CowText(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<CowText<'de>, E> {
                Ok(CowText(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// OTLP's `AnyValue` oneof. An enum rather than a struct of optional
/// fields: attribute values are moved several times while a request is
/// read, and the struct's size made those moves a fifth of the time. The
/// first value key present wins; unknown keys are skipped.
#[derive(Default, Clone)]
enum AnyValue<'a> {
    #[default]
    Empty,
    String(Text<'a>),
    Bool(bool),
    Int(Int),
    Double(Double),
    Array(Vec<AnyValue<'a>>),
    Kvlist(Vec<KeyValue<'a>>),
    Bytes(Text<'a>),
}

impl<'de: 'a, 'a> Deserialize<'de> for AnyValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AnyValue object")
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<AnyValue<'de>, A::Error> {
                let mut out = AnyValue::Empty;
                while let Some(key) = map.next_key::<CowText<'de>>()? {
                    if !matches!(out, AnyValue::Empty) {
                        map.next_value::<de::IgnoredAny>()?;
                        continue;
                    }
                    out = match key.0.as_ref() {
                        "stringValue" => map
                            .next_value::<Option<CowText<'de>>>()?
                            .map_or(AnyValue::Empty, |t| AnyValue::String(t.0)),
                        "boolValue" => map
                            .next_value::<Option<bool>>()?
                            .map_or(AnyValue::Empty, AnyValue::Bool),
                        "intValue" => map
                            .next_value::<Option<Int>>()?
                            .map_or(AnyValue::Empty, AnyValue::Int),
                        "doubleValue" => map
                            .next_value::<Option<Double>>()?
                            .map_or(AnyValue::Empty, AnyValue::Double),
                        "arrayValue" => map
                            .next_value::<Option<Values<'de>>>()?
                            .map_or(AnyValue::Empty, |v| AnyValue::Array(v.values)),
                        "kvlistValue" => map
                            .next_value::<Option<KeyValues<'de>>>()?
                            .map_or(AnyValue::Empty, |v| AnyValue::Kvlist(v.values)),
                        "bytesValue" => map
                            .next_value::<Option<CowText<'de>>>()?
                            .map_or(AnyValue::Empty, |t| AnyValue::Bytes(t.0)),
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                            AnyValue::Empty
                        }
                    };
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Values<'a> {
    #[serde(borrow)]
    values: Vec<AnyValue<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyValues<'a> {
    #[serde(borrow)]
    values: Vec<KeyValue<'a>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct KeyValue<'a> {
    #[serde(borrow)]
    key: Text<'a>,
    #[serde(borrow)]
    value: Option<AnyValue<'a>>,
}

impl Attribute for KeyValue<'_> {
    fn key(&self) -> &str {
        &self.key
    }

    fn text(&self, limits: &DecodeLimits) -> Result<Cow<'_, str>, DecodeError> {
        Ok(match &self.value {
            None | Some(AnyValue::Empty) => Cow::Borrowed(""),
            Some(AnyValue::String(s)) => Cow::Borrowed(s.as_ref()),
            Some(AnyValue::Bool(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Some(AnyValue::Int(i)) => Cow::Owned(i.i64().map_err(invalid)?.to_string()),
            Some(AnyValue::Double(d)) => Cow::Owned(number_text(d.0)),
            // Bytes, arrays and maps are rare: rendered through the
            // protobuf types, as the protobuf path renders them.
            Some(other) => {
                let v = any_value(other.clone()).map_err(invalid)?;
                Cow::Owned(render(Some(&v), limits)?.into_owned())
            }
        })
    }
}

/// A value that parsed as JSON but is not a valid OTLP value.
fn invalid(e: serde_json::Error) -> DecodeError {
    DecodeError::new(DecodeReason::InvalidValue, e.to_string())
}

fn any_value<E: de::Error>(v: AnyValue<'_>) -> Result<common::AnyValue, E> {
    use common::any_value::Value;
    let value = match v {
        AnyValue::Empty => None,
        AnyValue::String(s) => Some(Value::StringValue(s.into_owned())),
        AnyValue::Bool(b) => Some(Value::BoolValue(b)),
        AnyValue::Int(i) => Some(Value::IntValue(i.i64()?)),
        AnyValue::Double(d) => Some(Value::DoubleValue(d.0)),
        AnyValue::Array(a) => Some(Value::ArrayValue(common::ArrayValue {
            values: a.into_iter().map(any_value).collect::<Result<_, _>>()?,
        })),
        AnyValue::Kvlist(kv) => Some(Value::KvlistValue(common::KeyValueList {
            values: key_values(kv)?,
        })),
        AnyValue::Bytes(b) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| E::custom(format!("bytesValue is not base64: {e}")))?;
            Some(Value::BytesValue(bytes))
        }
    };
    Ok(common::AnyValue { value })
}

fn key_values<E: de::Error>(kvs: Vec<KeyValue<'_>>) -> Result<Vec<common::KeyValue>, E> {
    kvs.into_iter()
        .map(|kv| {
            Ok(common::KeyValue {
                key: kv.key.into_owned(),
                value: kv.value.map(any_value).transpose()?,
                ..Default::default()
            })
        })
        .collect()
}

fn hex_bytes<E: de::Error>(s: Option<Text<'_>>, what: &str) -> Result<Vec<u8>, E> {
    match s {
        None => Ok(Vec::new()),
        Some(s) => {
            hex::decode(s.as_bytes()).map_err(|e| E::custom(format!("{what} is not hex: {e}")))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonResource<'a> {
    #[serde(borrow)]
    attributes: Vec<KeyValue<'a>>,
}

fn resource<E: de::Error>(r: Option<JsonResource<'_>>) -> Result<Option<Resource>, E> {
    r.map(|r| {
        Ok(Resource {
            attributes: key_values(r.attributes)?,
            ..Default::default()
        })
    })
    .transpose()
}

fn parse<'a, T: Deserialize<'a>, R>(
    record: &'a [u8],
    convert: impl FnOnce(T) -> Result<R, serde_json::Error>,
) -> Result<R, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(record);
    let parsed = T::deserialize(&mut de).map_err(crate::decode::json::json_error)?;
    de.end().map_err(crate::decode::json::json_error)?;
    convert(parsed).map_err(|e| DecodeError::new(DecodeReason::InvalidValue, e.to_string()))
}

mod logs;
mod metrics;

pub(super) use logs::logs_request;
pub(super) use metrics::append_metrics;
