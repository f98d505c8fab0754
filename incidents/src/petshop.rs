//! Metric-based root-cause ranking on the PetShop dataset (Hardt et al.,
//! CLeaR 2024): the symptom (target node, metric, time) is given, as an alert
//! would give it; components' metrics are compared with a baseline before the
//! symptom; the anomalous part of the call graph reachable from the symptom is
//! ranked so that a failing component whose own dependencies look healthy
//! comes first.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::topology::{Topology, TopologyConfig};

/// Per-component metric series of one `metrics.csv`.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Row times (unix seconds).
    pub timestamps: Vec<f64>,
    /// `(component, metric, statistic)` → value per row.
    pub series: HashMap<(String, String, String), Vec<Option<f64>>>,
}

/// `target.json`: where the symptom showed and, for scoring only, the cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Symptom component.
    pub node: String,
    /// `latency` or `availability`.
    pub metric: String,
    /// Symptom time (unix seconds).
    pub timestamp: f64,
    /// True root cause (never read by the ranking).
    pub root_cause: Option<String>,
}

/// Ranking settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RcaConfig {
    /// Row spacing in seconds (a row covers `[ts, ts + step)`).
    pub step_s: f64,
    /// Rows after the symptom compared with the baseline.
    pub post_steps: f64,
    /// Robust z-score from which a component counts as anomalous.
    pub threshold: f64,
    /// How much an at-least-as-anomalous dependency explains a component away.
    pub explain_weight: f64,
    /// Node name suffixes of call-site views (remote endpoints, clients) rather
    /// than deployable components; their score is multiplied by `proxy_weight`.
    pub proxy_suffixes: Vec<String>,
    /// Weight of proxy nodes (1 = no demotion).
    pub proxy_weight: f64,
    /// Baselines shorter than this many points get a wider tolerance.
    pub small_baseline: usize,
}

impl Default for RcaConfig {
    fn default() -> Self {
        RcaConfig {
            step_s: 300.0,
            post_steps: 2.0,
            threshold: 3.0,
            explain_weight: 0.3,
            proxy_suffixes: vec!["_remote".into(), "_client".into()],
            proxy_weight: 0.5,
            small_baseline: 10,
        }
    }
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|e| Error::io(path.display().to_string(), e))
}

/// Reads a PetShop `metrics.csv` (three header rows: component, metric,
/// statistic; then rows whose first cell is a unix time).
pub fn read_metrics(path: &Path) -> Result<Metrics, Error> {
    let text = read(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut header: Vec<Vec<String>> = Vec::new();
    let mut m = Metrics::default();
    let mut cols: Vec<Vec<Option<f64>>> = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        if header.len() < 3 {
            header.push(rec.iter().skip(1).map(str::to_string).collect());
            continue;
        }
        let Some(ts) = rec.get(0).and_then(|s| s.parse::<f64>().ok()) else {
            continue;
        };
        if cols.is_empty() {
            cols = vec![Vec::new(); header[0].len()];
        }
        m.timestamps.push(ts);
        for (j, col) in cols.iter_mut().enumerate() {
            col.push(rec.get(j + 1).and_then(|s| s.parse::<f64>().ok()));
        }
    }
    if header.len() < 3 {
        return Err(Error::Invalid(format!(
            "{}: missing header rows",
            path.display()
        )));
    }
    for (j, col) in cols.into_iter().enumerate() {
        let key = (
            header[0].get(j).cloned().unwrap_or_default(),
            header[1].get(j).cloned().unwrap_or_default(),
            header[2].get(j).cloned().unwrap_or_default(),
        );
        m.series.insert(key, col);
    }
    Ok(m)
}

/// Reads `graph.csv`: an adjacency matrix whose rows are callers.
pub fn read_graph(path: &Path) -> Result<Topology, Error> {
    let text = read(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut names: Vec<String> = Vec::new();
    let mut cfg = TopologyConfig::default();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        if i == 0 {
            names = rec.iter().skip(1).map(str::to_string).collect();
            continue;
        }
        let caller = rec.get(0).unwrap_or("").to_string();
        for (j, v) in rec.iter().skip(1).enumerate() {
            let on = v.trim().parse::<f64>().map(|x| x != 0.0).unwrap_or(false);
            if on && let Some(callee) = names.get(j) {
                cfg.calls.push((caller.clone(), callee.clone()));
            }
        }
    }
    Ok(Topology::from_config(&cfg))
}

/// Reads `target.json`.
pub fn read_target(path: &Path) -> Result<Target, Error> {
    let v: serde_json::Value = serde_json::from_str(&read(path)?)?;
    let t = &v["target"];
    let node = t["node"]
        .as_str()
        .ok_or_else(|| Error::Invalid("target.node missing".into()))?;
    Ok(Target {
        node: node.to_string(),
        metric: t["metric"].as_str().unwrap_or("latency").to_string(),
        timestamp: t["timestamp"]
            .as_f64()
            .ok_or_else(|| Error::Invalid("target.timestamp missing".into()))?,
        root_cause: v["root_cause"]["node"].as_str().map(str::to_string),
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Robust z of the worst post value against a baseline, in the bad direction
/// (latency up, availability down). Small baselines get a wider tolerance.
pub fn robust_z(baseline: &[f64], post: &[f64], metric: &str, cfg: &RcaConfig) -> f64 {
    if baseline.is_empty() || post.is_empty() {
        return 0.0;
    }
    let mut b = baseline.to_vec();
    let med = median(&mut b);
    let mut dev: Vec<f64> = b.iter().map(|x| (x - med).abs()).collect();
    let mad = 1.4826 * median(&mut dev);
    let small = baseline.len() < cfg.small_baseline;
    let floor = if metric == "availability" {
        if small { 2.0 } else { 0.5 }
    } else {
        (if small { 0.25 } else { 0.05 }) * med.abs()
    }
    .max(1e-3);
    let scale = mad + floor;
    let sign = if metric == "availability" { -1.0 } else { 1.0 };
    post.iter()
        .map(|x| sign * (x - med) / scale)
        .fold(0.0, f64::max)
}

fn stats_for(metric: &str) -> &'static [&'static str] {
    if metric == "latency" {
        &["Average", "p50", "p90", "p95", "p99"]
    } else {
        &["Average"]
    }
}

/// Anomaly score per component for the target's metric family: rows that end
/// before the symptom (plus `baseline`, e.g. the no-issue period of the same
/// deployment) versus the rows from the symptom on.
pub fn anomaly_scores(
    m: &Metrics,
    baseline: Option<&Metrics>,
    target: &Target,
    cfg: &RcaConfig,
) -> BTreeMap<String, f64> {
    let ts = target.timestamp;
    let mut pre_rows: Vec<usize> = (0..m.timestamps.len())
        .filter(|&i| m.timestamps[i] + cfg.step_s <= ts)
        .collect();
    if pre_rows.is_empty() && !m.timestamps.is_empty() {
        pre_rows.push(0);
    }
    let post_rows: Vec<usize> = (0..m.timestamps.len())
        .filter(|&i| {
            let t = m.timestamps[i];
            t + cfg.step_s > ts && t <= ts + cfg.post_steps * cfg.step_s && !pre_rows.contains(&i)
        })
        .collect();
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for ((comp, metric, stat), vals) in &m.series {
        if metric != &target.metric || !stats_for(metric).contains(&stat.as_str()) {
            continue;
        }
        let mut base: Vec<f64> = pre_rows.iter().filter_map(|&i| vals[i]).collect();
        if let Some(b) =
            baseline.and_then(|b| b.series.get(&(comp.clone(), metric.clone(), stat.clone())))
        {
            base.extend(b.iter().flatten());
        }
        let post: Vec<f64> = post_rows.iter().filter_map(|&i| vals[i]).collect();
        let z = robust_z(&base, &post, metric, cfg);
        let e = out.entry(comp.clone()).or_insert(0.0);
        *e = e.max(z);
    }
    out
}

/// Ranks root-cause candidates: the anomalous components reachable from the
/// symptom through anomalous callees, scored by `ln(1+z)`, discounted when
/// an at-least-as-anomalous dependency explains them and when they are proxy
/// nodes. Best first.
pub fn rank(
    topo: &Topology,
    scores: &BTreeMap<String, f64>,
    target: &Target,
    cfg: &RcaConfig,
) -> Vec<(String, f64)> {
    let a = |s: &str| scores.get(s).copied().unwrap_or(0.0);
    let Some(start) = topo.id(&target.node) else {
        return vec![(target.node.clone(), 0.0)];
    };
    let mut reach = vec![start];
    let mut i = 0;
    while i < reach.len() {
        for &d in topo.callees_of(reach[i]) {
            if a(topo.name(d)) >= cfg.threshold && !reach.contains(&d) {
                reach.push(d);
            }
        }
        i += 1;
    }
    let mut out: Vec<(String, f64)> = reach
        .iter()
        .map(|&c| {
            let name = topo.name(c);
            let own = a(name).max(0.0);
            let kid = topo
                .callees_of(c)
                .iter()
                .map(|&d| a(topo.name(d)))
                .fold(0.0, f64::max);
            let explained = if own > 0.0 { (kid / own).min(1.0) } else { 1.0 };
            let mut s = own.ln_1p() * (1.0 - cfg.explain_weight * explained);
            if cfg
                .proxy_suffixes
                .iter()
                .any(|p| name.ends_with(p.as_str()))
            {
                s *= cfg.proxy_weight;
            }
            (name.to_string(), s)
        })
        .collect();
    out.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    out
}

/// Result for one issue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueResult {
    /// Traffic scenario directory.
    pub scenario: String,
    /// Issue directory.
    pub issue: String,
    /// `latency` or `availability`.
    pub issue_type: String,
    /// True root cause.
    pub truth: String,
    /// First three of the ranking.
    pub top3: Vec<String>,
    /// Truth ranked first.
    pub hit1: bool,
    /// Truth within the first three.
    pub hit3: bool,
    /// Anomaly score of the symptom node itself (detection check: the same
    /// test as the no-issue false-alarm figure).
    pub symptom_z: f64,
}

fn sorted_dirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs the ranking over every `<scenario>/<split>/issue_*` under `root`.
pub fn evaluate(root: &Path, split: &str, cfg: &RcaConfig) -> Result<Vec<IssueResult>, Error> {
    let mut out = Vec::new();
    for sc in sorted_dirs(root) {
        let issues = sorted_dirs(&sc.join(split));
        if issues.is_empty() {
            continue;
        }
        let topo = read_graph(&sc.join("graph.csv"))?;
        let noissue = sc.join("noissue").join("metrics.csv");
        let base = if noissue.exists() {
            Some(read_metrics(&noissue)?)
        } else {
            None
        };
        for dir in issues {
            let target = read_target(&dir.join("target.json"))?;
            let m = read_metrics(&dir.join("metrics.csv"))?;
            let scores = anomaly_scores(&m, base.as_ref(), &target, cfg);
            let ranking = rank(&topo, &scores, &target, cfg);
            let truth = target.root_cause.clone().unwrap_or_default();
            let top3: Vec<String> = ranking.iter().take(3).map(|r| r.0.clone()).collect();
            out.push(IssueResult {
                scenario: name_of(&sc),
                issue: name_of(&dir),
                issue_type: target.metric.clone(),
                hit1: top3.first() == Some(&truth),
                hit3: top3.contains(&truth),
                symptom_z: scores.get(&target.node).copied().unwrap_or(0.0),
                truth,
                top3,
            });
        }
    }
    Ok(out)
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// False alarms on a no-issue period: every `every` rows after `warmup`, the
/// given symptom node's metric over the next `post_steps` rows is compared
/// with the preceding `warmup` rows; returns (windows, flagged).
pub fn false_alarms(
    m: &Metrics,
    node: &str,
    metric: &str,
    warmup: usize,
    every: usize,
    cfg: &RcaConfig,
) -> (usize, usize) {
    let (mut n, mut flagged) = (0, 0);
    let post = cfg.post_steps.max(1.0) as usize;
    let mut i = warmup;
    while i + post <= m.timestamps.len() {
        let mut z = 0.0f64;
        for stat in stats_for(metric) {
            let key = (node.to_string(), metric.to_string(), stat.to_string());
            if let Some(vals) = m.series.get(&key) {
                let base: Vec<f64> = vals[i - warmup..i].iter().flatten().copied().collect();
                let p: Vec<f64> = vals[i..i + post].iter().flatten().copied().collect();
                z = z.max(robust_z(&base, &p, metric, cfg));
            }
        }
        n += 1;
        flagged += usize::from(z >= cfg.threshold);
        i += every;
    }
    (n, flagged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_z_directions() {
        let cfg = RcaConfig::default();
        let base: Vec<f64> = (0..20).map(|i| 1.0 + 0.01 * f64::from(i % 3)).collect();
        assert!(robust_z(&base, &[3.0], "latency", &cfg) > 10.0);
        assert_eq!(robust_z(&base, &[0.5], "latency", &cfg), 0.0);
        let avail = vec![100.0; 20];
        assert!(robust_z(&avail, &[50.0], "availability", &cfg) > 10.0);
        assert_eq!(robust_z(&avail, &[100.0], "availability", &cfg), 0.0);
    }

    #[test]
    fn ranks_failing_leaf_of_anomalous_chain_first() {
        // site -> search -> db; search is slow, db healthy, other branch noisy
        // but not reachable through anomalous nodes.
        let mut t = Topology::default();
        t.calls("site", "search");
        t.calls("search", "db");
        t.calls("site", "cart");
        t.calls("cart", "noisy");
        let mut s = BTreeMap::new();
        s.insert("site".to_string(), 20.0);
        s.insert("search".to_string(), 40.0);
        s.insert("db".to_string(), 0.5);
        s.insert("cart".to_string(), 0.2);
        s.insert("noisy".to_string(), 100.0);
        let target = Target {
            node: "site".into(),
            metric: "latency".into(),
            timestamp: 0.0,
            root_cause: None,
        };
        let r = rank(&t, &s, &target, &RcaConfig::default());
        assert_eq!(r[0].0, "search");
        assert!(r.iter().all(|x| x.0 != "noisy"));
    }

    fn data_root() -> Option<PathBuf> {
        let root = std::env::var("TOCSIN_SHARED_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
            });
        let p = root.join("petshop");
        if p.exists() {
            Some(p)
        } else {
            eprintln!("skipping: PetShop data not found at {}", p.display());
            None
        }
    }

    #[test]
    fn petshop_train_top3_meets_target() {
        let Some(root) = data_root() else { return };
        let res = evaluate(&root, "train", &RcaConfig::default()).unwrap();
        assert_eq!(res.len(), 20);
        let hit3 = res.iter().filter(|r| r.hit3).count() as f64 / res.len() as f64;
        assert!(hit3 >= 0.9, "top-3 {hit3}");
    }
}
