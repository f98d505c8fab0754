//! Per-metric comparison of a new version's aggregate against its baseline.
//!
//! Every metric fails only when a one-sided test in the harmful direction is
//! significant at the Bonferroni-split level *and* the effect exceeds both the
//! relative and absolute tolerance; missing or thin data is `Inconclusive`
//! with the reason, never a pass.

use crate::config::{Direction, MetricKind, MetricSpec};
use crate::stats::{
    fisher_one_sided, hodges_lehmann, hodges_lehmann_weighted, mann_whitney_u,
    mann_whitney_u_weighted, normal_sf, two_proportion_z_cc,
};
use crate::store::Agg;
use crate::verdict::{MetricResult, MetricVerdict};

/// One-sided p-value of a z score (positive = canary higher) for a direction.
fn directional_p(z: f64, dir: Direction) -> f64 {
    match dir {
        Direction::Increase => normal_sf(z),
        Direction::Decrease => normal_sf(-z),
        Direction::Either => (2.0 * normal_sf(z.abs())).min(1.0),
    }
}

/// Above this many events the normal approximation is accurate and the exact
/// test's O(events) tail sum is not worth it.
const EXACT_MAX_EVENTS: u64 = 1_000_000;

/// One-sided p-value that the canary's count (`eb` of `nb`) is higher (lower,
/// either) than the baseline's: Fisher's exact test, which stays valid with a
/// handful of events where the z test is anti-conservative.
fn count_p(ea: u64, na: u64, eb: u64, nb: u64, dir: Direction) -> f64 {
    if ea + eb > EXACT_MAX_EVENTS {
        return directional_p(two_proportion_z_cc(ea, na, eb, nb, true).z, dir);
    }
    match dir {
        Direction::Increase => fisher_one_sided(ea, na, eb, nb, true),
        Direction::Decrease => fisher_one_sided(ea, na, eb, nb, false),
        Direction::Either => (2.0
            * fisher_one_sided(ea, na, eb, nb, true).min(fisher_one_sided(ea, na, eb, nb, false)))
        .min(1.0),
    }
}

/// Whether a signed effect points the harmful way.
fn harmful(effect: f64, dir: Direction) -> bool {
    match dir {
        Direction::Increase => effect > 0.0,
        Direction::Decrease => effect < 0.0,
        Direction::Either => effect != 0.0,
    }
}

fn beyond_tolerance(effect: f64, reference: f64, spec: &MetricSpec) -> bool {
    let abs_ok = effect.abs() > spec.abs_tolerance;
    let rel_ok = if reference.abs() > 0.0 {
        effect.abs() / reference.abs() > spec.tolerance
    } else {
        true
    };
    abs_ok && rel_ok
}

fn verdict(spec: &MetricSpec, result: MetricResult, reason: String) -> MetricVerdict {
    MetricVerdict {
        name: spec.name.clone(),
        result,
        effect_size: 0.0,
        p_value: 1.0,
        alpha_used: 0.0,
        baseline_n: 0,
        canary_n: 0,
        baseline_value: f64::NAN,
        canary_value: f64::NAN,
        reason,
    }
}

/// Checks sample counts; `Some` is the inconclusive verdict to return.
fn check_counts(spec: &MetricSpec, what: &str, bn: u64, cn: u64) -> Option<MetricVerdict> {
    let reason = if cn == 0 {
        format!("no canary {what}")
    } else if bn == 0 {
        format!("no baseline {what}")
    } else if cn < spec.min_samples || bn < spec.min_samples {
        format!(
            "insufficient {what}: baseline {bn}, canary {cn}, need {} each",
            spec.min_samples
        )
    } else {
        return None;
    };
    let mut v = verdict(spec, MetricResult::Inconclusive, reason);
    v.baseline_n = bn;
    v.canary_n = cn;
    Some(v)
}

/// Compares one metric. `looks` is the number of times this analysis is
/// tested (the windows), over which `spec.alpha` is split.
pub fn compare_metric(spec: &MetricSpec, base: &Agg, canary: &Agg, looks: u32) -> MetricVerdict {
    let alpha = spec.alpha / looks.max(1) as f64;
    match spec.kind {
        MetricKind::ErrorRate => error_rate(spec, base, canary, alpha),
        MetricKind::Latency => latency(spec, base, canary, alpha),
        MetricKind::Saturation => saturation(spec, base, canary, alpha),
        MetricKind::LogPatterns => log_patterns(spec, base, canary, alpha),
    }
}

fn error_rate(spec: &MetricSpec, base: &Agg, canary: &Agg, alpha: f64) -> MetricVerdict {
    let (bn, cn) = (base.requests, canary.requests);
    if let Some(v) = check_counts(spec, "requests", bn, cn) {
        return v;
    }
    let t = two_proportion_z_cc(base.errors, bn, canary.errors, cn, true);
    let effect = t.p_b - t.p_a;
    let p = count_p(base.errors, bn, canary.errors, cn, spec.direction);
    let fail =
        p < alpha && harmful(effect, spec.direction) && beyond_tolerance(effect, t.p_a, spec);
    let reason = format!(
        "error rate {:.3}% vs baseline {:.3}% ({:+.3} pp), p={p:.2e} vs alpha {alpha:.1e}",
        t.p_b * 100.0,
        t.p_a * 100.0,
        effect * 100.0
    );
    MetricVerdict {
        name: spec.name.clone(),
        result: if fail {
            MetricResult::Fail
        } else {
            MetricResult::Pass
        },
        effect_size: effect,
        p_value: p,
        alpha_used: alpha,
        baseline_n: bn,
        canary_n: cn,
        baseline_value: t.p_a,
        canary_value: t.p_b,
        reason,
    }
}

/// Tail quantiles checked by the latency tail tests (mirrored for `Decrease`).
const TAIL_QUANTILES: [f64; 2] = [0.95, 0.99];

/// Outcome of one tail sub-test.
struct Tail {
    q: f64,
    p: f64,
    base: f64,
    canary: f64,
    fail: bool,
}

fn latency(spec: &MetricSpec, base: &Agg, canary: &Agg, alpha: f64) -> MetricVerdict {
    let (bn, cn) = (base.latency.len(), canary.latency.len());
    if let Some(v) = check_counts(spec, "latency samples", bn, cn) {
        return v;
    }
    // Sub-tests: location shift plus one per tail quantile, so the level is split again.
    let alpha = alpha / (1 + TAIL_QUANTILES.len()) as f64;
    let bw = base.latency.weighted_ms();
    let cw = canary.latency.weighted_ms();
    let mwu = mann_whitney_u_weighted(&cw, &bw);
    let hl = hodges_lehmann_weighted(&cw, &bw).unwrap_or(0.0);
    let b_med = base.latency.quantile_ms(0.5).unwrap_or(0.0);
    let b_p95 = base.latency.quantile_ms(0.95).unwrap_or(0.0);
    let c_p95 = canary.latency.quantile_ms(0.95).unwrap_or(0.0);
    let p_shift = directional_p(mwu.z, spec.direction);
    let shift_fail =
        p_shift < alpha && harmful(hl, spec.direction) && beyond_tolerance(hl, b_med, spec);

    // Tail tests: the share of canary requests beyond the baseline's p95 / p99
    // (p5 / p1 for Decrease) against the baseline's own share. They catch
    // regressions that only move the tail (timeouts, retries, a slow shard),
    // which a location test misses; the quantile itself must also have moved
    // beyond tolerance.
    let tail = |q: f64, upper: bool| {
        let (qq, b_cnt, c_cnt) = if upper {
            let b_q = base.latency.quantile_ms(q).unwrap_or(0.0);
            (
                b_q,
                base.latency.count_above_ms(b_q),
                canary.latency.count_above_ms(b_q),
            )
        } else {
            let b_q = base.latency.quantile_ms(1.0 - q).unwrap_or(0.0);
            (
                b_q,
                base.latency.count_below_ms(b_q),
                canary.latency.count_below_ms(b_q),
            )
        };
        let c_q = canary
            .latency
            .quantile_ms(if upper { q } else { 1.0 - q })
            .unwrap_or(0.0);
        let p = count_p(b_cnt, bn, c_cnt, cn, Direction::Increase);
        let d = c_q - qq;
        let dir = if upper {
            Direction::Increase
        } else {
            Direction::Decrease
        };
        let fail = p < alpha && harmful(d, dir) && beyond_tolerance(d, qq, spec);
        Tail {
            q,
            p,
            base: qq,
            canary: c_q,
            fail,
        }
    };
    let tails: Vec<Tail> = TAIL_QUANTILES
        .iter()
        .flat_map(|&q| match spec.direction {
            Direction::Increase => vec![tail(q, true)],
            Direction::Decrease => vec![tail(q, false)],
            Direction::Either => {
                // Two sides per quantile: double the p-values (Bonferroni).
                let mut v = vec![tail(q, true), tail(q, false)];
                for t in &mut v {
                    t.p = (t.p * 2.0).min(1.0);
                    t.fail = t.fail && t.p < alpha;
                }
                v
            }
        })
        .collect();
    let tail_fail = tails.iter().any(|t| t.fail);
    let p = tails.iter().map(|t| t.p).fold(p_shift, f64::min);
    let tail_txt: Vec<String> = tails
        .iter()
        .map(|t| {
            format!(
                "q{:.0} {:.2} vs {:.2} ms p={:.2e}{}",
                t.q * 100.0,
                t.canary,
                t.base,
                t.p,
                if t.fail { " FAIL" } else { "" }
            )
        })
        .collect();
    let reason = format!(
        "p95 {c_p95:.2} ms vs {b_p95:.2} ms ({:+.1}%), HL shift {hl:+.2} ms ({:+.1}% of median), \
         MWU p={p_shift:.2e}{}; tails: {}; alpha {alpha:.1e}",
        if b_p95 > 0.0 {
            (c_p95 - b_p95) / b_p95 * 100.0
        } else {
            0.0
        },
        if b_med > 0.0 { hl / b_med * 100.0 } else { 0.0 },
        if shift_fail { " FAIL" } else { "" },
        tail_txt.join(", ")
    );
    MetricVerdict {
        name: spec.name.clone(),
        result: if shift_fail || tail_fail {
            MetricResult::Fail
        } else {
            MetricResult::Pass
        },
        effect_size: hl,
        p_value: p,
        alpha_used: alpha,
        baseline_n: bn,
        canary_n: cn,
        baseline_value: b_p95,
        canary_value: c_p95,
        reason,
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn saturation(spec: &MetricSpec, base: &Agg, canary: &Agg, alpha: f64) -> MetricVerdict {
    let empty = Vec::new();
    let b = base.samples.get(&spec.name).unwrap_or(&empty);
    let c = canary.samples.get(&spec.name).unwrap_or(&empty);
    if let Some(v) = check_counts(spec, "samples", b.len() as u64, c.len() as u64) {
        return v;
    }
    let mwu = mann_whitney_u(c, b);
    let hl = hodges_lehmann(c, b).unwrap_or(0.0);
    let p = directional_p(mwu.z, spec.direction);
    let fail = p < alpha && harmful(hl, spec.direction) && beyond_tolerance(hl, median(b), spec);
    MetricVerdict {
        name: spec.name.clone(),
        result: if fail {
            MetricResult::Fail
        } else {
            MetricResult::Pass
        },
        effect_size: hl,
        p_value: p,
        alpha_used: alpha,
        baseline_n: b.len() as u64,
        canary_n: c.len() as u64,
        baseline_value: mean(b),
        canary_value: mean(c),
        reason: format!(
            "mean {:.4} vs {:.4}, HL shift {hl:+.4}, MWU p={p:.2e}, alpha {alpha:.1e}",
            mean(c),
            mean(b)
        ),
    }
}

fn log_patterns(spec: &MetricSpec, base: &Agg, canary: &Agg, alpha: f64) -> MetricVerdict {
    // Rates are per request when both sides report requests (the canary gets
    // far less traffic), else per log line.
    let (bn, cn, unit) = if base.requests > 0 && canary.requests > 0 {
        (base.requests, canary.requests, "request")
    } else {
        (base.log_lines, canary.log_lines, "log line")
    };
    if cn == 0 {
        return verdict(
            spec,
            MetricResult::Inconclusive,
            "no canary requests or log lines".into(),
        );
    }
    if bn == 0 {
        return verdict(
            spec,
            MetricResult::Inconclusive,
            "no baseline requests or log lines".into(),
        );
    }
    let m = canary.logs.len().max(1) as f64;
    let alpha = alpha / m;
    let mut worst: Option<(f64, &str, f64, f64, bool)> = None;
    let mut fail = false;
    for (pid, c) in &canary.logs {
        let b = base.logs.get(pid).map_or(0, |p| p.count);
        let t = two_proportion_z_cc(b, bn, c.count, cn, true);
        let p = count_p(b, bn, c.count, cn, Direction::Increase);
        let effect = t.p_b - t.p_a;
        let new = c.is_new || b == 0;
        let bad = c.count >= spec.min_samples
            && p < alpha
            && beyond_tolerance(effect, t.p_a, spec)
            && effect > 0.0;
        fail |= bad;
        if worst.is_none_or(|w| p < w.0) {
            worst = Some((p, pid.as_str(), t.p_a, t.p_b, new));
        }
    }
    let Some((p, pid, ra, rb, new)) = worst else {
        let mut v = verdict(
            spec,
            MetricResult::Pass,
            "no log patterns on the new version".into(),
        );
        v.baseline_n = bn;
        v.canary_n = cn;
        v.alpha_used = alpha;
        return v;
    };
    MetricVerdict {
        name: spec.name.clone(),
        result: if fail {
            MetricResult::Fail
        } else {
            MetricResult::Pass
        },
        effect_size: rb - ra,
        p_value: p,
        alpha_used: alpha,
        baseline_n: bn,
        canary_n: cn,
        baseline_value: ra,
        canary_value: rb,
        reason: format!(
            "worst pattern {pid}{}: {:.4} vs {:.4} per {unit}, p={p:.2e} vs alpha {alpha:.1e} over {} patterns",
            if new { " (new)" } else { "" },
            rb,
            ra,
            canary.logs.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PatternCount;

    fn agg() -> Agg {
        Agg::new(3_600_000_000, 2)
    }

    fn traffic(n: u64, errors: u64, latency_scale: f64) -> Agg {
        let mut a = agg();
        a.requests = n;
        a.errors = errors;
        for i in 0..n {
            // Deterministic spread of latencies 50..150 ms.
            a.latency
                .record_ms((50.0 + (i * 37 % 101) as f64) * latency_scale);
        }
        a
    }

    #[test]
    fn error_rate_rise_fails_and_equal_passes() {
        let spec = MetricSpec::error_rate();
        let v = compare_metric(
            &spec,
            &traffic(10_000, 100, 1.0),
            &traffic(1000, 60, 1.0),
            1,
        );
        assert_eq!(v.result, MetricResult::Fail, "{}", v.reason);
        assert!((v.effect_size - 0.05).abs() < 1e-12);
        let v = compare_metric(
            &spec,
            &traffic(10_000, 100, 1.0),
            &traffic(1000, 10, 1.0),
            1,
        );
        assert_eq!(v.result, MetricResult::Pass, "{}", v.reason);
    }

    #[test]
    fn direction_is_respected() {
        let mut spec = MetricSpec::error_rate();
        // A drop in errors is not harmful for Increase, but is for Decrease.
        let v = compare_metric(
            &spec,
            &traffic(10_000, 1000, 1.0),
            &traffic(1000, 10, 1.0),
            1,
        );
        assert_eq!(v.result, MetricResult::Pass);
        spec.direction = Direction::Decrease;
        let v = compare_metric(
            &spec,
            &traffic(10_000, 1000, 1.0),
            &traffic(1000, 10, 1.0),
            1,
        );
        assert_eq!(v.result, MetricResult::Fail, "{}", v.reason);
        spec.direction = Direction::Either;
        let v = compare_metric(
            &spec,
            &traffic(10_000, 1000, 1.0),
            &traffic(1000, 10, 1.0),
            1,
        );
        assert_eq!(v.result, MetricResult::Fail);
    }

    #[test]
    fn latency_shift_fails_within_tolerance_passes() {
        let spec = MetricSpec::latency();
        let v = compare_metric(&spec, &traffic(5000, 0, 1.0), &traffic(1000, 0, 1.3), 1);
        assert_eq!(v.result, MetricResult::Fail, "{}", v.reason);
        assert!(v.effect_size > 0.0);
        let v = compare_metric(&spec, &traffic(5000, 0, 1.0), &traffic(1000, 0, 1.0), 1);
        assert_eq!(v.result, MetricResult::Pass, "{}", v.reason);
        // A 3 % shift is significant at this n but inside the 10 % tolerance.
        let v = compare_metric(
            &spec,
            &traffic(50_000, 0, 1.0),
            &traffic(50_000, 0, 1.03),
            1,
        );
        assert_eq!(v.result, MetricResult::Pass, "{}", v.reason);
        let mut dec = MetricSpec::latency();
        dec.direction = Direction::Decrease;
        let v = compare_metric(&dec, &traffic(5000, 0, 1.0), &traffic(1000, 0, 1.3), 1);
        assert_eq!(v.result, MetricResult::Pass, "{}", v.reason);
    }

    #[test]
    fn tail_only_regression_fails() {
        let spec = MetricSpec::latency();
        let base = traffic(20_000, 0, 1.0);
        // 3 % of canary requests time out at 1 s: median unchanged, p99 far worse.
        let mut c = traffic(2000, 0, 1.0);
        c.latency.record_ms_n(1000.0, 60);
        let v = compare_metric(&spec, &base, &c, 1);
        assert_eq!(v.result, MetricResult::Fail, "{}", v.reason);
        assert!(
            v.reason.contains("q99") && v.reason.contains("FAIL"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn insufficient_and_missing_data_is_inconclusive() {
        let spec = MetricSpec::error_rate();
        let v = compare_metric(&spec, &traffic(10_000, 100, 1.0), &agg(), 1);
        assert_eq!(v.result, MetricResult::Inconclusive);
        assert!(v.reason.contains("no canary"), "{}", v.reason);
        let v = compare_metric(&spec, &traffic(10_000, 100, 1.0), &traffic(20, 10, 1.0), 1);
        assert_eq!(v.result, MetricResult::Inconclusive);
        assert!(v.reason.contains("insufficient"), "{}", v.reason);
        let v = compare_metric(&MetricSpec::latency(), &agg(), &traffic(500, 0, 1.0), 1);
        assert!(v.reason.contains("no baseline"), "{}", v.reason);
        let v = compare_metric(&MetricSpec::saturation("cpu"), &agg(), &agg(), 1);
        assert_eq!(v.result, MetricResult::Inconclusive);
    }

    #[test]
    fn saturation_rise_fails() {
        let spec = MetricSpec::saturation("cpu");
        let mut b = agg();
        let mut c = agg();
        b.samples.insert(
            "cpu".into(),
            (0..60).map(|i| 0.4 + (i % 7) as f64 * 0.01).collect(),
        );
        c.samples.insert(
            "cpu".into(),
            (0..60).map(|i| 0.7 + (i % 7) as f64 * 0.01).collect(),
        );
        assert_eq!(compare_metric(&spec, &b, &c, 1).result, MetricResult::Fail);
        assert_eq!(compare_metric(&spec, &b, &b, 1).result, MetricResult::Pass);
    }

    #[test]
    fn new_log_pattern_fails() {
        let spec = MetricSpec::log_patterns();
        let mut b = traffic(9000, 0, 1.0);
        let mut c = traffic(1000, 0, 1.0);
        b.logs.insert(
            "p1".into(),
            PatternCount {
                count: 90,
                is_new: false,
            },
        );
        c.logs.insert(
            "p1".into(),
            PatternCount {
                count: 11,
                is_new: false,
            },
        );
        assert_eq!(compare_metric(&spec, &b, &c, 1).result, MetricResult::Pass);
        c.logs.insert(
            "p2".into(),
            PatternCount {
                count: 40,
                is_new: true,
            },
        );
        let v = compare_metric(&spec, &b, &c, 1);
        assert_eq!(v.result, MetricResult::Fail, "{}", v.reason);
        assert!(v.reason.contains("p2 (new)"));
    }
}
