//! Offline subcommands: the same detector and miner code the pipeline runs,
//! over files, so their quality can be measured and backtested.
//!
//! - `tocsin detect`: anomaly scores per row of NAB-layout CSVs;
//! - `tocsin patterns`: a template id and template per log line.
//!
//! Both take the detector or miner settings from the same config sections
//! the pipeline uses (`[processors.anomaly.detector]`,
//! `[processors.log_patterns.miner]`), so what is measured is what runs.

use std::path::Path;

use anyhow::Context;
use tocsin_patterns::offline::{self, InputFormat};

use crate::config::Config;

/// Input layouts `tocsin detect` reads.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DetectFormat {
    /// Numenta Anomaly Benchmark layout: `<dir>/<category>/<file>.csv` with
    /// `timestamp,value` columns.
    Nab,
}

/// Runs the anomaly detector over every series under `input`, writing
/// `timestamp,value,anomaly_score` files under `out` in the same layout.
pub fn detect(cfg: &Config, input: &Path, format: DetectFormat, out: &Path) -> anyhow::Result<()> {
    let DetectFormat::Nab = format;
    let detector = &cfg.processors.anomaly.detector;
    let stats = tocsin_anomaly::nab::detect_directory(input, out, detector)
        .with_context(|| format!("detecting anomalies in {}", input.display()))?;
    eprintln!(
        "scored {} points in {} files ({:.0} points/s in the detector); scores in {}",
        stats.points,
        stats.files,
        stats.points_per_sec(),
        out.display()
    );
    Ok(())
}

/// Input layouts `tocsin patterns` reads.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PatternsFormat {
    /// One log line per line.
    Raw,
    /// Loghub structured CSV: the `Content` column is the line; an `EventId`
    /// column, when present, is the ground truth and the result is scored.
    Csv,
}

/// Mines templates from `input` and writes `LineId,EventId,EventTemplate`.
pub fn patterns(
    cfg: &Config,
    input: &Path,
    format: PatternsFormat,
    out: &Path,
) -> anyhow::Result<()> {
    let format = match format {
        PatternsFormat::Raw => InputFormat::Raw,
        PatternsFormat::Csv => InputFormat::Csv,
    };
    let lines = offline::read_input(input, format)
        .with_context(|| format!("reading {}", input.display()))?;
    let miner = cfg.processors.log_patterns.miner.clone();
    let res = offline::mine(&lines, miner, "default")?;
    offline::write_rows(out, &res.rows).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "{} lines, {} templates, {:.0} lines/s in the miner; written to {}",
        lines.len(),
        res.patterns,
        lines.len() as f64 / res.observe_secs.max(1e-9),
        out.display()
    );
    if let Some(truth) = offline::truth_rows(&lines) {
        let s = tocsin_patterns::score::score(&truth, &res.rows)?;
        println!(
            "grouping_accuracy={:.4} pairwise_f1={:.4} template_accuracy={:.4} (true groups {}, predicted {})",
            s.grouping_accuracy,
            s.pairwise_f1,
            s.template_accuracy,
            s.true_groups,
            s.predicted_groups
        );
    }
    Ok(())
}
