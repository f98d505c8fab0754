//! End-to-end evaluation of the correlator on a generated scenario: raw lines
//! → silences (maintenance) → [`Dedup`] stand-in → [`Correlator`] → scores.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::CorrelatorConfig;
use crate::correlator::Correlator;
use crate::dedup::Dedup;
use crate::scenario::Scenario;
use crate::score::{PairScores, in_top_k, pairwise, ratio, reduction};
use crate::types::{AlertSignal, AlertStatus, ChangeEvent, IncidentAction, IncidentEvent};

/// Everything the benchmark measures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    /// Raw alert lines, all.
    pub raw_lines: usize,
    /// Raw alert lines not covered by a maintenance silence.
    pub raw_lines_unsilenced: usize,
    /// Signals after the dedup stand-in.
    pub signals: usize,
    /// Changes fed.
    pub changes: usize,
    /// Alert instances scored (not silenced).
    pub instances_scored: usize,
    /// Faults in the truth (service + infra).
    pub truth_incidents: usize,
    /// Incidents opened.
    pub incidents_opened: usize,
    /// Open/update/resolve counts.
    pub notifications: BTreeMap<String, usize>,
    /// 1 − notifications / unsilenced raw lines.
    pub notification_reduction: f64,
    /// 1 − notifications / alert instances (stricter: against deduped alerts).
    pub reduction_vs_instances: f64,
    /// Pairwise grouping scores over alert instances.
    pub grouping: PairScores,
    /// Critical instances represented in an open/update notification.
    pub critical_covered: usize,
    /// Critical instances scored.
    pub critical_total: usize,
    /// covered / total.
    pub critical_coverage: f64,
    /// Service faults whose suspected change equals the truth (incl. none = none).
    pub suspected_change_accuracy: f64,
    /// Change-caused faults whose cause was named.
    pub suspected_change_recall: f64,
    /// Faults without a causing change that got a suspected change anyway.
    pub suspected_change_false_rate: f64,
    /// Root service first in the ranking.
    pub root_cause_top1: f64,
    /// Root service within the first three.
    pub root_cause_top3: f64,
    /// Service faults scored for change/root cause.
    pub service_faults_scored: usize,
    /// Correlator time over all signals, changes and advance calls.
    pub correlator_seconds: f64,
    /// signals / correlator_seconds (one thread).
    pub alerts_per_s: f64,
    /// Two runs gave identical events.
    pub deterministic: bool,
}

enum Item<'a> {
    Change(&'a ChangeEvent),
    Alert(&'a AlertSignal),
}

fn run_correlator(
    cfg: &CorrelatorConfig,
    items: &[(i64, Item<'_>)],
    end_ns: i64,
    mut on_fire: impl FnMut(&Correlator, &AlertSignal),
) -> Vec<IncidentEvent> {
    let mut c = Correlator::new(cfg.clone());
    let mut events = Vec::new();
    let mut last = i64::MIN;
    for (ts, it) in items {
        if *ts != last {
            events.extend(c.advance(*ts));
            last = *ts;
        }
        match it {
            Item::Change(ch) => c.observe_change(ch),
            Item::Alert(a) => {
                c.observe_alert(a);
                if a.status == AlertStatus::Firing {
                    on_fire(&c, a);
                }
            }
        }
    }
    events.extend(c.advance(end_ns));
    events
}

/// Runs the whole pipeline on `sc` with `cfg` (its topology is replaced by
/// the scenario's) and scores it.
pub fn run(sc: &Scenario, cfg: &CorrelatorConfig) -> BenchReport {
    let mut cfg = cfg.clone();
    cfg.topology = sc.topology.clone();
    let mut dedup = Dedup::new();
    let mut signals = Vec::new();
    let mut raw_unsilenced = 0;
    for line in &sc.alerts {
        let svc = line.labels.get("service").map(String::as_str).unwrap_or("");
        if sc.truth.silenced(svc, line.starts_at_ns) {
            continue;
        }
        raw_unsilenced += 1;
        if let Some(s) = dedup.push(line) {
            signals.push(s);
        }
    }
    let mut items: Vec<(i64, Item<'_>)> = Vec::with_capacity(signals.len() + sc.changes.len());
    items.extend(sc.changes.iter().map(|c| (c.ts_ns, Item::Change(c))));
    items.extend(signals.iter().map(|s| (s.ts_ns, Item::Alert(s))));
    items.sort_by_key(|(t, it)| (*t, matches!(it, Item::Alert(_))));
    let end_ns = items.last().map(|i| i.0).unwrap_or(0) + 24 * 3600 * 1_000_000_000;

    let t0 = Instant::now();
    let ev1 = run_correlator(&cfg, &items, end_ns, |_, _| {});
    let secs = t0.elapsed().as_secs_f64();

    let mut assigned: HashMap<(String, i64), String> = HashMap::new();
    let events = run_correlator(&cfg, &items, end_ns, |c, a| {
        if let Some(id) = c.incident_of(&a.fingerprint) {
            assigned.insert((a.fingerprint.clone(), a.ts_ns), id.to_string());
        }
    });

    let mut notifications = BTreeMap::new();
    let mut final_state: HashMap<&str, &IncidentEvent> = HashMap::new();
    let mut notified: HashMap<&str, Vec<&IncidentEvent>> = HashMap::new();
    for e in &events {
        let k = e.action.decision_kind().to_string();
        *notifications.entry(k).or_insert(0) += 1;
        final_state.insert(&e.incident.id, e);
        if e.action != IncidentAction::Resolve {
            notified.entry(&e.incident.id).or_default().push(e);
        }
    }
    let opened = notifications.get("incident_open").copied().unwrap_or(0);

    let mut t_lab = Vec::new();
    let mut p_lab = Vec::new();
    let mut by_truth: HashMap<&str, HashMap<&str, usize>> = HashMap::new();
    let (mut crit_total, mut crit_cov) = (0, 0);
    for inst in sc.truth.instances.iter().filter(|i| !i.silenced) {
        let pred = assigned
            .get(&(inst.fingerprint.clone(), inst.starts_at_ns))
            .map(String::as_str)
            .unwrap_or("unassigned");
        t_lab.push(inst.group.as_str());
        p_lab.push(pred);
        *by_truth
            .entry(&inst.group)
            .or_default()
            .entry(pred)
            .or_default() += 1;
        if inst.severity == "critical" {
            crit_total += 1;
            let covered = notified.get(pred).is_some_and(|evs| {
                evs.iter().any(|e| {
                    e.incident
                        .member_fingerprints
                        .binary_search(&inst.fingerprint)
                        .is_ok()
                })
            });
            crit_cov += usize::from(covered);
        }
    }
    let grouping = pairwise(&t_lab, &p_lab);

    let (mut n, mut acc, mut top1, mut top3) = (0, 0, 0, 0);
    let (mut caused, mut caused_hit, mut uncaused, mut uncaused_false) = (0, 0, 0, 0);
    for ti in sc.truth.incidents.iter().filter(|i| i.kind == "service") {
        let Some(root) = &ti.root_cause else { continue };
        let Some(preds) = by_truth.get(ti.id.as_str()) else {
            continue;
        };
        let Some((pid, _)) = preds.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) else {
            continue;
        };
        let Some(fin) = final_state.get(pid) else {
            continue;
        };
        n += 1;
        let sus = fin.incident.suspected_change.as_ref();
        acc += usize::from(sus == ti.cause_change.as_ref());
        if ti.cause_change.is_some() {
            caused += 1;
            caused_hit += usize::from(sus == ti.cause_change.as_ref());
        } else {
            uncaused += 1;
            uncaused_false += usize::from(sus.is_some());
        }
        let ranking: Vec<&str> = fin
            .incident
            .root_cause
            .iter()
            .map(|r| r.service.as_str())
            .collect();
        top1 += usize::from(in_top_k(&ranking, root, 1));
        top3 += usize::from(in_top_k(&ranking, root, 3));
    }
    let total_notes = events.len();
    BenchReport {
        raw_lines: sc.alerts.len(),
        raw_lines_unsilenced: raw_unsilenced,
        signals: signals.len(),
        changes: sc.changes.len(),
        instances_scored: t_lab.len(),
        truth_incidents: sc.truth.incidents.len(),
        incidents_opened: opened,
        notifications,
        notification_reduction: reduction(raw_unsilenced, total_notes),
        reduction_vs_instances: reduction(t_lab.len(), total_notes),
        grouping,
        critical_covered: crit_cov,
        critical_total: crit_total,
        critical_coverage: ratio(crit_cov, crit_total),
        suspected_change_accuracy: ratio(acc, n),
        suspected_change_recall: ratio(caused_hit, caused),
        suspected_change_false_rate: ratio(uncaused_false, uncaused),
        root_cause_top1: ratio(top1, n),
        root_cause_top3: ratio(top3, n),
        service_faults_scored: n,
        correlator_seconds: secs,
        alerts_per_s: signals.len() as f64 / secs.max(1e-9),
        deterministic: ev1 == events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ScenarioConfig, generate};

    #[test]
    fn small_scenario_end_to_end() {
        let sc = generate(&ScenarioConfig {
            seed: 3,
            hours: 6.0,
            ..ScenarioConfig::default()
        });
        let r = run(&sc, &CorrelatorConfig::default());
        assert!(r.deterministic);
        assert_eq!(r.critical_coverage, 1.0);
        assert!(r.signals > 0 && r.signals < r.raw_lines);
        assert!(r.notification_reduction > 0.5);
        assert!(r.grouping.f1 > 0.5, "{:?}", r.grouping);
    }
}
