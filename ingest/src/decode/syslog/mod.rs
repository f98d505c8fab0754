//! Syslog lines, RFC 5424 and RFC 3164, told apart by the version digit
//! after `<PRI>`:
//!
//! ```text
//! <34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut="3"] message
//! <34>Oct 11 22:14:15 mymachine su[123]: message
//! ```
//!
//! The severity in PRI gives the level (emerg/alert/crit → `fatal`, err →
//! `error`, warning → `warn`, notice/info → `info`, debug → `debug`);
//! HOSTNAME → `host`, APP-NAME (the 3164 tag) → `service`. `facility`,
//! `procid` and `msgid` and every structured-data parameter
//! (`sd.<SD-ID>.<PARAM-NAME>`) go to `attributes`. A UTF-8 BOM before the
//! message is removed.
//!
//! RFC 3164 timestamps carry no year or zone: they are read as UTC in the
//! year of the receive time, or the year before when that would put them
//! more than 31 days after the receive time (a December line received in
//! January). rsyslog's forwarding format, a 3164 line with an RFC 3339
//! timestamp, is read too.

use chrono::{Datelike, NaiveDate};

use super::json::wrong_builder;
use super::time::parse_timestamp_str;
use super::{DecodeError, DecodeLimits, DecodeReason, Decoder};
use crate::builders::{Lineage, LogRow, LogsBuilder, TableBuilder};
use crate::catalog::Table;

/// Decodes syslog lines (RFC 5424 and RFC 3164).
#[derive(Debug, Clone)]
pub struct SyslogDecoder {
    limits: DecodeLimits,
}

impl SyslogDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Self {
        SyslogDecoder { limits }
    }
}

impl Decoder for SyslogDecoder {
    fn table(&self) -> Table {
        Table::Logs
    }

    fn format(&self) -> &'static str {
        "syslog"
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
        decode_line(record, lineage, self.limits.max_fields_per_row, b)
    }
}

fn syntax(detail: impl Into<String>) -> DecodeError {
    DecodeError::new(DecodeReason::InvalidSyntax, detail)
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

fn level_of(severity: u8) -> &'static str {
    match severity {
        0..=2 => "fatal",
        3 => "error",
        4 => "warn",
        5 | 6 => "info",
        _ => "debug",
    }
}

/// Attributes of the row being built, bounded by the limit.
struct Attrs<'b> {
    b: &'b mut LogsBuilder,
    max: usize,
}

impl Attrs<'_> {
    fn push(&mut self, k: &str, v: &str) -> Result<(), DecodeError> {
        if self.b.attributes.open_entries() >= self.max {
            return Err(DecodeError::new(
                DecodeReason::TooManyFields,
                format!("record has more than {} attributes", self.max),
            ));
        }
        self.b.attributes.push_entry(k, v);
        Ok(())
    }
}

/// A cursor over the line.
struct Cur<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cur<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.i..).unwrap_or("")
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    /// The next space-delimited token, which must be followed by a space
    /// unless `last`; `what` names it in errors.
    fn token(&mut self, what: &str) -> Result<&'a str, DecodeError> {
        let rest = self.rest();
        let end = rest.find(' ').unwrap_or(rest.len());
        if end == 0 {
            return Err(syntax(format!("missing {what}")));
        }
        let tok = &rest[..end];
        self.i += end;
        if self.peek() != Some(b' ') {
            return Err(syntax(format!("line ends after {what}")));
        }
        self.i += 1;
        Ok(tok)
    }
}

fn decode_line(
    record: &[u8],
    lineage: &Lineage<'_>,
    max_fields: usize,
    b: &mut LogsBuilder,
) -> Result<(), DecodeError> {
    let line = std::str::from_utf8(record).map_err(|e| {
        DecodeError::new(DecodeReason::InvalidUtf8, format!("line is not UTF-8: {e}"))
    })?;
    let line = line.trim_end_matches(['\r', '\n']);
    let mut c = Cur { s: line, i: 0 };

    // <PRI>
    if c.peek() != Some(b'<') {
        return Err(syntax("line does not start with `<PRI>`"));
    }
    let close = line
        .get(1..5.min(line.len()))
        .and_then(|s| s.find('>'))
        .ok_or_else(|| syntax("`<PRI>` is not closed by `>` within 3 digits"))?;
    let pri_str = &line[1..1 + close];
    if pri_str.is_empty() || !pri_str.bytes().all(|c| c.is_ascii_digit()) {
        return Err(syntax(format!("`<{pri_str}>` is not a priority")));
    }
    let pri: u16 = pri_str
        .parse()
        .map_err(|_| syntax(format!("`<{pri_str}>` is not a priority")))?;
    if pri > 191 {
        return Err(DecodeError::new(
            DecodeReason::InvalidValue,
            format!("priority {pri} is above 191"),
        ));
    }
    let facility = FACILITIES[usize::from(pri / 8)];
    let level = level_of((pri % 8) as u8);
    c.i = close + 2;

    let mut attrs = Attrs { b, max: max_fields };
    attrs.push("facility", facility)?;

    // RFC 5424 puts a version (1..=999) and a space after PRI.
    let rest = c.rest().as_bytes();
    let version_len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let is_5424 = (1..=3).contains(&version_len)
        && rest.get(version_len) == Some(&b' ')
        && rest.first() != Some(&b'0');
    if is_5424 {
        c.i += version_len + 1;
        decode_5424(c, lineage, level, attrs)
    } else {
        decode_3164(c, lineage, level, attrs)
    }
}

fn nil(tok: &str) -> Option<&str> {
    (tok != "-").then_some(tok)
}

fn strip_bom(msg: &str) -> &str {
    msg.strip_prefix('\u{feff}').unwrap_or(msg)
}

fn decode_5424(
    mut c: Cur<'_>,
    lineage: &Lineage<'_>,
    level: &'static str,
    mut attrs: Attrs<'_>,
) -> Result<(), DecodeError> {
    let ts = c.token("TIMESTAMP")?;
    let ts = match nil(ts) {
        Some(t) => parse_timestamp_str(t)?,
        None => lineage.received_ns,
    };
    let host = nil(c.token("HOSTNAME")?);
    let app = nil(c.token("APP-NAME")?);
    if let Some(p) = nil(c.token("PROCID")?) {
        attrs.push("procid", p)?;
    }
    if let Some(m) = nil(c.token("MSGID")?) {
        attrs.push("msgid", m)?;
    }
    // STRUCTURED-DATA: `-` or one or more `[id param="value" ...]`.
    let s = c.s.as_bytes();
    match c.peek() {
        Some(b'-') => c.i += 1,
        Some(b'[') => {
            let mut key = String::new();
            let mut value = String::new();
            while c.peek() == Some(b'[') {
                c.i += 1;
                let id_len = c
                    .rest()
                    .find([' ', ']', '=', '"'])
                    .ok_or_else(|| syntax("unterminated structured data"))?;
                if id_len == 0 {
                    return Err(syntax("structured data without an SD-ID"));
                }
                let id = &c.rest()[..id_len];
                c.i += id_len;
                loop {
                    match c.peek() {
                        Some(b']') => {
                            c.i += 1;
                            break;
                        }
                        Some(b' ') => c.i += 1,
                        _ => return Err(syntax(format!("malformed structured data `{id}`"))),
                    }
                    let name_len = c
                        .rest()
                        .find('=')
                        .ok_or_else(|| syntax(format!("parameter without `=` in `{id}`")))?;
                    let name = &c.rest()[..name_len];
                    if name.is_empty() || name.contains([' ', ']', '"']) {
                        return Err(syntax(format!("malformed parameter name in `{id}`")));
                    }
                    c.i += name_len + 1;
                    if c.peek() != Some(b'"') {
                        return Err(syntax(format!("unquoted value of `{id}.{name}`")));
                    }
                    c.i += 1;
                    value.clear();
                    // PARAM-VALUE: `\"`, `\\` and `\]` are escapes; any other
                    // backslash is kept.
                    loop {
                        let Some(&ch) = s.get(c.i) else {
                            return Err(syntax(format!("unterminated value of `{id}.{name}`")));
                        };
                        match ch {
                            b'"' => {
                                c.i += 1;
                                break;
                            }
                            b'\\' if matches!(s.get(c.i + 1), Some(b'"' | b'\\' | b']')) => {
                                value.push(char::from(s[c.i + 1]));
                                c.i += 2;
                            }
                            _ => {
                                let run = c.rest().find(['"', '\\']).unwrap_or(c.rest().len());
                                let run = run.max(1);
                                let part = c
                                    .rest()
                                    .get(..run)
                                    .ok_or_else(|| syntax("split inside a UTF-8 character"))?;
                                value.push_str(part);
                                c.i += run;
                            }
                        }
                    }
                    key.clear();
                    key.push_str("sd.");
                    key.push_str(id);
                    key.push('.');
                    key.push_str(name);
                    attrs.push(&key, &value)?;
                }
            }
        }
        _ => return Err(syntax("missing STRUCTURED-DATA")),
    }
    let msg = match c.peek() {
        None => "",
        Some(b' ') => strip_bom(c.s.get(c.i + 1..).unwrap_or("")),
        Some(_) => return Err(syntax("no space after STRUCTURED-DATA")),
    };
    let row = LogRow {
        ts,
        service: app,
        host,
        env: None,
        version: None,
        level,
        message: msg,
        trace_id: None,
    };
    attrs.b.push(&row, lineage);
    Ok(())
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn bad_ts(t: &str) -> DecodeError {
    DecodeError::new(
        DecodeReason::InvalidTimestamp,
        format!("`{t}` is not an RFC 3164 timestamp (`Mmm dd hh:mm:ss`)"),
    )
}

/// `Mmm dd hh:mm:ss` (day space-padded) in the year of `received_ns`.
fn parse_3164_ts(t: &str, received_ns: i64) -> Result<i64, DecodeError> {
    let b = t.as_bytes();
    if b.len() != 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return Err(bad_ts(t));
    }
    let month = MONTHS
        .iter()
        .position(|m| m.as_bytes() == &b[..3])
        .ok_or_else(|| bad_ts(t))? as u32
        + 1;
    let num = |r: std::ops::Range<usize>| -> Result<u32, DecodeError> {
        t.get(r)
            .map(str::trim_start)
            .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_ts(t))
    };
    let (day, h, m, s) = (num(4..6)?, num(7..9)?, num(10..12)?, num(13..15)?);
    let received = chrono::DateTime::from_timestamp_nanos(received_ns);
    let at = |year: i32| -> Result<i64, DecodeError> {
        NaiveDate::from_ymd_opt(year, month, day)
            .and_then(|d| d.and_hms_opt(h, m, s))
            .and_then(|dt| dt.and_utc().timestamp_nanos_opt())
            .ok_or_else(|| bad_ts(t))
    };
    let ts = at(received.year())?;
    const MONTH_NS: i64 = 31 * 86_400 * 1_000_000_000;
    if ts > received_ns.saturating_add(MONTH_NS) {
        // The year turned between writing and receiving.
        if let Ok(earlier) = at(received.year() - 1) {
            return Ok(earlier);
        }
    }
    Ok(ts)
}

fn decode_3164(
    mut c: Cur<'_>,
    lineage: &Lineage<'_>,
    level: &'static str,
    mut attrs: Attrs<'_>,
) -> Result<(), DecodeError> {
    let rest = c.rest();
    let ts = if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        // rsyslog's RSYSLOG_ForwardFormat: an RFC 3339 timestamp.
        parse_timestamp_str(c.token("TIMESTAMP")?)?
    } else {
        let t = rest.get(..15).ok_or_else(|| bad_ts(rest))?;
        let ts = parse_3164_ts(t, lineage.received_ns)?;
        c.i += 15;
        if c.peek() != Some(b' ') {
            return Err(syntax("line ends after TIMESTAMP"));
        }
        c.i += 1;
        ts
    };
    let host = c.token("HOSTNAME")?;
    // TAG: app-name, optionally `[pid]`, then `:`; the message follows.
    let rest = c.rest();
    let tag_end = rest.find([' ', '[', ':']).unwrap_or(rest.len());
    let mut service = None;
    let mut msg = rest;
    if tag_end > 0 && tag_end <= 32 {
        let after = &rest[tag_end..];
        let (pid, after) = match after.strip_prefix('[') {
            Some(a) => match a.find(']') {
                Some(close) => (Some(&a[..close]), &a[close + 1..]),
                None => return Err(syntax("`[` of the PID is not closed")),
            },
            None => (None, after),
        };
        if let Some(after) = after.strip_prefix(':') {
            service = Some(&rest[..tag_end]);
            if let Some(pid) = pid {
                attrs.push("procid", pid)?;
            }
            msg = after.strip_prefix(' ').unwrap_or(after);
        } else if pid.is_some() {
            service = Some(&rest[..tag_end]);
            if let Some(pid) = pid {
                attrs.push("procid", pid)?;
            }
            msg = after.strip_prefix(' ').unwrap_or(after);
        }
        // Otherwise there is no tag: the whole rest is the message.
    }
    let row = LogRow {
        ts,
        service,
        host: nil(host),
        env: None,
        version: None,
        level,
        message: strip_bom(msg),
        trace_id: None,
    };
    attrs.b.push(&row, lineage);
    Ok(())
}

#[cfg(test)]
mod tests;
