//! What the tracker tells the host: events and counters.

use serde::{Deserialize, Serialize};

use super::state::Tracked;
use crate::priority::Priority;

/// What happened to a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchEventKind {
    /// First seen in a closed scan: schedule a patch.
    Open,
    /// Its priority changed (the due time may have moved earlier).
    Update,
    /// Absent from a later closed scan of its target: fixed.
    Resolve,
    /// `at_risk_fraction` of its SLA elapsed while open.
    AtRisk,
    /// Past due while open.
    Breached,
    /// Dropped to respect `max_tracked`; a later sighting re-opens it.
    Evicted,
}

impl PatchEventKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchEventKind::Open => "open",
            PatchEventKind::Update => "update",
            PatchEventKind::Resolve => "resolve",
            PatchEventKind::AtRisk => "at_risk",
            PatchEventKind::Breached => "breached",
            PatchEventKind::Evicted => "evicted",
        }
    }
}

/// One event about one (target, CVE), with everything a `patch` decision
/// needs to explain itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchEvent {
    /// What happened.
    pub kind: PatchEventKind,
    /// Event time, ns: the scan's time for open/update/resolve, the instant
    /// the threshold was crossed for at_risk/breached, the watermark or scan
    /// time for evicted.
    pub ts: i64,
    /// The scanned artifact.
    pub target: String,
    /// Vulnerability id.
    pub cve: String,
    /// `tocsin-patch-<16 hex>`, stable per (target, CVE).
    pub dedup_key: String,
    /// Current priority.
    pub priority: Priority,
    /// Priority before an `Update`.
    pub previous_priority: Option<Priority>,
    /// Why this priority (first entry names the rule).
    pub reasons: Vec<String>,
    /// Risk in [0, 1] for ordering.
    pub risk: f64,
    /// First scan that saw it, ns.
    pub first_seen: i64,
    /// Latest scan that saw it, ns.
    pub last_seen: i64,
    /// Patch deadline, ns.
    pub due: i64,
    /// `due - first_seen`, ns.
    pub sla_ns: i64,
    /// Affected packages (sorted).
    pub packages: Vec<String>,
    /// Installed versions seen (sorted).
    pub installed_versions: Vec<String>,
    /// Fixed versions offered by the scanner (sorted; empty = no fix yet).
    pub fixed_versions: Vec<String>,
    /// Owning service.
    pub service: Option<String>,
    /// Scanner that reported it.
    pub scanner: String,
    /// EPSS.
    pub epss: Option<f64>,
    /// CVSS.
    pub cvss: Option<f64>,
    /// On the KEV list.
    pub kev: bool,
    /// Known exploited (KEV or scanner flag).
    pub known_exploited: bool,
    /// Internet-facing.
    pub exposed: bool,
    /// One-line summary.
    pub message: String,
}

/// ISO-8601 UTC, seconds precision.
pub fn fmt_ns(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl PatchEvent {
    pub(crate) fn from_tracked(
        kind: PatchEventKind,
        ts: i64,
        target: &str,
        cve: &str,
        t: &Tracked,
        message: String,
    ) -> Self {
        let a = &t.assessment;
        PatchEvent {
            kind,
            ts,
            target: target.to_string(),
            cve: cve.to_string(),
            dedup_key: t.dedup_key.clone(),
            priority: a.priority,
            previous_priority: None,
            reasons: a.reasons.clone(),
            risk: a.risk,
            first_seen: t.first_seen,
            last_seen: t.last_seen,
            due: t.due,
            sla_ns: t.due.saturating_sub(t.first_seen),
            packages: t.details.packages.clone(),
            installed_versions: t.details.installed_versions.clone(),
            fixed_versions: t.details.fixed_versions.clone(),
            service: t.details.service.clone(),
            scanner: t.details.scanner.clone(),
            epss: t.details.epss,
            cvss: t.details.cvss,
            kev: a.in_kev,
            known_exploited: a.exploited,
            exposed: a.exposed,
            message,
        }
    }
}

/// Counters since start (carried across snapshots).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerStats {
    /// Rows fed to `ingest`.
    pub rows: u64,
    /// Clean-scan marker rows.
    pub markers: u64,
    /// Rows dropped because their scan was already closed.
    pub late_rows: u64,
    /// Scans closed.
    pub scans_closed: u64,
    /// `Open` events.
    pub opened: u64,
    /// `Update` events.
    pub updated: u64,
    /// `Resolve` events.
    pub resolved: u64,
    /// `AtRisk` events.
    pub at_risk: u64,
    /// `Breached` events.
    pub breached: u64,
    /// `Evicted` events.
    pub evicted: u64,
}

impl TrackerStats {
    pub(crate) fn count(&mut self, kind: PatchEventKind) {
        let c = match kind {
            PatchEventKind::Open => &mut self.opened,
            PatchEventKind::Update => &mut self.updated,
            PatchEventKind::Resolve => &mut self.resolved,
            PatchEventKind::AtRisk => &mut self.at_risk,
            PatchEventKind::Breached => &mut self.breached,
            PatchEventKind::Evicted => &mut self.evicted,
        };
        *c += 1;
    }
}
