//! Root-cause ranking over the PetShop dataset: top-1/top-3 overall, per
//! traffic scenario and per issue type, plus a false-alarm figure on the
//! no-issue periods.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tocsin_incidents::petshop::{RcaConfig, evaluate, false_alarms, read_metrics};

/// PetShop root-cause evaluation.
#[derive(Parser)]
struct Args {
    /// Dataset root (contains low_traffic/, high_traffic/, …).
    #[arg(long)]
    data: PathBuf,
    /// Split to evaluate.
    #[arg(long, default_value = "train")]
    split: String,
    /// Ranking config as JSON (omitted fields keep defaults).
    #[arg(long)]
    config: Option<String>,
    /// Print every issue.
    #[arg(long)]
    verbose: bool,
}

fn run(a: &Args) -> Result<serde_json::Value, tocsin_incidents::Error> {
    let cfg: RcaConfig = match &a.config {
        Some(s) => serde_json::from_str(s)?,
        None => RcaConfig::default(),
    };
    let res = evaluate(&a.data, &a.split, &cfg)?;
    let detected = res.iter().filter(|r| r.symptom_z >= cfg.threshold).count();
    let mut groups: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for r in &res {
        for key in [
            "overall".to_string(),
            format!("scenario:{}", r.scenario),
            format!("type:{}", r.issue_type),
        ] {
            let g = groups.entry(key).or_default();
            g.0 += 1;
            g.1 += usize::from(r.hit1);
            g.2 += usize::from(r.hit3);
        }
    }
    let summary: BTreeMap<String, serde_json::Value> = groups
        .into_iter()
        .map(|(k, (n, h1, h3))| {
            (
                k,
                serde_json::json!({"n": n, "top1": h1 as f64 / n as f64, "top3": h3 as f64 / n as f64}),
            )
        })
        .collect();
    let mut fa = BTreeMap::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&a.data)
        .map_err(|e| tocsin_incidents::Error::io(a.data.display().to_string(), e))?
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        let p = d.join("noissue").join("metrics.csv");
        if !p.exists() {
            continue;
        }
        let m = read_metrics(&p)?;
        for metric in ["latency", "availability"] {
            // One day of 5-minute rows as baseline, a window every hour.
            let (n, f) = false_alarms(&m, "PetSite", metric, 288, 12, &cfg);
            let name = d
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            fa.insert(
                format!("{name}:{metric}"),
                serde_json::json!({"windows": n, "flagged": f, "rate": if n == 0 { 0.0 } else { f as f64 / n as f64 }}),
            );
        }
    }
    let mut out = serde_json::json!({
        "split": a.split,
        "config": cfg,
        "summary": summary,
        "symptom_detected": {"n": res.len(), "detected": detected},
        "false_alarms_noissue": fa,
    });
    if a.verbose {
        out["issues"] = serde_json::to_value(&res)?;
    }
    Ok(out)
}

fn main() -> ExitCode {
    let a = Args::parse();
    match run(&a).and_then(|v| Ok(serde_json::to_string_pretty(&v)?)) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
