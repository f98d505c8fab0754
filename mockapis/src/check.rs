//! Small schema checks the mock servers share (deliberately independent of
//! the sink modules: a receiver that reused the sender's code would accept
//! the sender's bugs).

use serde_json::{Map, Value};

/// Collects every schema violation of one request, so a rejection lists
/// them all as the real services do.
#[derive(Debug, Default)]
pub(crate) struct Violations(pub(crate) Vec<String>);

impl Violations {
    pub(crate) fn push(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A string member: checks type, presence (non-blank when required)
    /// and length in characters.
    pub(crate) fn string<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &str,
        name: &str,
        required: bool,
        max_chars: Option<usize>,
    ) -> Option<&'a str> {
        match obj.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.push(format!("'{path}{name}' is missing"));
                }
                None
            }
            Some(Value::String(s)) => {
                if required && s.trim().is_empty() {
                    self.push(format!("'{path}{name}' is blank"));
                }
                if let Some(max) = max_chars {
                    let n = s.chars().count();
                    if n > max {
                        self.push(format!("'{path}{name}' is {n} characters, more than {max}"));
                    }
                }
                Some(s)
            }
            Some(_) => {
                self.push(format!("'{path}{name}' must be a string"));
                None
            }
        }
    }

    /// A string member restricted to `allowed`.
    pub(crate) fn one_of<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &str,
        name: &str,
        required: bool,
        allowed: &[&str],
    ) -> Option<&'a str> {
        let v = self.string(obj, path, name, required, None)?;
        if allowed.contains(&v) {
            Some(v)
        } else {
            self.push(format!(
                "'{path}{name}' must be one of {allowed:?}, not {v:?}"
            ));
            None
        }
    }

    /// An array member with at most `max_items` items.
    pub(crate) fn array<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &str,
        name: &str,
        required: bool,
        max_items: Option<usize>,
    ) -> Option<&'a Vec<Value>> {
        match obj.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.push(format!("'{path}{name}' is missing"));
                }
                None
            }
            Some(Value::Array(a)) => {
                if let Some(max) = max_items
                    && a.len() > max
                {
                    self.push(format!(
                        "'{path}{name}' has {} items, more than {max}",
                        a.len()
                    ));
                }
                Some(a)
            }
            Some(_) => {
                self.push(format!("'{path}{name}' must be an array"));
                None
            }
        }
    }

    /// An object member.
    pub(crate) fn object<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &str,
        name: &str,
        required: bool,
    ) -> Option<&'a Map<String, Value>> {
        match obj.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.push(format!("'{path}{name}' is missing"));
                }
                None
            }
            Some(Value::Object(o)) => Some(o),
            Some(_) => {
                self.push(format!("'{path}{name}' must be an object"));
                None
            }
        }
    }
}

/// Whether the request declared a JSON body (`application/json`, any
/// parameters such as `charset`).
pub(crate) fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
        .unwrap_or(false)
}

/// Whether `s` looks like an absolute http(s) URL.
pub(crate) fn is_http_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://")) && s.len() > "https://".len()
}
