use std::collections::BTreeMap;

use super::*;
use crate::topology::TopologyConfig;

const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const T0: i64 = 1_000_000 * S;

fn alert(ts: i64, fp: &str, status: AlertStatus, service: &str, sev: &str) -> AlertSignal {
    AlertSignal {
        ts_ns: ts,
        fingerprint: fp.into(),
        status,
        service: service.into(),
        severity: sev.into(),
        alertname: format!("Alert{fp}"),
        labels: BTreeMap::new(),
    }
}

fn fire(ts: i64, fp: &str, service: &str, sev: &str) -> AlertSignal {
    alert(ts, fp, AlertStatus::Firing, service, sev)
}

fn res(ts: i64, fp: &str, service: &str) -> AlertSignal {
    alert(ts, fp, AlertStatus::Resolved, service, "error")
}

fn change(ts: i64, id: &str, kind: &str, service: &str) -> ChangeEvent {
    ChangeEvent {
        ts_ns: ts,
        kind: kind.into(),
        service: service.into(),
        env: "prod".into(),
        version: "v2".into(),
        actor: "alice".into(),
        id: id.into(),
    }
}

/// a calls b calls c; web is user-facing and calls a; x is unrelated.
fn cfg() -> CorrelatorConfig {
    CorrelatorConfig {
        topology: TopologyConfig {
            calls: vec![
                ("web".into(), "a".into()),
                ("a".into(), "b".into()),
                ("b".into(), "c".into()),
            ],
            user_facing: vec!["web".into()],
        },
        notify_min_severity: Severity::P4,
        ..CorrelatorConfig::default()
    }
}

fn feed(c: &mut Correlator, alerts: &[AlertSignal]) -> Vec<IncidentEvent> {
    let mut ev = Vec::new();
    for a in alerts {
        ev.extend(c.advance(a.ts_ns));
        c.observe_alert(a);
    }
    ev
}

#[test]
fn groups_cascade_along_topology_and_splits_unrelated() {
    let mut c = Correlator::new(cfg());
    feed(
        &mut c,
        &[
            fire(T0, "c1", "c", "error"),
            fire(T0 + M, "b1", "b", "error"),
            fire(T0 + 2 * M, "a1", "a", "error"),
            fire(T0 + 2 * M, "x1", "x", "error"),
        ],
    );
    let inc = c.incident_of("c1").unwrap().to_string();
    assert_eq!(c.incident_of("b1"), Some(inc.as_str()));
    assert_eq!(c.incident_of("a1"), Some(inc.as_str()));
    assert_ne!(c.incident_of("x1"), Some(inc.as_str()));
    assert_eq!(c.open_incidents(), 2);
}

#[test]
fn time_window_bounds_grouping() {
    let mut c = Correlator::new(cfg());
    feed(
        &mut c,
        &[
            fire(T0, "c1", "c", "error"),
            res(T0 + M, "c1", "c"),
            // Same service, but long after the first alert ended.
            fire(T0 + 20 * M, "c2", "c", "error"),
        ],
    );
    assert_ne!(c.incident_of("c1"), c.incident_of("c2"));
    // A neighbour joins only while the linked service's trouble is recent.
    let mut c = Correlator::new(cfg());
    feed(
        &mut c,
        &[
            fire(T0, "c1", "c", "error"),
            fire(T0 + 30 * M, "b1", "b", "error"),
        ],
    );
    assert_ne!(c.incident_of("c1"), c.incident_of("b1"));
}

#[test]
fn dependency_failing_after_caller_needs_grace() {
    let mut c = Correlator::new(cfg());
    feed(
        &mut c,
        &[
            fire(T0, "a1", "a", "error"),
            fire(T0 + 3 * M, "b1", "b", "error"),
        ],
    );
    assert_ne!(c.incident_of("a1"), c.incident_of("b1"));
    let mut c = Correlator::new(cfg());
    feed(
        &mut c,
        &[
            fire(T0, "a1", "a", "error"),
            fire(T0 + 30 * S, "b1", "b", "error"),
        ],
    );
    assert_eq!(c.incident_of("a1"), c.incident_of("b1"));
}

#[test]
fn warnings_do_not_pull_in_neighbours() {
    let mut c = Correlator::new(cfg());
    feed(
        &mut c,
        &[
            fire(T0, "c1", "c", "warning"),
            fire(T0 + M, "b1", "b", "error"),
        ],
    );
    assert_ne!(c.incident_of("c1"), c.incident_of("b1"));
}

#[test]
fn groups_by_label_similarity_without_topology() {
    let with_node = |ts, fp: &str, svc: &str, node: &str| {
        let mut a = fire(ts, fp, svc, "error");
        for (k, v) in [("cluster", "k1"), ("zone", "z1"), ("node", node)] {
            a.labels.insert(k.into(), v.into());
        }
        a
    };
    let mut c = Correlator::new(cfg());
    feed(
        &mut c,
        &[
            with_node(T0, "p1", "x", "n7"),
            with_node(T0 + 10 * S, "p2", "y", "n7"),
            with_node(T0 + 20 * S, "p3", "z", "n8"),
        ],
    );
    assert_eq!(c.incident_of("p1"), c.incident_of("p2"));
    assert_ne!(c.incident_of("p1"), c.incident_of("p3"));
}

#[test]
fn change_in_lookback_becomes_suspected() {
    let mut c = Correlator::new(cfg());
    c.observe_change(&change(T0 - 45 * M, "old", "deploy", "c"));
    c.observe_change(&change(T0 - 10 * M, "d1", "deploy", "c"));
    c.observe_change(&change(T0 - 5 * M, "rb", "rollback", "c"));
    c.observe_change(&change(T0 - 2 * M, "other", "deploy", "x"));
    let mut ev = feed(&mut c, &[fire(T0, "c1", "c", "error")]);
    ev.extend(c.advance(T0 + M));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].incident.suspected_change.as_deref(), Some("d1"));
    assert!(ev[0].evidence_sql().contains("FROM changes"));
    assert!(ev[0].incident.title.contains("suspected"));
}

#[test]
fn late_change_triggers_update_and_prefers_root_service() {
    let mut c = Correlator::new(cfg());
    let mut ev = feed(
        &mut c,
        &[
            fire(T0, "c1", "c", "error"),
            fire(T0 + M, "b1", "b", "error"),
        ],
    );
    ev.extend(c.advance(T0 + 2 * M));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].incident.suspected_change, None);
    // Changes on both services arrive late; the upstream one (c) wins.
    c.observe_change(&change(T0 - 3 * M, "on-b", "config", "b"));
    c.observe_change(&change(T0 - 4 * M, "on-c", "flag", "c"));
    let ev = c.advance(T0 + 3 * M);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].action, IncidentAction::Update);
    assert!(ev[0].reason.contains("suspected change"));
    assert_eq!(ev[0].incident.suspected_change.as_deref(), Some("on-c"));
}

fn severity_of(alerts: &[AlertSignal], cfg: CorrelatorConfig) -> Severity {
    let mut c = Correlator::new(cfg);
    let mut ev = feed(&mut c, alerts);
    ev.extend(c.advance(alerts[alerts.len() - 1].ts_ns + M));
    ev.last().unwrap().incident.severity
}

#[test]
fn severity_rules() {
    assert_eq!(
        severity_of(&[fire(T0, "1", "c", "warning")], cfg()),
        Severity::P4
    );
    assert_eq!(
        severity_of(&[fire(T0, "1", "c", "error")], cfg()),
        Severity::P3
    );
    assert_eq!(
        severity_of(&[fire(T0, "1", "web", "error")], cfg()),
        Severity::P2
    );
    assert_eq!(
        severity_of(&[fire(T0, "1", "c", "critical")], cfg()),
        Severity::P2
    );
    assert_eq!(
        severity_of(
            &[
                fire(T0, "1", "a", "critical"),
                fire(T0 + M, "2", "web", "error")
            ],
            cfg()
        ),
        Severity::P1
    );
    let mut crit = cfg();
    crit.critical_labels.insert("tier".into(), "0".into());
    let mut a = fire(T0, "1", "c", "warning");
    a.labels.insert("tier".into(), "0".into());
    assert_eq!(severity_of(&[a], crit), Severity::P2);
    let mut wide = cfg();
    wide.widespread_services = 3;
    assert_eq!(
        severity_of(
            &[
                fire(T0, "1", "c", "critical"),
                fire(T0 + M, "2", "b", "error"),
                fire(T0 + 2 * M, "3", "a", "error")
            ],
            wide
        ),
        Severity::P1
    );
}

#[test]
fn quiet_below_notify_threshold() {
    let mut c = Correlator::new(CorrelatorConfig {
        notify_min_severity: Severity::P3,
        ..cfg()
    });
    // A warning-only incident stays quiet and ends silently; an error on the
    // same service is not vouched for by the warning and opens its own.
    let mut ev = feed(
        &mut c,
        &[
            fire(T0, "w", "c", "warning"),
            fire(T0 + 2 * M, "e", "c", "error"),
            res(T0 + 3 * M, "w", "c"),
            res(T0 + 4 * M, "e", "c"),
        ],
    );
    ev.extend(c.advance(T0 + 60 * M));
    let actions: Vec<IncidentAction> = ev.iter().map(|e| e.action).collect();
    assert_eq!(actions, vec![IncidentAction::Open, IncidentAction::Resolve]);
    assert_eq!(ev[0].incident.member_fingerprints, vec!["e"]);
    assert_eq!(c.open_incidents(), 0);
}

#[test]
fn root_cause_orders_chain_upstream_first() {
    let mut c = Correlator::new(cfg());
    // Alerts arrive in reverse of the cascade to show order comes from the
    // topology, not only from time.
    let mut ev = feed(
        &mut c,
        &[
            fire(T0, "a1", "a", "error"),
            fire(T0 + 10 * S, "b1", "b", "error"),
            fire(T0 + 20 * S, "c1", "c", "error"),
        ],
    );
    ev.extend(c.advance(T0 + 10 * M));
    let last = ev.last().unwrap();
    let order: Vec<&str> = last
        .incident
        .root_cause
        .iter()
        .map(|r| r.service.as_str())
        .collect();
    assert_eq!(order, vec!["c", "b", "a"]);
    assert!(
        last.incident.root_cause[0]
            .reason
            .contains("none of its dependencies fail")
    );
    assert!(
        last.incident.title.contains(" on c "),
        "{}",
        last.incident.title
    );
    assert!(last.incident.title.contains("+2 services"));
}

#[test]
fn timeline_and_cooldown_resolution() {
    let mut c = Correlator::new(cfg());
    c.observe_change(&change(T0 - M, "d1", "deploy", "c"));
    let mut ev = feed(
        &mut c,
        &[fire(T0, "c1", "c", "error"), res(T0 + 2 * M, "c1", "c")],
    );
    // Re-fire inside the cool-down keeps the incident open.
    ev.extend(feed(
        &mut c,
        &[
            fire(T0 + 4 * M, "c1", "c", "error"),
            res(T0 + 5 * M, "c1", "c"),
        ],
    ));
    let cool = c.config().cooldown_ns;
    ev.extend(c.advance(T0 + 5 * M + cool - 1));
    assert!(ev.iter().all(|e| e.action != IncidentAction::Resolve));
    ev.extend(c.advance(T0 + 5 * M + cool));
    let last = ev.last().unwrap();
    assert_eq!(last.action, IncidentAction::Resolve);
    assert_eq!(last.incident.resolved_at_ns, Some(T0 + 5 * M + cool));
    assert_eq!(last.incident.status, IncidentStatus::Resolved);
    assert_eq!(last.incident.alert_count, 2);
    let kinds: Vec<&str> = last
        .incident
        .timeline
        .iter()
        .map(|t| t.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "change",
            "alert_firing",
            "decision",
            "alert_resolved",
            "alert_firing",
            "alert_resolved",
            "decision"
        ]
    );
    assert_eq!(c.open_incidents(), 0);
    // Open + resolve only: the flap changed nothing that matters.
    assert_eq!(ev.len(), 2);
}

#[test]
fn critical_alert_always_reaches_a_notification() {
    let mut c = Correlator::new(cfg());
    let mut ev = feed(
        &mut c,
        &[
            fire(T0, "c1", "c", "error"),
            fire(T0 + 2 * M, "b1", "b", "critical"),
        ],
    );
    assert_eq!(ev.len(), 1, "open before the critical alert");
    ev.extend(c.advance(T0 + 2 * M + 1));
    let upd = ev
        .iter()
        .find(|e| e.action == IncidentAction::Update)
        .unwrap();
    assert!(upd.incident.member_fingerprints.contains(&"b1".to_string()));
    assert_eq!(upd.incident.severity, Severity::P2);
    assert!(upd.reason.contains("critical alert joined"));
}

fn script() -> Vec<AlertSignal> {
    vec![
        fire(T0, "c1", "c", "critical"),
        fire(T0 + M, "b1", "b", "error"),
        fire(T0 + M, "x1", "x", "warning"),
        fire(T0 + 2 * M, "a1", "a", "error"),
        res(T0 + 8 * M, "c1", "c"),
        res(T0 + 9 * M, "b1", "b"),
        res(T0 + 9 * M, "x1", "x"),
        res(T0 + 10 * M, "a1", "a"),
        fire(T0 + 40 * M, "c1", "c", "critical"),
        res(T0 + 41 * M, "c1", "c"),
    ]
}

#[test]
fn deterministic_and_snapshot_round_trip() {
    let run = |split: Option<usize>| {
        let mut c = Correlator::new(cfg());
        c.observe_change(&change(T0 - M, "d1", "deploy", "c"));
        let mut ev = Vec::new();
        for (i, a) in script().iter().enumerate() {
            if Some(i) == split {
                let bytes = c.snapshot_json().unwrap();
                c = Correlator::restore_json(cfg(), &bytes).unwrap();
            }
            ev.extend(c.advance(a.ts_ns));
            c.observe_alert(a);
        }
        ev.extend(c.advance(T0 + 100 * M));
        ev
    };
    let base = run(None);
    assert!(base.len() >= 5);
    assert_eq!(base, run(None));
    for split in [1, 4, 8] {
        assert_eq!(base, run(Some(split)), "split at {split}");
    }
    // Two incidents for c1 (the second long after the first resolved).
    let opens = base
        .iter()
        .filter(|e| e.action == IncidentAction::Open)
        .count();
    assert_eq!(opens, 3);
}

#[test]
fn dedup_keys_are_stable_and_distinct() {
    let run = || {
        let mut c = Correlator::new(cfg());
        let mut ev = feed(&mut c, &script());
        ev.extend(c.advance(T0 + 100 * M));
        ev.iter().map(IncidentEvent::dedup_key).collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a, run());
    let mut uniq = a.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), a.len());
    assert!(a[0].starts_with("incident_open:inc-"));
}

#[test]
fn evidence_sql_names_members_and_window() {
    let mut c = Correlator::new(cfg());
    let mut ev = feed(&mut c, &[fire(T0, "c'1", "c", "error")]);
    ev.extend(c.advance(T0 + M));
    let sql = ev[0].evidence_sql();
    assert!(sql.contains("fingerprint IN ('c''1')"), "{sql}");
    assert!(sql.contains(&format!("to_timestamp_nanos({T0})")));
    assert!(!sql.contains("FROM changes"));
}
