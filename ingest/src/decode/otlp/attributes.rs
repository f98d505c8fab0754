//! OTLP attributes: resource attributes onto columns, values into text.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

use crate::decode::{DecodeError, DecodeLimits, DecodeReason};

/// A resource's attributes split into the columns they fill and the rest.
#[derive(Debug, Default)]
pub(super) struct ResourceColumns<'a> {
    /// `service.name`.
    pub service: Option<Cow<'a, str>>,
    /// `service.version`.
    pub version: Option<Cow<'a, str>>,
    /// `deployment.environment.name` or `deployment.environment`.
    pub env: Option<Cow<'a, str>>,
    /// `host.name`, else `k8s.pod.name`.
    pub host: Option<Cow<'a, str>>,
    /// Every other attribute, rendered.
    pub rest: Vec<(&'a str, Cow<'a, str>)>,
}

/// An attribute as a decoded request holds it: protobuf, or OTLP/JSON read
/// in place (which skips building the protobuf types for the common case).
pub(super) trait Attribute {
    /// The key.
    fn key(&self) -> &str;
    /// The value as text, as [`render`] writes it.
    fn text(&self, limits: &DecodeLimits) -> Result<Cow<'_, str>, DecodeError>;
}

impl Attribute for KeyValue {
    fn key(&self) -> &str {
        &self.key
    }

    fn text(&self, limits: &DecodeLimits) -> Result<Cow<'_, str>, DecodeError> {
        render(self.value.as_ref(), limits)
    }
}

impl<'a> ResourceColumns<'a> {
    /// Splits `attrs` (a resource's attributes).
    pub fn from_attributes<A: Attribute>(
        attrs: &'a [A],
        limits: &DecodeLimits,
    ) -> Result<Self, DecodeError> {
        let mut cols = ResourceColumns::default();
        let mut pod = None;
        for kv in attrs {
            let text = kv.text(limits)?;
            match kv.key() {
                "service.name" => cols.service = Some(text),
                "service.version" => cols.version = Some(text),
                // The semantic conventions renamed the key in 1.27; senders
                // use both.
                "deployment.environment.name" => cols.env = Some(text),
                "deployment.environment" => {
                    cols.env.get_or_insert(text);
                }
                "host.name" => cols.host = Some(text),
                "k8s.pod.name" => {
                    pod = Some(text.clone());
                    cols.rest.push((kv.key(), text));
                }
                key => cols.rest.push((key, text)),
            }
        }
        if cols.host.is_none() {
            cols.host = pod;
        }
        Ok(cols)
    }
}

/// Renders an attribute value as text: strings as they are, numbers and
/// booleans as JSON writes them, bytes as hex, arrays and maps as JSON.
pub(super) fn render<'a>(
    v: Option<&'a AnyValue>,
    limits: &DecodeLimits,
) -> Result<Cow<'a, str>, DecodeError> {
    Ok(match v.and_then(|v| v.value.as_ref()) {
        None => Cow::Borrowed(""),
        Some(Value::StringValue(s)) => Cow::Borrowed(s.as_str()),
        Some(Value::BoolValue(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => Cow::Owned(i.to_string()),
        Some(Value::DoubleValue(d)) => Cow::Owned(number_text(*d)),
        Some(Value::BytesValue(b)) => Cow::Owned(hex::encode(b)),
        Some(Value::StringValueStrindex(_)) => return Err(string_table_reference()),
        Some(other) => Cow::Owned(to_json(other, 1, limits)?.to_string()),
    })
}

/// Indexes into a string table exist only in OTLP profiles; logs and
/// metrics have no table to resolve them against.
fn string_table_reference() -> DecodeError {
    DecodeError::new(
        DecodeReason::InvalidValue,
        "an attribute refers to a string table, which only OTLP profiles carry",
    )
}

pub(super) fn number_text(d: f64) -> String {
    serde_json::Number::from_f64(d).map_or_else(|| d.to_string(), |n| n.to_string())
}

fn to_json(
    v: &Value,
    depth: usize,
    limits: &DecodeLimits,
) -> Result<serde_json::Value, DecodeError> {
    if depth > limits.max_depth {
        return Err(DecodeError::new(
            DecodeReason::TooDeep,
            format!(
                "an attribute value is nested deeper than {} levels",
                limits.max_depth
            ),
        ));
    }
    let inner = |a: &AnyValue| match &a.value {
        Some(v) => to_json(v, depth + 1, limits),
        None => Ok(serde_json::Value::Null),
    };
    Ok(match v {
        Value::StringValue(s) => serde_json::Value::from(s.as_str()),
        Value::BoolValue(b) => serde_json::Value::from(*b),
        Value::IntValue(i) => serde_json::Value::from(*i),
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::BytesValue(b) => serde_json::Value::from(hex::encode(b)),
        Value::StringValueStrindex(_) => return Err(string_table_reference()),
        Value::ArrayValue(a) => {
            serde_json::Value::Array(a.values.iter().map(inner).collect::<Result<_, _>>()?)
        }
        Value::KvlistValue(kv) => serde_json::Value::Object(
            kv.values
                .iter()
                .map(|kv| {
                    let v = match &kv.value {
                        Some(a) => inner(a)?,
                        None => serde_json::Value::Null,
                    };
                    Ok((kv.key.clone(), v))
                })
                .collect::<Result<_, DecodeError>>()?,
        ),
    })
}

/// A trace or span id as lower-case hex; `None` when absent or all zero.
pub(super) fn hex_id(id: &[u8]) -> Option<String> {
    (!id.is_empty() && id.iter().any(|&b| b != 0)).then(|| hex::encode(id))
}
