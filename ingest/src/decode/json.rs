//! Building blocks shared by the JSON decoders: borrowed strings, values of
//! unknown fields turned into strings, and error classification.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::{DecodeError, DecodeReason};

/// A JSON string, borrowed from the input unless it had escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> de::Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Any JSON value rendered as a string: strings as themselves, numbers and
/// booleans in JSON notation, objects and arrays as compact JSON; `null` is `None`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AnyAsStr<'a>(pub Option<Cow<'a, str>>);

impl<'de: 'a, 'a> de::Deserialize<'de> for AnyAsStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyAsStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(AnyAsStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AnyAsStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(AnyAsStr(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(AnyAsStr(Some(Cow::Borrowed(if v {
                    "true"
                } else {
                    "false"
                }))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(AnyAsStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(AnyAsStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(AnyAsStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AnyAsStr(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AnyAsStr(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let v: serde_json::Value =
                    de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(AnyAsStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let v: serde_json::Value =
                    de::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(AnyAsStr(Some(Cow::Owned(v.to_string()))))
            }
        }
        d.deserialize_any(V)
    }
}

/// A timestamp as found in JSON: a string to parse or a number of
/// seconds/milliseconds/microseconds/nanoseconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawTs<'a> {
    Text(Cow<'a, str>),
    Int(i128),
    Float(f64),
}

impl<'de: 'a, 'a> de::Deserialize<'de> for RawTs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawTs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 string or a number since the epoch")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RawTs::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawTs::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawTs::Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawTs::Int(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(RawTs::Float(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads a JSON object of string-ish values, handing each entry to `sink`.
///
/// `sink` returns `false` to signal that the entry limit was reached.
pub(crate) struct StringMapSeed<F> {
    pub sink: F,
}

impl<'de, F> DeserializeSeed<'de> for StringMapSeed<F>
where
    F: FnMut(Cow<'de, str>, Cow<'de, str>) -> bool,
{
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        struct V<F>(F);
        impl<'de, F> Visitor<'de> for V<F>
        where
            F: FnMut(Cow<'de, str>, Cow<'de, str>) -> bool,
        {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
                Ok(true)
            }
            fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<bool, A::Error> {
                let mut within_limit = true;
                while let Some(Str(k)) = map.next_key::<Str<'de>>()? {
                    let AnyAsStr(v) = map.next_value()?;
                    if let Some(v) = v {
                        within_limit &= (self.0)(k, v);
                    }
                }
                Ok(within_limit)
            }
        }
        d.deserialize_any(V(self.sink))
    }
}

/// Parses one JSON record with `seed`, rejecting trailing characters.
pub(crate) fn parse_record<'de, S: DeserializeSeed<'de>>(
    record: &'de [u8],
    seed: S,
) -> Result<S::Value, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(record);
    let value = seed.deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(json_error)?;
    Ok(value)
}

/// The error for a decoder handed another table's builder (a wiring bug,
/// reported rather than panicking).
pub(crate) fn wrong_builder(decoder: &str) -> DecodeError {
    DecodeError::new(
        DecodeReason::InvalidValue,
        format!("{decoder} decoder given a builder of another table"),
    )
}

/// Classifies a serde_json error into a dead-letter reason.
pub(crate) fn json_error(e: serde_json::Error) -> DecodeError {
    use serde_json::error::Category;
    let reason = match e.classify() {
        // serde_json stops at 128 levels rather than overflow the stack.
        Category::Syntax if e.to_string().starts_with("recursion limit exceeded") => {
            DecodeReason::TooDeep
        }
        Category::Data => DecodeReason::InvalidType,
        Category::Syntax | Category::Eof | Category::Io => DecodeReason::InvalidJson,
    };
    DecodeError::new(reason, e.to_string())
}

/// Lower-cases and maps the many spellings of log levels onto six.
pub(crate) fn normalize_level(raw: &str) -> &'static str {
    // Numeric levels as bunyan and pino write them.
    if let Ok(n) = raw.parse::<u32>() {
        return match n {
            0..=10 => "trace",
            11..=20 => "debug",
            21..=30 => "info",
            31..=40 => "warn",
            41..=50 => "error",
            _ => "fatal",
        };
    }
    let mut buf = [0u8; 16];
    let bytes = raw.trim().as_bytes();
    if bytes.len() > buf.len() {
        return "info";
    }
    for (d, s) in buf.iter_mut().zip(bytes) {
        *d = s.to_ascii_lowercase();
    }
    match &buf[..bytes.len()] {
        b"trace" | b"trc" | b"verbose" => "trace",
        b"debug" | b"dbg" => "debug",
        b"info" | b"inf" | b"information" | b"notice" | b"informational" => "info",
        b"warn" | b"warning" | b"wrn" => "warn",
        b"error" | b"err" | b"eror" => "error",
        b"fatal" | b"critical" | b"crit" | b"panic" | b"emerg" | b"emergency" | b"alert" => "fatal",
        _ => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_normalise() {
        assert_eq!(normalize_level("ERROR"), "error");
        assert_eq!(normalize_level("Warning"), "warn");
        assert_eq!(normalize_level("50"), "error");
        assert_eq!(normalize_level("60"), "fatal");
        assert_eq!(normalize_level("CRIT"), "fatal");
        assert_eq!(normalize_level("something-else-entirely"), "info");
    }

    #[test]
    fn any_value_renders_as_string() {
        let v: Vec<AnyAsStr<'_>> =
            serde_json::from_str(r#"["a", 1, 1.5, true, null, {"x":[1]}]"#).unwrap();
        let got: Vec<Option<String>> = v.into_iter().map(|a| a.0.map(|c| c.into_owned())).collect();
        assert_eq!(
            got,
            vec![
                Some("a".into()),
                Some("1".into()),
                Some("1.5".into()),
                Some("true".into()),
                None,
                Some(r#"{"x":[1]}"#.into())
            ]
        );
    }
}
