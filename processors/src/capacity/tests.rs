use super::*;
use tocsin_ingest::builders::{Lineage, MetricRow, MetricsBuilder};

const T0: i64 = 1_795_651_200_000_000_000; // a UTC midnight
const HOUR: i64 = 3_600_000_000_000;

fn batch(name: &str, host: &str, points: &[(i64, f64)]) -> RecordBatch {
    let mut b = MetricsBuilder::new();
    for (i, &(ts, value)) in points.iter().enumerate() {
        b.push(
            &MetricRow {
                ts,
                name,
                value,
                kind: "gauge",
                service: Some("db"),
                host: Some(host),
                env: None,
                version: None,
            },
            &Lineage {
                topic: "t",
                partition: 0,
                offset: i as i64,
                received_ns: 0,
            },
        );
    }
    tocsin_ingest::TableBuilder::Metrics(b).finish().unwrap()
}

fn config() -> CapacityConfig {
    CapacityConfig {
        resources: vec![CapacityResource {
            metric: "disk_used_percent".into(),
            limit: 100.0,
            size: 8.0,
            cost_per_unit: 10.0,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Feeds `hours` of 4 samples per hour from `value(hour)`, advancing the
/// watermark every hour, and returns the decisions.
fn run(
    p: &mut CapacityProcessor,
    host: &str,
    hours: i64,
    value: impl Fn(f64) -> f64,
) -> Vec<Decision> {
    let mut out = Output::default();
    for h in 0..hours {
        let points: Vec<(i64, f64)> = (0..4)
            .map(|q| {
                let t = h as f64 + q as f64 / 4.0;
                (T0 + h * HOUR + q * HOUR / 4, value(t))
            })
            .collect();
        p.process(
            Table::Metrics,
            &batch("disk_used_percent", host, &points),
            &mut out,
        )
        .unwrap();
        p.on_watermark(T0 + (h + 1) * HOUR, &mut out);
    }
    out.decisions
}

fn daily(t: f64) -> f64 {
    (t / 24.0 * std::f64::consts::TAU).sin()
}

#[test]
fn a_filling_disk_gets_one_scale_decision_with_a_date() {
    let mut p = CapacityProcessor::new(config());
    // 40% growing 1.5 points a day: 100% in about 40 days, inside 30 days
    // after 10 days of history.
    let d = run(&mut p, "db-1", 24 * 14, |t| {
        40.0 + 1.5 * t / 24.0 + 2.0 * daily(t)
    });
    let scale: Vec<&Decision> = d.iter().filter(|d| d.kind == DecisionKind::Scale).collect();
    assert_eq!(scale.len(), 1, "{d:#?}");
    let s = scale[0];
    assert_eq!(s.action, DecisionAction::Open);
    assert_eq!(
        s.dedup_key,
        "scale:disk_used_percent{service=\"db\",host=\"db-1\"}"
    );
    // 40% + 1.5 points a day reaches 100% on day 40.
    let at = chrono::DateTime::parse_from_rfc3339(s.evidence["predicted_at"].as_str().unwrap())
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap();
    let day = (at - T0) as f64 / (24 * HOUR) as f64;
    assert!(
        (38.0..42.0).contains(&day),
        "predicted day {day}: {}",
        s.evidence
    );
    let opened_day = (s.ts - T0) as f64 / (24 * HOUR) as f64;
    assert!(
        (9.0..12.0).contains(&opened_day),
        "opened on day {opened_day}"
    );
    assert!(s.evidence["recommended_capacity"].as_f64().unwrap() > 100.0);
    assert!(
        s.evidence_sql
            .contains("FROM metrics WHERE name = 'disk_used_percent'")
    );
    assert!(d.iter().all(|d| d.kind != DecisionKind::Idle));
}

#[test]
fn a_flat_disk_is_not_scaled_and_a_quiet_one_is_rightsized_then_idle() {
    let mut p = CapacityProcessor::new(config());
    let flat = run(&mut p, "db-2", 24 * 10, |t| 50.0 + 3.0 * daily(t));
    assert!(
        flat.iter().all(|d| d.kind != DecisionKind::Scale),
        "{flat:#?}"
    );
    assert!(
        flat.iter().all(|d| d.kind != DecisionKind::Idle),
        "{flat:#?}"
    );

    let mut p = CapacityProcessor::new(config());
    let quiet = run(&mut p, "db-3", 24 * 8, |t| 1.0 + 0.5 * daily(t).abs());
    let kinds: Vec<(DecisionKind, DecisionAction)> =
        quiet.iter().map(|d| (d.kind, d.action)).collect();
    assert!(
        kinds.contains(&(DecisionKind::Idle, DecisionAction::Open)),
        "{kinds:?}"
    );
    let rs = quiet
        .iter()
        .find(|d| d.kind == DecisionKind::Rightsize)
        .unwrap_or_else(|| panic!("{kinds:?}"));
    assert_eq!(rs.evidence["suggested_size"], 1.0, "{}", rs.evidence);
    assert_eq!(rs.evidence["saving_per_month"], 70.0, "{}", rs.evidence);
}

#[test]
fn a_scale_decision_resolves_when_growth_stops_and_state_survives_restore() {
    let mut p = CapacityProcessor::new(config());
    run(&mut p, "db-4", 24 * 12, |t| {
        40.0 + 1.5 * t / 24.0 + daily(t)
    });
    let snap = crate::snapshot_to_vec(&mut p).unwrap();
    let mut q = CapacityProcessor::new(config());
    q.restore(&snap).unwrap();
    // Growth stops at ~58%; after the history forgets the ramp the forecast
    // no longer crosses and the decision resolves.
    let mut out = Output::default();
    for h in 24 * 12..24 * 45 {
        let pts = [(T0 + h * HOUR, 58.0 + daily(h as f64))];
        q.process(
            Table::Metrics,
            &batch("disk_used_percent", "db-4", &pts),
            &mut out,
        )
        .unwrap();
        q.on_watermark(T0 + (h + 1) * HOUR, &mut out);
    }
    let actions: Vec<(DecisionKind, DecisionAction)> = out
        .decisions
        .iter()
        .filter(|d| d.kind == DecisionKind::Scale)
        .map(|d| (d.kind, d.action))
        .collect();
    assert_eq!(
        actions,
        vec![(DecisionKind::Scale, DecisionAction::Resolve)],
        "{:#?}",
        out.decisions
    );
}

#[test]
fn config_validation() {
    assert!(config().validate().is_ok());
    let mut bad = config();
    bad.resources[0].limit = 0.0;
    assert!(bad.validate().unwrap_err().contains("resources[0]"));
}

#[test]
fn linear_crossing_needs_a_significant_rise() {
    let rising: Vec<f64> = (0..100)
        .map(|t| 10.0 + t as f64 + daily(t as f64))
        .collect();
    let (steps, projected) = linear_crossing(&rising, 200.0, 1000).unwrap();
    assert!((90..=92).contains(&steps), "{steps}");
    assert!((1000.0..1200.0).contains(&projected), "{projected}");
    assert_eq!(
        linear_crossing(&rising, 200.0, 50),
        None,
        "beyond the horizon"
    );
    let flat: Vec<f64> = (0..100).map(|t| 50.0 + 5.0 * daily(t as f64)).collect();
    assert_eq!(linear_crossing(&flat, 100.0, 10_000), None);
    let falling: Vec<f64> = rising.iter().rev().copied().collect();
    assert_eq!(linear_crossing(&falling, 200.0, 10_000), None);
}
