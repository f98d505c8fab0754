use super::*;
use tocsin_ingest::builders::{VulnerabilitiesBuilder, VulnerabilityRow};
use tocsin_ingest::{Lineage, TableBuilder};

const H: i64 = 3_600_000_000_000;
const T0: i64 = 1_795_651_200_000_000_000; // 2026-11-26T00:00:00Z

/// (cve, cvss, kev) findings of one scan of `target` at `ts`; an empty
/// list is a clean scan (the decoder's marker row).
fn scan(target: &str, ts: i64, findings: &[(&str, f64, bool)]) -> RecordBatch {
    let mut b = VulnerabilitiesBuilder::new();
    let lineage = Lineage {
        topic: "http.vulnerabilities.trivy",
        partition: 0,
        offset: 0,
        received_ns: ts,
    };
    let marker = [("", 0.0, false)];
    let rows: &[(&str, f64, bool)] = if findings.is_empty() {
        &marker
    } else {
        findings
    };
    for (cve, cvss, kev) in rows {
        b.push(
            &VulnerabilityRow {
                ts,
                scanner: "trivy",
                target,
                package: if cve.is_empty() { "" } else { "openssl" },
                installed_version: Some("3.0.1"),
                fixed_version: Some("3.0.9"),
                cve,
                cvss: (!cve.is_empty()).then_some(*cvss),
                severity: if cve.is_empty() { "none" } else { "HIGH" },
                known_exploited: Some(*kev),
                epss: None,
                service: Some("checkout"),
            },
            &lineage,
        );
    }
    TableBuilder::Vulnerabilities(b).finish().unwrap()
}

fn processor() -> PatchingProcessor {
    PatchingProcessor::new(PatchConfig {
        internet_facing: vec!["checkout".into()],
        ..PatchConfig::default()
    })
    .unwrap()
}

fn run(p: &mut PatchingProcessor, batch: Option<RecordBatch>, watermark: i64) -> Vec<Decision> {
    let mut out = Output::default();
    if let Some(b) = batch {
        p.process(Table::Vulnerabilities, &b, &mut out).unwrap();
    }
    p.on_watermark(watermark, &mut out);
    out.decisions
}

#[test]
fn findings_open_escalate_breach_and_resolve() {
    let mut p = processor();
    let target = "registry/checkout:1.4";
    let d = run(
        &mut p,
        Some(scan(
            target,
            T0,
            &[("CVE-2026-0001", 9.8, true), ("CVE-2026-0002", 5.3, false)],
        )),
        T0 + H,
    );
    assert_eq!(d.len(), 2, "{d:#?}");
    let exploited = d
        .iter()
        .find(|x| x.evidence["cve"] == "CVE-2026-0001")
        .unwrap();
    assert_eq!(exploited.kind, DecisionKind::Patch);
    assert_eq!(exploited.action, DecisionAction::Open);
    assert_eq!(exploited.severity, Severity::Critical);
    assert_eq!(exploited.evidence["internet_facing"], true);
    assert!(exploited.evidence_sql.contains("CVE-2026-0001"));
    let medium = d
        .iter()
        .find(|x| x.evidence["cve"] == "CVE-2026-0002")
        .unwrap();
    assert_eq!(medium.severity, Severity::Warning);
    assert_ne!(exploited.dedup_key, medium.dedup_key);

    // 75% of the critical 24 h SLA: one at-risk escalation.
    let d = run(&mut p, None, T0 + 19 * H);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].action, DecisionAction::Update);
    assert_eq!(d[0].evidence["sla_at_risk"], true);
    assert_eq!(d[0].dedup_key, exploited.dedup_key);

    // Snapshot and restore in the middle of it.
    let state = crate::snapshot_to_vec(&mut p).unwrap();
    let mut p = processor();
    p.restore(&state).unwrap();

    // Past due: the breach, critical, exactly once.
    let d = run(&mut p, None, T0 + 25 * H);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].severity, Severity::Critical);
    assert_eq!(d[0].evidence["sla_breached"], true);
    assert_ne!(d[0].id, format!("{}#update#at_risk", exploited.dedup_key));
    assert!(run(&mut p, None, T0 + 30 * H).is_empty());

    // A later clean scan resolves both.
    let d = run(&mut p, Some(scan(target, T0 + 48 * H, &[])), T0 + 49 * H);
    let resolved: Vec<_> = d
        .iter()
        .filter(|x| x.action == DecisionAction::Resolve)
        .map(|x| x.dedup_key.clone())
        .collect();
    assert_eq!(resolved.len(), 2, "{d:#?}");
    assert!(resolved.contains(&exploited.dedup_key) && resolved.contains(&medium.dedup_key));
}

#[test]
fn a_missing_kev_file_is_a_clear_error() {
    let e = PatchingProcessor::new(PatchConfig {
        kev_file: Some("/nonexistent/kev.json".into()),
        ..PatchConfig::default()
    })
    .err()
    .unwrap();
    assert!(e.to_string().contains("/nonexistent/kev.json"), "{e}");
}
