//! What processors emit besides their state: decisions, alerts they raise,
//! and rows of derived tables.
//!
//! Derived rows are written to the lake like ingested ones, as the segment of
//! the pseudo-source [`DERIVED_SOURCE`] whose offset is the flush epoch, so a
//! crash before a flush completes removes them together with the decisions.

use std::borrow::Cow;
use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use tocsin_ingest::builders::{AlertRow, AlertsBuilder, LogPatternRow, LogPatternsBuilder};
use tocsin_ingest::{Lineage, label_fingerprint};

use crate::Decision;

/// The pseudo-source of every row a processor derives (decisions, raised
/// alerts, pattern rows); its "offset" is the flush epoch.
pub const DERIVED_SOURCE: &str = "_derived";

/// The segment of [`DERIVED_SOURCE`] rows are attributed to: one per flush
/// of one pipeline task. The partition is the task's (0 for a pipeline
/// that owns all its input), since tasks flush with epochs of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerivedSegment {
    /// The task's partition number.
    pub partition: i32,
    /// The flush epoch.
    pub epoch: u64,
}

/// Everything a processor call produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Output {
    /// Decisions, in emission order.
    pub decisions: Vec<Decision>,
    /// Alerts raised (they join the `alerts` table and feed alert processors).
    pub alerts: Vec<RaisedAlert>,
    /// Rows of the `log_patterns` table.
    pub log_patterns: Vec<PatternUpdate>,
    /// Rows of the `incidents` table.
    pub incidents: Vec<IncidentRow>,
}

impl Output {
    /// Whether nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty()
            && self.alerts.is_empty()
            && self.log_patterns.is_empty()
            && self.incidents.is_empty()
    }

    /// Moves everything from `other` to the end of `self`.
    pub fn append(&mut self, other: &mut Output) {
        self.decisions.append(&mut other.decisions);
        self.alerts.append(&mut other.alerts);
        self.log_patterns.append(&mut other.log_patterns);
        self.incidents.append(&mut other.incidents);
    }
}

/// One lifecycle step of an incident: a row of the `incidents` table.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    /// Event time of the step.
    pub ts: i64,
    /// Incident id.
    pub id: String,
    /// `open`, `update` or `resolve`.
    pub action: &'static str,
    /// When the incident opened.
    pub opened_at: i64,
    /// When it resolved, once it has.
    pub resolved_at: Option<i64>,
    /// `P1` (worst) to `P4`.
    pub severity: &'static str,
    /// Generated title.
    pub title: String,
    /// Services implicated.
    pub services: Vec<String>,
    /// Member alerts so far.
    pub alert_count: i64,
    /// `open` or `resolved`.
    pub status: &'static str,
    /// Id of the change suspected to have caused it.
    pub suspected_change: Option<String>,
    /// The service ranked most likely to be the cause.
    pub root_cause: Option<String>,
    /// Timeline and ranked causes, as JSON.
    pub details: String,
    /// The dedup key its decisions carry.
    pub dedup_key: String,
}

/// Incident rows as a batch of the `incidents` table.
pub fn incidents_to_batch(rows: &[IncidentRow]) -> Result<RecordBatch, ArrowError> {
    use arrow::array::{
        ArrayRef, Int64Array, ListBuilder, StringArray, StringBuilder, TimestampNanosecondArray,
    };
    use std::sync::Arc;
    let ts = |f: &dyn Fn(&IncidentRow) -> Option<i64>| -> ArrayRef {
        Arc::new(
            TimestampNanosecondArray::from(rows.iter().map(f).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    let text = |f: &dyn Fn(&IncidentRow) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let mut services = ListBuilder::new(StringBuilder::new());
    for r in rows {
        for s in &r.services {
            services.values().append_value(s);
        }
        services.append(true);
    }
    let schema = tocsin_ingest::Table::Incidents.schema();
    let services = services.finish();
    // The builder names its item field `item` and makes it nullable, as the
    // catalog declares; rebuilding with the catalog's field keeps the two
    // identical even if the builder's defaults change.
    let list_field = match schema.field_with_name("services")?.data_type() {
        arrow::datatypes::DataType::List(f) => f.clone(),
        other => {
            return Err(ArrowError::SchemaError(format!(
                "incidents.services is {other}, expected a list"
            )));
        }
    };
    let (_, offsets, values, nulls) = services.into_parts();
    let services = arrow::array::ListArray::try_new(list_field, offsets, values, nulls)?;
    let cols: Vec<ArrayRef> = vec![
        ts(&|r| Some(r.ts)),
        text(&|r| Some(&r.id)),
        text(&|r| Some(r.action)),
        ts(&|r| Some(r.opened_at)),
        ts(&|r| r.resolved_at),
        text(&|r| Some(r.severity)),
        text(&|r| Some(&r.title)),
        Arc::new(services),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.alert_count).collect::<Vec<_>>(),
        )),
        text(&|r| Some(r.status)),
        text(&|r| r.suspected_change.as_deref()),
        text(&|r| r.root_cause.as_deref()),
        text(&|r| Some(&r.details)),
        text(&|r| Some(&r.dedup_key)),
    ];
    RecordBatch::try_new(schema, cols)
}

/// Whether a raised alert is firing or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    /// The condition holds.
    Firing,
    /// The condition is over.
    Resolved,
}

impl AlertStatus {
    /// The `status` column value, as Alertmanager spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// An alert raised by a processor (an anomaly, a new log pattern).
#[derive(Debug, Clone, PartialEq)]
pub struct RaisedAlert {
    /// Event time of the change of state.
    pub ts: i64,
    /// Alert name.
    pub alertname: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// The service the alert is about.
    pub service: Option<String>,
    /// Identifying labels; with `alertname` they make the fingerprint.
    pub labels: BTreeMap<String, String>,
    /// Descriptive annotations (summary, template, example, figures).
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: i64,
    /// When it resolved.
    pub ends_at: Option<i64>,
    /// The raising component, e.g. `tocsin.anomaly`.
    pub source: &'static str,
}

impl RaisedAlert {
    /// Prometheus's fingerprint of the labels including `alertname`, so one
    /// alert keeps one fingerprint from firing to resolved.
    pub fn fingerprint(&self) -> String {
        let mut labels: Vec<(Cow<'_, str>, Cow<'_, str>)> = self
            .labels
            .iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
            .collect();
        if !self.labels.contains_key("alertname") {
            labels.push((
                Cow::Borrowed("alertname"),
                Cow::Borrowed(self.alertname.as_str()),
            ));
        }
        label_fingerprint(&labels)
    }
}

/// A pattern's state at a flush: one row of `log_patterns`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternUpdate {
    /// Pattern id (the value of `logs.pattern_id`).
    pub id: String,
    /// Service the pattern belongs to.
    pub service: String,
    /// Template with `<*>` for variables.
    pub template: String,
    /// Event time of the first matching line.
    pub first_seen: i64,
    /// Event time of the latest matching line.
    pub last_seen: i64,
    /// Lines matched in total.
    pub count: i64,
    /// Lines matched since the previous row of this pattern.
    pub new_lines: i64,
    /// A line that matched.
    pub example: String,
}

fn derived_lineage(at: DerivedSegment) -> Lineage<'static> {
    Lineage {
        topic: DERIVED_SOURCE,
        partition: at.partition,
        offset: at.epoch as i64,
        received_ns: 0,
    }
}

/// The `alerts` rows of raised alerts, attributed to the derived segment `at`.
pub fn alerts_to_batch(
    alerts: &[RaisedAlert],
    at: DerivedSegment,
) -> Result<RecordBatch, ArrowError> {
    let lineage = derived_lineage(at);
    let mut b = AlertsBuilder::new();
    for a in alerts {
        for (k, v) in &a.labels {
            b.labels.push_entry(k, v);
        }
        for (k, v) in &a.annotations {
            b.annotations.push_entry(k, v);
        }
        let fingerprint = a.fingerprint();
        b.push(
            &AlertRow {
                ts: a.ts,
                fingerprint: &fingerprint,
                alertname: &a.alertname,
                status: a.status.as_str(),
                severity: Some(&a.severity),
                service: a.service.as_deref(),
                starts_at: Some(a.starts_at),
                ends_at: a.ends_at,
                source: a.source,
            },
            &lineage,
        );
    }
    b.finish()
}

/// The `log_patterns` rows of pattern updates, attributed to the derived
/// segment `at`.
pub fn log_patterns_to_batch(
    rows: &[PatternUpdate],
    at: DerivedSegment,
) -> Result<RecordBatch, ArrowError> {
    let lineage = derived_lineage(at);
    let mut b = LogPatternsBuilder::new();
    for r in rows {
        b.push(
            &LogPatternRow {
                ts: r.last_seen,
                id: &r.id,
                service: &r.service,
                template: &r.template,
                first_seen: r.first_seen,
                last_seen: r.last_seen,
                count: r.count,
                new_lines: r.new_lines,
                example: &r.example,
            },
            &lineage,
        );
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, StringArray};

    fn alert(status: AlertStatus) -> RaisedAlert {
        RaisedAlert {
            ts: 10,
            alertname: "MetricAnomaly".into(),
            status,
            severity: "warning".into(),
            service: Some("checkout".into()),
            labels: BTreeMap::from([("metric".into(), "latency".into())]),
            annotations: BTreeMap::from([("summary".into(), "high".into())]),
            starts_at: 5,
            ends_at: None,
            source: "tocsin.anomaly",
        }
    }

    #[test]
    fn fingerprint_is_stable_across_status_and_annotations() {
        let a = alert(AlertStatus::Firing);
        let mut b = alert(AlertStatus::Resolved);
        b.annotations
            .insert("summary".into(), "back to normal".into());
        assert_eq!(a.fingerprint(), b.fingerprint());
        let mut c = alert(AlertStatus::Firing);
        c.labels.insert("metric".into(), "errors".into());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn alerts_batch_has_the_catalog_schema() {
        let at = DerivedSegment {
            partition: 3,
            epoch: 7,
        };
        let batch = alerts_to_batch(&[alert(AlertStatus::Firing)], at).unwrap();
        assert_eq!(batch.schema(), tocsin_ingest::Table::Alerts.schema());
        let source = batch.column_by_name("source").unwrap().as_string::<i32>();
        assert_eq!(source.value(0), "tocsin.anomaly");
        let topic: &StringArray = batch.column_by_name("_topic").unwrap().as_string();
        assert_eq!(topic.value(0), DERIVED_SOURCE);
        let partition = batch.column_by_name("_partition").unwrap();
        let partition = partition.as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!(partition.value(0), 3);
    }

    #[test]
    fn pattern_batch_has_the_catalog_schema() {
        let row = PatternUpdate {
            id: "p1".into(),
            service: "api".into(),
            template: "GET <*>".into(),
            first_seen: 1,
            last_seen: 2,
            count: 3,
            new_lines: 1,
            example: "GET /x".into(),
        };
        let at = DerivedSegment {
            partition: 0,
            epoch: 1,
        };
        let batch = log_patterns_to_batch(&[row], at).unwrap();
        assert_eq!(batch.schema(), tocsin_ingest::Table::LogPatterns.schema());
        assert_eq!(batch.num_rows(), 1);
    }
}
