use super::*;
use tocsin_ingest::builders::{AlertRow, AlertsBuilder, ChangeRow, ChangesBuilder};
use tocsin_ingest::{Lineage, TableBuilder};

const T0: i64 = 1_795_681_800_000_000_000;
const SEC: i64 = 1_000_000_000;

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "t",
        partition: 0,
        offset: 0,
        received_ns: 0,
    }
}

/// One alert row per `(offset_s, alertname, service, severity, status)`.
fn alerts(rows: &[(i64, &str, &str, &str, &str)]) -> RecordBatch {
    let mut b = AlertsBuilder::new();
    for (off, name, svc, sev, status) in rows {
        b.labels.push_entry("alertname", name);
        b.labels.push_entry("service", svc);
        b.labels.push_entry("severity", sev);
        b.push(
            &AlertRow {
                ts: T0 + off * SEC,
                fingerprint: &format!("{name}-{svc}"),
                alertname: name,
                status,
                severity: Some(sev),
                service: Some(svc),
                starts_at: None,
                ends_at: None,
                source: "test",
            },
            &lineage(),
        );
    }
    TableBuilder::Alerts(b).finish().unwrap()
}

fn deploy(off: i64, svc: &str, id: &str) -> RecordBatch {
    let mut b = ChangesBuilder::new();
    b.push(
        &ChangeRow {
            ts: T0 + off * SEC,
            id,
            kind: "deploy",
            service: Some(svc),
            env: Some("prod"),
            version: Some("2.0"),
            actor: Some("ci"),
            details: "{}",
            source: "test",
        },
        &lineage(),
    );
    TableBuilder::Changes(b).finish().unwrap()
}

fn config() -> IncidentsConfig {
    IncidentsConfig {
        topology: tocsin_incidents::TopologyConfig {
            calls: vec![
                ("frontend".into(), "checkout".into()),
                ("checkout".into(), "db".into()),
            ],
            user_facing: vec!["frontend".into()],
        },
        ..IncidentsConfig::default()
    }
}

fn run(p: &mut IncidentsProcessor, batches: &[(Table, RecordBatch)], until_s: i64) -> Output {
    let mut out = Output::default();
    for (t, b) in batches {
        p.process(*t, b, &mut out).unwrap();
    }
    for s in (0..=until_s).step_by(10) {
        p.on_watermark(T0 + s * SEC, &mut out);
    }
    out
}

#[test]
fn a_cascade_becomes_one_incident_with_the_deploy_suspected() {
    let mut p = IncidentsProcessor::new(config()).unwrap();
    let batches = vec![
        (Table::Changes, deploy(-120, "db", "deploy-db-2.0")),
        (
            Table::Alerts,
            alerts(&[
                (0, "HighLatency", "db", "critical", "firing"),
                (20, "HighErrorRate", "checkout", "critical", "firing"),
                (40, "HighErrorRate", "frontend", "warning", "firing"),
                // Re-sent while firing: deduplicated.
                (60, "HighLatency", "db", "critical", "firing"),
            ]),
        ),
    ];
    let out = run(&mut p, &batches, 300);
    let opens: Vec<&IncidentRow> = out
        .incidents
        .iter()
        .filter(|r| r.action == "open")
        .collect();
    assert_eq!(opens.len(), 1, "{:#?}", out.incidents);
    let last = out.incidents.last().unwrap();
    assert_eq!(last.services.len(), 3, "{last:#?}");
    assert_eq!(last.alert_count, 3, "{last:#?}");
    assert_eq!(last.suspected_change.as_deref(), Some("deploy-db-2.0"));
    // The upstream-most failing service (db, which checkout and frontend
    // call) is the root-cause hint.
    assert_eq!(last.root_cause.as_deref(), Some("db"));
    let d = &out.decisions[0];
    assert_eq!(d.kind, DecisionKind::Incident);
    assert_eq!(d.action, DecisionAction::Open);
    assert!(d.dedup_key.starts_with("tocsin-incident-"));
    assert!(out.decisions.iter().all(|x| x.dedup_key == d.dedup_key));
    assert!(d.evidence_sql.contains("alerts"), "{}", d.evidence_sql);

    // Everything resolves: after the cool-down the incident resolves once.
    let resolved = alerts(&[
        (400, "HighLatency", "db", "critical", "resolved"),
        (400, "HighErrorRate", "checkout", "critical", "resolved"),
        (400, "HighErrorRate", "frontend", "warning", "resolved"),
    ]);
    let out = run(&mut p, &[(Table::Alerts, resolved)], 1200);
    let resolves: Vec<&Decision> = out
        .decisions
        .iter()
        .filter(|d| d.action == DecisionAction::Resolve)
        .collect();
    assert_eq!(resolves.len(), 1, "{:#?}", out.decisions);
    assert_eq!(out.incidents.last().unwrap().status, "resolved");
}

#[test]
fn silenced_alerts_open_no_incident_and_silences_reload_from_their_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silences.json");
    let mut silences = Silences::new();
    silences
        .create(tocsin_alerting::Silence {
            id: String::new(),
            matchers: tocsin_alerting::parse_matchers(r#"{service="db"}"#).unwrap(),
            starts_at_ns: T0 - 3600 * SEC,
            ends_at_ns: T0 + 3600 * SEC,
            created_by: "oncall".into(),
            comment: "maintenance".into(),
        })
        .unwrap();
    std::fs::write(&path, silences.to_json()).unwrap();
    let mut p = IncidentsProcessor::new(IncidentsConfig {
        silences_file: Some(path.clone()),
        ..config()
    })
    .unwrap();
    let out = run(
        &mut p,
        &[(
            Table::Alerts,
            alerts(&[(0, "DiskFull", "db", "critical", "firing")]),
        )],
        300,
    );
    assert!(out.incidents.is_empty(), "{:#?}", out.incidents);
    assert_eq!(p.suppressed(), 1);

    // Without the file the same alert elsewhere opens an incident.
    std::fs::remove_file(&path).unwrap();
    let out = run(
        &mut p,
        &[(
            Table::Alerts,
            alerts(&[(310, "DiskFull", "checkout", "critical", "firing")]),
        )],
        700,
    );
    assert_eq!(
        out.incidents.iter().filter(|r| r.action == "open").count(),
        1
    );
}

#[test]
fn state_survives_a_restart() {
    let mut a = IncidentsProcessor::new(config()).unwrap();
    run(
        &mut a,
        &[(
            Table::Alerts,
            alerts(&[(0, "HighLatency", "db", "critical", "firing")]),
        )],
        100,
    );
    let snap = crate::snapshot_to_vec(&mut a).unwrap();
    let mut b = IncidentsProcessor::new(config()).unwrap();
    b.restore(&snap).unwrap();
    // The resolution reaches the incident opened before the restart.
    let out = run(
        &mut b,
        &[(
            Table::Alerts,
            alerts(&[(200, "HighLatency", "db", "critical", "resolved")]),
        )],
        1000,
    );
    assert_eq!(
        out.decisions
            .iter()
            .filter(|d| d.action == DecisionAction::Resolve)
            .count(),
        1,
        "{:#?}",
        out.decisions
    );
    let snap2 = crate::snapshot_to_vec(&mut b).unwrap();
    assert!(b.restore(&snap2).is_ok());
}

#[test]
fn bad_configuration_is_refused_with_the_field() {
    let err = IncidentsProcessor::new(IncidentsConfig {
        notify_min_severity: "P9".into(),
        ..IncidentsConfig::default()
    })
    .err()
    .unwrap();
    assert!(err.contains("notify_min_severity"), "{err}");
    let err = IncidentsProcessor::new(IncidentsConfig {
        alertmanager_config: Some("/nonexistent/am.yml".into()),
        ..IncidentsConfig::default()
    })
    .err()
    .unwrap();
    assert!(err.contains("/nonexistent/am.yml"), "{err}");
}
