//! Tests of the error-rate processor.

use super::*;
use tocsin_ingest::builders::{Lineage, LogRow, LogsBuilder, MetricRow, MetricsBuilder};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_795_681_800 * S;

fn lineage() -> Lineage<'static> {
    Lineage {
        topic: "t",
        partition: 0,
        offset: 0,
        received_ns: 0,
    }
}

/// One second of logs per service: `n` lines, `errors` of them errors.
fn logs(second: i64, rows: &[(&str, usize, usize)]) -> RecordBatch {
    let mut b = LogsBuilder::new();
    for &(svc, n, errors) in rows {
        for i in 0..n {
            let row = LogRow {
                ts: T0 + second * S + i as i64,
                service: Some(svc),
                host: None,
                env: None,
                version: None,
                level: if i < errors { "error" } else { "info" },
                message: "m",
                trace_id: None,
            };
            b.push(&row, &lineage());
        }
    }
    let mut tb = tocsin_ingest::TableBuilder::Logs(b);
    tb.finish().unwrap()
}

fn run(
    p: &mut ErrorRateProcessor,
    seconds: std::ops::Range<i64>,
    err: impl Fn(i64) -> usize,
) -> Vec<Decision> {
    let mut out = Output::default();
    for s in seconds {
        let batch = logs(s, &[("checkout", 10, err(s)), ("catalog", 10, 0)]);
        p.process(Table::Logs, &batch, &mut out).unwrap();
        p.on_watermark(T0 + (s + 1) * S, &mut out);
    }
    out.decisions
}

#[test]
fn a_burst_opens_one_incident_and_recovery_resolves_it() {
    let mut p = ErrorRateProcessor::new(ErrorRateConfig::default());
    // 2 min healthy, 1 min at 50% errors, 3 min healthy.
    let out = run(
        &mut p,
        0..360,
        |s| if (120..180).contains(&s) { 5 } else { 0 },
    );
    let summary: Vec<(&str, DecisionAction)> =
        out.iter().map(|d| (d.target.as_str(), d.action)).collect();
    assert_eq!(
        summary,
        vec![
            ("checkout", DecisionAction::Open),
            ("checkout", DecisionAction::Resolve)
        ]
    );
    assert_eq!(out[0].dedup_key, out[1].dedup_key);
    assert_ne!(out[0].id, out[1].id);
    // 16.7% at the first breach: above the threshold, below twice it.
    assert_eq!(out[0].severity, Severity::Error);
    assert!(out[0].confidence > 0.99);
    // Opened within one step of the burst starting to dominate the window.
    let opened_after = (out[0].ts - T0) / S - 120;
    assert!((0..=20).contains(&opened_after), "{opened_after}");
    assert!(out[0].evidence_sql.contains("service = 'checkout'"));
    assert_eq!(out[0].evidence["log_lines"], 600);
}

#[test]
fn below_threshold_or_too_few_events_never_opens() {
    let mut p = ErrorRateProcessor::new(ErrorRateConfig::default());
    // 5% errors: under the 10% threshold.
    let out = run(&mut p, 0..300, |s| usize::from(s % 2 == 0));
    assert!(out.is_empty(), "{out:?}");

    let cfg = ErrorRateConfig {
        min_events: 1000,
        ..Default::default()
    };
    let mut p = ErrorRateProcessor::new(cfg);
    assert!(run(&mut p, 0..300, |_| 9).is_empty());
}

#[test]
fn replay_is_deterministic_and_restore_continues_the_same_way() {
    let burst = |s: i64| if (100..200).contains(&s) { 6 } else { 0 };
    let mut a = ErrorRateProcessor::new(ErrorRateConfig::default());
    let all = run(&mut a, 0..400, burst);

    let mut b = ErrorRateProcessor::new(ErrorRateConfig::default());
    let mut first = run(&mut b, 0..150, burst);
    let snap = crate::snapshot_to_vec(&mut b).unwrap();
    let mut c = ErrorRateProcessor::new(ErrorRateConfig::default());
    c.restore(&snap).unwrap();
    first.extend(run(&mut c, 150..400, burst));
    assert_eq!(all, first);
    assert_eq!(all.len(), 2);
}

#[test]
fn late_rows_are_counted_not_used() {
    let mut p = ErrorRateProcessor::new(ErrorRateConfig::default());
    run(&mut p, 0..100, |_| 0);
    let mut out = Output::default();
    p.process(Table::Logs, &logs(10, &[("checkout", 50, 50)]), &mut out)
        .unwrap();
    assert_eq!(p.late_rows(), 50);
    p.on_watermark(T0 + 101 * S, &mut out);
    assert!(out.is_empty());
}

#[test]
fn request_counters_with_resets() {
    let mut p = ErrorRateProcessor::new(ErrorRateConfig::default());
    let mut out = Output::default();
    let mut requests = 0.0;
    let mut errors = 0.0;
    for s in 0..300i64 {
        // The process restarts at 150 s: counters drop to zero.
        if s == 150 {
            requests = 0.0;
            errors = 0.0;
        }
        requests += 100.0;
        errors += if (200..260).contains(&s) { 30.0 } else { 0.0 };
        let mut b = MetricsBuilder::new();
        for (name, v) in [("requests_total", requests), ("errors_total", errors)] {
            b.labels.push_entry("route", "/pay");
            b.push(
                &MetricRow {
                    ts: T0 + s * S,
                    name,
                    value: v,
                    kind: "counter",
                    service: Some("payments"),
                    host: Some("h"),
                    env: None,
                    version: None,
                },
                &lineage(),
            );
        }
        let batch = tocsin_ingest::TableBuilder::Metrics(b).finish().unwrap();
        p.process(Table::Metrics, &batch, &mut out).unwrap();
        p.on_watermark(T0 + (s + 1) * S, &mut out);
    }
    let out = out.decisions;
    let actions: Vec<DecisionAction> = out.iter().map(|d| d.action).collect();
    // The reset at 150 s must not look like a burst; the errors at 200 s must.
    assert_eq!(actions, vec![DecisionAction::Open], "{out:?}");
    assert!((200..=230).contains(&((out[0].ts - T0) / S)));
}

#[test]
fn a_jump_in_event_time_is_cheap_and_quiet() {
    let mut p = ErrorRateProcessor::new(ErrorRateConfig::default());
    run(&mut p, 0..10, |_| 0);
    let mut out = Output::default();
    // A year later.
    p.on_watermark(T0 + 365 * 86_400 * S, &mut out);
    assert!(out.is_empty());
}

#[test]
fn config_validation() {
    assert!(ErrorRateConfig::default().validate().is_ok());
    let bad = ErrorRateConfig {
        resolve_threshold: 0.5,
        ..Default::default()
    };
    assert!(bad.validate().is_err());
    let bad = ErrorRateConfig {
        window: Duration::from_secs(15),
        ..Default::default()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn in_alert_mode_a_burst_raises_and_resolves_one_alert_and_pages_nothing() {
    let mut p = ErrorRateProcessor::new(ErrorRateConfig {
        emit: ErrorRateEmit::Alert,
        ..ErrorRateConfig::default()
    });
    let mut out = Output::default();
    for s in 0..360 {
        let errors = if (120..180).contains(&s) { 5 } else { 0 };
        let batch = logs(s, &[("checkout", 10, errors), ("catalog", 10, 0)]);
        p.process(Table::Logs, &batch, &mut out).unwrap();
        p.on_watermark(T0 + (s + 1) * S, &mut out);
    }
    assert!(out.decisions.is_empty(), "{:#?}", out.decisions);
    let steps: Vec<(&str, crate::output::AlertStatus)> = out
        .alerts
        .iter()
        .map(|a| (a.labels["service"].as_str(), a.status))
        .collect();
    assert_eq!(
        steps,
        [
            ("checkout", crate::output::AlertStatus::Firing),
            ("checkout", crate::output::AlertStatus::Resolved)
        ]
    );
    // One alert: the same identity when it fires and when it resolves.
    assert_eq!(out.alerts[0].fingerprint(), out.alerts[1].fingerprint());
    assert_eq!(out.alerts[0].source, "tocsin.error_rate");
    assert!(out.alerts[0].annotations["evidence_sql"].contains("checkout"));
}
