//! `judge-bench`: measures the rollout judge on seeded A/A and A/B experiments
//! (detection power, false rollbacks, time to decision, verdict latency,
//! missing-data handling), or replays the PetShop dataset with `--petshop DIR`.
//! Prints one JSON document on stdout.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Parser;
use serde_json::{Value, json};
use tocsin_judge::config::JudgeConfig;
use tocsin_judge::experiment::{Experiment, Injection, Outcome, run};
use tocsin_judge::petshop::{
    BUCKET_S, noissue_files, petshop_config, read_metrics, read_target, replay, train_issues,
};
use tocsin_judge::{Decision, JudgeError, Verdict};

#[derive(Parser)]
#[command(about = "Benchmark the rollout judge")]
struct Args {
    /// Runs per (injection, traffic) cell.
    #[arg(long, default_value_t = 1000)]
    runs: u64,
    /// Base seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Canary traffic levels, requests/s (baseline gets 9×).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1.0, 10.0, 100.0])]
    traffic: Vec<f64>,
    /// Replay the PetShop dataset at this path instead of the synthetic experiments.
    #[arg(long)]
    petshop: Option<PathBuf>,
}

fn quantiles(mut v: Vec<f64>) -> Value {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return json!(null);
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    json!({"n": v.len(), "min": v[0], "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": v[v.len() - 1]})
}

struct Cell {
    outcomes: Vec<Outcome>,
}

impl Cell {
    fn count(&self, d: Decision) -> usize {
        self.outcomes.iter().filter(|o| o.decision == d).count()
    }
    fn rollbacks_within(&self, s: f64) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.decision == Decision::Rollback && o.time_to_decision_s <= s)
            .count()
    }
    fn failed_by_metric(&self) -> Value {
        let mut m: std::collections::BTreeMap<&str, usize> = Default::default();
        for o in self
            .outcomes
            .iter()
            .filter(|o| o.decision == Decision::Rollback)
        {
            for f in &o.failed {
                *m.entry(f.as_str()).or_default() += 1;
            }
        }
        json!(m)
    }
    fn ttd(&self) -> Value {
        quantiles(
            self.outcomes
                .iter()
                .filter(|o| o.decision == Decision::Rollback)
                .map(|o| o.time_to_decision_s)
                .collect(),
        )
    }
}

fn run_cell(
    args: &Args,
    cfg: &JudgeConfig,
    tag: u64,
    make: impl Fn(u64) -> Experiment,
    lat: &mut Vec<f64>,
) -> Result<Cell, JudgeError> {
    let mut outcomes = Vec::with_capacity(args.runs as usize);
    for i in 0..args.runs {
        let seed = args
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(tag * 10_000_000 + i);
        let o = run(&make(seed), cfg)?;
        lat.extend(o.advance_us.iter().copied());
        outcomes.push(o);
    }
    Ok(Cell { outcomes })
}

fn synthetic(args: &Args) -> Result<Value, JudgeError> {
    let cfg = JudgeConfig::default();
    let mut lat = Vec::new();
    let mut aa = Vec::new();
    let mut errs = Vec::new();
    let mut lats = Vec::new();
    let mut targets = serde_json::Map::new();
    let mut worst_aa: f64 = 0.0;
    let started = std::time::Instant::now();
    for (ti, &rps) in args.traffic.iter().enumerate() {
        let tag = ti as u64 * 100;
        let c = run_cell(
            args,
            &cfg,
            tag,
            |s| Experiment::new(s, rps, Injection::None),
            &mut lat,
        )?;
        let fr = c.count(Decision::Rollback) as f64 / args.runs as f64;
        worst_aa = worst_aa.max(fr);
        aa.push(json!({
            "canary_rps": rps, "runs": args.runs,
            "promote": c.count(Decision::Promote), "rollback": c.count(Decision::Rollback),
            "inconclusive": c.count(Decision::Inconclusive), "no_decision": c.count(Decision::Hold),
            "false_rollback_rate": fr,
            "false_rollbacks_by_metric": c.failed_by_metric(),
        }));
        for (k, pp) in [1.0, 2.0, 5.0, 10.0].into_iter().enumerate() {
            let c = run_cell(
                args,
                &cfg,
                tag + 1 + k as u64,
                |s| Experiment::new(s, rps, Injection::ErrorPp(pp)),
                &mut lat,
            )?;
            let p5 = c.rollbacks_within(300.0) as f64 / args.runs as f64;
            if pp == 5.0 && rps == 10.0 {
                targets.insert("power_error_5pp_10rps_within_5min".into(), json!(p5));
            }
            errs.push(json!({
                "canary_rps": rps, "error_pp": pp, "runs": args.runs,
                "power_within_5min": p5,
                "power_by_end": c.count(Decision::Rollback) as f64 / args.runs as f64,
                "promote": c.count(Decision::Promote), "inconclusive": c.count(Decision::Inconclusive),
                "time_to_rollback_s": c.ttd(),
            }));
        }
        for (k, r) in [0.1, 0.2, 0.5].into_iter().enumerate() {
            let c = run_cell(
                args,
                &cfg,
                tag + 10 + k as u64,
                |s| Experiment::new(s, rps, Injection::LatencyRatio(r)),
                &mut lat,
            )?;
            let p5 = c.rollbacks_within(300.0) as f64 / args.runs as f64;
            if r == 0.2 && rps == 10.0 {
                targets.insert("power_p95_20pct_10rps_within_5min".into(), json!(p5));
            }
            lats.push(json!({
                "canary_rps": rps, "p95_increase": r, "runs": args.runs,
                "power_within_5min": p5,
                "power_by_end": c.count(Decision::Rollback) as f64 / args.runs as f64,
                "promote": c.count(Decision::Promote), "inconclusive": c.count(Decision::Inconclusive),
                "time_to_rollback_s": c.ttd(),
            }));
        }
    }
    let miss = run_cell(
        args,
        &cfg,
        9_000,
        |s| Experiment::missing_canary(s, 90.0),
        &mut lat,
    )?;
    targets.insert("aa_false_rollback_rate_max".into(), json!(worst_aa));
    let lat_q = quantiles(lat.clone());
    targets.insert(
        "advance_wall_ms_max".into(),
        json!(lat.iter().cloned().fold(0.0, f64::max) / 1000.0),
    );
    targets.insert(
        "missing_canary_promotions".into(),
        json!(miss.count(Decision::Promote)),
    );
    Ok(json!({
        "mode": "synthetic",
        "seed": args.seed,
        "runs_per_cell": args.runs,
        "setup": {
            "window_s": cfg.window_ns / 1_000_000_000, "num_windows": cfg.num_windows,
            "baseline_rps": "9 x canary", "base_error_rate": 0.01,
            "latency": "lognormal, median 80 ms, sigma 0.5; regressions scale every latency (p95 by the same ratio)",
            "deploy": "uniformly random point inside a window; detection counted when the rollback verdict is at most 300 s of event time after the deploy",
            "metrics": cfg.metrics,
        },
        "aa": aa,
        "error_rate": errs,
        "latency": lats,
        "missing_canary": {
            "runs": args.runs, "baseline_rps": 90.0,
            "inconclusive": miss.count(Decision::Inconclusive), "promote": miss.count(Decision::Promote),
            "rollback": miss.count(Decision::Rollback), "no_decision": miss.count(Decision::Hold),
        },
        "advance_wall_us_per_verdict_call": lat_q,
        "targets": targets,
        "bench_wall_s": started.elapsed().as_secs_f64(),
    }))
}

fn terminal(v: &[Verdict]) -> Option<&Verdict> {
    v.iter().find(|v| v.decision != Decision::Hold).or(v.last())
}

fn summarize(v: &[Verdict], change_s: i64) -> Value {
    match terminal(v) {
        None => json!({"decision": "none"}),
        Some(t) => json!({
            "decision": t.decision.as_str(),
            "time_to_decision_s": (t.ts_ns / 1_000_000_000) - change_s,
            "failed": t.metrics.iter().filter(|m| m.result == tocsin_judge::MetricResult::Fail).map(|m| m.name.clone()).collect::<Vec<_>>(),
            "reason": t.reason,
            "metrics": t.metrics.iter().map(|m| json!({"name": m.name, "result": format!("{:?}", m.result), "p": m.p_value, "alpha": m.alpha_used, "baseline": m.baseline_value, "canary": m.canary_value, "n": [m.baseline_n, m.canary_n]})).collect::<Vec<_>>(),
        }),
    }
}

fn petshop(root: &std::path::Path) -> Result<Value, JudgeError> {
    let mut issues = Vec::new();
    let mut components: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    let (mut rollbacks, mut n_issues) = (0, 0);
    for dir in train_issues(root)? {
        let t = read_metrics(&dir.join("metrics.csv"))?;
        let target = read_target(&dir.join("target.json"))?;
        let comp = target.root_cause.node.clone();
        let traffic = dir
            .parent()
            .and_then(|p| p.parent())
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        components
            .entry(traffic.clone())
            .or_default()
            .insert(comp.clone());
        let change = target.target.timestamp;
        let Some(&first) = t.timestamps.first() else {
            continue;
        };
        let d = t
            .timestamps
            .iter()
            .rposition(|&ts| ts <= change)
            .unwrap_or(0);
        let first_analysed = if t.timestamps[d] == change { d } else { d + 1 };
        let after = (t.timestamps.len().saturating_sub(first_analysed)) as u32;
        let v = replay(
            &t,
            &comp,
            0..t.timestamps.len(),
            change,
            petshop_config(first, after),
        )?;
        let s = summarize(&v, change);
        n_issues += 1;
        if s["decision"] == "rollback" {
            rollbacks += 1;
        }
        issues.push(json!({"issue": dir.strip_prefix(root).unwrap_or(&dir).display().to_string(), "component": comp, "fault_metric": target.target.metric, "verdict": s}));
    }
    let mut noissue = Vec::new();
    let (mut fr, mut nwin, mut inconc) = (0, 0, 0);
    for f in noissue_files(root)? {
        let traffic = f
            .parent()
            .and_then(|p| p.parent())
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let t = read_metrics(&f)?;
        let Some(&first) = t.timestamps.first() else {
            continue;
        };
        for comp in components.get(&traffic).cloned().unwrap_or_default() {
            let mut k = 0;
            while k + 5 <= t.timestamps.len() {
                // Same geometry as the train issues: 5 buckets, change inside the 2nd bucket.
                let change = t.timestamps[k] + BUCKET_S + BUCKET_S / 2;
                let v = replay(&t, &comp, k..k + 5, change, petshop_config(first, 3))?;
                let s = summarize(&v, change);
                nwin += 1;
                match s["decision"].as_str() {
                    Some("rollback") => {
                        fr += 1;
                        noissue.push(json!({"file": traffic, "component": comp, "start": t.timestamps[k], "verdict": s}));
                    }
                    Some("inconclusive") => inconc += 1,
                    _ => {}
                }
                k += 5;
            }
        }
    }
    Ok(json!({
        "mode": "petshop",
        "protocol": "train: change = target.timestamp on the root-cause component, baseline = the two 5-min buckets before the bucket holding the change, judged over the following buckets; noissue: non-overlapping 5-bucket slices, change at the middle of the 2nd bucket, same components as the traffic's train issues",
        "train_issues": n_issues,
        "train_rollback": rollbacks,
        "train_rollback_rate": rollbacks as f64 / n_issues.max(1) as f64,
        "noissue_windows": nwin,
        "noissue_false_rollback": fr,
        "noissue_false_rollback_rate": fr as f64 / nwin.max(1) as f64,
        "noissue_inconclusive": inconc,
        "issues": issues,
        "noissue_rollbacks": noissue,
    }))
}

fn main() {
    let args = Args::parse();
    let res = match &args.petshop {
        Some(p) => petshop(p),
        None => synthetic(&args),
    };
    match res {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(e) => {
            eprintln!("judge-bench: {e}");
            std::process::exit(1);
        }
    }
}
