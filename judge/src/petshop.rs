//! Reader for the PetShop root-cause dataset (Hardt et al., CLeaR 2024) and its
//! replay through the judge.
//!
//! `metrics.csv` is column-oriented: header rows `microservice`, `metric`,
//! `statistic`, `unix_timestamp`, then one row per 5-minute bucket whose first
//! cell is the bucket's start (unix seconds). Columns are (component, metric,
//! statistic): latency Average/p50/p90/p95/p99 (seconds), requests Sum and
//! availability Average (percent).
//!
//! The judge works on requests, so each bucket is expanded into synthetic
//! requests: `requests.Sum` of them, spread evenly over the bucket, with
//! `round(n·(1 − availability))` errors spread evenly, and latencies drawn at
//! low-discrepancy quantile levels from a quantile function interpolated
//! through the bucket's p50/p90/p95/p99 (piecewise linear in log-latency
//! against the normal score, i.e. lognormal between the knots and beyond them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::JudgeError;
use crate::config::{ChangeKind, DeployEvent, JudgeConfig, NS_PER_SEC, Strategy};
use crate::judge::RolloutJudge;
use crate::verdict::Verdict;

/// Bucket width of the dataset, seconds.
pub const BUCKET_S: i64 = 300;

/// One `metrics.csv`.
#[derive(Debug, Clone, Default)]
pub struct PetshopTable {
    /// Bucket start times, unix seconds.
    pub timestamps: Vec<i64>,
    /// (component, metric, statistic) → value per bucket.
    pub columns: BTreeMap<(String, String, String), Vec<Option<f64>>>,
}

impl PetshopTable {
    /// Value of a column at a row.
    pub fn get(&self, component: &str, metric: &str, stat: &str, row: usize) -> Option<f64> {
        self.columns
            .get(&(component.to_string(), metric.to_string(), stat.to_string()))?
            .get(row)
            .copied()
            .flatten()
    }

    /// Components present.
    pub fn components(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.columns.keys().map(|k| k.0.as_str()).collect();
        v.dedup();
        v
    }
}

/// Reads a PetShop `metrics.csv`.
pub fn read_metrics(path: &Path) -> Result<PetshopTable, JudgeError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)?;
    let mut rows: Vec<csv::StringRecord> = Vec::new();
    for r in rdr.records() {
        rows.push(r?);
    }
    if rows.len() < 4 {
        return Err(JudgeError::Data(format!(
            "{}: fewer than 4 header rows",
            path.display()
        )));
    }
    let (comp, metric, stat) = (&rows[0], &rows[1], &rows[2]);
    let mut t = PetshopTable::default();
    let ncol = comp.len();
    let mut keys = Vec::with_capacity(ncol);
    for c in 1..ncol {
        let k = (
            comp.get(c).unwrap_or("").to_string(),
            metric.get(c).unwrap_or("").to_string(),
            stat.get(c).unwrap_or("").to_string(),
        );
        keys.push(k.clone());
        t.columns.entry(k).or_default();
    }
    for r in &rows[4..] {
        let ts: f64 = r
            .get(0)
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| JudgeError::Data(format!("{}: bad timestamp row", path.display())))?;
        t.timestamps.push(ts as i64);
        for (c, k) in keys.iter().enumerate() {
            let v = r
                .get(c + 1)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite());
            if let Some(col) = t.columns.get_mut(k) {
                col.push(v);
            }
        }
    }
    Ok(t)
}

/// `target.json` of a train issue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    /// Where the symptom showed.
    pub target: TargetNode,
    /// The true root cause.
    pub root_cause: RootCause,
}

/// Symptom location.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetNode {
    /// Component.
    pub node: String,
    /// `latency` or `availability`.
    pub metric: String,
    /// Unix seconds.
    pub timestamp: i64,
}

/// Root cause.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootCause {
    /// Component.
    pub node: String,
}

/// Reads a `target.json`.
pub fn read_target(path: &Path) -> Result<Target, JudgeError> {
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

/// Train issue directories (`<traffic>/train/issue_N`) under the dataset root, sorted.
pub fn train_issues(root: &Path) -> Result<Vec<PathBuf>, JudgeError> {
    let mut out = Vec::new();
    for traffic in sorted_dirs(root)? {
        let train = traffic.join("train");
        if train.is_dir() {
            out.extend(
                sorted_dirs(&train)?
                    .into_iter()
                    .filter(|p| p.join("target.json").is_file()),
            );
        }
    }
    Ok(out)
}

/// `noissue/metrics.csv` files under the dataset root, sorted.
pub fn noissue_files(root: &Path) -> Result<Vec<PathBuf>, JudgeError> {
    Ok(sorted_dirs(root)?
        .into_iter()
        .map(|t| t.join("noissue").join("metrics.csv"))
        .filter(|p| p.is_file())
        .collect())
}

fn sorted_dirs(p: &Path) -> Result<Vec<PathBuf>, JudgeError> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

/// Inverse standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let pl = 0.02425;
    if p < pl {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - pl {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// Quantile function through `(normal score, ln latency)` knots, linear between
/// them and extrapolated with the nearest segment's slope.
fn interp(knots: &[(f64, f64)], z: f64) -> f64 {
    match knots.len() {
        0 => f64::NAN,
        1 => knots[0].1,
        n => {
            let seg = knots.windows(2).position(|w| z <= w[1].0).unwrap_or(n - 2);
            let (a, b) = (knots[seg], knots[seg + 1]);
            let slope = if b.0 > a.0 {
                (b.1 - a.1) / (b.0 - a.0)
            } else {
                0.0
            };
            a.1 + slope * (z - a.0)
        }
    }
}

/// Synthetic requests `(ts_ns, latency_ms, error)` of one bucket of a component.
pub fn synth_requests(t: &PetshopTable, component: &str, row: usize) -> Vec<(i64, f64, bool)> {
    let Some(n) = t
        .get(component, "requests", "Sum", row)
        .filter(|n| *n >= 1.0)
    else {
        return Vec::new();
    };
    let n = n.round() as u64;
    let avail = t
        .get(component, "availability", "Average", row)
        .unwrap_or(100.0)
        .clamp(0.0, 100.0);
    let errors = (n as f64 * (100.0 - avail) / 100.0).round() as u64;
    let mut knots: Vec<(f64, f64)> = [("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)]
        .iter()
        .filter_map(|(s, q)| {
            t.get(component, "latency", s, row)
                .filter(|v| *v > 0.0)
                .map(|v| (normal_quantile(*q), (v * 1000.0).ln()))
        })
        .collect();
    // Quantiles must not decrease; enforce it so interpolation stays monotone.
    for i in 1..knots.len() {
        if knots[i].1 < knots[i - 1].1 {
            knots[i].1 = knots[i - 1].1;
        }
    }
    let t0 = t.timestamps.get(row).copied().unwrap_or(0) * NS_PER_SEC;
    let step = BUCKET_S * NS_PER_SEC / n as i64;
    const GOLDEN: f64 = 0.618_033_988_749_894_9;
    (0..n)
        .map(|i| {
            let ts = t0 + i as i64 * step + step / 2;
            let u = ((i as f64 + 0.5) * GOLDEN).fract().clamp(1e-6, 1.0 - 1e-6);
            let lat = interp(&knots, normal_quantile(u)).exp();
            let err = (i + 1) * errors / n > i * errors / n;
            (ts, lat, err)
        })
        .collect()
}

/// Judge configuration for PetShop: 5-minute windows aligned to the buckets,
/// two buckets of pre-change baseline, `after` buckets analysed.
pub fn petshop_config(first_bucket_s: i64, after: u32) -> JudgeConfig {
    JudgeConfig {
        window_ns: BUCKET_S * NS_PER_SEC,
        window_offset_ns: first_bucket_s.rem_euclid(BUCKET_S) * NS_PER_SEC,
        num_windows: after.max(1),
        baseline_windows: 2,
        watch_ns: 0,
        ..JudgeConfig::default()
    }
}

/// Replays rows `rows` of `component` through a judge with a change at
/// `change_s`: requests before it are version `before`, after it `after`, and
/// the change is judged against the pre-change buckets. Returns all verdicts.
pub fn replay(
    t: &PetshopTable,
    component: &str,
    rows: std::ops::Range<usize>,
    change_s: i64,
    cfg: JudgeConfig,
) -> Result<Vec<Verdict>, JudgeError> {
    let mut judge = RolloutJudge::new(cfg)?;
    let change_ns = change_s * NS_PER_SEC;
    judge.observe_deploy(DeployEvent {
        ts_ns: change_ns,
        service: component.to_string(),
        version: "after".into(),
        baseline_version: "before".into(),
        strategy: Strategy::Rolling,
        traffic_weight: 1.0,
        change_id: format!("{component}@{change_s}"),
        kind: ChangeKind::Deploy,
    });
    let mut out = Vec::new();
    for row in rows {
        for (ts, lat, err) in synth_requests(t, component, row) {
            let v = if ts < change_ns { "before" } else { "after" };
            judge.observe_request(component, v, ts, lat, err);
        }
        let end = (t.timestamps.get(row).copied().unwrap_or(0) + BUCKET_S) * NS_PER_SEC;
        out.extend(judge.advance(end));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_known_values() {
        assert!(normal_quantile(0.5).abs() < 1e-9);
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((normal_quantile(0.01) + 2.326_347_874).abs() < 1e-8);
    }

    #[test]
    fn synthetic_requests_match_bucket_summaries() {
        let mut t = PetshopTable {
            timestamps: vec![1000],
            ..Default::default()
        };
        let mut put = |m: &str, s: &str, v: f64| {
            t.columns
                .insert(("c".into(), m.into(), s.into()), vec![Some(v)]);
        };
        put("requests", "Sum", 1000.0);
        put("availability", "Average", 97.0);
        put("latency", "p50", 0.010);
        put("latency", "p90", 0.020);
        put("latency", "p95", 0.030);
        put("latency", "p99", 0.100);
        let r = synth_requests(&t, "c", 0);
        assert_eq!(r.len(), 1000);
        assert_eq!(r.iter().filter(|x| x.2).count(), 30);
        let mut lat: Vec<f64> = r.iter().map(|x| x.1).collect();
        lat.sort_by(f64::total_cmp);
        assert!((lat[499] - 10.0).abs() < 0.5, "{}", lat[499]);
        assert!((lat[949] - 30.0).abs() < 1.5, "{}", lat[949]);
        assert!(
            r.iter()
                .all(|x| x.0 >= 1000 * NS_PER_SEC && x.0 < 1300 * NS_PER_SEC)
        );
    }

    fn data_root() -> Option<PathBuf> {
        let root = std::env::var("TOCSIN_SHARED_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
            });
        let p = root.join("petshop");
        if p.is_dir() { Some(p) } else { None }
    }

    #[test]
    fn reads_real_train_issue() {
        let Some(root) = data_root() else {
            eprintln!("skipping: petshop data not found (set TOCSIN_SHARED_DATA)");
            return;
        };
        let issues = train_issues(&root).unwrap();
        assert!(!issues.is_empty());
        let t = read_metrics(&issues[0].join("metrics.csv")).unwrap();
        assert_eq!(t.timestamps.len(), 5);
        assert!(t.components().len() > 30);
        let target = read_target(&issues[0].join("target.json")).unwrap();
        assert!(!synth_requests(&t, &target.root_cause.node, 0).is_empty());
    }

    #[test]
    fn availability_faults_replay_to_rollback() {
        let Some(root) = data_root() else {
            eprintln!("skipping: petshop data not found (set TOCSIN_SHARED_DATA)");
            return;
        };
        // Every availability fault in the train split drops the root cause's
        // availability by several points; the judge must roll each one back.
        let mut n = 0;
        for dir in train_issues(&root).unwrap() {
            let target = read_target(&dir.join("target.json")).unwrap();
            if target.target.metric != "availability" {
                continue;
            }
            let t = read_metrics(&dir.join("metrics.csv")).unwrap();
            let cfg = petshop_config(t.timestamps[0], 3);
            let v = replay(
                &t,
                &target.root_cause.node,
                0..t.timestamps.len(),
                target.target.timestamp,
                cfg,
            )
            .unwrap();
            let term = v
                .iter()
                .find(|v| v.decision != crate::verdict::Decision::Hold)
                .unwrap();
            assert_eq!(
                term.decision,
                crate::verdict::Decision::Rollback,
                "{}: {}",
                dir.display(),
                term.reason
            );
            n += 1;
        }
        assert!(n >= 4);
    }
}
