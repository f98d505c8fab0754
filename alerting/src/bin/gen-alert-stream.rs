//! Writes a synthetic alert stream (JSON lines) to stdout or a file.

use std::io::{BufWriter, Write};

use clap::Parser;
use tocsin_alerting::alert_stream_line;
use tocsin_alerting::synth::{SynthConfig, generate};

/// Generate a deterministic synthetic alert stream in the interchange format.
#[derive(Parser)]
struct Args {
    /// Distinct alert identities.
    #[arg(long, default_value_t = 1000)]
    fingerprints: usize,
    /// Number of events.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Seconds between re-sends of a firing alert.
    #[arg(long, default_value_t = 60)]
    resend_secs: i64,
    /// RNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output file (default stdout).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let cfg = SynthConfig {
        fingerprints: a.fingerprints,
        events: a.events,
        resend_ns: a.resend_secs.saturating_mul(1_000_000_000),
        seed: a.seed,
        ..SynthConfig::default()
    };
    let evs = generate(&cfg);
    let sink: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::fs::File::create(p)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = BufWriter::new(sink);
    for e in &evs {
        writeln!(w, "{}", alert_stream_line(e))?;
    }
    w.flush()?;
    Ok(())
}
