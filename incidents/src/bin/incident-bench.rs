//! Generates a scenario, runs the correlator behind a simple dedup stand-in
//! (re-sent lines → one Firing/Resolved signal per instance; maintenance
//! silences drop covered alerts) and prints every figure as JSON.

use std::process::ExitCode;

use clap::Parser;
use tocsin_incidents::CorrelatorConfig;
use tocsin_incidents::bench::run;
use tocsin_incidents::scenario::{ScenarioConfig, generate};

/// Correlator benchmark with ground truth.
#[derive(Parser)]
struct Args {
    /// RNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scenario length in hours.
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// Correlator config as JSON (fields of `CorrelatorConfig`; omitted ones
    /// keep their defaults).
    #[arg(long)]
    config: Option<String>,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let sc = generate(&ScenarioConfig {
        seed: a.seed,
        hours: a.hours,
        ..ScenarioConfig::default()
    });
    let cfg: CorrelatorConfig = match a.config.as_deref().map(serde_json::from_str).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: bad --config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = run(&sc, &cfg);
    let out = serde_json::json!({
        "seed": a.seed,
        "hours": a.hours,
        "report": report,
    });
    match serde_json::to_string_pretty(&out) {
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
