//! The [`Decision`]: what a processor concluded and what should happen next.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::error::ArrowError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use tocsin_ingest::Table;

/// What a decision is about. Sinks route on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Something is wrong with a service: page someone.
    Incident,
    /// A resource is forecast to reach its limit: add capacity.
    Scale,
    /// A resource is larger than its demand: shrink it.
    Rightsize,
    /// A resource sees no use: remove it.
    Idle,
    /// A release passed its comparison: send it all traffic.
    Promote,
    /// A comparison is not conclusive yet (or lacks data): keep the
    /// rollout where it is.
    Hold,
    /// A release is worse than its baseline: roll it back.
    Rollback,
    /// A feature-flag change made things worse: turn the flag off.
    FlagDisable,
    /// A vulnerability finding needs patching (`target` is the scanned
    /// artifact; one `dedup_key` per (target, CVE)).
    Patch,
}

impl DecisionKind {
    /// The name used in the lake and in payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Incident => "incident",
            DecisionKind::Scale => "scale",
            DecisionKind::Rightsize => "rightsize",
            DecisionKind::Idle => "idle",
            DecisionKind::Promote => "promote",
            DecisionKind::Hold => "hold",
            DecisionKind::Rollback => "rollback",
            DecisionKind::FlagDisable => "flag_disable",
            DecisionKind::Patch => "patch",
        }
    }
}

/// Where the decision stands in its lifecycle; one `dedup_key` goes from
/// `open` through any `update`s to `resolve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionAction {
    /// First emission: start paging.
    Open,
    /// New evidence for an open decision.
    Update,
    /// The condition is over.
    Resolve,
}

impl DecisionAction {
    /// The name used in the lake and in payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionAction::Open => "open",
            DecisionAction::Update => "update",
            DecisionAction::Resolve => "resolve",
        }
    }
}

/// How urgent the decision is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record.
    Info,
    /// Look at it soon.
    Warning,
    /// Act now.
    Error,
    /// Act now; users are affected badly.
    Critical,
}

impl Severity {
    /// The name used in the lake and in payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// A decision emitted by a processor.
///
/// Serialised as JSON for the decisions topic and webhooks; stored as a row of
/// the `decisions` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Event time the decision refers to (the end of the evaluated window).
    #[serde(with = "rfc3339_ns")]
    pub ts: i64,
    /// Unique id of this emission: derived from `dedup_key` and `action`.
    pub id: String,
    /// What the decision is about.
    pub kind: DecisionKind,
    /// Lifecycle step.
    pub action: DecisionAction,
    /// What it applies to (a service, a release, a resource).
    pub target: String,
    /// How urgent it is.
    pub severity: Severity,
    /// One human sentence saying why.
    pub reason: String,
    /// The figures behind it.
    pub evidence: serde_json::Value,
    /// A query over the lake that reproduces the evidence.
    pub evidence_sql: String,
    /// Stable across replays and across the lifecycle; sinks deduplicate on it.
    pub dedup_key: String,
    /// How sure the processor is, in [0, 1].
    pub confidence: f64,
    /// The processor that emitted it.
    pub processor: String,
}

impl Decision {
    /// The id of the emission of `action` for `dedup_key`.
    pub fn make_id(dedup_key: &str, action: DecisionAction) -> String {
        format!("{dedup_key}#{}", action.as_str())
    }
}

/// Serialises ns-since-epoch as an RFC 3339 string with nanoseconds.
mod rfc3339_ns {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_ts(*ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        let dt = DateTime::parse_from_rfc3339(&s).map_err(serde::de::Error::custom)?;
        dt.timestamp_nanos_opt()
            .ok_or_else(|| serde::de::Error::custom("timestamp out of range"))
    }
}

/// RFC 3339 with nanoseconds, UTC (`2026-11-26T08:30:00.000000000Z`).
pub fn format_ts(ts_ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ts_ns).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The decisions as a batch of the `decisions` table.
pub fn decisions_to_batch(decisions: &[Decision]) -> Result<RecordBatch, ArrowError> {
    let strings = |f: &dyn Fn(&Decision) -> &str| -> ArrayRef {
        Arc::new(
            decisions
                .iter()
                .map(|d| Some(f(d)))
                .collect::<StringArray>(),
        )
    };
    let evidence: Vec<String> = decisions.iter().map(|d| d.evidence.to_string()).collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampNanosecondArray::from(decisions.iter().map(|d| d.ts).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        strings(&|d| &d.id),
        strings(&|d| d.kind.as_str()),
        strings(&|d| d.action.as_str()),
        strings(&|d| &d.target),
        strings(&|d| d.severity.as_str()),
        strings(&|d| &d.reason),
        Arc::new(StringArray::from(evidence)),
        strings(&|d| &d.evidence_sql),
        strings(&|d| &d.dedup_key),
        Arc::new(Float64Array::from(
            decisions.iter().map(|d| d.confidence).collect::<Vec<_>>(),
        )),
        strings(&|d| &d.processor),
    ];
    RecordBatch::try_new(Table::Decisions.schema(), cols)
}

/// Reads `decisions` rows back into decisions: the inverse of
/// [`decisions_to_batch`], used by sinks that take the lake's decisions table
/// as their outbox. Evidence that is not JSON is kept as a JSON string.
pub fn decisions_from_batch(batch: &RecordBatch) -> Result<Vec<Decision>, ArrowError> {
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| ArrowError::SchemaError(format!("decisions: no column `{name}`")))
    };
    let strings = |name: &str| -> Result<&StringArray, ArrowError> {
        col(name)?
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| ArrowError::SchemaError(format!("decisions: `{name}` is not Utf8")))
    };
    let ts = col("ts")?
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .ok_or_else(|| ArrowError::SchemaError("decisions: `ts` is not a timestamp".into()))?;
    let confidence = col("confidence")?
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| ArrowError::SchemaError("decisions: `confidence` is not Float64".into()))?;
    let (id, kind, action, target, severity, reason, evidence, evidence_sql, dedup_key, processor) = (
        strings("id")?,
        strings("kind")?,
        strings("action")?,
        strings("target")?,
        strings("severity")?,
        strings("reason")?,
        strings("evidence")?,
        strings("evidence_sql")?,
        strings("dedup_key")?,
        strings("processor")?,
    );
    fn named<T: serde::de::DeserializeOwned>(what: &str, v: &str) -> Result<T, ArrowError> {
        serde_json::from_value(serde_json::Value::String(v.to_owned()))
            .map_err(|_| ArrowError::ParseError(format!("decisions: unknown {what} `{v}`")))
    }
    (0..batch.num_rows())
        .map(|i| {
            let ev = evidence.value(i);
            Ok(Decision {
                ts: ts.value(i),
                id: id.value(i).to_owned(),
                kind: named("kind", kind.value(i))?,
                action: named("action", action.value(i))?,
                target: target.value(i).to_owned(),
                severity: named("severity", severity.value(i))?,
                reason: reason.value(i).to_owned(),
                evidence: serde_json::from_str(ev)
                    .unwrap_or_else(|_| serde_json::Value::String(ev.to_owned())),
                evidence_sql: evidence_sql.value(i).to_owned(),
                dedup_key: dedup_key.value(i).to_owned(),
                confidence: confidence.value(i),
                processor: processor.value(i).to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Decision {
        Decision {
            ts: 1_795_681_800_000_000_000,
            id: Decision::make_id("k", DecisionAction::Open),
            kind: DecisionKind::Incident,
            action: DecisionAction::Open,
            target: "checkout".into(),
            severity: Severity::Critical,
            reason: "r".into(),
            evidence: serde_json::json!({"rate": 0.5}),
            evidence_sql: "SELECT 1".into(),
            dedup_key: "k".into(),
            confidence: 0.99,
            processor: "error_rate".into(),
        }
    }

    #[test]
    fn batch_round_trip() {
        let mut other = sample();
        other.kind = DecisionKind::Patch;
        other.action = DecisionAction::Resolve;
        other.evidence = serde_json::json!({"cve": "CVE-2026-1"});
        let batch = decisions_to_batch(&[sample(), other.clone()]).unwrap();
        assert_eq!(decisions_from_batch(&batch).unwrap(), vec![sample(), other]);
    }

    #[test]
    fn json_round_trip_with_readable_time() {
        let d = sample();
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["ts"], "2026-11-26T08:30:00.000000000Z");
        assert_eq!(json["kind"], "incident");
        assert_eq!(json["action"], "open");
        assert_eq!(json["id"], "k#open");
        let back: Decision = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn batch_matches_the_catalog() {
        let b = decisions_to_batch(&[sample(), sample()]).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.schema(), Table::Decisions.schema());
    }
}
