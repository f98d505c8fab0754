use super::*;
use tocsin_ingest::builders::{ChangeRow, ChangesBuilder, LogRow, LogsBuilder};
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

fn change(off_s: i64, kind: &str, version: &str, details: &str) -> RecordBatch {
    let mut b = ChangesBuilder::new();
    b.push(
        &ChangeRow {
            ts: T0 + off_s * SEC,
            id: "chg-1",
            kind,
            service: Some("checkout"),
            env: Some("prod"),
            version: Some(version),
            actor: Some("ci"),
            details,
            source: "test",
        },
        &lineage(),
    );
    TableBuilder::Changes(b).finish().unwrap()
}

/// A deterministic stream in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Access-log lines of one second: `per_s` requests of `version`, each
/// failing with probability `err` and lasting about `median_ms`.
fn second(
    b: &mut LogsBuilder,
    rng: &mut Lcg,
    t_s: i64,
    version: &str,
    per_s: usize,
    err: f64,
    median_ms: f64,
) {
    for k in 0..per_s {
        let failed = rng.next() < err;
        // Log-normal-ish: median times exp(0.5 · approx. normal).
        let z = (0..4).map(|_| rng.next()).sum::<f64>() - 2.0;
        let latency = median_ms * (0.5 * z * 1.7).exp();
        b.attributes
            .push_entry("duration_ms", &format!("{latency:.2}"));
        b.attributes
            .push_entry("status", if failed { "503" } else { "200" });
        b.push(
            &LogRow {
                ts: T0 + t_s * SEC + (k as i64 * SEC / per_s as i64),
                service: Some("checkout"),
                host: None,
                env: Some("prod"),
                version: Some(version),
                level: if failed { "error" } else { "info" },
                message: "GET /cart",
                trace_id: None,
            },
            &lineage(),
        );
    }
}

/// Runs a canary of v2 beside v1 for `secs`; returns the decisions.
fn canary(
    p: &mut RolloutProcessor,
    canary_err: f64,
    canary_ms: f64,
    canary_rps: usize,
    secs: i64,
) -> Vec<Decision> {
    let mut out = Output::default();
    let mut rng = Lcg(7);
    // Ten minutes of v1 before the deploy.
    let mut run =
        |p: &mut RolloutProcessor, from: i64, to: i64, with_canary: bool, out: &mut Output| {
            for chunk in (from..to).step_by(10) {
                let mut b = LogsBuilder::new();
                for s in chunk..(chunk + 10).min(to) {
                    second(&mut b, &mut rng, s, "v1", 90, 0.01, 80.0);
                    if with_canary {
                        second(&mut b, &mut rng, s, "v2", canary_rps, canary_err, canary_ms);
                    }
                }
                let batch = TableBuilder::Logs(b).finish().unwrap();
                p.process(Table::Logs, &batch, out).unwrap();
                p.on_watermark(T0 + (chunk + 10) * SEC, out);
            }
        };
    run(p, -600, 0, false, &mut out);
    p.process(
        Table::Changes,
        &change(
            0,
            "deploy",
            "v2",
            r#"{"strategy":"canary","traffic_weight":0.1}"#,
        ),
        &mut out,
    )
    .unwrap();
    run(p, 0, secs, true, &mut out);
    out.decisions
}

#[test]
fn a_canary_with_five_points_more_errors_is_rolled_back_within_five_minutes() {
    let mut p = RolloutProcessor::new(RolloutConfig::default()).unwrap();
    let d = canary(&mut p, 0.06, 80.0, 10, 300);
    let rollback = d.iter().find(|d| d.kind == DecisionKind::Rollback);
    let Some(rollback) = rollback else {
        panic!("no rollback: {d:#?}");
    };
    assert_eq!(rollback.target, "checkout@v2");
    assert!(rollback.ts <= T0 + 300 * SEC);
    assert!(
        rollback
            .evidence_sql
            .contains("FROM logs WHERE service = 'checkout' AND version = 'v2'"),
        "{}",
        rollback.evidence_sql
    );
    assert!(
        rollback.evidence_sql.contains("version = 'v1'"),
        "{}",
        rollback.evidence_sql
    );
    assert!(!d.iter().any(|d| d.kind == DecisionKind::Promote), "{d:#?}");
}

#[test]
fn slower_canary_is_rolled_back_and_an_equal_one_promoted() {
    let mut p = RolloutProcessor::new(RolloutConfig::default()).unwrap();
    let d = canary(&mut p, 0.01, 120.0, 10, 600);
    assert!(d.iter().any(|d| d.kind == DecisionKind::Rollback), "{d:#?}");

    let mut p = RolloutProcessor::new(RolloutConfig::default()).unwrap();
    let d = canary(&mut p, 0.01, 80.0, 10, 700);
    assert!(
        !d.iter().any(|d| d.kind == DecisionKind::Rollback),
        "{d:#?}"
    );
    assert!(d.iter().any(|d| d.kind == DecisionKind::Promote), "{d:#?}");
}

#[test]
fn a_canary_without_traffic_is_held_never_promoted() {
    let mut p = RolloutProcessor::new(RolloutConfig::default()).unwrap();
    let d = canary(&mut p, 0.0, 80.0, 0, 700);
    assert!(!d.iter().any(|d| d.kind == DecisionKind::Promote), "{d:#?}");
    let verdicts: Vec<&str> = d
        .iter()
        .map(|d| d.evidence["verdict"].as_str().unwrap_or(""))
        .collect();
    // Held while data is missing, then closed as inconclusive, once each.
    assert_eq!(verdicts, ["hold", "inconclusive"], "{d:#?}");
    assert!(d.iter().all(|d| d.kind == DecisionKind::Hold));
    assert!(
        d[1].reason.contains("canary")
            || d[1].reason.contains("data")
            || d[1].reason.contains("sample"),
        "{}",
        d[1].reason
    );
}

#[test]
fn slo_burn_raises_an_alert_and_state_survives_a_restart() {
    let cfg = RolloutConfig {
        slos: vec![SloSpec {
            service: "checkout".into(),
            objective: 0.999,
            latency_threshold_ms: None,
        }],
        ..RolloutConfig::default()
    };
    let mut p = RolloutProcessor::new(cfg.clone()).unwrap();
    let mut out = Output::default();
    let mut rng = Lcg(3);
    // 20% errors for 15 minutes burns a 99.9% budget 200× over.
    for chunk in (0..900).step_by(10) {
        let mut b = LogsBuilder::new();
        for s in chunk..chunk + 10 {
            second(&mut b, &mut rng, s, "v1", 20, 0.2, 80.0);
        }
        p.process(
            Table::Logs,
            &TableBuilder::Logs(b).finish().unwrap(),
            &mut out,
        )
        .unwrap();
        p.on_watermark(T0 + (chunk + 10) * SEC, &mut out);
    }
    let burn = out.alerts.iter().find(|a| a.alertname == "ErrorBudgetBurn");
    let Some(burn) = burn else {
        panic!("no burn alert: {:#?}", out.alerts);
    };
    assert_eq!(burn.severity, "critical");
    assert_eq!(burn.source, "tocsin.slo");
    let budgets = p.budgets();
    assert_eq!(budgets.len(), 1);
    assert!(budgets[0].1 < 1.0, "{budgets:?}");

    let snap = crate::snapshot_to_vec(&mut p).unwrap();
    let mut q = RolloutProcessor::new(cfg).unwrap();
    q.restore(&snap).unwrap();
    assert_eq!(q.budgets(), p.budgets());
}
