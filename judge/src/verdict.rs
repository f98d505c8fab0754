//! Verdicts: the judge's decisions with per-metric evidence, a deterministic
//! dedup key and SQL that reproduces the evidence from the lake tables.

use serde::{Deserialize, Serialize};

use crate::config::{JudgeConfig, MetricKind};

/// What to do with a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// The new version is at least as good as the baseline: shift all traffic.
    Promote,
    /// Keep the current traffic split and keep watching.
    Hold,
    /// Revert the change.
    Rollback,
    /// Turn the feature flag off (the change was a flag change).
    FlagDisable,
    /// Not enough data to decide; never treated as a pass.
    Inconclusive,
}

impl Decision {
    /// Lower-case name used in keys and SQL.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Promote => "promote",
            Decision::Hold => "hold",
            Decision::Rollback => "rollback",
            Decision::FlagDisable => "flag_disable",
            Decision::Inconclusive => "inconclusive",
        }
    }
}

/// Outcome of one metric's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricResult {
    /// No significant harmful change beyond tolerance.
    Pass,
    /// Significant harmful change beyond tolerance.
    Fail,
    /// Missing or insufficient data (see the reason).
    Inconclusive,
}

/// Per-metric evidence of a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    /// Metric name.
    pub name: String,
    /// Outcome.
    pub result: MetricResult,
    /// Effect size: Hodges-Lehmann shift (latency ms, gauge units), or the
    /// proportion difference canary − baseline (error rate, pattern rate).
    pub effect_size: f64,
    /// Smallest one-sided p-value of the metric's tests (compare with `alpha_used`).
    pub p_value: f64,
    /// Per-test significance level after the Bonferroni split.
    pub alpha_used: f64,
    /// Baseline observations.
    pub baseline_n: u64,
    /// Canary observations.
    pub canary_n: u64,
    /// Baseline summary (error rate, p95 ms, gauge mean, worst pattern rate).
    pub baseline_value: f64,
    /// Canary summary, same unit as `baseline_value`.
    pub canary_value: f64,
    /// Why the result is what it is.
    pub reason: String,
}

/// A decision about one change at one window close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Event time of the decision (the closing window's end).
    pub ts_ns: i64,
    /// Service.
    pub service: String,
    /// Version judged.
    pub version: String,
    /// Change the decision is about.
    pub change_id: String,
    /// Decision.
    pub decision: Decision,
    /// Human-readable reason.
    pub reason: String,
    /// Per-metric evidence.
    pub metrics: Vec<MetricVerdict>,
    /// Deterministic key (FNV-1a of service, change, decision and window end).
    pub dedup_key: String,
    /// SQL over `metrics`, `logs` and `changes` reproducing the evidence.
    pub evidence_sql: String,
}

/// FNV-1a 64-bit hash: stable across runs and platforms, unlike std's hasher.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Dedup key of a decision.
pub fn dedup_key(service: &str, change_id: &str, decision: Decision, ts_ns: i64) -> String {
    let s = format!("judge|{service}|{change_id}|{}|{ts_ns}", decision.as_str());
    format!("{:016x}", fnv1a(s.as_bytes()))
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Inputs of [`evidence_sql`].
pub struct EvidenceScope<'a> {
    /// Service.
    pub service: &'a str,
    /// Baseline version and its time range `[start, end)` in ns.
    pub baseline: (&'a str, i64, i64),
    /// New version and its time range `[start, end)` in ns.
    pub canary: (&'a str, i64, i64),
}

/// SQL statements (separated by `;`) that recompute the verdict's evidence:
/// request metrics per version over the compared ranges, log patterns of both
/// versions when a log metric is configured, and the service's changes.
pub fn evidence_sql(cfg: &JudgeConfig, sc: &EvidenceScope<'_>) -> String {
    let svc = q(sc.service);
    let (bv, bs, be) = sc.baseline;
    let (cv, cs, ce) = sc.canary;
    let range = |v: &str, s: i64, e: i64| {
        format!(
            "(version = {} AND ts >= to_timestamp_nanos({s}) AND ts < to_timestamp_nanos({e}))",
            q(v)
        )
    };
    let mut names = vec![q(&cfg.latency_metric_name), q(&cfg.error_metric_name)];
    for m in &cfg.metrics {
        if m.kind == MetricKind::Saturation {
            names.push(q(&m.name));
        }
    }
    let mut out = format!(
        "SELECT version, name, count(*) AS n, sum(value) AS total, avg(value) AS mean, \
         approx_percentile_cont(value, 0.5) AS p50, approx_percentile_cont(value, 0.95) AS p95, \
         approx_percentile_cont(value, 0.99) AS p99 FROM metrics WHERE service = {svc} AND name IN ({}) \
         AND ({} OR {}) GROUP BY version, name ORDER BY version, name",
        names.join(", "),
        range(bv, bs, be),
        range(cv, cs, ce)
    );
    if cfg
        .metrics
        .iter()
        .any(|m| m.kind == MetricKind::LogPatterns)
    {
        out.push_str(&format!(
            ";\nSELECT version, pattern_id, count(*) AS n, min(message) AS example FROM logs \
             WHERE service = {svc} AND ({} OR {}) GROUP BY version, pattern_id ORDER BY n DESC",
            range(bv, bs, be),
            range(cv, cs, ce)
        ));
    }
    let first = bs.min(cs);
    out.push_str(&format!(
        ";\nSELECT ts, kind, service, env, version, actor, details FROM changes WHERE service = {svc} \
         AND ts >= to_timestamp_nanos({first}) AND ts < to_timestamp_nanos({}) ORDER BY ts",
        be.max(ce)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_key_is_stable() {
        let a = dedup_key("cart", "d1", Decision::Rollback, 60);
        assert_eq!(a, dedup_key("cart", "d1", Decision::Rollback, 60));
        assert_ne!(a, dedup_key("cart", "d1", Decision::Promote, 60));
        assert_eq!(a.len(), 16);
        // FNV-1a reference value for "a".
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn sql_quotes_names() {
        let cfg = JudgeConfig::default();
        let s = evidence_sql(
            &cfg,
            &EvidenceScope {
                service: "o'neil",
                baseline: ("v1", 0, 10),
                canary: ("v2", 0, 10),
            },
        );
        assert!(s.contains("'o''neil'"));
        assert!(s.contains("FROM metrics") && s.contains("FROM changes"));
    }
}
