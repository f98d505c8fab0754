//! Input and output records of the correlator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whether an alert instance started or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The alert instance started firing.
    Firing,
    /// The alert instance ended.
    Resolved,
}

/// One alert state change after lifecycle/dedup/silencing: one `Firing` and
/// later one `Resolved` per alert instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSignal {
    /// Event time, ns since the epoch.
    pub ts_ns: i64,
    /// Stable identity of the alert (hash of its labels).
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// The service the alert is about.
    pub service: String,
    /// `critical`, `error`, `warning` or `info`.
    pub severity: String,
    /// The alert rule name.
    pub alertname: String,
    /// All labels of the alert.
    pub labels: BTreeMap<String, String>,
}

/// A deploy, rollback, flag flip, config change, migration or infra change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// Event time, ns since the epoch.
    pub ts_ns: i64,
    /// `deploy`, `rollback`, `flag`, `config`, `migration` or `infra`.
    pub kind: String,
    /// The service changed.
    pub service: String,
    /// Environment, e.g. `prod`.
    pub env: String,
    /// Version or flag value after the change.
    pub version: String,
    /// Who made the change.
    pub actor: String,
    /// Stable identifier of the change.
    pub id: String,
}

/// Incident priority; `P1` is the most severe. Ordered so that `P1 < P4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// User-facing outage or widespread critical impact.
    P1,
    /// Critical alert or user-facing errors.
    P2,
    /// Errors or several services affected.
    P3,
    /// Warnings only.
    P4,
}

impl Severity {
    /// `"P1"`..`"P4"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
            Severity::P4 => "P4",
        }
    }
}

/// Lifecycle state of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// At least one member alert fires, or the cool-down has not passed.
    Open,
    /// Every member alert resolved and the cool-down passed.
    Resolved,
}

/// One service in the root-cause ranking, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedService {
    /// Service name.
    pub service: String,
    /// Higher is more likely the cause.
    pub score: f64,
    /// Why it ranks where it does.
    pub reason: String,
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Event time, ns since the epoch.
    pub ts_ns: i64,
    /// `alert_firing`, `alert_resolved`, `change`, `decision`, `truncated`.
    pub kind: String,
    /// Human-readable text.
    pub text: String,
}

/// A group of correlated alerts (a row of the `incidents` table plus detail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Deterministic id: hash of the first member fingerprint and `opened_at_ns`.
    pub id: String,
    /// Time of the first member alert.
    pub opened_at_ns: i64,
    /// Set once resolved (last member resolution + cool-down).
    pub resolved_at_ns: Option<i64>,
    /// Priority from impact.
    pub severity: Severity,
    /// Generated one-line summary.
    pub title: String,
    /// Implicated services, sorted.
    pub services: Vec<String>,
    /// Number of member alert instances (a re-fire counts again).
    pub alert_count: u64,
    /// Open or resolved.
    pub status: IncidentStatus,
    /// Id of the change suspected to have caused it.
    pub suspected_change: Option<String>,
    /// Implicated services ranked as root-cause candidates, best first.
    pub root_cause: Vec<RankedService>,
    /// Member alerts, changes and decisions with times.
    pub timeline: Vec<TimelineEntry>,
    /// Fingerprints of every member alert, sorted.
    pub member_fingerprints: Vec<String>,
}

impl Incident {
    /// Key shared by every event of this incident, for paging tools that
    /// group trigger and resolve (PagerDuty `dedup_key`, Opsgenie `alias`).
    pub fn dedup_key(&self) -> String {
        format!("tocsin-incident-{}", self.id)
    }

    /// SQL over `alerts` and `changes` that returns the member alerts and the
    /// suspected change.
    pub fn evidence_sql(&self, suspected: Option<&ChangeEvent>) -> String {
        crate::sql::evidence_sql(self, suspected)
    }
}

/// What an incident event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentAction {
    /// A new incident (decision `incident_open`).
    Open,
    /// Something that matters changed (decision `incident_update`).
    Update,
    /// Resolved (decision `incident_resolve`).
    Resolve,
}

impl IncidentAction {
    /// Decision kind: `incident_open`, `incident_update`, `incident_resolve`.
    pub fn decision_kind(self) -> &'static str {
        match self {
            IncidentAction::Open => "incident_open",
            IncidentAction::Update => "incident_update",
            IncidentAction::Resolve => "incident_resolve",
        }
    }
}

/// A notification-worthy change of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    /// Event time at which the decision was taken.
    pub ts_ns: i64,
    /// Open, update or resolve.
    pub action: IncidentAction,
    /// The incident as of this event.
    pub incident: Incident,
    /// Why an update was sent (empty for open/resolve).
    pub reason: String,
    /// The suspected change, when known, so evidence SQL can name it.
    pub suspected_change: Option<ChangeEvent>,
    /// 1-based sequence number of this event within its incident.
    pub seq: u32,
}

impl IncidentEvent {
    /// Deterministic decision dedup key: incident id, action and sequence, so a
    /// replay of the same input yields the same keys and never double-pages.
    pub fn dedup_key(&self) -> String {
        let h = crate::hash::fnv1a64(&[
            self.incident.id.as_bytes(),
            self.action.decision_kind().as_bytes(),
            &self.seq.to_le_bytes(),
        ]);
        format!(
            "{}:{}:{:016x}",
            self.action.decision_kind(),
            self.incident.id,
            h
        )
    }

    /// SQL that reproduces this event's evidence (member alerts and the
    /// suspected change).
    pub fn evidence_sql(&self) -> String {
        crate::sql::evidence_sql(&self.incident, self.suspected_change.as_ref())
    }
}
