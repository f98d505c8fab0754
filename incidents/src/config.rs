//! Correlator configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::topology::TopologyConfig;
use crate::types::Severity;

const MIN_NS: i64 = 60_000_000_000;

/// Settings of the [`crate::Correlator`]. Durations in ns of event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorrelatorConfig {
    /// An alert joins an incident only if it starts within this long after
    /// the incident's latest member started firing (or while members fire).
    pub window_ns: i64,
    /// How far before an implicated service's first alert a change may lie to
    /// be suspected.
    pub change_lookback_ns: i64,
    /// After every member resolved, wait this long before resolving.
    pub cooldown_ns: i64,
    /// The open notification waits this long so the first burst of a cascade
    /// lands in one notification (Alertmanager's `group_wait`).
    pub group_wait_ns: i64,
    /// Minimum spacing of update notifications that are not urgent.
    pub group_interval_ns: i64,
    /// Services within this many call edges (either direction) are related.
    pub max_hops: u32,
    /// A known alert re-firing within this long after it resolved is a flap
    /// and rejoins its incident; later it is placed like a new alert.
    pub flap_gap_ns: i64,
    /// A dependency failing after its caller joins the caller's incident
    /// only within this long (alert timing jitter); failures otherwise travel
    /// from dependency to caller.
    pub reverse_grace_ns: i64,
    /// Jaccard similarity of `similarity_labels` at or above which two alerts
    /// are related regardless of topology.
    pub label_similarity_threshold: f64,
    /// Labels compared for similarity (service-independent locality such as
    /// cluster, zone, node).
    pub similarity_labels: Vec<String>,
    /// Both alerts must carry at least this many of `similarity_labels` for
    /// label similarity to count, so a lone shared `cluster` does not group
    /// everything in a cluster.
    pub min_similarity_labels: usize,
    /// Service dependency graph.
    pub topology: TopologyConfig,
    /// Extra user-facing services (besides the topology's).
    pub user_facing: Vec<String>,
    /// A member alert carrying any of these label pairs makes the incident at
    /// least P2 (e.g. `tier=0`, `customer_impact=true`).
    pub critical_labels: BTreeMap<String, String>,
    /// Number of services from which impact counts as widespread (P1 with a
    /// critical alert, P3 otherwise).
    pub widespread_services: usize,
    /// Change kinds never suspected (remediations).
    pub ignored_change_kinds: Vec<String>,
    /// Incidents below this severity are tracked but not notified (no
    /// events) unless they escalate; `P4` notifies everything. Critical
    /// alerts always make an incident P2 or worse, so they are never held back.
    pub notify_min_severity: Severity,
    /// Timeline entries kept per incident (later ones are counted, not kept).
    pub max_timeline: usize,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        CorrelatorConfig {
            window_ns: 5 * MIN_NS,
            change_lookback_ns: 30 * MIN_NS,
            cooldown_ns: 5 * MIN_NS,
            group_wait_ns: MIN_NS / 2,
            group_interval_ns: 5 * MIN_NS,
            max_hops: 1,
            reverse_grace_ns: MIN_NS,
            flap_gap_ns: 5 * MIN_NS,
            label_similarity_threshold: 0.8,
            similarity_labels: vec!["cluster".into(), "zone".into(), "node".into()],
            min_similarity_labels: 2,
            topology: TopologyConfig::default(),
            user_facing: Vec::new(),
            critical_labels: BTreeMap::new(),
            widespread_services: 5,
            ignored_change_kinds: vec!["rollback".into()],
            notify_min_severity: Severity::P3,
            max_timeline: 500,
        }
    }
}
