use super::*;
use crate::output::{AlertStatus, RaisedAlert};
use tocsin_ingest::builders::{Lineage, MetricRow, MetricsBuilder};

const T0: i64 = 1_795_681_800_000_000_000;
const STEP: i64 = 10_000_000_000;

/// Deterministic noise in [-1, 1] (a hash of `i`), so tests need no RNG.
fn noise(i: i64) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x % 2001) as f64 / 1000.0 - 1.0
}

fn batch(points: &[(i64, &str, &str, f64, &str)]) -> RecordBatch {
    let mut b = MetricsBuilder::new();
    for (i, &(ts, name, service, value, kind)) in points.iter().enumerate() {
        b.labels.push_entry("route", "/pay");
        b.push(
            &MetricRow {
                ts,
                name,
                value,
                kind,
                service: Some(service),
                host: Some("h1"),
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

/// Latency around 50 ms; 400 ms more during `bad`.
fn latency(i: i64, bad: &std::ops::Range<i64>) -> f64 {
    50.0 + 3.0 * noise(i) + if bad.contains(&i) { 400.0 } else { 0.0 }
}

fn feed(
    p: &mut AnomalyProcessor,
    range: std::ops::Range<i64>,
    value: impl Fn(i64) -> f64,
    name: &str,
    kind: &str,
) -> Vec<RaisedAlert> {
    let mut out = Output::default();
    let points: Vec<_> = range
        .map(|i| (T0 + i * STEP, name, "checkout", value(i), kind))
        .collect();
    for chunk in points.chunks(100) {
        p.process(Table::Metrics, &batch(chunk), &mut out).unwrap();
    }
    out.alerts
}

#[test]
fn a_level_jump_fires_once_and_resolves_with_the_same_fingerprint() {
    let mut p = AnomalyProcessor::new(AnomalyConfig::default());
    let bad = 1500..1530;
    let alerts = feed(&mut p, 0..2000, |i| latency(i, &bad), "latency_ms", "gauge");
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let (fire, resolve) = (&alerts[0], &alerts[1]);
    assert_eq!(fire.status, AlertStatus::Firing);
    assert_eq!(resolve.status, AlertStatus::Resolved);
    assert_eq!(fire.source, ALERT_SOURCE);
    assert_eq!(fire.labels["metric"], "latency_ms");
    assert_eq!(fire.labels["service"], "checkout");
    assert_eq!(fire.labels["route"], "/pay");
    assert_eq!(fire.fingerprint(), resolve.fingerprint());
    let fired_at = (fire.ts - T0) / STEP;
    assert!(bad.contains(&fired_at), "fired at point {fired_at}");
    assert!(fire.annotations["summary"].contains("above"));
}

#[test]
fn counters_are_scored_as_rates_and_a_reset_is_not_an_anomaly() {
    let mut p = AnomalyProcessor::new(AnomalyConfig::default());
    // 100 requests/s (1000 per 10 s step), restarting from zero at 1200.
    let quiet = feed(
        &mut p,
        0..1500,
        |i| {
            let from = if i < 1200 { 0 } else { 1200 };
            (from..i).map(|j| (1000.0 + 20.0 * noise(j)).round()).sum()
        },
        "requests_total",
        "counter",
    );
    assert!(quiet.is_empty(), "{quiet:#?}");
    // Then the rate jumps tenfold.
    let base = 300.0 * 1000.0;
    let loud = feed(
        &mut p,
        1500..1520,
        |i| base + (i - 1500) as f64 * 10_000.0,
        "requests_total",
        "counter",
    );
    assert!(
        loud.iter().any(|a| a.status == AlertStatus::Firing),
        "{loud:#?}"
    );
}

#[test]
fn direction_and_disabled_rules_are_honoured() {
    let cfg = AnomalyConfig {
        rules: vec![
            AnomalyRule {
                metric: "ignored_*".into(),
                enabled: false,
                ..Default::default()
            },
            AnomalyRule {
                metric: "*".into(),
                direction: AnomalyDirection::Down,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let mut p = AnomalyProcessor::new(cfg);
    let bad = 1500..1530;
    let up = feed(&mut p, 0..2000, |i| latency(i, &bad), "latency_ms", "gauge");
    assert!(up.is_empty(), "a rise is ignored by a `down` rule: {up:#?}");
    let ignored = feed(
        &mut p,
        0..2000,
        |i| latency(i, &bad),
        "ignored_latency",
        "gauge",
    );
    assert!(ignored.is_empty());
}

#[test]
fn series_beyond_the_cap_evict_the_oldest() {
    let cfg = AnomalyConfig {
        max_series: 50,
        ..Default::default()
    };
    let mut p = AnomalyProcessor::new(cfg);
    let mut out = Output::default();
    for s in 0..500i64 {
        let name = format!("m{s}");
        let b = batch(&[(T0 + s * STEP, name.as_str(), "svc", 1.0, "gauge")]);
        p.process(Table::Metrics, &b, &mut out).unwrap();
        assert!(p.series() <= 50);
    }
    assert_eq!(p.state.evicted, 450);
}

#[test]
fn a_restored_snapshot_scores_exactly_like_the_original() {
    let bad = 1500..1530;
    let mut a = AnomalyProcessor::new(AnomalyConfig::default());
    feed(&mut a, 0..1400, |i| latency(i, &bad), "latency_ms", "gauge");
    let snap = crate::snapshot_to_vec(&mut a).unwrap();
    let mut b = AnomalyProcessor::new(AnomalyConfig::default());
    b.restore(&snap).unwrap();
    let from_a = feed(
        &mut a,
        1400..2000,
        |i| latency(i, &bad),
        "latency_ms",
        "gauge",
    );
    let from_b = feed(
        &mut b,
        1400..2000,
        |i| latency(i, &bad),
        "latency_ms",
        "gauge",
    );
    assert!(!from_a.is_empty());
    assert_eq!(from_a, from_b);
}

#[test]
fn a_restored_snapshot_runs_with_the_configuration_not_the_defaults() {
    // The checkpoint holds no configuration: a restored detector must pick
    // up the processor's, or this non-default one would score differently.
    let cfg = || AnomalyConfig {
        detector: DetectorConfig {
            sensitivity: 4.0,
            warmup: 50,
            ..DetectorConfig::default()
        },
        ..AnomalyConfig::default()
    };
    let bad = 1500..1530;
    let mut a = AnomalyProcessor::new(cfg());
    feed(&mut a, 0..1400, |i| latency(i, &bad), "latency_ms", "gauge");
    let snap = crate::snapshot_to_vec(&mut a).unwrap();
    let mut b = AnomalyProcessor::new(cfg());
    b.restore(&snap).unwrap();
    let mut with_defaults = AnomalyProcessor::new(AnomalyConfig::default());
    with_defaults.restore(&snap).unwrap();
    let run =
        |p: &mut AnomalyProcessor| feed(p, 1400..2000, |i| latency(i, &bad), "latency_ms", "gauge");
    let (from_a, from_b, from_defaults) = (run(&mut a), run(&mut b), run(&mut with_defaults));
    assert!(!from_a.is_empty());
    assert_eq!(from_a, from_b);
    assert_ne!(from_a, from_defaults, "the sensitivity made no difference");
}

#[test]
fn a_snapshot_restored_under_changed_rules_rescopes_its_series() {
    let rules = |metrics: &[&str]| AnomalyConfig {
        rules: metrics
            .iter()
            .map(|m| AnomalyRule {
                metric: (*m).into(),
                ..AnomalyRule::default()
            })
            .collect(),
        ..AnomalyConfig::default()
    };
    let bad = 1500..1530;
    let mut a = AnomalyProcessor::new(rules(&["queue_*", "latency_*"]));
    feed(&mut a, 0..800, |i| latency(i, &bad), "latency_ms", "gauge");
    let snap = crate::snapshot_to_vec(&mut a).unwrap();

    // The rule that scored the series (index 1) no longer exists: the series
    // starts over under the rule that now matches it, without panicking.
    let mut b = AnomalyProcessor::new(rules(&["latency_*"]));
    b.restore(&snap).unwrap();
    assert_eq!(b.series(), 1);
    let alerts = feed(
        &mut b,
        800..2000,
        |i| latency(i, &bad),
        "latency_ms",
        "gauge",
    );
    assert!(
        alerts.iter().any(|a| a.status == AlertStatus::Firing),
        "{alerts:#?}"
    );

    // No rule matches any more: the series is kept but not scored.
    let mut c = AnomalyProcessor::new(rules(&["queue_*"]));
    c.restore(&snap).unwrap();
    assert!(
        feed(
            &mut c,
            800..2000,
            |i| latency(i, &bad),
            "latency_ms",
            "gauge"
        )
        .is_empty()
    );
}

/// The state as restored from a whole snapshot and then `changes` in order.
fn restored_from(cfg: &AnomalyConfig, whole: &[u8], changes: &[Vec<u8>]) -> AnomalyProcessor {
    let mut p = AnomalyProcessor::new(cfg.clone());
    p.restore(whole).unwrap();
    for c in changes {
        p.apply_changes(c).unwrap();
    }
    p
}

fn changes_of(p: &mut AnomalyProcessor) -> Vec<u8> {
    let mut out = Vec::new();
    assert!(p.snapshot_changes(&mut out).unwrap());
    out
}

#[test]
fn changes_hold_only_updated_and_evicted_series_and_restore_exactly() {
    let cfg = AnomalyConfig {
        max_series: 100,
        ..Default::default()
    };
    let bad = 1500..1530;
    let mut a = AnomalyProcessor::new(cfg.clone());
    // 99 quiet series and one that will misbehave.
    for s in 0..99 {
        feed(
            &mut a,
            0..300,
            |i| 10.0 + noise(i + s),
            &format!("m{s}"),
            "gauge",
        );
    }
    feed(&mut a, 0..1400, |i| latency(i, &bad), "latency_ms", "gauge");
    let whole = crate::snapshot_to_vec(&mut a).unwrap();

    // Only the latency series moves: the changes are a small part of it.
    feed(
        &mut a,
        1400..1450,
        |i| latency(i, &bad),
        "latency_ms",
        "gauge",
    );
    let first = changes_of(&mut a);
    assert!(
        first.len() * 20 < whole.len(),
        "{} bytes of changes against {} whole",
        first.len(),
        whole.len()
    );
    // Nothing moved since: empty changes.
    let empty = changes_of(&mut a);
    assert!(empty.len() < 100, "{}", String::from_utf8_lossy(&empty));
    // New series evict old ones; a late point is counted.
    feed(&mut a, 0..5, |_| 1.0, "new_a", "gauge");
    feed(&mut a, 0..5, |_| 1.0, "new_b", "gauge");
    feed(&mut a, 10..11, |_| 1.0, "latency_ms", "gauge");
    let second = changes_of(&mut a);
    assert_eq!(a.series(), 100);

    let mut b = restored_from(&cfg, &whole, &[first, empty, second]);
    assert_eq!(b.series(), a.series());
    assert_eq!(b.late_points(), a.late_points());
    assert_eq!(b.state.evicted, a.state.evicted);
    let mut keys_a: Vec<u64> = a.state.series.keys().copied().collect();
    let mut keys_b: Vec<u64> = b.state.series.keys().copied().collect();
    keys_a.sort_unstable();
    keys_b.sort_unstable();
    assert_eq!(keys_a, keys_b);
    let from_a = feed(
        &mut a,
        1450..2000,
        |i| latency(i, &bad),
        "latency_ms",
        "gauge",
    );
    let from_b = feed(
        &mut b,
        1450..2000,
        |i| latency(i, &bad),
        "latency_ms",
        "gauge",
    );
    assert!(!from_a.is_empty());
    assert_eq!(from_a, from_b);
}

#[test]
fn late_points_are_ignored_and_counted() {
    let mut p = AnomalyProcessor::new(AnomalyConfig::default());
    feed(&mut p, 0..10, |_| 1.0, "m", "gauge");
    feed(&mut p, 5..8, |_| 1.0, "m", "gauge");
    assert_eq!(p.late_points(), 3);
}

#[test]
fn config_validation_names_the_rule() {
    assert!(AnomalyConfig::default().validate().is_ok());
    let bad = AnomalyConfig {
        rules: vec![AnomalyRule {
            threshold: 0.2,
            clear_threshold: 0.4,
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(bad.validate().unwrap_err().contains("rules[0]"));
    let bad = AnomalyConfig {
        rules: vec![AnomalyRule {
            metric: "a[".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(bad.validate().is_err());
    for range in [[5.0, 1.0], [0.0, f64::NAN], [f64::NEG_INFINITY, 1.0]] {
        let bad = AnomalyConfig {
            rules: vec![AnomalyRule {
                value_range: Some(range),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(
            bad.validate().unwrap_err().contains("value_range"),
            "{range:?}"
        );
    }
}

/// CPU that swings between two bands all day (a wide spread), then sits
/// between them, at a level it has never held.
fn swinging_cpu(i: i64) -> f64 {
    let band = if (i / 7) % 2 == 0 { 12.0 } else { 38.0 };
    if (3000..3006).contains(&i) {
        25.0 + noise(i)
    } else {
        band + 3.0 * noise(i)
    }
}

/// Points at which alerts fired over `swinging_cpu` under `cfg`.
fn fired_on_swinging_cpu(cfg: AnomalyConfig) -> Vec<i64> {
    let mut p = AnomalyProcessor::new(cfg);
    feed(&mut p, 0..3100, swinging_cpu, "cpu_percent", "gauge")
        .iter()
        .filter(|a| a.status == AlertStatus::Firing)
        .map(|a| (a.ts - T0) / STEP)
        .collect()
}

#[test]
fn a_declared_value_range_flags_a_level_never_held() {
    let fired = fired_on_swinging_cpu(AnomalyConfig {
        rules: vec![AnomalyRule {
            value_range: Some([0.0, 70.0]),
            ..Default::default()
        }],
        ..Default::default()
    });
    // At the first point of the move.
    assert!(fired.contains(&3000), "{fired:?}");
    // Once the swings are learned, nothing else fires.
    assert_eq!(fired.iter().filter(|&&i| i >= 1000).count(), 1, "{fired:?}");
    // Without the range the move sits inside the swings' spread: only the
    // variance statistic notices, a few points later.
    let fired = fired_on_swinging_cpu(AnomalyConfig::default());
    assert!(!fired.contains(&3000), "{fired:?}");
}

/// Feeds latency that jumps from point 1500 on and stops at 1505: the
/// anomaly is open when the series goes silent.
fn open_then_silent(p: &mut AnomalyProcessor) -> Vec<RaisedAlert> {
    let bad = 1500..i64::MAX;
    feed(p, 0..1505, |i| latency(i, &bad), "latency_ms", "gauge")
}

#[test]
fn a_series_that_stops_reporting_has_its_anomaly_resolved_after_stale_after() {
    let mut p = AnomalyProcessor::new(AnomalyConfig::default());
    let alerts = open_then_silent(&mut p);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].status, AlertStatus::Firing);
    let last = T0 + 1504 * STEP;
    let stale = AnomalyConfig::default().stale_after.as_nanos() as i64;

    // Silent for less than `stale_after`: still open.
    let mut out = Output::default();
    p.on_watermark(last + stale - STEP, &mut out);
    assert!(out.alerts.is_empty(), "{:#?}", out.alerts);

    // A quarter of `stale_after` later the next look finds it stale.
    let at = last + stale - STEP + stale / 4;
    p.on_watermark(at, &mut out);
    assert_eq!(out.alerts.len(), 1, "{:#?}", out.alerts);
    let resolved = &out.alerts[0];
    assert_eq!(resolved.status, AlertStatus::Resolved);
    assert_eq!(resolved.ts, at);
    assert_eq!(resolved.ends_at, Some(at));
    assert_eq!(resolved.starts_at, alerts[0].ts);
    assert_eq!(resolved.fingerprint(), alerts[0].fingerprint());
    assert!(
        resolved.annotations["summary"].contains("sent no point for 15m"),
        "{}",
        resolved.annotations["summary"]
    );

    // Once: later watermarks find nothing more to close.
    let mut again = Output::default();
    p.on_watermark(at + stale, &mut again);
    assert!(again.alerts.is_empty());
}

#[test]
fn stale_closing_survives_a_restore_and_can_be_switched_off() {
    let mut p = AnomalyProcessor::new(AnomalyConfig::default());
    open_then_silent(&mut p);
    let mut whole = Vec::new();
    p.snapshot(&mut whole).unwrap();
    let mut restored = AnomalyProcessor::new(AnomalyConfig::default());
    restored.restore(&whole).unwrap();
    let mut out = Output::default();
    restored.on_watermark(T0 + 1504 * STEP + 3_600_000_000_000, &mut out);
    assert_eq!(out.alerts.len(), 1, "{:#?}", out.alerts);
    assert_eq!(out.alerts[0].status, AlertStatus::Resolved);

    let mut off = AnomalyProcessor::new(AnomalyConfig {
        stale_after: Duration::ZERO,
        ..AnomalyConfig::default()
    });
    open_then_silent(&mut off);
    let mut out = Output::default();
    off.on_watermark(T0 + 1504 * STEP + 3_600_000_000_000, &mut out);
    assert!(out.alerts.is_empty(), "{:#?}", out.alerts);
}

#[test]
fn an_evicted_series_has_its_open_anomaly_resolved() {
    let mut p = AnomalyProcessor::new(AnomalyConfig {
        max_series: 1,
        ..AnomalyConfig::default()
    });
    let opened = open_then_silent(&mut p);
    assert_eq!(opened.len(), 1);
    // A second series takes the only slot.
    let evicting = feed(&mut p, 1505..1506, |_| 1.0, "other_metric", "gauge");
    assert_eq!(evicting.len(), 1, "{evicting:#?}");
    assert_eq!(evicting[0].status, AlertStatus::Resolved);
    assert_eq!(evicting[0].fingerprint(), opened[0].fingerprint());
    assert!(evicting[0].annotations["summary"].contains("no longer tracked"));
}
