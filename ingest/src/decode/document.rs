//! Helpers for formats decoded as whole JSON documents (webhook envelopes,
//! scanner reports, change events): these are low-volume and deeply nested,
//! so a `serde_json::Value` tree is clearer than a streaming visitor and
//! costs nothing that matters.

use serde_json::{Map, Value};

use super::time::parse_timestamp_str;
use super::{DecodeError, DecodeReason};

/// Parses `record` as one JSON document.
pub(crate) fn parse_document(record: &[u8]) -> Result<Value, DecodeError> {
    serde_json::from_slice(record).map_err(super::json::json_error)
}

/// The document as an object, or an error naming what it was expected to be.
pub(crate) fn as_object<'v>(
    v: &'v Value,
    what: &str,
) -> Result<&'v Map<String, Value>, DecodeError> {
    v.as_object().ok_or_else(|| {
        DecodeError::new(
            DecodeReason::InvalidType,
            format!("{what} must be a JSON object, found {}", type_name(v)),
        )
    })
}

/// Follows `path` through nested objects.
pub(crate) fn at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// A string at `path`, if present and a non-empty string.
pub(crate) fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    at(v, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A string at `path`; numbers are rendered (ids are numbers in some APIs).
pub(crate) fn text_at(v: &Value, path: &[&str]) -> Option<String> {
    match at(v, path)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A required string field of `obj`.
pub(crate) fn required_str<'v>(
    obj: &'v Value,
    field: &str,
    what: &str,
) -> Result<&'v str, DecodeError> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(DecodeError::new(
            DecodeReason::MissingField,
            format!("{what} has no `{field}`"),
        )),
        Some(other) => Err(DecodeError::new(
            DecodeReason::InvalidType,
            format!(
                "`{field}` of {what} must be a string, found {}",
                type_name(other)
            ),
        )),
    }
}

/// An optional RFC 3339 time at `path`; Go's zero time means "not set".
pub(crate) fn time_at(v: &Value, path: &[&str]) -> Result<Option<i64>, DecodeError> {
    match at(v, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() || s.starts_with("0001-01-01T00:00:00") => Ok(None),
        Some(Value::String(s)) => parse_timestamp_str(s).map(Some),
        Some(other) => Err(DecodeError::new(
            DecodeReason::InvalidType,
            format!(
                "`{}` must be an RFC 3339 string, found {}",
                path.join("."),
                type_name(other)
            ),
        )),
    }
}

/// A JSON value rendered as a label value: strings as themselves, anything
/// else as compact JSON; `None` for null.
pub(crate) fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The entries of an object at `path` (absent → none), bounded by `max`.
pub(crate) fn string_entries(
    v: &Value,
    path: &[&str],
    max: usize,
) -> Result<Vec<(String, String)>, DecodeError> {
    let Some(found) = at(v, path) else {
        return Ok(Vec::new());
    };
    if found.is_null() {
        return Ok(Vec::new());
    }
    let obj = as_object(found, &format!("`{}`", path.join(".")))?;
    if obj.len() > max {
        return Err(DecodeError::new(
            DecodeReason::TooManyFields,
            format!(
                "`{}` has {} entries; the limit is {max}",
                path.join("."),
                obj.len()
            ),
        ));
    }
    Ok(obj
        .iter()
        .filter_map(|(k, v)| value_text(v).map(|t| (k.clone(), t)))
        .collect())
}

/// A JSON type's name, for error messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
