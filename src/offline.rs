//! Offline subcommands: the same detector and miner code the pipeline runs,
//! over files, so their quality can be measured and backtested.
//!
//! - `tocsin detect`: anomaly scores per row of NAB-layout CSVs;
//! - `tocsin patterns`: a template id and template per log line;
//! - `tocsin forecast`: point forecasts and intervals per series, and a
//!   picture of one.
//!
//! Both take the detector or miner settings from the same config sections
//! the pipeline uses (`[processors.anomaly.detector]`,
//! `[processors.log_patterns.miner]`), so what is measured is what runs.

use std::path::Path;

use anyhow::Context;
use tocsin_anomaly::nab::RangeSource;
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
pub fn detect(
    cfg: &Config,
    input: &Path,
    format: DetectFormat,
    range: RangeSource,
    out: &Path,
) -> anyhow::Result<()> {
    let DetectFormat::Nab = format;
    let detector = &cfg.processors.anomaly.detector;
    let stats = tocsin_anomaly::nab::detect_directory(input, out, detector, range)
        .with_context(|| format!("detecting anomalies in {}", input.display()))?;
    eprintln!(
        "scored {} points in {} files ({range:?} value range) ({:.0} points/s in the detector); scores in {}",
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

/// What `tocsin forecast` is asked for.
#[derive(Debug, Clone)]
pub struct ForecastRequest<'a> {
    /// Long-format CSV: `series_id,timestamp,value`.
    pub input: &'a Path,
    /// Steps to forecast.
    pub horizon: usize,
    /// Prediction-interval coverage.
    pub level: f64,
    /// Output CSV: `series_id,timestamp,point,lower,upper,model`.
    pub out: &'a Path,
    /// SVG to draw one series into.
    pub plot: Option<&'a Path>,
    /// The series to draw (default: the first).
    pub plot_series: Option<&'a str>,
    /// A capacity limit to draw (and to report the first crossing of).
    pub limit: Option<f64>,
}

/// Forecasts every series of a long-format CSV, with a progress bar; draws
/// one series with its interval and limit when asked.
pub fn forecast(req: &ForecastRequest<'_>) -> anyhow::Result<()> {
    use tocsin_forecast::io::{ForecastRecord, read_long_csv, write_forecasts_csv};
    use tocsin_forecast::{ForecastConfig, season_candidates_for_step};

    let file = std::fs::File::open(req.input)
        .with_context(|| format!("opening {}", req.input.display()))?;
    let series = read_long_csv(file).with_context(|| format!("reading {}", req.input.display()))?;
    anyhow::ensure!(
        !series.is_empty(),
        "{} holds no series",
        req.input.display()
    );
    let bar = indicatif::ProgressBar::new(series.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} series {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut results = Vec::with_capacity(series.len());
    let mut failed = 0usize;
    for s in &series {
        let step = s.step_seconds.unwrap_or(3600).max(1);
        let cfg = ForecastConfig {
            horizon: req.horizon,
            level: req.level,
            step_seconds: Some(step as u64),
            season_candidates: season_candidates_for_step(step as u64),
            ..ForecastConfig::default()
        };
        match tocsin_forecast::forecast(&s.values, &cfg) {
            Ok(f) => results.push((s, step, f)),
            Err(e) => {
                failed += 1;
                bar.suspend(|| eprintln!("series {}: {e}", s.id));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let records: Vec<ForecastRecord<'_>> = results
        .iter()
        .map(|(s, step, f)| ForecastRecord {
            series_id: &s.id,
            start: s.timestamps.last().copied().unwrap_or(0) + step,
            step_seconds: *step,
            forecast: f,
        })
        .collect();
    let out = std::fs::File::create(req.out)
        .with_context(|| format!("creating {}", req.out.display()))?;
    write_forecasts_csv(std::io::BufWriter::new(out), &records)
        .with_context(|| format!("writing {}", req.out.display()))?;
    eprintln!(
        "forecast {} series ({} failed) {} steps ahead; written to {}",
        results.len(),
        failed,
        req.horizon,
        req.out.display()
    );
    if let Some(limit) = req.limit {
        for (s, step, f) in &results {
            if let Some(x) = tocsin_forecast::capacity::time_to_exhaustion(f, limit) {
                let at = s.timestamps.last().copied().unwrap_or(0) + x.steps as i64 * step;
                println!(
                    "{}: crosses {limit} in {} steps (at {}, by the {:?} bound)",
                    s.id,
                    x.steps,
                    tocsin_forecast::io::format_timestamp(at),
                    x.bound
                );
            }
        }
    }
    if let Some(svg) = req.plot {
        let chosen = match req.plot_series {
            Some(id) => results
                .iter()
                .find(|(s, _, _)| s.id == id)
                .with_context(|| format!("no forecast for series `{id}`"))?,
            None => results.first().context("no series was forecast")?,
        };
        let (s, step, f) = chosen;
        // Enough history to see the pattern being continued, not so much
        // that the forecast is a sliver at the right edge.
        let shown = (f.point.len() * 6).max(200).min(s.values.len());
        let skip = s.values.len() - shown;
        let history: Vec<(i64, f64)> = s
            .timestamps
            .iter()
            .copied()
            .zip(s.values.iter().copied())
            .skip(skip)
            .collect();
        let last = s.timestamps.last().copied().unwrap_or(0);
        let ahead: Vec<i64> = (1..=f.point.len() as i64)
            .map(|k| last + k * step)
            .collect();
        tocsin_forecast::plot::plot_svg(svg, &history, &ahead, f, req.limit, &s.id)
            .with_context(|| format!("drawing {}", svg.display()))?;
        eprintln!("drew {} into {}", s.id, svg.display());
    }
    Ok(())
}
