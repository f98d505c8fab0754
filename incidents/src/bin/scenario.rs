//! Writes a generated scenario as JSON-lines files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tocsin_incidents::scenario::{ScenarioConfig, generate, write_scenario};

/// Generate alerts.jsonl, changes.jsonl, truth.json and topology.json.
#[derive(Parser)]
struct Args {
    /// RNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scenario length in hours.
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let cfg = ScenarioConfig {
        seed: a.seed,
        hours: a.hours,
        ..ScenarioConfig::default()
    };
    let sc = generate(&cfg);
    match write_scenario(&sc, &a.out) {
        Ok(()) => {
            eprintln!(
                "wrote {} alert lines, {} changes, {} faults to {}",
                sc.alerts.len(),
                sc.changes.len(),
                sc.truth.incidents.len(),
                a.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
