//! Metric samples in InfluxDB line protocol, as Telegraf writes them with
//! `data_format = "influx"`:
//!
//! ```text
//! cpu,host=web-1,cpu=cpu0 usage_user=12.5,usage_idle=80i,ok=true 1795681800000000000
//! ```
//!
//! Each numeric or boolean field becomes one `gauge` row named
//! `<measurement>_<field>` (Telegraf's Prometheus naming; a field called
//! `value` gives just `<measurement>`). Integers (`3i`) and unsigned integers
//! (`3u`) become floats, booleans 1/0. String fields (`msg="x"`) are
//! validated and skipped: they are neither rows nor labels. Tags become
//! labels, except `host` and `service`, which fill the columns of those
//! names. The timestamp is in nanoseconds (Telegraf's default precision);
//! without one the receive time is used. Lines starting with `#` are comments.
//!
//! The parser is hand-written over bytes: the line is checked to be UTF-8
//! once, the tag section is scanned once to validate it and then re-read for
//! each row (no allocation unless a key or value holds escapes), and field
//! values are parsed as the rows are pushed; an error part way rolls the
//! message back in [`decode_message`](super::decode_message).

use std::borrow::Cow;

use super::json::wrong_builder;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, MetricRow, MetricsBuilder, TableBuilder};
use crate::catalog::Table;

/// Decodes InfluxDB line protocol.
#[derive(Debug, Clone)]
pub struct InfluxDecoder {
    limits: DecodeLimits,
}

impl InfluxDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Self {
        InfluxDecoder { limits }
    }
}

impl Decoder for InfluxDecoder {
    fn table(&self) -> Table {
        Table::Metrics
    }

    fn format(&self) -> &'static str {
        "influx"
    }

    fn decode_record(
        &self,
        record: &[u8],
        lineage: &Lineage<'_>,
        out: &mut TableBuilder,
    ) -> Result<(), DecodeError> {
        let TableBuilder::Metrics(b) = out else {
            return Err(wrong_builder("metrics"));
        };
        decode_line(record, lineage, self.limits.max_fields_per_row, b)
    }
}

fn syntax(detail: impl Into<String>) -> DecodeError {
    DecodeError::new(DecodeReason::InvalidSyntax, detail)
}

/// Index of the first byte at or after `i` that is one of `stops` and not
/// escaped by a backslash; `s.len()` when there is none.
#[inline]
fn scan(s: &[u8], mut i: usize, stops: impl Fn(u8) -> bool) -> usize {
    while i < s.len() {
        let c = s[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if stops(c) {
            return i;
        }
        i += 1;
    }
    s.len()
}

/// Removes the backslash before any of `escaped`; other backslashes stay.
#[inline]
fn unescape<'a>(s: &'a str, escaped: &[u8]) -> Cow<'a, str> {
    if !s.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && n.is_ascii()
            && escaped.contains(&(n as u8))
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

const KEY_ESCAPES: &[u8] = b", =";
const MEASUREMENT_ESCAPES: &[u8] = b", ";

/// `s[a..b]`, which is always on character boundaries here (the parser only
/// splits at ASCII bytes); checked anyway rather than trusted.
#[inline]
fn sub(s: &str, a: usize, b: usize) -> Result<&str, DecodeError> {
    s.get(a..b)
        .ok_or_else(|| syntax("split inside a UTF-8 character"))
}

/// Iterates over a validated tag section (`k=v,k2=v2`) as raw slices.
struct Tags<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Iterator for Tags<'a> {
    type Item = (&'a str, &'a str);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.s.as_bytes();
        if self.pos >= b.len() {
            return None;
        }
        let eq = scan(b, self.pos, |c| c == b'=' || c == b',');
        let end = scan(b, eq + 1, |c| c == b',');
        let k = self.s.get(self.pos..eq)?;
        let v = self.s.get(eq + 1..end.max(eq + 1))?;
        self.pos = end + 1;
        Some((k, v))
    }
}

fn decode_line(
    record: &[u8],
    lineage: &Lineage<'_>,
    max_labels: usize,
    b: &mut MetricsBuilder,
) -> Result<(), DecodeError> {
    let line = std::str::from_utf8(record).map_err(|e| {
        DecodeError::new(DecodeReason::InvalidUtf8, format!("line is not UTF-8: {e}"))
    })?;
    let line = line
        .trim_start_matches([' ', '\t'])
        .trim_end_matches([' ', '\t', '\r']);
    let s = line.as_bytes();
    if s.is_empty() || s[0] == b'#' {
        return Ok(());
    }

    // Measurement, up to an unescaped comma or space.
    let m_end = scan(s, 0, |c| c == b',' || c == b' ');
    if m_end == 0 {
        return Err(DecodeError::new(
            DecodeReason::MissingField,
            "line starts without a measurement name",
        ));
    }
    if m_end >= s.len() {
        return Err(DecodeError::new(
            DecodeReason::MissingField,
            "line has a measurement but no fields",
        ));
    }
    let measurement = unescape(sub(line, 0, m_end)?, MEASUREMENT_ESCAPES);

    // Tags: validated and counted here, re-read for each row below.
    let mut host: Option<Cow<'_, str>> = None;
    let mut service: Option<Cow<'_, str>> = None;
    let mut labels = 0usize;
    let mut i = m_end;
    let tags_start = i + 1;
    while s.get(i) == Some(&b',') {
        let k_start = i + 1;
        let eq = scan(s, k_start, |c| c == b'=' || c == b',' || c == b' ');
        if eq >= s.len() || s[eq] != b'=' {
            return Err(syntax(format!("tag without `=` at byte {k_start}")));
        }
        if eq == k_start {
            return Err(syntax(format!("empty tag key at byte {k_start}")));
        }
        let v_end = scan(s, eq + 1, |c| c == b',' || c == b' ' || c == b'=');
        if v_end < s.len() && s[v_end] == b'=' {
            return Err(syntax(format!(
                "unescaped `=` in tag value at byte {v_end}"
            )));
        }
        if v_end == eq + 1 {
            return Err(syntax(format!("empty tag value at byte {}", eq + 1)));
        }
        if v_end >= s.len() {
            return Err(DecodeError::new(
                DecodeReason::MissingField,
                "line has tags but no fields",
            ));
        }
        match sub(line, k_start, eq)? {
            "host" if host.is_none() => {
                host = Some(unescape(sub(line, eq + 1, v_end)?, KEY_ESCAPES))
            }
            "service" if service.is_none() => {
                service = Some(unescape(sub(line, eq + 1, v_end)?, KEY_ESCAPES))
            }
            _ => labels += 1,
        }
        i = v_end;
    }
    let tags = if i > m_end {
        sub(line, tags_start, i)?
    } else {
        ""
    };
    if labels > max_labels {
        return Err(DecodeError::new(
            DecodeReason::TooManyFields,
            format!("line has {labels} tags, more than the limit of {max_labels}"),
        ));
    }
    // Exactly one space separates the sections in the spec; tolerate more.
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    let fields_start = i;

    // The end of the field set: the first unescaped space outside quotes.
    let mut j = fields_start;
    let mut in_str = false;
    while j < s.len() {
        match s[j] {
            b'\\' => j += 1,
            b'"' => in_str = !in_str,
            b' ' if !in_str => break,
            _ => {}
        }
        j += 1;
    }
    if in_str {
        return Err(syntax("unterminated string field value"));
    }
    let fields_end = j.min(s.len());
    if fields_end == fields_start {
        return Err(DecodeError::new(
            DecodeReason::MissingField,
            "line has no fields",
        ));
    }
    let ts = match line.get(fields_end..).map(|t| t.trim_start_matches(' ')) {
        Some(t) if !t.is_empty() => parse_ts(t)?,
        _ => lineage.received_ns,
    };

    // Fields: one row per numeric or boolean field.
    let mut name = String::with_capacity(measurement.len() + 24);
    let mut k = fields_start;
    loop {
        let eq = scan(s, k, |c| c == b'=' || c == b',' || c == b' ');
        if eq >= fields_end || s[eq] != b'=' {
            return Err(syntax(format!("field without `=` at byte {k}")));
        }
        if eq == k {
            return Err(syntax(format!("empty field key at byte {k}")));
        }
        let v_start = eq + 1;
        let (value, v_end) = if s.get(v_start) == Some(&b'"') {
            // A string: skipped, but must be well-formed.
            let mut e = v_start + 1;
            loop {
                match s.get(e) {
                    Some(b'\\') => e += 2,
                    Some(b'"') => break,
                    Some(_) => e += 1,
                    None => return Err(syntax("unterminated string field value")),
                }
            }
            if e + 1 > fields_end {
                return Err(syntax("unterminated string field value"));
            }
            (None, e + 1)
        } else {
            let v_end = scan(s, v_start, |c| c == b',' || c == b' ').min(fields_end);
            (Some(parse_value(sub(line, v_start, v_end)?)?), v_end)
        };
        if let Some(value) = value {
            let key = unescape(sub(line, k, eq)?, KEY_ESCAPES);
            name.clear();
            name.push_str(&measurement);
            if key != "value" {
                name.push('_');
                name.push_str(&key);
            }
            push_row(b, &name, value, ts, tags, &host, &service, lineage);
        }
        if v_end >= fields_end {
            break;
        }
        if s[v_end] != b',' {
            return Err(syntax(format!(
                "expected `,` between fields at byte {v_end}"
            )));
        }
        k = v_end + 1;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn push_row(
    b: &mut MetricsBuilder,
    name: &str,
    value: f64,
    ts: i64,
    tags: &str,
    host: &Option<Cow<'_, str>>,
    service: &Option<Cow<'_, str>>,
    lineage: &Lineage<'_>,
) {
    let mut seen_host = false;
    let mut seen_service = false;
    for (k, v) in (Tags { s: tags, pos: 0 }) {
        // The first `host`/`service` tag went to its column; repeats are labels.
        match k {
            "host" if host.is_some() && !seen_host => {
                seen_host = true;
                continue;
            }
            "service" if service.is_some() && !seen_service => {
                seen_service = true;
                continue;
            }
            _ => {}
        }
        b.labels
            .push_entry(&unescape(k, KEY_ESCAPES), &unescape(v, KEY_ESCAPES));
    }
    let row = MetricRow {
        ts,
        name,
        value,
        kind: "gauge",
        service: service.as_deref(),
        host: host.as_deref(),
        env: None,
        version: None,
    };
    b.push(&row, lineage);
}

/// A field value: float, `<int>i`, `<uint>u`, or a boolean.
#[inline]
fn parse_value(v: &str) -> Result<f64, DecodeError> {
    let bytes = v.as_bytes();
    let invalid = || {
        DecodeError::new(
            DecodeReason::InvalidValue,
            format!("`{}` is not a line-protocol field value", truncate(v)),
        )
    };
    let Some(&last) = bytes.last() else {
        return Err(syntax("field without a value"));
    };
    match last {
        b'i' => {
            let n: i64 = v[..v.len() - 1].parse().map_err(|_| invalid())?;
            Ok(n as f64)
        }
        b'u' => {
            let n: u64 = v[..v.len() - 1].parse().map_err(|_| invalid())?;
            Ok(n as f64)
        }
        _ => match v {
            "t" | "T" | "true" | "True" | "TRUE" => Ok(1.0),
            "f" | "F" | "false" | "False" | "FALSE" => Ok(0.0),
            _ => {
                // Rust also reads `inf`/`NaN`; line protocol does not.
                if !bytes
                    .iter()
                    .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E'))
                {
                    return Err(invalid());
                }
                let f: f64 = v.parse().map_err(|_| invalid())?;
                if f.is_finite() { Ok(f) } else { Err(invalid()) }
            }
        },
    }
}

fn parse_ts(t: &str) -> Result<i64, DecodeError> {
    t.parse::<i64>().map_err(|_| {
        DecodeError::new(
            DecodeReason::InvalidTimestamp,
            format!(
                "`{}` is not a timestamp in nanoseconds since the epoch",
                truncate(t)
            ),
        )
    })
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests;
