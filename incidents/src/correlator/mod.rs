//! The streaming correlator: alerts and changes in, incident events out.

mod analysis;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::config::CorrelatorConfig;
use crate::error::Error;
use crate::hash::fnv1a64;
use crate::topology::Topology;
use crate::types::{
    AlertSignal, AlertStatus, ChangeEvent, Incident, IncidentAction, IncidentEvent, IncidentStatus,
    Severity,
};

use state::{IncState, Member, ServiceState, alert_rank};

/// Checkpointable state of a [`Correlator`] (everything but what derives from
/// the configuration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CorrelatorSnapshot {
    incidents: Vec<IncState>,
    by_fp: BTreeMap<String, String>,
    changes: VecDeque<ChangeEvent>,
    max_ts_ns: i64,
}

/// Groups alert signals into incidents. Feed alerts and changes in event-time
/// order (small disorder is tolerated) and call [`Correlator::advance`] as
/// event time passes; it returns the open/update/resolve events due.
#[derive(Debug, Clone)]
pub struct Correlator {
    cfg: CorrelatorConfig,
    g: Graph,
    extra_uf: BTreeSet<String>,
    st: CorrelatorSnapshot,
}

/// The alert being placed, as `relation` needs it.
struct Probe<'a> {
    ts_ns: i64,
    service: &'a str,
    sid: Option<u32>,
    sig: &'a [(String, String)],
    /// Alert severity rank (0 critical … 3 info).
    rank: u8,
}

/// The topology with what grouping precomputes from it.
#[derive(Debug, Clone)]
struct Graph {
    topo: Topology,
    /// Services within `max_hops` in either direction.
    neigh: Vec<Vec<u32>>,
    /// Services depended on within `max_hops`.
    deps: Vec<Vec<u32>>,
}

/// How strongly an alert relates to an incident; 0 = unrelated. A topology
/// link counts only into an incident with errors (warnings alone are too weak
/// to pull neighbours in) and to a service whose first alert lies within the
/// window, since a
/// cascade reaches dependants within minutes; an old, still-firing service
/// does not make every later neighbour fault part of its incident.
fn relation(inc: &IncState, p: &Probe<'_>, g: &Graph, cfg: &CorrelatorConfig) -> u32 {
    let topo = &g.topo;
    let mut best = 0;
    let strong = inc.services.iter().any(|s| s.rank <= 1);
    for s in &inc.services {
        if s.name == p.service {
            // Recent trouble on the same service is the strongest link; an
            // old one is none: a new fault has likely started.
            // A service present only through warnings does not vouch for a
            // failing alert on it.
            if p.ts_ns - s.last_ts_ns <= cfg.window_ns && (s.rank <= 1 || p.rank >= 2) {
                // Within a warnings-only incident the link is weak: a failing
                // neighbourhood elsewhere explains the alert better.
                if strong {
                    return 3;
                }
                best = best.max(1);
            }
            continue;
        }
        if !strong {
            continue;
        }
        let age = p.ts_ns - s.first_ts_ns;
        if age > cfg.window_ns {
            continue;
        }
        if let (Some(a), Some(b)) = (p.sid, topo.id(&s.name)) {
            // Failures travel from a dependency to its callers; the other
            // direction is accepted only within a short grace for alert
            // timing jitter.
            let downstream = g.deps[a as usize].binary_search(&b).is_ok();
            let near = g.neigh[a as usize].binary_search(&b).is_ok();
            if downstream || (near && p.rank <= 1 && age <= cfg.reverse_grace_ns) {
                best = 2;
            }
        }
    }
    let sig = p.sig;
    let threshold = cfg.label_similarity_threshold;
    if best == 0 && !sig.is_empty() {
        for (other, seen_ns) in &inc.signatures {
            if p.ts_ns - seen_ns <= cfg.window_ns && jaccard(sig, other) >= threshold {
                return 2;
            }
        }
    }
    best
}

/// Jaccard similarity of two sorted label-pair lists.
fn jaccard(a: &[(String, String)], b: &[(String, String)]) -> f64 {
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

impl Correlator {
    /// A correlator with empty state.
    pub fn new(cfg: CorrelatorConfig) -> Self {
        Self::restore(cfg, CorrelatorSnapshot::default())
    }

    /// A correlator resuming from a snapshot taken with the same configuration.
    pub fn restore(cfg: CorrelatorConfig, st: CorrelatorSnapshot) -> Self {
        let topo = Topology::from_config(&cfg.topology);
        let neigh = topo.neighbourhoods(cfg.max_hops);
        let deps = topo.dependencies_within(cfg.max_hops);
        let extra_uf = cfg.user_facing.iter().cloned().collect();
        Correlator {
            cfg,
            g: Graph { topo, neigh, deps },
            extra_uf,
            st,
        }
    }

    /// The state to checkpoint.
    pub fn snapshot(&self) -> CorrelatorSnapshot {
        self.st.clone()
    }

    /// Snapshot as JSON bytes.
    pub fn snapshot_json(&self) -> Result<Vec<u8>, Error> {
        Ok(serde_json::to_vec(&self.st)?)
    }

    /// Restore from [`Correlator::snapshot_json`] bytes.
    pub fn restore_json(cfg: CorrelatorConfig, bytes: &[u8]) -> Result<Self, Error> {
        Ok(Self::restore(cfg, serde_json::from_slice(bytes)?))
    }

    /// The configuration in force.
    pub fn config(&self) -> &CorrelatorConfig {
        &self.cfg
    }

    /// Id of the open incident an alert fingerprint currently belongs to.
    pub fn incident_of(&self, fingerprint: &str) -> Option<&str> {
        self.st.by_fp.get(fingerprint).map(String::as_str)
    }

    /// Number of open incidents.
    pub fn open_incidents(&self) -> usize {
        self.st.incidents.len()
    }

    fn signature(&self, a: &AlertSignal) -> Vec<(String, String)> {
        let mut sig: Vec<(String, String)> = self
            .cfg
            .similarity_labels
            .iter()
            .filter_map(|k| a.labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        sig.sort();
        if sig.len() < self.cfg.min_similarity_labels {
            sig.clear();
        }
        sig
    }

    /// Takes one alert state change.
    pub fn observe_alert(&mut self, a: &AlertSignal) {
        self.st.max_ts_ns = self.st.max_ts_ns.max(a.ts_ns);
        match a.status {
            AlertStatus::Firing => self.on_firing(a),
            AlertStatus::Resolved => self.on_resolved(a),
        }
    }

    fn on_resolved(&mut self, a: &AlertSignal) {
        let Some(id) = self.st.by_fp.get(&a.fingerprint) else {
            return;
        };
        let Some(inc) = self.st.incidents.iter_mut().find(|i| &i.id == id) else {
            return;
        };
        if let Some(m) = inc.members.get_mut(&a.fingerprint)
            && m.active
        {
            m.active = false;
            m.last_resolved_ns = a.ts_ns;
            inc.active = inc.active.saturating_sub(1);
            inc.last_resolve_ns = inc.last_resolve_ns.max(a.ts_ns);
            inc.push_timeline(
                self.cfg.max_timeline,
                a.ts_ns,
                "alert_resolved",
                format!("{} on {} resolved", a.alertname, a.service),
            );
        }
    }

    fn joinable(&self, inc: &IncState, ts: i64) -> bool {
        if inc.active > 0 {
            return true;
        }
        ts - inc.last_fire_ns <= self.cfg.window_ns
            && ts < inc.last_resolve_ns + self.cfg.cooldown_ns
    }

    fn on_firing(&mut self, a: &AlertSignal) {
        let rank = alert_rank(&a.severity);
        // A known fingerprint (flap, re-fire) rejoins its incident.
        // A known fingerprint re-firing soon after it resolved is a flap and
        // rejoins its incident; after a longer gap it is placed afresh.
        let mut target = self
            .st
            .by_fp
            .get(&a.fingerprint)
            .and_then(|id| self.st.incidents.iter().position(|i| &i.id == id))
            .filter(|&k| {
                self.st.incidents[k]
                    .members
                    .get(&a.fingerprint)
                    .is_some_and(|m| {
                        m.active || a.ts_ns - m.last_resolved_ns <= self.cfg.flap_gap_ns
                    })
            });
        let sig = self.signature(a);
        if target.is_none() {
            let sid = self.g.topo.id(&a.service);
            let mut best: Option<(u32, i64, usize)> = None;
            for (k, inc) in self.st.incidents.iter().enumerate() {
                if !self.joinable(inc, a.ts_ns) {
                    continue;
                }
                let probe = Probe {
                    ts_ns: a.ts_ns,
                    service: &a.service,
                    sid,
                    sig: &sig,
                    rank,
                };
                let r = relation(inc, &probe, &self.g, &self.cfg);
                if r == 0 {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((br, bt, _)) => r > br || (r == br && inc.last_fire_ns > bt),
                };
                if better {
                    best = Some((r, inc.last_fire_ns, k));
                }
            }
            target = best.map(|b| b.2);
        }
        let k = match target {
            Some(k) => k,
            None => {
                let id = format!(
                    "inc-{:016x}",
                    fnv1a64(&[a.fingerprint.as_bytes(), &a.ts_ns.to_le_bytes()])
                );
                self.st.incidents.push(IncState {
                    id,
                    opened_at_ns: a.ts_ns,
                    services: Vec::new(),
                    members: BTreeMap::new(),
                    signatures: Vec::new(),
                    active: 0,
                    last_fire_ns: a.ts_ns,
                    last_resolve_ns: a.ts_ns,
                    alert_count: 0,
                    has_critical_label: false,
                    severity: Severity::P4,
                    suspected: None,
                    root_cause: Vec::new(),
                    title: String::new(),
                    timeline: Vec::new(),
                    timeline_dropped: 0,
                    alertnames: BTreeMap::new(),
                    opened_notified: false,
                    notified_severity: Severity::P4,
                    notified_services: 0,
                    notified_change: None,
                    last_notify_ns: a.ts_ns,
                    unnotified_critical: 0,
                    seq: 0,
                });
                self.st.incidents.len() - 1
            }
        };
        let max_tl = self.cfg.max_timeline;
        let crit_label = self
            .cfg
            .critical_labels
            .iter()
            .any(|(k, v)| a.labels.get(k) == Some(v));
        let inc = &mut self.st.incidents[k];
        let m = inc.members.entry(a.fingerprint.clone()).or_insert(Member {
            service: a.service.clone(),
            alertname: a.alertname.clone(),
            rank,
            active: false,
            instances: 0,
            last_resolved_ns: a.ts_ns,
        });
        if m.active {
            // A duplicate Firing for an active instance changes nothing.
            return;
        }
        m.active = true;
        m.instances += 1;
        let first_instance = m.instances == 1;
        inc.active += 1;
        inc.alert_count += 1;
        inc.last_fire_ns = inc.last_fire_ns.max(a.ts_ns);
        inc.has_critical_label |= crit_label;
        // A re-fire of a critical member already notified is represented.
        if rank == 0 && first_instance {
            inc.unnotified_critical += 1;
        }
        *inc.alertnames.entry(a.alertname.clone()).or_default() += 1;
        // Only failing (error+) members lend their locality to the incident,
        // for the same reason warnings do not pull in topology neighbours.
        if rank <= 1 && !sig.is_empty() {
            match inc.signatures.iter().position(|(s, _)| *s == sig) {
                Some(i) => inc.signatures[i].1 = inc.signatures[i].1.max(a.ts_ns),
                None if inc.signatures.len() < 16 => inc.signatures.push((sig, a.ts_ns)),
                None => {}
            }
        }
        inc.push_timeline(
            max_tl,
            a.ts_ns,
            "alert_firing",
            format!("{} ({}) on {} firing", a.alertname, a.severity, a.service),
        );
        self.st.by_fp.insert(a.fingerprint.clone(), inc.id.clone());
        let new_service = match inc.service_index(&a.service) {
            Some(i) => {
                let s = &mut inc.services[i];
                let worse = rank < s.rank;
                s.rank = s.rank.min(rank);
                s.first_ts_ns = s.first_ts_ns.min(a.ts_ns);
                // A re-fire of a known alert is not new trouble on the service.
                if first_instance {
                    s.last_ts_ns = s.last_ts_ns.max(a.ts_ns);
                }
                worse
            }
            None => {
                inc.services.push(ServiceState {
                    name: a.service.clone(),
                    first_ts_ns: a.ts_ns,
                    last_ts_ns: a.ts_ns,
                    rank,
                });
                true
            }
        };
        if new_service || inc.alert_count == 1 || crit_label {
            self.refresh(k);
        }
    }

    /// Recomputes root cause, suspected change, severity and title.
    fn refresh(&mut self, k: usize) {
        let root = analysis::rank_root_cause(
            &self.st.incidents[k],
            &self.g.topo,
            &self.st.changes,
            &self.cfg,
        );
        self.st.incidents[k].root_cause = root;
        let suspected = analysis::suspected_change(
            &self.st.incidents[k],
            &self.st.changes,
            &self.cfg,
            &self.g.topo,
        );
        let sev = analysis::severity(
            &self.st.incidents[k],
            &self.cfg,
            &self.g.topo,
            &self.extra_uf,
        );
        let inc = &mut self.st.incidents[k];
        if let Some(c) = &suspected
            && inc.suspected.as_ref().map(|s| &s.id) != Some(&c.id)
        {
            inc.push_timeline(
                self.cfg.max_timeline,
                c.ts_ns,
                "change",
                format!(
                    "{} {} of {} by {} ({}) suspected",
                    c.kind, c.version, c.service, c.actor, c.id
                ),
            );
        }
        inc.suspected = suspected;
        inc.severity = sev;
        inc.title = analysis::title(inc, &self.g.topo, &self.extra_uf);
    }

    /// Takes one change event; it may become the suspected change of an open
    /// incident (changes can arrive after the alerts they caused).
    pub fn observe_change(&mut self, c: &ChangeEvent) {
        let pos = self.st.changes.partition_point(|x| x.ts_ns <= c.ts_ns);
        self.st.changes.insert(pos, c.clone());
        for k in 0..self.st.incidents.len() {
            if self.st.incidents[k].service_index(&c.service).is_some() {
                self.refresh(k);
            }
        }
    }

    /// Moves event time to `now_ns` and returns the events due: opens after
    /// the group wait, updates when severity rose, a service joined, a
    /// suspected change was found or a critical alert is not yet represented,
    /// and resolutions after the cool-down.
    pub fn advance(&mut self, now_ns: i64) -> Vec<IncidentEvent> {
        let mut out = Vec::new();
        let horizon = now_ns - 2 * self.cfg.change_lookback_ns - self.cfg.window_ns;
        while self.st.changes.front().is_some_and(|c| c.ts_ns < horizon) {
            self.st.changes.pop_front();
        }
        let mut k = 0;
        while k < self.st.incidents.len() {
            // An incident that escalates later opens when it does.
            let open_due = self.st.incidents[k].opened_at_ns + self.cfg.group_wait_ns;
            let loud = self.st.incidents[k].severity <= self.cfg.notify_min_severity;
            if !self.st.incidents[k].opened_notified && now_ns >= open_due && loud {
                out.push(self.emit(k, open_due, IncidentAction::Open, String::new()));
            } else if self.st.incidents[k].opened_notified {
                let inc = &self.st.incidents[k];
                let mut urgent = Vec::new();
                if inc.severity < inc.notified_severity {
                    urgent.push(format!("severity raised to {}", inc.severity.as_str()));
                }
                if inc.unnotified_critical > 0 {
                    urgent.push("critical alert joined".to_string());
                }
                let change_id = inc.suspected.as_ref().map(|c| c.id.clone());
                if change_id.is_some() && change_id != inc.notified_change {
                    urgent.push("suspected change found".to_string());
                }
                let more = inc.services.len() > inc.notified_services;
                let spaced = now_ns >= inc.last_notify_ns + self.cfg.group_interval_ns;
                if !urgent.is_empty() || (more && spaced) {
                    if more {
                        urgent.push(format!("{} services affected", inc.services.len()));
                    }
                    out.push(self.emit(k, now_ns, IncidentAction::Update, urgent.join("; ")));
                }
            }
            let inc = &self.st.incidents[k];
            let resolve_at = inc.last_resolve_ns + self.cfg.cooldown_ns;
            if inc.active == 0 && now_ns >= resolve_at {
                // An incident that never reached the notification threshold
                // ends silently.
                if inc.opened_notified {
                    let at = resolve_at.max(inc.last_notify_ns);
                    out.push(self.emit(k, at, IncidentAction::Resolve, String::new()));
                }
                let inc = self.st.incidents.remove(k);
                for fp in inc.members.keys() {
                    // The fingerprint may have moved to a newer incident.
                    if self.st.by_fp.get(fp) == Some(&inc.id) {
                        self.st.by_fp.remove(fp);
                    }
                }
                continue;
            }
            k += 1;
        }
        out
    }

    fn emit(&mut self, k: usize, ts: i64, action: IncidentAction, reason: String) -> IncidentEvent {
        let max_tl = self.cfg.max_timeline;
        let inc = &mut self.st.incidents[k];
        inc.seq += 1;
        inc.opened_notified = true;
        inc.notified_severity = inc.severity;
        inc.notified_services = inc.services.len();
        inc.notified_change = inc.suspected.as_ref().map(|c| c.id.clone());
        inc.last_notify_ns = ts;
        inc.unnotified_critical = 0;
        let text = if reason.is_empty() {
            format!("{} {}", action.decision_kind(), inc.severity.as_str())
        } else {
            format!(
                "{} {}: {}",
                action.decision_kind(),
                inc.severity.as_str(),
                reason
            )
        };
        inc.push_timeline(max_tl, ts, "decision", text);
        let resolved = action == IncidentAction::Resolve;
        let mut timeline = inc.timeline.clone();
        // Entries are recorded as learned (a change may arrive late); readers
        // want them in event time. The sort is stable, so ties keep arrival order.
        timeline.sort_by_key(|t| t.ts_ns);
        if inc.timeline_dropped > 0 {
            timeline.push(crate::types::TimelineEntry {
                ts_ns: ts,
                kind: "truncated".into(),
                text: format!("{} further entries not kept", inc.timeline_dropped),
            });
        }
        let mut services: Vec<String> = inc.services.iter().map(|s| s.name.clone()).collect();
        services.sort();
        IncidentEvent {
            ts_ns: ts,
            action,
            incident: Incident {
                id: inc.id.clone(),
                opened_at_ns: inc.opened_at_ns,
                resolved_at_ns: resolved.then_some(ts),
                severity: inc.severity,
                title: inc.title.clone(),
                services,
                alert_count: inc.alert_count,
                status: if resolved {
                    IncidentStatus::Resolved
                } else {
                    IncidentStatus::Open
                },
                suspected_change: inc.suspected.as_ref().map(|c| c.id.clone()),
                root_cause: inc.root_cause.clone(),
                timeline,
                member_fingerprints: inc.members.keys().cloned().collect(),
            },
            reason,
            suspected_change: inc.suspected.clone(),
            seq: inc.seq,
        }
    }
}
