//! Input alerts and the JSON-lines alert stream interchange format.

use std::io::BufRead;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StreamError;
use crate::matcher::Labels;

/// Whether an incoming alert is firing or resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The condition holds.
    Firing,
    /// The condition cleared.
    Resolved,
}

/// One received alert (a Prometheus/Alertmanager-style push), at event time `ts_ns`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// When the alert was received, ns since epoch (event time; drives all timers).
    pub ts_ns: i64,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// Identifying labels.
    pub labels: Labels,
    /// Descriptive annotations (not part of identity).
    pub annotations: Labels,
    /// When the condition started, if the sender knows.
    pub starts_at_ns: Option<i64>,
    /// When the sender considers the alert over; a firing alert with no end expires after
    /// the lifecycle's `resolve_timeout`.
    pub ends_at_ns: Option<i64>,
}

/// One line of an alert stream file (RFC 3339 times).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Event time.
    pub ts: String,
    /// `firing` or `resolved`.
    pub status: AlertStatus,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Annotations.
    #[serde(default)]
    pub annotations: Labels,
    /// Start time or null.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// End time or null.
    #[serde(default)]
    pub ends_at: Option<String>,
}

/// Parses an RFC 3339 timestamp into ns since epoch.
pub fn parse_rfc3339_ns(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|d| d.timestamp_nanos_opt())
}

/// Formats ns since epoch as RFC 3339 UTC (`Z`), seconds with automatic sub-second digits.
pub fn format_rfc3339_ns(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl AlertRecord {
    /// Converts to an [`AlertEvent`]; an error names a timestamp that does not parse.
    pub fn to_event(&self) -> Result<AlertEvent, String> {
        let ts_ns = parse_rfc3339_ns(&self.ts).ok_or_else(|| format!("bad ts {:?}", self.ts))?;
        let opt = |o: &Option<String>| -> Result<Option<i64>, String> {
            match o.as_deref() {
                None | Some("") => Ok(None),
                Some(s) => parse_rfc3339_ns(s)
                    .map(Some)
                    .ok_or_else(|| format!("bad time {s:?}")),
            }
        };
        Ok(AlertEvent {
            ts_ns,
            status: self.status,
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            starts_at_ns: opt(&self.starts_at)?,
            ends_at_ns: opt(&self.ends_at)?,
        })
    }

    /// The record form of an event.
    pub fn from_event(ev: &AlertEvent) -> Self {
        Self {
            ts: format_rfc3339_ns(ev.ts_ns),
            status: ev.status,
            labels: ev.labels.clone(),
            annotations: ev.annotations.clone(),
            starts_at: ev.starts_at_ns.map(format_rfc3339_ns),
            ends_at: ev.ends_at_ns.map(format_rfc3339_ns),
        }
    }
}

/// Reads a JSON-lines alert stream (blank lines skipped).
pub fn read_alert_stream<R: BufRead>(reader: R) -> Result<Vec<AlertEvent>, StreamError> {
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: AlertRecord = serde_json::from_str(&line).map_err(|e| StreamError::Line {
            line: i + 1,
            reason: e.to_string(),
        })?;
        out.push(rec.to_event().map_err(|reason| StreamError::Line {
            line: i + 1,
            reason,
        })?);
    }
    Ok(out)
}

/// One JSON line for an event (no trailing newline).
pub fn alert_stream_line(ev: &AlertEvent) -> String {
    serde_json::to_string(&AlertRecord::from_event(ev)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_interchange_lines() {
        let text = r#"{"ts":"2026-11-26T10:00:00Z","status":"firing","labels":{"alertname":"HighErrorRate","service":"checkout","severity":"critical"},"annotations":{"summary":"x"},"starts_at":"2026-11-26T10:00:00Z","ends_at":null}

{"ts":"2026-11-26T10:05:00.5Z","status":"resolved","labels":{"alertname":"HighErrorRate"},"annotations":{},"starts_at":null,"ends_at":"2026-11-26T10:05:00Z"}
"#;
        let evs = read_alert_stream(text.as_bytes()).unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].status, AlertStatus::Firing);
        assert_eq!(evs[0].starts_at_ns, Some(evs[0].ts_ns));
        assert_eq!(evs[1].ts_ns - evs[0].ts_ns, 300_500_000_000);
        assert_eq!(evs[1].ends_at_ns, Some(evs[0].ts_ns + 300_000_000_000));
        let line = alert_stream_line(&evs[1]);
        let back = read_alert_stream(line.as_bytes()).unwrap();
        assert_eq!(back[0], evs[1]);
    }

    #[test]
    fn reports_bad_line_number() {
        let text = "{\"ts\":\"2026-11-26T10:00:00Z\",\"status\":\"firing\"}\n{\"ts\":\"nope\",\"status\":\"firing\"}\n";
        match read_alert_stream(text.as_bytes()) {
            Err(StreamError::Line { line, .. }) => assert_eq!(line, 2),
            other => panic!("unexpected {other:?}"),
        }
    }
}
