//! Judge-level tests: verdict rules, watch window, flags, determinism, snapshots.

use crate::config::{ChangeKind, DeployEvent, JudgeConfig, MetricSpec, NS_PER_SEC, Strategy};
use crate::judge::RolloutJudge;
use crate::verdict::{Decision, MetricResult, Verdict};

const S: i64 = NS_PER_SEC;
const T0: i64 = 1_000_000 * 60 * S;

/// Deterministic pseudo-random stream (SplitMix64) so tests need no RNG crate setup.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
struct Traffic {
    rps: u32,
    err: f64,
    lat_scale: f64,
}

const OK: Traffic = Traffic {
    rps: 20,
    err: 0.01,
    lat_scale: 1.0,
};

fn deploy(id: &str, ts: i64, version: &str, weight: f64, kind: ChangeKind) -> DeployEvent {
    DeployEvent {
        ts_ns: ts,
        service: "svc".into(),
        version: version.into(),
        baseline_version: "v1".into(),
        strategy: Strategy::Canary,
        traffic_weight: weight,
        change_id: id.into(),
        kind,
    }
}

/// Feeds seconds `[from, to)` (relative to T0) of traffic per version and
/// advances every second, collecting verdicts.
fn run(
    j: &mut RolloutJudge,
    rng: &mut Mix,
    from: i64,
    to: i64,
    per_version: &[(&str, Traffic)],
) -> Vec<Verdict> {
    let mut out = Vec::new();
    for s in from..to {
        for (v, t) in per_version {
            for k in 0..t.rps {
                let ts = T0 + s * S + k as i64 * (S / t.rps as i64);
                // Lognormal-ish latency around 100 ms.
                let z = (rng.next() + rng.next() + rng.next() - 1.5) * 2.0;
                let lat = 100.0 * (0.5 * z).exp() * t.lat_scale;
                j.observe_request("svc", v, ts, lat, rng.next() < t.err);
            }
        }
        out.extend(j.advance(T0 + (s + 1) * S));
    }
    out
}

fn terminal(v: &[Verdict]) -> Option<&Verdict> {
    v.iter().find(|v| v.decision != Decision::Hold)
}

fn judge() -> RolloutJudge {
    RolloutJudge::new(JudgeConfig {
        num_windows: 5,
        ..JudgeConfig::default()
    })
    .unwrap()
}

#[test]
fn clean_canary_promotes_after_all_windows() {
    let mut j = judge();
    let mut r = Mix(1);
    run(&mut j, &mut r, -600, 0, &[("v1", OK)]);
    j.observe_deploy(deploy("d1", T0, "v2", 0.5, ChangeKind::Deploy));
    let v = run(&mut j, &mut r, 0, 300, &[("v1", OK), ("v2", OK)]);
    assert_eq!(v.len(), 5, "one verdict per window");
    assert!(v[..4].iter().all(|v| v.decision == Decision::Hold));
    assert_eq!(v[4].decision, Decision::Promote, "{}", v[4].reason);
    assert_eq!(
        v[4].ts_ns,
        T0 + 300 * S,
        "decided at the close of the last window"
    );
    assert!(v[4].metrics.iter().all(|m| m.result == MetricResult::Pass));
    assert!(v[4].evidence_sql.contains("FROM metrics"));
}

#[test]
fn critical_failure_rolls_back_at_window_close() {
    let mut j = judge();
    let mut r = Mix(2);
    j.observe_deploy(deploy("d1", T0, "v2", 0.5, ChangeKind::Deploy));
    let bad = Traffic { err: 0.08, ..OK };
    let v = run(&mut j, &mut r, 0, 300, &[("v1", OK), ("v2", bad)]);
    let t = terminal(&v).unwrap();
    assert_eq!(t.decision, Decision::Rollback, "{}", t.reason);
    assert!(t.ts_ns <= T0 + 120 * S, "fast detection");
    let m = t.metrics.iter().find(|m| m.name == "error_rate").unwrap();
    assert_eq!(m.result, MetricResult::Fail);
    assert!(m.effect_size > 0.04 && m.p_value < m.alpha_used && m.canary_n > 0);
    assert!(t.reason.contains("critical"));
    assert_eq!(
        v.last().map(|v| v.decision),
        Some(Decision::Rollback),
        "no verdict after a rollback"
    );
}

#[test]
fn latency_regression_rolls_back_and_improvement_does_not() {
    let mut j = judge();
    let mut r = Mix(3);
    j.observe_deploy(deploy("d1", T0, "v2", 0.5, ChangeKind::Deploy));
    let slow = Traffic {
        lat_scale: 1.3,
        ..OK
    };
    let v = run(&mut j, &mut r, 0, 300, &[("v1", OK), ("v2", slow)]);
    assert_eq!(terminal(&v).unwrap().decision, Decision::Rollback);

    let mut j = judge();
    j.observe_deploy(deploy("d2", T0, "v2", 0.5, ChangeKind::Deploy));
    let fast = Traffic {
        lat_scale: 0.7,
        ..OK
    };
    let v = run(&mut j, &mut r, 0, 300, &[("v1", OK), ("v2", fast)]);
    assert_eq!(
        terminal(&v).unwrap().decision,
        Decision::Promote,
        "Increase direction ignores improvements"
    );
}

#[test]
fn non_critical_failure_holds_then_rolls_back() {
    let mut cfg = JudgeConfig {
        num_windows: 3,
        ..JudgeConfig::default()
    };
    cfg.metrics.push(MetricSpec::saturation("cpu"));
    let mut j = RolloutJudge::new(cfg).unwrap();
    j.observe_deploy(deploy("d1", T0, "v2", 0.5, ChangeKind::Deploy));
    let mut r = Mix(4);
    for s in 0..180 {
        j.observe_sample("svc", "v1", "cpu", T0 + s * S, 0.40 + 0.02 * r.next());
        j.observe_sample("svc", "v2", "cpu", T0 + s * S, 0.80 + 0.02 * r.next());
    }
    let v = run(&mut j, &mut r, 0, 180, &[("v1", OK), ("v2", OK)]);
    assert_eq!(v.len(), 3);
    assert_eq!(v[0].decision, Decision::Hold);
    assert!(v[0].reason.contains("non-critical"), "{}", v[0].reason);
    assert_eq!(v[2].decision, Decision::Rollback, "{}", v[2].reason);
}

#[test]
fn insufficient_samples_is_inconclusive_with_reason() {
    let mut j = judge();
    let mut r = Mix(5);
    j.observe_deploy(deploy("d1", T0, "v2", 0.01, ChangeKind::Deploy));
    // 1 request every 10 s on the canary: 30 requests < min_samples 100.
    let mut v = Vec::new();
    for s in 0..300 {
        if s % 10 == 0 {
            j.observe_request("svc", "v2", T0 + s * S, 100.0, false);
        }
        v.extend(run(&mut j, &mut r, s, s + 1, &[("v1", OK)]));
    }
    assert!(
        v[..4]
            .iter()
            .all(|v| v.decision == Decision::Hold && v.reason.contains("waiting for data"))
    );
    let last = v.last().unwrap();
    assert_eq!(last.decision, Decision::Inconclusive, "{}", last.reason);
    let m = &last.metrics[0];
    assert_eq!(m.result, MetricResult::Inconclusive);
    assert!(m.reason.contains("insufficient"), "{}", m.reason);
    assert_eq!(m.canary_n, 30);
}

#[test]
fn no_canary_data_is_inconclusive_never_promote() {
    let mut j = judge();
    let mut r = Mix(6);
    j.observe_deploy(deploy("d1", T0, "v2", 0.1, ChangeKind::Deploy));
    let v = run(&mut j, &mut r, 0, 400, &[("v1", OK)]);
    assert!(v.iter().all(|v| v.decision != Decision::Promote));
    let t = terminal(&v).unwrap();
    assert_eq!(t.decision, Decision::Inconclusive);
    assert!(
        t.metrics.iter().all(|m| m.reason.contains("no canary")),
        "{:?}",
        t.metrics
    );
}

/// Promotes a clean canary, then runs the watch period with `after` traffic on v2.
fn watch_case(after: Traffic) -> Vec<Verdict> {
    let mut j = judge();
    let mut r = Mix(7);
    run(&mut j, &mut r, -600, 0, &[("v1", OK)]);
    j.observe_deploy(deploy("d1", T0, "v2", 0.5, ChangeKind::Deploy));
    let v = run(&mut j, &mut r, 0, 300, &[("v1", OK), ("v2", OK)]);
    assert_eq!(v.last().unwrap().decision, Decision::Promote);
    let mut out = run(&mut j, &mut r, 300, 600, &[("v2", OK)]);
    out.extend(run(&mut j, &mut r, 600, 1200, &[("v2", after)]));
    out
}

#[test]
fn watch_window_rolls_back_on_error_rate_jump() {
    let v = watch_case(Traffic { err: 0.07, ..OK });
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].decision, Decision::Rollback);
    assert_eq!(v[0].change_id, "d1");
    assert!(v[0].reason.contains("watch"));
    assert!(v[0].ts_ns > T0 + 600 * S);
    // +3 pp stays under the 5 pp rule.
    assert!(watch_case(Traffic { err: 0.04, ..OK }).is_empty());
}

#[test]
fn watch_window_rolls_back_on_p95_regression() {
    let v = watch_case(Traffic {
        lat_scale: 1.35,
        ..OK
    });
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].decision, Decision::Rollback);
    assert!(
        v[0].metrics
            .iter()
            .any(|m| m.name == "watch_latency_p95" && m.result == MetricResult::Fail)
    );
    assert!(
        watch_case(Traffic {
            lat_scale: 1.08,
            ..OK
        })
        .is_empty()
    );
}

#[test]
fn flag_change_gets_flag_disable() {
    let mut j = judge();
    let mut r = Mix(8);
    run(&mut j, &mut r, -600, 0, &[("v1", OK)]);
    // Flag flips on the running version: judged against the pre-change period.
    j.observe_deploy(deploy("flag-42", T0, "v1", 1.0, ChangeKind::Flag));
    let v = run(
        &mut j,
        &mut r,
        0,
        300,
        &[("v1", Traffic { err: 0.09, ..OK })],
    );
    let t = terminal(&v).unwrap();
    assert_eq!(t.decision, Decision::FlagDisable, "{}", t.reason);
    assert_eq!(t.change_id, "flag-42");
}

#[test]
fn flag_during_watch_is_blamed() {
    // Both the deploy's watch and the flag's own analysis see the regression;
    // both must blame the flag, and only one verdict may come out.
    let mut j = judge();
    let mut r = Mix(9);
    run(&mut j, &mut r, -600, 0, &[("v1", OK)]);
    j.observe_deploy(deploy("d1", T0, "v2", 0.5, ChangeKind::Deploy));
    run(&mut j, &mut r, 0, 300, &[("v1", OK), ("v2", OK)]);
    run(&mut j, &mut r, 300, 600, &[("v2", OK)]);
    let mut flag = deploy("flag-7", T0 + 600 * S, "v2", 1.0, ChangeKind::Flag);
    flag.baseline_version = "v2".into();
    j.observe_deploy(flag);
    let v = run(
        &mut j,
        &mut r,
        600,
        900,
        &[("v2", Traffic { err: 0.09, ..OK })],
    );
    let t = terminal(&v).unwrap();
    assert_eq!(t.decision, Decision::FlagDisable, "{v:?}");
    assert_eq!(t.change_id, "flag-7");
    assert_eq!(
        v.iter()
            .filter(|v| v.decision == Decision::FlagDisable)
            .count(),
        1,
        "deduplicated"
    );
}

#[test]
fn watch_blames_most_recent_flag_change() {
    let mut j = judge();
    let mut r = Mix(12);
    run(&mut j, &mut r, -600, 0, &[("v1", OK)]);
    j.observe_deploy(deploy("d1", T0, "v2", 0.5, ChangeKind::Deploy));
    run(&mut j, &mut r, 0, 300, &[("v1", OK), ("v2", OK)]);
    run(&mut j, &mut r, 300, 600, &[("v2", OK)]);
    // The flag's own analysis has no baseline data (unknown baseline version), so
    // only the deploy's watch sees the regression; it must blame the newer flag.
    let mut flag = deploy("flag-9", T0 + 600 * S, "v2", 1.0, ChangeKind::Flag);
    flag.baseline_version = "unknown".into();
    j.observe_deploy(flag);
    let v = run(
        &mut j,
        &mut r,
        600,
        900,
        &[("v2", Traffic { err: 0.09, ..OK })],
    );
    let t = terminal(&v).unwrap();
    assert_eq!(t.decision, Decision::FlagDisable, "{v:?}");
    assert_eq!(t.change_id, "flag-9");
    assert!(
        t.reason.contains("watch after promotion of d1"),
        "{}",
        t.reason
    );
}

#[test]
fn deterministic_and_snapshot_roundtrip() {
    let go = |snap_at: Option<i64>| {
        let mut j = judge();
        let mut r = Mix(10);
        run(&mut j, &mut r, -300, 0, &[("v1", OK)]);
        j.observe_deploy(deploy("d1", T0, "v2", 0.5, ChangeKind::Deploy));
        let bad = Traffic {
            err: 0.03,
            lat_scale: 1.1,
            ..OK
        };
        let mut out = run(&mut j, &mut r, 0, 150, &[("v1", OK), ("v2", bad)]);
        if snap_at.is_some() {
            let s = j.snapshot().unwrap();
            j = RolloutJudge::restore(&s).unwrap();
            assert_eq!(j.snapshot().unwrap(), s, "snapshot is stable");
        }
        out.extend(run(&mut j, &mut r, 150, 600, &[("v1", OK), ("v2", bad)]));
        serde_json::to_string(&out).unwrap()
    };
    let a = go(None);
    assert_eq!(a, go(None));
    assert_eq!(a, go(Some(150)));
}

#[test]
fn state_is_bounded() {
    let mut j = judge();
    let mut r = Mix(11);
    run(
        &mut j,
        &mut r,
        0,
        3600,
        &[
            ("v1", Traffic { rps: 2, ..OK }),
            ("v2", Traffic { rps: 2, ..OK }),
        ],
    );
    assert!(
        j.live_windows() <= 2 * (j.config().baseline_windows as usize + 4),
        "{}",
        j.live_windows()
    );
    // Data for long-closed windows is dropped and counted.
    j.observe_request("svc", "v1", T0, 1.0, false);
    assert_eq!(j.late_dropped(), 1);
}

#[test]
fn invalid_config_is_rejected() {
    assert!(
        RolloutJudge::new(JudgeConfig {
            window_ns: 0,
            ..JudgeConfig::default()
        })
        .is_err()
    );
    let mut cfg = JudgeConfig::default();
    cfg.metrics[0].alpha = 0.0;
    assert!(RolloutJudge::new(cfg).is_err());
}

#[test]
fn new_log_pattern_on_canary_holds_then_rolls_back() {
    let mut cfg = JudgeConfig {
        num_windows: 3,
        ..JudgeConfig::default()
    };
    cfg.metrics.push(MetricSpec::log_patterns());
    let mut j = RolloutJudge::new(cfg).unwrap();
    j.observe_deploy(deploy("d1", T0, "v2", 0.5, ChangeKind::Deploy));
    for s in 0..180 {
        j.observe_log_pattern("svc", "v1", T0 + s * S, "conn-reset", false);
        j.observe_log_pattern("svc", "v2", T0 + s * S, "conn-reset", false);
        // A pattern only the new version logs, twice a second.
        j.observe_log_pattern("svc", "v2", T0 + s * S, "nil-deref", true);
        j.observe_log_pattern("svc", "v2", T0 + s * S + S / 2, "nil-deref", true);
    }
    let mut r = Mix(13);
    let v = run(&mut j, &mut r, 0, 180, &[("v1", OK), ("v2", OK)]);
    assert_eq!(v[0].decision, Decision::Hold);
    let last = v.last().unwrap();
    assert_eq!(last.decision, Decision::Rollback, "{}", last.reason);
    let m = last
        .metrics
        .iter()
        .find(|m| m.name == "log_patterns")
        .unwrap();
    assert!(m.reason.contains("nil-deref (new)"), "{}", m.reason);
    assert!(last.evidence_sql.contains("FROM logs"));
}
