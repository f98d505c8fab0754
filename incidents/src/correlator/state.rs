//! Serialisable per-incident state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::{ChangeEvent, Severity, TimelineEntry};

/// Severity rank of an alert: lower is worse.
pub(crate) fn alert_rank(sev: &str) -> u8 {
    match sev {
        "critical" => 0,
        "error" => 1,
        "warning" => 2,
        "info" => 3,
        _ => 2,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Member {
    pub service: String,
    pub alertname: String,
    pub rank: u8,
    pub active: bool,
    pub instances: u32,
    pub last_resolved_ns: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServiceState {
    pub name: String,
    pub first_ts_ns: i64,
    /// Latest alert start on this service.
    pub last_ts_ns: i64,
    /// Worst alert rank seen on this service.
    pub rank: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IncState {
    pub id: String,
    pub opened_at_ns: i64,
    pub services: Vec<ServiceState>,
    pub members: BTreeMap<String, Member>,
    /// Distinct similarity-label tuples of failing members (capped), with
    /// the latest time each was seen.
    pub signatures: Vec<(Vec<(String, String)>, i64)>,
    pub active: usize,
    pub last_fire_ns: i64,
    pub last_resolve_ns: i64,
    pub alert_count: u64,
    pub has_critical_label: bool,
    pub severity: Severity,
    pub suspected: Option<ChangeEvent>,
    pub root_cause: Vec<crate::types::RankedService>,
    pub title: String,
    pub timeline: Vec<TimelineEntry>,
    pub timeline_dropped: u64,
    pub alertnames: BTreeMap<String, u32>,
    // What the last notification said, to decide whether an update matters.
    pub opened_notified: bool,
    pub notified_severity: Severity,
    pub notified_services: usize,
    pub notified_change: Option<String>,
    pub last_notify_ns: i64,
    /// Critical members not yet represented in a notification.
    pub unnotified_critical: u32,
    pub seq: u32,
}

impl IncState {
    pub fn push_timeline(&mut self, max: usize, ts_ns: i64, kind: &str, text: String) {
        if self.timeline.len() < max {
            self.timeline.push(TimelineEntry {
                ts_ns,
                kind: kind.to_string(),
                text,
            });
        } else {
            self.timeline_dropped += 1;
        }
    }

    pub fn service_index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }
}
