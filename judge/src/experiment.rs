//! Seeded rollout experiments with ground truth: A/A runs (no change) and A/B
//! runs with an injected error-rate or latency regression of known size, at a
//! given canary traffic level, replayed through a [`RolloutJudge`].

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::JudgeError;
use crate::config::{ChangeKind, DeployEvent, JudgeConfig, NS_PER_SEC, Strategy};
use crate::judge::RolloutJudge;
use crate::verdict::Decision;

/// The injected change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Injection {
    /// A/A: the canary is identical to the baseline.
    None,
    /// Error rate of the canary raised by this many percentage points.
    ErrorPp(f64),
    /// Canary latencies multiplied by `1 + x` (so p95 is `x` worse).
    LatencyRatio(f64),
}

/// One experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// RNG seed.
    pub seed: u64,
    /// Canary requests per second (Poisson); 0 simulates a canary that gets no traffic.
    pub canary_rps: f64,
    /// Baseline requests per second (9× the canary's = 10 % canary weight).
    pub baseline_rps: f64,
    /// Baseline error rate (0.01 = 1 %).
    pub base_error: f64,
    /// Median latency of the lognormal, ms.
    pub latency_median_ms: f64,
    /// Lognormal sigma (0.5 puts p95 at 2.3× the median).
    pub latency_sigma: f64,
    /// The injected change.
    pub injection: Injection,
    /// Baseline-only history before the deploy, seconds.
    pub history_s: i64,
}

impl Experiment {
    /// A default experiment at the given canary rate and injection.
    pub fn new(seed: u64, canary_rps: f64, injection: Injection) -> Self {
        Self {
            seed,
            canary_rps,
            baseline_rps: 9.0 * canary_rps,
            base_error: 0.01,
            latency_median_ms: 80.0,
            latency_sigma: 0.5,
            injection,
            history_s: 120,
        }
    }

    /// A canary that receives no traffic while the baseline serves `baseline_rps`.
    pub fn missing_canary(seed: u64, baseline_rps: f64) -> Self {
        Self {
            canary_rps: 0.0,
            baseline_rps,
            ..Self::new(seed, 0.0, Injection::None)
        }
    }
}

/// What the judge concluded in one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Terminal decision (Promote, Rollback, FlagDisable, Inconclusive), or Hold if none came.
    pub decision: Decision,
    /// Event time from the deploy to the terminal verdict, seconds.
    pub time_to_decision_s: f64,
    /// Verdicts produced (including holds).
    pub verdicts: usize,
    /// Wall time of each `advance` call that produced a verdict, microseconds.
    pub advance_us: Vec<f64>,
    /// Metrics that failed in the terminal verdict.
    pub failed: Vec<String>,
}

/// Poisson draw (Knuth for small means, rounded normal for large ones).
fn poisson(rng: &mut SmallRng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        let l = (-mean).exp();
        let (mut k, mut p) = (0u64, 1.0);
        loop {
            p *= rng.random::<f64>();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    (mean + mean.sqrt() * std_normal(rng)).round().max(0.0) as u64
}

/// Box-Muller standard normal.
fn std_normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Runs one experiment through a fresh judge built from `cfg` (watch disabled:
/// the experiment is about the canary decision). Returns the first terminal verdict.
pub fn run(exp: &Experiment, cfg: &JudgeConfig) -> Result<Outcome, JudgeError> {
    let mut cfg = cfg.clone();
    cfg.watch_ns = 0;
    let mut judge = RolloutJudge::new(cfg.clone())?;
    let mut rng = SmallRng::seed_from_u64(exp.seed);
    let w = cfg.window_ns;
    // Deploy at a random point of a window, after baseline-only history.
    let t0 =
        1_700_000_000 * NS_PER_SEC / w * w + exp.history_s * NS_PER_SEC + rng.random_range(0..w);
    let deploy = DeployEvent {
        ts_ns: t0,
        service: "svc".into(),
        version: "v2".into(),
        baseline_version: "v1".into(),
        strategy: Strategy::Canary,
        traffic_weight: exp.canary_rps / (exp.canary_rps + exp.baseline_rps).max(f64::MIN_POSITIVE),
        change_id: format!("exp-{}", exp.seed),
        kind: ChangeKind::Deploy,
    };
    let (err_c, lat_c) = match exp.injection {
        Injection::None => (exp.base_error, 1.0),
        Injection::ErrorPp(pp) => (exp.base_error + pp / 100.0, 1.0),
        Injection::LatencyRatio(r) => (exp.base_error, 1.0 + r),
    };
    let mu = exp.latency_median_ms.ln();
    let horizon = (cfg.num_windows as i64 + 2) * w;
    let start = t0 - exp.history_s * NS_PER_SEC;
    let mut deployed = false;
    let mut advance_us = Vec::new();
    let mut verdicts = 0;
    let mut sec = 0i64;
    loop {
        let t = start + sec * NS_PER_SEC;
        if t > t0 + horizon {
            return Ok(Outcome {
                decision: Decision::Hold,
                time_to_decision_s: f64::NAN,
                verdicts,
                advance_us,
                failed: Vec::new(),
            });
        }
        if !deployed && t + NS_PER_SEC > t0 {
            judge.observe_deploy(deploy.clone());
            deployed = true;
        }
        let nb = poisson(&mut rng, exp.baseline_rps);
        for _ in 0..nb {
            let ts = t + rng.random_range(0..NS_PER_SEC);
            let lat = (mu + exp.latency_sigma * std_normal(&mut rng)).exp();
            let err = rng.random::<f64>() < exp.base_error;
            judge.observe_request("svc", "v1", ts, lat, err);
        }
        if t + NS_PER_SEC > t0 {
            let nc = poisson(&mut rng, exp.canary_rps);
            for _ in 0..nc {
                let ts = (t + rng.random_range(0..NS_PER_SEC)).max(t0);
                let lat = (mu + exp.latency_sigma * std_normal(&mut rng)).exp() * lat_c;
                let err = rng.random::<f64>() < err_c;
                judge.observe_request("svc", "v2", ts, lat, err);
            }
        }
        sec += 1;
        let now = start + sec * NS_PER_SEC;
        let began = std::time::Instant::now();
        let out = judge.advance(now);
        if !out.is_empty() {
            advance_us.push(began.elapsed().as_secs_f64() * 1e6);
        }
        verdicts += out.len();
        if let Some(v) = out.iter().find(|v| v.decision != Decision::Hold) {
            return Ok(Outcome {
                decision: v.decision,
                time_to_decision_s: (v.ts_ns - t0) as f64 / NS_PER_SEC as f64,
                verdicts,
                advance_us,
                failed: v
                    .metrics
                    .iter()
                    .filter(|m| m.result == crate::verdict::MetricResult::Fail)
                    .map(|m| m.name.clone())
                    .collect(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_is_rolled_back_and_aa_promoted() {
        let cfg = JudgeConfig::default();
        let o = run(&Experiment::new(3, 10.0, Injection::ErrorPp(5.0)), &cfg).unwrap();
        assert_eq!(o.decision, Decision::Rollback);
        assert!(o.time_to_decision_s <= 300.0, "{o:?}");
        let o = run(
            &Experiment::new(4, 10.0, Injection::LatencyRatio(0.5)),
            &cfg,
        )
        .unwrap();
        assert_eq!(o.decision, Decision::Rollback);
        let o = run(&Experiment::new(5, 10.0, Injection::None), &cfg).unwrap();
        assert_eq!(o.decision, Decision::Promote);
    }

    #[test]
    fn no_canary_traffic_is_inconclusive() {
        let o = run(
            &Experiment::missing_canary(6, 90.0),
            &JudgeConfig::default(),
        )
        .unwrap();
        assert_eq!(o.decision, Decision::Inconclusive);
    }

    #[test]
    fn experiments_are_deterministic() {
        let cfg = JudgeConfig::default();
        let e = Experiment::new(9, 5.0, Injection::ErrorPp(2.0));
        let a = run(&e, &cfg).unwrap();
        let b = run(&e, &cfg).unwrap();
        assert_eq!(
            (a.decision, a.time_to_decision_s, a.verdicts),
            (b.decision, b.time_to_decision_s, b.verdicts)
        );
    }
}
